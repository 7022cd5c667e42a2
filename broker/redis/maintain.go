package redis

import (
	"context"
	"errors"
	"maps"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/rtbroadcaster/rtbroadcaster/broker"
)

// maintain is the engine's upkeep loop: every LeaseTTL/3, and at once when
// the pub/sub connection comes back from an outage, it pings the pub/sub
// connection, renews this node's heartbeat, the leases of the rooms this
// node owns (restoring those Redis lost) and its viewer counts, marks the
// owner away in subscribed rooms whose owner's node stopped, and closes
// those whose owner's lease ran out.
func (b *Broker) maintain() {
	defer b.wg.Done()
	ticker := time.NewTicker(b.opts.LeaseTTL / 3)
	defer ticker.Stop()
	for {
		select {
		case <-b.done:
			return
		case <-ticker.C:
		case <-b.kick:
		case room := <-b.graceEnded:
			b.closeAbandonedRoom(room)
			continue
		}
		b.upkeep()
	}
}

// upkeep is one round of the upkeep loop, bounded by the time to the next.
// The scripts it runs for every room owned, subscribed or counted here go
// in pipelined batches (see eachScript): a node with thousands of rooms
// waits for a round trip per batch, not per room, and renews them all in
// time.
func (b *Broker) upkeep() {
	ctx, cancel := context.WithTimeout(context.Background(), b.opts.LeaseTTL/3)
	defer cancel()
	b.pingStreams(ctx)
	b.renewHeartbeat(ctx)
	b.renewLeases(ctx)
	b.closeAbandoned(ctx)
	b.retryCloses(ctx)
	b.renewViewerCounts(ctx)
	b.checkOwners(ctx)
}

// renewHeartbeat tells the other nodes that this one is alive.
func (b *Broker) renewHeartbeat(ctx context.Context) {
	if err := b.heartbeat(ctx); err != nil {
		b.log.Debug("heartbeat not renewed", "err", err)
	}
}

// renewLeases keeps the rooms this node owns alive: a room found closed, or
// claimed by another owner, is forgotten; a room Redis lost is restored. A
// node that cannot renew its heartbeat renews no lease: they outlast it.
func (b *Broker) renewLeases(ctx context.Context) {
	if err := b.ensureHeartbeat(ctx); err != nil {
		return
	}
	eachScript(ctx, b.client, b.pick(leaseScript), b.owned.epochs(false), func(r roomEpoch) ([]string, []any) {
		k := b.keys(r.room)
		return []string{k.meta, k.lease, k.state, k.order, k.viewers, k.history},
			[]any{b.node, ms(b.opts.LeaseTTL), ms(b.opts.IdleTTL), r.epoch}
	}, func(r roomEpoch, cmd *goredis.Cmd) {
		room, epoch := r.room, r.epoch
		res, err := cmd.Int()
		if err != nil {
			b.log.Debug("owner lease not renewed", "room", room, "err", err)
			return
		}
		switch res {
		case leaseGone:
			b.owned.forget(room, epoch, false)
		case leaseMissing:
			b.restoreOrForget(ctx, room, epoch, false)
		case leaseReturned:
			b.log.Info("took back the lease of a room whose owner other nodes took for gone with this node", "room", room, "epoch", epoch)
			b.publishOwnerNews(ctx, broker.OwnerNews{Room: room, Epoch: epoch})
		}
	})
}

// closeAbandoned closes the rooms released here whose grace ran out, and
// forgets those that were claimed or closed meanwhile; a room Redis lost
// during its grace is restored, still away.
func (b *Broker) closeAbandoned(ctx context.Context) {
	for _, r := range b.owned.epochs(true) {
		b.closeIfAbandoned(ctx, r.room, r.epoch)
	}
}

// closeAbandonedRoom closes one room released here whose grace just ended,
// unless it was claimed meanwhile.
func (b *Broker) closeAbandonedRoom(room string) {
	epoch, away := b.owned.awayAt(room)
	if !away {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), b.opts.LeaseTTL/3)
	defer cancel()
	b.closeIfAbandoned(ctx, room, epoch)
}

func (b *Broker) closeIfAbandoned(ctx context.Context, room string, epoch uint64) {
	reply, err := b.close(ctx, room, true, epoch, "")
	if err != nil {
		b.log.Debug("abandoned room not checked", "room", room, "err", err)
		return
	}
	switch reply.result {
	case closeDone:
		b.log.Info("closed a room whose owner did not come back in its grace", "room", room)
	case closeMissing:
		b.restoreOrForget(ctx, room, epoch, true)
		return
	}
	if reply.result != closeOwnerAlive {
		b.owned.forget(room, epoch, true)
	}
}

