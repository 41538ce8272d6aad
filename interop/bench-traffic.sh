#!/usr/bin/env bash
# interop/bench-traffic.sh: throughput and CPU of the userspace ESP
# dataplane, ikegate-to-ikegate versus strongSwan-libipsec-to-strongSwan-
# libipsec, AES-GCM-128, inner MTU 1400, same host, same run.
#
#   sudo interop/bench-traffic.sh            # 200 MB per transfer, 3 runs per direction
#   sudo IKEGATE_BENCH_MB=500 IKEGATE_BENCH_RUNS=5 interop/bench-traffic.sh
#
# Needs what interop/install.sh installs (strongSwan with kernel-libipsec).
# Not part of test-all.sh (it takes about a minute).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if ! command -v go >/dev/null 2>&1; then
	for d in /usr/local/go/bin /usr/lib/go/bin; do [[ -x $d/go ]] && PATH=$d:$PATH && break; done
fi
BINDIR=$(mktemp -d /tmp/ikegate-bench.XXXXXX)
trap 'rm -rf "$BINDIR"' EXIT
go build -o "$BINDIR/ikegate" ./cmd/ikegate
LOG=$BINDIR/bench.log
status=0
IKEGATE_BIN=$BINDIR/ikegate IKEGATE_INTEROP=1 \
	go test -tags bench -count=1 -v -timeout 15m -run '^TestTrafficBenchmark$' ./interop/ "$@" >"$LOG" 2>&1 || status=$?
if [[ $status -ne 0 ]]; then
	tail -n 200 "$LOG"
	echo "bench-traffic.sh: FAILED (go test status $status)" >&2
	exit $status
fi
# Every run's numbers, then the table the test prints.
grep -E '^\s+traffic_bench_test.go:[0-9]+: .* -> .*MB/s' "$LOG" | sed 's/^ *traffic_bench_test.go:[0-9]*: /  /'
sed -n '/^TCP through one tunnel/,/^CPU per GB ratio/p' "$LOG"
