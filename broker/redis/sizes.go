package redis

// Sizes counts what the engine holds in this process, for tests and
// diagnostics.
type Sizes struct {
	Subscriptions int // rooms whose channel this node subscribes to
	Pending       int // channels awaiting a (un)subscribe reply from Redis
	Unclosed      int // rooms whose close is being retried
	ViewerCounts  int // subscribers' viewer counts (SetViewers), across rooms
	Owned         int // rooms owned or released here, with their restore copies
}

// Sizes returns what the engine holds now. A subscriber that unsubscribed
// leaves nothing behind.
func (b *Broker) Sizes() Sizes {
	conns := b.streams()
	b.mu.Lock()
	s := Sizes{Subscriptions: len(b.rooms), Unclosed: len(b.unclosed)}
	for _, c := range conns {
		s.Pending += len(c.inflight)
	}
	for _, counts := range b.counts {
		s.ViewerCounts += max(len(counts), 1) // an empty map left behind counts too
	}
	b.mu.Unlock()
	b.owned.mu.Lock()
	s.Owned = len(b.owned.rooms)
	b.owned.mu.Unlock()
	return s
}
