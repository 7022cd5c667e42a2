package rtbroadcaster

import (
	"net/http"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rtbroadcaster/rtbroadcaster/broker"
)

// metrics are a Manager's Prometheus metrics, in a registry of its own so
// that several Managers in one process (tests, embedders) do not collide.
type metrics struct {
	registry *prometheus.Registry

	messagesIn    prometheus.Counter
	bytesIn       prometheus.Counter
	messagesOut   prometheus.Counter
	bytesOut      prometheus.Counter
	fanout        prometheus.Histogram
	slowConsumers prometheus.Counter
	// conflatedSkipped counts conflated messages a viewer's queue replaced
	// with a newer one of their key (PROTOCOL.md, Conflated streams).
	conflatedSkipped prometheus.Counter
	countSkipped     func() // conflatedSkipped.Inc, made once for every outbox
	errors           *prometheus.CounterVec
	disconnects      *prometheus.CounterVec
	upgradesRefused  *prometheus.CounterVec
	apiRequests      *prometheus.CounterVec
	pubSeqRepeats    prometheus.Counter
	// By transport: websocket, or sse (PROTOCOL.md, SSE viewers).
	connectionsOpened *prometheus.CounterVec
	transportViewers  *prometheus.GaugeVec
	messagesTotal     atomic.Uint64 // mirrors of the counters, for the admin API
	messagesOutTotal  atomic.Uint64
	viewersTotal      atomic.Int64
}

func newMetrics(m *Manager) *metrics {
	reg := prometheus.NewRegistry()
	f := func(c prometheus.Collector) { reg.MustRegister(c) }
	x := &metrics{registry: reg}
	const ns = "rtbroadcaster"
	f(collectors.NewGoCollector())
	f(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	f(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Name: "connections", Help: "Open connections: WebSockets, and viewers' event streams."},
		func() float64 { return float64(m.Stats().Connections) }))
	f(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Name: "rooms", Help: "Rooms with a client on this node."},
		func() float64 { return float64(m.Stats().Rooms) }))
	f(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Name: "broker_up", Help: "1 when the room engine answers its health check, else 0."},
		func() float64 { return boolFloat(m.brokerReady() == nil) }))
	if counted, ok := m.broker.(broker.Counted); ok {
		for _, c := range engineCounters(ns, counted) {
			f(c)
		}
	}
	f(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Name: "viewers", Help: "Viewers in rooms on this node."},
		func() float64 { return float64(x.viewersTotal.Load()) }))
	x.messagesIn = prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "messages_received_total", Help: "WebSocket messages received from clients."})
	x.bytesIn = prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "received_bytes_total", Help: "Payload bytes of the messages received from clients."})
	x.messagesOut = prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "messages_sent_total", Help: "Messages queued for clients: each viewer's copy of a broadcast, replies and error replies, join replies with their state replay."})
	x.bytesOut = prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "sent_bytes_total", Help: "WebSocket frame bytes of the messages queued for clients."})
	x.fanout = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: ns, Name: "fanout_seconds",
		Help:    "From reading an owner's broadcast to its publication: on this node's viewers' queues (in-memory engine) or in the engine (Redis).",
		Buckets: []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1},
	})
	x.slowConsumers = prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "slow_consumer_disconnects_total", Help: "Connections closed with 4001 because their send queue passed its limit."})
	x.conflatedSkipped = prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "conflated_skipped_total", Help: "Conflated messages that viewers' queues replaced with a newer one of their key, unsent (a skip marker stands for them)."})
	x.countSkipped = x.conflatedSkipped.Inc
	x.errors = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "errors_total", Help: "Error replies sent, by code."}, []string{"code"})
	x.disconnects = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "disconnects_total", Help: "Connections ended, by reason."}, []string{"reason"})
	x.upgradesRefused = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "upgrades_refused_total", Help: "WebSocket upgrades refused before the handshake, by reason."}, []string{"reason"})
	x.apiRequests = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "api_requests_total", Help: "HTTP API requests answered, by route and HTTP status."}, []string{"route", "status"})
	x.pubSeqRepeats = prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "pubseq_repeats_total", Help: "Owners' numbered broadcasts dropped as repeats of numbers their room had accepted (PROTOCOL.md, Exactly once from the owner): sent again after a drop."})
	x.connectionsOpened = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "connections_opened_total", Help: "Connections admitted, by transport: websocket, or sse (viewers over Server-Sent Events)."}, []string{"transport"})
	x.transportViewers = prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "transport_viewers", Help: "Viewers in rooms on this node, by transport: websocket or sse."}, []string{"transport"})
	for _, t := range []string{transportWebSocket, transportSSE} {
		x.connectionsOpened.WithLabelValues(t)
		x.transportViewers.WithLabelValues(t)
	}
	for _, c := range []prometheus.Collector{x.messagesIn, x.bytesIn, x.messagesOut, x.bytesOut, x.fanout, x.slowConsumers, x.conflatedSkipped, x.errors, x.disconnects, x.upgradesRefused, x.apiRequests, x.pubSeqRepeats, x.connectionsOpened, x.transportViewers} {
		f(c)
	}
	return x
}

// engineCounters export the counts of an engine that keeps them (Redis).
func engineCounters(ns string, e broker.Counted) []prometheus.Collector {
	counter := func(name, help string, count func(broker.Counts) uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: ns, Name: name, Help: help},
			func() float64 { return float64(count(e.Counts())) })
	}
	return []prometheus.Collector{
		counter("broker_outages_total", "Times the room engine lost its connection (the Redis pub/sub) since start.",
			func(c broker.Counts) uint64 { return c.Outages }),
		counter("broker_stream_gaps_total", "Rooms whose stream was interrupted on this node; their viewers were closed with 1012 to rejoin.",
			func(c broker.Counts) uint64 { return c.Gaps }),
		counter("broker_rooms_restored_total", "Rooms this node put back into a Redis that had lost them.",
			func(c broker.Counts) uint64 { return c.Restored }),
	}
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// MetricsHandler serves the Manager's metrics in the Prometheus text format.
func (m *Manager) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(m.metrics.registry, promhttp.HandlerOpts{})
}

// received counts a message read from a client.
func (x *metrics) received(n int) {
	x.messagesIn.Inc()
	x.bytesIn.Add(float64(n))
	x.messagesTotal.Add(1)
}

// sent counts messages queued for clients: count frames of frameBytes each.
func (x *metrics) sent(count, frameBytes int) {
	if count <= 0 {
		return
	}
	x.messagesOut.Add(float64(count))
	x.bytesOut.Add(float64(count * frameBytes))
	x.messagesOutTotal.Add(uint64(count))
}

func (x *metrics) viewerJoined(transport string) {
	x.viewersTotal.Add(1)
	x.transportViewers.WithLabelValues(transport).Inc()
}

func (x *metrics) viewerLeft(transport string) {
	x.viewersTotal.Add(-1)
	x.transportViewers.WithLabelValues(transport).Dec()
}

// connectionOpened counts a connection admitted over transport.
func (x *metrics) connectionOpened(transport string) {
	x.connectionsOpened.WithLabelValues(transport).Inc()
}
