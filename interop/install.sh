#!/usr/bin/env bash
# interop/install.sh: install the real IKE peers and tools the interop lab
# needs, on a Debian bookworm host, as root. Idempotent: when everything is
# already there it only checks and exits (well under a second).
#
# What it installs:
#   - strongSwan 5.9.8 (charon-systemd + swanctl + plugins, including the
#     extended-authentication ones: xauth-generic for strongSwan as an IKEv1
#     XAUTH client), tshark, iproute2, nftables, openssl, via apt;
#   - vpnc 0.5.3 (the Cisco-style IKEv1 remote-access client: Aggressive
#     Mode + XAUTH + Mode Config, ESP itself over its own TUN), via apt;
#   - FreeRADIUS 3.2 (freeradius, and radclient from freeradius-utils): the
#     RADIUS server of the xauth = "radius" tests, run unprivileged from a
#     private config directory (the packaged service is kept from starting);
#   - ike-scan 1.9 (with psk-crack): the Aggressive Mode group enumeration
#     and offline PSK cracking tests, via apt;
#   - Prometheus 2.42 (prometheus, with promtool): the metrics_listen test
#     scrapes ikegate with a real Prometheus server run from a private
#     config and data directory (the packaged service is kept from
#     starting) and checks the exposition with `promtool check metrics`;
#   - Libreswan 4.10 unpacked (not installed: Debian's libreswan Conflicts
#     with strongswan-libcharon) into /opt/libreswan with
#     `apt-get download libreswan` + `dpkg-deb -x`, plus its runtime
#     libraries via apt (taken from `apt-cache show libreswan` Depends).
#
# Services are kept from starting by a temporary /usr/sbin/policy-rc.d that
# exits 101 (restored afterwards). tshark's debconf question (may non-root
# users capture) is answered by DEBIAN_FRONTEND=noninteractive.
#
# Environment: LIBRESWAN_PREFIX (default /opt/libreswan);
# INTEROP_INSTALL_FORCE=1 re-runs apt even if everything looks installed.
set -euo pipefail

PREFIX=${LIBRESWAN_PREFIX:-/opt/libreswan}
export DEBIAN_FRONTEND=noninteractive

log() { echo "install.sh: $*"; }

if [[ $(id -u) -ne 0 ]]; then
	echo "install.sh: must run as root (apt-get install, /opt)" >&2
	exit 1
fi

APT_PKGS=(
	strongswan-charon strongswan-swanctl charon-systemd
	libcharon-extra-plugins libstrongswan-extra-plugins
	libstrongswan-standard-plugins
	# xauth-generic (strongSwan as an IKEv1 XAUTH client/server)
	libcharon-extauth-plugins
	# the IKEv1 remote-access client of the XAUTH/Mode Config tests
	vpnc
	# the RADIUS server (and radclient) of the xauth = "radius" tests
	freeradius freeradius-utils
	# Aggressive Mode probing and offline PSK cracking (psk-crack)
	ike-scan
	# the Prometheus server and promtool of the metrics_listen test
	prometheus
	tshark iproute2 nftables openssl
	# certutil/pk12util for Libreswan's NSS database (also a libreswan
	# dependency, listed here so the check below covers it)
	libnss3-tools
	# util-linux gives unshare (private mount namespace for pluto)
	util-linux
	# what unit tests check the packaging with: systemd-analyze verify of
	# the unit, zsh -n of the completion, groff of the man page
	systemd zsh groff-base
	# the etcd cluster of the [cluster] failover tests (etcdctl for
	# looking at its keys)
	etcd-server etcd-client
)

# Files whose presence means "installed" for the fast path.
MARKERS=(
	/usr/sbin/charon-systemd /usr/sbin/swanctl /usr/bin/tshark /usr/bin/dumpcap
	/usr/sbin/nft /usr/bin/openssl /usr/bin/certutil /usr/bin/pk12util
	/usr/bin/unshare /sbin/ip
	/usr/lib/ipsec/plugins/libstrongswan-kernel-libipsec.so
	/usr/lib/ipsec/plugins/libstrongswan-xauth-generic.so
	/usr/lib/ipsec/plugins/libstrongswan-unity.so
	/usr/sbin/vpnc
	/usr/sbin/freeradius /usr/bin/radclient
	/usr/bin/ike-scan /usr/bin/psk-crack
	/usr/bin/prometheus /usr/bin/promtool
	/usr/bin/systemd-analyze /usr/bin/zsh /usr/bin/groff
	/usr/bin/etcd /usr/bin/etcdctl
	"$PREFIX/usr/libexec/ipsec/pluto" "$PREFIX/usr/libexec/ipsec/whack"
	"$PREFIX/usr/libexec/ipsec/addconn" "$PREFIX/.deps-installed" /usr/libexec/ipsec
)

missing=()
for f in "${MARKERS[@]}"; do
	[[ -e $f ]] || missing+=("$f")
