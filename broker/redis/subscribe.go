package redis

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	goredis "github.com/redis/go-redis/v9"
	"github.com/rtbroadcaster/rtbroadcaster/broker"
)

// roomSub is this node's subscription to one room's channel and the
// subscribers it delivers to. Its lock is held while it delivers, so that
// each subscriber sees the room's stream in order, one call at a time.
type roomSub struct {
	room, channel string
	conn          *streamConn // that carries the channel; nil while a cluster has none. Guarded by Broker.mu

	settled   chan struct{} // closed once Redis confirmed the subscription, or it failed
	settleErr error         // why it failed; set before settled is closed

	mu      sync.Mutex
	state   subState
	subs    []broker.Subscriber
	lastSeq uint64 // of the last message delivered; 0: none since (re)subscribing
	// closeSeen is set when upkeep found the room closed or missing in
	// Redis before its close arrived here; if it still has not arrived, nor
	// the room come back, at the next check, it was lost.
	closeSeen bool
}

type subState int

const (
	subPending       subState = iota // SUBSCRIBE sent, not confirmed
	subLive                          // confirmed: every later message arrives
	subResubscribing                 // the connection dropped; waiting for go-redis to resubscribe
	subFailed                        // the connection dropped before the confirmation
	subClosed                        // the room's close was delivered
)

// Subscribe returns once Redis has confirmed the subscription of this
// node's pub/sub connection to the room's channel and the room is open.
func (b *Broker) Subscribe(ctx context.Context, room string, sub broker.Subscriber) error {
	if b.cluster == nil && b.down.Load() {
		return unavailable("subscribe to", room, errors.New("pub/sub connection lost"))
	}
	rs, err := b.addSubscriber(ctx, room, sub)
	if err != nil {
		return err
	}
	if err := b.awaitSettled(ctx, rs); err != nil {
		b.Unsubscribe(room, sub)
		return err
	}
	err = b.orRestore(ctx, room, 0, "subscribe to", func() error { return b.checkOpen(ctx, room) })
	if err != nil {
		if rs.closedFor(sub) {
			return nil // its Closed came through the stream: it is done already
		}
		b.Unsubscribe(room, sub)
		return err
	}
	return nil
}

// addSubscriber adds sub to the room's subscription, subscribing the
// channel first when this node has none.
func (b *Broker) addSubscriber(ctx context.Context, room string, sub broker.Subscriber) (*roomSub, error) {
	channel := b.keys(room).channel
	b.subCmds.Lock()
	defer b.subCmds.Unlock()
	b.mu.Lock()
	rs := b.rooms[channel]
	if rs != nil {
		b.mu.Unlock()
		return rs, rs.add(sub)
	}
	rs = &roomSub{room: room, channel: channel, settled: make(chan struct{}), subs: []broker.Subscriber{sub}}
	b.rooms[channel] = rs
	b.mu.Unlock()
	if err := b.subscribeOn(ctx, rs); err != nil {
		b.removeLocked(rs)
		b.sendUnsubscribe(ctx, rs) // go-redis keeps even a failed channel to resubscribe it
		return nil, unavailable("subscribe to", room, err)
	}
	return rs, nil
}

// add adds sub to a subscription other subscribers already share.
func (rs *roomSub) add(sub broker.Subscriber) error {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	switch rs.state {
	case subClosed:
		return broker.ErrRoomNotFound
	case subResubscribing, subFailed:
		return unavailable("subscribe to", rs.room, errors.New("pub/sub connection lost"))
	}
	rs.subs = append(rs.subs, sub)
	return nil
}

// closedFor reports whether the room's close was delivered while sub was
// subscribed.
func (rs *roomSub) closedFor(sub broker.Subscriber) bool {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.state == subClosed && !rs.has(sub)
}

func (rs *roomSub) has(sub broker.Subscriber) bool {
	for _, s := range rs.subs {
		if s == sub {
			return true
		}
	}
	return false
}

// awaitSettled waits for Redis to confirm the subscription.
func (b *Broker) awaitSettled(ctx context.Context, rs *roomSub) error {
	select {
	case <-rs.settled:
		return rs.settleErr
	case <-ctx.Done():
		return unavailable("subscribe to", rs.room, fmt.Errorf("no confirmation from Redis: %w", ctx.Err()))
	case <-b.done:
		return unavailable("subscribe to", rs.room, errors.New("engine closed"))
	}
}

// checkOpen fails with ErrRoomNotFound when the room is not open, and with
// errMissing when Redis does not have it.
func (b *Broker) checkOpen(ctx context.Context, room string) error {
	status, err := b.client.HGet(ctx, b.keys(room).meta, "status").Result()
	switch {
	case errors.Is(err, goredis.Nil):
		return errMissing
	case err != nil:
		return unavailable("subscribe to", room, err)
	case status != "open":
		return broker.ErrRoomNotFound
	}
	return nil
}

func (b *Broker) Unsubscribe(room string, sub broker.Subscriber) {
	ctx, cancel := context.WithTimeout(context.Background(), b.opts.LeaseTTL)
	defer cancel()
	b.uncount(ctx, room, sub)
	b.subCmds.Lock()
	defer b.subCmds.Unlock()
	b.mu.Lock()
	rs := b.rooms[b.keys(room).channel]
	b.mu.Unlock()
	if rs != nil && rs.remove(sub) {
		b.removeLocked(rs)
		b.sendUnsubscribe(ctx, rs)
	}
}

