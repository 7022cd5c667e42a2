package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lxzan/gws"
	"github.com/rtbroadcaster/rtbroadcaster"
	"github.com/rtbroadcaster/rtbroadcaster/broker"
	"github.com/rtbroadcaster/rtbroadcaster/broker/memory"
	"github.com/rtbroadcaster/rtbroadcaster/broker/redis/redistest"
)

func TestBrokerFlag(t *testing.T) {
	t.Setenv("RTB_BROKER", "redis://127.0.0.1:6379/0")
	cfg, err := parseServeFlags(nil, io.Discard)
	if err != nil || cfg.brokerURL != "redis://127.0.0.1:6379/0" || cfg.redisPrefix != "rtb:" {
		t.Fatalf("cfg %+v, err %v", cfg, err)
	}
	if cfg, err = parseServeFlags([]string{"-broker", "memory"}, io.Discard); err != nil || cfg.brokerURL != "memory" {
		t.Fatalf("the flag does not win over RTB_BROKER: %+v, %v", cfg, err)
	}
	cfg.brokerURL = "nats://somewhere"
	if _, _, err := openBroker(t.Context(), cfg, nil); err == nil || !strings.Contains(err.Error(), "-broker") {
		t.Fatalf("openBroker of %q: %v, want an error naming -broker", cfg.brokerURL, err)
	}
	// A Sentinel URL is taken, and a malformed one is refused by its parser.
	cfg.brokerURL = "redis-sentinel://127.0.0.1:26379"
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if _, _, err := openBroker(t.Context(), cfg, log); err == nil || !strings.Contains(err.Error(), "no master name") {
		t.Fatalf("openBroker of %q: %v, want the parser's error", cfg.brokerURL, err)
	}
	// So is a cluster URL.
	cfg.brokerURL = "redis-cluster://127.0.0.1:7000/0"
	if _, _, err := openBroker(t.Context(), cfg, log); err == nil || !strings.Contains(err.Error(), "no database") {
		t.Fatalf("openBroker of %q: %v, want the parser's error", cfg.brokerURL, err)
	}
}

// notReady is an engine whose Checker fails.
type notReady struct{ broker.Broker }

func (notReady) Ready(context.Context) error { return errors.New("redis is down") }

func TestReadyz(t *testing.T) {
	for _, tt := range []struct {
		engine broker.Broker
		code   int
	}{{memory.New(), 200}, {notReady{memory.New()}, 503}} {
		rec := httptest.NewRecorder()
		readyz(rtbroadcaster.NewManager(rtbroadcaster.WithBroker(tt.engine)))(rec, httptest.NewRequest("GET", "/readyz", nil))
		if rec.Code != tt.code {
			t.Errorf("%T: /readyz answered %d %q, want %d", tt.engine, rec.Code, rec.Body, tt.code)
		}
	}
}

// TestBinaryNodesOnRedis runs three processes of the binary on one Redis,
// and on a Redis Cluster, with the owner on the first and viewers on each:
// every viewer gets the replay, every broadcast in order and the close.
func TestBinaryNodesOnRedis(t *testing.T) {
	t.Run("redis", func(t *testing.T) { testBinaryNodes(t, redistest.URL(t)) })
	t.Run("cluster", func(t *testing.T) { testBinaryNodes(t, redistest.StartCluster(t).URL()) })
}

func testBinaryNodes(t *testing.T, redisURL string) {
	prefix := redistest.Prefix(t, redisURL)
	bin := buildBinary(t)
	var bases []string
	for range 3 {
		bases = append(bases, startNode(t, bin, "-broker", redisURL, "-redis-key-prefix", prefix))
	}
	for _, base := range bases {
		if resp, err := http.Get(base + "readyz"); err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET %sreadyz: %v %v", base, resp, err)
		} else {
			resp.Body.Close()
		}
	}

	owner := dialNode(t, bases[0])
	owner.send(t, `{"status":{"value":1}}`)
	room := owner.next(t).UUID
	owner.send(t, `{"uuid":"`+room+`","status":{"value":3},"funcKey":"slide","funcParams":["1"],"stateMessage":true}`)
	time.Sleep(100 * time.Millisecond) // the owner gets no acknowledgement
	var viewers []*nodeClient
	for i := range 6 {
		v := dialNode(t, bases[i%3])
		v.send(t, `{"uuid":"`+room+`","status":{"value":2}}`)
		if m := v.next(t); m.Seq != 1 || m.StateCount != 1 {
			t.Fatalf("join reply on node %d: %+v", i%3, m)
		}
		if m := v.next(t); m.FuncKey != "slide" || m.Seq != 1 {
			t.Fatalf("replay on node %d: %+v", i%3, m)
		}
		viewers = append(viewers, v)
	}
	const n = 100
	for i := range n {
		owner.send(t, `{"uuid":"`+room+`","status":{"value":3},"funcKey":"n","funcParams":["`+strconv.Itoa(i)+`"]}`)
	}
	owner.send(t, `{"uuid":"`+room+`","status":{"value":4}}`)
	for i, v := range viewers {
		for j := range n {
			if m := v.next(t); m.FuncKey != "n" || m.Seq != uint64(j+2) {
				t.Fatalf("viewer %d, message %d: %+v", i, j, m)
			}
		}
		if m := v.next(t); m.Status.Value != 0 || m.Seq != n+2 {
			t.Fatalf("viewer %d: %+v, want the close notice", i, m)
		}
		v.expectClose(t, 1000)
	}
}

