package rtbroadcaster_test

import (
	"strconv"
	"testing"
	"time"

	rtb "github.com/rtbroadcaster/rtbroadcaster"
	"github.com/rtbroadcaster/rtbroadcaster/broker/memory"
	"github.com/rtbroadcaster/rtbroadcaster/broker/redis"
	"github.com/rtbroadcaster/rtbroadcaster/broker/redis/redistest"
)

// recoveryHistory is the history bound of the fallback cases: smaller than
// what the viewer misses there.
const recoveryHistory = 5

// TestRecoveryMemory: a viewer that rejoins with the last seq it saw gets
// exactly what it missed, or, past the history, a state replay.
func TestRecoveryMemory(t *testing.T) {
	for _, tc := range []struct {
		name    string
		limits  rtb.Limits
		recover bool
	}{{"exact", rtb.Limits{}, true}, {"fallback", rtb.Limits{HistoryMessages: recoveryHistory}, false}} {
		t.Run(tc.name, func(t *testing.T) {
			engine := memory.New()
			var urls []string
			for range 3 {
				urls = append(urls, startServer(t, rtb.WithBroker(engine), rtb.WithLimits(tc.limits)).wsURL)
			}
			checkRecovery(t, urls, tc.recover)
		})
	}
}

// TestRecoveryRedis is TestRecoveryMemory on three nodes sharing a Redis.
func TestRecoveryRedis(t *testing.T) {
	addr := redistest.Addr(t)
	for _, tc := range []struct {
		name    string
		limits  rtb.Limits
		recover bool
	}{{"exact", rtb.Limits{}, true}, {"fallback", rtb.Limits{HistoryMessages: recoveryHistory}, false}} {
		t.Run(tc.name, func(t *testing.T) {
			opts := redis.Options{KeyPrefix: redistest.Prefix(t, addr), Logger: quietLogger()}
			var urls []string
			for range 3 {
				engine := redistest.Engine(t, addr, opts)
				urls = append(urls, startServer(t, rtb.WithBroker(engine), rtb.WithLimits(tc.limits)).wsURL)
			}
			checkRecovery(t, urls, tc.recover)
		})
	}
}

// checkRecovery runs the owner on the first node. A viewer on the second
// sees a state message and ten actions (seq 1-11), leaves, and while it is
// away ten more are sent (seq 12-21). It rejoins on the third node with seq
// 11: recovering, it must receive 12-21 exactly; else the state replay. A
// live message follows, numbered 22, either way.
func checkRecovery(t *testing.T, urls []string, wantRecovered bool) {
	owner := dial(t, urls[0], nil)
	room := owner.createRoom()
	// The watcher stays in the room: once it has a message, that message is
	// numbered, since the owner's broadcasts are not acknowledged.
	watcher := dial(t, urls[1], nil)
	watcher.joinRoom(room)
	owner.send(stateRequest(room, "slide", "", "1"))
	sendRange(t, owner, room, 0, 10)
	expectSeqs(t, watcher, 1, 11)

	viewer := dial(t, urls[1], nil)
	viewer.joinRoom(room)
	expectSeqs(t, viewer, 1, 1) // the replayed state message
	_ = viewer.conn.NetConn().Close()
	<-viewer.closed

	sendRange(t, owner, room, 10, 20)
	expectSeqs(t, watcher, 12, 21)

	back := dial(t, urls[2], nil)
	join := request(rtb.StatusJoin, room, "")
	join.Seq = 11
	back.send(join)
	reply := back.next()
	if reply.Error != nil || reply.Recovered == nil || *reply.Recovered != wantRecovered {
		t.Fatalf("join reply %+v (recovered %v), want recovered %v", reply, reply.Recovered, wantRecovered)
	}
	if wantRecovered {
		if reply.Seq != 11 || reply.StateCount != 0 {
			t.Fatalf("recovered join reply has seq %d, stateCount %d; want 11, 0", reply.Seq, reply.StateCount)
		}
		expectSeqs(t, back, 12, 21)
	} else {
		if reply.Seq != 21 || reply.StateCount != 1 {
			t.Fatalf("fallback join reply has seq %d, stateCount %d; want 21, 1", reply.Seq, reply.StateCount)
		}
		expectSeqs(t, back, 1, 1)
	}
	owner.send(request(rtb.StatusConnected, room, "live"))
	if m := back.nextAction(); m.FuncKey != "live" || m.Seq != 22 {
		t.Fatalf("after the rejoin: %+v, want live numbered 22", m)
	}
	back.expectNothing(50 * time.Millisecond)
}

// sendRange broadcasts action "n" with params from..to-1.
func sendRange(t *testing.T, owner *wsClient, room string, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		owner.send(request(rtb.StatusConnected, room, "n", strconv.Itoa(i)))
	}
}

// expectSeqs checks that v's next messages are numbered from..to, in order.
func expectSeqs(t *testing.T, v *wsClient, from, to uint64) {
	t.Helper()
	for want := from; want <= to; want++ {
		if m := v.nextAction(); m.Seq != want {
			t.Fatalf("got %+v, want the message numbered %d", m, want)
		}
	}
}
