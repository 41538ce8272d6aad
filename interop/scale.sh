#!/usr/bin/env bash
# interop/scale.sh: how many established IKEv2 SAs one ikegate holds, and
# what they cost: `ikegate bench --hold` negotiates N IKEv2 SAs (PSK,
# AES-GCM-128/Curve25519, a virtual IP and one CHILD SA each) against an
# ikegate responder (dataplane "none" by default) and keeps them up; the
# script reports the time to establish them, the responder's RSS (total
# and per SA) and CPU time while establishing, its CPU while the SAs sit
# idle, and the generator's figures.
#
#   sudo interop/scale.sh                                   # 100,000 SAs, 60 s idle
#   sudo IKEGATE_SCALE_COUNT=10000 IKEGATE_SCALE_IDLE=20 interop/scale.sh
#   sudo IKEGATE_SCALE_DPD=off interop/scale.sh             # no liveness checks
#
# Both processes run in a network namespace of their own, on loopback
# addresses: the responder on 127.0.0.1, the clients from 127.1.0.1,
# 127.1.0.2, ... (IKEGATE_SCALE_PORTS source ports each, default 8192, so
# that every client has an address and port of its own, as road warriors
# behind NATs have). Settings (environment):
#
#   IKEGATE_SCALE_COUNT        SAs (default 100000)
#   IKEGATE_SCALE_CONCURRENCY  handshakes in flight (default 200)
#   IKEGATE_SCALE_IDLE         seconds of idle CPU measurement (default 60)
#   IKEGATE_SCALE_DATAPLANE    the responder's dataplane: none (default) or userspace
#   IKEGATE_SCALE_DPD          the responder's dpd_delay: a duration, "off"
#                              (1h, the longest: no liveness check during the
#                              run), or unset: ikegate's default (30 s)
#   IKEGATE_SCALE_GOGC         the responder's GOGC (default: Go's, 100)
#   IKEGATE_SCALE_WORKERS      the responder's workers (default: one per CPU)
#   IKEGATE_SCALE_PORTS        source ports per source address (default 8192)
#   IKEGATE_BIN                a built ikegate (default: built from this tree)
#
# The responder's DoS limits are raised as a concentrator that expects
# this load would: cookie_threshold = 1000000 (every client comes from a
# few addresses, as from behind a carrier NAT). Needs root (namespace,
# file limit); not part of test-all.sh.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=interop/bench-lib.sh
source interop/bench-lib.sh
bench_go
N=${IKEGATE_SCALE_COUNT:-100000}
CONC=${IKEGATE_SCALE_CONCURRENCY:-200}
IDLE=${IKEGATE_SCALE_IDLE:-60}
DATAPLANE=${IKEGATE_SCALE_DATAPLANE:-none}
DPD=${IKEGATE_SCALE_DPD:-}
WORKERS=${IKEGATE_SCALE_WORKERS:-}
PORTS=${IKEGATE_SCALE_PORTS:-8192}
PSK=scale-benchmark-secret-0123456789

DIR=$(mktemp -d /tmp/ikegate-scale.XXXXXX)
NS=ikegate-scale-$$
GW_PID=
cleanup() {
	[[ -n $GW_PID ]] && kill "$GW_PID" 2>/dev/null && wait "$GW_PID" 2>/dev/null || true
	ip netns del "$NS" 2>/dev/null || true
	rm -rf "$DIR"
}
trap cleanup EXIT
BIN=${IKEGATE_BIN:-}
if [[ -z $BIN ]]; then
	BIN=$DIR/ikegate
	go build -o "$BIN" ./cmd/ikegate
fi
# One socket per client: a generator process holds at most PER clients
# (the open-file limit; raised as far as the hard limit allows), and
# several run side by side, each from source addresses of its own.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
PER=${IKEGATE_SCALE_PER_GENERATOR:-$((($(ulimit -n) - 1024) / PORTS * PORTS))}
[[ $PER -ge 1 ]] || { echo "scale.sh: open-file limit $(ulimit -n) too low for $PORTS ports" >&2; exit 1; }
PORTS=$((PORTS < N ? PORTS : N))
NGEN=$(((N + PER - 1) / PER))

ip netns add "$NS"
ip -n "$NS" link set lo up

dpdline=
case $DPD in
"") ;;
off) dpdline='dpd_delay = "1h"' ;; # the longest: no liveness check during the run
*) dpdline="dpd_delay = \"$DPD\"" ;;
esac
workersline=
[[ -n $WORKERS ]] && workersline="workers = $WORKERS"
bench_scale_config "$DIR" "$DATAPLANE" 2 "$PSK" "$workersline" "$dpdline"

