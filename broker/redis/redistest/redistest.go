// Package redistest gives tests a Redis to run the Redis engine against:
// the shared server ($RTB_TEST_REDIS_URL, by default redis://127.0.0.1:6379/0),
// or one of their own that they may kill and restart. Without Redis, tests
// skip with the reason; under CI=true they fail instead.
//
// On a Redis that other programs use too, give the tests a database of their
// own (RTB_TEST_REDIS_URL=redis://127.0.0.1:6379/5): they write and delete
// only keys under rtbtest:, but their pub/sub channels are seen by every
// database's subscribers.
package redistest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
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
	recordSkip(t, reason)
	t.Skipf("skipping: %s", reason)
}

// SkipsFileEnv names the variable that names the file where skipped tests
// are recorded, one "test<TAB>reason" line each: go test prints a skip's
// reason only with -v, so scripts/test.sh sets it and prints a summary.
const SkipsFileEnv = "RTB_TEST_SKIPS"

func recordSkip(t testing.TB, reason string) {
	path := os.Getenv(SkipsFileEnv)
	if path == "" {
		return
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err == nil {
		_, err = fmt.Fprintf(f, "%s\t%s\n", t.Name(), reason)
		err = errors.Join(err, f.Close())
	}
	if err != nil {
		t.Logf("the skip was not recorded in %s=%s: %v", SkipsFileEnv, path, err)
	}
}

// DefaultURL is the shared server tests use when RTB_TEST_REDIS_URL is unset.
const DefaultURL = "redis://127.0.0.1:6379/0"

// sharedURL is the URL of the shared server the environment names:
// RTB_TEST_REDIS_URL, or RTB_TEST_REDIS_ADDR (host:port, database 0; the
// variable of earlier versions), or DefaultURL.
func sharedURL() string {
	if url := os.Getenv("RTB_TEST_REDIS_URL"); url != "" {
		return url
	}
	if addr := os.Getenv("RTB_TEST_REDIS_ADDR"); addr != "" {
		return "redis://" + addr + "/0"
	}
	return DefaultURL
}

// URL returns the shared Redis server's URL, database included, once it
// answers a PING.
func URL(t testing.TB) string {
	t.Helper()
	url := sharedURL()
	if _, err := goredis.ParseURL(url); err != nil {
		t.Fatalf("RTB_TEST_REDIS_URL=%q is not a Redis URL such as redis://127.0.0.1:6379/5: %v", url, err)
	}
	if err := ping(url); err != nil {
		unreachable(t, "no Redis at %s (set RTB_TEST_REDIS_URL, or start redis-server): %v", url, err)
	}
	return url
}

// Options returns the client options of url, which must parse.
func Options(t testing.TB, url string) *goredis.Options {
	t.Helper()
	opts, err := goredis.ParseURL(url)
	if err != nil {
		t.Fatalf("redis URL %q: %v", url, err)
	}
	opts.MaxRetries = -1
	return opts
}

// Client returns a client of the Redis at url (redis://, redis-sentinel://
// or redis-cluster://), closed when the test ends, for tests that read or
// break the engine's keys behind its back.
func Client(t testing.TB, url string) goredis.UniversalClient {
	t.Helper()
	client, err := redis.NewClient(url)
	if err != nil {
		t.Fatalf("redis URL %q: %v", url, err)
	}
	t.Cleanup(func() { _ = client.Close() })
	return client
}

func ping(url string) error {
	opts, err := goredis.ParseURL(url)
	if err != nil {
		return err
	}
	opts.MaxRetries, opts.DialTimeout = -1, time.Second
	client := goredis.NewClient(opts)
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return client.Ping(ctx).Err()
}

// Prefix returns a key prefix of the test's own, and deletes its keys when
// the test ends, so that tests sharing a Redis never see each other's rooms.
func Prefix(t testing.TB, url string) string {
	t.Helper()
	name := regexp.MustCompile(`[^A-Za-z0-9]+`).ReplaceAllString(t.Name(), "-")
	prefix := "rtbtest:" + name + ":" + uuid.NewString()[:8] + ":"
	t.Cleanup(func() { deleteKeys(t, url, prefix) })
	return prefix
}

func deleteKeys(t testing.TB, url string, prefix string) {
	client, err := redis.NewClient(url)
	if err != nil {
		t.Errorf("keys under %s not deleted: %v", prefix, err)
		return
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	del := func(ctx context.Context, node goredis.Cmdable) error {
		iter := node.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			node.Del(ctx, iter.Val())
		}
		return iter.Err()
	}
	if cluster, ok := client.(*goredis.ClusterClient); ok {
		err = cluster.ForEachMaster(ctx, func(ctx context.Context, master *goredis.Client) error { return del(ctx, master) })
	} else {
		err = del(ctx, client)
	}
	if err != nil {
		t.Logf("keys under %s not deleted: %v", prefix, err)
	}
}

// Engine opens an engine on the Redis at url for the test and closes it when
// the test ends.
func Engine(t testing.TB, url string, opts redis.Options) *redis.Broker {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	b, err := redis.Open(ctx, url, opts)
	if err != nil {
		t.Fatalf("open engine on %s: %v", url, err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// Server is a redis-server of the test's own, which the test may Kill and
// Start again.
type Server struct {
	t           testing.TB
	Addr        string // host:port
	dir         string
	persistence Persistence
	args        []string // more arguments for redis-server
	sentinel    bool     // run as a Sentinel, on dir/sentinel.conf
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
	s := newServer(t)
	if len(persistence) > 0 {
		s.persistence = persistence[0]
	}
	s.Start()
	t.Cleanup(s.Kill)
	return s
}

func newServer(t testing.TB) *Server {
	return &Server{t: t, Addr: "127.0.0.1:" + strconv.Itoa(freePort(t)), dir: t.TempDir()}
}

func freePort(t testing.TB) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// URL is the server's URL, for Engine, Client and the -broker flag.
func (s *Server) URL() string { return "redis://" + s.Addr + "/0" }

// Start starts the server (again) and waits until it answers.
func (s *Server) Start() {
	s.t.Helper()
	_, port, _ := net.SplitHostPort(s.Addr)
	// A master syncs a new replica at once, not after the default 5 s
	// wait for more replicas to share the transfer.
	args := []string{"--port", port, "--bind", "127.0.0.1", "--dir", s.dir, "--save", "", "--logfile", "redis.log",
		"--repl-diskless-sync-delay", "0"}
	switch {
	case s.sentinel:
		args = []string{filepath.Join(s.dir, "sentinel.conf"), "--sentinel"}
	case s.persistence == NoPersistence:
		args = append(args, "--appendonly", "no")
	default:
		args = append(args, "--appendonly", "yes", "--appendfsync", "always")
	}
	s.cmd = exec.Command("redis-server", append(args, s.args...)...)
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("start redis-server: %v", err)
	}
	// Generous: on a loaded machine a fork and exec can take seconds.
	deadline := time.Now().Add(30 * time.Second)
	for ping(s.URL()) != nil {
		if time.Now().After(deadline) {
			s.t.Fatalf("redis-server on %s did not answer within 30 s", s.Addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Checkpoint arranges for the server to come back with the data it has
// now, as a promoted replica that had not received the last writes, or a
// restart from an older snapshot, would: it copies the server's
// append-only files (AppendOnly persistence, synced on every write), and
// the returned func kills the server, puts that copy back and starts it
// again.
func (s *Server) Checkpoint() (rollback func()) {
	s.t.Helper()
	if s.persistence != AppendOnly {
		s.t.Fatal("Checkpoint needs a server with AppendOnly persistence")
	}
	aof := filepath.Join(s.dir, "appendonlydir")
	saved := filepath.Join(s.t.TempDir(), "appendonlydir")
	if out, err := exec.Command("cp", "-r", aof, saved).CombinedOutput(); err != nil {
		s.t.Fatalf("copy %s: %v: %s", aof, err, out)
	}
	return func() {
		s.t.Helper()
		s.Kill()
		if err := os.RemoveAll(aof); err != nil {
			s.t.Fatal(err)
		}
		if out, err := exec.Command("cp", "-r", saved, aof).CombinedOutput(); err != nil {
			s.t.Fatalf("restore %s: %v: %s", aof, err, out)
		}
		s.Start()
	}
}

// Stop freezes the server (SIGSTOP): it keeps its connections and answers
// nothing until Continue.
func (s *Server) Stop() { s.signal(syscall.SIGSTOP) }

// Continue lets a stopped server go on (SIGCONT).
func (s *Server) Continue() { s.signal(syscall.SIGCONT) }

func (s *Server) signal(sig os.Signal) {
	s.t.Helper()
	if s.cmd == nil {
		s.t.Fatalf("redis-server on %s is not running", s.Addr)
	}
	if err := s.cmd.Process.Signal(sig); err != nil {
		s.t.Fatalf("signal redis-server on %s: %v", s.Addr, err)
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
