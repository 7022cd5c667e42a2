package protocol_test

import (
	"encoding/binary"
	"reflect"
	"testing"

	"github.com/rtbroadcaster/rtbroadcaster/protocol"
)

// FuzzDecodeMessage feeds arbitrary frames to the decoder: it must never
// panic, and whatever it accepts must survive the server's own encoding
// unchanged, with funcParams an array.
func FuzzDecodeMessage(f *testing.F) {
	for _, seed := range []string{
		readmeCreate, readmeBroadcast, readmeClose,
		`{"uuid":"x","status":{"value":3},"funcKey":"k","funcParams":["a"],"stateMessage":true,"stateKey":"s"}`,
		`{"uuid":"r","status":{"value":2},"seq":0,"id":"j1","ownerKey":"k","token":"t"}`,
		`{"status":{"value":"1"}}`, `[1]`, `null`, ``, `/* */ {}`, `{"funcKey":"a // b"}`, `{"funcParams":[1]}`,
		"{\"funcKey\":\"\xff\"}", `{"uuid":"\u0000"}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := protocol.DecodeMessage(data)
		if err != nil {
			if m != nil {
				t.Fatal("an error came with a message")
			}
			return
		}
		if m.FuncParams == nil {
			t.Fatal("decoded funcParams is nil")
		}
		again, err := protocol.DecodeMessage(m.Encode())
		if err != nil {
			t.Fatalf("the server's own encoding %s does not decode: %v", m.Encode(), err)
		}
		// Encode omits a seq of 0, which a request may carry (HasSeq).
		if m.HasSeq && m.Seq == 0 {
			again.HasSeq = true
		}
		if !reflect.DeepEqual(m, again) {
			t.Fatalf("round trip changed the message:\n%+v\n%+v", m, again)
		}
	})
}

// FuzzAppendSeq frames encoded messages with a seq: the frame's header
// must give its payload's length, and the payload must decode to the
// message with that seq.
func FuzzAppendSeq(f *testing.F) {
	f.Add("room", "next", "1", uint64(0))
	f.Add("", "k", string(make([]byte, 200)), uint64(1<<63))
	f.Add("r", "big", string(make([]byte, 70000)), uint64(42))
	f.Fuzz(func(t *testing.T, uuid, funcKey, param string, seq uint64) {
		m := &protocol.Message{UUID: uuid, Status: protocol.Status{Value: protocol.StatusConnected, Text: protocol.TextConnected}, FuncKey: funcKey, FuncParams: []string{param}}
		body := m.Encode()
		frame := protocol.AppendSeq(body, seq)
		got, err := protocol.DecodeMessage(payloadOf(t, frame))
		if err != nil {
			t.Fatalf("%s does not decode: %v", frame, err)
		}
		want, _ := protocol.DecodeMessage(body) // the body as encoded: invalid UTF-8 replaced
		want.Seq, want.HasSeq = seq, true
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("decoded %+v, want %+v", got, want)
		}
	})
}

// payloadOf checks that frame is one final, unmasked text frame and
// returns its payload.
func payloadOf(t *testing.T, frame []byte) []byte {
	t.Helper()
	if len(frame) < 2 || frame[0] != 0x80|protocol.OpText || frame[1]&0x80 != 0 {
		t.Fatalf("not a final unmasked text frame: % x", frame[:min(len(frame), 2)])
	}
	n, rest := uint64(frame[1]), frame[2:]
	switch n {
	case 126:
		n, rest = uint64(binary.BigEndian.Uint16(rest)), rest[2:]
	case 127:
		n, rest = binary.BigEndian.Uint64(rest), rest[8:]
	}
	if uint64(len(rest)) != n {
		t.Fatalf("header says %d payload bytes, %d follow", n, len(rest))
	}
	return rest
}
