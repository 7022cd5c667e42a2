package client_test

import (
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/rtbroadcaster/rtbroadcaster/client"
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
