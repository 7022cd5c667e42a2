package rtbroadcaster_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	rtb "github.com/rtbroadcaster/rtbroadcaster"
	"golang.org/x/sync/errgroup"
)

// TestJoinDuringFlood joins viewers while the owner floods state messages
// and checks each one's view: the join reply, a replay of the latest state
// per key, then live messages, together exactly the consecutive stream from
// its join point on, with nothing lost, repeated or reordered.
func TestJoinDuringFlood(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: skipped under -short; ./scripts/test.sh runs it")
	}
	const (
		total   = 20000
		keys    = 10
		viewers = 8
	)
	srv := startServer(t)
	owner := dial(t, srv.wsURL, nil)
	room := owner.createRoom()

	flooded := make(chan struct{})
	go func() {
		defer close(flooded)
		for i := range total {
			owner.send(stateRequest(room, "n", "k"+strconv.Itoa(i%keys), strconv.Itoa(i)))
			if i%2000 == 0 {
				time.Sleep(time.Millisecond) // let the joins land at different points
			}
		}
		owner.send(request(3, room, "end"))
	}()

	var g errgroup.Group
	for v := range viewers {
		time.Sleep(time.Duration(v) * 3 * time.Millisecond)
		c := dial(t, srv.wsURL, nil)
		c.send(request(2, room, ""))
		g.Go(func() error { return checkFloodView(c, keys) })
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	<-flooded
}

// checkFloodView reads one viewer's messages until "end" and checks them.
func checkFloodView(c *wsClient, keys int) error {
	reply, err := c.recv()
	if err != nil {
		return err
	}
	if reply.Error != nil || reply.StateCount > keys {
		return fmt.Errorf("join reply %+v", reply)
	}
	var seen []int
	for i := 0; ; i++ {
		m, err := c.recv()
		if err != nil {
			return err
		}
		if m.FuncKey == "end" {
			break
		}
		n, err := strconv.Atoi(m.FuncParams[0])
		if err != nil {
			return err
		}
		// The owner's message n is the room's message n+1. Replayed state is
		// numbered up to the join reply's seq; live messages follow it.
		if m.Seq != uint64(n+1) {
			return fmt.Errorf("message %d has seq %d", n, m.Seq)
		}
		if live := i - reply.StateCount; live >= 0 && m.Seq != reply.Seq+uint64(live)+1 {
			return fmt.Errorf("live message %d has seq %d; the join reply had seq %d", live, m.Seq, reply.Seq)
		}
		if i < reply.StateCount && m.Seq > reply.Seq {
			return fmt.Errorf("replayed message has seq %d, after the join reply's %d", m.Seq, reply.Seq)
		}
		if m.StateKey != "k"+strconv.Itoa(n%keys) {
			return fmt.Errorf("message %d has stateKey %q", n, m.StateKey)
		}
		seen = append(seen, n)
	}
	if len(seen) == 0 {
		return fmt.Errorf("saw nothing")
	}
	// The replay holds the latest message per key, in the order they were
	// set: for a join after message j, that is j-keys+1 .. j. Live follows with j+1.
	for i := 1; i < len(seen); i++ {
		if seen[i] != seen[i-1]+1 {
			return fmt.Errorf("after the join reply (stateCount %d) message %d is %d, after %d: want consecutive numbers", reply.StateCount, i, seen[i], seen[i-1])
		}
	}
	if first := seen[0]; reply.StateCount != min(keys, first+reply.StateCount) {
		return fmt.Errorf("replay started at %d with stateCount %d", first, reply.StateCount)
	}
	return nil
}

func TestThousandViewersOneRoom(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: skipped under -short; ./scripts/test.sh runs it")
	}
	const viewers, messages = 1000, 50
	srv := startServer(t)
	owner := dial(t, srv.wsURL, nil)
	room := owner.createRoom()
	clients := make([]*wsClient, viewers)
	for i := range clients {
		clients[i] = dial(t, srv.wsURL, nil)
		clients[i].joinRoom(room)
	}
	for i := range messages {
		owner.send(request(3, room, "m", strconv.Itoa(i)))
	}
	var g errgroup.Group
	for _, c := range clients {
		g.Go(func() error { return expectSequence(c, "m", messages) })
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
}

// expectSequence checks that c receives funcKey with params 0..n-1 in order.
func expectSequence(c *wsClient, funcKey string, n int) error { return expectRange(c, funcKey, 0, n) }

// expectRange checks that c receives funcKey with params from..to-1 in order.
func expectRange(c *wsClient, funcKey string, from, to int) error {
	for i := from; i < to; i++ {
		m, err := c.recv()
		if err != nil {
			return fmt.Errorf("message %d: %w", i, err)
		}
		if m.FuncKey != funcKey || m.FuncParams[0] != strconv.Itoa(i) {
			return fmt.Errorf("message %d: got %s%v, want %s[%d]", i, m.FuncKey, m.FuncParams, funcKey, i)
		}
	}
	return nil
}

func TestRoomsAreIsolated(t *testing.T) {
	const rooms, viewersEach, messages = 20, 5, 20
	srv := startServer(t)
	type roomClients struct {
		owner   *wsClient
		id      string
		viewers []*wsClient
	}
	all := make([]roomClients, rooms)
	for r := range all {
		all[r].owner = dial(t, srv.wsURL, nil)
		all[r].id = all[r].owner.createRoom()
		for range viewersEach {
			v := dial(t, srv.wsURL, nil)
			v.joinRoom(all[r].id)
			all[r].viewers = append(all[r].viewers, v)
		}
	}
	var wg sync.WaitGroup
	for r := range all {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range messages {
				all[r].owner.send(request(3, all[r].id, "room"+strconv.Itoa(r), strconv.Itoa(i)))
			}
		}()
	}
	wg.Wait()
	var g errgroup.Group
	for r := range all {
		for _, v := range all[r].viewers {
			g.Go(func() error {
				if err := expectSequence(v, "room"+strconv.Itoa(r), messages); err != nil {
					return fmt.Errorf("room %d: %w", r, err)
				}
				return nil
			})
		}
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	for r := range all {
		for _, v := range all[r].viewers {
			v.expectNothing(0)
		}
	}
}

