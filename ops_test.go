package rtbroadcaster_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"github.com/lxzan/gws"
	rtb "github.com/rtbroadcaster/rtbroadcaster"
	"github.com/rtbroadcaster/rtbroadcaster/auth"
	"github.com/rtbroadcaster/rtbroadcaster/broker"
	"github.com/rtbroadcaster/rtbroadcaster/broker/memory"
	"github.com/rtbroadcaster/rtbroadcaster/broker/redis/redistest"
)

var testSecret = []byte("a test secret of thirty-two bytes")

func startAuthServer(t *testing.T, opts ...rtb.Option) *testServer {
	t.Helper()
	v, err := auth.New(auth.Config{HMACSecret: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	return startServer(t, append([]rtb.Option{rtb.WithTokenVerifier(v)}, opts...)...)
}

// token signs a grant that expires after ttl (negative: already expired).
func token(t *testing.T, g auth.Grant, ttl time.Duration) string {
	t.Helper()
	g.Expires = time.Now().Add(ttl)
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, auth.Claims(g)).SignedString(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func withToken(m *rtb.Message, token string) *rtb.Message {
	m.Token = token
	return m
}

func TestAuthentication(t *testing.T) {
	srv := startAuthServer(t)
	creator := token(t, auth.Grant{Subject: "presenter", Create: true}, time.Hour)

	owner := dial(t, srv.wsURL, nil)
	owner.send(withToken(request(rtb.StatusNew, "", ""), creator))
	roomA := owner.next().UUID
	ownerB := dial(t, srv.wsURL, nil)
	ownerB.send(withToken(request(rtb.StatusNew, "", ""), creator))
	roomB := ownerB.next().UUID

	t.Run("every refusal that closes the connection", func(t *testing.T) {
		wrongKey, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, auth.Claims(auth.Grant{Create: true, Expires: time.Now().Add(time.Hour)})).
			SignedString([]byte("some other secret of 32 bytes..."))
		for name, req := range map[string]*rtb.Message{
			"create without a token": request(rtb.StatusNew, "", ""),
			"join without a token":   request(rtb.StatusJoin, roomA, ""),
			"garbage token":          withToken(request(rtb.StatusJoin, roomA, ""), "not.a.token"),
			"token of another key":   withToken(request(rtb.StatusNew, "", ""), wrongKey),
			"expired token":          withToken(request(rtb.StatusJoin, roomA, ""), token(t, auth.Grant{Rooms: []string{roomA}}, -time.Minute)),
		} {
			t.Run(name, func(t *testing.T) {
				c := dial(t, srv.wsURL, nil)
				c.send(req)
				if m := c.nextError(rtb.CodeUnauthorized); m.Status.Value != 0 {
					t.Fatalf("status %d", m.Status.Value)
				}
				c.expectClose(rtb.CloseUnauthorized)
			})
		}
	})

	t.Run("a token for room A cannot join room B, nor create", func(t *testing.T) {
		c := dial(t, srv.wsURL, nil)
		onlyA := token(t, auth.Grant{Subject: "viewer", Rooms: []string{roomA}}, time.Hour)
		c.send(withToken(request(rtb.StatusJoin, roomB, ""), onlyA))
		c.nextError(rtb.CodeForbidden)
		c.send(withToken(request(rtb.StatusNew, "", ""), onlyA))
		c.nextError(rtb.CodeForbidden)
		// The connection stays open and the same token joins room A.
		c.send(withToken(request(rtb.StatusJoin, roomA, ""), onlyA))
		if m := c.next(); m.Error != nil || m.UUID != roomA {
			t.Fatalf("join A: %+v", m)
		}
	})

	t.Run("a token in the subprotocol header", func(t *testing.T) {
		header := http.Header{"Sec-WebSocket-Protocol": {rtb.SubProtocol + ", " + rtb.TokenProtocolPrefix + token(t, auth.Grant{Rooms: []string{auth.AnyRoom}}, time.Hour)}}
		c := dial(t, srv.wsURL, header)
		if got := c.conn.SubProtocol(); got != "" {
			t.Logf("subprotocol %q", got) // the test client does not ask for one back
		}
		c.joinRoom(roomB)
	})

	t.Run("a token in the query string", func(t *testing.T) {
		c := dial(t, srv.wsURL+"?token="+token(t, auth.Grant{Create: true}, time.Hour), nil)
		c.createRoom()
	})

	t.Run("the message's token wins over the handshake's", func(t *testing.T) {
		c := dial(t, srv.wsURL+"?token="+token(t, auth.Grant{Rooms: []string{roomA}}, time.Hour), nil)
		c.send(withToken(request(rtb.StatusJoin, roomA, ""), "expired-or-not-it-is-garbage"))
		c.nextError(rtb.CodeUnauthorized)
		c.expectClose(rtb.CloseUnauthorized)
	})

	t.Run("owner rights stay with the owner's connection", func(t *testing.T) {
		c := dial(t, srv.wsURL, nil)
		c.send(withToken(request(rtb.StatusJoin, roomA, ""), token(t, auth.Grant{Create: true, Rooms: []string{auth.AnyRoom}}, time.Hour)))
		c.next()
		c.send(request(rtb.StatusConnected, roomA, "hijack"))
		c.nextError(rtb.CodeNotOwner)
	})
}

func TestTokenThatExpiresWhileInTheRoom(t *testing.T) {
	var clock testClock
	v, err := auth.New(auth.Config{HMACSecret: testSecret, Now: clock.now})
	if err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, rtb.WithTokenVerifier(v))
	owner := dial(t, srv.wsURL+"?token="+token(t, auth.Grant{Create: true}, time.Hour), nil)
	room := owner.createRoom()
	short := token(t, auth.Grant{Rooms: []string{room}}, 1500*time.Millisecond)
	viewer := dial(t, srv.wsURL+"?token="+short, nil)
	viewer.joinRoom(room)
	clock.advance(2 * time.Second) // JWT times have a resolution of one second
	// A token is checked when a room is created or joined: the viewer stays.
	owner.send(request(rtb.StatusConnected, room, "still", "here"))
	if m := viewer.nextAction(); m.FuncKey != "still" {
		t.Fatalf("got %+v", m)
	}
	// Rejoining with it, as after a reconnect, is refused.
	again := dial(t, srv.wsURL+"?token="+short, nil)
	again.send(request(rtb.StatusJoin, room, ""))
	again.nextError(rtb.CodeUnauthorized)
	again.expectClose(rtb.CloseUnauthorized)
}

func TestConnectionLimits(t *testing.T) {
	t.Run("total connections: closed with 4503 at once", func(t *testing.T) {
		srv := startServer(t, rtb.WithLimits(rtb.Limits{MaxConnections: 2}))
		first := dial(t, srv.wsURL, nil)
		dial(t, srv.wsURL, nil)
		reason := expectRefused(t, srv.wsURL, nil, rtb.CloseUnavailable)
		if !regexp.MustCompile(`^server is at its maximum of connections; reconnect in \d+ ms$`).MatchString(reason) {
			t.Fatalf("third connection closed with reason %q", reason)
		}
		_ = first.conn.NetConn().Close()
		<-first.closed
		waitUntil(t, "a slot is free again", func() bool { return srv.Stats().Connections == 1 })
		dial(t, srv.wsURL, nil)
	})

	t.Run("new connections per second per address: 4429, then recovery", func(t *testing.T) {
		var clock testClock
		srv := startServer(t, rtb.WithLimits(rtb.Limits{ConnectionsPerSecondPerIP: 2, ConnectionBurstPerIP: 3}), rtb.WithClock(clock.now))
		for range 3 {
			dial(t, srv.wsURL, nil)
		}
		if reason := expectRefused(t, srv.wsURL, nil, rtb.CloseTooManyConnections); reason != "too many new connections from your address; reconnect in 1000 ms" {
			t.Fatalf("fourth connection closed with reason %q", reason)
		}
		clock.advance(600 * time.Millisecond) // the bucket refills at 2 per second
		dial(t, srv.wsURL, nil).createRoom()  // admitted: a refused one is upgraded only to be closed
	})
}

func TestRoomsPerAddressBehindTrustedProxies(t *testing.T) {
	limits := rtb.WithLimits(rtb.Limits{MaxRoomsPerIP: 1})
	from := func(addr string) http.Header { return http.Header{"X-Forwarded-For": {addr}} }

	t.Run("X-Forwarded-For from a trusted proxy tells clients apart", func(t *testing.T) {
		srv := startServer(t, limits, rtb.WithTrustedProxies(netip.MustParsePrefix("127.0.0.0/8")))
		dial(t, srv.wsURL, from("198.51.100.7")).createRoom()
		dial(t, srv.wsURL, from("203.0.113.9, 198.51.100.8")).createRoom()
		c := dial(t, srv.wsURL, from("198.51.100.7"))
		c.send(request(rtb.StatusNew, "", ""))
		c.nextError(rtb.CodeTooManyRooms)
	})

	t.Run("from anyone else it is ignored", func(t *testing.T) {
		srv := startServer(t, limits)
		owner := dial(t, srv.wsURL, from("198.51.100.7"))
		room := owner.createRoom()
		c := dial(t, srv.wsURL, from("198.51.100.8"))
		c.send(request(rtb.StatusNew, "", ""))
		c.nextError(rtb.CodeTooManyRooms)
		// Closing the room gives the address its room back.
		owner.send(request(rtb.StatusClose, room, ""))
		owner.next()
		c.createRoom()
	})
}

func TestRateLimitRecoveryAndDisconnect(t *testing.T) {
	// Without a grace, the owner's room closes as soon as it is hung up on.
	var clock testClock
	srv := startServer(t, rtb.WithLimits(rtb.Limits{MessagesPerSecond: 5, MessageBurst: 5, RateLimitStrikes: 10}), rtb.WithOwnerGrace(0), rtb.WithClock(clock.now))
	owner, room, viewer := ownerAndViewer(t, srv.wsURL) // one token of five
	for i := range 6 {
		owner.send(request(rtb.StatusConnected, room, "n", strconv.Itoa(i)))
	}
	owner.nextError(rtb.CodeRateLimited)
	clock.advance(time.Second) // the bucket refills
	owner.send(request(rtb.StatusConnected, room, "after"))
	for {
		if m := viewer.nextAction(); m.FuncKey == "after" {
			break
		}
	}

	flood, _ := json.Marshal(request(rtb.StatusConnected, room, "flood"))
	for range 30 { // goes on far past the limit, until the server hangs up
		if err := owner.conn.WriteMessage(gws.OpcodeText, flood); err != nil {
			break
		}
	}
	owner.expectClose(rtb.ClosePolicyViolation)
	viewer.expectClose(rtb.CloseNormal) // the owner left: its room closed
}

func TestMetricsAfterKnownTraffic(t *testing.T) {
	srv := startServer(t)
	owner := dial(t, srv.wsURL, nil)
	room := owner.createRoom()
	viewers := []*wsClient{dial(t, srv.wsURL, nil), dial(t, srv.wsURL, nil)}
	for _, v := range viewers {
		v.joinRoom(room)
	}
	for i := range 10 {
		owner.send(request(rtb.StatusConnected, room, "n", strconv.Itoa(i)))
	}
	for _, v := range viewers {
		if err := expectSequence(v, "n", 10); err != nil {
			t.Fatal(err)
		}
	}
	viewers[0].send(request(rtb.StatusConnected, room, "not mine"))
	viewers[0].nextError(rtb.CodeNotOwner)

	var got map[string]float64
	// A frame counts as sent once its write returns, which may be after
	// the client read it: wait for all 24 (see below).
	waitUntil(t, "the counters settle", func() bool {
		got = scrape(t, srv.MetricsHandler())
		return got["rtbroadcaster_messages_sent_total"] >= 24
	})
	want := map[string]float64{
		"rtbroadcaster_connections":                     3,
		"rtbroadcaster_rooms":                           1,
		"rtbroadcaster_viewers":                         2,
		"rtbroadcaster_messages_received_total":         1 + 2 + 10 + 1,
		"rtbroadcaster_fanout_seconds_count":            10,
		`rtbroadcaster_errors_total{code="not_owner"}`:  1,
		"rtbroadcaster_broker_up":                       1,
		"rtbroadcaster_slow_consumer_disconnects_total": 0,
	}
	for name, value := range want {
		if got[name] != value {
			t.Errorf("%s = %v, want %v", name, got[name], value)
		}
	}
	// Out: 10 broadcasts to each of 2 viewers, the create and join replies
	// and the refusal; presence reports may add more.
	if n := got["rtbroadcaster_messages_sent_total"]; n < 24 {
		t.Errorf("messages sent %v, want at least 24", n)
	}
	if b := got["rtbroadcaster_sent_bytes_total"]; b < 20*40 {
		t.Errorf("bytes sent %v: too few for 20 broadcasts", b)
	}
	if b := got["rtbroadcaster_received_bytes_total"]; b < 10*60 {
		t.Errorf("bytes received %v: too few for 10 broadcasts", b)
	}

	viewers[1].conn.WriteClose(1000, nil)
	waitUntil(t, "the disconnect is counted", func() bool {
		got = scrape(t, srv.MetricsHandler())
		return got[`rtbroadcaster_disconnects_total{reason="client closed"}`] == 1 && got["rtbroadcaster_viewers"] == 1
	})
}

// scrape reads a metrics endpoint into name{labels} → value.
func scrape(t *testing.T, h http.Handler) map[string]float64 {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("GET /metrics: %d", rec.Code)
	}
	values := map[string]float64{}
	sc := bufio.NewScanner(rec.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || line == "" {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		values[line[:i]] = v
	}
	return values
}

func TestAdminClosesARoomOnEveryNode(t *testing.T) {
	engine := memory.New()
	nodeA := startServer(t, rtb.WithBroker(engine), rtb.WithAdminToken(adminToken))
	nodeB := startServer(t, rtb.WithBroker(engine), rtb.WithAdminToken(adminToken))
	owner := dial(t, nodeA.wsURL, nil)
	room := owner.createRoom()
	viewer := dial(t, nodeB.wsURL, nil)
	viewer.joinRoom(room)
	owner.send(request(rtb.StatusConnected, room, "hello"))
	viewer.nextAction()

	if rec := admin(nodeB, "GET", "/admin/api/rooms", ""); rec.Code != 401 {
		t.Fatalf("without a token: %d", rec.Code)
	}
	if rec := admin(nodeB, "GET", "/admin/api/rooms", "guess"); rec.Code != 401 {
		t.Fatalf("with a wrong token: %d", rec.Code)
	}
	var snap rtb.AdminSnapshot
	waitUntil(t, "node B lists the room with its viewer", func() bool {
		snap = adminRooms(t, nodeB)
		return len(snap.Rooms) == 1 && snap.Rooms[0].ID == room && snap.Rooms[0].Viewers == 1
	})
	if r := snap.Rooms[0]; r.Messages != 1 || r.OwnerHere || !r.Here || r.Seq != 1 || snap.Connections != 1 || !snap.Cluster {
		t.Fatalf("snapshot %+v", snap)
	}

	// Closed from the node without the owner: its viewer and the owner on
	// the other node are both told who closed it, through the engine.
	if rec := admin(nodeB, "POST", "/admin/api/rooms/"+room+"/close", adminToken); rec.Code != 204 {
		t.Fatalf("close: %d %s", rec.Code, rec.Body)
	}
	if m := viewer.nextAction(); m.Status.Value != 0 || m.UUID != room || m.ClosedBy != "operator" {
		t.Fatalf("viewer got %+v", m)
	}
	viewer.expectClose(rtb.CloseNormal)
	if m := owner.nextAction(); m.Status.Value != 0 || m.UUID != room || m.ClosedBy != "operator" {
		t.Fatalf("owner got %+v", m)
	}
	owner.createRoom() // the owner's connection stays, in no room

	// A room that is not open: closed, or never opened.
	for _, id := range []string{room, uuid.NewString()} {
		if rec := admin(nodeA, "POST", "/admin/api/rooms/"+id+"/close", adminToken); rec.Code != 404 {
			t.Fatalf("closing a room that is not open: %d %s, want 404", rec.Code, rec.Body)
		}
	}

	off := startServer(t)
	rec := httptest.NewRecorder()
	off.AdminHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/admin/api/rooms", nil))
	if rec.Code != 404 {
		t.Fatalf("without an admin token the API answers %d, want 404", rec.Code)
	}
}

// admin sends a request to the node's admin API, with bearer as its token
// unless that is empty.
func admin(node *testServer, method, path, bearer string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, nil)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	rec := httptest.NewRecorder()
	node.AdminHandler().ServeHTTP(rec, req)
	return rec
}