// restoreOrForget restores a room owned or away here that Redis lost, or
// forgets it when this node cannot: it has no complete copy, or the grace
// is over. The room then ends on every node, as it would have without
// restores.
func (b *Broker) restoreOrForget(ctx context.Context, room string, epoch uint64, away bool) {
	restored, err := b.restore(ctx, room, epoch)
	switch {
	case err != nil:
		b.log.Debug("room not restored", "room", room, "err", err)
	case !restored:
		b.log.Info("Redis lost a room that this node cannot restore: it ends", "room", room)
		b.owned.forget(room, epoch, away)
	}
}

// retryCloses closes the rooms whose CloseRoom failed.
func (b *Broker) retryCloses(ctx context.Context) {
	b.mu.Lock()
	unclosed := maps.Clone(b.unclosed)
	b.mu.Unlock()
	for room, by := range unclosed {
		if _, err := b.close(ctx, room, false, 0, by); err != nil {
			b.log.Debug("room close retry failed", "room", room, "err", err)
			continue
		}
		b.log.Info("closed a room whose close had failed", "room", room)
		b.mu.Lock()
		delete(b.unclosed, room)
		b.mu.Unlock()
	}
}

// renewViewerCounts keeps this node's viewer counts from expiring, and lets
// the script drop the counts of nodes that stopped: subscribers hear of the
// total only when that changed it.
func (b *Broker) renewViewerCounts(ctx context.Context) {
	type roomCount struct {
		room string
		n    int
	}
	b.mu.Lock()
	counts := make([]roomCount, 0, len(b.counts))
	for room, bySub := range b.counts {
		if n := sum(bySub); n > 0 {
			counts = append(counts, roomCount{room, n})
		}
	}
	b.mu.Unlock()
	eachScript(ctx, b.client, b.pick(viewersScript), counts, func(c roomCount) ([]string, []any) {
		return b.viewersCall(c.room, c.n, true)
	}, func(c roomCount, cmd *goredis.Cmd) {
		err := viewersResult(c.room, cmd)
		if err != nil && !errors.Is(err, broker.ErrRoomNotFound) {
			b.log.Debug("viewer count not renewed", "room", c.room, "err", err)
		}
	})
}

// checkOwners closes each subscribed room whose owner's lease expired,
// marks the owner away in those whose lease names a node that stopped, and
// ends subscriptions whose room was closed while its close did not arrive
// here (during an outage, say).
func (b *Broker) checkOwners(ctx context.Context) {
	defer b.dropClosed()
	b.mu.Lock()
	grace := time.Now().Before(b.noOrphansUntil)
	b.mu.Unlock()
	if grace {
		return
	}
	stopped := b.newStoppedNodes()
	eachScript(ctx, b.client, b.pick(closeScript), b.liveRooms(), func(rs *roomSub) ([]string, []any) {
		return b.closeCall(rs.room, true, 0, "")
	}, func(rs *roomSub, cmd *goredis.Cmd) {
		reply, err := closeResult(rs.room, cmd)
		if err != nil {
			b.log.Debug("owner lease not checked", "room", rs.room, "err", err)
			return
		}
		switch reply.result {
		case closeDone:
			b.log.Info("closed a room whose owner's node stopped renewing its lease", "room", rs.room, "closeSeq", reply.seq)
		case closeNotOpen:
			b.closedUnseen(rs, reply.seq)
		case closeMissing:
			b.closedUnseen(rs, 0)
		case closeOwnerAlive:
			rs.seenOpen()
			if leaseNamesNode(reply.holder) {
				b.checkOwnerNode(ctx, rs, reply.holder, stopped)
			}
		}
	})
}

// The lease's values besides a node id: the owner left ("away"), or its
// node was found stopped ("gone:" and the node id).
const (
	leaseAway       = "away"
	leaseGonePrefix = "gone:"
)

// leaseNamesNode reports whether a lease's value is a node id.
func leaseNamesNode(holder string) bool {
	return holder != leaseAway && !strings.HasPrefix(holder, leaseGonePrefix)
}

