package rtbroadcaster_test

import (
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lxzan/gws"
	rtb "github.com/rtbroadcaster/rtbroadcaster"
	"github.com/rtbroadcaster/rtbroadcaster/broker/redis"
	"github.com/rtbroadcaster/rtbroadcaster/broker/redis/redistest"
)

// BenchmarkAPIBroadcast measures HTTP API broadcasts per second from one
// HTTP client over one keep-alive connection, one request at a time, into
// a room with one WebSocket viewer (which must receive every one), on each
// engine:
//
//	go test -run '^$' -bench APIBroadcast -benchtime 5s -count 5 .
func BenchmarkAPIBroadcast(b *testing.B) {
	for _, engine := range []string{"memory", "redis"} {
		b.Run(engine, func(b *testing.B) {
			srv := benchAPIServer(b, engine)
			room, _ := apiCreate(b, srv)
			viewer := &countingViewer{}
			conn, _, err := gws.NewClient(viewer, &gws.ClientOption{Addr: srv.wsURL})
			if err != nil {
				b.Fatal(err)
			}
			go conn.ReadLoop()
			b.Cleanup(func() { _ = conn.NetConn().Close() })
			if err := conn.WriteMessage(gws.OpcodeText, []byte(`{"uuid":"`+room+`","status":{"value":2}}`)); err != nil {
				b.Fatal(err)
			}
			viewer.waitFor(b, 1) // the join reply

			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
			url := srv.url + "/api/rooms/" + room + "/broadcast"
			body := `{"funcKey": "goToSlide", "funcParams": ["4"]}`
			b.ResetTimer()
			for range b.N {
				req, _ := http.NewRequest("POST", url, strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+apiKey)
				resp, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Fatalf("broadcast: %d", resp.StatusCode)
				}
			}
			viewer.waitFor(b, int64(b.N)+1)
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "broadcasts/s")
		})
	}
}

// benchAPIServer starts a server with the API on, on engine.
func benchAPIServer(b *testing.B, engine string) *testServer {
	if engine == "memory" {
		return startServer(b, rtb.WithAPIKeys(apiKey))
	}
	url := redistest.URL(b)
	eng := redistest.Engine(b, url, redis.Options{KeyPrefix: redistest.Prefix(b, url), Logger: quietLogger()})
	return startServer(b, rtb.WithBroker(eng), rtb.WithAPIKeys(apiKey))
}

// countingViewer counts the messages a viewer receives.
type countingViewer struct {
	gws.BuiltinEventHandler
	n atomic.Int64
}

func (v *countingViewer) OnMessage(_ *gws.Conn, m *gws.Message) {
	v.n.Add(1)
	m.Close()
}

func (v *countingViewer) waitFor(b *testing.B, n int64) {
	deadline := time.Now().Add(waitFor)
	for v.n.Load() < n {
		if time.Now().After(deadline) {
			b.Fatalf("the viewer received %d messages, want %d", v.n.Load(), n)
		}
		time.Sleep(time.Millisecond)
	}
}
