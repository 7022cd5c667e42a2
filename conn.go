package rtbroadcaster

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rtbroadcaster/rtbroadcaster/broker"
	"golang.org/x/time/rate"
)

// conn is one connection, WebSocket or SSE: an owner, a viewer, or not yet
// in a room. Its read side (reader.go) runs every request in order; its
// outbox owns the writing side. Who may touch which field is grouped below;
// the lock order is in LOCKING.md.
type conn struct {
	// Set before the connection is published (newConn, CreateNewClient), then
	// only read, from any goroutine.
	mgr       *Manager
	ws        *wsSocket     // nil for an SSE viewer
	out       outbox        // locks itself: the room and timers push to it
	acks      *acks         // an owner's acknowledgements, made when it becomes one (acks.go); locks itself
	remote    netip.Addr    // the client's address, behind trusted proxies
	limitKey  netip.Prefix  // what the per-address limits count it as
	connToken string        // from the handshake: a subprotocol or ?token=
	transport string        // transportWebSocket or transportSSE, for the metrics
	opened    int64         // Unix ns
	limiter   *rate.Limiter // nil when unlimited; locks itself
	pings     *rate.Limiter // the client's pings: limiter, or the fixed ping budget made at the first ping (read side)

	// Set by startReading before the connection is published: how the read
	// side learns that the socket has bytes (reader.go).
	poll   *poller // nil: the connection reads on a goroutine of its own
	pollID uint64  // the connection's id in the poller

	// Atomic: written or read by the room (under its lock), the engine's
	// callbacks, timers, Shutdown and the outbox's writer.
	lastHeard atomic.Int64 // when the client last sent anything, in Unix ns
	// Guarded by the ping wheel's lock (pingwheel.go): where c waits in it.
	wheelSlot, wheelIdx int32
	pingAt              atomic.Int64 // when the unanswered ping was queued, or 0
	handling            atomic.Bool  // the read side is handling what it read
	// request cancels the engine calls of the request being handled, for
	// an abort (requestContext); ended says no request may start any more.
	// Not a context per connection: an idle connection would keep its
	// channel and its children's map.
	request   atomic.Pointer[context.CancelFunc]
	ended     atomic.Bool
	endReason atomic.Pointer[string] // why the server closed it, when it did
	// closingRoom is set while the owner closes its own room, so that the
	// room's end is not announced to it twice.
	closingRoom atomic.Bool
	// fencedOff is set by the room of an owner whose room another
	// connection took back with the owner key, after telling it; the read
	// goroutine then leaves the room (see currentRoom) and clears it.
	fencedOff atomic.Bool

	// Guarded by readMu, which the read side holds while it reads and
	// handles requests, and finish runs under (reader.go). An SSE viewer's
	// requests and finish run on its handler's goroutine alone.
	readMu       sync.Mutex
	frames       frameReader // the frames in progress
	readEnded    bool        // the socket was found closed: the connection is finished
	room         *room
	owner        bool
	ownerEpoch   uint64 // the engine's number of this ownership, when owner
	subject      string // the sub claim of the token that let it in
	requestID    string // of the request being handled, echoed on its reply
	replyAcked   bool   // its error reply carries acked (a numbered broadcast's)
	strikes      int    // messages refused as rate_limited in this window
	strikesSince int64  // start of the strike window, Unix ns

	// Guarded by room.mu of the room the connection views (see member).
	member
}

// newConn makes the connection of a WebSocket socket, or of an SSE viewer
// when ws is nil (ServeEvents sets its socket).
func newConn(m *Manager, ws *wsSocket, remote netip.Addr) *conn {
	c := &conn{mgr: m, ws: ws, remote: remote, opened: time.Now().UnixNano(), transport: transportWebSocket}
	c.out = outbox{
		limit:        m.limits.SendQueueBytes,
		writeTimeout: m.limits.WriteTimeout,
		onSlow:       c.slowConsumer,
		onSkip:       m.metrics.countSkipped,
	}
	if ws != nil { // an SSE viewer's socket is set by ServeEvents
		c.out.sock = ws
	}
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
	now := c.mgr.now()
	if c.pings == nil { // most clients never ping: browsers only answer
		c.pings = rate.NewLimiter(pingsPerSecond, pingBurst)
	}
	if !c.pings.AllowN(now, 1) {
		if c.strike(now) {
			c.closeWith(ClosePolicyViolation, "rate limit exceeded")
		}
		return
	}
	c.out.push(serverFrame(opPong, payload))
}

// start puts the connection on its Manager's ping wheel; the caller then
// starts the read side.
func (c *conn) start() {
	c.heard()
	c.mgr.pings.add(c, c.mgr.limits.PingInterval)
}

