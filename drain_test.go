package rtbroadcaster_test

import (
	"context"
	"errors"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/lxzan/gws"
	rtb "github.com/rtbroadcaster/rtbroadcaster"
)

// TestDrainSpreadsReconnects: on shutdown, every client is closed with 1001
// and told a delay within the spread, not all the same one.
func TestDrainSpreadsReconnects(t *testing.T) {
	const spread, clients = 2 * time.Second, 20
	srv := startServer(t, rtb.WithDrainSpread(spread))
	owner := dial(t, srv.wsURL, nil)
	room := owner.createRoom()
	conns := []*wsClient{owner}
	for range clients - 1 {
		v := dial(t, srv.wsURL, nil)
		v.joinRoom(room)
		conns = append(conns, v)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	named := regexp.MustCompile(`^server shutting down; reconnect in (\d+) ms$`)
	delays := map[int]bool{}
	for i, c := range conns {
		c.expectClose(rtb.CloseGoingAway)
		var ce *gws.CloseError
		errors.As(c.err, &ce)
		m := named.FindSubmatch(ce.Reason)
		if m == nil {
			t.Fatalf("client %d: close reason %q names no delay", i, ce.Reason)
		}
		ms, _ := strconv.Atoi(string(m[1]))
		if ms < 0 || time.Duration(ms)*time.Millisecond >= spread {
			t.Fatalf("client %d told to wait %d ms, outside the spread of %v", i, ms, spread)
		}
		delays[ms] = true
	}
	if len(delays) < 2 {
		t.Fatalf("%d clients were all told the same delay: %v", clients, delays)
	}
}
