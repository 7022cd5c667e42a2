package main

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/rtbroadcaster/rtbroadcaster/internal/bench"
)

// TestRun draws the charts of two small sweeps and reads them back.
func TestRun(t *testing.T) {
	dir := t.TempDir()
	perConn := 2048.0
	for _, server := range []string{"a", "b"} {
		if err := os.Mkdir(filepath.Join(dir, server), 0o755); err != nil {
			t.Fatal(err)
		}
		for i, n := range []int{100, 1000} {
			for _, rate := range []float64{0, 5} {
				r := bench.Report{ViewersPerRoom: n, Rooms: 1, Connections: n + 1, Rate: rate, DeliveriesPerSec: float64(1000 * n),
					LatencyMs: bench.Latency{P50: float64(i + 1), P99: float64(2 * (i + 1))}, ConnectJoinSeconds: 0.1 * float64(i+1),
					ServerRSSBeforeKiB: 1000, ServerRSSJoinedKiB: 1000 + int64(2*(n+1)), ServerBytesPerConn: &perConn}
				b, _ := json.Marshal(r)
				name := filepath.Join(dir, server, fmt.Sprintf("%d-%g.json", n, rate))
				if err := os.WriteFile(name, b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	out := filepath.Join(dir, "out")
	if err := run(out, []string{"a=" + filepath.Join(dir, "a"), "b=" + filepath.Join(dir, "b")}); err != nil {
		t.Fatal(err)
	}
	for file, series := range map[string]int{"deliveries.svg": 2, "latency.svg": 4, "memory.svg": 2, "memory-per-connection.svg": 2, "connect.svg": 2} {
		b, err := os.ReadFile(filepath.Join(out, file))
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Groups []struct {
				Circles []struct{} `xml:"circle"`
			} `xml:"g"`
		}
		if err := xml.Unmarshal(b, &doc); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if len(doc.Groups) != series {
			t.Errorf("%s: %d series, want %d", file, len(doc.Groups), series)
		}
		for _, g := range doc.Groups {
			if len(g.Circles) != 2 {
				t.Errorf("%s: %d points in a series, want 2", file, len(g.Circles))
			}
		}
	}
	if err := run(out, []string{"nofolder"}); err == nil {
		t.Error("an argument without name= was taken")
	}
	if err := run(out, []string{"empty=" + t.TempDir()}); err == nil {
		t.Error("a folder without reports was taken")
	}
}

func TestFormat(t *testing.T) {
	for v, want := range map[float64]string{0.00769: "0.00769", 14.8: "14.8", 999: "999", 1049.4: "1,049", 1896999: "1,896,999"} {
		if got := format(v); got != want {
			t.Errorf("format(%g) = %q, want %q", v, got, want)
		}
	}
}
