package rtbroadcaster_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	rtb "github.com/rtbroadcaster/rtbroadcaster"
	"github.com/rtbroadcaster/rtbroadcaster/broker/redis"
	"github.com/rtbroadcaster/rtbroadcaster/broker/redis/redistest"
	"github.com/rtbroadcaster/rtbroadcaster/internal/netproxy"
)

// readerPace is the pace of the slow link in the replay tests: a viewer that
// reads this fast must get any state the limits allow.
const readerPace = 1 << 20 // bytes per second

// keptEntry is a state message a test's owner sent and expects to be replayed.
type keptEntry struct{ stateKey, param string }

// fillState has owner keep state messages in room until their encoded size
// is within a big entry of the default 8 MiB bound: a few 60 KB entries and
// many small ones. It proves the room is full by a last big entry that is
// refused with state_full, and returns what the room keeps, oldest first.
func fillState(t *testing.T, owner *wsClient, room string) []keptEntry {
	t.Helper()
	const bound, big, small, bigEntries = 8 << 20, 60_000, 700, 25
	var kept []keptEntry
	size := 0
	keep := func(param string) {
		e := keptEntry{fmt.Sprintf("k%d", len(kept)), param}
		msg := stateRequest(room, "draw", e.stateKey, e.param)
		owner.send(msg)
		kept = append(kept, e)
		size += len(msg.Encode()) // what the server keeps is as long, give or take its fields' order
	}
	for i := range bigEntries {
		keep(strings.Repeat(string(rune('a'+i)), big))
		for range 300 {
			keep(fmt.Sprintf("%0*d", small, len(kept)))
		}
	}
	for size < bound-2*big {
		keep(fmt.Sprintf("%0*d", small, len(kept)))
	}
	owner.send(stateRequest(room, "draw", "one-too-many", strings.Repeat("z", big)))
	owner.nextError(rtb.CodeStateFull)
	return kept
}

// expectReplay reads the state replay a join or resume reply announced and
// checks it holds kept, in order, exactly.
func expectReplay(t *testing.T, c *wsClient, reply *rtb.Message, kept []keptEntry) {
	t.Helper()
	if reply.StateCount != len(kept) {
		t.Fatalf("reply announces %d state messages, want %d", reply.StateCount, len(kept))
	}
	var last uint64
	for i, want := range kept {
		m := c.nextAction()
		if m.StateKey != want.stateKey || len(m.FuncParams) != 1 || m.FuncParams[0] != want.param {
			t.Fatalf("replayed message %d: stateKey %q, %d params; want %q", i, m.StateKey, len(m.FuncParams), want.stateKey)
		}
		if m.Seq <= last {
			t.Fatalf("replayed message %d has seq %d after %d", i, m.Seq, last)
		}
		last = m.Seq
	}
}

// TestLargeReplayOverSlowLink: a room that keeps as much state as the
// default limits allow, eight times the send queue, replays all of it to a
// viewer that reads at 1 MB/s, then goes on live; and to its owner resuming
// over the same link.
func TestLargeReplayOverSlowLink(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: skipped under -short; ./scripts/test.sh runs it")
	}
	engines := map[string]func(*testing.T) []rtb.Option{
		"memory": func(*testing.T) []rtb.Option { return nil },
		"redis": func(t *testing.T) []rtb.Option {
			redisURL := redistest.URL(t)
			opts := redis.Options{KeyPrefix: redistest.Prefix(t, redisURL), Logger: quietLogger()}
			return []rtb.Option{rtb.WithBroker(redistest.Engine(t, redisURL, opts))}
		},
	}
	for name, engine := range engines {
		t.Run(name, func(t *testing.T) {
			t.Parallel() // the time goes in the slow link
			srv := startServer(t, engine(t)...)
			owner := dial(t, srv.wsURL, nil)
			room, key := owner.createOwned()
			kept := fillState(t, owner, room)
			slow := slowLink(t, srv.wsURL)

			viewer := dial(t, slow, nil)
			expectReplay(t, viewer, viewer.joinRoom(room), kept)
			owner.send(request(rtb.StatusConnected, room, "live", "after the replay"))
			if m := viewer.nextAction(); m.FuncKey != "live" {
				t.Fatalf("after the replay got %+v, want the live broadcast", m)
			}

			_ = owner.conn.NetConn().Close()
			resumed := dial(t, slow, nil)
			reply := resumed.resume(room, key)
			if reply.Error != nil || reply.Owner != "back" {
				t.Fatalf("resume: got %+v", reply)
			}
			expectReplay(t, resumed, reply, kept)
			if got := srv.Stats().SlowConsumers; got != 0 {
				t.Fatalf("%d connections were cut as slow consumers", got)
			}
		})
	}
}

// TestViewerStuckInReplayIsCut: a viewer that stops reading during a replay
// is cut as a slow consumer once a write has waited for the write timeout,
// however small the send queue the replay passes by.
func TestViewerStuckInReplayIsCut(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: skipped under -short; ./scripts/test.sh runs it")
	}
	const writeTimeout = time.Second
	srv := startServer(t, rtb.WithLimits(rtb.Limits{MaxStateBytes: 32 << 20, WriteTimeout: writeTimeout}))
	owner := dial(t, srv.wsURL, nil)
	room := owner.createRoom()
	// 24 MB: more than the loopback buffers hold (see dialNeverReads).
	for i := range 400 {
		owner.send(stateRequest(room, "draw", fmt.Sprint(i), strings.Repeat("x", 60_000)))
	}
	owner.settle(room)

	stuck := dialNeverReads(t, srv.wsURL, room)
	waitUntil(t, "a viewer stuck in a 24 MB replay is cut", func() bool { return srv.Stats().SlowConsumers > 0 })
	_ = stuck.Close()
	waitViewers(t, owner, 0)
}

// slowLink returns wsURL through a proxy that carries readerPace bytes per
// second from the server.
func slowLink(t *testing.T, wsURL string) string {
	t.Helper()
	target := strings.TrimPrefix(strings.SplitN(wsURL, "/broadcast", 2)[0], "ws://")
	p, err := netproxy.Start(target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	p.Throttle(readerPace)
	return p.URL(wsURL)
}
