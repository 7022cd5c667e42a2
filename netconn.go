package rtbroadcaster

import (
	"bufio"
	"errors"
	"net"
	"net/http"

	"github.com/lxzan/gws"
)

// quietConn is the socket the WebSocket library reads and writes. The library
// answers a failed read (the read deadline of a peer that missed its pong, a
// reset) with a close frame 1000 whose reason is the error's text, such as
// "read tcp 127.0.0.1:8080->…: i/o timeout": 1000 tells clients that their
// room closed, so they would not come back, and the text names the server's
// addresses. Closing the socket as soon as a read fails makes that frame's
// write fail, so the peer sees its TCP connection end without a close frame,
// as PROTOCOL.md says, and reconnects.
type quietConn struct{ net.Conn }

func (c quietConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if err != nil {
		_ = c.Conn.Close()
	}
	return n, err
}

// errNoHijack is returned for a request whose connection cannot be taken
// over, such as one over HTTP/2, which has no upgrade.
var errNoHijack = errors.New("websocket upgrade: the HTTP connection cannot be hijacked (HTTP/1.1 is needed)")

// upgrade takes the request's connection over, as the library's Upgrade
// does, and hands it to the library wrapped in a quietConn.
func upgrade(u *gws.Upgrader, w http.ResponseWriter, r *http.Request) (*gws.Conn, error) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		return nil, errNoHijack
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		return nil, err
	}
	// The library keeps this reader for the connection's life, as it would
	// its own: the size is the ReadBufferSize of newUpgrader.
	qc := quietConn{conn}
	return u.UpgradeFromConn(qc, bufio.NewReaderSize(qc, readBufferSize), r)
}
