package rtbroadcaster

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"
)

// FuzzHandle drives the protocol handler itself: two connections of one
// server take turns sending the fuzzer's frames (split at newlines), as an
// owner, a viewer or a stranger may. Whatever they send, the server must not
// panic, and every frame it answers with must be a valid envelope: JSON with
// a status, funcParams an array, and an empty funcKey on error replies.
//
//	go test -run '^$' -fuzz FuzzHandle -fuzztime 30s
func FuzzHandle(f *testing.F) {
	for _, seed := range []string{
		"{\"status\":{\"value\":1}}\n{\"status\":{\"value\":2}}",
		"{\"status\":{\"value\":1}}\n{\"status\":{\"value\":3},\"funcKey\":\"k\"}\n{\"status\":{\"value\":4}}",
		"{\"status\":{\"value\":2,\"text\":\"new connection\"},\"uuid\":\"x\",\"seq\":3}\n[1]\n\n{\"status\":{\"value\":0}}",
		"{\"status\":{\"value\":1}} // comment\n{\"status\":{\"value\":2},\"ownerKey\":\"k\",\"uuid\":\"\"}",
		"{\"status\":{\"value\":3},\"stateMessage\":true,\"stateKey\":\"s\",\"funcKey\":\"f\",\"funcParams\":[\"a\"]}",
		"{\"status\":{\"value\":1}}\n{\"status\":{\"value\":3},\"stateMessage\":true,\"funcKey\":\"f\"}\n{\"status\":{\"value\":3},\"clearState\":true,\"funcKey\":\"g\"}",
		"{\"status\":{\"value\":1}}\n{\"status\":{\"value\":3},\"funcKey\":\"f\",\"pubSeq\":1}\n{\"status\":{\"value\":3},\"funcKey\":\"f\",\"pubSeq\":0}\n{\"status\":{\"value\":3},\"funcKey\":\"\",\"pubSeq\":18446744073709551615}",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m := NewManager(WithLogger(nil), WithOwnerGrace(0))
		peers := []*capturedConn{newCapturedConn(m), newCapturedConn(m)}
		for i, frame := range bytes.Split(data, []byte("\n")) {
			peers[i%2].handle(frame)
		}
		for _, p := range peers {
			p.finish(nil)
			p.waitIdle()
			for _, reply := range p.sock.frames(t) {
				checkEnvelope(t, reply)
			}
		}
	})
}

// checkEnvelope fails t unless payload is an envelope a client can use.
func checkEnvelope(t *testing.T, payload []byte) {
	t.Helper()
	var m struct {
		Status     *Status         `json:"status"`
		FuncKey    string          `json:"funcKey"`
		FuncParams json.RawMessage `json:"funcParams"`
		Error      *Error          `json:"error"`
	}
	if err := json.Unmarshal(payload, &m); err != nil || m.Status == nil {
		t.Fatalf("the server sent %q: not an envelope (%v)", payload, err)
	}
	if !bytes.HasPrefix(m.FuncParams, []byte("[")) {
		t.Fatalf("the server sent %q: funcParams is not an array", payload)
	}
	if m.Error != nil && (m.FuncKey != "" || m.Error.Code == "") {
		t.Fatalf("the server sent %q: an error reply needs a code and an empty funcKey", payload)
	}
}

// capturedConn is a connection whose socket keeps what the server writes.
type capturedConn struct {
	*conn
	sock *captureSocket
}

func newCapturedConn(m *Manager) *capturedConn {
	sock := &captureSocket{}
	c := &conn{mgr: m, opened: time.Now().UnixNano()}
	c.out = outbox{sock: sock, limit: m.limits.SendQueueBytes, writeTimeout: time.Second, onSlow: c.slowConsumer}
	m.addConn(c)
	return &capturedConn{conn: c, sock: sock}
}

// waitIdle returns once the connection's writer has written everything.
func (p *capturedConn) waitIdle() {
	for {
		p.out.mu.Lock()
		idle := !p.out.running && len(p.out.queue) == 0
		p.out.mu.Unlock()
		if idle {
			return
		}
		runtime.Gosched()
	}
}

// captureSocket records every byte written, and whether it was closed.
type captureSocket struct {
	net.Conn
	mu     sync.Mutex
	buf    bytes.Buffer
	closed bool
}

func (s *captureSocket) NetConn() net.Conn                { return s }
func (s *captureSocket) SetWriteDeadline(time.Time) error { return nil }
func (s *captureSocket) Close() error                     { s.mu.Lock(); s.closed = true; s.mu.Unlock(); return nil }

func (s *captureSocket) WriteClose(uint16, []byte) error { return s.Close() }

func (s *captureSocket) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

// frames returns the payloads of the text frames written, checking that the
// stream is well framed.
func (s *captureSocket) frames(t *testing.T) [][]byte {
	t.Helper()
	s.mu.Lock()
	stream := bytes.Clone(s.buf.Bytes())
	s.mu.Unlock()
	var out [][]byte
	for len(stream) > 0 {
		opcode, payload, rest, ok := nextServerFrame(stream)
		if !ok {
			t.Fatalf("the server wrote a broken frame: % x", stream[:min(len(stream), 16)])
		}
		if opcode == opText {
			out = append(out, payload)
		}
		stream = rest
	}
	return out
}

// nextServerFrame splits one unmasked frame off the front of stream.
func nextServerFrame(stream []byte) (opcode byte, payload, rest []byte, ok bool) {
	if len(stream) < 2 || stream[0]&0x80 == 0 || stream[1]&0x80 != 0 {
		return 0, nil, nil, false
	}
	n, header := uint64(stream[1]&0x7F), 2
	switch n {
	case 126:
		if len(stream) < 4 {
			return 0, nil, nil, false
		}
		n, header = uint64(binary.BigEndian.Uint16(stream[2:])), 4
	case 127:
		if len(stream) < 10 {
			return 0, nil, nil, false
		}
		n, header = binary.BigEndian.Uint64(stream[2:]), 10
	}
	if uint64(len(stream)-header) < n {
		return 0, nil, nil, false
	}
	end := header + int(n)
	return stream[0] & 0x0F, stream[header:end], stream[end:], true
}
