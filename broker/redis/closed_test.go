package redis_test

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	goredis "github.com/redis/go-redis/v9"
	"github.com/rtbroadcaster/rtbroadcaster/broker"
	"github.com/rtbroadcaster/rtbroadcaster/broker/redis"
	"github.com/rtbroadcaster/rtbroadcaster/broker/redis/redistest"
)

// TestClosedRoomKeepsOnlyItsMarker: a closed room's state, history and
// other keys are deleted at once, whichever way it closed; what remains is
// its meta key, holding only its status and last seq, for a short while,
// so that late joins and lagging nodes learn the room closed. Joins still
// get ErrRoomNotFound once the marker is gone too.
func TestClosedRoomKeepsOnlyItsMarker(t *testing.T) {
	const closedTTL = time.Second
	tests := []struct {
		name  string
		close func(t *testing.T, owner *redis.Broker, room string)
	}{
		{"closed by its owner", func(t *testing.T, owner *redis.Broker, room string) {
			if err := owner.CloseRoom(ctx(t), room); err != nil {
				t.Fatal(err)
			}
		}},
		{"its grace ended", func(t *testing.T, owner *redis.Broker, room string) {
			if err := owner.ReleaseOwner(ctx(t), room, 1); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			redisURL := redistest.URL(t)
			prefix := redistest.Prefix(t, redisURL)
			opts := redis.Options{KeyPrefix: prefix, LeaseTTL: 30 * time.Second, ClosedTTL: closedTTL, Logger: quiet()}
			owner, other := redistest.Engine(t, redisURL, opts), redistest.Engine(t, redisURL, opts)
			room := uuid.NewString()
			if err := owner.CreateRoom(ctx(t), room, broker.Owner{KeyHash: "hash", Grace: 100 * time.Millisecond}); err != nil {
				t.Fatal(err)
			}
			sub := newEvents()
			if err := other.Subscribe(ctx(t), room, sub); err != nil {
				t.Fatal(err)
			}
			if err := owner.SetViewers(ctx(t), room, sub, 1); err != nil {
				t.Fatal(err)
			}
			big := append(append([]byte(`{"s":"`), bytes.Repeat([]byte("x"), 1<<20)...), `"}`...)
			for _, key := range []string{"a", "b", "c"} {
				p := broker.Publication{Body: big, StateKey: key, MaxStateMessages: 10, MaxStateBytes: 8 << 20, MaxHistoryMessages: 10, MaxHistoryBytes: 4 << 20}
				if _, err := owner.Publish(ctx(t), room, p); err != nil {
					t.Fatal(err)
				}
			}
			tt.close(t, owner, room)
			select {
			case seq := <-sub.closed:
				if seq != 4 {
					t.Fatalf("Closed(%d), want Closed(4)", seq)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("room not closed")
			}

			client := redistest.Client(t, redisURL)
			var keys []string
			iter := client.Scan(ctx(t), 0, prefix+"{"+room+"}*", 100).Iterator()
			for iter.Next(ctx(t)) {
				keys = append(keys, iter.Val())
			}
			if err := iter.Err(); err != nil {
				t.Fatal(err)
			}
			meta := prefix + "{" + room + "}:meta"
			if len(keys) != 1 || keys[0] != meta {
				t.Fatalf("keys left after the close: %q, want only %q", keys, meta)
			}
			fields, err := client.HGetAll(ctx(t), meta).Result()
			if err != nil || len(fields) != 2 || fields["status"] != "closed" || fields["seq"] != "4" {
				t.Fatalf("closed meta %v (%v), want only status closed and seq 4", fields, err)
			}
			if ttl, err := client.PTTL(ctx(t), meta).Result(); err != nil || ttl <= 0 || ttl > closedTTL {
				t.Fatalf("closed meta's TTL %v (%v), want at most %v", ttl, err, closedTTL)
			}
			for _, node := range []*redis.Broker{owner, other} {
				if _, err := node.Snapshot(ctx(t), room, nil); !errors.Is(err, broker.ErrRoomNotFound) {
					t.Fatalf("snapshot of the closed room: %v, want ErrRoomNotFound", err)
				}
			}
			waitGone(t, client, meta)
			for _, node := range []*redis.Broker{owner, other} {
				last := uint64(2)
				if _, err := node.Snapshot(ctx(t), room, &last); !errors.Is(err, broker.ErrRoomNotFound) {
					t.Fatalf("recovering snapshot once the marker expired: %v, want ErrRoomNotFound", err)
				}
			}
		})
	}
}

// waitGone waits for key to expire.
func waitGone(t *testing.T, client goredis.UniversalClient, key string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for client.Exists(ctx(t), key).Val() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%s still there 10 s on", key)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestDefaultClosedTTLIsShort: the marker a closed room leaves lasts a
// minute by default, not the ten it used to.
func TestDefaultClosedTTLIsShort(t *testing.T) {
	redisURL := redistest.URL(t)
	prefix := redistest.Prefix(t, redisURL)
	engine := redistest.Engine(t, redisURL, redis.Options{KeyPrefix: prefix, Logger: quiet()})
	room := uuid.NewString()
	if err := engine.CreateRoom(ctx(t), room, broker.Owner{}); err != nil {
		t.Fatal(err)
	}
	if err := engine.CloseRoom(ctx(t), room); err != nil {
		t.Fatal(err)
	}
	client := redistest.Client(t, redisURL)
	if ttl := client.PTTL(ctx(t), prefix+"{"+room+"}:meta").Val(); ttl <= 0 || ttl > time.Minute {
		t.Fatalf("closed meta's TTL %v, want at most a minute", ttl)
	}
}
