package redis_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/rtbroadcaster/rtbroadcaster/broker"
	"github.com/rtbroadcaster/rtbroadcaster/broker/redis"
	"github.com/rtbroadcaster/rtbroadcaster/broker/redis/redistest"
)

// TestWaitReplicas: with WaitReplicas 1, a state message returns once the
// room master's replica has it; without a replica to wait for (there is
// none, or it is stopped), it is delivered all the same and reported as an
// UnreplicatedError. Actions do not wait.
func TestWaitReplicas(t *testing.T) {
	t.Run("no replica", func(t *testing.T) {
		srv := redistest.StartServer(t, redistest.NoPersistence)
		opts := redis.Options{WaitReplicas: 1, WaitTimeout: 50 * time.Millisecond, Logger: quiet()}
		owner, other := redistest.Engine(t, srv.URL(), opts), redistest.Engine(t, srv.URL(), opts)
		room, sub := subscribedRoom(t, owner, other, broker.Owner{KeyHash: "hash"})
		seq, err := owner.Publish(ctx(t), room, statePub("a", `{"a":1}`))
		var unreplicated *broker.UnreplicatedError
		if !errors.As(err, &unreplicated) || *unreplicated != (broker.UnreplicatedError{Seq: 1, Replicas: 0, Want: 1}) || seq != 1 {
			t.Fatalf("state message with no replica: seq %d, %v; want seq 1 and an UnreplicatedError", seq, err)
		}
		if seq := mustPublish(t, owner, room, actionPub(`{"x":1}`)); seq != 2 {
			t.Fatalf("action numbered %d, want 2", seq)
		}
		waitDelivered(t, sub, 2) // the unreplicated state message was delivered, and kept
		snap, err := other.Snapshot(ctx(t), room, nil)
		if err != nil || entriesString(snap.State) != `1:{"a":1} ` {
			t.Fatalf("snapshot %+v, %v; want the state message kept", snap, err)
		}
	})
	t.Run("cluster", func(t *testing.T) {
		cluster := redistest.StartCluster(t)
		opts := redis.Options{KeyPrefix: redistest.Prefix(t, cluster.URL()), WaitReplicas: 1, Logger: quiet()}
		owner := redistest.Engine(t, cluster.URL(), opts)
		room, _ := subscribedRoom(t, owner, owner, broker.Owner{KeyHash: "hash"})
		master := cluster.MasterOf(room)
		key := opts.KeyPrefix + "{" + room + "}:state"
		for i := range 20 {
			body := `{"n":` + strconv.Itoa(i) + `}`
			mustPublish(t, owner, room, statePub("k", body))
			// Right after the publish returns, the replica has it.
			if _, got := fromReplica(t, cluster, master, key, "k"); got != body {
				t.Fatalf("replica has %q right after publish %d returned, want %q", got, i, body)
			}
		}
		replica, _ := fromReplica(t, cluster, master, key, "k")
		replica.Stop()
		start := time.Now()
		_, err := owner.Publish(ctx(t), room, statePub("k", `{"stopped":1}`))
		waited := time.Since(start)
		replica.Continue()
		var unreplicated *broker.UnreplicatedError
		if !errors.As(err, &unreplicated) || unreplicated.Replicas != 0 || waited < 250*time.Millisecond {
			t.Fatalf("state message while the replica is stopped: %v after %v; want an UnreplicatedError after the 250 ms wait", err, waited)
		}
		mustPublish(t, owner, room, statePub("k", `{"back":1}`))
	})
}

// fromReplica reads a hash field from the node that replicates master,
// with READONLY, which lets a cluster replica answer reads of its master's
// slots (other nodes answer MOVED), and returns that node and the value.
func fromReplica(t *testing.T, cluster *redistest.Cluster, master *redistest.Server, key, field string) (*redistest.Server, string) {
	t.Helper()
	for _, node := range cluster.Nodes {
		if node == master {
			continue
		}
		client := goredis.NewClient(&goredis.Options{Addr: node.Addr, MaxRetries: -1,
			OnConnect: func(ctx context.Context, cn *goredis.Conn) error { return cn.ReadOnly(ctx).Err() }})
		got, err := client.HGet(ctx(t), key, field).Result()
		_ = client.Close()
		if err == nil || errors.Is(err, goredis.Nil) {
			return node, got
		}
		if !goredis.HasErrorPrefix(err, "MOVED") {
			t.Fatalf("read %s from %s: %v", key, node.Addr, err)
		}
	}
	t.Fatalf("no replica of %s serves %s", master.Addr, key)
	return nil, ""
}
