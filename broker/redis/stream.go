package redis

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// streamConn is one pub/sub connection and what it waits for. A single
// Redis (or the master Sentinels name) has one for the engine's life, which
// go-redis redials and resubscribes after a failure. A Redis Cluster has one
// per master that serves a subscribed room's slot, made when first needed:
// sharded pub/sub (SSUBSCRIBE) delivers a channel's messages only on the
// shard that owns its slot. A cluster connection that fails is dropped, and
// its rooms are subscribed again on whichever master serves their slots
// then (see rehome): go-redis would resubscribe them in one SSUBSCRIBE,
// which Redis refuses for channels of different slots.
type streamConn struct {
	addr   string // the master's, in a cluster; "" for a single Redis
	pubsub *goredis.PubSub
	// inflight counts the (un)subscribe replies due, by channel. Guarded
	// by Broker.mu, as are gone and every roomSub's conn.
	inflight map[string]int
	gone     bool // a cluster connection that failed, and was dropped
}

// Pub/sub reads back off from minBackoff to maxBackoff while they fail.
// rehome tries again at most every maxRehomeBackoff: while a master fails
// over, each try is one look at the cluster's slot map and a dial, and the
// sooner one finds the promoted replica, the shorter its rooms' outage.
const (
	minBackoff, maxBackoff = 50 * time.Millisecond, time.Second
	maxRehomeBackoff       = 200 * time.Millisecond
)

// streamFor returns the connection that carries channel: the one
// connection of a single Redis, or the one to the master that serves the
// channel's slot in a cluster, connecting to it when there is none yet.
func (b *Broker) streamFor(ctx context.Context, channel string) (*streamConn, error) {
	if b.cluster == nil {
		return b.single, nil
	}
	master, err := b.cluster.MasterForKey(ctx, channel)
	if err != nil {
		return nil, err
	}
	addr := master.Options().Addr
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closing() {
		return nil, errors.New("engine closed")
	}
	c := b.shards[addr]
	if c == nil {
		c = &streamConn{addr: addr, pubsub: master.SSubscribe(context.Background()), inflight: map[string]int{}}
		b.shards[addr] = c
		b.wg.Add(1)
		go b.receive(c)
	}
	return c, nil
}

// subscribeOn subscribes rs's channel on the connection that carries it
// now. The caller holds subCmds.
func (b *Broker) subscribeOn(ctx context.Context, rs *roomSub) error {
	c, err := b.streamFor(ctx, rs.channel)
	if err != nil {
		return err
	}
	b.mu.Lock()
	rs.conn = c
	c.inflight[rs.channel]++
	b.mu.Unlock()
	if b.cluster != nil {
		return c.pubsub.SSubscribe(ctx, rs.channel)
	}
	return c.pubsub.Subscribe(ctx, rs.channel)
}

// sendUnsubscribe unsubscribes rs's channel; the caller holds subCmds. A
// failure is harmless: go-redis forgets the channel either way, and a
// connection that failed is replaced without it.
func (b *Broker) sendUnsubscribe(ctx context.Context, rs *roomSub) {
	b.mu.Lock()
	c := rs.conn
	if c == nil || c.gone {
		b.mu.Unlock()
		return
	}
	c.inflight[rs.channel]++
	b.mu.Unlock()
	var err error
	if b.cluster != nil {
		err = c.pubsub.SUnsubscribe(ctx, rs.channel)
	} else {
		err = c.pubsub.Unsubscribe(ctx, rs.channel)
	}
	if err != nil {
		b.log.Debug("unsubscribe not sent", "room", rs.room, "err", err)
	}
}

// subscribeKind is the kind of Redis's reply to a subscription.
func (b *Broker) subscribeKind() string {
	if b.cluster != nil {
		return "ssubscribe"
	}
	return "subscribe"
}

