package rtbroadcaster

import (
	"encoding/binary"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rtbroadcaster/rtbroadcaster/broker"
)

// TestOutboxOrder: control frames jump ahead of queued data; a replay goes
// after what was queued before it and before what is pushed after it.
func TestOutboxOrder(t *testing.T) {
	conn := newGatedConn()
	o := outbox{sock: conn, limit: 1 << 20, writeTimeout: time.Second}
	text := func(s string) []byte { return serverFrame(opText, []byte(s)) }

	o.push(text("first")) // the writer takes it and waits at the gate
	conn.waitWriting()
	o.push(text("before"))
	o.pushReplay(text("reply"), []broker.Entry{{Seq: 1, Body: []byte(`{"a":1}`)}, {Seq: 2, Body: []byte(`{"b":2}`)}})
	o.push(text("live"))
	o.pushControl(serverFrame(opPing, nil))
	conn.open()

	want := []string{"first", "ping", "before", "reply", `{"a":1,"seq":1}`, `{"b":2,"seq":2}`, "live"}
	if got := conn.waitFrames(len(want)); !slices.Equal(got, want) {
		t.Fatalf("written in the order %q, want %q", got, want)
	}
}

// TestOutboxReplayPassesByLimit: a replay far larger than the queue's limit
// is written whole, while live frames behind it still count against the
// limit.
func TestOutboxReplayPassesByLimit(t *testing.T) {
	body := []byte(`{"x":"` + string(make([]byte, 500)) + `"}`)
	var entries []broker.Entry
	for i := range 100 { // 50 times the limit
		entries = append(entries, broker.Entry{Seq: uint64(i + 1), Body: body})
	}
	reply := serverFrame(opText, []byte("reply"))

	t.Run("written whole", func(t *testing.T) {
		conn := newGatedConn()
		conn.open()
		o := outbox{sock: conn, limit: 1 << 10, writeTimeout: time.Second}
		if !o.pushReplay(reply, entries) {
			t.Fatal("pushReplay refused a replay larger than the limit")
		}
		if got := conn.waitFrames(101); len(got) != 101 {
			t.Fatalf("%d frames written, want the reply and 100 replayed", len(got))
		}
	})
	t.Run("live frames behind it are bounded", func(t *testing.T) {
		conn := newGatedConn()
		slow := make(chan struct{})
		o := outbox{sock: conn, limit: 1 << 10, writeTimeout: time.Second, onSlow: func() { close(slow) }}
		o.pushReplay(reply, entries)
		conn.waitWriting()
		for i := 0; o.push(serverFrame(opText, body)); i++ { // they pile up behind the held writer
			if i > 2 {
				t.Fatalf("%d live frames of %d bytes queued within a limit of 1 KiB", i+1, len(body))
			}
		}
		<-slow
		conn.open()
	})
}

// gatedConn is a socket whose writes wait until it is opened, and which
// keeps the payloads of the frames written to it.
type gatedConn struct {
	net.Conn
	mu      sync.Mutex
	cond    *sync.Cond
	gated   bool
	writing bool
	buf     []byte
}

func newGatedConn() *gatedConn {
	c := &gatedConn{gated: true}
	c.cond = sync.NewCond(&c.mu)
	return c
}

func (c *gatedConn) NetConn() net.Conn                { return c }
func (c *gatedConn) WriteClose(uint16, []byte) error  { return nil }
func (c *gatedConn) SetWriteDeadline(time.Time) error { return nil }
func (c *gatedConn) Close() error                     { return nil }

func (c *gatedConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writing = true
	c.cond.Broadcast()
	for c.gated {
		c.cond.Wait()
	}
	c.buf = append(c.buf, p...)
	c.cond.Broadcast()
	return len(p), nil
}

func (c *gatedConn) waitWriting() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for !c.writing {
		c.cond.Wait()
	}
}

func (c *gatedConn) open() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gated = false
	c.cond.Broadcast()
}

// waitFrames waits for n whole frames and returns their payloads, a ping
// as "ping".
func (c *gatedConn) waitFrames(n int) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		frames := parseFrames(c.buf)
		if len(frames) >= n {
			return frames
		}
		c.cond.Wait()
	}
}

// parseFrames splits the unmasked server frames in buf.
func parseFrames(buf []byte) []string {
	var out []string
	for len(buf) >= 2 {
		n, head := int(buf[1]&0x7f), 2
		switch n {
		case 126:
			n, head = int(binary.BigEndian.Uint16(buf[2:])), 4
		case 127:
			n, head = int(binary.BigEndian.Uint64(buf[2:])), 10
		}
		if len(buf) < head+n {
			break
		}
		payload := string(buf[head : head+n])
		if buf[0]&0x0f == opPing {
			payload = "ping"
		}
		out = append(out, payload)
		buf = buf[head+n:]
	}
	return out
}
