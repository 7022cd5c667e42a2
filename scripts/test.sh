#!/usr/bin/env bash
# Runs the whole test suite: Go (format, vet, staticcheck, race detector, short fuzz runs),
# then the JavaScript SDK's tests, browser tests included.
#
# Browser tests need Chromium (/usr/bin/chromium, Debian's `chromium` package),
# the Redis tests a Redis (RTB_TEST_REDIS_URL, default redis://127.0.0.1:6379/0).
# Without them they skip with the reason printed (the Go skips are summed up at
# the end), except under CI=true, where they fail. npm packages are installed
# from the lockfile when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

# go test prints a skipped test's reason only with -v. The tests that need a
# service (Redis: broker/redis/redistest) write each skip to $RTB_TEST_SKIPS,
# and the last lines of this script's output sum them up, failed run or not.
skips=$(mktemp)
bin_dir=
export RTB_TEST_SKIPS="$skips"
summarize_skips() {
	[ -s "$skips" ] || return 0
	step "skipped: $(wc -l <"$skips") Go tests did not run (with CI=true they fail instead)"
	awk -F'\t' '{ n[$2]++ } END { for (r in n) printf "  %d skipped: %s\n", n[r], r }' "$skips"
}
cleanup() {
	summarize_skips
	rm -f "$skips"
	[ -z "$bin_dir" ] || rm -rf "$bin_dir"
}
trap cleanup EXIT

step "gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go'))
if [ -n "$unformatted" ]; then
	echo "gofmt would change:"; echo "$unformatted"; exit 1
fi

step "go vet"
go vet ./...

step "staticcheck"
go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

step "go test -race"
go test -race -count=1 -timeout 20m -skip '^TestChurnSoak$' ./...

# The churn soak measures a load (10,000 connections, 200 rejoins a second) that the server and
# the load generator share on this machine's cores: run beside the other packages' tests it falls
# short of its own rate, so it runs alone.
step "churn soak, alone"
go test -race -count=1 -timeout 5m -run '^TestChurnSoak$' ./cmd/rtbroadcaster

# Fuzz budgets are counts of inputs, not durations: with a duration, Go 1.26's fuzz
# coordinator can fail a run with "context deadline exceeded" when the time runs out
# while a worker is busy (golang/go#75804, fixed in Go 1.27). About 15 s each here.
step "fuzz the message decoder, the protocol handler and the frame reader"
go test -run '^$' -fuzz '^FuzzDecodeMessage$' -fuzztime "${RTB_FUZZ_DECODER_INPUTS:-100000}x" ./protocol
go test -run '^$' -fuzz '^FuzzHandle$' -fuzztime "${RTB_FUZZ_HANDLER_INPUTS:-40000}x" .
go test -run '^$' -fuzz '^FuzzFrameReader$' -fuzztime "${RTB_FUZZ_FRAMES_INPUTS:-100000}x" .

step "JavaScript SDK and browser tests"
bin_dir=$(mktemp -d)
go build -o "$bin_dir/rtbroadcaster" ./cmd/rtbroadcaster
cd sdk/js
[ -d node_modules ] || npm ci --no-audit --no-fund
RTB_BINARY="$bin_dir/rtbroadcaster" npm test
