package memory

// Sizes counts what the engine holds, for tests and diagnostics.
type Sizes struct {
	Rooms        int // open rooms
	Subscribers  int // subscriptions, across the open rooms
	ViewerCounts int // subscribers' viewer counts (SetViewers), across them
}

// Sizes returns what the engine holds now. A subscriber that unsubscribed
// leaves nothing behind, and a closed room nothing at all.
func (b *Broker) Sizes() Sizes {
	b.mu.Lock()
	rooms := make([]*room, 0, len(b.rooms))
	for _, r := range b.rooms {
		rooms = append(rooms, r)
	}
	b.mu.Unlock()
	s := Sizes{Rooms: len(rooms)}
	for _, r := range rooms {
		r.mu.Lock()
		s.Subscribers += len(r.subs)
		s.ViewerCounts += len(r.viewers)
		r.mu.Unlock()
	}
	return s
}