// heard notes that the client sent something: any frame answers a ping.
func (c *conn) heard() { c.lastHeard.Store(time.Now().UnixNano()) }

// pingDue runs on the Manager's ping wheel (pingwheel.go) and says when it
// is next due, or that it is not any more. Every PingInterval it queues a
// ping; PongTimeout later it checks that the client sent something since,
// and cuts its TCP connection if not (no close frame: PROTOCOL.md,
// Connection closes). No read deadline is needed, so an idle connection's
// socket is not touched between pings. An SSE viewer sends nothing: its
// pings are heartbeats, its liveness its writes'.
func (c *conn) pingDue() (next time.Duration, again bool) {
	limits := c.mgr.limits
	if at := c.pingAt.Swap(0); at != 0 {
		if c.handling.Load() {
			// The read side is busy with a request (an engine call may
			// wait seconds): the pong may be waiting behind it.
			c.pingAt.Store(at)
			return limits.PongTimeout, true
		}
		if c.lastHeard.Load() < at {
			c.setEndReason("no pong")
			_ = c.out.sock.Close()
			return 0, false
		}
		return max(limits.PingInterval-limits.PongTimeout, 0), true
	}
	now := time.Now().UnixNano()
	if !c.out.pushControl(pingFrame) { // not counted as a message: it carries none
		return 0, false
	}
	if c.ws == nil {
		return limits.PingInterval, true
	}
	c.pingAt.Store(now)
	return limits.PongTimeout, true
}

// rateStrikeWindow is how long rate_limited refusals add up towards a close.
const rateStrikeWindow = 10 * time.Second

// strike counts a message or ping refused for its rate, and reports
// whether the connection has had its RateLimitStrikes within the window.
func (c *conn) strike(now time.Time) (out bool) {
	if now.UnixNano()-c.strikesSince > int64(rateStrikeWindow) {
		c.strikes, c.strikesSince = 0, now.UnixNano()
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

// slowConsumer runs once, when the outbox gave up on a viewer that could not
// keep up.
func (c *conn) slowConsumer() {
	c.setEndReason("slow consumer")
	c.mgr.stats.slowConsumers.Add(1)
	c.mgr.metrics.slowConsumers.Inc()
	c.mgr.log.Warn("closing slow consumer", "remote", c.remote, "queue_limit_bytes", c.mgr.limits.SendQueueBytes, "code", CloseSlowConsumer)
}

// abort ends the connection at once, for a Shutdown out of time: it cancels
// what its request waits for (an engine call may wait up to brokerTimeout),
// so that the read side returns, and closes the socket.
func (c *conn) abort() {
	c.cancelRequests()
	_ = c.out.sock.Close()
}

// cancelRequests cancels the request under way and every later one.
func (c *conn) cancelRequests() {
	c.ended.Store(true)
	if cancel := c.request.Load(); cancel != nil {
		(*cancel)()
	}
}

// finish runs once, when the connection has ended for any reason: an owner's
// room closes, a viewer leaves its room. It cancels the connection's
// requests first: what it does for the ended connection (ownerLeft) runs on
// contexts of its own.
func (c *conn) finish(reason error) {
	c.cancelRequests()
	c.mgr.pings.remove(c)
	c.stopAcks()
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
	why := c.endReasonFor()
	c.mgr.metrics.disconnects.WithLabelValues(why).Inc()
	c.mgr.summary.connectionEnded(why)
	c.mgr.log.Debug("connection ended", "remote", c.remote, "subject", c.subject, "role", role, "reason", why, "err", reason, "duration", time.Duration(time.Now().UnixNano()-c.opened).Round(time.Millisecond))
}

// endReasonFor names why a connection ended, in a few stable words that
// logs and the disconnects metric share: whoever ended it said why (a
// refused frame, a client's close, a missed pong, the server), else its
// socket failed.
func (c *conn) endReasonFor() string {
	if r := c.endReason.Load(); r != nil {
		return *r
	}
	return "connection lost"
}

// drain closes c with 1001, after what is queued for it, telling it when to
// reconnect.
func (c *conn) drain() {
	c.setEndReason("server shutting down")
	c.out.close(CloseGoingAway, drainReason(c.mgr.drainSpread))
}

// drainReasonFormat is the reason of the close frame 1001 a draining server
// sends: clients read the delay from it (PROTOCOL.md, Drain).
const drainReasonFormat = "server shutting down; reconnect in %d ms"

// drainReason tells one client when to reconnect: at a random point of the
// spread, so that a restart does not bring every client back at once.
func drainReason(spread time.Duration) string {
	return fmt.Sprintf(drainReasonFormat, randomWithin(spread).Milliseconds())
}
