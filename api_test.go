package rtbroadcaster_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	rtb "github.com/rtbroadcaster/rtbroadcaster"
	"github.com/rtbroadcaster/rtbroadcaster/auth"
	"github.com/rtbroadcaster/rtbroadcaster/broker"
	"github.com/rtbroadcaster/rtbroadcaster/broker/memory"
	"github.com/rtbroadcaster/rtbroadcaster/broker/redis/redistest"
)

// The API keys of the tests' servers.
const (
	apiKey      = "test-api-key-one"
	otherAPIKey = "test-api-key-two"
)

// apiEngines starts one server per room engine with opts, the API on: the
// tests that take it run against each.
var apiEngines = map[string]func(t *testing.T, opts ...rtb.Option) *testServer{
	"memory": func(t *testing.T, opts ...rtb.Option) *testServer {
		return startServer(t, append([]rtb.Option{rtb.WithBroker(memory.New()), rtb.WithAPIKeys(apiKey, otherAPIKey)}, opts...)...)
	},
	"redis": func(t *testing.T, opts ...rtb.Option) *testServer {
		return startRedisNodes(t, redistest.URL(t), 1, 0, append([]rtb.Option{rtb.WithAPIKeys(apiKey, otherAPIKey)}, opts...)...)[0].testServer
	},
}

// apiResponse is an answer of the HTTP API.
type apiResponse struct {
	status int
	header http.Header
	body   []byte
}

// apiCall sends a request to the server's HTTP API over HTTP, with bearer
// as its credential unless that is empty.
func apiCall(t testing.TB, srv *testServer, method, path, bearer, body string) apiResponse {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, srv.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return apiResponse{status: resp.StatusCode, header: resp.Header, body: data}
}

// decode reads the answer's JSON body into v.
func (r apiResponse) decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("answer %d %q is not JSON: %v", r.status, r.body, err)
	}
}

// errorCode is the code of an error answer, checked to be in the protocol's
// error shape.
func (r apiResponse) errorCode(t testing.TB) string {
	t.Helper()
	var e struct {
		Error *rtb.Error `json:"error"`
	}
	r.decode(t, &e)
	if e.Error == nil || e.Error.Code == "" || e.Error.Message == "" {
		t.Fatalf("answer %d %s is not {\"error\": {\"code\", \"message\"}}", r.status, r.body)
	}
	return string(e.Error.Code)
}

// apiCreate creates a room through the API and returns its uuid and owner key.
func apiCreate(t testing.TB, srv *testServer) (room, ownerKey string) {
	t.Helper()
	resp := apiCall(t, srv, "POST", "/api/rooms", apiKey, "")
	var created struct{ UUID, OwnerKey string }
	resp.decode(t, &created)
	if resp.status != 201 || created.UUID == "" || created.OwnerKey == "" || resp.header.Get("Location") != "/api/rooms/"+created.UUID {
		t.Fatalf("create: %d %s (Location %q)", resp.status, resp.body, resp.header.Get("Location"))
	}
	return created.UUID, created.OwnerKey
}

// apiBroadcast broadcasts body into room through the API and returns its seq.
func apiBroadcast(t testing.TB, srv *testServer, room, body string) uint64 {
	t.Helper()
	resp := apiCall(t, srv, "POST", "/api/rooms/"+room+"/broadcast", apiKey, body)
	var got struct{ Seq uint64 }
	resp.decode(t, &got)
	if resp.status != 200 || got.Seq == 0 {
		t.Fatalf("broadcast: %d %s", resp.status, resp.body)
	}
	return got.Seq
}

// apiRoom describes room through the API.
func apiRoom(t testing.TB, srv *testServer, room string) rtb.APIRoom {
	t.Helper()
	resp := apiCall(t, srv, "GET", "/api/rooms/"+room, apiKey, "")
	var got rtb.APIRoom
	resp.decode(t, &got)
	if resp.status != 200 || got.UUID != room || got.StateMessages == nil || got.StateBytes == nil {
		t.Fatalf("GET room: %d %s", resp.status, resp.body)
	}
	return got
}

var seqField = regexp.MustCompile(`,"seq":\d+}$`)

