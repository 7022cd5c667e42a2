package rtbroadcaster_test

import (
	"fmt"
	"testing"
	"time"

	rtb "github.com/rtbroadcaster/rtbroadcaster"
	"github.com/rtbroadcaster/rtbroadcaster/broker/memory"
	"github.com/rtbroadcaster/rtbroadcaster/broker/redis"
	"github.com/rtbroadcaster/rtbroadcaster/broker/redis/redistest"
)

// openAndCloseRooms opens rooms one after another, owned on node a, with a
// viewer on each node; b's viewer leaves while the room is open, which
// must leave nothing of b's replica in the engine (bEmpty), then the owner
// closes the room. The caller then checks that the engines hold nothing.
func openAndCloseRooms(t *testing.T, a, b *testServer, bEmpty func() error) {
	t.Helper()
	for range 5 {
		owner := dial(t, a.wsURL, nil)
		room := owner.createRoom()
		local, remote := dial(t, a.wsURL, nil), dial(t, b.wsURL, nil)
		local.joinRoom(room)
		remote.joinRoom(room)
		waitViewers(t, owner, 2)
		_ = remote.conn.WriteClose(1000, nil)
		waitViewers(t, owner, 1)
		eventually(t, func() error {
			if n := b.Stats().Rooms; n != 0 {
				return fmt.Errorf("node b has %d rooms", n)
			}
			return bEmpty()
		})
		owner.send(request(4, room, ""))
		expectEnd(t, local, room, 0)
		_ = owner.conn.WriteClose(1000, nil)
	}
}

// eventually retries check for a while and fails with its last error.
func eventually(t *testing.T, check func() error) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRoomsLeaveNothingInMemoryEngine: a replica subscribes and reports its
// viewers as one subscriber, so that unsubscribing drops its viewer count.
func TestRoomsLeaveNothingInMemoryEngine(t *testing.T) {
	engine := memory.New()
	a, b := startServer(t, rtb.WithBroker(engine)), startServer(t, rtb.WithBroker(engine))
	sizes := func() error {
		if s := engine.Sizes(); s.ViewerCounts > s.Subscribers {
			return fmt.Errorf("the engine holds %+v: more viewer counts than subscribers", s)
		}
		return nil
	}
	openAndCloseRooms(t, a, b, sizes)
	eventually(t, func() error {
		if s := engine.Sizes(); s != (memory.Sizes{}) {
			return fmt.Errorf("the engine holds %+v after every room closed", s)
		}
		return nil
	})
}

// TestRoomsLeaveNothingInRedisEngine is the same on two Redis nodes: each
// engine's maps are back to empty once its node has no room.
func TestRoomsLeaveNothingInRedisEngine(t *testing.T) {
	nodes := startRedisNodes(t, redistest.URL(t), 2, 0)
	empty := func(n redisNode) func() error {
		return func() error {
			if s := n.engine.Sizes(); s != (redis.Sizes{}) {
				return fmt.Errorf("a node with no room holds %+v in its engine", s)
			}
			return nil
		}
	}
	openAndCloseRooms(t, nodes[0].testServer, nodes[1].testServer, empty(nodes[1]))
	eventually(t, func() error {
		if n := nodes[0].Stats().Rooms; n != 0 {
			return fmt.Errorf("node a has %d rooms", n)
		}
		return empty(nodes[0])()
	})
}
