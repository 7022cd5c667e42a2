#!/usr/bin/env bash
# Runs the whole test suite: Go (format, vet, staticcheck, race detector, short fuzz runs),
# then the JavaScript SDK's tests, browser tests included.
#
# Browser tests need Chromium (/usr/bin/chromium, Debian's `chromium` package).
# Without it they skip with the reason printed, except under CI=true, where
# they fail. npm packages are installed from the lockfile when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

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
go test -race -count=1 -timeout 20m ./...

# Fuzz budgets are counts of inputs, not durations: with a duration, Go 1.26's fuzz
# coordinator can fail a run with "context deadline exceeded" when the time runs out
# while a worker is busy (golang/go#75804, fixed in Go 1.27). About 15 s each here.
step "fuzz the message decoder and the protocol handler"
go test -run '^$' -fuzz '^FuzzDecodeMessage$' -fuzztime "${RTB_FUZZ_DECODER_INPUTS:-100000}x" .
go test -run '^$' -fuzz '^FuzzHandle$' -fuzztime "${RTB_FUZZ_HANDLER_INPUTS:-40000}x" .

step "JavaScript SDK and browser tests"
bin_dir=$(mktemp -d)
trap 'rm -rf "$bin_dir"' EXIT
go build -o "$bin_dir/rtbroadcaster" ./cmd/rtbroadcaster
cd sdk/js
[ -d node_modules ] || npm ci --no-audit --no-fund
RTB_BINARY="$bin_dir/rtbroadcaster" npm test
