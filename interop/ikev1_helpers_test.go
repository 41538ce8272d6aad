package interop

// Helpers of the IKEv1 interop tests (ikev1_*_test.go). They are prefixed
// v1 so they never collide with the IKEv2 tests' helpers in the same
// package, and they use only the lab's own API (lab.go, strongswan.go,
// libreswan.go, ikegate.go, capture.go).

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// v1Pair is one address pair of a lab link: Peer on the peer's side, Gate
// on ikegate's. Every case of a test gets its own pair, so each daemon
// picks the case's connection by address alone and cases never share an
// ISAKMP SA, a secret or a policy.
type v1Pair struct{ Peer, Gate string }

// v1AddPairs adds n address pairs 10.200.0.<base+i> (peer side, in ns
// peerNS) and 10.200.0.<base+100+i> (ikegate side, in gateNS) on the lab
// link before any daemon starts.
func v1AddPairs(t *testing.T, peerNS, gateNS string, base, n int) []v1Pair {
	t.Helper()
	var ps []v1Pair
	for i := 0; i < n; i++ {
		p := v1Pair{fmt.Sprintf("10.200.0.%d", base+i), fmt.Sprintf("10.200.0.%d", base+100+i)}
		MustRun(t, IPCmd, "-n", peerNS, "addr", "add", p.Peer+"/24", "dev", LabIface)
		MustRun(t, IPCmd, "-n", gateNS, "addr", "add", p.Gate+"/24", "dev", LabIface)
		ps = append(ps, p)
	}
	return ps
}

func v1GateAddrs(ps []v1Pair) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Gate)
	}
	return out
}

// v1PeerSubnets gives namespace ns the protected subnets 10.<net>.<i>.1/24
// for i in idx. Fact (see the IKEv2 tests too): strongSwan's
// kernel-libipsec installs a route per CHILD SA and needs a local address
// inside the local traffic selector; host-to-host selectors on the IKE
// addresses are refused ("conflicts with IKE traffic").
func v1PeerSubnets(t *testing.T, lab *Lab, ns string, net int, idx []int) {
	t.Helper()
	for _, i := range idx {
		lab.AddSubnet(t, ns, fmt.Sprintf("v1s%d", i), fmt.Sprintf("10.%d.%d.1/24", net, i))
	}
}

// v1PSKConn is an IKEv1 PSK connection as the peer sees it, on pair p,
// protecting 10.211.<i>.0/24 (peer) === 10.212.<i>.0/24 (ikegate).
func v1PSKConn(name string, i int, p v1Pair, ike, esp string) Conn {
	return Conn{
		Name: name, Version: 1,
		LocalAddr: p.Peer, RemoteAddr: p.Gate,
		LocalID: "@peer-" + name + ".lab", RemoteID: "@gate-" + name + ".lab",
		Auth: "psk", PSK: "ikev1-interop-" + name + "-0123456789",
		IKE: []string{ike}, ESP: []string{esp},
		LocalTS:  []string{fmt.Sprintf("10.211.%d.0/24", i)},
		RemoteTS: []string{fmt.Sprintf("10.212.%d.0/24", i)},
	}
}

// v1GatewayTOML renders ikegate's config for conns with short
// retransmissions (gateway.retransmit_tries / retransmit_timeout), so a
// peer that never answers fails a case in about 3 s instead of 31 s.
func v1GatewayTOML(listen []string, conns ...Conn) string {
	toml := IkegateTOML(IkegateGateway{Listen: listen}, conns...)
	return strings.Replace(toml, "[gateway]\n", "[gateway]\nretransmit_tries = 2\nretransmit_timeout = \"1s\"\n", 1)
}

// v1SwanExtra is the strongswan.conf text of the IKEv1 tests: Aggressive
// Mode PSK allowed as responder, and short retransmissions (tries 2,
// timeout 1 s, base 1: strongSwan gives up after about 3 s) so failed cases
// end on strongSwan's side too within the test.
const v1SwanExtra = `i_dont_care_about_security_and_use_aggressive_mode_psk = yes
retransmit_tries = 2
retransmit_timeout = 1.0
retransmit_base = 1.0`

