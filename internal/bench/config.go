package bench

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"time"
)

// config is everything the bench command reads from its flags.
type config struct {
	urls        []*url.URL
	rooms       int
	viewers     int // per room
	rate        float64
	window      int
	size        int
	duration    time.Duration
	drain       time.Duration
	stateEvery  int
	stateKeys   int
	churn       float64
	sourceAddrs []string
	serverPID   int
	json        bool
	concurrency int
	readBuffer  int
	progress    time.Duration
	join        string // a room another bench process owns; this one only listens
	transport   string // of the viewers: websocket, or sse (owners are WebSockets)

	target           string // the server: rtbroadcaster, or centrifugo (centrifugo.go)
	centrifugoSecret string // HMAC secret of Centrifugo's connection tokens
	centrifugoToken  string // the connection JWT, made from centrifugoSecret
	printCentrifugo  bool   // print Centrifugo's configuration and exit
}

func parseFlags(args []string, stderr io.Writer) (*config, error) {
	cfg := &config{}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	urls := fs.String("url", "ws://127.0.0.1:8080/broadcast", "server WebSocket `URLs`, comma-separated; connections are spread round-robin")
	fs.IntVar(&cfg.rooms, "rooms", 1, "rooms, each with one owner")
	fs.IntVar(&cfg.viewers, "viewers", 100, "viewers per room")
	fs.Float64Var(&cfg.rate, "rate", 0, "messages per second per room; 0: as fast as -window allows")
	fs.IntVar(&cfg.window, "window", 64, "with -rate 0: messages a room may have sent and not yet delivered to all its viewers")
	fs.IntVar(&cfg.size, "size", 150, "`bytes` of each message's payload: its funcParams as JSON (the envelope adds about 130)")
	fs.DurationVar(&cfg.duration, "duration", 15*time.Second, "how long to send; 0: connect and join only (memory per idle viewer)")
	fs.DurationVar(&cfg.drain, "drain", 5*time.Second, "how long to wait after sending for messages still in flight")
	fs.IntVar(&cfg.stateEvery, "state-every", 0, "make every `n`th message a state message (0: none)")
	fs.IntVar(&cfg.stateKeys, "state-keys", 100, "distinct stateKeys the state messages cycle through")
	fs.Float64Var(&cfg.churn, "churn", 0, "viewers that leave and rejoin per second, over all rooms (needs -rate)")
	addrs := fs.String("source-addrs", "", "local `addresses` to connect from, comma-separated (e.g. 127.0.0.2,127.0.0.3); default: 127.0.0.1, plus 127.0.0.2, ... when ports run short")
	fs.IntVar(&cfg.serverPID, "server-pid", 0, "the server's `pid`, to report its memory per connection and CPU")
	fs.BoolVar(&cfg.json, "json", false, "print the report as JSON")
	fs.IntVar(&cfg.concurrency, "connect-concurrency", 64, "connections being opened at once")
	fs.IntVar(&cfg.readBuffer, "read-buffer", 4096, "`bytes` of each viewer's read buffer")
	fs.DurationVar(&cfg.progress, "progress", time.Second, "how often the progress line updates")
	fs.StringVar(&cfg.join, "join", "", "`uuid` of a room that another bench process owns: open -viewers viewers of it and only listen (one room spread over several bench processes, past one process's open-files limit; the owning process prints its rooms' uuids)")
	fs.StringVar(&cfg.transport, "transport", "websocket", "how viewers follow their room: websocket, or sse (Server-Sent Events, GET /rooms/{uuid}/events on the host of -url); owners always use WebSocket")
	fs.StringVar(&cfg.target, "target", targetRTB, "the server -url points to: rtbroadcaster, or centrifugo (a Centrifugo v6 server configured as -print-centrifugo-config prints; -url ws://HOST:PORT/connection/websocket)")
	fs.StringVar(&cfg.centrifugoSecret, "centrifugo-hmac-secret", defaultCentrifugoSecret, "with -target centrifugo: the `secret` of the server's client.token.hmac_secret_key, to sign connection tokens (HS256)")
	fs.BoolVar(&cfg.printCentrifugo, "print-centrifugo-config", false, "print the Centrifugo configuration (JSON) that -target centrifugo expects, with -centrifugo-hmac-secret, and exit")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: rtbroadcaster bench [flags]\n\nOpens -rooms rooms with -viewers viewers each, broadcasts for -duration and reports\nconnect+join time, deliveries/s, latency, loss, duplicates, reordering and, with -server-pid,\nthe server's memory per connection and CPU. Load only servers you run yourself.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	for _, s := range strings.Split(*urls, ",") {
		u, err := url.Parse(strings.TrimSpace(s))
		if err != nil || u.Scheme != "ws" || u.Host == "" {
			return nil, fmt.Errorf("-url: %q is not a ws:// URL", s)
		}
		cfg.urls = append(cfg.urls, u)
	}
	if *addrs != "" {
		cfg.sourceAddrs = strings.Split(*addrs, ",")
	}
	if cfg.target == targetCentrifugo {
		cfg.centrifugoToken = centrifugoToken(cfg.centrifugoSecret, time.Now())
	}
	return cfg, cfg.check()
}

func (cfg *config) check() error {
	switch {
	case cfg.rooms < 1 || cfg.viewers < 0:
		return errors.New("-rooms must be at least 1 and -viewers at least 0")
	case cfg.rate < 0:
		return errors.New("-rate must not be negative")
	case cfg.rate == 0 && cfg.window < 1:
		return errors.New("-window must be at least 1")
	case cfg.rate == 0 && cfg.churn > 0:
		return errors.New("-churn needs -rate: a window run waits for every viewer, and a churned one misses messages")
	case cfg.stateEvery > 0 && cfg.stateKeys < 1:
		return errors.New("-state-keys must be at least 1")
	case cfg.join != "" && (cfg.rooms != 1 || cfg.churn > 0):
		return errors.New("-join listens to one room: -rooms must be 1, and -churn is not available")
	case cfg.transport != "websocket" && cfg.transport != "sse":
		return fmt.Errorf("-transport: %q is neither websocket nor sse", cfg.transport)
	case cfg.target != targetRTB && cfg.target != targetCentrifugo:
		return fmt.Errorf("-target: %q is neither %s nor %s", cfg.target, targetRTB, targetCentrifugo)
	case cfg.target == targetCentrifugo && (cfg.transport != "websocket" || cfg.stateEvery > 0 || cfg.churn > 0):
		return errors.New("-target centrifugo: viewers use WebSocket, without -state-every or -churn")
	case cfg.concurrency < 1 || cfg.readBuffer < 256:
		return errors.New("-connect-concurrency must be at least 1 and -read-buffer at least 256")
	}
	return nil
}

// loopbackOnly reports whether every target is on the local host.
func (cfg *config) loopbackOnly() bool {
	for _, u := range cfg.urls {
		host := u.Hostname()
		if ip := net.ParseIP(host); (ip == nil || !ip.IsLoopback()) && host != "localhost" {
			return false
		}
	}
	return true
}

// connections counts the viewers and the owners this process opens.
func (cfg *config) connections() int {
	if cfg.join != "" {
		return cfg.viewers
	}
	return cfg.rooms * (1 + cfg.viewers)
}
