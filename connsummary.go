package rtbroadcaster

import (
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"
)

// defaultSummaryInterval is how often, at most, a Manager logs its summary
// of the connections opened and ended.
const defaultSummaryInterval = 10 * time.Second

// connSummary tallies the connections opened and ended since its last line.
// Each connection's own lines are at debug level: at info, a busy server's
// log would hold little else (a 200-viewer bench: 321 of 324 lines). The
// summary is logged at info at most once an interval and only when
// something changed, from a timer rather than a goroutine of its own, so an
// idle Manager logs and runs nothing.
type connSummary struct {
	// Set by NewManager, then only read.
	log      *slog.Logger
	interval time.Duration // 0: no summary
	stats    func() Stats  // for what is open when the line is written

	// Guarded by mu, a leaf: flush reads stats (Manager.mu) after
	// unlocking it.
	mu     sync.Mutex
	timer  *time.Timer // the pending line; nil when nothing changed since the last
	opened int
	ended  map[string]int // by reason, as in the disconnects metric
}

func (s *connSummary) connectionOpened() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opened++
	s.scheduleLocked()
}

func (s *connSummary) connectionEnded(reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended == nil {
		s.ended = map[string]int{}
	}
	s.ended[reason]++
	s.scheduleLocked()
}

func (s *connSummary) scheduleLocked() {
	if s.timer == nil && s.interval > 0 {
		s.timer = time.AfterFunc(s.interval, s.flush)
	}
}

// flush logs what changed since the last line, if anything; Shutdown calls
// it too, so that the last connections' ends are not left out.
func (s *connSummary) flush() {
	s.mu.Lock()
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
	opened, ended := s.opened, s.ended
	s.opened, s.ended = 0, nil
	s.mu.Unlock()
	if opened == 0 && len(ended) == 0 {
		return
	}
	total := 0
	var byReason []any
	for _, reason := range slices.Sorted(maps.Keys(ended)) {
		total += ended[reason]
		byReason = append(byReason, slog.Int(strings.ReplaceAll(reason, " ", "_"), ended[reason]))
	}
	now := s.stats()
	s.log.Info("connections", "opened", opened, "ended", total, slog.Group("ended_by", byReason...),
		"open", now.Connections, "rooms", now.Rooms)
}
