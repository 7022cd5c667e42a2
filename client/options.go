package client

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"time"
)

// Options configure a Client. The zero value (or nil) is a safe default: no
// extra header, logs discarded, reconnect on with the default policy.
type Options struct {
	// Header is sent with the WebSocket handshake.
	Header http.Header
	// Origin, when set, is sent as the Origin header, for servers that check it.
	Origin string
	// Token, when set, is asked for a token before every dial, reconnects
	// included, for servers that require one (PROTOCOL.md, Authentication):
	// return a fresh token when the last may have expired. It is sent in the
	// handshake as the subprotocol "rtb-token.<token>"; the server checks it
	// at each Create and Join. An error fails the dial.
	Token func(ctx context.Context) (string, error)
	// Logger receives what the client does (reconnects, dropped connections).
	// Nil discards it.
	Logger *slog.Logger
	// Reconnect says whether and how to reconnect after a drop.
	Reconnect ReconnectPolicy
	// Events are the callbacks the client calls; nil fields are skipped.
	Events Events
	// OfflineQueue is how many Broadcast and SetState calls an owner holds
	// while it reconnects to take its room back; they are sent, in order,
	// as soon as the room is back. Past it, those calls fail with
	// ErrQueueFull. Default 256; negative turns the queue off, and the calls
	// fail with ErrNotConnected while the connection is down.
	//
	// Against a server that numbers an owner's messages (PROTOCOL.md,
	// Exactly once from the owner), it bounds the messages the server has
	// not acknowledged yet, sent or held: each is kept until the server
	// acknowledges it (at least every 100 ms) and sent again after a resume
	// if it was not. A call that finds OfflineQueue of them, connected, waits
	// for an acknowledgement, at most WriteTimeout, then fails with
	// ErrUnackedFull. Negative also turns the numbering off.
	OfflineQueue int
	// WriteTimeout bounds one write to the server. Default 10 s.
	WriteTimeout time.Duration
	// IdleTimeout is how long the client waits without receiving anything
	// before it considers the connection dead. The server pings every 25 s by
	// default, so the default is 60 s.
	IdleTimeout time.Duration
}

// ReconnectPolicy is when and how fast a dropped connection is dialled again.
// The zero value reconnects forever, with delays up to 500 ms, then 1 s, 2 s,
// ... at most 15 s.
type ReconnectPolicy struct {
	// Disabled makes a dropped connection final.
	Disabled bool
	// InitialDelay is the ceiling of the first retry's random delay. Default 500 ms.
	InitialDelay time.Duration
	// MaxDelay is the most the ceiling grows to. Default 15 s.
	MaxDelay time.Duration
	// MaxAttempts is how many failed dials in a row end the client (Err is
	// ErrGaveUp); 0 means no limit.
	MaxAttempts int
}

// Events are the client's callbacks. They run on the connection's reading
// goroutine, one at a time; see the package documentation.
type Events struct {
	// OnViewers (owner) reports the room's viewer count when it changes, at
	// most every 200 ms.
	OnViewers func(count int)
	// OnReplayDone (viewer) runs once the count state messages of a join or
	// rejoin have been handled; at once when there are none.
	OnReplayDone func(count int)
	// OnStateCleared (viewer) runs just before the handler of an action with
	// which the owner cleared the room's kept state (ResetState): reset what
	// the view shows.
	OnStateCleared func(funcKey string)
	// OnRoomClosed reports that the room is gone, and why.
	OnRoomClosed func(reason CloseReason)
	// OnReconnecting runs before each reconnect try: the attempt number
	// (from 1), the delay before it, and why the connection is down.
	OnReconnecting func(attempt int, delay time.Duration, cause error)
	// OnReconnected runs when a new connection is open; for a viewer, after it
	// has rejoined its room (its replay follows); for an owner, after it has
	// taken its room back and sent what it queued meanwhile (after
	// OnResumed), or, when that failed, after OnRoomClosed.
	OnReconnected func()
	// OnResumed (owner) reports that the client took its room back: by
	// itself after a drop, then queued is how many Broadcast and SetState
	// calls made while it was away have just been sent; or through
	// ResumeRoom, with queued 0. Viewers get OnOwnerBack.
	OnResumed func(queued int)
	// OnResent (owner), just before OnResumed after a drop, against a
	// server that numbers an owner's messages: how many messages sent before
	// the drop that the server had not acknowledged were sent again. The
	// server drops those it already had, so that each reaches viewers once.
	OnResent func(resent int)
	// OnRecovered (viewer) runs after every rejoin: true when exactly the
	// messages missed meanwhile follow, false when a fresh state replay
	// follows instead (reset what the view shows before it): they were too
	// many, or the connection dropped during a state replay, which is then
	// sent again whole.
	OnRecovered func(recovered bool)
	// OnSkipped (viewer) reports that the messages numbered from to to,
	// conflated ones (BroadcastOptions.Conflate), were replaced by newer
	// ones of their keys before this viewer could be sent them: they are
	// not lost, nothing is missing, and a rejoin recovers after them.
	OnSkipped func(from, to uint64)
	// OnOwnerAway (viewer) reports that the owner's connection dropped: the
	// room waits grace for it to come back, then closes. grace is 0 when the
	// viewer joined while the owner was away: how much is left is unknown.
	OnOwnerAway func(grace time.Duration)
	// OnOwnerBack (viewer) reports that the owner took the room back.
	OnOwnerBack func()
	// OnError reports a refusal no request waited for: a Broadcast or
	// SetState the server refused (state_full, rate_limited, ...), as a
	// *protocol.Error; or, as a *QueueDroppedError, the calls an owner
	// queued while reconnecting that were never sent because its room was
	// lost (reported just before OnRoomClosed) or the client stopped.
	OnError func(err error)
}

// CloseReason says why a room is gone.
type CloseReason string

const (
	// ReasonClosed: the owner closed the room, or its owner left.
	ReasonClosed CloseReason = "closed"
	// ReasonConnectionLost: the owner's own connection dropped, and it could
	// not take its room back after reconnecting (the grace had passed).
	ReasonConnectionLost CloseReason = "connection_lost"
	// ReasonReplaced: another connection took the owner's room back with its
	// owner key (PROTOCOL.md, Owner resume). The server says so at once; the
	// client forgets the room and its key and never resumes it.
	ReasonReplaced CloseReason = "replaced"
	// ReasonRoomNotFound: a viewer's rejoin after a reconnect found the room gone.
	ReasonRoomNotFound CloseReason = "room_not_found"
)

// withDefaults returns a copy of o with every zero field at its default.
func (o *Options) withDefaults() Options {
	var c Options
	if o != nil {
		c = *o
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if c.OfflineQueue == 0 {
		c.OfflineQueue = 256
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 10 * time.Second
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 60 * time.Second
	}
	if c.Reconnect.InitialDelay <= 0 {
		c.Reconnect.InitialDelay = 500 * time.Millisecond
	}
	if c.Reconnect.MaxDelay <= 0 {
		c.Reconnect.MaxDelay = 15 * time.Second
	}
	c.Header = c.Header.Clone()
	if c.Origin != "" {
		if c.Header == nil {
			c.Header = http.Header{}
		}
		c.Header.Set("Origin", c.Origin)
	}
	return c
}
