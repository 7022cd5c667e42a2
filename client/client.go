package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/lxzan/gws"
	"github.com/rtbroadcaster/rtbroadcaster/protocol"
)

// role is what the connection is in its room.
type role int

const (
	roleNone role = iota
	roleOwner
	roleViewer
)

// maxRefusals bounds the refusals kept for Sync between two calls.
const maxRefusals = 16

// Client is one connection to an rtbroadcaster server, kept open across
// drops as the package documentation describes. Its methods are safe for
// concurrent use, and requests may overlap (see Concurrency there).
type Client struct {
	url  string
	opts Options
	log  *slog.Logger

	stop    context.Context // ended by Close
	stopNow context.CancelFunc
	done    chan struct{} // closed when the client has stopped for good
	sending sync.Mutex    // held to register a request and write it, so that requests go out in the order of their ids

	mu       sync.Mutex
	conn     *gws.Conn     // nil while reconnecting
	up       chan struct{} // closed once conn is usable
	role     role
	room     string
	ownerKey string   // the owner's secret for resuming its room after a drop
	holding  bool     // an owner is taking its room back: Broadcast and SetState go to queue
	queue    []queued // their frames, oldest first, sent by the reading goroutine once it is back
	// An owner's numbered messages (pubseq.go), when its server numbers them.
	numbered    bool
	pubSeq      uint64         // the last number given
	unacked     []unackedFrame // sent or held, not acknowledged, oldest first
	resendTimer *time.Timer    // a pending resendUnacked
	ackSignal   chan struct{}  // closed when an acknowledgement makes room in unacked
	viewers     int
	pending     map[string]*pending // requests sent and not answered, by id (requestids.go)
	ids         uint64              // request ids issued
	echoes      bool                // conn's server echoes request ids: replies are matched by id only
	armed       *pending            // from a server that echoes no ids: the request whose reply comes next
	refusals    []error             // refusals of Broadcast and SetState since the last Sync
	roomClosed  bool                // a viewer's room is gone: do not reconnect
	err         error               // why the client stopped; set before done is closed
	handlers    map[string]func(params []string)
	fallback    func(funcKey string, params []string)

	// Owned by the goroutine that runs the connection.
	lastSeq                 uint64      // of the last message of its room a viewer received; see recoveryPoint
	replayLeft, replayCount int         // a viewer's join replay: state messages still to apply, and in all
	ownerReplay             ownerReplay // the kept state replayed to an owner that took its room back
	failures                int         // reconnect tries that failed in a row
	deadlineSet             time.Time
}

// Dial connects to the server at url (ws:// or wss://, e.g.
// "ws://localhost:8080/broadcast"). ctx bounds the dial and the handshake
// only. A failed first dial is returned, not retried; reconnecting starts
// once a connection has been open. opts may be nil.
//
// A server that refuses the connection (its origin, its address's
// connection rate, a server full or shutting down) completes the handshake
// and closes it at once: Dial succeeds, and the refusal comes as a
// *RefusedError to the requests made meanwhile; the client stops with it
// (Err) unless it is worth retrying (RefusedError.Retryable), which the
// client does after the delay the server names.
func Dial(ctx context.Context, url string, opts *Options) (*Client, error) {
	o := opts.withDefaults()
	c := &Client{
		url:      url,
		opts:     o,
		log:      o.Logger,
		done:     make(chan struct{}),
		up:       make(chan struct{}),
		handlers: map[string]func([]string){},
		pending:  map[string]*pending{},
	}
	conn, l, err := c.connect(ctx)
	if err != nil {
		return nil, err
	}
	c.stop, c.stopNow = context.WithCancel(context.Background())
	c.conn = conn
	close(c.up)
	go c.run(conn, l) // reads the connection and reconnects it until the client stops
	return c, nil
}

// connect dials and upgrades one connection.
func (c *Client) connect(ctx context.Context) (*gws.Conn, *link, error) {
	l := &link{c: c}
	handshake := 5 * time.Second
	if deadline, ok := ctx.Deadline(); ok {
		handshake = time.Until(deadline)
	}
	header, err := c.handshakeHeader(ctx)
	if err != nil {
		return nil, nil, err
	}
	d := &ctxDialer{ctx: ctx}
	conn, resp, err := gws.NewClient(l, &gws.ClientOption{
		Addr:             c.url,
		RequestHeader:    header,
		HandshakeTimeout: handshake,
		Logger:           gwsLogger{c.log},
		NewDialer:        func() (gws.Dialer, error) { return d, nil },
	})
	d.stopWatching()
	if err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		if resp != nil {
			if refused := httpRefusal(resp); refused != nil {
				err = refused // what the caller can act on, rather than the library's words
			}
			return nil, nil, fmt.Errorf("rtbroadcaster client: dial %s: HTTP %d: %w", c.url, resp.StatusCode, err)
		}
		return nil, nil, fmt.Errorf("rtbroadcaster client: dial %s: %w", c.url, err)
	}
	c.touch(conn, true)
	return conn, l, nil
}

