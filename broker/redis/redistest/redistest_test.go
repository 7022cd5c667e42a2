package redistest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	goredis "github.com/redis/go-redis/v9"
	"github.com/rtbroadcaster/rtbroadcaster/broker"
	"github.com/rtbroadcaster/rtbroadcaster/broker/redis"
)

func TestSharedURLFromTheEnvironment(t *testing.T) {
	for _, tt := range []struct{ url, addr, want string }{
		{"", "", DefaultURL},
		{"redis://10.0.0.5:6380/5", "", "redis://10.0.0.5:6380/5"},
		{"", "10.0.0.5:6380", "redis://10.0.0.5:6380/0"}, // the variable of earlier versions
		{"redis://10.0.0.5:6380/5", "10.0.0.6:6379", "redis://10.0.0.5:6380/5"},
	} {
		t.Setenv("RTB_TEST_REDIS_URL", tt.url)
		t.Setenv("RTB_TEST_REDIS_ADDR", tt.addr)
		if got := sharedURL(); got != tt.want {
			t.Errorf("RTB_TEST_REDIS_URL=%q RTB_TEST_REDIS_ADDR=%q: %q, want %q", tt.url, tt.addr, got, tt.want)
		}
	}
}

// TestEngineUsesTheURLsDatabase: with RTB_TEST_REDIS_URL naming database 7,
// a test's engine writes there and nowhere in database 0.
func TestEngineUsesTheURLsDatabase(t *testing.T) {
	host := Options(t, URL(t)).Addr
	t.Setenv("RTB_TEST_REDIS_URL", fmt.Sprintf("redis://%s/7", host))
	url := URL(t)
	prefix := Prefix(t, url)
	engine := Engine(t, url, redis.Options{KeyPrefix: prefix})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := engine.CreateRoom(ctx, uuid.NewString(), broker.Owner{KeyHash: "hash", Grace: time.Minute}); err != nil {
		t.Fatal(err)
	}
	count := func(url string) int {
		keys, err := Client(t, url).Keys(ctx, prefix+"*").Result()
		if err != nil {
			t.Fatalf("KEYS on %s: %v", url, err)
		}
		return len(keys)
	}
	if n := count(url); n == 0 {
		t.Errorf("no key under %s in database 7", prefix)
	}
	if n := count(fmt.Sprintf("redis://%s/0", host)); n != 0 {
		t.Errorf("%d keys under %s in database 0", n, prefix)
	}
}

// fakeTB records how unreachable ends a test instead of ending this one.
type fakeTB struct {
	testing.TB
	name            string
	skipped, failed string
}

func (f *fakeTB) Helper()                         {}
func (f *fakeTB) Name() string                    { return f.name }
func (f *fakeTB) Logf(format string, args ...any) {}
func (f *fakeTB) Skipf(format string, args ...any) {
	f.skipped = fmt.Sprintf(format, args...)
	runtime.Goexit() // as testing's does
}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.failed = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// run calls fn on its own goroutine, since it ends that goroutine as a test's
// Skipf and Fatalf do.
func (f *fakeTB) run(fn func(testing.TB)) *fakeTB {
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(f)
	}()
	<-done
	return f
}

// TestUnreachableIsRecordedOrFails: without Redis a test skips and its
// reason is written where scripts/test.sh sums up the skips; under CI=true
// it fails instead and nothing is recorded.
func TestUnreachableIsRecordedOrFails(t *testing.T) {
	skips := filepath.Join(t.TempDir(), "skips")
	t.Setenv(SkipsFileEnv, skips)

	t.Setenv("CI", "")
	for _, name := range []string{"TestA", "TestB"} {
		tb := (&fakeTB{name: name}).run(func(tb testing.TB) { unreachable(tb, "no Redis at %s", "redis://127.0.0.1:1/0") })
		if tb.skipped != "skipping: no Redis at redis://127.0.0.1:1/0" || tb.failed != "" {
			t.Fatalf("without CI: skipped %q, failed %q", tb.skipped, tb.failed)
		}
	}
	recorded, err := os.ReadFile(skips)
	if want := "TestA\tno Redis at redis://127.0.0.1:1/0\nTestB\tno Redis at redis://127.0.0.1:1/0\n"; err != nil || string(recorded) != want {
		t.Fatalf("%s holds %q (%v), want %q", SkipsFileEnv, recorded, err, want)
	}

	t.Setenv("CI", "true")
	tb := (&fakeTB{name: "TestC"}).run(func(tb testing.TB) { unreachable(tb, "no Redis at %s", "redis://127.0.0.1:1/0") })
	if !strings.Contains(tb.failed, "CI=true") || tb.skipped != "" {
		t.Fatalf("under CI=true: skipped %q, failed %q", tb.skipped, tb.failed)
	}
	if after, _ := os.ReadFile(skips); !bytes.Equal(after, recorded) {
		t.Errorf("a failure under CI=true was recorded as a skip: %q", after)
	}
}

// TestSentinelsFailover: an engine on the Sentinels' URL writes to the
// master; killed, the master is replaced by its replica, and the same
// client (the engine's kind) reaches the new master and finds what was
// written before the kill.
func TestSentinelsFailover(t *testing.T) {
	s := StartSentinels(t)
	client := Client(t, s.URL())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	key := Prefix(t, s.URL()) + "k"
	if err := client.Set(ctx, key, "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := client.(*goredis.Client).Wait(ctx, 1, 5*time.Second).Err(); err != nil { // the replica has it
		t.Fatal(err)
	}
	s.Master.Kill()
	start := time.Now()
	s.WaitMaster(s.Replica.Addr, 20*time.Second)
	t.Logf("the Sentinels promoted the replica %v after the kill", time.Since(start).Round(time.Millisecond))
	for {
		got, err := client.Get(ctx, key).Result()
		if err == nil {
			if got != "v" {
				t.Fatalf("GET %s on the new master: %q", key, got)
			}
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("the client did not reach the new master: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("the client reached the new master %v after the kill", time.Since(start).Round(time.Millisecond))
	if role, err := client.Do(ctx, "ROLE").Slice(); err != nil || role[0] != "master" {
		t.Fatalf("ROLE: %v, %v", role, err)
	}
}
