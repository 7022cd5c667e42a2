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
func TestMain(m *testing.M) { goleak.VerifyTestMain(m, redistest.IgnoreRedials) }

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestConformance(t *testing.T) {
	redisURL := redistest.URL(t)
	brokertest.Run(t, func(t *testing.T) broker.Broker {
		// A short lease makes the nodes look for rooms past their grace often.
		return redistest.Engine(t, redisURL, redis.Options{KeyPrefix: redistest.Prefix(t, redisURL), LeaseTTL: 1500 * time.Millisecond, Logger: quiet()})
	})
}

// TestConformanceOnCluster runs the engine conformance suite on a Redis
// Cluster of three masters and three replicas: each room's keys and
// channel are on the shard of its slot, and its stream uses sharded
// pub/sub.
func TestConformanceOnCluster(t *testing.T) {
	cluster := redistest.StartCluster(t)
	brokertest.Run(t, func(t *testing.T) broker.Broker {
		return redistest.Engine(t, cluster.URL(), redis.Options{KeyPrefix: redistest.Prefix(t, cluster.URL()), LeaseTTL: 1500 * time.Millisecond, Logger: quiet()})
	})
}

// events is a Subscriber that reports what it receives on channels.
type events struct {
	mu        sync.Mutex
	seqs      []uint64
	closed    chan uint64
	viewers   chan int
	lost      chan struct{}
	ownerGone chan ownerGone
	ownerBack chan uint64
	claimed   chan uint64
}

// ownerGone is owner news saying the owner is away.
type ownerGone struct {
	epoch     uint64
	graceLeft time.Duration
}

func newEvents() *events {
	return &events{closed: make(chan uint64, 1), viewers: make(chan int, 100), lost: make(chan struct{}, 100),
		ownerGone: make(chan ownerGone, 10), ownerBack: make(chan uint64, 10), claimed: make(chan uint64, 10)}
}

// Deliver records seq; owner news (see engine) goes to its channels too.
func (e *events) Deliver(seq uint64, body []byte) {
	e.mu.Lock()
	e.seqs = append(e.seqs, seq)
	e.mu.Unlock()
	switch news, ok := brokertest.ParseOwnerNews(body); {
	case ok && news.Away:
		e.ownerGone <- ownerGone{news.Epoch, news.GraceLeft}
	case ok:
		e.ownerBack <- news.Epoch
	}
}
func (e *events) Closed(seq uint64)         { e.closed <- seq }
func (e *events) Viewers(total int)         { e.viewers <- total }
func (e *events) Lost()                     { e.lost <- struct{}{} }
func (e *events) OwnerClaimed(epoch uint64) { e.claimed <- epoch }

// engine is redistest.Engine publishing owner news as the Recorder reads it.
func engine(t *testing.T, redisURL string, opts redis.Options) *redis.Broker {
	b := redistest.Engine(t, redisURL, opts)
	b.SetRenderer(brokertest.RenderOwnerNews)
	return b
}

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
	redisURL := redistest.URL(t)
	opts := redis.Options{KeyPrefix: redistest.Prefix(t, redisURL), LeaseTTL: time.Second, Logger: quiet()}
	owner, viewer := engine(t, redisURL, opts), engine(t, redisURL, opts)
	room, sub := subscribedRoom(t, owner, viewer, broker.Owner{})
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
	case gone := <-sub.ownerGone:
		t.Fatalf("OwnerGone%+v in a room without a grace: it closes instead", gone)
	case <-time.After(3 * opts.LeaseTTL):
		t.Fatalf("room still open %v after its owner's node stopped", 3*opts.LeaseTTL)
	}
}

// goneLease and goneGrace are the owner lease and grace of the
// TestOwnerGone tests: the room outlives its owner's node by the grace,
// long enough to tell that node stopped (its heartbeat, renewed for the
// lease, runs out) well before the room closes.
const goneLease, goneGrace = time.Second, 5 * time.Second

// ownerGoneSetup starts three engines, creates a room with a grace on the
// first, subscribes to it on the other two (two subscribers on the second),
// and stops the first as a crash would, without releasing the room. It
// returns the surviving engines, the room, every subscriber, and when the
// owner's node stopped.
func ownerGoneSetup(t *testing.T) (nodes []*redis.Broker, room string, subs []*events, stopped time.Time) {
	t.Helper()
	redisURL := redistest.URL(t)
	opts := redis.Options{KeyPrefix: redistest.Prefix(t, redisURL), LeaseTTL: goneLease, Logger: quiet()}
	owner := engine(t, redisURL, opts)
	nodes = []*redis.Broker{engine(t, redisURL, opts), engine(t, redisURL, opts)}
	room = uuid.NewString()
	if err := owner.CreateRoom(ctx(t), room, broker.Owner{KeyHash: "hash", Grace: goneGrace}); err != nil {
		t.Fatal(err)
	}
	subs = []*events{newEvents(), newEvents(), newEvents()}
	for i, sub := range subs {
		if err := nodes[min(i, 1)].Subscribe(ctx(t), room, sub); err != nil {
			t.Fatal(err)
		}
	}
	mustPublish(t, owner, room, actionPub(`{}`))
	for _, sub := range subs {
		waitDelivered(t, sub, 1)
	}
	time.Sleep(2 * goneLease) // several upkeep rounds: a live owner's node is not taken for stopped
	expectNoOwnerGone(t, subs)
	stopped = time.Now()
	_ = owner.Close()
	return nodes, room, subs, stopped
}

