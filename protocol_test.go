package rtbroadcaster_test

import (
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	rtb "github.com/rtbroadcaster/rtbroadcaster"
)

// TestRefusedRequests drives every refusal in PROTOCOL.md's error table and
// checks the reply, the truth of its status, and that the connection and the
// room still work afterwards.
func TestRefusedRequests(t *testing.T) {
	srv := startServer(t, rtb.WithLimits(rtb.Limits{MaxFuncParams: 3}))
	owner, room, viewer := ownerAndViewer(t, srv.wsURL)
	stranger := dial(t, srv.wsURL, nil) // in no room

	tests := []struct {
		name       string
		from       *wsClient
		send       any
		code       rtb.ErrorCode
		wantStatus int
	}{
		{"not JSON", stranger, "hello", rtb.CodeBadRequest, 0},
		{"truncated JSON", owner, `{"uuid": "`, rtb.CodeBadRequest, 3},
		{"empty frame", stranger, "", rtb.CodeBadRequest, 0},
		{"whitespace frame", viewer, "  \n", rtb.CodeBadRequest, 3},
		{"JSON array", stranger, `[1,2]`, rtb.CodeBadRequest, 0},
		{"JSON null", stranger, `null`, rtb.CodeBadRequest, 0},
		{"status is a string", stranger, `{"status":"1"}`, rtb.CodeBadRequest, 0},
		{"status value is a string", stranger, `{"status":{"value":"1"}}`, rtb.CodeBadRequest, 0},
		{"funcParams of numbers", owner, `{"uuid":"` + room + `","status":{"value":3},"funcKey":"k","funcParams":[1,2]}`, rtb.CodeBadRequest, 3},
		{"funcParams an object", owner, `{"uuid":"` + room + `","status":{"value":3},"funcKey":"k","funcParams":{}}`, rtb.CodeBadRequest, 3},
		{"uuid a number", stranger, `{"uuid":7,"status":{"value":2}}`, rtb.CodeBadRequest, 0},
		{"stateMessage a string", owner, `{"uuid":"` + room + `","status":{"value":3},"funcKey":"k","stateMessage":"yes"}`, rtb.CodeBadRequest, 3},
		{"missing status", stranger, `{"uuid":""}`, rtb.CodeBadRequest, 0},
		{"status 0", stranger, request(0, "", ""), rtb.CodeBadRequest, 0},
		{"status 5", owner, request(5, room, ""), rtb.CodeBadRequest, 3},
		{"status -1", stranger, request(-1, "", ""), rtb.CodeBadRequest, 0},
		{"status 3.5", stranger, `{"status":{"value":3.5}}`, rtb.CodeBadRequest, 0},
		{"broadcast with empty funcKey", owner, request(3, room, ""), rtb.CodeBadRequest, 3},
		{"too many funcParams", owner, request(3, room, "k", "a", "b", "c", "d"), rtb.CodeBadRequest, 3},
		{"join unknown room", stranger, request(2, "0b8e6a6c-3c1a-4d55-9bb8-7a8f0e1c2d3e", ""), rtb.CodeRoomNotFound, 0},
		{"join with empty uuid", stranger, request(2, "", ""), rtb.CodeRoomNotFound, 0},
		{"viewer broadcasts", viewer, request(3, room, "k"), rtb.CodeNotOwner, 3},
		{"viewer closes", viewer, request(4, room, ""), rtb.CodeNotOwner, 3},
		{"owner names another room", owner, request(3, "0b8e6a6c-3c1a-4d55-9bb8-7a8f0e1c2d3e", "k"), rtb.CodeNotOwner, 3},
		{"owner closes another room", owner, request(4, "", ""), rtb.CodeNotOwner, 3},
		{"broadcast from no room", stranger, request(3, room, "k"), rtb.CodeNotInRoom, 0},
		{"close from no room", stranger, request(4, room, ""), rtb.CodeNotInRoom, 0},
		{"owner creates again", owner, request(1, "", ""), rtb.CodeAlreadyInRoom, 3},
		{"owner joins", owner, request(2, room, ""), rtb.CodeAlreadyInRoom, 3},
		{"viewer joins again", viewer, request(2, room, ""), rtb.CodeAlreadyInRoom, 3},
		{"viewer creates", viewer, request(1, "", ""), rtb.CodeAlreadyInRoom, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.from.t = t
			tt.from.send(tt.send)
			m := tt.from.nextError(tt.code)
			if m.Status.Value != tt.wantStatus {
				t.Errorf("status %d, want %d", m.Status.Value, tt.wantStatus)
			}
			wantText := map[int]string{0: "not connected", 3: "connected"}[tt.wantStatus]
			if m.Status.Text != wantText {
				t.Errorf("status text %q, want %q", m.Status.Text, wantText)
			}
			if tt.wantStatus == 3 && m.UUID != room {
				t.Errorf("uuid %q, want the connection's room %q", m.UUID, room)
			}
			if tt.wantStatus == 0 && m.UUID != "" {
				t.Errorf("uuid %q, want empty: the connection is in no room", m.UUID)
			}
			if m.Error.Message == "" {
				t.Error("error message is empty")
			}
			if m.FuncParams == nil {
				t.Error("funcParams is null; it must be an array")
			}
		})
	}

	// Nothing reached the viewer, and the room still works for everyone.
	owner.t, viewer.t, stranger.t = t, t, t
	owner.send(request(3, room, "still", "works"))
	if m := viewer.next(); m.FuncKey != "still" || strings.Join(m.FuncParams, ",") != "works" {
		t.Fatalf("after the refusals the viewer got %+v", m)
	}
	other := stranger.createRoom()
	if other == room {
		t.Fatal("a new room reused an open room's uuid")
	}
}

