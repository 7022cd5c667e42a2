package rtbroadcaster

import (
	"errors"
	"net"
	"net/http"
	"sync"
	"time"
)

// errNoHandshake is the answer, with 400, to a request for the WebSocket
// endpoint that is no handshake the server takes: extensions are not
// negotiated, every frame goes out as it was framed once for the room.
var errNoHandshake = errors.New("websocket upgrade: not a WebSocket version 13 handshake (RFC 6455, 4.2.1)")

// errNoHijack is returned for a request whose connection cannot be taken
// over, such as one over HTTP/2, which has no upgrade.
var errNoHijack = errors.New("websocket upgrade: the HTTP connection cannot be hijacked (HTTP/1.1 is needed)")

// handshakeTimeout bounds the write of the 101 response.
const handshakeTimeout = 10 * time.Second

// acceptWebSocket answers a WebSocket handshake and takes the connection
// over from net/http. A request that is no handshake gets 400 and an error.
// early is what the client sent after its handshake that net/http
// had already read: the start of its first frames.
func acceptWebSocket(w http.ResponseWriter, r *http.Request) (conn net.Conn, early []byte, err error) {
	if !isWebSocketHandshake(r) {
		w.Header().Set("Sec-WebSocket-Version", "13")
		http.Error(w, errNoHandshake.Error(), http.StatusBadRequest)
		return nil, nil, errNoHandshake
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		return nil, nil, errNoHijack
	}
	conn, rw, err := hj.Hijack()
	if err != nil {
		return nil, nil, err
	}
	if n := rw.Reader.Buffered(); n > 0 {
		buffered, _ := rw.Reader.Peek(n)
		early = append([]byte(nil), buffered...)
	}
	_ = conn.SetWriteDeadline(time.Now().Add(handshakeTimeout))
	if _, err := conn.Write([]byte(switchingProtocols(r))); err != nil {
		_ = conn.Close()
		return nil, nil, err
	}
	// No deadline of net/http's (ReadTimeout, the handshake's) outlives
	// the handshake: liveness is the pings' business (conn.ping).
	_ = conn.SetDeadline(time.Time{})
	return conn, early, nil
}

// wsSocket is a WebSocket connection's socket, as its outbox writes to it.
// Whoever ends the connection closes the socket, and onClose tells the read
// side, which then finishes the connection (see reader.go).
type wsSocket struct {
	conn      net.Conn
	closeOnce sync.Once
	onClose   func()
}

// NetConn is the socket itself: the outbox writes frames to it.
func (s *wsSocket) NetConn() net.Conn { return s.conn }

// Close closes the socket, once.
func (s *wsSocket) Close() error {
	s.closeOnce.Do(func() {
		_ = s.conn.Close()
		if s.onClose != nil {
			s.onClose()
		}
	})
	return nil
}

// WriteClose writes a close frame with code and reason (cut to fit the 125
// bytes of a control frame), then closes the socket.
func (s *wsSocket) WriteClose(code uint16, reason []byte) error {
	defer s.Close()
	_, err := s.conn.Write(closeFrame(code, string(reason)))
	return err
}
