package rtbroadcaster_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/rtbroadcaster/rtbroadcaster"
)

// logLines is a JSON log that a test reads while the server writes it.
type logLines struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// with returns the lines whose msg is msg, decoded.
func (l *logLines) with(t *testing.T, msg string) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var found []map[string]any
	for line := range bytes.Lines(l.buf.Bytes()) {
		var rec map[string]any
		if err := json.Unmarshal(line, &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if rec["msg"] == msg {
			found = append(found, rec)
		}
	}
	return found
}

// TestConnectionLinesAreDebugWithASummaryAtInfo: each connection's end is
// logged at debug level, and what opened and ended comes in one info line
// per interval in which anything changed.
func TestConnectionLinesAreDebugWithASummaryAtInfo(t *testing.T) {
	const interval = 300 * time.Millisecond
	logs := &logLines{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv := startServer(t, rtbroadcaster.WithLogger(log), rtbroadcaster.WithSummaryInterval(interval))

	_, room, viewer := ownerAndViewer(t, srv.wsURL)
	late := dial(t, srv.wsURL, nil)
	late.joinRoom(room)
	late.conn.WriteClose(1000, nil)
	viewer.conn.WriteClose(1000, nil)
	<-late.closed
	<-viewer.closed

	var summary map[string]any
	waitUntil(t, "a connections summary", func() bool {
		lines := logs.with(t, "connections")
		if len(lines) > 0 {
			summary = lines[0]
		}
		return summary != nil
	})
	ended := logs.with(t, "connection ended")
	if len(ended) != 2 {
		t.Fatalf("%d connection ended lines, want 2 (the viewers')", len(ended))
	}
	for _, line := range ended {
		if line["level"] != "DEBUG" {
			t.Errorf("a connection's end is logged at %v, want DEBUG: %v", line["level"], line)
		}
	}
	want := map[string]any{"level": "INFO", "opened": 3.0, "ended": 2.0, "ended_by": map[string]any{"client_closed": 2.0}, "open": 1.0, "rooms": 1.0}
	got := map[string]any{}
	for key := range want {
		got[key] = summary[key]
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("summary %v, want %v (the owner's connection is still open)", got, want)
	}

	time.Sleep(3 * interval)
	if n := len(logs.with(t, "connections")); n != 1 {
		t.Errorf("%d summaries while nothing changed, want the one", n)
	}
}
