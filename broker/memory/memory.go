// Package memory is the in-memory room engine: one process, no
// dependencies. It is the server's default.
package memory

import (
	"context"
	"crypto/subtle"
	"sync"
	"time"

	"github.com/rtbroadcaster/rtbroadcaster/broker"
)

// Broker keeps rooms in memory. Several Managers in one process may share
// one, which makes them nodes of one cluster. The zero value is not usable:
// call New.
type Broker struct {
	mu    sync.Mutex
	rooms map[string]*room
	// stateBytes is the size of every open room's kept state, which
	// Publication.MaxTotalStateBytes bounds. Rooms change it under their
	// own lock, then this one.
	stateBytes int
	// historyBytes is the size of every open room's history, which
	// Publication.MaxTotalHistoryBytes bounds; guarded the same way.
	historyBytes int
}

// room is one room's stream. Its lock orders publications, snapshots and
// subscriptions; deliveries happen under it, so every subscriber sees the
// stream in order.
type room struct {
	mu      sync.Mutex
	seq     uint64
	state   *stateStore
	history history
	subs    []broker.Subscriber
	viewers map[broker.Subscriber]int
	owner   broker.Owner
	epoch   uint64      // of the room's current owner
	pubSeq  uint64      // the last owner number accepted (Publication.PubSeq)
	grace   *time.Timer // closes the room when its owner is not back in time
}

var (
	_ broker.Broker         = (*Broker)(nil)
	_ broker.Lister         = (*Broker)(nil)
	_ broker.Inspector      = (*Broker)(nil)
	_ broker.OpenRoomCloser = (*Broker)(nil)
)

// New returns an empty engine.
func New() *Broker { return &Broker{rooms: map[string]*room{}} }

func (b *Broker) CreateRoom(_ context.Context, id string, owner broker.Owner) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, taken := b.rooms[id]; taken {
		return broker.ErrRoomExists
	}
	b.rooms[id] = &room{state: newStateStore(), viewers: map[broker.Subscriber]int{}, owner: owner, epoch: 1}
	return nil
}

func (b *Broker) ClaimOwner(_ context.Context, id, keyHash string) (uint64, error) {
	r := b.lookup(id)
	if r == nil {
		return 0, broker.ErrRoomNotFound
	}
	defer r.mu.Unlock()
	if subtle.ConstantTimeCompare([]byte(keyHash), []byte(r.owner.KeyHash)) != 1 {
		return 0, broker.ErrNotOwner
	}
	if r.grace != nil {
		r.grace.Stop()
		r.grace = nil
	}
	r.epoch++
	r.owner.Held = false
	// Under the room's lock, as deliveries are: each subscriber gets one
	// call at a time, and none calls back into the engine.
	for _, s := range r.subs {
		s.OwnerClaimed(r.epoch)
	}
	return r.epoch, nil
}

func (b *Broker) ReleaseOwner(_ context.Context, id string, epoch uint64) error {
	r := b.lookup(id)
	if r == nil {
		return broker.ErrRoomNotFound
	}
	if r.epoch != epoch {
		r.mu.Unlock()
		return broker.ErrNotOwner
	}
	if r.owner.Grace <= 0 {
		r.mu.Unlock()
		_, err := b.closeRoom(id, epoch, "")
		return err
	}
	defer r.mu.Unlock()
	if r.grace == nil {
		r.grace = time.AfterFunc(r.owner.Grace, func() { _, _ = b.closeRoom(id, epoch, "") })
	}
	return nil
}

// lookup returns the open room id, locked, or nil.
func (b *Broker) lookup(id string) *room {
	b.mu.Lock()
	r := b.rooms[id]
	b.mu.Unlock()
	if r == nil {
		return nil
	}
	r.mu.Lock()
	if r.state == nil { // closed between the two locks
		r.mu.Unlock()
		return nil
	}
	return r
}

