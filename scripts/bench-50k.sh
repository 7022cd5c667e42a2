#!/usr/bin/env bash
# One room with 50,000 viewers over three nodes that share rooms on Redis:
# more than one process may hold on these machines (20,000 open files each),
# so three bench processes split the viewers, one per node. The first owns the
# room and sends; the other two join it with -join and only listen, and stop
# before the owner does, so that the room's close does not end them.
#
#   scripts/bench-50k.sh                       # 30 s at 1 msg/s
#   RTB_BENCH_DURATION=60s RTB_BENCH_RATE=2 RTB_BENCH_REDIS=redis://127.0.0.1:6379/0 scripts/bench-50k.sh
#
# Needs Go, python3 and a Redis. Loads only 127.0.0.1.
set -euo pipefail

duration=${RTB_BENCH_DURATION:-30s}
rate=${RTB_BENCH_RATE:-1}
redis=${RTB_BENCH_REDIS:-redis://127.0.0.1:6379/0}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
pids=()
cleanup() {
	kill "${pids[@]}" 2>/dev/null || true
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

(cd "$root" && go build -o "$work/rtbroadcaster" ./cmd/rtbroadcaster)
bin=$work/rtbroadcaster
ulimit -n "$(ulimit -Hn)"

ports=(18501 18502 18503)
for port in "${ports[@]}"; do
	"$bin" serve -addr "127.0.0.1:$port" -broker "$redis" -redis-key-prefix "bench50k-$$:" -log-level warn 2>>"$work/server.log" &
	pids+=($!)
done
sleep 1

# The owner's run lasts 20 s longer than the listeners', who join while it sends.
owner_duration=$(( ${duration%s} + 20 ))s
"$bin" bench -url "ws://127.0.0.1:${ports[0]}/broadcast" -viewers 16666 -rate "$rate" -duration "$owner_duration" \
	-drain 10s -progress 2s -json >"$work/0.json" 2>"$work/0.log" &
owner=$!
for _ in $(seq 600); do grep -q '^room 0: ' "$work/0.log" && break; sleep 0.1; done
room=$(grep -m1 '^room 0: ' "$work/0.log" | cut -d' ' -f3)
[[ -n $room ]] || { echo "the owning run printed no room" >&2; cat "$work/0.log" >&2; exit 1; }
echo "room $room" >&2

listeners=()
for i in 1 2; do
	"$bin" bench -url "ws://127.0.0.1:${ports[$i]}/broadcast" -join "$room" -viewers 16667 -duration "$duration" \
		-progress 2s -json >"$work/$i.json" 2>"$work/$i.log" &
	listeners+=($!)
done
wait "${listeners[@]}" "$owner"

python3 - "$work" <<'PY'
import json, sys
runs = [json.load(open(f"{sys.argv[1]}/{i}.json")) for i in range(3)]
print("| bench process | node | viewers | connect+join s | deliveries | lost / dup / reorder | cut off / dropped | p50 ms | p99 ms | max ms |")
print("|---|---|---|---|---|---|---|---|---|---|")
for i, r in enumerate(runs):
    l = r["latencyMs"]
    print(f"| {'owner + viewers' if i == 0 else 'viewers (-join)'} | {i + 1} | {r['connections'] - (1 if i == 0 else 0):,} | {r['connectJoinSeconds']:.1f} | "
          f"{r['deliveries']:,} | {r['lost']} / {r['duplicated']} / {r['outOfOrder']} | {r['cutOff']} / {r['dropped']} | {l['p50']:.0f} | {l['p99']:.0f} | {l['max']:.0f} |")
print(f"\n{sum(r['connections'] for r in runs):,} connections; {runs[0]['sent']} messages sent at {runs[0]['ratePerRoom']:g} msg/s.")
PY
