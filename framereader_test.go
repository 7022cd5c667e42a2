package rtbroadcaster

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// maskedFrame frames payload as a client does: masked with key.
func maskedFrame(first byte, payload []byte, key [4]byte) []byte {
	f := []byte{first}
	switch n := len(payload); {
	case n < 126:
		f = append(f, 0x80|byte(n))
	case n < 1<<16:
		f = append(f, 0x80|126)
		f = binary.BigEndian.AppendUint16(f, uint16(n))
	default:
		f = append(f, 0x80|127)
		f = binary.BigEndian.AppendUint64(f, uint64(n))
	}
	f = append(f, key[:]...)
	for i, b := range payload {
		f = append(f, b^key[i&3])
	}
	return f
}

// frameLog records what a frameReader delivers.
type frameLog struct {
	got     []string
	stopAt  byte // an opcode after which parsing stops, as after a close
	lastErr error
}

func (l *frameLog) deliver(op byte, payload []byte) bool {
	l.got = append(l.got, fmt.Sprintf("%x:%s", op, payload))
	return op != l.stopAt
}

// feedInPieces feeds stream to r cut at the given lengths, then the rest.
func feedInPieces(r *frameReader, l *frameLog, stream []byte, cuts []int) {
	for _, n := range cuts {
		n = min(n, len(stream))
		if err := r.feed(append([]byte(nil), stream[:n]...), l.deliver); err != nil && l.lastErr == nil {
			l.lastErr = err
		}
		stream = stream[n:]
	}
	if err := r.feed(append([]byte(nil), stream...), l.deliver); err != nil && l.lastErr == nil {
		l.lastErr = err
	}
}

func TestFrameReader(t *testing.T) {
	key := [4]byte{0x37, 0xfa, 0x21, 0x3d}
	text := func(s string) []byte { return maskedFrame(0x81, []byte(s), key) }
	big := strings.Repeat("é", 40000) // 80,000 bytes: a 64-bit length
	tests := []struct {
		name   string
		stream [][]byte
		limit  int32
		want   []string
		err    *frameError
	}{
		{"one text", [][]byte{text(`{"a":1}`)}, 100, []string{`1:{"a":1}`}, nil},
		{"empty text", [][]byte{text("")}, 100, []string{"1:"}, nil},
		{"binary", [][]byte{maskedFrame(0x82, []byte{1, 2}, key)}, 100, []string{"2:\x01\x02"}, nil},
		{"16-bit length", [][]byte{text(strings.Repeat("x", 300))}, 1000, []string{"1:" + strings.Repeat("x", 300)}, nil},
		{"64-bit length", [][]byte{text(big)}, 1 << 20, []string{"1:" + big}, nil},
		{"three in a row", [][]byte{text("a"), text("b"), text("c")}, 100, []string{"1:a", "1:b", "1:c"}, nil},
		{"fragments with a ping between", [][]byte{
			maskedFrame(0x01, []byte("he"), key), maskedFrame(0x89, []byte("p"), key),
			maskedFrame(0x00, []byte("ll"), key), maskedFrame(0x80, []byte("o"), key),
		}, 100, []string{"9:p", "1:hello"}, nil},
		{"a character split over fragments", [][]byte{
			maskedFrame(0x01, []byte("\xc3"), key), maskedFrame(0x80, []byte("\xa9"), key),
		}, 100, []string{"1:é"}, nil},
		{"pong and close", [][]byte{maskedFrame(0x8a, nil, key), maskedFrame(0x88, []byte{3, 232}, key), text("after")}, 100, []string{"a:", "8:\x03\xe8"}, nil},
		{"at the limit", [][]byte{text("12345")}, 5, []string{"1:12345"}, nil},
		{"over the limit", [][]byte{text("123456"), text("x")}, 5, nil, errTooBig},
		{"fragments over the limit", [][]byte{maskedFrame(0x01, []byte("123"), key), maskedFrame(0x80, []byte("456"), key)}, 5, nil, errTooBig},
		{"not UTF-8", [][]byte{text("ok"), text("\xff")}, 100, []string{"1:ok"}, errNotUTF8},
		{"unmasked", [][]byte{{0x81, 0x01, 'x'}}, 100, nil, errUnmasked},
		{"reserved bit", [][]byte{maskedFrame(0xc1, []byte("x"), key)}, 100, nil, errReservedBits},
		{"reserved data opcode", [][]byte{maskedFrame(0x83, nil, key)}, 100, nil, errOpcode},
		{"reserved control opcode", [][]byte{maskedFrame(0x8b, nil, key)}, 100, nil, errOpcode},
		{"fragmented ping", [][]byte{maskedFrame(0x09, nil, key)}, 100, nil, errControlFrame},
		{"long ping", [][]byte{maskedFrame(0x89, make([]byte, 126), key)}, 1000, nil, errControlFrame},
		{"continuation of nothing", [][]byte{maskedFrame(0x80, []byte("x"), key)}, 100, nil, errFragments},
		{"a message inside a message", [][]byte{maskedFrame(0x01, []byte("x"), key), text("y")}, 100, nil, errFragments},
	}
	for _, tt := range tests {
		stream := bytes.Join(tt.stream, nil)
		cutsList := map[string][]int{"whole": nil, "byte by byte": nil, "random": nil}
		ones := make([]int, len(stream))
		for i := range ones {
			ones[i] = 1
		}
		cutsList["byte by byte"] = ones
		rng := rand.New(rand.NewPCG(1, uint64(len(stream))))
		for n := len(stream); n > 0; {
			c := 1 + rng.IntN(min(n, 20))
			cutsList["random"] = append(cutsList["random"], c)
			n -= c
		}
		for how, cuts := range cutsList {
			t.Run(tt.name+"/"+how, func(t *testing.T) {
				r := &frameReader{limit: tt.limit}
				l := &frameLog{stopAt: opClose}
				feedInPieces(r, l, stream, cuts)
				if fmt.Sprint(l.got) != fmt.Sprint(tt.want) {
					t.Errorf("delivered %q, want %q", l.got, tt.want)
				}
				if l.lastErr != error(tt.err) && !(tt.err == nil && l.lastErr == nil) {
					t.Errorf("error %v, want %v", l.lastErr, tt.err)
				}
				if tt.err == nil && !r.stopped && (len(r.pending) != 0 || r.msgOp != 0) {
					t.Errorf("holds %d bytes and opcode %d after whole frames", len(r.pending), r.msgOp)
				}
			})
		}
	}
}

