package rtbroadcaster

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rtbroadcaster/rtbroadcaster/broker"
	"github.com/rtbroadcaster/rtbroadcaster/protocol"
)

var _ broker.ConflatingSubscriber = (*room)(nil)

// presenceInterval is the shortest time between two viewer-count reports
// of a node: a thousand viewers joining at once make a handful of them.
const presenceInterval = 200 * time.Millisecond

// room is this node's replica of a room: its local viewers, and its owner
// when the owner is connected here. It subscribes to the room's stream in
// the broker and fans each message out to its viewers, framing it once.
// Nothing blocks under its lock: fan-out only queues frames. The engine
// calls it (Deliver, Closed, Lost, Viewers, OwnerClaimed) possibly with its
// own locks held, so the room never calls the engine under mu; the lock
// order is in LOCKING.md.
type room struct {
	// Set by newRoom, then only read.
	id  string
	mgr *Manager
	// skipPrefix starts the skip markers of the room's conflated messages
	// (see conflate.go); it is shared by every viewer's outbox.
	skipPrefix []byte

	// Set up by Manager.attach: ready is closed once the subscription is
	// made, with subErr telling how it went (written once, before ready
	// closes; read after it). refs is guarded by mgr.mu.
	ready  chan struct{}
	subErr error
	refs   int

	closed atomic.Bool // set under mu; read without it by connections

	// Atomic counters for the metrics and the admin API, read without mu.
	openedAt     time.Time
	localViewers atomic.Int64 // viewers on this node, as their connections count them
	totalViewers atomic.Int64 // across the cluster, as the engine last said; -1 before it did
	messages     atomic.Uint64

	// engineMu orders this replica's viewer-count reports with its
	// unsubscribe, so that no report follows it and leaves a count behind
	// in the engine. It is only held around those calls, never with mu.
	engineMu     sync.Mutex
	unsubscribed bool // guarded by engineMu

	// Guarded by mu, as are the member fields (slot, joining) of every
	// connection in viewers. Under mu the room only queues frames on
	// outboxes (outbox.mu), arms timers and counts metrics.
	mu      sync.Mutex
	lastSeq uint64 // of the last message the stream delivered here
	owner   *conn  // nil when the owner is on another node
	// ownerEpoch is owner's, and claimedEpoch the latest this node heard
	// of, from a local owner or from the engine (OwnerClaimed): an owner
	// with an older epoch is fenced off.
	ownerEpoch, claimedEpoch uint64
	viewers                  []*conn // each viewer's slot field is its index here
	presence                 presence
	// held is the room count of an owner that left from here, while the
	// room waits for it (see held.go).
	held *heldReservation
}

// newRoom is a replica of room id, with one reference, not subscribed yet.
func newRoom(m *Manager, id string) *room {
	r := &room{id: id, mgr: m, skipPrefix: skipMarkerPrefix(id), ready: make(chan struct{}), refs: 1, openedAt: time.Now()}
	r.totalViewers.Store(-1)
	return r
}

// presence is the coalescing of viewer-count reports to the broker.
type presence struct {
	timer    *time.Timer // pending report, or nil
	lastSent time.Time
}

// member is the state a room keeps in each viewer connection it holds:
// those fields of the connection are guarded by the room's mu, not owned
// by its read side.
type member struct {
	slot    int     // the viewer's index in room.viewers
	joining *joiner // set between a viewer's subscription and its snapshot
}

// joiner is a viewer between its subscription and its snapshot: what the
// stream delivers meanwhile waits here, to go after the state replay.
type joiner struct {
	frames   [][]byte
	seqs     []uint64
	keys     []string // the conflation key of each frame; "" for none
	bytes    int
	overflow bool // more arrived than its send queue may hold
	// replayedTo is set once the viewer is live but the stream here has not
	// yet delivered the snapshot's last message: an engine that delivers
	// asynchronously (Redis) may still bring messages the replay covered,
	// and those are skipped.
	replayedTo uint64
}

