package rtbroadcaster_test

import (
	"fmt"
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
	runRecoveryCases(t, func(*testing.T) []rtb.Option {
		engine := memory.New()
		return []rtb.Option{rtb.WithBroker(engine), rtb.WithBroker(engine), rtb.WithBroker(engine)}
	})
}

// TestRecoveryRedis is TestRecoveryMemory on three nodes sharing a Redis.
func TestRecoveryRedis(t *testing.T) {
	redisURL := redistest.URL(t)
	runRecoveryCases(t, func(t *testing.T) []rtb.Option {
		opts := redis.Options{KeyPrefix: redistest.Prefix(t, redisURL), Logger: quietLogger()}
		var nodes []rtb.Option
		for range 3 {
			nodes = append(nodes, rtb.WithBroker(redistest.Engine(t, redisURL, opts)))
		}
		return nodes
	})
}

// runRecoveryCases runs checkRecovery with a history that holds what the
// viewer missed and with one that does not, on three nodes whose engines
// nodeEngines gives, one option each.
func runRecoveryCases(t *testing.T, nodeEngines func(*testing.T) []rtb.Option) {
	for _, tc := range []struct {
		name    string
		limits  rtb.Limits
		recover bool
	}{{"exact", rtb.Limits{}, true}, {"fallback", rtb.Limits{HistoryMessages: recoveryHistory}, false}} {
		t.Run(tc.name, func(t *testing.T) {
			var urls []string
			for _, engine := range nodeEngines(t) {
				urls = append(urls, startServer(t, engine, rtb.WithLimits(tc.limits)).wsURL)
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
	back.send(rejoinRequest(room, 11))
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

// rejoinRequest joins room asking to recover after lastSeen, 0 included
// (a Message omits a seq of 0).
func rejoinRequest(room string, lastSeen uint64) string {
	return fmt.Sprintf(`{"uuid":%q,"status":{"value":2,"text":"join connection"},"funcKey":"","funcParams":[],"stateMessage":false,"seq":%d}`, room, lastSeen)
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

// TestRedisViewersNodeKilledRecover: three nodes on Redis; the node of some
// viewers dies while the owner broadcasts. They reconnect to another node
// with the last seq they saw and recover: in the end each has every
// message exactly once, in order.
func TestRedisViewersNodeKilledRecover(t *testing.T) {
	const total, viewersOnDoomedNode = 300, 3
	nodes := startRedisNodes(t, redistest.URL(t), 3, time.Second)
	owner := dial(t, nodes[0].wsURL, nil)
	room := owner.createRoom()
	watcher := dial(t, nodes[1].wsURL, nil)
	watcher.joinRoom(room)
	var doomed []*wsClient
	for range viewersOnDoomedNode {
		v := dial(t, nodes[2].wsURL, nil)
		v.joinRoom(room)
		doomed = append(doomed, v)
	}

	flooding := make(chan struct{})
	go func() { // the owner broadcasts through the node's death
		defer close(flooding)
		for i := range total {
			owner.send(request(rtb.StatusConnected, room, "n", strconv.Itoa(i)))
			if i == total/3 {
				nodes[2].kill(t)
			}
		}
	}()
	for i, v := range doomed {
		last := receiveUntilCut(t, v)
		back := dial(t, nodes[1].wsURL, nil)
		back.send(rejoinRequest(room, last))
		reply := back.nextAction()
		if reply.Error != nil || reply.Recovered == nil || !*reply.Recovered || reply.Seq != last {
			t.Fatalf("viewer %d rejoining from seq %d: %+v (recovered %v)", i, last, reply, reply.Recovered)
		}
		expectSeqs(t, back, last+1, total)
	}
	<-flooding
	expectSeqs(t, watcher, 1, total)
}

// receiveUntilCut reads v's messages, each numbered one more than the
// last, until its connection ends; it returns the last seq received.
func receiveUntilCut(t *testing.T, v *wsClient) uint64 {
	t.Helper()
	var last uint64
	for {
		m, err := v.recv()
		if err != nil {
			return last
		}
		if m.Viewers != nil {
			continue
		}
		if m.Seq != last+1 {
			t.Fatalf("after seq %d: %+v", last, m)
		}
		last = m.Seq
	}
}
