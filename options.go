package rtbroadcaster

import (
	"io"
	"log/slog"
	"net/netip"
	"time"

	"github.com/rtbroadcaster/rtbroadcaster/auth"
	"github.com/rtbroadcaster/rtbroadcaster/broker"
)

// Limits bound what one client can make the server hold or do. The zero
// value of every field means its default, so Limits{} is a safe configuration.
type Limits struct {
	// ReadLimit is the largest frame a client may send, in bytes; a larger
	// one closes the connection with 1009. Default 64 KiB.
	ReadLimit int
	// MaxFuncParams is how many funcParams one message may carry. Default 256.
	MaxFuncParams int
	// MaxViewersPerRoom is how many viewers one room admits. Default 100,000.
	MaxViewersPerRoom int
	// MaxStateMessages is how many state messages a room keeps. Default 10,000.
	MaxStateMessages int
	// MaxStateBytes bounds the encoded size of a room's kept state. Default 8 MiB.
	MaxStateBytes int
	// MaxTotalStateBytes bounds the kept state of all rooms together, for
	// the engines that keep it in this process (the in-memory one); past
	// it, state messages are refused with state_full. Redis keeps state in
	// Redis, whose maxmemory bounds it. Default 1 GiB.
	MaxTotalStateBytes int
	// MaxRooms bounds the open rooms owned from this node, rooms waiting
	// for their owner in its grace included; past it, create and resume are
	// refused with too_many_rooms. Default 10,000.
	MaxRooms int
	// HistoryMessages and HistoryBytes bound each room's history: its
	// latest messages, from which a viewer that rejoins with the last seq
	// it saw is sent exactly what it missed (PROTOCOL.md, Recovery).
	// Defaults 1,000 messages and 1 MiB.
	HistoryMessages int
	HistoryBytes    int
	// SendQueueBytes is how many encoded bytes may wait for one connection
	// before it is closed as a slow consumer (4001). Default 1 MiB.
	SendQueueBytes int
	// MessagesPerSecond limits the messages one connection may send;
	// 0 means unlimited, which is the default. MessageBurst is the bucket's
	// size (default: one second's worth, at least 1).
	MessagesPerSecond float64
	MessageBurst      int
	// RateLimitStrikes is how many messages of one connection may be refused
	// as rate_limited within 10 seconds before it is closed with 1008.
	// Default 50. Pings count too: against MessagesPerSecond when it is
	// set, else against a budget of 10 per second (burst 50); a ping past
	// it gets no pong and counts as a refused message.
	RateLimitStrikes int
	// MaxConnections bounds the open connections; past it, upgrades are
	// refused with HTTP 503. 0 means unlimited, the default.
	MaxConnections int
	// ConnectionsPerSecondPerIP limits how fast one client address may open
	// connections; past it, upgrades are refused with HTTP 429. 0 means
	// unlimited, the default. ConnectionBurstPerIP is the bucket's size
	// (default: one second's worth, at least 1). IPv6 clients are counted
	// per /64, the block one subscriber usually holds.
	ConnectionsPerSecondPerIP float64
	ConnectionBurstPerIP      int
	// MaxRoomsPerIP bounds the open rooms owned from one client address on
	// this node; past it, create and resume are refused with
	// too_many_rooms. A room whose owner left counts against the owner's
	// address until it closes or another connection resumes it (then it
	// counts against that one's). 0 means unlimited, the default.
	MaxRoomsPerIP int
	// PingInterval is how often the server pings each client; a client that
	// sends nothing for PingInterval+PongTimeout is dropped. Defaults 25 s, 10 s.
	PingInterval time.Duration
	PongTimeout  time.Duration
	// WriteTimeout bounds one write to a client's socket. Default 10 s.
	WriteTimeout time.Duration
}

// DefaultLimits returns the limits a Manager uses for zero fields.
func DefaultLimits() Limits {
	return Limits{
		ReadLimit:          64 << 10,
		MaxFuncParams:      256,
		MaxViewersPerRoom:  100_000,
		MaxStateMessages:   10_000,
		MaxStateBytes:      8 << 20,
		MaxTotalStateBytes: 1 << 30,
		MaxRooms:           10_000,
		HistoryMessages:    1000,
		HistoryBytes:       1 << 20,
		SendQueueBytes:     1 << 20,
		PingInterval:       25 * time.Second,
		PongTimeout:        10 * time.Second,
		WriteTimeout:       10 * time.Second,
	}
}

