package client

import (
	"errors"
	"slices"

	"github.com/lxzan/gws"
	"github.com/rtbroadcaster/rtbroadcaster/protocol"
)

// An owner that takes its room back, by itself after a drop or through
// ResumeRoom, gets the room's kept state replayed after the server's reply
// (PROTOCOL.md, Owner resume). That state is the owner's own: no handler of
// the owner runs for it. After ResumeRoom it is handed to the caller; after
// an automatic resume it is skipped, counted from the reply's stateCount.
//
// While an owner reconnects, its Broadcast and SetState calls go to a
// bounded queue (Options.OfflineQueue) instead of failing. The reading
// goroutine is the queue's one consumer: once the room is back it sends the
// queue, oldest first, before any later call writes, and it holds no lock
// while it writes.

// ownerReplay is the state replay an owner is receiving. It belongs to the
// goroutine that runs the connection.
type ownerReplay struct {
	left   int            // replayed messages still to come
	waiter *pending       // ResumeRoom's request; nil when skipping
	room   string         // the room ResumeRoom takes back
	state  []StateMessage // what ResumeRoom returns
	acked  *uint64        // the reply's: where the owner's numbering goes on
}

// takeOwnerReplay consumes one replayed state message, if m is one.
func (c *Client) takeOwnerReplay(m *protocol.Message) bool {
	r := &c.ownerReplay
	if r.left == 0 || m.Error != nil || m.FuncKey == "" {
		return false
	}
	r.left--
	if r.waiter != nil {
		r.state = append(r.state, StateMessage{FuncKey: m.FuncKey, Params: m.FuncParams, StateKey: m.StateKey, Seq: m.Seq})
	}
	if r.left == 0 {
		c.ownerReplayDone()
	}
	return true
}

// resumeRoomAnswered starts collecting ResumeRoom's replay: the client
// becomes the owner once all of it is in, so that a drop in between leaves
// the caller an error and the room to resume again with the same key.
func (c *Client) resumeRoomAnswered(p *pending, m *protocol.Message) {
	c.ownerReplay = ownerReplay{left: m.StateCount, waiter: p, room: m.UUID, acked: m.Acked}
	if m.StateCount <= 0 {
		c.ownerReplayDone()
	}
}

// ownerReplayDone ends a replay; one that ResumeRoom waited for makes the
// client the room's owner, with the key that took it.
func (c *Client) ownerReplayDone() {
	r := c.ownerReplay
	c.ownerReplay = ownerReplay{}
	if r.waiter == nil {
		return
	}
	c.mu.Lock()
	c.role, c.room, c.ownerKey = roleOwner, r.room, r.waiter.req.OwnerKey
	c.numbered, c.pubSeq, c.unacked = r.acked != nil, 0, nil
	if r.acked != nil {
		c.pubSeq = *r.acked
	}
	c.mu.Unlock()
	r.waiter.reply <- result{state: r.state}
	c.resumed(0)
}

// failOwnerReplay answers a ResumeRoom whose connection dropped during its
// replay.
func (c *Client) failOwnerReplay() {
	if p := c.ownerReplay.waiter; p != nil {
		p.reply <- result{err: ErrDisconnected}
	}
	c.ownerReplay = ownerReplay{}
}

// resumedAfterDrop: the owner has its room back after a drop. What it
// queued meanwhile goes first; its own state, replayed next, is skipped.
func (c *Client) resumedAfterDrop(p *pending, m *protocol.Message) {
	c.ownerReplay = ownerReplay{left: max(m.StateCount, 0)}
	c.startNumbering(m, false)
	sent, again, err := c.resendAfterResume(p.conn)
	if err != nil {
		// What was not written stays queued for the next resume.
		c.log.Info("rtbroadcaster client: sending the offline queue failed", "err", err)
		c.dropConn()
		return
	}
	c.mu.Lock()
	numbered := c.numbered
	c.mu.Unlock()
	if fn := c.opts.Events.OnResent; fn != nil && numbered {
		fn(again)
	}
	c.resumed(sent)
	c.reconnected()
}

func (c *Client) resumed(queued int) {
	if fn := c.opts.Events.OnResumed; fn != nil {
		fn(queued)
	}
}

// queueLocked holds an owner's frame until its room is back.
func (c *Client) queueLocked(frame []byte) error {
	return c.queueConflatedLocked(frame, "")
}

// queued is a frame an owner queued while away, and the key it is
// conflated under ("" for none).
type queued struct {
	frame    []byte
	conflate string
}

// queueConflatedLocked queues frame, conflated under key when key is set:
// a frame of the same key queued before is dropped, as only the latest of
// a conflated stream matters (PROTOCOL.md, Conflated streams). Call it
// under c.mu.
func (c *Client) queueConflatedLocked(frame []byte, key string) error {
	if key != "" {
		c.queue = slices.DeleteFunc(c.queue, func(q queued) bool { return q.conflate == key })
	}
	if len(c.queue) >= c.opts.OfflineQueue {
		return ErrQueueFull
	}
	c.queue = append(c.queue, queued{frame, key})
	return nil
}

// queueUnsent queues an owner's frame that found conn closed before the
// reading goroutine noticed the drop: it was not sent, and the drop that
// follows makes the client hold its queue until the room is back.
func (c *Client) queueUnsent(conn *gws.Conn, frame []byte, err error) error {
	if !errors.Is(err, ErrNotConnected) {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	willHold := c.conn == conn && c.ownerKey != "" && c.opts.OfflineQueue > 0 && !c.opts.Reconnect.Disabled
	if c.role != roleOwner || !(c.holding || willHold) {
		return err
	}
	return c.queueLocked(frame)
}

// takeQueueLocked empties the queue of an owner whose room is lost or
// whose client stopped, and its unacknowledged messages, and says how many
// messages it dropped: unacknowledged ones count when withUnacked, or
// while the owner is offline (they may or may not have reached the room; a
// client online that closes its room sent them before the close, which the
// server handles after them).
func (c *Client) takeQueueLocked(withUnacked bool) int {
	n := len(c.queue)
	if withUnacked || c.holding {
		n += len(c.unacked)
	}
	c.queue, c.holding, c.unacked = nil, false, nil
	return n
}

// reportDropped tells the application that n queued messages will never
// be sent, and why.
func (c *Client) reportDropped(n int, cause error) {
	if n > 0 {
		c.report(&QueueDroppedError{Dropped: n, Cause: cause})
	}
}
