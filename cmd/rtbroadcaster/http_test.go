package main

import (
	"bufio"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/rtbroadcaster/rtbroadcaster"
)

// TestIdleHTTPConnectionsAreClosed: keep-alive connections that send no
// next request, and requests whose headers never end, are closed after
// -http-idle-timeout, while a WebSocket opened before them stays usable.
func TestIdleHTTPConnectionsAreClosed(t *testing.T) {
	base := startNode(t, buildBinary(t), "-http-idle-timeout", "300ms")
	ws := dialNode(t, base)
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	idle := dialHTTP(t, u.Host, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, err := http.ReadResponse(bufio.NewReader(idle), nil); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /healthz: %v %v", resp, err)
	}
	slow := dialHTTP(t, u.Host, "GET /healthz HTTP/1.1\r\nHost: x\r\n") // headers never end
	for name, c := range map[string]net.Conn{"an idle keep-alive connection": idle, "a request whose headers never end": slow} {
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.Copy(io.Discard, c); err != nil {
			t.Errorf("%s: the server did not close it within 10 s (%v)", name, err)
		}
	}
	ws.send(t, `{"uuid":"","status":{"value":1,"text":"new connection"},"funcKey":"","funcParams":[],"stateMessage":false}`)
	if m := ws.next(t); m.UUID == "" || m.Error != nil {
		t.Fatalf("the WebSocket opened before: create got %+v", m)
	}
}

// dialHTTP opens a TCP connection to hostPort and writes request on it.
func dialHTTP(t *testing.T, hostPort, request string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", hostPort)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if _, err := io.WriteString(c, request); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestAdminPageHasItsCSPAtEveryURL: the dashboard is served at /admin and,
// by the file server of the pages, at /admin.html: both with the policy
// that keeps other sites from framing it.
func TestAdminPageHasItsCSPAtEveryURL(t *testing.T) {
	mgr := rtbroadcaster.NewManager(rtbroadcaster.WithLogger(slog.New(slog.DiscardHandler)))
	mux := newMux(mgr)
	mountOps(mux, mgr)
	for _, path := range []string{"/admin", "/admin.html"} {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		csp := rec.Header().Get("Content-Security-Policy")
		if rec.Code != http.StatusOK || !strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "default-src 'self'") {
			t.Errorf("GET %s: %d with Content-Security-Policy %q, want the dashboard with frame-ancestors 'none'", path, rec.Code, csp)
		}
	}
}
