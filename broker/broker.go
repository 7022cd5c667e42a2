// Package broker defines what carries rooms between server nodes: each room's
// ordered stream of messages, its kept state, and whether it is open.
//
// A node keeps a replica of each room it has clients in and subscribes it to
// the room's stream. The owner's node publishes; every subscribed node,
// including the owner's own, receives each message once, in sequence order,
// and fans it out to its local viewers. A joining viewer is placed in that
// stream by a snapshot: the state messages kept up to sequence number S,
// followed by the live messages numbered above S.
//
// The in-memory engine (package memory) serves one process; the Redis engine
// (package redis) serves any number of nodes.
package broker

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Broker is a room engine. Its methods are safe for concurrent use.
type Broker interface {
	// CreateRoom registers a new, open room whose owner holds epoch 1. It
	// fails with ErrRoomExists when the id is taken.
	CreateRoom(ctx context.Context, room string, owner Owner) error

	// ClaimOwner gives the room to whoever proves to hold its owner key,
	// by the key's hash: it ends a grace period started by ReleaseOwner and
	// returns the new owner's epoch. The previous epoch can then neither
	// publish (ErrNotOwner) nor release the room. It fails with
	// ErrRoomNotFound when the room is closed or unknown and with
	// ErrNotOwner when the hash is not the room's. Every subscriber of the
	// room, on every node, is then told OwnerClaimed(epoch), once.
	ClaimOwner(ctx context.Context, room, keyHash string) (epoch uint64, err error)

	// ReleaseOwner says the owner holding epoch is gone: the room stays
	// open for its Owner.Grace, then closes as by CloseRoom unless claimed
	// meanwhile; without a grace it closes before ReleaseOwner returns. It
	// fails with ErrNotOwner when epoch is no longer the room's owner and
	// with ErrRoomNotFound when the room is closed.
	ReleaseOwner(ctx context.Context, room string, epoch uint64) error

	// Publish appends a message to the room's stream: it gives it the next
	// sequence number, keeps it when it is a state message, and delivers it
	// to every subscriber of the room. It fails with ErrRoomNotFound when the
	// room is closed or unknown and with a *StateFullError when keeping it
	// would pass the room's state bounds; either way nothing is published.
	Publish(ctx context.Context, room string, p Publication) (seq uint64, err error)

	// CloseRoom closes the room: it can no longer be joined or published to,
	// and every subscriber receives Closed after the messages before it.
	// Closing a closed or unknown room is not an error.
	CloseRoom(ctx context.Context, room string) error

	// Subscribe starts delivering the room's stream to sub and returns once
	// every message published from then on will reach it. It may fail with
	// ErrRoomNotFound.
	Subscribe(ctx context.Context, room string, sub Subscriber) error

	// Unsubscribe stops deliveries to sub; it is a no-op when sub is not
	// subscribed.
	Unsubscribe(room string, sub Subscriber)

	// Snapshot returns the room's latest sequence number and its kept state
	// messages, oldest first, as of one point in its stream. Given the last
	// seq a viewer saw (lastSeen not nil), it recovers instead when it can:
	// if the room's history still holds every message numbered above it, it
	// returns those (Recovered, Missed) and no state. It fails with
	// ErrRoomNotFound when the room is closed or unknown. The State and
	// Missed slices are the caller's to change (a viewer's outbox clears
	// the entries it sent); the bodies may be shared and must not be.
	Snapshot(ctx context.Context, room string, lastSeen *uint64) (Snapshot, error)

	// SetViewers records that sub's node has count viewers in the room;
	// subscribers then receive the room's total through Viewers.
	SetViewers(ctx context.Context, room string, sub Subscriber, count int) error
}

// Checker is implemented by engines that depend on something that can be
// down, such as a Redis server. Ready returns nil when the engine can serve
// rooms now; the server's /readyz answers 503 otherwise, so that a load
// balancer sends new connections elsewhere. Engines without it, such as the
// in-memory one, are always ready.
type Checker interface {
	Ready(ctx context.Context) error
}

// OpenRoomCloser is implemented by engines that can tell, as they close a
// room, whether it was open (the admin API answers 404 for a room that was
// not), and pass on who closed it. The in-memory and Redis engines
// implement it.
type OpenRoomCloser interface {
	// CloseOpenRoom is CloseRoom, and reports whether the room was open.
	// by says who closed it, when not its owner ("operator"; "" for
	// none): every node's subscribers get it (see ClosedBySubscriber).
	CloseOpenRoom(ctx context.Context, room, by string) (wasOpen bool, err error)
}

