package client

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/lxzan/gws"
	"github.com/rtbroadcaster/rtbroadcaster/protocol"
)

// requestKind is what a request waiting for its reply asked for.
type requestKind int

const (
	kindCreate requestKind = iota
	kindJoin
	kindRejoin     // a viewer's join after a reconnect; nobody waits for it
	kindResume     // an owner's resume after a reconnect; nobody waits for it
	kindResumeRoom // ResumeRoom: its caller waits for the reply and the state replay
	kindClose
	kindSync // answered by its pong alone
)

// pending is a request sent and not yet answered.
type pending struct {
	kind  requestKind
	id    string            // its request id, and the payload of the ping sent before it, if one was
	conn  *gws.Conn         // the connection it was sent on
	req   *protocol.Message // the request, when its answer needs it
	reply chan result       // buffered: whoever answers never waits for the caller
}

type result struct {
	msg   *protocol.Message
	state []StateMessage // ResumeRoom's replay
	err   error
}

// StateMessage is one state message a room keeps, as the server replays it
// to an owner that takes the room back (see ResumeRoom).
type StateMessage struct {
	FuncKey string
	Params  []string
	// StateKey is the key it is kept under, when that is not FuncKey.
	StateKey string
	// Seq is its number in the room's stream: replayed numbers rise, and
	// skip where state was replaced.
	Seq uint64
}

// JoinReply is the server's answer to a join.
type JoinReply struct {
	Room string
	// StateCount state messages are replayed before live traffic; when they
	// have all been handled, Events.OnReplayDone runs.
	StateCount int
}

// Create makes the client the owner of a new room and returns its id.
func (c *Client) Create(ctx context.Context) (string, error) {
	r, err := c.request(ctx, kindCreate, &protocol.Message{Status: protocol.Status{Value: protocol.StatusNew, Text: "new connection"}})
	if err != nil {
		return "", err
	}
	return r.msg.UUID, nil
}

// ResumeRoom makes the client the owner of room, which another client
// owned (another process, or this program before a restart), with the key
// that one's OwnerKey returned, within the server's grace after its
// connection ended (PROTOCOL.md, Owner resume). It returns the state the
// room keeps, in replay order (a replaced key at its last place), for the
// application to restore what it shows; no handler runs for it. Viewers
// get OnOwnerBack; the client then takes the room back by itself after its
// own drops, as one that created it does.
//
// A refusal is a *protocol.Error: not_owner for a wrong key,
// room_not_found when the grace has passed (Create a new room then),
// already_in_room when the client is in a room. ErrDisconnected means the
// connection dropped before the whole replay arrived: the room is not this
// client's yet; call again with the same key.
func (c *Client) ResumeRoom(ctx context.Context, room, ownerKey string) ([]StateMessage, error) {
	if room == "" || ownerKey == "" { // without a key the request would join as a viewer
		return nil, &protocol.Error{Code: protocol.CodeBadRequest, Message: "resume: the room id and its owner key must not be empty"}
	}
	r, err := c.request(ctx, kindResumeRoom, resumeRequest(room, ownerKey))
	if err != nil {
		return nil, err
	}
	return r.state, nil
}

// Join makes the client a viewer of room. The room's state messages are
// replayed to the handlers next, then live actions follow.
func (c *Client) Join(ctx context.Context, room string) (*JoinReply, error) {
	r, err := c.request(ctx, kindJoin, joinRequest(room))
	if err != nil {
		return nil, err
	}
	return &JoinReply{Room: r.msg.UUID, StateCount: r.msg.StateCount}, nil
}

// CloseRoom closes the client's room (owner only): every viewer is told and
// disconnected. The connection stays open, in no room.
func (c *Client) CloseRoom(ctx context.Context) error {
	_, err := c.request(ctx, kindClose, closeRequest(c.Room()))
	return err
}

func closeRequest(room string) *protocol.Message {
	return &protocol.Message{UUID: room, Status: protocol.Status{Value: protocol.StatusClose, Text: "close connection"}}
}

// Sync waits until the server has handled everything this client sent
// before it, and returns the refusals of Broadcast and SetState calls that
// arrived since the previous Sync (at most 16, joined), or nil.
func (c *Client) Sync(ctx context.Context) error {
	_, err := c.request(ctx, kindSync, nil)
	return err
}