func TestLimitRefusals(t *testing.T) {
	t.Run("room_full", func(t *testing.T) {
		srv := startServer(t, rtb.WithLimits(rtb.Limits{MaxViewersPerRoom: 1}))
		room := dial(t, srv.wsURL, nil).createRoom()
		dial(t, srv.wsURL, nil).joinRoom(room)
		second := dial(t, srv.wsURL, nil)
		second.send(request(2, room, ""))
		if m := second.nextError(rtb.CodeRoomFull); m.Status.Value != 0 {
			t.Fatalf("status %d after a refused join, want 0", m.Status.Value)
		}
	})
	t.Run("state_full by count", func(t *testing.T) {
		srv := startServer(t, rtb.WithLimits(rtb.Limits{MaxStateMessages: 2}))
		owner := dial(t, srv.wsURL, nil)
		room := owner.createRoom()
		owner.send(stateRequest(room, "a", ""))
		owner.send(stateRequest(room, "b", ""))
		owner.send(stateRequest(room, "a", "", "replacing is fine"))
		owner.send(stateRequest(room, "c", ""))
		owner.nextError(rtb.CodeStateFull)

		late := dial(t, srv.wsURL, nil)
		if got := late.joinRoom(room).StateCount; got != 2 {
			t.Fatalf("stateCount %d, want 2", got)
		}
		if m := late.next(); m.FuncKey != "b" {
			t.Fatalf("first replayed %q, want b", m.FuncKey)
		}
		if m := late.next(); m.FuncKey != "a" || m.FuncParams[0] != "replacing is fine" {
			t.Fatalf("second replayed %+v, want the replaced a", m)
		}
		late.expectNothing(100 * time.Millisecond) // the refused c was not broadcast either
	})
	t.Run("state_full by bytes", func(t *testing.T) {
		srv := startServer(t, rtb.WithLimits(rtb.Limits{MaxStateBytes: 400}))
		owner := dial(t, srv.wsURL, nil)
		room := owner.createRoom()
		owner.send(stateRequest(room, "big", "", strings.Repeat("x", 200)))
		owner.send(stateRequest(room, "bigger", "", strings.Repeat("y", 200)))
		owner.nextError(rtb.CodeStateFull)
	})
	t.Run("rate_limited", func(t *testing.T) {
		var clock testClock
		srv := startServer(t, rtb.WithLimits(rtb.Limits{MessagesPerSecond: 2, MessageBurst: 2}), rtb.WithClock(clock.now))
		owner, room, viewer := ownerAndViewer(t, srv.wsURL) // uses one token
		owner.send(request(3, room, "one"))
		owner.send(request(3, room, "dropped"))
		if m := owner.nextAction(); m.Error == nil || m.Error.Code != rtb.CodeRateLimited || m.Status.Value != 3 {
			t.Fatalf("got %+v, want rate_limited while in the room", m)
		}
		if m := viewer.next(); m.FuncKey != "one" {
			t.Fatalf("viewer got %q, want one", m.FuncKey)
		}
		clock.advance(600 * time.Millisecond) // the bucket refills
		owner.send(request(3, room, "after"))
		if m := viewer.next(); m.FuncKey != "after" {
			t.Fatalf("viewer got %q after the refill, want after", m.FuncKey)
		}
	})
	t.Run("frame over the read limit closes with 1009", func(t *testing.T) {
		srv := startServer(t, rtb.WithLimits(rtb.Limits{ReadLimit: 1024}))
		c := dial(t, srv.wsURL, nil)
		c.send(`{"status":{"value":1},"funcParams":["` + strings.Repeat("x", 2000) + `"]}`)
		c.expectClose(1009)
	})
}

