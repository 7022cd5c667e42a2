package rtbroadcaster_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	rtb "github.com/rtbroadcaster/rtbroadcaster"
)

// pubSeqLimits keep state messages small, so that one step is refused
// with state_full.
var pubSeqLimits = rtb.WithLimits(rtb.Limits{MaxStateBytes: 200})

// numberedRequest is a broadcast the owner numbered n (0: unnumbered).
func numberedRequest(room, funcKey string, n uint64) *rtb.Message {
	m := request(rtb.StatusConnected, room, funcKey)
	m.PubSeq = n
	return m
}

// nextOwnerMessage returns the owner's next message but presence.
func nextOwnerMessage(c *wsClient) *rtb.Message { c.t.Helper(); return c.nextAction() }

// expectAcked waits for the owner's acknowledgement of n, which comes
// within the coalescing interval (100 ms), and checks that nothing else
// came first.
func expectAcked(t *testing.T, owner *wsClient, n uint64) {
	t.Helper()
	start := time.Now()
	m := nextOwnerMessage(owner)
	if m.Acked == nil || *m.Acked != n || m.Error != nil || m.FuncKey != "" || m.Status.Value != rtb.StatusConnected {
		t.Fatalf("owner got %s, want an acknowledgement of %d", m.Encode(), n)
	}
	if waited := time.Since(start); waited > time.Second {
		t.Fatalf("acknowledgement of %d came after %v", n, waited)
	}
}

// testPubSeq runs the owner's numbered broadcasts of PROTOCOL.md (Exactly
// once from the owner) through owner (on ownerURL), a viewer (on
// viewerURL), and a resume on resumeURL.
func testPubSeq(t *testing.T, ownerURL, viewerURL, resumeURL string) {
	owner := dial(t, ownerURL, nil)
	owner.send(request(rtb.StatusNew, "", ""))
	created := owner.next()
	if created.Acked == nil || *created.Acked != 0 || created.OwnerKey == "" {
		t.Fatalf("create reply %s: want \"acked\":0 and an ownerKey", created.Encode())
	}
	room := created.UUID
	viewer := dial(t, viewerURL, nil)
	viewer.joinRoom(room)

	big := numberedRequest(room, "big", 6)
	big.StateMessage, big.FuncParams = true, []string{strings.Repeat("x", 300)}
	steps := []struct {
		name      string
		send      any
		delivered string // funcKey the viewer gets, "" for none
		acked     uint64 // an acknowledgement, or the refusal's acked
		refused   rtb.ErrorCode
		silent    bool // no reply, no acknowledgement
	}{
		{name: "1 accepted", send: numberedRequest(room, "one", 1), delivered: "one", acked: 1},
		{name: "1 again: a repeat, dropped silently", send: numberedRequest(room, "one", 1), silent: true},
		{name: "3 after 1: a gap", send: numberedRequest(room, "three", 3), refused: rtb.CodePubSeqGap, acked: 1},
		{name: "unnumbered: as before", send: numberedRequest(room, "plain", 0), delivered: "plain", silent: true},
		{name: "2 accepted", send: numberedRequest(room, "two", 2), delivered: "two", acked: 2},
		{name: "3 malformed: refused, and uses its number up", send: numberedRequest(room, "", 3), refused: rtb.CodeBadRequest, acked: 3},
		{name: "pubSeq 0 refused", send: `{"uuid":"` + room + `","status":{"value":3},"funcKey":"zero","pubSeq":0}`, refused: rtb.CodeBadRequest},
		{name: "pubSeq not a number", send: `{"uuid":"` + room + `","status":{"value":3},"funcKey":"neg","pubSeq":-1}`, refused: rtb.CodeBadRequest},
		{name: "4 accepted", send: numberedRequest(room, "four", 4), delivered: "four", acked: 4},
		{name: "3 again after 4: a repeat", send: numberedRequest(room, "three", 3), silent: true},
		{name: "5 accepted", send: numberedRequest(room, "five", 5), delivered: "five", acked: 5},
		{name: "6 past the state bounds: refused, and uses its number up", send: big, refused: rtb.CodeStateFull, acked: 6},
		{name: "8 after 6: a gap", send: numberedRequest(room, "eight", 8), refused: rtb.CodePubSeqGap, acked: 6},
		{name: "7 accepted", send: numberedRequest(room, "seven", 7), delivered: "seven", acked: 7},
	}
	for _, st := range steps {
		owner.send(st.send)
		switch {
		case st.refused != "":
			m := owner.nextError(st.refused)
			got := uint64(0)
			if m.Acked != nil {
				got = *m.Acked
			}
			if (st.acked == 0) != (m.Acked == nil) || got != st.acked {
				t.Fatalf("%s: refusal %s, want acked %d", st.name, m.Encode(), st.acked)
			}
			if st.refused == rtb.CodePubSeqGap && !strings.Contains(m.Error.Message, "expects "+itoa(st.acked+1)) {
				t.Fatalf("%s: refusal %q does not name the number expected, %d", st.name, m.Error.Message, st.acked+1)
			}
		case !st.silent:
			expectAcked(t, owner, st.acked)
		}
		if st.delivered != "" {
			if m := viewer.nextAction(); m.FuncKey != st.delivered {
				t.Fatalf("%s: viewer got %s, want %q", st.name, m.Encode(), st.delivered)
			}
		}
	}
	owner.expectNothing(300 * time.Millisecond) // a repeat gets no acknowledgement of its own
	viewer.settleViewer(t)

	// The owner's connection ends: it resumes, here on resumeURL, and the
	// reply says what the room accepted.
	_ = owner.conn.NetConn().Close()
	resumed := dial(t, resumeURL, nil)
	var reply *rtb.Message
	for deadline := time.Now().Add(waitFor); ; {
		req := request(rtb.StatusJoin, room, "")
		req.OwnerKey = created.OwnerKey
		resumed.send(req)
		if reply = resumed.nextAction(); reply.Error == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond) // the engine may not have seen the old connection end yet
	}
	if reply.Error != nil || reply.Owner != "back" || reply.Acked == nil || *reply.Acked != 7 {
		t.Fatalf("resume reply %s: want the owner back with \"acked\":7", reply.Encode())
	}
	resumed.send(numberedRequest(room, "seven", 7)) // resent: the old connection may have lost it
	resumed.send(numberedRequest(room, "nine", 9))
	if m := resumed.nextError(rtb.CodePubSeqGap); *m.Acked != 7 {
		t.Fatalf("gap after the resume: %s, want acked 7", m.Encode())
	}
	resumed.send(numberedRequest(room, "eight", 8))
	expectAcked(t, resumed, 8)
	for _, want := range []string{"eight"} {
		m := viewer.nextAction()
		for m.Owner != "" { // the owner's away and back news
			m = viewer.nextAction()
		}
		if m.FuncKey != want {
			t.Fatalf("viewer after the resume got %s, want %q", m.Encode(), want)
		}
	}
	viewer.expectNothing(200 * time.Millisecond)
}

