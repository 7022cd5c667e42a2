package rtbroadcaster

import (
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// maxTrackedAddrs is how many client addresses the per-address limits keep
// before they forget idle ones early. Addresses with open connections are
// never forgotten, so the map holds at most this many plus those.
const maxTrackedAddrs = 1 << 16

// addrLimits applies the per-address limits: how fast an address may open
// connections, and how many rooms it may own. A client cannot grow it
// without bound: addresses with nothing open are forgotten once their
// connection bucket has refilled, and sooner when there are many.
type addrLimits struct {
	// Set by newAddrLimits, then only read.
	perSecond rate.Limit // 0: connections are not rate limited
	burst     int
	maxRooms  int // 0: unlimited
	idleAfter time.Duration
	now       func() time.Time

	// Guarded by mu, a leaf: nothing else is locked under it. Callers hold
	// no lock of their own, but for an engine's, in a room's callbacks.
	mu        sync.Mutex
	addrs     map[netip.Prefix]*addrState
	lastSweep time.Time
}

type addrState struct {
	limiter  *rate.Limiter // nil when connections are not rate limited
	conns    int
	rooms    int
	lastSeen time.Time
}

func newAddrLimits(l Limits, now func() time.Time) *addrLimits {
	a := &addrLimits{maxRooms: l.MaxRoomsPerIP, addrs: map[netip.Prefix]*addrState{}, idleAfter: time.Minute, now: now}
	if l.ConnectionsPerSecondPerIP > 0 {
		a.perSecond, a.burst = rate.Limit(l.ConnectionsPerSecondPerIP), l.ConnectionBurstPerIP
		refill := time.Duration(float64(l.ConnectionBurstPerIP) / l.ConnectionsPerSecondPerIP * float64(time.Second))
		a.idleAfter = max(a.idleAfter, refill)
	}
	return a
}

// enabled reports whether any per-address limit is on.
func (a *addrLimits) enabled() bool { return a.perSecond > 0 || a.maxRooms > 0 }

// admit counts a new connection from key; it reports false when the address
// opens connections faster than allowed.
func (a *addrLimits) admit(key netip.Prefix) bool {
	if !a.enabled() {
		return true
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	s := a.stateLocked(key, now)
	if s.limiter != nil && !s.limiter.AllowN(now, 1) {
		return false
	}
	s.conns++
	return true
}

// closed counts the end of a connection admitted from key.
func (a *addrLimits) closed(key netip.Prefix) {
	a.release(key, func(s *addrState) { s.conns-- })
}

// reserveRoom counts a room owned from key; it reports false when the
// address already owns its maximum, unless over lets it pass it.
func (a *addrLimits) reserveRoom(key netip.Prefix, over bool) bool {
	if a.maxRooms <= 0 {
		return true
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.stateLocked(key, a.now())
	if s.rooms >= a.maxRooms && !over {
		return false
	}
	s.rooms++
	return true
}

// releaseRoom counts the end of a room reserved for key.
func (a *addrLimits) releaseRoom(key netip.Prefix) {
	if a.maxRooms > 0 {
		a.release(key, func(s *addrState) { s.rooms-- })
	}
}

func (a *addrLimits) release(key netip.Prefix, update func(*addrState)) {
	if !a.enabled() {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if s := a.addrs[key]; s != nil {
		update(s)
		s.lastSeen = a.now()
	}
}

// stateLocked returns key's state, creating it, and forgets idle addresses
// now and then.
func (a *addrLimits) stateLocked(key netip.Prefix, now time.Time) *addrState {
	if s := a.addrs[key]; s != nil {
		s.lastSeen = now
		return s
	}
	switch {
	case len(a.addrs) >= maxTrackedAddrs:
		a.sweepLocked(now, 0) // many addresses: forget every idle one at once
	case now.Sub(a.lastSweep) >= a.idleAfter:
		a.sweepLocked(now, a.idleAfter)
	}
	s := &addrState{lastSeen: now}
	if a.perSecond > 0 {
		s.limiter = rate.NewLimiter(a.perSecond, a.burst)
	}
	a.addrs[key] = s
	return s
}

// sweepLocked forgets the addresses with nothing open that were last seen
// more than idle ago; forgetting one only gives it a full bucket again.
func (a *addrLimits) sweepLocked(now time.Time, idle time.Duration) {
	a.lastSweep = now
	for key, s := range a.addrs {
		if s.conns <= 0 && s.rooms <= 0 && now.Sub(s.lastSeen) >= idle {
			delete(a.addrs, key)
		}
	}
}

// reserveRoom counts a room owned from this node, from key, against the
// server's bound and the address's. over lets it pass them: the room
// already counts against key here (its owner resumes it from the same
// address), and that count is let go as soon as the engine says the room
// was claimed; without it, an owner at its address's maximum could not
// take back its own room.
func (m *Manager) reserveRoom(verb string, key netip.Prefix, over bool) *Error {
	if m.ownedRooms.Add(1) > int64(m.limits.MaxRooms) && !over {
		m.ownedRooms.Add(-1)
		return newError(CodeTooManyRooms, "%s: this server has its maximum of %d open rooms; try again later, or another server", verb, m.limits.MaxRooms)
	}
	if key.IsValid() && !m.addrLimits.reserveRoom(key, over) {
		m.ownedRooms.Add(-1)
		return newError(CodeTooManyRooms, "%s: your address already owns %d open rooms, the most allowed (rooms waiting for their owner to come back count); close one first", verb, m.limits.MaxRoomsPerIP)
	}
	return nil
}

// releaseRoom counts the end of a room reserved from key.
// An invalid key (an API room's) counts against no address.
func (m *Manager) releaseRoom(key netip.Prefix) {
	m.ownedRooms.Add(-1)
	if key.IsValid() {
		m.addrLimits.releaseRoom(key)
	}
}
