package redis

import (
	"cmp"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/rtbroadcaster/rtbroadcaster/broker"
)

// ownedRooms is this node's record of the rooms it owns (their lease it
// renews) or released (their grace it ends), each with a restore copy:
// owner key hash, grace, epoch, last seq and kept state (not the history),
// bounded by the room's state bounds. Its lock guards nothing else and is
// never held across a Redis call.
//
// A copy is as good as what this node saw: a Redis restart within moments
// of a claim on another node, or of a publish not yet recorded here, may
// restore an older owner or give a seq twice.
type ownedRooms struct {
	mu    sync.Mutex
	rooms map[string]*ownedRoom
}

// ownedRoom is one room in ownedRooms.
type ownedRoom struct {
	epoch      uint64 // the owner's, as this node last knew it
	away       bool   // released here: in its grace since releasedAt
	releasedAt time.Time
	// complete says the copy below holds the whole room, so that it may be
	// restored; it is not when the snapshot after a claim failed.
	complete bool
	keyHash  string
	grace    time.Duration
	seq      uint64                  // the last seq given, as far as this node knows
	pubSeq   uint64                  // the last owner number accepted through this node
	state    map[string]broker.Entry // by state key
}

// restoreCopy is an ownedRoom as restoreScript needs it.
type restoreCopy struct {
	epoch     uint64
	keyHash   string
	grace     time.Duration
	seq       uint64
	pubSeq    uint64
	away      bool
	graceLeft time.Duration // of a room away
	keys      []string      // state keys, in replay order (by seq)
	entries   []broker.Entry
}

func newOwnedRooms() *ownedRooms {
	return &ownedRooms{rooms: map[string]*ownedRoom{}}
}

// created records a room this node just created: epoch 1, nothing published.
func (o *ownedRooms) created(room string, owner broker.Owner) {
	o.set(room, &ownedRoom{epoch: 1, complete: true, keyHash: owner.KeyHash, grace: max(owner.Grace, 0), state: map[string]broker.Entry{}})
}

// claimed records a room this node just claimed at epoch, with the copy
// read from Redis after the claim (see readCopy), or an incomplete one when
// it could not be read: the room is then owned but cannot be restored.
func (o *ownedRooms) claimed(room string, epoch uint64, keyHash string, r *ownedRoom) {
	r.epoch, r.keyHash = epoch, keyHash
	o.set(room, r)
}

func (o *ownedRooms) set(room string, r *ownedRoom) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.rooms[room] = r
}

// released marks the room away from now, for its grace, when this node
// holds it at epoch; otherwise it records the room away with no copy, so
// that its grace is still watched. It returns the grace, 0 when unknown.
func (o *ownedRooms) released(room string, epoch uint64, now time.Time) (grace time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	r := o.rooms[room]
	if r == nil || r.epoch != epoch {
		r = &ownedRoom{epoch: epoch}
		o.rooms[room] = r
	}
	r.away, r.releasedAt = true, now
	return r.grace
}

// awayAt returns the epoch of a room released here, or false when it is
// not away (any more).
func (o *ownedRooms) awayAt(room string) (epoch uint64, ok bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if r := o.rooms[room]; r != nil && r.away {
		return r.epoch, true
	}
	return 0, false
}

// published records p, which the room numbered seq: a message that clears
// the state empties the copy's, and a state message replaces the one kept
// under its key. The body is copied: callers may reuse theirs. seq 0 records
// only p's PubSeq, used up by a refusal or a void publication.
func (o *ownedRooms) published(room string, seq uint64, p broker.Publication) {
	o.mu.Lock()
	defer o.mu.Unlock()
	r := o.rooms[room]
	if r == nil || (p.OwnerEpoch != 0 && p.OwnerEpoch != r.epoch) {
		return
	}
	r.pubSeq = max(r.pubSeq, p.PubSeq)
	if seq == 0 {
		return
	}
	r.seq = max(r.seq, seq)
	if r.state == nil {
		return // an incomplete copy: never restored
	}
	if p.ClearState {
		clear(r.state)
	}
	if p.StateKey != "" {
		r.state[p.StateKey] = broker.Entry{Seq: seq, Body: slices.Clone(p.Body)}
	}
}

// delivered records that the room's stream reached seq, as seen by this
// node's subscription: messages published by other nodes count too.
func (o *ownedRooms) delivered(room string, seq uint64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if r := o.rooms[room]; r != nil {
		r.seq = max(r.seq, seq)
	}
}

// floor is the last seq this node knows the room gave, for publishScript to
// notice that Redis lost writes; 0 when it holds no record at epoch (0:
// any).
func (o *ownedRooms) floor(room string, epoch uint64) uint64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	if r := o.rooms[room]; r != nil && (epoch == 0 || r.epoch == epoch) {
		return r.seq
	}
	return 0
}

// forget drops the room, unless its epoch or its being away changed
// meanwhile: the caller found it closed, or claimed by another owner.
func (o *ownedRooms) forget(room string, epoch uint64, away bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if r := o.rooms[room]; r != nil && r.epoch == epoch && r.away == away {
		delete(o.rooms, room)
	}
}

// drop forgets the room whatever its epoch: it was closed.
func (o *ownedRooms) drop(room string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	delete(o.rooms, room)
}

// dropAt forgets the room when it is held at epoch: a release at that
// epoch failed, since the room was closed or claimed by another owner.
func (o *ownedRooms) dropAt(room string, epoch uint64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if r := o.rooms[room]; r != nil && r.epoch == epoch {
		delete(o.rooms, room)
	}
}

// roomEpoch is a room with its owner's epoch.
type roomEpoch struct {
	room  string
	epoch uint64
}

// epochs lists the rooms owned here (away false) or away, with their epochs.
func (o *ownedRooms) epochs(away bool) []roomEpoch {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make([]roomEpoch, 0, len(o.rooms))
	for room, r := range o.rooms {
		if r.away == away {
			out = append(out, roomEpoch{room, r.epoch})
		}
	}
	return out
}

// copyOf returns what restoring the room needs, as of now, or false when
// this node holds no complete copy of it (at epoch, unless epoch is 0), or
// its grace has run out.
func (o *ownedRooms) copyOf(room string, epoch uint64, now time.Time) (restoreCopy, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	r := o.rooms[room]
	if r == nil || !r.complete || (epoch != 0 && epoch != r.epoch) {
		return restoreCopy{}, false
	}
	c := restoreCopy{epoch: r.epoch, keyHash: r.keyHash, grace: r.grace, seq: r.seq, pubSeq: r.pubSeq, away: r.away}
	if r.away {
		c.graceLeft = r.releasedAt.Add(r.grace).Sub(now)
		if c.graceLeft <= 0 {
			return restoreCopy{}, false
		}
	}
	c.keys = slices.SortedFunc(maps.Keys(r.state), func(a, b string) int {
		return cmp.Compare(r.state[a].Seq, r.state[b].Seq)
	})
	for _, k := range c.keys {
		c.entries = append(c.entries, r.state[k]) // bodies are never changed in place: sharing them is safe
	}
	return c, true
}
