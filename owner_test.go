package rtbroadcaster_test

import (
	"strconv"
	"testing"
	"time"

	rtb "github.com/rtbroadcaster/rtbroadcaster"
	"github.com/rtbroadcaster/rtbroadcaster/broker/memory"
	"github.com/rtbroadcaster/rtbroadcaster/broker/redis/redistest"
)

// createOwned makes c an owner and returns the room's uuid and owner key.
func (c *wsClient) createOwned() (room, key string) {
	c.t.Helper()
	c.send(request(rtb.StatusNew, "", ""))
	m := c.next()
	if m.Error != nil || m.UUID == "" || len(m.OwnerKey) < 40 {
		c.t.Fatalf("create: got %+v, want a room and an owner key", m)
	}
	return m.UUID, m.OwnerKey
}

// resume sends c's request to take room back with key and returns the reply.
func (c *wsClient) resume(room, key string) *rtb.Message {
	c.t.Helper()
	m := request(rtb.StatusJoin, room, "")
	m.OwnerKey = key
	c.send(m)
	return c.nextAction()
}

// expectOwner checks that v's next message says the owner is status,
// numbered seq.
func expectOwner(t *testing.T, v *wsClient, status string, seq uint64) {
	t.Helper()
	m := v.nextAction()
	if m.Owner != status || m.FuncKey != "" || m.Seq != seq {
		t.Fatalf("got %+v, want owner %q numbered %d with an empty funcKey", m, status, seq)
	}
	if status == "away" && m.GraceMs <= 0 {
		t.Fatalf("owner away without graceMs: %+v", m)
	}
}

// expectNumbered checks that v receives action "n" with params from..to-1,
// numbered from firstSeq on.
func expectNumbered(t *testing.T, v *wsClient, from, to int, firstSeq uint64) {
	t.Helper()
	for i := from; i < to; i++ {
		m := v.nextAction()
		if m.FuncKey != "n" || m.FuncParams[0] != strconv.Itoa(i) || m.Seq != firstSeq+uint64(i-from) {
			t.Fatalf("got %+v, want n[%d] numbered %d", m, i, firstSeq+uint64(i-from))
		}
	}
}

// TestOwnerResumesWithinGrace: the owner's connection drops and it takes
// its room back on another node within the grace. Viewers on both nodes
// see everything in order, told the owner was away and is back, and stay
// connected; the resumed owner hears the viewer count.
func TestOwnerResumesWithinGrace(t *testing.T) {
	engine := memory.New()
	nodeA := startServer(t, rtb.WithBroker(engine), rtb.WithOwnerGrace(5*time.Second))
	nodeB := startServer(t, rtb.WithBroker(engine), rtb.WithOwnerGrace(5*time.Second))
	owner := dial(t, nodeA.wsURL, nil)
	room, key := owner.createOwned()
	viewers := []*wsClient{dial(t, nodeA.wsURL, nil), dial(t, nodeB.wsURL, nil)}
	for _, v := range viewers {
		v.joinRoom(room)
	}
	sendRange(t, owner, room, 0, 10)
	for _, v := range viewers {
		expectNumbered(t, v, 0, 10, 1)
	}
	_ = owner.conn.NetConn().Close()
	for _, v := range viewers {
		expectOwner(t, v, "away", 11)
	}

	late := dial(t, nodeB.wsURL, nil)
	if reply := late.joinRoom(room); reply.Owner != "away" || reply.Seq != 11 {
		t.Fatalf("join while the owner is away: %+v, want owner away and seq 11", reply)
	}
	viewers = append(viewers, late)

	back := dial(t, nodeB.wsURL, nil)
	if reply := back.resume(room, key); reply.Error != nil || reply.UUID != room || reply.Owner != "back" {
		t.Fatalf("resume: got %+v (error %+v)", reply, reply.Error)
	}
	waitViewers(t, back, 3)
	sendRange(t, back, room, 10, 20)
	for _, v := range viewers {
		expectOwner(t, v, "back", 12)
		expectNumbered(t, v, 10, 20, 13)
		v.expectNothing(50 * time.Millisecond)
	}
}

