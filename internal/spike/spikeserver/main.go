// Command spikeserver is the transport spike of issue 16: a minimal fan-out
// server that speaks just enough of the rtbroadcaster protocol for
// `rtbroadcaster bench` (create, join, broadcast), over one of several
// WebSocket transports, so that their idle memory and fan-out tail can be
// measured side by side with the project's own load tool.
//
//	go run ./internal/spike/spikeserver -transport gws   -addr 127.0.0.1:9001
//	go run ./internal/spike/spikeserver -transport nbio  -addr 127.0.0.1:9002
//
// Transports:
//
//	gws          gws as the server uses it: a goroutine per connection in
//	             ReadLoop, a 1 KiB read buffer, a writer goroutine per viewer
//	             while it has frames queued (the server's outbox, simplified)
//	gws-workers  the same connections, but the fan-out writes from GOMAXPROCS
//	             workers straight to the sockets (see shard in hub.go)
//	nbio         lesismal/nbio's nbhttp and websocket, non-blocking: no
//	             goroutine per connection; the fan-out writes from GOMAXPROCS
//	             workers into nbio's non-blocking Write
//	nbio-std     the same, but net/http serves the requests and the upgrade
//	             hands each WebSocket connection over to nbio's pollers
//
// Every transport pings each connection every -ping (25 s) and drops one that
// sent nothing for -ping plus 10 s. This is a spike: no limits, no TLS, no
// drain, one process; it is not part of the server and the server does not
// import it.
package main

import (
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9001", "listen `address`")
	transport := flag.String("transport", "gws", "gws, gws-workers, nbio or nbio-std")
	ping := flag.Duration("ping", 25*time.Second, "ping interval")
	flag.Parse()

	h := newHub(*ping, runtime.GOMAXPROCS(0))
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })

	var stop func()
	var err error
	switch *transport {
	case "gws":
		stop, err = serveGWS(h, mux, *addr, false)
	case "gws-workers":
		stop, err = serveGWS(h, mux, *addr, true)
	case "nbio", "nbio-std":
		stop, err = serveNBIO(h, mux, *addr, *transport == "nbio-std")
	default:
		err = fmt.Errorf("unknown -transport %q", *transport)
	}
	if err != nil {
		log.Fatal(err)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	stop()
}