// TestAPIRoomLifecycle: on each engine, a room the API creates is fed by
// the API, taken over by a WebSocket owner with its key, still fed by the
// API beside that owner, described and listed, and closed by DELETE as the
// owner's status 4 closes it; viewers get what an owner's broadcast gives.
func TestAPIRoomLifecycle(t *testing.T) {
	for engine, start := range apiEngines {
		t.Run(engine, func(t *testing.T) {
			srv := start(t)
			room, ownerKey := apiCreate(t, srv)
			if got := apiRoom(t, srv, room); got.Owner != "none" || got.Seq != 0 || *got.StateMessages != 0 || got.Viewers != 0 {
				t.Fatalf("a new API room: %+v", got)
			}
			if n := srv.Stats().OwnedRooms; n != 1 {
				t.Fatalf("the API room counts %d rooms against the node, want 1", n)
			}
			viewer := dial(t, srv.wsURL, nil)
			viewer.joinRoom(room)

			const action = `{"funcKey": "goToSlide", "funcParams": ["4", "é"], "stateMessage": true, "stateKey": "slide"}`
			if seq := apiBroadcast(t, srv, room, action); seq != 1 {
				t.Fatalf("first broadcast has seq %d", seq)
			}
			fromAPI := viewer.nextRaw()
			waitUntil(t, "the room counts its viewer", func() bool { return apiRoom(t, srv, room).Viewers == 1 })
			if got := apiRoom(t, srv, room); got.Seq != 1 || *got.StateMessages != 1 || *got.StateBytes == 0 || got.Owner != "none" {
				t.Fatalf("after a state message: %+v", got)
			}

			// A WebSocket client takes the room over with its key; viewers
			// are told the owner is back.
			owner := dial(t, srv.wsURL, nil)
			resume := request(rtb.StatusJoin, room, "")
			resume.OwnerKey = ownerKey
			owner.send(resume)
			if m := owner.next(); m.Owner != "back" || m.StateCount != 1 || m.Error != nil {
				t.Fatalf("resume reply %+v", m)
			}
			owner.next() // the replayed state message
			if m := viewer.nextAction(); m.Owner != "back" || m.Seq != 2 {
				t.Fatalf("viewer got %+v, want owner back", m)
			}
			if got := apiRoom(t, srv, room); got.Owner != "present" {
				t.Fatalf("after the resume: %+v", got)
			}
			waitUntil(t, "the claim lets go of the API's room count", func() bool { return srv.Stats().OwnedRooms == 1 })

			// The same broadcast from the owner gives viewers the same bytes.
			var sent map[string]any
			_ = json.Unmarshal([]byte(action), &sent)
			sent["uuid"], sent["status"] = room, map[string]any{"value": 3}
			owner.send(sent)
			fromOwner := viewer.nextRaw()
			if a, b := seqField.ReplaceAllString(string(fromAPI), "}"), seqField.ReplaceAllString(string(fromOwner), "}"); a != b {
				t.Fatalf("viewers get\n%s\nfrom the API and\n%s\nfrom the owner", fromAPI, fromOwner)
			}

			// The API broadcasts beside the live owner.
			if seq := apiBroadcast(t, srv, room, `{"funcKey": "note", "funcParams": null}`); seq != 4 {
				t.Fatalf("broadcast beside the owner has seq %d, want 4", seq)
			}
			if m := viewer.nextAction(); m.FuncKey != "note" || m.Seq != 4 || m.FuncParams == nil || len(m.FuncParams) != 0 {
				t.Fatalf("viewer got %+v", m)
			}
			owner.expectNothing(50 * time.Millisecond)

			// DELETE closes it as the owner's status 4 does.
			if resp := apiCall(t, srv, "DELETE", "/api/rooms/"+room, apiKey, ""); resp.status != 204 || len(resp.body) != 0 {
				t.Fatalf("DELETE: %d %s", resp.status, resp.body)
			}
			expectEnd(t, viewer, room, 5)
			if m := owner.nextAction(); m.Status.Value != 0 || m.UUID != room || m.ClosedBy != "" {
				t.Fatalf("owner got %+v", m)
			}
			for _, call := range [][2]string{{"DELETE", "/api/rooms/" + room}, {"GET", "/api/rooms/" + room}, {"POST", "/api/rooms/" + room + "/broadcast"}} {
				if resp := apiCall(t, srv, call[0], call[1], apiKey, `{"funcKey": "late"}`); resp.status != 404 || resp.errorCode(t) != "room_not_found" {
					t.Fatalf("%s of a closed room: %d %s", call[0], resp.status, resp.body)
				}
			}
			// The owner's connection leaves the closed room at its next request.
			owner.send(request(rtb.StatusClose, room, ""))
			owner.nextError(rtb.CodeNotInRoom)
			waitUntil(t, "no room counts against the node", func() bool { return srv.Stats().OwnedRooms == 0 })
		})
	}
}

