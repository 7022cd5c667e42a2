package protocol

// Close codes the server ends a connection with (PROTOCOL.md, Connection
// closes); the standard ones are named for what they mean here.
const (
	// CloseNormal ends a viewer's connection when its room closes; a client
	// that gets it has nothing to rejoin.
	CloseNormal = 1000
	// CloseGoingAway ends every connection when the server shuts down; the
	// reason may name a delay before reconnecting (PROTOCOL.md, Drain).
	CloseGoingAway = 1001
	// ClosePolicyViolation ends a connection that kept sending faster than
	// its rate limit after being told so (rate_limited).
	ClosePolicyViolation = 1008
	// CloseServiceRestart asks the viewers of a room whose stream was
	// interrupted (a broker outage) to reconnect and rejoin.
	CloseServiceRestart = 1012
	// CloseSlowConsumer closes a connection whose send queue passed its limit.
	CloseSlowConsumer = 4001
	// CloseUnauthorized ends a connection whose token was missing, invalid
	// or expired, after an unauthorized error reply.
	CloseUnauthorized = 4401
)

// Close codes of a connection refused at its handshake (PROTOCOL.md,
// Refused connections). A browser does not show a script the HTTP status of
// a failed handshake, only that it failed; it does show a close code and
// reason. So the server completes a WebSocket handshake it refuses and
// closes it at once with one of these, which mirror the HTTP statuses.
const (
	// CloseOriginRefused: the page's origin is not allowed (HTTP 403). Final.
	CloseOriginRefused = 4403
	// CloseTooManyConnections: the client's address opens connections too
	// fast (HTTP 429). Retry after the delay in the reason.
	CloseTooManyConnections = 4429
	// CloseUnavailable: the server is shutting down or full (HTTP 503).
	// Retry after the delay in the reason.
	CloseUnavailable = 4503
)
