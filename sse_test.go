package rtbroadcaster_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lxzan/gws"
	rtb "github.com/rtbroadcaster/rtbroadcaster"
	"github.com/rtbroadcaster/rtbroadcaster/auth"
	"github.com/rtbroadcaster/rtbroadcaster/broker/memory"
	"github.com/rtbroadcaster/rtbroadcaster/broker/redis/redistest"
	"github.com/rtbroadcaster/rtbroadcaster/internal/netproxy"
)

// TestSSEFollowsRoom: an SSE viewer gets, event by event, exactly the
// frames a WebSocket viewer that joined at the same point gets: the join
// reply, the state replay, live messages, the end of the room; ids only
// where they are recovery points; then the stream ends, and a reconnect to
// the closed room is answered 204, a first request 404.
func TestSSEFollowsRoom(t *testing.T) {
	srv := startServer(t)
	owner := dial(t, srv.wsURL, nil)
	room := owner.createRoom()
	owner.send(stateRequest(room, "slide", "", "1"))
	owner.send(stateRequest(room, "pen", "stroke-1", "red"))
	owner.send(request(rtb.StatusConnected, room, "laser", "10", "20"))
	owner.settle(room)

	ws := dial(t, srv.wsURL, nil)
	ws.send(request(rtb.StatusJoin, room, ""))
	sse := openEvents(t, srv.eventsURL(room), nil)
	waitViewers(t, owner, 2)

	// The join reply and the replay of two state messages: the last one
	// carries the reply's seq as its id, the others none.
	wantIDs := []string{"", "", "3"}
	for i, want := range wantIDs {
		frame := string(ws.nextRaw())
		_, ev := sse.next()
		if ev.data != frame {
			t.Fatalf("event %d: data %s, the WebSocket viewer got %s", i, ev.data, frame)
		}
		if idOf(ev) != want {
			t.Fatalf("event %d (%s): id %q, want %q", i, ev.data, idOf(ev), want)
		}
	}
	owner.send(request(rtb.StatusConnected, room, "goToSlide", "2"))
	owner.send(stateRequest(room, "slide", "", "3"))
	for seq := 4; seq <= 5; seq++ {
		frame := string(ws.nextRaw())
		_, ev := sse.next()
		if ev.data != frame || idOf(ev) != strconv.Itoa(seq) {
			t.Fatalf("live event id %q data %s; want id %d and the WebSocket frame %s", idOf(ev), ev.data, seq, frame)
		}
	}
	owner.send(request(rtb.StatusClose, room, ""))
	frame := string(ws.nextRaw())
	end, ev := sse.next()
	if ev.data != frame || end.Status.Value != rtb.StatusNotConnected || idOf(ev) != "6" {
		t.Fatalf("end of the room: event id %q %s, want id 6 and %s", idOf(ev), ev.data, frame)
	}
	if retry := sse.expectClose(rtb.CloseNormal).retry; retry != "" {
		t.Fatalf("a closed room's stream asks for a retry after %s ms", retry)
	}

	resp, c := getEvents(t, nil, srv.eventsURL(room), http.Header{"Last-Event-Id": {"6"}})
	if c != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("reconnect to the closed room: %d, want 204", resp.StatusCode)
	}
	resp, _ = getEvents(t, nil, srv.eventsURL(room), nil)
	if e := httpErrorOf(t, resp); resp.StatusCode != http.StatusNotFound || e.Code != rtb.CodeRoomNotFound {
		t.Fatalf("new stream of the closed room: %d %+v, want 404 room_not_found", resp.StatusCode, e)
	}
}

// TestSSERecoversAcrossDropsMemory: a viewer whose stream is cut again and
// again, mid-event, while the owner broadcasts, reconnects with
// Last-Event-ID each time and ends with every message exactly once, in
// order.
func TestSSERecoversAcrossDropsMemory(t *testing.T) {
	checkSSERecovery(t, startServer(t, rtb.WithBroker(memory.New())))
}

// TestSSERecoversAcrossDropsRedis is the same with the owner on one node
// and the SSE viewer on another, sharing a Redis.
func TestSSERecoversAcrossDropsRedis(t *testing.T) {
	nodes := startRedisNodes(t, redistest.URL(t), 2, 0)
	checkSSERecoveryOn(t, nodes[0].testServer, nodes[1].testServer)
}

func checkSSERecovery(t *testing.T, srv *testServer) { checkSSERecoveryOn(t, srv, srv) }

