#!/usr/bin/env bash
# One Redis against a Redis Cluster, side by side: two server nodes share rooms on
# a fresh single redis-server, then on a fresh cluster of three masters with one
# replica each (six redis-servers), under the same load, alternately, in one run.
# Prints a table of deliveries/s, p99 and the CPU each redis-server used.
#
#   scripts/bench-redis.sh                                  # 15 s runs, 3 of each
#   RTB_BENCH_DURATION=3s RTB_BENCH_REPEAT=1 scripts/bench-redis.sh   # a quick look
#
# Needs Go, python3, redis-server and redis-cli. Loads only 127.0.0.1.
set -euo pipefail

duration=${RTB_BENCH_DURATION:-15s}
repeat=${RTB_BENCH_REPEAT:-3}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
redis_pids=()
server_pids=()
cleanup() {
	kill "${server_pids[@]}" "${redis_pids[@]}" 2>/dev/null || true
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

(cd "$root" && go build -o "$work/rtbroadcaster" ./cmd/rtbroadcaster)
bin=$work/rtbroadcaster
ulimit -n "$(ulimit -Hn)"

# start_redis PORT [ARGS...] starts a redis-server that keeps nothing on disk.
start_redis() {
	local port=$1
	shift
	mkdir -p "$work/redis-$port"
	redis-server --port "$port" --bind 127.0.0.1 --dir "$work/redis-$port" --save "" --appendonly no \
		--logfile redis.log "$@" &
	redis_pids+=($!)
	for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && return; sleep 0.05; done
	echo "redis-server on $port did not start" >&2
	exit 1
}

start_redis 17000
single="redis://127.0.0.1:17000/0"
cluster_ports=(17101 17102 17103 17104 17105 17106)
for port in "${cluster_ports[@]}"; do
	start_redis "$port" --cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout 5000 \
		--cluster-port $((port + 100))
done
redis-cli --cluster create $(printf '127.0.0.1:%s ' "${cluster_ports[@]}") --cluster-replicas 1 --cluster-yes >/dev/null
until redis-cli -p 17101 cluster info | grep -q cluster_state:ok; do sleep 0.2; done
sleep 2 # replicas sync
cluster="redis-cluster://127.0.0.1:17101,127.0.0.1:17102,127.0.0.1:17103"
# The redis-servers and their roles, for the CPU columns.
declare -A role
role[${redis_pids[0]}]=single
for i in "${!cluster_ports[@]}"; do
	if redis-cli -p "${cluster_ports[$i]}" info replication | grep -q role:master; then
		role[${redis_pids[$((i + 1))]}]=master
	else
		role[${redis_pids[$((i + 1))]}]=replica
	fi
done

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

scenarios=(
	"1 room × 1,000 viewers, as fast as possible|-rooms 1 -viewers 1000"
	"1,000 rooms × 10 viewers, as fast as a window of 4 allows|-rooms 1000 -viewers 10 -window 4"
	"1,000 rooms × 10 viewers, 5 msg/s|-rooms 1000 -viewers 10 -rate 5"
)
port=18600
for i in "${!scenarios[@]}"; do
	IFS='|' read -r name flags <<<"${scenarios[$i]}"
	for run in $(seq 1 "$repeat"); do
		for topology in single cluster; do
			url=$single
			[[ $topology == cluster ]] && url=$cluster
			urls=
			prefix="bench-$$-$port:" # one per run, shared by its two nodes
			for _ in 1 2; do
				port=$((port + 1))
				"$bin" serve -addr "127.0.0.1:$port" -log-level warn -broker "$url" \
					-redis-key-prefix "$prefix" 2>>"$work/server.log" &
				server_pids+=($!)
				ready=
				for _ in $(seq 200); do
					curl -sf "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && { ready=1; break; }
					sleep 0.05
				done
				if [[ -z $ready ]] || ! kill -0 "${server_pids[-1]}" 2>/dev/null; then
					echo "node on 127.0.0.1:$port did not become ready; its log:" >&2
					cat "$work/server.log" >&2
					exit 1
				fi
				urls=${urls:+$urls,}ws://127.0.0.1:$port/broadcast
			done
			declare -A before=()
			for pid in "${redis_pids[@]}"; do before[$pid]=$(cpu_ticks "$pid"); done
			start=$(date +%s.%N)
			echo "== $name, $topology, run $run" >&2
			# shellcheck disable=SC2086 # flags are words
			"$bin" bench -url "$urls" -json -progress 5s -duration "$duration" $flags >"$work/$i-$topology-$run.json"
			elapsed=$(echo "$(date +%s.%N) - $start" | bc)
			for pid in "${redis_pids[@]}"; do
				echo "${role[$pid]} $(( $(cpu_ticks "$pid") - ${before[$pid]} ))" 
			done | awk -v t="$elapsed" -v hz="$(getconf CLK_TCK)" '{ printf "%s %.1f\n", $1, 100 * $2 / hz / t }' \
				>"$work/$i-$topology-$run.cpu"
			kill "${server_pids[@]}" 2>/dev/null || true
			wait "${server_pids[@]}" 2>/dev/null || true
			server_pids=()
		done
	done
done

python3 - "$work" "$repeat" "$duration" "${#scenarios[@]}" "${scenarios[@]}" <<'PY'
import json, statistics, sys, datetime, subprocess
work, repeat, duration, n = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
names = [s.split("|")[0] for s in sys.argv[5:5 + n]]
med = statistics.median
def load(i, topo):
    runs = [json.load(open(f"{work}/{i}-{topo}-{r}.json")) for r in range(1, repeat + 1)]
    cpus = []
    for r in range(1, repeat + 1):
        by = {}
        for line in open(f"{work}/{i}-{topo}-{r}.cpu"):
            role, pct = line.split()
            by.setdefault(role, []).append(float(pct))
        cpus.append(by)
    return runs, cpus
def cpu_cell(cpus, topo):
    if topo == "single":
        return f"{med(c['single'][0] for c in cpus):.0f}%"
    masters = [med(c["master"][k] for c in cpus) for k in range(3)]
    replicas = [med(c["replica"][k] for c in cpus) for k in range(3)]
    return "masters " + " / ".join(f"{m:.0f}%" for m in sorted(masters, reverse=True)) + \
        ", replicas " + " / ".join(f"{m:.0f}%" for m in sorted(replicas, reverse=True))
print(f"Measured {datetime.date.today()}: medians of {repeat} run(s) of {duration}, two server nodes, "
      f"viewers spread over both, owners on both; one Redis and the cluster alternate run by run.\n")
print("| scenario | engine | deliveries/s | p50 ms | p99 ms | lost / dup / reorder | Redis CPU (% of one core) |")
print("|---|---|---|---|---|---|---|")
for i, name in enumerate(names):
    for topo, label in (("single", "one Redis"), ("cluster", "3-master cluster")):
        runs, cpus = load(i, topo)
        bad = f"{sum(r['lost'] for r in runs)} / {sum(r['duplicated'] for r in runs)} / {sum(r['outOfOrder'] for r in runs)}"
        print(f"| {name} | {label} | {med(r['deliveriesPerSec'] for r in runs):,.0f} | {med(r['latencyMs']['p50'] for r in runs):.2f} | "
              f"{med(r['latencyMs']['p99'] for r in runs):.2f} | {bad} | {cpu_cell(cpus, topo)} |")
PY