// Broadcast has every viewer run funcKey(params...) now (owner only).
// It returns once the message is written, or queued while the owner
// reconnects (see Options.OfflineQueue); a refusal by the server goes to
// Events.OnError and the next Sync. Against a server that numbers an
// owner's messages, the message reaches viewers exactly once, across drops
// (see Exactly once in the package documentation), and a call that finds
// OfflineQueue messages unacknowledged waits for room first.
func (c *Client) Broadcast(funcKey string, params ...string) error {
	return c.action(funcKey, "", false, false, params)
}

// BroadcastOptions are the options of BroadcastWith.
type BroadcastOptions struct {
	// Conflate says only the latest action of its key matters (a laser
	// pointer, a cursor, a scroll position): a viewer that falls behind gets
	// the latest of each key as its connection drains rather than every one,
	// and is not cut for being slow on them (PROTOCOL.md, Conflated streams).
	// Viewers learn what was skipped through Events.OnSkipped.
	Conflate bool
	// Key conflates under this key instead of funcKey, so that one
	// function may have several latest values (one cursor per user, say);
	// with State, the action is kept under it too (SetKeyedState).
	Key string
	// State has the room keep the action too, as SetState does.
	State bool
}

// BroadcastWith is Broadcast (or, with opts.State, SetState) with options:
//
//	c.BroadcastWith(client.BroadcastOptions{Conflate: true}, "laser", x, y)
func (c *Client) BroadcastWith(opts BroadcastOptions, funcKey string, params ...string) error {
	return c.actionWith(funcKey, opts.Key, opts.State, false, opts.Conflate, params)
}

// SetState is Broadcast, and the room also keeps the action, under its
// funcKey, to replay to viewers who join later.
func (c *Client) SetState(funcKey string, params ...string) error {
	return c.action(funcKey, "", true, false, params)
}

// ResetState is SetState that first makes the room forget every state
// message it keeps (PROTOCOL.md, Clearing the state): viewers who join later
// replay only this action and what follows, and viewers in the room get
// Events.OnStateCleared just before its handler runs.
func (c *Client) ResetState(funcKey string, params ...string) error {
	return c.action(funcKey, "", true, true, params)
}

// SetKeyedState is SetState kept under stateKey instead of funcKey, so that
// one function can keep many entries (each stroke of a drawing, say).
func (c *Client) SetKeyedState(stateKey, funcKey string, params ...string) error {
	return c.action(funcKey, stateKey, true, false, params)
}

// action sends one broadcast or state message, or queues it while an
// owner takes its room back; clear empties the room's kept state first.
func (c *Client) action(funcKey, stateKey string, state, clear bool, params []string) error {
	return c.actionWith(funcKey, stateKey, state, clear, false, params)
}

// actionWith is action, conflated when conflate is set.
func (c *Client) actionWith(funcKey, stateKey string, state, clear, conflate bool, params []string) error {
	if funcKey == "" {
		return &protocol.Error{Code: protocol.CodeBadRequest, Message: "broadcast: funcKey is empty"}
	}
	if params == nil {
		params = []string{}
	}
	m := &protocol.Message{
		Status:       protocol.Status{Value: protocol.StatusConnected, Text: protocol.TextConnected},
		FuncKey:      funcKey,
		FuncParams:   params,
		StateMessage: state,
		StateKey:     stateKey,
		ClearState:   clear,
		Conflate:     conflate,
	}
	// Held while numbering and writing, so that numbered messages go out
	// in the order of their numbers. An owner with OfflineQueue messages
	// unacknowledged waits for room first, holding neither lock, so that
	// the client may send them again meanwhile.
	//
	// A conflated message is not numbered: a newer one of its key replaces
	// it, so a stream of them (a laser at 60 Hz) must not fill the
	// unacknowledged buffer while the network stalls; while the owner is
	// away only the latest of each key is queued (PROTOCOL.md, Exactly
	// once from the owner).
	deadline := time.Now().Add(c.opts.WriteTimeout)
	for {
		c.sending.Lock()
		c.mu.Lock()
		signal := c.ackWaitLocked()
		if signal == nil || conflate {
			break
		}
		c.mu.Unlock()
		c.sending.Unlock()
		if !c.waitForAck(signal, deadline) {
			return ErrUnackedFull
		}
	}
	defer c.sending.Unlock()
	conn, r := c.conn, c.role
	m.UUID = c.room
	if r == roleOwner && conflate && c.holding {
		err := c.queueConflatedLocked(m.Encode(), m.ConflateKey())
		c.mu.Unlock()
		return err
	}
	if r == roleOwner && !conflate && c.numberingLocked() && (conn != nil || c.holding) {
		frame, err := c.numberLocked(m)
		holding := c.holding
		c.mu.Unlock()
		if err != nil || holding {
			return err // held: the resume sends it
		}
		if err := c.write(conn, frame); err != nil {
			return c.unsentNumbered(conn, err)
		}
		c.sentNumbered(m.PubSeq)
		return nil
	}
	if r == roleOwner && c.holding {
		err := c.queueLocked(m.Encode())
		c.mu.Unlock()
		return err
	}
	c.mu.Unlock()
	switch {
	case conn == nil:
		return ErrNotConnected
	case r == roleNone:
		return &protocol.Error{Code: protocol.CodeNotInRoom, Message: "broadcast: this client is in no room; Create one first"}
	case r == roleViewer:
		return &protocol.Error{Code: protocol.CodeNotOwner, Message: "broadcast: only the room's owner may broadcast"}
	}
	frame := m.Encode()
	if err := c.write(conn, frame); err != nil {
		return c.queueUnsent(conn, frame, err)
	}
	return nil
}