// settleViewer checks that the viewer got nothing more than the test
// expected so far.
func (c *wsClient) settleViewer(t *testing.T) {
	t.Helper()
	c.expectNothing(200 * time.Millisecond)
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }

// TestPubSeq: repeats, gaps and acked on the in-memory engine, one node.
func TestPubSeq(t *testing.T) {
	srv := startServer(t, pubSeqLimits, rtb.WithOwnerGrace(5*time.Second))
	testPubSeq(t, srv.wsURL, srv.wsURL, srv.wsURL)
	if got := scrape(t, srv.MetricsHandler())["rtbroadcaster_pubseq_repeats_total"]; got != 3 {
		t.Fatalf("pubseq_repeats_total %v, want 3", got)
	}
}

// TestPubSeqRedis: the same on Redis and on a Redis Cluster, across two
// nodes: the viewer and the resume on the node the owner was not on, so
// that the count is the room's, in Redis.
func TestPubSeqRedis(t *testing.T) {
	forEachRedis(t, func(t *testing.T, redisURL string) {
		nodes := startRedisNodes(t, redisURL, 2, 2*time.Second, pubSeqLimits, rtb.WithOwnerGrace(5*time.Second))
		testPubSeq(t, nodes[0].wsURL, nodes[1].wsURL, nodes[1].wsURL)
		for i, want := range []float64{2, 1} {
			if got := scrape(t, nodes[i].MetricsHandler())["rtbroadcaster_pubseq_repeats_total"]; got != want {
				t.Fatalf("node %d: pubseq_repeats_total %v, want %v", i, got, want)
			}
		}
	})
}
