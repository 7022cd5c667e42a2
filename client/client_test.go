package client_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lxzan/gws"
	"github.com/rtbroadcaster/rtbroadcaster"
	"github.com/rtbroadcaster/rtbroadcaster/client"
)

// recordingOptions returns options whose callbacks all report to r, with
// quick reconnects.
func recordingOptions(r *recorder) *client.Options {
	return &client.Options{
		Reconnect: client.ReconnectPolicy{InitialDelay: 20 * time.Millisecond, MaxDelay: 100 * time.Millisecond},
		Events: client.Events{
			OnViewers:      func(n int) { r.add(fmt.Sprint("viewers:", n)) },
			OnReplayDone:   func(n int) { r.add(fmt.Sprint("replaydone:", n)) },
			OnStateCleared: func(funcKey string) { r.add("cleared:" + funcKey) },
			OnRoomClosed:   func(reason client.CloseReason) { r.add("roomclosed:" + string(reason)) },
			OnReconnecting: func(int, time.Duration, error) { r.add("reconnecting") },
			OnReconnected:  func() { r.add("reconnected") },
			OnRecovered:    func(ok bool) { r.add(fmt.Sprint("recovered:", ok)) },
			OnOwnerAway:    func(time.Duration) { r.add("owneraway") },
			OnOwnerBack:    func() { r.add("ownerback") },
			OnResumed:      func(queued int) { r.add(fmt.Sprint("resumed:", queued)) },
			OnResent:       func(resent int) { r.add(fmt.Sprint("resent:", resent)) },
			OnError: func(err error) {
				var dropped *client.QueueDroppedError
				var e *rtbroadcaster.Error
				switch {
				case errors.As(err, &dropped):
					r.add(fmt.Sprint("dropped:", dropped.Dropped))
				case errors.As(err, &e):
					r.add("error:" + string(e.Code))
				}
			},
		},
	}
}