// TestAPIListRooms: the open rooms of every node, by uuid, in pages that
// join up; closed rooms are not listed.
func TestAPIListRooms(t *testing.T) {
	for engine, start := range apiEngines {
		t.Run(engine, func(t *testing.T) {
			srv := start(t)
			want := map[string]bool{}
			for range 5 {
				room, _ := apiCreate(t, srv)
				want[room] = true
			}
			wsRoom := dial(t, srv.wsURL, nil).createRoom()
			want[wsRoom] = true
			closed, _ := apiCreate(t, srv)
			apiCall(t, srv, "DELETE", "/api/rooms/"+closed, apiKey, "")

			var listed []rtb.APIRoom
			after, pages := "", 0
			for {
				path := "/api/rooms?limit=2"
				if after != "" {
					path += "&after=" + after
				}
				resp := apiCall(t, srv, "GET", path, apiKey, "")
				var page rtb.APIRoomPage
				resp.decode(t, &page)
				if resp.status != 200 || page.Truncated || len(page.Rooms) > 2 {
					t.Fatalf("GET %s: %d %s", path, resp.status, resp.body)
				}
				listed, pages = append(listed, page.Rooms...), pages+1
				if page.Next == "" {
					break
				}
				after = page.Next
			}
			if len(listed) != len(want) || pages != 3 {
				t.Fatalf("listed %d rooms in %d pages, want %d in 3: %+v", len(listed), pages, len(want), listed)
			}
			for i, r := range listed {
				if !want[r.UUID] || (i > 0 && listed[i-1].UUID >= r.UUID) {
					t.Fatalf("room %d: %+v (not an open room, or out of order)", i, r)
				}
				if wantOwner := map[bool]string{true: "present", false: "none"}[r.UUID == wsRoom]; r.Owner != wantOwner || r.StateMessages != nil {
					t.Fatalf("room %+v, want owner %s and no state counts", r, wantOwner)
				}
			}
		})
	}
}

