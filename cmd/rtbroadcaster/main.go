// Command rtbroadcaster runs the broadcast server.
//
//	rtbroadcaster                       serve on :8080 (every interface)
//	rtbroadcaster serve -addr 127.0.0.1:9000
//	rtbroadcaster serve -broker redis://127.0.0.1:6379/0   one of several nodes sharing rooms
//	rtbroadcaster bench -url ws://127.0.0.1:9000/broadcast -viewers 1000   load-test a server
//	rtbroadcaster version               the version and commit of this build
//	rtbroadcaster help [command]        the commands, or one command's flags
//
// Every flag can also be set with an RTB_* environment variable: -addr is
// RTB_ADDR, -read-limit is RTB_READ_LIMIT, and so on. A flag given on the
// command line wins over its variable.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/rtbroadcaster/rtbroadcaster"
	"github.com/rtbroadcaster/rtbroadcaster/broker"
	"github.com/rtbroadcaster/rtbroadcaster/broker/memory"
	redisbroker "github.com/rtbroadcaster/rtbroadcaster/broker/redis"
	sdkjs "github.com/rtbroadcaster/rtbroadcaster/sdk/js"
	"github.com/rtbroadcaster/rtbroadcaster/web"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "rtbroadcaster:", err)
		os.Exit(1)
	}
}

// serveConfig is everything the serve command reads from flags.
type serveConfig struct {
	addr            string
	adminAddr       string
	brokerURL       string
	redisPrefix     string
	redisWait       int
	redisWaitFor    time.Duration
	origins         string
	shutdownTimeout time.Duration
	httpIdleTimeout time.Duration
	ownerGrace      time.Duration
	drainSpread     time.Duration
	logLevel        string
	logFormat       string
	limits          rtbroadcaster.Limits
	ops             opsConfig
}

