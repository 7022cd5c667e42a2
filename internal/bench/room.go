package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/rtbroadcaster/rtbroadcaster/protocol"
)

// room is one room: its owner's connection, its viewers and its sequence.
type room struct {
	index   int
	id      string
	prefix  []byte
	owner   *wsConn
	viewers []*viewer

	sent        atomic.Uint64 // the last sequence number sent
	ownerErrors atomic.Uint64 // error replies the owner received
	ownerDone   chan struct{} // closed when the owner's reader has ended
	centrifugo  bool          // -target centrifugo: id is a channel, the owner publishes to it

	// The in-flight window: receipts[seq%len] counts the viewers that have
	// received seq; when all have, acked moves to seq and the sender wakes.
	receipts []atomic.Int32
	acked    atomic.Uint64
	wake     chan struct{}
}

// create opens the owner's connection and creates the room.
func (r *room) create(ctx context.Context, b *run, connIndex int) error {
	create := r.createRoom
	if b.cfg.target == targetCentrifugo {
		create, r.centrifugo = r.createCentrifugo, true
	}
	if err := create(ctx, b, connIndex); err != nil {
		return err
	}
	if b.cfg.rate == 0 {
		r.receipts = make([]atomic.Int32, b.cfg.window)
		r.wake = make(chan struct{}, 1)
	}
	r.ownerDone = make(chan struct{})
	go r.readOwner() // counts the owner's error replies; presence messages are skipped
	return nil
}

// createRoom opens the owner's connection to rtbroadcaster and creates the room.
func (r *room) createRoom(ctx context.Context, b *run, connIndex int) error {
	c, err := b.sources.dial(ctx, b.urlFor(connIndex), connIndex, 4096)
	if err != nil {
		return err
	}
	r.owner = c
	if err := c.write(opText, request(protocol.StatusNew, "new connection", "")); err != nil {
		return err
	}
	reply, err := c.readFrame()
	if err != nil {
		return fmt.Errorf("create: %w", err)
	}
	const start = `{"uuid":"`
	if !bytes.HasPrefix(reply, []byte(start)) || len(reply) < len(start)+36 || hasError(reply) {
		return fmt.Errorf("create: unexpected reply %s", reply)
	}
	r.id = string(reply[len(start) : len(start)+36])
	r.prefix = broadcastPrefix(r.id)
	return nil
}

func (r *room) readOwner() {
	defer close(r.ownerDone)
	for {
		frame, err := r.owner.readFrame()
		if err != nil {
			return
		}
		if hasError(frame) {
			r.ownerErrors.Add(1)
		}
		for r.centrifugo && len(frame) > 0 { // answer the server's pings
			var line []byte
			if line, frame = nextLine(frame); isCentrifugoPing(line) {
				_ = r.owner.write(opText, centrifugoPong)
			}
		}
	}
}

// received counts a viewer's receipt of seq toward the in-flight window.
func (r *room) received(seq uint64) {
	if r.receipts == nil {
		return
	}
	slot := &r.receipts[seq%uint64(len(r.receipts))]
	if slot.Add(1) < int32(len(r.viewers)) {
		return
	}
	slot.Store(0)
	for {
		a := r.acked.Load()
		if seq <= a || r.acked.CompareAndSwap(a, seq) {
			break
		}
	}
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// errStalled ends a window run in which viewers stopped receiving.
var errStalled = errors.New("no message completed for 5 s: a viewer stopped receiving")

// send is the room's sender goroutine: it broadcasts until ctx ends, at the
// configured rate or as fast as the window allows.
func (r *room) send(ctx context.Context, cfg *config, start time.Time) error {
	if r.owner == nil { // -join: another process sends
		<-ctx.Done()
		return nil
	}
	buf := make([]byte, 0, cfg.size+64)
	var interval time.Duration
	if cfg.rate > 0 {
		interval = time.Duration(float64(time.Second) / cfg.rate)
		start = start.Add(time.Duration(r.index) * interval / time.Duration(max(cfg.rooms, 1))) // spread the rooms' phases
	}
	for seq := uint64(1); ; seq++ {
		var err error
		if interval > 0 {
			err = sleepUntil(ctx, start.Add(time.Duration(seq-1)*interval))
		} else {
			err = r.awaitWindow(ctx, seq, uint64(cfg.window))
		}
		if err != nil {
			if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				return nil
			}
			return err
		}
		key := ""
		if cfg.stateEvery > 0 && seq%uint64(cfg.stateEvery) == 0 {
			key = "k" + strconv.FormatUint(seq/uint64(cfg.stateEvery)%uint64(cfg.stateKeys), 10)
		}
		if r.centrifugo {
			buf = appendCentrifugoPublish(buf[:0], r.id, seq, time.Now().UnixNano(), cfg.size)
		} else {
			buf = appendMessage(buf[:0], r.prefix, seq, time.Now().UnixNano(), cfg.size, key)
		}
		if err := r.owner.write(opText, buf); err != nil {
			return fmt.Errorf("room %d: owner's write: %w", r.index, err)
		}
		r.sent.Store(seq)
	}
}

// awaitWindow waits until fewer than window messages before seq are in flight.
func (r *room) awaitWindow(ctx context.Context, seq, window uint64) error {
	if seq-1-r.acked.Load() < window {
		return nil
	}
	stall := time.NewTimer(5 * time.Second)
	defer stall.Stop()
	for seq-1-r.acked.Load() >= window {
		select {
		case <-r.wake:
		case <-ctx.Done():
			return ctx.Err()
		case <-stall.C:
			return errStalled
		}
	}
	return nil
}

func sleepUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err()
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
