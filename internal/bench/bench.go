// Package bench is the load generator of rtbroadcaster: the
// "rtbroadcaster bench" command. It opens rooms with an owner and many
// viewers each, broadcasts numbered, timestamped messages and reports how
// fast and how well they arrived.
//
// It shares the machine with the server it measures, so it is lean: one
// goroutine per connection (plus a sender per room), its own minimal
// WebSocket client that reads each frame in place, and a viewer that scans
// a frame for its two numbers instead of decoding its JSON.
package bench

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/url"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Run is the bench command: it parses args, runs the load and prints the
// report to stdout, the progress line to stderr.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	if cfg.printCentrifugo {
		_, err := io.WriteString(stdout, centrifugoConfig(cfg.centrifugoSecret))
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	b := &run{cfg: cfg, progress: newProgress(stderr, cfg.progress)}
	rep, err := b.execute(ctx)
	if rep != nil {
		if cfg.json {
			if jerr := rep.writeJSON(stdout); jerr != nil {
				return jerr
			}
		} else {
			rep.writeText(stdout)
		}
	}
	return err
}

// run is one bench run.
type run struct {
	cfg      *config
	sources  *sources
	rooms    []*room
	viewers  []*viewer
	latency  histogram
	progress *progress
	rejoins  int
}

func (b *run) urlFor(connIndex int) *url.URL { return b.cfg.urls[connIndex%len(b.cfg.urls)] }

func (b *run) execute(ctx context.Context) (*Report, error) {
	cfg := b.cfg
	limit, err := raiseOpenFiles(cfg.connections() + fdMargin)
	if err != nil {
		return nil, err
	}
	if b.sources, err = newSources(cfg.sourceAddrs, cfg.connections(), cfg.loopbackOnly(), limit); err != nil {
		return nil, err
	}
	rep := &Report{Transport: cfg.transport, Rooms: cfg.rooms, ViewersPerRoom: cfg.viewers, Rate: cfg.rate, SizeBytes: cfg.size, Connections: cfg.connections(),
		MessageBytes: len(appendMessage(nil, broadcastPrefix(zeroUUID), 1, time.Now().UnixNano(), cfg.size, ""))}
	if cfg.target == targetCentrifugo {
		rep.Target, rep.MessageBytes = targetCentrifugo, centrifugoMessageBytes(cfg.size)
	}
	if cfg.rate == 0 {
		rep.Window = cfg.window
	}
	for _, u := range cfg.urls {
		rep.Targets = append(rep.Targets, u.String())
	}
	if cfg.serverPID > 0 {
		if rep.ServerRSSBeforeKiB, err = rssKiB(cfg.serverPID); err != nil {
			return nil, fmt.Errorf("-server-pid: %w", err)
		}
	}
	defer b.closeAll()

	joinMeter := startCPUMeter(cfg.serverPID)
	start := time.Now()
	if err := b.connect(ctx); err != nil {
		return nil, err
	}
	rep.ConnectJoinSeconds = time.Since(start).Seconds()
	rep.ServerCPUJoinPct, _ = joinMeter.percent()
	rep.SourceAddrs = b.sources.addresses()
	if cfg.serverPID > 0 {
		time.Sleep(500 * time.Millisecond) // let the server's last joins settle
		rep.ServerRSSJoinedKiB, _ = rssKiB(cfg.serverPID)
		rep.ServerBytesPerConn = serverBytesPerConn(rep.ServerRSSBeforeKiB, rep.ServerRSSJoinedKiB, cfg.connections())
	}
	if cfg.duration > 0 {
		b.broadcast(ctx, rep)
	}
	return rep, nil
}

// connect creates the rooms, then opens and joins every viewer, a bounded
// number at a time, and waits until every join reply has arrived.
func (b *run) connect(ctx context.Context) error {
	cfg := b.cfg
	for i := range cfg.rooms {
		r := &room{index: i}
		b.rooms = append(b.rooms, r)
		expectFrom := uint64(1)
		if cfg.join != "" {
			r.id, r.prefix = cfg.join, broadcastPrefix(cfg.join)
			if cfg.target == targetCentrifugo {
				r.prefix = centrifugoPushPrefix(cfg.join)
			}
			expectFrom = 0 // the owner may have started: count from the first message received
		} else if err := r.create(ctx, b, i); err != nil {
			return fmt.Errorf("room %d: %w", i, err)
		} else {
			b.progress.printf("room %d: %s", i, r.id)
		}
		for j := range cfg.viewers {
			b.viewers = append(b.viewers, &viewer{index: cfg.rooms + j*cfg.rooms + i, room: r, expectFrom: expectFrom})
		}
	}
	for _, r := range b.rooms {
		r.viewers = r.viewers[:0]
	}
	for _, v := range b.viewers {
		v.room.viewers = append(v.room.viewers, v)
	}

	var joins sync.WaitGroup
	var firstErr atomic.Pointer[error]
	fail := func(err error) { firstErr.CompareAndSwap(nil, &err) }
	joined := func(err error) {
		if err != nil {
			fail(err)
		}
		joins.Done()
	}
	next := make(chan *viewer)
	var workers sync.WaitGroup
	for range min(cfg.concurrency, max(len(b.viewers), 1)) {
		workers.Add(1)
		go func() { // opens viewers' connections until there are none left
			defer workers.Done()
			for v := range next {
				if firstErr.Load() != nil {
					continue
				}
				if err := v.connect(ctx, b); err != nil {
					fail(err)
					continue
				}
				joins.Add(1)
				go v.read(b, joined) // the viewer's one goroutine
			}
		}()
	}
	for i, v := range b.viewers {
		next <- v
		if i%1000 == 999 {
			b.progress.printf("connecting: %d of %d viewers", i+1, len(b.viewers))
		}
	}
	close(next)
	workers.Wait()
	joins.Wait()
	if err := firstErr.Load(); err != nil {
		return *err
	}
	return nil
}

