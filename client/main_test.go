package client_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/rtbroadcaster/rtbroadcaster"
	"github.com/rtbroadcaster/rtbroadcaster/internal/netproxy"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// waitFor bounds every wait in these tests.
const waitFor = 10 * time.Second

// startServer runs a Manager behind an HTTP server on a loopback port and
// returns its WebSocket URL.
func startServer(t testing.TB, opts ...rtbroadcaster.Option) string {
	t.Helper()
	opts = append([]rtbroadcaster.Option{rtbroadcaster.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))}, opts...)
	mgr := rtbroadcaster.NewManager(opts...)
	mux := http.NewServeMux()
	mux.Handle("/broadcast", mgr)
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		_ = mgr.Shutdown(ctx)
		srv.Close()
	})
	return "ws" + strings.TrimPrefix(srv.URL, "http") + "/broadcast"
}

func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	t.Cleanup(cancel)
	return ctx
}

// startProxy returns a proxy to the server of wsURL, closed when the test
// ends, and the URL to dial through it.
func startProxy(t testing.TB, wsURL string) (*netproxy.Proxy, string) {
	t.Helper()
	u, err := url.Parse(wsURL)
	if err != nil {
		t.Fatal(err)
	}
	p, err := netproxy.Start(u.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p, p.URL(wsURL)
}

// recorder collects what a client's callbacks report, for a test to wait on.
type recorder struct {
	mu     sync.Mutex
	events []string
	notify chan struct{}
}

func newRecorder() *recorder { return &recorder{notify: make(chan struct{}, 1)} }

func (r *recorder) add(event string) {
	r.mu.Lock()
	r.events = append(r.events, event)
	r.mu.Unlock()
	select {
	case r.notify <- struct{}{}:
	default:
	}
}

// waitFor waits until event has been recorded n times in all.
func (r *recorder) waitFor(t testing.TB, event string, n int) {
	t.Helper()
	deadline := time.After(waitFor)
	for {
		if r.count(event) >= n {
			return
		}
		select {
		case <-r.notify:
		case <-deadline:
			t.Fatalf("waited %v for %d × %q; events: %q", waitFor, n, event, r.snapshot())
		}
	}
}

func (r *recorder) count(event string) int {
	n := 0
	for _, e := range r.snapshot() {
		if e == event {
			n++
		}
	}
	return n
}

func (r *recorder) snapshot() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.events...)
}