// v1GateSA is ikegate's view of one IKE SA, with the fields the IKEv1
// tests need beyond IkegateSA.
type v1GateSA struct {
	IkegateSA
	PeerVendor string `json:"peer_vendor"`
}

// v1SAs returns `ikegate sas --json` with peer_vendor.
func v1SAs(g *Ikegate) ([]v1GateSA, error) {
	out, err := g.lab.Exec(g.NS, g.Bin, "sas", "--json", "--control", g.Control)
	if err != nil {
		return nil, fmt.Errorf("ikegate sas --json: %v: %s", err, out)
	}
	s := strings.TrimSpace(out)
	if s == "" || s == "null" {
		return nil, nil
	}
	if strings.HasPrefix(s, "{") {
		var w struct {
			SAs []v1GateSA `json:"sas"`
		}
		err := json.Unmarshal([]byte(s), &w)
		return w.SAs, err
	}
	var sas []v1GateSA
	if err := json.Unmarshal([]byte(s), &sas); err != nil {
		return nil, fmt.Errorf("ikegate sas --json: %v: %q", err, s)
	}
	return sas, nil
}

// v1GateNamed returns ikegate's IKE SAs of connection name.
func v1GateNamed(g *Ikegate, name string) []v1GateSA {
	sas, _ := v1SAs(g)
	var out []v1GateSA
	for _, sa := range sas {
		if sa.Name == name {
			out = append(out, sa)
		}
	}
	return out
}

// v1WaitGate polls ikegate until an IKE SA of name satisfies cond.
func v1WaitGate(t *testing.T, g *Ikegate, name string, timeout time.Duration, cond func(*v1GateSA) bool) *v1GateSA {
	t.Helper()
	var last []v1GateSA
	var found *v1GateSA
	if !WaitFor(t, timeout, func() bool {
		sas, err := v1SAs(g)
		if err != nil {
			return false
		}
		last = sas
		for i := range sas {
			if sas[i].Name == name && cond(&sas[i]) {
				found = &sas[i]
				return true
			}
		}
		return false
	}) {
		t.Fatalf("ikegate: no IKE SA of %q in the expected state within %v; sas: %+v", name, timeout, last)
	}
	return found
}

// v1Settled: ESTABLISHED, IKEv1, with at least n children none CREATING.
func v1Settled(n int) func(*v1GateSA) bool {
	return func(sa *v1GateSA) bool {
		if sa.State != "ESTABLISHED" || sa.Version != 1 || len(sa.Children) < n {
			return false
		}
		for _, c := range sa.Children {
			if c.State == "CREATING" {
				return false
			}
		}
		return true
	}
}

// v1WaitNoGate polls until ikegate lists no IKE SA of name.
func v1WaitNoGate(t *testing.T, g *Ikegate, name string, timeout time.Duration) bool {
	t.Helper()
	if !WaitFor(t, timeout, func() bool {
		sas, err := v1SAs(g)
		if err != nil {
			return false
		}
		for _, sa := range sas {
			if sa.Name == name {
				return false
			}
		}
		return true
	}) {
		t.Errorf("ikegate still lists an IKE SA of %q after %v: %+v", name, timeout, v1GateNamed(g, name))
		return false
	}
	return true
}

// v1Stats returns the ikev1 engine section of `ikegate stats --json`.
func v1Stats(t *testing.T, g *Ikegate) map[string]uint64 {
	t.Helper()
	out, err := g.ctl("stats", "--json")
	if err != nil {
		t.Errorf("ikegate stats --json: %v: %s", err, out)
		return nil
	}
	var st struct {
		IKEv1 map[string]uint64 `json:"ikev1"`
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Errorf("ikegate stats --json: %v: %q", err, out)
	}
	return st.IKEv1
}

