package client_test

import (
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/rtbroadcaster/rtbroadcaster/client"
	"github.com/rtbroadcaster/rtbroadcaster/protocol"
)

// TestConflatedBroadcastToSlowViewer: a viewer behind a 10 KB/s link gets
// a fast conflated laser stream as skip markers and the latest positions,
// in order, and every plain broadcast; what was skipped is reported, adds
// up with what arrived to what was sent, and never makes it rejoin.
func TestConflatedBroadcastToSlowViewer(t *testing.T) {
	url := startServer(t)
	owner, room := ownerWithRoom(t, url)
	proxy, slowURL := startProxy(t, url)
	proxy.Throttle(10_000)
	proxy.Window(4 << 10)

	var mu sync.Mutex
	var lasers, slides []int
	var skipped uint64
	lastSkipTo := uint64(0)
	events := newRecorder()
	opts := recordingOptions(events)
	opts.Events.OnSkipped = func(from, to uint64) {
		mu.Lock()
		defer mu.Unlock()
		if from <= lastSkipTo || to < from {
			t.Errorf("skipped %d..%d after %d", from, to, lastSkipTo)
		}
		lastSkipTo = to
		skipped += to - from + 1
		events.add("skipped")
	}
	viewer, err := client.Dial(testContext(t), slowURL, opts)
	must(t, err)
	t.Cleanup(func() { _ = viewer.Close() })
	viewer.Handle("laser", func(p []string) {
		n, _ := strconv.Atoi(p[0])
		mu.Lock()
		lasers = append(lasers, n)
		mu.Unlock()
	})
	viewer.Handle("slide", func(p []string) {
		n, _ := strconv.Atoi(p[0])
		mu.Lock()
		slides = append(slides, n)
		mu.Unlock()
	})
	viewer.Handle("done", func([]string) { events.add("done") })
	_, err = viewer.Join(testContext(t), room)
	must(t, err)

	const n, slideEvery = 600, 100 // 600 positions of about 130 bytes: 8 s of the link
	pad := fmt.Sprintf("%0100d", 0)
	for i := range n {
		if i%slideEvery == 0 {
			must(t, owner.Broadcast("slide", strconv.Itoa(i/slideEvery)))
		}
		must(t, owner.BroadcastWith(client.BroadcastOptions{Conflate: true}, "laser", strconv.Itoa(i), pad))
		time.Sleep(2 * time.Millisecond)
	}
	must(t, owner.Broadcast("done"))
	events.waitFor(t, "done", 1)

	mu.Lock()
	defer mu.Unlock()
	if len(slides) != n/slideEvery {
		t.Fatalf("slides %v: want each of the %d", slides, n/slideEvery)
	}
	for i, s := range slides {
		if s != i {
			t.Fatalf("slides %v, out of order", slides)
		}
	}
	if len(lasers) == 0 || lasers[len(lasers)-1] != n-1 {
		t.Fatalf("the viewer's last laser position is not the last one sent (%d): %v", n-1, lasers)
	}
	for i := 1; i < len(lasers); i++ {
		if lasers[i] <= lasers[i-1] {
			t.Fatalf("laser positions out of order: %v", lasers)
		}
	}
	if skipped == 0 || uint64(len(lasers))+skipped != n {
		t.Fatalf("%d laser positions arrived and %d were skipped, of %d sent", len(lasers), skipped, n)
	}
	for _, e := range []string{"reconnecting", "reconnected"} {
		if events.count(e) > 0 {
			t.Fatalf("the viewer reported %q: %v", e, events.snapshot())
		}
	}
	t.Logf("%d laser positions arrived, %d skipped in %d markers", len(lasers), skipped, events.count("skipped"))
}

// TestSkipMarkerMovesRecoveryPoint: a skip marker, the last message before
// a drop, counts as received: it is reported, runs no handler, makes no
// rejoin, and the rejoin after the drop recovers from its seq.
func TestSkipMarkerMovesRecoveryPoint(t *testing.T) {
	const room = "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b"
	var mu sync.Mutex
	var joins []*protocol.Message
	f := startFakeServer(t, func(req *protocol.Message, _ bool) []*protocol.Message {
		if req.Status.Value != protocol.StatusJoin {
			return nil
		}
		mu.Lock()
		joins = append(joins, req)
		n := len(joins)
		mu.Unlock()
		reply := connected(room, req.ID)
		if n > 1 {
			recovered := true
			reply.Seq, reply.Recovered = req.Seq, &recovered
			return []*protocol.Message{reply}
		}
		reply.Seq = 5
		laser := connected(room, "")
		laser.FuncKey, laser.FuncParams, laser.Conflate, laser.Seq = "laser", []string{"1"}, true, 6
		marker := connected(room, "")
		marker.SkippedFrom, marker.Seq = 7, 9
		return []*protocol.Message{reply, laser, marker}
	})
	proxy, url := startProxy(t, f.url)
	events := newRecorder()
	opts := recordingOptions(events)
	opts.Events.OnSkipped = func(from, to uint64) { events.add(fmt.Sprintf("skipped:%d-%d", from, to)) }
	viewer, err := client.Dial(testContext(t), url, opts)
	must(t, err)
	t.Cleanup(func() { _ = viewer.Close() })
	recordActions(viewer, events)
	_, err = viewer.Join(testContext(t), room)
	must(t, err)
	events.waitFor(t, "skipped:7-9", 1)
	if events.count("laser:1") != 1 || events.count("reconnecting") != 0 {
		t.Fatalf("events %v: want the laser once and no reconnect", events.snapshot())
	}

	proxy.Cut()
	events.waitFor(t, "recovered:true", 1)
	mu.Lock()
	defer mu.Unlock()
	if len(joins) != 2 || !joins[1].HasSeq || joins[1].Seq != 9 {
		t.Fatalf("joins %+v: want a rejoin from seq 9, the marker's", joins)
	}
}
