package redis_test

import (
	"testing"
	"time"

	"github.com/rtbroadcaster/rtbroadcaster/broker"
	"github.com/rtbroadcaster/rtbroadcaster/broker/redis"
	"github.com/rtbroadcaster/rtbroadcaster/broker/redis/redistest"
)

// TestClusterSlotMoves: while a room is broadcast, its slot moves to
// another master, as resharding does. The owner's node follows the MOVED
// replies; the other node, whose subscription Redis ends on the old master
// (SUNSUBSCRIBE), subscribes again on the new one: its subscriber is told
// Lost, and then gets every message published after.
func TestClusterSlotMoves(t *testing.T) {
	cluster := redistest.StartCluster(t)
	opts := redis.Options{KeyPrefix: redistest.Prefix(t, cluster.URL()), Logger: quiet()}
	owner, other := engine(t, cluster.URL(), opts), engine(t, cluster.URL(), opts)
	room, sub := subscribedRoom(t, owner, other, broker.Owner{KeyHash: "hash"})
	mustPublish(t, owner, room, statePub("slide", `{"slide":1}`))
	waitDelivered(t, sub, 1)

	from := cluster.MasterOf(room)
	var to *redistest.Server
	for _, m := range cluster.Masters() {
		if m != from {
			to = m
			break
		}
	}
	cluster.MoveSlot(room, to)
	if got := cluster.MasterOf(room); got != to {
		t.Fatalf("room's slot on %s after the move, want %s", got.Addr, to.Addr)
	}
	select {
	case <-sub.lost:
	case <-time.After(10 * time.Second):
		t.Fatal("the subscriber was not told Lost when the room's slot moved")
	}
	// The owner's next publish reaches the new master, and the other node's
	// subscription there.
	var seq uint64
	deadline := time.Now().Add(10 * time.Second)
	for {
		seq = mustPublish(t, owner, room, actionPub(`{"after":1}`))
		time.Sleep(50 * time.Millisecond)
		if d := sub.delivered(); len(d) > 0 && d[len(d)-1] == seq {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the move, delivered %v; the last publish was seq %d", sub.delivered(), seq)
		}
	}
	snap, err := other.Snapshot(ctx(t), room, nil)
	if err != nil || snap.Seq != seq || entriesString(snap.State) != `1:{"slide":1} ` {
		t.Fatalf("snapshot on the new master: %+v, %v; want seq %d and the state kept before the move", snap, err, seq)
	}
}
