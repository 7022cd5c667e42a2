package rtbroadcaster_test

import (
	"context"
	"errors"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/lxzan/gws"
	rtb "github.com/rtbroadcaster/rtbroadcaster"
	"github.com/rtbroadcaster/rtbroadcaster/broker"
	"github.com/rtbroadcaster/rtbroadcaster/broker/memory"
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

// stuckEngine is an engine whose first Publish waits until its context
// ends, as a Redis that stopped answering makes it do.
type stuckEngine struct {
	broker.Broker
	entered chan struct{}
	once    *sync.Once
}

func (e stuckEngine) Publish(ctx context.Context, room string, p broker.Publication) (uint64, error) {
	stuck := false
	e.once.Do(func() { stuck = true })
	if !stuck {
		return e.Broker.Publish(ctx, room, p)
	}
	e.entered <- struct{}{}
	<-ctx.Done()
	return 0, ctx.Err()
}

// TestShutdownCutsStuckRequests: a Shutdown whose context ends while an
// owner's broadcast waits on the engine cancels that wait, and returns
// at once rather than after the engine call's own timeout (5 s).
func TestShutdownCutsStuckRequests(t *testing.T) {
	engine := stuckEngine{Broker: memory.New(), entered: make(chan struct{}, 1), once: &sync.Once{}}
	srv := startServer(t, rtb.WithBroker(engine))
	owner := dial(t, srv.wsURL, nil)
	room := owner.createRoom()
	owner.send(request(3, room, "n"))
	<-engine.entered
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := srv.Shutdown(ctx)
	if took := time.Since(start); err == nil || took > time.Second {
		t.Fatalf("Shutdown returned %v after %v; want its context's error within a second", err, took.Round(time.Millisecond))
	}
}
