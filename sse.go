package rtbroadcaster

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rtbroadcaster/rtbroadcaster/protocol"
)

// Viewers over Server-Sent Events (PROTOCOL.md, SSE viewers).
//
// An SSE viewer is a conn like any other: it joins through joinRoom, the
// room fans out to its outbox as to a WebSocket viewer's, and the outbox
// applies the same send-queue limit, slow-consumer cut, write timeout and
// chunked state replay. Only the socket differs: sseSocket takes the
// WebSocket frames the outbox writes and writes each as one event of the
// response's text/event-stream. The request's handler goroutine joins;
// then, over HTTP/1.1, it hands the connection to a goroutine of the
// viewer's own (sseSocket.watch), which runs finish when the client
// leaves, as a WebSocket's read side does; over HTTP/2 it waits for the
// stream to end and runs finish itself.

// Transports, as the metrics label them.
const (
	transportWebSocket = "websocket"
	transportSSE       = "sse"
)

// LastEventIDParam is the query parameter that carries a recovery point
// for clients that cannot set the Last-Event-ID header (a new EventSource
// cannot). The header, which an EventSource sets on its own reconnects,
// wins over it.
const LastEventIDParam = "lastEventId"

// sseHeartbeat is the comment written at every ping interval, so that
// proxies do not take a quiet stream for a dead one.
const sseHeartbeat = ": heartbeat\n\n"

