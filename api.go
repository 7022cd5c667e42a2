package rtbroadcaster

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	_ "embed"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/rtbroadcaster/rtbroadcaster/broker"
	"golang.org/x/time/rate"
)

// The HTTP API lets a backend create, feed, describe and close rooms with
// one HTTP call each (PROTOCOL.md, HTTP API). It is off unless the Manager
// has API keys (Config.APIKeys). Its route table is apiRoutes; the OpenAPI
// document that describes it, openapi.json, is checked against that table
// by a test.

// Error codes of the HTTP API besides the protocol's (PROTOCOL.md, Errors).
const (
	codeNotFound         ErrorCode = "not_found"
	codeMethodNotAllowed ErrorCode = "method_not_allowed"
	codeTooLarge         ErrorCode = "too_large"
)

// apiEnvelopeBytes is what a broadcast's body may hold besides what a
// WebSocket frame may (Limits.ReadLimit): the API's own field names and
// layout. The body limit is their sum.
const apiEnvelopeBytes = 1 << 10

// API room listing: a page holds apiPageDefault rooms unless the request
// asks for up to apiPageMax; the engine is asked for at most apiListMax
// rooms, in which the pages are cut.
const (
	apiPageDefault = 100
	apiPageMax     = 1000
	apiListMax     = 10_000
)

// apiMaxSubjects bounds the rate limiters kept for token subjects: past it
// they are all forgotten at once, which only gives each a full bucket again.
const apiMaxSubjects = 1 << 12

//go:embed openapi.json
var openAPIDocument []byte

// apiRoute is one route of the HTTP API.
type apiRoute struct {
	method, path string
	handle       func(*Manager, http.ResponseWriter, *http.Request) *apiError
	public       bool // served without a key
}

// apiRoutes is the HTTP API's route table, which openapi.json documents.
var apiRoutes = []apiRoute{
	{method: "POST", path: "/api/rooms", handle: (*Manager).apiCreateRoom},
	{method: "GET", path: "/api/rooms", handle: (*Manager).apiListRooms},
	{method: "GET", path: "/api/rooms/{uuid}", handle: (*Manager).apiGetRoom},
	{method: "DELETE", path: "/api/rooms/{uuid}", handle: (*Manager).apiCloseRoom},
	{method: "POST", path: "/api/rooms/{uuid}/broadcast", handle: (*Manager).apiBroadcast},
	{method: "GET", path: "/api/openapi.json", handle: (*Manager).apiOpenAPI, public: true},
}

// apiError is a refused API request: its HTTP status and the error object
// of its body, and when to retry (429, 503).
type apiError struct {
	status     int
	err        *Error
	retryAfter time.Duration
}

func apiErr(status int, code ErrorCode, format string, args ...any) *apiError {
	return &apiError{status: status, err: newError(code, format, args...)}
}

// APIHandler serves the HTTP API (PROTOCOL.md, HTTP API). Mount it at
// /api/. Every route but /api/openapi.json needs "Authorization: Bearer
// <key>" with one of Config.APIKeys, or a token whose grant has API set;
// without API keys, every route answers 404.
//
//	POST   /api/rooms                    creates a room that no connection owns: 201 {"uuid", "ownerKey"}
//	GET    /api/rooms                    the open rooms, by uuid, a page at a time (?limit=, ?after=)
//	GET    /api/rooms/{uuid}             one room: viewers, seq, owner, kept state
//	DELETE /api/rooms/{uuid}             closes it as its owner's status 4 does: 204
//	POST   /api/rooms/{uuid}/broadcast   broadcasts into it as its owner would: 200 {"seq"}
//	GET    /api/openapi.json             the OpenAPI 3 document of these routes
func (m *Manager) APIHandler() http.Handler {
	mux := http.NewServeMux()
	allowed := map[string][]string{}
	for _, rt := range apiRoutes {
		mux.Handle(rt.method+" "+rt.path, m.apiEndpoint(rt))
		allowed[rt.path] = append(allowed[rt.path], rt.method)
	}
	for path, methods := range allowed {
		allow := strings.Join(methods, ", ")
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", allow)
			writeAPIError(w, apiErr(http.StatusMethodNotAllowed, codeMethodNotAllowed, "%s %s: this path takes %s", r.Method, r.URL.Path, allow))
		})
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeAPIError(w, apiErr(http.StatusNotFound, codeNotFound, "%s: no such route; GET /api/openapi.json lists them", r.URL.Path))
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if m.api == nil {
			writeAPIError(w, apiErr(http.StatusNotFound, codeNotFound, "the HTTP API is off: start the server with an API key (-api-key)"))
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// apiEndpoint serves one route: it authenticates the request, applies its
// credential's rate limit and the body limit, runs the handler and counts
// the answer.
func (m *Manager) apiEndpoint(rt apiRoute) http.Handler {
	route := rt.method + " " + rt.path
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		refused := m.apiAdmit(rt, r)
		if refused == nil {
			r.Body = http.MaxBytesReader(w, r.Body, int64(m.limits.ReadLimit)+apiEnvelopeBytes)
			refused = rt.handle(m, sw, r)
		}
		if refused != nil {
			writeAPIError(sw, refused)
		}
		m.metrics.apiRequests.WithLabelValues(route, strconv.Itoa(sw.status)).Inc()
	})
}