func checkSSERecoveryOn(t *testing.T, ownerNode, viewerNode *testServer) {
	const total, cuts = 600, 6
	owner := dial(t, ownerNode.wsURL, nil)
	room := owner.createRoom()
	owner.send(stateRequest(room, "slide", "", "start")) // seq 1
	owner.settle(room)

	proxy, err := netproxy.Start(strings.TrimPrefix(viewerNode.http.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proxy.Close)
	url := proxy.URL(viewerNode.eventsURL(room))

	published := make(chan error, 1)
	publish := func() {
		for i := range total {
			frame, _ := json.Marshal(request(rtb.StatusConnected, room, "n", strconv.Itoa(i)))
			if err := owner.conn.WriteMessage(gws.OpcodeText, frame); err != nil {
				published <- err
				return
			}
			if i%20 == 19 {
				time.Sleep(5 * time.Millisecond) // let the stream be cut mid-way
			}
		}
		published <- nil
	}

	var got []int
	lastID, connections := "", 0
	for len(got) < total {
		connections++
		if connections > 100 {
			t.Fatalf("%d connections and %d of %d messages", connections, len(got), total)
		}
		header := http.Header{}
		if lastID != "" {
			header.Set("Last-Event-ID", lastID)
		}
		sse := openEvents(t, url, header)
		if connections <= cuts {
			proxy.CutAfter(int64(1500 + 997*connections)) // mid-event, somewhere
		}
		reply, ev := sse.next()
		if connections == 1 {
			go publish()
		}
		switch {
		case reply.Error != nil:
			t.Fatalf("join reply %s", ev.data)
		case lastID == "" && (reply.Recovered != nil || reply.StateCount != 1):
			t.Fatalf("first join reply %s, want a plain join with the state replay", ev.data)
		case lastID != "" && (reply.Recovered == nil || !*reply.Recovered || strconv.FormatUint(reply.Seq, 10) != lastID):
			t.Fatalf("rejoin from %s: reply %s, want recovered from there", lastID, ev.data)
		}
		if id := idOf(ev); id != "" {
			lastID = id
		}
		for {
			ev, err := sse.recvEvent()
			if err != nil {
				break // cut: reconnect
			}
			var m rtb.Message
			if err := json.Unmarshal([]byte(ev.data), &m); err != nil {
				t.Fatalf("event %q: %v", ev.data, err)
			}
			if m.FuncKey == "n" {
				if i, _ := strconv.Atoi(m.FuncParams[0]); i != len(got) || m.Seq != uint64(i+2) {
					t.Fatalf("got n %d numbered %d after %d messages; want n %d numbered %d", i, m.Seq, len(got), len(got), len(got)+2)
				}
				got = append(got, len(got))
			}
			if idOf(ev) != "" {
				lastID = idOf(ev)
			}
			if len(got) == total {
				break
			}
		}
		sse.close()
	}
	if err := <-published; err != nil {
		t.Fatal(err)
	}
	if connections <= cuts {
		t.Fatalf("only %d connections: the stream was not cut %d times", connections, cuts)
	}
}

// TestSSERecoveryFallsBack: a viewer that missed more than the history
// holds is told recovered: false and gets the state replay, whose last
// event carries the reply's seq as its id.
func TestSSERecoveryFallsBack(t *testing.T) {
	srv := startServer(t, rtb.WithLimits(rtb.Limits{HistoryMessages: 5}))
	owner := dial(t, srv.wsURL, nil)
	room := owner.createRoom()
	owner.send(stateRequest(room, "slide", "", "1")) // 1
	sse := openEvents(t, srv.eventsURL(room), nil)
	sse.next()
	if _, ev := sse.next(); idOf(ev) != "1" {
		t.Fatalf("replay's last event has id %q, want 1", idOf(ev))
	}
	sse.close()
	sendRange(t, owner, room, 0, 10) // 2..11
	owner.send(stateRequest(room, "pen", "", "blue"))
	owner.settle(room)

	back := openEvents(t, srv.eventsURL(room)+"?lastEventId=1", nil)
	reply, ev := back.next()
	if reply.Recovered == nil || *reply.Recovered || reply.Seq != 12 || reply.StateCount != 2 || idOf(ev) != "" {
		t.Fatalf("rejoin past the history: %s (id %q), want recovered false, seq 12, stateCount 2, no id", ev.data, idOf(ev))
	}
	if m, ev := back.next(); m.FuncKey != "slide" || idOf(ev) != "" {
		t.Fatalf("replay: %s id %q", ev.data, idOf(ev))
	}
	if m, ev := back.next(); m.FuncKey != "pen" || idOf(ev) != "12" {
		t.Fatalf("replay's last: %s id %q, want id 12", ev.data, idOf(ev))
	}
	owner.send(request(rtb.StatusConnected, room, "live"))
	if m, ev := back.next(); m.FuncKey != "live" || idOf(ev) != "13" {
		t.Fatalf("live: %s id %q", ev.data, idOf(ev))
	}
}

// TestSSERefusals: every refused stream gets a status and an error in the
// protocol's shape, and holds nothing.
func TestSSERefusals(t *testing.T) {
	srv := startServer(t, rtb.WithLimits(rtb.Limits{MaxViewersPerRoom: 1}), rtb.WithAllowedOrigins("https://app.example"))
	owner := dial(t, srv.wsURL, nil)
	room := owner.createRoom()
	first := openEvents(t, srv.eventsURL(room), nil)
	first.next()
	for _, tc := range []struct {
		name   string
		url    string
		header http.Header
		status int
		code   rtb.ErrorCode
	}{
		{"room full", srv.eventsURL(room), nil, 503, rtb.CodeRoomFull},
		{"no such room", srv.eventsURL("0b8e4f3a-7c1d-4e2b-9a6f-5d3c2b1a0f9e"), nil, 404, rtb.CodeRoomNotFound},
		{"not a uuid", srv.eventsURL("nope"), nil, 404, rtb.CodeRoomNotFound},
		{"bad Last-Event-ID", srv.eventsURL(room), http.Header{"Last-Event-Id": {"x"}}, 400, rtb.CodeBadRequest},
		{"bad lastEventId", srv.eventsURL(room) + "?lastEventId=-1", nil, 400, rtb.CodeBadRequest},
		{"origin", srv.eventsURL(room), http.Header{"Origin": {"https://evil.example"}}, 403, rtb.CodeForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, c := getEvents(t, nil, tc.url, tc.header)
			if c != nil {
				t.Fatalf("got a stream, want %d", tc.status)
			}
			if e := httpErrorOf(t, resp); resp.StatusCode != tc.status || e.Code != tc.code || e.Message == "" {
				t.Fatalf("%d %+v, want %d %s", resp.StatusCode, e, tc.status, tc.code)
			}
		})
	}
	if n := srv.Stats().Connections; n != 2 {
		t.Fatalf("%d connections after the refusals, want 2", n)
	}
	if resp, _ := getEvents(t, nil, srv.eventsURL(room), nil); resp.Header.Get("Retry-After") == "" {
		t.Fatal("room_full without Retry-After")
	}
	resp, err := http.Post(srv.eventsURL(room), "text/plain", strings.NewReader("hello"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if e := httpErrorOf(t, resp); resp.StatusCode != http.StatusMethodNotAllowed || e.Code != rtb.CodeBadRequest || resp.Header.Get("Allow") == "" {
		t.Fatalf("POST: %d %+v, Allow %q", resp.StatusCode, e, resp.Header.Get("Allow"))
	}
}

// TestSSEConnectionRate: an address that opens connections too fast is
// refused a stream as a WebSocket: 429 with Retry-After, or, to an
// EventSource, a close event 4429 with retry:.
func TestSSEConnectionRate(t *testing.T) {
	srv := startServer(t, rtb.WithLimits(rtb.Limits{ConnectionsPerSecondPerIP: 0.001, ConnectionBurstPerIP: 2}))
	owner := dial(t, srv.wsURL, nil)
	room := owner.createRoom()
	first := openEvents(t, srv.eventsURL(room), nil) // the burst's second connection
	first.next()
	resp, c := getEvents(t, nil, srv.eventsURL(room), nil)
	if c != nil || resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("third connection: %d, Retry-After %q; want 429 with it", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if e := httpErrorOf(t, resp); e.Code != rtb.CodeRateLimited {
		t.Fatalf("third connection: %+v", e)
	}
	es := openEvents(t, srv.eventsURL(room), http.Header{"Accept": {"text/event-stream"}})
	if ev := es.expectClose(rtb.CloseTooManyConnections); ev.retry != "1000" {
		t.Fatalf("to an EventSource: retry %q, want 1000", ev.retry)
	}
}

// TestSSEOriginsAndCORS: a page of an allowed origin may read the stream
// cross-origin (CORS, preflight included); the same allow-list as
// WebSocket's.
func TestSSEOriginsAndCORS(t *testing.T) {
	srv := startServer(t, rtb.WithAllowedOrigins("https://app.example"))
	owner := dial(t, srv.wsURL, nil)
	room := owner.createRoom()
	sse := openEvents(t, srv.eventsURL(room), http.Header{"Origin": {"https://app.example"}})
	if got := sse.resp.Header.Get("Access-Control-Allow-Origin"); got != "https://app.example" {
		t.Fatalf("Access-Control-Allow-Origin %q", got)
	}
	sse.next()
	req, _ := http.NewRequest(http.MethodOptions, srv.eventsURL(room), nil)
	req.Header.Set("Origin", "https://app.example")
	req.Header.Set("Access-Control-Request-Headers", "last-event-id")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != 204 || !strings.Contains(resp.Header.Get("Access-Control-Allow-Headers"), "Last-Event-ID") ||
		resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example" {
		t.Fatalf("preflight: %d %v", resp.StatusCode, resp.Header)
	}
	expectRefused(t, srv.wsURL, http.Header{"Origin": {"https://evil.example"}}, rtb.CloseOriginRefused)
	if resp, _ := getEvents(t, nil, srv.eventsURL(room), http.Header{"Origin": {"https://evil.example"}}); resp.StatusCode != 403 ||
		resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("refused origin: %d, Access-Control-Allow-Origin %q", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
	}
}

// TestSSETokens: with tokens required, a stream needs ?token= with a grant
// for the room: none or an invalid one is 401, one for another room 403.
func TestSSETokens(t *testing.T) {
	srv := startAuthServer(t)
	owner := dial(t, srv.wsURL+"?token="+token(t, auth.Grant{Create: true}, time.Minute), nil)
	room := owner.createRoom()
	for _, tc := range []struct {
		name   string
		query  string
		status int
		code   rtb.ErrorCode
	}{
		{"none", "", 401, rtb.CodeUnauthorized},
		{"expired", "?token=" + token(t, auth.Grant{Rooms: []string{"*"}}, -time.Minute), 401, rtb.CodeUnauthorized},
		{"another room", "?token=" + token(t, auth.Grant{Rooms: []string{"0b8e4f3a-7c1d-4e2b-9a6f-5d3c2b1a0f9e"}}, time.Minute), 403, rtb.CodeForbidden},
	} {
		resp, c := getEvents(t, nil, srv.eventsURL(room)+tc.query, nil)
		if c != nil {
			t.Fatalf("%s: got a stream", tc.name)
		}
		if e := httpErrorOf(t, resp); resp.StatusCode != tc.status || e.Code != tc.code {
			t.Fatalf("%s: %d %+v, want %d %s", tc.name, resp.StatusCode, e, tc.status, tc.code)
		}
	}
	sse := openEvents(t, srv.eventsURL(room)+"?token="+token(t, auth.Grant{Rooms: []string{room}}, time.Minute), nil)
	if m, _ := sse.next(); m.Error != nil || m.UUID != room {
		t.Fatalf("join reply %+v", m)
	}
}

// TestSSESlowConsumer: a viewer that stops reading is cut as a WebSocket
// viewer is, counted as one, and the room goes on.
func TestSSESlowConsumer(t *testing.T) {
	srv := startServer(t, rtb.WithLimits(rtb.Limits{SendQueueBytes: 256 << 10, WriteTimeout: time.Second}))
	owner := dial(t, srv.wsURL, nil)
	room := owner.createRoom()
	stuck := openNeverReads(t, srv, room)
	waitViewers(t, owner, 1)
	big := strings.Repeat("x", 2<<10)
	for sent := 0; sent < 20000 && srv.Stats().SlowConsumers == 0; sent++ {
		owner.send(request(rtb.StatusConnected, room, "n", strconv.Itoa(sent), big))
	}
	waitViewers(t, owner, 0)
	_ = stuck.Close()
	if n := srv.Stats().SlowConsumers; n != 1 {
		t.Fatalf("%d slow consumers, want 1", n)
	}
	eventually(t, func() error {
		if got := scrape(t, srv.MetricsHandler())[`rtbroadcaster_disconnects_total{reason="slow consumer"}`]; got != 1 {
			return fmt.Errorf("disconnects by slow consumer: %v", got)
		}
		return nil
	})
	live := openEvents(t, srv.eventsURL(room), nil)
	live.next()
	owner.send(request(rtb.StatusConnected, room, "after"))
	for { // the owner's last broadcasts may still be on their way
		if m, _ := live.next(); m.FuncKey == "after" {
			break
		} else if m.FuncKey != "n" {
			t.Fatalf("a viewer after the cut got %+v", m)
		}
	}
}

// openNeverReads opens room's stream on a socket with a small receive
// buffer, and never reads it.
func openNeverReads(t *testing.T, srv *testServer, room string) net.Conn {
	t.Helper()
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
	}}
	addr := strings.TrimPrefix(srv.http.URL, "http://")
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "GET /rooms/%s/events HTTP/1.1\r\nHost: %s\r\n\r\n", room, addr)
	return conn
}

