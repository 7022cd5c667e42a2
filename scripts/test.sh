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

step "fuzz the message decoder and the protocol handler (${RTB_FUZZTIME:=15s} each)"
go test -run '^$' -fuzz '^FuzzDecodeMessage$' -fuzztime "$RTB_FUZZTIME" .
go test -run '^$' -fuzz '^FuzzHandle$' -fuzztime "$RTB_FUZZTIME" .

step "JavaScript SDK and browser tests"
bin_dir=$(mktemp -d)
trap 'rm -rf "$bin_dir"' EXIT
go build -o "$bin_dir/rtbroadcaster" ./cmd/rtbroadcaster
cd sdk/js
[ -d node_modules ] || npm ci --no-audit --no-fund
RTB_BINARY="$bin_dir/rtbroadcaster" npm test