// broadcast sends for the configured duration, waits for what is in flight
// and fills in the report.
func (b *run) broadcast(ctx context.Context, rep *Report) {
	cfg := b.cfg
	meter := startCPUMeter(cfg.serverPID)
	sendCtx, stopSending := context.WithTimeout(ctx, cfg.duration)
	defer stopSending()
	start := time.Now()

	var senders sync.WaitGroup
	var errMu sync.Mutex
	for _, r := range b.rooms {
		senders.Add(1)
		go func() { // the room's sender
			defer senders.Done()
			if err := r.send(sendCtx, cfg, start); err != nil {
				errMu.Lock()
				rep.SenderErrors = append(rep.SenderErrors, err.Error())
				errMu.Unlock()
				stopSending()
			}
		}()
	}
	stopWatching := b.progress.watch(b, start)
	if cfg.churn > 0 {
		senders.Add(1)
		go func() { defer senders.Done(); b.churn(sendCtx, ctx) }() // rejoins random viewers
	}
	senders.Wait()
	sent := time.Since(start)
	b.drain(ctx)
	stopWatching()
	elapsed := time.Since(start)
	rep.ServerCPUPercent, rep.BenchCPUPercent = meter.percent()
	rep.SendSeconds = sent.Seconds()
	b.fill(rep, elapsed)
}

// drain waits until every viewer still connected has the last message of
// its room, or the drain time is over.
func (b *run) drain(ctx context.Context) {
	deadline := time.Now().Add(b.cfg.drain)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		behind := false
		for _, v := range b.viewers {
			if !isDone(v.done) && v.lastSeq.Load() < v.room.sent.Load() {
				behind = true
				break
			}
		}
		if !behind {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// churn closes a random viewer's connection and joins again, cfg.churn
// times a second, until ctx ends; dialCtx bounds the dials, so that one in
// flight when sending stops still completes.
func (b *run) churn(ctx, dialCtx context.Context) {
	tick := time.NewTicker(time.Duration(float64(time.Second) / b.cfg.churn))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		v := b.viewers[rand.IntN(len(b.viewers))]
		if isDone(v.done) {
			continue // it ended on its own: leave it for the report
		}
		_ = v.conn.close()
		<-v.done
		v.next, v.seen, v.expectFrom, v.err = 0, 0, 0, nil
		if err := v.connect(dialCtx, b); err != nil {
			v.err = err
			continue
		}
		b.rejoins++
		go v.read(b, func(error) {}) // the viewer's one goroutine
	}
}

// fill computes the report's delivery figures; every viewer's goroutine has ended.
func (b *run) fill(rep *Report, elapsed time.Duration) {
	for _, r := range b.rooms {
		rep.Sent += r.sent.Load()
		rep.OwnerErrors += r.ownerErrors.Load()
	}
	b.stopViewers()
	for _, v := range b.viewers {
		rep.Deliveries += v.delivered.Load()
		rep.Lost += v.lost
		rep.Duplicated += v.dups
		rep.OutOfOrder += v.reordered
		switch {
		case v.cutOff:
			rep.CutOff++
		case v.err != nil:
			rep.Dropped++
			if len(rep.ViewerErrors) < 5 {
				rep.ViewerErrors = append(rep.ViewerErrors, v.err.Error())
			}
		default:
			rep.Lost += v.missing(v.room.sent.Load())
		}
	}
	rep.Rejoins = b.rejoins
	rep.DeliveriesPerSec = float64(rep.Deliveries) / elapsed.Seconds()
	q := b.latency.quantiles(0.50, 0.90, 0.99, 0.999)
	rep.LatencyMs.P50, rep.LatencyMs.P90, rep.LatencyMs.P99, rep.LatencyMs.P999 = ms(q[0]), ms(q[1]), ms(q[2]), ms(q[3])
	rep.LatencyMs.Max = ms(time.Duration(b.latency.max.Load()))
}

// stopViewers closes every viewer's connection and waits for its goroutine;
// a viewer that had ended on its own keeps its error.
func (b *run) stopViewers() {
	for _, v := range b.viewers {
		if v.done == nil {
			continue
		}
		if isDone(v.done) {
			continue
		}
		_ = v.conn.close()
		<-v.done
		v.err = nil
	}
}

// closeAll ends every connection the run opened.
func (b *run) closeAll() {
	b.stopViewers()
	for _, r := range b.rooms {
		if r.owner != nil {
			_ = r.owner.close()
		}
		if r.ownerDone != nil {
			<-r.ownerDone
		}
	}
	b.progress.clear()
}

// zeroUUID stands for a room's id where only its length matters.
const zeroUUID = "00000000-0000-4000-8000-000000000000"

func isDone(ch chan struct{}) bool {
	if ch == nil {
		return false
	}
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
