package rtbroadcaster

import (
	"fmt"

	"github.com/rtbroadcaster/rtbroadcaster/protocol"
)

// The wire protocol lives in package protocol, which clients import without
// the server. These are its names as the server package has always exported
// them, so that programs written against this package keep compiling.

// Message is the JSON envelope of every message, in both directions.
type Message = protocol.Message

// Status is the envelope's status object.
type Status = protocol.Status

// Status values of the envelope's status.value (see PROTOCOL.md).
const (
	StatusNotConnected = protocol.StatusNotConnected
	StatusNew          = protocol.StatusNew
	StatusJoin         = protocol.StatusJoin
	StatusConnected    = protocol.StatusConnected
	StatusClose        = protocol.StatusClose
)

// Status texts the server writes.
const (
	TextConnected    = protocol.TextConnected
	TextNotConnected = protocol.TextNotConnected
)

// MaxRequestID is the longest request id the server echoes.
const MaxRequestID = protocol.MaxRequestID

// DecodeMessage parses one client frame; see protocol.DecodeMessage.
func DecodeMessage(data []byte) (*Message, error) { return protocol.DecodeMessage(data) }

// ErrorCode is the stable, machine-readable part of an error reply.
type ErrorCode = protocol.ErrorCode

// Error is the error object of a reply to a refused request.
type Error = protocol.Error

// The error codes a server sends (see PROTOCOL.md, Errors).
const (
	CodeBadRequest    = protocol.CodeBadRequest
	CodeRoomNotFound  = protocol.CodeRoomNotFound
	CodeNotOwner      = protocol.CodeNotOwner
	CodeNotInRoom     = protocol.CodeNotInRoom
	CodeAlreadyInRoom = protocol.CodeAlreadyInRoom
	CodeRoomFull      = protocol.CodeRoomFull
	CodeStateFull     = protocol.CodeStateFull
	CodeRateLimited   = protocol.CodeRateLimited
	CodeUnavailable   = protocol.CodeUnavailable
	CodeUnauthorized  = protocol.CodeUnauthorized
	CodeForbidden     = protocol.CodeForbidden
	CodeTooManyRooms  = protocol.CodeTooManyRooms
	CodeLost          = protocol.CodeLost
	CodeUnreplicated  = protocol.CodeUnreplicated
	CodePubSeqGap     = protocol.CodePubSeqGap
)

// Close codes the server sends (see PROTOCOL.md, Connection closes and
// Refused connections).
const (
	CloseNormal             = protocol.CloseNormal
	CloseGoingAway          = protocol.CloseGoingAway
	ClosePolicyViolation    = protocol.ClosePolicyViolation
	CloseServiceRestart     = protocol.CloseServiceRestart
	CloseSlowConsumer       = protocol.CloseSlowConsumer
	CloseUnauthorized       = protocol.CloseUnauthorized
	CloseOriginRefused      = protocol.CloseOriginRefused
	CloseTooManyConnections = protocol.CloseTooManyConnections
	CloseUnavailable        = protocol.CloseUnavailable
)

// SubProtocol is the WebSocket subprotocol the server speaks.
const SubProtocol = protocol.SubProtocol

// TokenProtocolPrefix marks the subprotocol that carries a token.
const TokenProtocolPrefix = protocol.TokenProtocolPrefix

// newError is a refusal to send as an error reply.
func newError(code ErrorCode, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// requestIDOf reads only the id of a request the server will not handle
// (one refused for its rate), to echo it on the refusal.
func requestIDOf(data []byte) string { return protocol.RequestID(data) }
