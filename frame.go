package rtbroadcaster

import "encoding/binary"

// WebSocket opcodes of the frames the server builds itself.
const (
	opText  = 0x1
	opClose = 0x8
	opPing  = 0x9
	opPong  = 0xA
)

// serverFrame builds one unmasked, final WebSocket frame. A broadcast is
// framed once and the same bytes are queued for every viewer.
func serverFrame(opcode byte, payload []byte) []byte {
	return append(newFrame(opcode, len(payload)), payload...)
}

// newFrame returns the header of a frame whose payload is n bytes long, with
// room for the payload to be appended.
func newFrame(opcode byte, n int) []byte {
	var frame []byte
	switch {
	case n < 126:
		frame = make([]byte, 2, 2+n)
		frame[1] = byte(n)
	case n <= 0xFFFF:
		frame = make([]byte, 4, 4+n)
		frame[1] = 126
		binary.BigEndian.PutUint16(frame[2:], uint16(n))
	default:
		frame = make([]byte, 10, 10+n)
		frame[1] = 127
		binary.BigEndian.PutUint64(frame[2:], uint64(n))
	}
	frame[0] = 0x80 | opcode
	return frame
}

// textFrame frames the canonical encoding of m.
func textFrame(m *Message) []byte { return serverFrame(opText, m.Encode()) }

// pingFrame is shared by every connection: it carries no payload.
var pingFrame = serverFrame(opPing, nil)
