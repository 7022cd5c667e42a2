package client_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lxzan/gws"
	"github.com/rtbroadcaster/rtbroadcaster"
	"github.com/rtbroadcaster/rtbroadcaster/client"
	"github.com/rtbroadcaster/rtbroadcaster/internal/netproxy"
)

// rawViewer is a viewer on a bare WebSocket, so that a test sees every
// message as the server sent it, seq included.
type rawViewer struct {
	gws.BuiltinEventHandler
	msgs chan *rtbroadcaster.Message
}

func (v *rawViewer) OnMessage(_ *gws.Conn, msg *gws.Message) {
	defer msg.Close()
	var m rtbroadcaster.Message
	if err := json.Unmarshal(msg.Bytes(), &m); err == nil {
		v.msgs <- &m
	}
}

// joinRaw joins room as a raw viewer and returns it with the join reply.
func joinRaw(t *testing.T, url, room string) (*rawViewer, *rtbroadcaster.Message) {
	t.Helper()
	v := &rawViewer{msgs: make(chan *rtbroadcaster.Message, 1024)}
	conn, _, err := gws.NewClient(v, &gws.ClientOption{Addr: url})
	if err != nil {
		t.Fatal(err)
	}
	read := make(chan struct{})
	go func() { conn.ReadLoop(); close(read) }() // until the test ends
	t.Cleanup(func() { _ = conn.NetConn().Close(); <-read })
	join := &rtbroadcaster.Message{UUID: room, Status: rtbroadcaster.Status{Value: rtbroadcaster.StatusJoin, Text: "join connection"}}
	if err := conn.WriteMessage(gws.OpcodeText, join.Encode()); err != nil {
		t.Fatal(err)
	}
	return v, v.next(t)
}

func (v *rawViewer) next(t *testing.T) *rtbroadcaster.Message {
	t.Helper()
	select {
	case m := <-v.msgs:
		return m
	case <-time.After(waitFor):
		t.Fatalf("the viewer received nothing for %v", waitFor)
		return nil
	}
}

// expect reads the viewer's next messages and checks that they are want,
// written "funcKey:param" or "owner:away", numbered from seq on.
func (v *rawViewer) expect(t *testing.T, seq uint64, want ...string) {
	t.Helper()
	for i, w := range want {
		m := v.next(t)
		got := "owner:" + m.Owner
		if m.FuncKey != "" {
			got = m.FuncKey + ":" + strings.Join(m.FuncParams, ",")
		}
		if got != w || m.Seq != seq+uint64(i) {
			t.Fatalf("viewer message %d: %s numbered %d, want %s numbered %d", i, got, m.Seq, w, seq+uint64(i))
		}
	}
}

// holdReconnect keeps the client's first reconnect waiting until release is
// called, so that a test acts while the connection is down: down is closed
// then. Defer release, so that a failed test does not hold Close.
func holdReconnect(opts *client.Options) (down <-chan struct{}, release func()) {
	d, r := make(chan struct{}), make(chan struct{})
	var first, released sync.Once
	next := opts.Events.OnReconnecting
	opts.Events.OnReconnecting = func(attempt int, delay time.Duration, cause error) {
		next(attempt, delay, cause)
		first.Do(func() {
			close(d)
			select {
			case <-r:
			case <-time.After(waitFor):
			}
		})
	}
	return d, func() { released.Do(func() { close(r) }) }
}

