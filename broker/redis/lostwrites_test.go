package redis_test

import (
	"errors"
	"testing"

	"github.com/rtbroadcaster/rtbroadcaster/broker"
	"github.com/rtbroadcaster/rtbroadcaster/broker/redis/redistest"
)

// TestRedisLostWrites: Redis comes back with the room as it was a few
// messages ago, its seq lower than what the nodes delivered. The owner's
// next broadcast is refused with a LostWritesError naming the last seq that
// survived, the subscribers are told Lost, the numbering goes on past every
// seq given before, and a viewer that saw the lost messages cannot recover.
func TestRedisLostWrites(t *testing.T) {
	srv := redistest.StartServer(t, redistest.AppendOnly)
	owner, other := twoNodes(t, srv)
	room, sub := subscribedRoom(t, owner, other, broker.Owner{KeyHash: "hash"})
	mustPublish(t, owner, room, statePub("a", `{"a":1}`))
	mustPublish(t, owner, room, statePub("b", `{"b":1}`))
	survived := mustPublish(t, owner, room, actionPub(`{"x":1}`))
	waitDelivered(t, sub, int(survived))
	back := srv.Checkpoint()
	mustPublish(t, owner, room, statePub("b", `{"b":2}`))
	last := mustPublish(t, owner, room, statePub("c", `{"c":1}`))
	waitDelivered(t, sub, int(last))

	back()
	waitLost(t, sub)
	before := len(sub.delivered())
	snap, err := snapshotOnceRestored(t, other, room, &last)
	if err != nil || snap.Recovered || snap.Seq != survived {
		t.Fatalf("rejoin after seq %d once Redis went back to %d: %+v, %v; want not recovered at seq %d",
			last, survived, snap, err, survived)
	}

	_, err = owner.Publish(ctx(t), room, actionPub(`{"x":2}`))
	var lost *broker.LostWritesError
	if !errors.As(err, &lost) || lost.Survived != survived {
		t.Fatalf("owner's first publish after the rollback: %v; want a LostWritesError naming seq %d", err, survived)
	}
	waitLost(t, sub)
	seq := mustPublish(t, owner, room, actionPub(`{"x":3}`))
	if seq <= last {
		t.Fatalf("publish after the rollback numbered %d, which the stream gave before (up to %d)", seq, last)
	}
	waitDelivered(t, sub, before+1)
	if got := sub.delivered()[before:]; len(got) != 1 || got[0] != seq {
		t.Fatalf("delivered after the rollback: %v, want [%d]", got, seq)
	}
	for _, lastSeen := range []uint64{survived, last, seq - 1} {
		snap, err := other.Snapshot(ctx(t), room, &lastSeen)
		if err != nil || snap.Recovered || snap.Seq != seq {
			t.Fatalf("rejoin after seq %d: %+v, %v; want not recovered at seq %d", lastSeen, snap, err, seq)
		}
		if got, want := entriesString(snap.State), `1:{"a":1} 2:{"b":1} `; got != want {
			t.Fatalf("state replay: %s, want %s", got, want)
		}
	}
	if snap, err := other.Snapshot(ctx(t), room, &seq); err != nil || !snap.Recovered || snap.Seq != seq {
		t.Fatalf("rejoin after seq %d: %+v, %v; want recovered", seq, snap, err)
	}
}
