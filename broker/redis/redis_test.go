package redis_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/rtbroadcaster/rtbroadcaster/broker"
	"github.com/rtbroadcaster/rtbroadcaster/broker/brokertest"
	"github.com/rtbroadcaster/rtbroadcaster/broker/redis"
	"github.com/rtbroadcaster/rtbroadcaster/broker/redis/redistest"
	"go.uber.org/goleak"
)

// TestMain fails the run if a test leaves a goroutine behind: an engine's
// reader, upkeep loop and connections must all end with Close.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestConformance(t *testing.T) {
	addr := redistest.Addr(t)
	brokertest.Run(t, func(t *testing.T) broker.Broker {
		// A short lease makes the nodes look for rooms past their grace often.
		return redistest.Engine(t, addr, redis.Options{KeyPrefix: redistest.Prefix(t, addr), LeaseTTL: 1500 * time.Millisecond, Logger: quiet()})
	})
}

// events is a Subscriber that reports what it receives on channels.
type events struct {
	mu      sync.Mutex
	seqs    []uint64
	closed  chan uint64
	viewers chan int
	lost    chan struct{}
}

func newEvents() *events {
	return &events{closed: make(chan uint64, 1), viewers: make(chan int, 100), lost: make(chan struct{}, 100)}
}

func (e *events) Deliver(seq uint64, _ []byte) {
	e.mu.Lock()
	e.seqs = append(e.seqs, seq)
	e.mu.Unlock()
}
func (e *events) Closed(seq uint64) { e.closed <- seq }
func (e *events) Viewers(total int) { e.viewers <- total }
func (e *events) Lost()             { e.lost <- struct{}{} }

func (e *events) delivered() []uint64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]uint64(nil), e.seqs...)
}

func (e *events) waitViewers(t *testing.T, want int) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case got := <-e.viewers:
			if got == want {
				return
			}
		case <-deadline:
			t.Fatalf("no Viewers(%d) within 10 s", want)
		}
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

