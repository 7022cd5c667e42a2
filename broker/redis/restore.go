package redis

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/rtbroadcaster/rtbroadcaster/broker"
)

// errMissing says a script found none of the room's keys: Redis lost the
// room (it restarted without persistence, say), or its keys expired. It
// never leaves the engine: see orRestore.
var errMissing = errors.New("room missing in redis")

// orRestore runs op, a call about room that fails with errMissing when
// Redis does not have the room. Then, when this node holds a copy of the
// room (at epoch; 0: any), it restores the room and runs op once more, so
// that the owner's first broadcast after a Redis restart is not refused.
// A room still missing gets missingError.
func (b *Broker) orRestore(ctx context.Context, room string, epoch uint64, op string, call func() error) error {
	err := call()
	if !errors.Is(err, errMissing) {
		return err
	}
	restored, rerr := b.restore(ctx, room, epoch)
	if rerr != nil {
		return rerr
	}
	if restored {
		err = call()
	}
	if errors.Is(err, errMissing) {
		return b.missingError(op, room)
	}
	return err
}

// missingError is the error for a room Redis does not have and this node
// cannot restore. Right after this node's pub/sub connection came back from
// an outage (for LeaseTTL, as long as owners' nodes wait to renew their
// leases), Redis may have restarted without the room while its owner's
// node is about to restore it: the caller is told the engine is
// unavailable, so that clients retry instead of concluding that the room
// ended. A room that never existed gets that too during the window.
func (b *Broker) missingError(op, room string) error {
	if b.restoring() {
		return unavailable(op, room, errors.New("room missing right after a redis outage: redis restarted and rooms are being restored by their owners' nodes; retry"))
	}
	return broker.ErrRoomNotFound
}

// restoring reports whether rooms missing in Redis may still be restored:
// the pub/sub connection is down, or came back less than LeaseTTL ago.
func (b *Broker) restoring() bool {
	if b.down.Load() {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return time.Now().Before(b.noOrphansUntil)
}

// restore puts the room back into Redis from this node's copy held at epoch
// (0: any), when Redis does not have the room. It reports whether the room
// exists again, restored by this call or another; false when this node has
// no copy to restore, or the grace of a room released here has run out.
func (b *Broker) restore(ctx context.Context, room string, epoch uint64) (bool, error) {
	c, ok := b.owned.copyOf(room, epoch, time.Now())
	if !ok {
		return false, nil
	}
	// The lease about to name this node needs its heartbeat to be fresh. A
	// Redis that lost the room may have lost the heartbeat too, but a node
	// missing from the set is not taken for stopped, and the next round
	// writes it again: renewing it once per restore would double the round
	// trips of a node that restores thousands of rooms.
	if err := b.ensureHeartbeat(ctx); err != nil {
		return false, err
	}
	k := b.keys(room)
	res, err := b.run(ctx, restoreScript, []string{k.meta, k.state, k.order, k.lease, k.history},
		b.restoreArgs(c)...).Int()
	if err != nil {
		return false, unavailable("restore", room, err)
	}
	if res == 1 {
		b.restored.Add(1)
		b.log.Info("restored a room that Redis lost, from this node's copy", "room", room, "seq", c.seq,
			"stateMessages", len(c.entries), "ownerAway", c.away)
	}
	return true, nil
}

// restoreArgs are restoreScript's ARGV for c: a room owned here gets this
// node's lease, as renewLeases would give it; a room away gets what is
// left of its grace.
func (b *Broker) restoreArgs(c restoreCopy) []any {
	lease, leaseMs := b.node, ms(max(b.opts.LeaseTTL, c.grace))
	if c.away {
		lease, leaseMs = "away", max(ms(c.graceLeft), 1)
	}
	bytes := 0
	for _, e := range c.entries {
		bytes += len(e.Body)
	}
	args := []any{b.node, lease, leaseMs, ms(b.opts.IdleTTL), c.keyHash, ms(c.grace), c.epoch, c.seq, bytes, c.pubSeq}
	for i, e := range c.entries {
		args = append(args, c.keys[i], e.Seq, e.Body)
	}
	return args
}

// readCopy reads the room as a node that just claimed it keeps it, to
// restore it should Redis lose it. When that fails, the room is owned all
// the same but has no complete copy.
func (b *Broker) readCopy(ctx context.Context, room string) *ownedRoom {
	k := b.keys(room)
	reply, err := b.run(ctx, copyScript, []string{k.meta, k.state, k.order}).StringSlice()
	if err == nil {
		var r *ownedRoom
		if r, err = parseCopy(reply); err == nil {
			return r
		}
	}
	b.log.Warn("claimed room not copied: it cannot be restored should Redis lose it", "room", room, "err", err)
	return &ownedRoom{}
}

// parseCopy decodes copyScript's {seq, graceMs, pubseq, key1, seq1, body1, ...}.
func parseCopy(reply []string) (*ownedRoom, error) {
	if len(reply) < 3 || len(reply)%3 != 0 {
		return nil, fmt.Errorf("malformed copy script reply: %d elements", len(reply))
	}
	seq, err := strconv.ParseUint(reply[0], 10, 64)
	if err != nil {
		return nil, err
	}
	graceMs, err := strconv.ParseInt(reply[1], 10, 64)
	if err != nil {
		return nil, err
	}
	pubSeq, err := strconv.ParseUint(reply[2], 10, 64)
	if err != nil {
		return nil, err
	}
	r := &ownedRoom{complete: true, seq: seq, pubSeq: pubSeq, grace: time.Duration(graceMs) * time.Millisecond, state: map[string]broker.Entry{}}
	for i := 3; i < len(reply); i += 3 {
		entrySeq, err := strconv.ParseUint(reply[i+1], 10, 64)
		if err != nil {
			return nil, err
		}
		r.state[reply[i]] = broker.Entry{Seq: entrySeq, Body: []byte(reply[i+2])}
	}
	return r, nil
}
