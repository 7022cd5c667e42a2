package rtbroadcaster

import (
	"io"
	"log/slog"
	"time"

	"github.com/rtbroadcaster/rtbroadcaster/broker"
)

// Close codes the server sends besides the standard ones (see PROTOCOL.md).
const (
	// CloseSlowConsumer closes a connection whose send queue passed its limit.
	CloseSlowConsumer = 4001

	// CloseNormal ends a viewer's connection when its room closes; CloseGoingAway
	// ends every connection when the server shuts down.
	CloseNormal    = 1000
	CloseGoingAway = 1001
	// CloseServiceRestart asks the viewers of a room whose stream was
	// interrupted (a broker outage) to reconnect and rejoin.
	CloseServiceRestart = 1012
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
	// SendQueueBytes is how many encoded bytes may wait for one connection
	// before it is closed as a slow consumer (4001). Default 1 MiB.
	SendQueueBytes int
	// MessagesPerSecond limits the messages one connection may send;
	// 0 means unlimited, which is the default. MessageBurst is the bucket's
	// size (default: one second's worth, at least 1).
	MessagesPerSecond float64
	MessageBurst      int
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
		ReadLimit:         64 << 10,
		MaxFuncParams:     256,
		MaxViewersPerRoom: 100_000,
		MaxStateMessages:  10_000,
		MaxStateBytes:     8 << 20,
		SendQueueBytes:    1 << 20,
		PingInterval:      25 * time.Second,
		PongTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
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
	setDefault(&l.SendQueueBytes, d.SendQueueBytes)
	setDefault(&l.PingInterval, d.PingInterval)
	setDefault(&l.PongTimeout, d.PongTimeout)
	setDefault(&l.WriteTimeout, d.WriteTimeout)
	if l.MessagesPerSecond > 0 && l.MessageBurst <= 0 {
		l.MessageBurst = max(1, int(l.MessagesPerSecond))
	}
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
}

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

// WithAllowedOrigins sets which browser origins may connect, as
// "scheme://host[:port]"; "*" allows every origin. By default only
// same-origin pages may. Requests without an Origin header are always
// accepted: only non-browser clients send them.
func WithAllowedOrigins(origins ...string) Option {
	return func(c *config) { c.allowedOrigins = origins }
}
