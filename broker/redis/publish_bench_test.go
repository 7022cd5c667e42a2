package redis_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/rtbroadcaster/rtbroadcaster/broker"
	"github.com/rtbroadcaster/rtbroadcaster/broker/redis"
	"github.com/rtbroadcaster/rtbroadcaster/broker/redis/redistest"
)

// BenchmarkPublishState times one state message, published and answered:
// on a redis-server of the benchmark's own, and on a test cluster (three
// masters, three replicas, all on this machine), there as Redis
// replicates, asynchronously, and waiting for one replica
// (Options.WaitReplicas 1) — the latency the durability costs.
//
//	go test -run '^$' -bench PublishState -count 6 ./broker/redis/
func BenchmarkPublishState(b *testing.B) {
	single := redistest.StartServer(b, redistest.NoPersistence)
	cluster := redistest.StartCluster(b)
	for _, bench := range []struct {
		name, url string
		wait      int
	}{{"one-redis", single.URL(), 0}, {"cluster-async", cluster.URL(), 0}, {"cluster-wait-1-replica", cluster.URL(), 1}} {
		b.Run(bench.name, func(b *testing.B) {
			opts := redis.Options{KeyPrefix: redistest.Prefix(b, bench.url), WaitReplicas: bench.wait, Logger: quiet()}
			engine := redistest.Engine(b, bench.url, opts)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			room := uuid.NewString()
			if err := engine.CreateRoom(ctx, room, broker.Owner{KeyHash: "hash"}); err != nil {
				b.Fatal(err)
			}
			p := statePub("k", `{"funcKey":"slide","funcParams":["12"]}`)
			b.ResetTimer()
			for b.Loop() {
				if _, err := engine.Publish(ctx, room, p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
