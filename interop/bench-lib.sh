# interop/bench-lib.sh: what the benchmark scripts share (sourced, not
# run): Go on PATH, an ikegate build in a private directory, and one
# benchmark test of ./interop run with it.

# bench_go puts Go on PATH where the distribution or go.dev put it.
bench_go() {
	if ! command -v go >/dev/null 2>&1; then
		for d in /usr/local/go/bin /usr/lib/go/bin; do [[ -x $d/go ]] && PATH=$d:$PATH && break; done
	fi
}

# bench_run SCRIPT TEST TIMEOUT [go test args...]: builds ikegate into a
# temporary directory (removed on exit), runs the interop test TEST
# (build tag bench) with it and leaves its output in $LOG; on failure it
# prints the output's tail and exits with go test's status.
bench_run() {
	local script=$1 test=$2 timeout=$3
	shift 3
	bench_go
	BINDIR=$(mktemp -d /tmp/ikegate-bench.XXXXXX)
	trap 'rm -rf "$BINDIR"' EXIT
	go build -o "$BINDIR/ikegate" ./cmd/ikegate
	LOG=$BINDIR/bench.log
	local status=0
	IKEGATE_BIN=$BINDIR/ikegate IKEGATE_INTEROP=1 \
		go test -tags bench -count=1 -v -timeout "$timeout" -run "^$test\$" ./interop/ "$@" >"$LOG" 2>&1 || status=$?
	if [[ $status -ne 0 ]]; then
		tail -n 200 "$LOG"
		echo "$script: FAILED (go test status $status)" >&2
		exit $status
	fi
}

# bench_scale_config DIR DATAPLANE VERSION PSK [GATEWAY_LINES
# [CONNECTION_LINES]]: writes DIR/ikegate.toml and DIR/psk (mode 600) for
# the responder of scale.sh and mem-per-sa.sh: on 127.0.0.1 with its
# control socket in DIR, one connection "scale" of IKE version VERSION (1
# or 2) for any peer with the PSK, a virtual IP each from 10.64.0.0/12,
# AES-GCM-128 (IKEv2 also for IKE; IKEv1 aes128-sha256) with X25519; the
# extra lines go into [gateway] and the connection. Sets BENCH_IKE to the
# IKE proposal, for the generator.
bench_scale_config() {
	local dir=$1 dp=$2 ver=$3 psk=$4 gw=${5:-} conn=${6:-}
	if [[ $ver == 2 ]]; then BENCH_IKE=aes128gcm16-prfsha256-x25519; else BENCH_IKE=aes128-sha256-x25519; fi
	cat >"$dir/ikegate.toml" <<EOF
[gateway]
listen = ["127.0.0.1"]
dataplane = "$dp"
log_level = "warn"
control = "$dir/ctl.sock"
cookie_threshold = 1000000
$gw

[[pool]]
name = "rw"
addresses = ["10.64.0.0/12"]

[[connection]]
name = "scale"
version = "ikev$ver"
local_addr = "127.0.0.1"
remote_addr = "%any"
local_id = "@gw.scale"
auth = "psk"
psk = "$psk"
pool = "rw"
ike = ["$BENCH_IKE"]
esp = ["aes128gcm16"]
local_ts = ["0.0.0.0/0"]
$conn
EOF
	chmod 600 "$dir/ikegate.toml"
	printf '%s\n' "$psk" >"$dir/psk"
	chmod 600 "$dir/psk"
}