// handshakeHeader is the header of one dial: Options.Header, plus a fresh
// token from Options.Token offered as a subprotocol beside the server's own.
func (c *Client) handshakeHeader(ctx context.Context) (http.Header, error) {
	if c.opts.Token == nil {
		return c.opts.Header, nil
	}
	token, err := c.opts.Token(ctx)
	if err != nil {
		return nil, fmt.Errorf("rtbroadcaster client: dial %s: token: %w", c.url, err)
	}
	header := c.opts.Header.Clone()
	if header == nil {
		header = http.Header{}
	}
	header.Set("Sec-WebSocket-Protocol", protocol.SubProtocol+", "+protocol.TokenProtocolPrefix+token)
	return header, nil
}

// run reads conn until it drops, then reconnects, until the client stops.
func (c *Client) run(conn *gws.Conn, l *link) {
	defer close(c.done)
	for {
		conn.ReadLoop()
		rejoin, err := c.dropped(l.cause)
		if err == nil {
			conn, l, err = c.reconnect(l.cause, rejoin)
		}
		if err != nil {
			c.finish(err)
			return
		}
	}
}

// dropped forgets the connection that just ended and decides what comes
// next: the room to rejoin, as its viewer or, with the owner key, as its
// owner ("" for none), or why the client stops.
func (c *Client) dropped(cause error) (rejoin string, stop error) {
	var ce *gws.CloseError
	roomEnded := errors.As(cause, &ce) && ce.Code == 1000
	refused := refusalOf(cause)
	hopeless := refused != nil && !c.mayRetry(refused)
	var failed error = ErrDisconnected
	if refused != nil {
		failed = refused // a request sent on a refused connection learns why
	}

	c.mu.Lock()
	c.conn, c.echoes = nil, false // the next connection's server may be another
	if hopeless {
		c.err = refused // before the waiting requests wake up, so that they see it
	}
	c.openLocked() // requests waiting for this connection wait for the next one
	c.up = make(chan struct{})
	c.failPendingLocked(failed)
	c.failOwnerReplay()
	lostRoom := c.role == roleOwner && c.ownerKey == "" // from a server that gives no key
	switch c.role {
	case roleViewer:
		rejoin = c.room
		if roomEnded {
			c.roomClosed = true
		}
	case roleOwner:
		rejoin = c.room
	}
	closedRoom := c.roomClosed
	if lostRoom || closedRoom {
		c.role, c.room, rejoin = roleNone, "", ""
	}
	// Until the owner has its room back, its calls wait in the queue rather
	// than fail (a reconnect has to follow for them to go).
	c.holding = c.role == roleOwner && c.opts.OfflineQueue > 0 && !c.opts.Reconnect.Disabled
	c.mu.Unlock()

	c.log.Info("rtbroadcaster client: connection dropped", "url", c.url, "cause", cause)
	switch {
	case c.stop.Err() != nil:
		return "", ErrClosed
	case closedRoom:
		return "", ErrRoomClosed
	case hopeless:
		return "", refused
	}
	if lostRoom {
		c.emitRoomClosed(ReasonConnectionLost)
	}
	if c.opts.Reconnect.Disabled {
		return "", fmt.Errorf("rtbroadcaster client: connection lost: %w", cause)
	}
	return rejoin, nil
}

