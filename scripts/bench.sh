#!/usr/bin/env bash
# Regenerates the results table of BENCHMARKS.md: builds the server, and for
# each scenario starts a fresh server process, runs `rtbroadcaster bench`
# against it with -server-pid, and writes the medians of the repeated runs.
#
#   scripts/bench.sh                                  # 15 s runs, 3 of each
#   RTB_BENCH_REDIS=redis://127.0.0.1:6379/0          # where the three-node scenarios share rooms
#   RTB_BENCH_DURATION=3s RTB_BENCH_REPEAT=1 scripts/bench.sh   # a quick look
#
# Needs Go and python3. Loads only 127.0.0.1.
set -euo pipefail

duration=${RTB_BENCH_DURATION:-15s}
repeat=${RTB_BENCH_REPEAT:-3}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
cleanup() {
	[[ ${#server_pids[@]} -eq 0 ]] || stop_servers
	rm -rf "$work"
}
trap cleanup EXIT

. "$root/scripts/lib/bench.sh"
build_rtbroadcaster "$root" "$work"
bin=$work/rtbroadcaster
ulimit -n "$(ulimit -Hn)"

# Each scenario: a name, where it runs (one: one in-memory node; three: three
# nodes sharing rooms on Redis at $RTB_BENCH_REDIS), then the bench flags.
redis=${RTB_BENCH_REDIS:-redis://127.0.0.1:6379/0}
scenarios=(
	"1x1000 max|one|-rooms 1 -viewers 1000 -duration $duration"
	"1x10000 max|one|-rooms 1 -viewers 10000 -duration $duration"
	"1x10000 5/s|one|-rooms 1 -viewers 10000 -rate 5 -duration $duration"
	"100x100 5/s|one|-rooms 100 -viewers 100 -rate 5 -duration $duration"
	"10000 idle|one|-rooms 1 -viewers 10000 -duration 0"
	"19000 held|one|-rooms 19 -viewers 999 -rate 1 -duration $duration"
	"1x999 max, one node|one|-rooms 1 -viewers 999 -duration $duration"
	"1x999 max, three nodes|three|-rooms 1 -viewers 999 -duration $duration"
	"10x99 10/s, one node|one|-rooms 10 -viewers 99 -rate 10 -duration $duration"
	"10x99 10/s, three nodes|three|-rooms 10 -viewers 99 -rate 10 -duration $duration"
)

server_pids=()
# start_servers starts the scenario's nodes on fresh ports and sets urls.
start_servers() {
	local topology=$1 count=1 flags=()
	if [[ $topology == three ]]; then
		count=3
		flags=(-broker "$redis" -redis-key-prefix "bench-$$-$port:")
	fi
	urls=
	for _ in $(seq "$count"); do
		port=$((port + 1)) # a new port each run: no TIME_WAIT left from the last one
		start_rtbroadcaster "$bin" "$port" "$work/server.log" "${flags[@]}"
		server_pids+=("$pid")
		urls=${urls:+$urls,}ws://127.0.0.1:$port/broadcast
	done
}

stop_servers() {
	stop_pid "${server_pids[@]}"
	server_pids=()
}

port=18200
for i in "${!scenarios[@]}"; do
	IFS='|' read -r name topology flags <<<"${scenarios[$i]}"
	for run in $(seq 1 "$repeat"); do
		start_servers "$topology"
		echo "== $name, run $run: bench $flags" >&2
		# shellcheck disable=SC2086 # flags are words
		"$bin" bench -url "$urls" -server-pid "${server_pids[0]}" -json -progress 5s $flags \
			>"$work/$i-$run.json"
		stop_servers
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
for i, rs in enumerate(runs[:6]):
    if labels[i] is None:
        continue
    bad = sum(r["lost"] + r["duplicated"] + r["outOfOrder"] for r in rs)
    print(f"| {labels[i]} | {med(rs, lambda r: r['deliveriesPerSec']):,.0f} | {med(rs, lambda r: r['latencyMs']['p50']):.2f} | "
          f"{med(rs, lambda r: r['latencyMs']['p99']):.2f} | {med(rs, lambda r: r['latencyMs']['p999']):.2f} | {med(rs, lambda r: r['latencyMs']['max']):.1f} | "
          f"{sum(r['lost'] for r in rs)} / {sum(r['duplicated'] for r in rs)} / {sum(r['outOfOrder'] for r in rs)} (all runs) | "
          f"{sum(r['cutOff'] + r['dropped'] for r in rs)} | {med(rs, lambda r: r.get('serverCpuPercent', 0)):.0f}% | {med(rs, lambda r: r['benchCpuPercent']):.0f}% | {targets[i]} |")
idle = runs[4]
print()
print("| scenario | result | target |")
print("|---|---|---|")
print(f"| server memory per idle viewer (10,000 joined) | {med(idle, lambda r: r.get('serverBytesPerConn', float('nan'))) / 1024:.1f} KiB | ≤ 4 KiB |")
print(f"| 10,000 viewers connect and join | {med(idle, lambda r: r['connectJoinSeconds']):.2f} s | ≤ 1 s |")
print(f"| 19,019 connections: connect and join | {med(runs[5], lambda r: r['connectJoinSeconds']):.2f} s, {med(runs[5], lambda r: r.get('serverBytesPerConn', float('nan'))) / 1024:.1f} KiB each | held without errors |")
print()
print("Several nodes (issue 5): the same load on one in-memory node and on three nodes sharing rooms on")
print("Redis, viewers spread round-robin, the owner on the first node; run side by side.")
print()
print("| scenario | one node | three nodes on Redis | ratio or difference | target |")
print("|---|---|---|---|---|")
one, three = runs[6], runs[7]
d1, d3 = med(one, lambda r: r['deliveriesPerSec']), med(three, lambda r: r['deliveriesPerSec'])
print(f"| 1 room × 999 viewers, as fast as possible | {d1:,.0f}/s | {d3:,.0f}/s | {d3 / d1:.2f}× | ≥ 0.5× |")
one, three = runs[8], runs[9]
p1, p3 = med(one, lambda r: r['latencyMs']['p99']), med(three, lambda r: r['latencyMs']['p99'])
print(f"| 10 rooms × 99 viewers, 10 msg/s: p99 | {p1:.2f} ms | {p3:.2f} ms | +{p3 - p1:.2f} ms | ≤ +5 ms |")
bad = sum(r["lost"] + r["duplicated"] + r["outOfOrder"] for rs in runs[6:] for r in rs)
print(f"| lost / duplicated / out of order, all runs above | | | {bad} | 0 |")
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