// uncount drops sub's viewers from this node's count of room, and reports
// the new count when sub had one.
func (b *Broker) uncount(ctx context.Context, room string, sub broker.Subscriber) {
	b.mu.Lock()
	_, counted := b.counts[room][sub]
	delete(b.counts[room], sub)
	nodeCount := sum(b.counts[room])
	if len(b.counts[room]) == 0 {
		delete(b.counts, room)
	}
	b.mu.Unlock()
	if !counted {
		return
	}
	if err := b.reportViewers(ctx, room, nodeCount, false); err != nil && !errors.Is(err, broker.ErrRoomNotFound) {
		b.log.Debug("viewer count not reported", "room", room, "err", err)
	}
}

// remove drops sub and reports whether no subscriber is left.
func (rs *roomSub) remove(sub broker.Subscriber) (empty bool) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	for i, s := range rs.subs {
		if s == sub {
			rs.subs = append(rs.subs[:i], rs.subs[i+1:]...)
			break
		}
	}
	return len(rs.subs) == 0
}

// removeLocked forgets rs; the caller holds subCmds.
func (b *Broker) removeLocked(rs *roomSub) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.rooms[rs.channel] == rs {
		delete(b.rooms, rs.channel)
	}
}

// connectionLost ends a pending subscription with an error, and marks a
// live one as resubscribing.
func (rs *roomSub) connectionLost(err error) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	switch rs.state {
	case subPending:
		rs.state = subFailed
		rs.settleErr = unavailable("subscribe to", rs.room, fmt.Errorf("pub/sub connection lost: %w", err))
		close(rs.settled)
	case subLive:
		rs.state = subResubscribing
	}
}

// subscribed records the confirmation and reports whether it is a
// resubscription after an interruption, which it then reports Lost.
func (rs *roomSub) subscribed() (resumed bool) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	switch rs.state {
	case subPending:
		rs.state = subLive
		close(rs.settled)
	case subLive, subResubscribing:
		// Live too: go-redis replaced the connection before the reader
		// saw the old one fail.
		rs.state = subLive
		rs.lastSeq = 0
		rs.lost()
		return true
	}
	return false
}

// seenOpen notes that upkeep found the room open: a room found missing
// before was restored since.
func (rs *roomSub) seenOpen() {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.closeSeen = false
}

// lost tells every subscriber that the stream has a gap.
func (rs *roomSub) lost() {
	for _, s := range rs.subs {
		s.Lost()
	}
}

// interrupted marks a cluster subscription whose connection failed or
// whose slot moved: a live one is resubscribing, a pending one stays
// pending, both until rehome subscribes them again. The caller holds
// Broker.mu.
func (rs *roomSub) interrupted() {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.state == subLive {
		rs.state = subResubscribing
	}
}

// dispatch delivers one message of a room's channel, as c carries it.
func (b *Broker) dispatch(c *streamConn, channel, payload string) {
	b.mu.Lock()
	rs := b.rooms[channel]
	if rs != nil && rs.conn != c {
		rs = nil // the room is subscribed elsewhere now
	}
	b.mu.Unlock()
	if rs == nil || len(payload) < 2 {
		return
	}
	kind, rest := payload[0], payload[1:]
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.state != subLive {
		return // before the confirmation: not part of this subscription
	}
	switch kind {
	case 'v':
		if total, err := strconv.Atoi(rest); err == nil {
			for _, s := range rs.subs {
				s.Viewers(total)
			}
		}
	case 'o':
		if epoch, err := strconv.ParseUint(rest, 10, 64); err == nil {
			for _, s := range rs.subs {
				s.OwnerClaimed(epoch)
			}
		}
	case 'd':
		num, body, ok := strings.Cut(rest, " ")
		seq, err := strconv.ParseUint(num, 10, 64)
		if ok && err == nil && b.inOrder(rs, seq) {
			b.owned.delivered(rs.room, seq)
			for _, s := range rs.subs {
				s.Deliver(seq, []byte(body))
			}
		}
	case 'k':
		// "k<seq> <key length> <key><body>": a conflated message.
		num, rest, ok := strings.Cut(rest, " ")
		size, tail, ok2 := strings.Cut(rest, " ")
		seq, err := strconv.ParseUint(num, 10, 64)
		n, err2 := strconv.Atoi(size)
		if ok && ok2 && err == nil && err2 == nil && n > 0 && n <= len(tail) && b.inOrder(rs, seq) {
			b.owned.delivered(rs.room, seq)
			key, body := tail[:n], []byte(tail[n:])
			for _, s := range rs.subs {
				broker.Deliver(s, seq, body, key)
			}
		}
	case 'c':
		num, by, _ := strings.Cut(rest, " ")
		if seq, err := strconv.ParseUint(num, 10, 64); err == nil && b.inOrder(rs, seq) {
			rs.deliverClose(seq, by)
		}
	case 'l':
		if seq, err := strconv.ParseUint(rest, 10, 64); err == nil {
			b.gaps.Add(1)
			b.log.Warn("redis lost the room's latest messages", "room", rs.room, "numbered on from", seq)
			rs.lost()
			rs.lastSeq = seq
		}
	}
}

// inOrder checks seq against the last one delivered: it reports Lost before
// a message that skips numbers, or that goes back (Redis lost writes: the
// number may have meant another message). rs is locked.
func (b *Broker) inOrder(rs *roomSub, seq uint64) bool {
	if rs.lastSeq != 0 && seq != rs.lastSeq+1 {
		b.gaps.Add(1)
		b.log.Warn("room stream skipped messages", "room", rs.room, "after", rs.lastSeq, "got", seq)
		rs.lost()
	}
	rs.lastSeq = seq
	return true
}

// deliverClose ends the subscription with Closed(seq), saying who closed
// the room when by is set (broker.NotifyClosed). rs is locked.
func (rs *roomSub) deliverClose(seq uint64, by string) {
	subs := rs.subs
	rs.subs = nil
	rs.state = subClosed
	for _, s := range subs {
		broker.NotifyClosed(s, seq, by)
	}
}
