package rtbroadcaster

import (
	"testing"
	"time"
)

// TestConfigDurations: a Config's 0 is the default and a negative value
// none; the options keep their own meaning, where 0 is none.
func TestConfigDurations(t *testing.T) {
	tests := []struct {
		name         string
		m            *Manager
		grace, drain time.Duration
	}{
		{"zero Config", New(Config{}), DefaultOwnerGrace, DefaultDrainSpread},
		{"negative: none", New(Config{OwnerGrace: -1, DrainSpread: -time.Second}), 0, 0},
		{"set", New(Config{OwnerGrace: time.Minute, DrainSpread: time.Second}), time.Minute, time.Second},
		{"no options", NewManager(), DefaultOwnerGrace, DefaultDrainSpread},
		{"options of 0: none", NewManager(WithOwnerGrace(0), WithDrainSpread(0)), 0, 0},
		{"options set", NewManager(WithOwnerGrace(time.Minute), WithDrainSpread(time.Second)), time.Minute, time.Second},
	}
	for _, tt := range tests {
		if tt.m.ownerGrace != tt.grace || tt.m.drainSpread != tt.drain {
			t.Errorf("%s: grace %v, drain spread %v; want %v, %v", tt.name, tt.m.ownerGrace, tt.m.drainSpread, tt.grace, tt.drain)
		}
	}
}
