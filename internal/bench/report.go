package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
)

// Report is what a bench run measured. Its JSON form is for scripts; every
// key is camelCase, and BENCHMARKS.md ("The JSON report") says what each is.
type Report struct {
	Targets        []string `json:"targets"`
	Target         string   `json:"target,omitempty"` // the kind of server, when not rtbroadcaster: centrifugo
	Transport      string   `json:"transport"`        // of the viewers: websocket or sse
	Rooms          int      `json:"rooms"`
	ViewersPerRoom int      `json:"viewersPerRoom"`
	Rate           float64  `json:"ratePerRoom"` // 0: as fast as the window allows
	Window         int      `json:"window,omitempty"`
	SizeBytes      int      `json:"sizeBytes"`    // funcParams JSON
	MessageBytes   int      `json:"messageBytes"` // the whole JSON message viewers receive
	SourceAddrs    []string `json:"sourceAddrs"`  // "default": the address the system picks

	Connections        int     `json:"connections"`
	ConnectJoinSeconds float64 `json:"connectJoinSeconds"`

	SendSeconds      float64  `json:"sendSeconds"`
	Sent             uint64   `json:"sent"`
	Deliveries       uint64   `json:"deliveries"`
	DeliveriesPerSec float64  `json:"deliveriesPerSec"`
	LatencyMs        Latency  `json:"latencyMs"`
	Lost             int64    `json:"lost"`
	Duplicated       uint64   `json:"duplicated"`
	OutOfOrder       uint64   `json:"outOfOrder"`
	CutOff           int      `json:"cutOff"`      // viewers closed as slow consumers (4001)
	Dropped          int      `json:"dropped"`     // viewers whose connection ended otherwise
	OwnerErrors      uint64   `json:"ownerErrors"` // error replies to owners
	Rejoins          int      `json:"rejoins"`
	SenderErrors     []string `json:"senderErrors,omitempty"`
	ViewerErrors     []string `json:"viewerErrors,omitempty"` // why viewers dropped, the first few

	ServerRSSBeforeKiB int64    `json:"serverRssBeforeKiB,omitempty"`
	ServerRSSJoinedKiB int64    `json:"serverRssJoinedKiB,omitempty"`
	ServerBytesPerConn *float64 `json:"serverBytesPerConn,omitempty"` // nil: unknown (see serverBytesPerConn)
	ServerCPUPercent   float64  `json:"serverCpuPercent,omitempty"`   // of one core, while sending
	BenchCPUPercent    float64  `json:"benchCpuPercent"`
	ServerCPUJoinPct   float64  `json:"serverCpuJoinPercent,omitempty"` // while connecting and joining
}

// Latency is the quantiles of the time from an owner's send to a viewer's
// read, in milliseconds.
type Latency struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
	Max  float64 `json:"max"`
}

// serverBytesPerConn is the growth of the server's resident memory while
// the connections joined, per connection; nil when it did not grow. The
// bench cannot make another process collect its garbage first, so on a small
// run the server returning earlier garbage to the system can outweigh the
// connections (a negative "per connection" figure): that says nothing, so
// the report says unknown.
func serverBytesPerConn(beforeKiB, joinedKiB int64, conns int) *float64 {
	if joinedKiB <= beforeKiB || conns <= 0 {
		return nil
	}
	perConn := float64(joinedKiB-beforeKiB) * 1024 / float64(conns)
	return &perConn
}

func (r *Report) writeJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

func (r *Report) writeText(w io.Writer) {
	mode := fmt.Sprintf("%g msg/s per room", r.Rate)
	if r.Rate == 0 {
		mode = fmt.Sprintf("as fast as a window of %d allows", r.Window)
	}
	if r.Target != "" {
		fmt.Fprintf(w, "target: %s\n", r.Target)
	}
	fmt.Fprintf(w, "rtbroadcaster bench: %d room(s) x %d %s viewers, %s, %d-byte payloads (%d-byte messages)\n", r.Rooms, r.ViewersPerRoom, r.Transport, mode, r.SizeBytes, r.MessageBytes)
	fmt.Fprintf(w, "  targets           %s (from %s)\n", strings.Join(r.Targets, ", "), strings.Join(r.SourceAddrs, ", "))
	fmt.Fprintf(w, "  connect+join      %d connections in %.3f s\n", r.Connections, r.ConnectJoinSeconds)
	if r.SendSeconds > 0 {
		fmt.Fprintf(w, "  sent              %d messages in %.1f s\n", r.Sent, r.SendSeconds)
		fmt.Fprintf(w, "  deliveries        %d (%.0f/s)\n", r.Deliveries, r.DeliveriesPerSec)
		l := r.LatencyMs
		fmt.Fprintf(w, "  latency ms        p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f\n", l.P50, l.P90, l.P99, l.P999, l.Max)
		fmt.Fprintf(w, "  lost/dup/reorder  %d / %d / %d\n", r.Lost, r.Duplicated, r.OutOfOrder)
		fmt.Fprintf(w, "  viewers cut off   %d (4001), %d dropped otherwise; %d rejoins; %d owner errors\n", r.CutOff, r.Dropped, r.Rejoins, r.OwnerErrors)
	}
	for _, e := range r.SenderErrors {
		fmt.Fprintf(w, "  sender error      %s\n", e)
	}
	for _, e := range r.ViewerErrors {
		fmt.Fprintf(w, "  viewer error      %s\n", e)
	}
	if r.ServerRSSBeforeKiB > 0 {
		perConn := "unknown bytes per connection (the RSS did not grow: the server freed more than the connections took; run more connections)"
		if r.ServerBytesPerConn != nil {
			perConn = fmt.Sprintf("%.0f bytes per connection", *r.ServerBytesPerConn)
		}
		fmt.Fprintf(w, "  server RSS        %d KiB before, %d KiB joined: %s\n", r.ServerRSSBeforeKiB, r.ServerRSSJoinedKiB, perConn)
		fmt.Fprintf(w, "  CPU (%% of a core) server %.0f%% while joining, server %.0f%% and bench %.0f%% while sending\n", r.ServerCPUJoinPct, r.ServerCPUPercent, r.BenchCPUPercent)
	} else {
		fmt.Fprintf(w, "  CPU (%% of a core) bench %.0f%% while sending (give -server-pid for the server's)\n", r.BenchCPUPercent)
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
