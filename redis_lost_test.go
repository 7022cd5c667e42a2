package rtbroadcaster_test

import (
	"testing"
	"time"

	rtb "github.com/rtbroadcaster/rtbroadcaster"
	"github.com/rtbroadcaster/rtbroadcaster/broker/redis/redistest"
)

// TestRedisLostWritesTellTheOwner: Redis comes back with the room as it was
// a state message ago (as a promoted replica that had not received it
// would). Viewers are asked to rejoin and get the state Redis kept; the
// owner's next broadcast is refused with the error code lost, and the
// state it sends again after that reaches every viewer, numbered past
// every seq given before.
func TestRedisLostWritesTellTheOwner(t *testing.T) {
	srv := redistest.StartServer(t, redistest.AppendOnly)
	nodes := startRedisNodes(t, srv.URL(), 2, 0)
	owner := dial(t, nodes[0].wsURL, nil)
	room := owner.createRoom()
	viewers := joinEach(t, nodes, room, 0, 0)
	owner.send(stateRequest(room, "slide", "", "1"))
	expectSeqs(t, viewers[1], 1, 1)
	rollback := srv.Checkpoint()
	owner.send(stateRequest(room, "slide", "", "2")) // seq 2: about to be lost
	expectSeqs(t, viewers[1], 2, 2)

	rollback()
	for i, v := range viewers {
		if last, rejoined := checkGapFreeOrRejoin(t, v); !rejoined {
			t.Fatalf("viewer on node %d kept its connection (up to seq %d) while Redis went back", i, last)
		}
	}
	// Until the nodes are back on Redis, broadcasts are unavailable; then
	// the first one is refused as lost.
	deadline := time.Now().Add(waitFor)
	for {
		owner.send(request(3, room, "laser", "x"))
		m := owner.nextAction()
		if m.Error != nil && m.Error.Code == rtb.CodeLost {
			break
		}
		if m.Error == nil || m.Error.Code != rtb.CodeUnavailable || time.Now().After(deadline) {
			t.Fatalf("owner's broadcast after Redis went back: %+v (error %+v), want lost", m, m.Error)
		}
		time.Sleep(50 * time.Millisecond)
	}

	owner.send(stateRequest(room, "slide", "", "2")) // the owner resends its state
	for i, n := range nodes {
		reply, replay := joinAfterLoss(t, n.wsURL, room)
		if reply.Seq <= 2 || reply.StateCount != 1 {
			t.Fatalf("join on node %d after the resend: seq %d, %d state messages; want past seq 2, one", i, reply.Seq, reply.StateCount)
		}
		if replay.FuncKey != "slide" || len(replay.FuncParams) != 1 || replay.FuncParams[0] != "2" {
			t.Fatalf("replay on node %d: %+v, want slide 2", i, replay)
		}
	}
}

// joinAfterLoss joins room on url and reads the join reply and the first
// replayed message, again when the join is unavailable or the node asks
// the viewer to rejoin: the news that messages were lost may reach the
// node just after the join, or while it is being made.
func joinAfterLoss(t *testing.T, url, room string) (reply, replay *rtb.Message) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		v := dial(t, url, nil)
		v.send(request(2, room, ""))
		reply, err := v.recvAction()
		if err == nil && reply.Error == nil {
			if replay, err = v.recvAction(); err == nil {
				return reply, replay
			}
		}
		if err == nil && reply.Error != nil && reply.Error.Code != rtb.CodeUnavailable {
			t.Fatalf("join reply %+v (error %+v)", reply, reply.Error)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no join and replay within %v: %v", waitFor, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
