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

// delayReason matches the delay in the reason of the close 1001 of a server
// that is shutting down (PROTOCOL.md, Drain), and of a refusal worth
// retrying (4429, 4503).
var delayReason = regexp.MustCompile(`reconnect in (\d+) ms`)

// serverDelay is the delay the server told this client to wait before
// reconnecting, if cause is a drain or a refusal that names one.
func serverDelay(cause error) (time.Duration, bool) {
	var ce *gws.CloseError
	if errors.As(cause, &ce) && ce.Code == 1001 {
		return reasonDelay(ce.Reason)
	}
	if refused := refusalOf(cause); refused != nil && refused.Retry > 0 {
		return refused.Retry, true
	}
	return 0, false
}

// reasonDelay reads "reconnect in N ms" in a close reason.
func reasonDelay(reason []byte) (time.Duration, bool) {
	m := delayReason.FindSubmatch(reason)
	if m == nil {
		return 0, false
	}
	ms, err := strconv.Atoi(string(m[1]))
	if err != nil {
		return 0, false
	}
	return time.Duration(ms) * time.Millisecond, true
}
