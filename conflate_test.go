package rtbroadcaster

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rtbroadcaster/rtbroadcaster/broker"
)

// conflateOp is one push of an outbox test: a conflated message of key,
// or a plain one when key is "".
type conflateOp struct {
	key string
	seq uint64
}

func conflated(key string, seq uint64) conflateOp { return conflateOp{key, seq} }
func plain(seq uint64) conflateOp                 { return conflateOp{"", seq} }

// body is the payload a message of op is written as.
func (op conflateOp) payload() string {
	if op.key == "" {
		return fmt.Sprintf(`{"p":1,"seq":%d}`, op.seq)
	}
	return fmt.Sprintf(`{"k":%q,"seq":%d}`, op.key, op.seq)
}

func (op conflateOp) frame() []byte {
	if op.key == "" {
		return appendSeq([]byte(`{"p":1}`), op.seq)
	}
	return appendSeq(fmt.Appendf(nil, `{"k":%q}`, op.key), op.seq)
}

const testRoom = "a-room"

// skipped is the payload of the marker of from..to in testRoom.
func skipped(from, to uint64) string {
	return parseFrames(skipMarker(skipMarkerPrefix(testRoom), skipRange{from, to}))[0]
}

// TestOutboxConflation: while the writer is held, conflated frames replace
// their key's unsent one, whose place becomes a skip marker; markers that
// meet are one; plain frames are never dropped or moved; what the writer
// took is never replaced; the queue's byte count stays exact.
func TestOutboxConflation(t *testing.T) {
	tests := []struct {
		name string
		ops  []conflateOp
		want []string // payloads or markers, after the held first frame
	}{
		{"one key: only the latest is sent, after one marker",
			[]conflateOp{conflated("a", 1), conflated("a", 2), conflated("a", 3), conflated("a", 4)},
			[]string{skipped(1, 3), conflated("a", 4).payload()}},
		{"the newer keeps its own place; plain frames stay",
			[]conflateOp{conflated("a", 1), plain(2), conflated("a", 3)},
			[]string{skipped(1, 1), plain(2).payload(), conflated("a", 3).payload()}},
		{"markers do not merge across a plain frame",
			[]conflateOp{conflated("a", 1), plain(2), conflated("a", 3), plain(4), conflated("a", 5)},
			[]string{skipped(1, 1), plain(2).payload(), skipped(3, 3), plain(4).payload(), conflated("a", 5).payload()}},
		{"keys are apart; adjacent markers merge",
			[]conflateOp{conflated("a", 1), conflated("b", 2), conflated("a", 3), conflated("b", 4)},
			[]string{skipped(1, 2), conflated("a", 3).payload(), conflated("b", 4).payload()}},
		{"a marker merges with the one after it",
			[]conflateOp{conflated("a", 1), conflated("b", 2), conflated("b", 3), conflated("a", 4)},
			[]string{skipped(1, 2), conflated("b", 3).payload(), conflated("a", 4).payload()}},
		{"a key that is not replaced is sent as it is",
			[]conflateOp{conflated("a", 1), plain(2), conflated("b", 3), plain(4)},
			[]string{conflated("a", 1).payload(), plain(2).payload(), conflated("b", 3).payload(), plain(4).payload()}},
		{"plain frames only",
			[]conflateOp{plain(1), plain(2)},
			[]string{plain(1).payload(), plain(2).payload()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn := newGatedConn()
			o := outbox{sock: conn, limit: 1 << 20, writeTimeout: time.Second}
			o.push(serverFrame(opText, []byte("first"))) // the writer takes it and waits at the gate
			conn.waitWriting()
			for _, op := range tt.ops {
				if !pushOp(&o, op) {
					t.Fatalf("push %+v refused", op)
				}
				checkQueued(t, &o)
			}
			conn.open()
			want := append([]string{"first"}, tt.want...)
			if got := conn.waitFrames(len(want)); !slices.Equal(got, want) {
				t.Fatalf("written:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}

func pushOp(o *outbox, op conflateOp) bool {
	if op.key == "" {
		return o.push(op.frame())
	}
	return o.pushConflated(op.frame(), op.key, skipMarkerPrefix(testRoom))
}

// checkQueued fails unless the outbox counts exactly the bytes it holds,
// and every index its tables hold is a frame of theirs.
func checkQueued(t *testing.T, o *outbox) {
	t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	if n := frameBytes(o.control) + frameBytes(o.queue); o.queued != n {
		t.Fatalf("the outbox counts %d bytes, and holds %d", o.queued, n)
	}
	holes := 0
	for _, f := range o.queue {
		if f == nil {
			holes++
		}
	}
	if holes != o.holes {
		t.Fatalf("the outbox counts %d holes, and holds %d", o.holes, holes)
	}
	for key, i := range o.conflated {
		if !strings.Contains(string(o.queue[i]), fmt.Sprintf(`{"k":%q`, key)) {
			t.Fatalf("key %q points at %q", key, o.queue[i])
		}
	}
	for i, r := range o.marks {
		if want := string(skipMarker(o.skipPrefix, r)); string(o.queue[i]) != want {
			t.Fatalf("marker %d..%d at %d is %q", r.From, r.To, i, o.queue[i])
		}
	}
}

// TestOutboxConflationTakenNotReplaced: a conflated frame the writer took
// is written, even when a newer one of its key follows at once.
func TestOutboxConflationTakenNotReplaced(t *testing.T) {
	conn := newGatedConn()
	o := outbox{sock: conn, limit: 1 << 20, writeTimeout: time.Second}
	pushOp(&o, conflated("a", 1))
	conn.waitWriting()
	pushOp(&o, conflated("a", 2))
	conn.open()
	want := []string{conflated("a", 1).payload(), conflated("a", 2).payload()}
	if got := conn.waitFrames(2); !slices.Equal(got, want) {
		t.Fatalf("written %q, want %q", got, want)
	}
}

// TestOutboxConflationLimits: a viewer that is behind on conflated traffic
// only is never cut, however much of it comes, and its queue stays small
// (holes included); plain frames still count, and still cut.
func TestOutboxConflationLimits(t *testing.T) {
	t.Run("conflated traffic does not cut", func(t *testing.T) {
		conn := newGatedConn()
		slow := false
		o := outbox{sock: conn, limit: 1 << 10, writeTimeout: time.Second, onSlow: func() { slow = true }}
		o.push(serverFrame(opText, []byte("first")))
		conn.waitWriting()
		const n = 10_000
		keyOf := func(seq uint64) string { return []string{"a", "b", "c"}[seq%3] }
		for seq := uint64(1); seq <= n; seq++ {
			if !pushOp(&o, conflated(keyOf(seq), seq)) {
				t.Fatalf("conflated push %d refused: the viewer was cut", seq)
			}
		}
		checkQueued(t, &o)
		o.mu.Lock()
		size, queued := len(o.queue), o.queued
		o.mu.Unlock()
		if size > 2*holeCompactMin+4 || queued > o.limit {
			t.Fatalf("after %d conflated pushes of 3 keys the queue holds %d slots and %d bytes", n, size, queued)
		}
		conn.open()
		want := []string{"first", skipped(1, n-3), conflated(keyOf(n-2), n-2).payload(), conflated(keyOf(n-1), n-1).payload(), conflated(keyOf(n), n).payload()}
		if got := conn.waitFrames(len(want)); !slices.Equal(got, want) {
			t.Fatalf("written:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		if slow {
			t.Fatal("onSlow was called")
		}
	})
	t.Run("plain frames still cut", func(t *testing.T) {
		conn := newGatedConn()
		slow := make(chan struct{})
		o := outbox{sock: conn, limit: 1 << 10, writeTimeout: time.Second, onSlow: func() { close(slow) }}
		o.push(serverFrame(opText, []byte("first")))
		conn.waitWriting()
		seq := uint64(1)
		for ; seq < 1000; seq++ {
			op := conflated("a", seq)
			if seq%2 == 0 {
				op = plain(seq)
			}
			if !pushOp(&o, op) {
				break
			}
		}
		if seq == 1000 {
			t.Fatal("999 pushes, half of them plain, fit in a limit of 1 KiB")
		}
		select {
		case <-slow:
		case <-time.After(5 * time.Second):
			t.Fatal("plain frames passed the limit, and onSlow was not called")
		}
		if pushOp(&o, conflated("a", seq+1)) {
			t.Fatal("a conflated push was queued after the cut")
		}
		conn.open()
	})
}

// TestOutboxConflationAndReplay: conflated frames queued behind a state
// replay still conflate, and go after it; a replay starts a new stream, so
// a conflated frame queued before it is never replaced by one after it
// (a connection that left a room and joined another).
func TestOutboxConflationAndReplay(t *testing.T) {
	entries := []broker.Entry{{Seq: 1, Body: []byte(`{"s":1}`)}, {Seq: 2, Body: []byte(`{"s":2}`)}}
	t.Run("behind a replay", func(t *testing.T) {
		conn := newGatedConn()
		o := outbox{sock: conn, limit: 1 << 20, writeTimeout: time.Second}
		o.push(serverFrame(opText, []byte("first")))
		conn.waitWriting()
		o.pushReplay(serverFrame(opText, []byte("reply")), entries)
		for seq := uint64(3); seq <= 6; seq++ {
			pushOp(&o, conflated("a", seq))
			checkQueued(t, &o)
		}
		conn.open()
		want := []string{"first", "reply", `{"s":1,"seq":1}`, `{"s":2,"seq":2}`, skipped(3, 5), conflated("a", 6).payload()}
		if got := conn.waitFrames(len(want)); !slices.Equal(got, want) {
			t.Fatalf("written:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	})
	t.Run("a new stream", func(t *testing.T) {
		conn := newGatedConn()
		o := outbox{sock: conn, limit: 1 << 20, writeTimeout: time.Second}
		o.push(serverFrame(opText, []byte("first")))
		conn.waitWriting()
		pushOp(&o, conflated("a", 7)) // the room it left
		o.pushReplay(serverFrame(opText, []byte("reply")), nil)
		pushOp(&o, conflated("a", 1)) // the room it joined
		pushOp(&o, conflated("a", 2))
		checkQueued(t, &o)
		conn.open()
		want := []string{"first", conflated("a", 7).payload(), "reply", skipped(1, 1), conflated("a", 2).payload()}
		if got := conn.waitFrames(len(want)); !slices.Equal(got, want) {
			t.Fatalf("written:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	})
}
