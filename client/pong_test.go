package client_test

import (
	"strings"
	"testing"
	"time"

	"github.com/rtbroadcaster/rtbroadcaster"
)

// TestMissedPongReconnects: a client that freezes past the pong timeout (a
// suspended tab: its machine still receives, but nothing it sends gets out)
// is dropped by the server, and comes back when it thaws: a viewer recovers
// what it missed, an owner resumes its room, and the room goes on. Whatever
// the server sends as it drops them reaches them at once: a close 1000
// would tell them that their room closed.
func TestMissedPongReconnects(t *testing.T) {
	url := startServer(t, rtbroadcaster.WithLimits(rtbroadcaster.Limits{PingInterval: 200 * time.Millisecond, PongTimeout: 300 * time.Millisecond}))
	ownerProxy, ownerURL := startProxy(t, url)
	viewerProxy, viewerURL := startProxy(t, url)
	ownerEvents := newRecorder()
	owner := dialOpts(t, ownerURL, recordingOptions(ownerEvents))
	room, err := owner.Create(testContext(t))
	must(t, err)
	must(t, owner.SetState("slide", "1"))
	viewerEvents := newRecorder()
	viewer := dialOpts(t, viewerURL, recordingOptions(viewerEvents))
	recordActions(viewer, viewerEvents)
	_, err = viewer.Join(testContext(t), room)
	must(t, err)
	viewerEvents.waitFor(t, "slide:1", 1)
	observer, _ := joinRaw(t, url, room) // on no proxy: sees the room as it goes on
	observer.expect(t, 1, "slide:1")
	ownerEvents.waitFor(t, "viewers:2", 1)
	alone := ownerEvents.count("viewers:1") + 1 // the next report of the observer alone

	// The viewer freezes: the server drops it, and it misses a broadcast.
	// (A full Pause, a dead network, would hold what the server sends too.)
	viewerProxy.PauseUpstream()
	ownerEvents.waitFor(t, "viewers:1", alone) // the viewer was dropped
	must(t, owner.Broadcast("step", "1"))
	observer.expect(t, 2, "step:1")
	viewerProxy.Resume()
	viewerEvents.waitFor(t, "recovered:true", 1)
	viewerEvents.waitFor(t, "step:1", 1)

	// The owner freezes: the server drops it, and it takes its room back.
	ownerProxy.PauseUpstream()
	observer.expect(t, 3, "owner:away")
	ownerProxy.Resume()
	ownerEvents.waitFor(t, "resumed:0", 1)
	observer.expect(t, 4, "owner:back")
	must(t, owner.Broadcast("step", "2"))
	observer.expect(t, 5, "step:2")
	viewerEvents.waitFor(t, "step:2", 1)

	for _, events := range []*recorder{ownerEvents, viewerEvents} {
		for _, e := range events.snapshot() {
			if strings.HasPrefix(e, "roomclosed:") {
				t.Fatalf("the room was reported closed (%s); events %q", e, events.snapshot())
			}
		}
	}
	if !owner.IsOwner() || owner.Room() != room || viewer.Room() != room {
		t.Fatalf("owner of %q: %v; viewer in %q; want both in %q", owner.Room(), owner.IsOwner(), viewer.Room(), room)
	}
}