// dial connects a client recording to r; it is closed when the test ends.
func dial(t *testing.T, url string, r *recorder) *client.Client {
	t.Helper()
	c, err := client.Dial(testContext(t), url, recordingOptions(r))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// recordActions has every action c receives reported to r as "funcKey:params".
func recordActions(c *client.Client, r *recorder) {
	c.HandleDefault(func(funcKey string, params []string) { r.add(funcKey + ":" + strings.Join(params, ",")) })
}

// ownerWithRoom dials an owner, recording to a recorder of its own, and
// creates a room with it.
func ownerWithRoom(t *testing.T, url string) (owner *client.Client, room string) {
	t.Helper()
	owner = dial(t, url, newRecorder())
	room, err := owner.Create(testContext(t))
	must(t, err)
	return owner, room
}

// joinViewer dials a viewer that reports its events and the actions it
// receives to one new recorder, and joins room with it.
func joinViewer(t *testing.T, url, room string) (*client.Client, *recorder) {
	t.Helper()
	events := newRecorder()
	viewer := dial(t, url, events)
	recordActions(viewer, events)
	_, err := viewer.Join(testContext(t), room)
	must(t, err)
	return viewer, events
}

func TestBroadcastReachesViewerInOrder(t *testing.T) {
	url := startServer(t)
	ownerEvents, viewerEvents := newRecorder(), newRecorder()
	owner, viewer := dial(t, url, ownerEvents), dial(t, url, viewerEvents)
	ctx := testContext(t)

	room, err := owner.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !owner.IsOwner() || owner.Room() != room {
		t.Fatalf("after Create: IsOwner %v, Room %q; want true, %q", owner.IsOwner(), owner.Room(), room)
	}
	var got []string
	viewer.Handle("step", func(params []string) { got = append(got, params[0]); viewerEvents.add("step") })
	reply, err := viewer.Join(ctx, room)
	if err != nil {
		t.Fatal(err)
	}
	if reply.Room != room || reply.StateCount != 0 {
		t.Fatalf("join reply %+v, want room %q and no state", reply, room)
	}
	viewerEvents.waitFor(t, "replaydone:0", 1)
	ownerEvents.waitFor(t, "viewers:1", 1)

	const n = 500
	for i := range n {
		if err := owner.Broadcast("step", fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
	viewerEvents.waitFor(t, "step", n)
	for i, p := range got {
		if p != fmt.Sprint(i) {
			t.Fatalf("action %d carried %q: out of order", i, p)
		}
	}
	if err := owner.Sync(ctx); err != nil {
		t.Fatalf("Sync after good broadcasts: %v", err)
	}
}

func TestJoinReplaysState(t *testing.T) {
	url := startServer(t)
	ctx := testContext(t)
	owner, room := ownerWithRoom(t, url)
	must(t, owner.SetState("goToSlide", "3"))
	must(t, owner.SetKeyedState("stroke-1", "draw", "a"))
	must(t, owner.SetKeyedState("stroke-2", "draw", "b"))
	must(t, owner.SetState("goToSlide", "4")) // replaces slide 3 and moves to the end
	must(t, owner.Broadcast("laser", "1", "2"))
	must(t, owner.Sync(ctx))

	events := newRecorder()
	viewer := dial(t, url, events)
	recordActions(viewer, events)
	reply, err := viewer.Join(ctx, room)
	if err != nil {
		t.Fatal(err)
	}
	if reply.StateCount != 3 {
		t.Fatalf("StateCount %d, want 3", reply.StateCount)
	}
	events.waitFor(t, "replaydone:3", 1)
	want := []string{"draw:a", "draw:b", "goToSlide:4", "replaydone:3"}
	if got := events.snapshot(); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("viewer saw %q, want %q", got, want)
	}
}

// TestResetState: ResetState empties the room's kept state; a viewer in the
// room hears OnStateCleared before the action, and a later one replays only
// what followed.
func TestResetState(t *testing.T) {
	url := startServer(t)
	ctx := testContext(t)
	owner, room := ownerWithRoom(t, url)
	_, events := joinViewer(t, url, room)
	must(t, owner.SetKeyedState("stroke-1", "draw", "a"))
	must(t, owner.ResetState("goToSlide", "1"))
	must(t, owner.SetKeyedState("stroke-2", "draw", "b"))
	must(t, owner.Sync(ctx))
	events.waitFor(t, "draw:b", 1)
	want := []string{"replaydone:0", "draw:a", "cleared:goToSlide", "goToSlide:1", "draw:b"}
	if got := events.snapshot(); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("viewer saw %q, want %q", got, want)
	}

	late := newRecorder()
	lateViewer := dial(t, url, late)
	recordActions(lateViewer, late)
	if reply, err := lateViewer.Join(ctx, room); err != nil || reply.StateCount != 2 {
		t.Fatalf("late join: %+v, %v; want the 2 actions kept since the reset", reply, err)
	}
	late.waitFor(t, "replaydone:2", 1)
	want = []string{"cleared:goToSlide", "goToSlide:1", "draw:b", "replaydone:2"}
	if got := late.snapshot(); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("late viewer saw %q, want %q", got, want)
	}
}

func TestRefusalsAreErrors(t *testing.T) {
	url := startServer(t)
	ctx := testContext(t)
	owner, room := ownerWithRoom(t, url)
	viewer, _ := joinViewer(t, url, room)
	idle := dial(t, url, newRecorder())

	tests := []struct {
		name string
		call func() error
		want rtbroadcaster.ErrorCode
	}{
		{"join unknown room", func() error { _, err := idle.Join(ctx, "0b8e0000-0000-4000-8000-000000000000"); return err }, rtbroadcaster.CodeRoomNotFound},
		{"create twice", func() error { _, err := owner.Create(ctx); return err }, rtbroadcaster.CodeAlreadyInRoom},
		{"join from an owner", func() error { _, err := owner.Join(ctx, room); return err }, rtbroadcaster.CodeAlreadyInRoom},
		{"close from no room", func() error { return idle.CloseRoom(ctx) }, rtbroadcaster.CodeNotInRoom},
		{"close from a viewer", func() error { return viewer.CloseRoom(ctx) }, rtbroadcaster.CodeNotOwner},
		{"broadcast from a viewer", func() error { return viewer.Broadcast("x") }, rtbroadcaster.CodeNotOwner},
		{"broadcast from no room", func() error { return idle.Broadcast("x") }, rtbroadcaster.CodeNotInRoom},
		{"broadcast without funcKey", func() error { return owner.Broadcast("") }, rtbroadcaster.CodeBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e *rtbroadcaster.Error
			if err := tt.call(); !errors.As(err, &e) || e.Code != tt.want {
				t.Fatalf("got %v, want a *rtbroadcaster.Error with code %s", err, tt.want)
			}
		})
	}
}

