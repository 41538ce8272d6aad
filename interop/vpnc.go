package interop

// The vpnc driver: vpnc 0.5.3 (Debian bookworm), the Cisco-style IKEv1
// remote-access client, run in a lab namespace against ikegate.
//
// Facts (vpnc 0.5.3+git20220927, measured on this host):
//   - vpnc authenticates the group with Aggressive Mode, the group name
//     sent as ID_KEY_ID, and offers only XAUTHInitPreShared transforms; it
//     refuses 3DES/MD5 unless "Enable weak encryption" and uses DH group 2
//     unless told otherwise ("IKE DH Group dh14" here).
//   - It waits 30 s for the gateway's XAUTH request, then gives up. When the
//     gateway asks again after a wrong password, non-interactive vpnc has no
//     other password: it prints "entering phase2_fatal" and "noninteractive
//     can't reuse password", sends AUTHENTICATION_FAILED and a DELETE, and
//     exits with status 1 (about 100 ms after phase 1 here).
//   - Its stdout is fully buffered when it is not a terminal: run it under
//     stdbuf -oL or "VPNC started in foreground" shows only at exit.
//   - Once up it forwards everything its TUN device reads, IPv6 included:
//     the kernel's router solicitation (fe80::... -> ff02::2) when the
//     device comes up reaches the gateway as an ESP packet outside the
//     IPv4 selectors (ikegate counts it as an outside-TS drop).
//   - It runs its Script (system()) with reason=pre-init before opening its
//     TUN device, reason=connect after Mode Config and before Quick Mode,
//     reason=disconnect when it ends. The script is expected to configure
//     the TUN device; vpnc itself sets no address and no route.
//   - It does ESP itself (userspace, over its own TUN device), so traffic
//     works on a host without kernel ESP. With "NAT Traversal Mode natt" it
//     encapsulates ESP in UDP/4500 when NAT-D says there is a NAT (ikegate's
//     userspace dataplane always claims one).
//   - Its Quick Mode proposes <virtual IP>/32 === its target network,
//     0.0.0.0/0 unless "IPSEC target network" is set.
//   - The stock vpnc-script rewrites /etc/resolv.conf. The harness replaces
//     the script, and also gives the namespace its own resolv.conf
//     (/etc/netns/NS/resolv.conf, which `ip netns exec` bind-mounts over
//     /etc/resolv.conf), so the host's is never touched.

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// VPNCBin is vpnc's path (install.sh installs it).
var VPNCBin = "/usr/sbin/vpnc"

// Stdbuf is coreutils' stdbuf.
var Stdbuf = "/usr/bin/stdbuf"

// VPNCConfig is one vpnc connection.
type VPNCConfig struct {
	Gateway   string // "IPSec gateway"
	LocalAddr string // --local-addr (the client's address in its namespace)
	Group     string // "IPSec ID": the group name, sent as ID_KEY_ID
	Secret    string // "IPSec secret": the group PSK
	User      string // "Xauth username"
	Password  string // "Xauth password"
	DHGroup   string // "IKE DH Group"; default "dh14"
	PFS       string // "Perfect Forward Secrecy"; default: vpnc's ("server": what Mode Config says)
	NATTMode  string // "NAT Traversal Mode"; default "natt"
	// LocalPort is --local-port: 0 (the default) a random port; 500 as a
	// Cisco client (moving to 4500 once it floats to NAT-T).
	LocalPort int
	Extra     []string
}

// VPNC is a running vpnc.
type VPNC struct {
	NS         string
	Dir        string // private directory: config, script, recorded environments
	ConfPath   string
	ScriptPath string
	LogPath    string // vpnc's stdout and stderr, and the script's output
	PidFile    string
	Proc       *Proc
	cfg        VPNCConfig
}

// requireVPNC fails the test when vpnc is not installed.
func requireVPNC(t testing.TB) {
	t.Helper()
	for _, p := range []string{VPNCBin, Stdbuf} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("IKEGATE_INTEROP=1 but %s is missing: %v (run interop/install.sh)", p, err)
		}
	}
}

