package bench

import (
	"bufio"
	"context"
	crand "crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/rtbroadcaster/rtbroadcaster/protocol"
)

// WebSocket opcodes the bench reads or writes.
const (
	opText  = protocol.OpText
	opClose = protocol.OpClose
	opPing  = protocol.OpPing
	opPong  = protocol.OpPong
)

// wsConn is a minimal WebSocket client connection: the bench reads frames
// in place from its read buffer, so that receiving a message allocates
// nothing, and writes masked frames from one reused buffer.
type wsConn struct {
	net   net.Conn
	br    *bufio.Reader
	skip  int    // bytes of the last frame still to discard from br
	large []byte // frames larger than br's buffer are read here

	wmu  sync.Mutex // owners write from their sender while their reader answers pings
	wbuf []byte
}

// errClosed carries the close code the server sent.
type errClosed struct{ code uint16 }

func (e errClosed) Error() string { return fmt.Sprintf("closed by the server with code %d", e.code) }

// dialWS opens a TCP connection with dialer and upgrades it to a WebSocket.
func dialWS(ctx context.Context, dialer *net.Dialer, u *url.URL, readBuffer int) (*wsConn, error) {
	nc, err := dialer.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return nil, err
	}
	c := &wsConn{net: nc, br: bufio.NewReaderSize(nc, readBuffer)}
	if err := c.handshake(ctx, u); err != nil {
		_ = nc.Close()
		return nil, err
	}
	return c, nil
}

func (c *wsConn) handshake(ctx context.Context, u *url.URL) error {
	if deadline, ok := ctx.Deadline(); ok {
		_ = c.net.SetDeadline(deadline)
		defer c.net.SetDeadline(time.Time{})
	}
	var key [16]byte
	_, _ = crand.Read(key[:])
	req := "GET " + u.RequestURI() + " HTTP/1.1\r\nHost: " + u.Host +
		"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " +
		base64.StdEncoding.EncodeToString(key[:]) + "\r\n\r\n"
	if _, err := io.WriteString(c.net, req); err != nil {
		return fmt.Errorf("handshake: %w", err)
	}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		return fmt.Errorf("handshake: %w", err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusSwitchingProtocols {
		return fmt.Errorf("handshake: HTTP %d, want 101", resp.StatusCode)
	}
	return nil
}

// readFrame returns the next data frame's payload, which stays valid until
// the next call. It answers pings and turns a close frame into errClosed.
func (c *wsConn) readFrame() ([]byte, error) {
	for {
		op, payload, err := c.nextFrame()
		if err != nil {
			return nil, err
		}
		switch op {
		case opPing:
			if err := c.write(opPong, payload); err != nil {
				return nil, err
			}
		case opPong:
		case opClose:
			code := uint16(1005)
			if len(payload) >= 2 {
				code = binary.BigEndian.Uint16(payload)
			}
			return nil, errClosed{code}
		default:
			return payload, nil
		}
	}
}

func (c *wsConn) nextFrame() (op byte, payload []byte, err error) {
	if c.skip > 0 {
		_, _ = c.br.Discard(c.skip)
		c.skip = 0
	}
	h, err := c.br.Peek(2)
	if err != nil {
		return 0, nil, err
	}
	if h[0]&0x80 == 0 || h[1]&0x80 != 0 {
		return 0, nil, errors.New("fragmented or masked frame from the server")
	}
	op = h[0] & 0x0F
	n, headerLen := int(h[1]&0x7F), 2
	switch n {
	case 126:
		headerLen = 4
	case 127:
		headerLen = 10
	}
	if h, err = c.br.Peek(headerLen); err != nil {
		return 0, nil, err
	}
	switch headerLen {
	case 4:
		n = int(binary.BigEndian.Uint16(h[2:]))
	case 10:
		n = int(binary.BigEndian.Uint64(h[2:]))
	}
	_, _ = c.br.Discard(headerLen)
	if n <= c.br.Size() {
		payload, err = c.br.Peek(n)
		c.skip = n
		return op, payload, err
	}
	if cap(c.large) < n {
		c.large = make([]byte, n)
	}
	payload = c.large[:n]
	_, err = io.ReadFull(c.br, payload)
	return op, payload, err
}

// write sends one masked frame.
func (c *wsConn) write(op byte, payload []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	b := append(c.wbuf[:0], 0x80|op)
	switch n := len(payload); {
	case n < 126:
		b = append(b, 0x80|byte(n))
	case n <= 0xFFFF:
		b = append(b, 0x80|126, byte(n>>8), byte(n))
	default:
		b = append(b, 0x80|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	key := rand.Uint32()
	b = binary.BigEndian.AppendUint32(b, key)
	start := len(b)
	b = append(b, payload...)
	mask := [4]byte{byte(key >> 24), byte(key >> 16), byte(key >> 8), byte(key)}
	for i := range b[start:] {
		b[start+i] ^= mask[i&3]
	}
	c.wbuf = b
	_, err := c.net.Write(b)
	return err
}

func (c *wsConn) close() error { return c.net.Close() }