// addJoiner adds v as a viewer whose deliveries are held until finishJoin.
func (r *room) addJoiner(v *conn) *Error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed.Load() {
		return newError(CodeRoomNotFound, "join: room %q is closed", r.id)
	}
	if len(r.viewers) >= r.mgr.limits.MaxViewersPerRoom {
		return newError(CodeRoomFull, "join: room %q has its maximum of %d viewers on this node", r.id, r.mgr.limits.MaxViewersPerRoom)
	}
	v.joining = &joiner{}
	v.slot = len(r.viewers)
	r.viewers = append(r.viewers, v)
	return nil
}

// finishJoin queues v's join reply, the state replay of snap (or the
// messages it recovered after lastSeen), and what the stream delivered after
// snap while v waited; from then on v is live. The replay is written as the
// socket drains (outbox.pushReplay), so it may be as large as the room's
// state bounds allow; what is held and delivered meanwhile waits behind it,
// within the send queue's limit.
func (r *room) finishJoin(v *conn, snap broker.Snapshot, lastSeen *uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	held := v.joining
	v.joining = nil
	if r.closed.Load() {
		return // Closed already queued the end of the room for v
	}
	if held.overflow {
		v.out.cutSlow()
		return
	}
	v.out.pushReplay(joinReply(r.id, v.requestID, snap, lastSeen), replayOf(snap))
	for i, frame := range held.frames {
		if held.seqs[i] > snap.Seq {
			r.pushTo(v, frame, held.keys[i])
		}
	}
	if r.lastSeq < snap.Seq {
		v.joining = &joiner{replayedTo: snap.Seq}
	}
	r.schedulePresenceLocked()
}

// replayOf is what follows a join reply: the kept state, or the messages a
// recovering viewer missed.
func replayOf(snap broker.Snapshot) []broker.Entry {
	if snap.Recovered {
		return snap.Missed
	}
	return snap.State
}

// joinReply frames the reply to a join. Its seq is the last message the
// viewer holds once the replay that follows is done: the snapshot's, or,
// recovering, the lastSeen it asked from, so that the missed messages
// continue its numbering. Only a join that asked to recover is told whether
// it did. A viewer that joins while the owner is away is told so here.
func joinReply(id, requestID string, snap broker.Snapshot, lastSeen *uint64) []byte {
	reply := connectedMessage(id)
	reply.ID = requestID
	reply.StateCount = len(snap.State)
	if snap.OwnerAway {
		reply.Owner = ownerAway
	}
	seq := snap.Seq
	if lastSeen != nil {
		reply.Recovered = &snap.Recovered
	}
	if snap.Recovered {
		seq = *lastSeen
	}
	return appendSeq(reply.Encode(), seq)
}

// leave removes viewer v.
func (r *room) leave(v *conn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if v.slot >= len(r.viewers) || r.viewers[v.slot] != v {
		return // already dropped by Closed or Lost
	}
	last := len(r.viewers) - 1
	moved := r.viewers[last]
	r.viewers[v.slot], moved.slot = moved, v.slot
	r.viewers[last] = nil
	r.viewers = r.viewers[:last]
	v.joining = nil
	r.schedulePresenceLocked()
}

// Deliver fans the message numbered seq out to the viewers, framed once,
// and counts one frame per local viewer.
func (r *room) Deliver(seq uint64, body []byte) { r.deliver(seq, body, "") }

// DeliverConflated fans out the message numbered seq, conflated under key:
// each viewer's queue keeps only its latest unsent message of key (see
// conflate.go). It is framed once, as any message.
func (r *room) DeliverConflated(seq uint64, body []byte, key string) { r.deliver(seq, body, key) }

func (r *room) deliver(seq uint64, body []byte, key string) {
	frame := appendSeq(body, seq)
	r.messages.Add(1)
	r.mgr.metrics.sent(int(r.localViewers.Load()), len(frame))
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lastSeq = seq
	for _, v := range r.viewers {
		switch j := v.joining; {
		case j == nil:
			r.pushTo(v, frame, key)
		case j.replayedTo > 0:
			if seq > j.replayedTo {
				v.joining = nil
				r.pushTo(v, frame, key)
			}
		default:
			r.hold(v, seq, frame, key)
		}
	}
}