// TestSSEAdmission: a full or draining server refuses a stream as it
// refuses a WebSocket: an EventSource gets a stream that says when to come
// back (retry:), any other client the HTTP status with Retry-After.
func TestSSEAdmission(t *testing.T) {
	srv := startServer(t, rtb.WithLimits(rtb.Limits{MaxConnections: 1}))
	owner := dial(t, srv.wsURL, nil)
	room := owner.createRoom()
	resp, c := getEvents(t, nil, srv.eventsURL(room), nil)
	if c != nil || resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("full: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if e := httpErrorOf(t, resp); e.Code != rtb.CodeUnavailable {
		t.Fatalf("full: %+v", e)
	}
	es := openEvents(t, srv.eventsURL(room), http.Header{"Accept": {"text/event-stream"}})
	ev := es.expectClose(rtb.CloseUnavailable)
	if ms, err := strconv.Atoi(ev.retry); err != nil || ms < 1000 || !strings.Contains(ev.data, "reconnect in") {
		t.Fatalf("refusal to an EventSource: retry %q, %s", ev.retry, ev.data)
	}
}

// TestSSEDrain: a server that shuts down ends each stream with a close
// event 1001 whose retry: is the delay it names.
func TestSSEDrain(t *testing.T) {
	srv := startServer(t, rtb.WithDrainSpread(2*time.Second))
	owner := dial(t, srv.wsURL, nil)
	room := owner.createRoom()
	sse := openEvents(t, srv.eventsURL(room), nil)
	sse.next()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}()
	ev := sse.expectClose(rtb.CloseGoingAway)
	var closing struct{ Reason string }
	_ = json.Unmarshal([]byte(ev.data), &closing)
	if !strings.HasSuffix(closing.Reason, " ms") || !strings.Contains(closing.Reason, "reconnect in "+ev.retry+" ms") {
		t.Fatalf("drain: retry %q, reason %q", ev.retry, closing.Reason)
	}
}

