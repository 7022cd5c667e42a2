package netproxy

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// source serves payload to every connection, then closes it.
func source(t *testing.T, payload []byte) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { // serves connections until the listener closes
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = c.Write(payload)
			_ = c.Close()
		}
	}()
	t.Cleanup(func() { _ = ln.Close(); <-done })
	return ln.Addr().String()
}

func startProxy(t *testing.T, target string) *Proxy {
	t.Helper()
	p, err := Start(target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

func readAll(t *testing.T, addr string) []byte {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, _ := io.ReadAll(c)
	return got
}

func TestProxy(t *testing.T) {
	payload := bytes.Repeat([]byte("0123456789"), 20_000) // 200 kB
	tests := []struct {
		name    string
		arm     func(*Proxy)
		want    int
		minTime time.Duration
	}{
		{"forwards everything", func(*Proxy) {}, len(payload), 0},
		{"cuts after n bytes", func(p *Proxy) { p.CutAfter(12_345) }, 12_345, 0},
		{"throttles", func(p *Proxy) { p.Throttle(400_000) }, len(payload), 400 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := startProxy(t, source(t, payload))
			tt.arm(p)
			start := time.Now()
			got := readAll(t, p.Addr())
			if len(got) != tt.want || !bytes.Equal(got, payload[:len(got)]) {
				t.Fatalf("read %d bytes, want the first %d of the payload", len(got), tt.want)
			}
			if took := time.Since(start); took < tt.minTime {
				t.Fatalf("took %v, want at least %v", took, tt.minTime)
			}
		})
	}
}

func TestPauseHoldsDataUntilResume(t *testing.T) {
	p := startProxy(t, source(t, []byte("hello")))
	p.Pause()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if n, _ := c.Read(make([]byte, 5)); n != 0 {
		t.Fatalf("read %d bytes while paused", n)
	}
	p.Resume()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if got, _ := io.ReadAll(c); string(got) != "hello" {
		t.Fatalf("after resume read %q", got)
	}
}

// echo greets every connection with greeting, then echoes what it reads.
func echo(t *testing.T, greeting string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { // serves connections until the listener closes
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = io.WriteString(c, greeting)
			_, _ = io.Copy(c, c)
			_ = c.Close()
		}
	}()
	t.Cleanup(func() { _ = ln.Close(); <-done })
	return ln.Addr().String()
}

func TestPauseUpstreamHoldsOnlyWhatClientsSend(t *testing.T) {
	p := startProxy(t, echo(t, "hello"))
	p.PauseUpstream()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 5)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "hello" {
		t.Fatalf("while paused upstream, read %q (%v), want the server's hello", buf, err)
	}
	if _, err := io.WriteString(c, "world"); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if n, _ := c.Read(buf); n != 0 {
		t.Fatalf("the echo of %q came back while paused upstream", buf[:n])
	}
	p.Resume()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "world" {
		t.Fatalf("after resume read %q (%v), want the echo", buf, err)
	}
}
