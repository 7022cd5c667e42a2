package bench

import (
	"bytes"
	"strconv"

	"github.com/rtbroadcaster/rtbroadcaster/protocol"
)

// The bench's funcKey. Each message's funcParams are its room's sequence
// number, the owner's send time in Unix nanoseconds, and padding up to the
// payload size.
const funcKey = "bench"

// broadcastPrefix is how the server starts every broadcast to room id, its
// canonical encoding up to the first param; the owner sends the same bytes,
// so that the message size viewers get is the size the owner built.
func broadcastPrefix(id string) []byte {
	m := protocol.Message{UUID: id, Status: protocol.Status{Value: protocol.StatusConnected, Text: protocol.TextConnected}, FuncKey: funcKey, FuncParams: []string{""}}
	b := m.Encode()
	return b[:bytes.Index(b, []byte(`"funcParams":["`))+len(`"funcParams":["`)]
}

// request is a create or join request, as the bench sends it.
func request(status int, text, room string) []byte {
	m := protocol.Message{UUID: room, Status: protocol.Status{Value: status, Text: text}}
	return m.Encode()
}

// appendParams appends, after the `["` that b ends with, the elements of a
// bench message's funcParams, [sequence, send time in Unix ns, padding],
// padded so that the array is size bytes of JSON once its `"]` closes it.
func appendParams(b []byte, seq uint64, sentNano int64, size int) []byte {
	arrayStart := len(b) - len(`["`)
	b = strconv.AppendUint(b, seq, 10)
	b = append(b, `","`...)
	b = strconv.AppendInt(b, sentNano, 10)
	b = append(b, `","`...)
	for pad := size - (len(b) - arrayStart) - len(`"]`); pad > 0; pad-- {
		b = append(b, 'x')
	}
	return b
}

// appendMessage builds one broadcast whose funcParams array, the
// application's payload, is size bytes of JSON (or the least it can be).
// The envelope around it (uuid, status, funcKey, ...) adds about 130 bytes.
func appendMessage(b, prefix []byte, seq uint64, sentNano int64, size int, stateKey string) []byte {
	b = appendParams(append(b, prefix...), seq, sentNano, size)
	if stateKey == "" {
		return append(b, `"],"stateMessage":false}`...)
	}
	b = append(b, `"],"stateMessage":true,"stateKey":"`...)
	b = append(b, stateKey...)
	return append(b, `"}`...)
}

// parseMessage reads the sequence number and send time of a broadcast that
// starts with prefix, without decoding the JSON: a viewer only needs these
// two numbers, at a known place.
func parseMessage(frame, prefix []byte) (seq uint64, sentNano int64, ok bool) {
	if !bytes.HasPrefix(frame, prefix) {
		return 0, 0, false
	}
	rest := frame[len(prefix):]
	seq, rest, ok = parseUint(rest)
	if !ok || !bytes.HasPrefix(rest, []byte(`","`)) {
		return 0, 0, false
	}
	sent, _, ok := parseUint(rest[3:])
	return seq, int64(sent), ok
}

func parseUint(b []byte) (uint64, []byte, bool) {
	var n uint64
	i := 0
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		n = n*10 + uint64(b[i]-'0')
	}
	return n, b[i:], i > 0
}

// stateCount reads the stateCount of a join reply; it is absent when 0.
func stateCount(reply []byte) int {
	const field = `"stateCount":`
	i := bytes.Index(reply, []byte(field))
	if i < 0 {
		return 0
	}
	n, _, _ := parseUint(reply[i+len(field):])
	return int(n)
}

// isRoomClosed reports the status 0 message that ends a viewer's room.
func isRoomClosed(frame []byte) bool {
	return bytes.Contains(frame, []byte(`"status":{"value":0`))
}

// hasError reports an error reply.
func hasError(frame []byte) bool { return bytes.Contains(frame, []byte(`"error":{`)) }