// TestSSELongStreamOutlivesServerTimeouts: the http.Server's ReadTimeout
// and WriteTimeout do not end a stream; heartbeats flow meanwhile.
func TestSSELongStreamOutlivesServerTimeouts(t *testing.T) {
	mgr := rtb.NewManager(rtb.WithLogger(quietLogger()), rtb.WithLimits(rtb.Limits{PingInterval: 100 * time.Millisecond}))
	mux := http.NewServeMux()
	mux.Handle("/broadcast", mgr)
	mux.HandleFunc("/rooms/{uuid}/events", mgr.ServeEvents)
	hs := httptest.NewUnstartedServer(mux)
	hs.Config.ReadTimeout, hs.Config.WriteTimeout = 300*time.Millisecond, 300*time.Millisecond
	hs.Start()
	srv := &testServer{Manager: mgr, http: hs, wsURL: "ws" + strings.TrimPrefix(hs.URL, "http") + "/broadcast"}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		_ = mgr.Shutdown(ctx)
		hs.Close()
	})
	owner := dial(t, srv.wsURL, nil)
	room := owner.createRoom()
	sse := openEvents(t, srv.eventsURL(room), nil)
	sse.next()
	time.Sleep(time.Second)
	owner.send(request(rtb.StatusConnected, room, "late"))
	if m, _ := sse.next(); m.FuncKey != "late" {
		t.Fatalf("after a second: %+v", m)
	}
	if n := sse.comments.Load(); n < 5 {
		t.Fatalf("%d heartbeats in a second at a 100 ms interval", n)
	}
}

