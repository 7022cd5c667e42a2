package main

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"sync"
	"time"
)

// peer is one connection as the hub sees it: something a frame, already
// framed as WebSocket bytes, can be written to without blocking the caller
// for long, and closed.
type peer interface {
	send(frame []byte) // queue or write one whole frame
	closeNow()
}

// hub holds the rooms. A connection's first text message creates a room
// (status 1) or joins one (status 2); an owner's later messages are
// broadcast verbatim to the room's viewers (the bench builds them in the
// server's canonical form, so verbatim is what the server would send).
type hub struct {
	ping    time.Duration
	workers int  // shards per room, for the worker fan-out
	direct  bool // fan out through the shards' writers rather than each viewer's own; set before serving

	mu    sync.Mutex
	rooms map[string]*room
}

func newHub(ping time.Duration, workers int) *hub {
	return &hub{ping: ping, workers: workers, rooms: map[string]*room{}}
}

type room struct {
	mu      sync.Mutex
	viewers peers
	joined  int
	shards  []*shard // the worker fan-out: viewers split over a few writers
}

// shard is one worker's share of a room's viewers, and the frames it still
// has to write to all of them. Its writer goroutine runs only while frames
// wait: it takes every frame queued, concatenates them once, and writes the
// same bytes to each of its viewers, one write per viewer per batch however
// many messages the batch holds.
type shard struct {
	viewers peers

	mu      sync.Mutex
	pending [][]byte
	running bool
}

func newRoom(workers int) *room {
	r := &room{}
	for range workers {
		r.shards = append(r.shards, &shard{})
	}
	return r
}

func (s *shard) push(frame []byte) {
	s.mu.Lock()
	s.pending = append(s.pending, frame)
	start := !s.running
	s.running = true
	s.mu.Unlock()
	if start {
		go s.write()
	}
}

func (s *shard) write() {
	var buf []byte
	for {
		s.mu.Lock()
		batch := s.pending
		s.pending = nil
		if len(batch) == 0 {
			s.running = false
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
		frame := batch[0]
		if len(batch) > 1 {
			buf = buf[:0]
			for _, f := range batch {
				buf = append(buf, f...)
			}
			frame = buf
		}
		for _, v := range s.viewers.snapshot() {
			v.send(frame)
		}
	}
}

// peers is a list that a fan-out reads while others add to it: append only
// writes past the length a reader took, so a snapshot is the slice header;
// removal builds a new slice. (Copying the whole list on every join, as a
// copy-on-write list does, makes 10,000 joins cost 50 million copies.)
type peers struct {
	mu   sync.Mutex
	list []peer
}

func (l *peers) snapshot() []peer {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.list
}

func (l *peers) add(p peer) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.list = append(l.list, p)
}

func (l *peers) remove(p peer) {
	l.mu.Lock()
	defer l.mu.Unlock()
	vs := make([]peer, 0, len(l.list))
	for _, v := range l.list {
		if v != p {
			vs = append(vs, v)
		}
	}
	l.list = vs
}

// session is a connection's protocol state, owned by its reader.
type session struct {
	room  *room
	shard *shard
	owner bool
}

type request struct {
	UUID   string `json:"uuid"`
	Status struct {
		Value int `json:"value"`
	} `json:"status"`
}

// handle runs one text message of p; it returns the reply to send, if any.
func (h *hub) handle(s *session, p peer, msg []byte) []byte {
	if s.room != nil {
		if s.owner {
			h.broadcast(s.room, serverFrame(opText, msg))
		}
		return nil
	}
	var req request
	if err := json.Unmarshal(msg, &req); err != nil {
		return []byte(`{"error":{"code":"bad_request"}}`)
	}
	switch req.Status.Value {
	case 1:
		id := newUUID()
		r := newRoom(h.workers)
		h.mu.Lock()
		h.rooms[id] = r
		h.mu.Unlock()
		s.room, s.owner = r, true
		return reply(id)
	case 2:
		h.mu.Lock()
		r := h.rooms[req.UUID]
		h.mu.Unlock()
		if r == nil {
			return []byte(`{"error":{"code":"not_found"}}`)
		}
		r.mu.Lock()
		r.viewers.add(p)
		s.shard = r.shards[r.joined%len(r.shards)]
		s.shard.viewers.add(p)
		r.joined++
		r.mu.Unlock()
		s.room = r
		return reply(req.UUID)
	}
	return []byte(`{"error":{"code":"bad_request"}}`)
}

// leave takes p out of its room.
func (h *hub) leave(s *session, p peer) {
	r := s.room
	if r == nil || s.owner {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.viewers.remove(p)
	s.shard.viewers.remove(p)
}

// broadcast sends frame to every viewer of r: with h.direct, by queueing it
// on each of the room's shards, whose writers write it to their viewers;
// otherwise each viewer's send queues it for its own writer. Both keep each
// viewer's order: the owner's reader calls broadcast, one message at a time.
func (h *hub) broadcast(r *room, frame []byte) {
	if h.direct {
		for _, s := range r.shards {
			s.push(frame)
		}
		return
	}
	for _, v := range r.viewers.snapshot() {
		v.send(frame)
	}
}

func reply(id string) []byte {
	return []byte(`{"uuid":"` + id + `","status":{"value":3,"text":"connected"}}`)
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// WebSocket opcodes the spike writes.
const (
	opText = 0x1
	opPing = 0x9
	opPong = 0xA
)

// serverFrame frames payload as one unmasked, final server frame.
func serverFrame(op byte, payload []byte) []byte {
	var b bytes.Buffer
	b.Grow(len(payload) + 10)
	b.WriteByte(0x80 | op)
	switch n := len(payload); {
	case n < 126:
		b.WriteByte(byte(n))
	case n <= 0xffff:
		b.WriteByte(126)
		_ = binary.Write(&b, binary.BigEndian, uint16(n))
	default:
		b.WriteByte(127)
		_ = binary.Write(&b, binary.BigEndian, uint64(n))
	}
	b.Write(payload)
	return b.Bytes()
}

var pingFrame = serverFrame(opPing, nil)