// ClosedBySubscriber is implemented by subscribers that want to know who
// closed a room that CloseOpenRoom closed: engines call ClosedBy instead of
// Closed for them (see NotifyClosed).
type ClosedBySubscriber interface {
	ClosedBy(seq uint64, by string)
}

// NotifyClosed tells sub that its room closed at seq, closed by by (""
// when not said): with ClosedBy when sub implements ClosedBySubscriber and
// by is set, else with Closed.
func NotifyClosed(sub Subscriber, seq uint64, by string) {
	if s, ok := sub.(ClosedBySubscriber); ok && by != "" {
		s.ClosedBy(seq, by)
		return
	}
	sub.Closed(seq)
}

// Counted is implemented by engines that count what went wrong since they
// started (the Redis engine); a Manager exports the counts in its metrics.
type Counted interface {
	Counts() Counts
}

// Counts are an engine's counters.
type Counts struct {
	Outages  uint64 // times the engine lost its connection (the Redis pub/sub)
	Gaps     uint64 // rooms whose stream was interrupted on this node (their viewers got 1012)
	Restored uint64 // rooms put back into a Redis that had lost them
}

// Lister is implemented by engines that can list the open rooms of every
// node, so that an operator's view (the admin dashboard) shows the whole
// cluster rather than the rooms with a client on one node. The in-memory
// and Redis engines implement it.
type Lister interface {
	// Rooms returns up to limit open rooms, in no particular order: with
	// more than limit, which ones is up to the engine. The list may be a few
	// seconds old (the Redis engine caches it for 2 s), so that several
	// dashboards polling do not each read every room.
	Rooms(ctx context.Context, limit int) ([]RoomInfo, error)
}

// RoomInfo is what Lister tells about an open room.
type RoomInfo struct {
	ID string
	// Seq is the last sequence number the room gave.
	Seq uint64
	// Viewers is the room's viewer count across all nodes, as last counted.
	Viewers int
	// OwnerAway says the room is in its grace, as Snapshot.OwnerAway does.
	OwnerAway bool
	// OwnerHeld says the room was created Held and no owner claimed it
	// since (see Owner.Held).
	OwnerHeld bool
}

// Inspector is implemented by engines that can describe one open room, from
// any node. The in-memory and Redis engines implement it.
type Inspector interface {
	// Room describes the open room, its kept state's size included. It
	// fails with ErrRoomNotFound when the room is closed or unknown.
	Room(ctx context.Context, room string) (RoomDetail, error)
}

// RoomDetail is what Inspector tells about an open room.
type RoomDetail struct {
	RoomInfo
	// StateMessages and StateBytes are the room's kept state: how many
	// state messages, and the size of their bodies.
	StateMessages int
	StateBytes    int
}

// Owner is how a room's owner is known to the engine.
type Owner struct {
	// KeyHash is the hex SHA-256 of the secret key the room's creator was
	// given; ClaimOwner compares it. The engine never sees the key.
	KeyHash string
	// Grace is how long the room outlives its owner: after ReleaseOwner,
	// and, on engines with several nodes, after the owner's node stopped
	// (then it is at least the engine's own lease). 0 closes at once.
	Grace time.Duration
	// Held says no client connection owns the room yet: the server's HTTP
	// API created it, and the node that did holds epoch 1 for it until a
	// client claims the room with its key (ClaimOwner clears it). Engines
	// only report it (RoomInfo.OwnerHeld); it changes nothing else.
	Held bool
}

