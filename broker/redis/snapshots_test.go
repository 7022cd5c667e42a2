package redis_test

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/rtbroadcaster/rtbroadcaster/broker"
	"github.com/rtbroadcaster/rtbroadcaster/broker/redis"
	"github.com/rtbroadcaster/rtbroadcaster/broker/redis/redistest"
)

// snapshotCounter is a go-redis hook that counts the calls of the
// snapshot script.
type snapshotCounter struct{ calls atomic.Int64 }

func (c *snapshotCounter) DialHook(next goredis.DialHook) goredis.DialHook { return next }
func (c *snapshotCounter) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return next
}
func (c *snapshotCounter) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		if args := cmd.Args(); len(args) > 1 && args[0] == "evalsha" && args[1] == redis.SnapshotScriptHash {
			c.calls.Add(1)
		}
		return next(ctx, cmd)
	}
}

// TestJoinStormSharesSnapshotReads: 200 joins ask for a room's full
// snapshot at once while its owner publishes. Each gets a snapshot read
// after it asked (its seq is at least the last one delivered before), and
// Redis is read a few times, not 200. Each may clear the entries it got, as
// a viewer's outbox does once it sent them, without emptying another's.
func TestJoinStormSharesSnapshotReads(t *testing.T) {
	redisURL := redistest.URL(t)
	counter := &snapshotCounter{}
	client := goredis.NewClient(redistest.Options(t, redisURL))
	client.AddHook(counter)
	t.Cleanup(func() { _ = client.Close() })
	engine := redis.New(client, redis.Options{KeyPrefix: redistest.Prefix(t, redisURL), Logger: quiet()})
	t.Cleanup(func() { _ = engine.Close() })
	room, sub := subscribedRoom(t, engine, engine, broker.Owner{KeyHash: "hash"})
	for i := range 50 {
		mustPublish(t, engine, room, statePub("k"+strconv.Itoa(i%10), `{"v":`+strconv.Itoa(i)+`}`))
	}
	waitDelivered(t, sub, 50)

	stop := make(chan struct{})
	published := make(chan struct{})
	go func() { // the owner goes on publishing meanwhile
		defer close(published)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := engine.Publish(ctx(t), room, actionPub(`{"n":`+strconv.Itoa(i)+`}`)); err != nil {
				t.Error(err)
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	const joins = 200
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range joins {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			seen := sub.delivered()
			before := seen[len(seen)-1]
			snap, err := engine.Snapshot(ctx(t), room, nil)
			if err != nil || snap.Seq < before || len(snap.State) != 10 {
				t.Errorf("snapshot: seq %d, %d state messages, %v; want seq ≥ %d (delivered before asking) and 10", snap.Seq, len(snap.State), err, before)
			}
			for _, e := range snap.State {
				if e.Seq == 0 || len(e.Body) == 0 {
					t.Errorf("snapshot entry %+v: emptied by another join", e)
				}
			}
			clear(snap.State) // as a viewer's outbox does with the entries it sent
		}()
	}
	close(start)
	wg.Wait()
	close(stop)
	<-published
	reads := counter.calls.Load()
	t.Logf("%d joins, %d snapshot reads", joins, reads)
	if reads > joins/10 {
		t.Errorf("%d snapshot reads for %d concurrent joins: not shared", reads, joins)
	}
}