// TestSSEOverHTTP2: the stream works over HTTP/2 with TLS, and outlives
// the server's ReadTimeout and WriteTimeout there too.
func TestSSEOverHTTP2(t *testing.T) {
	mgr := rtb.NewManager(rtb.WithLogger(quietLogger()), rtb.WithLimits(rtb.Limits{PingInterval: 100 * time.Millisecond}))
	mux := http.NewServeMux()
	mux.HandleFunc("/rooms/{uuid}/events", mgr.ServeEvents)
	mux.Handle("/broadcast", mgr)
	hs := httptest.NewUnstartedServer(mux)
	hs.EnableHTTP2 = true
	hs.Config.ReadTimeout, hs.Config.WriteTimeout = 300*time.Millisecond, 300*time.Millisecond
	hs.StartTLS()
	plain := httptest.NewServer(mux) // the owner's WebSocket needs HTTP/1.1
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		_ = mgr.Shutdown(ctx)
		hs.Close()
		plain.Close()
	})
	owner := dial(t, "ws"+strings.TrimPrefix(plain.URL, "http")+"/broadcast", nil)
	room := owner.createRoom()
	resp, sse := getEvents(t, hs.Client(), hs.URL+"/rooms/"+room+"/events", nil)
	if sse == nil || resp.ProtoMajor != 2 {
		t.Fatalf("over TLS: %s %d, want HTTP/2 200", resp.Proto, resp.StatusCode)
	}
	sse.next()
	time.Sleep(time.Second)
	if n := sse.comments.Load(); n < 5 {
		t.Fatalf("%d heartbeats in a second at a 100 ms interval", n)
	}
	for i := range 50 {
		owner.send(request(rtb.StatusConnected, room, "n", strconv.Itoa(i)))
	}
	for i := range 50 {
		if m, ev := sse.next(); m.FuncParams[0] != strconv.Itoa(i) || idOf(ev) != strconv.Itoa(i+1) {
			t.Fatalf("over HTTP/2: %s id %q", ev.data, idOf(ev))
		}
	}
	// A second stream shares the connection, and a viewer leaving ends
	// only its own stream.
	_, second := getEvents(t, hs.Client(), hs.URL+"/rooms/"+room+"/events", nil)
	second.next()
	second.close()
	waitViewers(t, owner, 1)
	owner.send(request(rtb.StatusClose, room, ""))
	if m, _ := sse.next(); m.Status.Value != 0 {
		t.Fatalf("end: %+v", m)
	}
	sse.expectClose(rtb.CloseNormal)
}