// startNode runs the binary on a free port and returns its base URL; the
// process gets SIGTERM when the test ends and must exit cleanly.
func startNode(t *testing.T, bin string, args ...string) string {
	t.Helper()
	base, _ := startKillableNode(t, bin, args...)
	return base
}

// startKillableNode is startNode, and returns a function that kills the
// process with SIGKILL, as a crash would.
func startKillableNode(t *testing.T, bin string, args ...string) (base string, kill9 func()) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"serve", "-addr", "127.0.0.1:0", "-shutdown-timeout", "5s"}, args...)...)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	killed := false
	kill9 = func() {
		killed = true
		_ = cmd.Process.Kill()
		<-exited
	}
	t.Cleanup(func() {
		if killed {
			return
		}
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("node exit: %v", err)
			}
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			t.Errorf("node still running 10 s after SIGTERM")
		}
	})
	return waitForURLs(t, stderr, listeningURL)[0], kill9
}

// nodeClient is a WebSocket client of a node: it queues the messages it
// receives and records how the connection ended.
type nodeClient struct {
	gws.BuiltinEventHandler
	conn   *gws.Conn
	frames chan []byte
	closed chan struct{}
	err    error
}

// nodeMessage is what a node sends, read with the server's own type.
type nodeMessage = rtbroadcaster.Message

func decodeNodeMessage(t *testing.T, frame []byte) *nodeMessage {
	t.Helper()
	var m nodeMessage
	if err := json.Unmarshal(frame, &m); err != nil {
		t.Fatalf("invalid JSON %q: %v", frame, err)
	}
	return &m
}

func dialNode(t *testing.T, base string) *nodeClient {
	t.Helper()
	c := &nodeClient{frames: make(chan []byte, 1024), closed: make(chan struct{})}
	conn, _, err := gws.NewClient(c, &gws.ClientOption{Addr: "ws" + strings.TrimPrefix(base, "http") + "broadcast"})
	if err != nil {
		t.Fatalf("dial %s: %v", base, err)
	}
	c.conn = conn
	go conn.ReadLoop()
	t.Cleanup(func() {
		_ = conn.NetConn().Close()
		<-c.closed
	})
	return c
}

func (c *nodeClient) OnMessage(_ *gws.Conn, m *gws.Message) {
	c.frames <- append([]byte(nil), m.Bytes()...)
	m.Close()
}

func (c *nodeClient) OnClose(_ *gws.Conn, err error) {
	c.err = err
	close(c.closed)
}

func (c *nodeClient) send(t *testing.T, text string) {
	t.Helper()
	if err := c.conn.WriteString(text); err != nil {
		t.Fatalf("send: %v", err)
	}
}

