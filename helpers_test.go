package rtbroadcaster_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/lxzan/gws"
	"github.com/rtbroadcaster/rtbroadcaster"
)

// waitFor bounds every wait in these tests.
const waitFor = 10 * time.Second

// testServer is a Manager behind a real HTTP server on a loopback port.
type testServer struct {
	*rtbroadcaster.Manager
	http  *httptest.Server
	url   string // http://host:port, where the HTTP API is at /api/
	wsURL string
}

// eventsURL is the URL of room's event stream (SSE viewers).
func (s *testServer) eventsURL(room string) string {
	return s.http.URL + "/rooms/" + room + "/events"
}

func startServer(t testing.TB, opts ...rtbroadcaster.Option) *testServer {
	t.Helper()
	opts = append([]rtbroadcaster.Option{rtbroadcaster.WithLogger(quietLogger())}, opts...)
	mgr := rtbroadcaster.NewManager(opts...)
	mux := http.NewServeMux()
	mux.Handle("/broadcast", mgr)
	mux.Handle("/api/", mgr.APIHandler())
	mux.HandleFunc("/rooms/{uuid}/events", mgr.ServeEvents)
	srv := httptest.NewServer(mux)
	s := &testServer{Manager: mgr, http: srv, url: srv.URL, wsURL: "ws" + strings.TrimPrefix(srv.URL, "http") + "/broadcast"}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		if err := mgr.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		srv.Close()
	})
	return s
}

func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// wsClient is a test's WebSocket client: it queues what it receives so that
// the test reads it in order, and records how the connection closed.
type wsClient struct {
	t      testing.TB
	conn   *gws.Conn
	frames chan []byte
	closed chan struct{}
	err    error // why the connection ended; read after closed
}

type clientEvents struct {
	gws.BuiltinEventHandler
	c *wsClient
}

func (e clientEvents) OnMessage(_ *gws.Conn, m *gws.Message) {
	e.c.frames <- append([]byte(nil), m.Bytes()...)
	m.Close()
}

func (e clientEvents) OnClose(_ *gws.Conn, err error) {
	e.c.err = err
	close(e.c.closed)
}

// dial connects to url; header may carry an Origin.
func dial(t testing.TB, url string, header http.Header) *wsClient {
	t.Helper()
	c, err := tryDial(t, url, header)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	return c
}

func tryDial(t testing.TB, url string, header http.Header) (*wsClient, error) {
	c := &wsClient{t: t, frames: make(chan []byte, 1<<16), closed: make(chan struct{})}
	conn, resp, err := gws.NewClient(clientEvents{c: c}, &gws.ClientOption{Addr: url, RequestHeader: header, ReadMaxPayloadSize: 16 << 20})
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("%w (HTTP %d)", err, resp.StatusCode)
		}
		return nil, err
	}
	c.conn = conn
	go conn.ReadLoop()
	t.Cleanup(func() {
		_ = conn.NetConn().Close()
		<-c.closed
	})
	return c, nil
}

// send writes v as JSON, or as is when it is a string or []byte.
func (c *wsClient) send(v any) {
	c.t.Helper()
	var data []byte
	switch v := v.(type) {
	case string:
		data = []byte(v)
	case []byte:
		data = v
	default:
		var err error
		if data, err = json.Marshal(v); err != nil {
			c.t.Fatal(err)
		}
	}
	if err := c.conn.WriteMessage(gws.OpcodeText, data); err != nil {
		c.t.Fatalf("send: %v", err)
	}
}

// recvRaw returns the next frame received. Unlike the methods that fail the
// test, it may be called from any goroutine.
func (c *wsClient) recvRaw() ([]byte, error) {
	select {
	case f := <-c.frames:
		return f, nil
	case <-c.closed:
		select {
		case f := <-c.frames:
			return f, nil
		default:
		}
		return nil, fmt.Errorf("connection closed while waiting for a message: %w", c.err)
	case <-time.After(waitFor):
		return nil, fmt.Errorf("no message within %v", waitFor)
	}
}

// recv returns the next message received; any goroutine may call it.
func (c *wsClient) recv() (*rtbroadcaster.Message, error) {
	raw, err := c.recvRaw()
	if err != nil {
		return nil, err
	}
	var m rtbroadcaster.Message
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("server sent invalid JSON %q: %w", raw, err)
	}
	return &m, nil
}

// nextRaw returns the next frame received.
func (c *wsClient) nextRaw() []byte {
	c.t.Helper()
	raw, err := c.recvRaw()
	if err != nil {
		c.t.Fatal(err)
	}
	return raw
}