// TestFrameReaderKeepsNoBigBuffer: once a big frame is through, an idle
// connection keeps no buffer of its size.
func TestFrameReaderKeepsNoBigBuffer(t *testing.T) {
	frame := maskedFrame(0x81, bytes.Repeat([]byte("x"), 50000), [4]byte{1, 2, 3, 4})
	r := &frameReader{limit: 1 << 20}
	l := &frameLog{}
	feedInPieces(r, l, frame, []int{10, 20000, 20000})
	if len(l.got) != 1 || cap(r.pending) > idleReadBytes || cap(r.msg) > idleReadBytes {
		t.Fatalf("delivered %d, keeps %d and %d bytes of capacity", len(l.got), cap(r.pending), cap(r.msg))
	}
}

func FuzzFrameReader(f *testing.F) {
	key := [4]byte{9, 8, 7, 6}
	f.Add(maskedFrame(0x81, []byte("hello"), key), uint8(3))
	f.Add(append(maskedFrame(0x01, []byte("he"), key), maskedFrame(0x80, []byte("y"), key)...), uint8(1))
	f.Fuzz(func(t *testing.T, stream []byte, step uint8) {
		whole := &frameLog{}
		(&frameReader{limit: 1 << 10}).feed(append([]byte(nil), stream...), whole.deliver)
		cut := &frameLog{}
		r := &frameReader{limit: 1 << 10}
		cuts := make([]int, 0, len(stream))
		for n := len(stream); n > 0; n -= int(step) + 1 {
			cuts = append(cuts, int(step)+1)
		}
		feedInPieces(r, cut, stream, cuts)
		if fmt.Sprint(whole.got) != fmt.Sprint(cut.got) {
			t.Fatalf("whole %q, in pieces of %d %q", whole.got, step+1, cut.got)
		}
	})
}
