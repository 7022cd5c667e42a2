package rtbroadcaster

import (
	"net/netip"
	"time"
)

// heldSlack is how long past its grace a room's held reservation lasts at
// most: should this node never hear of the room's end (the engine lost
// it, or was unreachable when it closed), its address gets the room back
// then rather than never.
const heldSlack = time.Minute

// heldReservation is the room count of an owner that left its room without
// closing it: the room still holds its state and may be resumed, so it
// still counts against the owner's address and the server's bound. The
// room's replica here owns it, with the reference to the replica that the
// owner's connection had, which keeps the replica subscribed: it hears the
// room close (Closed) or be claimed (OwnerClaimed), on whichever node.
// It is room.held, guarded by room.mu; it is let go (letGo) only once
// room.mu is unlocked, since that takes addrLimits.mu and may unsubscribe.
type heldReservation struct {
	key      netip.Prefix
	epoch    uint64      // the owner's that left; a claim raises it
	deadline *time.Timer // heldSlack after the grace; nil for an API room
	// api says the HTTP API created the room and holds it for no owner
	// connection (api.go): it counts against the node, not an address.
	api bool
}

// holdReservation takes over the room count and the replica reference of
// the owner holding epoch, from key, whose connection ended and whose room
// waits for it. It reports false when the room closed or was claimed
// already: the caller then lets both go. One held for an older epoch, whose
// claim the engine has not told this node of yet, is let go.
func (r *room) holdReservation(key netip.Prefix, epoch uint64) bool {
	r.mu.Lock()
	if r.closed.Load() || r.claimedEpoch > epoch || (r.held != nil && r.held.epoch >= epoch) {
		r.mu.Unlock()
		return false
	}
	older := r.heldLocked()
	r.held = &heldReservation{key: key, epoch: epoch}
	r.held.deadline = time.AfterFunc(r.mgr.ownerGrace+heldSlack, r.releaseHeld)
	r.mu.Unlock()
	r.letGo(older)
	return true
}

// heldLocked removes and returns the held reservation, if any, for the
// caller to let go of with letGo once r.mu is unlocked. Call it under r.mu.
func (r *room) heldLocked() *heldReservation {
	h := r.held
	r.held = nil
	if h != nil && h.deadline != nil {
		h.deadline.Stop()
	}
	return h
}

// releaseHeld lets go of the held reservation, if any.
func (r *room) releaseHeld() {
	r.mu.Lock()
	h := r.heldLocked()
	r.mu.Unlock()
	r.letGo(h)
}

// letGo gives the address of h its room back and drops the replica
// reference h had. The engine may be calling in with its own locks held
// (Closed, OwnerClaimed), so the reference, whose last drop unsubscribes,
// is dropped on a goroutine of its own, which Shutdown waits for.
func (r *room) letGo(h *heldReservation) {
	if h == nil {
		return
	}
	r.mgr.releaseRoom(h.key)
	r.mgr.detaching.Add(1)
	go func() {
		defer r.mgr.detaching.Done()
		r.mgr.detach(r)
	}()
}

// countsAgainst reports whether this node's replica of room id counts the
// room against key: its owner, connected here or in its grace, came from
// that address.
func (m *Manager) countsAgainst(id string, key netip.Prefix) bool {
	m.mu.Lock()
	r := m.rooms[id]
	m.mu.Unlock()
	if r == nil {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return (r.held != nil && r.held.key == key) || (r.owner != nil && r.owner.limitKey == key)
}

// releaseAllHeld lets go of every held reservation: the Manager has shut
// down, and its replicas' subscriptions end with it.
func (m *Manager) releaseAllHeld() {
	m.mu.Lock()
	rooms := make([]*room, 0, len(m.rooms))
	for _, r := range m.rooms {
		rooms = append(rooms, r)
	}
	m.mu.Unlock()
	for _, r := range rooms {
		r.releaseHeld()
	}
	m.detaching.Wait()
}
