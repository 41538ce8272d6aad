#!/usr/bin/env bash
# interop/test-all.sh: THE command that runs every test of ikegate.
#
#   sudo interop/test-all.sh
#
# 1. gofmt check, go vet ./..., go test ./... (unit tests; the interop lab
#    tests skip here);
# 2. as root: interop/install.sh (strongSwan, Libreswan, tshark; fast when
#    already installed), build ikegate into a temp dir, then
#    go test -count=1 -v -timeout 25m ./interop/ with IKEGATE_BIN and
#    IKEGATE_INTEROP=1 (with that set, a missing prerequisite FAILS a test).
#    Not root: a banner says the interop tests were SKIPPED, and the exit
#    status is the unit tests'.
#
# Extra arguments go to the interop `go test` (e.g. -run Smoke).
# Environment: IKEGATE_SKIP_INTEROP=1 skips step 2 even as root (loudly).
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
ROOT=$(pwd)

# sudo's secure_path usually lacks Go's directory.
if ! command -v go >/dev/null 2>&1; then
	for d in /usr/local/go/bin /usr/lib/go/bin "${SUDO_USER:+/home/$SUDO_USER/go/bin}" "$HOME/go/bin"; do
		[[ -n $d && -x $d/go ]] && PATH=$d:$PATH && break
	done
fi
command -v go >/dev/null 2>&1 || { echo "test-all.sh: go not found in PATH" >&2; exit 1; }

step() { printf '\n==== %s ====\n' "$*"; }
fail=0
t_start=$(date +%s)

step "gofmt -l ."
unformatted=$(gofmt -l . 2>&1)
if [[ -n $unformatted ]]; then
	echo "gofmt: these files need formatting (gofmt -w):"
	echo "$unformatted"
	fail=1
else
	echo "gofmt: ok"
fi

step "go vet ./..."
if ! go vet ./...; then fail=1; fi

# As root, install first: some unit tests use what it brings (openssl
# for signature cross-checks; root-only namespace tests need iproute2).
if [[ $(id -u) -eq 0 && -z ${IKEGATE_SKIP_INTEROP:-} ]]; then
	step "interop/install.sh"
	t0=$(date +%s)
	if ! bash interop/install.sh; then
		echo "test-all.sh: install.sh failed" >&2
		exit 1
	fi
	echo "install.sh took $(($(date +%s) - t0)) s"
fi

step "go test ./... (unit tests)"
# As root, install.sh brought the tools some unit tests check with
# (systemd-analyze, zsh, groff): missing ones fail those tests.
if [[ $(id -u) -eq 0 && -z ${IKEGATE_SKIP_INTEROP:-} ]]; then
	export IKEGATE_REQUIRE_TOOLS=1
fi
if ! go test ./...; then fail=1; fi
unit_fail=$fail

banner() {
	echo
	echo "################################################################################"
	for l in "$@"; do printf '##  %s\n' "$l"; done
	echo "################################################################################"
	echo
}

if [[ $(id -u) -ne 0 || -n ${IKEGATE_SKIP_INTEROP:-} ]]; then
	why="not running as root"
	[[ -n ${IKEGATE_SKIP_INTEROP:-} ]] && why="IKEGATE_SKIP_INTEROP is set"
	banner "INTEROP TESTS SKIPPED ($why)." \
		"They need root: they install strongSwan/Libreswan/tshark (interop/install.sh)" \
		"and create network namespaces. Run:  sudo interop/test-all.sh"
	echo "test-all.sh: unit status $unit_fail ($(($(date +%s) - t_start)) s)"
	exit $unit_fail
fi

step "go build ./cmd/ikegate"
BINDIR=$(mktemp -d /tmp/ikegate-bin.XXXXXX)
trap 'rm -rf "$BINDIR"' EXIT
BIN=$BINDIR/ikegate
if go build -o "$BIN" ./cmd/ikegate; then
	export IKEGATE_BIN=$BIN
	echo "built $BIN"
else
	echo "test-all.sh: go build ./cmd/ikegate failed" >&2
	exit 1
fi

step "go test -count=1 -v -timeout 25m ./interop/ (IKEGATE_INTEROP=1)"
t0=$(date +%s)
if ! IKEGATE_INTEROP=1 go test -count=1 -v -timeout 25m ./interop/ "$@"; then fail=1; fi
echo "interop tests took $(($(date +%s) - t0)) s"

# Leftovers would mean a cleanup bug (namespaces are named ikg-<id>-<role>);
# a warning only, since another run on the same host may own them.
left=$(ip netns list 2>/dev/null | awk '$1 ~ /^ikg-/ {print $1}' | tr '\n' ' ')
if [[ -n $left ]]; then
	echo "test-all.sh: WARNING: lab namespaces still present (cleanup bug, or another run): $left" >&2
fi

echo
if [[ $fail -ne 0 ]]; then
	echo "test-all.sh: FAILED ($(($(date +%s) - t_start)) s)"
else
	echo "test-all.sh: all tests passed ($(($(date +%s) - t_start)) s)"
fi
exit $fail
