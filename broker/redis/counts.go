package redis

import "github.com/rtbroadcaster/rtbroadcaster/broker"

// Counts are Stats for the Manager's metrics (broker.Counted).
func (b *Broker) Counts() broker.Counts {
	s := b.Stats()
	return broker.Counts{Outages: s.Outages, Gaps: s.Gaps, Restored: s.Restored}
}