func TestStateFullGoesToOnErrorAndSync(t *testing.T) {
	url := startServer(t, rtbroadcaster.WithLimits(rtbroadcaster.Limits{MaxStateMessages: 1}))
	ctx := testContext(t)
	events := newRecorder()
	owner := dial(t, url, events)
	_, err := owner.Create(ctx)
	must(t, err)
	must(t, owner.SetKeyedState("a", "draw"))
	must(t, owner.SetKeyedState("b", "draw")) // refused: the room keeps one

	var e *rtbroadcaster.Error
	if err := owner.Sync(ctx); !errors.As(err, &e) || e.Code != rtbroadcaster.CodeStateFull {
		t.Fatalf("Sync returned %v, want state_full", err)
	}
	events.waitFor(t, "error:state_full", 1)
	if err := owner.Sync(ctx); err != nil {
		t.Fatalf("second Sync returned %v; the refusal was already reported", err)
	}
	// A request after a refused send gets its own reply, not the refusal.
	must(t, owner.SetKeyedState("c", "draw"))
	if err := owner.CloseRoom(ctx); err != nil {
		t.Fatalf("CloseRoom after a refused send: %v", err)
	}
	events.waitFor(t, "error:state_full", 2)
}

func TestClosedRoomStopsViewer(t *testing.T) {
	url := startServer(t)
	ctx := testContext(t)
	owner, room := ownerWithRoom(t, url)
	viewer, events := joinViewer(t, url, room)

	must(t, owner.CloseRoom(ctx))
	select {
	case <-viewer.Done():
	case <-time.After(waitFor):
		t.Fatal("viewer still running after its room closed")
	}
	if !errors.Is(viewer.Err(), client.ErrRoomClosed) {
		t.Fatalf("viewer Err %v, want ErrRoomClosed", viewer.Err())
	}
	if got := events.snapshot(); strings.Join(got, " ") != "replaydone:0 roomclosed:closed" {
		t.Fatalf("viewer events %q, want a replay, the close, and no reconnect", got)
	}
	if owner.Room() != "" || owner.IsOwner() {
		t.Fatal("owner still in a room after CloseRoom")
	}
	if _, err := owner.Create(ctx); err != nil {
		t.Fatalf("owner's connection cannot create again: %v", err)
	}
}

func TestViewerReconnectsAndRejoins(t *testing.T) {
	url := startServer(t)
	ctx := testContext(t)
	owner, room := ownerWithRoom(t, url)
	must(t, owner.SetState("goToSlide", "7"))
	must(t, owner.Sync(ctx))

	p, proxied := startProxy(t, url)
	events := newRecorder()
	viewer := dial(t, proxied, events)
	recordActions(viewer, events)
	_, err := viewer.Join(ctx, room)
	must(t, err)
	events.waitFor(t, "replaydone:1", 1)

	p.Cut()
	for i := range 5 { // while the viewer is away, or just back: it gets each once either way
		must(t, owner.Broadcast("laser", fmt.Sprint(i)))
	}
	events.waitFor(t, "reconnected", 1)
	must(t, owner.Broadcast("laser", "9"))
	events.waitFor(t, "laser:9", 1)
	if events.count("reconnecting") < 1 || events.count("recovered:true") != 1 || events.count("goToSlide:7") != 1 {
		t.Fatalf("events %q: want reconnecting, recovered, the state once", events.snapshot())
	}
	for i := range 5 {
		if n := events.count(fmt.Sprint("laser:", i)); n != 1 {
			t.Fatalf("laser:%d received %d times; events %q", i, n, events.snapshot())
		}
	}
	if viewer.Room() != room {
		t.Fatalf("viewer in room %q after rejoin, want %q", viewer.Room(), room)
	}
}