// receive is a pub/sub connection's reader: it delivers every message to
// its room's subscribers in order, and notices the connection dropping
// and, on a single Redis, coming back (go-redis redials and resubscribes
// on the next read). It returns when the engine closes, or when a cluster
// connection fails.
func (b *Broker) receive(c *streamConn) {
	defer b.wg.Done()
	backoff := minBackoff
	for {
		msg, err := c.pubsub.Receive(context.Background())
		if err != nil {
			if b.closing() {
				return
			}
			if !b.readFailed(c, err) {
				continue
			}
			if b.cluster != nil {
				return
			}
			if !b.sleep(backoff) {
				return
			}
			backoff = min(2*backoff, maxBackoff)
			continue
		}
		backoff = minBackoff
		if b.cluster == nil {
			b.connectionUp()
		}
		switch m := msg.(type) {
		case *goredis.Subscription:
			b.confirmed(c, m)
		case *goredis.Message:
			b.dispatch(c, m.Channel, m.Payload)
		}
	}
}

func (b *Broker) closing() bool {
	select {
	case <-b.done:
		return true
	default:
		return false
	}
}

// sleep waits d, or reports false when the engine closes first.
func (b *Broker) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-b.done:
		return false
	}
}

// readFailed handles a failed read: an error reply from a single Redis
// leaves the connection usable; anything else means it is lost. In a
// cluster an error reply too drops the connection (it may be a MOVED to a
// subscription sent to a master that no longer serves the slot), and its
// rooms subscribe again wherever their slots are now. It reports whether
// the connection is lost.
func (b *Broker) readFailed(c *streamConn, err error) bool {
	if b.cluster != nil {
		b.streamLost(c, err)
		return true
	}
	var replyErr goredis.Error
	var netErr net.Error
	if errors.As(err, &replyErr) && !errors.As(err, &netErr) {
		b.log.Warn("unexpected error reply on the pub/sub connection", "err", err)
		return false
	}
	b.connectionLost(err)
	return true
}

// connectionLost marks every subscription of the single Redis's connection
// as possibly missing messages: its subscribers are told Lost once the
// channel is subscribed again. Pending subscriptions fail, since their
// confirmation went with the connection.
func (b *Broker) connectionLost(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.markDown(err)
	clear(b.single.inflight)
	for _, rs := range b.rooms {
		rs.connectionLost(err)
	}
}

// markDown records an outage; the caller holds mu.
func (b *Broker) markDown(err error) {
	if !b.down.Swap(true) {
		b.outages.Add(1)
		b.downSince = time.Now()
		b.log.Warn("redis pub/sub connection lost; rooms on it get no messages until it is back", "err", err, "rooms", len(b.rooms), "outages", b.outages.Load())
	}
}

// streamLost drops a failed cluster connection: its rooms' streams are
// interrupted, and rehome subscribes them again.
func (b *Broker) streamLost(c *streamConn, err error) {
	b.mu.Lock()
	if c.gone {
		b.mu.Unlock()
		return
	}
	c.gone = true
	delete(b.shards, c.addr)
	b.markDown(fmt.Errorf("master %s: %w", c.addr, err))
	for _, rs := range b.rooms {
		if rs.conn == c {
			rs.conn = nil
			rs.interrupted()
		}
	}
	b.mu.Unlock()
	_ = c.pubsub.Close()
	b.cluster.ReloadState(context.Background()) // the slot may have a new master
	b.wakeRehome()
}

func (b *Broker) wakeRehome() {
	select {
	case b.rehomeNow <- struct{}{}:
	default:
	}
}

// rehome is, in a cluster, the goroutine that subscribes again the rooms
// whose connection failed or whose slot moved, on the master that serves
// the slot now, retrying until every one is subscribed.
func (b *Broker) rehome() {
	defer b.wg.Done()
	for {
		select {
		case <-b.done:
			return
		case <-b.rehomeNow:
		}
		backoff := minBackoff
		for !b.rehomeRound() {
			if !b.sleep(backoff) {
				return
			}
			backoff = min(2*backoff, maxRehomeBackoff)
		}
	}
}

