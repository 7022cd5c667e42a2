package rtbroadcaster

import "time"

// WithSummaryInterval sets how often, at most, the connections summary is
// logged (10 s in production), so that a test need not wait for it.
func WithSummaryInterval(d time.Duration) Option {
	return func(c *config) { c.summaryEvery = d }
}
