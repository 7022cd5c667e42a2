package rtbroadcaster_test

import (
	"errors"
	"net/url"
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