// dialOpts dials with opts; the client is closed when the test ends.
func dialOpts(t *testing.T, url string, opts *client.Options) *client.Client {
	t.Helper()
	c, err := client.Dial(testContext(t), url, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// droppableOwner is a client whose connection a test can drop by cutting
// its proxy, with its first reconnect held as holdReconnect does.
type droppableOwner struct {
	*client.Client
	events  *recorder       // what its callbacks report
	proxy   *netproxy.Proxy // between the client and the server
	down    <-chan struct{} // closed once the connection is down
	release func()          // lets the held reconnect go on
}

// newDroppableOwner dials the server of url through a new proxy with
// recordingOptions, adjusted by tweak if given, and its first reconnect
// held. The reconnect is released, then the client closed, when the test
// ends.
func newDroppableOwner(t *testing.T, url string, tweak ...func(*client.Options)) *droppableOwner {
	t.Helper()
	p, proxied := startProxy(t, url)
	events := newRecorder()
	opts := recordingOptions(events)
	for _, f := range tweak {
		f(opts)
	}
	down, release := holdReconnect(opts)
	c := dialOpts(t, proxied, opts)
	t.Cleanup(release) // before dialOpts' Close, which a held reconnect would hold
	return &droppableOwner{Client: c, events: events, proxy: p, down: down, release: release}
}

// drop cuts the connection and waits until the client is down, its
// reconnect held.
func (o *droppableOwner) drop() {
	o.proxy.Cut()
	<-o.down
}

// createRoom creates a room with the client and returns its id.
func (o *droppableOwner) createRoom(t *testing.T) string {
	t.Helper()
	room, err := o.Create(testContext(t))
	must(t, err)
	return room
}

// reconnectDisabled is a tweak for newDroppableOwner: a client that stops
// when its connection drops, as a process that died does not come back.
func reconnectDisabled(opts *client.Options) { opts.Reconnect.Disabled = true }

// ownRoomWithState creates a room on c and keeps state in it: slide 1,
// then stroke-1, a live action, then slide 2, which replaces slide 1 and
// moves to the end. Seq 1 to 4.
func ownRoomWithState(t *testing.T, c *client.Client) string {
	t.Helper()
	ctx := testContext(t)
	room, err := c.Create(ctx)
	must(t, err)
	must(t, c.SetState("slide", "1"))
	must(t, c.SetKeyedState("stroke-1", "draw", "a"))
	must(t, c.Broadcast("laser", "x"))
	must(t, c.SetState("slide", "2"))
	must(t, c.Sync(ctx))
	return room
}

// keptState is what ownRoomWithState keeps, in replay order.
var keptState = []client.StateMessage{
	{FuncKey: "draw", Params: []string{"a"}, StateKey: "stroke-1", Seq: 2},
	{FuncKey: "slide", Params: []string{"2"}, Seq: 4},
}

// noOwnHandlerRan fails when an owner's handler ran: all it can receive is
// its own replayed state.
func noOwnHandlerRan(t *testing.T, events *recorder) {
	t.Helper()
	for _, e := range events.snapshot() {
		if strings.HasPrefix(e, "draw:") || strings.HasPrefix(e, "slide:") {
			t.Fatalf("a handler of the owner ran for its own state; events %q", events.snapshot())
		}
	}
}

// TestResumeRoomFromAnotherClient: a presenter process dies; another one
// takes its room back with the saved key, gets the kept state to restore,
// broadcasts, and takes the room back by itself after its own drop.
func TestResumeRoomFromAnotherClient(t *testing.T) {
	url := startServer(t)
	ctx := testContext(t)
	first := newDroppableOwner(t, url, reconnectDisabled)
	room := ownRoomWithState(t, first.Client)
	key := first.OwnerKey()
	if key == "" {
		t.Fatal("the owner has no OwnerKey")
	}
	viewer, reply := joinRaw(t, url, room)
	if reply.StateCount != 2 || reply.Seq != 4 {
		t.Fatalf("join reply %+v, want 2 state messages covering seq 4", reply)
	}
	viewer.expect(t, 2, "draw:a")
	viewer.expect(t, 4, "slide:2")

	first.proxy.Cut()
	<-first.Done()
	viewer.expect(t, 5, "owner:away")

	second := newDroppableOwner(t, url)
	recordActions(second.Client, second.events)
	if second.OwnerKey() != "" {
		t.Fatal("OwnerKey of a client in no room is not empty")
	}
	state, err := second.ResumeRoom(ctx, room, key)
	must(t, err)
	if !reflect.DeepEqual(state, keptState) {
		t.Fatalf("ResumeRoom returned %+v, want %+v", state, keptState)
	}
	if !second.IsOwner() || second.Room() != room || second.OwnerKey() != key {
		t.Fatalf("after ResumeRoom: owner %v of %q with key %q", second.IsOwner(), second.Room(), second.OwnerKey())
	}
	second.events.waitFor(t, "resumed:0", 1)
	viewer.expect(t, 6, "owner:back")
	for i := range 3 {
		must(t, second.Broadcast("step", fmt.Sprint(i)))
	}
	viewer.expect(t, 7, "step:0", "step:1", "step:2")

	// Its own drop: it takes the room back by itself, and skips the replay.
	second.drop()
	viewer.expect(t, 10, "owner:away") // the server saw the drop
	second.release()
	second.events.waitFor(t, "resumed:0", 2)
	viewer.expect(t, 11, "owner:back")
	must(t, second.Broadcast("step", "3"))
	viewer.expect(t, 12, "step:3")
	must(t, second.Sync(ctx))
	noOwnHandlerRan(t, second.events)
}

func TestResumeRoomRefusals(t *testing.T) {
	url := startServer(t)
	ctx := testContext(t)
	owner, room := ownerWithRoom(t, url)
	key := owner.OwnerKey()
	viewer, _ := joinViewer(t, url, room)
	idle := dial(t, url, newRecorder())

	tests := []struct {
		name string
		c    *client.Client
		key  string
		want rtbroadcaster.ErrorCode
	}{
		{"wrong key", idle, "not-the-key", rtbroadcaster.CodeNotOwner},
		{"no key", idle, "", rtbroadcaster.CodeBadRequest},
		{"from the owner", owner, key, rtbroadcaster.CodeAlreadyInRoom},
		{"from a viewer", viewer, key, rtbroadcaster.CodeAlreadyInRoom},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e *rtbroadcaster.Error
			if _, err := tt.c.ResumeRoom(ctx, room, tt.key); !errors.As(err, &e) || e.Code != tt.want {
				t.Fatalf("got %v, want a *rtbroadcaster.Error with code %s", err, tt.want)
			}
		})
	}
	if idle.IsOwner() || idle.Room() != "" {
		t.Fatal("a refused ResumeRoom left the client in a room")
	}
	if !owner.IsOwner() || owner.Room() != room {
		t.Fatal("the owner lost its room to a refused ResumeRoom")
	}
}

