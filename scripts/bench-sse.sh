#!/usr/bin/env bash
# Measures SSE viewers against WebSocket viewers side by side (issue 15) and
# writes the table between <!-- sse-results:start --> and <!-- sse-results:end -->
# in BENCHMARKS.md: 1 room x 1,000 viewers as fast as possible, and memory per
# idle viewer with 5,000 joined. Runs alternate WebSocket, SSE, WebSocket, ...
# each against a fresh server, so that both see the same machine.
#
#   scripts/bench-sse.sh
#   RTB_BENCH_DURATION=3s RTB_BENCH_REPEAT=1 scripts/bench-sse.sh   # a quick look
#
# Needs Go, curl and python3. Loads only 127.0.0.1.
set -euo pipefail

duration=${RTB_BENCH_DURATION:-15s}
repeat=${RTB_BENCH_REPEAT:-3}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
server_pid=
cleanup() {
	[[ -z $server_pid ]] || kill "$server_pid" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

(cd "$root" && go build -o "$work/rtbroadcaster" ./cmd/rtbroadcaster)
bin=$work/rtbroadcaster
ulimit -n "$(ulimit -Hn)"

port=18600
# run NAME TRANSPORT FLAGS...: one bench run against a fresh server.
run() {
	local name=$1 transport=$2
	shift 2
	port=$((port + 1)) # a new port each run: no TIME_WAIT left from the last one
	"$bin" serve -addr "127.0.0.1:$port" -log-level warn 2>>"$work/server.log" &
	server_pid=$!
	for _ in $(seq 100); do
		curl -sf "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
		sleep 0.05
	done
	echo "== $name: bench -transport $transport $*" >&2
	"$bin" bench -url "ws://127.0.0.1:$port/broadcast" -transport "$transport" -server-pid "$server_pid" -json -progress 5s "$@" \
		>"$work/$name.json"
	kill "$server_pid"
	wait "$server_pid" 2>/dev/null || true
	server_pid=
}

for r in $(seq 1 "$repeat"); do
	for t in websocket sse; do
		run "max-$t-$r" "$t" -rooms 1 -viewers 1000 -duration "$duration"
		run "idle-$t-$r" "$t" -rooms 1 -viewers 5000 -duration 0
	done
done

python3 - "$work" "$repeat" "$duration" >"$work/table.md" <<'PY'
import json, platform, statistics, subprocess, sys, datetime
work, repeat, duration = sys.argv[1], int(sys.argv[2]), sys.argv[3]
load = lambda kind, t: [json.load(open(f"{work}/{kind}-{t}-{r}.json")) for r in range(1, repeat + 1)]
med = lambda rs, f: statistics.median(f(r) for r in rs)
cpu = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"], capture_output=True, text=True).stdout.strip()
print(f"Measured {datetime.date.today()} on this machine: {cpu}, {subprocess.run(['nproc'], capture_output=True, text=True).stdout.strip()} cores, "
      f"Linux {platform.release()}, {subprocess.run(['go', 'version'], capture_output=True, text=True).stdout.split()[2]}; "
      f"medians of {repeat} run(s) of {duration}, WebSocket and SSE runs alternating.\n")
print("| viewers | 1 × 1,000 deliveries/s | p50 ms | p99 ms | lost / dup / reorder | cut off | server CPU | bench CPU | memory per idle viewer (5,000 joined) | 5,000 connect+join |")
print("|---|---|---|---|---|---|---|---|---|---|")
for t, label in (("websocket", "WebSocket"), ("sse", "SSE")):
    mx, idle = load("max", t), load("idle", t)
    print(f"| {label} | {med(mx, lambda r: r['deliveriesPerSec']):,.0f} | {med(mx, lambda r: r['latencyMs']['p50']):.2f} | "
          f"{med(mx, lambda r: r['latencyMs']['p99']):.2f} | {sum(r['lost'] for r in mx)} / {sum(r['duplicated'] for r in mx)} / {sum(r['outOfOrder'] for r in mx)} (all runs) | "
          f"{sum(r['cutOff'] + r['dropped'] for r in mx)} | {med(mx, lambda r: r.get('serverCpuPercent', 0)):.0f}% | {med(mx, lambda r: r['benchCpuPercent']):.0f}% | "
          f"{med(idle, lambda r: r.get('serverBytesPerConn', float('nan'))) / 1024:.1f} KiB | {med(idle, lambda r: r['connectJoinSeconds']):.2f} s |")
PY

python3 - "$root/BENCHMARKS.md" "$work/table.md" <<'PY'
import sys
path, table = sys.argv[1], open(sys.argv[2]).read()
doc = open(path).read()
start, end = "<!-- sse-results:start -->\n", "<!-- sse-results:end -->"
i, j = doc.index(start) + len(start), doc.index(end)
open(path, "w").write(doc[:i] + table + doc[j:])
PY
cat "$work/table.md"
