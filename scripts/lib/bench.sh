# Helpers shared by the bench scripts; source it (`. "$root/scripts/lib/bench.sh"`).

# build_rtbroadcaster ROOT DIR: builds the binary from ROOT into DIR/rtbroadcaster.
build_rtbroadcaster() {
	(cd "$1" && go build -o "$2/rtbroadcaster" ./cmd/rtbroadcaster)
}

# wait_http URL: waits until URL answers 2xx, 5 s at most.
wait_http() {
	for _ in $(seq 100); do
		curl -sf "$1" >/dev/null 2>&1 && return 0
		sleep 0.05
	done
	echo "no answer from $1 after 5 s" >&2
	return 1
}

# start_rtbroadcaster BIN PORT LOG [FLAGS...]: starts `BIN serve` on
# 127.0.0.1:PORT (-log-level warn, stderr to LOG), sets pid and waits for it.
start_rtbroadcaster() {
	local bin=$1 port=$2 log=$3
	shift 3
	"$bin" serve -addr "127.0.0.1:$port" -log-level warn "$@" 2>>"$log" &
	pid=$!
	wait_http "http://127.0.0.1:$port/healthz"
}

# stop_pid PID...: stops the processes and waits for them.
stop_pid() {
	kill "$@" 2>/dev/null || true
	wait "$@" 2>/dev/null || true
}

# bench_workdir: makes $work, a temporary folder, and at exit stops the
# server in $pid, if one runs, and removes the folder.
bench_workdir() {
	work=$(mktemp -d)
	pid=
	trap '[[ -z $pid ]] || stop_pid "$pid"; rm -rf "$work"' EXIT
}
