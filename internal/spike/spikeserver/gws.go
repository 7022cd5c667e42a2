package main

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/lxzan/gws"
)

// gwsPeer is a gws connection. With an outbox (the transport "gws") a frame
// is queued and a writer goroutine exists while frames are queued, as in the
// server's outbox.go; without one ("gws-workers") the fan-out worker writes
// the frame itself, under wmu.
type gwsPeer struct {
	h       *hub
	ws      *gws.Conn
	sess    session
	useQ    bool
	timeout time.Duration
	pinger  *time.Timer

	wmu sync.Mutex // direct writes

	mu      sync.Mutex // the outbox
	queue   [][]byte
	queued  int
	running bool
	done    bool
}

// queueLimit is the server's default SendQueueBytes: past it a viewer is a
// slow consumer and is cut.
const queueLimit = 1 << 20

var writeBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 32<<10); return &b }}

func (p *gwsPeer) send(frame []byte) {
	if !p.useQ {
		p.wmu.Lock()
		conn := p.ws.NetConn()
		_ = conn.SetWriteDeadline(time.Now().Add(p.timeout))
		_, err := conn.Write(frame)
		p.wmu.Unlock()
		if err != nil {
			p.closeNow()
		}
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done {
		return
	}
	if p.queued+len(frame) > queueLimit {
		p.done = true
		go p.closeNow()
		return
	}
	p.queue = append(p.queue, frame)
	p.queued += len(frame)
	if !p.running {
		p.running = true
		go p.drain()
	}
}

// drain is the outbox's writer: it coalesces what is queued into one write
// of up to 32 KiB at a time, and ends when the queue is empty.
func (p *gwsPeer) drain() {
	bufp := writeBuffers.Get().(*[]byte)
	defer writeBuffers.Put(bufp)
	for {
		p.mu.Lock()
		batch := p.queue
		p.queue, p.queued = nil, 0
		if len(batch) == 0 || p.done {
			p.running = false
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
		conn := p.ws.NetConn()
		_ = conn.SetWriteDeadline(time.Now().Add(p.timeout))
		buf := (*bufp)[:0]
		var err error
		for _, f := range batch {
			if len(buf)+len(f) > cap(buf) && len(buf) > 0 {
				if _, err = conn.Write(buf); err != nil {
					break
				}
				buf = buf[:0]
			}
			buf = append(buf, f...)
		}
		if err == nil && len(buf) > 0 {
			_, err = conn.Write(buf)
		}
		*bufp = buf[:0]
		if err != nil {
			p.closeNow()
			p.mu.Lock()
			p.done, p.running = true, false
			p.mu.Unlock()
			return
		}
	}
}

func (p *gwsPeer) closeNow() { _ = p.ws.NetConn().Close() }

func (p *gwsPeer) ping() {
	p.send(pingFrame)
	p.pinger.Reset(p.h.ping)
}

type gwsHandler struct{ h *hub }

func peerOf(ws *gws.Conn) *gwsPeer { v, _ := ws.Session().Load("p"); return v.(*gwsPeer) }

func (gwsHandler) OnOpen(*gws.Conn) {}

func (g gwsHandler) OnClose(ws *gws.Conn, _ error) {
	p := peerOf(ws)
	p.pinger.Stop()
	p.mu.Lock()
	p.done, p.queue = true, nil
	p.mu.Unlock()
	g.h.leave(&p.sess, p)
}

func (gwsHandler) OnPing(ws *gws.Conn, payload []byte) {
	p := peerOf(ws)
	p.refresh()
	p.send(serverFrame(opPong, payload))
}

func (gwsHandler) OnPong(ws *gws.Conn, _ []byte) { peerOf(ws).refresh() }

func (g gwsHandler) OnMessage(ws *gws.Conn, msg *gws.Message) {
	defer msg.Close()
	p := peerOf(ws)
	p.refresh()
	if msg.Opcode != gws.OpcodeText {
		return
	}
	if out := g.h.handle(&p.sess, p, msg.Bytes()); out != nil {
		p.send(serverFrame(opText, out))
	}
}

// refresh moves the read deadline: a peer that sends nothing (not even a
// pong) for the ping interval plus 10 s is dropped.
func (p *gwsPeer) refresh() { _ = p.ws.SetReadDeadline(time.Now().Add(p.h.ping + 10*time.Second)) }

// gwsSession is gws's SessionStorage for one value: gws's default is a map
// per connection, more than the spike needs.
type gwsSession struct{ p *gwsPeer }

func (s *gwsSession) Len() int                     { return 1 }
func (s *gwsSession) Load(string) (any, bool)      { return s.p, s.p != nil }
func (s *gwsSession) Delete(string)                {}
func (s *gwsSession) Store(_ string, v any)        { s.p = v.(*gwsPeer) }
func (s *gwsSession) Range(func(string, any) bool) {}

// quietConn closes the socket when a read fails, as the server's netconn.go.
type quietConn struct{ net.Conn }

func (c quietConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if err != nil {
		_ = c.Conn.Close()
	}
	return n, err
}

// serveGWS serves mux and the WebSocket endpoint /broadcast with gws on a
// standard net/http server, as the server does.
func serveGWS(h *hub, mux *http.ServeMux, addr string, direct bool) (func(), error) {
	h.direct = direct
	up := gws.NewUpgrader(gwsHandler{h}, &gws.ServerOption{
		ReadBufferSize:   1 << 10,
		CheckUtf8Enabled: true,
		Recovery:         gws.Recovery,
		NewSession:       func() gws.SessionStorage { return &gwsSession{} },
	})
	mux.HandleFunc("/broadcast", func(w http.ResponseWriter, r *http.Request) {
		hj, ok := w.(http.Hijacker)
		if !ok {
			http.Error(w, "no hijack", http.StatusInternalServerError)
			return
		}
		conn, _, err := hj.Hijack()
		if err != nil {
			return
		}
		qc := quietConn{conn}
		ws, err := up.UpgradeFromConn(qc, bufio.NewReaderSize(qc, 1<<10), r)
		if err != nil {
			return
		}
		p := &gwsPeer{h: h, ws: ws, useQ: !direct, timeout: 10 * time.Second}
		ws.Session().Store("p", p)
		p.refresh()
		p.pinger = time.AfterFunc(h.ping, p.ping)
		go ws.ReadLoop()
	})
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			panic(err)
		}
	}()
	return func() { _ = srv.Close() }, nil
}
