package redis_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	goredis "github.com/redis/go-redis/v9"
	"github.com/rtbroadcaster/rtbroadcaster/broker"
	"github.com/rtbroadcaster/rtbroadcaster/broker/redis"
	"github.com/rtbroadcaster/rtbroadcaster/broker/redis/redistest"
)

// restoreLease is the lease of the engines in these tests: short, so that
// the window in which missing rooms are reported unavailable ends soon.
const restoreLease = 1500 * time.Millisecond

// twoNodes starts two engines on srv: the owner's node and another.
func twoNodes(t *testing.T, srv *redistest.Server) (owner, other *redis.Broker) {
	opts := redis.Options{LeaseTTL: restoreLease, Logger: quiet()}
	return redistest.Engine(t, srv.URL(), opts), redistest.Engine(t, srv.URL(), opts)
}

// eventually calls try until it returns nil, and fails the test with its
// last error after 10 s.
func eventually(t *testing.T, what string, try func() error) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := try()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still %v after 10 s", what, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// snapshotOnceRestored takes a snapshot of the room, retrying while the
// engine says it is unavailable: Redis restarted, and the room's owner's
// node may not have restored it yet.
func snapshotOnceRestored(t *testing.T, b *redis.Broker, room string, lastSeen *uint64) (broker.Snapshot, error) {
	t.Helper()
	var snap broker.Snapshot
	var err error
	eventually(t, "snapshot after the restart", func() error {
		snap, err = b.Snapshot(ctx(t), room, lastSeen)
		if errors.Is(err, broker.ErrUnavailable) {
			return err
		}
		return nil
	})
	return snap, err
}

func waitLost(t *testing.T, sub *events) {
	t.Helper()
	select {
	case <-sub.lost:
	case seq := <-sub.closed:
		t.Fatalf("subscriber told Closed(%d) instead of Lost", seq)
	case <-time.After(10 * time.Second):
		t.Fatal("subscriber not told Lost after Redis restarted")
	}
}

func mustPublish(t *testing.T, b *redis.Broker, room string, p broker.Publication) uint64 {
	t.Helper()
	seq, err := b.Publish(ctx(t), room, p)
	if err != nil {
		t.Fatalf("publish %s: %v", p.Body, err)
	}
	return seq
}

func statePub(key, body string) broker.Publication {
	return broker.Publication{Body: []byte(body), StateKey: key, MaxStateMessages: 10, MaxStateBytes: 1 << 10,
		MaxHistoryMessages: 100, MaxHistoryBytes: 1 << 16}
}

func actionPub(body string) broker.Publication { return statePub("", body) }

func entriesString(entries []broker.Entry) string {
	s := ""
	for _, e := range entries {
		s += fmt.Sprintf("%d:%s ", e.Seq, e.Body)
	}
	return s
}