// rehomeRound subscribes every room that has no connection, and reports
// whether every one was sent; their confirmations come back as usual.
func (b *Broker) rehomeRound() bool {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	b.subCmds.Lock()
	defer b.subCmds.Unlock()
	b.mu.Lock()
	var homeless []*roomSub
	for _, rs := range b.rooms {
		if rs.conn == nil {
			homeless = append(homeless, rs)
		}
	}
	b.mu.Unlock()
	for _, rs := range homeless {
		if err := b.subscribeOn(ctx, rs); err != nil {
			b.log.Debug("room not subscribed again yet", "room", rs.room, "err", err)
			b.mu.Lock()
			if rs.conn != nil && !rs.conn.gone {
				rs.conn.inflight[rs.channel]--
			}
			rs.conn = nil
			b.mu.Unlock()
			b.cluster.ReloadState(ctx)
			return false
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.streamsBack()
	return true
}

// connectionUp notes that reads succeed again.
func (b *Broker) connectionUp() {
	if !b.down.Load() {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.streamsBack()
}

// streamsBack ends an outage, if any: every room's stream is back. The
// caller holds mu.
func (b *Broker) streamsBack() {
	if !b.down.Swap(false) {
		return
	}
	b.noOrphansUntil = time.Now().Add(b.opts.LeaseTTL)
	// Redis may have restarted without this node's heartbeat, or the
	// outage outlasted it.
	b.heartbeatUntil.Store(0)
	select { // restore the rooms Redis may have lost without waiting for the next round
	case b.kick <- struct{}{}:
	default:
	}
	b.log.Info("redis pub/sub back; rooms that were subscribed ask their viewers to rejoin", "after", time.Since(b.downSince).Round(time.Millisecond), "rooms", len(b.rooms))
}

// confirmed handles Redis's reply to a (S)SUBSCRIBE or (S)UNSUBSCRIBE. A
// channel's subscription counts as made at the last reply due for it:
// earlier ones answer commands that a later one overrides. In a cluster,
// an SUNSUBSCRIBE that no command asked for means the channel's slot left
// this master (resharding): the room subscribes again where it went.
func (b *Broker) confirmed(c *streamConn, s *goredis.Subscription) {
	b.mu.Lock()
	asked := c.inflight[s.Channel] > 0
	if asked {
		c.inflight[s.Channel]--
	}
	due := c.inflight[s.Channel]
	if due == 0 {
		delete(c.inflight, s.Channel)
	}
	rs := b.rooms[s.Channel]
	ours := rs != nil && rs.conn == c
	moved := ours && !asked && b.cluster != nil && s.Kind == "sunsubscribe"
	if moved {
		rs.conn = nil
		rs.interrupted()
		b.markDown(fmt.Errorf("slot of %s left master %s", s.Channel, c.addr))
	}
	b.mu.Unlock()
	if moved {
		b.cluster.ReloadState(context.Background())
		b.wakeRehome()
		return
	}
	if !ours || due > 0 || s.Kind != b.subscribeKind() {
		return
	}
	if rs.subscribed() {
		b.gaps.Add(1)
		b.log.Warn("room stream resumed after an interruption; its subscribers may have missed messages", "room", rs.room)
	}
}

// pingStreams writes a PING on every pub/sub connection: a write that
// fails makes go-redis replace the connection, or, in a cluster, fails the
// read that waits on it, which the reader then notices.
func (b *Broker) pingStreams(ctx context.Context) {
	for _, c := range b.streams() {
		if err := c.pubsub.Ping(ctx); err != nil {
			b.log.Debug("pub/sub ping failed", "master", c.addr, "err", err)
		}
	}
}

// streams returns the pub/sub connections in use.
func (b *Broker) streams() []*streamConn {
	if b.cluster == nil {
		return []*streamConn{b.single}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	conns := make([]*streamConn, 0, len(b.shards))
	for _, c := range b.shards {
		conns = append(conns, c)
	}
	return conns
}
