// Package brokertest is the conformance suite of room engines: every
// broker.Broker must pass Run. The in-memory engine's tests and the Redis
// engine's tests both run it.
package brokertest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/rtbroadcaster/rtbroadcaster/broker"
)

// waitFor bounds every wait for a delivery.
const waitFor = 10 * time.Second

// Run runs the conformance suite. newBroker returns a fresh engine for one
// subtest; the suite closes nothing, so newBroker registers any cleanup
// with t.
func Run(t *testing.T, newBroker func(t *testing.T) broker.Broker) {
	tests := []struct {
		name string
		test func(*testing.T, broker.Broker)
	}{
		{"CreateTwice", testCreateTwice},
		{"UnknownRoom", testUnknownRoom},
		{"SeqOrder", testSeqOrder},
		{"ConflateKeyDelivered", testConflateKeyDelivered},
		{"StateReplaceMovesToEnd", testStateReplaceMovesToEnd},
		{"StateBounds", testStateBounds},
		{"ClearState", testClearState},
		{"SnapshotMeetsStream", testSnapshotMeetsStream},
		{"HistoryRecovers", testHistoryRecovers},
		{"HistoryBounds", testHistoryBounds},
		{"Close", testClose},
		{"CloseOpenRoom", testCloseOpenRoom},
		{"Unsubscribe", testUnsubscribe},
		{"Viewers", testViewers},
		{"OwnerClaim", testOwnerClaim},
		{"OwnerGraceEnds", testOwnerGraceEnds},
		{"ReleaseWithoutGrace", testReleaseWithoutGrace},
		{"Rooms", testRooms},
		{"RoomDetail", testRoomDetail},
		{"PubSeq", testPubSeq},
		{"PubSeqAcrossClaims", testPubSeqAcrossClaims},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.test(t, newBroker(t)) })
	}
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	t.Cleanup(cancel)
	return ctx
}

// newRoom creates an open room with a fresh id.
func newRoom(t *testing.T, b broker.Broker) string {
	t.Helper()
	id := uuid.NewString()
	if err := b.CreateRoom(ctxFor(t), id, broker.Owner{}); err != nil {
		t.Fatalf("CreateRoom: %v", err)
	}
	return id
}

func publication(body string) broker.Publication {
	return broker.Publication{Body: []byte(body), MaxStateMessages: 1000, MaxStateBytes: 1 << 20}
}

func statePublication(key, body string) broker.Publication {
	p := publication(body)
	p.StateKey = key
	return p
}

func body(i int) string { return `{"n":` + strconv.Itoa(i) + `}` }

func mustPublish(t *testing.T, b broker.Broker, room string, p broker.Publication) uint64 {
	t.Helper()
	seq, err := b.Publish(ctxFor(t), room, p)
	if err != nil {
		t.Fatalf("Publish %s: %v", p.Body, err)
	}
	return seq
}

func testCreateTwice(t *testing.T, b broker.Broker) {
	room := newRoom(t, b)
	if err := b.CreateRoom(ctxFor(t), room, broker.Owner{}); !errors.Is(err, broker.ErrRoomExists) {
		t.Fatalf("second CreateRoom: %v, want ErrRoomExists", err)
	}
}

func testUnknownRoom(t *testing.T, b broker.Broker) {
	ctx, room, sub := ctxFor(t), uuid.NewString(), NewRecorder()
	if _, err := b.Publish(ctx, room, publication(body(1))); !errors.Is(err, broker.ErrRoomNotFound) {
		t.Errorf("Publish: %v, want ErrRoomNotFound", err)
	}
	if _, err := b.Snapshot(ctx, room, nil); !errors.Is(err, broker.ErrRoomNotFound) {
		t.Errorf("Snapshot: %v, want ErrRoomNotFound", err)
	}
	if err := b.Subscribe(ctx, room, sub); !errors.Is(err, broker.ErrRoomNotFound) {
		t.Errorf("Subscribe: %v, want ErrRoomNotFound", err)
	}
	if err := b.CloseRoom(ctx, room); err != nil {
		t.Errorf("CloseRoom: %v, want nil", err)
	}
	b.Unsubscribe(room, sub) // a no-op
}