// TestRedisRestartRestoresRoom restarts a Redis without persistence in the
// middle of a broadcast: the owner's node puts the room back, so that the
// other node's subscriber is told Lost, not Closed, a snapshot from the
// other node has the same state and seq as before, and the numbering goes
// on from there.
func TestRedisRestartRestoresRoom(t *testing.T) {
	srv := redistest.StartServer(t, redistest.NoPersistence)
	owner, other := twoNodes(t, srv)
	room, sub := subscribedRoom(t, owner, other, broker.Owner{KeyHash: "hash"})
	mustPublish(t, owner, room, statePub("old", `{"n":"old"}`))
	body := []byte(`{"n":"slide 1"}`)
	clearing := statePub("slide", string(body))
	clearing.ClearState = true // the copy forgets "old" too
	mustPublish(t, owner, room, clearing)
	copy(body, `{"n":"changed"}`) // the engine must have copied it
	mustPublish(t, owner, room, statePub("draw", `{"n":"a"}`))
	mustPublish(t, owner, room, actionPub(`{"n":"laser"}`))
	mustPublish(t, owner, room, statePub("slide", `{"n":"slide 2"}`)) // replaces slide 1
	last := mustPublish(t, owner, room, actionPub(`{"n":"laser"}`))
	waitDelivered(t, sub, int(last))
	before, err := other.Snapshot(ctx(t), room, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := entriesString(before.State), `3:{"n":"a"} 5:{"n":"slide 2"} `; got != want {
		t.Fatalf("state before the restart: %s, want %s", got, want)
	}

	srv.Kill()
	srv.Start()
	waitLost(t, sub)
	after, err := snapshotOnceRestored(t, other, room, nil)
	if err != nil {
		t.Fatalf("snapshot from the other node after the restart: %v", err)
	}
	if after.Seq != before.Seq || entriesString(after.State) != entriesString(before.State) {
		t.Fatalf("after the restart: seq %d, state %s; before: seq %d, state %s",
			after.Seq, entriesString(after.State), before.Seq, entriesString(before.State))
	}

	for _, tc := range []struct {
		lastSeen      uint64
		wantRecovered bool
	}{
		{last, true},      // saw everything: nothing missed
		{last - 1, false}, // the history went with Redis: a fresh replay
	} {
		snap, err := other.Snapshot(ctx(t), room, &tc.lastSeen)
		if err != nil || snap.Recovered != tc.wantRecovered || snap.Seq != last || len(snap.Missed) != 0 {
			t.Fatalf("rejoin after seq %d: %+v, %v; want recovered %v at seq %d with nothing missed",
				tc.lastSeen, snap, err, tc.wantRecovered, last)
		}
	}

	if seq := mustPublish(t, owner, room, actionPub(`{"n":"after"}`)); seq != last+1 {
		t.Fatalf("first publish after the restart numbered %d, want %d", seq, last+1)
	}
	waitDelivered(t, sub, int(last)+1)
	if got := sub.delivered(); got[len(got)-1] != last+1 {
		t.Fatalf("delivered %v, want %d last", got, last+1)
	}
	if s := owner.Stats(); s.Restored != 1 {
		t.Fatalf("owner's node stats %+v, want 1 restored", s)
	}
	// Past the window in which missing rooms wait for their owners' nodes,
	// and past the check after it, the room is still open.
	time.Sleep(restoreLease + restoreLease/2)
	select {
	case seq := <-sub.closed:
		t.Fatalf("subscriber told Closed(%d) after the room was restored", seq)
	default:
	}
}

// TestRedisRestartRoomAway restarts a Redis without persistence while a
// room is in its owner's grace: the node that released it restores it
// away, and its owner takes it back on another node with its key.
func TestRedisRestartRoomAway(t *testing.T) {
	srv := redistest.StartServer(t, redistest.NoPersistence)
	owner, other := twoNodes(t, srv)
	room := uuid.NewString()
	if err := owner.CreateRoom(ctx(t), room, broker.Owner{KeyHash: "hash", Grace: time.Minute}); err != nil {
		t.Fatal(err)
	}
	mustPublish(t, owner, room, statePub("slide", `{"n":1}`))
	if err := owner.ReleaseOwner(ctx(t), room, 1); err != nil {
		t.Fatal(err)
	}

	srv.Kill()
	srv.Start()
	snap, err := snapshotOnceRestored(t, other, room, nil)
	if err != nil || !snap.OwnerAway || snap.Seq != 1 || entriesString(snap.State) != `1:{"n":1} ` {
		t.Fatalf("snapshot after the restart: %+v, %v; want the room away at seq 1 with its state", snap, err)
	}
	if _, err := other.ClaimOwner(ctx(t), room, "wrong"); !errors.Is(err, broker.ErrNotOwner) {
		t.Fatalf("claim with a wrong key: %v, want ErrNotOwner", err)
	}
	epoch, err := other.ClaimOwner(ctx(t), room, "hash")
	if err != nil || epoch != 2 {
		t.Fatalf("claim with the room's key: epoch %d, %v; want epoch 2", epoch, err)
	}
	if seq := mustPublish(t, other, room, broker.Publication{Body: []byte(`{}`), OwnerEpoch: epoch}); seq != 2 {
		t.Fatalf("publish after the claim numbered %d, want 2", seq)
	}
}

// watchedRoom creates a room on owner and subscribes to it on other; the
// subscriber has received one action when it returns.
func watchedRoom(t *testing.T, owner, other *redis.Broker) (room string, sub *events) {
	t.Helper()
	room, sub = subscribedRoom(t, owner, other, broker.Owner{})
	mustPublish(t, owner, room, actionPub(`{}`))
	waitDelivered(t, sub, 1)
	return room, sub
}

// TestRedisRestartOwnerGone restarts a Redis without persistence after the
// owner's node stopped: no node has the room's copy, so the room ends.
func TestRedisRestartOwnerGone(t *testing.T) {
	srv := redistest.StartServer(t, redistest.NoPersistence)
	owner, other := twoNodes(t, srv)
	room, sub := watchedRoom(t, owner, other)
	_ = owner.Close()

	srv.Kill()
	srv.Start()
	waitLost(t, sub)
	// Right after its pub/sub connection came back, the node cannot tell a
	// room that was never there from one its owner's node is restoring.
	if _, err := other.Snapshot(ctx(t), uuid.NewString(), nil); !errors.Is(err, broker.ErrUnavailable) {
		t.Fatalf("snapshot of an unknown room right after the restart: %v, want ErrUnavailable", err)
	}
	select {
	case <-sub.closed: // its seq means nothing to a subscriber told Lost
	case <-time.After(10 * time.Second):
		t.Fatal("subscriber not told Closed: the room was resurrected, or never ended")
	}
	if _, err := snapshotOnceRestored(t, other, room, nil); !errors.Is(err, broker.ErrRoomNotFound) {
		t.Fatalf("snapshot of the lost room: %v, want ErrRoomNotFound", err)
	}
	if s := other.Stats(); s.Restored != 0 {
		t.Fatalf("stats %+v: a node without the room's copy restored it", s)
	}
}

// TestRoomKeysLost: Redis loses a room's keys without restarting (they
// were flushed). With its owner's node alive, the room is put back and
// goes on; without it, subscribers are told Closed instead of waiting
// forever.
func TestRoomKeysLost(t *testing.T) {
	for _, tc := range []struct {
		name       string
		ownerAlive bool
	}{
		{"owner's node alive", true},
		{"owner's node gone", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := redistest.StartServer(t)
			opts := redis.Options{LeaseTTL: 600 * time.Millisecond, Logger: quiet()}
			owner, other := redistest.Engine(t, srv.URL(), opts), redistest.Engine(t, srv.URL(), opts)
			room, sub := watchedRoom(t, owner, other)
			if !tc.ownerAlive {
				_ = owner.Close()
			}
			admin := goredis.NewClient(&goredis.Options{Addr: srv.Addr})
			defer admin.Close()
			if err := admin.FlushAll(ctx(t)).Err(); err != nil {
				t.Fatal(err)
			}
			if tc.ownerAlive {
				eventually(t, "publish after the flush", func() error {
					_, err := owner.Publish(ctx(t), room, actionPub(`{}`))
					return err
				})
				waitDelivered(t, sub, 2)
				if got := sub.delivered(); got[1] != 2 {
					t.Fatalf("delivered %v, want [1 2]", got)
				}
				return
			}
			select {
			case seq := <-sub.closed:
				if seq != 2 {
					t.Fatalf("Closed(%d), want Closed(2)", seq)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("subscriber not told Closed after Redis lost the room")
			}
		})
	}
}