// waitOwnerGone waits for the owner-away news, published once, on every
// subscriber, and checks it.
func waitOwnerGone(t *testing.T, subs []*events, stopped time.Time) {
	t.Helper()
	timeout := time.After(5 * goneLease)
	for i, sub := range subs {
		select {
		case gone := <-sub.ownerGone:
			t.Logf("owner away%+v on subscriber %d, %v after the owner's node stopped", gone, i, time.Since(stopped).Round(time.Millisecond))
			if gone.epoch != 1 || gone.graceLeft <= 0 || gone.graceLeft > goneGrace {
				t.Fatalf("owner away%+v, want epoch 1 and a grace left within (0, %v]", gone, goneGrace)
			}
		case <-timeout:
			t.Fatalf("subscriber %d: no owner-away news %v after the owner's node stopped (lease %v)", i, 5*goneLease, goneLease)
		}
	}
	time.Sleep(goneLease) // three more upkeep rounds on each node
	expectNoOwnerGone(t, subs)
}

// expectNoOwnerGone checks that no subscriber was told OwnerGone or
// OwnerBack.
func expectNoOwnerGone(t *testing.T, subs []*events) {
	t.Helper()
	for i, sub := range subs {
		select {
		case gone := <-sub.ownerGone:
			t.Fatalf("subscriber %d: unexpected OwnerGone%+v", i, gone)
		case epoch := <-sub.ownerBack:
			t.Fatalf("subscriber %d: unexpected OwnerBack(%d)", i, epoch)
		default:
		}
	}
}

