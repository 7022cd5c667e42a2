package main

import (
	"net"
	"net/http"
	"runtime"
	"sync"
	"time"

	"github.com/lesismal/nbio/nbhttp"
	"github.com/lesismal/nbio/nbhttp/websocket"
)

// nbioPeer is an nbio WebSocket connection. nbio's Write never blocks: what
// the socket does not take at once is kept in the connection's buffer and
// written when epoll says it is writable (nbio closes a connection whose
// buffer passes MaxWriteBufferSize: the slow-consumer cut). So the fan-out
// workers write to it directly and no goroutine is ever started per viewer.
type nbioPeer struct {
	c      *websocket.Conn
	sess   session
	pinger *time.Timer
}

func (p *nbioPeer) send(frame []byte) {
	// The frame is whole, and nbio.Conn.Write is atomic per call: it cannot
	// interleave with the library's own pongs and closes.
	if _, err := p.c.Conn.Write(frame); err != nil {
		p.closeNow()
	}
}

func (p *nbioPeer) closeNow() { _ = p.c.Close() }

func (p *nbioPeer) refresh(h *hub) { _ = p.c.SetReadDeadline(time.Now().Add(h.ping + 10*time.Second)) }

// nbioSessions guards the session of every nbio connection. With the
// connection handed over from net/http (std), nbio reads it as soon as the
// upgrade has written its 101 response, before the handler that called
// Upgrade has the connection back, and in that mode nbio sets up no wait
// for the session: a join can come first. So whichever comes first, the
// handler or a callback, makes the peer, under this lock.
var nbioSessions sync.Mutex

// peerOfNBIO is c's peer, made on first use.
func peerOfNBIO(h *hub, c *websocket.Conn) *nbioPeer {
	nbioSessions.Lock()
	defer nbioSessions.Unlock()
	if p, ok := c.Session().(*nbioPeer); ok {
		return p
	}
	p := &nbioPeer{c: c}
	p.pinger = time.AfterFunc(h.ping, func() {
		p.send(pingFrame)
		p.pinger.Reset(h.ping)
	})
	p.refresh(h)
	c.SetSession(p)
	return p
}

// serveNBIO serves mux and /broadcast on an nbhttp engine in its default,
// non-blocking mode: nbio's pollers (one per core) read every connection;
// handlers run in its goroutine pool. With std, the standard net/http server
// serves every request instead, as the server does today, and the upgrade
// hands the connection over to the engine's pollers
// (UpgradeAndTransferConnToPoller): only WebSocket connections move.
func serveNBIO(h *hub, mux *http.ServeMux, addr string, std bool) (func(), error) {
	h.direct = true
	up := websocket.NewUpgrader()
	up.KeepaliveTime = 0 // the spike moves the read deadline itself
	up.CheckOrigin = func(*http.Request) bool { return true }
	up.OnMessage(func(c *websocket.Conn, mt websocket.MessageType, data []byte) {
		p := peerOfNBIO(h, c)
		p.refresh(h)
		if mt != websocket.TextMessage {
			return
		}
		if out := h.handle(&p.sess, p, data); out != nil {
			p.send(serverFrame(opText, out))
		}
	})
	up.SetPongHandler(func(c *websocket.Conn, _ string) { peerOfNBIO(h, c).refresh(h) })
	up.SetPingHandler(func(c *websocket.Conn, data string) {
		p := peerOfNBIO(h, c)
		p.refresh(h)
		p.send(serverFrame(opPong, []byte(data)))
	})
	up.OnClose(func(c *websocket.Conn, _ error) {
		nbioSessions.Lock()
		p, ok := c.Session().(*nbioPeer)
		nbioSessions.Unlock()
		if ok {
			p.pinger.Stop()
			h.leave(&p.sess, p)
		}
	})
	mux.HandleFunc("/broadcast", func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil, std) // std: transfer the connection to the pollers
		if err != nil {
			return
		}
		peerOfNBIO(h, c)
	})
	conf := nbhttp.Config{
		Network:                 "tcp",
		MaxLoad:                 1 << 20,
		NPoller:                 runtime.GOMAXPROCS(0),
		MaxWriteBufferSize:      queueLimit,
		ReleaseWebsocketPayload: true,
	}
	if !std {
		conf.Addrs, conf.Handler = []string{addr}, mux
	}
	engine := nbhttp.NewEngine(conf)
	up.Engine = engine
	if err := engine.Start(); err != nil {
		return nil, err
	}
	if !std {
		return func() { engine.Stop() }, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		engine.Stop()
		return nil, err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return func() { _ = srv.Close(); engine.Stop() }, nil
}