// adminRooms reads the node's admin snapshot with the tests' admin token.
func adminRooms(t *testing.T, node *testServer) rtb.AdminSnapshot {
	t.Helper()
	rec := admin(node, "GET", "/admin/api/rooms", adminToken)
	var snap rtb.AdminSnapshot
	if err := json.Unmarshal(rec.Body.Bytes(), &snap); rec.Code != 200 || err != nil {
		t.Fatalf("GET /admin/api/rooms: %d %s (%v)", rec.Code, rec.Body, err)
	}
	return snap
}

// adminToken is the admin token of the tests' servers.
const adminToken = "s3cret"

// findRoom returns the snapshot's room id, or nil.
func findRoom(snap rtb.AdminSnapshot, id string) *rtb.AdminRoom {
	for i := range snap.Rooms {
		if snap.Rooms[i].ID == id {
			return &snap.Rooms[i]
		}
	}
	return nil
}

// TestAdminListsEveryRoomOfTheMemoryEngine: one node, its rooms all listed
// and here; rooms that only the engine has are listed too, not here; past
// adminMaxRooms, the list keeps the busiest and says it was cut.
func TestAdminListsEveryRoomOfTheMemoryEngine(t *testing.T) {
	engine := memory.New()
	srv := startServer(t, rtb.WithBroker(engine), rtb.WithAdminToken(adminToken))
	_, busy, _ := ownerAndViewer(t, srv.wsURL)
	quiet := dial(t, srv.wsURL, nil).createRoom()
	waitUntil(t, "both rooms are listed, the busy one first", func() bool {
		snap := adminRooms(t, srv)
		return len(snap.Rooms) == 2 && snap.Rooms[0].ID == busy && snap.Rooms[0].Viewers == 1 && snap.Rooms[1].ID == quiet
	})
	snap := adminRooms(t, srv)
	if !snap.Cluster || !snap.SingleNode || snap.RoomsCut || snap.RoomCount != 2 || !snap.Rooms[0].Here || !snap.Rooms[1].Here || !snap.Rooms[0].OwnerHere {
		t.Fatalf("snapshot %+v", snap)
	}

	const more = 1000 // rooms without a client on any node
	for range more {
		if err := engine.CreateRoom(t.Context(), uuid.NewString(), broker.Owner{}); err != nil {
			t.Fatal(err)
		}
	}
	snap = adminRooms(t, srv)
	if len(snap.Rooms) != 1000 || !snap.RoomsCut || snap.RoomCount <= 1000 {
		t.Fatalf("with %d rooms: %d listed of %d, cut %v", more+2, len(snap.Rooms), snap.RoomCount, snap.RoomsCut)
	}
	if first := snap.Rooms[0]; first.ID != busy || !first.Here {
		t.Fatalf("the busiest room first: got %+v", first)
	}
	if last := snap.Rooms[len(snap.Rooms)-1]; last.Here || !last.OpenedAt.IsZero() || last.Messages != 0 {
		t.Fatalf("a room with no client here: %+v", last)
	}
}