// pushTo queues a message's frame for viewer v, conflated under key when
// key is not empty.
func (r *room) pushTo(v *conn, frame []byte, key string) {
	if key == "" {
		v.out.push(frame)
	} else {
		v.out.pushConflated(frame, key, r.skipPrefix)
	}
}

// hold keeps a frame for a joining viewer, within its send-queue bound.
func (r *room) hold(v *conn, seq uint64, frame []byte, key string) {
	j := v.joining
	if j.overflow || j.bytes+len(frame) > r.mgr.limits.SendQueueBytes {
		j.overflow, j.frames, j.seqs, j.keys = true, nil, nil, nil
		return
	}
	j.frames, j.seqs, j.keys, j.bytes = append(j.frames, frame), append(j.seqs, seq), append(j.keys, key), j.bytes+len(frame)
}

// Closed ends the room on this node: every viewer is sent a status 0
// message after what it was already sent, then a close frame 1000. An
// owner here that did not close the room itself (an operator did) is told
// with a status 0 message too.
func (r *room) Closed(seq uint64) { r.end(seq, "") }

// ClosedBy is Closed, the status 0 message saying who closed the room
// (Message.ClosedBy; broker.ClosedBySubscriber).
func (r *room) ClosedBy(seq uint64, by string) { r.end(seq, by) }

func (r *room) end(seq uint64, closedBy string) {
	r.mu.Lock()
	if r.closed.Load() {
		r.mu.Unlock()
		return
	}
	r.closed.Store(true)
	owner, viewers := r.owner, r.viewers
	r.viewers = nil
	if r.presence.timer != nil {
		r.presence.timer.Stop()
	}
	held := r.heldLocked()
	r.mu.Unlock()

	r.mgr.forgetRoom(r)
	r.letGo(held)
	m := notConnectedMessage(r.id)
	m.ClosedBy = closedBy
	frame := appendSeq(m.Encode(), seq)
	for _, v := range viewers {
		v.setEndReason("room closed")
		v.out.push(frame)
		v.out.close(CloseNormal, "room closed")
	}
	if owner != nil && !owner.closingRoom.Load() {
		owner.send(textFrame(m))
	}
}

// Lost drops this node's viewers of the room, asking them with close 1012
// to reconnect: they missed messages that nobody can resend them now, and a
// rejoin gives each a fresh, exact state replay. The owner keeps the room.
func (r *room) Lost() {
	r.mu.Lock()
	viewers := r.viewers
	r.viewers = nil
	if !r.closed.Load() {
		r.schedulePresenceLocked()
	}
	r.mu.Unlock()
	r.mgr.log.Warn("room stream interrupted; asking its viewers here to rejoin", "room", r.id, "viewers", len(viewers))
	for _, v := range viewers {
		v.setEndReason("stream interrupted")
		v.out.close(CloseServiceRestart, "stream interrupted: rejoin")
	}
}

// Viewers records the room's viewer count and tells a local owner.
func (r *room) Viewers(total int) {
	r.totalViewers.Store(int64(total))
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.owner == nil || r.closed.Load() {
		return
	}
	m := connectedMessage(r.id)
	m.Viewers = &total
	r.owner.out.push(textFrame(m))
}

// OwnerClaimed fences off a local owner whose epoch the claim of epoch
// replaced: it is told at once, rather than when it next broadcasts. The
// claimer itself, here or on another node, holds epoch and is untouched.
// A room count held for an owner that left (see held.go) is let go: the
// room counts against its claimer now.
func (r *room) OwnerClaimed(epoch uint64) {
	r.mu.Lock()
	r.claimedEpoch = max(r.claimedEpoch, epoch)
	if r.owner != nil && r.ownerEpoch < epoch {
		r.fenceOwnerLocked()
	}
	var held *heldReservation
	if r.held != nil && r.held.epoch < epoch {
		held = r.heldLocked()
	}
	r.mu.Unlock()
	r.letGo(held)
}