// vpncScript records what vpnc passes to its script (the whole environment,
// NUL-separated, one file per reason) and configures the TUN device the way
// vpnc-script would with ip: the virtual address, the MTU, a route per
// split-include network (or a default route when there is none), all with
// the virtual address as the source. It never touches resolv.conf.
const vpncScript = `#!/bin/sh
# written by ikegate interop harness: vpnc's Script
dir=%s
exec >>"$dir/script.log" 2>&1
echo "vpnc script: reason=$reason TUNDEV=$TUNDEV INTERNAL_IP4_ADDRESS=$INTERNAL_IP4_ADDRESS"
env -0 >"$dir/env-$reason.tmp" && mv "$dir/env-$reason.tmp" "$dir/env-$reason"
case "$reason" in
connect)
	set -e
	ip link set dev "$TUNDEV" up mtu "${INTERNAL_IP4_MTU:-1400}"
	ip addr add "$INTERNAL_IP4_ADDRESS/32" dev "$TUNDEV"
	n=${CISCO_SPLIT_INC:-0}
	if [ "$n" -gt 0 ]; then
		i=0
		while [ "$i" -lt "$n" ]; do
			eval addr=\$CISCO_SPLIT_INC_${i}_ADDR
			eval len=\$CISCO_SPLIT_INC_${i}_MASKLEN
			ip route replace "$addr/$len" dev "$TUNDEV" src "$INTERNAL_IP4_ADDRESS"
			i=$((i + 1))
		done
	else
		ip route replace default dev "$TUNDEV" src "$INTERNAL_IP4_ADDRESS"
	fi
	ip -4 addr show dev "$TUNDEV"
	ip -4 route show dev "$TUNDEV"
	;;
disconnect)
	ip link set dev "$TUNDEV" down 2>/dev/null || true
	;;
esac
echo "vpnc script: reason=$reason done"
`

// StartVPNC writes vpnc's config and script into a private directory and
// runs `vpnc --no-detach --debug 1 ... CONFIG` in namespace ns. It returns
// at once; WaitConnected waits for the tunnel.
func (l *Lab) StartVPNC(t testing.TB, ns string, cfg VPNCConfig) *VPNC {
	t.Helper()
	requireVPNC(t)
	if cfg.DHGroup == "" {
		cfg.DHGroup = "dh14"
	}
	if cfg.NATTMode == "" {
		cfg.NATTMode = "natt"
	}
	dir := shortTempDir(t, "vpnc-")
	v := &VPNC{NS: ns, Dir: dir, cfg: cfg,
		ConfPath:   filepath.Join(dir, "vpnc.conf"),
		ScriptPath: filepath.Join(dir, "script.sh"),
		LogPath:    filepath.Join(dir, "vpnc.log"),
		PidFile:    filepath.Join(dir, "vpnc.pid"),
	}
	netnsResolvConf(t, ns)
	writeFile(t, v.ScriptPath, fmt.Sprintf(vpncScript, shellQuote(dir)), 0o755)
	var b strings.Builder
	b.WriteString("# written by ikegate interop harness\n")
	line := func(k, val string) {
		if val != "" {
			fmt.Fprintf(&b, "%s %s\n", k, val)
		}
	}
	line("IPSec gateway", cfg.Gateway)
	line("IPSec ID", cfg.Group)
	line("IPSec secret", cfg.Secret)
	line("Xauth username", cfg.User)
	line("Xauth password", cfg.Password)
	line("IKE DH Group", cfg.DHGroup)
	line("Perfect Forward Secrecy", cfg.PFS)
	line("NAT Traversal Mode", cfg.NATTMode)
	line("Script", v.ScriptPath)
	line("Local Addr", cfg.LocalAddr)
	fmt.Fprintf(&b, "Local Port %d\nNo Detach\nNoninteractive\n", cfg.LocalPort)
	for _, x := range cfg.Extra {
		b.WriteString(x + "\n")
	}
	writeFile(t, v.ConfPath, b.String(), 0o600)
	t.Logf("vpnc %s config (secrets elided):\n%s", ns, elide(b.String(), cfg.Secret, cfg.Password))
	// Fact: vpnc's stdout is a file here, so stdio buffers it fully and
	// "VPNC started in foreground" shows only when vpnc exits; stdbuf
	// (coreutils, execs vpnc: same pid) makes it line-buffered.
	argv := []string{IPCmd, "netns", "exec", ns, Stdbuf, "-oL", "-eL", VPNCBin,
		"--no-detach", "--debug", "1", "--non-inter",
		"--pid-file", v.PidFile, "--local-port", fmt.Sprint(cfg.LocalPort)}
	if cfg.LocalAddr != "" {
		argv = append(argv, "--local-addr", cfg.LocalAddr)
	}
	argv = append(argv, v.ConfPath)
	v.Proc = startProc(t, "vpnc@"+ns, v.LogPath, nil, argv, filepath.Join(dir, "script.log"))
	return v
}