func TestResumeRoomAfterTheGrace(t *testing.T) {
	url := startServer(t, rtbroadcaster.WithOwnerGrace(200*time.Millisecond))
	ctx := testContext(t)
	first := newDroppableOwner(t, url, reconnectDisabled)
	room := first.createRoom(t)
	key := first.OwnerKey()
	_, viewerEvents := joinViewer(t, url, room)

	first.proxy.Cut()
	viewerEvents.waitFor(t, "roomclosed:closed", 1) // the grace has passed
	second := dial(t, url, newRecorder())
	var e *rtbroadcaster.Error
	if _, err := second.ResumeRoom(ctx, room, key); !errors.As(err, &e) || e.Code != rtbroadcaster.CodeRoomNotFound {
		t.Fatalf("ResumeRoom after the grace: %v, want room_not_found", err)
	}
}

// TestOwnerQueuesWhileReconnecting: what the owner sends while its
// connection is down reaches the viewer once it is back, in order, once,
// numbered right after "owner back"; the owner's handlers never see its own
// replayed state.
func TestOwnerQueuesWhileReconnecting(t *testing.T) {
	url := startServer(t)
	ctx := testContext(t)
	owner := newDroppableOwner(t, url)
	recordActions(owner.Client, owner.events)
	room := ownRoomWithState(t, owner.Client)
	viewer, _ := joinRaw(t, url, room)
	viewer.expect(t, 2, "draw:a")
	viewer.expect(t, 4, "slide:2")

	owner.drop()
	must(t, owner.Broadcast("step", "0"))
	must(t, owner.SetState("slide", "3"))
	must(t, owner.SetKeyedState("stroke-2", "draw", "b"))
	must(t, owner.Broadcast("step", "1"))
	viewer.expect(t, 5, "owner:away") // the server saw the drop
	owner.release()

	owner.events.waitFor(t, "resumed:4", 1)
	must(t, owner.Broadcast("step", "2")) // after the queue
	viewer.expect(t, 6, "owner:back", "step:0", "slide:3", "draw:b", "step:1", "step:2")
	must(t, owner.Sync(ctx))
	if i, j := indexOf(owner.events, "resumed:4"), indexOf(owner.events, "reconnected"); i < 0 || j < i {
		t.Fatalf("owner events %q: want resumed:4, then reconnected", owner.events.snapshot())
	}
	noOwnHandlerRan(t, owner.events)

	late, _ := joinRaw(t, url, room) // the queued state was kept
	late.expect(t, 2, "draw:a")
	late.expect(t, 8, "slide:3", "draw:b")
}

