package redistest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// Sentinels is a Redis run by Sentinel, of the test's own: a master, one
// replica of it and three Sentinels that monitor it with a quorum of 2,
// each a redis-server on a free loopback port, all killed when the test
// ends. Kill the Master, and after down-after-milliseconds (1 s) the
// Sentinels promote the Replica.
type Sentinels struct {
	t         testing.TB
	Name      string // the master's name, as the Sentinels know it
	Master    *Server
	Replica   *Server
	Sentinels []*Server
}

// StartSentinels starts a master, its replica and three Sentinels, and
// waits until every Sentinel knows the replica and the two other
// Sentinels, so that a failover can be agreed.
func StartSentinels(t testing.TB) *Sentinels {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		unreachable(t, "redis-server is not installed: %v", err)
	}
	s := &Sentinels{t: t, Name: "rtbtest"}
	s.Master = StartServer(t)
	s.Replica = newServer(t)
	host, port, _ := strings.Cut(s.Master.Addr, ":")
	s.Replica.args = []string{"--replicaof", host, port}
	s.Replica.Start()
	t.Cleanup(s.Replica.Kill)
	for range 3 {
		sentinel := newServer(t)
		_, own, _ := strings.Cut(sentinel.Addr, ":")
		conf := strings.Join([]string{
			"port " + own,
			"bind 127.0.0.1",
			"dir " + sentinel.dir,
			"logfile sentinel.log",
			fmt.Sprintf("sentinel monitor %s %s %s 2", s.Name, host, port),
			fmt.Sprintf("sentinel down-after-milliseconds %s 1000", s.Name),
			fmt.Sprintf("sentinel failover-timeout %s 5000", s.Name),
			fmt.Sprintf("sentinel parallel-syncs %s 1", s.Name),
		}, "\n") + "\n"
		if err := os.WriteFile(filepath.Join(sentinel.dir, "sentinel.conf"), []byte(conf), 0o644); err != nil {
			t.Fatalf("write sentinel.conf: %v", err)
		}
		sentinel.sentinel = true
		sentinel.Start()
		t.Cleanup(sentinel.Kill)
		s.Sentinels = append(s.Sentinels, sentinel)
	}
	s.waitReady()
	return s
}

// URL is the redis-sentinel:// URL of the master, for Engine, Client and
// the -broker flag.
func (s *Sentinels) URL() string {
	addrs := make([]string, len(s.Sentinels))
	for i, sentinel := range s.Sentinels {
		addrs[i] = sentinel.Addr
	}
	return "redis-sentinel://" + strings.Join(addrs, ",") + "/" + s.Name
}

// waitReady waits until every Sentinel sees the replica and the others.
func (s *Sentinels) waitReady() {
	s.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for _, sentinel := range s.Sentinels {
		client := goredis.NewSentinelClient(&goredis.Options{Addr: sentinel.Addr, MaxRetries: -1})
		for {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			replicas, err1 := client.Replicas(ctx, s.Name).Result()
			others, err2 := client.Sentinels(ctx, s.Name).Result()
			cancel()
			if err1 == nil && err2 == nil && len(replicas) == 1 && len(others) == len(s.Sentinels)-1 {
				break
			}
			if time.Now().After(deadline) {
				_ = client.Close()
				s.t.Fatalf("Sentinel %s did not see the replica and the other Sentinels within 15 s: replicas %v (%v), Sentinels %v (%v)",
					sentinel.Addr, replicas, err1, others, err2)
			}
			time.Sleep(100 * time.Millisecond)
		}
		_ = client.Close()
	}
}

// WaitMaster waits until every Sentinel names addr as the master, and
// fails the test if that takes longer than within.
func (s *Sentinels) WaitMaster(addr string, within time.Duration) {
	s.t.Helper()
	deadline := time.Now().Add(within)
	for _, sentinel := range s.Sentinels {
		client := goredis.NewSentinelClient(&goredis.Options{Addr: sentinel.Addr, MaxRetries: -1})
		for {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			got, err := client.GetMasterAddrByName(ctx, s.Name).Result()
			cancel()
			if err == nil && len(got) == 2 && got[0]+":"+got[1] == addr {
				break
			}
			if time.Now().After(deadline) {
				_ = client.Close()
				s.t.Fatalf("Sentinel %s names master %v (%v), not %s, after %v", sentinel.Addr, got, err, addr, within)
			}
			time.Sleep(50 * time.Millisecond)
		}
		_ = client.Close()
	}
}
