#!/usr/bin/env bash
# interop/mem-per-sa.sh: where an ikegate responder's memory per SA goes.
# Starts BIN as a responder (dataplane DP: none or userspace; IKE version
# VER, 2 by default) in a network namespace of its own on 127.0.0.1 with
# IKEGATE_PPROF=127.0.0.1:6060, negotiates N SAs with `ikegate bench --vip
# --keep` (PSK, AES-GCM-128/Curve25519, a virtual IP and one CHILD SA
# each; the set-up of interop/scale.sh), and writes to OUTDIR: the heap
# profile after a collection (heap.pb.gz, for `go tool pprof
# -sample_index=inuse_space -top -unit=B`), the runtime's MemStats before
# the handshakes (memstats0.txt), right after (1), after the forced
# collection (2) and IDLE_WAIT seconds later (3), and summary.txt: RSS and
# CPU per SA.
#
#   go build -o /tmp/ikegate ./cmd/ikegate
#   sudo GODEBUG=memprofilerate=512 interop/mem-per-sa.sh /tmp/ikegate none 5000 /tmp/mem-none
#
# GODEBUG=memprofilerate=512 samples the profile finely (slower
# handshakes: leave it out for CPU figures). Needs root (ip netns), curl
# and jq.
set -euo pipefail
# shellcheck source=interop/bench-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench-lib.sh"
BIN=$1 DP=$2 N=$3 OUT=$4 VER=${5:-2}
mkdir -p "$OUT"
NS=memsa-$$
D=$(mktemp -d /tmp/memsa-run.XXXXXX)
PID=
cleanup() { [[ -n $PID ]] && kill $PID 2>/dev/null; wait $PID 2>/dev/null; ip netns del $NS 2>/dev/null; rm -rf $D; }
trap cleanup EXIT
ip netns add $NS; ip -n $NS link set lo up
PSK=memsa-benchmark-secret-0123456789
bench_scale_config "$D" "$DP" "$VER" "$PSK" "${EXTRA_GW:-}"
IKE=$BENCH_IKE
ulimit -n "$(ulimit -Hn)"
GODEBUG=${GODEBUG:-} IKEGATE_PPROF=127.0.0.1:6060 ip netns exec $NS "$BIN" run --config $D/ikegate.toml > $OUT/ikegate.log 2>&1 &
PID=$!
for _ in $(seq 100); do [[ -S $D/ctl.sock ]] && break; sleep 0.1; done
sleep 1
HZ=$(getconf CLK_TCK)
cpu_ms() { awk -v hz="$HZ" '{sub(/^.*\) /, ""); print int(($12 + $13) * 1000 / hz)}' "/proc/$1/stat"; }
rss() { awk '/^VmRSS:/{print $2}' /proc/$1/status; }
pp() { ip netns exec $NS curl -s "http://127.0.0.1:6060/debug/pprof/$1"; }
r0=$(rss $PID); c0=$(cpu_ms $PID)
pp 'heap?debug=1' | sed -n '/^# runtime.MemStats/,$p' > $OUT/memstats0.txt
ip netns exec $NS "$BIN" bench 127.0.0.1 --version $VER --from 127.1.0.1 --ports $N --psk-file $D/psk --id '@c%d.scale' --remote-id @gw.scale --vip --ike $IKE --esp aes128gcm16 --count $N --concurrency 100 --timeout 60s --keep --json > $OUT/bench.json 2>$OUT/bench.err
r1=$(rss $PID); c1=$(cpu_ms $PID)
pp 'heap?debug=1' | sed -n '/^# runtime.MemStats/,$p' > $OUT/memstats1.txt
cat /proc/$PID/smaps_rollup > $OUT/smaps1.txt
pp 'heap?gc=1' > $OUT/heap.pb.gz
pp 'heap?debug=1' | sed -n '/^# runtime.MemStats/,$p' > $OUT/memstats2.txt
r2=$(rss $PID)
sleep ${IDLE_WAIT:-8}
r3=$(rss $PID); c3=$(cpu_ms $PID)
pp 'heap?debug=1' | sed -n '/^# runtime.MemStats/,$p' > $OUT/memstats3.txt
pp 'goroutine?debug=1' | sed -n 1p > $OUT/goroutines.txt # sed reads it all: head would end curl with SIGPIPE, and pipefail the script
est=$(jq .established $OUT/bench.json)
echo "dp=$DP v=$VER est=$est rss0=$r0 rss1=$r1 rss_after_gc=$r2 KiB; RSS/SA $(( (r1-r0)*1024/est )) B; CPU/SA $(( (c1-c0)*1000/est )) us; idle RSS/SA $(( (r3-r0)*1024/est )) B (CPU $((c3-c1)) ms incl. the forced GC); $(cat $OUT/goroutines.txt)" | tee $OUT/summary.txt
grep -E '^# (HeapAlloc|HeapSys|HeapIdle|HeapInuse|HeapReleased|StackInuse|Sys|NumGC|MSpanInuse|NextGC) ' $OUT/memstats0.txt $OUT/memstats1.txt $OUT/memstats2.txt $OUT/memstats3.txt | tee -a $OUT/summary.txt
