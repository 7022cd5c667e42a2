package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/rtbroadcaster/rtbroadcaster"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// startServer runs a Manager on a loopback port, its event streams too, and
// returns its WebSocket URL.
func startServer(t *testing.T) string {
	t.Helper()
	mgr := rtbroadcaster.NewManager(rtbroadcaster.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	mux := http.NewServeMux()
	mux.Handle("/broadcast", mgr)
	mux.HandleFunc("/rooms/{uuid}/events", mgr.ServeEvents)
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = mgr.Shutdown(ctx)
		srv.Close()
	})
	return "ws" + strings.TrimPrefix(srv.URL, "http") + "/broadcast"
}

// runBench runs the command with args against url and returns its JSON report.
func runBench(t *testing.T, url string, args ...string) *Report {
	t.Helper()
	var rep Report
	if out := runBenchJSON(t, url, args...); json.Unmarshal(out, &rep) != nil {
		t.Fatalf("report is not JSON:\n%s", out)
	}
	return &rep
}

// runBenchJSON runs the command with args against url, with this process as
// the server to measure, and returns its report as printed.
func runBenchJSON(t *testing.T, url string, args ...string) []byte {
	t.Helper()
	var stdout, stderr bytes.Buffer
	args = append([]string{"-url", url, "-json", "-server-pid", itoa(os.Getpid())}, args...)
	if err := Run(context.Background(), args, &stdout, &stderr); err != nil {
		t.Fatalf("bench %q: %v\n%s", args, err, stderr.String())
	}
	return stdout.Bytes()
}

func TestBenchDeliversEverythingInOrder(t *testing.T) {
	url := startServer(t)
	tests := []struct {
		name string
		args []string
		// churn makes exact delivery counts unknowable: viewers miss what is sent while they rejoin.
		exact bool
	}{
		{"window", []string{"-rooms", "2", "-viewers", "50", "-duration", "1s", "-window", "16"}, true},
		{"rate with state", []string{"-rooms", "3", "-viewers", "20", "-rate", "200", "-duration", "1s", "-state-every", "3", "-state-keys", "5"}, true},
		{"rate with churn", []string{"-rooms", "2", "-viewers", "20", "-rate", "200", "-duration", "1s", "-state-every", "2", "-churn", "20"}, false},
		{"sse window", []string{"-transport", "sse", "-rooms", "2", "-viewers", "50", "-duration", "1s", "-window", "16"}, true},
		{"sse rate with state", []string{"-transport", "sse", "-rooms", "3", "-viewers", "20", "-rate", "200", "-duration", "1s", "-state-every", "3", "-state-keys", "5"}, true},
		{"sse rate with churn", []string{"-transport", "sse", "-rooms", "2", "-viewers", "20", "-rate", "200", "-duration", "1s", "-state-every", "2", "-churn", "20"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := runBench(t, url, tt.args...)
			if rep.Lost != 0 || rep.Duplicated != 0 || rep.OutOfOrder != 0 || rep.CutOff != 0 || rep.Dropped != 0 || rep.OwnerErrors != 0 {
				t.Fatalf("lost %d, dup %d, reordered %d, cut off %d, dropped %d (%q), owner errors %d: want all 0",
					rep.Lost, rep.Duplicated, rep.OutOfOrder, rep.CutOff, rep.Dropped, rep.ViewerErrors, rep.OwnerErrors)
			}
			if rep.Sent == 0 || rep.Connections != rep.Rooms*(1+rep.ViewersPerRoom) {
				t.Fatalf("sent %d over %d connections: a run that did nothing", rep.Sent, rep.Connections)
			}
			if want := rep.Sent * uint64(rep.ViewersPerRoom); tt.exact && rep.Deliveries != want {
				t.Fatalf("%d deliveries, want sent × viewers = %d", rep.Deliveries, want)
			}
			l := rep.LatencyMs
			if !(0 < l.P50 && l.P50 <= l.P90 && l.P90 <= l.P99 && l.P99 <= l.P999 && l.P999 <= l.Max) {
				t.Fatalf("latency quantiles out of order: %+v", l)
			}
			if rep.ConnectJoinSeconds <= 0 || rep.DeliveriesPerSec <= 0 || rep.BenchCPUPercent <= 0 || rep.ServerRSSJoinedKiB <= 0 {
				t.Fatalf("implausible report: %+v", rep)
			}
			if want := map[bool]string{true: "sse", false: "websocket"}[strings.HasPrefix(tt.name, "sse")]; rep.Transport != want {
				t.Fatalf("report says transport %q, want %q", rep.Transport, want)
			}
			if strings.Contains(tt.name, "churn") && rep.Rejoins == 0 {
				t.Fatal("no viewer rejoined")
			}
		})
	}
}

