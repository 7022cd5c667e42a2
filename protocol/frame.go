package protocol

import (
	"encoding/binary"
	"strconv"
)

// WebSocket opcodes (RFC 6455, 5.2) of the frames a server builds itself.
const (
	OpText  = 0x1
	OpClose = 0x8
	OpPing  = 0x9
	OpPong  = 0xA
)

// Frame builds one unmasked, final WebSocket frame, as a server sends it:
// a broadcast is framed once and the same bytes are queued for every viewer.
func Frame(opcode byte, payload []byte) []byte {
	return append(FrameHeader(opcode, len(payload)), payload...)
}

// FrameHeader returns the header of an unmasked, final frame whose payload
// is n bytes long, with the capacity for the payload to be appended.
func FrameHeader(opcode byte, n int) []byte {
	frame := make([]byte, headerLen(n), headerLen(n)+n)
	switch len(frame) {
	case 2:
		frame[1] = byte(n)
	case 4:
		frame[1] = 126
		binary.BigEndian.PutUint16(frame[2:], uint16(n))
	default:
		frame[1] = 127
		binary.BigEndian.PutUint64(frame[2:], uint64(n))
	}
	frame[0] = 0x80 | opcode
	return frame
}

// headerLen is the length of the header of an unmasked frame whose payload
// is n bytes long: the payload length takes 7 bits, or 16 more, or 64 more.
func headerLen(n int) int {
	switch {
	case n < 126:
		return 2
	case n <= 0xFFFF:
		return 4
	}
	return 10
}

// seqField is what AppendSeq inserts before a message's number.
const seqField = `,"seq":`

// AppendSeq frames the JSON object body, an encoded message, as a text
// frame with `"seq":seq` added as its last field (PROTOCOL.md, Sequence
// numbers). A room's message is encoded once by whoever publishes it and
// numbered by the engine; each node then frames it once, whatever its
// engine, for all of its viewers.
func AppendSeq(body []byte, seq uint64) []byte {
	var digits [20]byte
	num := strconv.AppendUint(digits[:0], seq, 10)
	frame := FrameHeader(OpText, len(body)+len(seqField)+len(num))
	frame = append(frame, body[:len(body)-1]...)
	frame = append(frame, seqField...)
	frame = append(frame, num...)
	return append(frame, '}')
}
