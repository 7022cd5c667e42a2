package rtbroadcaster

import (
	"context"
	"time"

	"github.com/rtbroadcaster/rtbroadcaster/broker"
)

// Ready returns nil when the Manager can serve rooms now, else why not: its
// room engine, a Redis server say, is down (broker.Checker). Engines that
// cannot be down are always ready. A server's /readyz answers from it, so
// that a load balancer sends new connections to other nodes meanwhile.
func (m *Manager) Ready(ctx context.Context) error {
	checker, ok := m.broker.(broker.Checker)
	if !ok {
		return nil
	}
	return checker.Ready(ctx)
}

// brokerReadyTimeout bounds the engine check a scrape or the admin API makes.
const brokerReadyTimeout = time.Second

// brokerReady is Ready with brokerReadyTimeout, for the broker_up metric and
// the admin API.
func (m *Manager) brokerReady() error {
	ctx, cancel := context.WithTimeout(context.Background(), brokerReadyTimeout)
	defer cancel()
	return m.Ready(ctx)
}