// next returns the next message that is not a viewer count.
func (c *nodeClient) next(t *testing.T) *nodeMessage {
	t.Helper()
	for {
		select {
		case f := <-c.frames:
			m := decodeNodeMessage(t, f)
			if m.Viewers == nil {
				return m
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no message within 10 s")
		}
	}
}

func (c *nodeClient) expectClose(t *testing.T, code uint16) {
	t.Helper()
	select {
	case <-c.closed:
	case <-time.After(10 * time.Second):
		t.Fatalf("still open, want close %d", code)
	}
	var ce *gws.CloseError
	if !errors.As(c.err, &ce) || ce.Code != code {
		t.Fatalf("ended with %v, want close %d", c.err, code)
	}
}

// TestBinaryNodesKilled9 runs three processes of the binary on one Redis and
// kills two of them with SIGKILL mid-session: first the node of a viewer,
// which rejoins on another node from the last seq it saw and recovers what it
// missed; then the owner's node, whose owner resumes the room on another
// node within the grace. Both viewers end with every message exactly once,
// in order.
func TestBinaryNodesKilled9(t *testing.T) {
	redisURL := redistest.URL(t)
	prefix := redistest.Prefix(t, redisURL)
	bin := buildBinary(t)
	var bases []string
	var kills []func()
	for range 3 {
		base, kill9 := startKillableNode(t, bin, "-broker", redisURL, "-redis-key-prefix", prefix, "-owner-grace", "20s")
		bases, kills = append(bases, base), append(kills, kill9)
	}
	owner := dialNode(t, bases[0])
	owner.send(t, `{"status":{"value":1}}`)
	created := owner.next(t)
	room, key := created.UUID, created.OwnerKey
	stays, moves := dialNode(t, bases[1]), dialNode(t, bases[2])
	for _, v := range []*nodeClient{stays, moves} {
		v.send(t, `{"uuid":"`+room+`","status":{"value":2}}`)
		if m := v.next(t); m.Seq != 0 {
			t.Fatalf("join reply %+v", m)
		}
	}
	broadcast := func(c *nodeClient, from, to int) {
		for i := from; i < to; i++ {
			c.send(t, `{"uuid":"`+room+`","status":{"value":3},"funcKey":"n","funcParams":["`+strconv.Itoa(i)+`"]}`)
		}
	}

	broadcast(owner, 0, 50)
	expectSeqRange(t, moves, 1, 10)
	kills[2]() // the moving viewer's node, while the owner broadcasts
	broadcast(owner, 50, 100)
	last := lastSeqBeforeEnd(t, moves, 10)
	moved := dialNode(t, bases[1])
	moved.send(t, `{"uuid":"`+room+`","status":{"value":2},"seq":`+strconv.FormatUint(last, 10)+`}`)
	if m := moved.next(t); m.Recovered == nil || !*m.Recovered || m.Seq != last {
		t.Fatalf("rejoin from seq %d: %+v", last, m)
	}
	expectSeqRange(t, stays, 1, 100)
	expectSeqRange(t, moved, last+1, 100)

	kills[0]() // the owner's node: everything the owner sent is in, as the viewers saw
	back := dialNode(t, bases[1])
	back.send(t, `{"uuid":"`+room+`","status":{"value":2},"ownerKey":"`+key+`"}`)
	if m := back.next(t); m.Error != nil || m.Owner != "back" {
		t.Fatalf("resume on another node: %+v (error %+v)", m, m.Error)
	}
	broadcast(back, 100, 150)
	back.send(t, `{"uuid":"`+room+`","status":{"value":4}}`)
	for _, v := range []*nodeClient{stays, moved} {
		if m := v.next(t); m.Owner != "back" || m.Seq != 101 {
			t.Fatalf("after the owner's node died: %+v, want owner back numbered 101", m)
		}
		expectSeqRange(t, v, 102, 151)
		if m := v.next(t); m.Status.Value != 0 || m.Seq != 152 {
			t.Fatalf("%+v, want the close notice numbered 152", m)
		}
		v.expectClose(t, 1000)
	}
}

// expectSeqRange checks that c's next messages are numbered from..to.
func expectSeqRange(t *testing.T, c *nodeClient, from, to uint64) {
	t.Helper()
	for want := from; want <= to; want++ {
		if m := c.next(t); m.Seq != want || m.FuncKey != "n" {
			t.Fatalf("%+v, want action n numbered %d", m, want)
		}
	}
}

// lastSeqBeforeEnd reads c's consecutive messages after seq until its
// connection ends, and returns the last seq it received.
func lastSeqBeforeEnd(t *testing.T, c *nodeClient, seq uint64) uint64 {
	t.Helper()
	select {
	case <-c.closed:
	case <-time.After(10 * time.Second):
		t.Fatal("connection still open after its node was killed")
	}
	for {
		select {
		case f := <-c.frames:
			m := decodeNodeMessage(t, f)
			if m.Viewers != nil {
				continue
			}
			if m.Seq != seq+1 {
				t.Fatalf("after seq %d: %+v", seq, m)
			}
			seq = m.Seq
		default:
			return seq
		}
	}
}