// takeOwner makes c, holding epoch, the room's owner here, and queues its
// reply, and the replay of state that follows it, first, so that nothing the
// room tells its owner comes before them. An owner here with an older epoch
// is fenced off: its claimer may get here before the engine's OwnerClaimed
// does. And c is fenced off at once if a later claim got here first.
func (r *room) takeOwner(c *conn, epoch uint64, reply []byte, state []broker.Entry) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c.sendReplay(reply, state)
	r.claimedEpoch = max(r.claimedEpoch, epoch)
	if r.owner != nil && r.ownerEpoch < epoch {
		r.fenceOwnerLocked()
	}
	if epoch < r.claimedEpoch {
		c.fenceOff(r.id)
		return
	}
	r.owner, r.ownerEpoch = c, epoch
}

// fenceOwnerLocked drops the owner here, whose room another connection
// took back with the owner key, and tells it. Call it under r.mu.
func (r *room) fenceOwnerLocked() {
	c := r.owner
	r.owner, r.ownerEpoch = nil, 0
	c.fenceOff(r.id)
}

// askViewerCount reports this node's viewer count soon, which the engine
// answers with the room's total: an owner that resumed learns it so.
func (r *room) askViewerCount() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.closed.Load() {
		r.schedulePresenceLocked()
	}
}

// dropOwner forgets c as the room's owner here, unless another connection
// took the room back since.
func (r *room) dropOwner(c *conn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.owner == c {
		r.owner, r.ownerEpoch = nil, 0
	}
}

// schedulePresenceLocked arranges for the broker to learn this node's viewer
// count soon, unless a report is already pending.
func (r *room) schedulePresenceLocked() {
	if r.presence.timer != nil {
		return
	}
	wait := time.Until(r.presence.lastSent.Add(presenceInterval))
	r.presence.timer = time.AfterFunc(max(wait, 0), r.reportPresence)
}

// reportPresence runs on its own timer goroutine: it reports the count
// without holding the room's lock, since the broker may call back into it,
// and not after the replica unsubscribed.
func (r *room) reportPresence() {
	r.engineMu.Lock()
	defer r.engineMu.Unlock()
	if r.unsubscribed {
		return
	}
	r.mu.Lock()
	if r.closed.Load() {
		r.mu.Unlock()
		return
	}
	r.presence.timer = nil
	r.presence.lastSent = time.Now()
	count := len(r.viewers)
	r.mu.Unlock()

	// Not a connection's context: the report, on a timer, is the room's and
	// outlives whichever connection joined or left.
	ctx, cancel := context.WithTimeout(context.Background(), brokerTimeout)
	defer cancel()
	if err := r.mgr.broker.SetViewers(ctx, r.id, r, count); err != nil {
		r.mgr.log.Debug("viewer count not reported", "room", r.id, "err", err)
	}
}

// unsubscribe ends the replica's subscription; no viewer-count report
// follows it.
func (r *room) unsubscribe() {
	r.engineMu.Lock()
	defer r.engineMu.Unlock()
	r.unsubscribed = true
	r.mgr.broker.Unsubscribe(r.id, r)
}

// connectedMessage is the reply to a create or join: status 3 for room id.
func connectedMessage(id string) *Message {
	return &Message{UUID: id, Status: Status{Value: StatusConnected, Text: TextConnected}}
}

// notConnectedMessage tells a client it is no longer in room id.
func notConnectedMessage(id string) *Message {
	return &Message{UUID: id, Status: Status{Value: StatusNotConnected, Text: TextNotConnected}}
}

// appendSeq frames a message's JSON object with `"seq":seq` added as its
// last field: each node frames a message once, whatever its engine.
func appendSeq(body []byte, seq uint64) []byte { return protocol.AppendSeq(body, seq) }
