package client_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/lxzan/gws"
	"github.com/rtbroadcaster/rtbroadcaster/protocol"
)

// fakeServer is a stand-in for a server whose answers a test scripts, to
// see what the client does with answers a real server does not give
// (replies out of order, or without the request ids of an older server).
// It answers pings at once, in order with its replies, as servers do.
type fakeServer struct {
	url string
	// answer gets each request the client sent, with whether a ping with
	// its id came just before it, and returns the messages to send back.
	// It runs on the connection's reading goroutine, one request at a time.
	answer func(req *protocol.Message, pinged bool) []*protocol.Message

	mu       sync.Mutex
	lastPing string
}

func startFakeServer(t *testing.T, answer func(req *protocol.Message, pinged bool) []*protocol.Message) *fakeServer {
	t.Helper()
	f := &fakeServer{answer: answer}
	up := gws.NewUpgrader(f, nil)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := up.Upgrade(w, r)
		if err != nil {
			return
		}
		conn.ReadLoop()
	}))
	t.Cleanup(srv.Close)
	f.url = "ws" + strings.TrimPrefix(srv.URL, "http")
	return f
}

func (f *fakeServer) OnOpen(*gws.Conn)         {}
func (f *fakeServer) OnClose(*gws.Conn, error) {}
func (f *fakeServer) OnPong(*gws.Conn, []byte) {}

func (f *fakeServer) OnPing(conn *gws.Conn, payload []byte) {
	f.mu.Lock()
	f.lastPing = string(payload)
	f.mu.Unlock()
	_ = conn.WritePong(payload)
}

func (f *fakeServer) OnMessage(conn *gws.Conn, msg *gws.Message) {
	defer msg.Close()
	req, err := protocol.DecodeMessage(msg.Bytes())
	if err != nil {
		return
	}
	f.mu.Lock()
	pinged := req.ID != "" && f.lastPing == req.ID
	f.mu.Unlock()
	for _, m := range f.answer(req, pinged) {
		_ = conn.WriteMessage(gws.OpcodeText, m.Encode())
	}
}

// connected is a create or join reply for room: status 3.
func connected(room, id string) *protocol.Message {
	return &protocol.Message{UUID: room, Status: protocol.Status{Value: protocol.StatusConnected, Text: protocol.TextConnected}, ID: id}
}
