package client

import (
	"encoding/json"
	"time"

	"github.com/lxzan/gws"
	"github.com/rtbroadcaster/rtbroadcaster/protocol"
)

// link receives one connection's events from the WebSocket library, on the
// goroutine that runs the client.
type link struct {
	c     *Client
	cause error // why the connection ended
}

func (l *link) OnOpen(*gws.Conn) {}

func (l *link) OnClose(_ *gws.Conn, err error) { l.cause = err }

func (l *link) OnPing(conn *gws.Conn, payload []byte) {
	l.c.touch(conn, false)
	_ = conn.WritePong(payload)
}

func (l *link) OnPong(conn *gws.Conn, payload []byte) {
	l.c.touch(conn, false)
	l.c.pong(string(payload))
}

func (l *link) OnMessage(conn *gws.Conn, msg *gws.Message) {
	defer msg.Close()
	l.c.touch(conn, false)
	var m protocol.Message
	if err := json.Unmarshal(msg.Bytes(), &m); err != nil {
		l.c.log.Warn("rtbroadcaster client: server sent invalid JSON", "err", err)
		return
	}
	l.c.receive(&m)
}

// receive handles one message from the server.
func (c *Client) receive(m *protocol.Message) {
	c.lastSeq = max(c.lastSeq, m.Seq)
	if m.Viewers != nil { // presence is never a reply
		c.mu.Lock()
		c.viewers = *m.Viewers
		c.mu.Unlock()
		if fn := c.opts.Events.OnViewers; fn != nil {
			fn(*m.Viewers)
		}
		return
	}
	if m.Acked != nil && m.ID == "" { // not a create or resume reply
		c.acknowledged(m)
		if m.Error == nil {
			return // an acknowledgement only
		}
	}
	if p := c.takeReply(m); p != nil {
		c.answer(p, m)
		if m.Error != nil {
			// The server tells a fenced-off owner unasked, so its notice
			// may come where the reply to a CloseRoom was due.
			c.replacedIfFenced(m)
		}
		return
	}
	if c.takeOwnerReplay(m) {
		return
	}
	switch {
	case m.Error != nil:
		if c.refusedNumbered(m.Error) {
			return // the client sends the missing numbers again itself
		}
		c.refused(m.Error)
		c.replacedIfFenced(m)
	case m.SkippedFrom != 0:
		// Its seq, counted above, covers the skipped ones.
		if fn := c.opts.Events.OnSkipped; fn != nil {
			fn(m.SkippedFrom, m.Seq)
		}
	case m.FuncKey != "":
		c.dispatch(m)
	case m.Owner != "":
		c.ownerNews(m)
	case m.Status.Value == protocol.StatusNotConnected:
		c.roomGone(ReasonClosed)
	}
}

// answer applies a reply to the client's state and hands it to its waiter.
func (c *Client) answer(p *pending, m *protocol.Message) {
	if m.Error != nil {
		switch p.kind {
		case kindRejoin:
			c.rejoinRefused(m.Error)
		case kindResume:
			c.resumeRefused(m.Error)
		}
		p.reply <- result{err: m.Error}
		return
	}
	switch p.kind {
	case kindResume:
		c.resumedAfterDrop(p, m)
		return
	case kindResumeRoom:
		c.resumeRoomAnswered(p, m)
		return
	}
	c.mu.Lock()
	switch p.kind {
	case kindCreate:
		c.role, c.room, c.viewers, c.ownerKey = roleOwner, m.UUID, 0, m.OwnerKey
		c.numbered, c.pubSeq, c.unacked = m.Acked != nil, 0, nil
	case kindJoin, kindRejoin:
		c.role, c.room = roleViewer, m.UUID
		c.lastSeq = m.Seq
	case kindClose:
		c.role, c.room, c.ownerKey = roleNone, "", ""
	}
	c.mu.Unlock()
	p.reply <- result{msg: m}
	if p.kind == kindRejoin {
		// A rejoin without a recovery point gets no "recovered" field, and
		// the full replay: the view must be reset all the same.
		if fn := c.opts.Events.OnRecovered; fn != nil {
			fn(m.Recovered != nil && *m.Recovered)
		}
		c.reconnected()
	}
	if p.kind == kindJoin || p.kind == kindRejoin {
		c.ownerNews(m) // a join while the owner is away says so
		c.startReplay(m.StateCount)
	}
}

func (c *Client) reconnected() {
	c.failures = 0
	if fn := c.opts.Events.OnReconnected; fn != nil {
		fn()
	}
}

// resumeRefused handles an owner whose room could not be taken back: gone
// (its grace passed) or given to another connection with the owner key, the
// room is lost with what the owner queued for it, and the connection stays
// open in no room. Any other refusal is reported and the connection
// dropped, so that the resume, and then the queue, is tried again after a
// backoff.
func (c *Client) resumeRefused(e *protocol.Error) {
	if e.Code != protocol.CodeRoomNotFound && e.Code != protocol.CodeNotOwner {
		c.refused(e)
		c.dropConn()
		return
	}
	c.mu.Lock()
	c.role, c.room, c.ownerKey = roleNone, "", ""
	dropped := c.takeQueueLocked(true)
	c.openLocked()
	c.mu.Unlock()
	c.reportDropped(dropped, e)
	c.emitRoomClosed(ReasonConnectionLost)
	c.reconnected()
}

