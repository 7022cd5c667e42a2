package redistest

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/goleak"
)

// Cluster is a Redis Cluster of the test's own: three masters, each with
// one replica, six redis-servers on free loopback ports (each with a
// cluster bus port of its own, also free), all killed when the test ends.
// Kill a master, and after cluster-node-timeout (1 s) its replica is
// promoted. The cluster is run with cluster-require-full-coverage no, as
// docs/deploy/redis.md advises: while one shard has no master, the others
// go on serving their rooms.
type Cluster struct {
	t     testing.TB
	Nodes []*Server
}

// ClusterNodeTimeout is the test cluster's cluster-node-timeout.
const ClusterNodeTimeout = time.Second

// StartCluster starts six nodes, makes them one cluster with redis-cli
// --cluster create, and waits until every node sees every slot served and
// every replica is in sync.
func StartCluster(t testing.TB) *Cluster {
	t.Helper()
	for _, cmd := range []string{"redis-server", "redis-cli"} {
		if _, err := exec.LookPath(cmd); err != nil {
			unreachable(t, "%s is not installed: %v", cmd, err)
		}
	}
	c := &Cluster{t: t}
	addrs := make([]string, 6)
	for i := range addrs {
		s := newServer(t)
		s.persistence = NoPersistence
		s.args = []string{"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", strconv.Itoa(int(ClusterNodeTimeout.Milliseconds())),
			"--cluster-port", strconv.Itoa(freePort(t)), "--cluster-require-full-coverage", "no"}
		s.Start()
		t.Cleanup(s.Kill)
		c.Nodes = append(c.Nodes, s)
		addrs[i] = s.Addr
	}
	args := append([]string{"--cluster", "create"}, addrs...)
	out, err := exec.Command("redis-cli", append(args, "--cluster-replicas", "1", "--cluster-yes")...).CombinedOutput()
	if err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	c.waitReady(20 * time.Second)
	return c
}

// URL is the redis-cluster:// URL of the cluster, for Engine, Client and
// the -broker flag. It names every node as a seed.
func (c *Cluster) URL() string {
	addrs := make([]string, len(c.Nodes))
	for i, s := range c.Nodes {
		addrs[i] = s.Addr
	}
	return "redis-cluster://" + strings.Join(addrs, ",")
}

// waitReady waits until every node says the cluster is ok with six known
// nodes, and every replica's link to its master is up.
func (c *Cluster) waitReady(within time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(within)
	for _, s := range c.Nodes {
		client := goredis.NewClient(&goredis.Options{Addr: s.Addr, MaxRetries: -1})
		for {
			ready, why := nodeReady(client)
			if ready {
				break
			}
			if time.Now().After(deadline) {
				_ = client.Close()
				c.t.Fatalf("cluster node %s not ready within %v: %s", s.Addr, within, why)
			}
			time.Sleep(50 * time.Millisecond)
		}
		_ = client.Close()
	}
}

// nodeReady reports whether a node sees the whole cluster ok and, if it is
// a replica, is in sync with its master; why says what is missing.
func nodeReady(client *goredis.Client) (ready bool, why string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	info, err := client.ClusterInfo(ctx).Result()
	if err != nil {
		return false, err.Error()
	}
	if !strings.Contains(info, "cluster_state:ok") || !strings.Contains(info, "cluster_known_nodes:6") ||
		!strings.Contains(info, "cluster_slots_ok:16384") {
		return false, info
	}
	repl, err := client.Info(ctx, "replication").Result()
	if err != nil {
		return false, err.Error()
	}
	if strings.Contains(repl, "role:slave") && !strings.Contains(repl, "master_link_status:up") {
		return false, repl
	}
	return true, ""
}

// MasterOf returns the node that serves key's slot now, as a live node
// sees it.
func (c *Cluster) MasterOf(key string) *Server {
	c.t.Helper()
	addr, err := c.masterAddr(key)
	if err != nil {
		c.t.Fatalf("master of %q: %v", key, err)
	}
	for _, s := range c.Nodes {
		if s.Addr == addr {
			return s
		}
	}
	c.t.Fatalf("master of %q is %s, not a node of the test's cluster", key, addr)
	return nil
}

