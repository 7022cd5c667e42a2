package rtbroadcaster_test

import (
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	rtb "github.com/rtbroadcaster/rtbroadcaster"
	"github.com/rtbroadcaster/rtbroadcaster/broker/memory"
	"github.com/rtbroadcaster/rtbroadcaster/broker/redis/redistest"
)

// twoNodes starts two nodes sharing one engine of the kind named, that
// believe X-Forwarded-For from loopback (so that a test picks each
// client's address) and take opts.
type twoNodes func(t *testing.T, opts ...rtb.Option) [2]*testServer

var engines = []struct {
	name  string
	nodes twoNodes
}{
	{"memory", func(t *testing.T, opts ...rtb.Option) [2]*testServer {
		engine := memory.New()
		opts = append(opts, rtb.WithBroker(engine), rtb.WithTrustedProxies(netip.MustParsePrefix("127.0.0.0/8")))
		return [2]*testServer{startServer(t, opts...), startServer(t, opts...)}
	}},
	{"redis", func(t *testing.T, opts ...rtb.Option) [2]*testServer {
		opts = append(opts, rtb.WithTrustedProxies(netip.MustParsePrefix("127.0.0.0/8")))
		nodes := startRedisNodes(t, redistest.URL(t), 2, 0, opts...)
		return [2]*testServer{nodes[0].testServer, nodes[1].testServer}
	}},
}

// from is the header of a client at addr behind the trusted proxy.
func from(addr string) http.Header { return http.Header{"X-Forwarded-For": {addr}} }

const addrA, addrB = "198.51.100.7", "203.0.113.9"

// createRefused checks that a create from addr on srv is refused with
// too_many_rooms, saying why.
func createRefused(t *testing.T, srv *testServer, addr, why string) {
	t.Helper()
	c := dial(t, srv.wsURL, from(addr))
	c.send(request(rtb.StatusNew, "", ""))
	if m := c.nextError(rtb.CodeTooManyRooms); !strings.Contains(m.Error.Message, why) {
		t.Fatalf("refusal %q does not say %q", m.Error.Message, why)
	}
}

// waitOwned waits until srv counts n rooms owned from it.
func waitOwned(t *testing.T, srv *testServer, n int) {
	t.Helper()
	waitUntil(t, "the node counts the rooms owned from it", func() bool { return srv.Stats().OwnedRooms == n })
}

// dropOwners cuts the owners' connections and waits until srv has seen
// them end: their rooms are in their grace.
func dropOwners(t *testing.T, srv *testServer, owners ...*wsClient) {
	t.Helper()
	left := srv.Stats().Connections - len(owners)
	for _, o := range owners {
		_ = o.conn.NetConn().Close()
		<-o.closed
	}
	waitUntil(t, "the owners' connections ended", func() bool { return srv.Stats().Connections == left })
}

