#!/usr/bin/env bash
# rtbroadcaster and Centrifugo v6 side by side (issue 16), in the same run on
# the same machine: for each scenario, RTB_BENCH_REPEAT times, a fresh
# `rtbroadcaster serve` and a fresh Centrifugo (the order alternating run by
# run), each measured by `rtbroadcaster bench -server-pid PID -json` (with
# -target centrifugo for Centrifugo); prints a markdown table of medians.
#
#   CENTRIFUGO_BIN=/path/to/centrifugo scripts/bench-centrifugo.sh     # 15 s runs, 2 of each
#   RTB_BENCH_DURATION=3s RTB_BENCH_REPEAT=1 RTB_BENCH_BIG=1000 CENTRIFUGO_BIN=… scripts/bench-centrifugo.sh   # a quick look
#
# CENTRIFUGO_BIN is a Centrifugo v6 binary you built or downloaded; this
# script does not build it. It runs with the configuration that
# `rtbroadcaster bench -print-centrifugo-config` prints, its port set by
# CENTRIFUGO_HTTP_SERVER_PORT. RTB_BENCH_BIG (default 10000) is the viewers
# of the "10,000" scenarios; RTB_BENCH_KEEP=DIR keeps every run's report
# there (SCENARIO-SERVER-RUN.json, and both servers' server.log). Needs Go,
# curl and python3. Loads only 127.0.0.x.
set -euo pipefail

: "${CENTRIFUGO_BIN:?set CENTRIFUGO_BIN to a Centrifugo v6 binary}"
duration=${RTB_BENCH_DURATION:-15s}
repeat=${RTB_BENCH_REPEAT:-2}
big=${RTB_BENCH_BIG:-10000}
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/scripts/lib/bench.sh"
bench_workdir

build_rtbroadcaster "$root" "$work"
bin=$work/rtbroadcaster
"$bin" bench -print-centrifugo-config >"$work/centrifugo.json"
"$CENTRIFUGO_BIN" version >&2 || true
ulimit -n "$(ulimit -Hn)"

# Each scenario: a name, then the bench flags.
scenarios=(
	"1 room × 1,000 viewers, window 10: deliveries/s|-rooms 1 -viewers 1000 -window 10 -duration $duration"
	"1 × 1,000, window 64: deliveries/s|-rooms 1 -viewers 1000 -window 64 -duration $duration"
	"1 × $big, window 64: deliveries/s|-rooms 1 -viewers $big -window 64 -duration $duration"
	"1 × $big at 5 msg/s: latency|-rooms 1 -viewers $big -rate 5 -duration $duration"
	"100 rooms × 100 viewers at 5 msg/s: latency|-rooms 100 -viewers 100 -rate 5 -duration $duration"
	"$big idle viewers|-rooms 1 -viewers $big -duration 0"
)

# start SERVER PORT: starts a fresh rtbroadcaster or centrifugo on
# 127.0.0.1:PORT; sets pid and url.
start() {
	if [[ $1 == rtbroadcaster ]]; then
		start_rtbroadcaster "$bin" "$2" "$work/server.log"
		url=ws://127.0.0.1:$2/broadcast
	else
		CENTRIFUGO_HTTP_SERVER_ADDRESS=127.0.0.1 CENTRIFUGO_HTTP_SERVER_PORT=$2 \
			"$CENTRIFUGO_BIN" -c "$work/centrifugo.json" >>"$work/server.log" 2>&1 &
		pid=$!
		wait_http "http://127.0.0.1:$2/health"
		url=ws://127.0.0.1:$2/connection/websocket
	fi
}

port=19800
for s in "${!scenarios[@]}"; do
	IFS='|' read -r name flags <<<"${scenarios[$s]}"
	for run in $(seq "$repeat"); do
		order="rtbroadcaster centrifugo"
		((run % 2)) || order="centrifugo rtbroadcaster"
		for server in $order; do
			port=$((port + 1)) # a new port each run: no TIME_WAIT left from the last one
			start "$server" "$port"
			echo "== $name, run $run, $server: bench $flags" >&2
			# shellcheck disable=SC2086 # flags are words
			"$bin" bench -target "$server" -url "$url" -server-pid "$pid" -json -progress 60s \
				-source-addrs 127.0.0.2,127.0.0.3,127.0.0.4,127.0.0.5 $flags >"$work/$s-$server-$run.json"
			stop_pid "$pid"
			pid=
		done
	done
