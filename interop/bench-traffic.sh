#!/usr/bin/env bash
# interop/bench-traffic.sh: throughput and CPU of the userspace ESP
# dataplane, ikegate-to-ikegate versus strongSwan-libipsec-to-strongSwan-
# libipsec, AES-GCM-128, inner MTU 1400, same host, same run.
#
#   sudo interop/bench-traffic.sh            # 200 MB per transfer, 3 runs per direction
#   sudo IKEGATE_BENCH_MB=500 IKEGATE_BENCH_RUNS=5 interop/bench-traffic.sh
#   sudo IKEGATE_BENCH_FLOWS=4 interop/bench-traffic.sh   # 4 TCP connections at once
#   sudo IKEGATE_USERSPACE_QUEUES=1 interop/bench-traffic.sh # ikegate's TUN with one queue
#
# Needs what interop/install.sh installs (strongSwan with kernel-libipsec).
# Not part of test-all.sh (it takes about a minute).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=interop/bench-lib.sh
source interop/bench-lib.sh
bench_run bench-traffic.sh TestTrafficBenchmark 15m "$@"
# Every run's numbers, then the table the test prints.
grep -E '^\s+traffic_bench_test.go:[0-9]+: .* -> .*MB/s' "$LOG" | sed 's/^ *traffic_bench_test.go:[0-9]*: /  /'
sed -n '/^TCP through one tunnel/,/^CPU per GB ratio/p' "$LOG"
# The ikegate pair's TUN queues and what each read (IKEGATE_USERSPACE_QUEUES).
grep -E '^ikegate in .*: packets read per TUN queue' "$LOG" || true
