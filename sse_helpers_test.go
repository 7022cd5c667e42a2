package rtbroadcaster_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rtbroadcaster/rtbroadcaster"
)

// sseEvent is one event of a stream, as an EventSource dispatches it.
type sseEvent struct {
	id    *string // the id: field, when the event has one
	event string  // "" for a message
	data  string
	retry string
}

// sseClient reads an event stream, as a test's EventSource.
type sseClient struct {
	t        testing.TB
	resp     *http.Response
	cancel   context.CancelFunc
	events   chan sseEvent
	ended    chan struct{} // the stream ended: its body's EOF or an error
	comments atomic.Int64  // heartbeats seen
}

// getEvents requests url with header and returns the response; a 200 is
// read as an event stream by the returned client, anything else is left to
// the caller (the client is nil then).
func getEvents(t testing.TB, client *http.Client, url string, header http.Header) (*http.Response, *sseClient) {
	t.Helper()
	if client == nil {
		client = http.DefaultClient
	}
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := client.Do(req)
	if err != nil {
		cancel()
		t.Fatalf("GET %s: %v", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		cancel()
		resp.Body = io.NopCloser(strings.NewReader(string(body)))
		return resp, nil
	}
	c := &sseClient{t: t, resp: resp, cancel: cancel, events: make(chan sseEvent, 1<<14), ended: make(chan struct{})}
	go c.read()
	t.Cleanup(c.close)
	return resp, c
}

// openEvents opens room's stream and fails the test unless it is one.
func openEvents(t testing.TB, url string, header http.Header) *sseClient {
	t.Helper()
	resp, c := getEvents(t, nil, url, header)
	if c == nil {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("Content-Type %q", ct)
	}
	return c
}

// close drops the connection, as a browser tab that goes away.
func (c *sseClient) close() {
	c.cancel()
	_ = c.resp.Body.Close()
	<-c.ended
}

// read parses the stream (the HTML standard's event stream format).
func (c *sseClient) read() {
	defer close(c.ended)
	sc := bufio.NewScanner(c.resp.Body)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	var ev sseEvent
	var data []string
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			if data != nil || ev.event != "" {
				ev.data = strings.Join(data, "\n")
				c.events <- ev
			}
			ev, data = sseEvent{}, nil
			continue
		}
		if strings.HasPrefix(line, ":") {
			c.comments.Add(1)
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "id":
			ev.id = &value
		case "event":
			ev.event = value
		case "data":
			data = append(data, value)
		case "retry":
			ev.retry = value
		}
	}
}

// recvEvent returns the next event, or an error when the stream ended or
// nothing came in time; any goroutine may call it.
func (c *sseClient) recvEvent() (sseEvent, error) {
	select {
	case ev := <-c.events:
		return ev, nil
	case <-c.ended:
		select {
		case ev := <-c.events:
			return ev, nil
		default:
		}
		return sseEvent{}, io.EOF
	case <-time.After(waitFor):
		return sseEvent{}, fmt.Errorf("no event within %v", waitFor)
	}
}

// nextEvent returns the next event.
func (c *sseClient) nextEvent() sseEvent {
	c.t.Helper()
	ev, err := c.recvEvent()
	if err != nil {
		c.t.Fatal(err)
	}
	return ev
}

// next returns the next event's message; the event must be a message.
func (c *sseClient) next() (*rtbroadcaster.Message, sseEvent) {
	c.t.Helper()
	ev := c.nextEvent()
	if ev.event != "" {
		c.t.Fatalf("got a %q event %s, want a message", ev.event, ev.data)
	}
	var m rtbroadcaster.Message
	if err := json.Unmarshal([]byte(ev.data), &m); err != nil {
		c.t.Fatalf("event data %q: %v", ev.data, err)
	}
	return &m, ev
}

// expectClose checks that the stream ends with a close event of code, and
// returns it.
func (c *sseClient) expectClose(code uint16) sseEvent {
	c.t.Helper()
	ev := c.nextEvent()
	var closing struct {
		Code   uint16 `json:"code"`
		Reason string `json:"reason"`
	}
	if ev.event != "close" || json.Unmarshal([]byte(ev.data), &closing) != nil || closing.Code != code {
		c.t.Fatalf("got event %q %s, want a close event with code %d", ev.event, ev.data, code)
	}
	c.expectEnd()
	return ev
}

// expectEnd checks that the stream ends with no more events.
func (c *sseClient) expectEnd() {
	c.t.Helper()
	if ev, err := c.recvEvent(); err != io.EOF {
		c.t.Fatalf("got %+v (%v), want the end of the stream", ev, err)
	}
}

// idOf is an event's id, or "" when it has none.
func idOf(ev sseEvent) string {
	if ev.id == nil {
		return ""
	}
	return *ev.id
}

// httpErrorOf reads a refused request's error, {"error": {...}}.
func httpErrorOf(t testing.TB, resp *http.Response) *rtbroadcaster.Error {
	t.Helper()
	var body struct {
		Error *rtbroadcaster.Error `json:"error"`
	}
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &body); err != nil || body.Error == nil {
		t.Fatalf("HTTP %d body %q is not an error in the protocol's shape", resp.StatusCode, raw)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("error Content-Type %q", ct)
	}
	return body.Error
}
