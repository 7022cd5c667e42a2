package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// DecodeMessage parses one client frame. It accepts the examples of the
// original rtbroadcaster's README verbatim, comments included, and reports
// what is wrong in terms a client developer can act on. A decoded message's
// FuncParams is never nil, and HasSeq tells whether the frame had a seq.
func DecodeMessage(data []byte) (*Message, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, fmt.Errorf("empty frame: expected one JSON object")
	}
	var w wireMessage
	err := json.Unmarshal(data, &w)
	var syntaxErr *json.SyntaxError
	if errors.As(err, &syntaxErr) {
		if stripped, ok := StripComments(data); ok {
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
	if w.PubSeq != nil {
		if *w.PubSeq == 0 {
			return nil, fmt.Errorf("field \"pubSeq\": 0; an owner numbers its broadcasts from 1")
		}
		m.PubSeq = *w.PubSeq
	}
	if m.FuncParams == nil {
		m.FuncParams = []string{}
	}
	return &m, nil
}

// RequestID reads only the id of a frame, "" when it has none or one longer
// than MaxRequestID, so that a server can echo it on the refusal of a
// request it does not decode (one refused for its rate).
func RequestID(data []byte) string {
	var r struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(data, &r) != nil || len(r.ID) > MaxRequestID {
		return ""
	}
	return r.ID
}

// wireMessage is a Message as read from a client: its seq, outside the
// embedded Message, can tell 0 from absent.
type wireMessage struct {
	Message
	Seq    *uint64 `json:"seq"`
	PubSeq *uint64 `json:"pubSeq"`
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

// StripComments removes // line comments and /* block */ comments that
// stand outside JSON strings, so that the original rtbroadcaster README's
// annotated examples parse. It reports false when there was nothing to
// strip, or a block comment does not end.
func StripComments(data []byte) ([]byte, bool) {
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
