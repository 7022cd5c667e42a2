package rtbroadcaster

import (
	"encoding/binary"
	"unicode/utf8"
)

// opContinuation and opBinary complete the opcodes of frame.go for the
// frames a client sends.
const (
	opContinuation = 0x0
	opBinary       = 0x2
)

// frameError is a frame the server refuses (RFC 6455, section 7.4): the
// connection closes with code, after a close frame that carries it.
type frameError struct {
	code   uint16
	why    string // the disconnect reason of logs and metrics (PROTOCOL.md, Connection closes)
	detail string // what was wrong, the close frame's reason
}

func (e *frameError) Error() string { return "websocket frame refused: " + e.detail }

var (
	errReservedBits = &frameError{1002, "protocol error", "a reserved bit is set"}
	errUnmasked     = &frameError{1002, "protocol error", "a client frame must be masked"}
	errOpcode       = &frameError{1002, "protocol error", "a reserved opcode"}
	errControlFrame = &frameError{1002, "protocol error", "a control frame must be whole and at most 125 bytes"}
	errFragments    = &frameError{1002, "protocol error", "fragments out of order"}
	errTooBig       = &frameError{1009, "message too big", "the message is over the read limit"}
	errNotUTF8      = &frameError{1007, "invalid utf-8", "a text message that is not UTF-8"}
)

// frameReader parses the frames a client sends, from whatever pieces the
// socket's reads return. It holds bytes only between reads that split a
// frame, and while a fragmented message arrives, so an idle connection
// keeps none: the read buffer itself is borrowed per read.
//
// It checks what RFC 6455 asks of a server: client frames are masked, no
// reserved bit or opcode is used, control frames are whole and at most 125
// bytes, fragments come in order, text is UTF-8; and the declared length
// against limit before any of the payload is kept.
type frameReader struct {
	pending []byte // the start of a frame split by the last read
	msg     []byte // the fragments of a message still arriving
	limit   int32  // the largest message payload accepted
	msgOp   byte   // that message's opcode; 0 when none is arriving
	stopped bool   // a refused frame or a close ended parsing: the rest is dropped
}

// frameFunc receives each whole frame: a message (opText or opBinary, its
// fragments joined) or a control frame. payload is only valid during the
// call. It returns false to stop parsing, after a close.
type frameFunc func(op byte, payload []byte) bool

// feed parses data, which it unmasks in place, and hands every whole frame
// to deliver. A frame the server must refuse is returned as a *frameError,
// and stops the parsing for good, as a close frame does.
func (r *frameReader) feed(data []byte, deliver frameFunc) error {
	if r.stopped {
		return nil
	}
	carried := len(r.pending) > 0
	if carried {
		r.pending = append(r.pending, data...)
		data = r.pending
	}
	used := 0
	for !r.stopped {
		n, err := r.next(data[used:], deliver)
		if err != nil {
			r.stop()
			return err
		}
		if n == 0 {
			break
		}
		used += n
	}
	rest := data[used:]
	switch {
	case r.stopped:
		r.pending = nil
	case carried:
		r.pending = r.pending[:copy(r.pending, rest)]
	default:
		r.pending = append(r.pending[:0], rest...)
	}
	if len(r.pending) == 0 && cap(r.pending) > idleReadBytes {
		r.pending = nil // a big frame's buffer is not kept by an idle connection
	}
	return nil
}

// idleReadBytes is the most buffer a connection keeps between frames.
const idleReadBytes = 512

// stop drops everything held: nothing more is parsed.
func (r *frameReader) stop() {
	r.stopped, r.pending, r.msg = true, nil, nil
}

// next parses the frame at the start of d. It returns how many bytes the
// frame took, or 0 when d does not hold all of it yet.
func (r *frameReader) next(d []byte, deliver frameFunc) (int, error) {
	if len(d) < 2 {
		return 0, nil
	}
	fin, op := d[0]&0x80 != 0, d[0]&0x0f
	if d[0]&0x70 != 0 {
		return 0, errReservedBits
	}
	if d[1]&0x80 == 0 {
		return 0, errUnmasked
	}
	size, head := uint64(d[1]&0x7f), 2
	switch size {
	case 126:
		if len(d) < 4 {
			return 0, nil
		}
		size, head = uint64(binary.BigEndian.Uint16(d[2:])), 4
	case 127:
		if len(d) < 10 {
			return 0, nil
		}
		size, head = binary.BigEndian.Uint64(d[2:]), 10
	}
	if err := r.check(fin, op, size); err != nil {
		return 0, err
	}
	head += 4 // the masking key
	if len(d) < head || uint64(len(d)-head) < size {
		return 0, nil
	}
	payload := d[head : head+int(size)]
	unmask(payload, d[head-4:head])
	return head + int(size), r.deliver(fin, op, payload, deliver)
}

// check refuses a frame from its header alone, before its payload is kept.
func (r *frameReader) check(fin bool, op byte, size uint64) error {
	switch op {
	case opClose, opPing, opPong:
		if !fin || size > 125 {
			return errControlFrame
		}
		return nil
	case opText, opBinary:
		if r.msgOp != 0 {
			return errFragments // a new message before the last one ended
		}
	case opContinuation:
		if r.msgOp == 0 {
			return errFragments // no message to continue
		}
	default:
		return errOpcode
	}
	if size > uint64(int(r.limit)-len(r.msg)) {
		return errTooBig
	}
	return nil
}

// deliver hands a frame's payload on, or keeps it while its message is
// still arriving.
func (r *frameReader) deliver(fin bool, op byte, payload []byte, deliver frameFunc) error {
	if op&0x8 != 0 { // a control frame, possibly between fragments
		if !deliver(op, payload) {
			r.stop()
		}
		return nil
	}
	if !fin {
		if op != opContinuation {
			r.msgOp = op
		}
		r.msg = append(r.msg, payload...)
		return nil
	}
	if op == opContinuation {
		op, payload = r.msgOp, append(r.msg, payload...)
	}
	if op == opText && !utf8.Valid(payload) {
		return errNotUTF8
	}
	if !deliver(op, payload) {
		r.stop()
	}
	if r.msgOp != 0 {
		r.msgOp = 0
		if r.msg = r.msg[:0]; cap(r.msg) > idleReadBytes {
			r.msg = nil
		}
	}
	return nil
}

// unmask applies a client's masking key to payload, eight bytes at a time.
func unmask(payload, key []byte) {
	k32 := binary.LittleEndian.Uint32(key)
	k64 := uint64(k32) | uint64(k32)<<32
	i := 0
	for ; i+8 <= len(payload); i += 8 {
		v := binary.LittleEndian.Uint64(payload[i:])
		binary.LittleEndian.PutUint64(payload[i:], v^k64)
	}
	for ; i < len(payload); i++ {
		payload[i] ^= key[i&3]
	}
}
