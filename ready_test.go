package rtbroadcaster

import (
	"context"
	"errors"
	"testing"

	"github.com/rtbroadcaster/rtbroadcaster/broker"
	"github.com/rtbroadcaster/rtbroadcaster/broker/memory"
)

// downEngine is an engine whose Checker fails.
type downEngine struct{ broker.Broker }

var errDown = errors.New("redis is down")

func (downEngine) Ready(context.Context) error { return errDown }

func TestManagerReady(t *testing.T) {
	if err := NewManager().Ready(t.Context()); err != nil {
		t.Errorf("in-memory engine: Ready = %v, want nil", err)
	}
	m := NewManager(WithBroker(downEngine{memory.New()}))
	if err := m.Ready(t.Context()); !errors.Is(err, errDown) {
		t.Errorf("engine down: Ready = %v, want %v", err, errDown)
	}
	if m.adminSnapshot(t.Context()).BrokerUp {
		t.Error("engine down: the admin snapshot has BrokerUp")
	}
}
