package rtbroadcaster

import (
	"io"
	"log/slog"
	"net/netip"
	"time"

	"github.com/rtbroadcaster/rtbroadcaster/auth"
	"github.com/rtbroadcaster/rtbroadcaster/broker"
	"github.com/rtbroadcaster/rtbroadcaster/broker/memory"
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
	// MaxTotalHistoryBytes bounds the histories of all rooms together, for
	// the engines that keep them in this process (the in-memory one): past
	// it, a room that adds a message drops its oldest ones first, and a
	// viewer that rejoins from before what its room still holds gets the
	// state replay ("recovered": false). Default 256 MiB.
	MaxTotalHistoryBytes int
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
	// APIRequestsPerSecond limits the HTTP API requests of one API key (or
	// one token subject); past it, requests are refused with 429. 0 means
	// unlimited, the default. APIRequestBurst is the bucket's size
	// (default: one second's worth, at least 1).
	APIRequestsPerSecond float64
	APIRequestBurst      int
	// PingInterval is how often the server pings each client; a client that
	// sends nothing within PongTimeout of a ping (a pong, or any frame) is
	// dropped, so at most PingInterval+PongTimeout after it last spoke. A
	// client whose request is still being handled is given the time it
	// takes. Defaults 25 s, 10 s.
	PingInterval time.Duration
	PongTimeout  time.Duration
	// WriteTimeout bounds one write to a client's socket. Default 10 s.
	WriteTimeout time.Duration
}

