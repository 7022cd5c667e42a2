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
