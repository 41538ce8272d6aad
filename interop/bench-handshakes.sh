#!/usr/bin/env bash
# interop/bench-handshakes.sh: IKE handshake rate, latency and responder
# cost, strongSwan (charon-systemd, kernel-libipsec) versus ikegate
# (userspace dataplane, and without one), both as IKEv2 and as IKEv1
# responders with the same suite, driven by the same load generator
# (`ikegate bench`) from another namespace, in one run on this host.
#
#   sudo interop/bench-handshakes.sh                         # 2,000 handshakes per responder, 100 in flight, median of 3 runs
#   sudo IKEGATE_BENCH_RUNS=1 interop/bench-handshakes.sh    # one run each (under a minute)
#   sudo IKEGATE_BENCH_COUNT=5000 IKEGATE_BENCH_CONCURRENCY=200 interop/bench-handshakes.sh
#
# Needs what interop/install.sh installs (strongSwan with kernel-libipsec).
# Not part of test-all.sh (it takes about two minutes).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=interop/bench-lib.sh
source interop/bench-lib.sh
bench_run bench-handshakes.sh TestHandshakeBenchmark 10m "$@"
# Every run's figures, then the tables the test prints (once as its log,
# once on stdout: the latter).
grep -E '^\s+handshake_bench_test.go:[0-9]+: run: ' "$LOG" | sed 's/^ *handshake_bench_test.go:[0-9]*: run: /  /'
awk '/^IKE handshakes:/{p=1} /^(--- |PASS|ok )/{p=0} p' "$LOG"
