package rtbroadcaster

import (
	"testing"
	"time"
)

// pings counts the ping frames written to a captured connection.
func (c *capturedConn) pings() int {
	c.sock.mu.Lock()
	stream := append([]byte(nil), c.sock.buf.Bytes()...)
	c.sock.mu.Unlock()
	n := 0
	for len(stream) > 0 {
		op, _, rest, ok := nextServerFrame(stream)
		if !ok {
			break
		}
		if op == opPing {
			n++
		}
		stream = rest
	}
	return n
}

// TestPingWheel: connections on the wheel are pinged at their interval; one
// taken out (from the middle of its slot) is pinged no more while the others
// go on; and the wheel's goroutine ends once no connection is left in it.
func TestPingWheel(t *testing.T) {
	m := NewManager(WithLogger(nil), WithLimits(Limits{PingInterval: 20 * time.Millisecond, PongTimeout: time.Second}))
	conns := make([]*capturedConn, 5)
	for i := range conns {
		conns[i] = newCapturedConn(m) // no WebSocket: pinged as heartbeats, no pong expected
		conns[i].start()              // the same tick: one slot for all
	}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); !ok(); time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 5 s", what)
			}
		}
	}
	waitFor("every connection pinged 3 times", func() bool {
		for _, c := range conns {
			if c.pings() < 3 {
				return false
			}
		}
		return true
	})
	m.pings.remove(conns[2].conn)
	stopped := conns[2].pings()
	others := conns[4].pings()
	waitFor("the others pinged 3 times more", func() bool {
		return conns[0].pings() >= others+3 && conns[4].pings() >= others+3
	})
	if got := conns[2].pings(); got > stopped+1 { // one may have been under way
		t.Fatalf("a connection taken out was pinged %d more times", got-stopped)
	}
	for _, c := range conns {
		m.pings.remove(c.conn)
	}
	waitFor("the wheel's goroutine ends", func() bool {
		m.pings.mu.Lock()
		defer m.pings.mu.Unlock()
		return !m.pings.running && m.pings.count == 0
	})
}
