package rtbroadcaster_test

import (
	"testing"
	"time"

	rtb "github.com/rtbroadcaster/rtbroadcaster"
	"github.com/rtbroadcaster/rtbroadcaster/broker/redis/redistest"
)

// TestRedisEngineCountsInMetrics: a node on a Redis that restarts empty
// counts the outage, the interrupted stream of its viewer's room (1012)
// and the room it put back, in /metrics.
func TestRedisEngineCountsInMetrics(t *testing.T) {
	srv := redistest.StartServer(t, redistest.NoPersistence)
	node := startRedisNodes(t, srv.URL(), 1, 2*time.Second)[0]
	owner := dial(t, node.wsURL, nil)
	room := owner.createRoom()
	viewer := dial(t, node.wsURL, nil)
	viewer.joinRoom(room)
	const (
		outages  = "rtbroadcaster_broker_outages_total"
		gaps     = "rtbroadcaster_broker_stream_gaps_total"
		restored = "rtbroadcaster_broker_rooms_restored_total"
	)
	got := scrape(t, node.MetricsHandler())
	for _, name := range []string{outages, gaps, restored} {
		if v, ok := got[name]; !ok || v != 0 {
			t.Fatalf("%s = %v (exported: %v), want 0 before any outage", name, v, ok)
		}
	}

	srv.Kill()
	waitUntil(t, "the outage is counted", func() bool { return scrape(t, node.MetricsHandler())[outages] == 1 })
	srv.Start()
	viewer.expectClose(rtb.CloseServiceRestart)
	waitUntil(t, "the gap and the restored room are counted", func() bool {
		got = scrape(t, node.MetricsHandler())
		return got[gaps] == 1 && got[restored] == 1
	})
}
