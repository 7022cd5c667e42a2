package rtbroadcaster

import (
	"net"
	"sync"
	"time"
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

// socket is what an outbox writes to: the raw connection for frames, and the
// WebSocket library for the close handshake.
type socket interface {
	NetConn() net.Conn
	WriteClose(code uint16, reason []byte) error
}

// outbox is a connection's bounded send queue and its writer.
//
// Anyone may push frames without blocking: the room fans out under its lock
// and must never wait for a socket. A writer goroutine exists only while
// frames are queued; it drains the queue in batches, each batch in as few
// writes as possible. When the queue grows past its byte limit the viewer is
// too slow: the queue is dropped and the connection closed with 4001, so that
// one stuck socket never slows the room.
type outbox struct {
	conn         socket
	limit        int           // bytes that may wait in queue
	writeTimeout time.Duration // one write's deadline
	onSlow       func()        // called once, when the limit is passed

	mu      sync.Mutex
	queue   [][]byte // frames waiting; shared, never modified
	spare   [][]byte // the previous batch's slice, reused
	queued  int      // bytes in queue
	running bool     // a writer goroutine is draining the queue
	closing *closeRequest
	done    bool // no more frames are accepted
}

// push queues frame for writing. It reports false when the connection is
// closing or was just found too slow; the frame is then dropped.
func (o *outbox) push(frame []byte) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.done {
		return false
	}
	if o.queued+len(frame) > o.limit {
		o.cutSlowLocked()
		return false
	}
	o.queue = append(o.queue, frame)
	o.queued += len(frame)
	o.startLocked()
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
	if o.onSlow != nil {
		go o.onSlow()
	}
}

// discard drops everything queued: the connection is gone.
func (o *outbox) discard() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.done = true
	o.queue, o.spare, o.queued = nil, nil, 0
}

// abandonLocked drops the queue and closes with req as soon as any write in
// progress ends; the write deadline is cut short so that it ends soon.
func (o *outbox) abandonLocked(req *closeRequest) {
	o.done = true
	o.closing = req
	o.queue, o.queued = nil, 0
	_ = o.conn.NetConn().SetWriteDeadline(time.Now().Add(time.Second))
	o.startLocked()
}

func (o *outbox) startLocked() {
	if !o.running {
		o.running = true
		go o.drain()
	}
}

// drain writes queued frames until the queue is empty, then sends the close
// frame if one was asked for. One drain goroutine runs at a time.
func (o *outbox) drain() {
	bufp := writeBuffers.Get().(*[]byte)
	defer writeBuffers.Put(bufp)
	for {
		o.mu.Lock()
		batch := o.queue
		if len(batch) == 0 {
			closing := o.closing
			o.closing = nil
			o.running = false
			o.releaseIdleLocked()
			o.mu.Unlock()
			if closing != nil {
				o.writeClose(closing)
			}
			return
		}
		o.queue, o.spare, o.queued = o.spare[:0], nil, 0
		o.mu.Unlock()

		err := o.write(bufp, batch)
		clear(batch) // let the frames be collected

		o.mu.Lock()
		if cap(batch) <= 1024 {
			o.spare = batch[:0]
		}
		if err != nil {
			o.done, o.queue, o.queued, o.closing = true, nil, 0, nil
		}
		o.mu.Unlock()
		if err != nil {
			_ = o.conn.NetConn().Close() // the read loop sees it and cleans up
		}
	}
}

// idleQueueCap is the most queue capacity an idle connection keeps: a burst
// (a join's state replay, a flood) grows the queue, and ten thousand idle
// viewers must not each keep their largest burst's slice.
const idleQueueCap = 8

// releaseIdleLocked drops the queue's slices when they grew past idleQueueCap;
// the writer is exiting, so nothing holds them.
func (o *outbox) releaseIdleLocked() {
	if cap(o.queue) > idleQueueCap {
		o.queue = nil
	}
	if cap(o.spare) > idleQueueCap {
		o.spare = nil
	}
}

// write sends batch, coalescing frames into *bufp so that a batch of small
// frames costs one system call per writeBufferSize bytes.
func (o *outbox) write(bufp *[]byte, batch [][]byte) error {
	conn := o.conn.NetConn()
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
	_ = o.conn.NetConn().SetWriteDeadline(time.Now().Add(time.Second))
	_ = o.conn.WriteClose(req.code, []byte(req.reason))
}
