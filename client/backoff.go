package client

import (
	"math/rand/v2"
	"time"
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
