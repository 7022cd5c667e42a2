package rtbroadcaster

import (
	"errors"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/rtbroadcaster/rtbroadcaster/broker"
)

// writeBufferSize is how many bytes of queued frames one write system call
// carries at most. Coalescing what is queued for a viewer into one write is
// what makes fan-out fast: the kernel's per-write cost dominates small frames.
const writeBufferSize = 32 << 10

// writeBuffers holds the coalescing buffers. A connection borrows one only
// while it has something to write, so idle connections hold none.
var writeBuffers = sync.Pool{New: func() any { b := make([]byte, 0, writeBufferSize); return &b }}

// closeRequest is what the writer sends after the last queued frame.
type closeRequest struct {
	code   uint16
	reason string
}

// socket is what an outbox writes to: the raw connection for frames, and
// the transport's own end (a WebSocket close frame, an SSE close event).
type socket interface {
	NetConn() net.Conn
	// WriteClose ends the connection after what was written, telling the
	// client code and reason.
	WriteClose(code uint16, reason []byte) error
	// Close ends the connection at once.
	Close() error
}

// outbox is a connection's bounded send queue and its writer.
//
// Anyone may push frames without blocking: the room fans out under its lock
// and must never wait for a socket. A writer goroutine exists only while
// frames are queued; it drains the queue in batches, each batch in as few
// writes as possible. When the queue grows past its byte limit the viewer is
// too slow: the queue is dropped and the connection closed with 4001, so that
// one stuck socket never slows the room.
//
// A state replay is not queued: a room may keep far more state than the
// queue's limit. The writer frames it from the snapshot, a chunk at a time,
// as the socket takes it (see pushReplay); only live frames count against the
// limit meanwhile. The server's pings jump ahead of the data, so that a long
// replay does not make a live peer miss its pong.
type outbox struct {
	// Set when the connection is made, then only read.
	sock         socket
	raw          syscall.RawConn // the socket, when writers may write it without waiting; else nil
	limit        int             // bytes that may wait in queue
	writeTimeout time.Duration   // one write's deadline
	onSlow       func()          // called once, on a goroutine of its own, when the limit is passed or a write times out
	onSkip       func()          // called under mu for each conflated frame replaced by a newer one; may be nil

	// Guarded by mu, a leaf: nothing else is locked under it, and the
	// writer does its socket writes without it.
	mu      sync.Mutex
	control [][]byte // pings, written before anything else
	queue   [][]byte // frames waiting; shared, never modified
	spare   [][]byte // the previous batch's slice, reused
	queued  int      // bytes in control and queue
	// replay is what is left of a state replay; it goes after the first
	// replayAfter frames of queue, and before the rest.
	replay      []broker.Entry
	replayAfter int
	// Conflation (see conflate.go), set only while a conflated frame
	// waits: the queue index of each conflated key's unsent frame, the
	// skip markers' indexes and ranges, the holes merged markers left,
	// and the room's marker prefix.
	conflated  map[string]int
	marks      map[int]skipRange
	holes      int
	skipPrefix []byte
	// unsentLimited says the kernel's unsent bytes were limited, at the
	// first conflated frame (see limitUnsent).
	unsentLimited bool
	running       bool // a writer goroutine is draining the queue
	closing       *closeRequest
	done          bool // no more frames are accepted
	slow          bool // onSlow was called
}

// replayChunkBytes is about how much of a replay the writer frames at a time:
// a connection holds at most this much of it framed, whatever the room keeps.
const replayChunkBytes = 64 << 10

// push queues frame for writing. It reports false when the connection is
// closing or was just found too slow; the frame is then dropped.
func (o *outbox) push(frame []byte) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.admitLocked(frame) {
		return false
	}
	o.queue = append(o.queue, frame)
	o.startLocked()
	return true
}

// pushControl queues a ping to be written before the data frames waiting, a
// replay's included, so that the peer's pong comes in time; it counts
// against the same limit. (Pongs go in order with the replies: see OnPing.)
func (o *outbox) pushControl(frame []byte) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.admitLocked(frame) {
		return false
	}
	o.control = append(o.control, frame)
	o.startLocked()
	return true
}

// admitLocked counts frame against the limit, cutting the connection when it
// passes it; it reports whether the frame may be queued.
func (o *outbox) admitLocked(frame []byte) bool {
	if o.done {
		return false
	}
	if o.queued+len(frame) > o.limit {
		o.cutSlowLocked()
		return false
	}
	o.queued += len(frame)
	return true
}