// WaitMasterMoved waits until a live node names a master for key's slot
// other than old, and fails the test if that takes longer than within. It
// returns the new master.
func (c *Cluster) WaitMasterMoved(key string, old *Server, within time.Duration) *Server {
	c.t.Helper()
	deadline := time.Now().Add(within)
	for {
		addr, err := c.masterAddr(key)
		if err == nil && addr != old.Addr {
			return c.MasterOf(key)
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("key %q still on master %s (%v) after %v", key, old.Addr, err, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// masterAddr asks the live nodes in turn which master serves key's slot.
func (c *Cluster) masterAddr(key string) (string, error) {
	var err error
	for _, s := range c.Nodes {
		if s.cmd == nil {
			continue // killed
		}
		var addr string
		if addr, err = askMaster(s.Addr, key); err == nil {
			return addr, nil
		}
	}
	return "", err
}

func askMaster(node, key string) (string, error) {
	client := goredis.NewClient(&goredis.Options{Addr: node, MaxRetries: -1})
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	slot, err := client.ClusterKeySlot(ctx, key).Result()
	if err != nil {
		return "", err
	}
	shards, err := client.ClusterShards(ctx).Result()
	if err != nil {
		return "", err
	}
	for _, shard := range shards {
		for _, r := range shard.Slots {
			if r.Start > slot || slot > r.End {
				continue
			}
			for _, n := range shard.Nodes {
				if n.Role == "master" && n.Health == "online" {
					return net.JoinHostPort(n.IP, strconv.FormatInt(n.Port, 10)), nil
				}
			}
		}
	}
	return "", fmt.Errorf("node %s knows no master of slot %d", node, slot)
}

// IgnoreRedials is a goleak option for go-redis's redial loop of a node
// that stopped answering (a killed master): it sleeps a second between
// tries and ends at the first wake-up after its client is closed, so a test
// that kills a node may end with it still asleep.
var IgnoreRedials = goleak.IgnoreAnyFunction("github.com/redis/go-redis/v9/internal/pool.(*ConnPool).tryDial")

// Masters returns the live nodes that are masters now.
func (c *Cluster) Masters() []*Server {
	c.t.Helper()
	var masters []*Server
	for _, s := range c.Nodes {
		if s.cmd == nil {
			continue
		}
		client := goredis.NewClient(&goredis.Options{Addr: s.Addr, MaxRetries: -1})
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		role, err := client.Do(ctx, "role").Slice()
		cancel()
		_ = client.Close()
		if err != nil {
			c.t.Fatalf("ROLE of %s: %v", s.Addr, err)
		}
		if len(role) > 0 && role[0] == "master" {
			masters = append(masters, s)
		}
	}
	return masters
}

// MoveSlot moves the slot of key, with its keys, from the master that
// serves it to master to, as resharding does (CLUSTER SETSLOT IMPORTING
// and MIGRATING, MIGRATE, then SETSLOT NODE on every master).
func (c *Cluster) MoveSlot(key string, to *Server) {
	c.t.Helper()
	from := c.MasterOf(key)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	src := goredis.NewClient(&goredis.Options{Addr: from.Addr, MaxRetries: -1})
	defer src.Close()
	dst := goredis.NewClient(&goredis.Options{Addr: to.Addr, MaxRetries: -1})
	defer dst.Close()
	slot, err := src.ClusterKeySlot(ctx, key).Result()
	must := func(what string, err error) {
		if err != nil {
			c.t.Fatalf("move slot %d from %s to %s: %s: %v", slot, from.Addr, to.Addr, what, err)
		}
	}
	must("CLUSTER KEYSLOT", err)
	srcID, err := src.Do(ctx, "cluster", "myid").Text()
	must("CLUSTER MYID", err)
	dstID, err := dst.Do(ctx, "cluster", "myid").Text()
	must("CLUSTER MYID", err)
	must("IMPORTING", dst.Do(ctx, "cluster", "setslot", slot, "importing", srcID).Err())
	must("MIGRATING", src.Do(ctx, "cluster", "setslot", slot, "migrating", dstID).Err())
	host, port, _ := strings.Cut(to.Addr, ":")
	for {
		keys, err := src.ClusterGetKeysInSlot(ctx, int(slot), 100).Result()
		must("GETKEYSINSLOT", err)
		if len(keys) == 0 {
			break
		}
		args := []any{"migrate", host, port, "", 0, 5000, "keys"}
		for _, k := range keys {
			args = append(args, k)
		}
		must("MIGRATE", src.Do(ctx, args...).Err())
	}
	// The destination first, then the source, as redis-cli does: the
	// source then answers MOVED rather than ASK.
	order := []*Server{to, from}
	for _, m := range c.Masters() {
		if m != to && m != from {
			order = append(order, m)
		}
	}
	for _, m := range order {
		node := goredis.NewClient(&goredis.Options{Addr: m.Addr, MaxRetries: -1})
		err := node.Do(ctx, "cluster", "setslot", slot, "node", dstID).Err()
		_ = node.Close()
		must("SETSLOT NODE on "+m.Addr, err)
	}
}
