package rtbroadcaster

import (
	"sync"
	"time"
)

// pingWheel runs the ping timers of a Manager's connections from one
// goroutine: a ring of slots a tick apart, each holding the connections
// whose ping, or pong check, falls due then (conn.pingDue). A connection
// costs a slot entry, not a runtime timer and the closure it calls; the
// goroutine runs only while some connection is in the wheel. A deadline
// is kept to within a tick: an eighth of the shorter of the ping interval
// and the pong timeout, at most a second.
type pingWheel struct {
	tick time.Duration
	wake chan struct{} // run's cue that the wheel emptied

	// Guarded by mu, a leaf; also each conn's wheelSlot and wheelIdx.
	mu      sync.Mutex
	slots   [][]*conn
	now     int  // the slot of the last tick
	count   int  // connections in slots
	running bool // run is going
}

// A conn's wheelSlot is its slot's index plus one, or one of these: in no
// slot (not yet added, or being run: the zero value), or out for good.
const (
	notInWheel = 0
	leftWheel  = -1
)

func newPingWheel(l Limits) *pingWheel {
	tick := min(max(min(l.PingInterval, l.PongTimeout)/8, time.Millisecond), time.Second)
	n := int(max(l.PingInterval, l.PongTimeout)/tick) + 2
	return &pingWheel{tick: tick, slots: make([][]*conn, n), wake: make(chan struct{}, 1)}
}

// add has c's ping work run in about d (at least a tick), unless c left.
func (w *pingWheel) add(c *conn, d time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if c.wheelSlot == leftWheel {
		return
	}
	steps := min(max(1, int((d+w.tick-1)/w.tick)), len(w.slots)-1)
	s := (w.now + steps) % len(w.slots)
	c.wheelSlot, c.wheelIdx = int32(s+1), int32(len(w.slots[s]))
	w.slots[s] = append(w.slots[s], c)
	w.count++
	if !w.running {
		w.running = true
		go w.run()
	}
}

// remove takes c out of the wheel for good: the connection ended.
func (w *pingWheel) remove(c *conn) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if c.wheelSlot > notInWheel {
		s := c.wheelSlot - 1
		slot, last := w.slots[s], len(w.slots[s])-1
		moved := slot[last]
		slot[c.wheelIdx], moved.wheelIdx = moved, c.wheelIdx
		slot[last] = nil
		w.slots[s] = slot[:last]
		if w.count--; w.count == 0 {
			select {
			case w.wake <- struct{}{}:
			default:
			}
		}
	}
	c.wheelSlot = leftWheel
}

// run is the wheel's goroutine: every tick it runs the connections due, and
// it ends as soon as no connection is left in the wheel.
func (w *pingWheel) run() {
	ticker := time.NewTicker(w.tick)
	defer ticker.Stop()
	for {
		select {
		case <-ticker.C:
		case <-w.wake:
			if w.stopIfEmpty() {
				return
			}
			continue
		}
		if w.stopIfEmpty() {
			return
		}
		for _, c := range w.takeDue() {
			if next, again := c.pingDue(); again {
				w.add(c, next)
			}
		}
	}
}

// stopIfEmpty marks the wheel stopped when no connection is in it.
func (w *pingWheel) stopIfEmpty() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.count == 0 {
		w.running = false
	}
	return !w.running
}

// takeDue moves the wheel a tick on and takes out the connections due.
func (w *pingWheel) takeDue() []*conn {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.now = (w.now + 1) % len(w.slots)
	due := w.slots[w.now]
	w.slots[w.now] = nil
	for _, c := range due {
		c.wheelSlot = notInWheel
	}
	w.count -= len(due)
	return due
}