// TestAPIErrors: every refusal of the real handler, with its status and
// code, on each engine.
func TestAPIErrors(t *testing.T) {
	for engine, start := range apiEngines {
		t.Run(engine, func(t *testing.T) {
			v, err := auth.New(auth.Config{HMACSecret: testSecret})
			if err != nil {
				t.Fatal(err)
			}
			srv := start(t, rtb.WithTokenVerifier(v), rtb.WithLimits(rtb.Limits{MaxStateMessages: 1, MaxFuncParams: 3}))
			room, _ := apiCreate(t, srv)
			apiBroadcast(t, srv, room, `{"funcKey": "a", "stateMessage": true}`)
			broadcast := "/api/rooms/" + room + "/broadcast"
			apiToken := token(t, auth.Grant{Subject: "backend", API: true}, time.Hour)
			big := `{"funcKey": "big", "funcParams": ["` + strings.Repeat("x", 65<<10) + `"]}`
			for _, tc := range []struct {
				name, method, path, bearer, body string
				status                           int
				code                             string
			}{
				{"no credential", "POST", "/api/rooms", "", "", 401, "unauthorized"},
				{"a wrong key", "GET", "/api/rooms", "guess", "", 401, "unauthorized"},
				{"an expired token", "GET", "/api/rooms", token(t, auth.Grant{API: true}, -time.Minute), "", 401, "unauthorized"},
				{"a token without rtb_api", "POST", "/api/rooms", token(t, auth.Grant{Subject: "presenter", Create: true}, time.Hour), "", 403, "forbidden"},
				{"a token with rtb_api", "GET", "/api/rooms/" + room, apiToken, "", 200, ""},
				{"the second key", "GET", "/api/rooms/" + room, otherAPIKey, "", 200, ""},
				{"a create with a body", "POST", "/api/rooms", apiKey, `{"name": "x"}`, 400, "bad_request"},
				{"not a room id", "GET", "/api/rooms/not-a-uuid", apiKey, "", 400, "bad_request"},
				{"a room id in another form", "DELETE", "/api/rooms/" + strings.ReplaceAll(room, "-", ""), apiKey, "", 400, "bad_request"},
				{"no such room", "POST", "/api/rooms/" + uuid.NewString() + "/broadcast", apiKey, `{"funcKey": "a"}`, 404, "room_not_found"},
				{"GET no such room", "GET", "/api/rooms/" + uuid.NewString(), apiKey, "", 404, "room_not_found"},
				{"DELETE no such room", "DELETE", "/api/rooms/" + uuid.NewString(), apiKey, "", 404, "room_not_found"},
				{"an empty body", "POST", broadcast, apiKey, "", 400, "bad_request"},
				{"not JSON", "POST", broadcast, apiKey, `funcKey=a`, 400, "bad_request"},
				{"an empty funcKey", "POST", broadcast, apiKey, `{"funcKey": ""}`, 400, "bad_request"},
				{"no funcKey", "POST", broadcast, apiKey, `{"funcParams": ["1"]}`, 400, "bad_request"},
				{"funcParams not strings", "POST", broadcast, apiKey, `{"funcKey": "a", "funcParams": [1]}`, 400, "bad_request"},
				{"funcParams past the limit", "POST", broadcast, apiKey, `{"funcKey": "a", "funcParams": ["1", "2", "3", "4"]}`, 400, "bad_request"},
				{"an unknown field", "POST", broadcast, apiKey, `{"funcKey": "a", "funcParam": []}`, 400, "bad_request"},
				{"two objects", "POST", broadcast, apiKey, `{"funcKey": "a"} {"funcKey": "b"}`, 400, "bad_request"},
				{"stateKey without stateMessage", "POST", broadcast, apiKey, `{"funcKey": "a", "stateKey": "k"}`, 400, "bad_request"},
				{"past the body limit", "POST", broadcast, apiKey, big, 413, "too_large"},
				{"past the room's state bound", "POST", broadcast, apiKey, `{"funcKey": "b", "stateMessage": true}`, 409, "state_full"},
				{"replacing kept state", "POST", broadcast, apiKey, `{"funcKey": "a", "stateMessage": true}`, 200, ""},
				{"a wrong method", "PUT", "/api/rooms", apiKey, "", 405, "method_not_allowed"},
				{"a wrong method on a room", "POST", "/api/rooms/" + room, apiKey, "", 405, "method_not_allowed"},
				{"no such route", "GET", "/api/roomz", apiKey, "", 404, "not_found"},
				{"a page too large", "GET", "/api/rooms?limit=1001", apiKey, "", 400, "bad_request"},
				{"a page of none", "GET", "/api/rooms?limit=0", apiKey, "", 400, "bad_request"},
				{"after not a room id", "GET", "/api/rooms?after=x", apiKey, "", 400, "bad_request"},
				{"an unknown parameter", "GET", "/api/rooms?offset=2", apiKey, "", 400, "bad_request"},
				{"the OpenAPI document, without a key", "GET", "/api/openapi.json", "", "", 200, ""},
			} {
				t.Run(tc.name, func(t *testing.T) {
					resp := apiCall(t, srv, tc.method, tc.path, tc.bearer, tc.body)
					if resp.status != tc.status {
						t.Fatalf("%s %s: %d %s, want %d", tc.method, tc.path, resp.status, resp.body, tc.status)
					}
					if ct := resp.header.Get("Content-Type"); ct != "application/json" {
						t.Fatalf("Content-Type %q", ct)
					}
					if tc.code == "" {
						return
					}
					if code := resp.errorCode(t); code != tc.code {
						t.Fatalf("code %q, want %q: %s", code, tc.code, resp.body)
					}
					switch tc.status {
					case 401:
						if resp.header.Get("WWW-Authenticate") == "" {
							t.Fatal("401 without WWW-Authenticate")
						}
					case 405:
						if resp.header.Get("Allow") == "" {
							t.Fatal("405 without Allow")
						}
					}
				})
			}
		})
	}
}