func TestIdleRunOnlyConnects(t *testing.T) {
	rep := runBench(t, startServer(t), "-viewers", "30", "-duration", "0")
	if rep.Sent != 0 || rep.ConnectJoinSeconds <= 0 || rep.ServerRSSBeforeKiB <= 0 || rep.ServerRSSJoinedKiB <= 0 {
		t.Fatalf("idle run: %+v", rep)
	}
	if rep.ServerBytesPerConn != nil && *rep.ServerBytesPerConn <= 0 {
		t.Fatalf("idle run: %v bytes per connection, want a positive figure or none", *rep.ServerBytesPerConn)
	}
}

// TestReportJSON checks the report a script reads: camelCase keys all the
// way down, each described in BENCHMARKS.md, and values that mean something.
func TestReportJSON(t *testing.T) {
	doc, err := os.ReadFile("../../BENCHMARKS.md")
	if err != nil {
		t.Fatal(err)
	}
	camel := regexp.MustCompile(`^[a-z][a-zA-Z0-9]*$`)
	for _, key := range jsonKeys(reflect.TypeFor[Report](), "") {
		if !camel.MatchString(key[strings.LastIndexByte(key, '.')+1:]) {
			t.Errorf("key %q is not camelCase", key)
		}
		if !bytes.Contains(doc, []byte("| `"+key+"`")) {
			t.Errorf("BENCHMARKS.md does not describe %q (a table row starting | `%s`)", key, key)
		}
	}

	out := runBenchJSON(t, startServer(t), "-viewers", "5", "-duration", "300ms", "-progress", "0")
	var report struct {
		SourceAddrs        []string
		ServerBytesPerConn *float64
		LatencyMs          map[string]float64
	}
	if err := json.Unmarshal(out, &report); err != nil {
		t.Fatalf("report is not JSON: %v\n%s", err, out)
	}
	if len(report.SourceAddrs) == 0 || slices.Contains(report.SourceAddrs, "") {
		t.Errorf("sourceAddrs %q: want the addresses used, or \"default\"", report.SourceAddrs)
	}
	if p := report.ServerBytesPerConn; p != nil && *p <= 0 {
		t.Errorf("serverBytesPerConn %v: memory per connection is never negative; omit it when unknown", *p)
	}
	if report.LatencyMs["p50"] <= 0 || report.LatencyMs["max"] < report.LatencyMs["p50"] {
		t.Errorf("latencyMs %v: want p50 > 0 and max >= p50\n%s", report.LatencyMs, out)
	}
}

// jsonKeys lists the JSON keys of a struct type's fields, nested ones as
// "outer.inner".
func jsonKeys(typ reflect.Type, prefix string) []string {
	var keys []string
	for f := range typ.Fields() {
		name := strings.Split(f.Tag.Get("json"), ",")[0]
		if name == "" {
			name = f.Name // as encoding/json names an untagged field
		}
		key := prefix + name
		keys = append(keys, key)
		if f.Type.Kind() == reflect.Struct {
			keys = append(keys, jsonKeys(f.Type, key+".")...)
		}
	}
	return keys
}

func TestServerBytesPerConn(t *testing.T) {
	if got := serverBytesPerConn(20000, 18000, 100); got != nil {
		t.Errorf("RSS shrank while joining: %v bytes per connection, want unknown (nil)", *got)
	}
	if got := serverBytesPerConn(20000, 20000, 100); got != nil {
		t.Errorf("RSS unchanged: %v bytes per connection, want unknown (nil)", *got)
	}
	if got := serverBytesPerConn(20000, 20400, 100); got == nil || *got != 4096 {
		t.Errorf("400 KiB for 100 connections: %v, want 4096 bytes each", got)
	}
}

func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-url", "http://127.0.0.1:1/"},
		{"-churn", "5"}, // needs -rate
		{"-window", "0"},
		{"-rooms", "0"},
		{"-transport", "pigeon"},
		{"-source-addrs", "nonsense", "-duration", "0", "-viewers", "0"},
	} {
		if err := Run(context.Background(), args, io.Discard, io.Discard); err == nil {
			t.Errorf("bench %q: no error", args)
		}
	}
}