func parseServeFlags(args []string, stderr io.Writer) (*serveConfig, error) {
	cfg := &serveConfig{limits: rtbroadcaster.DefaultLimits()}
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	l := &cfg.limits
	fs.StringVar(&cfg.addr, "addr", ":8080", "`address` to listen on (host:port; port 0 picks a free one)")
	fs.StringVar(&cfg.adminAddr, "admin-addr", "", "`address` of a separate listener for /debug/pprof/ (off when empty; keep it private)")
	fs.StringVar(&cfg.brokerURL, "broker", "memory", "room `engine`: memory (this process alone) or a Redis URL such as redis://127.0.0.1:6379/0, or redis-sentinel://HOST:PORT[,HOST:PORT...]/MASTER_NAME[?db=N] for a Redis run by Sentinel, or redis-cluster://HOST:PORT[,HOST:PORT...] (rediss-cluster:// with TLS) for a Redis Cluster (every node on it shares its rooms)")
	fs.StringVar(&cfg.redisPrefix, "redis-key-prefix", "rtb:", "`prefix` of every Redis key and channel: clusters that share one Redis need one each")
	fs.IntVar(&cfg.redisWait, "redis-wait-replicas", 0, "with a Redis engine, state messages wait until this many `replicas` of the room's master have them (Redis WAIT), so that a failover keeps them; a shortfall is told to the owner as unreplicated. 0: do not wait")
	fs.DurationVar(&cfg.redisWaitFor, "redis-wait-timeout", 250*time.Millisecond, "longest `wait` for -redis-wait-replicas, up to 2s")
	fs.StringVar(&cfg.origins, "allowed-origins", "", "comma-separated browser `origins` allowed besides same-origin, e.g. https://app.example.com; * allows all")
	fs.DurationVar(&cfg.shutdownTimeout, "shutdown-timeout", 10*time.Second, "how long SIGINT/SIGTERM waits for connections to close before cutting them")
	fs.DurationVar(&cfg.httpIdleTimeout, "http-idle-timeout", 60*time.Second, "how long an HTTP connection may wait for its next request, and the most reading one request may take; WebSockets are not affected")
	fs.DurationVar(&cfg.drainSpread, "drain-spread", rtbroadcaster.DefaultDrainSpread, "on shutdown, each client is told to reconnect after a random delay within this window")
	fs.DurationVar(&cfg.ownerGrace, "owner-grace", rtbroadcaster.DefaultOwnerGrace, "how long a room stays open after its owner's connection ends, for the owner to resume it; 0 closes it at once")
	fs.StringVar(&cfg.logLevel, "log-level", "info", "log `level`: debug, info, warn or error")
	fs.StringVar(&cfg.logFormat, "log-format", "text", "log `format`: text or json")
	fs.IntVar(&l.ReadLimit, "read-limit", l.ReadLimit, "largest frame a client may send, in `bytes` (larger: close 1009)")
	fs.IntVar(&l.MaxFuncParams, "max-func-params", l.MaxFuncParams, "most funcParams entries in one message")
	fs.IntVar(&l.MaxViewersPerRoom, "max-viewers", l.MaxViewersPerRoom, "most viewers in one room")
	fs.IntVar(&l.MaxStateMessages, "max-state-messages", l.MaxStateMessages, "most state messages a room keeps")
	fs.IntVar(&l.MaxStateBytes, "max-state-bytes", l.MaxStateBytes, "most `bytes` of state messages a room keeps")
	fs.IntVar(&l.MaxTotalStateBytes, "max-total-state-bytes", l.MaxTotalStateBytes, "most `bytes` of state messages all rooms keep together, with -broker memory; past it state messages are refused with state_full (on Redis, bound Redis with its maxmemory)")
	fs.IntVar(&l.MaxRooms, "max-rooms", l.MaxRooms, "most open rooms owned from this node, rooms waiting for their owner included; more are refused with too_many_rooms")
	fs.IntVar(&l.HistoryMessages, "history-messages", l.HistoryMessages, "most recent messages a room keeps for viewers that rejoin and recover")
	fs.IntVar(&l.HistoryBytes, "history-bytes", l.HistoryBytes, "most `bytes` of recent messages a room keeps for viewers that rejoin and recover")
	fs.IntVar(&l.MaxTotalHistoryBytes, "max-total-history-bytes", l.MaxTotalHistoryBytes, "most `bytes` of recent messages all rooms keep together, with -broker memory; past it the room that adds one drops its oldest first (on Redis, bound Redis with its maxmemory)")
	fs.IntVar(&l.SendQueueBytes, "send-queue-bytes", l.SendQueueBytes, "`bytes` that may wait for one connection before it is closed as a slow consumer (4001)")
	fs.Float64Var(&l.MessagesPerSecond, "rate", 0, "messages per second one connection may send; 0 is unlimited")
	fs.IntVar(&l.MessageBurst, "rate-burst", 0, "burst for -rate (default: one second's worth)")
	fs.DurationVar(&l.PingInterval, "ping-interval", l.PingInterval, "how often to ping each client")
	fs.DurationVar(&l.PongTimeout, "pong-timeout", l.PongTimeout, "how long past a ping interval a silent client is kept")
	fs.DurationVar(&l.WriteTimeout, "write-timeout", l.WriteTimeout, "deadline of one write to a client")
	registerOpsFlags(fs, &cfg.ops, l)
	fs.Usage = func() {
		writeOverview(fs.Output())
		fmt.Fprintf(fs.Output(), "\nrtbroadcaster [serve] [flags] serves the WebSocket endpoint on /broadcast and /broadcasting, the demo on /,\nthe JavaScript SDK on /sdk/, /healthz and /readyz, and the HTTP API on /api/ with -api-key. Its flags follow; each has an environment twin:\n-max-viewers is RTB_MAX_VIEWERS, and so on.\n\n")
		fs.PrintDefaults()
	}
	if err := applyEnv(fs); err != nil {
		return nil, err
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if cfg.redisWait < 0 {
		return nil, fmt.Errorf("-redis-wait-replicas: %d is negative; give 0 not to wait", cfg.redisWait)
	}
	if cfg.redisWaitFor <= 0 || cfg.redisWaitFor > redisbroker.MaxWaitTimeout {
		return nil, fmt.Errorf("-redis-wait-timeout: %v is not between 0 and %v", cfg.redisWaitFor, redisbroker.MaxWaitTimeout)
	}
	for name, v := range map[string]int{"-max-rooms": l.MaxRooms, "-max-total-state-bytes": l.MaxTotalStateBytes, "-max-total-history-bytes": l.MaxTotalHistoryBytes} {
		if v < 0 {
			return nil, fmt.Errorf("%s: %d is negative; give a bound, or 0 for the default", name, v)
		}
	}
	return cfg, nil
}

// envName is the environment twin of a flag: -max-viewers is RTB_MAX_VIEWERS.
func envName(flagName string) string {
	return "RTB_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// applyEnv sets each flag from its RTB_* variable, before the command line
// is parsed so that the command line wins.
func applyEnv(fs *flag.FlagSet) error {
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		name := envName(f.Name)
		f.Usage += " (env " + name + ")"
		if v, ok := os.LookupEnv(name); ok && err == nil {
			if setErr := fs.Set(f.Name, v); setErr != nil {
				err = fmt.Errorf("environment %s=%q: %w", name, v, setErr)
			}
		}
	})
	return err
}