func TestOwnerGetsNoEchoButPresence(t *testing.T) {
	srv := startServer(t)
	owner := dial(t, srv.wsURL, nil)
	room := owner.createRoom()
	v1, v2 := dial(t, srv.wsURL, nil), dial(t, srv.wsURL, nil)
	v1.joinRoom(room)
	v2.joinRoom(room)
	waitViewers(t, owner, 2)

	owner.send(request(3, room, "hello", "a"))
	for _, v := range []*wsClient{v1, v2} {
		if m := v.next(); m.FuncKey != "hello" {
			t.Fatalf("viewer got %+v", m)
		}
	}
	owner.expectNothing(300 * time.Millisecond)

	_ = v2.conn.NetConn().Close()
	waitViewers(t, owner, 1)
}

// waitViewers reads presence messages until the count is n.
func waitViewers(t *testing.T, owner *wsClient, n int) {
	t.Helper()
	for {
		m := owner.next()
		if m.Viewers == nil || m.FuncKey != "" || m.Status.Value != 3 {
			t.Fatalf("owner got %+v, want a presence message", m)
		}
		if *m.Viewers == n {
			return
		}
	}
}

func TestStateMessages(t *testing.T) {
	srv := startServer(t)
	owner, room, live := ownerAndViewer(t, srv.wsURL)

	sends := []*rtb.Message{
		stateRequest(room, "slide", "", "1"),
		stateRequest(room, "draw", "stroke-1", "a"),
		request(3, room, "laser", "10", "20"), // not state: live only
		stateRequest(room, "draw", "stroke-2", "b"),
		stateRequest(room, "slide", "", "2"), // replaces slide 1 and moves to the end
		stateRequest(room, "draw", "stroke-1", "a2"),
	}
	for _, m := range sends {
		owner.send(m)
	}
	for i, want := range sends {
		got := live.next()
		if got.FuncKey != want.FuncKey || got.FuncParams[0] != want.FuncParams[0] || got.StateMessage != want.StateMessage || got.StateKey != want.StateKey {
			t.Fatalf("live message %d: got %+v, want %+v", i, got, want)
		}
	}

	late := dial(t, srv.wsURL, nil)
	if n := late.joinRoom(room).StateCount; n != 3 {
		t.Fatalf("stateCount %d, want 3", n)
	}
	for _, want := range []string{"draw/stroke-2/b", "slide//2", "draw/stroke-1/a2"} {
		m := late.next()
		if got := m.FuncKey + "/" + m.StateKey + "/" + m.FuncParams[0]; got != want || !m.StateMessage {
			t.Fatalf("replayed %s (state %v), want %s", got, m.StateMessage, want)
		}
	}
	owner.send(request(3, room, "after"))
	if m := late.next(); m.FuncKey != "after" {
		t.Fatalf("after the replay got %+v", m)
	}
}

