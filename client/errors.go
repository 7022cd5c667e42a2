package client

import "errors"

// Errors of the client itself; refusals by the server are *rtbroadcaster.Error.
var (
	// ErrNotConnected: the connection is down (reconnecting) for a send that does not wait.
	ErrNotConnected = errors.New("rtbroadcaster client: not connected")
	// ErrDisconnected: the connection dropped while a request waited for its reply.
	ErrDisconnected = errors.New("rtbroadcaster client: connection dropped before the reply")
	// ErrClosed: Close was called; the client does nothing more.
	ErrClosed = errors.New("rtbroadcaster client: closed")
	// ErrRoomClosed: a viewer's room was closed; the client stopped.
	ErrRoomClosed = errors.New("rtbroadcaster client: the room was closed")
	// ErrGaveUp: reconnecting failed MaxAttempts times in a row.
	ErrGaveUp = errors.New("rtbroadcaster client: gave up reconnecting")
)
