package redis

import (
	"context"
	"fmt"
	"strconv"
	"time"
)

// Each node says it is alive with a heartbeat: in every upkeep round
// (every LeaseTTL/3) it writes Redis's clock into its entry of the nodes
// set, one command per round however many rooms it owns. A room's lease
// names its owner's node, so a lease whose node's last heartbeat is older
// than LeaseTTL belongs to a node that stopped without its owner leaving,
// and the other nodes tell the room's viewers that the owner is away (see
// checkOwners).
//
// Why a set of nodes rather than a key per node that expires: a node that
// is not in the set is not known to be stopped. It may run a version that
// writes no heartbeat (during a rolling upgrade), or Redis may have lost
// the set (a restart without persistence, a flush): its owners are then
// left alone, as before heartbeats, rather than announced away every round.
// Entries go when they are IdleTTL old, by which time the leases that name
// them have long expired.
//
// A lease must never name this node while its heartbeat may be stale, or
// the other nodes would take a live owner for gone: before a call that
// writes this node into a lease (create, claim, restore, renew), the engine
// makes sure its heartbeat lasts a while yet (ensureHeartbeat).

// heartbeatScript records that a node is alive now, by Redis's clock, and
// drops the entries of nodes silent for idleMs. KEYS: nodes. ARGV: node,
// idleMs.
var heartbeatScript = newScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`)

// stoppedScript ages a node's heartbeat past the lease, so that the other
// nodes take it for stopped at their next check, not a lease later; its
// entry stays until it is IdleTTL old like any other. KEYS: nodes. ARGV:
// node, leaseMs.
var stoppedScript = newScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], 'XX', now - tonumber(ARGV[2]) - 1, ARGV[1])
return 1
`)

// nodesScript reads the nodes set as of now, by Redis's clock. KEYS: nodes.
// Returns {nowMs, node1, lastMs1, node2, lastMs2, ...}.
var nodesScript = newScript(`
local t = redis.call('TIME')
local out = {string.format('%d', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))}
for _, v in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')) do out[#out + 1] = v end
return out
`)

// nodesKey is the sorted set of the nodes' heartbeats: node id scored by
// the Redis time, in ms, of its last one.
func (b *Broker) nodesKey() string { return b.opts.KeyPrefix + "nodes" }

// heartbeat records that this node is alive, for LeaseTTL.
func (b *Broker) heartbeat(ctx context.Context) error {
	sent := time.Now() // it lasts at least LeaseTTL from before the command
	if err := b.run(ctx, heartbeatScript, []string{b.nodesKey()}, b.node, ms(b.opts.IdleTTL)).Err(); err != nil {
		return unavailable("heartbeat of", b.node, err)
	}
	b.heartbeatUntil.Store(sent.Add(b.opts.LeaseTTL).UnixNano())
	return nil
}

// markStopped tells the other nodes that this one has stopped: the owners
// still connected here when it closes are announced away at once.
func (b *Broker) markStopped() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := b.run(ctx, stoppedScript, []string{b.nodesKey()}, b.node, ms(b.opts.LeaseTTL)).Err(); err != nil {
		b.log.Debug("node not marked stopped", "err", err)
	}
}

// ensureHeartbeat renews the heartbeat unless it still lasts more than half
// a lease: then upkeep renews it in time, or, if this node loses Redis for
// that long, the node may be taken for stopped (as it should).
func (b *Broker) ensureHeartbeat(ctx context.Context) error {
	if time.Until(time.Unix(0, b.heartbeatUntil.Load())) > b.opts.LeaseTTL/2 {
		return nil
	}
	return b.heartbeat(ctx)
}

// stoppedNodes answers, for one upkeep round, which nodes have stopped:
// it reads the nodes set once, when first asked.
type stoppedNodes struct {
	b       *Broker
	read    bool
	stopped map[string]bool // nil when the set could not be read
}

func (b *Broker) newStoppedNodes() *stoppedNodes { return &stoppedNodes{b: b} }

// has reports whether node's last heartbeat is older than LeaseTTL. A node
// not in the set, or a set that could not be read, is not known to have
// stopped.
func (s *stoppedNodes) has(ctx context.Context, node string) bool {
	if !s.read {
		s.read = true
		s.stopped = s.b.readStoppedNodes(ctx)
	}
	return s.stopped[node]
}

// readStoppedNodes reads the nodes whose last heartbeat is older than
// LeaseTTL, or returns nil when Redis cannot tell.
func (b *Broker) readStoppedNodes(ctx context.Context) map[string]bool {
	reply, err := b.run(ctx, nodesScript, []string{b.nodesKey()}).StringSlice()
	if err != nil {
		b.log.Debug("node heartbeats not read", "err", err)
		return nil
	}
	stopped, err := parseStoppedNodes(reply, ms(b.opts.LeaseTTL))
	if err != nil {
		b.log.Warn("node heartbeats not read", "err", err)
		return nil
	}
	delete(stopped, b.node) // this one is running this
	return stopped
}

// parseStoppedNodes decodes nodesScript's {nowMs, node1, lastMs1, ...} into
// the nodes silent for more than leaseMs.
func parseStoppedNodes(reply []string, leaseMs int64) (map[string]bool, error) {
	if len(reply)%2 != 1 {
		return nil, fmt.Errorf("malformed nodes script reply: %d elements", len(reply))
	}
	now, err := strconv.ParseInt(reply[0], 10, 64)
	if err != nil {
		return nil, fmt.Errorf("malformed nodes script reply: %w", err)
	}
	stopped := map[string]bool{}
	for i := 1; i < len(reply); i += 2 {
		last, err := strconv.ParseFloat(reply[i+1], 64)
		if err != nil {
			return nil, fmt.Errorf("malformed nodes script reply: %w", err)
		}
		if now-int64(last) > leaseMs {
			stopped[reply[i]] = true
		}
	}
	return stopped, nil
}
