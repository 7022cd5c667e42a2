package redis

import (
	"context"
	"time"
)

// A node says it is alive with a heartbeat key of its own, renewed for
// LeaseTTL in every upkeep round (every LeaseTTL/3): one command per round,
// however many rooms the node owns. A room's lease names its owner's node,
// so a lease whose node has no heartbeat belongs to a node that stopped
// without its owner leaving, and the other nodes tell the room's viewers
// that the owner is away (see checkOwners).
//
// A lease must never name this node while its heartbeat may be missing, or
// the other nodes would take a live owner for gone: before a call that
// writes this node into a lease (create, claim, restore, renew), the
// engine makes sure its heartbeat lasts a while yet (ensureHeartbeat).

// nodeKey is the heartbeat key of node.
func (b *Broker) nodeKey(node string) string { return b.opts.KeyPrefix + "node:" + node }

// heartbeat renews this node's heartbeat key for LeaseTTL.
func (b *Broker) heartbeat(ctx context.Context) error {
	sent := time.Now() // the key lasts at least LeaseTTL from before the command
	if err := b.client.Set(ctx, b.nodeKey(b.node), "1", b.opts.LeaseTTL).Err(); err != nil {
		return unavailable("heartbeat of", b.node, err)
	}
	b.heartbeatUntil.Store(sent.Add(b.opts.LeaseTTL).UnixNano())
	return nil
}

// ensureHeartbeat renews the heartbeat unless it still lasts more than half
// a lease: then upkeep renews it before it expires, or, if this node loses
// Redis for that long, the node may be taken for stopped (as it should).
func (b *Broker) ensureHeartbeat(ctx context.Context) error {
	if time.Until(time.Unix(0, b.heartbeatUntil.Load())) > b.opts.LeaseTTL/2 {
		return nil
	}
	return b.heartbeat(ctx)
}

// nodesAlive answers, for one upkeep round, whether nodes have a heartbeat,
// asking Redis once per node.
type nodesAlive struct {
	b     *Broker
	known map[string]bool
}

func (b *Broker) newNodesAlive() *nodesAlive { return &nodesAlive{b: b, known: map[string]bool{}} }

// alive reports whether node's heartbeat key exists; ok is false when Redis
// could not tell.
func (n *nodesAlive) alive(ctx context.Context, node string) (alive, ok bool) {
	if node == n.b.node {
		return true, true
	}
	if alive, known := n.known[node]; known {
		return alive, true
	}
	count, err := n.b.client.Exists(ctx, n.b.nodeKey(node)).Result()
	if err != nil {
		n.b.log.Debug("node heartbeat not read", "node", node, "err", err)
		return false, false
	}
	n.known[node] = count == 1
	return count == 1, true
}
