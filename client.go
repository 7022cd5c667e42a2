package rtbroadcaster

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/lxzan/gws"
	"github.com/rtbroadcaster/rtbroadcaster/auth"
	"github.com/rtbroadcaster/rtbroadcaster/broker"
	"golang.org/x/time/rate"
)

// conn is one WebSocket connection: an owner, a viewer, or not yet in a
// room. Its read goroutine (the library's read loop) runs every request in
// order; its outbox owns the writing side.
type conn struct {
	mgr       *Manager
	ws        *gws.Conn
	out       outbox
	remote    netip.Addr   // the client's address, behind trusted proxies
	limitKey  netip.Prefix // what the per-address limits count it as
	connToken string       // from the handshake: a subprotocol or ?token=
	opened    time.Time
	limiter   *rate.Limiter // nil when unlimited
	pings     *rate.Limiter // the client's pings: limiter, or the fixed ping budget
	pinger    atomic.Pointer[time.Timer]
	endReason atomic.Pointer[string] // why the server closed it, when it did
	// closingRoom is set while the owner closes its own room, so that the
	// room's end is not announced to it twice.
	closingRoom atomic.Bool
	// fencedOff is set by the room of an owner whose room another
	// connection took back with the owner key, after telling it; the read
	// goroutine then leaves the room (see currentRoom) and clears it.
	fencedOff atomic.Bool

	// Owned by the read goroutine.
	room            *room
	owner           bool
	ownerEpoch      uint64 // the engine's number of this ownership, when owner
	subject         string // the sub claim of the token that let it in
	deadlineRefresh time.Time
	requestID       string    // of the request being handled, echoed on its reply
	strikes         int       // messages refused as rate_limited in this window
	strikesSince    time.Time // start of the strike window

	// Guarded by the lock of the room the connection views.
	slot    int
	joining *joiner // set between a viewer's subscription and its snapshot
}

func newConn(m *Manager, ws *gws.Conn, remote netip.Addr) *conn {
	c := &conn{mgr: m, ws: ws, remote: remote, opened: time.Now()}
	c.out = outbox{
		sock:         ws,
		limit:        m.limits.SendQueueBytes,
		writeTimeout: m.limits.WriteTimeout,
		onSlow:       c.slowConsumer,
	}
	c.pings = rate.NewLimiter(pingsPerSecond, pingBurst)
	if m.limits.MessagesPerSecond > 0 {
		c.limiter = rate.NewLimiter(rate.Limit(m.limits.MessagesPerSecond), m.limits.MessageBurst)
		c.pings = c.limiter
	}
	return c
}

// The ping budget of a client when no message rate is set: the SDKs ping
// once per request, and a pong costs the server a write as a message does.
const (
	pingsPerSecond = 10
	pingBurst      = 50
)

// answerPing answers a client's ping with a pong, within its budget: the
// message rate when one is set, since pings cost as much as messages, else
// the fixed ping budget. A ping past it gets no pong, and counts as a
// refused message towards the close 1008 of rateLimited.
func (c *conn) answerPing(payload []byte) {
	c.refreshDeadline(false)
	now := c.mgr.now()
	if !c.pings.AllowN(now, 1) {
		if c.strike(now) {
			c.closeWith(ClosePolicyViolation, "rate limit exceeded")
		}
		return
	}
	c.out.push(serverFrame(opPong, payload))
}

// start arms the read deadline and the pinger; the caller then runs the read loop.
func (c *conn) start() {
	c.refreshDeadline(true)
	c.pinger.Store(time.AfterFunc(c.mgr.limits.PingInterval, c.ping))
}

// ping queues a ping and arms the next one. A live peer answers with a pong,
// which, like any frame, pushes the read deadline back.
func (c *conn) ping() {
	if c.out.pushControl(pingFrame) { // not counted as a message: it carries none
		c.pinger.Load().Reset(c.mgr.limits.PingInterval)
	}
}

// refreshDeadline moves the read deadline to a full ping interval plus pong
// timeout from now. It is called on every frame received, so it only touches
// the socket when the deadline was set more than an eighth of that window
// (at most a second) ago: a flooding owner costs no timer work per message.
func (c *conn) refreshDeadline(force bool) {
	window := c.mgr.limits.PingInterval + c.mgr.limits.PongTimeout
	now := time.Now()
	if !force && now.Sub(c.deadlineRefresh) < min(time.Second, window/8) {
		return
	}
	c.deadlineRefresh = now
	_ = c.ws.SetReadDeadline(now.Add(window))
}

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
	c.requestID = m.ID
	defer func() { c.requestID = "" }()
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

// rateStrikeWindow is how long rate_limited refusals add up towards a close.
const rateStrikeWindow = 10 * time.Second

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

// strike counts a message or ping refused for its rate, and reports
// whether the connection has had its RateLimitStrikes within the window.
func (c *conn) strike(now time.Time) (out bool) {
	if now.Sub(c.strikesSince) > rateStrikeWindow {
		c.strikes, c.strikesSince = 0, now
	}
	c.strikes++
	return c.strikes >= c.mgr.limits.RateLimitStrikes
}

// closeWith closes the connection with code after what is queued, and
// records why for the log line of its end.
func (c *conn) closeWith(code uint16, reason string) {
	c.setEndReason(reason)
	c.out.close(code, reason)
}

// setEndReason keeps the first reason the server gave for ending c.
func (c *conn) setEndReason(reason string) {
	c.endReason.CompareAndSwap(nil, &reason)
}

// send queues a frame of a message for c and counts it.
func (c *conn) send(frame []byte) {
	if c.out.push(frame) {
		c.mgr.metrics.sent(1, len(frame))
	}
}