// statusWriter remembers the status of its answer, for the metrics.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(status int) {
	w.status = status
	w.ResponseWriter.WriteHeader(status)
}

// apiAdmit refuses a request without a valid credential, one past its
// credential's rate, and any while the Manager drains.
func (m *Manager) apiAdmit(rt apiRoute, r *http.Request) *apiError {
	if rt.public {
		return nil
	}
	cred, refused := m.api.authenticate(r)
	if refused != nil {
		return refused
	}
	if !m.api.allow(cred) {
		e := apiErr(http.StatusTooManyRequests, CodeRateLimited, "more than %g API requests per second with this credential; slow down", m.limits.APIRequestsPerSecond)
		e.retryAfter = time.Second
		return e
	}
	if m.isDraining() {
		e := apiErr(http.StatusServiceUnavailable, CodeUnavailable, "this server is shutting down; retry, through the load balancer, on another")
		e.retryAfter = m.retryDelay()
		return e
	}
	return nil
}

// writeAPIError answers with e in the protocol's error shape.
func writeAPIError(w http.ResponseWriter, e *apiError) {
	if e.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((e.retryAfter+time.Second-1)/time.Second)))
	}
	if e.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="rtbroadcaster api"`)
	}
	writeJSON(w, e.status, struct {
		Error *Error `json:"error"`
	}{e.err})
}

// apiAuth checks the HTTP API's credentials and keeps a rate limiter per
// credential. It locks itself; its lock is a leaf.
type apiAuth struct {
	keyHashes [][]byte      // SHA-256 of each key: compared in constant time, whatever their lengths
	verifier  TokenVerifier // nil: keys only
	perSecond rate.Limit    // 0: unlimited
	burst     int
	now       func() time.Time

	mu       sync.Mutex
	limiters map[string]*rate.Limiter // by credential; token subjects bounded by apiMaxSubjects
	subjects int
}

// newAPIAuth returns the API's credentials check, or nil (the API off)
// without keys.
func newAPIAuth(keys []string, v TokenVerifier, l Limits, now func() time.Time) *apiAuth {
	a := &apiAuth{verifier: v, perSecond: rate.Limit(l.APIRequestsPerSecond), burst: l.APIRequestBurst, now: now, limiters: map[string]*rate.Limiter{}}
	for _, key := range keys {
		if key != "" {
			sum := sha256.Sum256([]byte(key))
			a.keyHashes = append(a.keyHashes, sum[:])
		}
	}
	if len(a.keyHashes) == 0 {
		return nil
	}
	return a
}

// authenticate returns the name of the request's credential: "key <n>" for
// the n-th API key, "token <sub>" for a token that grants the API.
func (a *apiAuth) authenticate(r *http.Request) (string, *apiError) {
	bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || bearer == "" {
		return "", apiErr(http.StatusUnauthorized, CodeUnauthorized, "send an API key as Authorization: Bearer <key>")
	}
	sum := sha256.Sum256([]byte(bearer))
	match := -1
	for i, h := range a.keyHashes { // every key, so that the time says nothing of which matched
		if subtle.ConstantTimeCompare(sum[:], h) == 1 {
			match = i
		}
	}
	if match >= 0 {
		return "key " + strconv.Itoa(match), nil
	}
	if a.verifier == nil {
		return "", apiErr(http.StatusUnauthorized, CodeUnauthorized, "not an API key of this server")
	}
	grant, err := a.verifier.Verify(bearer)
	if err != nil {
		return "", apiErr(http.StatusUnauthorized, CodeUnauthorized, "neither an API key of this server nor a valid token: %v", err)
	}
	if !grant.API {
		return "", apiErr(http.StatusForbidden, CodeForbidden, "the token of %q does not grant the HTTP API (claim rtb_api)", grant.Subject)
	}
	return "token " + grant.Subject, nil
}

// allow takes one request from cred's bucket.
func (a *apiAuth) allow(cred string) bool {
	if a.perSecond <= 0 {
		return true
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	lim := a.limiters[cred]
	if lim == nil {
		if strings.HasPrefix(cred, "token ") {
			if a.subjects >= apiMaxSubjects {
				maps.DeleteFunc(a.limiters, func(cred string, _ *rate.Limiter) bool { return strings.HasPrefix(cred, "token ") })
				a.subjects = 0
			}
			a.subjects++
		}
		lim = rate.NewLimiter(a.perSecond, a.burst)
		a.limiters[cred] = lim
	}
	return lim.AllowN(a.now(), 1)
}

// decodeBody reads the request's JSON object into v, strictly: one object,
// no unknown fields, no trailing data. An empty body is refused unless
// optional.
func decodeBody(r *http.Request, v any, optional bool) *apiError {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if errors.Is(err, io.EOF) && optional {
		return nil
	}
	if err == nil {
		if _, next := dec.Token(); next != io.EOF {
			err = errors.New("more after the JSON object; send one object")
		}
	}
	var tooBig *http.MaxBytesError
	var typeErr *json.UnmarshalTypeError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &tooBig):
		return apiErr(http.StatusRequestEntityTooLarge, codeTooLarge, "the body is larger than %d bytes, the most a request may send (the server's read limit and %d bytes of envelope)", tooBig.Limit, apiEnvelopeBytes)
	case errors.Is(err, io.EOF):
		return apiErr(http.StatusBadRequest, CodeBadRequest, "the body is empty; send a JSON object")
	case errors.As(err, &typeErr):
		return apiErr(http.StatusBadRequest, CodeBadRequest, "field %s: a JSON %s where %s is expected", typeErr.Field, typeErr.Value, jsonKind(typeErr.Type.String()))
	}
	return apiErr(http.StatusBadRequest, CodeBadRequest, "the body is not the JSON object this route takes: %s", strings.TrimPrefix(err.Error(), "json: "))
}

// jsonKind names a Go type of a request field as JSON.
func jsonKind(goType string) string {
	switch goType {
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "[]string":
		return "an array of strings"
	}
	return "an object"
}

// roomParam is the route's {uuid}, checked.
func roomParam(r *http.Request) (string, *apiError) {
	id := r.PathValue("uuid")
	if _, err := uuid.Parse(id); err != nil || len(id) != 36 {
		return "", apiErr(http.StatusBadRequest, CodeBadRequest, "%q is not a room id (a UUID such as f63ca67e-69bb-4a16-a71f-86a87acbe0b5)", id)
	}
	return strings.ToLower(id), nil
}

// apiRequestContext bounds a request's engine calls as a connection's are.
func apiRequestContext(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), brokerTimeout)
}

// apiRefusal turns a refusal of the protocol (from brokerError, or a check
// shared with the WebSocket path) into an API error with a fitting status.
func apiRefusal(e *Error) *apiError {
	status := http.StatusServiceUnavailable
	switch e.Code {
	case CodeBadRequest:
		status = http.StatusBadRequest
	case CodeRoomNotFound:
		status = http.StatusNotFound
	case CodeStateFull, CodeLost:
		status = http.StatusConflict
	case CodeNotOwner:
		status = http.StatusForbidden
	}
	refused := &apiError{status: status, err: e}
	if status == http.StatusServiceUnavailable {
		refused.retryAfter = time.Second
	}
	return refused
}

// apiRoomCreated is the answer to POST /api/rooms.
type apiRoomCreated struct {
	UUID     string `json:"uuid"`
	OwnerKey string `json:"ownerKey"`
}

// apiCreateRoom creates a room that no connection owns: this node holds
// its owner's place (epoch 1) and its count against MaxRooms until a
// client resumes it with the owner key, or it closes (held.go).
func (m *Manager) apiCreateRoom(w http.ResponseWriter, r *http.Request) *apiError {
	var req struct{}
	if refused := decodeBody(r, &req, true); refused != nil {
		return refused
	}
	if refused := m.reserveRoom("create", netip.Prefix{}, false); refused != nil {
		return apiRefusal(refused)
	}
	ctx, cancel := apiRequestContext(r)
	defer cancel()
	id := uuid.NewString()
	key, keyHash := newOwnerKey()
	if err := m.broker.CreateRoom(ctx, id, broker.Owner{KeyHash: keyHash, Grace: m.ownerGrace, Held: true}); err != nil {
		m.releaseRoom(netip.Prefix{})
		return apiRefusal(brokerError("create", id, err))
	}
	rm, err := m.attach(ctx, id)
	if err != nil {
		m.releaseRoom(netip.Prefix{})
		_ = m.broker.CloseRoom(context.WithoutCancel(ctx), id)
		return apiRefusal(brokerError("create", id, err))
	}
	if !rm.holdForAPI() {
		m.releaseRoom(netip.Prefix{})
		m.detach(rm)
	}
	m.log.Debug("room created through the HTTP API", "room", id)
	w.Header().Set("Location", "/api/rooms/"+id)
	writeJSON(w, http.StatusCreated, apiRoomCreated{UUID: id, OwnerKey: key})
	return nil
}

// holdForAPI makes the replica hold the room count of a room the API just
// created, at epoch 1, with the reference attach gave: it is let go when
// the room closes or a client claims it. It reports false when either
// happened already.
func (r *room) holdForAPI() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed.Load() || r.claimedEpoch > 1 || r.held != nil {
		return false
	}
	r.held = &heldReservation{epoch: 1, api: true}
	return true
}

// releaseAPIRooms gives back the rooms this node holds for the API, as an
// owner connection that ends does: each waits for the owner grace for a
// client to resume it with its key, and its viewers are told the owner is
// away. The Manager is shutting down.
func (m *Manager) releaseAPIRooms() {
	for _, r := range m.openRooms() {
		r.mu.Lock()
		var h *heldReservation
		if r.held != nil && r.held.api {
			h = r.heldLocked()
		}
		r.mu.Unlock()
		if h == nil {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), brokerTimeout)
		if err := m.broker.ReleaseOwner(ctx, r.id, h.epoch); err == nil && m.ownerGrace > 0 {
			m.announceOwner(ctx, r.id, h.epoch, ownerAway, m.ownerGrace)
		}
		cancel()
		r.letGo(h)
	}
}

// apiBroadcastRequest is the body of POST /api/rooms/{uuid}/broadcast: the
// fields of an owner's broadcast (PROTOCOL.md, Broadcast an action).
type apiBroadcastRequest struct {
	FuncKey      string   `json:"funcKey"`
	FuncParams   []string `json:"funcParams"`
	StateMessage bool     `json:"stateMessage"`
	StateKey     string   `json:"stateKey"`
	ClearState   bool     `json:"clearState"`
	Conflate     bool     `json:"conflate"`
}

// apiBroadcast broadcasts into an open room as its owner would, whoever
// owns it: the API is the server's own authority.
func (m *Manager) apiBroadcast(w http.ResponseWriter, r *http.Request) *apiError {
	id, refused := roomParam(r)
	if refused != nil {
		return refused
	}
	var req apiBroadcastRequest
	if refused := decodeBody(r, &req, false); refused != nil {
		return refused
	}
	if req.StateKey != "" && !req.StateMessage && !req.Conflate {
		return apiErr(http.StatusBadRequest, CodeBadRequest, "broadcast: stateKey keys a state message or a conflated one; set stateMessage: true or conflate: true, or leave stateKey out")
	}
	msg := &Message{FuncKey: req.FuncKey, FuncParams: req.FuncParams, StateMessage: req.StateMessage, StateKey: req.StateKey, ClearState: req.ClearState, Conflate: req.Conflate}
	pub, bad := m.broadcastPublication(id, msg, 0)
	if bad != nil {
		return apiRefusal(bad)
	}
	ctx, cancel := apiRequestContext(r)
	defer cancel()
	seq, err := m.broker.Publish(ctx, id, pub)
	if err != nil {
		return apiRefusal(brokerError("broadcast", id, err))
	}
	writeJSON(w, http.StatusOK, struct {
		Seq uint64 `json:"seq"`
	}{seq})
	return nil
}

// apiCloseRoom closes a room through the engine, on every node, as its
// owner's status 4 does.
func (m *Manager) apiCloseRoom(w http.ResponseWriter, r *http.Request) *apiError {
	id, refused := roomParam(r)
	if refused != nil {
		return refused
	}
	ctx, cancel := apiRequestContext(r)
	defer cancel()
	wasOpen, err := m.closeOpenRoom(ctx, id, "")
	if err != nil {
		return apiRefusal(brokerError("close", id, err))
	}
	if !wasOpen {
		return apiErr(http.StatusNotFound, CodeRoomNotFound, "close: no open room has uuid %q", id)
	}
	m.log.Info("room closed through the HTTP API", "room", id)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// Owner states of a room in the HTTP API.
const (
	apiOwnerPresent = "present" // a client owns it
	apiOwnerAway    = "away"    // its owner left; it waits for the grace
	apiOwnerNone    = "none"    // the API created it and no client took it
)

// APIRoom is what the HTTP API tells about a room.
type APIRoom struct {
	UUID    string `json:"uuid"`
	Viewers int    `json:"viewers"`
	Seq     uint64 `json:"seq"`
	Owner   string `json:"owner"`
	// StateMessages and StateBytes are the room's kept state; only
	// GET /api/rooms/{uuid} tells them.
	StateMessages *int `json:"stateMessages,omitempty"`
	StateBytes    *int `json:"stateBytes,omitempty"`
}

func apiRoomOf(info broker.RoomInfo) APIRoom {
	owner := apiOwnerPresent
	switch {
	case info.OwnerAway:
		owner = apiOwnerAway
	case info.OwnerHeld:
		owner = apiOwnerNone
	}
	return APIRoom{UUID: info.ID, Viewers: info.Viewers, Seq: info.Seq, Owner: owner}
}

func (m *Manager) apiGetRoom(w http.ResponseWriter, r *http.Request) *apiError {
	id, refused := roomParam(r)
	if refused != nil {
		return refused
	}
	inspector, ok := m.broker.(broker.Inspector)
	if !ok {
		return apiErr(http.StatusNotImplemented, CodeUnavailable, "this server's room engine cannot describe a room")
	}
	ctx, cancel := apiRequestContext(r)
	defer cancel()
	d, err := inspector.Room(ctx, id)
	if err != nil {
		return apiRefusal(brokerError("describe", id, err))
	}
	room := apiRoomOf(d.RoomInfo)
	room.StateMessages, room.StateBytes = &d.StateMessages, &d.StateBytes
	writeJSON(w, http.StatusOK, room)
	return nil
}

// APIRoomPage is a page of GET /api/rooms.
type APIRoomPage struct {
	Rooms []APIRoom `json:"rooms"`
	// Next is the after= of the next page; empty on the last.
	Next string `json:"next,omitempty"`
	// Truncated says the engine was asked for its first apiListMax rooms
	// and there may be more, which no page lists.
	Truncated bool `json:"truncated"`
}

// apiListRooms lists the open rooms of every node by uuid, a page at a
// time: ?limit= rooms (1 to apiPageMax) after the uuid ?after=.
func (m *Manager) apiListRooms(w http.ResponseWriter, r *http.Request) *apiError {
	limit, after := apiPageDefault, ""
	for name, values := range r.URL.Query() {
		v := values[len(values)-1]
		switch name {
		case "limit":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > apiPageMax {
				return apiErr(http.StatusBadRequest, CodeBadRequest, "limit=%q: give a number of rooms from 1 to %d", v, apiPageMax)
			}
			limit = n
		case "after":
			if _, err := uuid.Parse(v); err != nil || len(v) != 36 {
				return apiErr(http.StatusBadRequest, CodeBadRequest, "after=%q: give the next field of the previous page, a room id", v)
			}
			after = strings.ToLower(v)
		default:
			return apiErr(http.StatusBadRequest, CodeBadRequest, "unknown query parameter %q: this route takes limit and after", name)
		}
	}
	lister, ok := m.broker.(broker.Lister)
	if !ok {
		return apiErr(http.StatusNotImplemented, CodeUnavailable, "this server's room engine cannot list rooms")
	}
	ctx, cancel := apiRequestContext(r)
	defer cancel()
	infos, err := lister.Rooms(ctx, apiListMax+1)
	if err != nil {
		return apiRefusal(brokerError("list", "", err))
	}
	page := APIRoomPage{Rooms: []APIRoom{}, Truncated: len(infos) > apiListMax}
	slices.SortFunc(infos, func(a, b broker.RoomInfo) int { return strings.Compare(a.ID, b.ID) })
	infos = infos[:min(len(infos), apiListMax)]
	start, _ := slices.BinarySearchFunc(infos, after, func(info broker.RoomInfo, id string) int {
		if info.ID <= id {
			return -1
		}
		return 1
	})
	for _, info := range infos[start:min(len(infos), start+limit)] {
		page.Rooms = append(page.Rooms, apiRoomOf(info))
	}
	if start+limit < len(infos) {
		page.Next = page.Rooms[len(page.Rooms)-1].UUID
	}
	writeJSON(w, http.StatusOK, page)
	return nil
}

func (m *Manager) apiOpenAPI(w http.ResponseWriter, _ *http.Request) *apiError {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(openAPIDocument)
	return nil
}
