package rtbroadcaster

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/rtbroadcaster/rtbroadcaster/auth"
	"github.com/rtbroadcaster/rtbroadcaster/broker"
)

// handle runs one request. A refused request gets one error reply and
// changes nothing else, but for two: a connection without a valid token is
// closed after its reply, and so is one that goes on sending too fast.
func (c *conn) handle(data []byte) {
	read := time.Now()
	if c.limiter != nil {
		if now := c.mgr.now(); !c.limiter.AllowN(now, 1) {
			c.rateLimited(now, data)
			return
		}
	}
	m, err := DecodeMessage(data)
	if err != nil {
		c.replyError(newError(CodeBadRequest, "%v", err))
		return
	}
	c.requestID, c.replyAcked = m.ID, false
	defer func() { c.requestID, c.replyAcked = "", false }()
	var refused *Error
	switch m.Status.Value {
	case StatusNew:
		refused = c.createRoom(m.Token)
	case StatusJoin:
		if m.OwnerKey != "" {
			refused = c.resumeRoom(m.UUID, m.OwnerKey, m.Token)
		} else {
			refused = c.joinRoom(m.UUID, m.Token, lastSeen(m))
		}
	case StatusConnected:
		if refused = c.broadcast(m); refused == nil {
			c.mgr.metrics.fanout.Observe(time.Since(read).Seconds())
		}
	case StatusClose:
		refused = c.closeRoom(m.UUID)
	default:
		refused = newError(CodeBadRequest, "status.value %d is not a request: send 1 (create), 2 (join), 3 (broadcast) or 4 (close)", m.Status.Value)
	}
	if refused != nil {
		c.replyError(refused)
	}
	if refused != nil && refused.Code == CodeUnauthorized {
		c.closeWith(CloseUnauthorized, "unauthorized")
	}
}

// rateLimited refuses a message sent too fast, and closes the connection
// when that keeps happening: a client that ignores rate_limited is not
// slowing down, and answering each message costs the server as much as
// handling it.
func (c *conn) rateLimited(now time.Time, data []byte) {
	out := c.strike(now)
	c.requestID = requestIDOf(data)
	defer func() { c.requestID = "" }()
	c.replyError(newError(CodeRateLimited, "more than %g messages per second; this one was dropped", c.mgr.limits.MessagesPerSecond))
	if out {
		c.closeWith(ClosePolicyViolation, "rate limit exceeded")
	}
}

// authorize checks, when authentication is on, that the request's token (or
// else the handshake's) is valid and that allowed says its grant permits
// verb. A missing, invalid or expired token is unauthorized, which closes the
// connection; a valid one that does not permit verb is forbidden.
func (c *conn) authorize(verb, token string, allowed func(auth.Grant) bool) *Error {
	if c.mgr.verifier == nil {
		return nil
	}
	if token == "" {
		token = c.connToken
	}
	if token == "" {
		return newError(CodeUnauthorized, "%s: no token: send one in the request's token field, as the subprotocol %s<token>, or in ?token=", verb, TokenProtocolPrefix)
	}
	grant, err := c.mgr.verifier.Verify(token)
	if err != nil {
		return newError(CodeUnauthorized, "%s: %v", verb, err)
	}
	if !allowed(grant) {
		return newError(CodeForbidden, "%s: the token of %q does not allow it", verb, grant.Subject)
	}
	c.subject = grant.Subject
	return nil
}

func (c *conn) createRoom(token string) *Error {
	if r := c.currentRoom(); r != nil {
		return newError(CodeAlreadyInRoom, "create: this connection is already in room %q; open another connection for another room", r.id)
	}
	if refused := c.authorize("create", token, func(g auth.Grant) bool { return g.Create }); refused != nil {
		return refused
	}
	if refused := c.mgr.reserveRoom("create", c.limitKey, false); refused != nil {
		return refused
	}
	ctx, cancel := c.requestContext()
	defer cancel()
	id := uuid.NewString()
	key, keyHash := newOwnerKey()
	if err := c.mgr.broker.CreateRoom(ctx, id, broker.Owner{KeyHash: keyHash, Grace: c.mgr.ownerGrace}); err != nil {
		c.mgr.releaseRoom(c.limitKey)
		return brokerError("create", id, err)
	}
	r, err := c.mgr.attach(ctx, id)
	if err != nil {
		c.mgr.releaseRoom(c.limitKey)
		_ = c.mgr.broker.CloseRoom(ctx, id)
		return brokerError("create", id, err)
	}
	c.room, c.owner, c.ownerEpoch = r, true, 1
	c.ownerAcks().reset(r.id, 0)
	reply := connectedMessage(r.id)
	reply.OwnerKey, reply.ID, reply.Acked = key, c.requestID, new(uint64) // the server numbers broadcasts, from 1
	r.takeOwner(c, 1, textFrame(reply), nil)
	return nil
}

