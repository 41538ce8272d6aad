// Package interop is ikegate's interop lab: it runs real strongSwan 5.9.8 and
// Libreswan 4.10 peers (Debian bookworm packages) and ikegate itself inside
// network namespaces it creates, drives them through their own CLIs, captures
// the wire and checks that tshark dissects every IKE message.
//
// Run everything with `sudo interop/test-all.sh` (it installs the peers with
// interop/install.sh, builds ikegate and sets IKEGATE_BIN and
// IKEGATE_INTEROP=1). Under plain `go test ./...` the lab tests skip; with
// IKEGATE_INTEROP=1 a missing prerequisite is a test failure, never a skip.
//
// Facts about the hosts this lab runs on (no kernel ESP, so strongSwan's
// kernel-libipsec and ikegate's userspace dataplane carry traffic;
// Libreswan unpacked beside strongSwan; no dummy interfaces or netem) are
// written as comments next to the code they shaped ("Fact:").
package interop

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Addresses of the standard two-namespace lab. Only addresses inside
// namespaces the lab creates are ever used; nothing is routed out.
const (
	LeftAddr  = "10.200.0.1" // the peer (strongSwan / Libreswan)
	RightAddr = "10.200.0.2" // ikegate (or a second peer in smoke tests)
	LabPrefix = 24
	LabIface  = "lab0" // the veth end in each namespace
)

// IPv6 addresses of the lab link when the lab has IPv6 (NewLabWith with
// IPv6, NewLab6): unique local addresses (RFC 4193), used only inside the
// lab's namespaces, like the IPv4 ones.
const (
	LeftAddr6  = "fd00:200::1" // the peer
	RightAddr6 = "fd00:200::2" // ikegate
	LabPrefix6 = 64
	// MinMTU6 is IPv6's minimum link MTU (RFC 8200 5): every link carries
	// 1280-byte packets, and a host that sends no larger ones needs no
	// path MTU discovery and no fragmentation.
	MinMTU6 = 1280
)

// Paths of the tools the lab drives. install.sh puts them there.
var (
	CharonSystemd   = "/usr/sbin/charon-systemd"
	Swanctl         = "/usr/sbin/swanctl"
	LibreswanPrefix = envOr("LIBRESWAN_PREFIX", "/opt/libreswan")
	Tshark          = "/usr/bin/tshark"
	Dumpcap         = "/usr/bin/dumpcap"
	Certutil        = "/usr/bin/certutil"
	Pk12util        = "/usr/bin/pk12util"
	Openssl         = "/usr/bin/openssl"
	Unshare         = "/usr/bin/unshare"
	IPCmd           = "/sbin/ip"
)

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// libreswanBin returns the path of a Libreswan helper in the unpacked prefix.
func libreswanBin(name string) string {
	return filepath.Join(LibreswanPrefix, "usr/libexec/ipsec", name)
}

// Interop reports whether the lab is requested (IKEGATE_INTEROP=1).
func Interop() bool { return os.Getenv("IKEGATE_INTEROP") == "1" }

// RequireLab skips the test unless IKEGATE_INTEROP=1; when it is set, every
// missing prerequisite (root, a tool) fails the test: in CI the lab must
// never skip silently.
func RequireLab(t testing.TB) {
	t.Helper()
	if !Interop() {
		t.Skip("interop lab test: needs root, network namespaces and real strongSwan/Libreswan; " +
			"run `sudo interop/test-all.sh` (sets IKEGATE_INTEROP=1)")
	}
	var problems []string
	if os.Geteuid() != 0 {
		problems = append(problems, "not running as root (network namespaces need it)")
	}
	for _, p := range []string{CharonSystemd, Swanctl, Tshark, Dumpcap, Certutil, Pk12util,
		Openssl, Unshare, IPCmd, Etcd, Etcdctl, libreswanBin("pluto"), libreswanBin("whack"), libreswanBin("addconn")} {
		if _, err := os.Stat(p); err != nil {
			problems = append(problems, fmt.Sprintf("missing %s (run interop/install.sh)", p))
		}
	}
	if len(problems) > 0 {
		t.Fatalf("IKEGATE_INTEROP=1 but the lab cannot run:\n  %s", strings.Join(problems, "\n  "))
	}
}

// Lab is a set of network namespaces wired with veth pairs. The standard lab
// has Left (10.200.0.1, the peer) and Right (10.200.0.2, ikegate) on one
// /24 link; both interfaces are called lab0.
type Lab struct {
	ID    string // random suffix shared by this lab's namespaces
	Left  string // namespace names
	Right string

	mu         sync.Mutex
	namespaces []string
}

// NewLab creates the standard two-namespace lab; t.Cleanup kills every
// process the lab started (their own cleanups) and deletes the namespaces.
func NewLab(t testing.TB) *Lab {
	t.Helper()
	return NewLabWith(t, LabOptions{})
}