// v1WaitSwan polls strongSwan until IKE SA name is ESTABLISHED (IKEv1)
// with at least n INSTALLED CHILD SAs.
func v1WaitSwan(t *testing.T, s *Swan, name string, n int, timeout time.Duration) *SwanIKESA {
	t.Helper()
	var sa *SwanIKESA
	if !WaitFor(t, timeout, func() bool {
		sa = s.IKESA(name)
		if sa == nil || sa.State != "ESTABLISHED" {
			return false
		}
		k := 0
		for _, c := range sa.Children {
			if c.State == "INSTALLED" {
				k++
			}
		}
		return k >= n
	}) {
		raw, _ := s.Swanctl("--list-sas", "--pretty")
		t.Fatalf("strongSwan: IKE SA %q not ESTABLISHED with %d INSTALLED CHILD SAs within %v:\n%s", name, n, timeout, raw)
	}
	return sa
}

// v1WaitNoSwan polls until strongSwan lists no IKE SA of name.
func v1WaitNoSwan(t *testing.T, s *Swan, name string, timeout time.Duration) bool {
	t.Helper()
	if !WaitFor(t, timeout, func() bool {
		sas, err := s.ListSAs()
		if err != nil {
			return false
		}
		for _, sa := range sas {
			if sa.Name == name {
				return false
			}
		}
		return true
	}) {
		raw, _ := s.Swanctl("--list-sas", "--pretty")
		t.Errorf("strongSwan still lists an IKE SA of %q after %v:\n%s", name, timeout, raw)
		return false
	}
	return true
}

// v1LswStates returns Libreswan's states of conn.
func v1LswStates(ls *Libreswan, conn string) []LibreswanState {
	st, _ := ls.ShowStates()
	var out []LibreswanState
	for _, s := range st {
		if s.Conn == conn {
			out = append(out, s)
		}
	}
	return out
}

// v1LswISAKMP returns Libreswan's established ISAKMP SA state of conn.
func v1LswISAKMP(ls *Libreswan, conn string) *LibreswanState {
	for _, s := range v1LswStates(ls, conn) {
		if s.IsIKE && s.Settled {
			return &s
		}
	}
	return nil
}

// v1Mark remembers how far a log had grown.
type v1Mark struct {
	path string
	off  int
}

func v1MarkLog(path string) v1Mark {
	b, _ := os.ReadFile(path)
	return v1Mark{path, len(b)}
}

func (m v1Mark) since() string {
	b, _ := os.ReadFile(m.path)
	if len(b) < m.off {
		return string(b)
	}
	return string(b[m.off:])
}

// v1Line returns the first line of log containing every one of subs.
func v1Line(log string, subs ...string) (string, bool) {
	for _, l := range strings.Split(log, "\n") {
		all := true
		for _, s := range subs {
			if !strings.Contains(l, s) {
				all = false
				break
			}
		}
		if all {
			return strings.TrimSpace(l), true
		}
	}
	return "", false
}

// v1WaitLine polls a log mark until a line has every one of subs; it fails
// the test (with the log's tail) if none appears within timeout.
func v1WaitLine(t *testing.T, who string, m v1Mark, timeout time.Duration, subs ...string) string {
	t.Helper()
	var line string
	if !WaitFor(t, timeout, func() bool {
		var ok bool
		line, ok = v1Line(m.since(), subs...)
		return ok
	}) {
		t.Errorf("%s: no log line contains %q within %v; log of this case:\n%s", who, subs, timeout, tail(m.since(), 40))
		return ""
	}
	t.Logf("%s: %s", who, v1Short(line, 400))
	return line
}

func v1Short(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// v1KeepLogs copies the daemons' logs to $IKEGATE_KEEP_LOGS when the test
// failed (t.Cleanup dumps only their tails).
func v1KeepLogs(t *testing.T, paths ...string) {
	dir := os.Getenv("IKEGATE_KEEP_LOGS")
	if dir == "" {
		return
	}
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for _, p := range paths {
			dst := filepath.Join(dir, strings.ReplaceAll(t.Name(), "/", "_")+"-"+filepath.Base(p))
			if err := copyFile(p, dst); err == nil {
				t.Logf("log kept as %s", dst)
			}
		}
	})
}

// IKEv1 exchange types as tshark prints them.
const (
	v1XMain          = 2
	v1XAggressive    = 4
	v1XInformational = 5
	v1XQuick         = 32
)

