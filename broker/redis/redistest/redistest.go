// Package redistest gives tests a Redis to run the Redis engine against:
// the shared server (127.0.0.1:6379, or $RTB_TEST_REDIS_ADDR), or one of
// their own that they may kill and restart. Without Redis, tests skip with
// the reason; under CI=true they fail instead.
package redistest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"
	goredis "github.com/redis/go-redis/v9"
	"github.com/rtbroadcaster/rtbroadcaster/broker/redis"
)

// unreachable skips the test, or fails it under CI=true.
func unreachable(t testing.TB, format string, args ...any) {
	t.Helper()
	reason := fmt.Sprintf(format, args...)
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s (CI=true: Redis tests must run)", reason)
	}
	t.Skipf("skipping: %s", reason)
}

// Addr returns the shared Redis server's address once it answers a PING.
func Addr(t testing.TB) string {
	t.Helper()
	addr := os.Getenv("RTB_TEST_REDIS_ADDR")
	if addr == "" {
		addr = "127.0.0.1:6379"
	}
	if err := ping(addr); err != nil {
		unreachable(t, "no Redis at %s (set RTB_TEST_REDIS_ADDR, or start redis-server): %v", addr, err)
	}
	return addr
}

func ping(addr string) error {
	client := goredis.NewClient(&goredis.Options{Addr: addr, MaxRetries: -1, DialTimeout: time.Second})
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return client.Ping(ctx).Err()
}

// Prefix returns a key prefix of the test's own, and deletes its keys when
// the test ends, so that tests sharing a Redis never see each other's rooms.
func Prefix(t testing.TB, addr string) string {
	t.Helper()
	name := regexp.MustCompile(`[^A-Za-z0-9]+`).ReplaceAllString(t.Name(), "-")
	prefix := "rtbtest:" + name + ":" + uuid.NewString()[:8] + ":"
	t.Cleanup(func() { deleteKeys(t, addr, prefix) })
	return prefix
}

func deleteKeys(t testing.TB, addr, prefix string) {
	client := goredis.NewClient(&goredis.Options{Addr: addr, MaxRetries: -1})
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	iter := client.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	for iter.Next(ctx) {
		client.Del(ctx, iter.Val())
	}
	if err := iter.Err(); err != nil {
		t.Logf("keys under %s not deleted: %v", prefix, err)
	}
}

// Engine opens an engine on addr for the test and closes it when the test ends.
func Engine(t testing.TB, addr string, opts redis.Options) *redis.Broker {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	b, err := redis.Open(ctx, "redis://"+addr+"/0", opts)
	if err != nil {
		t.Fatalf("open engine: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// Server is a redis-server of the test's own, which the test may Kill and
// Start again.
type Server struct {
	t           testing.TB
	Addr        string
	dir         string
	persistence Persistence
	cmd         *exec.Cmd
}

// Persistence is what a Server keeps across Kill and Start.
type Persistence int

const (
	// AppendOnly keeps every key on disk (append-only file, synced on
	// every write), as a production Redis with persistence would. The
	// default.
	AppendOnly Persistence = iota
	// NoPersistence keeps nothing: a restarted server is empty, as a
	// production Redis run with --save "" --appendonly no is.
	NoPersistence
)

// StartServer starts a redis-server on a free loopback port, with
// AppendOnly persistence unless told otherwise; it is killed when the test
// ends.
func StartServer(t testing.TB, persistence ...Persistence) *Server {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		unreachable(t, "redis-server is not installed: %v", err)
	}
	s := &Server{t: t, Addr: "127.0.0.1:" + strconv.Itoa(freePort(t)), dir: t.TempDir()}
	if len(persistence) > 0 {
		s.persistence = persistence[0]
	}
	s.Start()
	t.Cleanup(s.Kill)
	return s
}

func freePort(t testing.TB) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// Start starts the server (again) and waits until it answers.
func (s *Server) Start() {
	s.t.Helper()
	_, port, _ := net.SplitHostPort(s.Addr)
	args := []string{"--port", port, "--bind", "127.0.0.1", "--dir", s.dir, "--save", "", "--logfile", "redis.log"}
	if s.persistence == NoPersistence {
		args = append(args, "--appendonly", "no")
	} else {
		args = append(args, "--appendonly", "yes", "--appendfsync", "always")
	}
	s.cmd = exec.Command("redis-server", args...)
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("start redis-server: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for ping(s.Addr) != nil {
		if time.Now().After(deadline) {
			s.t.Fatalf("redis-server on %s did not answer within 10 s", s.Addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Kill stops the server at once, as a crash would.
func (s *Server) Kill() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
}