func (b *Broker) Publish(_ context.Context, id string, p broker.Publication) (uint64, error) {
	r := b.lookup(id)
	if r == nil {
		return 0, broker.ErrRoomNotFound
	}
	defer r.mu.Unlock()
	if p.OwnerEpoch != 0 && p.OwnerEpoch != r.epoch {
		return 0, broker.ErrNotOwner
	}
	if p.PubSeq != 0 {
		switch {
		case p.PubSeq <= r.pubSeq:
			return 0, &broker.PubSeqRepeatError{PubSeq: p.PubSeq, Last: r.pubSeq}
		case p.PubSeq > r.pubSeq+1:
			return 0, &broker.PubSeqGapError{PubSeq: p.PubSeq, Last: r.pubSeq}
		}
		// From here on the number is used up, whether the message is
		// published or refused.
		r.pubSeq = p.PubSeq
		if p.Void {
			return 0, nil
		}
	}
	state := r.state
	if p.ClearState {
		state = newStateStore()
	}
	size := state.bytes
	if p.StateKey != "" {
		var err error
		if size, err = state.check(p.StateKey, p.Body, p.MaxStateMessages, p.MaxStateBytes); err != nil {
			return 0, err
		}
	}
	if !b.resizeState(size-r.state.bytes, p.MaxTotalStateBytes) {
		return 0, &broker.StateFullError{TotalBytes: p.MaxTotalStateBytes}
	}
	r.seq++
	r.state = state
	if p.StateKey != "" {
		r.state.put(p.StateKey, broker.Entry{Seq: r.seq, Body: p.Body})
	}
	before := r.history.bytes
	r.history.add(r.seq, p.Body, p.MaxHistoryMessages, p.MaxHistoryBytes)
	if over := b.resizeHistory(r.history.bytes-before, p.MaxTotalHistoryBytes); over > 0 {
		b.resizeHistory(-r.history.trim(over), 0)
	}
	for _, s := range r.subs {
		broker.Deliver(s, r.seq, p.Body, p.Conflate)
	}
	return r.seq, nil
}

// resizeState counts a change of delta bytes in a room's kept state; it
// refuses a growth that would pass maxTotal (0: unbounded).
func (b *Broker) resizeState(delta, maxTotal int) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if delta > 0 && maxTotal > 0 && b.stateBytes+delta > maxTotal {
		return false
	}
	b.stateBytes += delta
	return true
}

// resizeHistory counts a change of delta bytes in a room's history, and
// returns by how much all the rooms' histories now pass maxTotal (0:
// unbounded): what the room that grew must drop.
func (b *Broker) resizeHistory(delta, maxTotal int) (over int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.historyBytes += delta
	if maxTotal > 0 && b.historyBytes > maxTotal {
		return b.historyBytes - maxTotal
	}
	return 0
}

func (b *Broker) CloseRoom(_ context.Context, id string) error {
	_, err := b.closeRoom(id, 0, "")
	return err
}

// CloseOpenRoom is CloseRoom, and reports whether the room was open
// (broker.OpenRoomCloser).
func (b *Broker) CloseOpenRoom(_ context.Context, id, by string) (wasOpen bool, err error) {
	return b.closeRoom(id, 0, by)
}

// closeRoom closes the room, only while its owner holds epoch unless that
// is 0; by is who closed it (see broker.OpenRoomCloser).
func (b *Broker) closeRoom(id string, epoch uint64, by string) (wasOpen bool, err error) {
	r := b.lookup(id)
	if r == nil {
		return false, nil
	}
	defer r.mu.Unlock()
	if epoch != 0 && epoch != r.epoch {
		return true, broker.ErrNotOwner
	}
	b.mu.Lock()
	delete(b.rooms, id)
	b.stateBytes -= r.state.bytes
	b.historyBytes -= r.history.bytes
	b.mu.Unlock()
	if r.grace != nil {
		r.grace.Stop()
	}
	r.seq++
	r.state = nil // marks it closed
	r.history = history{}
	subs := r.subs
	r.subs = nil
	for _, s := range subs {
		broker.NotifyClosed(s, r.seq, by)
	}
	return true, nil
}

