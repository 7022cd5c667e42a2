package bench

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/rtbroadcaster/rtbroadcaster/protocol"
)

// viewer is one viewer connection of a room, and what it received.
type viewer struct {
	index int
	room  *room

	conn      frameConn     // a WebSocket, or an event stream with -transport sse
	done      chan struct{} // closed when its goroutine has ended
	delivered atomic.Uint64 // live messages received, over all its sessions
	lastSeq   atomic.Uint64 // the highest sequence number received

	// Owned by its goroutine; read by others once done is closed.
	expectFrom uint64 // the first sequence number it must receive; 0: unknown (joined mid-run)
	next       uint64 // the next sequence number expected; 0: none received yet
	seen       uint64 // bit i: next-1-i was received
	lost       int64
	dups       uint64
	reordered  uint64
	cutOff     bool  // closed by the server as a slow consumer
	err        error // why its connection ended, when not by the bench
	joinedAt   time.Time
}

// connect dials and sends the join request; the viewer's goroutine reads
// the reply.
func (v *viewer) connect(ctx context.Context, b *run) error {
	if b.cfg.transport == "sse" { // the request is the join
		c, err := b.sources.dialSSE(ctx, eventsURL(b.urlFor(v.index), v.room.id), v.index, b.cfg.readBuffer)
		if err != nil {
			return err
		}
		v.conn, v.done = c, make(chan struct{})
		return nil
	}
	c, err := b.sources.dial(ctx, b.urlFor(v.index), v.index, b.cfg.readBuffer)
	if err != nil {
		return err
	}
	if b.cfg.target == targetCentrifugo {
		err = c.write(opText, centrifugoConnect(b.cfg.centrifugoToken))
		if err == nil {
			err = c.write(opText, centrifugoSubscribe(v.room.id))
		}
	} else {
		err = c.write(opText, request(protocol.StatusJoin, "join connection", v.room.id))
	}
	if err != nil {
		_ = c.close()
		return err
	}
	v.conn = c
	v.done = make(chan struct{})
	return nil
}

// joinTimeout bounds how long a viewer waits for its join reply and replay.
const joinTimeout = 30 * time.Second

// read is the viewer's goroutine: it reads the join reply, skips the state
// replay, then checks and times every live message until the connection ends.
func (v *viewer) read(b *run, joined func(error)) {
	defer close(v.done)
	centrifugo := b.cfg.target == targetCentrifugo
	// A join the server never answers fails the run instead of hanging it.
	var timedOut atomic.Bool
	timer := time.AfterFunc(joinTimeout, func() { timedOut.Store(true); _ = v.conn.close() })
	var err error
	if centrifugo {
		err = v.awaitCentrifugoJoin(b)
	} else {
		err = v.awaitJoin()
	}
	if !timer.Stop() && timedOut.Load() {
		err = fmt.Errorf("no join reply within %v", joinTimeout)
	}
	if err != nil {
		joined(err)
		v.end(err)
		return
	}
	v.joinedAt = time.Now()
	joined(nil)
	for {
		frame, err := v.conn.readFrame()
		if err != nil {
			v.end(err)
			return
		}
		if centrifugo {
			if err := v.centrifugoFrame(b, frame); err != nil {
				v.end(err)
				return
			}
			continue
		}
		if !v.receive(b, frame) && isRoomClosed(frame) {
			v.end(errors.New("room closed"))
			return
		}
	}
}

// receive checks and times one message, if it is one of the room's broadcasts.
func (v *viewer) receive(b *run, msg []byte) bool {
	seq, sent, ok := parseMessage(msg, v.room.prefix)
	if !ok {
		return false
	}
	b.latency.record(v.index, time.Duration(time.Now().UnixNano()-sent))
	v.track(seq)
	v.delivered.Store(v.delivered.Load() + 1) // not an Add: only the progress line reads it meanwhile
	v.room.received(seq)
	return true
}

// awaitJoin reads the join reply and the state replay that follows it.
func (v *viewer) awaitJoin() error {
	reply, err := v.conn.readFrame()
	if err != nil {
		return err
	}
	if hasError(reply) {
		return fmt.Errorf("join refused: %s", reply)
	}
	for n := stateCount(reply); n > 0; n-- {
		if _, err := v.conn.readFrame(); err != nil {
			return err
		}
	}
	return nil
}

// track counts a sequence number as in order, late, duplicated or past a gap.
func (v *viewer) track(seq uint64) {
	switch {
	case v.next == 0: // the first since joining
		if v.expectFrom > 0 && seq > v.expectFrom {
			v.lost += int64(seq - v.expectFrom)
		}
		v.next, v.seen = seq+1, 1
	case seq == v.next:
		v.next++
		v.seen = v.seen<<1 | 1
	case seq > v.next:
		gap := seq - v.next
		v.lost += int64(gap)
		v.seen = v.seen<<min(gap+1, 63) | 1
		v.next = seq + 1
	default:
		back := v.next - 1 - seq
		switch {
		case back < 64 && v.seen&(1<<back) != 0:
			v.dups++
		case back < 64:
			v.seen |= 1 << back
			v.reordered++
			v.lost-- // it was counted lost at the gap
		default:
			v.reordered++
		}
	}
	if seq > v.lastSeq.Load() {
		v.lastSeq.Store(seq)
	}
}

// end records why the connection ended.
func (v *viewer) end(err error) {
	var closed errClosed
	if errors.As(err, &closed) && (closed.code == 4001 || closed.code == 3008) { // 3008: Centrifugo's "slow"
		v.cutOff = true
	}
	v.err = err
	_ = v.conn.close()
}

// missing is how many messages up to the room's last one never arrived.
func (v *viewer) missing(last uint64) int64 {
	switch {
	case v.next > 0 && last >= v.next:
		return int64(last - v.next + 1)
	case v.next == 0 && v.expectFrom > 0 && last >= v.expectFrom:
		return int64(last - v.expectFrom + 1)
	}
	return 0
}