// TestOwnerLeavingClosesRoom: without a grace, as in the original rtbroadcaster, the room
// closes when its owner's connection ends.
func TestOwnerLeavingClosesRoom(t *testing.T) {
	srv := startServer(t, rtb.WithOwnerGrace(0))
	owner, room, viewer := ownerAndViewer(t, srv.wsURL)
	owner.send(request(3, room, "last"))
	_ = owner.conn.NetConn().Close()

	if m := viewer.next(); m.FuncKey != "last" {
		t.Fatalf("got %+v, want the last broadcast first", m)
	}
	if m := viewer.next(); m.Status.Value != 0 || m.Status.Text != "not connected" || m.UUID != room {
		t.Fatalf("got %+v, want status 0 for the room", m)
	}
	viewer.expectClose(1000)

	c := dial(t, srv.wsURL, nil)
	c.send(request(2, room, ""))
	c.nextError(rtb.CodeRoomNotFound)
}

func TestOwnerMayCreateAgainAfterClose(t *testing.T) {
	srv := startServer(t)
	owner := dial(t, srv.wsURL, nil)
	first := owner.createRoom()
	owner.send(request(4, first, ""))
	if m := owner.next(); m.Status.Value != 0 || m.UUID != first {
		t.Fatalf("close reply %+v", m)
	}
	owner.send(request(3, first, "k"))
	owner.nextError(rtb.CodeNotInRoom)
	if second := owner.createRoom(); second == first {
		t.Fatal("got the closed room's uuid again")
	}
}

func TestLeniency(t *testing.T) {
	srv := startServer(t)
	owner := dial(t, srv.wsURL, nil)
	// Unknown fields, odd status text, funcParams left out, case-insensitive names.
	owner.send(`{"UUID":"","Status":{"value":1,"text":"whatever"},"extra":{"nested":[1,2]}}`)
	room := owner.next().UUID
	viewer := dial(t, srv.wsURL, nil)
	// The original JavaScript client sends "new connection" with a join.
	viewer.send(`{"uuid":"` + room + `","status":{"value":2,"text":"new connection"},"funcKey":"","funcParams":null}`)
	if m := viewer.next(); m.UUID != room || m.Error != nil {
		t.Fatalf("join reply %+v", m)
	}
	owner.send(`/* a block comment */ {"uuid":"` + room + `","status":{"value":3},"funcKey":"k // not a comment","funcParams":["/* nor this */"], "x": true}`)
	m := viewer.next()
	if m.FuncKey != "k // not a comment" || m.FuncParams[0] != "/* nor this */" {
		t.Fatalf("comment stripping touched a string: %+v", m)
	}
	raw := `{"uuid":"` + room + `","status":{"value":3},"funcKey":"html","funcParams":["<b>&</b>"]}`
	owner.send(raw)
	if got := viewer.nextRaw(); !strings.Contains(string(got), `"<b>&</b>"`) {
		t.Fatalf("viewer got %s; strings should pass through unescaped", got)
	}
}