done
if [[ ${#missing[@]} -eq 0 && -z ${INTEROP_INSTALL_FORCE:-} ]]; then
	log "already installed (strongSwan, vpnc, FreeRADIUS, ike-scan, Prometheus, etcd, tshark, Libreswan in $PREFIX); nothing to do"
	exit 0
fi
log "missing: ${missing[*]:-(forced)}"

# Keep postinst scripts from starting strongswan/ipsec services.
POLICY=/usr/sbin/policy-rc.d
POLICY_BAK=""
if [[ -e $POLICY ]]; then
	POLICY_BAK=$(mktemp)
	cp -p "$POLICY" "$POLICY_BAK"
fi
restore_policy() {
	if [[ -n $POLICY_BAK ]]; then
		cp -p "$POLICY_BAK" "$POLICY" && rm -f "$POLICY_BAK"
	else
		rm -f "$POLICY"
	fi
}
trap restore_policy EXIT
printf '#!/bin/sh\n# written by ikegate interop/install.sh while installing\nexit 101\n' >"$POLICY"
chmod 755 "$POLICY"
log "wrote $POLICY (exit 101: services will not start)"

APT_OPTS=(-y -q --no-install-recommends -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)

# apt lists: update only if there are none (a fresh image may have none).
if ! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null; then
	log "apt-get update (no package lists yet)"
	apt-get update -q
fi

log "apt-get install ${APT_PKGS[*]}"
if ! apt-get install "${APT_PKGS[@]}" "${APT_OPTS[@]}"; then
	# Package lists can be present but stale (files gone from the mirror).
	log "apt-get install failed: apt-get update and retry"
	apt-get update -q
	apt-get install "${APT_PKGS[@]}" "${APT_OPTS[@]}"
fi

# Libreswan's runtime libraries: its Depends, first alternative of each,
# without version constraints, minus anything it Conflicts with or that
# conflicts with strongSwan (none today; the filter keeps it that way).
show=$(apt-cache show --no-all-versions libreswan)
field() { # field NAME: the value of a control field, continuation lines joined
	awk -v f="$1" '
		$0 ~ "^"f":" { sub("^"f":[ ]*", ""); v=$0; on=1; next }
		on && /^[ \t]/ { v=v" "$0; next }
		{ on=0 }
		END { print v }' <<<"$show"
}
pkgnames() { # "a (>= 1), b | c" -> "a b"
	tr ',' '\n' | sed -e 's/|.*//' -e 's/(.*)//' -e 's/:any//' -e 's/[[:space:]]//g' | grep -v '^$' || true
}
mapfile -t deps < <(field Depends | pkgnames)
mapfile -t conflicts < <(field Conflicts | pkgnames)
libdeps=()
for d in "${deps[@]}"; do
	skip=""
	for c in "${conflicts[@]}" strongswan-libcharon strongswan-starter; do
		[[ $d == "$c" ]] && skip=1
	done
	[[ -z $skip ]] && libdeps+=("$d")
done
log "apt-get install libreswan runtime deps: ${libdeps[*]}"
apt-get install "${libdeps[@]}" "${APT_OPTS[@]}"

if [[ ! -x $PREFIX/usr/libexec/ipsec/pluto || -n ${INTEROP_INSTALL_FORCE:-} ]]; then
	tmp=$(mktemp -d)
	chmod 755 "$tmp" # apt's _apt user downloads into it (else a warning)
	chown _apt "$tmp" 2>/dev/null || true
	log "apt-get download libreswan (into $tmp)"
	(cd "$tmp" && apt-get download -q libreswan)
	deb=$(ls "$tmp"/libreswan_*.deb)
	log "dpkg-deb -x $(basename "$deb") $PREFIX"
	mkdir -p "$PREFIX"
	dpkg-deb -x "$deb" "$PREFIX"
	dpkg-deb -f "$deb" Version >"$PREFIX/.version"
	rm -rf "$tmp"
fi
# pluto insists on /usr/libexec/ipsec/addconn: the harness bind-mounts
# $PREFIX/usr/libexec/ipsec there inside each pluto's private mount
# namespace; the (empty) mount point must exist on the host.
mkdir -p /usr/libexec/ipsec
date -u +%FT%TZ >"$PREFIX/.deps-installed"

# Sanity: the binaries run (catches a missing shared library).
log "check: strongSwan $(dpkg-query -W -f '${Version}' strongswan-charon), charon-systemd $(dpkg-query -W -f '${Version}' charon-systemd)"
log "check: $(tshark --version 2>/dev/null | head -1)"
log "check: $(/usr/sbin/vpnc --version 2>&1 | head -1)"
log "check: $(/usr/sbin/freeradius -v 2>&1 | head -1)"
log "check: $(/usr/bin/ike-scan --version 2>&1 | head -1)"
log "check: $(/usr/bin/prometheus --version 2>&1 | head -1); $(/usr/bin/promtool --version 2>&1 | head -1)"
if ! out=$(LD_LIBRARY_PATH="$PREFIX/usr/lib/x86_64-linux-gnu" "$PREFIX/usr/libexec/ipsec/pluto" --version 2>&1); then
	echo "install.sh: $PREFIX pluto does not run: $out" >&2
	exit 1
fi
log "check: pluto $out"
missing_libs=$(ldd "$PREFIX"/usr/libexec/ipsec/{pluto,whack,addconn} 2>&1 | grep 'not found' || true)
if [[ -n $missing_libs ]]; then
	echo "install.sh: Libreswan libraries missing:" >&2
	echo "$missing_libs" >&2
	exit 1
fi
log "done"