func TestRejoinOfAGoneRoomStops(t *testing.T) {
	url := startServer(t, rtbroadcaster.WithOwnerGrace(0)) // the room ends with its owner's connection
	ctx := testContext(t)
	owner, room := ownerWithRoom(t, url)
	p, proxied := startProxy(t, url)
	events := newRecorder()
	events.add("start")
	opts := recordingOptions(events)
	closeRoomFirst := opts.Events.OnReconnecting
	opts.Events.OnReconnecting = func(attempt int, delay time.Duration, cause error) {
		closeRoomFirst(attempt, delay, cause)
		_ = owner.Close() // the room is gone before the viewer comes back
	}
	viewer, err := client.Dial(ctx, proxied, opts)
	must(t, err)
	defer viewer.Close()
	_, err = viewer.Join(ctx, room)
	must(t, err)

	p.Cut()
	select {
	case <-viewer.Done():
	case <-time.After(waitFor):
		t.Fatalf("viewer still running; events %q", events.snapshot())
	}
	if !errors.Is(viewer.Err(), client.ErrRoomClosed) || events.count("roomclosed:room_not_found") != 1 {
		t.Fatalf("Err %v, events %q; want ErrRoomClosed after roomclosed:room_not_found", viewer.Err(), events.snapshot())
	}
}

func TestOwnerLosesItsRoomWithItsConnection(t *testing.T) {
	url := startServer(t, rtbroadcaster.WithOwnerGrace(0)) // the room ends with its owner's connection
	ctx := testContext(t)
	p, proxied := startProxy(t, url)
	events := newRecorder()
	owner := dial(t, proxied, events)
	room, err := owner.Create(ctx)
	must(t, err)
	_, viewerEvents := joinViewer(t, url, room)

	p.Cut()
	events.waitFor(t, "reconnected", 1)
	if events.count("roomclosed:connection_lost") != 1 {
		t.Fatalf("owner events %q, want roomclosed:connection_lost", events.snapshot())
	}
	viewerEvents.waitFor(t, "roomclosed:closed", 1)
	var e *rtbroadcaster.Error
	if err := owner.Broadcast("x"); !errors.As(err, &e) || e.Code != rtbroadcaster.CodeNotInRoom {
		t.Fatalf("Broadcast after losing the room: %v, want not_in_room", err)
	}
	again, err := owner.Create(ctx)
	must(t, err)
	if again == room {
		t.Fatal("a new room has the old id")
	}
}

func TestReconnectDisabledStops(t *testing.T) {
	url := startServer(t)
	p, proxied := startProxy(t, url)
	events := newRecorder()
	opts := recordingOptions(events)
	opts.Reconnect.Disabled = true
	c, err := client.Dial(testContext(t), proxied, opts)
	must(t, err)
	defer c.Close()
	p.Cut()
	select {
	case <-c.Done():
	case <-time.After(waitFor):
		t.Fatal("client still running after a drop with reconnect disabled")
	}
	if c.Err() == nil || events.count("reconnecting") != 0 {
		t.Fatalf("Err %v, events %q: want an error and no reconnect", c.Err(), events.snapshot())
	}
	if err := c.Broadcast("x"); !errors.Is(err, client.ErrNotConnected) {
		t.Fatalf("Broadcast on a stopped client: %v, want ErrNotConnected", err)
	}
}