// pushReplay queues reply, then has the writer frame and write entries after
// it, as the socket drains, before any frame pushed later. Should a replay
// still be under way (a connection that left a room and entered another
// before it ended), entries are queued as frames instead, within the limit.
func (o *outbox) pushReplay(reply []byte, entries []broker.Entry) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.admitLocked(reply) {
		return false
	}
	// A new stream starts here (a join, or an owner's resume): nothing
	// queued before it is replaced by what follows.
	o.forgetConflatedLocked()
	o.queue = append(o.queue, reply)
	o.startLocked()
	if len(entries) == 0 {
		return true
	}
	if o.replay != nil {
		for _, e := range entries {
			frame := appendSeq(e.Body, e.Seq)
			if !o.admitLocked(frame) {
				return false
			}
			o.queue = append(o.queue, frame)
		}
		return true
	}
	o.replay, o.replayAfter = entries, len(o.queue)
	return true
}

// close queues a close frame after the frames already queued. Later pushes
// are dropped.
func (o *outbox) close(code uint16, reason string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.done {
		return
	}
	o.done = true
	o.closing = &closeRequest{code: code, reason: reason}
	o.startLocked()
}

// closeNow drops what is queued and closes with code as soon as any write
// in progress ends: the client broke the protocol, or closed. It does
// nothing when a close was already written or the socket failed.
func (o *outbox) closeNow(code uint16, reason string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.done && o.closing == nil && !o.running {
		return
	}
	o.abandonLocked(&closeRequest{code: code, reason: reason})
}

// cutSlow gives up on a connection that cannot keep up.
func (o *outbox) cutSlow() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.done {
		o.cutSlowLocked()
	}
}

func (o *outbox) cutSlowLocked() {
	o.abandonLocked(&closeRequest{code: CloseSlowConsumer, reason: "slow consumer: send queue full"})
	o.reportSlowLocked()
}

// reportSlowLocked calls onSlow, once.
func (o *outbox) reportSlowLocked() {
	if o.onSlow != nil && !o.slow {
		o.slow = true
		go o.onSlow()
	}
}

// discard drops everything queued: the connection is gone.
func (o *outbox) discard() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.done = true
	o.dropLocked()
	o.spare = nil
}

// dropLocked forgets every frame and replay entry waiting.
func (o *outbox) dropLocked() {
	o.control, o.queue, o.queued = nil, nil, 0
	o.replay, o.replayAfter = nil, 0
	o.forgetConflatedLocked()
}

// abandonLocked drops the queue and closes with req as soon as any write in
// progress ends; the write deadline is cut short so that it ends soon.
func (o *outbox) abandonLocked(req *closeRequest) {
	o.done = true
	o.closing = req
	o.dropLocked()
	_ = o.sock.NetConn().SetWriteDeadline(time.Now().Add(time.Second))
	o.startLocked()
}

// startLocked has the queue written, by the shared writers when the socket
// allows writing without waiting (writers.go), else by a drain goroutine.
func (o *outbox) startLocked() {
	if o.running {
		return
	}
	o.running = true
	if o.raw != nil {
		writers.schedule(o)
		return
	}
	go o.drain(nil)
}

// drain writes pending, then queued frames until the queue is empty, then
// sends the close frame if one was asked for: the writer that may wait, a
// goroutine of its own. One writer runs at a time (running).
func (o *outbox) drain(pending [][]byte) {
	bufp := writeBuffers.Get().(*[]byte)
	defer writeBuffers.Put(bufp)
	for {
		batch, reuse := pending, false
		if pending != nil {
			pending = nil
		} else {
			o.mu.Lock()
			batch, reuse = o.nextBatchLocked()
			if len(batch) == 0 {
				closing := o.closing
				o.closing = nil
				o.running = false
				o.releaseIdleLocked()
				if o.raw != nil && closing == nil {
					// The writers' writes without waiting fail once a
					// deadline has passed: the last one set here goes.
					_ = o.sock.NetConn().SetWriteDeadline(time.Time{})
				}
				o.mu.Unlock()
				if closing != nil {
					o.writeClose(closing)
				}
				return
			}
			o.mu.Unlock()
		}

		err := o.write(bufp, batch)
		clear(batch) // let the frames be collected
		o.wrote(batch, reuse, err)
	}
}