// LabOptions shape the standard lab's link (the zero value: IPv4 only,
// the veth's default MTU, as NewLab).
type LabOptions struct {
	// IPv6 enables IPv6 in both namespaces (EnableIPv6) and gives lab0
	// LeftAddr6 and RightAddr6 (/64).
	IPv6 bool
	// NoIPv4 leaves lab0 without LeftAddr and RightAddr: with IPv6, an
	// IPv6-only outer link, as cellular carriers give phones.
	NoIPv4 bool
	// MTU of both lab0 ends (0: the veth default, 1500), e.g. MinMTU6.
	MTU int
}

// NewLab6 is the standard lab with an IPv6-only link: Left LeftAddr6,
// Right RightAddr6, no IPv4 address on lab0 (protected subnets may still
// be IPv4: AddSubnet).
func NewLab6(t testing.TB) *Lab {
	t.Helper()
	return NewLabWith(t, LabOptions{IPv6: true, NoIPv4: true})
}

// NewLabWith creates the standard two-namespace lab shaped by o.
func NewLabWith(t testing.TB, o LabOptions) *Lab {
	t.Helper()
	RequireLab(t)
	var b [3]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	l := &Lab{ID: hex.EncodeToString(b[:])}
	l.Left = l.NewNamespace(t, "l")
	l.Right = l.NewNamespace(t, "r")
	if o.IPv6 {
		l.EnableIPv6(t, l.Left)
		l.EnableIPv6(t, l.Right)
	}
	left, right := fmt.Sprintf("%s/%d", LeftAddr, LabPrefix), fmt.Sprintf("%s/%d", RightAddr, LabPrefix)
	if o.NoIPv4 {
		left, right = "", ""
	}
	l.Link(t, l.Left, LabIface, left, l.Right, LabIface, right)
	for _, e := range []struct{ ns, addr string }{{l.Left, LeftAddr6}, {l.Right, RightAddr6}} {
		if o.MTU != 0 {
			MustRun(t, IPCmd, "-n", e.ns, "link", "set", LabIface, "mtu", fmt.Sprint(o.MTU))
		}
		if o.IPv6 {
			l.AddAddr(t, e.ns, LabIface, fmt.Sprintf("%s/%d", e.addr, LabPrefix6))
		}
	}
	return l
}

// EnableIPv6 turns IPv6 on in namespace ns (whatever the host's defaults
// for new namespaces) and duplicate address detection off, for interfaces
// there and those created later: an address is usable at once, not
// "tentative" for a second or two.
func (l *Lab) EnableIPv6(t testing.TB, ns string) {
	t.Helper()
	for _, k := range []string{"all", "default", "lo"} {
		MustRun(t, IPCmd, "netns", "exec", ns, "sysctl", "-qw",
			"net.ipv6.conf."+k+".disable_ipv6=0", "net.ipv6.conf."+k+".accept_dad=0")
	}
}

// AddAddr adds addr ("a.b.c.d/len" or an IPv6 prefix) to interface ifc of
// namespace ns; IPv6 addresses with nodad, so they are usable at once.
func (l *Lab) AddAddr(t testing.TB, ns, ifc, addr string) {
	t.Helper()
	args := []string{"-n", ns, "addr", "add", addr, "dev", ifc}
	if strings.Contains(addr, ":") {
		args = append(args, "nodad")
	}
	MustRun(t, IPCmd, args...)
}

// NewNamespace creates a namespace named ikg-<lab id>-<role> with lo up
// (e.g. a third one for a NAT router between Left and Right).
func (l *Lab) NewNamespace(t testing.TB, role string) string {
	t.Helper()
	name := fmt.Sprintf("ikg-%s-%s", l.ID, role)
	MustRun(t, IPCmd, "netns", "add", name)
	l.mu.Lock()
	l.namespaces = append(l.namespaces, name)
	l.mu.Unlock()
	t.Cleanup(func() {
		// Processes are killed by their own cleanups, registered later and
		// so run earlier. Deleting the namespace removes its veths.
		if out, err := exec.Command(IPCmd, "netns", "delete", name).CombinedOutput(); err != nil {
			t.Logf("ip netns delete %s: %v: %s", name, err, out)
		}
	})
	MustRun(t, IPCmd, "-n", name, "link", "set", "lo", "up")
	return name
}

// Link connects namespace nsA (interface ifA, address addrA as "a.b.c.d/len",
// may be empty) to nsB with a veth pair and brings both ends up.
func (l *Lab) Link(t testing.TB, nsA, ifA, addrA, nsB, ifB, addrB string) {
	t.Helper()
	MustRun(t, IPCmd, "link", "add", ifA, "netns", nsA, "type", "veth", "peer", "name", ifB, "netns", nsB)
	for _, e := range []struct{ ns, ifc, addr string }{{nsA, ifA, addrA}, {nsB, ifB, addrB}} {
		if e.addr != "" {
			l.AddAddr(t, e.ns, e.ifc, e.addr)
		}
		MustRun(t, IPCmd, "-n", e.ns, "link", "set", e.ifc, "up")
	}
}