// netnsResolvConf gives namespace ns its own /etc/resolv.conf (removed by
// t.Cleanup): `ip netns exec` bind-mounts /etc/netns/NS/resolv.conf over
// the host's, so nothing run there can rewrite the host's file.
func netnsResolvConf(t testing.TB, ns string) {
	t.Helper()
	d := filepath.Join("/etc/netns", ns)
	writeFile(t, filepath.Join(d, "resolv.conf"), "# ikegate interop: namespace "+ns+"\n", 0o644)
	t.Cleanup(func() {
		os.RemoveAll(d)
		os.Remove("/etc/netns") // only if empty
	})
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func elide(s string, secrets ...string) string {
	for _, x := range secrets {
		if x != "" {
			s = strings.ReplaceAll(s, x, "<elided>")
		}
	}
	return s
}

// Log returns vpnc's output so far.
func (v *VPNC) Log() string {
	b, _ := os.ReadFile(v.LogPath)
	return string(b)
}

// ScriptLog returns what the script printed so far.
func (v *VPNC) ScriptLog() string {
	b, _ := os.ReadFile(filepath.Join(v.Dir, "script.log"))
	return string(b)
}

// vpncConnected is what vpnc prints (with --no-detach) once Quick Mode is
// done and it forwards traffic.
const vpncConnected = "VPNC started in foreground"

// vpncXAuthRefused are what vpnc prints when the gateway refuses its XAUTH
// credentials: a gateway that asks again gets "noninteractive can't reuse
// password" (after "entering phase2_fatal"), one that sends STATUS=0
// "authentication unsuccessful".
var vpncXAuthRefused = []string{"can't reuse password", "authentication unsuccessful"}

// XAuthRefused reports whether vpnc said its XAUTH credentials were refused.
func (v *VPNC) XAuthRefused() bool {
	log := v.Log()
	for _, s := range vpncXAuthRefused {
		if strings.Contains(log, s) {
			return true
		}
	}
	return false
}

// Connected reports whether vpnc said it is up.
func (v *VPNC) Connected() bool { return strings.Contains(v.Log(), vpncConnected) }

// WaitConnected waits until vpnc is up; it returns an error (with vpnc's
// log) when vpnc exits first or timeout passes.
func (v *VPNC) WaitConnected(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if v.Connected() {
			return nil
		}
		if v.Proc.Exited() {
			return fmt.Errorf("vpnc exited (%v) before connecting:\n%s", v.Proc.waitErr, v.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("vpnc not connected within %v:\n%s", timeout, v.Log())
}

// ExitErr is how vpnc ended (nil: still running or exit status 0).
func (v *VPNC) ExitErr() error {
	if !v.Proc.Exited() {
		return nil
	}
	return v.Proc.waitErr
}

// ScriptEnv returns the environment vpnc passed to its script for reason
// ("pre-init", "connect", "disconnect"), restricted to vpnc's own
// variables; nil if the script has not run for that reason.
func (v *VPNC) ScriptEnv(reason string) (map[string]string, error) {
	b, err := os.ReadFile(filepath.Join(v.Dir, "env-"+reason))
	if err != nil {
		return nil, err
	}
	return ParseVPNCEnv(b), nil
}

// ParseVPNCEnv parses `env -0` output and keeps vpnc's variables: reason,
// VPNGATEWAY, TUNDEV, INTERNAL_IP4_* / INTERNAL_IP6_*, CISCO_*. Values may
// span lines (the banner).
func ParseVPNCEnv(b []byte) map[string]string {
	m := map[string]string{}
	for _, kv := range bytes.Split(b, []byte{0}) {
		k, val, ok := strings.Cut(string(kv), "=")
		if !ok {
			continue
		}
		switch {
		case k == "reason", k == "VPNGATEWAY", k == "TUNDEV",
			strings.HasPrefix(k, "INTERNAL_IP4_"), strings.HasPrefix(k, "INTERNAL_IP6_"),
			strings.HasPrefix(k, "CISCO_"):
			m[k] = val
		}
	}
	return m
}

// VPNCSession is what the gateway gave vpnc by Mode Config, as vpnc passed
// it to its script.
type VPNCSession struct {
	Reason       string
	Gateway      string
	TunDev       string
	Address      netip.Addr
	Netmask      string
	DNS          []string
	NBNS         []string
	Banner       string
	DefDomain    string
	SplitDNS     string
	SplitInclude []netip.Prefix
	SplitExclude []netip.Prefix
	Env          map[string]string
}

// Session is what vpnc handed its script when it connected (its Mode
// Config result).
func (v *VPNC) Session() (*VPNCSession, error) {
	env, err := v.ScriptEnv("connect")
	if err != nil {
		return nil, fmt.Errorf("vpnc's script recorded no connect environment: %w\nscript log:\n%s", err, v.ScriptLog())
	}
	s, err := ParseVPNCSession(env)
	if err != nil {
		return nil, fmt.Errorf("vpnc's connect environment: %w\n%v", err, env)
	}
	return s, nil
}

// ParseVPNCSession interprets a script environment (ParseVPNCEnv).
func ParseVPNCSession(env map[string]string) (*VPNCSession, error) {
	s := &VPNCSession{Env: env,
		Reason: env["reason"], Gateway: env["VPNGATEWAY"], TunDev: env["TUNDEV"],
		Netmask: env["INTERNAL_IP4_NETMASK"], Banner: env["CISCO_BANNER"],
		DefDomain: env["CISCO_DEF_DOMAIN"], SplitDNS: env["CISCO_SPLIT_DNS"],
		DNS: strings.Fields(env["INTERNAL_IP4_DNS"]), NBNS: strings.Fields(env["INTERNAL_IP4_NBNS"]),
	}
	if a := env["INTERNAL_IP4_ADDRESS"]; a != "" {
		ip, err := netip.ParseAddr(a)
		if err != nil {
			return nil, fmt.Errorf("INTERNAL_IP4_ADDRESS=%q: %v", a, err)
		}
		s.Address = ip
	}
	var err error
	if s.SplitInclude, err = vpncSplit(env, "CISCO_SPLIT_INC"); err != nil {
		return nil, err
	}
	if s.SplitExclude, err = vpncSplit(env, "CISCO_SPLIT_EXC"); err != nil {
		return nil, err
	}
	return s, nil
}

// vpncSplit reads PREFIX=n and PREFIX_<i>_ADDR / _MASKLEN (or _MASK).
func vpncSplit(env map[string]string, prefix string) ([]netip.Prefix, error) {
	ns, ok := env[prefix]
	if !ok || ns == "" {
		return nil, nil
	}
	n, err := strconv.Atoi(ns)
	if err != nil {
		return nil, fmt.Errorf("%s=%q: %v", prefix, ns, err)
	}
	var out []netip.Prefix
	for i := 0; i < n; i++ {
		k := fmt.Sprintf("%s_%d_", prefix, i)
		addr, err := netip.ParseAddr(env[k+"ADDR"])
		if err != nil {
			return nil, fmt.Errorf("%sADDR=%q: %v", k, env[k+"ADDR"], err)
		}
		bits := -1
		if ml := env[k+"MASKLEN"]; ml != "" {
			bits, err = strconv.Atoi(ml)
			if err != nil {
				return nil, fmt.Errorf("%sMASKLEN=%q: %v", k, ml, err)
			}
		} else if m := env[k+"MASK"]; m != "" {
			mask, err := netip.ParseAddr(m)
			if err != nil {
				return nil, fmt.Errorf("%sMASK=%q: %v", k, m, err)
			}
			bits = maskBits(mask)
		}
		if bits < 0 {
			return nil, fmt.Errorf("%s: no mask", k)
		}
		p, err := addr.Prefix(bits)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

func maskBits(m netip.Addr) int {
	b := m.AsSlice()
	n := 0
	for _, x := range b {
		for i := 7; i >= 0; i-- {
			if x&(1<<i) == 0 {
				return n
			}
			n++
		}
	}
	return n
}

// String lists the session's values, one per line, for test logs.
func (s *VPNCSession) String() string {
	var keys []string
	for k := range s.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "  %s=%q\n", k, s.Env[k])
	}
	return b.String()
}
