package redis

import (
	"context"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/rtbroadcaster/rtbroadcaster/broker"
)

// Upkeep runs one round of the engine's upkeep loop now: tests whose lease
// is long, so that the loop's own rounds stay out of their way, drive the
// rounds themselves.
func (b *Broker) Upkeep() { b.upkeep() }

// AgeHeartbeat makes the engine's last heartbeat look an hour old, as if
// the node had lost Redis for longer than its lease: the other nodes take
// it for stopped until its next upkeep round renews it.
func (b *Broker) AgeHeartbeat(ctx context.Context) error {
	b.heartbeatUntil.Store(0)
	now, err := b.client.Time(ctx).Result()
	if err != nil {
		return err
	}
	return b.client.ZAdd(ctx, b.nodesKey(), goredis.Z{Score: float64(now.Add(-time.Hour).UnixMilli()), Member: b.node}).Err()
}

// ScanRooms lists rooms as Rooms does, without its cache.
func (b *Broker) ScanRooms(ctx context.Context, limit int) ([]broker.RoomInfo, error) {
	return b.scanRooms(ctx, limit)
}

// SnapshotScriptHash is the SHA1 of the script that reads a room's
// snapshot on a single Redis, for tests that count its calls.
var SnapshotScriptHash = snapshotScript.plain.Hash()