GOGC=${IKEGATE_SCALE_GOGC:-} GODEBUG=${IKEGATE_SCALE_GODEBUG:-} ip netns exec "$NS" "$BIN" run --config "$DIR/ikegate.toml" >"$DIR/ikegate.log" 2>&1 &
GW_PID=$!
for _ in $(seq 100); do [[ -S $DIR/ctl.sock ]] && break; sleep 0.1; done
[[ -S $DIR/ctl.sock ]] || { cat "$DIR/ikegate.log"; echo "scale.sh: ikegate did not start" >&2; exit 1; }
sleep 1

HZ=$(getconf CLK_TCK)
# cpu_ms PID: utime+stime of /proc/PID/stat in milliseconds.
cpu_ms() { awk -v hz="$HZ" '{sub(/^.*\) /, ""); print int(($12 + $13) * 1000 / hz)}' "/proc/$1/stat"; }
# rss_kib PID: VmRSS in KiB.
rss_kib() { awk '/^VmRSS:/{print $2}' "/proc/$1/status"; }

rss0=$(rss_kib "$GW_PID")
cpu0=$(cpu_ms "$GW_PID")
# The generators hold their SAs until the script has measured, then are
# told to stop (SIGTERM ends a hold early, without failure).
HOLD=24h
echo "scale: $N IKEv2 SAs from $NGEN generator processes, $PORTS source ports per address, $CONC in flight in all, dataplane $DATAPLANE, dpd_delay ${DPD:-default}, GOGC ${IKEGATE_SCALE_GOGC:-default}; responder RSS at start $((rss0 / 1024)) MiB"
BENCH_PIDS=()
t0=$(date +%s.%N)
for ((g = 0; g < NGEN; g++)); do
	first=$((g * PER))
	count=$((N - first < PER ? N - first : PER))
	naddr=$(((count + PORTS - 1) / PORTS))
	from=
	for ((i = 1; i <= naddr; i++)); do from+="${from:+,}127.$((1 + g)).$((i / 256)).$((i % 256))"; done
	ip netns exec "$NS" "$BIN" bench 127.0.0.1 --from "$from" --ports "$PORTS" --psk-file "$DIR/psk" \
		--id '@c%d.scale' --remote-id @gw.scale --vip --first "$first" --count "$count" \
		--concurrency $(((CONC + NGEN - 1) / NGEN)) --timeout 60s \
		--hold "$HOLD" --keep --json >"$DIR/bench$g.json" 2>"$DIR/bench$g.err" &
	BENCH_PIDS+=($!)
done
for ((g = 0; g < NGEN; g++)); do
	until grep -q 'holding them' "$DIR/bench$g.err" 2>/dev/null; do
		if ! kill -0 "${BENCH_PIDS[g]}" 2>/dev/null; then
			cat "$DIR/bench$g.err" "$DIR/bench$g.json"
			echo "scale.sh: generator $g ended before holding its SAs" >&2
			exit 1
		fi
		sleep 0.2
	done
done
t1=$(date +%s.%N)
rss1=$(rss_kib "$GW_PID")
cpu1=$(cpu_ms "$GW_PID")
# Let the last answers and the garbage collector settle, then measure
# the idle responder.
gen_cpu_ms() {
	local sum=0 pid
	for pid in "${BENCH_PIDS[@]}"; do sum=$((sum + $(cpu_ms "$pid"))); done
	echo "$sum"
}
sleep 10
cpu2=$(cpu_ms "$GW_PID")
gcpu2=$(gen_cpu_ms)
# Two halves: the first takes the collector's one-off switch to its idle
# target (a forced collection and the heap returned, cmd/ikegate
# gctune.go), the second is the steady idle cost.
sleep $((IDLE / 2))
cpum=$(cpu_ms "$GW_PID")
sleep $((IDLE - IDLE / 2))
cpu3=$(cpu_ms "$GW_PID")
gcpu3=$(gen_cpu_ms)
rss3=$(rss_kib "$GW_PID")
load=$(cut -d' ' -f1-3 /proc/loadavg)
ip netns exec "$NS" "$BIN" stats --json --control "$DIR/ctl.sock" >"$DIR/stats.json" 2>&1 || true
# The SAs the responder still holds (its counters only grow).
held=$(ip netns exec "$NS" "$BIN" sas --json --control "$DIR/ctl.sock" 2>/dev/null |
	jq '[.[] | select(.state == "ESTABLISHED" and any(.children[]; .state == "INSTALLED"))] | length' || echo "?")
