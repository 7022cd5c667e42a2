#!/usr/bin/env bash
# The scaling curves of BENCHMARKS.md ("Scaling curves"): for one room of
# 100 to 19,000 viewers, a fresh server per run, `rtbroadcaster bench -json`
# measures the deliveries/s as fast as a 64-message window allows, and the
# latency at 5 msg/s; every run also gives the server's memory once all its
# connections joined and the time they took. The reports are kept in
# docs/bench/reports/SERVER/; internal/chart/benchcharts then draws
# docs/bench/*.svg from them and prints the points as a table.
#
#   scripts/bench-sweep.sh                               # about 3 minutes
#   RTB_SWEEP_VIEWERS="100 1000" RTB_SWEEP_DURATION=2s scripts/bench-sweep.sh
#   RTB_SWEEP_SPIKE=nbio scripts/bench-sweep.sh         # also the spike's nbio server, as a second series
#
# Needs Go. Loads only 127.0.0.1.
set -euo pipefail

viewers=${RTB_SWEEP_VIEWERS:-"100 1000 3000 10000 19000"}
duration=${RTB_SWEEP_DURATION:-5s}
repeat=${RTB_SWEEP_REPEAT:-1}
spike=${RTB_SWEEP_SPIKE:-}
out=${RTB_SWEEP_OUT:-docs/bench}
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/scripts/lib/bench.sh"
bench_workdir

cd "$root"
build_rtbroadcaster "$root" "$work"
[[ -z $spike ]] || go build -o "$work/spikeserver" ./internal/spike/spikeserver
ulimit -n "$(ulimit -Hn)"

rm -rf "$out/reports"
servers=(server)
[[ -z $spike ]] || servers+=("$spike")
port=19800
for run in $(seq "$repeat"); do
	for n in $viewers; do
		for mode in max rate; do
			flags=(-rooms 1 -viewers "$n" -duration "$duration")
			[[ $mode == max ]] || flags+=(-rate 5)
			for s in "${servers[@]}"; do # side by side: each point on every server in turn
				mkdir -p "$out/reports/$s"
				port=$((port + 1))
				if [[ $s == server ]]; then
					start_rtbroadcaster "$work/rtbroadcaster" "$port" "$work/server.log"
				else
					"$work/spikeserver" -transport "$s" -addr "127.0.0.1:$port" >>"$work/server.log" 2>&1 &
					pid=$!
					wait_http "http://127.0.0.1:$port/healthz"
				fi
				echo "== $s, run $run: bench ${flags[*]}" >&2
				"$work/rtbroadcaster" bench -url "ws://127.0.0.1:$port/broadcast" -server-pid "$pid" -json -progress 60s "${flags[@]}" \
					>"$out/reports/$s/$mode-$n-$run.json"
				stop_pid "$pid"
				pid=
			done
		done
	done
done

series=(rtbroadcaster="$out/reports/server")
[[ -z $spike ]] || series+=("$spike spike=$out/reports/$spike")
go run ./internal/chart/benchcharts -out "$out" "${series[@]}"