// sendReplay queues a reply and the replay of entries that follows it, and
// counts them.
func (c *conn) sendReplay(reply []byte, entries []broker.Entry) {
	if c.out.pushReplay(reply, entries) {
		c.mgr.metrics.sent(1+len(entries), len(reply)) // the replay's bytes are not worth adding up
	}
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
// lock, having dropped c as its owner; c's read goroutine leaves the room
// at its next request, or at its end, which then starts no grace.
func (c *conn) fenceOff(id string) {
	c.fencedOff.Store(true)
	c.sendError("", "", fencedError(id)) // unasked: it answers no request
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
	ctx, cancel := context.WithTimeout(context.Background(), brokerTimeout)
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
	reply := connectedMessage(r.id)
	reply.OwnerKey, reply.ID = key, c.requestID
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
	ctx, cancel := context.WithTimeout(context.Background(), brokerTimeout)
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
	c.mgr.metrics.viewerJoined()
	return nil
}

// lastSeen is the seq a join asks to recover from, or nil.
func lastSeen(m *Message) *uint64 {
	if !m.HasSeq {
		return nil
	}
	return &m.Seq
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
	if m.FuncKey == "" {
		return newError(CodeBadRequest, "broadcast: funcKey is empty; name the function viewers should call")
	}
	if len(m.FuncParams) > c.mgr.limits.MaxFuncParams {
		return newError(CodeBadRequest, "broadcast: %d funcParams, more than the limit of %d", len(m.FuncParams), c.mgr.limits.MaxFuncParams)
	}
	out := connectedMessage(r.id)
	out.FuncKey, out.FuncParams, out.StateMessage, out.ClearState = m.FuncKey, m.FuncParams, m.StateMessage, m.ClearState
	if m.StateMessage {
		out.StateKey = m.StateKey
	}
	pub := c.publication(out)
	pub.ClearState = m.ClearState
	if m.StateMessage {
		pub.StateKey = out.Key()
	}
	ctx, cancel := context.WithTimeout(context.Background(), brokerTimeout)
	defer cancel()
	_, err := c.mgr.broker.Publish(ctx, r.id, pub)
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

func (c *conn) closeRoom(id string) *Error {
	r, refused := c.ownRoom("close", id)
	if refused != nil {
		return refused
	}
	ctx, cancel := context.WithTimeout(context.Background(), brokerTimeout)
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
		c.mgr.metrics.viewerLeft()
	}
	c.room, c.owner = nil, false
	c.mgr.detach(r)
}

// replyError tells the client why its request was refused, and truthfully
// whether it is still in a room. Only the read goroutine calls it.
func (c *conn) replyError(e *Error) {
	id := ""
	if r := c.currentRoom(); r != nil {
		id = r.id
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

// slowConsumer runs once, when the outbox gave up on a viewer that could not
// keep up.
func (c *conn) slowConsumer() {
	c.setEndReason("slow consumer")
	c.mgr.stats.slowConsumers.Add(1)
	c.mgr.metrics.slowConsumers.Inc()
	c.mgr.log.Warn("closing slow consumer", "remote", c.remote, "queue_limit_bytes", c.mgr.limits.SendQueueBytes, "code", CloseSlowConsumer)
}

// finish runs once, when the connection has ended for any reason: an owner's
// room closes, a viewer leaves its room.
func (c *conn) finish(reason error) {
	if t := c.pinger.Load(); t != nil {
		t.Stop()
	}
	c.out.discard()
	role := "none"
	if r := c.room; r != nil {
		role = "viewer"
		if c.owner {
			role = "owner"
		}
		// A fenced-off owner's room is another connection's now.
		waiting := c.owner && !c.fencedOff.Load() && c.ownerLeft(r)
		c.leave(waiting)
	}
	c.mgr.forgetConn(c)
	why := c.endReasonFor(reason)
	c.mgr.metrics.disconnects.WithLabelValues(why).Inc()
	c.mgr.summary.connectionEnded(why)
	c.mgr.log.Debug("connection ended", "remote", c.remote, "subject", c.subject, "role", role, "reason", why, "err", reason, "duration", time.Since(c.opened).Round(time.Millisecond))
}

// endReasonFor names why a connection ended, in a few stable words that
// logs and the disconnects metric share.
func (c *conn) endReasonFor(err error) string {
	if r := c.endReason.Load(); r != nil {
		return *r
	}
	if why := refusedFrame(err); why != "" {
		return why
	}
	var ce *gws.CloseError
	var ne net.Error
	switch {
	case errors.As(err, &ce):
		return "client closed"
	case errors.As(err, &ne) && ne.Timeout():
		return "no pong"
	}
	return "connection lost"
}

// closeStatus is the library's error for a frame it refused and closed the
// connection for: its close code (its type is internal to the library).
type closeStatus interface {
	error
	Uint16() uint16
}

// refusedFrame names why the library closed a connection over a frame the
// client sent, with the close code it sent (PROTOCOL.md, Connection
// closes), or returns "". The library hands over a close status for most,
// but only its own error for bad UTF-8 and for an unknown opcode.
func refusedFrame(err error) string {
	var status closeStatus
	code := uint16(0)
	switch {
	case errors.As(err, &status):
		code = status.Uint16()
	case errors.Is(err, gws.ErrTextEncoding):
		code = 1007
	case err != nil && strings.HasPrefix(err.Error(), "gws: unexpected opcode"):
		code = 1002
	}
	switch code {
	case 1002:
		return "protocol error"
	case 1007:
		return "invalid utf-8"
	case 1009:
		return "message too big"
	}
	return ""
}