// withDefaults fills every zero field of l from DefaultLimits.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	setDefault(&l.ReadLimit, d.ReadLimit)
	setDefault(&l.MaxFuncParams, d.MaxFuncParams)
	setDefault(&l.MaxViewersPerRoom, d.MaxViewersPerRoom)
	setDefault(&l.MaxStateMessages, d.MaxStateMessages)
	setDefault(&l.MaxStateBytes, d.MaxStateBytes)
	setDefault(&l.MaxTotalStateBytes, d.MaxTotalStateBytes)
	setDefault(&l.MaxRooms, d.MaxRooms)
	setDefault(&l.HistoryMessages, d.HistoryMessages)
	setDefault(&l.HistoryBytes, d.HistoryBytes)
	setDefault(&l.SendQueueBytes, d.SendQueueBytes)
	setDefault(&l.PingInterval, d.PingInterval)
	setDefault(&l.PongTimeout, d.PongTimeout)
	setDefault(&l.WriteTimeout, d.WriteTimeout)
	if l.MessagesPerSecond > 0 && l.MessageBurst <= 0 {
		l.MessageBurst = max(1, int(l.MessagesPerSecond))
	}
	if l.ConnectionsPerSecondPerIP > 0 && l.ConnectionBurstPerIP <= 0 {
		l.ConnectionBurstPerIP = max(1, int(l.ConnectionsPerSecondPerIP))
	}
	setDefault(&l.RateLimitStrikes, 50)
	return l
}

func setDefault[T int | time.Duration](field *T, def T) {
	if *field <= 0 {
		*field = def
	}
}

// An Option configures a Manager.
type Option func(*config)

type config struct {
	limits         Limits
	logger         *slog.Logger
	allowedOrigins []string
	broker         broker.Broker
	verifier       TokenVerifier
	trustedProxies []netip.Prefix
	adminToken     string
	ownerGrace     time.Duration
	drainSpread    time.Duration
	now            func() time.Time
	summaryEvery   time.Duration // tests shorten it
}

// WithDrainSpread sets the window over which Shutdown spreads its clients'
// reconnects: each is told a random delay within it (PROTOCOL.md, Drain).
// 0 tells every client to reconnect at once. Default DefaultDrainSpread.
func WithDrainSpread(d time.Duration) Option {
	return func(c *config) { c.drainSpread = max(d, 0) }
}

// DefaultOwnerGrace is how long a room outlives its owner's connection
// unless WithOwnerGrace says otherwise.
const DefaultOwnerGrace = 30 * time.Second

// WithOwnerGrace sets how long a room stays open after its owner's
// connection ends, for the owner to take it back (PROTOCOL.md, Owner
// resume); 0 closes it at once, as the original rtbroadcaster (pablanka, 2016)
// did. Default DefaultOwnerGrace.
func WithOwnerGrace(d time.Duration) Option {
	return func(c *config) { c.ownerGrace = max(d, 0) }
}

// TokenVerifier checks the token a client presents and says what it allows.
// *auth.Verifier is one (JWT); tests and other schemes may bring their own.
type TokenVerifier interface {
	Verify(token string) (auth.Grant, error)
}

// WithTokenVerifier turns authentication on: creating and joining a room
// need a token that v accepts and whose grant allows it (see PROTOCOL.md,
// Authentication). By default there is none and everyone may do both.
func WithTokenVerifier(v TokenVerifier) Option { return func(c *config) { c.verifier = v } }

// WithTrustedProxies names the reverse proxies whose X-Forwarded-For header
// is believed when telling a client's address, which the per-address limits
// count. By default none is: the address is the TCP peer's.
func WithTrustedProxies(proxies ...netip.Prefix) Option {
	return func(c *config) { c.trustedProxies = proxies }
}

// WithAdminToken enables the admin API (AdminHandler) for requests carrying
// "Authorization: Bearer <token>". Without it, the API answers 404.
func WithAdminToken(token string) Option { return func(c *config) { c.adminToken = token } }

// WithBroker sets the room engine. The default is a new in-memory engine
// (package broker/memory), which serves this process alone; Managers that
// share an engine, such as broker/redis, share their rooms.
func WithBroker(b broker.Broker) Option { return func(c *config) { c.broker = b } }

// WithLimits sets the limits; zero fields keep their defaults.
func WithLimits(l Limits) Option { return func(c *config) { c.limits = l } }

// WithLogger sets where the Manager logs. The default is slog.Default().
// A nil logger discards everything.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) {
		if l == nil {
			l = slog.New(slog.NewTextHandler(io.Discard, nil))
		}
		c.logger = l
	}
}

// WithAllowedOrigins sets which browser origins may connect, exactly, as
// "scheme://host[:port]"; "*" allows every origin. With a list, pages of the
// server's own origin need to be on it too. Without one, only same-origin
// pages may: the Origin's host is the request's Host, and an http:// page
// does not reach a server reached over TLS (directly, or at a trusted
// proxy that sends X-Forwarded-Proto: https). Same-origin rests on the Host
// header, which a DNS-rebinding page controls: list exact origins to rule
// that out. Requests without an Origin header are always accepted: only
// non-browser clients send them.
func WithAllowedOrigins(origins ...string) Option {
	return func(c *config) { c.allowedOrigins = origins }
}
