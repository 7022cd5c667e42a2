package client

import (
	"errors"
	"math/rand/v2"
	"regexp"
	"strconv"
	"time"

	"github.com/lxzan/gws"
)

// Backoff is the delay before reconnect try number attempt (from 1): a random
// duration between 0 and min(maxDelay, initial × 2^(attempt-1)). The full
// jitter spreads out thousands of viewers that dropped at the same moment.
func Backoff(attempt int, initial, maxDelay time.Duration) time.Duration {
	ceiling := initial
	for i := 1; i < attempt && ceiling < maxDelay; i++ {
		ceiling *= 2
	}
	ceiling = min(ceiling, maxDelay)
	if ceiling <= 0 {
		return 0
	}
	return rand.N(ceiling + 1)
}

// drainReason matches the reason of the close 1001 of a server that is
// shutting down (PROTOCOL.md, Drain).
var drainReason = regexp.MustCompile(`reconnect in (\d+) ms`)

// drainDelay is the delay a draining server told this client to wait
// before reconnecting, if cause is such a close.
func drainDelay(cause error) (time.Duration, bool) {
	var ce *gws.CloseError
	if !errors.As(cause, &ce) || ce.Code != 1001 {
		return 0, false
	}
	m := drainReason.FindSubmatch(ce.Reason)
	if m == nil {
		return 0, false
	}
	ms, err := strconv.Atoi(string(m[1]))
	if err != nil {
		return 0, false
	}
	return time.Duration(ms) * time.Millisecond, true
}