// TestOwnerResumeRefused: a wrong key, or a room past its grace, is not
// taken back; the room closes after the grace as on status 4.
func TestOwnerResumeRefused(t *testing.T) {
	const grace = 300 * time.Millisecond
	srv := startServer(t, rtb.WithOwnerGrace(grace))
	owner := dial(t, srv.wsURL, nil)
	room, key := owner.createOwned()
	viewer := dial(t, srv.wsURL, nil)
	viewer.joinRoom(room)

	thief := dial(t, srv.wsURL, nil)
	thief.send(&rtb.Message{UUID: room, Status: rtb.Status{Value: rtb.StatusJoin}, OwnerKey: key + "x"})
	if m := thief.nextError(rtb.CodeNotOwner); m.Status.Value != rtb.StatusNotConnected {
		t.Fatalf("refused resume: %+v, want status 0", m)
	}

	left := time.Now()
	_ = owner.conn.NetConn().Close()
	expectOwner(t, viewer, "away", 1)
	expectEnd(t, viewer, room, 2)
	if waited := time.Since(left); waited < grace {
		t.Fatalf("room closed %v after its owner left, before its grace of %v", waited, grace)
	}
	late := dial(t, srv.wsURL, nil)
	late.send(&rtb.Message{UUID: room, Status: rtb.Status{Value: rtb.StatusJoin}, OwnerKey: key})
	late.nextError(rtb.CodeRoomNotFound)
}

// TestOwnerResumeFencesOldConnection: the owner takes its room back while
// its old connection, which the server has not seen die, is still open.
// The old connection can no longer broadcast (it is told not_owner with
// status 0, unasked: see TestOwnerResumeTellsOldConnection), and its end
// starts no grace.
func TestOwnerResumeFencesOldConnection(t *testing.T) {
	srv := startServer(t, rtb.WithOwnerGrace(200*time.Millisecond))
	old := dial(t, srv.wsURL, nil)
	room, key := old.createOwned()
	viewer := dial(t, srv.wsURL, nil)
	viewer.joinRoom(room)

	current := dial(t, srv.wsURL, nil)
	if reply := current.resume(room, key); reply.Owner != "back" {
		t.Fatalf("resume: %+v", reply)
	}
	expectOwner(t, viewer, "back", 1)
	old.send(request(rtb.StatusConnected, room, "stale"))
	if m := old.nextError(rtb.CodeNotOwner); m.Status.Value != rtb.StatusNotConnected {
		t.Fatalf("old owner's broadcast: %+v, want not_owner with status 0", m)
	}
	_ = old.conn.NetConn().Close()
	<-old.closed
	time.Sleep(400 * time.Millisecond) // past the grace, had one started
	current.send(request(rtb.StatusConnected, room, "n", "0"))
	expectNumbered(t, viewer, 0, 1, 2)
}

// TestRedisOwnerResumesAfterNodeKilled: three nodes on Redis; the owner's
// node dies mid-broadcast, with no node to see the owner leave. Viewers on
// the other nodes are told, within about the owner lease, that the owner is
// away (once, numbered next, with what is left of the room's wait), and a
// viewer joining then is told so too. The owner takes the room back on
// another node within the grace: the viewers stay connected and see "back"
// and every message after it, in order, once.
func TestRedisOwnerResumesAfterNodeKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: skipped under -short; ./scripts/test.sh runs it")
	}
	const lease, grace = time.Second, 5 * time.Second
	nodes := startRedisNodes(t, redistest.URL(t), 3, lease, rtb.WithOwnerGrace(grace))
	owner := dial(t, nodes[0].wsURL, nil)
	room, key := owner.createOwned()
	viewers := joinEach(t, nodes[1:], room, 0, 0)
	sendRange(t, owner, room, 0, 10)
	for _, v := range viewers {
		expectNumbered(t, v, 0, 10, 1)
	}
	killed := time.Now()
	nodes[0].kill(t)
	for i, v := range viewers {
		m := expectOwnerAway(t, v, 11, grace)
		t.Logf("viewer on node %d told the owner is away %v after its node died, graceMs %d", i+1, time.Since(killed).Round(time.Millisecond), m.GraceMs)
	}
	late := dial(t, nodes[2].wsURL, nil)
	if reply := late.joinRoom(room); reply.Owner != "away" || reply.Seq != 11 {
		t.Fatalf("join while the owner is away: %+v, want owner away and seq 11", reply)
	}
	viewers = append(viewers, late)

	back := dial(t, nodes[1].wsURL, nil)
	if reply := back.resume(room, key); reply.Error != nil || reply.Owner != "back" {
		t.Fatalf("resume on another node: %+v (error %+v)", reply, reply.Error)
	}
	sendRange(t, back, room, 10, 20)
	for _, v := range viewers {
		expectOwner(t, v, "back", 12)
		expectNumbered(t, v, 10, 20, 13)
	}
	time.Sleep(grace - time.Since(killed) + lease) // past the dead node's lease: the room stays open
	back.send(request(rtb.StatusConnected, room, "n", "20"))
	for _, v := range viewers {
		expectNumbered(t, v, 20, 21, 23)
		v.expectNothing(50 * time.Millisecond)
	}
}

