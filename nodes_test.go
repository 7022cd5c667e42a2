package rtbroadcaster_test

import (
	"strconv"
	"testing"

	rtb "github.com/rtbroadcaster/rtbroadcaster"
	"github.com/rtbroadcaster/rtbroadcaster/broker/memory"
)

// TestNodesSharingAnEngine runs two Managers on one in-memory engine: two
// nodes of one cluster. A viewer on the other node than the owner's sees
// the same stream, replay and close as one on the owner's node.
func TestNodesSharingAnEngine(t *testing.T) {
	engine := memory.New()
	nodeA := startServer(t, rtb.WithBroker(engine))
	nodeB := startServer(t, rtb.WithBroker(engine))

	owner := dial(t, nodeA.wsURL, nil)
	room := owner.createRoom()
	owner.send(stateRequest(room, "slide", "", "1"))
	owner.settle(room) // kept before the viewers join
	local, remote := dial(t, nodeA.wsURL, nil), dial(t, nodeB.wsURL, nil)
	for _, v := range []*wsClient{local, remote} {
		if reply := v.joinRoom(room); reply.StateCount != 1 || reply.Seq != 1 {
			t.Fatalf("join reply %+v", reply)
		}
		if m := v.next(); m.FuncKey != "slide" || m.Seq != 1 {
			t.Fatalf("replay %+v", m)
		}
	}
	waitViewers(t, owner, 2) // counted across both nodes
	for i := range 100 {
		owner.send(request(3, room, "n", strconv.Itoa(i)))
	}
	for _, v := range []*wsClient{local, remote} {
		if err := expectSequence(v, "n", 100); err != nil {
			t.Fatal(err)
		}
	}
	remote.send(request(3, room, "n"))
	remote.nextError(rtb.CodeNotOwner)

	owner.send(request(4, room, ""))
	for _, v := range []*wsClient{local, remote} {
		if m := v.next(); m.Status.Value != 0 || m.Seq != 102 {
			t.Fatalf("close notice %+v", m)
		}
		v.expectClose(1000)
	}
	late := dial(t, nodeB.wsURL, nil)
	late.send(request(2, room, ""))
	late.nextError(rtb.CodeRoomNotFound)
	if s := nodeB.Stats(); s.Rooms != 0 {
		t.Fatalf("node B still has %d rooms", s.Rooms)
	}
}
