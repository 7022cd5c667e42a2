package client

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/lxzan/gws"
	"github.com/rtbroadcaster/rtbroadcaster/protocol"
)

// Errors of the client itself; refusals by the server are *protocol.Error.
var (
	// ErrNotConnected: the connection is down (reconnecting) for a send that does not wait.
	ErrNotConnected = errors.New("rtbroadcaster client: not connected")
	// ErrQueueFull: an owner taking its room back already holds
	// Options.OfflineQueue messages to send once it is back. It wraps
	// ErrNotConnected, so code that handles that handles this too.
	ErrQueueFull = fmt.Errorf("%w: the offline queue is full", ErrNotConnected)
	// ErrUnackedFull: an owner whose server numbers its messages (PROTOCOL.md,
	// Exactly once from the owner) has Options.OfflineQueue of them that the
	// server has not acknowledged yet: it sends faster than the server
	// confirms (at least every 100 ms). Nothing was sent; try again shortly.
	ErrUnackedFull = errors.New("rtbroadcaster client: Options.OfflineQueue messages wait for the server's acknowledgement; this one was not sent")
	// ErrDisconnected: the connection dropped while a request waited for its reply.
	ErrDisconnected = errors.New("rtbroadcaster client: connection dropped before the reply")
	// ErrClosed: Close was called; the client does nothing more.
	ErrClosed = errors.New("rtbroadcaster client: closed")
	// ErrRoomClosed: a viewer's room was closed; the client stopped.
	ErrRoomClosed = errors.New("rtbroadcaster client: the room was closed")
	// ErrGaveUp: reconnecting failed MaxAttempts times in a row.
	ErrGaveUp = errors.New("rtbroadcaster client: gave up reconnecting")
)

// QueueDroppedError reports Broadcast and SetState calls that an owner made
// while it was reconnecting and that were never sent, to Events.OnError and
// the next Sync. Cause is why: the server refused to give the room back
// (a *protocol.Error: room_not_found when its grace had passed,
// not_owner when another connection had taken it), or the client stopped
// (its Err: ErrClosed, ErrGaveUp).
type QueueDroppedError struct {
	Dropped int // how many messages were never sent
	Cause   error
}

func (e *QueueDroppedError) Error() string {
	return fmt.Sprintf("rtbroadcaster client: %d message(s) queued while reconnecting were dropped: %v", e.Dropped, e.Cause)
}

func (e *QueueDroppedError) Unwrap() error { return e.Cause }

// RefusedError: the server refused the connection itself, whatever it was
// going to ask: its origin, its address opening connections too fast, the
// server shutting down or full, or its token (PROTOCOL.md, Refused
// connections). The client stops with it (Err, and the requests waiting)
// unless trying again can help: see Retryable.
type RefusedError struct {
	// Code is the close code (4403, 4429, 4503, 4401) or, from a server
	// that refuses with an HTTP status, the status (403, 429, 503, 401).
	Code   int
	Reason string
	// Retry is the delay the server asked for before trying again, or 0.
	Retry time.Duration
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("rtbroadcaster client: the server refused the connection (%d): %s", e.Code, e.Reason)
}

// Retryable reports whether the same connection may be let in later: a
// rate limit or a busy or restarting server is, an origin never is, and a
// token only when Options.Token can hand out another.
func (e *RefusedError) Retryable() bool {
	switch e.Code {
	case 4429, 4503, http.StatusTooManyRequests, http.StatusServiceUnavailable:
		return true
	}
	return false
}

func (e *RefusedError) unauthorized() bool {
	return e.Code == protocol.CloseUnauthorized || e.Code == http.StatusUnauthorized
}

// refusalOf is the refusal that cause is or wraps: a close with one of the
// server's refusal codes, or a handshake answered with a refusal status.
func refusalOf(cause error) *RefusedError {
	var refused *RefusedError
	if errors.As(cause, &refused) {
		return refused
	}
	var ce *gws.CloseError
	if !errors.As(cause, &ce) {
		return nil
	}
	switch ce.Code {
	case protocol.CloseOriginRefused, protocol.CloseTooManyConnections, protocol.CloseUnavailable, protocol.CloseUnauthorized:
		delay, _ := reasonDelay(ce.Reason)
		return &RefusedError{Code: int(ce.Code), Reason: string(ce.Reason), Retry: delay}
	}
	return nil
}

// httpRefusal is the refusal of a handshake answered with status, or nil.
func httpRefusal(resp *http.Response) *RefusedError {
	switch resp.StatusCode {
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusTooManyRequests, http.StatusServiceUnavailable:
	default:
		return nil
	}
	refused := &RefusedError{Code: resp.StatusCode, Reason: http.StatusText(resp.StatusCode)}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
		refused.Retry = time.Duration(s) * time.Second
	}
	return refused
}
