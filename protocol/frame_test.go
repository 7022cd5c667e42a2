package protocol_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/rtbroadcaster/rtbroadcaster/protocol"
)

// TestFrameHeaderSizes: the payload length takes 7 bits up to 125, then 16
// more up to 65535, then 64 more.
func TestFrameHeaderSizes(t *testing.T) {
	for n, want := range map[int]int{0: 2, 125: 2, 126: 4, 0xFFFF: 4, 0x10000: 10} {
		h := protocol.FrameHeader(protocol.OpText, n)
		if len(h) != want || cap(h) != want+n {
			t.Errorf("payload %d: header of %d bytes with capacity %d, want %d and %d", n, len(h), cap(h), want, want+n)
		}
		frame := protocol.Frame(protocol.OpText, make([]byte, n))
		if len(frame) != want+n || len(payloadOf(t, frame)) != n {
			t.Errorf("payload %d: frame of %d bytes", n, len(frame))
		}
	}
	if ping := protocol.Frame(protocol.OpPing, nil); !bytes.Equal(ping, []byte{0x89, 0}) {
		t.Fatalf("empty ping: % x", ping)
	}
}

// TestAppendSeq: the seq is the frame's last field, and the header gives the
// payload's length on each side of a header size change.
func TestAppendSeq(t *testing.T) {
	body := []byte(`{"uuid":"r","funcKey":"k"}`)
	if got := string(payloadOf(t, protocol.AppendSeq(body, 7))); got != `{"uuid":"r","funcKey":"k","seq":7}` {
		t.Fatalf("payload %s", got)
	}
	for _, size := range []int{100, 125 - 9, 125 - 8, 0xFFFF - 9, 0xFFFF - 8} {
		body := []byte(`{"p":"` + strings.Repeat("x", size-8) + `"}`)
		if got, want := len(payloadOf(t, protocol.AppendSeq(body, 1))), len(body)+len(`,"seq":1`); got != want {
			t.Errorf("body %d: payload of %d bytes, want %d", len(body), got, want)
		}
	}
}

// TestParseServerFrame reads back what Frame and AppendSeq build, at every
// length encoding, and reports a frame cut short as incomplete.
func TestParseServerFrame(t *testing.T) {
	for _, n := range []int{0, 1, 125, 126, 65535, 65536, 200_000} {
		payload := []byte(strings.Repeat("p", n))
		frame := append(protocol.Frame(protocol.OpText, payload), protocol.Frame(protocol.OpPing, nil)...)
		op, got, used := protocol.ParseServerFrame(frame)
		if op != protocol.OpText || string(got) != string(payload) || used != len(frame)-2 {
			t.Fatalf("%d bytes: opcode %d, %d bytes, used %d of %d", n, op, len(got), used, len(frame))
		}
		if op, _, used := protocol.ParseServerFrame(frame[used:]); op != protocol.OpPing || used != 2 {
			t.Fatalf("%d bytes: the ping after it: opcode %d, used %d", n, op, used)
		}
		for _, cut := range []int{0, 1, used - 1} {
			if _, _, u := protocol.ParseServerFrame(frame[:cut]); u != 0 {
				t.Fatalf("%d bytes cut to %d: used %d, want 0 (incomplete)", n, cut, u)
			}
		}
	}
}

// TestTrailingSeq reads the number AppendSeq adds, and none from messages
// without one.
func TestTrailingSeq(t *testing.T) {
	body := []byte(`{"uuid":"r","status":{"value":3,"text":"connected"},"funcKey":"f","funcParams":["\"seq\":9}"],"stateMessage":false}`)
	for _, seq := range []uint64{0, 7, 1 << 63} {
		_, msg, _ := protocol.ParseServerFrame(protocol.AppendSeq(body, seq))
		if got, ok := protocol.TrailingSeq(msg); !ok || got != seq {
			t.Fatalf("seq %d: got %d, %v", seq, got, ok)
		}
	}
	for _, msg := range []string{
		string(body),
		`{"uuid":"","status":{"value":0,"text":"not connected"},"error":{"code":"x","message":"y"}}`,
		`{"seq":}`, `{"x":1,"seq":99999999999999999999999}`, `}`, ``,
	} {
		if got, ok := protocol.TrailingSeq([]byte(msg)); ok {
			t.Fatalf("%s: got seq %d, want none", msg, got)
		}
	}
}