// DefaultLimits returns the limits a Manager uses for zero fields.
func DefaultLimits() Limits {
	return Limits{
		ReadLimit:            64 << 10,
		MaxFuncParams:        256,
		MaxViewersPerRoom:    100_000,
		MaxStateMessages:     10_000,
		MaxStateBytes:        8 << 20,
		MaxTotalStateBytes:   1 << 30,
		MaxRooms:             10_000,
		HistoryMessages:      1000,
		HistoryBytes:         1 << 20,
		MaxTotalHistoryBytes: 256 << 20,
		SendQueueBytes:       1 << 20,
		PingInterval:         25 * time.Second,
		PongTimeout:          10 * time.Second,
		WriteTimeout:         10 * time.Second,
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
	setDefault(&l.MaxTotalHistoryBytes, d.MaxTotalHistoryBytes)
	setDefault(&l.SendQueueBytes, d.SendQueueBytes)
	setDefault(&l.PingInterval, d.PingInterval)
	setDefault(&l.PongTimeout, d.PongTimeout)
	setDefault(&l.WriteTimeout, d.WriteTimeout)
	if l.MessagesPerSecond > 0 && l.MessageBurst <= 0 {
		l.MessageBurst = max(1, int(l.MessagesPerSecond))
	}
	if l.APIRequestsPerSecond > 0 && l.APIRequestBurst <= 0 {
		l.APIRequestBurst = max(1, int(l.APIRequestsPerSecond))
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

// Config is a Manager's whole configuration. Its zero value is a safe one:
// every zero field means its documented default.
type Config struct {
	// Limits bound what one client can make the server hold or do.
	Limits Limits
	// Logger is where the Manager logs; nil: slog.Default().
	Logger *slog.Logger
	// AllowedOrigins are the browser origins that may connect, exactly, as
	// "scheme://host[:port]"; "*" allows every origin. With a list, pages of
	// the server's own origin need to be on it too. Without one, only
	// same-origin pages may: the Origin's host is the request's Host, and an
	// http:// page does not reach a server reached over TLS (directly, or at
	// a trusted proxy that sends X-Forwarded-Proto: https). Same-origin rests
	// on the Host header, which a DNS-rebinding page controls: list exact
	// origins to rule that out. Requests without an Origin header are always
	// accepted: only non-browser clients send them.
	AllowedOrigins []string
	// Broker is the room engine; nil: a new in-memory engine (package
	// broker/memory), which serves this process alone. Managers that share
	// an engine, such as broker/redis, share their rooms.
	Broker broker.Broker
	// TokenVerifier, when set, turns authentication on: creating and
	// joining a room need a token it accepts and whose grant allows it
	// (PROTOCOL.md, Authentication). Nil: everyone may do both.
	TokenVerifier TokenVerifier
	// TrustedProxies are the reverse proxies whose X-Forwarded-For header is
	// believed when telling a client's address, which the per-address limits
	// count. None: the address is the TCP peer's.
	TrustedProxies []netip.Prefix
	// AdminToken enables the admin API (AdminHandler) for requests carrying
	// "Authorization: Bearer <token>". Empty: the API answers 404.
	AdminToken string
	// APIKeys turn the HTTP API (APIHandler) on: a request carrying
	// "Authorization: Bearer <key>" with one of them may use it, as may one
	// with a token that TokenVerifier accepts and whose grant has API set.
	// None: the API answers 404.
	APIKeys []string
	// OwnerGrace is how long a room stays open after its owner's connection
	// ends, for the owner to take it back (PROTOCOL.md, Owner resume).
	// 0: DefaultOwnerGrace; negative: none, the room closes with its owner,
	// as the original rtbroadcaster (pablanka, 2016) did.
	OwnerGrace time.Duration
	// DrainSpread is the window over which Shutdown spreads its clients'
	// reconnects (PROTOCOL.md, Drain). 0: DefaultDrainSpread; negative: none,
	// every client is told to reconnect at once.
	DrainSpread time.Duration

	now          func() time.Time // the rate limits' clock; tests move it (export_test.go)
	summaryEvery time.Duration    // how often the connections summary may be logged; tests shorten it
}

// withDefaults fills every zero field of c with its default.
func (c Config) withDefaults() Config {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Broker == nil {
		c.Broker = memory.New()
	}
	c.OwnerGrace = orDefault(c.OwnerGrace, DefaultOwnerGrace)
	c.DrainSpread = orDefault(c.DrainSpread, DefaultDrainSpread)
	if c.now == nil {
		c.now = time.Now
	}
	if c.summaryEvery <= 0 {
		c.summaryEvery = defaultSummaryInterval
	}
	return c
}

// orDefault reads a duration where 0 means def and a negative value none.
func orDefault(d, def time.Duration) time.Duration {
	switch {
	case d == 0:
		return def
	case d < 0:
		return 0
	}
	return d
}

// An Option sets a field of the Config that NewManager builds: the original
// rtbroadcaster's API, kept; New takes the Config itself.
type Option func(*Config)

// none is what a WithX option stores for "0: none", since 0 in a Config
// field means its default.
const none = -1

// WithDrainSpread sets Config.DrainSpread; 0 tells every client to
// reconnect at once. Default DefaultDrainSpread.
func WithDrainSpread(d time.Duration) Option {
	return func(c *Config) { c.DrainSpread = noneIfZero(d) }
}

// noneIfZero turns a WithX option's 0 ("none") into Config's negative.
func noneIfZero(d time.Duration) time.Duration {
	if d <= 0 {
		return none
	}
	return d
}

// DefaultOwnerGrace is how long a room outlives its owner's connection
// unless WithOwnerGrace says otherwise.
const DefaultOwnerGrace = 30 * time.Second

// WithOwnerGrace sets Config.OwnerGrace; 0 closes a room at once when its
// owner's connection ends, as the original rtbroadcaster (pablanka, 2016)
// did. Default DefaultOwnerGrace.
func WithOwnerGrace(d time.Duration) Option {
	return func(c *Config) { c.OwnerGrace = noneIfZero(d) }
}

// TokenVerifier checks the token a client presents and says what it allows.
// *auth.Verifier is one (JWT); tests and other schemes may bring their own.
type TokenVerifier interface {
	Verify(token string) (auth.Grant, error)
}

// WithTokenVerifier sets Config.TokenVerifier: authentication on.
func WithTokenVerifier(v TokenVerifier) Option { return func(c *Config) { c.TokenVerifier = v } }

// WithTrustedProxies sets Config.TrustedProxies.
func WithTrustedProxies(proxies ...netip.Prefix) Option {
	return func(c *Config) { c.TrustedProxies = proxies }
}

// WithAPIKeys sets Config.APIKeys: the HTTP API on.
func WithAPIKeys(keys ...string) Option { return func(c *Config) { c.APIKeys = keys } }

// WithAdminToken sets Config.AdminToken: the admin API on.
func WithAdminToken(token string) Option { return func(c *Config) { c.AdminToken = token } }

// WithBroker sets Config.Broker, the room engine.
func WithBroker(b broker.Broker) Option { return func(c *Config) { c.Broker = b } }

// WithLimits sets Config.Limits; zero fields keep their defaults.
func WithLimits(l Limits) Option { return func(c *Config) { c.Limits = l } }

// WithLogger sets Config.Logger. Unlike a nil Config.Logger, which means
// slog.Default(), a nil logger here discards everything.
func WithLogger(l *slog.Logger) Option {
	return func(c *Config) {
		if l == nil {
			l = slog.New(slog.NewTextHandler(io.Discard, nil))
		}
		c.Logger = l
	}
}

// WithAllowedOrigins sets Config.AllowedOrigins.
func WithAllowedOrigins(origins ...string) Option {
	return func(c *Config) { c.AllowedOrigins = origins }
}
