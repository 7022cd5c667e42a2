// Package protocol is rtbroadcaster's wire protocol, as PROTOCOL.md
// describes it: the JSON envelope every message travels in (Message), its
// status values, the error codes of refused requests (Error), the close
// codes and the WebSocket subprotocol, decoding a client's frame
// (DecodeMessage, lenient with the original README's commented examples)
// and encoding one (Message.Encode), and the framing of a room's numbered
// messages (AppendSeq), which a server builds once for all its viewers.
//
// It is a leaf: it imports only the standard library, so that clients (the
// Go SDK, the load tool) speak the protocol without linking the server.
// The server package github.com/rtbroadcaster/rtbroadcaster keeps aliases
// of these names for the programs written against it.
package protocol
