package memory_test

import (
	"testing"

	"github.com/rtbroadcaster/rtbroadcaster/broker"
	"github.com/rtbroadcaster/rtbroadcaster/broker/brokertest"
	"github.com/rtbroadcaster/rtbroadcaster/broker/memory"
)

func TestConformance(t *testing.T) {
	brokertest.Run(t, func(*testing.T) broker.Broker { return memory.New() })
}
