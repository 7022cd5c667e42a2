package rtbroadcaster

import "time"

// WithSummaryInterval sets how often, at most, the connections summary is
// logged (10 s in production), so that a test need not wait for it.
func WithSummaryInterval(d time.Duration) Option {
	return func(c *Config) { c.summaryEvery = d }
}

// WithClock sets the clock the rate limits read (time.Now in production), so
// that a test can let a bucket refill without waiting.
func WithClock(now func() time.Time) Option {
	return func(c *Config) { c.now = now }
}

// APIRoutes lists the HTTP API's routes as "METHOD /path", for the test that
// checks openapi.json against them.
func APIRoutes() []string {
	routes := make([]string, len(apiRoutes))
	for i, rt := range apiRoutes {
		routes[i] = rt.method + " " + rt.path
	}
	return routes
}
