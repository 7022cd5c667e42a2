package redis_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	goredis "github.com/redis/go-redis/v9"
	"github.com/rtbroadcaster/rtbroadcaster/broker"
	"github.com/rtbroadcaster/rtbroadcaster/broker/redis"
	"github.com/rtbroadcaster/rtbroadcaster/broker/redis/redistest"
)

// TestUpkeepBatchesFailThenScriptsLost: upkeep sends its scripts in
// pipelined batches. A round whose every batch fails changes nothing and
// loses track of no room; then Redis forgets the engine's scripts (it
// restarted, or its script cache was flushed) but keeps the rooms, and the
// next rounds load them again: every lease and viewer count is renewed, and
// every room whose lease ran out is closed, in every batch.
func TestUpkeepBatchesFailThenScriptsLost(t *testing.T) {
	const rooms = 300 // more than one batch
	srv := redistest.StartServer(t, redistest.NoPersistence)
	opts := redis.Options{LeaseTTL: time.Minute, Logger: quiet()} // the test drives every round
	owner, ownerPipes := failingEngine(t, srv.URL(), opts)
	other, otherPipes := failingEngine(t, srv.URL(), opts)
	admin := goredis.NewClient(&goredis.Options{Addr: srv.Addr})
	defer admin.Close()
	key := func(room, name string) string { return "rtb:{" + room + "}:" + name }
	orphaned := func(i int) bool { return i%3 == 0 } // its lease runs out: other closes it

	ids, subs := make([]string, rooms), make([]*events, rooms)
	for i := range ids {
		ids[i], subs[i] = subscribedRoom(t, owner, other, broker.Owner{})
		if err := other.SetViewers(ctx(t), ids[i], subs[i], 10); err != nil {
			t.Fatal(err)
		}
	}
	now, err := admin.Time(ctx(t)).Result()
	if err != nil {
		t.Fatal(err)
	}
	soon := strconv.FormatInt(now.Add(5*time.Second).UnixMilli(), 10)
	for i, room := range ids {
		counts, err := admin.HGetAll(ctx(t), key(room, "viewers")).Result()
		if err != nil || len(counts) != 1 {
			t.Fatalf("viewer counts of room %d: %v, %v; want other's alone", i, counts, err)
		}
		for node := range counts {
			admin.HSet(ctx(t), key(room, "viewers"), node, "10:"+soon)
		}
		if orphaned(i) {
			admin.Del(ctx(t), key(room, "lease"))
		} else {
			admin.PExpire(ctx(t), key(room, "lease"), 5*time.Second)
		}
	}

	ownerPipes.failing.Store(true)
	otherPipes.failing.Store(true)
	other.Upkeep()
	owner.Upkeep()
	// other: two batches of owner checks and two of viewer counts; owner:
	// two of leases.
	if o, n := otherPipes.failed.Load(), ownerPipes.failed.Load(); o < 4 || n < 2 {
		t.Fatalf("failed pipelines: %d on other, %d on owner; want at least 4 and 2", o, n)
	}
	for i, sub := range subs {
		select {
		case seq := <-sub.closed:
			t.Fatalf("room %d: Closed(%d) in a round whose every batch failed", i, seq)
		default:
		}
	}
	ownerPipes.failing.Store(false)
	otherPipes.failing.Store(false)

	if err := admin.ScriptFlush(ctx(t)).Err(); err != nil {
		t.Fatal(err)
	}
	other.Upkeep()
	if err := admin.ScriptFlush(ctx(t)).Err(); err != nil {
		t.Fatal(err)
	}
	owner.Upkeep()

	for i, sub := range subs {
		if !orphaned(i) {
			continue
		}
		select {
		case <-sub.closed:
		case <-time.After(10 * time.Second):
			t.Fatalf("room %d, whose lease ran out, still open after an upkeep round", i)
		}
	}
	now, err = admin.Time(ctx(t)).Result()
	if err != nil {
		t.Fatal(err)
	}
	for i, room := range ids {
		if orphaned(i) {
			continue
		}
		select {
		case seq := <-subs[i].closed:
			t.Fatalf("room %d: Closed(%d) although its owner's node renews its lease", i, seq)
		default:
		}
		if left, err := admin.PTTL(ctx(t), key(room, "lease")).Result(); err != nil || left < opts.LeaseTTL/2 {
			t.Fatalf("room %d: lease lasts %v (%v) after the round; want it renewed for %v", i, left, err, opts.LeaseTTL)
		}
		counts, err := admin.HGetAll(ctx(t), key(room, "viewers")).Result()
		if err != nil || len(counts) != 1 {
			t.Fatalf("viewer counts of room %d after the round: %v, %v", i, counts, err)
		}
		for _, v := range counts {
			count, expires, _ := strings.Cut(v, ":")
			ms, _ := strconv.ParseInt(expires, 10, 64)
			if left := time.UnixMilli(ms).Sub(now); count != "10" || left < opts.LeaseTTL/2 {
				t.Fatalf("room %d: viewer count %q lasts %v after the round; want 10 renewed for %v", i, v, left, opts.LeaseTTL)
			}
		}
	}
}

