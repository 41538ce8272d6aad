package interop

// Helpers shared by the IKEv2 interop tests (ikev2_*_test.go): extra
// address pairs so that one lab (one peer daemon, one ikegate, one capture)
// carries every case of a test side by side, both daemons' views of an SA,
// and the wire.

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// v2Pair is one address pair of a lab: Peer on the left (strongSwan or
// Libreswan), Gate on the right (ikegate).
type v2Pair struct{ Peer, Gate string }

// addPairs adds n address pairs on the lab link (10.200.0.<base+i> left,
// 10.200.0.<base+100+i> right, base >= 10) before any daemon starts: every
// case of a test gets its own addresses, so both daemons pick the case's
// connection by address alone and cases never share an IKE SA or a secret.
func addPairs(t *testing.T, lab *Lab, base, n int) []v2Pair {
	t.Helper()
	var ps []v2Pair
	for i := 0; i < n; i++ {
		p := v2Pair{fmt.Sprintf("10.200.0.%d", base+i), fmt.Sprintf("10.200.0.%d", base+100+i)}
		MustRun(t, IPCmd, "-n", lab.Left, "addr", "add", p.Peer+"/24", "dev", LabIface)
		MustRun(t, IPCmd, "-n", lab.Right, "addr", "add", p.Gate+"/24", "dev", LabIface)
		ps = append(ps, p)
	}
	return ps
}

func gateAddrs(ps []v2Pair) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Gate)
	}
	return out
}

// v2PSKConn is a PSK connection as the peer (left) sees it, on pair p, with
// subnet traffic selectors 10.201.<i>.0/24 (peer) === 10.202.<i>.0/24
// (ikegate). Fact: strongSwan's kernel-libipsec refuses host-to-host
// selectors on the IKE addresses ("can't install route for 10.200.0.1/32
// === 10.200.0.2/32 out, conflicts with IKE traffic") and then answers
// IKE_AUTH with TS_UNACCEPTABLE, so every CHILD SA here protects subnets.
func v2PSKConn(name string, i int, p v2Pair, ike, esp string) Conn {
	return Conn{
		Name: name, Version: 2,
		LocalAddr: p.Peer, RemoteAddr: p.Gate,
		LocalID: "@peer-" + name + ".lab", RemoteID: "@gate-" + name + ".lab",
		Auth: "psk", PSK: "ikev2-interop-" + name + "-0123456789",
		IKE: []string{ike}, ESP: []string{esp},
		LocalTS:  []string{fmt.Sprintf("10.201.%d.0/24", i)},
		RemoteTS: []string{fmt.Sprintf("10.202.%d.0/24", i)},
	}
}

// logMark remembers how far a daemon's log had grown, so a case can read
// only what was logged during it.
type logMark struct {
	path string
	off  int
}

func markLog(path string) logMark {
	b, _ := os.ReadFile(path)
	return logMark{path, len(b)}
}

// since returns what was logged after the mark.
func (m logMark) since() string {
	b, _ := os.ReadFile(m.path)
	if len(b) < m.off {
		return string(b)
	}
	return string(b[m.off:])
}

// waitGateSA polls ikegate until connection name has an IKE SA whose
// children have all left CREATING (or cond says so), and returns it.
func waitGateSA(t *testing.T, g *Ikegate, name string, timeout time.Duration, cond func(*IkegateSA) bool) *IkegateSA {
	t.Helper()
	var last []IkegateSA
	var found *IkegateSA
	ok := WaitFor(t, timeout, func() bool {
		sas, err := g.SAs()
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
	})
	if !ok {
		t.Fatalf("ikegate: no IKE SA of %q in the expected state within %v; sas: %+v", name, timeout, last)
	}
	return found
}