// TestRoomsInGraceCountAgainstTheirAddress is issue 11's case 3: an
// address at -max-rooms-per-ip that drops its owners may not create more
// rooms while those wait for their owners. It may again once another
// address resumes one (which then counts against that one), or once their
// grace ends or they are closed, on whichever node. Its own resume is
// never refused for the count, and every count ends at 0.
func TestRoomsInGraceCountAgainstTheirAddress(t *testing.T) {
	for _, engine := range engines {
		t.Run(engine.name+": resumed from another address", func(t *testing.T) {
			nodes := engine.nodes(t, rtb.WithLimits(rtb.Limits{MaxRoomsPerIP: 2}), rtb.WithOwnerGrace(time.Minute))
			owner1, owner2 := dial(t, nodes[0].wsURL, from(addrA)), dial(t, nodes[0].wsURL, from(addrA))
			room1, key1 := owner1.createOwned()
			room2, key2 := owner2.createOwned()
			dropOwners(t, nodes[0], owner1, owner2)
			createRefused(t, nodes[0], addrA, "already owns 2 open rooms")

			// B takes room 1 back on the other node: it counts against B now.
			resumer := dial(t, nodes[1].wsURL, from(addrB))
			if reply := resumer.resume(room1, key1); reply.Error != nil {
				t.Fatalf("resume from B: %+v", reply.Error)
			}
			waitOwned(t, nodes[0], 1)
			third := dial(t, nodes[0].wsURL, from(addrA))
			room3 := third.createRoom()
			createRefused(t, nodes[0], addrA, "already owns 2 open rooms")

			// A takes room 2 back itself, at its maximum: not refused, and
			// still two rooms.
			back := dial(t, nodes[0].wsURL, from(addrA))
			if reply := back.resume(room2, key2); reply.Error != nil {
				t.Fatalf("resume from A at its maximum: %+v", reply.Error)
			}
			waitOwned(t, nodes[0], 2)
			createRefused(t, nodes[0], addrA, "already owns 2 open rooms")

			for _, o := range []struct {
				c    *wsClient
				room string
			}{{resumer, room1}, {back, room2}, {third, room3}} {
				o.c.send(request(rtb.StatusClose, o.room, ""))
				if m := o.c.nextAction(); m.Status.Value != rtb.StatusNotConnected {
					t.Fatalf("close: %+v", m)
				}
			}
			waitOwned(t, nodes[0], 0)
			waitOwned(t, nodes[1], 0)
		})

		t.Run(engine.name+": the grace ends, or another node closes the room", func(t *testing.T) {
			nodes := engine.nodes(t, rtb.WithLimits(rtb.Limits{MaxRoomsPerIP: 2}), rtb.WithOwnerGrace(2*time.Second), rtb.WithAdminToken(adminToken))
			owner1, owner2 := dial(t, nodes[0].wsURL, from(addrA)), dial(t, nodes[0].wsURL, from(addrA))
			room1, _ := owner1.createOwned()
			owner2.createOwned()
			viewer := dial(t, nodes[1].wsURL, from(addrB))
			viewer.joinRoom(room1)
			dropOwners(t, nodes[0], owner1, owner2)
			expectOwner(t, viewer, "away", 1)
			createRefused(t, nodes[0], addrA, "already owns 2 open rooms")
			// An operator closes room 1 from the other node.
			if rec := admin(nodes[1], "POST", "/admin/api/rooms/"+room1+"/close", adminToken); rec.Code != 204 {
				t.Fatalf("admin close: %d %s", rec.Code, rec.Body)
			}
			expectEnd(t, viewer, room1, 0)
			waitOwned(t, nodes[0], 1)
			dial(t, nodes[0].wsURL, from(addrA)).createRoom()
			createRefused(t, nodes[0], addrA, "already owns 2 open rooms")
			// Room 2's grace ends.
			waitOwned(t, nodes[0], 1)
			dial(t, nodes[0].wsURL, from(addrA)).createRoom()
		})
	}
}

// TestServerRoomCap: a node owns at most Limits.MaxRooms rooms, those
// waiting for their owner included, whatever the addresses.
func TestServerRoomCap(t *testing.T) {
	srv := startServer(t, rtb.WithLimits(rtb.Limits{MaxRooms: 2}), rtb.WithOwnerGrace(time.Minute),
		rtb.WithTrustedProxies(netip.MustParsePrefix("127.0.0.0/8")))
	first, second := dial(t, srv.wsURL, from(addrA)), dial(t, srv.wsURL, from(addrB))
	room1 := first.createRoom()
	second.createRoom()
	createRefused(t, srv, "192.0.2.1", "this server has its maximum of 2 open rooms")
	dropOwners(t, srv, second)
	createRefused(t, srv, "192.0.2.1", "this server has its maximum of 2 open rooms")
	first.send(request(rtb.StatusClose, room1, ""))
	first.nextAction()
	dial(t, srv.wsURL, from("192.0.2.1")).createRoom()
}