func TestOriginPolicy(t *testing.T) {
	viaTLSProxy := http.Header{"X-Forwarded-Proto": {"https"}} // as a proxy that ends TLS says
	tests := []struct {
		name    string
		allowed []string
		origin  string
		header  http.Header // sent besides the Origin
		trusted bool        // the test's client is a trusted proxy
		wantOK  bool
	}{
		{"no Origin header", nil, "", nil, false, true},
		{"same origin", nil, "http://HOST", nil, false, true},
		{"other origin by default", nil, "https://evil.example", nil, false, false},
		{"listed origin", []string{"https://app.example"}, "https://app.example", nil, false, true},
		{"unlisted origin", []string{"https://app.example"}, "https://evil.example", nil, false, false},
		{"star", []string{"*"}, "https://anything.example", nil, false, true},
		// An allow-list replaces same-origin: a page of a rebinding domain
		// has the Host it names (DNS rebinding).
		{"same origin, not listed", []string{"https://app.example"}, "http://HOST", nil, false, false},
		// The scheme: an https page whose TLS a proxy ended is same-origin;
		// an http page, which a network attacker can write, does not reach
		// a server reached over TLS.
		{"https page, TLS ended at a proxy", nil, "https://HOST", viaTLSProxy, true, true},
		{"http page, TLS ended at a trusted proxy", nil, "http://HOST", viaTLSProxy, true, false},
		{"http page, X-Forwarded-Proto of an untrusted peer", nil, "http://HOST", viaTLSProxy, false, true},
		{"another scheme", nil, "ftp://HOST", nil, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var trusted []netip.Prefix
			if tt.trusted {
				trusted = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
			}
			srv := startServer(t, rtb.WithTrustedProxies(trusted...), rtb.WithAllowedOrigins(tt.allowed...))
			header := tt.header.Clone()
			if header == nil {
				header = http.Header{}
			}
			if tt.origin != "" {
				header.Set("Origin", strings.Replace(tt.origin, "HOST", strings.TrimPrefix(srv.http.URL, "http://"), 1))
			}
			if tt.wantOK {
				dial(t, srv.wsURL, header).createRoom()
				return
			}
			// A browser reads a close code, never an HTTP status.
			if reason := expectRefused(t, srv.wsURL, header, rtb.CloseOriginRefused); reason != "origin not allowed" {
				t.Fatalf("close reason %q, want %q", reason, "origin not allowed")
			}
			if srv.Stats().OriginsRejected != 1 {
				t.Fatalf("OriginsRejected = %d, want 1", srv.Stats().OriginsRejected)
			}
		})
	}
}

// TestRefusalOutsideAHandshake: a request that is no WebSocket handshake
// (a health check, curl) gets the refusal as an HTTP status, with
// Retry-After when it may try again.
func TestRefusalOutsideAHandshake(t *testing.T) {
	srv := startServer(t, rtb.WithLimits(rtb.Limits{MaxConnections: 1}))
	dial(t, srv.wsURL, nil)
	resp, err := http.Get(srv.http.URL + "/broadcast")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("got HTTP %d with Retry-After %q, want 503 with one", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
}

// TestClearState: a broadcast with clearState empties the room's kept
// state: viewers in the room receive the flag to reset their view, and a
// viewer joining later replays only what was kept after it.
func TestClearState(t *testing.T) {
	srv := startServer(t)
	owner, room, viewer := ownerAndViewer(t, srv.wsURL)
	owner.send(stateRequest(room, "draw", "stroke-1", "a"))
	owner.send(stateRequest(room, "draw", "stroke-2", "b"))
	clear := stateRequest(room, "slide", "", "5")
	clear.ClearState = true
	owner.send(clear)
	owner.send(stateRequest(room, "draw", "stroke-3", "c"))

	for _, want := range []struct {
		funcKey    string
		clearState bool
	}{{"draw", false}, {"draw", false}, {"slide", true}, {"draw", false}} {
		if m := viewer.nextAction(); m.FuncKey != want.funcKey || m.ClearState != want.clearState {
			t.Fatalf("viewer got %+v, want %s with clearState %v", m, want.funcKey, want.clearState)
		}
	}
	late := dial(t, srv.wsURL, nil)
	if reply := late.joinRoom(room); reply.StateCount != 2 || reply.Seq != 4 {
		t.Fatalf("late join: %+v, want the 2 messages kept since the clear", reply)
	}
	for _, want := range []string{"5", "c"} {
		if m := late.nextAction(); m.FuncParams[0] != want {
			t.Fatalf("late viewer replayed %+v, want params [%s]", m, want)
		}
	}
}