for pid in "${BENCH_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
for pid in "${BENCH_PIDS[@]}"; do wait "$pid" || true; done
cat "$DIR"/bench*.err | grep -v 'holding them' >&2 || true
# The generators' reports summed (latencies: the worst generator's).
jq -s --argjson wall "$(echo "$t1 - $t0" | bc)" '{
	count: (map(.count) | add), established: (map(.established) | add), elapsed_s: $wall,
	rate_per_s: ((map(.established) | add) / $wall),
	latency_ms: {p50: (map(.latency_ms.p50) | max), p99: (map(.latency_ms.p99) | max)},
	failures: (map(.failures // {} | to_entries) | add | group_by(.key) | map({key: .[0].key, value: (map(.value) | add)}) | from_entries),
	generator_cpu_s: (map(.generator_cpu_s) | add), generator_peak_rss_kib: (map(.generator_peak_rss_kib) | add),
	generator_cpu_us_per_sa: ((map(.generator_cpu_s) | add) * 1e6 / ([(map(.established) | add), 1] | max)),
	sockets: (map(.sockets) | add), engines: (map(.engines) | add), generators: length,
	hold_s: (map(.hold_s) | min), held: (map(.held // 0) | add), hold_generator_cpu_s: (map(.hold_generator_cpu_s // 0) | add),
	hold_datagrams_sent: (map(.hold_datagrams_sent // 0) | add), hold_datagrams_received: (map(.hold_datagrams_received // 0) | add)
}' "$DIR"/bench[0-9]*.json >"$DIR/bench.json"
est=$(jq .established "$DIR/bench.json")
[[ $est -gt 0 ]] || { cat "$DIR"/bench*.json; echo "scale.sh: nothing established" >&2; exit 1; }
jq -r --argjson rss0 "$rss0" --argjson rss1 "$rss1" --argjson rss3 "$rss3" \
	--argjson cpu0 "$cpu0" --argjson cpu1 "$cpu1" --argjson cpu2 "$cpu2" --argjson cpum "$cpum" --argjson cpu3 "$cpu3" --argjson gcpu2 "$gcpu2" --argjson gcpu3 "$gcpu3" \
	--argjson idle "$IDLE" --arg held "$held" --slurpfile st "$DIR/stats.json" '
def f(n): (n * 10 | round) / 10;
"established      \(.established) of \(.count) in \(f(.elapsed_s)) s (\(.rate_per_s | round)/s; p50 \(.latency_ms.p50) ms, p99 \(.latency_ms.p99) ms, the worst generator), failures: \(.failures // {} | tostring)",
"responder RSS    \(f(($rss1) / 1024)) MiB with the SAs (\(f($rss0 / 1024)) MiB before): \((($rss1 - $rss0) * 1024 / .established) | round) B per SA; after the idle period \(f($rss3 / 1024)) MiB, \((($rss3 - $rss0) * 1024 / .established) | round) B per SA",
"responder CPU    \(f(($cpu1 - $cpu0) / 1000)) s establishing (\((($cpu1 - $cpu0) * 1000 / .established) | round) µs per SA); idle \(f(($cpu3 - $cpu2) / 10 / $idle)) % of one CPU over \($idle) s with \(.established) SAs (\(f(($cpu3 - $cpum) / 10 / ($idle - ($idle / 2 | floor)))) % over its second half)",
"generator        CPU \(f(.generator_cpu_s)) s establishing (\(.generator_cpu_us_per_sa | round) µs per SA), peak RSS \(f(.generator_peak_rss_kib / 1024)) MiB (\((.generator_peak_rss_kib * 1024 / .established) | round) B per SA); \(.generators) processes, \(.sockets) sockets, \(.engines) engines",
"generator idle   \(f(($gcpu3 - $gcpu2) / 10 / $idle)) % of one CPU over the same \($idle) s (all processes)",
"hold             \(f(.hold_s)) s (the shortest generator): \(.held) of \(.established) SAs still up at its end; datagrams during the holds: \(.hold_datagrams_sent) sent, \(.hold_datagrams_received) received",
"responder holds  \($held) established IKE SAs with their CHILD SA at the end of the idle period",
"responder stats  IKEv2 \($st[0].ikev2 // {} | tostring); queue_full drops \($st[0].drops.queue_full // 0)"
' "$DIR/bench.json"
echo "load average     $load at the end of the idle period ($(nproc) CPUs, shared with whatever else runs)"
if [[ -s $DIR/ikegate.log ]]; then
	echo "responder log (warnings; last 5 lines of $(wc -l <"$DIR/ikegate.log")):"
	tail -n 5 "$DIR/ikegate.log"
fi
