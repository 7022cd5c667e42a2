package main

import (
	"errors"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lxzan/gws"
)

func TestFlagsAndEnvironment(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		check   func(*serveConfig) bool
		wantErr string
	}{
		{"defaults", nil, nil, func(c *serveConfig) bool {
			return c.addr == ":8080" && c.limits.ReadLimit == 64<<10 && c.limits.SendQueueBytes == 1<<20 &&
				c.limits.MaxRooms == 10_000 && c.limits.MaxTotalStateBytes == 1<<30
		}, ""},
		{"room and total state caps", map[string]string{"RTB_MAX_ROOMS": "7"}, []string{"-max-total-state-bytes", "1048576"}, func(c *serveConfig) bool {
			return c.limits.MaxRooms == 7 && c.limits.MaxTotalStateBytes == 1<<20
		}, ""},
		{"negative room cap", nil, []string{"-max-rooms", "-1"}, nil, "-max-rooms: -1 is negative"},
		{"flag", nil, []string{"-addr", "127.0.0.1:9000"}, func(c *serveConfig) bool { return c.addr == "127.0.0.1:9000" }, ""},
		{"env twin", map[string]string{"RTB_ADDR": "127.0.0.1:9001", "RTB_MAX_VIEWERS": "7"}, nil, func(c *serveConfig) bool {
			return c.addr == "127.0.0.1:9001" && c.limits.MaxViewersPerRoom == 7
		}, ""},
		{"flag beats env", map[string]string{"RTB_ADDR": "127.0.0.1:9001"}, []string{"-addr", "127.0.0.1:9002"}, func(c *serveConfig) bool { return c.addr == "127.0.0.1:9002" }, ""},
		{"bad env", map[string]string{"RTB_READ_LIMIT": "lots"}, nil, nil, "RTB_READ_LIMIT"},
		{"bad flag", nil, []string{"-nope"}, nil, "not defined"},
		{"stray argument", nil, []string{"extra"}, nil, "unexpected arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			cfg, err := parseServeFlags(tt.args, io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want one mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !tt.check(cfg) {
				t.Fatalf("cfg %+v, err %v", cfg, err)
			}
		})
	}
}

func TestHelpDocumentsEveryFlagsEnvironmentTwin(t *testing.T) {
	var out strings.Builder
	if _, err := parseServeFlags([]string{"-h"}, &out); err == nil {
		t.Fatal("-h should end parsing")
	}
	for _, name := range []string{"RTB_ADDR", "RTB_READ_LIMIT", "RTB_SEND_QUEUE_BYTES", "RTB_ALLOWED_ORIGINS", "RTB_PING_INTERVAL"} {
		if !strings.Contains(out.String(), name) {
			t.Errorf("-h does not mention %s:\n%s", name, out.String())
		}
	}
}

// TestBinaryServesAndDrains builds the binary, runs it on a free port, uses
// every path it serves, then sends SIGTERM: the WebSocket client must get a
// close frame 1001 and the process must exit cleanly.
func TestBinaryServesAndDrains(t *testing.T) {
	bin := buildBinary(t)
	cmd := exec.Command(bin, "serve", "-addr", "127.0.0.1:0", "-shutdown-timeout", "5s")
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	base := waitForURLs(t, stderr, listeningURL)[0]
	for path, wantType := range map[string]string{"/healthz": "text/plain", "/": "text/html", "/sdk/rtbroadcaster.mjs": "javascript", "/sdk/rtbroadcaster.js": "javascript"} {
		resp, err := http.Get(base + strings.TrimPrefix(path, "/"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Type"), wantType) {
			t.Errorf("GET %s: %d %s", path, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	}

	closed, replied := make(chan error, 1), make(chan struct{}, 1)
	ws, _, err := gws.NewClient(&recorder{closed: closed, replied: replied}, &gws.ClientOption{Addr: "ws" + strings.TrimPrefix(base, "http") + "broadcasting"})
	if err != nil {
		t.Fatalf("dial /broadcasting: %v", err)
	}
	go ws.ReadLoop()
	if err := ws.WriteString(`{"uuid":"","status":{"value":1,"text":"new connection"},"funcKey":"","funcParams":[],"stateMessage":false}`); err != nil {
		t.Fatal(err)
	}
	select {
	case <-replied: // the room is created: SIGTERM finds a client in a room
	case <-time.After(10 * time.Second):
		t.Fatal("no reply to the new-room request")
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-closed:
		var ce *gws.CloseError
		if !errors.As(err, &ce) || ce.Code != 1001 {
			t.Fatalf("WebSocket ended with %v, want close 1001", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no close frame after SIGTERM")
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("still running 10 s after SIGTERM")
	}
}

// recorder reports a client connection's first message, and how it ended.
type recorder struct {
	gws.BuiltinEventHandler
	closed  chan error
	replied chan struct{}
}

func (r *recorder) OnClose(_ *gws.Conn, err error) { r.closed <- err }

func (r *recorder) OnMessage(_ *gws.Conn, m *gws.Message) {
	m.Close()
	select {
	case r.replied <- struct{}{}:
	default:
	}
}
