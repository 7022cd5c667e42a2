package redistest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
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
