package main

import (
	"bytes"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/lxzan/gws"
)

// client is a test WebSocket client that hands every text message over.
type client struct {
	gws.BuiltinEventHandler
	messages chan []byte
}

func (c *client) OnMessage(_ *gws.Conn, m *gws.Message) {
	defer m.Close()
	c.messages <- bytes.Clone(m.Bytes())
}

func dial(t *testing.T, addr string) (*gws.Conn, *client) {
	t.Helper()
	c := &client{messages: make(chan []byte, 16)}
	ws, _, err := gws.NewClient(c, &gws.ClientOption{Addr: "ws://" + addr + "/broadcast"})
	if err != nil {
		t.Fatal(err)
	}
	go ws.ReadLoop()
	t.Cleanup(func() { _ = ws.NetConn().Close() })
	return ws, c
}

func next(t *testing.T, c *client) []byte {
	t.Helper()
	select {
	case m := <-c.messages:
		return m
	case <-time.After(5 * time.Second):
		t.Fatal("no message within 5 s")
		return nil
	}
}

// TestFanOut: on every transport, an owner creates a room, two viewers join
// it, and the owner's messages reach both, verbatim and in order.
func TestFanOut(t *testing.T) {
	for _, transport := range []string{"gws", "gws-workers", "nbio", "nbio-std"} {
		t.Run(transport, func(t *testing.T) {
			if transport == "nbio" && raceEnabled {
				// nbio's own HTTP server hands each accepted connection to
				// its pollers through epoll, which the race detector cannot
				// see, and reports the connection's address as raced.
				t.Skip("nbio's own HTTP server is not race-detector clean (an accept handed over through epoll)")
			}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			addr := ln.Addr().String()
			_ = ln.Close()
			h := newHub(time.Minute, 2)
			var stop func()
			if strings.HasPrefix(transport, "nbio") {
				stop, err = serveNBIO(h, http.NewServeMux(), addr, transport == "nbio-std")
			} else {
				stop, err = serveGWS(h, http.NewServeMux(), addr, transport == "gws-workers")
			}
			if err != nil {
				t.Fatal(err)
			}
			defer stop()

			owner, ownerIn := dial(t, addr)
			if err := owner.WriteString(`{"uuid":"","status":{"value":1,"text":"new connection"}}`); err != nil {
				t.Fatal(err)
			}
			reply := next(t, ownerIn)
			if !bytes.HasPrefix(reply, []byte(`{"uuid":"`)) || len(reply) < 9+36 {
				t.Fatalf("create reply %s", reply)
			}
			id := string(reply[9 : 9+36])
			var viewers []*client
			for range 2 {
				v, in := dial(t, addr)
				if err := v.WriteString(`{"uuid":"` + id + `","status":{"value":2,"text":"join connection"}}`); err != nil {
					t.Fatal(err)
				}
				if r := next(t, in); !bytes.Contains(r, []byte(id)) {
					t.Fatalf("join reply %s", r)
				}
				viewers = append(viewers, in)
			}
			msgs := []string{`{"n":1}`, `{"n":2}`, `{"n":3}`}
			for _, m := range msgs {
				if err := owner.WriteString(m); err != nil {
					t.Fatal(err)
				}
			}
			for i, in := range viewers {
				for _, m := range msgs {
					if got := next(t, in); string(got) != m {
						t.Fatalf("viewer %d got %s, want %s", i, got, m)
					}
				}
			}
		})
	}
}

func TestServerFrame(t *testing.T) {
	for _, n := range []int{0, 125, 126, 290, 65535, 65536} {
		f := serverFrame(opText, make([]byte, n))
		header := len(f) - n
		want := map[bool]int{true: 2}[n < 126]
		switch {
		case n >= 126 && n <= 65535:
			want = 4
		case n > 65535:
			want = 10
		}
		if f[0] != 0x81 || header != want {
			t.Errorf("%d bytes: first byte %#x, header %d bytes, want 0x81 and %d", n, f[0], header, want)
		}
	}
}
