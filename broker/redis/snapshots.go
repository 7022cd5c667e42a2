package redis

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/rtbroadcaster/rtbroadcaster/broker"
)

// snapshotFetchTimeout bounds one shared snapshot read: the joins waiting
// for it have deadlines of their own, and give up on it sooner.
const snapshotFetchTimeout = 5 * time.Second

// snapshotFlights shares the reads of rooms' full snapshots between the
// joins that want one at the same time, as a group commit does: at most one
// read of a room runs at a time, and the joins that ask while it runs wait
// for the next one, which starts when it ends and serves them all. A join
// storm into a room that keeps 8 MiB of state then costs Redis and this
// node two reads in flight, not one per joiner. Every join gets a read that
// began after it asked, so it misses nothing: what was published before it
// asked is in the snapshot, what after it reaches the subscriber it set up
// before asking.
type snapshotFlights struct {
	mu    sync.Mutex
	rooms map[string]*roomFlights
}

// roomFlights is one room's read in flight and the one waiting to start.
type roomFlights struct {
	running, next *snapshotFlight
}

// snapshotFlight is one read of a room's snapshot, shared read-only by every
// join that waits for it.
type snapshotFlight struct {
	done chan struct{}
	snap broker.Snapshot
	err  error
}

// sharedSnapshot returns a full snapshot of room (no recovery) read after
// the call began, sharing the read with concurrent calls.
func (b *Broker) sharedSnapshot(ctx context.Context, room string) (broker.Snapshot, error) {
	f, err := b.joinFlight(room)
	if err != nil {
		return broker.Snapshot{}, err
	}
	select {
	case <-f.done:
		// The bodies are shared, read-only; the slices are each caller's,
		// as every engine's are: an outbox clears the entries it sent.
		snap := f.snap
		snap.State, snap.Missed = slices.Clone(snap.State), slices.Clone(snap.Missed)
		return snap, f.err
	case <-ctx.Done():
		return broker.Snapshot{}, unavailable("snapshot of", room, fmt.Errorf("waiting for a read of the room: %w", ctx.Err()))
	}
}

// joinFlight returns the read a new call waits for: the next one when a
// read of the room is running, else one it starts now.
func (b *Broker) joinFlight(room string) (*snapshotFlight, error) {
	b.flights.mu.Lock()
	defer b.flights.mu.Unlock()
	if b.closing() {
		return nil, unavailable("snapshot of", room, fmt.Errorf("engine closed"))
	}
	rf := b.flights.rooms[room]
	if rf == nil {
		rf = &roomFlights{}
		b.flights.rooms[room] = rf
	}
	if rf.running != nil {
		if rf.next == nil {
			rf.next = &snapshotFlight{done: make(chan struct{})}
		}
		return rf.next, nil
	}
	rf.running = &snapshotFlight{done: make(chan struct{})}
	b.wg.Add(1)
	go b.fly(room, rf)
	return rf.running, nil
}

// fly reads the room for the running flight, then for the next one while
// calls keep joining, and forgets the room when none waits. Its reads do
// not depend on any one caller's context: a join that gives up leaves the
// read to the others.
func (b *Broker) fly(room string, rf *roomFlights) {
	defer b.wg.Done()
	for {
		b.flights.mu.Lock()
		f := rf.running
		b.flights.mu.Unlock()

		ctx, cancel := context.WithTimeout(b.ctx, snapshotFetchTimeout)
		f.snap, f.err = b.snapshotOrRestore(ctx, room, nil)
		cancel()
		close(f.done)

		b.flights.mu.Lock()
		rf.running, rf.next = rf.next, nil
		if rf.running == nil {
			delete(b.flights.rooms, room)
			b.flights.mu.Unlock()
			return
		}
		b.flights.mu.Unlock()
	}
}
