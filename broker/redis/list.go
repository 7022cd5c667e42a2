package redis

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/rtbroadcaster/rtbroadcaster/broker"
	"golang.org/x/sync/singleflight"
)

// Listing rooms (broker.Lister) reads the keyspace: there is no key that
// lists every room, since one would be a key that every create and close
// touches, outside the rooms' own cluster slots. So Rooms scans for the
// rooms' meta keys (SCAN MATCH <prefix>{*}:meta TYPE hash, which needs Redis
// 6) and reads each one's status, seq, viewers and lease in a pipeline,
// until it has limit open rooms. A scan walks the whole keyspace when there
// are fewer, so its result is kept for listTTL and shared by the callers
// meanwhile: several dashboards polling several nodes then cost one scan per
// node every listTTL.

// listTTL is how long a room list is served from the cache.
const listTTL = 2 * time.Second

// scanCount is the COUNT hint of each SCAN: keys Redis looks at per call.
const scanCount = 1000

// listTimeout bounds a scan, which runs on behalf of every caller waiting
// for it and so without any one caller's deadline.
const listTimeout = 10 * time.Second

var (
	_ broker.Lister    = (*Broker)(nil)
	_ broker.Inspector = (*Broker)(nil)
)

// Rooms lists up to limit open rooms of every node, in no particular order,
// from a list at most listTTL old.
func (b *Broker) Rooms(ctx context.Context, limit int) ([]broker.RoomInfo, error) {
	return b.listed.rooms(ctx, limit, b.scanRooms)
}

// roomCache is the engine's last room list. It is its only owner: Rooms
// reads it, a scan that ends fills it, and CloseRoom empties it, so that a
// room an operator closed does not come back in the next poll.
type roomCache struct {
	scans singleflight.Group // one scan at a time per limit

	mu    sync.Mutex
	list  []broker.RoomInfo
	limit int       // the list holds every open room, or limit of them
	at    time.Time // when its scan started; zero: no list
	gen   uint64    // raised by forget, so that a scan older than it is not kept
}

// rooms returns up to limit rooms from the cache while it is fresh and holds
// them (it was made with a limit at least as high, or holds every room), or
// else from scan, which it runs once for all the callers that come
// meanwhile.
func (c *roomCache) rooms(ctx context.Context, limit int, scan func(context.Context, int) ([]broker.RoomInfo, error)) ([]broker.RoomInfo, error) {
	if list, ok := c.fresh(limit); ok {
		return list, nil
	}
	done := c.scans.DoChan(strconv.Itoa(limit), func() (any, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), listTimeout)
		defer cancel()
		started, gen := time.Now(), c.generation()
		list, err := scan(ctx, limit)
		if err == nil {
			c.keep(list, limit, started, gen)
		}
		return list, err
	})
	select {
	case res := <-done:
		if res.Err != nil {
			return nil, res.Err
		}
		return slices.Clone(res.Val.([]broker.RoomInfo)), nil
	case <-ctx.Done():
		return nil, fmt.Errorf("redis engine: list rooms: %w: %w", broker.ErrUnavailable, ctx.Err())
	}
}

func (c *roomCache) fresh(limit int) ([]broker.RoomInfo, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	complete := len(c.list) < c.limit // the scan found fewer rooms than it could take
	if c.at.IsZero() || time.Since(c.at) > listTTL || (c.limit < limit && !complete) {
		return nil, false
	}
	return slices.Clone(c.list[:min(limit, len(c.list))]), true
}

func (c *roomCache) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// keep caches a scan's list, unless forget was called since it started.
func (c *roomCache) keep(list []broker.RoomInfo, limit int, started time.Time, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen || started.Before(c.at) {
		return
	}
	c.list, c.limit, c.at = list, limit, started
}

// forget empties the cache.
func (c *roomCache) forget() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.list, c.at = nil, time.Time{}
	c.gen++
}

// scanRooms scans the keyspace for up to limit open rooms: the one Redis's,
// or each master's of a cluster in turn (SCAN reads one node's keys).
func (b *Broker) scanRooms(ctx context.Context, limit int) ([]broker.RoomInfo, error) {
	nodes, err := b.keyspaces(ctx)
	if err != nil {
		return nil, fmt.Errorf("redis engine: list rooms: %w: %w", broker.ErrUnavailable, err)
	}
	list := []broker.RoomInfo{}
	seen := map[string]bool{} // SCAN may return a key more than once
	for _, node := range nodes {
		if list, err = b.scanNode(ctx, node, list, limit, seen); err != nil || len(list) >= limit {
			return list, err
		}
	}
	return list, nil
}

// keyspaces returns the clients whose keys make up the engine's keyspace:
// its client, or a cluster's masters.
func (b *Broker) keyspaces(ctx context.Context) ([]goredis.Cmdable, error) {
	if b.cluster == nil {
		return []goredis.Cmdable{b.client}, nil
	}
	var mu sync.Mutex
	var masters []goredis.Cmdable
	err := b.cluster.ForEachMaster(ctx, func(_ context.Context, master *goredis.Client) error {
		mu.Lock()
		defer mu.Unlock()
		masters = append(masters, master)
		return nil
	})
	return masters, err
}