// AddSubnet gives namespace ns a protected subnet: this host has no dummy
// interface, so it is a veth pair kept inside ns (name and name+"p"), the
// address (e.g. "10.201.0.1/24"; IPv6 ones with nodad) on the first end,
// and any further addrs (a dual-stack subnet: "fd00:201::1/64"). Traffic
// selectors can then name the subnet, and a ping from that address is
// routed through the tunnel once a dataplane exists.
func (l *Lab) AddSubnet(t testing.TB, ns, name, addr string, addrs ...string) {
	t.Helper()
	MustRun(t, IPCmd, "-n", ns, "link", "add", name, "type", "veth", "peer", "name", name+"p")
	for _, a := range append([]string{addr}, addrs...) {
		l.AddAddr(t, ns, name, a)
	}
	MustRun(t, IPCmd, "-n", ns, "link", "set", name, "up")
	MustRun(t, IPCmd, "-n", ns, "link", "set", name+"p", "up")
}

// Exec runs a command inside namespace ns and returns its combined output.
func (l *Lab) Exec(ns string, name string, args ...string) (string, error) {
	return runOut(append([]string{IPCmd, "netns", "exec", ns, name}, args...)...)
}

// MustRun runs a command (not in a namespace) and fails the test on error.
func MustRun(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := runOut(append([]string{name}, args...)...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

func runOut(argv ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var b bytes.Buffer
	cmd.Stdout, cmd.Stderr = &b, &b
	err := cmd.Run()
	return b.String(), err
}

// Proc is a long-running process started by the lab (a daemon or a capture).
type Proc struct {
	Name    string
	Cmd     *exec.Cmd
	LogPath string // where its stdout and stderr go

	done    chan struct{}
	waitErr error
}

// startProc starts argv with stdout/stderr appended to logPath, in its own
// process group. t.Cleanup stops it (SIGTERM to the group, SIGKILL after
// 3 s) and, if the test failed, dumps the tail of each file in dumpLogs.
func startProc(t testing.TB, name, logPath string, env []string, argv []string, dumpLogs ...string) *Proc {
	t.Helper()
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	f.Close()
	p := &Proc{Name: name, Cmd: cmd, LogPath: logPath, done: make(chan struct{})}
	go func() { p.waitErr = cmd.Wait(); close(p.done) }()
	t.Logf("started %s (pid %d): %s", name, cmd.Process.Pid, strings.Join(argv, " "))
	logs := append([]string{logPath}, dumpLogs...)
	t.Cleanup(func() {
		t0 := time.Now()
		p.Stop()
		if d := time.Since(t0); d > 500*time.Millisecond {
			t.Logf("stopping %s took %v", name, d.Round(time.Millisecond))
		}
		if t.Failed() {
			for _, lp := range logs {
				dumpFile(t, name, lp, 300)
			}
		}
	})
	return p
}

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Stop ends the process group: SIGTERM, then SIGKILL after 3 s. Idempotent.
func (p *Proc) Stop() {
	if p.Exited() {
		return
	}
	pgid := p.Cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(3 * time.Second):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-p.done
	}
}

// Interrupt sends SIGINT and waits up to 5 s for the process to exit (for
// captures, which flush their file on SIGINT).
func (p *Proc) Interrupt() {
	if p.Exited() {
		return
	}
	_ = p.Cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		p.Stop()
	}
}

func dumpFile(t testing.TB, name, path string, maxLines int) {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Logf("--- %s: %s: %v", name, path, err)
		return
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > maxLines {
		lines = append([]string{fmt.Sprintf("... (%d earlier lines)", len(lines)-maxLines)}, lines[len(lines)-maxLines:]...)
	}
	t.Logf("--- %s: %s ---\n%s\n--- end %s ---", name, path, strings.Join(lines, "\n"), name)
}

// WaitFor polls cond every 50 ms until it returns true or timeout passes;
// it reports whether cond came true. It does not fail the test itself.
func WaitFor(t testing.TB, timeout time.Duration, cond func() bool) bool {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// writeFile writes a config file and fails the test on error.
func writeFile(t testing.TB, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}

// shortTempDir returns a fresh directory under /tmp with a short path: unix
// socket paths are limited to 107 bytes and t.TempDir() paths of long test
// names exceed that. Removed by t.Cleanup.
func shortTempDir(t testing.TB, prefix string) string {
	t.Helper()
	d, err := os.MkdirTemp("", prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// tail is the last n lines of s (a daemon's log, for a failure message).
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
