package redis_test

import (
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/rtbroadcaster/rtbroadcaster/broker"
	"github.com/rtbroadcaster/rtbroadcaster/broker/redis"
	"github.com/rtbroadcaster/rtbroadcaster/broker/redis/redistest"
)

// createRooms creates n open rooms on b and returns their ids.
func createRooms(t *testing.T, b *redis.Broker, n int) map[string]bool {
	t.Helper()
	ids := map[string]bool{}
	for range n {
		id := uuid.NewString()
		if err := b.CreateRoom(ctx(t), id, broker.Owner{}); err != nil {
			t.Fatal(err)
		}
		ids[id] = true
	}
	return ids
}

// TestRoomsOfEveryNode: a node lists the rooms another node created, across
// more than one SCAN call, stops at the limit, and lists no room of
// another key prefix, even one its own prefix would match as a pattern.
func TestRoomsOfEveryNode(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: skipped under -short; ./scripts/test.sh runs it")
	}
	redisURL := redistest.URL(t)
	base := redistest.Prefix(t, redisURL)
	// A long lease keeps the upkeep loop out of the way of 1,200 rooms.
	opts := redis.Options{KeyPrefix: base + "a*:", LeaseTTL: time.Minute, Logger: quiet()}
	lister, creator := redistest.Engine(t, redisURL, opts), redistest.Engine(t, redisURL, opts)
	other := redistest.Engine(t, redisURL, redis.Options{KeyPrefix: base + "abc:", LeaseTTL: time.Minute, Logger: quiet()})
	createRooms(t, other, 3)
	want := createRooms(t, creator, 1200) // more than one SCAN's COUNT

	all, err := lister.ScanRooms(ctx(t), 5000)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(want) {
		t.Fatalf("listed %d rooms, want %d", len(all), len(want))
	}
	for _, r := range all {
		if !want[r.ID] || r.OwnerAway || r.Seq != 0 {
			t.Fatalf("listed %+v: not one of the rooms created, open, at seq 0 with its owner", r)
		}
	}
	if some, err := lister.ScanRooms(ctx(t), 10); err != nil || len(some) != 10 {
		t.Fatalf("ScanRooms(10): %d rooms, %v", len(some), err)
	}
}

// TestRoomsCached: Rooms serves a list for up to 2 s, unless the engine
// closed a room meanwhile.
func TestRoomsCached(t *testing.T) {
	redisURL := redistest.URL(t)
	opts := redis.Options{KeyPrefix: redistest.Prefix(t, redisURL), Logger: quiet()}
	lister, creator := redistest.Engine(t, redisURL, opts), redistest.Engine(t, redisURL, opts)
	created := createRooms(t, creator, 2)

	// Dashboards polling at once share a scan, and each gets its own list.
	listed := time.Now()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if rooms, err := lister.Rooms(ctx(t), 100); err != nil || len(rooms) != 2 {
				t.Errorf("Rooms: %d rooms, %v; want 2", len(rooms), err)
			} else {
				rooms[0].ID = "changed by a caller"
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	late := createRooms(t, creator, 1)
	rooms, err := lister.Rooms(ctx(t), 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(rooms) != 2 && time.Since(listed) < 2*time.Second {
		t.Fatalf("listed %d rooms within 2 s of a list of 2: not from the cache", len(rooms))
	}
	for _, r := range rooms {
		if !created[r.ID] && !late[r.ID] {
			t.Fatalf("a caller changed the cached list: %+v", rooms)
		}
	}
	if scanned, err := lister.ScanRooms(ctx(t), 100); err != nil || len(scanned) != 3 {
		t.Fatalf("ScanRooms: %d rooms, %v; want 3", len(scanned), err)
	}

	for id := range late {
		if err := lister.CloseRoom(ctx(t), id); err != nil {
			t.Fatal(err)
		}
	}
	// The closing engine forgot its list: the closed room is gone at once.
	rooms, err = lister.Rooms(ctx(t), 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(rooms) != 2 || late[rooms[0].ID] || late[rooms[1].ID] {
		t.Fatalf("after closing a room, Rooms lists %+v", rooms)
	}
}