// scanNode adds to list the open rooms it finds in node's keys, until list
// holds limit.
func (b *Broker) scanNode(ctx context.Context, node goredis.Cmdable, list []broker.RoomInfo, limit int, seen map[string]bool) ([]broker.RoomInfo, error) {
	pattern := globQuote(b.opts.KeyPrefix) + "{*}:meta"
	var cursor uint64
	for {
		keys, next, err := node.ScanType(ctx, cursor, pattern, scanCount, "hash").Result()
		if err != nil {
			return nil, fmt.Errorf("redis engine: list rooms: %w: %w", broker.ErrUnavailable, err)
		}
		ids := b.newRoomIDs(keys, seen)
		found, err := b.readRooms(ctx, ids)
		if err != nil {
			return nil, err
		}
		list = append(list, found...)
		if len(list) >= limit {
			return list[:limit], nil
		}
		if cursor = next; cursor == 0 {
			return list, nil
		}
	}
}

// newRoomIDs returns the ids of the rooms whose meta keys are keys, leaving
// out those in seen, which it adds them to.
func (b *Broker) newRoomIDs(keys []string, seen map[string]bool) []string {
	var ids []string
	for _, key := range keys {
		id, ok := strings.CutPrefix(key, b.opts.KeyPrefix+"{")
		id, ok2 := strings.CutSuffix(id, "}:meta")
		if ok && ok2 && !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	return ids
}

// roomFields are the meta fields a roomRead reads, in the order info
// decodes them; Room reads the kept state's size after them.
var roomFields = []string{"status", "seq", "viewers", "held", "bytes"}

// Room describes the open room (broker.Inspector): a roomRead, and the
// number of its kept state messages, in one pipeline. When Redis lost the
// room, the node that has its copy restores it first, as for Snapshot.
func (b *Broker) Room(ctx context.Context, id string) (d broker.RoomDetail, err error) {
	err = b.orRestore(ctx, id, 0, "describe", func() (err error) {
		d, err = b.describe(ctx, id)
		return err
	})
	return d, err
}

// describe is Room without the restore: it fails with errMissing when
// Redis does not have the room.
func (b *Broker) describe(ctx context.Context, id string) (broker.RoomDetail, error) {
	k := b.keys(id)
	pipe := b.client.Pipeline()
	read := roomRead{id: id, meta: pipe.HMGet(ctx, k.meta, roomFields...), lease: pipe.Get(ctx, k.lease)}
	count := pipe.HLen(ctx, k.state)
	_, _ = pipe.Exec(ctx) // each command's own error says what matters, as in readRooms
	info, open, err := read.info()
	if err == nil {
		err = count.Err()
	}
	if err != nil {
		return broker.RoomDetail{}, unavailable("describe", id, err)
	}
	if read.meta.Val()[0] == nil {
		return broker.RoomDetail{}, errMissing
	}
	if !open {
		return broker.RoomDetail{}, broker.ErrRoomNotFound
	}
	bytes, _ := read.meta.Val()[4].(string)
	d := broker.RoomDetail{RoomInfo: info, StateMessages: int(count.Val())}
	d.StateBytes, _ = strconv.Atoi(bytes)
	return d, nil
}

// roomRead is the pipelined reads of one room's meta and lease.
type roomRead struct {
	id    string
	meta  *goredis.SliceCmd
	lease *goredis.StringCmd
}

// readRooms reads the rooms in one pipeline and returns the open ones. Each
// command reads one key, so the pipeline needs no script, and a room that
// closes or expires meanwhile is simply not open.
func (b *Broker) readRooms(ctx context.Context, ids []string) ([]broker.RoomInfo, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	pipe := b.client.Pipeline()
	reads := make([]roomRead, len(ids))
	for i, id := range ids {
		k := b.keys(id)
		reads[i] = roomRead{id: id, meta: pipe.HMGet(ctx, k.meta, roomFields...), lease: pipe.Get(ctx, k.lease)}
	}
	// A missing lease fails its GET with Nil, which Exec returns too: each
	// command's own error says what matters.
	_, _ = pipe.Exec(ctx)
	var open []broker.RoomInfo
	for _, r := range reads {
		info, ok, err := r.info()
		if err != nil {
			return nil, fmt.Errorf("redis engine: list rooms: %w: %w", broker.ErrUnavailable, err)
		}
		if ok {
			open = append(open, info)
		}
	}
	return open, nil
}

// info decodes a room's reads; ok is false when the room is not open.
func (r roomRead) info() (info broker.RoomInfo, ok bool, err error) {
	meta, err := r.meta.Result()
	if err != nil {
		return info, false, err
	}
	lease, err := r.lease.Result()
	if err != nil && !errors.Is(err, goredis.Nil) {
		return info, false, err
	}
	if status, _ := meta[0].(string); status != "open" {
		return info, false, nil
	}
	seq, _ := meta[1].(string)
	viewers, _ := meta[2].(string)
	held, _ := meta[3].(string)
	info = broker.RoomInfo{ID: r.id, OwnerAway: ownerAway(lease), OwnerHeld: held == "1"}
	info.Seq, _ = strconv.ParseUint(seq, 10, 64)
	info.Viewers, _ = strconv.Atoi(viewers)
	return info, true, nil
}

// ownerAway reads a lease's value as snapshotScript does: the owner is away
// when it released the room or its node was found stopped. A room without
// a lease is past its grace, about to close, and not said away.
func ownerAway(lease string) bool {
	return lease != "" && !leaseNamesNode(lease)
}

// globQuote escapes the characters that SCAN's MATCH pattern treats as
// special, so that the key prefix matches only itself.
func globQuote(s string) string {
	var out strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			out.WriteByte('\\')
		}
		out.WriteRune(r)
	}
	return out.String()
}
