package rtbroadcaster_test

import (
	"errors"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lxzan/gws"
	rtb "github.com/rtbroadcaster/rtbroadcaster"
	"github.com/rtbroadcaster/rtbroadcaster/internal/netproxy"
)

// TestMissedPongEndsTCPWithoutCloseFrame: a peer that answers no ping has
// its TCP connection closed without a close frame (PROTOCOL.md, Connection
// closes): not with 1000, which tells a client that its room closed, and
// not with a reason naming the server's addresses.
func TestMissedPongEndsTCPWithoutCloseFrame(t *testing.T) {
	srv := startServer(t, rtb.WithLimits(rtb.Limits{PingInterval: 50 * time.Millisecond, PongTimeout: 100 * time.Millisecond}))
	u, err := url.Parse(srv.wsURL)
	if err != nil {
		t.Fatal(err)
	}
	p, err := netproxy.Start(u.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	owner := dial(t, p.URL(srv.wsURL), nil)
	owner.createRoom()
	p.PauseUpstream() // it hears the server, but its pongs do not get out
	select {
	case <-owner.closed:
	case <-time.After(waitFor):
		t.Fatalf("the silent connection is still open after %v", waitFor)
	}
	if ce := (*gws.CloseError)(nil); errors.As(owner.err, &ce) {
		t.Fatalf("the server sent close %d %q; want its TCP connection closed without a close frame", ce.Code, ce.Reason)
	}
	waitUntil(t, `the disconnect is counted as "no pong"`, func() bool {
		return scrape(t, srv.MetricsHandler())[`rtbroadcaster_disconnects_total{reason="no pong"}`] == 1
	})
}

// clientFrame builds a frame as a client sends it: masked, here with the
// zero key, which leaves the payload as it is. first is the frame's first
// byte: FIN, RSV bits and opcode.
func clientFrame(first byte, payload string) []byte {
	return append([]byte{first, 0x80 | byte(len(payload)), 0, 0, 0, 0}, payload...)
}

// TestRefusedFramesAreNamed: a frame the server refuses closes the
// connection with its documented code (PROTOCOL.md, Connection closes),
// and its log line and disconnect metric name why, not "connection lost".
func TestRefusedFramesAreNamed(t *testing.T) {
	tests := []struct {
		name   string
		frame  []byte
		code   uint16
		why    string
		reason string // of the close frame
	}{
		{"a frame over the read limit", clientFrame(0x81, `{"funcKey":"`+strings.Repeat("x", 100)+`"}`), 1009, "message too big", "the message is over the read limit"},
		{"a text frame that is not UTF-8", clientFrame(0x81, "\xff\xfe"), 1007, "invalid utf-8", "a text message that is not UTF-8"},
		{"a reserved bit set", clientFrame(0x80|0x40|0x1, "{}"), 1002, "protocol error", "a reserved bit is set"},
		{"a reserved opcode", clientFrame(0x80|0xB, ""), 1002, "protocol error", "a reserved opcode"},
		{"an unmasked frame", []byte{0x81, 0x02, '{', '}'}, 1002, "protocol error", "a client frame must be masked"},
		{"a fragmented ping", clientFrame(0x09, ""), 1002, "protocol error", "a control frame must be whole and at most 125 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startServer(t, rtb.WithLimits(rtb.Limits{ReadLimit: 64}))
			c := dial(t, srv.wsURL, nil)
			if _, err := c.conn.NetConn().Write(tt.frame); err != nil {
				t.Fatal(err)
			}
			c.expectClose(tt.code)
			if ce := (*gws.CloseError)(nil); !errors.As(c.err, &ce) || string(ce.Reason) != tt.reason {
				t.Errorf("closed with %v, want the reason %q", c.err, tt.reason)
			}
			metric := `rtbroadcaster_disconnects_total{reason="` + tt.why + `"}`
			waitUntil(t, metric+" is counted", func() bool { return scrape(t, srv.MetricsHandler())[metric] == 1 })
		})
	}
}

// pongCounter counts the pongs a connection receives.
type pongCounter struct {
	gws.BuiltinEventHandler
	pongs  atomic.Int64
	closed chan error
}

func (p *pongCounter) OnPong(*gws.Conn, []byte)       { p.pongs.Add(1) }
func (p *pongCounter) OnClose(_ *gws.Conn, err error) { p.closed <- err }

// TestPingFloodIsBounded: a client's pings count against the message rate
// when one is set, else against the fixed ping budget (burst 50): a flood
// of pings gets a few pongs, then close 1008 (PROTOCOL.md, Limits).
// emptyClientPing is a ping as a client frames it: masked (with a zero key),
// no payload.
var emptyClientPing = []byte{0x89, 0x80, 0, 0, 0, 0}

func TestPingFloodIsBounded(t *testing.T) {
	tests := []struct {
		name      string
		limits    rtb.Limits
		mostPongs int64
	}{
		{"with -rate 10", rtb.Limits{MessagesPerSecond: 10}, 10 + 5},
		{"without a rate", rtb.Limits{}, 50 + 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startServer(t, rtb.WithLimits(tt.limits))
			p := &pongCounter{closed: make(chan error, 1)}
			conn, _, err := gws.NewClient(p, &gws.ClientOption{Addr: srv.wsURL})
			if err != nil {
				t.Fatal(err)
			}
			go conn.ReadLoop()
			t.Cleanup(func() { _ = conn.NetConn().Close() })
			// Straight to the socket: a failed write through the library
			// would end the connection with the write's error, racing the
			// close frame that the read loop reports.
			for range 5000 {
				if _, err := conn.NetConn().Write(emptyClientPing); err != nil {
					break // closed
				}
			}
			select {
			case err := <-p.closed:
				var ce *gws.CloseError
				if !errors.As(err, &ce) || ce.Code != rtb.ClosePolicyViolation {
					t.Fatalf("ended with %v after %d pongs, want close 1008", err, p.pongs.Load())
				}
			case <-time.After(waitFor):
				t.Fatalf("still open after 5,000 pings and %d pongs, want close 1008", p.pongs.Load())
			}
			if n := p.pongs.Load(); n > tt.mostPongs {
				t.Fatalf("%d pongs to a flood of pings, want at most %d", n, tt.mostPongs)
			}
		})
	}
}