// TestAdminRedisRoomOfAnotherNode: a room whose owner and viewer are both on
// node B is in node A's list, with its viewer, not here; node A closes it.
func TestAdminRedisRoomOfAnotherNode(t *testing.T) {
	nodes := startRedisNodes(t, redistest.URL(t), 2, 0, rtb.WithAdminToken(adminToken))
	nodeA, nodeB := nodes[0].testServer, nodes[1].testServer
	owner, room, viewer := ownerAndViewer(t, nodeB.wsURL)
	owner.send(request(rtb.StatusConnected, room, "hello"))
	viewer.nextAction()

	var listed *rtb.AdminRoom
	waitUntil(t, "node A lists node B's room with its viewer", func() bool {
		listed = findRoom(adminRooms(t, nodeA), room)
		return listed != nil && listed.Viewers == 1 && listed.Seq == 1
	})
	if snap := adminRooms(t, nodeA); listed.Here || listed.LocalViewers != 0 || listed.OwnerHere || listed.OwnerAway || !snap.Cluster || snap.SingleNode || snap.RoomCount != 1 {
		t.Fatalf("node A lists %+v in %+v", *listed, snap)
	}
	if r := findRoom(adminRooms(t, nodeB), room); r == nil || !r.Here || !r.OwnerHere || r.LocalViewers != 1 {
		t.Fatalf("node B lists %+v", r)
	}

	if rec := admin(nodeA, "POST", "/admin/api/rooms/"+room+"/close", adminToken); rec.Code != 204 {
		t.Fatalf("close through node A: %d %s", rec.Code, rec.Body)
	}
	expectEnd(t, viewer, room, 0)
	if m := owner.nextAction(); m.Status.Value != 0 || m.UUID != room {
		t.Fatalf("owner got %+v", m)
	}
	// Node A closed it: its cached list forgot the room.
	if snap := adminRooms(t, nodeA); findRoom(snap, room) != nil {
		t.Fatalf("node A still lists the closed room: %+v", snap)
	}
	for _, id := range []string{room, uuid.NewString()} { // closed, and never opened
		if rec := admin(nodeB, "POST", "/admin/api/rooms/"+id+"/close", adminToken); rec.Code != 404 {
			t.Fatalf("closing a room that is not open: %d %s, want 404", rec.Code, rec.Body)
		}
	}
}