// TestCloseRoomWaitsForTheQueue: a request made while the owner is away
// follows what it queued before.
func TestCloseRoomWaitsForTheQueue(t *testing.T) {
	url := startServer(t)
	ctx := testContext(t)
	owner := newDroppableOwner(t, url)
	room := owner.createRoom(t)
	viewer, _ := joinRaw(t, url, room)

	owner.drop()
	must(t, owner.Broadcast("bye"))
	closed := make(chan error, 1)
	go func() { closed <- owner.CloseRoom(ctx) }() // waits for the connection
	viewer.expect(t, 1, "owner:away")
	owner.release()
	must(t, <-closed)
	viewer.expect(t, 2, "owner:back", "bye:")
	if end := viewer.next(t); end.Status.Value != rtbroadcaster.StatusNotConnected || end.Seq != 4 {
		t.Fatalf("after the queue the viewer got %+v, want the room's end numbered 4", end)
	}
}

func TestOfflineQueueFull(t *testing.T) {
	url := startServer(t)
	ctx := testContext(t)
	owner := newDroppableOwner(t, url, func(opts *client.Options) { opts.OfflineQueue = 2 })
	room := owner.createRoom(t)
	received := newRecorder()
	viewer := dial(t, url, newRecorder())
	recordActions(viewer, received)
	_, err := viewer.Join(ctx, room)
	must(t, err)

	owner.drop()
	must(t, owner.Broadcast("a"))
	must(t, owner.SetState("b"))
	if err := owner.Broadcast("c"); !errors.Is(err, client.ErrQueueFull) || !errors.Is(err, client.ErrNotConnected) {
		t.Fatalf("a third call with a queue of 2: %v, want ErrQueueFull (an ErrNotConnected)", err)
	}
	owner.release()
	owner.events.waitFor(t, "resumed:2", 1)
	must(t, owner.Broadcast("d"))
	received.waitFor(t, "d:", 1)
	if got := received.snapshot(); strings.Join(got, " ") != "a: b: d:" {
		t.Fatalf("viewer received %q, want a: b: d:", got)
	}
}

func TestOfflineQueueDisabled(t *testing.T) {
	url := startServer(t)
	owner := newDroppableOwner(t, url, func(opts *client.Options) { opts.OfflineQueue = -1 })
	owner.createRoom(t)

	owner.drop()
	if err := owner.Broadcast("a"); !errors.Is(err, client.ErrNotConnected) || errors.Is(err, client.ErrQueueFull) {
		t.Fatalf("Broadcast while down without a queue: %v, want ErrNotConnected", err)
	}
	owner.release()
	owner.events.waitFor(t, "resumed:0", 1)
	must(t, owner.Broadcast("b"))
}

