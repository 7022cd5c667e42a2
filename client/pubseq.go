package client

import (
	"slices"
	"time"

	"github.com/lxzan/gws"
	"github.com/rtbroadcaster/rtbroadcaster/protocol"
)

// Exactly once from the owner (PROTOCOL.md): against a server that numbers
// broadcasts (its create or resume reply carries "acked"), an owner gives
// each Broadcast and SetState the next pubSeq and keeps its frame until the
// server acknowledges it, within Options.OfflineQueue messages. After a
// resume it sends again, in order, every kept frame the resume reply does
// not acknowledge, and the server drops those it already had; after a
// refusal that did not reach the room (unavailable, rate_limited, and the
// pub_seq_gap refusals of the messages that followed one), it sends them
// again after resendDelay.

// resendDelay is how long an owner waits, after a refusal of a numbered
// message that did not reach the room, to send its unacknowledged
// messages again.
const resendDelay = 200 * time.Millisecond

// unackedFrame is a numbered message the server has not acknowledged.
type unackedFrame struct {
	pubSeq uint64
	frame  []byte
	sent   bool // written once at least: after a resume, it is sent again
}

// numberLocked gives m the owner's next number and keeps its frame until
// the server acknowledges it; ErrQueueFull when, offline, OfflineQueue
// frames wait already (online, waitForAcksLocked waited for room). Call it
// under c.mu.
func (c *Client) numberLocked(m *protocol.Message) ([]byte, error) {
	if len(c.unacked) >= c.opts.OfflineQueue {
		if c.holding {
			return nil, ErrQueueFull
		}
		return nil, ErrUnackedFull
	}
	c.pubSeq++
	m.PubSeq = c.pubSeq
	frame := m.Encode()
	c.unacked = append(c.unacked, unackedFrame{pubSeq: c.pubSeq, frame: frame})
	return frame, nil
}

// ackWaitLocked returns, when an online owner has OfflineQueue messages
// the server has not acknowledged, a channel closed by the next
// acknowledgement that makes room; nil otherwise (offline, the caller
// queues or fails). Call it under c.mu.
func (c *Client) ackWaitLocked() <-chan struct{} {
	if c.role != roleOwner || !c.numberingLocked() || c.holding || c.conn == nil || c.err != nil ||
		len(c.unacked) < c.opts.OfflineQueue {
		return nil
	}
	if c.ackSignal == nil {
		c.ackSignal = make(chan struct{})
	}
	return c.ackSignal
}

// waitForAck waits for signal, at most until deadline and ackPoll (a drop
// or a stop changes what to do without an acknowledgement); it reports
// false once deadline has passed.
func (c *Client) waitForAck(signal <-chan struct{}, deadline time.Time) bool {
	wait := time.Until(deadline)
	if wait <= 0 {
		return false
	}
	t := time.NewTimer(min(wait, ackPoll))
	defer t.Stop()
	select {
	case <-signal:
	case <-t.C:
	case <-c.done:
	}
	return true
}

// ackPoll is how often an owner waiting for acknowledgements looks again
// whether its connection dropped meanwhile.
const ackPoll = 50 * time.Millisecond

// numbering reports whether an owner's messages are numbered: the server
// numbers them, and the offline queue, which bounds the unacknowledged
// ones, is on. Call it under c.mu.
func (c *Client) numberingLocked() bool {
	return c.numbered && c.opts.OfflineQueue > 0
}

// ackedLocked forgets the frames the server acknowledged with acked. Call
// it under c.mu.
func (c *Client) ackedLocked(acked uint64) {
	i := 0
	for i < len(c.unacked) && c.unacked[i].pubSeq <= acked {
		c.unacked[i] = unackedFrame{}
		i++
	}
	c.unacked = c.unacked[i:]
	c.pubSeq = max(c.pubSeq, acked) // a room that lost writes used numbers up (see lost)
	if i > 0 && c.ackSignal != nil {
		close(c.ackSignal) // wakes the calls waiting for room
		c.ackSignal = nil
	}
}

// startNumbering records, from a create or resume reply, whether the
// server numbers broadcasts, and the number it acknowledged. fresh: the
// client did not own the room before (Create, ResumeRoom), so it numbers on
// from the room's count and keeps nothing.
func (c *Client) startNumbering(m *protocol.Message, fresh bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.numbered = m.Acked != nil
	if fresh {
		c.pubSeq, c.unacked = 0, nil
	}
	if m.Acked != nil {
		c.ackedLocked(*m.Acked)
	}
}

// acknowledged handles a message that carries acked, to an owner.
func (c *Client) acknowledged(m *protocol.Message) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.role == roleOwner && m.UUID == c.room {
		c.ackedLocked(*m.Acked)
	}
}

