package rtbroadcaster

import (
	"fmt"
	"math/rand/v2"
	"time"
)

// DefaultDrainSpread is the window over which clients of a shutting-down
// server are told to come back, unless WithDrainSpread says otherwise.
const DefaultDrainSpread = 5 * time.Second

// drainReasonFormat is the reason of the close frame 1001 a draining server
// sends: clients read the delay from it (PROTOCOL.md, Drain).
const drainReasonFormat = "server shutting down; reconnect in %d ms"

// drainReason tells one client when to reconnect: at a random point of the
// spread, so that a restart does not bring every client back at once.
func drainReason(spread time.Duration) string {
	return fmt.Sprintf(drainReasonFormat, randomWithin(spread).Milliseconds())
}

// randomWithin is a random duration in [0, spread), or 0.
func randomWithin(spread time.Duration) time.Duration {
	if spread <= 0 {
		return 0
	}
	return rand.N(spread)
}

// drain closes c with 1001, after what is queued for it, telling it when to
// reconnect.
func (c *conn) drain() {
	c.setEndReason("server shutting down")
	c.out.close(CloseGoingAway, drainReason(c.mgr.drainSpread))
}
