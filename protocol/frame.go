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

// ParseServerFrame reads the unmasked frame at the start of data, as Frame
// builds it: its opcode and payload, and n, the bytes it takes. n is 0
// when data holds only part of a frame.
func ParseServerFrame(data []byte) (opcode byte, payload []byte, n int) {
	if len(data) < 2 {
		return 0, nil, 0
	}
	size, head := uint64(data[1]&0x7F), 2
	switch size {
	case 126:
		if len(data) < 4 {
			return 0, nil, 0
		}
		size, head = uint64(binary.BigEndian.Uint16(data[2:])), 4
	case 127:
		if len(data) < 10 {
			return 0, nil, 0
		}
		size, head = binary.BigEndian.Uint64(data[2:]), 10
	}
	if uint64(len(data)-head) < size {
		return 0, nil, 0
	}
	end := head + int(size)
	return data[0] & 0x0F, data[head:end], end
}

// TrailingSeq reads the number AppendSeq added to a message: its last
// field, `"seq":N`. ok is false for a message without one (a reply to the
// owner, an error reply).
func TrailingSeq(msg []byte) (seq uint64, ok bool) {
	if len(msg) < len(seqField)+2 || msg[len(msg)-1] != '}' {
		return 0, false
	}
	end := len(msg) - 1
	start := end
	for start > 0 && msg[start-1] >= '0' && msg[start-1] <= '9' {
		start--
	}
	if start == end || start < len(seqField) || string(msg[start-len(seqField):start]) != seqField {
		return 0, false
	}
	seq, err := strconv.ParseUint(string(msg[start:end]), 10, 64)
	return seq, err == nil
}
