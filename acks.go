package rtbroadcaster

import (
	"sync"
	"time"
)

// ackInterval is the longest an owner waits to be told that the room
// accepted a numbered broadcast (PROTOCOL.md, Exactly once from the owner):
// acknowledgements are coalesced, one message per interval at most.
const ackInterval = 100 * time.Millisecond

// acks is an owner connection's acknowledgements of its numbered
// broadcasts. The read side records each number its room accepted; one
// timer per connection, armed when there is something new to tell and at
// most once per ackInterval, sends the last one. Its lock guards the fields
// below; frames carrying acked are queued under it (acks.mu → outbox.mu),
// so that the numbers an owner is told never go down.
type acks struct {
	mu      sync.Mutex
	room    string      // the room the numbers are of
	last    uint64      // the last number the room accepted
	told    uint64      // the last number sent to the owner
	timer   *time.Timer // pending send, or nil
	stopped bool        // the connection ended: no timer is armed any more
}

// reset starts counting for room, whose owner the connection just became,
// with acked the number the reply it is being sent says.
func (a *acks) reset(room string, acked uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.room, a.last, a.told = room, acked, acked
}

// ownerAcks is the connection's acknowledgements, made at its first use:
// only owners have any. Only the read side calls it.
func (c *conn) ownerAcks() *acks {
	if c.acks == nil {
		c.acks = &acks{}
	}
	return c.acks
}

// accepted records that the room accepted every number up to n, and arms
// the timer that tells the owner, unless one is pending.
func (c *conn) accepted(n uint64) {
	a := c.ownerAcks()
	a.mu.Lock()
	defer a.mu.Unlock()
	if n <= a.last {
		return
	}
	a.last = n
	if a.timer == nil && !a.stopped {
		a.timer = time.AfterFunc(ackInterval, c.sendAck)
	}
}

// sendWithAcked queues m, a reply to the owner, carrying the last accepted
// number, which the timer then does not send again.
func (c *conn) sendWithAcked(m *Message) {
	a := c.ownerAcks()
	a.mu.Lock()
	defer a.mu.Unlock()
	a.told = a.last
	acked := a.last
	m.Acked = &acked
	c.send(textFrame(m))
}

// sendAck runs on the timer: it sends the last accepted number, if the
// owner was not told it yet.
func (c *conn) sendAck() {
	a := c.acks // set before the timer was armed
	a.mu.Lock()
	a.timer = nil
	if a.stopped || a.last <= a.told {
		a.mu.Unlock()
		return
	}
	a.told = a.last
	m := connectedMessage(a.room)
	acked := a.last
	m.Acked = &acked
	c.send(textFrame(m))
	a.mu.Unlock()
}

// stopAcks ends the timer with the connection.
func (c *conn) stopAcks() {
	a := c.acks
	if a == nil {
		return // never an owner
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.stopped = true
	if a.timer != nil {
		a.timer.Stop()
		a.timer = nil
	}
}
