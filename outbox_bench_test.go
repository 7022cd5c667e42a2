package rtbroadcaster

import (
	"net"
	"strconv"
	"sync"
	"testing"
	"time"
)

// BenchmarkDeliver measures the server's own cost of fanning one message out
// to a room's viewers on this node: framing it once, queueing it for every
// viewer and writing each viewer's queue, to sockets that cost nothing. What
// remains per delivery is what the server adds to the kernel's write.
//
//	go test -run '^$' -bench Deliver -benchmem
func BenchmarkDeliver(b *testing.B) {
	for _, viewers := range []int{1, 100, 1000, 10000} {
		b.Run(strconv.Itoa(viewers)+"-viewers", func(b *testing.B) {
			r, conns := benchRoom(viewers)
			body := connectedMessage(r.id).Encode()
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				r.Deliver(uint64(i+1), body)
				if (i+1)%deliverWindow == 0 {
					// Keep each viewer's queue within its limit, as a
					// live owner's pace does: a room that outruns a
					// viewer's writer cuts it as a slow consumer.
					for _, c := range conns {
						c.waitFor(i + 1 - deliverWindow)
					}
				}
			}
			for _, c := range conns {
				c.waitFor(b.N)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*viewers), "ns/delivery")
		})
	}
}

// deliverWindow is how many messages the benchmark lets a viewer's writer
// fall behind: a few dozen KiB of queue, well within SendQueueBytes.
const deliverWindow = 256

// benchRoom is a replica with n live viewers writing to discardConns.
func benchRoom(n int) (*room, []*discardConn) {
	m := NewManager(WithLogger(nil))
	r := &room{id: "bench", mgr: m}
	conns := make([]*discardConn, n)
	for i := range conns {
		conns[i] = newDiscardConn()
		c := &conn{mgr: m}
		c.out = outbox{sock: conns[i], limit: m.limits.SendQueueBytes, writeTimeout: time.Second}
		c.slot = i
		r.viewers = append(r.viewers, c)
	}
	return r, conns
}

// discardConn is a socket that accepts every write at once and counts the
// frames in it (each benchmark frame is one small text frame).
type discardConn struct {
	net.Conn
	mu     sync.Mutex
	cond   *sync.Cond
	frames int
}

func newDiscardConn() *discardConn {
	c := &discardConn{}
	c.cond = sync.NewCond(&c.mu)
	return c
}

func (c *discardConn) NetConn() net.Conn                { return c }
func (c *discardConn) WriteClose(uint16, []byte) error  { return nil }
func (c *discardConn) SetWriteDeadline(time.Time) error { return nil }
func (c *discardConn) Close() error                     { return nil }
func (c *discardConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	for i := 0; i < len(p); i += 2 + int(p[i+1]) { // frames under 126 bytes
		c.frames++
	}
	c.cond.Broadcast()
	c.mu.Unlock()
	return len(p), nil
}

func (c *discardConn) waitFor(frames int) {
	c.mu.Lock()
	for c.frames < frames {
		c.cond.Wait()
	}
	c.mu.Unlock()
}
