package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"
)

// frameConn is a viewer's connection: a WebSocket, or an event stream
// (-transport sse). readFrame returns each message's JSON, valid until the
// next call.
type frameConn interface {
	readFrame() ([]byte, error)
	close() error
}

// sseConn is a minimal event-stream client (PROTOCOL.md, SSE viewers): it
// reads each event's data line in place, as wsConn reads a frame.
type sseConn struct {
	net   net.Conn
	body  *bufio.Reader // the response's body, de-chunked
	large []byte        // a data line longer than body's buffer is gathered here
}

// eventsURL is the event stream of room id on the server of wsURL.
func eventsURL(wsURL *url.URL, id string) *url.URL {
	u := *wsURL
	u.Scheme, u.Path, u.RawQuery = "http", "/rooms/"+id+"/events", ""
	return &u
}

// dialSSE opens a TCP connection with dialer and requests the event stream
// at u.
func dialSSE(ctx context.Context, dialer *net.Dialer, u *url.URL, readBuffer int) (*sseConn, error) {
	nc, err := dialer.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return nil, err
	}
	if deadline, ok := ctx.Deadline(); ok {
		_ = nc.SetDeadline(deadline)
		defer nc.SetDeadline(time.Time{})
	}
	req := "GET " + u.RequestURI() + " HTTP/1.1\r\nHost: " + u.Host + "\r\nAccept: text/event-stream\r\n\r\n"
	if _, err := io.WriteString(nc, req); err != nil {
		_ = nc.Close()
		return nil, fmt.Errorf("event stream: %w", err)
	}
	resp, err := http.ReadResponse(bufio.NewReaderSize(nc, readBuffer), nil)
	if err != nil {
		_ = nc.Close()
		return nil, fmt.Errorf("event stream: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		_ = nc.Close()
		return nil, fmt.Errorf("event stream: HTTP %d %s", resp.StatusCode, bytes.TrimSpace(body))
	}
	return &sseConn{net: nc, body: bufio.NewReaderSize(resp.Body, readBuffer)}, nil
}

var (
	dataField  = []byte("data: ")
	closeEvent = []byte("event: close")
)

// readFrame returns the data of the next message event; a close event is
// errClosed with its code. Comments (heartbeats), ids and blank lines are
// skipped: the server writes each message's JSON on one data line.
func (c *sseConn) readFrame() ([]byte, error) {
	closing := false
	for {
		line, err := c.line()
		if err != nil {
			return nil, err
		}
		switch {
		case bytes.Equal(line, closeEvent):
			closing = true
		case bytes.HasPrefix(line, dataField) && closing:
			var end struct{ Code uint16 }
			_ = json.Unmarshal(line[len(dataField):], &end)
			return nil, errClosed{end.Code}
		case bytes.HasPrefix(line, dataField):
			return line[len(dataField):], nil
		}
	}
}

// line reads one line without its newline, in place when it fits the
// buffer.
func (c *sseConn) line() ([]byte, error) {
	line, err := c.body.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		c.large = append(c.large[:0], line...)
		for errors.Is(err, bufio.ErrBufferFull) {
			line, err = c.body.ReadSlice('\n')
			c.large = append(c.large, line...)
		}
		line = c.large
	}
	if err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(line, []byte("\n")), nil
}

func (c *sseConn) close() error { return c.net.Close() }
