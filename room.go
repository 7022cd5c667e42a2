package rtbroadcaster

import (
	"sync"
	"sync/atomic"
	"time"
)

// presenceInterval is the shortest time between two viewer-count messages
// to an owner: a thousand viewers joining at once make a handful of them.
const presenceInterval = 200 * time.Millisecond

// room is one owner's broadcast: its viewers and its kept state. Its lock
// orders every join, broadcast and close into one stream, which is what
// makes a join see each message exactly once: either in the state replay or
// live. Nothing blocks under the lock: fan-out only queues frames.
type room struct {
	id       string
	limits   *Limits
	onClosed func(*room) // tells the manager to forget the room

	closed atomic.Bool // set under mu; read without it by clients

	mu       sync.Mutex
	owner    *client
	viewers  []*client // each viewer's slot field is its index here
	state    *stateStore
	presence presence
}

// presence is the coalescing of viewer-count messages to the owner.
type presence struct {
	timer    *time.Timer // pending send, or nil
	lastSent time.Time
}

func newRoom(id string, owner *client, limits *Limits, onClosed func(*room)) *room {
	return &room{
		id:       id,
		limits:   limits,
		onClosed: onClosed,
		owner:    owner,
		state:    newStateStore(limits.MaxStateMessages, limits.MaxStateBytes),
	}
}

// join adds v as a viewer and queues, in one step, its join reply and the
// state replay; live broadcasts queued after this are the ones it missed none of.
func (r *room) join(v *client) *Error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed.Load() {
		return newError(CodeRoomNotFound, "join: room %q is closed", r.id)
	}
	if len(r.viewers) >= r.limits.MaxViewersPerRoom {
		return newError(CodeRoomFull, "join: room %q has its maximum of %d viewers", r.id, r.limits.MaxViewersPerRoom)
	}
	v.slot = len(r.viewers)
	r.viewers = append(r.viewers, v)

	reply := connectedMessage(r.id)
	reply.StateCount = r.state.len()
	v.out.push(textFrame(reply))
	r.state.each(func(frame []byte) { v.out.push(frame) })
	r.schedulePresenceLocked()
	return nil
}

// leave removes viewer v.
func (r *room) leave(v *client) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed.Load() {
		return
	}
	last := len(r.viewers) - 1
	moved := r.viewers[last]
	r.viewers[v.slot], moved.slot = moved, v.slot
	r.viewers[last] = nil
	r.viewers = r.viewers[:last]
	r.schedulePresenceLocked()
}

// broadcast sends m to every viewer, keeping it first when it is a state
// message. It encodes m once; every viewer is queued the same bytes.
func (r *room) broadcast(m *Message) *Error {
	frame := textFrame(m)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed.Load() {
		return newError(CodeNotInRoom, "broadcast: room %q is closed", r.id)
	}
	if m.StateMessage {
		if err := r.state.put(m.key(), frame); err != nil {
			return err
		}
	}
	for _, v := range r.viewers {
		v.out.push(frame)
	}
	return nil
}

// close ends the room: every viewer is sent a status 0 message after what
// it was already sent, then a close frame 1000. It is safe to call twice.
func (r *room) close() {
	r.mu.Lock()
	if r.closed.Load() {
		r.mu.Unlock()
		return
	}
	r.closed.Store(true)
	viewers := r.viewers
	r.viewers = nil
	if r.presence.timer != nil {
		r.presence.timer.Stop()
	}
	r.mu.Unlock()

	r.onClosed(r)
	frame := textFrame(notConnectedMessage(r.id))
	for _, v := range viewers {
		v.out.push(frame)
		v.out.close(CloseNormal, "room closed")
	}
}

// viewerCount is for tests and stats.
func (r *room) viewerCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.viewers)
}

// schedulePresenceLocked arranges for the owner to learn the viewer count
// soon, unless a send is already pending.
func (r *room) schedulePresenceLocked() {
	if r.presence.timer != nil {
		return
	}
	wait := time.Until(r.presence.lastSent.Add(presenceInterval))
	r.presence.timer = time.AfterFunc(max(wait, 0), r.sendPresence)
}

func (r *room) sendPresence() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed.Load() {
		return
	}
	r.presence.timer = nil
	r.presence.lastSent = time.Now()
	count := len(r.viewers)
	m := connectedMessage(r.id)
	m.Viewers = &count
	r.owner.out.push(textFrame(m))
}

// connectedMessage is the reply to a create or join: status 3 for room id.
func connectedMessage(id string) *Message {
	return &Message{UUID: id, Status: Status{StatusConnected, TextConnected}}
}

// notConnectedMessage tells a client it is no longer in room id.
func notConnectedMessage(id string) *Message {
	return &Message{UUID: id, Status: Status{StatusNotConnected, TextNotConnected}}
}
