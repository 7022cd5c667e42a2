package rtbroadcaster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	"github.com/lxzan/gws"
	"github.com/rtbroadcaster/rtbroadcaster/broker"
	"golang.org/x/time/rate"
)

// conn is one WebSocket connection: an owner, a viewer, or not yet in a
// room. Its read goroutine (the library's read loop) runs every request in
// order; its outbox owns the writing side. Who may touch which field is
// grouped below; the lock order is in LOCKING.md.
type conn struct {
	// Set before the read loop starts (newConn, CreateNewClient), then
	// only read, from any goroutine.
	mgr       *Manager
	ws        *gws.Conn
	out       outbox       // locks itself: the room and timers push to it
	acks      acks         // locks itself: an owner's acknowledgements (acks.go)
	remote    netip.Addr   // the client's address, behind trusted proxies
	limitKey  netip.Prefix // what the per-address limits count it as
	connToken string       // from the handshake: a subprotocol or ?token=
	transport string       // transportWebSocket or transportSSE, for the metrics
	opened    time.Time
	limiter   *rate.Limiter // nil when unlimited; locks itself
	pings     *rate.Limiter // the client's pings: limiter, or the fixed ping budget
	// ctx ends when the connection does (finish cancels it); every request
	// derives its engine calls' context from it (requestContext).
	ctx    context.Context
	cancel context.CancelFunc

	// Atomic: written or read by the room (under its lock), the engine's
	// callbacks, timers, Shutdown and the outbox's writer.
	pinger    atomic.Pointer[time.Timer]
	endReason atomic.Pointer[string] // why the server closed it, when it did
	// closingRoom is set while the owner closes its own room, so that the
	// room's end is not announced to it twice.
	closingRoom atomic.Bool
	// fencedOff is set by the room of an owner whose room another
	// connection took back with the owner key, after telling it; the read
	// goroutine then leaves the room (see currentRoom) and clears it.
	fencedOff atomic.Bool

	// Owned by the read goroutine: OnMessage, OnPing, OnPong and OnClose
	// (finish) all run on it, so these need no lock.
	room            *room
	owner           bool
	ownerEpoch      uint64 // the engine's number of this ownership, when owner
	subject         string // the sub claim of the token that let it in
	deadlineRefresh time.Time
	requestID       string    // of the request being handled, echoed on its reply
	replyAcked      bool      // its error reply carries acked (a numbered broadcast's)
	strikes         int       // messages refused as rate_limited in this window
	strikesSince    time.Time // start of the strike window

	// Guarded by room.mu of the room the connection views (see member).
	member
}

func newConn(m *Manager, ws *gws.Conn, remote netip.Addr) *conn {
	c := &conn{mgr: m, ws: ws, remote: remote, opened: time.Now(), transport: transportWebSocket}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.out = outbox{
		limit:        m.limits.SendQueueBytes,
		writeTimeout: m.limits.WriteTimeout,
		onSlow:       c.slowConsumer,
		onSkip:       m.metrics.conflatedSkipped.Inc,
	}
	if ws != nil { // an SSE viewer's socket is set by ServeEvents
		c.out.sock = ws
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

// netConn is the connection's socket, to cut it.
func (c *conn) netConn() net.Conn { return c.out.sock.NetConn() }

// refreshDeadline moves the read deadline to a full ping interval plus pong
// timeout from now. It is called on every frame received, so it only touches
// the socket when the deadline was set more than an eighth of that window
// (at most a second) ago: a flooding owner costs no timer work per message.
func (c *conn) refreshDeadline(force bool) {
	if c.ws == nil {
		return // an SSE viewer sends nothing: its liveness is its writes'
	}
	window := c.mgr.limits.PingInterval + c.mgr.limits.PongTimeout
	now := time.Now()
	if !force && now.Sub(c.deadlineRefresh) < min(time.Second, window/8) {
		return
	}
	c.deadlineRefresh = now
	_ = c.ws.SetReadDeadline(now.Add(window))
}

// rateStrikeWindow is how long rate_limited refusals add up towards a close.
const rateStrikeWindow = 10 * time.Second

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
// so that the read loop returns, and closes the socket.
func (c *conn) abort() {
	c.cancel()
	_ = c.netConn().Close()
}

// finish runs once, when the connection has ended for any reason: an owner's
// room closes, a viewer leaves its room. It cancels the connection's
// context first: what it does for the ended connection (ownerLeft) runs on
// contexts of its own.
func (c *conn) finish(reason error) {
	c.cancel()
	if t := c.pinger.Load(); t != nil {
		t.Stop()
	}
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

// eventHandler receives the WebSocket library's events for every connection
// and hands them to the connection.
type eventHandler struct{ m *Manager }

func connOf(ws *gws.Conn) *conn { return ws.Session().(*session).c }

func (eventHandler) OnOpen(*gws.Conn) {}

func (eventHandler) OnClose(ws *gws.Conn, err error) { connOf(ws).finish(err) }

func (eventHandler) OnPing(ws *gws.Conn, payload []byte) { connOf(ws).answerPing(payload) }

func (eventHandler) OnPong(ws *gws.Conn, _ []byte) { connOf(ws).refreshDeadline(false) }

func (eventHandler) OnMessage(ws *gws.Conn, msg *gws.Message) {
	defer msg.Close()
	c := connOf(ws)
	c.refreshDeadline(false)
	c.mgr.metrics.received(msg.Data.Len())
	c.handle(msg.Bytes())
}

// session is the per-connection storage the WebSocket library asks for. The
// library's default is a map per connection; we need one pointer.
type session struct{ c *conn }

func (*session) Len() int                     { return 0 }
func (*session) Load(string) (any, bool)      { return nil, false }
func (*session) Delete(string)                {}
func (*session) Store(string, any)            {}
func (*session) Range(func(string, any) bool) {}

// gwsLogger sends the WebSocket library's error logs to slog.
type gwsLogger struct{ log *slog.Logger }

func (l gwsLogger) Error(v ...any) { l.log.Error("websocket library", "detail", fmt.Sprint(v...)) }

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