// TestSSEMetrics: viewers and connections are counted by transport.
func TestSSEMetrics(t *testing.T) {
	srv := startServer(t)
	owner, room, _ := ownerAndViewer(t, srv.wsURL)
	sse := openEvents(t, srv.eventsURL(room), nil)
	sse.next()
	waitViewers(t, owner, 2)
	got := scrape(t, srv.MetricsHandler())
	for name, want := range map[string]float64{
		`rtbroadcaster_transport_viewers{transport="sse"}`:              1,
		`rtbroadcaster_transport_viewers{transport="websocket"}`:        1,
		`rtbroadcaster_connections_opened_total{transport="sse"}`:       1,
		`rtbroadcaster_connections_opened_total{transport="websocket"}`: 2,
		`rtbroadcaster_viewers`:                                         2,
		`rtbroadcaster_connections`:                                     3,
	} {
		if got[name] != want {
			t.Errorf("%s = %v, want %v", name, got[name], want)
		}
	}
	sse.close()
	waitViewers(t, owner, 1)
	eventually(t, func() error {
		if g := scrape(t, srv.MetricsHandler())[`rtbroadcaster_disconnects_total{reason="client closed"}`]; g != 1 {
			return fmt.Errorf("client closed: %v", g)
		}
		return nil
	})
}