// request sends m, with a fresh request id, and waits for its reply. A nil
// m is a Sync: a ping, answered by its pong. Requests from several
// goroutines may be under way at once (see requestids.go).
func (c *Client) request(ctx context.Context, kind requestKind, m *protocol.Message) (result, error) {
	p, err := c.enqueue(ctx, kind, m)
	if p == nil {
		return result{}, err
	}
	if err != nil && !errors.Is(err, ErrNotConnected) {
		c.forget(p)
		return result{}, err
	}
	// A connection that closed under the write answers p as it ends, with
	// why: a refusal, or ErrDisconnected.
	select {
	case r := <-p.reply:
		return r, r.err
	case <-ctx.Done():
		// p stays registered: its reply, should it come, still applies
		// to the client (a room created is the client's room).
		return result{}, ctx.Err()
	}
}

// enqueue waits for a connection, registers a request m on it and sends
// it; an error after registering comes with p.
func (c *Client) enqueue(ctx context.Context, kind requestKind, m *protocol.Message) (*pending, error) {
	for {
		c.sending.Lock()
		c.mu.Lock()
		conn, up, stopped := c.conn, c.up, c.err
		if stopped != nil {
			c.mu.Unlock()
			c.sending.Unlock()
			return nil, stopped
		}
		if conn != nil && isClosed(up) {
			p, ping := c.registerLocked(kind, conn, m)
			c.mu.Unlock()
			var frame []byte // a Sync sends none
			if m != nil {
				frame = m.Encode()
			}
			err := c.send(conn, p, ping, frame)
			c.sending.Unlock()
			return p, err
		}
		c.mu.Unlock()
		c.sending.Unlock()
		select {
		case <-up:
		case <-c.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// send writes p's ping, when ping is set, and then frame, if any.
func (c *Client) send(conn *gws.Conn, p *pending, ping bool, frame []byte) error {
	if ping {
		if err := c.writeFrame(conn, gws.OpcodePing, []byte(p.id)); err != nil {
			return err
		}
	}
	if frame == nil {
		return nil
	}
	return c.write(conn, frame)
}

func (c *Client) write(conn *gws.Conn, data []byte) error {
	return c.writeFrame(conn, gws.OpcodeText, data)
}

func (c *Client) writeFrame(conn *gws.Conn, op gws.Opcode, data []byte) error {
	_ = conn.SetWriteDeadline(time.Now().Add(c.opts.WriteTimeout))
	if err := conn.WriteMessage(op, data); err != nil {
		if errors.Is(err, gws.ErrConnClosed) {
			return ErrNotConnected
		}
		return fmt.Errorf("rtbroadcaster client: write: %w", err)
	}
	return nil
}

func joinRequest(room string) *protocol.Message {
	return &protocol.Message{UUID: room, Status: protocol.Status{Value: protocol.StatusJoin, Text: "join connection"}}
}

// rejoinFrame joins room again, as request id, recovering what followed
// seq, 0 included, which an encoded Message would omit (PROTOCOL.md,
// Recovery); without a recovery point it is a plain join, answered with the
// full state replay.
func rejoinFrame(room, id string, seq uint64, recovering bool) []byte {
	m := joinRequest(room)
	m.ID = id
	join := m.Encode()
	if !recovering {
		return join
	}
	join = append(join[:len(join)-1], `,"seq":`...)
	return append(strconv.AppendUint(join, seq, 10), '}')
}

// resumeRequest takes room back as its owner (PROTOCOL.md, Owner resume).
func resumeRequest(room, ownerKey string) *protocol.Message {
	m := joinRequest(room)
	m.Status.Text, m.OwnerKey = "resume", ownerKey
	return m
}

func isClosed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