// checkOwnerNode marks the owner of rs away when node, which its lease
// names, has stopped, and tells the viewers when it is the node that marked
// it: of all the nodes that notice, one does.
// The heartbeats are read apart from the lease, so that each script touches
// one slot; a node that comes back between the two is one that lost Redis
// for longer than its lease, and was as good as stopped (see leaseScript).
func (b *Broker) checkOwnerNode(ctx context.Context, rs *roomSub, node string, stopped *stoppedNodes) {
	if !stopped.has(ctx, node) {
		return
	}
	k := b.keys(rs.room)
	res, err := b.run(ctx, ownerGoneScript, []string{k.meta, k.lease}, node).Int64Slice()
	switch {
	case errors.Is(err, goredis.Nil):
		return // another node marked it, or the room has no grace to wait
	case err != nil:
		b.log.Debug("owner of a stopped node not marked away", "room", rs.room, "node", node, "err", err)
		return
	case len(res) != 2:
		b.log.Warn("owner of a stopped node: unexpected script reply", "room", rs.room, "reply", res)
		return
	}
	epoch, graceLeft := uint64(res[0]), time.Duration(res[1])*time.Millisecond
	b.log.Info("the node hosting a room's owner stopped; the room waits for its owner", "room", rs.room, "node", node, "epoch", epoch, "graceLeft", graceLeft)
	b.publishOwnerNews(ctx, broker.OwnerNews{Room: rs.room, Epoch: epoch, Away: true, GraceLeft: graceLeft})
}

// SetRenderer gives the engine the server's renderer of owner news
// (broker.OwnerNewsPublisher).
func (b *Broker) SetRenderer(r broker.Renderer) { b.renderer.Store(&r) }

// publishOwnerNews tells the room's viewers, in its stream, news of its
// owner. It is published as the owner's epoch: if another connection
// claimed the room meanwhile, the news is stale and dropped.
func (b *Broker) publishOwnerNews(ctx context.Context, news broker.OwnerNews) {
	render := b.renderer.Load()
	if render == nil {
		return
	}
	p := (*render)(news)
	p.OwnerEpoch = news.Epoch
	if _, err := b.Publish(ctx, news.Room, p); err != nil && !errors.Is(err, broker.ErrNotOwner) {
		b.log.Warn("viewers not told of their room's owner", "room", news.Room, "away", news.Away, "err", err)
	}
}

// liveRooms lists the subscriptions that are confirmed and not closed.
func (b *Broker) liveRooms() []*roomSub {
	b.mu.Lock()
	defer b.mu.Unlock()
	live := make([]*roomSub, 0, len(b.rooms))
	for _, rs := range b.rooms {
		rs.mu.Lock()
		if rs.state == subLive {
			live = append(live, rs)
		}
		rs.mu.Unlock()
	}
	return live
}

// closedUnseen handles a room that Redis says is closed (closeSeq; 0 when
// its keys are gone) but whose close this node has not delivered. The close
// may still be on its way behind earlier messages, and a room whose keys
// are gone may be about to be restored by its owner's node, which renews
// its lease as often as this check runs: either way it waits one check;
// then it reports a gap, if any, and delivers the close itself.
func (b *Broker) closedUnseen(rs *roomSub, closeSeq uint64) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.state != subLive {
		return
	}
	missing := closeSeq == 0
	if missing {
		closeSeq = rs.lastSeq + 1 // the room's keys expired or Redis lost them
	}
	caughtUp := rs.lastSeq+1 >= closeSeq
	if (missing || !caughtUp) && !rs.closeSeen {
		rs.closeSeen = true
		return
	}
	if !caughtUp {
		b.gaps.Add(1)
		rs.lost()
	}
	b.log.Info("room closed while its close did not reach this node", "room", rs.room, "closeSeq", closeSeq, "lastSeq", rs.lastSeq)
	rs.deliverClose(closeSeq, "") // who closed it went with the lost notice
}

// dropClosed unsubscribes the channels of rooms whose close was delivered
// but whose subscribers never called Unsubscribe.
func (b *Broker) dropClosed() {
	b.subCmds.Lock()
	defer b.subCmds.Unlock()
	b.mu.Lock()
	var closed []*roomSub
	for _, rs := range b.rooms {
		rs.mu.Lock()
		if rs.state == subClosed || rs.state == subFailed {
			closed = append(closed, rs)
		}
		rs.mu.Unlock()
	}
	b.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), b.opts.LeaseTTL/3)
	defer cancel()
	for _, rs := range closed {
		b.removeLocked(rs)
		b.sendUnsubscribe(ctx, rs)
	}
}