// TestSSERedisRestarted: Redis is killed and started again while the owner
// broadcasts. An SSE viewer on another node keeps a gap-free stream, or its
// stream ends with the close event 1012 and a retry:, as a WebSocket
// viewer is closed with 1012; it then reconnects with Last-Event-ID
// (retrying while the join is unavailable) and the stream goes on.
func TestSSERedisRestarted(t *testing.T) {
	redisSrv := redistest.StartServer(t)
	nodes := startRedisNodes(t, redisSrv.URL(), 2, 5*time.Second)
	owner := dial(t, nodes[0].wsURL, nil)
	room := owner.createRoom()
	sse := openEvents(t, nodes[1].eventsURL(room), nil)
	if _, ev := sse.next(); idOf(ev) != "0" {
		t.Fatalf("join reply id %q, want 0", idOf(ev))
	}

	b := startBroadcasting(owner, room)
	time.Sleep(200 * time.Millisecond)
	restartWhileBroadcasting(t, redisSrv, b)
	time.Sleep(500 * time.Millisecond)
	b.stop()

	last, rejoined := uint64(0), false
	for !rejoined {
		ev, err := sse.recvEvent()
		if err != nil {
			break // quiet: the owner stopped and the stream is still open (or it ended, checked below)
		}
		if ev.event == "close" {
			var closing struct{ Code uint16 }
			_ = json.Unmarshal([]byte(ev.data), &closing)
			if closing.Code != rtb.CloseServiceRestart || ev.retry == "" {
				t.Fatalf("the stream ended with %s (retry %q), want close 1012 with a retry:", ev.data, ev.retry)
			}
			sse.expectEnd()
			rejoined = true
			break
		}
		var m rtb.Message
		_ = json.Unmarshal([]byte(ev.data), &m)
		if m.Seq != last+1 || idOf(ev) != strconv.FormatUint(m.Seq, 10) {
			t.Fatalf("after seq %d: %s with id %q", last, ev.data, idOf(ev))
		}
		last = m.Seq
	}
	t.Logf("the SSE viewer got %d messages; asked to rejoin (1012): %v", last, rejoined)
	if !rejoined {
		owner.send(request(rtb.StatusConnected, room, "after"))
		if m, _ := sse.next(); m.FuncKey != "after" || m.Seq != last+1 {
			t.Fatalf("after the restart: %+v", m)
		}
		return
	}
	var back *sseClient
	deadline := time.Now().Add(waitFor)
	for back == nil {
		resp, c := getEvents(t, nil, nodes[1].eventsURL(room), http.Header{"Last-Event-Id": {strconv.FormatUint(last, 10)}})
		switch {
		case c != nil:
			back = c
		case resp.StatusCode == http.StatusServiceUnavailable && time.Now().Before(deadline):
			time.Sleep(100 * time.Millisecond) // the owner's node has not put the room back yet
		default:
			t.Fatalf("reconnect from %d: %d", last, resp.StatusCode)
		}
	}
	reply, ev := back.next()
	if reply.Recovered == nil || reply.Error != nil {
		t.Fatalf("reconnect reply %s: want one that says whether it recovered", ev.data)
	}
	for range reply.StateCount {
		back.next()
	}
	owner.send(request(rtb.StatusConnected, room, "after"))
	for {
		m, _ := back.next()
		if m.FuncKey == "after" {
			break
		}
	}
}

// TestSSEClientThatSendsIsCut: an SSE client sends nothing after its
// request; one that floods its connection is closed, and the room goes on.
func TestSSEClientThatSendsIsCut(t *testing.T) {
	srv := startServer(t)
	owner := dial(t, srv.wsURL, nil)
	room := owner.createRoom()
	addr := strings.TrimPrefix(srv.http.URL, "http://")
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /rooms/%s/events HTTP/1.1\r\nHost: %s\r\n\r\n", room, addr)
	waitViewers(t, owner, 1)
	junk := []byte(strings.Repeat("x", 1024))
	for range 8 {
		if _, err := conn.Write(junk); err != nil {
			break
		}
	}
	waitViewers(t, owner, 0)
	eventually(t, func() error {
		if got := scrape(t, srv.MetricsHandler())[`rtbroadcaster_disconnects_total{reason="protocol error"}`]; got != 1 {
			return fmt.Errorf("disconnects by protocol error: %v", got)
		}
		return nil
	})
}