// ServeEvents serves GET /rooms/{uuid}/events: the viewer's side of room
// uuid as a text/event-stream (PROTOCOL.md, SSE viewers). The room id is
// the request's path value "uuid" when the route names one, else the path
// segment before "/events". It refuses what CreateNewClient refuses, with
// the same limits, and answers a refused join with its HTTP status and the
// error as JSON.
func (m *Manager) ServeEvents(w http.ResponseWriter, r *http.Request) {
	addr := clientAddr(r, m.trustedProxies)
	if !m.originAllowed(r) {
		m.stats.originsRejected.Add(1)
		m.metrics.upgradesRefused.WithLabelValues("origin").Inc()
		m.log.Warn("event stream refused: origin not allowed", "origin", r.Header.Get("Origin"), "host", r.Host, "remote", addr)
		httpError(w, http.StatusForbidden, 0, newError(CodeForbidden, "origin %q is not allowed", r.Header.Get("Origin")))
		return
	}
	allowCORS(w, r)
	if r.Method == http.MethodOptions {
		w.Header().Set("Access-Control-Allow-Methods", "GET")
		w.Header().Set("Access-Control-Allow-Headers", "Last-Event-ID, Cache-Control, Accept")
		w.Header().Set("Access-Control-Max-Age", "600")
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET, OPTIONS")
		httpError(w, http.StatusMethodNotAllowed, 0, newError(CodeBadRequest, "%s: an event stream is read with GET", r.Method))
		return
	}
	id := roomOfEventsPath(r)
	lastSeen, err := lastEventID(r)
	if err != nil {
		httpError(w, http.StatusBadRequest, 0, newError(CodeBadRequest, "%v", err))
		return
	}
	key, refused := m.admit(addr)
	if refused != nil {
		m.refuseStream(w, r, *refused)
		return
	}
	sock := newSSESocket(w)
	c := newConn(m, nil, addr)
	c.out.sock = sock
	c.transport = transportSSE
	c.limitKey, c.connToken = key, r.URL.Query().Get("token")
	m.metrics.connectionOpened(transportSSE)
	m.summary.connectionOpened()
	sock.hold() // nothing is written until the join is made or refused
	if !m.addConn(c) {
		c.finish(nil) // the Manager began draining meanwhile
		sock.refuse()
		m.refuseStream(w, r, refusal{http.StatusServiceUnavailable, CloseUnavailable, "draining", "server is shutting down", m.retryDelay()})
		return
	}
	if refused := c.joinRoom(id, "", lastSeen); refused != nil {
		c.setEndReason(joinRefusedReason(refused))
		c.mgr.metrics.errors.WithLabelValues(string(refused.Code)).Inc()
		c.finish(nil)
		sock.refuse()
		if refused.Code == CodeRoomNotFound && lastSeen != nil {
			// A reconnect to a room that has ended: 204 stops an EventSource.
			w.Header().Del("Content-Type")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		httpError(w, joinRefusalStatus(refused.Code), 5*time.Second, refused)
		return
	}
	if sock.release(r, m.limits.WriteTimeout) {
		c.start()
		go sock.watch(c) // the connection's one goroutine from now on
		return
	}
	c.start()
	select {
	case <-sock.done:
	case <-r.Context().Done():
		// The way an SSE viewer leaves: it closes its request.
		c.setEndReason("client closed")
	}
	c.finish(nil)
	sock.end()
}

// joinRefusedReason names a refused SSE join for the disconnects metric.
func joinRefusedReason(e *Error) string {
	if e.Code == CodeUnauthorized {
		return "unauthorized"
	}
	return "join refused"
}

// joinRefusalStatus is the HTTP status of a join refused with code.
func joinRefusalStatus(code ErrorCode) int {
	switch code {
	case CodeRoomNotFound:
		return http.StatusNotFound
	case CodeUnauthorized:
		return http.StatusUnauthorized
	case CodeForbidden:
		return http.StatusForbidden
	case CodeBadRequest:
		return http.StatusBadRequest
	}
	return http.StatusServiceUnavailable // room_full, unavailable: try again later
}

// roomOfEventsPath is the room an events request names.
func roomOfEventsPath(r *http.Request) string {
	if id := r.PathValue("uuid"); id != "" {
		return id
	}
	path := strings.TrimSuffix(r.URL.Path, "/events")
	return path[strings.LastIndexByte(path, '/')+1:]
}

// lastEventID is the seq an events request asks to recover from: the
// Last-Event-ID header, else the lastEventId query parameter, else nil.
func lastEventID(r *http.Request) (*uint64, error) {
	raw, from := r.Header.Get("Last-Event-ID"), "the Last-Event-ID header"
	if raw == "" {
		raw, from = r.URL.Query().Get(LastEventIDParam), "?"+LastEventIDParam
	}
	if raw == "" {
		return nil, nil
	}
	seq, err := strconv.ParseUint(strings.TrimSpace(raw), 10, 64)
	if err != nil {
		return nil, fmt.Errorf("%s is %q: send the id (seq) of the last event you received, a number", from, raw)
	}
	return &seq, nil
}

// allowCORS lets a page of an allowed origin read the stream (the caller
// checked the origin): the same allow-list as WebSocket's.
func allowCORS(w http.ResponseWriter, r *http.Request) {
	w.Header().Add("Vary", "Origin")
	if origin := r.Header.Get("Origin"); origin != "" {
		w.Header().Set("Access-Control-Allow-Origin", origin)
		w.Header().Set("Access-Control-Allow-Credentials", "true")
	}
}

// httpError answers with status and e in the protocol's error shape,
// {"error": {"code": …, "message": …}}, with Retry-After when retry > 0
// and the status is one to retry.
func httpError(w http.ResponseWriter, status int, retry time.Duration, e *Error) {
	body, _ := json.Marshal(struct {
		Error *Error `json:"error"`
	}{e})
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	if retry > 0 && (status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests) {
		h.Set("Retry-After", strconv.Itoa(max(1, int(retry.Round(time.Second).Seconds()))))
	}
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

// refuseStream refuses a stream for the server's sake (draining, full, or
// an address that connects too fast). An EventSource (Accept:
// text/event-stream) gets a stream that only says so, with retry: set to
// the delay, so that it comes back then by itself; any other client gets
// the HTTP status with Retry-After.
func (m *Manager) refuseStream(w http.ResponseWriter, r *http.Request, f refusal) {
	m.metrics.upgradesRefused.WithLabelValues(f.metric).Inc()
	if !strings.Contains(r.Header.Get("Accept"), "text/event-stream") {
		code := CodeUnavailable
		if f.status == http.StatusTooManyRequests {
			code = CodeRateLimited
		}
		httpError(w, f.status, f.retry, newError(code, "%s", f.reason()))
		return
	}
	setStreamHeaders(w.Header())
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(closeEvent(f.code, f.reason()))
}

// setStreamHeaders are the headers of an event stream.
func setStreamHeaders(h http.Header) {
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // nginx: pass events on as they come
}

// closeEvent ends a stream as a WebSocket close frame would end a
// connection: a "close" event whose data is {"code": …, "reason": …},
// after a retry: field when the reason names a delay (drain, refusals) or
// the code asks for a rejoin (1012), so that an EventSource comes back then.
func closeEvent(code uint16, reason string) []byte {
	var out []byte
	if retry, ok := retryOf(code, reason); ok {
		out = fmt.Appendf(out, "retry: %d\n", retry.Milliseconds())
	}
	data, _ := json.Marshal(struct {
		Code   uint16 `json:"code"`
		Reason string `json:"reason"`
	}{code, reason})
	out = append(out, "event: close\ndata: "...)
	out = append(out, data...)
	return append(out, "\n\n"...)
}

// retryOf is when a client whose stream ended with code and reason should
// reconnect, when the server has a view on it.
func retryOf(code uint16, reason string) (time.Duration, bool) {
	if _, after, ok := strings.Cut(reason, "reconnect in "); ok {
		if ms, err := strconv.Atoi(strings.TrimSuffix(after, " ms")); err == nil {
			return time.Duration(ms) * time.Millisecond, true
		}
	}
	if code == CloseServiceRestart || code == CloseSlowConsumer {
		return 250*time.Millisecond + randomWithin(time.Second), true
	}
	return 0, false
}

// sseSocket is the socket of an SSE viewer's outbox. Its Write takes the
// WebSocket frames the outbox coalesced and writes them as events; its
// WriteClose writes the close event and ends the stream.
//
// Over HTTP/1.1 the handler takes the connection over (hijack) once the
// join is made, writes the response's head itself and returns: the stream
// is then written to the raw connection in chunks, one write per batch,
// and a goroutine of the viewer's own reads the connection to learn when
// the client leaves (watch), as a WebSocket's read side does; net/http
// keeps nothing of it. Over HTTP/2, which has no hijack, the handler stays
// and the stream is written through the ResponseWriter.
type sseSocket struct {
	w  http.ResponseWriter
	rc *http.ResponseController
	// done is closed once the stream is over for the server: after the
	// close event, or when the outbox gave up on the socket (Close).
	done     chan struct{}
	doneOnce sync.Once

	// mu serializes the writes, and ending the response: the handler holds
	// it from before the join until it has set the response up (hijacked
	// it) or refused it, so that no event is written before; and it ends
	// the ResponseWriter's stream (end) before it returns, after which
	// nothing may touch w.
	mu    sync.Mutex
	ended bool
	// Guarded by mu: where the join's replay stands, to number it (see
	// eventID), and a frame cut across two writes.
	sawReply   bool
	replayLeft int
	replayTo   uint64
	partial    []byte

	// deadlineMu guards raw, set when the connection is taken over (under
	// mu too), and the ResponseWriter's deadline against the end of the
	// handler. Nothing is locked under it.
	deadlineMu  sync.Mutex
	raw         net.Conn // the hijacked HTTP/1.1 connection, or nil
	deadlineEnd bool
}

func newSSESocket(w http.ResponseWriter) *sseSocket {
	return &sseSocket{w: w, rc: http.NewResponseController(w), done: make(chan struct{})}
}

// hold sets the stream's headers and holds the writes until release: the
// join's reply is queued before the handler knows whether to stream.
func (s *sseSocket) hold() {
	setStreamHeaders(s.w.Header())
	s.mu.Lock()
}

// refuse releases the writes, which fail from now on: the handler answers
// with an HTTP status instead.
func (s *sseSocket) refuse() {
	s.ended = true
	s.mu.Unlock()
	s.finish()
}

// release starts the stream: it takes an HTTP/1.1 connection over and
// writes the response's head, and reports whether it did; else (HTTP/2,
// HTTP/1.0) the stream goes through the ResponseWriter, without the
// server's deadlines: a stream lives as long as its room, whatever
// http.Server's ReadTimeout and WriteTimeout say; the outbox sets each
// write's deadline.
func (s *sseSocket) release(r *http.Request, writeTimeout time.Duration) (hijacked bool) {
	defer s.mu.Unlock()
	if r.ProtoMajor == 1 && r.ProtoMinor == 1 {
		if conn, _, err := s.rc.Hijack(); err == nil {
			s.deadlineMu.Lock()
			s.raw = conn
			s.deadlineMu.Unlock()
			var head bytes.Buffer
			head.WriteString("HTTP/1.1 200 OK\r\n")
			_ = s.w.Header().Write(&head)
			head.WriteString("Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
			_ = conn.SetReadDeadline(time.Time{}) // watch waits for as long as the stream lasts
			_ = conn.SetWriteDeadline(time.Now().Add(writeTimeout))
			if _, err := conn.Write(head.Bytes()); err != nil {
				s.ended = true
				_ = conn.Close() // watch sees it
			}
			return true
		}
	}
	_ = s.rc.SetReadDeadline(time.Time{})
	_ = s.rc.SetWriteDeadline(time.Time{})
	return false
}

// maxClientBytes is how much a client may send on its stream's connection
// after its request: an EventSource sends nothing, so past it the client
// is misbehaving (or flooding) and its connection is closed.
const maxClientBytes = 4 << 10

// watch is a hijacked stream's read loop: the client sends nothing, so a
// read ends when it leaves (or the server closed the connection). Then
// the viewer's connection ends, as a WebSocket's does in OnClose.
func (s *sseSocket) watch(c *conn) {
	var buf [256]byte
	for sent := 0; ; {
		n, err := s.raw.Read(buf[:])
		if err != nil {
			break
		}
		if sent += n; sent > maxClientBytes {
			c.setEndReason("protocol error")
			break
		}
	}
	select {
	case <-s.done:
	default:
		c.setEndReason("client closed") // the way an SSE viewer leaves
	}
	c.finish(nil)
	s.end()
	_ = s.raw.Close()
}

// end makes every later write fail, waiting for one under way.
func (s *sseSocket) end() {
	s.deadlineMu.Lock()
	s.deadlineEnd = true
	s.deadlineMu.Unlock()
	s.mu.Lock()
	s.ended = true
	s.partial = nil
	s.mu.Unlock()
	s.finish()
}

func (s *sseSocket) finish() { s.doneOnce.Do(func() { close(s.done) }) }

// NetConn is the socket itself: the outbox writes frames to it.
func (s *sseSocket) NetConn() net.Conn { return sseConn{s} }

// Close ends the stream at once.
func (s *sseSocket) Close() error { s.close(); return nil }

// lingerAfterClose bounds how long a hijacked stream whose end was written
// waits for the client to close first, so that the server's close does not
// reset what the client has not read yet.
const lingerAfterClose = time.Second

// WriteClose ends the stream with a close event, after what was written.
func (s *sseSocket) WriteClose(code uint16, reason []byte) error {
	defer s.finish()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return errStreamEnded
	}
	s.ended = true
	err := s.writeLocked(append(make([]byte, chunkHeadRoom), closeEvent(code, string(reason))...), true)
	if s.raw != nil {
		if tcp, ok := s.raw.(*net.TCPConn); ok {
			_ = tcp.CloseWrite()
		}
		_ = s.raw.SetReadDeadline(time.Now().Add(lingerAfterClose))
	}
	return err
}

// errStreamEnded is a write's error once the response is over.
var errStreamEnded = errors.New("event stream ended")

// chunkHeadRoom is the room left before the events of one write for the
// head of its HTTP/1.1 chunk: its length in hex, and CRLF.
const chunkHeadRoom = 16 + 2

// writeLocked writes events, which start after chunkHeadRoom bytes of out,
// and flushes them: on a hijacked connection as one chunk in one write
// (with the chunked body's end when last), else through the ResponseWriter.
func (s *sseSocket) writeLocked(out []byte, last bool) error {
	if s.raw == nil {
		if _, err := s.w.Write(out[chunkHeadRoom:]); err != nil {
			return err
		}
		if err := s.rc.Flush(); err != nil {
			return err
		}
		// An HTTP/2 stream is reset when its write deadline passes, written
		// to or not: the deadline of this write must not outlive it.
		return s.setWriteDeadline(time.Time{})
	}
	size := strconv.AppendUint(make([]byte, 0, 16), uint64(len(out)-chunkHeadRoom), 16)
	start := chunkHeadRoom - len(size) - 2
	copy(out[start:], size)
	copy(out[chunkHeadRoom-2:], "\r\n")
	out = append(out, "\r\n"...)
	if last {
		out = append(out, "0\r\n\r\n"...)
	}
	_, err := s.raw.Write(out[start:])
	return err
}

// sseBuffers holds the buffers frames are turned into events in, so that
// an idle viewer holds none.
var sseBuffers = sync.Pool{New: func() any { b := make([]byte, 0, writeBufferSize+4<<10); return &b }}

// write turns the frames in p into events and writes them.
func (s *sseSocket) write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return 0, errStreamEnded
	}
	bufp := sseBuffers.Get().(*[]byte)
	defer sseBuffers.Put(bufp)
	out := append((*bufp)[:0], make([]byte, chunkHeadRoom)...)
	data := p
	if len(s.partial) > 0 {
		data = append(s.partial, p...)
		s.partial = nil
	}
	for len(data) > 0 {
		opcode, payload, n := protocol.ParseServerFrame(data)
		if n == 0 {
			s.partial = append([]byte(nil), data...)
			break
		}
		data = data[n:]
		switch opcode {
		case opPing:
			out = append(out, sseHeartbeat...)
		case opText:
			out = s.appendEvent(out, payload)
		}
	}
	var err error
	if len(out) > chunkHeadRoom {
		err = s.writeLocked(out, false)
	}
	if cap(out) <= 256<<10 {
		*bufp = out[:0]
	}
	if err != nil {
		return 0, err
	}
	return len(p), nil
}