// testSeqOrder publishes from several goroutines: seqs are 1..n, each
// subscriber receives all of them in order with the body published under it.
func testSeqOrder(t *testing.T, b broker.Broker) {
	room := newRoom(t, b)
	subs := []*Recorder{NewRecorder(), NewRecorder()}
	for _, s := range subs {
		if err := b.Subscribe(ctxFor(t), room, s); err != nil {
			t.Fatal(err)
		}
	}
	const publishers, each = 4, 50
	var mu sync.Mutex
	bodyOf := map[uint64]string{}
	var wg sync.WaitGroup
	for p := range publishers {
		wg.Go(func() {
			for i := range each {
				msg := body(p*each + i)
				seq, err := b.Publish(context.Background(), room, publication(msg))
				if err != nil {
					t.Errorf("Publish: %v", err)
					return
				}
				mu.Lock()
				bodyOf[seq] = msg
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	const total = publishers * each
	for seq := uint64(1); seq <= total; seq++ {
		if _, ok := bodyOf[seq]; !ok {
			t.Fatalf("no Publish returned seq %d", seq)
		}
	}
	for i, s := range subs {
		got := s.WaitDeliveries(t, total)
		for j, d := range got {
			if d.Seq != uint64(j+1) || string(d.Body) != bodyOf[d.Seq] {
				t.Fatalf("subscriber %d: delivery %d is seq %d %s, want seq %d %s", i, j, d.Seq, d.Body, j+1, bodyOf[uint64(j+1)])
			}
		}
	}
}

func testStateReplaceMovesToEnd(t *testing.T, b broker.Broker) {
	room := newRoom(t, b)
	mustPublish(t, b, room, statePublication("a", `{"a":1}`))
	mustPublish(t, b, room, statePublication("b", `{"b":1}`))
	mustPublish(t, b, room, publication(`{"action":1}`)) // not kept
	mustPublish(t, b, room, statePublication("c", `{"c":1}`))
	mustPublish(t, b, room, statePublication("a", `{"a":2}`))
	snap, err := b.Snapshot(ctxFor(t), room, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := broker.Snapshot{Seq: 5, State: []broker.Entry{
		{Seq: 2, Body: []byte(`{"b":1}`)}, {Seq: 4, Body: []byte(`{"c":1}`)}, {Seq: 5, Body: []byte(`{"a":2}`)},
	}}
	if fmt.Sprint(snapString(snap)) != fmt.Sprint(snapString(want)) {
		t.Fatalf("snapshot %v, want %v", snapString(snap), snapString(want))
	}
}

// testClearState: a message that clears the state is checked against the
// bounds as if nothing were kept, and is kept alone when it is a state
// message; one that is refused clears nothing.
func testClearState(t *testing.T, b broker.Broker) {
	room := newRoom(t, b)
	bounded := func(p broker.Publication) broker.Publication {
		p.MaxStateMessages, p.MaxStateBytes = 2, 20
		return p
	}
	mustPublish(t, b, room, bounded(statePublication("a", "0123456789")))
	mustPublish(t, b, room, bounded(statePublication("b", "0123456789")))
	tooBig := bounded(statePublication("c", "012345678901234567890"))
	tooBig.ClearState = true
	var full *broker.StateFullError
	if _, err := b.Publish(ctxFor(t), room, tooBig); !errors.As(err, &full) {
		t.Fatalf("clearing with a message larger than the bounds: %v, want a StateFullError", err)
	}
	if snap, err := b.Snapshot(ctxFor(t), room, nil); err != nil || len(snap.State) != 2 {
		t.Fatalf("after a refused clear: %v (%v), want a and b still kept", snapString(snap), err)
	}
	clearing := bounded(statePublication("c", "01234567890123456789")) // would not fit beside a and b
	clearing.ClearState = true
	mustPublish(t, b, room, clearing)
	mustPublish(t, b, room, bounded(statePublication("d", "")))
	wipe := publication(`{"wipe":1}`)
	wipe.ClearState = true
	seq := mustPublish(t, b, room, wipe)
	mustPublish(t, b, room, statePublication("e", `{"e":1}`))
	snap, err := b.Snapshot(ctxFor(t), room, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := broker.Snapshot{Seq: seq + 1, State: []broker.Entry{{Seq: seq + 1, Body: []byte(`{"e":1}`)}}}
	if snapString(snap) != snapString(want) {
		t.Fatalf("snapshot %v, want %v", snapString(snap), snapString(want))
	}
}

func snapString(s broker.Snapshot) string {
	out := fmt.Sprintf("seq %d:", s.Seq)
	for _, e := range s.State {
		out += fmt.Sprintf(" %d=%s", e.Seq, e.Body)
	}
	return out
}

func testStateBounds(t *testing.T, b broker.Broker) {
	room := newRoom(t, b)
	sub := NewRecorder()
	if err := b.Subscribe(ctxFor(t), room, sub); err != nil {
		t.Fatal(err)
	}
	bounded := func(key, body string) broker.Publication {
		return broker.Publication{Body: []byte(body), StateKey: key, MaxStateMessages: 2, MaxStateBytes: 20}
	}
	mustPublish(t, b, room, bounded("a", "0123456789"))
	mustPublish(t, b, room, bounded("b", "01234"))
	var full *broker.StateFullError
	if _, err := b.Publish(ctxFor(t), room, bounded("c", "0")); !errors.As(err, &full) || full.Messages != 2 {
		t.Fatalf("third key: %v, want a StateFullError of 2 messages", err)
	}
	if _, err := b.Publish(ctxFor(t), room, bounded("b", "0123456789X")); !errors.As(err, &full) || full.Bytes != 20 {
		t.Fatalf("21 bytes in all: %v, want a StateFullError of 20 bytes", err)
	}
	mustPublish(t, b, room, bounded("a", "9876543210")) // same size: always accepted
	mustPublish(t, b, room, bounded("b", "x"))          // smaller: always accepted
	if seq := mustPublish(t, b, room, publication(body(1))); seq != 5 {
		t.Fatalf("refused messages took numbers: next seq %d, want 5", seq)
	}
	got := sub.WaitDeliveries(t, 5)
	for i, d := range got {
		if d.Seq != uint64(i+1) {
			t.Fatalf("delivery %d has seq %d: a refused message was delivered", i, d.Seq)
		}
	}
}

// testSnapshotMeetsStream subscribes and snapshots while a publisher floods:
// the snapshot followed by the deliveries numbered above it must be the
// whole stream, with each key's latest state as of the snapshot.
func testSnapshotMeetsStream(t *testing.T, b broker.Broker) {
	room := newRoom(t, b)
	const keys, joins = 7, 5
	keyOf := func(i int) string { return "k" + strconv.Itoa(i%keys) }
	joined := make(chan struct{})
	published := make(chan int)
	go func() { published <- flood(t, b, room, keyOf, joined) }()
	var joiners []*Recorder
	var snaps []broker.Snapshot
	for range joins {
		time.Sleep(2 * time.Millisecond)
		sub := NewRecorder()
		if err := b.Subscribe(ctxFor(t), room, sub); err != nil {
			t.Fatal(err)
		}
		snap, err := b.Snapshot(ctxFor(t), room, nil)
		if err != nil {
			t.Fatal(err)
		}
		joiners, snaps = append(joiners, sub), append(snaps, snap)
	}
	close(joined)
	total := <-published
	for j, sub := range joiners {
		checkJoin(t, j, snaps[j], sub, total, keyOf)
	}
}

func historyPublication(key, body string, maxMessages, maxBytes int) broker.Publication {
	p := statePublication(key, body)
	p.MaxHistoryMessages, p.MaxHistoryBytes = maxMessages, maxBytes
	return p
}

// recoverString shows what Snapshot(after) returned, to compare.
func recoverString(s broker.Snapshot) string {
	out := fmt.Sprintf("seq %d recovered %v:", s.Seq, s.Recovered)
	for _, e := range s.Missed {
		out += fmt.Sprintf(" %d=%s", e.Seq, e.Body)
	}
	return out + " state " + snapString(broker.Snapshot{State: s.State})
}

func mustRecover(t *testing.T, b broker.Broker, room string, after uint64, want string) {
	t.Helper()
	snap, err := b.Snapshot(ctxFor(t), room, &after)
	if err != nil {
		t.Fatalf("Snapshot after %d: %v", after, err)
	}
	if got := recoverString(snap); got != want {
		t.Fatalf("Snapshot after %d:\n got %s\nwant %s", after, got, want)
	}
}

// testHistoryRecovers asks for the messages after each seq: those the
// history holds come back exactly, in order; anything else is a state
// snapshot.
func testHistoryRecovers(t *testing.T, b broker.Broker) {
	room := newRoom(t, b)
	for i := 1; i <= 3; i++ {
		p := historyPublication("", body(i), 10, 1<<10)
		if i == 2 {
			p.StateKey = "k"
		}
		mustPublish(t, b, room, p)
	}
	mustRecover(t, b, room, 1, `seq 3 recovered true: 2={"n":2} 3={"n":3} state seq 0:`)
	mustRecover(t, b, room, 3, `seq 3 recovered true: state seq 0:`)
	mustRecover(t, b, room, 4, `seq 3 recovered false: state seq 0: 2={"n":2}`)
	mustRecover(t, b, room, 0, `seq 3 recovered true: 1={"n":1} 2={"n":2} 3={"n":3} state seq 0:`)
}

// testHistoryBounds checks that the history drops its oldest messages past
// either bound, and that a room without history recovers nothing.
func testHistoryBounds(t *testing.T, b broker.Broker) {
	room := newRoom(t, b)
	for i := 1; i <= 5; i++ {
		mustPublish(t, b, room, historyPublication("", body(i), 3, 1<<10))
	}
	mustRecover(t, b, room, 2, `seq 5 recovered true: 3={"n":3} 4={"n":4} 5={"n":5} state seq 0:`)
	mustRecover(t, b, room, 1, `seq 5 recovered false: state seq 0:`)
	mustRecover(t, b, room, 0, `seq 5 recovered false: state seq 0:`)
	// Each body is 7 bytes: 15 bytes hold the last two.
	mustPublish(t, b, room, historyPublication("", body(6), 3, 15))
	mustRecover(t, b, room, 4, `seq 6 recovered true: 5={"n":5} 6={"n":6} state seq 0:`)
	mustRecover(t, b, room, 3, `seq 6 recovered false: state seq 0:`)
	mustPublish(t, b, room, publication(body(7))) // no history bounds: keeps none
	mustRecover(t, b, room, 6, `seq 7 recovered false: state seq 0:`)
	mustRecover(t, b, room, 7, `seq 7 recovered true: state seq 0:`)
}

// flood publishes until joined is closed and 100 more, every other message
// a state message under keyOf(its seq); it returns how many it published.
func flood(t *testing.T, b broker.Broker, room string, keyOf func(int) string, joined <-chan struct{}) int {
	more := -1
	for i := 1; ; i++ {
		p := publication(body(i))
		if i%2 == 0 {
			p.StateKey = keyOf(i)
		}
		if seq, err := b.Publish(context.Background(), room, p); err != nil || seq != uint64(i) {
			t.Errorf("Publish %d: seq %d, %v", i, seq, err)
			return i - 1
		}
		select {
		case <-joined:
			if more < 0 {
				more = 100
			}
		default:
		}
		if more--; more == 0 {
			return i
		}
	}
}

func checkJoin(t *testing.T, j int, snap broker.Snapshot, sub *Recorder, total int, keyOf func(int) string) {
	t.Helper()
	latest := map[string]uint64{}
	for i := 2; i <= int(snap.Seq); i += 2 {
		latest[keyOf(i)] = uint64(i)
	}
	if len(snap.State) != len(latest) {
		t.Fatalf("joiner %d: snapshot at %d keeps %d entries, want %d", j, snap.Seq, len(snap.State), len(latest))
	}
	for i, e := range snap.State {
		if latest[keyOf(int(e.Seq))] != e.Seq || string(e.Body) != body(int(e.Seq)) || (i > 0 && e.Seq <= snap.State[i-1].Seq) {
			t.Fatalf("joiner %d: snapshot %s is not each key's latest, oldest first", j, snapString(snap))
		}
	}
	sub.Wait(t, func(r Record) bool {
		return len(r.Deliveries) > 0 && r.Deliveries[len(r.Deliveries)-1].Seq == uint64(total)
	})
	next := snap.Seq + 1
	for _, d := range sub.WaitDeliveries(t, 0) {
		if d.Seq < next {
			continue // before the snapshot: the joiner drops it
		}
		if d.Seq != next || string(d.Body) != body(int(d.Seq)) {
			t.Fatalf("joiner %d: after snapshot %d got seq %d %s, want %d", j, snap.Seq, d.Seq, d.Body, next)
		}
		next++
	}
	if lost := sub.Record().Losses; lost != 0 {
		t.Fatalf("joiner %d was told Lost %d times", j, lost)
	}
}

// testCloseOpenRoom: an engine that is an OpenRoomCloser tells whether the
// room was open, and its subscribers who closed it.
func testCloseOpenRoom(t *testing.T, b broker.Broker) {
	closer, ok := b.(broker.OpenRoomCloser)
	if !ok {
		t.Skip("the engine is not a broker.OpenRoomCloser")
	}
	room := newRoom(t, b)
	sub := NewRecorder()
	if err := b.Subscribe(ctxFor(t), room, sub); err != nil {
		t.Fatal(err)
	}
	mustPublish(t, b, room, publication(body(1)))
	if wasOpen, err := closer.CloseOpenRoom(ctxFor(t), room, "operator"); err != nil || !wasOpen {
		t.Fatalf("CloseOpenRoom of an open room: %v, %v; want true", wasOpen, err)
	}
	sub.Wait(t, func(r Record) bool { return r.ClosedSeq != 0 })
	if rec := sub.Record(); rec.ClosedSeq != 2 || rec.ClosedBy != "operator" {
		t.Fatalf("closed at seq %d by %q, want 2 by operator", rec.ClosedSeq, rec.ClosedBy)
	}
	for _, id := range []string{room, uuid.NewString()} {
		if wasOpen, err := closer.CloseOpenRoom(ctxFor(t), id, "operator"); err != nil || wasOpen {
			t.Errorf("CloseOpenRoom of a room that is not open: %v, %v; want false", wasOpen, err)
		}
	}
}

func testClose(t *testing.T, b broker.Broker) {
	room := newRoom(t, b)
	sub := NewRecorder()
	if err := b.Subscribe(ctxFor(t), room, sub); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 10; i++ {
		mustPublish(t, b, room, publication(body(i)))
	}
	if err := b.CloseRoom(ctxFor(t), room); err != nil {
		t.Fatal(err)
	}
	sub.Wait(t, func(r Record) bool { return r.ClosedSeq != 0 })
	rec := sub.Record()
	delivered, closedSeq, after := len(rec.Deliveries), rec.ClosedSeq, rec.AfterClose
	if delivered != 10 || closedSeq != 11 || after {
		t.Fatalf("got %d deliveries then Closed(%d) (anything after: %v), want 10 then Closed(11)", delivered, closedSeq, after)
	}
	ctx := ctxFor(t)
	if _, err := b.Publish(ctx, room, publication(body(11))); !errors.Is(err, broker.ErrRoomNotFound) {
		t.Errorf("Publish after close: %v, want ErrRoomNotFound", err)
	}
	if _, err := b.Snapshot(ctx, room, nil); !errors.Is(err, broker.ErrRoomNotFound) {
		t.Errorf("Snapshot after close: %v, want ErrRoomNotFound", err)
	}
	if err := b.Subscribe(ctx, room, NewRecorder()); !errors.Is(err, broker.ErrRoomNotFound) {
		t.Errorf("Subscribe after close: %v, want ErrRoomNotFound", err)
	}
	if err := b.SetViewers(ctx, room, sub, 1); !errors.Is(err, broker.ErrRoomNotFound) {
		t.Errorf("SetViewers after close: %v, want ErrRoomNotFound", err)
	}
	if err := b.CloseRoom(ctx, room); err != nil {
		t.Errorf("second CloseRoom: %v", err)
	}
	b.Unsubscribe(room, sub)
}

func testUnsubscribe(t *testing.T, b broker.Broker) {
	room := newRoom(t, b)
	stays, leaves := NewRecorder(), NewRecorder()
	for _, s := range []*Recorder{stays, leaves} {
		if err := b.Subscribe(ctxFor(t), room, s); err != nil {
			t.Fatal(err)
		}
	}
	mustPublish(t, b, room, publication(body(1)))
	leaves.WaitDeliveries(t, 1)
	b.Unsubscribe(room, leaves)
	b.Unsubscribe(room, leaves) // a no-op the second time
	mustPublish(t, b, room, publication(body(2)))
	stays.WaitDeliveries(t, 2)
	if err := b.CloseRoom(ctxFor(t), room); err != nil {
		t.Fatal(err)
	}
	stays.Wait(t, func(r Record) bool { return r.ClosedSeq != 0 })
	if rec := leaves.Record(); len(rec.Deliveries) != 1 || rec.ClosedSeq != 0 {
		t.Fatalf("after Unsubscribe: %d deliveries, Closed(%d); want 1 delivery and no Closed", len(rec.Deliveries), rec.ClosedSeq)
	}
}

func testViewers(t *testing.T, b broker.Broker) {
	room := newRoom(t, b)
	first, second := NewRecorder(), NewRecorder()
	for _, s := range []*Recorder{first, second} {
		if err := b.Subscribe(ctxFor(t), room, s); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.SetViewers(ctxFor(t), room, first, 3); err != nil {
		t.Fatal(err)
	}
	if err := b.SetViewers(ctxFor(t), room, second, 4); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*Recorder{first, second} {
		s.Wait(t, func(r Record) bool { return r.Total == 7 })
	}
	b.Unsubscribe(room, second)
	first.Wait(t, func(r Record) bool { return r.Total == 3 })
}

// ownerGrace is the grace of the owner tests' rooms: their owners come back
// well within it, or not at all.
const ownerGrace = 300 * time.Millisecond

func newOwnedRoom(t *testing.T, b broker.Broker) string {
	t.Helper()
	id := uuid.NewString()
	if err := b.CreateRoom(ctxFor(t), id, broker.Owner{KeyHash: "hash", Grace: ownerGrace}); err != nil {
		t.Fatalf("CreateRoom: %v", err)
	}
	return id
}

// testOwnerClaim: only the key's hash claims a room; each claim fences the
// epochs before it, ends a grace, and is told to every subscriber once.
func testOwnerClaim(t *testing.T, b broker.Broker) {
	ctx, room := ctxFor(t), newOwnedRoom(t, b)
	subs := []*Recorder{NewRecorder(), NewRecorder()}
	for _, s := range subs {
		if err := b.Subscribe(ctx, room, s); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.ClaimOwner(ctx, room, "other"); !errors.Is(err, broker.ErrNotOwner) {
		t.Fatalf("claim with another hash: %v, want ErrNotOwner", err)
	}
	if _, err := b.ClaimOwner(ctx, uuid.NewString(), "hash"); !errors.Is(err, broker.ErrRoomNotFound) {
		t.Fatalf("claim of an unknown room: %v, want ErrRoomNotFound", err)
	}
	epoch, err := b.ClaimOwner(ctx, room, "hash")
	if err != nil || epoch != 2 {
		t.Fatalf("claim: epoch %d, %v; want 2", epoch, err)
	}
	stale := publication(body(1))
	stale.OwnerEpoch = 1
	if _, err := b.Publish(ctx, room, stale); !errors.Is(err, broker.ErrNotOwner) {
		t.Fatalf("publish as epoch 1 after a claim: %v, want ErrNotOwner", err)
	}
	if err := b.ReleaseOwner(ctx, room, 1); !errors.Is(err, broker.ErrNotOwner) {
		t.Fatalf("release as epoch 1 after a claim: %v, want ErrNotOwner", err)
	}
	if err := b.ReleaseOwner(ctx, room, 2); err != nil {
		t.Fatalf("release: %v", err)
	}
	if snap, err := b.Snapshot(ctx, room, nil); err != nil || !snap.OwnerAway {
		t.Fatalf("snapshot in the grace: OwnerAway %v, %v; want true", snap.OwnerAway, err)
	}
	if epoch, err = b.ClaimOwner(ctx, room, "hash"); err != nil || epoch != 3 {
		t.Fatalf("claim in the grace: epoch %d, %v; want 3", epoch, err)
	}
	if snap, err := b.Snapshot(ctx, room, nil); err != nil || snap.OwnerAway {
		t.Fatalf("snapshot after the claim: OwnerAway %v, %v; want false", snap.OwnerAway, err)
	}
	time.Sleep(3 * ownerGrace)
	current := publication(body(2))
	current.OwnerEpoch = 3
	if seq, err := b.Publish(ctx, room, current); err != nil || seq != 1 {
		t.Fatalf("publish after the grace of a claimed room: seq %d, %v; want 1", seq, err)
	}
	for i, s := range subs {
		// The claims were told before the publication: once it is here, a
		// repeated or a refused claim would be too.
		s.WaitDeliveries(t, 1)
		claims := s.Record().Claims
		if !slices.Equal(claims, []uint64{2, 3}) {
			t.Fatalf("subscriber %d: OwnerClaimed%v, want OwnerClaimed(2) then OwnerClaimed(3), once each", i, claims)
		}
	}
}

// testOwnerGraceEnds: a released room that nobody claims closes after its
// grace, as by CloseRoom.
func testOwnerGraceEnds(t *testing.T, b broker.Broker) {
	if p, ok := b.(broker.OwnerNewsPublisher); ok {
		p.SetRenderer(RenderOwnerNews) // so that news, wrongly published, would show
	}
	ctx, room, sub := ctxFor(t), newOwnedRoom(t, b), NewRecorder()
	if err := b.Subscribe(ctx, room, sub); err != nil {
		t.Fatal(err)
	}
	mustPublish(t, b, room, publication(body(1)))
	released := time.Now()
	if err := b.ReleaseOwner(ctx, room, 1); err != nil {
		t.Fatalf("release: %v", err)
	}
	sub.Wait(t, func(r Record) bool { return r.ClosedSeq != 0 })
	if waited := time.Since(released); waited < ownerGrace {
		t.Fatalf("closed %v after the release, before the grace of %v", waited, ownerGrace)
	}
	sub.Wait(t, func(r Record) bool { return r.ClosedSeq == 2 })
	if _, err := b.ClaimOwner(ctx, room, "hash"); !errors.Is(err, broker.ErrRoomNotFound) {
		t.Fatalf("claim after the grace: %v, want ErrRoomNotFound", err)
	}
	if news := sub.Record().OwnerNews; len(news) != 0 {
		t.Fatalf("owner news %+v: the owner left, its node did not stop", news)
	}
	b.Unsubscribe(room, sub)
}

// testReleaseWithoutGrace: a room without a grace closes as its owner is
// released, but not by a release from an owner another claim replaced.
func testReleaseWithoutGrace(t *testing.T, b broker.Broker) {
	ctx, room, sub := ctxFor(t), uuid.NewString(), NewRecorder()
	if err := b.CreateRoom(ctx, room, broker.Owner{KeyHash: "hash"}); err != nil {
		t.Fatal(err)
	}
	if err := b.Subscribe(ctx, room, sub); err != nil {
		t.Fatal(err)
	}
	epoch, err := b.ClaimOwner(ctx, room, "hash")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.ReleaseOwner(ctx, room, epoch-1); !errors.Is(err, broker.ErrNotOwner) {
		t.Fatalf("release by the replaced owner: %v, want ErrNotOwner", err)
	}
	if _, err := b.Snapshot(ctx, room, nil); err != nil {
		t.Fatalf("after the replaced owner's release: %v, want the room open", err)
	}
	if err := b.ReleaseOwner(ctx, room, epoch); err != nil {
		t.Fatalf("release: %v", err)
	}
	if _, err := b.Snapshot(ctx, room, nil); !errors.Is(err, broker.ErrRoomNotFound) {
		t.Fatalf("snapshot right after the release: %v, want ErrRoomNotFound", err)
	}
	sub.Wait(t, func(r Record) bool { return r.ClosedSeq != 0 })
	b.Unsubscribe(room, sub)
}

// testRooms: an engine that lists rooms lists the open ones, with their seq,
// viewers and whether their owner is away; not closed ones; no more than
// asked for; and not a room closed since it last listed.
func testRooms(t *testing.T, b broker.Broker) {
	lister, ok := b.(broker.Lister)
	if !ok {
		t.Skip("the engine does not list rooms")
	}
	ctx, open := ctxFor(t), newRoom(t, b)
	mustPublish(t, b, open, publication(body(1)))
	mustPublish(t, b, open, publication(body(2)))
	if err := b.SetViewers(ctx, open, NewRecorder(), 5); err != nil {
		t.Fatal(err)
	}
	away := uuid.NewString() // its grace outlasts the test
	if err := b.CreateRoom(ctx, away, broker.Owner{KeyHash: "hash", Grace: time.Minute}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.CloseRoom(context.Background(), away) })
	if err := b.ReleaseOwner(ctx, away, 1); err != nil {
		t.Fatal(err)
	}
	closed := newRoom(t, b)
	if err := b.CloseRoom(ctx, closed); err != nil {
		t.Fatal(err)
	}

	awayInfo := broker.RoomInfo{ID: away, OwnerAway: true}
	want := []broker.RoomInfo{awayInfo, {ID: open, Seq: 2, Viewers: 5}}
	slices.SortFunc(want, byID)
	if got := listRooms(t, lister, 10); !reflect.DeepEqual(got, want) {
		t.Fatalf("Rooms(10) = %+v, want %+v", got, want)
	}
	if got := listRooms(t, lister, 1); len(got) != 1 {
		t.Fatalf("Rooms(1) = %+v, want one room", got)
	}
	if err := b.CloseRoom(ctx, open); err != nil {
		t.Fatal(err)
	}
	if got := listRooms(t, lister, 10); !reflect.DeepEqual(got, []broker.RoomInfo{awayInfo}) {
		t.Fatalf("Rooms(10) after closing %s = %+v, want only %+v", open, got, awayInfo)
	}
}

// testRoomDetail: an engine that describes rooms tells one room's seq,
// viewers, kept state and owner: held (created Held, until a claim), away
// (released); a closed or unknown room is not found.
func testRoomDetail(t *testing.T, b broker.Broker) {
	inspector, ok := b.(broker.Inspector)
	if !ok {
		t.Skip("the engine does not describe rooms")
	}
	ctx, room := ctxFor(t), uuid.NewString()
	if err := b.CreateRoom(ctx, room, broker.Owner{KeyHash: "hash", Grace: time.Minute, Held: true}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.CloseRoom(context.Background(), room) })
	describe := func() broker.RoomDetail {
		t.Helper()
		d, err := inspector.Room(ctx, room)
		if err != nil {
			t.Fatalf("Room: %v", err)
		}
		return d
	}
	if d := describe(); !reflect.DeepEqual(d, broker.RoomDetail{RoomInfo: broker.RoomInfo{ID: room, OwnerHeld: true}}) {
		t.Fatalf("a new held room: %+v", d)
	}
	mustPublish(t, b, room, statePublication("k", body(1)))
	mustPublish(t, b, room, statePublication("k", body(22)))
	mustPublish(t, b, room, statePublication("j", body(3)))
	mustPublish(t, b, room, publication(body(4)))
	if err := b.SetViewers(ctx, room, NewRecorder(), 3); err != nil {
		t.Fatal(err)
	}
	want := broker.RoomDetail{RoomInfo: broker.RoomInfo{ID: room, Seq: 4, Viewers: 3, OwnerHeld: true}, StateMessages: 2, StateBytes: len(body(22)) + len(body(3))}
	if d := describe(); !reflect.DeepEqual(d, want) {
		t.Fatalf("Room = %+v, want %+v", d, want)
	}
	if lister, ok := b.(broker.Lister); ok {
		if got := listRooms(t, lister, 10); len(got) != 1 || got[0] != want.RoomInfo {
			t.Fatalf("Rooms = %+v, want %+v", got, want.RoomInfo)
		}
	}
	epoch, err := b.ClaimOwner(ctx, room, "hash")
	if err != nil {
		t.Fatal(err)
	}
	if d := describe(); d.OwnerHeld || d.OwnerAway {
		t.Fatalf("after a claim: %+v, want neither held nor away", d)
	}
	if err := b.ReleaseOwner(ctx, room, epoch); err != nil {
		t.Fatal(err)
	}
	if d := describe(); d.OwnerHeld || !d.OwnerAway {
		t.Fatalf("after a release: %+v, want away", d)
	}
	if err := b.CloseRoom(ctx, room); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{room, uuid.NewString()} {
		if _, err := inspector.Room(ctx, id); !errors.Is(err, broker.ErrRoomNotFound) {
			t.Fatalf("Room of a closed or unknown room: %v, want ErrRoomNotFound", err)
		}
	}
}

// listRooms lists up to limit rooms, sorted by id.
func listRooms(t *testing.T, l broker.Lister, limit int) []broker.RoomInfo {
	t.Helper()
	rooms, err := l.Rooms(ctxFor(t), limit)
	if err != nil {
		t.Fatalf("Rooms(%d): %v", limit, err)
	}
	slices.SortFunc(rooms, byID)
	return rooms
}

func byID(a, b broker.RoomInfo) int { return strings.Compare(a.ID, b.ID) }

// numbered is a publication the owner numbered pubSeq.
func numbered(pubSeq uint64, body string) broker.Publication {
	p := publication(body)
	p.PubSeq = pubSeq
	return p
}

// testPubSeq: an owner's numbers are accepted one after the other; a repeat
// and a gap publish nothing and say the last number accepted; a refusal
// for the state bounds and a void publication use their number up;
// publications without a number neither check nor change the count.
func testPubSeq(t *testing.T, b broker.Broker) {
	ctx, room, sub := ctxFor(t), newRoom(t, b), NewRecorder()
	if err := b.Subscribe(ctx, room, sub); err != nil {
		t.Fatal(err)
	}
	full := numbered(4, body(4))
	full.StateKey, full.MaxStateBytes = "k", 1
	void := numbered(5, body(5))
	void.Void = true
	steps := []struct {
		name    string
		p       broker.Publication
		seq     uint64 // 0: refused or void
		repeat  bool
		gapLast *uint64
		full    bool
	}{
		{name: "first", p: numbered(1, body(1)), seq: 1},
		{name: "repeat of 1", p: numbered(1, body(1)), repeat: true},
		{name: "gap: 3 after 1", p: numbered(3, body(3)), gapLast: ptr(1)},
		{name: "unnumbered in between", p: publication(body(100)), seq: 2},
		{name: "2", p: numbered(2, body(2)), seq: 3},
		{name: "3", p: numbered(3, body(3)), seq: 4},
		{name: "repeat of 2 after 3", p: numbered(2, body(2)), repeat: true},
		{name: "4 refused: state bounds", p: full, full: true},
		{name: "repeat of the refused 4", p: numbered(4, body(4)), repeat: true},
		{name: "void 5", p: void},
		{name: "6", p: numbered(6, body(6)), seq: 5},
		{name: "gap: 8 after 6", p: numbered(8, body(8)), gapLast: ptr(6)},
	}
	for _, st := range steps {
		seq, err := b.Publish(ctx, room, st.p)
		var repeat *broker.PubSeqRepeatError
		var gap *broker.PubSeqGapError
		var stateFull *broker.StateFullError
		switch {
		case st.repeat:
			if !errors.As(err, &repeat) || repeat.PubSeq != st.p.PubSeq {
				t.Fatalf("%s: seq %d, %v; want a *PubSeqRepeatError", st.name, seq, err)
			}
		case st.gapLast != nil:
			if !errors.As(err, &gap) || gap.Last != *st.gapLast || gap.PubSeq != st.p.PubSeq {
				t.Fatalf("%s: seq %d, %v; want a *PubSeqGapError with Last %d", st.name, seq, err, *st.gapLast)
			}
		case st.full:
			if !errors.As(err, &stateFull) {
				t.Fatalf("%s: seq %d, %v; want a *StateFullError", st.name, seq, err)
			}
		case err != nil || seq != st.seq:
			t.Fatalf("%s: seq %d, %v; want seq %d", st.name, seq, err, st.seq)
		}
	}
	got := sub.WaitDeliveries(t, 5)
	var bodies []string
	for _, d := range got {
		bodies = append(bodies, string(d.Body))
	}
	want := []string{body(1), body(100), body(2), body(3), body(6)}
	if !slices.Equal(bodies, want) {
		t.Fatalf("delivered %v, want %v: each accepted number once, nothing refused", bodies, want)
	}
	if snap, err := b.Snapshot(ctx, room, nil); err != nil || snap.PubSeq != 6 || snap.Seq != 5 {
		t.Fatalf("snapshot: PubSeq %d, Seq %d, %v; want 6 and 5", snap.PubSeq, snap.Seq, err)
	}
	if n := len(sub.Record().Deliveries); n != 5 {
		t.Fatalf("%d deliveries, want 5", n)
	}
}

func ptr(n uint64) *uint64 { return &n }

// testPubSeqAcrossClaims: the count is the room's, not the owner's: a new
// owner epoch goes on from it, and a publication of an old epoch neither
// passes nor changes it.
func testPubSeqAcrossClaims(t *testing.T, b broker.Broker) {
	ctx, room := ctxFor(t), newOwnedRoom(t, b)
	for i := uint64(1); i <= 3; i++ {
		p := numbered(i, body(int(i)))
		p.OwnerEpoch = 1
		mustPublish(t, b, room, p)
	}
	epoch, err := b.ClaimOwner(ctx, room, "hash")
	if err != nil {
		t.Fatal(err)
	}
	stale := numbered(4, body(4))
	stale.OwnerEpoch = 1
	if _, err := b.Publish(ctx, room, stale); !errors.Is(err, broker.ErrNotOwner) {
		t.Fatalf("publish as epoch 1 after a claim: %v, want ErrNotOwner", err)
	}
	snap, err := b.Snapshot(ctx, room, nil)
	if err != nil || snap.PubSeq != 3 {
		t.Fatalf("snapshot after the claim: PubSeq %d, %v; want 3", snap.PubSeq, err)
	}
	again := numbered(3, body(3))
	again.OwnerEpoch = epoch
	var repeat *broker.PubSeqRepeatError
	if _, err := b.Publish(ctx, room, again); !errors.As(err, &repeat) || repeat.Last != 3 {
		t.Fatalf("resent 3 after the claim: %v, want a repeat with Last 3", err)
	}
	next := numbered(4, body(4))
	next.OwnerEpoch = epoch
	if seq := mustPublish(t, b, room, next); seq != 4 {
		t.Fatalf("4 after the claim: seq %d, want 4", seq)
	}
}

// testConflateKeyDelivered: a publication's conflation key reaches a
// ConflatingSubscriber with the message, in its place in the stream, and
// changes nothing else: the message is numbered, kept and recovered as
// any other. A plain Subscriber gets it through Deliver.
func testConflateKeyDelivered(t *testing.T, b broker.Broker) {
	room := newRoom(t, b)
	rec := NewRecorder()
	plain := &plainSubscriber{r: NewRecorder()}
	for _, s := range []broker.Subscriber{rec, plain} {
		if err := b.Subscribe(ctxFor(t), room, s); err != nil {
			t.Fatalf("Subscribe: %v", err)
		}
	}
	laser := publication(`{"laser":1}`)
	laser.Conflate = "laser pointer" // a space: the key is not a token
	mustPublish(t, b, room, publication(`{"a":1}`))
	mustPublish(t, b, room, laser)
	kept := statePublication("cursor", `{"cursor":1}`)
	kept.Conflate = "cursor"
	mustPublish(t, b, room, kept)
	want := []Delivery{{Seq: 1, Body: []byte(`{"a":1}`)}, {Seq: 2, Body: []byte(`{"laser":1}`), Conflate: "laser pointer"}, {Seq: 3, Body: []byte(`{"cursor":1}`), Conflate: "cursor"}}
	if got := rec.WaitDeliveries(t, 3); !reflect.DeepEqual(got, want) {
		t.Fatalf("a ConflatingSubscriber got %+v, want %+v", got, want)
	}
	for i := range want {
		want[i].Conflate = ""
	}
	if got := plain.r.WaitDeliveries(t, 3); !reflect.DeepEqual(got, want) {
		t.Fatalf("a plain Subscriber got %+v, want %+v", got, want)
	}
	snap, err := b.Snapshot(ctxFor(t), room, nil)
	if err != nil || len(snap.State) != 1 || snap.State[0].Seq != 3 {
		t.Fatalf("Snapshot = %+v, %v; want the conflated state message kept as seq 3", snap, err)
	}
}

// plainSubscriber is a Recorder without its DeliverConflated.
type plainSubscriber struct{ r *Recorder }

func (p *plainSubscriber) Deliver(seq uint64, body []byte) { p.r.Deliver(seq, body) }
func (p *plainSubscriber) Closed(seq uint64)               { p.r.Closed(seq) }
func (p *plainSubscriber) Viewers(total int)               { p.r.Viewers(total) }
func (p *plainSubscriber) Lost()                           { p.r.Lost() }
func (p *plainSubscriber) OwnerClaimed(epoch uint64)       { p.r.OwnerClaimed(epoch) }