// TestAPILimits: API rooms count against -max-rooms until closed; each
// credential has its own rate; a draining server refuses with 503; without
// a key every route answers 404.
func TestAPILimits(t *testing.T) {
	t.Run("max rooms", func(t *testing.T) {
		srv := apiEngines["memory"](t, rtb.WithLimits(rtb.Limits{MaxRooms: 1}))
		room, _ := apiCreate(t, srv)
		resp := apiCall(t, srv, "POST", "/api/rooms", apiKey, "")
		if resp.status != 503 || resp.errorCode(t) != "too_many_rooms" || resp.header.Get("Retry-After") == "" {
			t.Fatalf("create past -max-rooms: %d %s", resp.status, resp.body)
		}
		owner := dial(t, srv.wsURL, nil)
		owner.send(request(rtb.StatusNew, "", ""))
		owner.nextError(rtb.CodeTooManyRooms)
		apiCall(t, srv, "DELETE", "/api/rooms/"+room, apiKey, "")
		waitUntil(t, "the closed room no longer counts", func() bool { return srv.Stats().OwnedRooms == 0 })
		apiCreate(t, srv)
	})
	t.Run("rate per credential", func(t *testing.T) {
		now := time.Now()
		srv := apiEngines["memory"](t, rtb.WithLimits(rtb.Limits{APIRequestsPerSecond: 1, APIRequestBurst: 2}), rtb.WithClock(func() time.Time { return now }))
		for i := range 2 {
			if resp := apiCall(t, srv, "GET", "/api/rooms", apiKey, ""); resp.status != 200 {
				t.Fatalf("request %d within the burst: %d %s", i, resp.status, resp.body)
			}
		}
		resp := apiCall(t, srv, "GET", "/api/rooms", apiKey, "")
		if resp.status != 429 || resp.errorCode(t) != "rate_limited" || resp.header.Get("Retry-After") != "1" {
			t.Fatalf("past the burst: %d %s (Retry-After %q)", resp.status, resp.body, resp.header.Get("Retry-After"))
		}
		if resp := apiCall(t, srv, "GET", "/api/rooms", otherAPIKey, ""); resp.status != 200 {
			t.Fatalf("another key has a bucket of its own: %d %s", resp.status, resp.body)
		}
	})
	t.Run("engine down", func(t *testing.T) {
		srv := startServer(t, rtb.WithBroker(downEngine{memory.New()}), rtb.WithAPIKeys(apiKey))
		for _, call := range [][3]string{
			{"POST", "/api/rooms", ""},
			{"POST", "/api/rooms/" + uuid.NewString() + "/broadcast", `{"funcKey": "a"}`},
		} {
			resp := apiCall(t, srv, call[0], call[1], apiKey, call[2])
			if resp.status != 503 || resp.errorCode(t) != "unavailable" || resp.header.Get("Retry-After") == "" {
				t.Fatalf("%s %s with the engine down: %d %s", call[0], call[1], resp.status, resp.body)
			}
		}
		if n := srv.Stats().OwnedRooms; n != 0 {
			t.Fatalf("a create that failed still counts %d rooms", n)
		}
		metrics := scrape(t, srv.MetricsHandler())
		if n := metrics[`rtbroadcaster_api_requests_total{route="POST /api/rooms",status="503"}`]; n != 1 {
			t.Fatalf("api_requests_total of the refused create: %v", n)
		}
	})
	t.Run("draining", func(t *testing.T) {
		srv := apiEngines["memory"](t)
		ctx, cancel := contextWithTimeout()
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
		resp := apiCall(t, srv, "POST", "/api/rooms", apiKey, "")
		if resp.status != 503 || resp.errorCode(t) != "unavailable" || resp.header.Get("Retry-After") == "" {
			t.Fatalf("while draining: %d %s", resp.status, resp.body)
		}
	})
	t.Run("off without a key", func(t *testing.T) {
		srv := startServer(t)
		for _, route := range rtb.APIRoutes() {
			method, path, _ := strings.Cut(route, " ")
			path = strings.ReplaceAll(path, "{uuid}", uuid.NewString())
			if resp := apiCall(t, srv, method, path, apiKey, ""); resp.status != 404 || resp.errorCode(t) != "not_found" {
				t.Fatalf("%s with the API off: %d %s", route, resp.status, resp.body)
			}
		}
	})
}