// appendEvent appends the event of one message: its id, when it gives the
// client a recovery point, then its JSON as data.
func (s *sseSocket) appendEvent(out, payload []byte) []byte {
	if id, ok := s.eventID(payload); ok {
		out = append(out, "id: "...)
		out = strconv.AppendUint(out, id, 10)
		out = append(out, '\n')
	}
	out = append(out, "data: "...)
	for _, b := range payload {
		if b == '\n' || b == '\r' { // not in the server's JSON; a line break would split the event
			b = ' '
		}
		out = append(out, b)
	}
	return append(out, "\n\n"...)
}

// eventID is the id: of a message, when it has one. The id is the
// client's recovery point (PROTOCOL.md, Recovery), so it is only given
// where the client holds everything up to it: live and recovered messages
// carry their seq; a join reply and the state replay after it carry none,
// but for the replay's last message (or the reply, when nothing follows),
// which carries the reply's seq.
func (s *sseSocket) eventID(payload []byte) (uint64, bool) {
	if !s.sawReply {
		s.sawReply = true
		var reply struct {
			Seq        *uint64 `json:"seq"`
			StateCount int     `json:"stateCount"`
			Error      *Error  `json:"error"`
		}
		if json.Unmarshal(payload, &reply) != nil || reply.Seq == nil || reply.Error != nil {
			s.sawReply = false
			return 0, false
		}
		if reply.StateCount > 0 {
			s.replayLeft, s.replayTo = reply.StateCount, *reply.Seq
			return 0, false
		}
		return *reply.Seq, true
	}
	if s.replayLeft > 0 {
		if s.replayLeft--; s.replayLeft == 0 {
			return s.replayTo, true
		}
		return 0, false
	}
	return protocol.TrailingSeq(payload)
}