// unlisting hides the engine's Lister; failing is a Lister that fails.
type (
	unlisting struct{ broker.Broker }
	failing   struct{ broker.Broker }
)

func (failing) Rooms(context.Context, int) ([]broker.RoomInfo, error) {
	return nil, errors.New("the engine is down")
}

// TestAdminWithoutTheEngineList: when the engine cannot list rooms, or
// fails to, the snapshot lists this node's rooms and says why.
func TestAdminWithoutTheEngineList(t *testing.T) {
	for name, tt := range map[string]struct {
		engine broker.Broker
		why    string
	}{
		"an engine without a list": {unlisting{memory.New()}, "cannot list"},
		"an engine that fails":     {failing{memory.New()}, "the engine is down"},
	} {
		t.Run(name, func(t *testing.T) {
			srv := startServer(t, rtb.WithBroker(tt.engine), rtb.WithAdminToken(adminToken))
			room := dial(t, srv.wsURL, nil).createRoom()
			if err := tt.engine.CreateRoom(t.Context(), uuid.NewString(), broker.Owner{}); err != nil {
				t.Fatal(err)
			}
			snap := adminRooms(t, srv)
			if snap.Cluster || !strings.Contains(snap.ClusterError, tt.why) || len(snap.Rooms) != 1 || snap.Rooms[0].ID != room || !snap.Rooms[0].Here {
				t.Fatalf("snapshot %+v, want this node's room only and %q", snap, tt.why)
			}
		})
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestAdminCloseSaysWhoClosed: on the node that served the admin call, the
// owner and the viewers of a room an operator closed are told so
// (closedBy), and those of a room its owner closed are not.
func TestAdminCloseSaysWhoClosed(t *testing.T) {
	srv := startServer(t, rtb.WithAdminToken(adminToken))
	owner, room, viewer := ownerAndViewer(t, srv.wsURL)
	if rec := admin(srv, "POST", "/admin/api/rooms/"+room+"/close", adminToken); rec.Code != 204 {
		t.Fatalf("close: %d %s", rec.Code, rec.Body)
	}
	for name, c := range map[string]*wsClient{"owner": owner, "viewer": viewer} {
		if m := c.nextAction(); m.Status.Value != 0 || m.ClosedBy != "operator" {
			t.Fatalf("%s got %+v, want status 0 closedBy operator", name, m)
		}
	}

	own, ownRoom, ownViewer := ownerAndViewer(t, srv.wsURL)
	own.send(request(rtb.StatusClose, ownRoom, ""))
	if m := ownViewer.nextAction(); m.Status.Value != 0 || m.ClosedBy != "" {
		t.Fatalf("viewer of a room its owner closed got %+v", m)
	}
}