// next returns the next message received.
func (c *wsClient) next() *rtbroadcaster.Message {
	c.t.Helper()
	m, err := c.recv()
	if err != nil {
		c.t.Fatal(err)
	}
	return m
}

// nextError returns the next message but presence, which must be an error
// reply with code.
func (c *wsClient) nextError(code rtbroadcaster.ErrorCode) *rtbroadcaster.Message {
	c.t.Helper()
	m := c.nextAction()
	if m.Error == nil || m.Error.Code != code {
		c.t.Fatalf("got %+v (error %+v), want error %q", m, m.Error, code)
	}
	if m.FuncKey != "" {
		c.t.Fatalf("error reply has funcKey %q; it must be empty", m.FuncKey)
	}
	return m
}

// expectNothing checks that no message arrives within d.
func (c *wsClient) expectNothing(d time.Duration) {
	c.t.Helper()
	select {
	case f := <-c.frames:
		c.t.Fatalf("unexpected message %s", f)
	case <-time.After(d):
	}
}

// expectClose waits for the connection to end with a close frame of code.
func (c *wsClient) expectClose(code uint16) {
	c.t.Helper()
	select {
	case <-c.closed:
	case <-time.After(waitFor):
		c.t.Fatalf("connection still open after %v, want close %d", waitFor, code)
	}
	var ce *gws.CloseError
	if !errors.As(c.err, &ce) || ce.Code != code {
		c.t.Fatalf("connection ended with %v, want close code %d", c.err, code)
	}
}

// expectRefused dials url and expects the handshake to be accepted and
// closed at once with code, as the server refuses a WebSocket; it returns
// the close reason.
func expectRefused(t testing.TB, url string, header http.Header, code uint16) string {
	t.Helper()
	c := dial(t, url, header)
	c.expectClose(code)
	var ce *gws.CloseError
	errors.As(c.err, &ce)
	return string(ce.Reason)
}

// request builds a client message.
func request(status int, uuid, funcKey string, params ...string) *rtbroadcaster.Message {
	if params == nil {
		params = []string{}
	}
	return &rtbroadcaster.Message{UUID: uuid, Status: rtbroadcaster.Status{Value: status}, FuncKey: funcKey, FuncParams: params}
}

func stateRequest(uuid, funcKey, stateKey string, params ...string) *rtbroadcaster.Message {
	m := request(rtbroadcaster.StatusConnected, uuid, funcKey, params...)
	m.StateMessage, m.StateKey = true, stateKey
	return m
}

// createRoom makes c an owner and returns the room's uuid.
func (c *wsClient) createRoom() string {
	c.t.Helper()
	c.send(request(rtbroadcaster.StatusNew, "", ""))
	m := c.next()
	if m.Status.Value != rtbroadcaster.StatusConnected || m.Error != nil || m.UUID == "" {
		c.t.Fatalf("create: got %+v", m)
	}
	return m.UUID
}

// joinRoom makes c a viewer and returns the join reply.
func (c *wsClient) joinRoom(uuid string) *rtbroadcaster.Message {
	c.t.Helper()
	c.send(request(rtbroadcaster.StatusJoin, uuid, ""))
	m := c.next()
	if m.Status.Value != rtbroadcaster.StatusConnected || m.Error != nil || m.UUID != uuid {
		c.t.Fatalf("join: got %+v", m)
	}
	return m
}

// settle waits until the server has handled every request c sent before
// it: the owner's broadcasts get no reply, but a request the server refuses
// does, and a connection's requests are handled in order.
func (c *wsClient) settle(room string) {
	c.t.Helper()
	c.send(request(rtbroadcaster.StatusConnected, room, "")) // an empty funcKey: bad_request
	c.nextError(rtbroadcaster.CodeBadRequest)
}

// recvAction returns the next message that is not a presence message, or
// why none came (the connection ended).
func (c *wsClient) recvAction() (*rtbroadcaster.Message, error) {
	for {
		m, err := c.recv()
		if err != nil || m.Viewers == nil {
			return m, err
		}
	}
}

// nextAction returns the next message that is not a presence message.
func (c *wsClient) nextAction() *rtbroadcaster.Message {
	c.t.Helper()
	m, err := c.recvAction()
	if err != nil {
		c.t.Fatal(err)
	}
	return m
}

// ownerAndViewer dials an owner that creates a room and a viewer that joins
// it, both on url.
func ownerAndViewer(t testing.TB, url string) (owner *wsClient, room string, viewer *wsClient) {
	t.Helper()
	owner = dial(t, url, nil)
	room = owner.createRoom()
	viewer = dial(t, url, nil)
	viewer.joinRoom(room)
	return owner, room, viewer
}
