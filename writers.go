package rtbroadcaster

import (
	"bytes"
	"runtime"
	"sync"
)

// writerPool is the write side's fast path. An outbox with frames to send
// waits on its ready list; a few writer goroutines, at most one per
// processor, take outboxes in turn and write what each has queued without
// waiting (writeNow on the raw socket). A socket that takes it all costs one
// system call: no goroutine is started, scheduled or woken per viewer, and
// no write deadline is set, which at a human message rate is most of what a
// delivery costs beyond the write itself.
//
// A socket that cannot take everything, an outbox with a replay or a close
// to send, and sockets without a raw descriptor (TLS, SSE) are written by a
// drain goroutine of their own, which may wait, with a write deadline: one
// slow viewer never holds a writer.
type writerPool struct {
	mu      sync.Mutex
	ready   ring // outboxes to write, each at most once (outbox.running)
	running int  // writer goroutines; they end when ready is empty
	most    int  // GOMAXPROCS, read when no writer runs (asking takes a runtime lock)
}

var writers writerPool

// schedule queues o, whose running flag its caller set, for a writer.
func (p *writerPool) schedule(o *outbox) {
	p.mu.Lock()
	p.ready.push(o)
	if p.running == 0 {
		p.most = runtime.GOMAXPROCS(0)
	}
	start := p.running < p.most && p.running < p.ready.n
	if start {
		p.running++
	}
	p.mu.Unlock()
	if start {
		go p.work()
	}
}

// work is a writer goroutine: it writes ready outboxes until none is left.
func (p *writerPool) work() {
	bufp := writeBuffers.Get().(*[]byte)
	defer writeBuffers.Put(bufp)
	for n := 1; ; n++ {
		p.mu.Lock()
		o := p.ready.pop()
		if o == nil {
			p.running--
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
		o.writeReady(bufp)
		if n%writesBetweenYields == 0 {
			// A writer never blocks: without this, the poller and the
			// readers it starts could wait for a processor until the
			// runtime preempts the writers, milliseconds later.
			runtime.Gosched()
		}
	}
}

// writesBetweenYields is how many outboxes a writer writes before it lets
// other goroutines run.
const writesBetweenYields = 32

// writeReady writes what o has queued without waiting, then hands o back:
// idle, to the ready list again when more came meanwhile, or to a drain
// goroutine when the socket is full or there is more than frames to send.
func (o *outbox) writeReady(bufp *[]byte) {
	o.mu.Lock()
	if o.replay != nil || o.closing != nil || o.done {
		o.mu.Unlock()
		go o.drain(nil)
		return
	}
	batch, reuse := o.nextBatchLocked()
	if len(batch) == 0 {
		o.running = false
		o.releaseIdleLocked()
		o.mu.Unlock()
		return
	}
	o.mu.Unlock()

	rest, err := o.writeNow(bufp, batch)
	clear(batch)
	o.wrote(batch, reuse, err)
	switch {
	case err != nil:
		return // wrote ended the connection; running stays set, nothing is written any more
	case rest != nil:
		go o.drain(rest) // the socket is full: wait for it on a goroutine of its own
		return
	}
	o.mu.Lock()
	more := len(o.queue) > 0 || len(o.control) > 0 || o.replay != nil || o.closing != nil
	if !more {
		o.running = false
		o.releaseIdleLocked()
	}
	o.mu.Unlock()
	if more {
		writers.schedule(o) // after the others: one busy viewer does not starve them
	}
}

// writeNow writes batch without waiting, coalescing frames into *bufp. It
// returns what the socket did not take, nil when it took everything.
func (o *outbox) writeNow(bufp *[]byte, batch [][]byte) (rest [][]byte, err error) {
	buf := (*bufp)[:0]
	next := 0 // the first frame of batch not in buf
	flush := func(p []byte) (bool, error) {
		n, err := writeNow(o.raw, p)
		if err != nil {
			return false, err
		}
		if n < len(p) {
			rest = append([][]byte{bytes.Clone(p[n:])}, batch[next:]...)
			return false, nil
		}
		return true, nil
	}
	for next < len(batch) {
		frame := batch[next]
		if len(buf) > 0 && len(buf)+len(frame) > cap(buf) {
			if ok, err := flush(buf); !ok {
				return rest, err
			}
			buf = buf[:0]
		}
		next++
		if len(frame) > cap(buf) {
			if ok, err := flush(frame); !ok {
				return rest, err
			}
			continue
		}
		buf = append(buf, frame...)
	}
	if len(buf) > 0 {
		if ok, err := flush(buf); !ok {
			return rest, err
		}
	}
	return nil, nil
}

// ring is a first-in first-out queue of outboxes.
type ring struct {
	buf     []*outbox
	head, n int
}

func (r *ring) push(o *outbox) {
	if r.n == len(r.buf) {
		grown := make([]*outbox, max(16, 2*len(r.buf)))
		for i := range r.n {
			grown[i] = r.buf[(r.head+i)%len(r.buf)]
		}
		r.buf, r.head = grown, 0
	}
	r.buf[(r.head+r.n)%len(r.buf)] = o
	r.n++
}

// pop takes the oldest outbox, or returns nil.
func (r *ring) pop() *outbox {
	if r.n == 0 {
		return nil
	}
	o := r.buf[r.head]
	r.buf[r.head] = nil
	r.head = (r.head + 1) % len(r.buf)
	r.n--
	return o
}