// wrote takes batch back after a write: its slice may become the queue's
// spare, and a failed write ends the connection.
func (o *outbox) wrote(batch [][]byte, reuse bool, err error) {
	o.mu.Lock()
	if reuse && cap(batch) <= 1024 {
		o.spare = batch[:0]
	}
	if err != nil {
		o.done, o.closing = true, nil
		o.dropLocked()
		if errors.Is(err, errWriteTimeout) {
			o.reportSlowLocked() // the peer stopped reading
		}
	}
	o.mu.Unlock()
	if err != nil {
		_ = o.sock.Close() // the read side sees it and cleans up
	}
}

// nextBatchLocked takes what to write next: the control frames, else the
// frames before a replay, else a chunk of the replay framed, else the whole
// queue. reuse says whether the batch's slice may become the queue's spare.
func (o *outbox) nextBatchLocked() (batch [][]byte, reuse bool) {
	switch {
	case len(o.control) > 0:
		batch, o.control = o.control, nil
		o.queued -= frameBytes(batch)
		return batch, false
	case o.replay != nil && o.replayAfter > 0:
		batch = make([][]byte, o.replayAfter)
		copy(batch, o.queue)
		rest := copy(o.queue, o.queue[o.replayAfter:])
		clear(o.queue[rest:])
		o.queue, o.replayAfter = o.queue[:rest], 0
		o.tookLocked(len(batch))
		o.queued -= frameBytes(batch)
		return batch, false
	case o.replay != nil:
		return o.frameReplayChunkLocked(), false
	}
	batch = o.queue
	o.queue, o.spare = o.spare[:0], nil
	o.queued = 0 // no control frames wait: the queue held every byte
	o.forgetConflatedLocked()
	return batch, true
}

// frameReplayChunkLocked frames the next replayChunkBytes or so of the
// replay, at least one entry. The frames are this connection's own; the
// entries' bodies are the snapshot's, shared and never modified.
func (o *outbox) frameReplayChunkLocked() [][]byte {
	n, size := 0, 0
	for n < len(o.replay) && (n == 0 || size+len(o.replay[n].Body) <= replayChunkBytes) {
		size += len(o.replay[n].Body)
		n++
	}
	frames := make([][]byte, n)
	for i, e := range o.replay[:n] {
		frames[i] = appendSeq(e.Body, e.Seq)
	}
	clear(o.replay[:n]) // let the sent bodies be collected
	if o.replay = o.replay[n:]; len(o.replay) == 0 {
		o.replay = nil
	}
	return frames
}

// frameBytes adds up the sizes of frames.
func frameBytes(frames [][]byte) int {
	n := 0
	for _, f := range frames {
		n += len(f)
	}
	return n
}

// releaseIdleLocked drops the queue's slices: the writer is exiting, so
// nothing holds them, and ten thousand idle viewers must not each keep a
// slice the size of their largest burst (a join's replay, a flood).
func (o *outbox) releaseIdleLocked() {
	o.queue, o.spare = nil, nil
}

// errWriteTimeout is write's error when the peer took nothing for a whole
// write timeout.
var errWriteTimeout = errors.New("write timed out: the peer is not reading")

// write sends batch, coalescing frames into *bufp so that a batch of small
// frames costs one system call per writeBufferSize bytes.
func (o *outbox) write(bufp *[]byte, batch [][]byte) error {
	err := o.writeBatch(bufp, batch)
	if err != nil && isTimeout(err) {
		return errWriteTimeout
	}
	return err
}

// isTimeout reports whether err is a deadline's. It is apart from write so
// that its error target, which escapes, is allocated only on an error.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func (o *outbox) writeBatch(bufp *[]byte, batch [][]byte) error {
	conn := o.sock.NetConn()
	if err := conn.SetWriteDeadline(time.Now().Add(o.writeTimeout)); err != nil {
		return err
	}
	buf := (*bufp)[:0]
	flush := func() error {
		if len(buf) == 0 {
			return nil
		}
		_, err := conn.Write(buf)
		buf = buf[:0]
		return err
	}
	for _, frame := range batch {
		if len(buf)+len(frame) > cap(buf) {
			if err := flush(); err != nil {
				return err
			}
			if len(frame) > cap(buf) {
				if _, err := conn.Write(frame); err != nil {
					return err
				}
				continue
			}
		}
		buf = append(buf, frame...)
	}
	return flush()
}

func (o *outbox) writeClose(req *closeRequest) {
	_ = o.sock.NetConn().SetWriteDeadline(time.Now().Add(time.Second))
	_ = o.sock.WriteClose(req.code, []byte(req.reason))
}
