package rtbroadcaster

import (
	"encoding/binary"
	"errors"
	"io"
	"math"
	"runtime/debug"
	"sync"
	"syscall"
	"unicode/utf8"
)

// A WebSocket connection's read side. On Linux a TCP connection reads only
// when the poller says its socket holds bytes (readReady, on a goroutine
// that lives while there is something to read); any other connection, TLS
// above all, reads on a goroutine of its own for its whole life (readLoop).
// Both run the requests in the order they came, one at a time, under
// readMu, and both end the connection the same way: whoever ends it closes
// the socket, and the read side, finding it closed, finishes it (endRead).

// readBufferSize is how much one read takes from a socket. The buffer is
// lent for one pass of readReady, so idle connections hold none.
const readBufferSize = 16 << 10

var readBuffers = sync.Pool{New: func() any { b := make([]byte, readBufferSize); return &b }}

// loopReadSize is the buffer of a connection that reads on its own goroutine.
const loopReadSize = 4 << 10

// prepareReading picks how a WebSocket connection, whose socket is c.ws,
// reads: early is what the client sent after its handshake, already read.
// It runs before c is published; startReading, once c is, starts reading.
func (c *conn) prepareReading(early []byte) {
	c.frames.limit = int32(min(c.mgr.limits.ReadLimit, math.MaxInt32))
	c.frames.pending = early // parsed by the first pass
	if p := sharedPoller(); p != nil {
		if rc := pollable(c.ws.conn); rc != nil {
			c.poll = p
			c.ws.onClose = c.poke
			c.out.raw = rc // the writers may write it without waiting (writers.go)
		}
	}
}

// startReading starts the read side. A first pass reads at once: the
// client may have sent its first request with its handshake.
func (c *conn) startReading() {
	if c.poll != nil && c.poll.add(c, c.out.raw) == nil {
		go c.readReady()
		return
	}
	go c.readLoop() // not pollable, or the socket is already closed
}

// poke has the read side look at the socket, which was just closed, so that
// it finishes the connection.
func (c *conn) poke() { go c.readReady() }

// readReady reads what the socket holds and handles it, then arms the
// socket again: a goroutine of its own each time the poller finds the socket
// readable (or a close pokes it).
func (c *conn) readReady() {
	c.readMu.Lock()
	defer c.readMu.Unlock()
	defer c.recoverRead()
	if c.readEnded {
		return
	}
	c.consumeEarly()
	bufp := readBuffers.Get().(*[]byte)
	defer readBuffers.Put(bufp)
	for !c.readEnded {
		n, err := readNow(c.out.raw, *bufp)
		switch {
		case n > 0:
			c.consume((*bufp)[:n])
			if n == len(*bufp) {
				continue // there may be more
			}
			err = syscall.EAGAIN
		case err == nil:
			err = io.EOF
		}
		if err == syscall.EAGAIN {
			if err = c.poll.rearm(c); err == nil {
				return
			}
		}
		c.endRead(err)
	}
}

// readLoop is the read goroutine of a connection the poller does not serve:
// it reads and handles requests until the socket fails or is closed.
func (c *conn) readLoop() {
	c.readMu.Lock()
	defer c.readMu.Unlock()
	defer c.recoverRead()
	c.consumeEarly()
	buf := make([]byte, loopReadSize)
	for !c.readEnded {
		n, err := c.ws.conn.Read(buf)
		if n > 0 {
			c.consume(buf[:n])
		}
		if err != nil {
			c.endRead(err)
		}
	}
}

// consumeEarly handles what the client sent along with its handshake,
// which prepareReading left with the frame reader.
func (c *conn) consumeEarly() {
	if len(c.frames.pending) > 0 {
		c.consume(nil)
	}
}

// recoverRead ends a connection whose request panicked, rather than the
// server: the panic and its stack go to the log.
func (c *conn) recoverRead() {
	if p := recover(); p != nil {
		c.mgr.log.Error("panic serving a connection", "remote", c.remote, "panic", p, "stack", string(debug.Stack()))
		if !c.readEnded {
			c.setEndReason("server error")
			c.endRead(errors.New("panic"))
		}
	}
}

// endRead ends the connection: its socket is closed, if it was not, and
// the connection finished.
func (c *conn) endRead(err error) {
	c.readEnded = true
	if c.poll != nil {
		c.poll.remove(c)
	}
	_ = c.ws.Close()
	c.finish(err)
}

// consume parses data into frames and handles them. A frame the server
// refuses closes the connection with its code.
func (c *conn) consume(data []byte) {
	c.heard()
	c.handling.Store(true)
	err := c.frames.feed(data, c.onFrame)
	c.handling.Store(false)
	var refused *frameError
	if errors.As(err, &refused) {
		c.setEndReason(refused.why)
		c.out.closeNow(refused.code, refused.detail)
	}
}

// onFrame handles one frame from the client; it returns false after a close.
func (c *conn) onFrame(op byte, payload []byte) bool {
	switch op {
	case opPing:
		c.answerPing(payload)
	case opPong: // heard: that is all a pong is for
	case opClose:
		c.setEndReason("client closed")
		c.out.closeNow(closeReply(payload), "")
		return false
	default:
		c.mgr.metrics.received(len(payload))
		c.handle(payload)
	}
	return true
}

// closeReply is the code of the close frame that answers a client's close
// (RFC 6455, section 7.4): its own code, 0 (none) for none, 1002 for a code
// no endpoint may send, 1007 for a reason that is not UTF-8.
func closeReply(payload []byte) uint16 {
	if len(payload) == 0 {
		return 0
	}
	if len(payload) == 1 {
		return 1002
	}
	code := binary.BigEndian.Uint16(payload)
	switch {
	case code < 1000 || code >= 5000 || (code > 1013 && code < 3000):
		return 1002
	case code == 1004 || code == 1005 || code == 1006:
		return 1002
	case !utf8.Valid(payload[2:]):
		return 1007
	}
	return code
}
