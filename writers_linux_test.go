package rtbroadcaster

import (
	"bytes"
	"io"
	"net"
	"testing"
)

// TestWriteNowReturnsWhatTheSocketDidNotTake: a socket that fills up takes
// part of a batch without waiting; what it did not take, written after it,
// makes the whole stream, in order.
func TestWriteNowReturnsWhatTheSocketDidNotTake(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	_ = server.(*net.TCPConn).SetWriteBuffer(4096)
	_ = client.(*net.TCPConn).SetReadBuffer(4096)
	rc, err := server.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var batch [][]byte
	var want []byte
	for i := range 3000 {
		frame := bytes.Repeat([]byte{byte(i)}, 100+i%700) // small ones coalesce, some pass the buffer's end
		batch = append(batch, frame)
		want = append(want, frame...)
	}
	batch = append(batch, bytes.Repeat([]byte{7}, writeBufferSize+1)) // bigger than the buffer: written alone
	want = append(want, batch[len(batch)-1]...)

	o := &outbox{raw: rc}
	bufp := writeBuffers.Get().(*[]byte)
	defer writeBuffers.Put(bufp)
	rest, err := o.writeNow(bufp, batch)
	if err != nil {
		t.Fatal(err)
	}
	if rest == nil {
		t.Fatalf("a socket with a 4 KiB buffer took all %d bytes without waiting", len(want))
	}
	done := make(chan error, 1)
	go func() {
		// What is left goes out as a drain goroutine sends it, waiting.
		for _, f := range rest {
			if _, err := server.Write(f); err != nil {
				done <- err
				return
			}
		}
		done <- server.Close()
	}()
	got, err := io.ReadAll(client)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("received %d bytes, want %d, or not the same", len(got), len(want))
	}
}
