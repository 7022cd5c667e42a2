package client_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/rtbroadcaster/rtbroadcaster"
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

// proxy forwards TCP connections to a server and can cut them all, so that
// a test can drop a client's connection without the server closing it.
type proxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  []net.Conn
	wg     sync.WaitGroup
}

// startProxy returns a proxy to the server of wsURL and the URL to dial through it.
func startProxy(t testing.TB, wsURL string) (*proxy, string) {
	t.Helper()
	hostPort := strings.TrimPrefix(wsURL, "ws://")
	hostPort = hostPort[:strings.Index(hostPort, "/")]
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: hostPort}
	p.wg.Add(1)
	go p.accept() // accepts connections until the listener closes
	t.Cleanup(func() {
		_ = ln.Close()
		p.cut()
		p.wg.Wait()
	})
	return p, strings.Replace(wsURL, hostPort, ln.Addr().String(), 1)
}

func (p *proxy) accept() {
	defer p.wg.Done()
	for {
		in, err := p.ln.Accept()
		if err != nil {
			return
		}
		out, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = in.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, in, out)
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pipe(in, out) // copies client to server
		go p.pipe(out, in) // copies server to client
	}
}

func (p *proxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	_, _ = io.Copy(dst, src)
	_ = dst.Close()
	_ = src.Close()
}

// cut closes every connection through the proxy.
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.conns = nil
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