// expectOwnerAway checks that v's next message says the owner is away,
// numbered seq, with a graceMs within (0, grace], and returns it.
func expectOwnerAway(t *testing.T, v *wsClient, seq uint64, grace time.Duration) *rtb.Message {
	t.Helper()
	m := v.nextAction()
	if m.Owner != "away" || m.FuncKey != "" || m.Seq != seq || m.GraceMs <= 0 || m.GraceMs > grace.Milliseconds() {
		t.Fatalf("got %+v, want owner away numbered %d with an empty funcKey and graceMs within (0, %d]", m, seq, grace.Milliseconds())
	}
	return m
}

// TestRedisOwnerDropsAndResumes: on Redis, the owner's connection drops and
// it resumes on another node: viewers on every node see away, back, and
// every message in order.
func TestRedisOwnerDropsAndResumes(t *testing.T) {
	nodes := startRedisNodes(t, redistest.URL(t), 3, time.Second, rtb.WithOwnerGrace(5*time.Second))
	owner := dial(t, nodes[0].wsURL, nil)
	room, key := owner.createOwned()
	viewers := joinEach(t, nodes, room, 0, 0)
	sendRange(t, owner, room, 0, 5)
	_ = owner.conn.NetConn().Close()
	for _, v := range viewers {
		expectNumbered(t, v, 0, 5, 1)
		expectOwner(t, v, "away", 6)
	}
	back := dial(t, nodes[2].wsURL, nil)
	if reply := back.resume(room, key); reply.Owner != "back" {
		t.Fatalf("resume: %+v", reply)
	}
	sendRange(t, back, room, 5, 10)
	for _, v := range viewers {
		expectOwner(t, v, "back", 7)
		expectNumbered(t, v, 5, 10, 8)
	}
}

// TestOwnerResumeReplaysState: a resumed owner receives the room's kept
// state after its reply, as a joining viewer does, so that a presenter page
// that was reloaded can restore itself; actions are not replayed.
func TestOwnerResumeReplaysState(t *testing.T) {
	engines := map[string]func(t *testing.T) (ownerURL, resumeURL string){
		"memory": func(t *testing.T) (string, string) {
			srv := startServer(t, rtb.WithOwnerGrace(5*time.Second))
			return srv.wsURL, srv.wsURL
		},
		"redis": func(t *testing.T) (string, string) {
			nodes := startRedisNodes(t, redistest.URL(t), 2, time.Second, rtb.WithOwnerGrace(5*time.Second))
			return nodes[0].wsURL, nodes[1].wsURL
		},
	}
	for name, start := range engines {
		t.Run(name, func(t *testing.T) {
			ownerURL, resumeURL := start(t)
			owner := dial(t, ownerURL, nil)
			room, key := owner.createOwned()
			viewer := dial(t, resumeURL, nil)
			viewer.joinRoom(room)
			owner.send(stateRequest(room, "slide", "", "1"))
			owner.send(stateRequest(room, "draw", "stroke-1", "a"))
			owner.send(request(rtb.StatusConnected, room, "laser", "x"))
			owner.send(stateRequest(room, "slide", "", "2")) // replaces slide 1, moves to the end
			// The room has taken all four before the owner drops.
			for range 4 {
				viewer.nextAction()
			}
			_ = owner.conn.NetConn().Close()

			back := dial(t, resumeURL, nil)
			reply := back.resume(room, key)
			if reply.Owner != "back" || reply.StateCount != 2 {
				t.Fatalf("resume: %+v, want owner back and stateCount 2", reply)
			}
			want := []struct {
				funcKey, param string
				seq            uint64
			}{{"draw", "a", 2}, {"slide", "2", 4}}
			for _, w := range want {
				m := back.nextAction()
				if m.FuncKey != w.funcKey || m.FuncParams[0] != w.param || !m.StateMessage || m.Seq != w.seq {
					t.Fatalf("replayed to the owner: %+v, want state %s(%s) numbered %d", m, w.funcKey, w.param, w.seq)
				}
			}
		})
	}
}

