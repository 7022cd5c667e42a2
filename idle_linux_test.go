package rtbroadcaster_test

import (
	"bytes"
	"net"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	rtb "github.com/rtbroadcaster/rtbroadcaster"
)

// TestIdleViewersParkNoGoroutine: on Linux a joined viewer with nothing to
// read costs the server no goroutine (poller_linux.go): 200 idle viewers
// leave the process's goroutines where they were, and each one still gets
// the owner's next message at once.
func TestIdleViewersParkNoGoroutine(t *testing.T) {
	srv := startServer(t)
	owner := dial(t, srv.wsURL, nil)
	room := owner.createRoom()
	before := runtime.NumGoroutine()
	viewers := make([]net.Conn, 200)
	for i := range viewers {
		viewers[i] = dialNeverReads(t, srv.wsURL, room) // no goroutine on the client's side either
	}
	waitViewers(t, owner, len(viewers))
	waitUntil(t, "the joins' goroutines end", func() bool { return runtime.NumGoroutine() < before+20 })

	owner.send(request(3, room, "wake"))
	for _, v := range viewers {
		readUntil(t, v, `"funcKey":"wake"`)
	}
}

// TestViewerOutlivesItsWriteDeadlines: a viewer whose socket once filled up
// (its queue then went out on a writer that waits, with a write deadline)
// still gets messages written without waiting long after that deadline, and
// after the handshake's: no deadline outlives the write it was set for.
func TestViewerOutlivesItsWriteDeadlines(t *testing.T) {
	srv := startServer(t, rtb.WithLimits(rtb.Limits{WriteTimeout: time.Second, SendQueueBytes: 64 << 20}))
	owner := dial(t, srv.wsURL, nil)
	room := owner.createRoom()
	viewer := dialNeverReads(t, srv.wsURL, room)
	waitViewers(t, owner, 1)
	big := strings.Repeat("x", 30<<10)
	const burst = 400 // 12 MB: more than loopback's socket buffers take
	go func() {
		for i := range burst {
			owner.send(request(3, room, "big", strconv.Itoa(i), big))
		}
	}()
	time.Sleep(200 * time.Millisecond) // the server's writes now wait for the viewer
	readUntil(t, viewer, `"funcParams":["`+strconv.Itoa(burst-1)+`"`)
	time.Sleep(1500 * time.Millisecond) // past the last write deadline
	owner.send(request(3, room, "after"))
	readUntil(t, viewer, `"funcKey":"after"`)
}

// readUntil reads conn until what it read contains want.
func readUntil(t *testing.T, conn net.Conn, want string) {
	t.Helper()
	var got []byte
	buf := make([]byte, 64<<10)
	_ = conn.SetReadDeadline(time.Now().Add(waitFor))
	for !bytes.Contains(got, []byte(want)) {
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("%v before %q was read", err, want)
		}
		got = append(got[max(0, len(got)-len(want)):], buf[:n]...) // keep only what a match could span
	}
}
