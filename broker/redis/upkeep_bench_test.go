package redis_test

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	goredis "github.com/redis/go-redis/v9"
	"github.com/rtbroadcaster/rtbroadcaster/broker"
	"github.com/rtbroadcaster/rtbroadcaster/broker/redis"
	"github.com/rtbroadcaster/rtbroadcaster/broker/redis/redistest"
)

// BenchmarkUpkeep times one upkeep round of a node that owns n rooms,
// subscribes to each and counts 10 viewers in each: a school's 2,000
// classrooms on one node, say. Besides ns/op it reports the commands the
// round sends and the round trips it waits for (a pipeline is one).
//
//	go test -run '^$' -bench Upkeep -count 6 ./broker/redis/
func BenchmarkUpkeep(b *testing.B) {
	for _, n := range []int{100, 2000} {
		b.Run(strconv.Itoa(n)+"-rooms", func(b *testing.B) {
			redisURL := redistest.URL(b)
			counter := &commandCounter{}
			client := goredis.NewClient(redistest.Options(b, redisURL))
			client.AddHook(counter)
			b.Cleanup(func() { _ = client.Close() })
			// A lease so long that the engine's own rounds stay out of the way.
			engine := redis.New(client, redis.Options{KeyPrefix: redistest.Prefix(b, redisURL), LeaseTTL: time.Hour, Logger: quiet()})
			b.Cleanup(func() { _ = engine.Close() })
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			for range n {
				room, sub := uuid.NewString(), &nopSubscriber{}
				if err := engine.CreateRoom(ctx, room, broker.Owner{KeyHash: "hash", Grace: time.Minute}); err != nil {
					b.Fatal(err)
				}
				if err := engine.Subscribe(ctx, room, sub); err != nil {
					b.Fatal(err)
				}
				if err := engine.SetViewers(ctx, room, sub, 10); err != nil {
					b.Fatal(err)
				}
			}
			engine.Upkeep() // loads the scripts, as every round after the first finds them
			counter.reset()
			for b.Loop() {
				engine.Upkeep()
			}
			b.ReportMetric(float64(counter.commands.Load())/float64(b.N), "cmds/op")
			b.ReportMetric(float64(counter.roundTrips.Load())/float64(b.N), "roundtrips/op")
		})
	}
}

// commandCounter is a go-redis hook that counts the commands a client
// sends and the round trips it waits for: one per command, or per pipeline.
type commandCounter struct {
	commands, roundTrips atomic.Int64
}

func (c *commandCounter) reset() {
	c.commands.Store(0)
	c.roundTrips.Store(0)
}

func (c *commandCounter) DialHook(next goredis.DialHook) goredis.DialHook { return next }

func (c *commandCounter) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		c.commands.Add(1)
		c.roundTrips.Add(1)
		return next(ctx, cmd)
	}
}

func (c *commandCounter) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []goredis.Cmder) error {
		c.commands.Add(int64(len(cmds)))
		c.roundTrips.Add(1)
		return next(ctx, cmds)
	}
}

// nopSubscriber receives a room's stream and drops it. It is not empty, so
// that each one has an address of its own.
type nopSubscriber struct{ _ byte }

func (*nopSubscriber) Deliver(uint64, []byte) {}
func (*nopSubscriber) Closed(uint64)          {}
func (*nopSubscriber) Viewers(int)            {}
func (*nopSubscriber) Lost()                  {}
func (*nopSubscriber) OwnerClaimed(uint64)    {}