// TestOwnerResumeTellsOldConnection: the owner key takes the room back while
// the old owner connection is still open, on the same node or another. The
// old connection is told at once, unasked, with the reply a refused
// broadcast gets (not_owner, status 0); it is in no room any more, and its
// end tells viewers nothing. The new owner goes on broadcasting.
func TestOwnerResumeTellsOldConnection(t *testing.T) {
	const grace = 5 * time.Second
	engines := map[string]func(t *testing.T) (oldNode, newNode *testServer){
		"memory": func(t *testing.T) (*testServer, *testServer) {
			srv := startServer(t, rtb.WithOwnerGrace(grace))
			return srv, srv
		},
		"redis": func(t *testing.T) (*testServer, *testServer) {
			nodes := startRedisNodes(t, redistest.URL(t), 2, time.Second, rtb.WithOwnerGrace(grace))
			return nodes[0].testServer, nodes[1].testServer
		},
		// The engine's news of the claim may reach the node before or
		// after the new owner is set up there.
		"redis same node": func(t *testing.T) (*testServer, *testServer) {
			nodes := startRedisNodes(t, redistest.URL(t), 1, time.Second, rtb.WithOwnerGrace(grace))
			return nodes[0].testServer, nodes[0].testServer
		},
	}
	for name, start := range engines {
		t.Run(name, func(t *testing.T) {
			oldNode, newNode := start(t)
			old := dial(t, oldNode.wsURL, nil)
			room, key := old.createOwned()
			viewers := []*wsClient{dial(t, oldNode.wsURL, nil), dial(t, newNode.wsURL, nil)}
			for _, v := range viewers {
				v.joinRoom(room)
			}

			current := dial(t, newNode.wsURL, nil)
			if reply := current.resume(room, key); reply.Error != nil || reply.Owner != "back" {
				t.Fatalf("resume: %+v (error %+v)", reply, reply.Error)
			}
			m := old.nextError(rtb.CodeNotOwner)
			if m.Status.Value != rtb.StatusNotConnected || m.UUID != "" {
				t.Fatalf("old owner told: %+v, want not_owner with status 0 and no uuid", m)
			}
			old.send(request(rtb.StatusConnected, room, "stale"))
			if m := old.nextAction(); m.Error == nil || m.Status.Value != rtb.StatusNotConnected {
				t.Fatalf("old owner's broadcast after the notice: %+v, want a refusal with status 0", m)
			}
			old.expectNothing(50 * time.Millisecond)

			before := oldNode.Stats().Connections
			_ = old.conn.NetConn().Close()
			waitConnections(t, oldNode, before-1) // the old owner's end is handled
			current.send(request(rtb.StatusConnected, room, "n", "0"))
			for _, v := range viewers {
				expectOwner(t, v, "back", 1)
				expectNumbered(t, v, 0, 1, 2) // no "away" in between
				v.expectNothing(50 * time.Millisecond)
			}
		})
	}
}

// waitConnections waits until srv counts n open connections.
func waitConnections(t *testing.T, srv *testServer, n int) {
	t.Helper()
	waitUntil(t, "srv counts "+strconv.Itoa(n)+" connections", func() bool { return srv.Stats().Connections == n })
}
