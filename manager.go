package rtbroadcaster

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rtbroadcaster/rtbroadcaster/broker"
)

// Manager accepts WebSocket connections and keeps the rooms. It is an
// http.Handler. The zero value is not usable: call NewManager. The lock
// order is in LOCKING.md.
type Manager struct {
	// Set by NewManager, then only read.
	limits         Limits
	log            *slog.Logger
	allowedOrigins []string
	broker         broker.Broker
	verifier       TokenVerifier // nil: no authentication
	trustedProxies []netip.Prefix
	adminToken     string
	api            *apiAuth // nil: the HTTP API is off
	ownerGrace     time.Duration
	drainSpread    time.Duration
	now            func() time.Time
	addrLimits     *addrLimits  // locks itself (addrLimits.mu, a leaf)
	pings          *pingWheel   // every connection's ping timer; locks itself (pingWheel.mu, a leaf)
	metrics        *metrics     // Prometheus's own locks and atomics
	summary        *connSummary // the periodic info line about connections; locks itself

	// Atomic or self-locking: touched with no Manager lock held.
	ownedRooms atomic.Int64   // rooms reserved from this node, those in their grace included
	detaching  sync.WaitGroup // replica references dropped on goroutines (see room.letGo)
	open       atomic.Int64   // connections admitted, upgraded or upgrading

	// Guarded by mu, as is each room's refs. mu is never held while
	// calling the engine or taking another lock.
	mu       sync.Mutex
	rooms    map[string]*room // this node's replicas
	conns    map[*conn]struct{}
	draining bool
	drained  chan struct{} // closed when draining and the last connection is gone

	stats struct { // atomic
		slowConsumers   atomic.Uint64
		originsRejected atomic.Uint64
	}
}

// NewManager returns a Manager with the given options; with none, it has the
// default limits, logs to slog.Default() and accepts same-origin browsers.
func NewManager(options ...Option) *Manager {
	var cfg Config
	for _, opt := range options {
		opt(&cfg)
	}
	return New(cfg)
}

// New returns a Manager configured by cfg, whose zero value is the default
// configuration (see Config).
func New(cfg Config) *Manager {
	cfg = cfg.withDefaults()
	m := &Manager{
		limits:         cfg.Limits.withDefaults(),
		log:            cfg.Logger,
		allowedOrigins: cfg.AllowedOrigins,
		broker:         cfg.Broker,
		verifier:       cfg.TokenVerifier,
		trustedProxies: cfg.TrustedProxies,
		adminToken:     cfg.AdminToken,
		ownerGrace:     cfg.OwnerGrace,
		drainSpread:    cfg.DrainSpread,
		now:            cfg.now,
		rooms:          map[string]*room{},
		conns:          map[*conn]struct{}{},
	}
	if p, ok := m.broker.(broker.OwnerNewsPublisher); ok {
		p.SetRenderer(m.renderOwnerNews)
	}
	m.addrLimits = newAddrLimits(m.limits, m.now)
	m.pings = newPingWheel(m.limits)
	m.api = newAPIAuth(cfg.APIKeys, m.verifier, m.limits, m.now)
	m.metrics = newMetrics(m)
	m.summary = &connSummary{log: m.log, interval: cfg.summaryEvery, stats: m.Stats}
	return m
}

// ServeHTTP upgrades the request to a WebSocket connection; see CreateNewClient.
func (m *Manager) ServeHTTP(w http.ResponseWriter, r *http.Request) { m.CreateNewClient(w, r) }

