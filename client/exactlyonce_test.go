package client_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lxzan/gws"
	"github.com/rtbroadcaster/rtbroadcaster"
	"github.com/rtbroadcaster/rtbroadcaster/broker/redis"
	"github.com/rtbroadcaster/rtbroadcaster/broker/redis/redistest"
	"github.com/rtbroadcaster/rtbroadcaster/client"
)

// burst is how many numbered broadcasts the owner sends; the connection is
// cut when half of them are sent.
const burst = 10_000

// TestExactlyOnceThroughACut: an owner behind a proxy that cuts its
// connection in the middle of a burst of numbered broadcasts resumes by
// itself, and every viewer gets each message exactly once, in order. On
// Redis the owner comes back through another node (PROTOCOL.md, Exactly
// once from the owner).
func TestExactlyOnceThroughACut(t *testing.T) {
	t.Run("memory", func(t *testing.T) {
		u := startServer(t, rtbroadcaster.WithOwnerGrace(30*time.Second))
		burstThroughCut(t, u, u)
	})
	t.Run("redis", func(t *testing.T) {
		redisURL := redistest.URL(t)
		opts := redis.Options{KeyPrefix: redistest.Prefix(t, redisURL), LeaseTTL: 2 * time.Second,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
		nodes := make([]string, 2)
		for i := range nodes {
			nodes[i] = startServer(t, rtbroadcaster.WithBroker(redistest.Engine(t, redisURL, opts)), rtbroadcaster.WithOwnerGrace(30*time.Second))
		}
		burstThroughCut(t, nodes[0], nodes[1])
	})
}

// burstThroughCut runs the burst from an owner on ownerURL, through a proxy
// that sends it to resumeURL once it cuts it, with one viewer on each URL.
func burstThroughCut(t *testing.T, ownerURL, resumeURL string) {
	proxy, proxied := startProxy(t, ownerURL)
	events := newRecorder()
	opts := recordingOptions(events)
	opts.OfflineQueue = burst
	owner := dialOpts(t, proxied, opts)
	room, err := owner.Create(testContext(t))
	must(t, err)
	collected := []chan []int{collect(t, ownerURL, room), collect(t, resumeURL, room)}

	target, err := url.Parse(resumeURL)
	must(t, err)
	full := 0
	for i := 1; i <= burst; i++ {
		for {
			err := owner.Broadcast("n", strconv.Itoa(i))
			if errors.Is(err, client.ErrUnackedFull) {
				full++
				time.Sleep(time.Millisecond)
				continue
			}
			must(t, err)
			break
		}
		if i == burst/2 {
			proxy.Retarget(target.Host)
			proxy.Cut()
		}
	}
	for v, ch := range collected {
		got := <-ch
		if len(got) > 0 && got[0] != 1 {
			t.Fatalf("viewer %d: the first message is n=%d, want 1", v, got[0])
		}
		if len(got) != burst {
			last := 0
			if len(got) > 0 {
				last = got[len(got)-1]
			}
			t.Fatalf("viewer %d got %d messages, the last n=%d, want %d", v, len(got), last, burst)
		}
		for i, n := range got {
			if n != i+1 {
				t.Fatalf("viewer %d: message %d is n=%d, want %d: lost, repeated or out of order (got ...%v...)", v, i, n, i+1, got[max(i-3, 0):min(i+3, len(got))])
			}
		}
	}
	if !strings.Contains(resumedEvent(events), "resent:") || !strings.Contains(resumedEvent(events), "resumed:") {
		t.Fatalf("the owner did not report its resume; events: %v", events.snapshot())
	}
	t.Logf("every viewer got %d messages exactly once, in order; %s; %d calls found the unacknowledged bound full", burst, resumedEvent(events), full)
}

// resumedEvent is the owner's resent:N and resumed:N events: how many
// messages it sent again once it was back, and how many it held meanwhile.
func resumedEvent(r *recorder) string {
	var got []string
	for _, e := range r.snapshot() {
		if strings.HasPrefix(e, "resumed:") || strings.HasPrefix(e, "resent:") {
			got = append(got, e)
		}
	}
	if len(got) == 0 {
		return "no resumed event"
	}
	return strings.Join(got, " ")
}

// collect joins room on u as a raw viewer and reads its "n" broadcasts, in
// order, on a goroutine of its own: the burst until it is complete, then
// anything more that comes within half a second (a message delivered
// twice). The channel gets what it read.
func collect(t *testing.T, u, room string) chan []int {
	t.Helper()
	v := &countingViewer{frames: make(chan []byte, 256)}
	conn, _, err := gws.NewClient(v, &gws.ClientOption{Addr: u})
	must(t, err)
	read := make(chan struct{})
	go func() { conn.ReadLoop(); close(read) }()
	t.Cleanup(func() { _ = conn.NetConn().Close(); <-read })
	join := &rtbroadcaster.Message{UUID: room, Status: rtbroadcaster.Status{Value: rtbroadcaster.StatusJoin, Text: "join connection"}}
	must(t, conn.WriteMessage(gws.OpcodeText, join.Encode()))
	select { // the join reply: the viewer is in the room's stream
	case f := <-v.frames:
		var m rtbroadcaster.Message
		if json.Unmarshal(f, &m) != nil || m.Error != nil || m.UUID != room {
			t.Fatalf("join on %s: got %s", u, f)
		}
	case <-time.After(waitFor):
		t.Fatalf("join on %s: no reply", u)
	}
	out := make(chan []int, 1)
	stop := make(chan struct{})
	collected := make(chan struct{})
	t.Cleanup(func() { close(stop); <-collected })
	go func() {
		defer close(collected)
		var got []int
		linger := time.After(2 * time.Minute)
		for {
			select {
			case f := <-v.frames:
				var m rtbroadcaster.Message
				if json.Unmarshal(f, &m) == nil && m.FuncKey == "closed" {
					got = append(got, -len(got)) // marks where it ended, for the failure message
					t.Logf("viewer on %s: connection ended after %d messages: %s", u, len(got)-1, m.FuncParams[0])
				}
				if json.Unmarshal(f, &m) != nil || m.FuncKey != "n" || len(m.FuncParams) != 1 {
					continue
				}
				n, _ := strconv.Atoi(m.FuncParams[0])
				got = append(got, n)
				if len(got) == burst {
					linger = time.After(500 * time.Millisecond)
				}
			case <-linger:
				out <- got
				return
			case <-stop:
				return
			}
		}
	}()
	return out
}

// countingViewer hands every frame it receives to a reader goroutine.
type countingViewer struct {
	gws.BuiltinEventHandler
	frames chan []byte
}

func (v *countingViewer) OnClose(_ *gws.Conn, err error) {
	v.frames <- []byte(`{"funcKey":"closed","funcParams":["` + strings.ReplaceAll(err.Error(), `"`, "'") + `"]}`)
}

func (v *countingViewer) OnMessage(_ *gws.Conn, msg *gws.Message) {
	defer msg.Close()
	v.frames <- append([]byte(nil), msg.Bytes()...)
}

// TestExactlyOnceThroughRateLimits: a server that refuses an owner's
// messages as rate_limited makes the numbers after each refusal gaps; the
// client sends its unacknowledged messages again by itself, and the viewer
// gets each message once, in order, with no gap reported to the
// application.
func TestExactlyOnceThroughRateLimits(t *testing.T) {
	// A window smaller than the burst makes calls wait for acknowledgements
	// while refused messages wait to be sent again.
	for _, window := range []int{600, 120} {
		t.Run(fmt.Sprint("window ", window), func(t *testing.T) { rateLimitedBurst(t, window) })
	}
}

func rateLimitedBurst(t *testing.T, window int) {
	const n = 600
	u := startServer(t, rtbroadcaster.WithLimits(rtbroadcaster.Limits{MessagesPerSecond: 1000, MessageBurst: 50, RateLimitStrikes: 1 << 30}))
	events := newRecorder()
	opts := recordingOptions(events)
	opts.OfflineQueue = window
	owner := dialOpts(t, u, opts)
	room, err := owner.Create(testContext(t))
	must(t, err)
	viewer := dial(t, u, newRecorder())
	var mu sync.Mutex
	var got []int
	viewer.Handle("n", func(p []string) {
		v, _ := strconv.Atoi(p[0])
		mu.Lock()
		got = append(got, v)
		mu.Unlock()
	})
	_, err = viewer.Join(testContext(t), room)
	must(t, err)
	for i := 1; i <= n; i++ {
		must(t, owner.Broadcast("n", strconv.Itoa(i)))
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		done := len(got) >= n
		mu.Unlock()
		if done || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // a message delivered twice would come now
	mu.Lock()
	defer mu.Unlock()
	if len(got) != n {
		t.Fatalf("viewer got %d messages, want %d", len(got), n)
	}
	for i, v := range got {
		if v != i+1 {
			t.Fatalf("message %d is n=%d, want %d", i, v, i+1)
		}
	}
	if events.count("error:rate_limited") == 0 {
		t.Fatalf("no rate_limited refusal: the test did not test the resend; events %v", events.snapshot())
	}
	if events.count("error:pub_seq_gap") != 0 {
		t.Fatalf("a gap was reported to the application; the client fills gaps itself")
	}
	t.Logf("%d rate_limited refusals; the viewer got %d messages exactly once, in order", events.count("error:rate_limited"), n)
}