// joinRoom places c in the room's stream: it subscribes this node to the
// room, holds what arrives, takes a snapshot, and then sends c the join
// reply, the snapshot's state (or, recovering from lastSeen when not nil,
// the messages missed since) and the held messages numbered after it.
func (c *conn) joinRoom(id, token string, lastSeen *uint64) *Error {
	if r := c.currentRoom(); r != nil {
		return newError(CodeAlreadyInRoom, "join: this connection is already in room %q; open another connection for another room", r.id)
	}
	if refused := c.authorize("join", token, func(g auth.Grant) bool { return g.MayJoin(id) }); refused != nil {
		return refused
	}
	if _, err := uuid.Parse(id); err != nil {
		return newError(CodeRoomNotFound, "join: no open room has uuid %q", id)
	}
	ctx, cancel := c.requestContext()
	defer cancel()
	r, err := c.mgr.attach(ctx, id)
	if err != nil {
		return brokerError("join", id, err)
	}
	if refused := r.addJoiner(c); refused != nil {
		c.mgr.detach(r)
		return refused
	}
	snap, err := c.mgr.broker.Snapshot(ctx, id, lastSeen)
	if err != nil {
		r.leave(c)
		c.mgr.detach(r)
		return brokerError("join", id, err)
	}
	r.finishJoin(c, snap, lastSeen)
	c.mgr.metrics.sent(1+len(snap.State)+len(snap.Missed), 0) // the reply and the replay; their bytes are not worth adding up
	c.room, c.owner = r, false
	r.localViewers.Add(1)
	c.mgr.metrics.viewerJoined(c.transport)
	return nil
}

// lastSeen is the seq a join asks to recover from, or nil.
func lastSeen(m *Message) *uint64 {
	if !m.HasSeq {
		return nil
	}
	return &m.Seq
}

// resumeRoom makes c the owner of room id again, on the proof of its owner
// key, from any node: the engine ends the room's grace and fences off the
// previous owner connection, in case it is still open somewhere, and tells
// every node, whose room replica tells that connection (room.OwnerClaimed);
// viewers are told the owner is back.
func (c *conn) resumeRoom(id, key, token string) *Error {
	if r := c.currentRoom(); r != nil {
		return newError(CodeAlreadyInRoom, "resume: this connection is already in room %q; open another connection for another room", r.id)
	}
	if refused := c.authorize("resume", token, func(g auth.Grant) bool { return g.Create }); refused != nil {
		return refused
	}
	if _, err := uuid.Parse(id); err != nil {
		return newError(CodeRoomNotFound, "resume: no open room has uuid %q", id)
	}
	if refused := c.mgr.reserveRoom("resume", c.limitKey, c.mgr.countsAgainst(id, c.limitKey)); refused != nil {
		return refused
	}
	ctx, cancel := c.requestContext()
	defer cancel()
	epoch, err := c.mgr.broker.ClaimOwner(ctx, id, hashOwnerKey(key))
	if err != nil {
		c.mgr.releaseRoom(c.limitKey)
		return brokerError("resume", id, err)
	}
	r, err := c.mgr.attach(ctx, id)
	if err != nil {
		c.mgr.releaseRoom(c.limitKey)
		// Give the room its grace back rather than hold it with no one here.
		_ = c.mgr.broker.ReleaseOwner(ctx, id, epoch)
		return brokerError("resume", id, err)
	}
	// The owner gets the room's kept state, as a joining viewer does: a
	// presenter page that was reloaded has nothing else to restore from.
	snap, err := c.mgr.broker.Snapshot(ctx, id, nil)
	if err != nil {
		c.mgr.detach(r)
		c.mgr.releaseRoom(c.limitKey)
		_ = c.mgr.broker.ReleaseOwner(ctx, id, epoch)
		return brokerError("resume", id, err)
	}
	c.room, c.owner, c.ownerEpoch = r, true, epoch
	c.ownerAcks().reset(id, snap.PubSeq)
	r.takeOwner(c, epoch, resumeReply(id, c.requestID, snap), snap.State)
	r.askViewerCount()
	c.announceOwner(ctx, ownerBack)
	return nil
}

// resumeReply frames the reply to an owner's resume; the replay of the
// room's kept state follows it.
func resumeReply(id, requestID string, snap broker.Snapshot) []byte {
	reply := connectedMessage(id)
	reply.ID = requestID
	reply.Owner = ownerBack
	reply.StateCount = len(snap.State)
	reply.Acked = &snap.PubSeq // what the owner resends starts after it
	return textFrame(reply)
}

