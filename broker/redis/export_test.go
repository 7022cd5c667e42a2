package redis

import "context"

// Upkeep runs one round of the engine's upkeep loop now: tests whose lease
// is long, so that the loop's own rounds stay out of their way, drive the
// rounds themselves.
func (b *Broker) Upkeep() { b.upkeep() }

// DropHeartbeat deletes the engine's heartbeat key, as if the node had lost
// Redis for longer than its lease: the other nodes take it for stopped
// until its next upkeep round renews it.
func (b *Broker) DropHeartbeat(ctx context.Context) error {
	b.heartbeatUntil.Store(0)
	return b.client.Del(ctx, b.nodeKey(b.node)).Err()
}