// Publication is a message to publish.
type Publication struct {
	// Body is the message's canonical JSON object, without its seq field.
	Body []byte
	// OwnerEpoch, when not 0, publishes only while it is the room's owner
	// epoch (see ClaimOwner); otherwise Publish fails with ErrNotOwner.
	OwnerEpoch uint64
	// StateKey, when not empty, makes the message a state message kept
	// under that key: it replaces the one kept under the same key, and
	// moves to the end of the replay order.
	StateKey string
	// ClearState empties the room's kept state before this message: it is
	// then checked against the bounds, and kept, as in a room that keeps
	// nothing. A refused message clears nothing.
	ClearState bool
	// PubSeq, when not 0, is the owner's own number for this message: the
	// room accepts it only as the number after the last one it accepted
	// (kept with the room, so that it holds across nodes and resumes).
	// Publish fails with a *PubSeqRepeatError for a number already
	// accepted and a *PubSeqGapError for one past the next, publishing
	// nothing. A refusal by the engine (a *StateFullError, a
	// *LostWritesError) still uses the number up: it was answered.
	// Publications without PubSeq neither check nor change the count.
	PubSeq uint64
	// Void, with PubSeq, only uses the number up, as a refusal does:
	// nothing is published or kept, and Publish returns seq 0. The server
	// refuses a numbered broadcast it finds malformed this way, so that the
	// owner's later numbers are not refused as a gap.
	Void bool
	// The room's state bounds, applied to this message.
	MaxStateMessages int
	MaxStateBytes    int
	// MaxTotalStateBytes bounds the kept state of all the engine's rooms
	// together, for engines that keep it in this process's memory (the
	// in-memory one); keeping this message may not pass it. Engines that
	// keep state elsewhere ignore it: Redis is bounded by its maxmemory.
	// Zero is unbounded.
	MaxTotalStateBytes int
	// The room's history bounds: the engine keeps the latest messages, up
	// to this many and this many bytes of bodies, for viewers that recover
	// (see Snapshot). Zero keeps none.
	MaxHistoryMessages int
	MaxHistoryBytes    int
	// MaxTotalHistoryBytes bounds the histories of all the engine's rooms
	// together, for engines that keep them in this process's memory: past
	// it, the room this message goes to drops its oldest messages first, so
	// viewers that rejoin from before them get the state replay instead.
	// Zero is unbounded.
	MaxTotalHistoryBytes int

	// Conflate, when not empty, says only the latest message of this key
	// matters to a viewer that falls behind: the engine hands it to every
	// subscriber with the message (see Deliver), so that no node parses
	// the body to learn it. It changes nothing else: the message is
	// numbered, kept and recovered as any other.
	Conflate string
}

// Snapshot is a room's kept state as of sequence number Seq, or, when
// Recovered, the messages a recovering viewer missed up to Seq.
type Snapshot struct {
	Seq   uint64
	State []Entry
	// Recovered says Missed holds every message numbered above the lastSeen
	// given to Snapshot, up to Seq, in order; State is then empty.
	Recovered bool
	Missed    []Entry
	// OwnerAway says the room is in its grace: ReleaseOwner was called, or
	// the owner's node stopped (see OwnerNews), and no ClaimOwner since.
	OwnerAway bool
	// PubSeq is the last owner number the room accepted (see
	// Publication.PubSeq); 0 when none.
	PubSeq uint64
}

// Entry is one kept state message.
type Entry struct {
	Seq  uint64
	Body []byte
}

// Subscriber receives a room's stream: a node's replica of the room. A
// broker calls its methods from one goroutine at a time per room, in stream
// order; they must not block.
type Subscriber interface {
	// Deliver receives the message numbered seq. Owner news the engine
	// published itself (see OwnerNewsPublisher) arrives here too.
	Deliver(seq uint64, body []byte)
	// Closed is the last thing a subscriber receives from the room.
	Closed(seq uint64)
	// Viewers receives the room's viewer count across all nodes.
	Viewers(total int)
	// Lost says the engine could not deliver part of the stream, for
	// example during an outage: what the subscriber holds may have gaps.
	// Deliveries go on after it, in order, from where the engine resumed.
	Lost()
	// OwnerClaimed says that ClaimOwner gave the room to the owner holding
	// epoch, so that a node fences off an owner connection holding an older
	// epoch at once rather than at its next publish. It is not numbered:
	// the claim is not news for viewers, and comes between deliveries in no
	// particular place of the stream. A subscriber told Lost may have
	// missed it.
	OwnerClaimed(epoch uint64)
}

// ConflatingSubscriber is a Subscriber that conflates (the server's room
// replica): engines deliver a publication with a Conflate key to it with
// DeliverConflated, in its place in the stream, instead of Deliver.
type ConflatingSubscriber interface {
	Subscriber
	// DeliverConflated receives the message numbered seq, which only
	// matters until a newer one of key arrives.
	DeliverConflated(seq uint64, body []byte, key string)
}

// Deliver hands the message numbered seq to s: with its conflation key
// when it has one and s is a ConflatingSubscriber, else with s.Deliver.
// Engines call it for every delivery.
func Deliver(s Subscriber, seq uint64, body []byte, conflate string) {
	if conflate != "" {
		if cs, ok := s.(ConflatingSubscriber); ok {
			cs.DeliverConflated(seq, body, conflate)
			return
		}
	}
	s.Deliver(seq, body)
}