func newLogger(cfg *serveConfig, w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.logLevel)); err != nil {
		return nil, fmt.Errorf("-log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch cfg.logFormat {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("-log-format: %q is neither text nor json", cfg.logFormat)
}

func serve(ctx context.Context, args []string, stderr io.Writer) error {
	cfg, err := parseServeFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	log, err := newLogger(cfg, stderr)
	if err != nil {
		return err
	}
	var origins []string
	if cfg.origins != "" {
		origins = strings.Split(cfg.origins, ",")
	}
	mgrConfig := rtbroadcaster.Config{
		Limits:         cfg.limits,
		Logger:         log,
		AllowedOrigins: origins,
		OwnerGrace:     zeroIsNone(cfg.ownerGrace),
		DrainSpread:    zeroIsNone(cfg.drainSpread),
	}
	if err := cfg.ops.configure(&mgrConfig); err != nil {
		return err
	}
	engine, closeEngine, err := openBroker(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer closeEngine() // after the Manager has drained: owners' rooms are in their grace in the engine by then
	mgrConfig.Broker = engine
	mgr := rtbroadcaster.New(mgrConfig)
	mux := newMux(mgr)
	mountOps(mux, mgr)
	mux.Handle("/readyz", readyz(mgr))
	srv := newHTTPServer(mux, cfg.httpIdleTimeout)

	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return err
	}
	log.Info("listening", "url", cfg.ops.scheme()+"://"+ln.Addr().String()+"/")
	served := make(chan error, 1)
	go func() { served <- cfg.ops.serveHTTP(srv, ln) }()

	if cfg.adminAddr != "" {
		admin, err := serveAdmin(cfg.adminAddr, cfg.httpIdleTimeout, log, mgr.MetricsHandler())
		if err != nil {
			return err
		}
		defer admin.Close()
	}

	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down", "timeout", cfg.shutdownTimeout)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.shutdownTimeout)
	defer cancel()
	// The Manager drains its connections while the HTTP server stops
	// accepting: http.Server.Shutdown waits for the SSE viewers' streams,
	// which end when the Manager tells them to come back later.
	drained := make(chan error, 1)
	go func() { drained <- mgr.Shutdown(shutdownCtx) }()
	_ = srv.Shutdown(shutdownCtx) // stop accepting; hijacked WebSockets are the Manager's
	if err := <-drained; err != nil {
		log.Warn("shutdown cut connections", "err", err)
	}
	log.Info("stopped")
	return nil
}

// openBroker returns the room engine named by -broker, and what closes it.
func openBroker(ctx context.Context, cfg *serveConfig, log *slog.Logger) (broker.Broker, func(), error) {
	url := cfg.brokerURL
	if url == "memory" {
		return memory.New(), func() {}, nil
	}
	if !redisbroker.IsURL(url) {
		return nil, nil, fmt.Errorf("-broker: %q is neither memory nor a redis://, rediss://, redis-sentinel://, redis-cluster:// or rediss-cluster:// URL", url)
	}
	goredis.SetLogger(redisClientLog{log.With("engine", "redis")})
	openCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	engine, err := redisbroker.Open(openCtx, url, redisbroker.Options{KeyPrefix: cfg.redisPrefix, Logger: log,
		WaitReplicas: cfg.redisWait, WaitTimeout: cfg.redisWaitFor})
	if err != nil {
		return nil, nil, fmt.Errorf("-broker: %w", err)
	}
	return engine, func() { _ = engine.Close() }, nil
}

// redisClientLog routes the Redis client library's own lines (a failed
// dial on every retry during an outage) to the server's log at debug level:
// the engine already logs each outage once, as a warning.
type redisClientLog struct{ log *slog.Logger }

func (l redisClientLog) Printf(ctx context.Context, format string, v ...any) {
	l.log.DebugContext(ctx, strings.TrimSpace(fmt.Sprintf(format, v...)))
}

// readyz answers 200 while the Manager can serve rooms (Manager.Ready), and
// 503 with the reason while it cannot (Redis down, say).
func readyz(mgr *rtbroadcaster.Manager) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := mgr.Ready(ctx); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, "not ready: "+err.Error()+"\n")
			return
		}
		_, _ = io.WriteString(w, "ok\n")
	}
}

// serveAdmin serves the profiler, and the metrics too, on its own listener,
// so that the profiler is never exposed with the public endpoints.
func serveAdmin(addr string, idle time.Duration, log *slog.Logger, metrics http.Handler) (*http.Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("-admin-addr: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.Handle("/metrics", metrics)
	srv := newHTTPServer(mux, idle)
	log.Info("admin listening", "url", "http://"+ln.Addr().String()+"/debug/pprof/")
	go func() { _ = srv.Serve(ln) }() // ends when serve closes it
	return srv, nil
}

// newHTTPServer serves h with timeouts, so that idle keep-alive connections
// and slow requests (which -max-connections and -conn-rate do not count:
// they apply to WebSockets) cannot pile up. An upgraded WebSocket is not
// affected: its connection is hijacked, and the upgrade clears the read
// and write deadlines the server set; its liveness is the pinger's. Nor is
// an SSE viewer's stream: ServeEvents clears them through its
// http.ResponseController, and sets each write's own.
func newHTTPServer(h http.Handler, idle time.Duration) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: min(10*time.Second, idle),
		ReadTimeout:       idle,
		IdleTimeout:       idle,
	}
}

// newMux routes the server's paths.
func newMux(mgr *rtbroadcaster.Manager) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("/broadcast", mgr)
	mux.Handle("/broadcasting", mgr)                        // the path of the original rtbroadcaster's example
	mux.HandleFunc("/rooms/{uuid}/events", mgr.ServeEvents) // viewers over Server-Sent Events
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.Handle("/sdk/", http.StripPrefix("/sdk", sdkjs.Handler()))
	mux.Handle("/", web.Handler())
	return mux
}

// zeroIsNone reads a duration flag whose 0 means none, which a
// rtbroadcaster.Config field spells as a negative value (its 0 is the default).
func zeroIsNone(d time.Duration) time.Duration {
	if d <= 0 {
		return -1
	}
	return d
}