// setWriteDeadline sets the deadline of the writes, until the stream ends.
// The outbox calls it without waiting for a write under way (to cut it
// short), so it does not take mu.
func (s *sseSocket) setWriteDeadline(t time.Time) error {
	s.deadlineMu.Lock()
	defer s.deadlineMu.Unlock()
	switch {
	case s.raw != nil:
		return s.raw.SetWriteDeadline(t)
	case s.deadlineEnd:
		return errStreamEnded
	}
	return s.rc.SetWriteDeadline(t)
}

// close gives up on the stream: the outbox could not write to it.
func (s *sseSocket) close() {
	s.deadlineMu.Lock()
	raw := s.raw
	s.deadlineMu.Unlock()
	if raw != nil {
		_ = raw.Close() // watch sees it
	}
	s.finish()
}

// sseConn is the net.Conn face of an sseSocket, as the outbox uses it:
// Write, SetWriteDeadline and Close. It reads nothing.
type sseConn struct{ s *sseSocket }

func (c sseConn) Write(p []byte) (int, error)        { return c.s.write(p) }
func (c sseConn) Read([]byte) (int, error)           { return 0, errors.New("an event stream is not read") }
func (c sseConn) Close() error                       { c.s.close(); return nil }
func (c sseConn) LocalAddr() net.Addr                { return sseAddr{} }
func (c sseConn) RemoteAddr() net.Addr               { return sseAddr{} }
func (c sseConn) SetDeadline(t time.Time) error      { return c.s.setWriteDeadline(t) }
func (c sseConn) SetReadDeadline(time.Time) error    { return nil }
func (c sseConn) SetWriteDeadline(t time.Time) error { return c.s.setWriteDeadline(t) }

type sseAddr struct{}

func (sseAddr) Network() string { return "sse" }
func (sseAddr) String() string  { return "event stream" }