// TestSSEQuietHTTP2StreamOutlivesWriteTimeout: over HTTP/2 a write
// deadline that passes resets the stream even when nothing is being
// written, so a stream quiet for longer than the write timeout (between
// heartbeats) must not keep the deadline of its last write.
func TestSSEQuietHTTP2StreamOutlivesWriteTimeout(t *testing.T) {
	mgr := rtb.NewManager(rtb.WithLogger(quietLogger()), rtb.WithLimits(rtb.Limits{PingInterval: time.Second, WriteTimeout: 200 * time.Millisecond}))
	mux := http.NewServeMux()
	mux.HandleFunc("/rooms/{uuid}/events", mgr.ServeEvents)
	mux.Handle("/broadcast", mgr)
	hs := httptest.NewUnstartedServer(mux)
	hs.EnableHTTP2 = true
	hs.StartTLS()
	plain := httptest.NewServer(mux)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		_ = mgr.Shutdown(ctx)
		hs.Close()
		plain.Close()
	})
	owner := dial(t, "ws"+strings.TrimPrefix(plain.URL, "http")+"/broadcast", nil)
	room := owner.createRoom()
	_, sse := getEvents(t, hs.Client(), hs.URL+"/rooms/"+room+"/events", nil)
	if sse == nil {
		t.Fatal("no stream")
	}
	sse.next()
	time.Sleep(1500 * time.Millisecond) // a heartbeat, and quiet on both sides of it
	owner.send(request(rtb.StatusConnected, room, "late"))
	if m, _ := sse.next(); m.FuncKey != "late" {
		t.Fatalf("after 1.5 s: %+v", m)
	}
}

// TestSSEReplayLargerThanSendQueue: the state replay is streamed from the
// snapshot, as to a WebSocket viewer, so an SSE viewer on a slow link gets
// a replay many times its send queue, then the live messages sent
// meanwhile, without being cut.
func TestSSEReplayLargerThanSendQueue(t *testing.T) {
	srv := startServer(t, rtb.WithLimits(rtb.Limits{SendQueueBytes: 64 << 10}))
	owner := dial(t, srv.wsURL, nil)
	room := owner.createRoom()
	const entries = 16
	for i := range entries {
		owner.send(stateRequest(room, "draw", fmt.Sprint("k", i), strings.Repeat(string(rune('a'+i)), 60_000)))
	}
	owner.settle(room)
	proxy, err := netproxy.Start(strings.TrimPrefix(srv.http.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proxy.Close)
	proxy.Throttle(512 << 10)
	sse := openEvents(t, proxy.URL(srv.eventsURL(room)), nil)
	owner.send(request(rtb.StatusConnected, room, "live", "during the replay"))
	reply, _ := sse.next()
	if reply.StateCount != entries {
		t.Fatalf("stateCount %d, want %d", reply.StateCount, entries)
	}
	for i := range entries {
		m, ev := sse.next()
		if m.StateKey != fmt.Sprint("k", i) || len(m.FuncParams[0]) != 60_000 {
			t.Fatalf("replayed %d: %q", i, m.StateKey)
		}
		if want := map[bool]string{true: strconv.Itoa(entries), false: ""}[i == entries-1]; idOf(ev) != want {
			t.Fatalf("replayed %d: id %q, want %q", i, idOf(ev), want)
		}
	}
	if m, ev := sse.next(); m.FuncKey != "live" || idOf(ev) != strconv.Itoa(entries+1) {
		t.Fatalf("after the replay: %s id %q", ev.data, idOf(ev))
	}
	if n := srv.Stats().SlowConsumers; n != 0 {
		t.Fatalf("%d slow consumers", n)
	}
}

// TestSSEOverHTTP10: an HTTP/1.0 client, which knows no chunks, gets the
// stream through the ResponseWriter, and its end when the room closes.
func TestSSEOverHTTP10(t *testing.T) {
	srv := startServer(t)
	owner := dial(t, srv.wsURL, nil)
	room := owner.createRoom()
	addr := strings.TrimPrefix(srv.http.URL, "http://")
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /rooms/%s/events HTTP/1.0\r\nHost: %s\r\n\r\n", room, addr)
	waitViewers(t, owner, 1)
	owner.send(request(rtb.StatusConnected, room, "hello"))
	owner.send(request(rtb.StatusClose, room, ""))
	_ = conn.SetReadDeadline(time.Now().Add(waitFor))
	raw, err := io.ReadAll(conn)
	if err != nil {
		t.Fatalf("read: %v (got %q)", err, raw)
	}
	got := string(raw)
	for _, want := range []string{"HTTP/1.0 200 OK\r\n", "Content-Type: text/event-stream", "id: 1\ndata: {", `"funcKey":"hello"`, "event: close\ndata: {\"code\":1000"} {
		if !strings.Contains(got, want) {
			t.Fatalf("the HTTP/1.0 response lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "Transfer-Encoding") {
		t.Fatalf("chunked to an HTTP/1.0 client:\n%s", got)
	}
}