// OwnerNews is what an engine with several nodes learns by itself of a
// room's owner: the owner's node stopped (it crashed, or lost the engine
// for longer than its lease) without the owner leaving, and the room waits
// GraceLeft for it (Away); or that node is back, still holding the owner.
type OwnerNews struct {
	Room      string
	Epoch     uint64 // the owner's: the news is published as it
	Away      bool
	GraceLeft time.Duration
}

// Renderer makes the publication that tells a room's viewers owner news in
// the room's stream: the server knows the message format and the room's
// bounds. The engine publishes it as the news's Epoch, so that news a claim
// made stale is dropped.
type Renderer func(OwnerNews) Publication

// OwnerNewsPublisher is implemented by engines that learn owner news by
// themselves (the Redis engine): they publish it, once per event, numbered
// in the room's stream. The server gives them its Renderer before it uses
// them; without one they publish none. The in-memory engine learns none:
// its owners' connections end with their node.
type OwnerNewsPublisher interface {
	SetRenderer(Renderer)
}

// Errors of the Broker methods.
var (
	ErrRoomNotFound = errors.New("room not found")
	ErrRoomExists   = errors.New("room id already in use")
	// ErrNotOwner refuses an owner key that is not the room's, or an owner
	// epoch that another connection's claim replaced.
	ErrNotOwner = errors.New("not the room's owner")
	// ErrUnavailable wraps errors reaching the engine, such as a Redis outage.
	// An engine may also return it, for a while, instead of ErrRoomNotFound
	// for a room it cannot find yet: a Redis that restarted empty has rooms
	// their owners' nodes are still putting back.
	ErrUnavailable = errors.New("broker unavailable")
)

// StateFullError refuses a state message that would pass a room's bounds,
// or the engine's bound on all rooms' state together.
type StateFullError struct {
	Messages, Bytes int // the room's bounds; the one passed is non-zero
	TotalBytes      int // the engine's bound, when it is the one passed
}

func (e *StateFullError) Error() string {
	switch {
	case e.Messages > 0:
		return fmt.Sprintf("the room keeps at most %d state messages", e.Messages)
	case e.TotalBytes > 0:
		return fmt.Sprintf("the server keeps at most %d bytes of state messages across all its rooms, and they are full; clear or replace kept state, or try again later", e.TotalBytes)
	}
	return fmt.Sprintf("the room keeps at most %d bytes of state messages", e.Bytes)
}

// PubSeqRepeatError refuses a publication whose PubSeq the room accepted
// already: it is not published again. Last is the room's last accepted
// number.
type PubSeqRepeatError struct {
	PubSeq, Last uint64
}

func (e *PubSeqRepeatError) Error() string {
	return fmt.Sprintf("pubSeq %d was accepted already (the room accepted up to %d)", e.PubSeq, e.Last)
}

// PubSeqGapError refuses a publication whose PubSeq is past the next one
// the room expects, Last+1: nothing is published.
type PubSeqGapError struct {
	PubSeq, Last uint64
}

func (e *PubSeqGapError) Error() string {
	return fmt.Sprintf("pubSeq %d is not the next number: the room expects %d", e.PubSeq, e.Last+1)
}

// UnreplicatedError says that a publication was delivered and kept as Seq,
// but that fewer replicas than the engine waits for (Want) confirmed it
// within its wait (Redis WAIT): until they do, a failover of the room's
// master may lose it. It is not a refusal: the message is not to be sent
// again.
type UnreplicatedError struct {
	Seq            uint64
	Replicas, Want int
}

func (e *UnreplicatedError) Error() string {
	return fmt.Sprintf("delivered and kept as seq %d, but %d of the %d replicas waited for confirmed it in time: a failover of the room engine now may lose it; do not send it again", e.Seq, e.Replicas, e.Want)
}

// LostWritesError refuses a publication because the engine found that it
// lost the room's latest messages (a Redis failover to a replica that had
// not received them, or a restart from an older copy): the room went back
// to Survived, the last seq it still has. The refused message was not
// delivered either. The room's numbering goes on past every seq given
// before, so that no number means two messages.
type LostWritesError struct {
	Survived uint64
}

func (e *LostWritesError) Error() string {
	return fmt.Sprintf("the room's latest messages were lost by the room engine: it holds them up to seq %d; this message was not delivered either", e.Survived)
}