// replacedIfFenced handles the not_owner error, with status 0, that an
// owner whose room another connection took back with the owner key is sent
// at once, unasked (or, should the server miss that, in answer to its next
// broadcast): this client is in no room any more, and forgets the key, so
// that it never takes the room back after a drop.
func (c *Client) replacedIfFenced(m *protocol.Message) {
	if m.Error.Code != protocol.CodeNotOwner || m.Status.Value != protocol.StatusNotConnected {
		return
	}
	c.mu.Lock()
	if c.role != roleOwner {
		c.mu.Unlock()
		return
	}
	c.role, c.room, c.ownerKey = roleNone, "", ""
	dropped := c.takeQueueLocked(true)
	c.mu.Unlock()
	c.reportDropped(dropped, m.Error)
	c.emitRoomClosed(ReasonReplaced)
}

// ownerNews tells a viewer's events that its room's owner is away or back.
func (c *Client) ownerNews(m *protocol.Message) {
	switch ev := c.opts.Events; {
	case m.Owner == "away" && ev.OnOwnerAway != nil:
		ev.OnOwnerAway(time.Duration(m.GraceMs) * time.Millisecond)
	case m.Owner == "back" && ev.OnOwnerBack != nil:
		ev.OnOwnerBack()
	}
}

// rejoinRefused ends a viewer whose room is gone; any other refusal is
// reported and the connection dropped, so that the rejoin is tried again
// after a backoff.
func (c *Client) rejoinRefused(e *protocol.Error) {
	if e.Code == protocol.CodeRoomNotFound {
		c.mu.Lock()
		c.roomClosed = true
		c.mu.Unlock()
		c.emitRoomClosed(ReasonRoomNotFound)
	} else {
		c.refused(e)
	}
	c.dropConn()
}

// dropConn cuts the connection; the client then reconnects or stops.
func (c *Client) dropConn() {
	c.mu.Lock()
	conn := c.conn
	c.mu.Unlock()
	if conn != nil {
		_ = conn.NetConn().Close()
	}
}

// refused reports a refusal no request waited for.
func (c *Client) refused(e *protocol.Error) { c.report(e) }

// report hands an error no call returns to OnError and the next Sync.
func (c *Client) report(err error) {
	c.mu.Lock()
	if len(c.refusals) < maxRefusals {
		c.refusals = append(c.refusals, err)
	}
	c.mu.Unlock()
	if fn := c.opts.Events.OnError; fn != nil {
		fn(err)
	}
}

// roomGone handles the status 0 message a viewer gets when its room closes;
// the close frame 1000 that follows then ends the client.
func (c *Client) roomGone(reason CloseReason) {
	c.mu.Lock()
	if c.role != roleViewer {
		c.mu.Unlock()
		return
	}
	c.role, c.room, c.roomClosed = roleNone, "", true
	c.mu.Unlock()
	c.emitRoomClosed(reason)
}

func (c *Client) emitRoomClosed(reason CloseReason) {
	if fn := c.opts.Events.OnRoomClosed; fn != nil {
		fn(reason)
	}
}

// recoveryPoint is the seq a viewer's rejoin recovers from: the last message
// of its room it received, once everything before it has been applied
// (PROTOCOL.md, Recovery). A join reply's seq covers the state replay that
// follows it, so until the last replayed message has been handled there is
// none, and a drop during the replay makes the rejoin a plain join, which
// replays the state again. After a reply with recovered true, the missed
// messages follow numbered one by one, and each one handled is a point.
func (c *Client) recoveryPoint() (seq uint64, ok bool) {
	return c.lastSeq, c.replayLeft == 0
}

// startReplay counts the state messages a join announced.
func (c *Client) startReplay(n int) {
	c.replayLeft, c.replayCount = n, n
	if n == 0 {
		c.replayDone()
	}
}

func (c *Client) replayDone() {
	if fn := c.opts.Events.OnReplayDone; fn != nil {
		fn(c.replayCount)
	}
}

// dispatch runs the handler of an action, after OnStateCleared when the
// action cleared the room's state.
func (c *Client) dispatch(m *protocol.Message) {
	if fn := c.opts.Events.OnStateCleared; fn != nil && m.ClearState {
		fn(m.FuncKey)
	}
	c.mu.Lock()
	fn, fallback := c.handlers[m.FuncKey], c.fallback
	c.mu.Unlock()
	switch {
	case fn != nil:
		fn(m.FuncParams)
	case fallback != nil:
		fallback(m.FuncKey, m.FuncParams)
	}
	if c.replayLeft > 0 {
		c.replayLeft--
		if c.replayLeft == 0 {
			c.replayDone()
		}
	}
}
