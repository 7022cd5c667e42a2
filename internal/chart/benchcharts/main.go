// Command benchcharts draws the scaling curves of BENCHMARKS.md from the
// JSON reports of `rtbroadcaster bench -json` that scripts/bench-sweep.sh
// collects:
//
//	go run ./internal/chart/benchcharts -out docs/bench rtbroadcaster=/tmp/sweep/server [nbio=/tmp/sweep/nbio ...]
//
// Each argument is a series: a name and a folder of reports. A report with
// ratePerRoom 0 (as fast as the window allows) gives the deliveries/s
// point of its viewers per room; one with a rate gives the p50 and p99
// points; every report gives a memory and a connect-time point at its
// number of connections. Points measured more than once are medians.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/rtbroadcaster/rtbroadcaster/internal/bench"
	"github.com/rtbroadcaster/rtbroadcaster/internal/chart"
)

func main() {
	out := flag.String("out", "docs/bench", "`folder` to write the SVG charts to")
	flag.Parse()
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: benchcharts -out DIR name=reports-folder ...")
		os.Exit(2)
	}
	if err := run(*out, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "benchcharts:", err)
		os.Exit(1)
	}
}

// samples collects values per x, to take their median.
type samples map[float64][]float64

func (s samples) add(x, y float64) { s[x] = append(s[x], y) }

func (s samples) points() []chart.Point {
	var ps []chart.Point
	for x, ys := range s {
		slices.Sort(ys)
		m := ys[len(ys)/2]
		if len(ys)%2 == 0 {
			m = (ys[len(ys)/2-1] + m) / 2
		}
		ps = append(ps, chart.Point{X: x, Y: m})
	}
	slices.SortFunc(ps, func(a, b chart.Point) int {
		switch {
		case a.X < b.X:
			return -1
		case a.X > b.X:
			return 1
		}
		return 0
	})
	return ps
}

func run(out string, args []string) error {
	throughput := chart.Chart{Title: "Deliveries/s, one room, as fast as a 64-message window allows", XLabel: "viewers in the room (log scale)", YLabel: "deliveries/s", LogX: true}
	latency := chart.Chart{Title: "Latency at 5 msg/s, one room", XLabel: "viewers in the room (log scale)", YLabel: "ms from send to receipt", LogX: true}
	memory := chart.Chart{Title: "Server memory once every connection joined (idle)", XLabel: "connections", YLabel: "RSS growth, MiB"}
	perConn := chart.Chart{Title: "Server memory per idle connection", XLabel: "connections", YLabel: "KiB per connection"}
	connect := chart.Chart{Title: "Time to connect and join every viewer (64 at a time)", XLabel: "connections", YLabel: "seconds"}
	for i, arg := range args {
		name, dir, ok := strings.Cut(arg, "=")
		if !ok {
			return fmt.Errorf("%q: want name=folder", arg)
		}
		reports, err := load(dir)
		if err != nil {
			return err
		}
		tput, p50, p99, mem, kib, conn := samples{}, samples{}, samples{}, samples{}, samples{}, samples{}
		for _, r := range reports {
			x := float64(r.ViewersPerRoom)
			if r.Rate == 0 {
				tput.add(x, r.DeliveriesPerSec)
			} else {
				p50.add(x, r.LatencyMs.P50)
				p99.add(x, r.LatencyMs.P99)
			}
			c := float64(r.Connections)
			if r.ServerRSSJoinedKiB > 0 {
				mem.add(c, float64(r.ServerRSSJoinedKiB-r.ServerRSSBeforeKiB)/1024)
			}
			if r.ServerBytesPerConn != nil {
				kib.add(c, *r.ServerBytesPerConn/1024)
			}
			conn.add(c, r.ConnectJoinSeconds)
		}
		colour := i + 1 // one colour per server, in every chart
		add := func(c *chart.Chart, label string, s samples, dashed bool) {
			if len(s) > 0 {
				c.Series = append(c.Series, chart.Series{Name: label, Points: s.points(), Colour: colour, Dashed: dashed})
			}
		}
		printTable(name, tput, p50, p99, mem, kib, conn)
		add(&throughput, name, tput, false)
		add(&latency, name+" p99", p99, false)
		add(&latency, name+" p50", p50, true)
		add(&memory, name, mem, false)
		add(&perConn, name, kib, false)
		add(&connect, name, conn, false)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	for file, c := range map[string]*chart.Chart{
		"deliveries.svg": &throughput, "latency.svg": &latency, "memory.svg": &memory,
		"memory-per-connection.svg": &perConn, "connect.svg": &connect,
	} {
		f, err := os.Create(filepath.Join(out, file))
		if err != nil {
			return err
		}
		err = c.WriteSVG(f)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
	}
	return nil
}

// load reads every *.json report in dir.
func load(dir string) ([]bench.Report, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%s: no reports", dir)
	}
	var reports []bench.Report
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		var r bench.Report
		if err := json.Unmarshal(b, &r); err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		reports = append(reports, r)
	}
	return reports, nil
}

// printTable writes the series' points as a Markdown table to stdout, one
// row per room size (the sweep has one room: connections = viewers + 1).
func printTable(name string, tput, p50, p99, mem, kib, conn samples) {
	median := func(s samples, x float64) string {
		for _, p := range s.points() {
			if p.X == x {
				return format(p.Y)
			}
		}
		return "–"
	}
	var xs []float64
	for _, p := range conn.points() {
		xs = append(xs, p.X)
	}
	fmt.Printf("%s:\n\n| viewers | connections | deliveries/s (window 64) | p50 / p99 ms at 5 msg/s | RSS growth MiB | KiB per connection | connect+join s |\n|---|---|---|---|---|---|---|\n", name)
	for _, c := range xs {
		v := c - 1
		fmt.Printf("| %.0f | %.0f | %s | %s / %s | %s | %s | %s |\n", v, c, median(tput, v), median(p50, v), median(p99, v), median(mem, c), median(kib, c), median(conn, c))
	}
	fmt.Println()
}

// format writes a table value: whole numbers past 1,000 with separators,
// smaller ones to three significant digits.
func format(v float64) string {
	if v < 1000 {
		return strconv.FormatFloat(v, 'g', 3, 64)
	}
	digits := strconv.FormatFloat(math.Round(v), 'f', 0, 64)
	var b strings.Builder
	for i, d := range digits {
		if i > 0 && (len(digits)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(d)
	}
	return b.String()
}
