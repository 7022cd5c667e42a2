package rtbroadcaster_test

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	rtb "github.com/rtbroadcaster/rtbroadcaster"
	"github.com/rtbroadcaster/rtbroadcaster/broker/redis"
	"github.com/rtbroadcaster/rtbroadcaster/broker/redis/redistest"
	"golang.org/x/sync/errgroup"
)

// redisNode is one server node: a Manager with its own Redis engine, and so
// its own pub/sub connection, as a separate process would have.
type redisNode struct {
	*testServer
	engine *redis.Broker
}

// startRedisNodes starts n nodes on the Redis at redisURL, sharing the test's
// own key prefix.
func startRedisNodes(t *testing.T, redisURL string, n int, leaseTTL time.Duration, serverOpts ...rtb.Option) []redisNode {
	t.Helper()
	opts := redis.Options{KeyPrefix: redistest.Prefix(t, redisURL), LeaseTTL: leaseTTL, Logger: quietLogger()}
	nodes := make([]redisNode, n)
	for i := range nodes {
		engine := redistest.Engine(t, redisURL, opts)
		nodes[i] = redisNode{testServer: startServer(t, append([]rtb.Option{rtb.WithBroker(engine)}, serverOpts...)...), engine: engine}
	}
	return nodes
}

// forEachRedis runs test on the shared Redis and on a Redis Cluster of the
// test's own (three masters, three replicas), whose rooms use sharded
// pub/sub.
func forEachRedis(t *testing.T, test func(t *testing.T, redisURL string)) {
	t.Run("redis", func(t *testing.T) { test(t, redistest.URL(t)) })
	t.Run("cluster", func(t *testing.T) { test(t, redistest.StartCluster(t).URL()) })
}

// kill stops the node at once, as a crash would: its engine goes first, so
// that nothing it was doing reaches Redis, then its connections are cut.
func (n redisNode) kill(t *testing.T) {
	t.Helper()
	_ = n.engine.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_ = n.Shutdown(ctx)
}

// joinEach joins one viewer of room on every node and checks its join reply.
func joinEach(t *testing.T, nodes []redisNode, room string, wantSeq uint64, wantState int) []*wsClient {
	t.Helper()
	viewers := make([]*wsClient, len(nodes))
	for i, n := range nodes {
		viewers[i] = dial(t, n.wsURL, nil)
		if reply := viewers[i].joinRoom(room); reply.Seq != wantSeq || reply.StateCount != wantState {
			t.Fatalf("join on node %d: seq %d, stateCount %d; want %d, %d", i, reply.Seq, reply.StateCount, wantSeq, wantState)
		}
	}
	return viewers
}

// expectEnd checks that the viewer receives the room's status 0 notice
// numbered seq, then close 1000.
func expectEnd(t *testing.T, v *wsClient, room string, seq uint64) {
	t.Helper()
	m := v.nextAction()
	if m.Status.Value != 0 || m.UUID != room || (seq != 0 && m.Seq != seq) {
		t.Fatalf("got %+v, want the status 0 notice of room %s numbered %d", m, room, seq)
	}
	v.expectClose(1000)
}

// TestRedisThreeNodes: owner on node 0, viewers on all three; state replay,
// broadcasts in order, presence across nodes, the owner-only rule, and the
// close from the owner's node reaching everyone.
func TestRedisThreeNodes(t *testing.T) {
	forEachRedis(t, func(t *testing.T, redisURL string) {
		nodes := startRedisNodes(t, redisURL, 3, 0)
		owner := dial(t, nodes[0].wsURL, nil)
		room := owner.createRoom()
		owner.send(stateRequest(room, "slide", "", "1"))
		owner.send(stateRequest(room, "draw", "s1", "a"))
		owner.send(stateRequest(room, "slide", "", "2")) // replaces the first, moves to the end
		owner.send(request(3, room, "laser", "x"))       // not kept

		var viewers []*wsClient
		for range 2 {
			for i, v := range joinEachEventually(t, nodes, room, 4) {
				for _, want := range []struct {
					key string
					seq uint64
				}{{"draw", 2}, {"slide", 3}} {
					if m := v.next(); m.FuncKey != want.key || m.Seq != want.seq {
						t.Fatalf("replay on node %d: %+v, want %s numbered %d", i, m, want.key, want.seq)
					}
				}
				viewers = append(viewers, v)
			}
		}
		waitViewers(t, owner, 6)

		const n = 200
		for i := range n {
			owner.send(request(3, room, "n", strconv.Itoa(i)))
		}
		for _, v := range viewers {
			if err := expectSequence(v, "n", n); err != nil {
				t.Fatal(err)
			}
		}
		viewers[1].send(request(3, room, "n"))
		viewers[1].nextError(rtb.CodeNotOwner)

		owner.send(request(4, room, ""))
		for _, v := range viewers {
			expectEnd(t, v, room, 4+n+1)
		}
		for i, node := range nodes {
			late := dial(t, node.wsURL, nil)
			late.send(request(2, room, ""))
			late.nextError(rtb.CodeRoomNotFound)
			if s := node.Stats(); s.Rooms != 0 {
				t.Errorf("node %d still has %d rooms", i, s.Rooms)
			}
		}
	})
}

