#!/usr/bin/env bash
# Regenerates the results table of BENCHMARKS.md: builds the server, and for
# each scenario starts a fresh server process, runs `rtbroadcaster bench`
# against it with -server-pid, and writes the medians of the repeated runs.
#
#   scripts/bench.sh                                  # 15 s runs, 3 of each
#   RTB_BENCH_DURATION=3s RTB_BENCH_REPEAT=1 scripts/bench.sh   # a quick look
#
# Needs Go and python3. Loads only 127.0.0.1.
set -euo pipefail

duration=${RTB_BENCH_DURATION:-15s}
repeat=${RTB_BENCH_REPEAT:-3}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
server_pid=
cleanup() {
	if [[ -n $server_pid ]]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
	rm -rf "$work"
}
trap cleanup EXIT

(cd "$root" && go build -o "$work/rtbroadcaster" ./cmd/rtbroadcaster)
bin=$work/rtbroadcaster
ulimit -n "$(ulimit -Hn)"

# Each scenario: a name, then the bench flags.
scenarios=(
	"1x1000 max|-rooms 1 -viewers 1000 -duration $duration"
	"1x10000 max|-rooms 1 -viewers 10000 -duration $duration"
	"1x10000 5/s|-rooms 1 -viewers 10000 -rate 5 -duration $duration"
	"100x100 5/s|-rooms 100 -viewers 100 -rate 5 -duration $duration"
	"10000 idle|-rooms 1 -viewers 10000 -duration 0"
	"19000 held|-rooms 19 -viewers 999 -rate 1 -duration $duration"
)

port=18200
for i in "${!scenarios[@]}"; do
	name=${scenarios[$i]%%|*}
	flags=${scenarios[$i]#*|}
	for run in $(seq 1 "$repeat"); do
		port=$((port + 1)) # a new port each run: no TIME_WAIT left from the last one
		"$bin" serve -addr "127.0.0.1:$port" -log-level warn 2>"$work/server.log" &
		server_pid=$!
		for _ in $(seq 100); do
			curl -sf "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
			sleep 0.05
		done
		echo "== $name, run $run: bench $flags" >&2
		# shellcheck disable=SC2086 # flags are words
		"$bin" bench -url "ws://127.0.0.1:$port/broadcast" -server-pid "$server_pid" -json -progress 5s $flags \
			>"$work/$i-$run.json"
		kill "$server_pid"
		wait "$server_pid" 2>/dev/null || true
		server_pid=
	done
done

python3 - "$work" "$repeat" "$duration" "${#scenarios[@]}" >"$work/table.md" <<'PY'
import json, platform, statistics, subprocess, sys, datetime
work, repeat, duration, n = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
runs = [[json.load(open(f"{work}/{i}-{r}.json")) for r in range(1, repeat + 1)] for i in range(n)]
med = lambda rs, f: statistics.median(f(r) for r in rs)
cpu = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"], capture_output=True, text=True).stdout.strip()
print(f"Measured {datetime.date.today()} on {platform.node() and 'this machine'}: {cpu}, {subprocess.run(['nproc'], capture_output=True, text=True).stdout.strip()} cores, "
      f"Linux {platform.release()}, {subprocess.run(['go', 'version'], capture_output=True, text=True).stdout.split()[2]}; "
      f"medians of {repeat} run(s) of {duration}; payload {runs[0][0]['sizeBytes']} bytes of funcParams ({runs[0][0]['messageBytes']}-byte messages).\n")
print("| scenario | deliveries/s | p50 ms | p99 ms | p99.9 ms | max ms | lost / dup / reorder | cut off | server CPU | bench CPU | target |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
targets = ["≥ 900k/s", "≥ 300k/s", "p99 ≤ 50 ms", "p99 ≤ 3 ms", None, "no errors"]
labels = ["1 room × 1,000 viewers, as fast as possible", "1 room × 10,000 viewers, as fast as possible",
          "1 room × 10,000 viewers, 5 msg/s", "100 rooms × 100 viewers, 5 msg/s", None, "19 rooms × 999 viewers (19,019 connections), 1 msg/s"]
for i, rs in enumerate(runs):
    if labels[i] is None:
        continue
    bad = sum(r["lost"] + r["duplicated"] + r["outOfOrder"] for r in rs)
    print(f"| {labels[i]} | {med(rs, lambda r: r['deliveriesPerSec']):,.0f} | {med(rs, lambda r: r['latencyMs']['P50']):.2f} | "
          f"{med(rs, lambda r: r['latencyMs']['P99']):.2f} | {med(rs, lambda r: r['latencyMs']['P999']):.2f} | {med(rs, lambda r: r['latencyMs']['Max']):.1f} | "
          f"{sum(r['lost'] for r in rs)} / {sum(r['duplicated'] for r in rs)} / {sum(r['outOfOrder'] for r in rs)} (all runs) | "
          f"{sum(r['cutOff'] + r['dropped'] for r in rs)} | {med(rs, lambda r: r.get('serverCpuPercent', 0)):.0f}% | {med(rs, lambda r: r['benchCpuPercent']):.0f}% | {targets[i]} |")
idle = runs[4]
print()
print("| scenario | result | target |")
print("|---|---|---|")
print(f"| server memory per idle viewer (10,000 joined) | {med(idle, lambda r: r['serverBytesPerConn']) / 1024:.1f} KiB | ≤ 4 KiB |")
print(f"| 10,000 viewers connect and join | {med(idle, lambda r: r['connectJoinSeconds']):.2f} s | ≤ 1 s |")
print(f"| 19,019 connections: connect and join | {med(runs[5], lambda r: r['connectJoinSeconds']):.2f} s, {med(runs[5], lambda r: r['serverBytesPerConn']) / 1024:.1f} KiB each | held without errors |")
PY

# Replace what lies between the markers in BENCHMARKS.md.
python3 - "$root/BENCHMARKS.md" "$work/table.md" <<'PY'
import sys
path, table = sys.argv[1], open(sys.argv[2]).read()
doc = open(path).read()
start, end = "<!-- results:start -->\n", "<!-- results:end -->"
i, j = doc.index(start) + len(start), doc.index(end)
open(path, "w").write(doc[:i] + table + doc[j:])
PY
cat "$work/table.md"