// refusedNumbered arms a resend of the unacknowledged messages after a
// refusal e that did not reach the room: those after it were refused as a
// gap, and are sent again with it. It reports whether e is such a gap,
// which the client handles by itself: it is not reported.
func (c *Client) refusedNumbered(e *protocol.Error) (handled bool) {
	switch e.Code {
	case protocol.CodeUnavailable, protocol.CodeRateLimited, protocol.CodePubSeqGap:
	default:
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	handled = e.Code == protocol.CodePubSeqGap && c.numbered
	if c.role != roleOwner || len(c.unacked) == 0 || c.resendTimer != nil || c.err != nil {
		return handled
	}
	c.resendTimer = time.AfterFunc(resendDelay, c.resendUnacked)
	return handled
}

// resendUnacked sends every unacknowledged message again, in order, unless
// the owner is offline (its resume sends them). It holds c.sending, so
// that no new message goes out in between.
func (c *Client) resendUnacked() {
	c.sending.Lock()
	defer c.sending.Unlock()
	c.mu.Lock()
	c.resendTimer = nil
	conn := c.conn
	if conn == nil || c.holding || c.role != roleOwner || c.err != nil {
		c.mu.Unlock()
		return
	}
	frames := make([][]byte, len(c.unacked))
	for i, u := range c.unacked {
		frames[i] = u.frame
	}
	c.mu.Unlock()
	for _, f := range frames {
		if err := c.write(conn, f); err != nil {
			return // the drop resumes, and sends them then
		}
	}
	c.log.Debug("rtbroadcaster client: sent unacknowledged messages again", "count", len(frames))
}

// stopResendLocked ends a pending resend. Call it under c.mu.
func (c *Client) stopResendLocked() {
	if c.resendTimer != nil {
		c.resendTimer.Stop()
		c.resendTimer = nil
	}
}

// resendAfterResume sends, after the reply to an owner's resume, what the
// server has not acknowledged, then what it queued unnumbered (everything,
// from a server that does not number; else the latest of each conflated
// stream), calls made meanwhile included, and then lets calls and requests
// use conn directly. It returns how many it sent that had not been sent
// before, and how many it sent again.
func (c *Client) resendAfterResume(conn *gws.Conn) (sent, again int, err error) {
	for resent := 0; ; {
		c.mu.Lock()
		if resent >= len(c.unacked) {
			if len(c.queue) == 0 {
				c.queue, c.holding = nil, false
				c.openLocked()
				c.mu.Unlock()
				return sent, again, nil
			}
			// Taken off before it is written: a conflated call meanwhile
			// may drop an older frame of its key from the queue.
			q := c.queue[0]
			c.queue[0] = queued{}
			c.queue = c.queue[1:]
			c.mu.Unlock()
			if err := c.write(conn, q.frame); err != nil {
				c.requeue(q)
				return sent, again, err
			}
			sent++
			continue
		}
		u := c.unacked[resent]
		c.mu.Unlock()
		if err := c.write(conn, u.frame); err != nil {
			return sent, again, err
		}
		if u.sent {
			again++
		} else {
			sent++
			c.mu.Lock()
			c.unacked[resent].sent = true
			c.mu.Unlock()
		}
		resent++
	}
}

// requeue puts back at the head of the queue a frame whose write
// failed, unless it is conflated and a newer frame of its key was queued
// since. It takes c.mu.
func (c *Client) requeue(q queued) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if q.conflate != "" && slices.ContainsFunc(c.queue, func(o queued) bool { return o.conflate == q.conflate }) {
		return
	}
	c.queue = append([]queued{q}, c.queue...)
}

// unsentNumbered answers a numbered message whose write to conn failed
// with err: it is kept, and the resume that follows the drop sends it,
// unless the client will not take its room back. A resume that came
// already sent it too: it was kept before the write.
func (c *Client) unsentNumbered(conn *gws.Conn, err error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	willHold := c.ownerKey != "" && !c.opts.Reconnect.Disabled
	if c.role != roleOwner || !(c.holding || willHold) {
		return err
	}
	if c.conn == conn {
		c.log.Debug("rtbroadcaster client: write failed; the message is sent again once the room is back", "err", err)
	}
	return nil
}

// sentNumbered marks the frame numbered n written.
func (c *Client) sentNumbered(n uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := len(c.unacked) - 1; i >= 0 && c.unacked[i].pubSeq >= n; i-- {
		if c.unacked[i].pubSeq == n {
			c.unacked[i].sent = true
			return
		}
	}
}
