package rtbroadcaster

import (
	"bufio"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"
)

// refusalReasonFormat ends the reason of a retryable refusal, in the words
// of a draining server's close 1001, so that clients read the delay alike.
const refusalReasonFormat = "%s; reconnect in %d ms"

// refusal is why an upgrade is refused, as HTTP and as a close frame.
type refusal struct {
	status int           // the HTTP status of a request that is not a WebSocket handshake
	code   uint16        // the close code of one that is
	metric string        // the upgrades_refused label
	text   string        // what the client reads
	retry  time.Duration // when it may try again; 0 for never (or no advice)
}

// reason is the close reason: the text, and the delay when there is one.
func (f refusal) reason() string {
	if f.retry <= 0 {
		return f.text
	}
	return fmt.Sprintf(refusalReasonFormat, f.text, f.retry.Milliseconds())
}

// refusedLinger bounds how long a refused connection is kept for the
// client's closing handshake: a clean close is what lets a browser report
// the code, but a client that never answers must not hold a socket.
const refusedLinger = time.Second

// refuseUpgrade answers a WebSocket request that will not be served: a
// WebSocket handshake with a close frame the client can read, anything else
// with the HTTP status.
func (m *Manager) refuseUpgrade(w http.ResponseWriter, r *http.Request, f refusal) {
	m.metrics.upgradesRefused.WithLabelValues(f.metric).Inc()
	if !isWebSocketHandshake(r) || !acceptAndClose(w, r, f) {
		if f.retry > 0 {
			w.Header().Set("Retry-After", fmt.Sprint(max(1, int(f.retry.Round(time.Second).Seconds()))))
		}
		http.Error(w, f.text, f.status)
	}
}

// isWebSocketHandshake reports whether r is a handshake the upgrader would
// accept (RFC 6455, 4.2.1), so that a refusal can be one too.
func isWebSocketHandshake(r *http.Request) bool {
	return r.Method == http.MethodGet &&
		headerHasToken(r.Header, "Connection", "upgrade") &&
		headerHasToken(r.Header, "Upgrade", "websocket") &&
		r.Header.Get("Sec-WebSocket-Version") == "13" &&
		r.Header.Get("Sec-WebSocket-Key") != ""
}

func headerHasToken(h http.Header, name, token string) bool {
	for _, line := range h.Values(name) {
		for _, v := range strings.Split(line, ",") {
			if strings.EqualFold(strings.TrimSpace(v), token) {
				return true
			}
		}
	}
	return false
}

// acceptAndClose completes the handshake and sends the close frame of f,
// without a client or a read loop: the connection costs one write, and at
// most refusedLinger of a goroutine waiting for the client's close. It
// returns false when the connection cannot be taken over (HTTP/2).
func acceptAndClose(w http.ResponseWriter, r *http.Request, f refusal) bool {
	conn, buf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return false
	}
	_ = conn.SetDeadline(time.Now().Add(refusedLinger))
	_, _ = buf.WriteString(switchingProtocols(r))
	_, _ = buf.Write(closeFrame(f.code, f.reason()))
	if err := buf.Flush(); err != nil {
		_ = conn.Close()
		return true
	}
	go linger(conn, buf.Reader)
	return true
}

// linger waits for the client's close frame (or its end, or the deadline)
// before closing: closing with its bytes unread would reset the connection,
// and a browser may then lose the close frame it has not handed to the page.
func linger(conn net.Conn, r *bufio.Reader) {
	if tcp, ok := conn.(*net.TCPConn); ok {
		_ = tcp.CloseWrite()
	}
	_, _ = io.Copy(io.Discard, r)
	_ = conn.Close()
}

// switchingProtocols is the 101 response to the handshake r.
func switchingProtocols(r *http.Request) string {
	var out strings.Builder
	out.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n")
	out.WriteString("Sec-WebSocket-Accept: " + acceptKey(r.Header.Get("Sec-WebSocket-Key")) + "\r\n")
	if offersSubProtocol(r) {
		// A browser that offered protocols fails a handshake that picks none.
		out.WriteString("Sec-WebSocket-Protocol: " + SubProtocol + "\r\n")
	}
	out.WriteString("\r\n")
	return out.String()
}

// acceptKey is the Sec-WebSocket-Accept of a handshake's key (RFC 6455, 4.2.2).
func acceptKey(key string) string {
	sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// closeFrame is a server's close frame: the code, then the reason, cut to
// the 123 bytes a control frame has room for. Code 0 sends neither.
func closeFrame(code uint16, reason string) []byte {
	if code == 0 {
		return serverFrame(opClose, nil)
	}
	if len(reason) > 123 {
		reason = reason[:123]
		for len(reason) > 0 && !utf8.ValidString(reason) { // a character cut in two
			reason = reason[:len(reason)-1]
		}
	}
	payload := binary.BigEndian.AppendUint16(nil, code)
	return serverFrame(opClose, append(payload, reason...))
}