func TestGivesUpAfterMaxAttempts(t *testing.T) {
	url := startServer(t)
	p, proxied := startProxy(t, url)
	opts := recordingOptions(newRecorder())
	opts.Reconnect.MaxAttempts = 2
	c, err := client.Dial(testContext(t), proxied, opts)
	must(t, err)
	defer c.Close()
	p.Close() // cuts the connection, and leaves nothing to reconnect to
	select {
	case <-c.Done():
	case <-time.After(waitFor):
		t.Fatal("client still trying")
	}
	if !errors.Is(c.Err(), client.ErrGaveUp) {
		t.Fatalf("Err %v, want ErrGaveUp", c.Err())
	}
	if _, err := c.Create(testContext(t)); !errors.Is(err, client.ErrGaveUp) {
		t.Fatalf("Create on a stopped client: %v, want its Err", err)
	}
}

// TestOriginRefused: the server closes a connection from an origin it does
// not allow at once, with 4403; the client stops with a RefusedError, tells
// the request waiting, and does not try again: it would be refused forever.
func TestOriginRefused(t *testing.T) {
	url := startServer(t)
	for name, opts := range map[string]client.Options{
		"Origin":        {Origin: "https://elsewhere.example"},
		"Origin header": {Header: http.Header{"Origin": {"https://elsewhere.example"}}},
	} {
		t.Run(name, func(t *testing.T) {
			events := newRecorder()
			o := recordingOptions(events)
			o.Origin, o.Header = opts.Origin, opts.Header
			c, err := client.Dial(testContext(t), url, o)
			must(t, err)
			defer c.Close()
			_, err = c.Create(testContext(t))
			var refused *client.RefusedError
			if !errors.As(err, &refused) || refused.Code != rtbroadcaster.CloseOriginRefused || refused.Reason != "origin not allowed" || refused.Retryable() {
				t.Fatalf("Create: %v, want a final RefusedError 4403", err)
			}
			<-c.Done()
			if !errors.As(c.Err(), &refused) || events.count("reconnecting") != 0 {
				t.Fatalf("Err %v after %q: want the refusal, and no reconnect", c.Err(), events.snapshot())
			}
		})
	}
}

// TestConnectionRateRefusalIsRetried: a connection refused for its
// address's connection rate (4429) is tried again after the delay the
// server names, and gets in.
func TestConnectionRateRefusalIsRetried(t *testing.T) {
	url := startServer(t, rtbroadcaster.WithLimits(rtbroadcaster.Limits{ConnectionsPerSecondPerIP: 2, ConnectionBurstPerIP: 1}))
	dial(t, url, newRecorder()) // takes the burst
	delays := make(chan time.Duration, 4)
	events := newRecorder()
	o := recordingOptions(events)
	o.Events.OnReconnecting = func(_ int, delay time.Duration, _ error) { delays <- delay }
	c, err := client.Dial(testContext(t), url, o)
	must(t, err)
	defer c.Close()
	if d := <-delays; d != time.Second {
		t.Fatalf("reconnecting after %v, want the server's 1s", d)
	}
	events.waitFor(t, "reconnected", 1)
	if _, err := c.Create(testContext(t)); err != nil {
		t.Fatalf("Create after the retry: %v", err)
	}
}