// TestUnknownNodeNotTakenForStopped: a lease that names a node with no
// heartbeat at all (one running an earlier version, during a rolling
// upgrade) is left alone: that node is not known to have stopped.
func TestUnknownNodeNotTakenForStopped(t *testing.T) {
	redisURL := redistest.URL(t)
	prefix := redistest.Prefix(t, redisURL)
	opts := redis.Options{KeyPrefix: prefix, LeaseTTL: time.Minute, Logger: quiet()}
	owner, other := engine(t, redisURL, opts), engine(t, redisURL, opts)
	room, sub := subscribedRoom(t, owner, other, broker.Owner{KeyHash: "hash", Grace: time.Minute})
	admin := redistest.Client(t, redisURL)
	if err := admin.Set(ctx(t), prefix+"{"+room+"}:lease", "node-of-an-earlier-version", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	other.Upkeep()
	expectNoOwnerGone(t, []*events{sub})
	if snap, err := other.Snapshot(ctx(t), room, nil); err != nil || snap.OwnerAway {
		t.Fatalf("snapshot: OwnerAway %v, %v; want false", snap.OwnerAway, err)
	}
}

// TestOwnerNodeReturns: the node hosting a room's owner loses Redis for
// longer than its heartbeat, so that another node takes it for stopped and
// says the owner is gone; then the node is back, with its owner: it renews
// its lease and says the owner is back, on its own subscriber only, once.
func TestOwnerNodeReturns(t *testing.T) {
	const grace = time.Minute
	redisURL := redistest.URL(t)
	// A lease so long that the test drives every upkeep round itself.
	opts := redis.Options{KeyPrefix: redistest.Prefix(t, redisURL), LeaseTTL: time.Minute, Logger: quiet()}
	owner, other := engine(t, redisURL, opts), engine(t, redisURL, opts)
	room := uuid.NewString()
	if err := owner.CreateRoom(ctx(t), room, broker.Owner{KeyHash: "hash", Grace: grace}); err != nil {
		t.Fatal(err)
	}
	ownerSub, otherSub := newEvents(), newEvents()
	subs := []*events{ownerSub, otherSub}
	for node, sub := range map[*redis.Broker]*events{owner: ownerSub, other: otherSub} {
		if err := node.Subscribe(ctx(t), room, sub); err != nil {
			t.Fatal(err)
		}
	}
	awayOn := func(b *redis.Broker) bool {
		t.Helper()
		snap, err := b.Snapshot(ctx(t), room, nil)
		if err != nil {
			t.Fatal(err)
		}
		return snap.OwnerAway
	}

	owner.Upkeep()
	other.Upkeep()
	expectNoOwnerGone(t, subs)

	if err := owner.AgeHeartbeat(ctx(t)); err != nil {
		t.Fatal(err)
	}
	other.Upkeep()
	for _, sub := range subs { // published once: every subscriber has it
		select {
		case gone := <-sub.ownerGone:
			if gone.epoch != 1 || gone.graceLeft <= grace/2 || gone.graceLeft > grace {
				t.Fatalf("OwnerGone%+v, want epoch 1 and about %v left", gone, grace)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no OwnerGone after an upkeep round that found the owner's node's heartbeat old")
		}
	}
	if !awayOn(other) || !awayOn(owner) {
		t.Fatal("snapshot after OwnerGone: owner not away")
	}
	other.Upkeep()
	expectNoOwnerGone(t, subs)

	owner.Upkeep()
	for _, sub := range subs {
		select {
		case epoch := <-sub.ownerBack:
			if epoch != 1 {
				t.Fatalf("OwnerBack(%d), want OwnerBack(1)", epoch)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no OwnerBack after the owner's node renewed its lease")
		}
	}
	if awayOn(other) {
		t.Fatal("snapshot after OwnerBack: owner still away")
	}
	owner.Upkeep()
	other.Upkeep()
	expectNoOwnerGone(t, subs)
}

// TestOwnerGoneThenClaimed: the node hosting a room's owner stops without
// the owner leaving. Within about a lease, exactly one subscriber of all
// the surviving nodes is told OwnerGone, snapshots say the owner is away,
// and the owner can still claim the room back on another node, which then
// keeps it.
func TestOwnerGoneThenClaimed(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: skipped under -short; ./scripts/test.sh runs it")
	}
	nodes, room, subs, stopped := ownerGoneSetup(t)
	waitOwnerGone(t, subs, stopped)
	for i, node := range nodes {
		if snap, err := node.Snapshot(ctx(t), room, nil); err != nil || !snap.OwnerAway {
			t.Fatalf("snapshot on node %d: OwnerAway %v, %v; want true", i, snap.OwnerAway, err)
		}
	}
	epoch, err := nodes[1].ClaimOwner(ctx(t), room, "hash")
	if err != nil || epoch != 2 {
		t.Fatalf("claim after the owner's node stopped: epoch %d, %v; want 2", epoch, err)
	}
	stale := actionPub(`{"owner":"away"}`)
	stale.OwnerEpoch = 1
	if _, err := nodes[0].Publish(ctx(t), room, stale); !errors.Is(err, broker.ErrNotOwner) {
		t.Fatalf("publish as the stopped node's epoch after the claim: %v, want ErrNotOwner", err)
	}
	if snap, err := nodes[0].Snapshot(ctx(t), room, nil); err != nil || snap.OwnerAway {
		t.Fatalf("snapshot after the claim: OwnerAway %v, %v; want false", snap.OwnerAway, err)
	}
	time.Sleep(goneGrace - time.Since(stopped) + goneLease) // past the stopped node's lease
	for i, sub := range subs {
		select {
		case seq := <-sub.closed:
			t.Fatalf("subscriber %d: Closed(%d) although the room was claimed", i, seq)
		default:
		}
	}
	expectNoOwnerGone(t, subs)
}

// TestOwnerGoneThenCloses: the node hosting a room's owner stops without
// the owner leaving, and no one claims the room: after OwnerGone, it closes
// when the stopped node's lease runs out, as it did before.
func TestOwnerGoneThenCloses(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: skipped under -short; ./scripts/test.sh runs it")
	}
	_, _, subs, stopped := ownerGoneSetup(t)
	waitOwnerGone(t, subs, stopped)
	for i, sub := range subs {
		select {
		case seq := <-sub.closed:
			// The lease, renewed at most a round before the stop, ran out;
			// the away news the engine published is numbered 2.
			if waited := time.Since(stopped); seq != 3 || waited < goneGrace-goneLease/3-100*time.Millisecond {
				t.Fatalf("subscriber %d: Closed(%d) %v after the stop; want Closed(3) once the %v lease ran out", i, seq, waited, goneGrace)
			}
		case <-time.After(goneGrace + 5*goneLease):
			t.Fatalf("subscriber %d: room still open %v after its owner's node stopped", i, goneGrace+5*goneLease)
		}
	}
}

// TestViewerCountOfStoppedNode checks that a node's viewers stop counting
// once the node stops renewing its count.
func TestViewerCountOfStoppedNode(t *testing.T) {
	redisURL := redistest.URL(t)
	opts := redis.Options{KeyPrefix: redistest.Prefix(t, redisURL), LeaseTTL: time.Second, Logger: quiet()}
	a, b := engine(t, redisURL, opts), engine(t, redisURL, opts)
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
	engine := redistest.Engine(t, srv.URL(), redis.Options{LeaseTTL: 3 * time.Second, Logger: quiet()})
	room, sub := subscribedRoom(t, engine, engine, broker.Owner{})
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
	engine := redistest.Engine(t, srv.URL(), redis.Options{LeaseTTL: 600 * time.Millisecond, Logger: quiet()})
	room, sub := subscribedRoom(t, engine, engine, broker.Owner{})
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
	owner, other := redistest.Engine(t, srv.URL(), opts), redistest.Engine(t, srv.URL(), opts)
	room, sub := subscribedRoom(t, owner, other, broker.Owner{Grace: time.Second})
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
	redisURL := redistest.URL(t)
	opts := redis.Options{KeyPrefix: redistest.Prefix(t, redisURL), LeaseTTL: 30 * time.Second, Logger: quiet()}
	owner, other := engine(t, redisURL, opts), engine(t, redisURL, opts)
	room, sub := subscribedRoom(t, owner, other, broker.Owner{Grace: grace})
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

// TestClosedNodeIsStoppedAtOnce: a node whose engine closes with an owner
// still in a room says so: the next upkeep round of another node announces
// the owner away, without waiting a lease for the closed node's heartbeat
// to age.
func TestClosedNodeIsStoppedAtOnce(t *testing.T) {
	redisURL := redistest.URL(t)
	opts := redis.Options{KeyPrefix: redistest.Prefix(t, redisURL), LeaseTTL: time.Minute, Logger: quiet()}
	owner, other := engine(t, redisURL, opts), engine(t, redisURL, opts)
	_, sub := subscribedRoom(t, owner, other, broker.Owner{KeyHash: "hash", Grace: time.Minute})
	other.Upkeep()
	expectNoOwnerGone(t, []*events{sub})
	_ = owner.Close()
	other.Upkeep()
	select {
	case gone := <-sub.ownerGone:
		if gone.epoch != 1 {
			t.Fatalf("OwnerGone%+v, want epoch 1", gone)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no OwnerGone in the round after the owner's node closed")
	}
}

// subscribedRoom creates a room with o on owner and subscribes to it on
// other (which may be owner).
func subscribedRoom(t *testing.T, owner, other *redis.Broker, o broker.Owner) (room string, sub *events) {
	t.Helper()
	room = uuid.NewString()
	if err := owner.CreateRoom(ctx(t), room, o); err != nil {
		t.Fatal(err)
	}
	sub = newEvents()
	if err := other.Subscribe(ctx(t), room, sub); err != nil {
		t.Fatal(err)
	}
	return room, sub
}

// TestClaimToldToEveryNode: a claim on one node reaches the subscribers of
// every node, the node that created the room included, once each.
func TestClaimToldToEveryNode(t *testing.T) {
	redisURL := redistest.URL(t)
	opts := redis.Options{KeyPrefix: redistest.Prefix(t, redisURL), LeaseTTL: time.Second, Logger: quiet()}
	creator, claimer := engine(t, redisURL, opts), engine(t, redisURL, opts)
	room := uuid.NewString()
	if err := creator.CreateRoom(ctx(t), room, broker.Owner{KeyHash: "hash", Grace: time.Minute}); err != nil {
		t.Fatal(err)
	}
	subs := []*events{newEvents(), newEvents()}
	for i, node := range []*redis.Broker{creator, claimer} {
		if err := node.Subscribe(ctx(t), room, subs[i]); err != nil {
			t.Fatal(err)
		}
	}
	epoch, err := claimer.ClaimOwner(ctx(t), room, "hash")
	if err != nil || epoch != 2 {
		t.Fatalf("claim: epoch %d, %v; want 2", epoch, err)
	}
	for i, sub := range subs {
		select {
		case got := <-sub.claimed:
			if got != epoch {
				t.Fatalf("node %d: OwnerClaimed(%d), want OwnerClaimed(%d)", i, got, epoch)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("node %d: no OwnerClaimed within 10 s of the claim", i)
		}
	}
	if err := creator.CloseRoom(ctx(t), room); err != nil {
		t.Fatal(err)
	}
	for i, sub := range subs {
		select { // after any repeat of the claim: the channel keeps its order
		case <-sub.closed:
		case <-time.After(10 * time.Second):
			t.Fatalf("node %d: no Closed within 10 s of the close", i)
		}
		select {
		case got := <-sub.claimed:
			t.Fatalf("node %d: OwnerClaimed(%d) again", i, got)
		default:
		}
	}
}