done
if [[ -n ${RTB_BENCH_KEEP:-} ]]; then
	mkdir -p "$RTB_BENCH_KEEP"
	cp "$work"/*.json "$work/server.log" "$RTB_BENCH_KEEP/"
fi

centrifugo_version=$("$CENTRIFUGO_BIN" version 2>/dev/null | head -1 || echo "Centrifugo")
python3 - "$work" "$repeat" "$duration" "$big" "$centrifugo_version" <<'PY'
import json, statistics, subprocess, sys, datetime
work, repeat, duration, big, cversion = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5]
servers = ["rtbroadcaster", "centrifugo"]
load = lambda s, t: [json.load(open(f"{work}/{s}-{t}-{r}.json")) for r in range(1, repeat + 1)]
med = lambda rs, f: statistics.median(f(r) for r in rs)
go = subprocess.run(["go", "version"], capture_output=True, text=True).stdout.split()[2]
cores = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
print(f"Measured {datetime.date.today()}, {cores} cores, {go}; {cversion}; medians of {repeat} run(s) of {duration} per server, "
      f"the servers alternating, a fresh process per run; 150-byte payloads "
      f"({load(0, 'rtbroadcaster')[0]['messageBytes']}-byte messages from rtbroadcaster, {load(0, 'centrifugo')[0]['messageBytes']}-byte pushes from Centrifugo).\n")
print("| scenario | rtbroadcaster | Centrifugo | ratio (rtbroadcaster ÷ Centrifugo) |")
print("|---|---|---|---|")
def row(label, s, f, fmt, better):
    a, b = med(load(s, "rtbroadcaster"), f), med(load(s, "centrifugo"), f)
    ratio = f"{a / b:.2f}×" if b else "n/a"
    print(f"| {label} ({better} is better) | {fmt(a)} | {fmt(b)} | {ratio} |")
rate = lambda x: f"{x:,.0f}/s"
msec = lambda x: f"{x:.2f} ms"
row("1 room × 1,000 viewers, window 10: deliveries/s", 0, lambda r: r["deliveriesPerSec"], rate, "higher")
row("1 × 1,000, window 64: deliveries/s", 1, lambda r: r["deliveriesPerSec"], rate, "higher")
row(f"1 × {big:,}, window 64: deliveries/s", 2, lambda r: r["deliveriesPerSec"], rate, "higher")
row(f"1 × {big:,} at 5 msg/s: p50", 3, lambda r: r["latencyMs"]["p50"], msec, "lower")
row(f"1 × {big:,} at 5 msg/s: p99", 3, lambda r: r["latencyMs"]["p99"], msec, "lower")
row("100 rooms × 100 viewers at 5 msg/s: p99", 4, lambda r: r["latencyMs"]["p99"], msec, "lower")
row(f"memory per idle viewer ({big:,} joined)", 5, lambda r: (r.get("serverBytesPerConn") or float("nan")) / 1024, lambda x: f"{x:.1f} KiB", "lower")
row(f"{big:,} viewers: connect + join", 5, lambda r: r["connectJoinSeconds"], lambda x: f"{x:.2f} s", "lower")
row(f"server CPU, 1 × {big:,} at 5 msg/s", 3, lambda r: r.get("serverCpuPercent", 0), lambda x: f"{x:.0f}%", "lower")
print()
for t in servers:
    rs = [r for s in range(5) for r in load(s, t)]
    print(f"{t}: lost {sum(r['lost'] for r in rs)}, duplicated {sum(r['duplicated'] for r in rs)}, "
          f"out of order {sum(r['outOfOrder'] for r in rs)}, cut off {sum(r['cutOff'] for r in rs)}, "
          f"dropped {sum(r['dropped'] for r in rs)}, owner errors {sum(r['ownerErrors'] for r in rs)} (all runs).  ")
PY