// v1WireOf returns the IKEv1 messages of the ISAKMP SA with initiator
// cookie icky, as "exchange src->dst" strings in capture order.
func v1WireOf(pkts []IKEPacket, icky string) []IKEPacket {
	var out []IKEPacket
	for _, p := range pkts {
		if p.ISPI == icky && p.Version == "0x10" {
			out = append(out, p)
		}
	}
	return out
}

// v1CountWire counts the messages of ws with exchange x from src to dst
// ("addr:port").
func v1CountWire(ws []IKEPacket, x int, src, dst string) int {
	n := 0
	for _, p := range ws {
		if p.ExchangeType == x && p.Src == src && p.Dst == dst {
			n++
		}
	}
	return n
}

// v1CheckSentBy asserts that every IKEv1 packet from addr dissected (it
// is in pkts at all, which CheckDissection already vetted) and that addr
// sent some from each of the given ports.
func v1CheckSentBy(t *testing.T, pkts []IKEPacket, addr string, ports ...int) {
	t.Helper()
	for _, port := range ports {
		n := 0
		for _, p := range pkts {
			if p.Src == fmt.Sprintf("%s:%d", addr, port) && p.Version == "0x10" {
				n++
			}
		}
		if n == 0 {
			t.Errorf("wire: %s sent no IKEv1 message from port %d", addr, port)
		}
	}
}

// v1Lines returns the lines of log containing every one of subs.
func v1Lines(log string, subs ...string) []string {
	var out []string
	for _, l := range strings.Split(log, "\n") {
		all := true
		for _, s := range subs {
			if !strings.Contains(l, s) {
				all = false
				break
			}
		}
		if all {
			out = append(out, strings.TrimSpace(l))
		}
	}
	return out
}

// v1TimedPacket is an IKEv1 message with its capture time.
type v1TimedPacket struct {
	At       float64 // seconds since the epoch
	Src      string  // addr:port
	ICky     string
	Exchange int
	MsgID    string
}

// v1Timeline returns every ISAKMP message of pcap with its capture time
// (one more tshark pass; CheckDissection does not read times).
func v1Timeline(t *testing.T, pcap string) []v1TimedPacket {
	t.Helper()
	out, err := runOut(Tshark, "-r", pcap, "-n", "-Y", "isakmp", "-T", "fields", "-E", "separator=|",
		"-e", "frame.time_epoch", "-e", "ip.src", "-e", "udp.srcport", "-e", "isakmp.ispi",
		"-e", "isakmp.exchangetype", "-e", "isakmp.messageid")
	if err != nil {
		t.Errorf("tshark: %v\n%s", err, out)
		return nil
	}
	var pkts []v1TimedPacket
	for _, line := range meaningful(out) {
		f := strings.Split(line, "|")
		if len(f) != 6 {
			continue
		}
		var p v1TimedPacket
		fmt.Sscan(f[0], &p.At)
		fmt.Sscan(f[4], &p.Exchange)
		p.Src, p.ICky, p.MsgID = f[1]+":"+f[2], f[3], f[5]
		pkts = append(pkts, p)
	}
	return pkts
}

// v1AggrOrder reads, for the ISAKMP SA icky, the Aggressive Mode message 3
// (its second Aggressive message) and the first Quick Mode message from
// the initiator at ini (addr), and
// returns the gap from AM3 to QM1 (negative: QM1 came first) and whether
// both were seen.
func v1AggrOrder(tl []v1TimedPacket, icky, ini string) (time.Duration, bool) {
	var am3, qm1 float64
	ams := 0
	for _, p := range tl {
		if p.ICky != icky || !strings.HasPrefix(p.Src, ini+":") {
			continue
		}
		switch {
		case p.Exchange == v1XAggressive:
			// the first is AM1, the next AM3
			if ams++; ams == 2 {
				am3 = p.At
			}
		case p.Exchange == v1XQuick && qm1 == 0:
			qm1 = p.At
		}
	}
	if am3 == 0 || qm1 == 0 {
		return 0, false
	}
	return time.Duration((qm1 - am3) * 1e9), true
}
