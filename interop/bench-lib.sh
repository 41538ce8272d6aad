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