// TestOwnerNodeStops stops the engine of the node that created a room: the
// other node closes the room once the lease expires, and its subscriber
// receives Closed after the messages before it.
func TestOwnerNodeStops(t *testing.T) {
	addr := redistest.Addr(t)
	opts := redis.Options{KeyPrefix: redistest.Prefix(t, addr), LeaseTTL: time.Second, Logger: quiet()}
	owner, viewer := redistest.Engine(t, addr, opts), redistest.Engine(t, addr, opts)
	room := uuid.NewString()
	if err := owner.CreateRoom(ctx(t), room, broker.Owner{}); err != nil {
		t.Fatal(err)
	}
	sub := newEvents()
	if err := viewer.Subscribe(ctx(t), room, sub); err != nil {
		t.Fatal(err)
	}
	if _, err := owner.Publish(ctx(t), room, broker.Publication{Body: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * opts.LeaseTTL) // renewed meanwhile: still open
	if _, err := viewer.Snapshot(ctx(t), room, nil); err != nil {
		t.Fatalf("room closed while its owner's node renewed the lease: %v", err)
	}
	stopped := time.Now()
	_ = owner.Close()
	select {
	case seq := <-sub.closed:
		if seq != 2 || len(sub.delivered()) != 1 {
			t.Fatalf("Closed(%d) after %v, want Closed(2) after [1]", seq, sub.delivered())
		}
		t.Logf("room closed %v after its owner's node stopped (lease %v)", time.Since(stopped).Round(time.Millisecond), opts.LeaseTTL)
	case <-time.After(3 * opts.LeaseTTL):
		t.Fatalf("room still open %v after its owner's node stopped", 3*opts.LeaseTTL)
	}
}

// TestViewerCountOfStoppedNode checks that a node's viewers stop counting
// once the node stops renewing its count.
func TestViewerCountOfStoppedNode(t *testing.T) {
	addr := redistest.Addr(t)
	opts := redis.Options{KeyPrefix: redistest.Prefix(t, addr), LeaseTTL: time.Second, Logger: quiet()}
	a, b := redistest.Engine(t, addr, opts), redistest.Engine(t, addr, opts)
	room := uuid.NewString()
	if err := b.CreateRoom(ctx(t), room, broker.Owner{}); err != nil {
		t.Fatal(err)
	}
	subA, subB := newEvents(), newEvents()
	for node, sub := range map[*redis.Broker]*events{a: subA, b: subB} {
		if err := node.Subscribe(ctx(t), room, sub); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.SetViewers(ctx(t), room, subA, 3); err != nil {
		t.Fatal(err)
	}
	if err := b.SetViewers(ctx(t), room, subB, 2); err != nil {
		t.Fatal(err)
	}
	subB.waitViewers(t, 5)
	time.Sleep(2 * opts.LeaseTTL) // renewed meanwhile
	_ = a.Close()
	subB.waitViewers(t, 2)
}

// TestRedisRestart kills the engine's Redis and starts it again: meanwhile
// calls fail with ErrUnavailable and Ready fails; afterwards the subscriber
// is told Lost, and publishing and delivery resume.
func TestRedisRestart(t *testing.T) {
	srv := redistest.StartServer(t)
	engine := redistest.Engine(t, srv.Addr, redis.Options{LeaseTTL: 3 * time.Second, Logger: quiet()})
	room := uuid.NewString()
	if err := engine.CreateRoom(ctx(t), room, broker.Owner{}); err != nil {
		t.Fatal(err)
	}
	sub := newEvents()
	if err := engine.Subscribe(ctx(t), room, sub); err != nil {
		t.Fatal(err)
	}
	publish := func() error {
		_, err := engine.Publish(ctx(t), room, broker.Publication{Body: []byte(`{}`)})
		return err
	}
	if err := publish(); err != nil {
		t.Fatal(err)
	}
	waitDelivered(t, sub, 1)

	srv.Kill()
	if err := publish(); !errors.Is(err, broker.ErrUnavailable) {
		t.Fatalf("Publish while Redis is down: %v, want ErrUnavailable", err)
	}
	if err := engine.Subscribe(ctx(t), uuid.NewString(), newEvents()); !errors.Is(err, broker.ErrUnavailable) {
		t.Fatalf("Subscribe while Redis is down: %v, want ErrUnavailable", err)
	}
	if err := engine.Ready(ctx(t)); err == nil {
		t.Fatal("Ready while Redis is down")
	}

	srv.Start()
	select {
	case <-sub.lost:
	case <-time.After(10 * time.Second):
		t.Fatal("subscriber not told Lost after Redis came back")
	}
	if err := engine.Ready(ctx(t)); err != nil {
		t.Fatalf("Ready after Redis came back: %v", err)
	}
	if err := publish(); err != nil {
		t.Fatalf("Publish after Redis came back: %v", err)
	}
	waitDelivered(t, sub, 2)
	if got := sub.delivered(); len(got) != 2 || got[1] != 2 {
		t.Fatalf("delivered %v, want [1 2]", got)
	}
	if s := engine.Stats(); s.Outages != 1 {
		t.Fatalf("stats %+v, want 1 outage", s)
	}
}

// waitDelivered waits for sub to have received n messages.
func waitDelivered(t *testing.T, sub *events, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(sub.delivered()) < n {
		if time.Now().After(deadline) {
			t.Fatalf("delivered %v, want %d messages", sub.delivered(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestCloseDuringOutage: a close that failed while Redis was down is done
// once Redis is back, so that a room whose owner left then does not linger.
func TestCloseDuringOutage(t *testing.T) {
	srv := redistest.StartServer(t)
	engine := redistest.Engine(t, srv.Addr, redis.Options{LeaseTTL: 600 * time.Millisecond, Logger: quiet()})
	room := uuid.NewString()
	if err := engine.CreateRoom(ctx(t), room, broker.Owner{}); err != nil {
		t.Fatal(err)
	}
	sub := newEvents()
	if err := engine.Subscribe(ctx(t), room, sub); err != nil {
		t.Fatal(err)
	}
	srv.Kill()
	if err := engine.CloseRoom(ctx(t), room); !errors.Is(err, broker.ErrUnavailable) {
		t.Fatalf("CloseRoom while Redis is down: %v, want ErrUnavailable", err)
	}
	srv.Start()
	select {
	case seq := <-sub.closed:
		if seq != 1 {
			t.Fatalf("Closed(%d), want Closed(1)", seq)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("room not closed after Redis came back")
	}
}

// TestReleaseDuringOutage: an owner that leaves while Redis is down cannot
// start its grace in Redis; its node stops renewing the lease all the same,
// so that the room closes once the lease runs out instead of lingering with
// no owner.
func TestReleaseDuringOutage(t *testing.T) {
	srv := redistest.StartServer(t)
	opts := redis.Options{LeaseTTL: 600 * time.Millisecond, Logger: quiet()}
	owner, other := redistest.Engine(t, srv.Addr, opts), redistest.Engine(t, srv.Addr, opts)
	room := uuid.NewString()
	if err := owner.CreateRoom(ctx(t), room, broker.Owner{Grace: time.Second}); err != nil {
		t.Fatal(err)
	}
	sub := newEvents()
	if err := other.Subscribe(ctx(t), room, sub); err != nil {
		t.Fatal(err)
	}
	srv.Kill()
	if err := owner.ReleaseOwner(ctx(t), room, 1); !errors.Is(err, broker.ErrUnavailable) {
		t.Fatalf("ReleaseOwner while Redis is down: %v, want ErrUnavailable", err)
	}
	srv.Start()
	select {
	case <-sub.closed:
	case <-time.After(10 * time.Second):
		t.Fatal("room of an owner that left during the outage still open 10 s after Redis came back")
	}
}

// TestGraceEndsOnTime: a room whose owner does not come back closes when its
// grace ends, not at the engine's next upkeep round (every LeaseTTL/3, here
// 10 s).
func TestGraceEndsOnTime(t *testing.T) {
	const grace = 300 * time.Millisecond
	addr := redistest.Addr(t)
	opts := redis.Options{KeyPrefix: redistest.Prefix(t, addr), LeaseTTL: 30 * time.Second, Logger: quiet()}
	owner, other := redistest.Engine(t, addr, opts), redistest.Engine(t, addr, opts)
	room := uuid.NewString()
	if err := owner.CreateRoom(ctx(t), room, broker.Owner{Grace: grace}); err != nil {
		t.Fatal(err)
	}
	sub := newEvents()
	if err := other.Subscribe(ctx(t), room, sub); err != nil {
		t.Fatal(err)
	}
	released := time.Now()
	if err := owner.ReleaseOwner(ctx(t), room, 1); err != nil {
		t.Fatal(err)
	}
	select {
	case <-sub.closed:
		if waited := time.Since(released); waited < grace {
			t.Fatalf("closed %v after the release, before the grace of %v", waited, grace)
		}
	case <-time.After(3 * time.Second):
		t.Fatalf("room still open 3 s after a grace of %v", grace)
	}
}