func TestDialFailures(t *testing.T) {
	url := startServer(t)
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name string
		run  func() error
		want string
	}{
		{"canceled context", func() error { _, err := client.Dial(canceled, url, nil); return err }, "context canceled"},
		{"not a websocket URL", func() error { _, err := client.Dial(testContext(t), "http://127.0.0.1:1/", nil); return err }, "dial"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.run()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

// TestCloseEndsOwnersRoom: Close ends the owner's room at once, grace or not.
func TestCloseEndsOwnersRoom(t *testing.T) {
	url := startServer(t)
	ctx := testContext(t)
	owner, err := client.Dial(ctx, url, nil)
	must(t, err)
	room, err := owner.Create(ctx)
	must(t, err)
	viewer, events := joinViewer(t, url, room)

	must(t, owner.Close())
	if !errors.Is(owner.Err(), client.ErrClosed) {
		t.Fatalf("Err after Close: %v", owner.Err())
	}
	events.waitFor(t, "roomclosed:closed", 1)
	<-viewer.Done()
}

func TestBackoffStaysUnderItsCeiling(t *testing.T) {
	tests := []struct {
		attempt     int
		ceiling     time.Duration
		initial, mx time.Duration
	}{
		{1, 500 * time.Millisecond, 500 * time.Millisecond, 15 * time.Second},
		{2, time.Second, 500 * time.Millisecond, 15 * time.Second},
		{5, 8 * time.Second, 500 * time.Millisecond, 15 * time.Second},
		{40, 15 * time.Second, 500 * time.Millisecond, 15 * time.Second},
	}
	for _, tt := range tests {
		var most time.Duration
		for range 2000 {
			d := client.Backoff(tt.attempt, tt.initial, tt.mx)
			if d < 0 || d > tt.ceiling {
				t.Fatalf("Backoff(%d) = %v, outside [0, %v]", tt.attempt, d, tt.ceiling)
			}
			most = max(most, d)
		}
		if most < tt.ceiling/2 {
			t.Errorf("Backoff(%d) never passed %v in 2000 draws: not spread up to %v", tt.attempt, most, tt.ceiling)
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestOwnerResumesAfterDrop: the owner's connection drops; it reconnects and
// takes its room back. The viewer is told away and back, keeps its room and
// gets what the owner sends next.
func TestOwnerResumesAfterDrop(t *testing.T) {
	url := startServer(t)
	owner := newDroppableOwner(t, url)
	room := owner.createRoom(t)
	_, viewerEvents := joinViewer(t, url, room)

	owner.drop()
	// An owner back before the server saw it leave would fence its old
	// connection, and viewers would never hear it was away.
	viewerEvents.waitFor(t, "owneraway", 1)
	owner.release()
	owner.events.waitFor(t, "reconnected", 1)
	viewerEvents.waitFor(t, "ownerback", 1)
	if !owner.IsOwner() || owner.Room() != room || owner.events.count("roomclosed:connection_lost") != 0 {
		t.Fatalf("owner after the resume: owner %v of %q; events %q", owner.IsOwner(), owner.Room(), owner.events.snapshot())
	}
	must(t, owner.Broadcast("laser", "1"))
	viewerEvents.waitFor(t, "laser:1", 1)
	if viewerEvents.count("roomclosed:closed") != 0 {
		t.Fatalf("viewer events %q: the room closed", viewerEvents.snapshot())
	}
}

// TestDrainDelayHonoured: a server that shuts down names each client's
// reconnect delay; the client's first try waits exactly that long.
func TestDrainDelayHonoured(t *testing.T) {
	mgr := rtbroadcaster.NewManager(rtbroadcaster.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))), rtbroadcaster.WithDrainSpread(time.Second))
	srv := httptest.NewServer(mgr)
	defer srv.Close()
	type try struct {
		delay time.Duration
		cause error
	}
	tries := make(chan try, 1)
	opts := &client.Options{
		Reconnect: client.ReconnectPolicy{InitialDelay: time.Millisecond, MaxAttempts: 1},
		Events: client.Events{OnReconnecting: func(_ int, delay time.Duration, cause error) {
			select {
			case tries <- try{delay, cause}:
			default:
			}
		}},
	}
	c, err := client.Dial(testContext(t), "ws"+strings.TrimPrefix(srv.URL, "http"), opts)
	must(t, err)
	defer c.Close()

	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	must(t, mgr.Shutdown(ctx))
	var first try
	select {
	case first = <-tries:
	case <-time.After(waitFor):
		t.Fatal("no reconnect after the server shut down")
	}
	var ce *gws.CloseError
	if !errors.As(first.cause, &ce) || ce.Code != 1001 {
		t.Fatalf("reconnect cause %v, want close 1001", first.cause)
	}
	named := regexp.MustCompile(`reconnect in (\d+) ms`).FindSubmatch(ce.Reason)
	if named == nil {
		t.Fatalf("close reason %q names no delay", ce.Reason)
	}
	ms, _ := strconv.Atoi(string(named[1]))
	if want := time.Duration(ms) * time.Millisecond; first.delay != want || want >= time.Second {
		t.Fatalf("first reconnect after %v; the server named %v within a spread of 1s", first.delay, want)
	}
}