// CreateNewClient upgrades the request to a WebSocket connection and serves
// it until it ends. It returns as soon as the connection is upgraded. It
// refuses a browser from an origin that is not allowed (403), every client
// while the Manager shuts down or has its maximum of connections (503), and
// an address that opens connections too fast (429): a WebSocket handshake
// with a close frame that says so (4403, 4503, 4429; see refuseUpgrade),
// any other request with the HTTP status.
func (m *Manager) CreateNewClient(w http.ResponseWriter, r *http.Request) {
	addr := clientAddr(r, m.trustedProxies)
	if !m.originAllowed(r) {
		m.stats.originsRejected.Add(1)
		m.log.Warn("websocket refused: origin not allowed", "origin", r.Header.Get("Origin"), "host", r.Host, "remote", addr)
		m.refuseUpgrade(w, r, refusal{http.StatusForbidden, CloseOriginRefused, "origin", "origin not allowed", 0})
		return
	}
	key, refused := m.admit(addr)
	if refused != nil {
		m.refuseUpgrade(w, r, *refused)
		return
	}
	netConn, early, err := acceptWebSocket(w, r)
	if err != nil {
		m.open.Add(-1)
		m.addrLimits.closed(key)
		m.log.Debug("websocket upgrade failed", "remote", addr, "err", err)
		return
	}
	c := newConn(m, &wsSocket{conn: netConn}, addr)
	c.limitKey, c.connToken = key, connectionToken(r)
	m.metrics.connectionOpened(transportWebSocket)
	m.summary.connectionOpened()
	c.prepareReading(early)
	if !m.addConn(c) {
		c.drain()
	}
	c.start()
	c.startReading()
}

// retryDelay is when a client refused for the server's sake may come back:
// a random point of the drain spread, so that refused clients do not all
// return at once (and, behind a load balancer, find another node).
func (m *Manager) retryDelay() time.Duration {
	return max(time.Second, randomWithin(m.drainSpread))
}

// originAllowed applies the origin policy described at WithAllowedOrigins:
// the listed origins when there are any, else same-origin pages.
func (m *Manager) originAllowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	for _, allowed := range m.allowedOrigins {
		if allowed == "*" || strings.EqualFold(allowed, origin) {
			return true
		}
	}
	// A listed origin is exact; the Host header is whatever name the
	// browser used, a rebinding attacker's domain included.
	return len(m.allowedOrigins) == 0 && m.sameOrigin(r, origin)
}

// sameOrigin reports whether the page of origin came from the host that r
// names. An https page is, whether TLS ends here or at a proxy. An http
// page is not when the request came over TLS (here, or at a trusted proxy
// that says so): anyone on the page's network can write such a page.
func (m *Manager) sameOrigin(r *http.Request, origin string) bool {
	u, err := url.Parse(origin)
	if err != nil || !strings.EqualFold(u.Host, r.Host) {
		return false
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
		return true
	case "http":
		return !requestSecure(r, m.trustedProxies)
	}
	return false
}

// Shutdown drains the Manager: it refuses new connections, sends every
// client a close frame 1001 after what is already queued for it, whose
// reason names a random delay within the drain spread to reconnect after
// (owners then resume their rooms elsewhere within their grace), and waits
// until all connections have ended. When ctx ends first, it closes the
// remaining connections at once, waits for them to be cleaned up, and
// returns ctx's error.
func (m *Manager) Shutdown(ctx context.Context) error {
	defer m.summary.flush()
	m.mu.Lock()
	if !m.draining {
		m.draining = true
		m.drained = make(chan struct{})
		if len(m.conns) == 0 {
			close(m.drained)
		}
	}
	conns := m.connsLocked()
	m.mu.Unlock()

	for _, c := range conns {
		c.drain()
	}
	m.releaseAPIRooms()
	// Rooms whose owners left keep counting until the Manager is done:
	// their counts and subscriptions end with it.
	defer m.releaseAllHeld()
	select {
	case <-m.drained:
		return nil
	case <-ctx.Done():
	}
	m.mu.Lock()
	conns = m.connsLocked()
	m.mu.Unlock()
	for _, c := range conns {
		c.abort()
	}
	<-m.drained
	return fmt.Errorf("rtbroadcaster: shutdown: %d connections did not close in time: %w", len(conns), ctx.Err())
}