// ownRoom is the room the connection may broadcast to or close as uuid id.
func (c *conn) ownRoom(verb, id string) (*room, *Error) {
	r := c.currentRoom()
	switch {
	case r == nil:
		return nil, newError(CodeNotInRoom, "%s: this connection is in no room; create one first (status 1)", verb)
	case !c.owner:
		return nil, newError(CodeNotOwner, "%s: only the owner of room %q may do that", verb, r.id)
	case id != r.id:
		return nil, newError(CodeNotOwner, "%s: this connection owns room %q, not %q", verb, r.id, id)
	}
	return r, nil
}

func (c *conn) broadcast(m *Message) *Error {
	r, refused := c.ownRoom("broadcast", m.UUID)
	if refused != nil {
		return refused
	}
	pub, refused := c.mgr.broadcastPublication(r.id, m, c.ownerEpoch)
	if refused != nil && m.PubSeq == 0 {
		return refused
	}
	if refused != nil {
		// A malformed numbered broadcast still uses its number up, as
		// any answered one does, so that the next is not a gap.
		pub = broker.Publication{OwnerEpoch: c.ownerEpoch, Void: true}
	}
	pub.PubSeq = m.PubSeq
	ctx, cancel := c.requestContext()
	defer cancel()
	_, err := c.mgr.broker.Publish(ctx, r.id, pub)
	if m.PubSeq != 0 {
		if answered, settled := c.numbered(m.PubSeq, err); settled {
			return answered
		}
		if refused != nil && err == nil {
			c.replyAcked = true
			return refused
		}
	}
	if errors.Is(err, broker.ErrNotOwner) {
		// Another connection took the room back with the owner key, and
		// this node was not told yet (see fenceOff).
		c.leaveRoom()
		return fencedError(r.id)
	}
	if err != nil {
		return brokerError("broadcast", r.id, err)
	}
	return nil
}

// numbered reads the engine's answer err to the numbered broadcast n: a
// repeat is dropped silently (settled, nil), a gap is refused with the
// number expected (settled), and any other answer but a refusal that did
// not reach the room uses n up: the owner is told so, on the refusal's
// reply at once, else soon (accepted).
func (c *conn) numbered(n uint64, err error) (refused *Error, settled bool) {
	var repeat *broker.PubSeqRepeatError
	var gap *broker.PubSeqGapError
	switch {
	case errors.As(err, &repeat):
		c.mgr.metrics.pubSeqRepeats.Inc()
		c.accepted(repeat.Last)
		return nil, true
	case errors.As(err, &gap):
		c.accepted(gap.Last)
		c.replyAcked = true
		return newError(CodePubSeqGap, "broadcast: pubSeq %d skips numbers: the room accepted up to %d and expects %d; send the ones in between first", n, gap.Last, gap.Last+1), true
	case err == nil:
		c.accepted(n)
	case usedUp(err):
		c.accepted(n)
		c.replyAcked = true
	}
	return nil, false
}

// usedUp reports whether the engine's refusal err of a numbered
// publication still used its number up (broker.Publication.PubSeq).
func usedUp(err error) bool {
	var full *broker.StateFullError
	var lost *broker.LostWritesError
	var unreplicated *broker.UnreplicatedError
	return errors.As(err, &full) || errors.As(err, &lost) || errors.As(err, &unreplicated)
}

// broadcastPublication checks a broadcast m into room id and returns what
// to publish as the owner holding epoch (0: whoever owns it; the HTTP API):
// viewers receive exactly the server's own encoding of it, whoever sent it.
func (m *Manager) broadcastPublication(id string, b *Message, epoch uint64) (broker.Publication, *Error) {
	if b.FuncKey == "" {
		return broker.Publication{}, newError(CodeBadRequest, "broadcast: funcKey is empty; name the function viewers should call")
	}
	if len(b.FuncParams) > m.limits.MaxFuncParams {
		return broker.Publication{}, newError(CodeBadRequest, "broadcast: %d funcParams, more than the limit of %d", len(b.FuncParams), m.limits.MaxFuncParams)
	}
	out := connectedMessage(id)
	out.FuncKey, out.FuncParams, out.StateMessage, out.ClearState = b.FuncKey, b.FuncParams, b.StateMessage, b.ClearState
	if b.StateMessage || b.Conflate {
		out.StateKey = b.StateKey
	}
	out.Conflate = b.Conflate
	pub := m.publication(out, epoch)
	pub.ClearState = b.ClearState
	if b.StateMessage {
		pub.StateKey = out.Key()
	}
	if b.Conflate {
		pub.Conflate = out.ConflateKey()
	}
	return pub, nil
}

func (c *conn) closeRoom(id string) *Error {
	r, refused := c.ownRoom("close", id)
	if refused != nil {
		return refused
	}
	ctx, cancel := c.requestContext()
	defer cancel()
	c.closingRoom.Store(true)
	defer c.closingRoom.Store(false)
	if err := c.mgr.broker.CloseRoom(ctx, r.id); err != nil {
		return brokerError("close", r.id, err)
	}
	c.leaveRoom()
	reply := notConnectedMessage(r.id)
	reply.ID = c.requestID
	c.send(textFrame(reply))
	return nil
}