// TestTotalStateCap: the in-memory engine keeps at most
// Limits.MaxTotalStateBytes of state across all rooms; past it a state
// message is refused with state_full, saying so, and is neither kept nor
// sent; what a closed or cleared room kept is given back.
func TestTotalStateCap(t *testing.T) {
	srv := startServer(t, rtb.WithLimits(rtb.Limits{MaxTotalStateBytes: 100 << 10}))
	big := strings.Repeat("x", 40<<10)
	owners := []*wsClient{dial(t, srv.wsURL, nil), dial(t, srv.wsURL, nil), dial(t, srv.wsURL, nil)}
	rooms := make([]string, len(owners))
	for i, o := range owners {
		rooms[i] = o.createRoom()
	}
	owners[0].send(stateRequest(rooms[0], "ink", "s", big))
	owners[1].send(stateRequest(rooms[1], "ink", "s", big))
	// Each owner's requests run on its own connection: wait until these
	// are kept before another connection's are measured against them.
	owners[0].settle(rooms[0])
	owners[1].settle(rooms[1])
	viewer := dial(t, srv.wsURL, nil)
	viewer.joinRoom(rooms[2])
	owners[2].send(stateRequest(rooms[2], "ink", "s", big))
	if m := owners[2].nextError(rtb.CodeStateFull); !strings.Contains(m.Error.Message, "across all its rooms") {
		t.Fatalf("refusal %q does not say the server's state is full", m.Error.Message)
	}
	owners[2].send(request(rtb.StatusConnected, rooms[2], "small")) // not a state message: delivered
	if m := viewer.nextAction(); m.FuncKey != "small" {
		t.Fatalf("viewer got %+v, want only the broadcast after the refused state message", m)
	}

	// Room 0 clears its state, room 1 closes: room 2 may keep its state.
	clear := stateRequest(rooms[0], "ink", "s", "1")
	clear.ClearState = true
	owners[0].send(clear)
	owners[0].settle(rooms[0])
	owners[2].send(stateRequest(rooms[2], "ink", "s", big))
	if m := viewer.nextAction(); m.FuncKey != "ink" {
		t.Fatalf("viewer got %+v", m)
	}
	owners[2].send(stateRequest(rooms[2], "ink", "t", big))
	owners[2].nextError(rtb.CodeStateFull)
	owners[1].send(request(rtb.StatusClose, rooms[1], ""))
	owners[1].nextAction()
	owners[2].send(stateRequest(rooms[2], "ink", "t", big))
	if m := viewer.nextAction(); m.FuncKey != "ink" {
		t.Fatalf("viewer got %+v", m)
	}
}

// TestTotalHistoryCap: the rooms' histories together stay within
// MaxTotalHistoryBytes. A room whose messages would pass it drops its own
// oldest first: a viewer that rejoins it from before them gets the state
// replay, while a room that kept its history still recovers its viewers.
func TestTotalHistoryCap(t *testing.T) {
	srv := startServer(t, rtb.WithLimits(rtb.Limits{MaxTotalHistoryBytes: 64 << 10}))
	chunk := strings.Repeat("x", 10<<10)
	early, late := dial(t, srv.wsURL, nil), dial(t, srv.wsURL, nil)
	earlyRoom, lateRoom := early.createRoom(), late.createRoom()
	for range 5 { // 50 KiB of history in the early room
		early.send(request(rtb.StatusConnected, earlyRoom, "n", chunk))
	}
	early.settle(earlyRoom)
	for range 3 { // 30 KiB more would pass 64 KiB: the late room drops its own oldest
		late.send(request(rtb.StatusConnected, lateRoom, "n", chunk))
	}
	late.settle(lateRoom)

	for _, tt := range []struct {
		room          string
		wantRecovered bool
	}{{earlyRoom, true}, {lateRoom, false}} {
		v := dial(t, srv.wsURL, nil)
		v.send(rejoinRequest(tt.room, 1))
		reply := v.nextAction()
		if reply.Recovered == nil || *reply.Recovered != tt.wantRecovered {
			t.Fatalf("rejoin of room %s from seq 1: %+v; want recovered %v", tt.room, reply, tt.wantRecovered)
		}
	}
}