// settled: ESTABLISHED with at least want children, none still CREATING.
func settled(want int) func(*IkegateSA) bool {
	return func(sa *IkegateSA) bool {
		if sa.State != "ESTABLISHED" || len(sa.Children) < want {
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

// waitNoGateSA polls until ikegate lists no IKE SA for name.
func waitNoGateSA(t *testing.T, g *Ikegate, name string, timeout time.Duration) {
	t.Helper()
	if !WaitFor(t, timeout, func() bool {
		sas, err := g.SAs()
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
		sas, _ := g.SAs()
		t.Errorf("ikegate still lists an IKE SA for %q after %v: %+v", name, timeout, sas)
	}
}

// waitNoSwanSA polls until strongSwan lists no IKE SA for name.
func waitNoSwanSA(t *testing.T, s *Swan, name string, timeout time.Duration) {
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
		sas, _ := s.ListSAs()
		t.Errorf("strongSwan still lists an IKE SA for %q after %v: %+v", name, timeout, sas)
	}
}

// waitSwanSA polls strongSwan until IKE SA name is ESTABLISHED with at least
// nChildren INSTALLED CHILD SAs.
func waitSwanSA(t *testing.T, s *Swan, name string, nChildren int, timeout time.Duration) *SwanIKESA {
	t.Helper()
	var sa *SwanIKESA
	if !WaitFor(t, timeout, func() bool {
		sa = s.IKESA(name)
		if sa == nil || sa.State != "ESTABLISHED" {
			return false
		}
		n := 0
		for _, c := range sa.Children {
			if c.State == "INSTALLED" {
				n++
			}
		}
		return n >= nChildren
	}) {
		raw, _ := s.Swanctl("--list-sas", "--pretty")
		t.Fatalf("strongSwan: IKE SA %q not ESTABLISHED with %d INSTALLED CHILD SAs within %v:\n%s", name, nChildren, timeout, raw)
	}
	return sa
}

// spisOf returns (initiator SPI, responder SPI) of an ikegate IKE SA.
func spisOf(sa *IkegateSA) (string, string) {
	if sa.Initiator {
		return sa.LocalSPI, sa.RemoteSPI
	}
	return sa.RemoteSPI, sa.LocalSPI
}

// checkSwanIKE compares ikegate's and strongSwan's views of one IKE SA:
// same SPIs, opposite roles, both ESTABLISHED.
func checkSwanIKE(t *testing.T, g *IkegateSA, s *SwanIKESA) {
	t.Helper()
	gi, gr := spisOf(g)
	if s.InitSPI != gi || s.RespSPI != gr {
		t.Errorf("IKE SPIs differ: ikegate %s/%s, strongSwan %s/%s", gi, gr, s.InitSPI, s.RespSPI)
	}
	if s.Initiator == g.Initiator {
		t.Errorf("roles: ikegate initiator=%v, strongSwan initiator=%v", g.Initiator, s.Initiator)
	}
	if g.State != "ESTABLISHED" || s.State != "ESTABLISHED" || s.Version != 2 || g.Version != 2 {
		t.Errorf("states: ikegate %s v%d, strongSwan %s v%d", g.State, g.Version, s.State, s.Version)
	}
}

// checkSwanChild finds ikegate's CHILD SA name and strongSwan's, and checks
// that both are INSTALLED with crossed SPIs and mirrored selectors.
func checkSwanChild(t *testing.T, g *IkegateSA, s *SwanIKESA, name, wantESP string) {
	t.Helper()
	var gc *IkegateChild
	for i := range g.Children {
		if g.Children[i].Name == name {
			gc = &g.Children[i]
		}
	}
	var sc *SwanChildSA
	for i := range s.Children {
		if s.Children[i].Name == name {
			sc = &s.Children[i]
		}
	}
	if gc == nil || sc == nil {
		t.Errorf("CHILD SA %q: ikegate has %+v, strongSwan has %+v", name, g.Children, s.Children)
		return
	}
	if gc.State != "INSTALLED" || sc.State != "INSTALLED" {
		t.Errorf("CHILD SA %q: ikegate %s (%s), strongSwan %s", name, gc.State, gc.Error, sc.State)
	}
	if gc.SPIIn != sc.SPIOut || gc.SPIOut != sc.SPIIn {
		t.Errorf("CHILD SA %q SPIs not crossed: ikegate in %s out %s, strongSwan in %s out %s",
			name, gc.SPIIn, gc.SPIOut, sc.SPIIn, sc.SPIOut)
	}
	if wantESP != "" && gc.ESPProposal != wantESP {
		t.Errorf("CHILD SA %q: ikegate esp_proposal %q, want %q", name, gc.ESPProposal, wantESP)
	}
	if strings.Join(gc.LocalTS, ",") != strings.Join(sc.RemoteTS, ",") || strings.Join(gc.RemoteTS, ",") != strings.Join(sc.LocalTS, ",") {
		t.Errorf("CHILD SA %q selectors: ikegate %v === %v, strongSwan %v === %v", name, gc.LocalTS, gc.RemoteTS, sc.LocalTS, sc.RemoteTS)
	}
}

// wireExchange counts the IKE messages of the IKE SA with initiator SPI
// ispi: exchange type, whether a response, and the UDP ports seen.
type wireExchange struct {
	Exchange int
	Response bool
	Src, Dst string
}

func wireOf(pkts []IKEPacket, ispi string) []wireExchange {
	var out []wireExchange
	for _, p := range pkts {
		if p.ISPI == ispi {
			out = append(out, wireExchange{p.ExchangeType, p.Response, p.Src, p.Dst})
		}
	}
	return out
}

// IKEv2 exchange types as tshark prints them.
const (
	xIKESAInit     = 34
	xIKEAuth       = 35
	xCreateChildSA = 36
	xInformational = 37
)

// checkWire asserts that the capture holds, for the IKE SA with initiator
// SPI ispi between initiator address ini and responder address resp,
// the IKE_SA_INIT request and response on port 500 and the IKE_AUTH request
// and response on authPort (4500 once NAT-T floated, else 500), plus
// whatever further exchanges are listed in more (each a request/response
// pair in either direction).
func checkWire(t *testing.T, pkts []IKEPacket, ispi, ini, resp string, authPort int, more ...int) {
	t.Helper()
	ws := wireOf(pkts, ispi)
	want := []wireExchange{
		{xIKESAInit, false, ini + ":500", resp + ":500"},
		{xIKESAInit, true, resp + ":500", ini + ":500"},
		{xIKEAuth, false, fmt.Sprintf("%s:%d", ini, authPort), fmt.Sprintf("%s:%d", resp, authPort)},
		{xIKEAuth, true, fmt.Sprintf("%s:%d", resp, authPort), fmt.Sprintf("%s:%d", ini, authPort)},
	}
	for _, w := range want {
		if !hasWire(ws, w) {
			t.Errorf("wire: IKE SA %s lacks %s; saw %+v", ispi, w, ws)
		}
	}
	for _, x := range more {
		req, rsp := false, false
		for _, w := range ws {
			if w.Exchange == x {
				if w.Response {
					rsp = true
				} else {
					req = true
				}
			}
		}
		if !req || !rsp {
			t.Errorf("wire: IKE SA %s lacks a request/response of exchange %d; saw %+v", ispi, x, ws)
		}
	}
}

func (w wireExchange) String() string {
	kind := "request"
	if w.Response {
		kind = "response"
	}
	return fmt.Sprintf("exchange %d %s %s->%s", w.Exchange, kind, w.Src, w.Dst)
}

func hasWire(ws []wireExchange, w wireExchange) bool {
	for _, x := range ws {
		if x == w {
			return true
		}
	}
	return false
}

// checkSentBy asserts that the capture has IKE messages sent by addr on both
// UDP ports 500 and 4500 (when want4500): the packets ikegate emits are
// dissected too, not only the peer's.
func checkSentBy(t *testing.T, pkts []IKEPacket, addr string, want4500 bool) {
	t.Helper()
	var p500, p4500 int
	for _, p := range pkts {
		switch p.Src {
		case addr + ":500":
			p500++
		case addr + ":4500":
			p4500++
		}
	}
	if p500 == 0 || (want4500 && p4500 == 0) {
		t.Errorf("wire: %s sent %d IKE messages from port 500 and %d from 4500", addr, p500, p4500)
	}
}

// lswSPIRe matches the IKE header dump of plutodebug=all:
//
//	|    initiator SPI: 2d c3 8c 5a  0d 8c 15 80
//	|    responder SPI: 71 27 b1 9c  dc a9 4d 58
var lswSPIRe = regexp.MustCompile(`\|\s+initiator SPI: ([0-9a-f ]+)\n[^\n]*\|\s+responder SPI: ([0-9a-f ]+)\n`)

// lswIKESPIs returns the (initiator, responder) IKE SPI pairs of the IKE
// messages pluto parsed or built, from its debug log. whack --showstates
// does not print IKE SPIs; this is the closest to Libreswan's own view.
func lswIKESPIs(log string) map[[2]string]bool {
	out := map[[2]string]bool{}
	for _, m := range lswSPIRe.FindAllStringSubmatch(log, -1) {
		i := strings.ReplaceAll(m[1], " ", "")
		r := strings.ReplaceAll(m[2], " ", "")
		out[[2]string{i, r}] = true
	}
	return out
}

// lswState returns Libreswan's IKE state of conn, or nil.
func lswIKEState(ls *Libreswan, conn string) *LibreswanState {
	st, err := ls.ShowStates()
	if err != nil {
		return nil
	}
	for i := range st {
		if st[i].Conn == conn && st[i].IsIKE {
			return &st[i]
		}
	}
	return nil
}

// requireLine fails unless log has a line containing every one of subs.
func requireLine(t *testing.T, who, log string, subs ...string) {
	t.Helper()
	for _, l := range strings.Split(log, "\n") {
		all := true
		for _, s := range subs {
			if !strings.Contains(l, s) {
				all = false
				break
			}
		}
		if all {
			t.Logf("%s: %s", who, strings.TrimSpace(l))
			return
		}
	}
	t.Errorf("%s: no log line contains %q; log of this case:\n%s", who, subs, tail(log, 40))
}

// keepLogs copies the daemons' logs to $IKEGATE_KEEP_LOGS (if set) when the
// test failed: t.Cleanup's dump shows only their tails.
func keepLogs(t *testing.T, paths ...string) {
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

// addPeerSubnets gives the peer's namespace the protected subnets
// 10.201.<i>.1/24 for i < n. Fact: kernel-libipsec installs a route for
// each CHILD SA (table 220, via ipsec0) and needs a local address inside
// the local traffic selector for it: without one it logs "no local address
// found in traffic selector 10.201.0.0/24 / error installing route" and
// refuses the CHILD SA (TS_UNACCEPTABLE as responder).
func addPeerSubnets(t *testing.T, lab *Lab, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		lab.AddSubnet(t, lab.Left, fmt.Sprintf("sn%d", i), fmt.Sprintf("10.201.%d.1/24", i))
	}
}

func splitLines(s string) []string { return strings.Split(s, "\n") }
func contains(s, sub string) bool  { return strings.Contains(s, sub) }
