#!/usr/bin/env bash
# interop/bench.sh: issue 13's comparisons with strongSwan in one run on
# this host, each against the peer measured in the same run: handshakes
# (responder CPU per SA, rate, latency, RSS per SA; IKEv2 and IKEv1, same
# generator, suite and count) and tunnel throughput (TCP through one
# AES-GCM-128 tunnel, both directions, CPU per GB). About five minutes on
# the 2-CPU CI host; the defaults of both scripts apply (their IKEGATE_BENCH_*
# variables too). The 100,000-SA hold is interop/scale.sh (longer).
#
#   sudo interop/bench.sh
#
# Needs what interop/install.sh installs. Not part of test-all.sh.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
start=$(date +%s)
out=$(mktemp /tmp/ikegate-bench-all.XXXXXX)
trap 'rm -f "$out"' EXIT
interop/bench-handshakes.sh | tee -a "$out"
echo
interop/bench-traffic.sh | tee -a "$out"
echo
echo "== ratios ikegate/strongSwan, same run ($(($(date +%s) - start)) s in all, $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg))"
awk '
	/^IKEv2,/ { sect = "IKEv2 handshakes" }
	/^IKEv1 / { sect = "IKEv1 handshakes" }
	/^ratio ikegate\/strongSwan/ { print sect ": " $0 " (columns: rate, p50, p99, CPU/SA, RSS/SA, idle RSS/SA)" }
	/^throughput ratio|^CPU per GB ratio/ { print "tunnel: " $0 }
' "$out"
