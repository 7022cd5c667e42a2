// Package redis is a room engine on Redis: any number of server nodes that
// share one Redis (a single server, a master that Sentinels watch, or a
// Redis Cluster) share their rooms.
//
// A room's seq counter, kept state and status live in Redis keys changed
// only by Lua scripts (scripts.go, run by script.go), so that a message's
// place in the pub/sub stream is the seq it was given. Each node has one
// pub/sub reader per connection (stream.go: one connection, or one per
// master of a cluster, where rooms use sharded pub/sub) that delivers each
// room's messages in order (subscribe.go).
//
// The owner's node holds a lease on each room and writes a heartbeat
// (heartbeat.go, maintain.go): when it stops, the other nodes close its
// rooms, or, for a room with a grace, one of them marks the owner away and
// publishes that news in the room's stream, rendered by the server's
// broker.Renderer. The owner's node also keeps a restore copy of its rooms
// (owned.go, restore.go), so that a Redis restarted without persistence
// does not end the broadcasts; other nodes answer ErrUnavailable meanwhile.
package redis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	goredis "github.com/redis/go-redis/v9"
	"github.com/rtbroadcaster/rtbroadcaster/broker"
)

// Options configure a Broker. The zero value of every field means its default.
type Options struct {
	// KeyPrefix starts every key and channel name. Default "rtb:".
	KeyPrefix string
	// IdleTTL is how long a room's keys outlive its last broadcast or owner
	// lease renewal: the keys of a room whose owner vanished with no node to
	// notice expire then. Default 24 h.
	IdleTTL time.Duration
	// ClosedTTL is how long a closed room's marker stays: its meta key,
	// holding only its status and last seq (everything else the room kept
	// is deleted as it closes), so that nodes that missed the close learn
	// its seq and the id is not revived meanwhile. Once it expires, joins
	// are still refused as of a room that does not exist. Default 1 min, or
	// 4 LeaseTTL when longer: a lagging node checks its rooms every
	// LeaseTTL/3, and waits LeaseTTL after an outage before it does.
	ClosedTTL time.Duration
	// LeaseTTL is how long a room outlives its owner's node once that node
	// stops renewing its lease (or its grace, when longer), how long a
	// stopped node's viewer counts still count, and how long a node's
	// heartbeat lasts: the other nodes then tell its rooms' viewers that
	// the owner is away. Nodes renew and check leases and heartbeats every
	// LeaseTTL/3. Default 15 s.
	LeaseTTL time.Duration
	// WaitReplicas, when above 0, makes every state message wait until
	// that many replicas of the room's master confirmed it (Redis WAIT on
	// the connection that published it), for at most WaitTimeout, before
	// the broadcast counts as accepted: a failover to one of them then
	// keeps it. A shortfall is reported as broker.UnreplicatedError; the
	// message was delivered all the same. Actions that are not kept do not
	// wait. Default 0: asynchronous replication, as Redis does.
	WaitReplicas int
	// WaitTimeout bounds each wait for replicas. Default 250 ms; at most
	// 2 s, below the client's read timeout.
	WaitTimeout time.Duration
	// Logger receives outages, recoveries and lost streams. Default
	// slog.Default().
	Logger *slog.Logger
}

// MaxWaitTimeout is the longest Options.WaitTimeout: the wait shares the
// client's read timeout (3 s) with the script before it.
const MaxWaitTimeout = 2 * time.Second

