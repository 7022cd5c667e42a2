package client_test

import (
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/rtbroadcaster/rtbroadcaster"
	"github.com/rtbroadcaster/rtbroadcaster/protocol"
)

// TestRepliesAreMatchedByID: a reply answers the request whose id it
// carries, not the oldest one waiting. The server here answers two joins
// in reverse order; each Join still returns its own room. The first
// request on a connection is preceded by a ping, in case the server
// echoes no ids; once one id has come back, requests go without.
func TestRepliesAreMatchedByID(t *testing.T) {
	var held *protocol.Message
	var mu sync.Mutex
	var ids []string
	var pings []bool
	srv := startFakeServer(t, func(req *protocol.Message, pinged bool) []*protocol.Message {
		mu.Lock()
		ids, pings = append(ids, req.ID), append(pings, pinged)
		mu.Unlock()
		switch {
		case req.Status.Value != protocol.StatusJoin:
			return []*protocol.Message{{UUID: req.UUID, Status: protocol.Status{Value: protocol.StatusNotConnected}, ID: req.ID,
				Error: &protocol.Error{Code: protocol.CodeNotOwner, Message: "a viewer cannot close the room"}}}
		case held == nil:
			held = req
			return nil
		}
		return []*protocol.Message{connected(req.UUID, req.ID), connected(held.UUID, held.ID)}
	})
	c := dialOpts(t, srv.url, nil)

	rooms := []string{"room-a", "room-b"}
	got := make([]string, len(rooms))
	var wg sync.WaitGroup
	for i, room := range rooms {
		wg.Go(func() {
			reply, err := c.Join(testContext(t), room)
			if err != nil {
				t.Errorf("join %s: %v", room, err)
				return
			}
			got[i] = reply.Room
		})
	}
	wg.Wait()
	if got[0] != rooms[0] || got[1] != rooms[1] {
		t.Fatalf("joins of %q returned %q: replies were matched by order, not by id", rooms, got)
	}
	if ids := snapshot(&mu, &ids); ids[0] == "" || ids[0] == ids[1] {
		t.Fatalf("request ids %q: want distinct, non-empty ids", ids)
	}

	var refusal *rtbroadcaster.Error
	if err := c.CloseRoom(testContext(t)); !errors.As(err, &refusal) || refusal.Code != rtbroadcaster.CodeNotOwner {
		t.Fatalf("CloseRoom: %v, want the not_owner the server answered it with", err)
	}
	if pings := snapshot(&mu, &pings); !pings[0] || pings[2] {
		t.Fatalf("pinged before each request: %v; want a ping before the first, none once ids came back", pings)
	}
}

// TestOlderServerWithoutIDs: against a server that echoes no request ids,
// requests are matched by order, as before ids: the ping before each one
// marks where its reply starts. Overlapping requests still get their own
// replies, since they go out, and are answered, in order.
func TestOlderServerWithoutIDs(t *testing.T) {
	var mu sync.Mutex
	var unpinged []string
	srv := startFakeServer(t, func(req *protocol.Message, pinged bool) []*protocol.Message {
		if !pinged {
			mu.Lock()
			unpinged = append(unpinged, req.ID)
			mu.Unlock()
		}
		switch req.Status.Value {
		case protocol.StatusNew:
			m := connected("room-1", "")
			m.OwnerKey = "key-1"
			return []*protocol.Message{m}
		case protocol.StatusJoin:
			return []*protocol.Message{{UUID: req.UUID, Status: protocol.Status{Value: protocol.StatusConnected}, Error: &protocol.Error{Code: protocol.CodeAlreadyInRoom, Message: "in a room"}}}
		case protocol.StatusClose:
			return []*protocol.Message{{UUID: req.UUID, Status: protocol.Status{Value: protocol.StatusNotConnected, Text: protocol.TextNotConnected}}}
		}
		return nil
	})
	c := dialOpts(t, srv.url, nil)
	room, err := c.Create(testContext(t))
	if err != nil || room != "room-1" || c.OwnerKey() != "key-1" {
		t.Fatalf("Create: %q, %v (key %q); want room-1 with key-1", room, err, c.OwnerKey())
	}

	var wg sync.WaitGroup
	var joinErr, syncErr error
	wg.Go(func() { _, joinErr = c.Join(testContext(t), "other") })
	wg.Go(func() { syncErr = c.Sync(testContext(t)) })
	wg.Wait()
	var refusal *rtbroadcaster.Error
	if !errors.As(joinErr, &refusal) || refusal.Code != rtbroadcaster.CodeAlreadyInRoom || syncErr != nil {
		t.Fatalf("Join: %v, Sync: %v; want already_in_room and nil", joinErr, syncErr)
	}
	must(t, c.CloseRoom(testContext(t)))
	if c.Room() != "" {
		t.Fatalf("after CloseRoom the client is in %q", c.Room())
	}
	if unpinged := snapshot(&mu, &unpinged); len(unpinged) > 0 {
		t.Fatalf("requests %q went without a ping to a server that echoes no ids", unpinged)
	}
}

// TestOverlappingRequests: several goroutines use one client at once
// against a real server; each call gets the answer to its own request.
func TestOverlappingRequests(t *testing.T) {
	url := startServer(t)
	_, room := ownerWithRoom(t, url)
	c := dial(t, url, newRecorder())

	const callers = 8
	errs := make([]error, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			if i%2 == 0 {
				errs[i] = c.Sync(testContext(t))
				return
			}
			_, errs[i] = c.Join(testContext(t), room)
		})
	}
	wg.Wait()
	joined := 0
	for i, err := range errs {
		var refusal *rtbroadcaster.Error
		switch {
		case i%2 == 0 && err != nil:
			t.Errorf("Sync %d: %v", i, err)
		case i%2 == 1 && err == nil:
			joined++
		case i%2 == 1 && !(errors.As(err, &refusal) && refusal.Code == rtbroadcaster.CodeAlreadyInRoom):
			t.Errorf("Join %d: %v, want nil or already_in_room", i, err)
		}
	}
	if joined != 1 || c.Room() != room {
		t.Fatalf("%d joins succeeded, client in %q; want exactly one, in %q", joined, c.Room(), room)
	}
}

// snapshot copies what a fake server recorded, under its lock: the race
// detector does not see the sockets order things.
func snapshot[T any](mu *sync.Mutex, s *[]T) []T {
	mu.Lock()
	defer mu.Unlock()
	return slices.Clone(*s)
}
