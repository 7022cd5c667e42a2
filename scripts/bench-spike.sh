#!/usr/bin/env bash
# The transport spike of issue 16 (BENCHMARKS.md, "Transport spike"): runs
# `rtbroadcaster bench` against the server and against the spike's minimal
# fan-out servers (internal/spike/spikeserver), one transport after the
# other in each round, so that every candidate sees the same machine load,
# and writes the medians into BENCHMARKS.md between the spike markers. The
# reports stay in docs/bench/spike-reports/ (SCENARIO-TRANSPORT-ROUND.json).
#
#   scripts/bench-spike.sh                         # 3 rounds, 10 s runs: about 12 minutes
#   RTB_SPIKE_ROUNDS=1 RTB_SPIKE_DURATION=3s scripts/bench-spike.sh
#
# Needs Go and python3. Loads only 127.0.0.1.
set -euo pipefail

rounds=${RTB_SPIKE_ROUNDS:-3}
duration=${RTB_SPIKE_DURATION:-10s}
transports=${RTB_SPIKE_TRANSPORTS:-"server gws gws-workers nbio nbio-std"}
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/scripts/lib/bench.sh"
bench_workdir

build_rtbroadcaster "$root" "$work"
(cd "$root" && go build -o "$work/spikeserver" ./internal/spike/spikeserver)
ulimit -n "$(ulimit -Hn)"

scenarios=(
	"10000 5/s|-rooms 1 -viewers 10000 -rate 5 -duration $duration"
	"1000 w10|-rooms 1 -viewers 1000 -window 10 -duration $duration"
	"10000 w64|-rooms 1 -viewers 10000 -window 64 -duration $duration"
)

port=19600
for round in $(seq "$rounds"); do
	for s in "${!scenarios[@]}"; do
		IFS='|' read -r name flags <<<"${scenarios[$s]}"
		for t in $transports; do
			port=$((port + 1))
			if [[ $t == server ]]; then
				start_rtbroadcaster "$work/rtbroadcaster" "$port" "$work/server.log"
			else
				"$work/spikeserver" -transport "$t" -addr "127.0.0.1:$port" >>"$work/server.log" 2>&1 &
				pid=$!
				wait_http "http://127.0.0.1:$port/healthz"
			fi
			echo "== round $round, $name, $t: bench $flags" >&2
			# shellcheck disable=SC2086 # flags are words
			"$work/rtbroadcaster" bench -url "ws://127.0.0.1:$port/broadcast" -server-pid "$pid" -json -progress 60s $flags \
				>"$work/$s-$t-$round.json"
			stop_pid "$pid"
			pid=
		done
	done
done

# Keep every run's report, to look into a run after the fact.
rm -rf "$root/docs/bench/spike-reports"
mkdir -p "$root/docs/bench/spike-reports"
cp "$work"/*.json "$root/docs/bench/spike-reports/"

python3 - "$work" "$rounds" "$duration" "$transports" >"$work/table.md" <<'PY'
import json, statistics, subprocess, sys, datetime
work, rounds, duration, transports = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4].split()
load = lambda s, t: [json.load(open(f"{work}/{s}-{t}-{r}.json")) for r in range(1, rounds + 1)]
med = lambda rs, f: statistics.median(f(r) for r in rs)
names = {"server": "rtbroadcaster serve (today)", "gws": "(a) gws, goroutine per conn + outbox writers",
         "gws-workers": "(c′) gws, goroutine per conn + worker fan-out", "nbio": "(b) nbio, event-driven + worker fan-out",
         "nbio-std": "(b′) nbio pollers, net/http handshake + worker fan-out"}
go = subprocess.run(['go', 'version'], capture_output=True, text=True).stdout.split()[2]
print(f"Measured {datetime.date.today()}, {go}, 2 cores shared with other engineers' test runs; "
      f"{rounds} round(s), each running every transport in turn; medians; {duration} runs; 290-byte messages.\n")
print("| transport | memory per idle viewer (10,000 joined) | 10,000 connect+join s | 1 × 10,000 at 5 msg/s p50 / p99 ms | server CPU at 5 msg/s | 1 × 1,000 window 10 deliveries/s | 1 × 10,000 window 64 deliveries/s | lost / dup / reorder, cut off |")
print("|---|---|---|---|---|---|---|---|")
for t in transports:
    a, b, c = load(0, t), load(1, t), load(2, t)
    bad = sum(r["lost"] + r["duplicated"] + r["outOfOrder"] + r["cutOff"] + r["dropped"] for r in a + b + c)
    mem = med(a, lambda r: r.get("serverBytesPerConn") or float("nan")) / 1024
    each = " · ".join(f"{r['latencyMs']['p99']:.0f}" for r in a)
    print(f"| {names.get(t, t)} | {mem:.1f} KiB | {med(a, lambda r: r['connectJoinSeconds']):.2f} | "
          f"{med(a, lambda r: r['latencyMs']['p50']):.1f} / {med(a, lambda r: r['latencyMs']['p99']):.1f} (p99 runs: {each}) | "
          f"{med(a, lambda r: r.get('serverCpuPercent', 0)):.0f}% | {med(b, lambda r: r['deliveriesPerSec']):,.0f} | {med(c, lambda r: r['deliveriesPerSec']):,.0f} | {bad} |")
PY

python3 - "$root/BENCHMARKS.md" "$work/table.md" <<'PY'
import sys
path, table = sys.argv[1], open(sys.argv[2]).read()
doc = open(path).read()
start, end = "<!-- spike:start -->\n", "<!-- spike:end -->"
if start in doc:
    i, j = doc.index(start) + len(start), doc.index(end)
    open(path, "w").write(doc[:i] + table + doc[j:])
PY
cat "$work/table.md"
