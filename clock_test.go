package rtbroadcaster_test

import (
	"sync/atomic"
	"time"
)

// testClock is the real clock plus what the test has moved it ahead by, for
// rtbroadcaster.WithClock and auth.Config.Now: a test lets a rate-limit
// bucket refill, or a token expire, without waiting.
type testClock struct{ ahead atomic.Int64 }

func (c *testClock) now() time.Time { return time.Now().Add(time.Duration(c.ahead.Load())) }

func (c *testClock) advance(d time.Duration) { c.ahead.Add(int64(d)) }
