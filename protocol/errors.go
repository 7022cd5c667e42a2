package protocol

// ErrorCode is the stable, machine-readable part of an error reply.
type ErrorCode string

// The error codes a server sends (PROTOCOL.md, Errors).
const (
	CodeBadRequest    ErrorCode = "bad_request"
	CodeRoomNotFound  ErrorCode = "room_not_found"
	CodeNotOwner      ErrorCode = "not_owner"
	CodeNotInRoom     ErrorCode = "not_in_room"
	CodeAlreadyInRoom ErrorCode = "already_in_room"
	CodeRoomFull      ErrorCode = "room_full"
	CodeStateFull     ErrorCode = "state_full"
	CodeRateLimited   ErrorCode = "rate_limited"
	CodeUnavailable   ErrorCode = "unavailable"
	CodeUnauthorized  ErrorCode = "unauthorized"
	CodeForbidden     ErrorCode = "forbidden"
	CodeTooManyRooms  ErrorCode = "too_many_rooms"
	CodeLost          ErrorCode = "lost"
	CodeUnreplicated  ErrorCode = "unreplicated"
	CodePubSeqGap     ErrorCode = "pub_seq_gap"
)

// Error is the error object of a reply to a refused request. It is also a Go
// error, so that clients can return what the server said.
type Error struct {
	Code    ErrorCode `json:"code"`
	Message string    `json:"message"`
}

// Error returns the code and the message, as "room_not_found: ...".
func (e *Error) Error() string { return string(e.Code) + ": " + e.Message }