// admit counts a new connection from addr, a WebSocket or an event stream,
// against the server's limits, and returns the key of its address's limits;
// or, when the server is draining or a limit is reached, why it is refused
// (and counts nothing).
func (m *Manager) admit(addr netip.Addr) (key netip.Prefix, refused *refusal) {
	if m.isDraining() {
		return netip.Prefix{}, &refusal{http.StatusServiceUnavailable, CloseUnavailable, "draining", "server is shutting down", m.retryDelay()}
	}
	if limit := m.limits.MaxConnections; m.open.Add(1) > int64(limit) && limit > 0 {
		m.open.Add(-1)
		return netip.Prefix{}, &refusal{http.StatusServiceUnavailable, CloseUnavailable, "max_connections", "server is at its maximum of connections", m.retryDelay()}
	}
	key = limitKey(addr)
	if !m.addrLimits.admit(key) {
		m.open.Add(-1)
		return netip.Prefix{}, &refusal{http.StatusTooManyRequests, CloseTooManyConnections, "connection_rate", "too many new connections from your address", time.Second}
	}
	return key, nil
}

func (m *Manager) isDraining() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.draining
}

// Stats is a snapshot of what a Manager is doing.
type Stats struct {
	Connections int // open WebSocket connections
	Rooms       int // rooms with a client on this node
	// OwnedRooms counts the rooms owned from this node, those waiting for
	// their owner included: what Limits.MaxRooms bounds.
	OwnedRooms      int
	SlowConsumers   uint64 // connections closed with 4001 since start
	OriginsRejected uint64 // upgrades refused for their Origin since start
}

// Stats returns the current counts.
func (m *Manager) Stats() Stats {
	m.mu.Lock()
	defer m.mu.Unlock()
	return Stats{
		Connections:     len(m.conns),
		Rooms:           len(m.rooms),
		OwnedRooms:      int(m.ownedRooms.Load()),
		SlowConsumers:   m.stats.slowConsumers.Load(),
		OriginsRejected: m.stats.originsRejected.Load(),
	}
}

// addConn registers c; it reports false when the Manager is draining.
func (m *Manager) addConn(c *conn) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.conns[c] = struct{}{}
	return !m.draining
}

func (m *Manager) forgetConn(c *conn) {
	m.open.Add(-1)
	m.addrLimits.closed(c.limitKey)
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.conns, c)
	if m.draining && len(m.conns) == 0 {
		select {
		case <-m.drained:
		default:
			close(m.drained)
		}
	}
}

func (m *Manager) connsLocked() []*conn {
	conns := make([]*conn, 0, len(m.conns))
	for c := range m.conns {
		conns = append(conns, c)
	}
	return conns
}

// attach returns this node's replica of room id, subscribed to the room's
// stream, and counts one more user of it. Concurrent attaches of a new room
// share one subscription.
func (m *Manager) attach(ctx context.Context, id string) (*room, error) {
	m.mu.Lock()
	r := m.rooms[id]
	if r != nil {
		r.refs++
		m.mu.Unlock()
		<-r.ready
	} else {
		r = newRoom(m, id)
		m.rooms[id] = r
		m.mu.Unlock()
		r.subErr = m.broker.Subscribe(ctx, id, r)
		close(r.ready)
	}
	if r.subErr != nil {
		m.detach(r)
		return nil, r.subErr
	}
	return r, nil
}

// detach counts one user less of replica r; the last one unsubscribes it.
func (m *Manager) detach(r *room) {
	m.mu.Lock()
	r.refs--
	last := r.refs == 0
	if last && m.rooms[r.id] == r {
		delete(m.rooms, r.id)
	}
	m.mu.Unlock()
	if last && r.subErr == nil {
		r.unsubscribe()
	}
}

// forgetRoom drops a closed replica, so that a later join finds the room
// closed in the broker instead of here.
func (m *Manager) forgetRoom(r *room) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.rooms[r.id] == r {
		delete(m.rooms, r.id)
	}
}

// DefaultDrainSpread is the window over which clients of a shutting-down
// server are told to come back, unless WithDrainSpread says otherwise.
const DefaultDrainSpread = 5 * time.Second

// randomWithin is a random duration in [0, spread), or 0.
func randomWithin(spread time.Duration) time.Duration {
	if spread <= 0 {
		return 0
	}
	return rand.N(spread)
}
