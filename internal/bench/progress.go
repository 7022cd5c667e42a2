package bench

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// progress writes the live progress line: rewritten in place on a terminal,
// one plain line per interval otherwise.
type progress struct {
	w        io.Writer
	terminal bool
	interval time.Duration
	mu       sync.Mutex
	dirty    bool
}

func newProgress(w io.Writer, interval time.Duration) *progress {
	p := &progress{w: w, interval: interval}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			p.terminal = true
		}
	}
	return p
}

func (p *progress) printf(format string, args ...any) {
	if p.interval <= 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	line := fmt.Sprintf(format, args...)
	if p.terminal {
		fmt.Fprintf(p.w, "\r\033[K%s", line)
		p.dirty = true
		return
	}
	fmt.Fprintln(p.w, line)
}

// clear ends the line being rewritten, so the report starts on its own line.
func (p *progress) clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.dirty {
		fmt.Fprint(p.w, "\r\033[K")
		p.dirty = false
	}
}

// watch prints the run's progress every interval until the returned
// function is called.
func (p *progress) watch(b *run, start time.Time) (stop func()) {
	if p.interval <= 0 {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // prints the progress line
		defer wg.Done()
		tick := time.NewTicker(p.interval)
		defer tick.Stop()
		var last uint64
		lastAt := start
		for {
			select {
			case <-done:
				return
			case now := <-tick.C:
				var delivered, sent uint64
				for _, v := range b.viewers {
					delivered += v.delivered.Load()
				}
				for _, r := range b.rooms {
					sent += r.sent.Load()
				}
				rate := float64(delivered-last) / now.Sub(lastAt).Seconds()
				last, lastAt = delivered, now
				q := b.latency.quantiles(0.99)
				elapsed := now.Sub(start).Truncate(time.Second)
				p.printf("%v/%v  sent %d  delivered %d  %.0f/s  p99 %.2f ms", elapsed, b.cfg.duration, sent, delivered, rate, ms(q[0]))
			}
		}
	}()
	return func() { close(done); wg.Wait(); p.clear() }
}
