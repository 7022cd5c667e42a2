package rtbroadcaster

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// Status values of the envelope's status.value (see PROTOCOL.md).
const (
	StatusNotConnected = 0 // server: the connection is in no room
	StatusNew          = 1 // client: create a room
	StatusJoin         = 2 // client: join a room
	StatusConnected    = 3 // client: broadcast; server: reply, broadcast, presence
	StatusClose        = 4 // client: close the room
)

// Status texts the server writes.
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
}

// MaxRequestID is the longest request id the server echoes.
const MaxRequestID = 64

// requestIDOf reads only the id of a request the server will not handle
// (one refused for its rate), to echo it on the refusal.
func requestIDOf(data []byte) string {
	var r struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(data, &r) != nil || len(r.ID) > MaxRequestID {
		return ""
	}
	return r.ID
}

// key is the key a state message is kept under.
func (m *Message) key() string {
	if m.StateKey != "" {
		return m.StateKey
	}
	return m.FuncKey
}

// Encode returns the canonical JSON of m: funcParams is always an array.
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

// DecodeMessage parses one client frame. It accepts the examples of the
// original rtbroadcaster's README verbatim, comments included, and reports what is wrong in terms a client
// developer can act on.
func DecodeMessage(data []byte) (*Message, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, fmt.Errorf("empty frame: expected one JSON object")
	}
	var w wireMessage
	err := json.Unmarshal(data, &w)
	var syntaxErr *json.SyntaxError
	if errors.As(err, &syntaxErr) {
		if stripped, ok := stripComments(data); ok {
			w = wireMessage{}
			err = json.Unmarshal(stripped, &w)
		}
	}
	if err != nil {
		return nil, describeDecodeError(err)
	}
	m := w.Message
	if len(m.ID) > MaxRequestID {
		return nil, fmt.Errorf("field \"id\": %d bytes, more than the %d a request id may have", len(m.ID), MaxRequestID)
	}
	if w.Seq != nil {
		m.Seq, m.HasSeq = *w.Seq, true
	}
	if m.FuncParams == nil {
		m.FuncParams = []string{}
	}
	return &m, nil
}

// wireMessage is a Message as read from a client: its seq, outside the
// embedded Message, can tell 0 from absent.
type wireMessage struct {
	Message
	Seq *uint64 `json:"seq"`
}

func describeDecodeError(err error) error {
	switch e := err.(type) {
	case *json.SyntaxError:
		return fmt.Errorf("not valid JSON at byte %d: %v", e.Offset, e)
	case *json.UnmarshalTypeError:
		field := e.Field
		if field == "" {
			return fmt.Errorf("expected a JSON object, got %s", e.Value)
		}
		return fmt.Errorf("field %q: expected %s, got %s", field, e.Type, e.Value)
	default:
		return fmt.Errorf("not a valid message: %v", err)
	}
}

// stripComments removes // line comments and /* block */ comments that stand
// outside JSON strings, so the original rtbroadcaster README's annotated examples
// parse.
// It reports false when there was nothing to strip.
func stripComments(data []byte) ([]byte, bool) {
	out := make([]byte, 0, len(data))
	inString, escaped, changed := false, false, false
	for i := 0; i < len(data); i++ {
		c := data[i]
		if inString {
			out = append(out, c)
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		if c == '/' && i+1 < len(data) {
			switch data[i+1] {
			case '/':
				for i < len(data) && data[i] != '\n' {
					i++
				}
				out = append(out, '\n')
				changed = true
				continue
			case '*':
				end := bytes.Index(data[i+2:], []byte("*/"))
				if end < 0 {
					return nil, false
				}
				i += 2 + end + 1
				out = append(out, ' ')
				changed = true
				continue
			}
		}
		if c == '"' {
			inString = true
		}
		out = append(out, c)
	}
	return out, changed
}