// failingEngine opens an engine on the Redis at url whose pipelines fail, without
// reaching Redis, while the returned hook's failing is set; its single
// commands go through.
func failingEngine(t *testing.T, url string, opts redis.Options) (*redis.Broker, *pipelineFailer) {
	t.Helper()
	hook := &pipelineFailer{}
	client := goredis.NewClient(redistest.Options(t, url))
	client.AddHook(hook)
	t.Cleanup(func() { _ = client.Close() })
	engine := redis.New(client, opts)
	t.Cleanup(func() { _ = engine.Close() })
	return engine, hook
}

// pipelineFailer is a go-redis hook that fails every pipeline, as a lost
// connection would, while failing is set, and counts those it failed.
type pipelineFailer struct {
	failing atomic.Bool
	failed  atomic.Int64
}

var errPipelineFailed = errors.New("pipeline failed (injected by the test)")

func (*pipelineFailer) DialHook(next goredis.DialHook) goredis.DialHook          { return next }
func (*pipelineFailer) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook { return next }

func (f *pipelineFailer) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []goredis.Cmder) error {
		if !f.failing.Load() {
			return next(ctx, cmds)
		}
		f.failed.Add(1)
		for _, cmd := range cmds {
			cmd.SetErr(errPipelineFailed)
		}
		return errPipelineFailed
	}
}

// TestRedisRestartRestoresEveryRoom: Redis restarts without persistence
// under a node that owns more rooms than fit in one batch of its upkeep:
// the node restores them all.
func TestRedisRestartRestoresEveryRoom(t *testing.T) {
	const rooms = 300 // more than one batch
	srv := redistest.StartServer(t, redistest.NoPersistence)
	opts := redis.Options{LeaseTTL: time.Minute, Logger: quiet()}
	owner := redistest.Engine(t, srv.URL(), opts)
	ids := make([]string, rooms)
	for i := range ids {
		ids[i] = uuid.NewString()
		if err := owner.CreateRoom(ctx(t), ids[i], broker.Owner{KeyHash: "hash"}); err != nil {
			t.Fatal(err)
		}
	}
	srv.Kill()
	srv.Start()
	began := time.Now()
	owner.Upkeep()
	t.Logf("an upkeep round after the restart took %v (%d rooms restored so far)", time.Since(began).Round(time.Millisecond), owner.Stats().Restored)
	admin := goredis.NewClient(&goredis.Options{Addr: srv.Addr})
	defer admin.Close()
	for i, room := range ids {
		// Upkeep restores it: no call about the room asks for it meanwhile.
		eventually(t, "room "+strconv.Itoa(i)+" restored", func() error {
			return admin.HGet(ctx(t), "rtb:{"+room+"}:meta", "status").Err()
		})
		if _, err := owner.Publish(ctx(t), room, broker.Publication{Body: []byte(`{}`), OwnerEpoch: 1}); err != nil {
			t.Fatalf("publish to room %d after its restore: %v", i, err)
		}
	}
	if s := owner.Stats(); s.Restored != rooms {
		t.Fatalf("stats %+v, want %d rooms restored", s, rooms)
	}
}
