package client

import (
	"errors"
	"strconv"

	"github.com/lxzan/gws"
	"github.com/rtbroadcaster/rtbroadcaster/protocol"
)

// Every request the client sends (Create, Join, ResumeRoom, CloseRoom, and
// the rejoin or resume after a reconnect) carries a fresh request id, and
// waits in c.pending under it. The server echoes the id on the message
// that answers the request (PROTOCOL.md, Request ids), so a reply is
// matched by its id, whatever else arrives around it, and requests from
// several goroutines may be under way at once. They are written in the
// order they are registered (c.sending), and the server answers them in
// that order.
//
// Sync is a WebSocket ping whose payload is its id: the server answers
// pings in order with everything else, so its pong comes once everything
// sent before it has been handled.
//
// A server older than request ids echoes none. Until a connection's server
// has sent an id back (c.echoes), each request is preceded by a ping
// carrying its id, as Sync is; the pong arms the request (c.armed), and the
// next message shaped like its reply answers it, as before request ids.
// Once an id comes back, replies are matched by id only and requests go
// without a ping. The server may change at each reconnect, so each new
// connection starts unsure again.

// registerLocked gives a request m on conn its id, and waits it under it;
// ping says whether a ping must precede it.
func (c *Client) registerLocked(kind requestKind, conn *gws.Conn, m *protocol.Message) (p *pending, ping bool) {
	c.ids++
	p = &pending{kind: kind, id: strconv.FormatUint(c.ids, 10), conn: conn, req: m, reply: make(chan result, 1)}
	if m != nil {
		m.ID = p.id
	}
	c.pending[p.id] = p
	return p, kind == kindSync || !c.echoes
}

// forget drops a request that could not be sent.
func (c *Client) forget(p *pending) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.pending, p.id)
	if c.armed == p {
		c.armed = nil
	}
}

// pong answers a Sync, or arms a request for a server that echoes no ids.
func (c *Client) pong(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.pending[id]
	switch {
	case p == nil:
	case p.kind == kindSync:
		delete(c.pending, id)
		p.reply <- result{err: errors.Join(c.refusals...)}
		c.refusals = nil
	case !c.echoes:
		c.armed = p
	}
}

// takeReply returns the request m answers, if any: the one m names by its
// id, or, from a server that echoes no ids, the armed one when m is shaped
// like its reply.
func (c *Client) takeReply(m *protocol.Message) *pending {
	c.mu.Lock()
	defer c.mu.Unlock()
	if m.ID != "" {
		c.echoes, c.armed = true, nil
		p := c.pending[m.ID]
		delete(c.pending, m.ID)
		return p
	}
	p := c.armed
	if c.echoes || p == nil || !isReplyTo(p.kind, m) {
		return nil
	}
	c.armed = nil
	delete(c.pending, p.id)
	return p
}

// isReplyTo tells a request's reply from traffic that can come before it:
// a broadcast, or the end of a viewer's room. Only a server that echoes no
// ids needs it.
func isReplyTo(kind requestKind, m *protocol.Message) bool {
	if m.Error != nil {
		return true
	}
	switch kind {
	case kindCreate, kindJoin, kindRejoin, kindResume, kindResumeRoom:
		return m.Status.Value == protocol.StatusConnected && m.FuncKey == ""
	case kindClose:
		return m.Status.Value == protocol.StatusNotConnected
	}
	return false
}

// failPendingLocked answers every waiting request with err.
func (c *Client) failPendingLocked(err error) {
	for _, p := range c.pending {
		p.reply <- result{err: err}
	}
	clear(c.pending)
	c.armed = nil
}
