package client

import (
	"errors"
	"fmt"
)

// Errors of the client itself; refusals by the server are *rtbroadcaster.Error.
var (
	// ErrNotConnected: the connection is down (reconnecting) for a send that does not wait.
	ErrNotConnected = errors.New("rtbroadcaster client: not connected")
	// ErrQueueFull: an owner taking its room back already holds
	// Options.OfflineQueue messages to send once it is back. It wraps
	// ErrNotConnected, so code that handles that handles this too.
	ErrQueueFull = fmt.Errorf("%w: the offline queue is full", ErrNotConnected)
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
// (a *rtbroadcaster.Error: room_not_found when its grace had passed,
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
