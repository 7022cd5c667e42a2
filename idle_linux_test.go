package rtbroadcaster_test

import (
	"bytes"
	"net"
	"runtime"
	"testing"
	"time"
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
	for i, v := range viewers {
		var got []byte
		buf := make([]byte, 4096)
		_ = v.SetReadDeadline(time.Now().Add(waitFor))
		for !bytes.Contains(got, []byte(`"funcKey":"wake"`)) {
			n, err := v.Read(buf)
			if err != nil {
				t.Fatalf("viewer %d: %v, after %q", i, err, got)
			}
			got = append(got, buf[:n]...)
		}
	}
}