func TestMessageRoundTrip(t *testing.T) {
	prefix := broadcastPrefix("f63ca67e-69bb-4a16-a71f-86a87acbe0b5")
	for _, key := range []string{"", "k7"} {
		msg := appendMessage(nil, prefix, 12345, 1700000000123456789, 150, key)
		if i, j := bytes.IndexByte(msg, '['), bytes.IndexByte(msg, ']'); j-i+1 != 150 {
			t.Errorf("funcParams of %d bytes, want 150: %s", j-i+1, msg)
		}
		var m rtbroadcaster.Message
		if err := json.Unmarshal(msg, &m); err != nil || m.FuncParams[0] != "12345" || m.StateKey != key {
			t.Fatalf("not the envelope we meant: %v %+v", err, m)
		}
		// The server re-encodes what it broadcasts; the bench must parse that.
		frame := m.Encode()
		seq, sent, ok := parseMessage(frame, prefix)
		if !ok || seq != 12345 || sent != 1700000000123456789 {
			t.Fatalf("parseMessage(%s) = %d, %d, %v", frame, seq, sent, ok)
		}
	}
}

func TestHistogramQuantiles(t *testing.T) {
	var h histogram
	for i := 1; i <= 10000; i++ {
		h.record(i, time.Duration(i)*time.Microsecond)
	}
	q := h.quantiles(0.5, 0.99, 1)
	for i, want := range []time.Duration{5 * time.Millisecond, 9900 * time.Microsecond, 10 * time.Millisecond} {
		if diff := float64(q[i]-want) / float64(want); diff < -0.02 || diff > 0.02 {
			t.Errorf("quantile %d = %v, want %v within 2%%", i, q[i], want)
		}
	}
}

// The viewer's receive path: scanning for the two numbers against decoding
// the JSON, which is what makes the bench cheap enough to share the machine.
func BenchmarkParseMessage(b *testing.B) {
	prefix := broadcastPrefix("f63ca67e-69bb-4a16-a71f-86a87acbe0b5")
	msg := appendMessage(nil, prefix, 12345, time.Now().UnixNano(), 150, "")
	b.Run("scan", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, ok := parseMessage(msg, prefix); !ok {
				b.Fatal("no parse")
			}
		}
	})
	b.Run("json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var m rtbroadcaster.Message
			if err := json.Unmarshal(msg, &m); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkHistogramRecord(b *testing.B) {
	var h histogram
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		h.record(i, time.Duration(i%5000)*time.Microsecond)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestJoinListensToAnotherRunsRoom spreads one room over two runs, as over
// two processes: the first owns it and prints its uuid, the second joins it
// with -join and only listens, checking order from its first message on.
func TestJoinListensToAnotherRunsRoom(t *testing.T) {
	url := startServer(t)
	logR, logW := io.Pipe()
	owned := make(chan error, 1)
	go func() { // the owning run: sends for 3 s
		var stdout bytes.Buffer
		owned <- Run(context.Background(), []string{"-url", url, "-viewers", "2", "-rate", "100", "-duration", "3s", "-progress", "100ms"}, &stdout, logW)
		logW.Close()
	}()
	room := make(chan string, 1)
	go func() { // reads the owning run's log: its room's uuid, then the rest
		lines := bufio.NewScanner(logR)
		for lines.Scan() {
			if id, ok := strings.CutPrefix(lines.Text(), "room 0: "); ok {
				room <- id
			}
		}
	}()
	var id string
	select {
	case id = <-room:
	case <-time.After(10 * time.Second):
		t.Fatal("the owning run never printed its room")
	}
	rep := runBench(t, url, "-join", id, "-viewers", "3", "-duration", "1s")
	if rep.Deliveries == 0 || rep.Connections != 3 || rep.Sent != 0 {
		t.Fatalf("listening run: %d deliveries over %d connections, %d sent; want some, 3, none", rep.Deliveries, rep.Connections, rep.Sent)
	}
	if rep.Lost != 0 || rep.Duplicated != 0 || rep.OutOfOrder != 0 || rep.Dropped != 0 {
		t.Fatalf("listening run: lost %d, dup %d, reordered %d, dropped %d (%q)", rep.Lost, rep.Duplicated, rep.OutOfOrder, rep.Dropped, rep.ViewerErrors)
	}
	if err := <-owned; err != nil {
		t.Fatalf("owning run: %v", err)
	}
}