// TestAPIRoomOutlivesItsNode: when the node that holds an API room shuts
// down, the room waits for the owner grace, its viewers (on another node)
// told the owner is away, and a client may take it over with its key.
func TestAPIRoomOutlivesItsNode(t *testing.T) {
	engine := memory.New()
	nodeA := startServer(t, rtb.WithBroker(engine), rtb.WithAPIKeys(apiKey))
	nodeB := startServer(t, rtb.WithBroker(engine), rtb.WithAPIKeys(apiKey))
	room, ownerKey := apiCreate(t, nodeA)
	viewer := dial(t, nodeB.wsURL, nil)
	viewer.joinRoom(room)
	ctx, cancel := contextWithTimeout()
	defer cancel()
	if err := nodeA.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if m := viewer.nextAction(); m.Owner != "away" || m.GraceMs != rtb.DefaultOwnerGrace.Milliseconds() {
		t.Fatalf("viewer got %+v, want owner away", m)
	}
	if got := apiRoom(t, nodeB, room); got.Owner != "away" {
		t.Fatalf("through node B: %+v", got)
	}
	owner := dial(t, nodeB.wsURL, nil)
	resume := request(rtb.StatusJoin, room, "")
	resume.OwnerKey = ownerKey
	owner.send(resume)
	if m := owner.next(); m.Owner != "back" || m.Error != nil {
		t.Fatalf("resume reply %+v", m)
	}
	if got := apiRoom(t, nodeB, room); got.Owner != "present" {
		t.Fatalf("after the resume: %+v", got)
	}
}

// TestAPIRedisTwoNodes: on Redis, a room the API made through node A is
// fed through node A to a viewer on node B, described and closed through
// node B; node A lets go of its count when it hears of the close.
func TestAPIRedisTwoNodes(t *testing.T) {
	nodes := startRedisNodes(t, redistest.URL(t), 2, 0, rtb.WithAPIKeys(apiKey))
	nodeA, nodeB := nodes[0].testServer, nodes[1].testServer
	room, _ := apiCreate(t, nodeA)
	viewer := dial(t, nodeB.wsURL, nil)
	viewer.joinRoom(room)
	for i := range 3 {
		if seq := apiBroadcast(t, nodeA, room, `{"funcKey": "tick", "funcParams": ["`+string(rune('a'+i))+`"]}`); seq != uint64(i+1) {
			t.Fatalf("broadcast %d has seq %d", i, seq)
		}
	}
	for i := range 3 {
		if m := viewer.nextAction(); m.FuncKey != "tick" || m.Seq != uint64(i+1) || m.FuncParams[0] != string(rune('a'+i)) {
			t.Fatalf("viewer on node B got %+v", m)
		}
	}
	waitUntil(t, "node B sees the room's viewer", func() bool {
		got := apiRoom(t, nodeB, room)
		return got.Viewers == 1 && got.Seq == 3 && got.Owner == "none"
	})
	if resp := apiCall(t, nodeB, "DELETE", "/api/rooms/"+room, apiKey, ""); resp.status != 204 {
		t.Fatalf("DELETE through node B: %d %s", resp.status, resp.body)
	}
	expectEnd(t, viewer, room, 4)
	waitUntil(t, "node A lets go of the room's count", func() bool { return nodeA.Stats().OwnedRooms == 0 })
}

// downEngine is an engine that cannot be reached, as Redis down.
type downEngine struct{ broker.Broker }

func (downEngine) CreateRoom(context.Context, string, broker.Owner) error {
	return fmt.Errorf("create: %w", broker.ErrUnavailable)
}

func (downEngine) Publish(context.Context, string, broker.Publication) (uint64, error) {
	return 0, fmt.Errorf("publish: %w", broker.ErrUnavailable)
}

// contextWithTimeout bounds a test's Shutdown.
func contextWithTimeout() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), waitFor)
}
