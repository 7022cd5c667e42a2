package rtbroadcaster

import "github.com/rtbroadcaster/rtbroadcaster/protocol"

// WebSocket opcodes of the frames the server builds itself.
const (
	opText  = protocol.OpText
	opClose = protocol.OpClose
	opPing  = protocol.OpPing
	opPong  = protocol.OpPong
)

// serverFrame builds one unmasked, final WebSocket frame. A broadcast is
// framed once and the same bytes are queued for every viewer.
func serverFrame(opcode byte, payload []byte) []byte { return protocol.Frame(opcode, payload) }

// textFrame frames the canonical encoding of m.
func textFrame(m *Message) []byte { return serverFrame(opText, m.Encode()) }

// pingFrame is shared by every connection: it carries no payload.
var pingFrame = serverFrame(opPing, nil)
