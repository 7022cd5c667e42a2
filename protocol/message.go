package protocol

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Status values of the envelope's status.value (PROTOCOL.md).
const (
	StatusNotConnected = 0 // server: the connection is in no room
	StatusNew          = 1 // client: create a room
	StatusJoin         = 2 // client: join a room
	StatusConnected    = 3 // client: broadcast; server: reply, broadcast, presence
	StatusClose        = 4 // client: close the room
)

// Status texts the server writes; the server never reads a request's text.
const (
	TextConnected    = "connected"
	TextNotConnected = "not connected"
)

// Status is the envelope's status object.
type Status struct {
	Value int    `json:"value"`
	Text  string `json:"text"`
}

// Message is the JSON envelope of every message, in both directions.
// The first five fields are those of the original rtbroadcaster (pablanka, 2016);
// the rest are extensions that are
// omitted when empty.
type Message struct {
	UUID         string   `json:"uuid"`
	Status       Status   `json:"status"`
	FuncKey      string   `json:"funcKey"`
	FuncParams   []string `json:"funcParams"`
	StateMessage bool     `json:"stateMessage"`

	// StateKey keys a state message instead of its FuncKey.
	StateKey string `json:"stateKey,omitempty"`
	// ClearState, on a broadcast, empties the room's kept state first; viewers
	// receive it so that they reset their view before applying the message.
	ClearState bool `json:"clearState,omitempty"`
	// StateCount, in a join reply, is how many state messages follow it.
	StateCount int `json:"stateCount,omitempty"`
	// Viewers, sent to the owner only, is the room's viewer count.
	Viewers *int `json:"viewers,omitempty"`
	// Seq numbers the messages of a room's stream; a join reply carries the
	// number of the last message its state replay covers. In a join request
	// it is the last seq the viewer saw, asking to recover what followed
	// (0 included: HasSeq tells whether a request carried one).
	Seq uint64 `json:"seq,omitempty"`
	// HasSeq is set by DecodeMessage when the frame had a seq field.
	HasSeq bool `json:"-"`
	// Recovered, in the reply to a join that carried a seq, says whether the
	// missed messages follow (true) or a fresh state replay does (false).
	Recovered *bool `json:"recovered,omitempty"`
	// OwnerKey is the secret the create reply gives the owner; a join that
	// carries it takes the room back as its owner (PROTOCOL.md, Owner resume).
	OwnerKey string `json:"ownerKey,omitempty"`
	// Owner tells viewers, and a resumed owner, that the owner is "away" or
	// "back". GraceMs, with "away", is how long the room waits for it.
	Owner   string `json:"owner,omitempty"`
	GraceMs int64  `json:"graceMs,omitempty"`
	// PubSeq, on an owner's broadcast, is its own number for it in the
	// room, from 1 and on across resumes: the server delivers each number
	// once (PROTOCOL.md, Exactly once from the owner). 0: not numbered.
	PubSeq uint64 `json:"pubSeq,omitempty"`
	// Acked, sent to the owner only, is the last pubSeq the room accepted:
	// every number up to it is in. A create or resume reply carries it (0
	// included) when the server numbers broadcasts.
	Acked *uint64 `json:"acked,omitempty"`
	// Error is set on the reply to a refused request.
	Error *Error `json:"error,omitempty"`
	// ClosedBy, in the status 0 that ends a room, says who closed it when
	// it was not its owner: "operator" (the admin API, on this node).
	ClosedBy string `json:"closedBy,omitempty"`
	// Token, in a create or join request, authenticates it when the server
	// requires tokens (PROTOCOL.md, Authentication). The server never sends one.
	Token string `json:"token,omitempty"`
	// ID, on a request, is the client's name for it, at most MaxRequestID
	// bytes; the server echoes it on the request's reply or error reply, so
	// that a client may have several requests under way (PROTOCOL.md,
	// Request ids). Messages that answer no request carry none.
	ID string `json:"id,omitempty"`

	// Conflate, on a broadcast, says only the latest message of its key
	// matters (its StateKey, else its FuncKey): a viewer that falls behind
	// gets the latest of each key instead of every one (PROTOCOL.md,
	// Conflated streams). Viewers receive it as sent.
	Conflate bool `json:"conflate,omitempty"`
	// SkippedFrom, in a skip marker, is the first seq of the range
	// SkippedFrom..Seq of conflated messages that were replaced by newer
	// ones before they could be sent: they were not lost. A marker has an
	// empty funcKey, so that clients that do not know it call nothing.
	SkippedFrom uint64 `json:"skippedFrom,omitempty"`
}

// ConflateKey is the key a conflated broadcast is conflated under: the
// same as a state message's (Key).
func (m *Message) ConflateKey() string { return m.Key() }

// MaxRequestID is the longest request id the server echoes; a longer one
// is refused with bad_request.
const MaxRequestID = 64

// Key is the key a state message is kept under: its StateKey, or else its
// FuncKey (PROTOCOL.md, State messages).
func (m *Message) Key() string {
	if m.StateKey != "" {
		return m.StateKey
	}
	return m.FuncKey
}

// Encode returns the canonical JSON of m: funcParams is always an array,
// as the original clients expect, and HTML characters are not escaped.
func (m *Message) Encode() []byte {
	if m.FuncParams == nil {
		c := *m
		c.FuncParams = []string{}
		m = &c
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		// Every field is a string, bool, int or a struct of them: this cannot fail.
		panic(fmt.Sprintf("rtbroadcaster: encoding a message: %v", err))
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}