// TestRoomLostDropsTheQueue: the owner comes back after the grace: its
// queue is dropped and reported, then the room's end.
func TestRoomLostDropsTheQueue(t *testing.T) {
	url := startServer(t, rtbroadcaster.WithOwnerGrace(200*time.Millisecond))
	ctx := testContext(t)
	owner := newDroppableOwner(t, url)
	room := owner.createRoom(t)
	_, viewerEvents := joinViewer(t, url, room)

	owner.drop()
	for i := range 3 {
		must(t, owner.Broadcast("step", fmt.Sprint(i)))
	}
	viewerEvents.waitFor(t, "roomclosed:closed", 1) // the grace has passed
	owner.release()
	owner.events.waitFor(t, "reconnected", 1)
	if i, j := indexOf(owner.events, "dropped:3"), indexOf(owner.events, "roomclosed:connection_lost"); i < 0 || j < i {
		t.Fatalf("owner events %q: want dropped:3, then roomclosed:connection_lost", owner.events.snapshot())
	}
	var dropped *client.QueueDroppedError
	var cause *rtbroadcaster.Error
	if err := owner.Sync(ctx); !errors.As(err, &dropped) || !errors.As(err, &cause) || cause.Code != rtbroadcaster.CodeRoomNotFound {
		t.Fatalf("Sync after the room was lost: %v, want a QueueDroppedError caused by room_not_found", err)
	}
	var e *rtbroadcaster.Error
	if err := owner.Broadcast("late"); !errors.As(err, &e) || e.Code != rtbroadcaster.CodeNotInRoom {
		t.Fatalf("Broadcast after the room was lost: %v, want not_in_room", err)
	}
}

// TestStoppedClientReportsItsQueue: an owner that stops while it holds
// messages reports them dropped.
func TestStoppedClientReportsItsQueue(t *testing.T) {
	url := startServer(t)
	p, proxied := startProxy(t, url)
	events := newRecorder()
	var cause error
	opts := recordingOptions(events)
	record := opts.Events.OnError
	opts.Events.OnError = func(err error) { cause = errors.Unwrap(err); record(err) }
	owner := dialOpts(t, proxied, opts)
	_, err := owner.Create(testContext(t))
	must(t, err)

	p.Close() // cuts the connection, and leaves nothing to reconnect to
	events.waitFor(t, "reconnecting", 1)
	must(t, owner.Broadcast("a"))
	must(t, owner.Close())
	if events.count("dropped:1") != 1 || !errors.Is(cause, client.ErrClosed) {
		t.Fatalf("events %q, cause %v: want dropped:1 because of ErrClosed", events.snapshot(), cause)
	}
}

func indexOf(r *recorder, event string) int {
	for i, e := range r.snapshot() {
		if e == event {
			return i
		}
	}
	return -1
}

// TestOwnerReplacedByResumeRoom: another client takes the room with the
// owner key. The first is told at once, without broadcasting: its room is
// closed as replaced, and it forgets the room and the key, so that after a
// drop it does not take the room back; the new owner's broadcasts go on
// reaching the viewer.
func TestOwnerReplacedByResumeRoom(t *testing.T) {
	url := startServer(t)
	ctx := testContext(t)
	first := newDroppableOwner(t, url)
	room := first.createRoom(t)
	key := first.OwnerKey()
	viewer, _ := joinRaw(t, url, room)

	second := dial(t, url, newRecorder())
	_, err := second.ResumeRoom(ctx, room, key)
	must(t, err)
	first.events.waitFor(t, "roomclosed:replaced", 1)
	if first.IsOwner() || first.Room() != "" || first.OwnerKey() != "" {
		t.Fatalf("replaced owner: owner %v of %q with key %q", first.IsOwner(), first.Room(), first.OwnerKey())
	}
	viewer.expect(t, 1, "owner:back")

	first.drop()
	first.release()
	first.events.waitFor(t, "reconnected", 1) // in no room: it sends nothing on the new connection
	must(t, second.Broadcast("step", "0"))
	viewer.expect(t, 2, "step:0") // the room is still second's: no "back" from first in between
	must(t, second.Sync(ctx))
	if got := first.events.count("roomclosed:replaced"); got != 1 {
		t.Fatalf("roomclosed:replaced %d times; events %q", got, first.events.snapshot())
	}
}
