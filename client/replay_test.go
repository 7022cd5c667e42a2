package client_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/rtbroadcaster/rtbroadcaster"
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

// allStrokes is the view of a viewer that applied the whole drawing room.
func allStrokes() []string {
	want := make([]string, strokes)
	for i := range want {
		want[i] = fmt.Sprintf("%03d", i)
	}
	return want
}

// recordStrokes has the viewer's "draw" and "end" actions recorded to events.
func recordStrokes(viewer *client.Client, events *recorder) {
	viewer.Handle("draw", func(params []string) { events.add("draw:" + params[0]) })
	viewer.Handle("end", func([]string) { events.add("end") })
}

// checkWholeView fails t unless the viewer that recorded events shows every
// stroke, in order, once, and never reported a recovery.
func checkWholeView(t *testing.T, events *recorder) {
	t.Helper()
	got := events.snapshot()
	if view := strokeView(got); !slices.Equal(view, allStrokes()) {
		t.Fatalf("viewer shows %d strokes %q, want all %d in order, once", len(view), view, strokes)
	}
	if slices.Contains(got, "recovered:true") {
		t.Fatalf("events %q: a rejoin after a cut replay reported recovered:true", got)
	}
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
	recordStrokes(viewer, events)
	_, err := viewer.Join(testContext(t), room)
	must(t, err)
	events.waitFor(t, "reconnected", 1)
	must(t, owner.Broadcast("end")) // live: it follows whatever the rejoin replays
	events.waitFor(t, "end", 1)

	checkWholeView(t, events)
	if got := events.count("recovered:false"); got != 1 {
		t.Fatalf("recovered:false %d times, want 1; events %q", got, events.snapshot())
	}
}

// TestRecoveryReplayCutShortIsReplayedAgain: a viewer that missed more than
// the room's history rejoins and gets recovered:false with the state
// replay, and drops a third of the way into that replay. That reply's seq
// is no recovery point either: the next rejoin replays the state again.
func TestRecoveryReplayCutShortIsReplayedAgain(t *testing.T) {
	url := startServer(t, rtbroadcaster.WithLimits(rtbroadcaster.Limits{HistoryMessages: 5}))
	owner, room := drawingRoom(t, url)
	p, proxied := startProxy(t, url)
	events := newRecorder()
	opts := recordingOptions(events)
	down, release := holdReconnect(opts)
	viewer := dialOpts(t, proxied, opts)
	t.Cleanup(release) // before dialOpts' Close, which a held reconnect would hold
	recordStrokes(viewer, events)
	_, err := viewer.Join(testContext(t), room)
	must(t, err)
	events.waitFor(t, fmt.Sprint("replaydone:", strokes), 1)

	p.Cut()
	<-down
	for i := range 10 { // more than the history keeps
		must(t, owner.Broadcast("laser", fmt.Sprint(i)))
	}
	must(t, owner.Sync(testContext(t)))
	p.CutAfter(strokes * strokeBytes / 3)
	release()
	events.waitFor(t, "reconnected", 2)
	must(t, owner.Broadcast("end"))
	events.waitFor(t, "end", 1)

	checkWholeView(t, events)
	if got := events.count("recovered:false"); got != 2 {
		t.Fatalf("recovered:false %d times, want 2 (history too short, then a cut replay); events %q", got, events.snapshot())
	}
}