// replyError tells the client why its request was refused, and truthfully
// whether it is still in a room. Only the read side calls it.
func (c *conn) replyError(e *Error) {
	id := ""
	if r := c.currentRoom(); r != nil {
		id = r.id
	}
	if c.replyAcked && id != "" {
		m := connectedMessage(id)
		m.Error, m.ID = e, c.requestID
		c.mgr.metrics.errors.WithLabelValues(string(e.Code)).Inc()
		c.sendWithAcked(m)
		return
	}
	c.sendError(id, c.requestID, e)
}

// sendError sends e in the envelope of an error reply: status 3 in room id,
// or status 0 when id is "" (in no room), answering the request named
// requestID, if any.
func (c *conn) sendError(id, requestID string, e *Error) {
	m := notConnectedMessage("")
	if id != "" {
		m = connectedMessage(id)
	}
	m.Error, m.ID = e, requestID
	c.mgr.metrics.errors.WithLabelValues(string(e.Code)).Inc()
	c.send(textFrame(m))
}

// brokerTimeout bounds each call a request makes to the room engine.
const brokerTimeout = 5 * time.Second

// requestContext is the context of a request's engine calls: brokerTimeout
// from now, and no longer than the connection (cancelRequests). Requests
// run one at a time, on the read side.
func (c *conn) requestContext() (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(context.Background(), brokerTimeout)
	c.request.Store(&cancel)
	if c.ended.Load() {
		cancel()
	}
	return ctx, func() {
		c.request.Store(nil)
		cancel()
	}
}

// brokerError turns a room engine's error into the reply to a request.
func brokerError(verb, id string, err error) *Error {
	var full *broker.StateFullError
	var lost *broker.LostWritesError
	var unreplicated *broker.UnreplicatedError
	switch {
	case errors.As(err, &unreplicated):
		return newError(CodeUnreplicated, "%s: %v", verb, unreplicated)
	case errors.As(err, &full):
		return newError(CodeStateFull, "%s: %v", verb, full)
	case errors.As(err, &lost):
		return newError(CodeLost, "%s: %v; resend the room's state", verb, lost)
	case errors.Is(err, broker.ErrRoomNotFound):
		return newError(CodeRoomNotFound, "%s: no open room has uuid %q", verb, id)
	case errors.Is(err, broker.ErrNotOwner):
		return newError(CodeNotOwner, "%s: not the owner of room %q: a wrong ownerKey, or another connection took the room back with it", verb, id)
	default:
		return newError(CodeUnavailable, "%s: the room engine is unavailable: %v", verb, err)
	}
}

// fencedError tells an owner connection, with status 0, that another
// connection took its room id back with the owner key: whether it comes at
// once or refuses its next broadcast, it says the same.
func fencedError(id string) *Error {
	return newError(CodeNotOwner, "room %q: another connection took the room back with the owner key; this connection is in no room now", id)
}

// currentRoom is the room the connection is in, forgetting one that was closed
// by someone else (the server shutting down, or its owner leaving), or, for
// an owner, taken back by another connection with the owner key.
func (c *conn) currentRoom() *room {
	if c.room != nil && (c.room.closed.Load() || c.fencedOff.Load()) {
		c.leaveRoom()
	}
	return c.room
}

// fenceOff tells c, an owner, that another connection took its room id back
// with the owner key: c is in no room now. The room calls it, under its
// lock, having dropped c as its owner; c's read side leaves the room
// at its next request, or at its end, which then starts no grace.
func (c *conn) fenceOff(id string) {
	c.fencedOff.Store(true)
	c.sendError("", "", fencedError(id)) // unasked: it answers no request
}

// leaveRoom takes c out of its room on this node; an owner's room is closed
// by the caller first.
func (c *conn) leaveRoom() { c.leave(false) }

// leave takes c out of its room on this node. An owner whose room waits
// for it (waiting: it left without closing it) hands its room count and
// its replica reference to the replica, which holds them until the room
// closes or is claimed (see held.go): the room still counts against its
// address.
func (c *conn) leave(waiting bool) {
	r := c.room
	if r == nil {
		return
	}
	if c.owner {
		r.dropOwner(c)
		c.fencedOff.Store(false) // its room, which set it, has let go of it
		if waiting && r.holdReservation(c.limitKey, c.ownerEpoch) {
			c.room, c.owner = nil, false
			return
		}
		c.mgr.releaseRoom(c.limitKey)
	} else {
		r.leave(c)
		r.localViewers.Add(-1)
		c.mgr.metrics.viewerLeft(c.transport)
	}
	c.room, c.owner = nil, false
	c.mgr.detach(r)
}