func (b *Broker) Subscribe(_ context.Context, id string, sub broker.Subscriber) error {
	r := b.lookup(id)
	if r == nil {
		return broker.ErrRoomNotFound
	}
	defer r.mu.Unlock()
	r.subs = append(r.subs, sub)
	return nil
}

func (b *Broker) Unsubscribe(id string, sub broker.Subscriber) {
	r := b.lookup(id)
	if r == nil {
		return
	}
	defer r.mu.Unlock()
	for i, s := range r.subs {
		if s == sub {
			r.subs = append(r.subs[:i], r.subs[i+1:]...)
			break
		}
	}
	if _, counted := r.viewers[sub]; counted {
		delete(r.viewers, sub)
		r.tellViewers()
	}
}

func (b *Broker) Snapshot(_ context.Context, id string, lastSeen *uint64) (broker.Snapshot, error) {
	r := b.lookup(id)
	if r == nil {
		return broker.Snapshot{}, broker.ErrRoomNotFound
	}
	defer r.mu.Unlock()
	away := r.grace != nil
	if lastSeen != nil {
		if missed, ok := r.history.after(*lastSeen, r.seq); ok {
			return broker.Snapshot{Seq: r.seq, Recovered: true, Missed: missed, OwnerAway: away, PubSeq: r.pubSeq}, nil
		}
	}
	return broker.Snapshot{Seq: r.seq, State: r.state.entries(), OwnerAway: away, PubSeq: r.pubSeq}, nil
}

func (b *Broker) SetViewers(_ context.Context, id string, sub broker.Subscriber, count int) error {
	r := b.lookup(id)
	if r == nil {
		return broker.ErrRoomNotFound
	}
	defer r.mu.Unlock()
	r.viewers[sub] = count
	r.tellViewers()
	return nil
}

// Rooms lists up to limit open rooms, in no particular order.
func (b *Broker) Rooms(_ context.Context, limit int) ([]broker.RoomInfo, error) {
	out := []broker.RoomInfo{}
	for id, r := range b.someRooms(limit) {
		if info, open := r.info(id); open {
			out = append(out, info)
		}
	}
	return out, nil
}

// someRooms copies up to limit entries of the map of open rooms, so that no
// room's lock is taken under the engine's.
func (b *Broker) someRooms(limit int) map[string]*room {
	b.mu.Lock()
	defer b.mu.Unlock()
	some := make(map[string]*room, min(limit, len(b.rooms)))
	for id, r := range b.rooms {
		if len(some) >= limit {
			break
		}
		some[id] = r
	}
	return some
}

// info describes the room, unless it closed since it was looked up.
func (r *room) info(id string) (broker.RoomInfo, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.infoLocked(id), r.state != nil
}

func (r *room) infoLocked(id string) broker.RoomInfo {
	return broker.RoomInfo{ID: id, Seq: r.seq, Viewers: r.viewerTotal(), OwnerAway: r.grace != nil, OwnerHeld: r.owner.Held}
}

// Room describes the open room id (broker.Inspector).
func (b *Broker) Room(_ context.Context, id string) (broker.RoomDetail, error) {
	r := b.lookup(id)
	if r == nil {
		return broker.RoomDetail{}, broker.ErrRoomNotFound
	}
	defer r.mu.Unlock()
	return broker.RoomDetail{RoomInfo: r.infoLocked(id), StateMessages: r.state.order.Len(), StateBytes: r.state.bytes}, nil
}

// viewerTotal adds up the viewers of every node. Call it under the room's
// lock.
func (r *room) viewerTotal() int {
	total := 0
	for _, n := range r.viewers {
		total += n
	}
	return total
}

// tellViewers sends the room's total viewer count to every subscriber.
func (r *room) tellViewers() {
	total := r.viewerTotal()
	for _, s := range r.subs {
		s.Viewers(total)
	}
}
