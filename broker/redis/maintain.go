package redis

import (
	"context"
	"errors"
	"maps"
	"slices"
	"time"

	"github.com/rtbroadcaster/rtbroadcaster/broker"
)

// maintain is the engine's upkeep loop: every LeaseTTL/3 it pings the
// pub/sub connection, renews the leases of the rooms this node owns and its
// viewer counts, and closes the subscribed rooms whose owner's node stopped
// renewing its lease.
func (b *Broker) maintain() {
	defer b.wg.Done()
	every := b.opts.LeaseTTL / 3
	ticker := time.NewTicker(every)
	defer ticker.Stop()
	for {
		select {
		case <-b.done:
			return
		case <-ticker.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), every)
		b.pingPubSub(ctx)
		b.renewLeases(ctx)
		b.closeAbandoned(ctx)
		b.retryCloses(ctx)
		b.renewViewerCounts(ctx)
		b.checkOwners(ctx)
		cancel()
	}
}

// pingPubSub writes a PING on the pub/sub connection: a write that fails
// makes go-redis replace the connection, which the reader then notices.
func (b *Broker) pingPubSub(ctx context.Context) {
	if err := b.pubsub.Ping(ctx); err != nil {
		b.log.Debug("pub/sub ping failed", "err", err)
	}
}

// renewLeases keeps the rooms this node owns alive; a room found closed is
// forgotten.
func (b *Broker) renewLeases(ctx context.Context) {
	for room, epoch := range b.roomEpochs(b.owned) {
		k := b.keys(room)
		open, err := leaseScript.Run(ctx, b.client, []string{k.meta, k.lease, k.state, k.order, k.viewers, k.history},
			b.node, ms(b.opts.LeaseTTL), ms(b.opts.IdleTTL), epoch).Int()
		if err != nil {
			b.log.Debug("owner lease not renewed", "room", room, "err", err)
			continue
		}
		if open == 0 {
			b.forget(b.owned, room, epoch)
		}
	}
}

// closeAbandoned closes the rooms released here whose grace ran out, and
// forgets those that were claimed or closed meanwhile.
func (b *Broker) closeAbandoned(ctx context.Context) {
	for room, epoch := range b.roomEpochs(b.away) {
		result, _, err := b.close(ctx, room, true, epoch)
		if err != nil {
			b.log.Debug("abandoned room not checked", "room", room, "err", err)
			continue
		}
		if result == closeDone {
			b.log.Info("closed a room whose owner did not come back in its grace", "room", room)
		}
		if result != closeOwnerAlive {
			b.forget(b.away, room, epoch)
		}
	}
}

// roomEpochs copies owned or away.
func (b *Broker) roomEpochs(rooms map[string]uint64) map[string]uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return maps.Clone(rooms)
}

// forget drops room from owned or away, unless its epoch changed meanwhile.
func (b *Broker) forget(rooms map[string]uint64, room string, epoch uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if rooms[room] == epoch {
		delete(rooms, room)
	}
}

// retryCloses closes the rooms whose CloseRoom failed.
func (b *Broker) retryCloses(ctx context.Context) {
	b.mu.Lock()
	rooms := slices.Collect(maps.Keys(b.unclosed))
	b.mu.Unlock()
	for _, room := range rooms {
		if _, _, err := b.close(ctx, room, false, 0); err != nil {
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
	b.mu.Lock()
	counts := make(map[string]int, len(b.counts))
	for room, bySub := range b.counts {
		if n := sum(bySub); n > 0 {
			counts[room] = n
		}
	}
	b.mu.Unlock()
	for room, n := range counts {
		err := b.reportViewers(ctx, room, n, true)
		if err != nil && !errors.Is(err, broker.ErrRoomNotFound) {
			b.log.Debug("viewer count not renewed", "room", room, "err", err)
		}
	}
}

// checkOwners closes each subscribed room whose owner's lease expired, and
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
	for _, rs := range b.liveRooms() {
		result, seq, err := b.close(ctx, rs.room, true, 0)
		if err != nil {
			b.log.Debug("owner lease not checked", "room", rs.room, "err", err)
			continue
		}
		switch result {
		case closeDone:
			b.log.Info("closed a room whose owner's node stopped renewing its lease", "room", rs.room, "closeSeq", seq)
		case closeNotOpen:
			b.closedUnseen(rs, seq)
		}
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
// may still be on its way behind earlier messages, so it waits one check;
// then it reports the gap and delivers the close itself.
func (b *Broker) closedUnseen(rs *roomSub, closeSeq uint64) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.state != subLive {
		return
	}
	if closeSeq == 0 {
		closeSeq = rs.lastSeq + 1 // the room's keys expired or Redis lost them
	}
	caughtUp := rs.lastSeq+1 >= closeSeq
	if !caughtUp && !rs.closeSeen {
		rs.closeSeen = true
		return
	}
	if !caughtUp {
		b.gaps.Add(1)
		rs.lost()
	}
	b.log.Info("room closed while its close did not reach this node", "room", rs.room, "closeSeq", closeSeq, "lastSeq", rs.lastSeq)
	rs.deliverClose(closeSeq)
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