// TestSlowViewerIsCutOff has one viewer that never reads. The owner and the
// other viewer go on at full speed; the stuck one is closed as a slow
// consumer once its queue passes the limit, and the room forgets it.
func TestSlowViewerIsCutOff(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: skipped under -short; ./scripts/test.sh runs it")
	}
	const messages, window = 3000, 32
	srv := startServer(t, rtb.WithLimits(rtb.Limits{SendQueueBytes: 1 << 20}))
	owner := dial(t, srv.wsURL, nil)
	room := owner.createRoom()
	stuck := dialNeverReads(t, srv.wsURL, room)
	good := dial(t, srv.wsURL, nil)
	good.joinRoom(room)

	// 3000 x 8 KiB = 24 MiB: more than the loopback buffers and the queue
	// hold. The good viewer reads each window before the next is sent, so it
	// is never more than 256 KiB behind.
	payload := strings.Repeat("p", 8<<10)
	for i := range messages {
		owner.send(request(3, room, "m", strconv.Itoa(i), payload))
		if i%window == window-1 {
			if err := expectRange(good, "m", i-window+1, i+1); err != nil {
				t.Fatal(err)
			}
		}
	}
	if got := srv.Stats().SlowConsumers; got != 1 {
		t.Fatalf("SlowConsumers = %d, want 1", got)
	}
	// The stuck viewer's connection ends once it reads what the kernel kept for it.
	_ = stuck.SetReadDeadline(time.Now().Add(waitFor))
	if _, err := io.Copy(io.Discard, stuck); err != nil {
		t.Fatalf("stuck viewer: %v, want the server to close the connection", err)
	}
	waitViewers(t, owner, 1)
}

// dialNeverReads opens a WebSocket by hand, joins room and then never reads.
// (A tiny receive buffer would back the server up sooner, but on loopback's
// 64 KiB segments it also makes the final drain crawl: leave it alone.)
func dialNeverReads(t *testing.T, wsURL, room string) net.Conn {
	t.Helper()
	addr := strings.TrimPrefix(strings.SplitN(wsURL, "/broadcast", 2)[0], "ws://")
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "GET /broadcast HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", addr)
	head := make([]byte, 4096)
	n, err := conn.Read(head)
	if err != nil || !strings.HasPrefix(string(head[:n]), "HTTP/1.1 101") {
		t.Fatalf("handshake: %q %v", head[:n], err)
	}
	writeMaskedText(t, conn, `{"uuid":"`+room+`","status":{"value":2}}`)
	return conn
}

// writeMaskedText writes one client text frame.
func writeMaskedText(t *testing.T, conn net.Conn, payload string) {
	t.Helper()
	if len(payload) > 125 {
		t.Fatal("writeMaskedText handles short frames only")
	}
	frame := []byte{0x81, 0x80 | byte(len(payload)), 0, 0, 0, 0} // zero mask key: payload as is
	if _, err := conn.Write(append(frame, payload...)); err != nil {
		t.Fatal(err)
	}
}

func TestShutdownDrains(t *testing.T) {
	srv := startServer(t)
	owner, room, viewer := ownerAndViewer(t, srv.wsURL)
	owner.send(request(3, room, "before-shutdown"))
	if m := viewer.next(); m.FuncKey != "before-shutdown" {
		t.Fatalf("got %+v", m)
	}

	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	viewer.expectClose(1001)
	owner.t = t
	select {
	case <-owner.closed:
	case <-time.After(waitFor):
		t.Fatal("owner still connected after shutdown")
	}
	if reason := expectRefused(t, srv.wsURL, nil, rtb.CloseUnavailable); !strings.HasPrefix(reason, "server is shutting down; reconnect in ") {
		t.Fatalf("dial after shutdown closed with reason %q", reason)
	}
	if s := srv.Stats(); s.Connections != 0 || s.Rooms != 0 {
		t.Fatalf("after shutdown: %+v", s)
	}
}

func TestShutdownCutsStuckConnections(t *testing.T) {
	srv := startServer(t)
	room := dial(t, srv.wsURL, nil).createRoom()
	dialNeverReads(t, srv.wsURL, room)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_ = srv.Shutdown(ctx) // may or may not cut: the stuck one has little queued
	if s := srv.Stats(); s.Connections != 0 {
		t.Fatalf("after shutdown: %+v", s)
	}
}

// TestDeadPeerIsDropped: a peer that answers no ping is dropped after the
// pong timeout; a live one, answering pings, stays.
func TestDeadPeerIsDropped(t *testing.T) {
	srv := startServer(t, rtb.WithLimits(rtb.Limits{PingInterval: 50 * time.Millisecond, PongTimeout: 100 * time.Millisecond}))
	owner := dial(t, srv.wsURL, nil)
	room := owner.createRoom()
	dialNeverReads(t, srv.wsURL, room) // never reads, so never pongs
	waitViewers(t, owner, 1)
	waitViewers(t, owner, 0)
	time.Sleep(300 * time.Millisecond) // several ping intervals: the owner must still be here
	owner.send(request(3, room, "alive"))
	owner.expectNothing(50 * time.Millisecond)
	if s := srv.Stats(); s.Connections != 1 || s.Rooms != 1 {
		t.Fatalf("stats %+v, want the owner and its room", s)
	}
}
