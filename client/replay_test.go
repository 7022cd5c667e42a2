package client_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/rtbroadcaster/rtbroadcaster/client"
)

// strokes is how many keyed state messages the drawing room keeps, each of
// strokeBytes: about 200 KB in all, well under the server's send queue, so
// that only the proxy cuts the replay.
const (
	strokes     = 100
	strokeBytes = 2000
)

// drawingRoom creates a room whose owner keeps strokes keyed state messages
// "draw", numbered "000" to "099".
func drawingRoom(t *testing.T, url string) (owner *client.Client, room string) {
	t.Helper()
	owner, room = ownerWithRoom(t, url)
	pad := strings.Repeat("x", strokeBytes)
	for i := range strokes {
		must(t, owner.SetKeyedState(fmt.Sprintf("stroke-%03d", i), "draw", fmt.Sprintf("%03d", i), pad))
	}
	must(t, owner.Sync(testContext(t)))
	return owner, room
}

// strokeView is what a drawing viewer shows, rebuilt from its recorded
// events as an application builds it: strokes in the order applied, and a
// reset when a rejoin says a fresh replay follows.
func strokeView(events []string) []string {
	var view []string
	for _, e := range events {
		switch {
		case e == "recovered:false":
			view = nil
		case strings.HasPrefix(e, "draw:"):
			view = append(view, strings.TrimPrefix(e, "draw:"))
		}
	}
	return view
}

// TestReplayCutShortIsReplayedAgain: a viewer's connection drops a third of
// the way into its join's state replay. The reply's seq covered messages
// still to come, so the rejoin must not recover from it: the viewer gets the
// whole replay again and ends with every stroke, in order, once.
func TestReplayCutShortIsReplayedAgain(t *testing.T) {
	url := startServer(t)
	owner, room := drawingRoom(t, url)
	p, proxied := startProxy(t, url)
	p.CutAfter(strokes * strokeBytes / 3) // the handshake and reply, then about 33 strokes

	events := newRecorder()
	viewer := dial(t, proxied, events)
	viewer.Handle("draw", func(params []string) { events.add("draw:" + params[0]) })
	viewer.Handle("end", func([]string) { events.add("end") })
	_, err := viewer.Join(testContext(t), room)
	must(t, err)
	events.waitFor(t, "reconnected", 1)
	must(t, owner.Broadcast("end")) // live: it follows whatever the rejoin replays
	events.waitFor(t, "end", 1)

	got := events.snapshot()
	if slices.Contains(got, "recovered:true") || !slices.Contains(got, "recovered:false") {
		t.Errorf("events %q: the rejoin after a cut replay must report recovered:false", got)
	}
	want := make([]string, strokes)
	for i := range want {
		want[i] = fmt.Sprintf("%03d", i)
	}
	if view := strokeView(got); !slices.Equal(view, want) {
		t.Fatalf("viewer shows %d strokes %q, want all %d in order, once", len(view), view, strokes)
	}
}