// reconnect dials again with backoff; the new connection rejoins room, as
// the viewer or the owner the client was.
func (c *Client) reconnect(cause error, room string) (*gws.Conn, *link, error) {
	p := c.opts.Reconnect
	for {
		c.failures++
		if p.MaxAttempts > 0 && c.failures > p.MaxAttempts {
			return nil, nil, fmt.Errorf("%w after %d tries: %w", ErrGaveUp, p.MaxAttempts, cause)
		}
		delay := Backoff(c.failures, p.InitialDelay, p.MaxDelay)
		if suggested, ok := serverDelay(cause); ok {
			delay = suggested // the server spreads the returns of the clients it drained or turned away
		}
		if fn := c.opts.Events.OnReconnecting; fn != nil {
			fn(c.failures, delay, cause)
		}
		t := time.NewTimer(delay)
		select {
		case <-c.stop.Done():
			t.Stop()
			return nil, nil, ErrClosed
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(c.stop, 10*time.Second)
		conn, l, err := c.connect(ctx)
		cancel()
		if err != nil {
			if c.stop.Err() != nil {
				return nil, nil, ErrClosed
			}
			if refused := refusalOf(err); refused != nil && !c.mayRetry(refused) {
				return nil, nil, err
			}
			c.log.Info("rtbroadcaster client: reconnect failed", "attempt", c.failures, "err", err)
			cause = err
			continue
		}
		c.install(conn, room)
		return conn, l, nil
	}
}

// mayRetry reports whether connecting again may get past refused: later,
// for a rate limit or a busy server; with a fresh token from Options.Token,
// for a refused token; never for an origin.
func (c *Client) mayRetry(refused *RefusedError) bool {
	return refused.Retryable() || (refused.unauthorized() && c.opts.Token != nil)
}

// install makes conn the connection; the request that takes the client
// back into room is sent before anyone else may use it: an owner's resume
// with its key, or a viewer's join from the last seq it received.
func (c *Client) install(conn *gws.Conn, room string) {
	c.mu.Lock()
	c.conn = conn
	var p *pending
	var ping bool
	var rejoin []byte
	switch {
	case room != "" && c.role == roleOwner:
		resume := resumeRequest(room, c.ownerKey)
		p, ping = c.registerLocked(kindResume, conn, resume)
		rejoin = resume.Encode()
	case room != "":
		seq, recovering := c.recoveryPoint()
		p, ping = c.registerLocked(kindRejoin, conn, nil)
		rejoin = rejoinFrame(room, p.id, seq, recovering)
	}
	up := c.up
	c.mu.Unlock()
	if p != nil {
		// No request can use conn before up is closed: nothing to order.
		_ = c.send(conn, p, ping, rejoin) // a failure ends the read loop, which retries
	} else {
		c.reconnected()
	}
	// An owner's requests (CloseRoom, Sync) wait until its resume is
	// answered and its queue sent, so that they follow what it queued.
	if p == nil || p.kind != kindResume {
		close(up)
	}
}

// openLocked lets requests use the connection, once.
func (c *Client) openLocked() {
	if !isClosed(c.up) {
		close(c.up)
	}
}

// finish records why the client stopped; what an owner still queued is
// reported dropped.
func (c *Client) finish(err error) {
	c.mu.Lock()
	c.err = err
	c.failPendingLocked(err)
	c.stopResendLocked()
	dropped := c.takeQueueLocked(!errors.Is(err, ErrClosed))
	c.mu.Unlock()
	c.reportDropped(dropped, err)
}

// Close stops the client for good: it closes the connection and an owner's
// room (which would otherwise wait for the owner's return), and does not
// reconnect. It waits until the reading goroutine has ended; after it, Err
// returns ErrClosed.
func (c *Client) Close() error {
	c.stopNow()
	c.mu.Lock()
	conn, owned := c.conn, c.role == roleOwner
	room := c.room
	c.mu.Unlock()
	if conn != nil {
		if owned {
			_ = c.write(conn, closeRequest(room).Encode())
		}
		_ = conn.WriteClose(1000, nil)
	}
	<-c.done
	return nil
}

// Done is closed when the client has stopped for good: Close was called, a
// viewer's room closed, or reconnecting was off or gave up. Err says which.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err is why the client stopped: ErrClosed, ErrRoomClosed, ErrGaveUp, a
// *RefusedError the client cannot get past (an origin refused, a token
// refused without Options.Token to get another), or the connection's error
// when reconnecting is off. It is nil while it runs.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Room is the id of the room the client is in, or "".
func (c *Client) Room() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.room
}

// OwnerKey is the secret that takes this client's room back as its owner,
// or "" unless the client owns a room. The client uses it by itself after
// its own drops; keep it (on disk, say, where only this application reads
// it) for another process, or this one after a restart, to call ResumeRoom
// with it within the server's grace. Whoever holds it may take the room.
func (c *Client) OwnerKey() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.role != roleOwner {
		return ""
	}
	return c.ownerKey
}

// IsOwner reports whether the client owns its room.
func (c *Client) IsOwner() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.role == roleOwner
}

// Viewers is the viewer count the server last reported to this owner.
func (c *Client) Viewers() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.viewers
}

// Handle runs fn with the params of every action funcKey received, replayed
// state included. A later Handle for the same funcKey replaces fn; nil
// removes it.
func (c *Client) Handle(funcKey string, fn func(params []string)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if fn == nil {
		delete(c.handlers, funcKey)
		return
	}
	c.handlers[funcKey] = fn
}

// HandleDefault runs fn for actions whose funcKey has no handler.
func (c *Client) HandleDefault(fn func(funcKey string, params []string)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fallback = fn
}

// touch pushes the read deadline back. It runs on every frame received, so
// it moves the deadline at most once a second.
func (c *Client) touch(conn *gws.Conn, force bool) {
	now := time.Now()
	if !force && now.Sub(c.deadlineSet) < time.Second {
		return
	}
	c.deadlineSet = now
	_ = conn.SetReadDeadline(now.Add(c.opts.IdleTimeout))
}

// ctxDialer dials with a context and closes the connection if the context
// ends during the handshake, which the WebSocket library cannot cancel.
type ctxDialer struct {
	ctx  context.Context
	stop func() bool
}

func (d *ctxDialer) Dial(network, addr string) (net.Conn, error) {
	var nd net.Dialer
	conn, err := nd.DialContext(d.ctx, network, addr)
	if err != nil {
		return nil, err
	}
	d.stop = context.AfterFunc(d.ctx, func() { _ = conn.Close() })
	return conn, nil
}

func (d *ctxDialer) stopWatching() {
	if d.stop != nil {
		d.stop()
	}
}

// gwsLogger sends the WebSocket library's error logs to slog.
type gwsLogger struct{ log *slog.Logger }

func (l gwsLogger) Error(v ...any) {
	l.log.Error("rtbroadcaster client: websocket library", "detail", fmt.Sprint(v...))
}