// joinEachEventually joins a viewer on every node once the owner's earlier
// broadcasts, sent without acknowledgement, have all been numbered.
func joinEachEventually(t *testing.T, nodes []redisNode, room string, seq uint64) []*wsClient {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		probe := dial(t, nodes[0].wsURL, nil)
		reply := probe.joinRoom(room)
		_ = probe.conn.NetConn().Close()
		if reply.Seq == seq {
			return joinEach(t, nodes, room, seq, 2)
		}
		if time.Now().After(deadline) {
			t.Fatalf("room at seq %d after %v, want %d", reply.Seq, waitFor, seq)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestRedisJoinDuringFlood joins viewers on the other nodes while the owner
// floods state messages: each gets an exact replay and then every message
// numbered after it, once and in order.
func TestRedisJoinDuringFlood(t *testing.T) {
	forEachRedis(t, func(t *testing.T, redisURL string) {
		if testing.Short() {
			t.Skip("slow: skipped under -short; ./scripts/test.sh runs it")
		}
		const total, keys, joins = 5000, 10, 9
		nodes := startRedisNodes(t, redisURL, 3, 0)
		owner := dial(t, nodes[0].wsURL, nil)
		room := owner.createRoom()

		flooded := make(chan struct{})
		go func() {
			defer close(flooded)
			for i := range total {
				owner.send(stateRequest(room, "n", "k"+strconv.Itoa(i%keys), strconv.Itoa(i)))
			}
			owner.send(request(3, room, "end"))
		}()
		var g errgroup.Group
		for v := range joins {
			time.Sleep(20 * time.Millisecond)
			c := dial(t, nodes[v%3].wsURL, nil)
			c.send(request(2, room, ""))
			g.Go(func() error { return checkFloodView(c, keys) })
		}
		if err := g.Wait(); err != nil {
			t.Fatal(err)
		}
		<-flooded
	})
}

// TestRedisOwnerLeaves: the owner's connection ends; viewers on every node
// get the last broadcast, then the close.
func TestRedisOwnerLeaves(t *testing.T) {
	forEachRedis(t, func(t *testing.T, redisURL string) {
		nodes := startRedisNodes(t, redisURL, 3, 0, rtb.WithOwnerGrace(0))
		owner := dial(t, nodes[1].wsURL, nil)
		room := owner.createRoom()
		viewers := joinEach(t, nodes, room, 0, 0)
		owner.send(request(3, room, "last"))
		_ = owner.conn.NetConn().Close()
		for _, v := range viewers {
			if m := v.next(); m.FuncKey != "last" || m.Seq != 1 {
				t.Fatalf("got %+v, want the last broadcast first", m)
			}
			expectEnd(t, v, room, 2)
		}
	})
}

// TestRedisOwnersNodeKilled: the node hosting the owner dies; without a
// grace, the room closes on the other nodes once its lease expires.
func TestRedisOwnersNodeKilled(t *testing.T) {
	forEachRedis(t, func(t *testing.T, redisURL string) {
		const lease = time.Second
		nodes := startRedisNodes(t, redisURL, 3, lease, rtb.WithOwnerGrace(0))
		owner := dial(t, nodes[0].wsURL, nil)
		room := owner.createRoom()
		viewers := joinEach(t, nodes[1:], room, 0, 0)
		owner.send(request(3, room, "before"))
		for _, v := range viewers {
			if m := v.next(); m.FuncKey != "before" {
				t.Fatalf("got %+v", m)
			}
		}
		killed := time.Now()
		nodes[0].kill(t)
		for _, v := range viewers {
			expectEnd(t, v, room, 2)
		}
		if took := time.Since(killed); took > 3*lease {
			t.Fatalf("room closed %v after its owner's node died; the lease is %v", took, lease)
		} else {
			t.Logf("room closed everywhere %v after its owner's node died (lease %v)", took.Round(time.Millisecond), lease)
		}
		late := dial(t, nodes[2].wsURL, nil)
		late.send(request(2, room, ""))
		late.nextError(rtb.CodeRoomNotFound)
	})
}

// TestRedisViewersNodeKilled: a node with only viewers dies; the room goes
// on for the others, and its viewers stop counting once their lease ends.
func TestRedisViewersNodeKilled(t *testing.T) {
	forEachRedis(t, func(t *testing.T, redisURL string) {
		nodes := startRedisNodes(t, redisURL, 3, time.Second)
		owner := dial(t, nodes[0].wsURL, nil)
		room := owner.createRoom()
		viewers := joinEach(t, nodes, room, 0, 0)
		waitViewers(t, owner, 3)
		nodes[2].kill(t)
		waitViewers(t, owner, 2)
		for i := range 50 {
			owner.send(request(3, room, "n", strconv.Itoa(i)))
		}
		for _, v := range viewers[:2] {
			if err := expectSequence(v, "n", 50); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// TestRedisRestartedMidBroadcast kills Redis while the owner broadcasts and
// starts it again: meanwhile the owner's broadcasts are refused with
// unavailable; each viewer either keeps a gap-free stream or is asked to
// rejoin with 1012; after the restart a rejoin gets the stream again.
func TestRedisRestartedMidBroadcast(t *testing.T) {
	srv := redistest.StartServer(t)
	nodes := startRedisNodes(t, srv.URL(), 3, 5*time.Second)
	owner := dial(t, nodes[0].wsURL, nil)
	room := owner.createRoom()
	viewers := joinEach(t, nodes, room, 0, 0)

	b := startBroadcasting(owner, room)
	time.Sleep(200 * time.Millisecond)
	restartWhileBroadcasting(t, srv, b)
	time.Sleep(500 * time.Millisecond)
	sent := b.stop()
	t.Logf("owner sent %d broadcasts, %d refused as unavailable", sent, b.refused.Load())

	for i, v := range viewers {
		if _, rejoined := checkGapFreeOrRejoin(t, v); rejoined {
			t.Logf("viewer on node %d was asked to rejoin (1012)", i)
		}
	}
	// Delivery resumes: a fresh viewer on every node gets new broadcasts.
	fresh := make([]*wsClient, len(nodes))
	for i, n := range nodes {
		fresh[i] = dial(t, n.wsURL, nil)
		fresh[i].joinRoom(room)
	}
	owner.send(request(3, room, "after"))
	for i, v := range fresh {
		expectUntil(t, v, "after", fmt.Sprintf("fresh viewer on node %d", i))
	}
}

// TestRedisRestartedWithoutPersistence is TestRedisRestartedMidBroadcast
// on a Redis that comes back empty, as one run without persistence does:
// the owner's node restores the room, so that the broadcast goes on. The
// owner keeps its connection and its broadcasts reach every viewer; each
// viewer keeps a gap-free stream or is asked to rejoin with 1012, and
// rejoining with its last seq it recovers (true or false) and then gets
// live messages numbered on, once each; a viewer joining after the restart
// gets the state kept before it.
func TestRedisRestartedWithoutPersistence(t *testing.T) {
	srv := redistest.StartServer(t, redistest.NoPersistence)
	nodes := startRedisNodes(t, srv.URL(), 3, 2*time.Second)
	owner := dial(t, nodes[0].wsURL, nil)
	room := owner.createRoom()
	viewers := joinEach(t, nodes, room, 0, 0)
	watcher := dial(t, nodes[1].wsURL, nil) // says when the state below is numbered
	watcher.joinRoom(room)
	owner.send(stateRequest(room, "slide", "", "1"))
	owner.send(stateRequest(room, "draw", "s1", "a"))
	owner.send(request(3, room, "laser", "x"))
	expectSeqs(t, watcher, 1, 3)

	b := startBroadcasting(owner, room)
	time.Sleep(200 * time.Millisecond)
	restartWhileBroadcasting(t, srv, b)
	// Once a join succeeds, the room is back. (This viewer may yet be asked
	// to rejoin, by a node whose pub/sub connection was not back.)
	probe, reply := joinRetrying(t, nodes[2].wsURL, request(2, room, ""))
	checkKeptState(t, probe, reply)
	time.Sleep(200 * time.Millisecond) // broadcasts go on after the restore
	sent := b.stop()
	t.Logf("owner sent %d broadcasts, %d refused as unavailable", sent, b.refused.Load())

	checkRoomGoesOn(t, nodes, viewers, owner, room, b)
	if s := nodes[0].engine.Stats(); s.Restored != 1 {
		t.Fatalf("owner's node stats %+v, want 1 room restored", s)
	}
}

// broadcaster has an owner broadcast action "n" every 2 ms, and reads the
// owner's replies until its connection ends.
type broadcaster struct {
	refused    atomic.Int64 // unavailable replies
	unexpected atomic.Value // the first other reply, a *rtb.Message
	done       chan struct{}
	sent       chan int
}

func startBroadcasting(owner *wsClient, room string) *broadcaster {
	b := &broadcaster{done: make(chan struct{}), sent: make(chan int)}
	go func() {
		for {
			m, err := owner.recv()
			if err != nil {
				return
			}
			switch {
			case m.Error != nil && m.Error.Code == rtb.CodeUnavailable:
				b.refused.Add(1)
			case m.Error != nil || m.Viewers == nil:
				b.unexpected.CompareAndSwap(nil, m)
			}
		}
	}()
	go func() {
		i := 0
		defer func() { b.sent <- i }()
		for ; ; i++ {
			select {
			case <-b.done:
				return
			case <-time.After(2 * time.Millisecond):
			}
			owner.send(request(3, room, "n", strconv.Itoa(i)))
		}
	}()
	return b
}

// stop stops the broadcasts and returns how many were sent.
func (b *broadcaster) stop() int {
	close(b.done)
	return <-b.sent
}

// ownerError reports a reply to the owner other than unavailable or presence.
func (b *broadcaster) ownerError() error {
	if m, ok := b.unexpected.Load().(*rtb.Message); ok {
		return fmt.Errorf("the owner got %+v (error %+v)", m, m.Error)
	}
	return nil
}

// restartWhileBroadcasting kills Redis, waits for the owner's broadcasts to
// be refused, and starts Redis again.
func restartWhileBroadcasting(t *testing.T, srv *redistest.Server, b *broadcaster) {
	t.Helper()
	srv.Kill()
	deadline := time.Now().Add(waitFor)
	for b.refused.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if b.refused.Load() == 0 {
		t.Fatal("the owner's broadcasts were not refused while Redis was down")
	}
	srv.Start()
}

// joinRetrying connects to url and sends join, again while the reply is
// unavailable (as the SDKs do), and returns the connection and the reply.
func joinRetrying(t *testing.T, url string, join any) (*wsClient, *rtb.Message) {
	t.Helper()
	v := dial(t, url, nil)
	deadline := time.Now().Add(waitFor)
	for {
		v.send(join)
		reply := v.nextAction()
		if reply.Error == nil || reply.Error.Code != rtb.CodeUnavailable {
			if reply.Error != nil || reply.Status.Value != rtb.StatusConnected {
				t.Fatalf("join reply %+v (error %+v)", reply, reply.Error)
			}
			return v, reply
		}
		if time.Now().After(deadline) {
			t.Fatalf("join still unavailable after %v: %s", waitFor, reply.Error.Message)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// checkKeptState reads the state replay after a join reply: the state the
// test's owner kept before Redis restarted.
func checkKeptState(t *testing.T, v *wsClient, reply *rtb.Message) {
	t.Helper()
	if reply.StateCount != 2 {
		t.Fatalf("join reply %+v, want 2 state messages", reply)
	}
	for _, want := range []struct {
		key, param string
		seq        uint64
	}{{"slide", "1", 1}, {"draw", "a", 2}} {
		if m := v.nextAction(); m.FuncKey != want.key || m.Seq != want.seq || m.FuncParams[0] != want.param {
			t.Fatalf("replay: %+v, want %s(%s) numbered %d", m, want.key, want.param, want.seq)
		}
	}
}

// checkRejoinReply checks the reply to a rejoin after seq last and reads
// the state replay that follows one that did not recover. It returns the
// seq the reply covers.
func checkRejoinReply(t *testing.T, v *wsClient, reply *rtb.Message, last uint64) uint64 {
	t.Helper()
	if reply.Recovered == nil {
		t.Fatalf("rejoin reply %+v has no recovered field", reply)
	}
	if *reply.Recovered {
		if reply.Seq != last || reply.StateCount != 0 {
			t.Fatalf("recovered rejoin reply %+v, want seq %d and no state", reply, last)
		}
		return last
	}
	if reply.Seq < last {
		t.Fatalf("rejoin reply %+v covers seq %d, before the %d the viewer saw", reply, reply.Seq, last)
	}
	checkKeptState(t, v, reply)
	return reply.Seq
}

// expectLiveUntil reads a viewer's live messages, which must be numbered
// from next on consecutively, until one with funcKey.
func expectLiveUntil(t *testing.T, v *wsClient, next uint64, funcKey, who string) {
	t.Helper()
	for {
		m := v.nextAction()
		if m.Seq != next {
			t.Fatalf("%s: %+v, want the message numbered %d", who, m, next)
		}
		if m.FuncKey == funcKey {
			return
		}
		next++
	}
}

// expectUntil reads a viewer's broadcasts, numbered consecutively, until
// one with funcKey.
func expectUntil(t *testing.T, v *wsClient, funcKey, who string) {
	t.Helper()
	var last uint64
	for {
		m := v.nextAction()
		if last != 0 && m.Seq != last+1 {
			t.Fatalf("%s: seq %d after %d", who, m.Seq, last)
		}
		if m.FuncKey == funcKey {
			return
		}
		last = m.Seq
	}
}

// checkGapFreeOrRejoin reads a viewer's stream: its seqs must be
// consecutive until it ends, and if it ends it must be with 1012. It
// returns the last seq received and whether the viewer was asked to rejoin.
func checkGapFreeOrRejoin(t *testing.T, v *wsClient) (last uint64, rejoined bool) {
	t.Helper()
	for {
		select {
		case <-v.closed:
			for len(v.frames) > 0 {
				last = checkNext(t, v, last)
			}
			v.expectClose(1012)
			return last, true
		case <-time.After(time.Second):
			if len(v.frames) == 0 {
				return last, false // quiet since the owner stopped, and still connected
			}
		}
		for len(v.frames) > 0 {
			last = checkNext(t, v, last)
		}
	}
}

func checkNext(t *testing.T, v *wsClient, last uint64) uint64 {
	t.Helper()
	m := v.next()
	if m.Seq == 0 {
		return last
	}
	if last != 0 && m.Seq != last+1 {
		t.Fatalf("viewer kept its connection across a gap: seq %d after %d", m.Seq, last)
	}
	return m.Seq
}

// checkRoomGoesOn checks, after an outage of Redis during b's broadcasts to
// room, that every viewer is gap-free or was asked to rejoin and recovers
// exactly, that fresh viewers on every node get the kept state, that a last
// broadcast reaches them all, and that the owner was never cut off.
func checkRoomGoesOn(t *testing.T, nodes []redisNode, viewers []*wsClient, owner *wsClient, room string, b *broadcaster) {
	t.Helper()
	type follower struct {
		who  string
		v    *wsClient
		next uint64 // the seq its next live message must have
	}
	var followers []follower
	for i, v := range viewers {
		who := fmt.Sprintf("viewer on node %d", i)
		last, rejoined := checkGapFreeOrRejoin(t, v)
		if !rejoined {
			t.Logf("%s kept its connection, gap-free, up to seq %d", who, last)
			followers = append(followers, follower{who, v, last + 1})
			continue
		}
		back, reply := joinRetrying(t, nodes[i].wsURL, rejoinRequest(room, last))
		seq := checkRejoinReply(t, back, reply, last)
		t.Logf("%s was asked to rejoin (1012) after seq %d; rejoined with recovered %v at seq %d", who, last, *reply.Recovered, seq)
		followers = append(followers, follower{who + ", rejoined", back, seq + 1})
	}
	for i, n := range nodes {
		fresh, reply := joinRetrying(t, n.wsURL, request(2, room, ""))
		checkKeptState(t, fresh, reply)
		followers = append(followers, follower{fmt.Sprintf("fresh viewer on node %d", i), fresh, reply.Seq + 1})
	}

	owner.send(request(3, room, "after"))
	for _, f := range followers {
		expectLiveUntil(t, f.v, f.next, "after", f.who)
	}
	if err := b.ownerError(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-owner.closed:
		t.Fatalf("the owner's connection ended: %v", owner.err)
	default:
	}
}