func (o Options) withDefaults() Options {
	if o.KeyPrefix == "" {
		o.KeyPrefix = "rtb:"
	}
	if o.IdleTTL <= 0 {
		o.IdleTTL = 24 * time.Hour
	}
	if o.LeaseTTL <= 0 {
		o.LeaseTTL = 15 * time.Second
	}
	if o.ClosedTTL <= 0 {
		o.ClosedTTL = max(time.Minute, 4*o.LeaseTTL)
	}
	if o.WaitTimeout <= 0 {
		o.WaitTimeout = 250 * time.Millisecond
	}
	o.WaitTimeout = min(o.WaitTimeout, MaxWaitTimeout)
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Broker is the Redis room engine: one per node. Its methods are safe for
// concurrent use. The zero value is not usable: call New or Open.
type Broker struct {
	client     goredis.UniversalClient
	cluster    *goredis.ClusterClient // client, when it is a Redis Cluster's; else nil
	ownsClient bool
	opts       Options
	node       string // this node's id in leases and viewer counts
	log        *slog.Logger

	// single is the pub/sub connection of a single Redis; a cluster has one
	// per master in shards, guarded by mu. See streamConn.
	single *streamConn
	shards map[string]*streamConn // by master address
	// rehomeNow wakes, in a cluster, the goroutine that subscribes rooms
	// again after their connection failed (see rehome).
	rehomeNow chan struct{}
	// subCmds orders SUBSCRIBE and UNSUBSCRIBE commands with the changes to
	// rooms they stand for, so that Redis sees them in the same order.
	subCmds sync.Mutex

	// owned holds the rooms this node owns or released, with the copy of
	// each that restores it when Redis loses it; it has its own lock.
	owned *ownedRooms

	renderer atomic.Pointer[broker.Renderer] // of owner news; nil: none is published

	// listed is the last room list, which Rooms serves (see list.go); it has
	// its own lock.
	listed roomCache

	mu       sync.Mutex
	rooms    map[string]*roomSub                  // by channel name
	unclosed map[string]string                    // rooms whose CloseRoom failed, retried: who closed them
	counts   map[string]map[broker.Subscriber]int // by room: viewers per subscriber

	// heartbeatUntil is when this node's last heartbeat goes stale, as far
	// as it knows (unix ns); 0 makes the next call that needs it renew it.
	heartbeatUntil atomic.Int64

	down      atomic.Bool // the pub/sub connection (in a cluster: one of them) is lost
	downSince time.Time   // guarded by mu
	// noOrphansUntil is, after an outage, when this node may again close
	// rooms whose lease expired: their owners' nodes first get a lease
	// period to renew leases that ran out while Redis was unreachable.
	noOrphansUntil time.Time // guarded by mu
	outages        atomic.Uint64
	gaps           atomic.Uint64
	restored       atomic.Uint64

	// flights shares full snapshot reads between concurrent joins.
	flights snapshotFlights
	// ctx ends when the engine closes: the work no caller owns (shared
	// snapshot reads) runs on it.
	ctx     context.Context
	stopCtx context.CancelFunc

	// kick makes the upkeep loop run at once: when the pub/sub connection
	// comes back, so that rooms Redis lost are restored before viewers'
	// rejoins give up on them.
	kick chan struct{}
	// graceEnded receives rooms released here whose grace just ran out, for
	// the upkeep loop to close them at once rather than at its next round.
	graceEnded chan string
	done       chan struct{}
	wg         sync.WaitGroup
}

var (
	_ broker.Broker             = (*Broker)(nil)
	_ broker.Checker            = (*Broker)(nil)
	_ broker.OwnerNewsPublisher = (*Broker)(nil)
	_ broker.OpenRoomCloser     = (*Broker)(nil)
)

// New returns an engine on client, which stays the caller's to close after
// the engine's Close: a *goredis.Client of a single Redis or of the master
// Sentinels name, or a *goredis.ClusterClient of a Redis Cluster (7 or
// later: rooms use sharded pub/sub). Give the client MaxRetries -1 (see
// Open) unless a broadcast published twice is acceptable. It starts the
// engine's pub/sub reader and its lease and viewer-count upkeep.
func New(client goredis.UniversalClient, opts Options) *Broker {
	opts = opts.withDefaults()
	b := &Broker{
		client:     client,
		opts:       opts,
		node:       uuid.NewString(),
		log:        opts.Logger.With("engine", "redis"),
		rooms:      map[string]*roomSub{},
		owned:      newOwnedRooms(),
		unclosed:   map[string]string{},
		counts:     map[string]map[broker.Subscriber]int{},
		kick:       make(chan struct{}, 1),
		graceEnded: make(chan string, 64),
		done:       make(chan struct{}),
	}
	b.flights.rooms = map[string]*roomFlights{}
	b.ctx, b.stopCtx = context.WithCancel(context.Background())
	b.cluster, _ = client.(*goredis.ClusterClient)
	if b.cluster == nil {
		b.single = &streamConn{pubsub: client.Subscribe(context.Background()), inflight: map[string]int{}}
		b.wg.Add(1)
		go b.receive(b.single)
	} else {
		b.shards = map[string]*streamConn{}
		b.rehomeNow = make(chan struct{}, 1)
		b.wg.Add(1)
		go b.rehome()
	}
	b.wg.Add(1)
	go b.maintain()
	return b
}

// Open connects to the Redis server at url (redis://[user:password@]host:port/db,
// or rediss:// for TLS), or to the master that Redis Sentinels name
// (redis-sentinel://[:password@]host:port[,host:port...]/master_name[?db=N],
// see NewClient), and returns an engine that closes the connection with its
// Close. It fails when the url is invalid or the server does not answer a
// PING.
//
// Unless the url sets max_retries, a failed command is not retried: a
// broadcast whose reply was lost may have been published, and retrying it
// would publish it twice. The owner gets `unavailable` and decides.
func Open(ctx context.Context, url string, opts Options) (*Broker, error) {
	client, err := NewClient(url)
	if err != nil {
		return nil, fmt.Errorf("redis engine: url %q: %w", url, err)
	}
	if err := client.Ping(ctx).Err(); err != nil {
		_ = client.Close()
		return nil, fmt.Errorf("redis engine: no answer from %s: %w: %w", describe(url), broker.ErrUnavailable, err)
	}
	b := New(client, opts)
	b.ownsClient = true
	return b, nil
}

// Close stops the engine's goroutines and its pub/sub connection, and the
// Redis client when Open made it. It closes no rooms: call it after the
// server has drained. The other nodes learn at once that this one stopped:
// the viewers of rooms whose owners were still connected here are told the
// owner is away, and those rooms close when their leases expire unless the
// owners resume them elsewhere.
func (b *Broker) Close() error {
	select {
	case <-b.done:
		return nil
	default:
	}
	b.mu.Lock()
	b.flights.mu.Lock()
	close(b.done) // under the locks: streamFor makes no connection, joinFlight no read, after this
	b.flights.mu.Unlock()
	b.mu.Unlock()
	b.stopCtx()
	var err error
	for _, c := range b.streams() {
		err = errors.Join(err, c.pubsub.Close())
	}
	b.wg.Wait()
	b.markStopped()
	if b.ownsClient {
		err = errors.Join(err, b.client.Close())
	}
	return err
}

// Ready reports whether the engine can serve rooms: its pub/sub connection
// is up (in a cluster: every room's) and Redis answers a PING (in a
// cluster: every master).
func (b *Broker) Ready(ctx context.Context) error {
	if b.down.Load() {
		return fmt.Errorf("redis engine: %w: pub/sub connection lost", broker.ErrUnavailable)
	}
	if b.cluster != nil {
		err := b.cluster.ForEachMaster(ctx, func(ctx context.Context, master *goredis.Client) error {
			if err := master.Ping(ctx).Err(); err != nil {
				return fmt.Errorf("master %s: %w", master.Options().Addr, err)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("redis engine: ping: %w: %w", broker.ErrUnavailable, err)
		}
		return nil
	}
	if err := b.client.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis engine: ping: %w: %w", broker.ErrUnavailable, err)
	}
	return nil
}

// Stats counts what went wrong since the engine started.
type Stats struct {
	Outages  uint64 // times the pub/sub connection was lost
	Gaps     uint64 // rooms whose stream was interrupted (Lost was called)
	Restored uint64 // rooms put back into a Redis that lost them
}

// Stats returns the engine's counters.
func (b *Broker) Stats() Stats {
	return Stats{Outages: b.outages.Load(), Gaps: b.gaps.Load(), Restored: b.restored.Load()}
}

// roomKeys names a room's keys and channel; see scripts.go.
type roomKeys struct {
	meta, state, order, viewers, lease, history, channel string
}

func (b *Broker) keys(room string) roomKeys {
	base := b.opts.KeyPrefix + "{" + room + "}:"
	return roomKeys{
		meta: base + "meta", state: base + "state", order: base + "order",
		viewers: base + "viewers", lease: base + "lease", history: base + "history",
		channel: base + "stream",
	}
}

// unavailable wraps an error reaching Redis.
func unavailable(op, room string, err error) error {
	return fmt.Errorf("redis engine: %s room %q: %w: %w", op, room, broker.ErrUnavailable, err)
}

func ms(d time.Duration) int64 { return d.Milliseconds() }

// flag is how scripts take a boolean argument.
func flag(on bool) string {
	if on {
		return "1"
	}
	return "0"
}

func (b *Broker) CreateRoom(ctx context.Context, room string, owner broker.Owner) error {
	if err := b.ensureHeartbeat(ctx); err != nil {
		return err
	}
	k := b.keys(room)
	created, err := b.run(ctx, createScript, []string{k.meta, k.lease},
		b.node, ms(b.opts.LeaseTTL), ms(b.opts.IdleTTL), owner.KeyHash, ms(max(owner.Grace, 0)), flag(owner.Held)).Int()
	if err != nil {
		return unavailable("create", room, err)
	}
	if created == 0 {
		return broker.ErrRoomExists
	}
	b.owned.created(room, owner)
	return nil
}

// ClaimOwner claims the room for this node, then reads the room into its
// copy, so that this node can restore the room should Redis lose it.
func (b *Broker) ClaimOwner(ctx context.Context, room, keyHash string) (uint64, error) {
	var epoch uint64
	err := b.orRestore(ctx, room, 0, "claim", func() (err error) {
		epoch, err = b.claim(ctx, room, keyHash)
		return err
	})
	if err != nil {
		return 0, err
	}
	b.owned.claimed(room, epoch, keyHash, b.readCopy(ctx, room))
	return epoch, nil
}

func (b *Broker) claim(ctx context.Context, room, keyHash string) (uint64, error) {
	if err := b.ensureHeartbeat(ctx); err != nil {
		return 0, err
	}
	k := b.keys(room)
	epoch, err := b.run(ctx, claimScript, []string{k.meta, k.lease}, keyHash, b.node, ms(b.opts.LeaseTTL), k.channel).Int64()
	if err != nil {
		return 0, unavailable("claim", room, err)
	}
	if err := ownerResult(epoch); err != nil {
		return 0, err
	}
	return uint64(epoch), nil
}

// ownerResult is the error of a claimScript or releaseScript result.
func ownerResult(res int64) error {
	switch res {
	case ownerNotOpen:
		return broker.ErrRoomNotFound
	case ownerRefused:
		return broker.ErrNotOwner
	case ownerMissing:
		return errMissing
	}
	return nil
}

// ReleaseOwner starts the room's grace in Redis, where every node sees it:
// the room closes when its lease, now "away", expires unless it is claimed.
// This node stops renewing the lease, and closes the room itself then, in
// case no other node has it. When Redis cannot be reached, the lease is not
// renewed either: the room then closes once it runs out, unless claimed.
func (b *Broker) ReleaseOwner(ctx context.Context, room string, epoch uint64) error {
	err := b.orRestore(ctx, room, epoch, "release", func() error { return b.release(ctx, room, epoch) })
	switch {
	case err == nil:
		if grace := b.owned.released(room, epoch, time.Now()); grace > 0 {
			b.atGraceEnd(room, grace)
		} else {
			b.closeIfAbandoned(ctx, room, epoch) // no grace: no lease left, it closes now
		}
	case errors.Is(err, broker.ErrUnavailable):
		b.owned.released(room, epoch, time.Now())
	case errors.Is(err, broker.ErrRoomNotFound), errors.Is(err, broker.ErrNotOwner):
		b.owned.dropAt(room, epoch)
	}
	return err
}

// atGraceEnd hands room to the upkeep loop once its grace has run out: the
// lease Redis holds for it then has expired. When the loop is busy, its next
// round closes the room instead.
func (b *Broker) atGraceEnd(room string, grace time.Duration) {
	time.AfterFunc(grace+graceSlack, func() {
		select {
		case b.graceEnded <- room:
		default:
		}
	})
}

// graceSlack covers the difference between Redis's clock and this node's.
const graceSlack = 20 * time.Millisecond

func (b *Broker) release(ctx context.Context, room string, epoch uint64) error {
	k := b.keys(room)
	res, err := b.run(ctx, releaseScript, []string{k.meta, k.lease}, epoch).Int64()
	if err != nil {
		return unavailable("release", room, err)
	}
	return ownerResult(res)
}

// Publish publishes p, and keeps what it published in this node's copy of
// the room when it has one. When Redis lost the room, the node that has its
// copy restores it and publishes then.
func (b *Broker) Publish(ctx context.Context, room string, p broker.Publication) (seq uint64, err error) {
	err = b.orRestore(ctx, room, p.OwnerEpoch, "publish to", func() (err error) {
		seq, err = b.publish(ctx, room, p)
		return err
	})
	var unreplicated *broker.UnreplicatedError
	if err != nil && !errors.As(err, &unreplicated) {
		if usesPubSeq(err) {
			b.owned.published(room, 0, p)
		}
		return 0, err
	}
	b.owned.published(room, seq, p)
	return seq, err
}

// usesPubSeq reports whether a publication's refusal still used up its
// PubSeq (see broker.Publication.PubSeq).
func usesPubSeq(err error) bool {
	var full *broker.StateFullError
	var lost *broker.LostWritesError
	return errors.As(err, &full) || errors.As(err, &lost)
}

func (b *Broker) publish(ctx context.Context, room string, p broker.Publication) (uint64, error) {
	k := b.keys(room)
	keys := []string{k.meta, k.state, k.order, k.viewers, k.lease, k.history}
	args := []any{p.StateKey, p.Body, p.MaxStateMessages, p.MaxStateBytes, ms(b.opts.IdleTTL), k.channel,
		p.MaxHistoryMessages, p.MaxHistoryBytes, p.OwnerEpoch, flag(p.ClearState), b.owned.floor(room, p.OwnerEpoch),
		p.PubSeq, flag(p.Void), p.Conflate}
	wait := p.StateKey != "" && b.opts.WaitReplicas > 0
	var cmd *goredis.Cmd
	var replicas int
	if wait {
		var err error
		if cmd, replicas, err = b.runAndWait(ctx, publishScript, keys, args...); err != nil {
			return 0, unavailable("publish to", room, err)
		}
	} else {
		cmd = b.run(ctx, publishScript, keys, args...)
	}
	seq, err := b.publishResult(room, p, cmd)
	if err == nil && wait && replicas < b.opts.WaitReplicas {
		return seq, &broker.UnreplicatedError{Seq: seq, Replicas: replicas, Want: b.opts.WaitReplicas}
	}
	return seq, err
}

// publishResult reads publishScript's reply.
func (b *Broker) publishResult(room string, p broker.Publication, cmd *goredis.Cmd) (uint64, error) {
	reply, err := cmd.Result()
	if err != nil {
		return 0, unavailable("publish to", room, err)
	}
	if pair, ok := reply.([]any); ok && len(pair) == 2 {
		code, _ := pair[0].(int64)
		n, _ := pair[1].(int64)
		switch code {
		case publishRepeat:
			return 0, &broker.PubSeqRepeatError{PubSeq: p.PubSeq, Last: uint64(n)}
		case publishGap:
			return 0, &broker.PubSeqGapError{PubSeq: p.PubSeq, Last: uint64(n)}
		}
		b.gaps.Add(1)
		b.log.Warn("redis lost the room's latest messages; the owner is told", "room", room, "survived", n)
		return 0, &broker.LostWritesError{Survived: uint64(n)}
	}
	res, ok := reply.(int64)
	if !ok {
		return 0, unavailable("publish to", room, fmt.Errorf("unexpected reply %v", reply))
	}
	switch res {
	case publishNotOpen:
		return 0, broker.ErrRoomNotFound
	case publishTooManyState:
		return 0, &broker.StateFullError{Messages: p.MaxStateMessages}
	case publishTooLargeState:
		return 0, &broker.StateFullError{Bytes: p.MaxStateBytes}
	case publishNotOwner:
		return 0, broker.ErrNotOwner
	case publishMissing:
		return 0, errMissing
	}
	return uint64(res), nil
}

// CloseRoom closes the room. When Redis cannot be reached, the engine stops
// renewing the room's lease and retries the close until it is done, so
// that a room whose owner left during an outage closes soon after it.
func (b *Broker) CloseRoom(ctx context.Context, room string) error {
	_, err := b.CloseOpenRoom(ctx, room, "")
	return err
}

// CloseOpenRoom is CloseRoom, and reports whether the room was open; every
// node's subscribers are told who closed it (broker.OpenRoomCloser).
func (b *Broker) CloseOpenRoom(ctx context.Context, room, by string) (wasOpen bool, err error) {
	reply, err := b.close(ctx, room, false, 0, by)
	b.owned.drop(room)
	b.listed.forget()
	b.mu.Lock()
	defer b.mu.Unlock()
	if err != nil {
		b.unclosed[room] = by
		return false, err
	}
	delete(b.unclosed, room)
	return reply.result == closeDone, nil
}

// closeReply is closeScript's reply.
type closeReply struct {
	result int64  // one of the close* results
	seq    uint64 // the close's, with closeDone; the earlier one, with closeNotOpen
	holder string // the lease's value (a node id or "away"), with closeOwnerAlive
}

// close runs closeScript; onlyOrphaned closes the room only when its
// owner's lease has expired, and an epoch other than 0 only while the
// owner holds it; by is who closed it, for the subscribers.
func (b *Broker) close(ctx context.Context, room string, onlyOrphaned bool, epoch uint64, by string) (closeReply, error) {
	keys, args := b.closeCall(room, onlyOrphaned, epoch, by)
	return closeResult(room, b.run(ctx, closeScript, keys, args...))
}

// closeCall is closeScript's keys and arguments for close.
func (b *Broker) closeCall(room string, onlyOrphaned bool, epoch uint64, by string) ([]string, []any) {
	k := b.keys(room)
	return []string{k.meta, k.state, k.order, k.viewers, k.lease, k.history},
		[]any{ms(b.opts.ClosedTTL), k.channel, flag(onlyOrphaned), epoch, by}
}

// closeResult decodes closeScript's reply about room.
func closeResult(room string, cmd *goredis.Cmd) (closeReply, error) {
	res, err := cmd.Slice()
	if err != nil {
		return closeReply{}, unavailable("close", room, err)
	}
	reply, ok := parseClose(res)
	if !ok {
		return closeReply{}, fmt.Errorf("redis engine: close room %q: unexpected script reply %v", room, res)
	}
	return reply, nil
}

// parseClose decodes closeScript's {result, seq[, holder]}.
func parseClose(res []any) (closeReply, bool) {
	if len(res) != 2 && len(res) != 3 {
		return closeReply{}, false
	}
	result, ok := res[0].(int64)
	seq, seqOK := res[1].(int64)
	reply := closeReply{result: result, seq: uint64(seq)}
	if len(res) == 3 {
		var holderOK bool
		reply.holder, holderOK = res[2].(string)
		ok = ok && holderOK
	}
	return reply, ok && seqOK
}

// Snapshot reads the room's snapshot. When Redis lost the room, the node
// that has its copy restores it first; other nodes say the engine is
// unavailable for as long as the owner's node may still restore it.
//
// Full snapshots (lastSeen nil) are read once for the joins that ask for
// one at the same time (see snapshotFlights): each gets slices of its own,
// which it may change, over bodies they share, which none may change.
func (b *Broker) Snapshot(ctx context.Context, room string, lastSeen *uint64) (broker.Snapshot, error) {
	if lastSeen == nil {
		return b.sharedSnapshot(ctx, room)
	}
	return b.snapshotOrRestore(ctx, room, lastSeen)
}

// snapshotOrRestore reads the room's snapshot, restoring the room first
// when Redis lost it and this node has its copy.
func (b *Broker) snapshotOrRestore(ctx context.Context, room string, lastSeen *uint64) (snap broker.Snapshot, err error) {
	err = b.orRestore(ctx, room, 0, "snapshot of", func() (err error) {
		snap, err = b.snapshot(ctx, room, lastSeen)
		return err
	})
	return snap, err
}

func (b *Broker) snapshot(ctx context.Context, room string, lastSeen *uint64) (broker.Snapshot, error) {
	k := b.keys(room)
	after := "" // no recovery
	if lastSeen != nil {
		after = strconv.FormatUint(*lastSeen, 10)
	}
	reply, err := b.run(ctx, snapshotScript, []string{k.meta, k.state, k.order, k.history, k.lease}, after).StringSlice()
	if errors.Is(err, goredis.Nil) {
		return broker.Snapshot{}, broker.ErrRoomNotFound
	}
	if err != nil {
		return broker.Snapshot{}, unavailable("snapshot of", room, err)
	}
	if len(reply) == 0 {
		return broker.Snapshot{}, errMissing
	}
	return parseSnapshot(room, reply)
}

// parseSnapshot decodes snapshotScript's {seq, recovered, ownerAway, pubseq, seq1, body1, ...}.
func parseSnapshot(room string, reply []string) (broker.Snapshot, error) {
	bad := func(err error) (broker.Snapshot, error) {
		return broker.Snapshot{}, fmt.Errorf("redis engine: snapshot of room %q: malformed script reply: %w", room, err)
	}
	if len(reply) < 4 || len(reply)%2 != 0 {
		return bad(fmt.Errorf("%d elements", len(reply)))
	}
	seq, err := strconv.ParseUint(reply[0], 10, 64)
	if err != nil {
		return bad(err)
	}
	pubSeq, err := strconv.ParseUint(reply[3], 10, 64)
	if err != nil {
		return bad(err)
	}
	entries := make([]broker.Entry, 0, len(reply)/2-2)
	for i := 4; i < len(reply); i += 2 {
		entrySeq, err := strconv.ParseUint(reply[i], 10, 64)
		if err != nil {
			return bad(err)
		}
		entries = append(entries, broker.Entry{Seq: entrySeq, Body: []byte(reply[i+1])})
	}
	away := reply[2] == "1"
	if reply[1] == "1" {
		return broker.Snapshot{Seq: seq, Recovered: true, Missed: entries, OwnerAway: away, PubSeq: pubSeq}, nil
	}
	return broker.Snapshot{Seq: seq, State: entries, OwnerAway: away, PubSeq: pubSeq}, nil
}

func (b *Broker) SetViewers(ctx context.Context, room string, sub broker.Subscriber, count int) error {
	b.mu.Lock()
	counts := b.counts[room]
	if counts == nil {
		counts = map[broker.Subscriber]int{}
		b.counts[room] = counts
	}
	counts[sub] = count
	nodeCount := sum(counts)
	b.mu.Unlock()
	return b.reportViewers(ctx, room, nodeCount, false)
}

// reportViewers stores this node's viewer count of room and publishes the
// room's total: always, or with onlyIfChanged only when it changed.
func (b *Broker) reportViewers(ctx context.Context, room string, nodeCount int, onlyIfChanged bool) error {
	keys, args := b.viewersCall(room, nodeCount, onlyIfChanged)
	return viewersResult(room, b.run(ctx, viewersScript, keys, args...))
}

// viewersCall is viewersScript's keys and arguments for reportViewers.
func (b *Broker) viewersCall(room string, nodeCount int, onlyIfChanged bool) ([]string, []any) {
	k := b.keys(room)
	return []string{k.meta, k.viewers},
		[]any{b.node, nodeCount, ms(b.opts.LeaseTTL), k.channel, flag(onlyIfChanged), ms(b.opts.IdleTTL)}
}

// viewersResult is the error of viewersScript's reply about room.
func viewersResult(room string, cmd *goredis.Cmd) error {
	total, err := cmd.Int64()
	if err != nil {
		return unavailable("count viewers of", room, err)
	}
	if total < 0 {
		return broker.ErrRoomNotFound
	}
	return nil
}

func sum(counts map[broker.Subscriber]int) int {
	n := 0
	for _, c := range counts {
		n += c
	}
	return n
}
