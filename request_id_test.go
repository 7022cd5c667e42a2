package rtbroadcaster_test

import (
	"strings"
	"testing"

	rtb "github.com/rtbroadcaster/rtbroadcaster"
)

// withID returns m carrying the request id id.
func withID(m *rtb.Message, id string) *rtb.Message {
	m.ID = id
	return m
}

// TestRequestIDsAreEchoed: every reply, error replies included, carries the
// id of the request it answers; messages that answer none carry no id.
func TestRequestIDsAreEchoed(t *testing.T) {
	srv := startServer(t)
	owner := dial(t, srv.wsURL, nil)
	owner.send(withID(request(rtb.StatusNew, "", ""), "c1"))
	created := owner.next()
	room := created.UUID
	viewer := dial(t, srv.wsURL, nil)

	steps := []struct {
		name   string
		client *wsClient
		req    *rtb.Message
		wantID string
		code   rtb.ErrorCode // of the error reply, if one
	}{
		{"join reply", viewer, withID(request(rtb.StatusJoin, room, ""), "j-1"), "j-1", ""},
		{"error reply", viewer, withID(request(rtb.StatusConnected, room, "next"), "b 2"), "b 2", rtb.CodeNotOwner},
		{"refused broadcast", owner, withID(request(rtb.StatusConnected, room, ""), "b3"), "b3", rtb.CodeBadRequest},
		{"request without id", owner, request(rtb.StatusConnected, room, ""), "", rtb.CodeBadRequest},
		{"id too long", owner, withID(request(rtb.StatusConnected, room, ""), strings.Repeat("x", rtb.MaxRequestID+1)), "", rtb.CodeBadRequest},
	}
	if created.ID != "c1" {
		t.Fatalf("create reply: id %q, want c1", created.ID)
	}
	for _, s := range steps {
		s.client.send(s.req)
		m := s.client.nextAction()
		if m.ID != s.wantID {
			t.Fatalf("%s: id %q, want %q (%+v)", s.name, m.ID, s.wantID, m)
		}
		if got := m.Error; (got == nil) != (s.code == "") || (got != nil && got.Code != s.code) {
			t.Fatalf("%s: error %+v, want %q", s.name, got, s.code)
		}
	}

	owner.send(withID(request(rtb.StatusConnected, room, "next", "1"), "b4"))
	if m := viewer.nextAction(); m.ID != "" || m.FuncKey != "next" {
		t.Fatalf("a broadcast reached the viewer as %+v: it must carry no request id", m)
	}
	owner.send(withID(request(rtb.StatusClose, room, ""), "x5"))
	if m := owner.nextAction(); m.ID != "x5" || m.Status.Value != rtb.StatusNotConnected {
		t.Fatalf("close reply: %+v, want status 0 with id x5", m)
	}
	if m := viewer.nextAction(); m.ID != "" || m.Status.Value != rtb.StatusNotConnected {
		t.Fatalf("the room's end reached the viewer as %+v: it must carry no request id", m)
	}
}

// TestResumeAndRateLimitedRepliesCarryTheID: the resume reply and a
// rate_limited refusal, which the server gives without handling the
// request, answer with its id too.
func TestResumeAndRateLimitedRepliesCarryTheID(t *testing.T) {
	srv := startServer(t, rtb.WithLimits(rtb.Limits{MessagesPerSecond: 0.001, MessageBurst: 2}))
	owner := dial(t, srv.wsURL, nil)
	room, key := owner.createOwned()
	_ = owner.conn.NetConn().Close()

	resumed := dial(t, srv.wsURL, nil)
	req := request(rtb.StatusJoin, room, "")
	req.OwnerKey, req.ID = key, "r1"
	resumed.send(req)
	if m := resumed.nextAction(); m.ID != "r1" || m.Owner != "back" {
		t.Fatalf("resume reply: %+v, want owner back with id r1", m)
	}
	resumed.send(withID(request(rtb.StatusConnected, room, "next"), "r2")) // the burst's last
	resumed.send(withID(request(rtb.StatusConnected, room, "next"), "r3"))
	m := resumed.nextAction()
	if m.ID != "r3" || m.Error == nil || m.Error.Code != rtb.CodeRateLimited {
		t.Fatalf("got %+v, want rate_limited with id r3", m)
	}
}
