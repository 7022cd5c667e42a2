package rtbroadcaster_test

import (
	"encoding/json"
	"testing"
	"time"

	rtb "github.com/rtbroadcaster/rtbroadcaster"
	"github.com/rtbroadcaster/rtbroadcaster/broker/redis/redistest"
)

// TestRedisSentinelFailover: two nodes on a Redis run by Sentinel, the
// owner on node 0 and viewers on both; the owner broadcasts while the
// master is killed (kill -9) and the Sentinels promote its replica. The
// nodes follow the new master and the room goes on: each viewer keeps a
// gap-free stream or is asked to rejoin with 1012 and rejoins exactly,
// fresh viewers get the state kept before the kill, and a broadcast after
// the failover reaches everyone, numbered on consecutively. The test logs
// how long the room was unavailable: from the kill until a broadcast
// reached a viewer on the other node than the owner's.
func TestRedisSentinelFailover(t *testing.T) {
	sentinels := redistest.StartSentinels(t)
	nodes := startRedisNodes(t, sentinels.URL(), 2, 5*time.Second)
	owner, room, viewers := roomWithState(t, nodes)

	b := startBroadcasting(owner, room)
	unavailable := killDuringBroadcast(t, nodes, room, sentinels.Master.Kill)
	sentinels.WaitMaster(sentinels.Replica.Addr, 5*time.Second) // the room came back on the promoted replica
	t.Logf("room unavailable for %v: from the kill -9 of the master to the first broadcast that reached a viewer on the other node",
		unavailable.Round(time.Millisecond))
	stopAfterFailover(t, b)

	checkRoomGoesOn(t, nodes, viewers, owner, room, b)
}

// roomWithState makes a room for a failover test: its owner on node 0, a
// viewer on each node, two state messages and an action, seen by the
// viewers and so written to the Redis master.
func roomWithState(t *testing.T, nodes []redisNode) (owner *wsClient, room string, viewers []*wsClient) {
	t.Helper()
	owner = dial(t, nodes[0].wsURL, nil)
	room = owner.createRoom()
	viewers = joinEach(t, nodes, room, 0, 0)
	owner.send(stateRequest(room, "slide", "", "1"))
	owner.send(stateRequest(room, "draw", "s1", "a"))
	owner.send(request(3, room, "laser", "x"))
	expectSeqs(t, viewers[1], 1, 3)
	time.Sleep(100 * time.Millisecond) // the replica has the state too: replication is asynchronous
	return owner, room, viewers
}

// killDuringBroadcast lets the owner's broadcasts (started already) run,
// kills the master with kill, and returns how long the room was
// unavailable: until a broadcast reached a new viewer on node 1.
func killDuringBroadcast(t *testing.T, nodes []redisNode, room string, kill func()) time.Duration {
	t.Helper()
	time.Sleep(200 * time.Millisecond)
	kill()
	killed := time.Now()
	return awaitBroadcast(t, nodes[1].wsURL, room, killed.Add(25*time.Second)).Sub(killed)
}

// stopAfterFailover lets the broadcasts go on a little after the
// failover, stops them, and checks that some were refused meanwhile.
func stopAfterFailover(t *testing.T, b *broadcaster) {
	t.Helper()
	time.Sleep(300 * time.Millisecond)
	sent := b.stop()
	t.Logf("owner sent %d broadcasts, %d refused as unavailable", sent, b.refused.Load())
	if b.refused.Load() == 0 {
		t.Error("no broadcast was refused while there was no master")
	}
}

// awaitBroadcast joins room on url as a new viewer, again while the join
// is unavailable or the connection is cut, until a broadcast of action "n"
// arrives, and returns when that was. It fails the test at deadline.
func awaitBroadcast(t *testing.T, url, room string, deadline time.Time) time.Time {
	t.Helper()
	for time.Now().Before(deadline) {
		probe := dial(t, url, nil)
		probe.send(request(2, room, ""))
	read:
		for time.Now().Before(deadline) {
			select {
			case raw := <-probe.frames:
				var m rtb.Message
				if err := json.Unmarshal(raw, &m); err != nil {
					t.Fatalf("server sent invalid JSON %q: %v", raw, err)
				}
				switch {
				case m.Error != nil && m.Error.Code == rtb.CodeUnavailable:
					time.Sleep(20 * time.Millisecond)
					probe.send(request(2, room, ""))
				case m.Error != nil:
					t.Fatalf("probe's join: %+v (error %+v)", m, m.Error)
				case m.FuncKey == "n":
					_ = probe.conn.WriteClose(1000, nil)
					return time.Now()
				}
			case <-probe.closed:
				break read // asked to rejoin: join again
			case <-time.After(100 * time.Millisecond):
			}
		}
		_ = probe.conn.WriteClose(1000, nil)
	}
	t.Fatal("no broadcast reached a viewer within 25 s of the kill")
	return time.Time{}
}
