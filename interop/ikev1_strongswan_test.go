package interop

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// v1Suite is one IKE + ESP proposal pair of the IKEv1 PSK matrix and what
// each side must report for it.
type v1Suite struct {
	Short    string // used in connection names
	IKE, ESP string // strongSwan keywords, as configured on both ends
	// WantIKE / WantESP: ikegate's ike_proposal / esp_proposal strings.
	WantIKE, WantESP string
	// strongSwan's view (swanctl --list-sas): IKE SA encryption, key size,
	// DH group, and the CHILD SA's PFS group ("" = no PFS).
	SwanEncr, SwanKeySize, SwanDH, SwanPFS string
}

// v1Suites: Quick Mode with PFS (a DH group in the ESP proposal) for the
// first and the last suite, without for the other two.
var v1Suites = []v1Suite{
	{Short: "a256", IKE: "aes256-sha256-modp2048", ESP: "aes256-sha256-modp2048",
		WantIKE: "AES_CBC_256/PRF_HMAC_SHA2_256/HMAC_SHA2_256_128/MODP_2048", WantESP: "AES_CBC_256/HMAC_SHA2_256_128/MODP_2048",
		SwanEncr: "AES_CBC", SwanKeySize: "256", SwanDH: "MODP_2048", SwanPFS: "MODP_2048"},
	{Short: "a128", IKE: "aes128-sha1-modp2048", ESP: "aes128-sha1",
		WantIKE: "AES_CBC_128/PRF_HMAC_SHA1/HMAC_SHA1_96/MODP_2048", WantESP: "AES_CBC_128/HMAC_SHA1_96",
		SwanEncr: "AES_CBC", SwanKeySize: "128", SwanDH: "MODP_2048"},
	{Short: "3des", IKE: "3des-sha1-modp1024", ESP: "3des-sha1",
		WantIKE: "3DES/PRF_HMAC_SHA1/HMAC_SHA1_96/MODP_1024", WantESP: "3DES/HMAC_SHA1_96",
		SwanEncr: "3DES_CBC", SwanDH: "MODP_1024"},
	{Short: "x255", IKE: "aes128-sha256-x25519", ESP: "aes128-sha256-x25519",
		WantIKE: "AES_CBC_128/PRF_HMAC_SHA2_256/HMAC_SHA2_256_128/CURVE_25519", WantESP: "AES_CBC_128/HMAC_SHA2_256_128/CURVE_25519",
		SwanEncr: "AES_CBC", SwanKeySize: "128", SwanDH: "CURVE_25519", SwanPFS: "CURVE_25519"},
}

// v1SwanCase is one positive case against strongSwan.
type v1SwanCase struct {
	name     string
	suite    v1Suite
	ikegI    bool // ikegate initiates
	gateDown bool // teardown by `ikegate down` (else swanctl --terminate)
	pair     v1Pair
	peer     Conn
	icky     string // initiator cookie, once established
	took     time.Duration
	held     uint64 // growth of ikegate's held_quick_modes during the case
}

// TestIKEv1StrongSwanPSK: ikegate as IKEv1 initiator and responder against
// strongSwan 5.9.8 with pre-shared keys: Main Mode for every suite of
// v1Suites (with and without Quick Mode PFS), Aggressive Mode with FQDN and
// with KEY_ID identities; each case then deleted from one end (ikegate
// down, or swanctl --terminate) and gone from both.
//
// strongSwan runs kernel-libipsec so it installs its phase 2 SAs; that
// forces UDP encapsulation: strongSwan fakes a NAT in its NAT-D payloads,
// so Main Mode floats to 4500 with message 5 (Aggressive Mode with message
// 3), and Quick Mode must propose and accept UDP-Encapsulated-Tunnel.
func TestIKEv1StrongSwanPSK(t *testing.T) {
	t.Parallel()
	lab := NewLab(t)
	var cases []*v1SwanCase
	n := len(v1Suites)*2 + 4
	pairs := v1AddPairs(t, lab.Left, lab.Right, 10, n)
	var idx []int
	for i := 0; i < n; i++ {
		idx = append(idx, i)
	}
	v1PeerSubnets(t, lab, lab.Left, 211, idx)
	for si, s := range v1Suites {
		for _, ikegI := range []bool{true, false} {
			i := len(cases)
			role := map[bool]string{true: "i", false: "r"}[ikegI]
			name := "mm-" + s.Short + "-" + role
			cases = append(cases, &v1SwanCase{name: name, suite: s, ikegI: ikegI, gateDown: si%2 == 0, pair: pairs[i],
				peer: v1PSKConn(name, i, pairs[i], s.IKE, s.ESP)})
		}
	}
	// Aggressive Mode: FQDN and KEY_ID identities, both roles.
	for _, idk := range []string{"fqdn", "keyid"} {
		for _, ikegI := range []bool{true, false} {
			i := len(cases)
			role := map[bool]string{true: "i", false: "r"}[ikegI]
			name := "am-" + idk + "-" + role
			s := v1Suites[0]
			c := v1PSKConn(name, i, pairs[i], s.IKE, s.ESP)
			c.Aggressive = true
			if idk == "keyid" {
				c.LocalID, c.RemoteID = "keyid:peer-"+name, "keyid:gate-"+name
			}
			cases = append(cases, &v1SwanCase{name: name, suite: s, ikegI: ikegI, gateDown: !ikegI, pair: pairs[i], peer: c})
		}
	}
	var peers, gates []Conn
	for _, c := range cases {
		peers = append(peers, c.peer)
		gates = append(gates, c.peer.Mirror())
	}
	capt := lab.Capture(t, lab.Right, LabIface)
	swan := lab.StartStrongSwan(t, lab.Left, SwanConfig{Conns: peers, LibIPsec: true, Extra: v1SwanExtra})
	g := lab.StartIkegate(t, lab.Right, v1GatewayTOML(v1GateAddrs(pairs), gates...))
	v1KeepLogs(t, swan.LogPath, g.LogPath)

	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t0 := time.Now()
			gmark, smark := v1MarkLog(g.LogPath), v1MarkLog(swan.LogPath)
			held0 := v1Stats(t, g)["held_quick_modes"]
			gsa, ssa := v1UpWithSwan(t, g, swan, c.name, c.ikegI, c.pair)
			c.took = time.Since(t0)
			c.icky, _ = v1Cookies(gsa)
			s := c.suite
			if gsa.IKEProposal != s.WantIKE {
				t.Errorf("ikegate ike_proposal %q, want %q", gsa.IKEProposal, s.WantIKE)
			}
			if ssa.EncrAlg != s.SwanEncr || ssa.EncrKeysize != s.SwanKeySize || ssa.DHGroup != s.SwanDH {
				t.Errorf("strongSwan IKE SA %s-%s %s, want %s-%s %s", ssa.EncrAlg, ssa.EncrKeysize, ssa.DHGroup,
					s.SwanEncr, s.SwanKeySize, s.SwanDH)
			}
			v1CheckSwanChild(t, gsa, ssa, c.name, s.WantESP, s.SwanPFS)
			// Fact: strongSwan sends no product vendor ID by default; ikegate
			// recognises it by its default set (fragmentation ID with
			// strongSwan's capability word, DPD, XAuth). As a responder
			// strongSwan echoes only what the initiator announced: to
			// ikegate (DPD and NAT-T IDs, no fragmentation ID) it sends
			// XAuth, DPD and NAT-T, which names no product.
			if !c.ikegI && gsa.PeerVendor != "strongSwan" {
				t.Errorf("ikegate peer_vendor %q, want strongSwan", gsa.PeerVendor)
			} else if c.ikegI {
				t.Logf("ikegate initiator: peer_vendor %q (strongSwan responder's vendor IDs: %q)", gsa.PeerVendor,
					v1Lines(smark.since(), "sending", "vendor ID"))
			}
			gl := gmark.since()
			line, _ := v1Line(gl, "IKEv1 phase 1 established")
			if want := fmt.Sprintf(`"aggressive": %v`, c.peer.Aggressive); !strings.Contains(line, want) {
				t.Errorf("ikegate's phase 1 line lacks %s: %s", want, line)
			}
			v1WaitLine(t, "ikegate", gmark, time.Second, "IKEv1 phase 2 SA established", c.name)
			c.held = v1Stats(t, g)["held_quick_modes"] - held0
			if c.peer.Aggressive {
				// strongSwan's Aggressive initiator sends Quick Mode right
				// after message 3. Whether it reaches ikegate first is
				// read from the wire (see "wire"); here: no retransmit by
				// either side was needed.
				for _, w := range []string{"retransmit", "ignoring QUICK_MODE request while phase 1 is incomplete"} {
					if line, ok := v1Line(smark.since(), w); ok {
						if c.ikegI {
							// Fact, see TestIKEv1StrongSwanPSK's comment.
							t.Logf("strongSwan responder: %s", line)
						} else {
							t.Errorf("strongSwan: %s", line)
						}
					}
				}
			}

			// Delete: one end tears down; the other must forget the SA.
			td := time.Now()
			if c.gateDown {
				if out, err := g.Down(c.name); err != nil {
					t.Errorf("ikegate down %s: %v\n%s", c.name, err, out)
				}
				v1WaitNoSwan(t, swan, c.name, 3*time.Second)
				v1WaitLine(t, "strongSwan", smark, time.Second, "received DELETE for IKE_SA")
			} else {
				if out, err := swan.Terminate(c.name); err != nil {
					t.Errorf("swanctl --terminate %s: %v\n%s", c.name, err, out)
				}
				v1WaitNoGate(t, g, c.name, 3*time.Second)
				v1WaitLine(t, "ikegate", gmark, time.Second, "peer deleted the ISAKMP SA", c.name)
			}
			t.Logf("up %v, delete (%s) %v", c.took.Round(time.Millisecond),
				map[bool]string{true: "ikegate down", false: "swanctl --terminate"}[c.gateDown], time.Since(td).Round(time.Millisecond))
		})
	}

	pcap := capt.Stop()
	pkts := CheckDissection(t, pcap)
	t.Run("wire", func(t *testing.T) {
		tl := v1Timeline(t, pcap)
		for _, c := range cases {
			if c.icky == "" {
				continue
			}
			v1CheckWire(t, pkts, c.icky, c.pair, c.ikegI, c.peer.Aggressive, 4500)
			v1CheckSentBy(t, pkts, c.pair.Gate, 500, 4500)
			if c.peer.Aggressive {
				v1CheckEarlyQuick(t, c.name, tl, c.icky, c.pair, c.ikegI, c.held)
			}
		}
	})
	t.Logf("case durations (initiate to both sides settled):")
	for _, c := range cases {
		t.Logf("  %-14s %v", c.name, c.took.Round(time.Millisecond))
	}
}

// v1Cookies returns (initiator cookie, responder cookie) of an ikegate SA.
func v1Cookies(sa *v1GateSA) (string, string) {
	if sa.Initiator {
		return sa.LocalSPI, sa.RemoteSPI
	}
	return sa.RemoteSPI, sa.LocalSPI
}

// v1UpWithSwan brings name up from ikegate (ikegI) or from strongSwan and
// waits until both list the ISAKMP SA ESTABLISHED with one phase 2 SA; it
// checks the shared facts: same cookies, opposite roles, IKEv1 on both,
// NAT-T float to 4500 on both ends.
func v1UpWithSwan(t *testing.T, g *Ikegate, swan *Swan, name string, ikegI bool, pair v1Pair) (*v1GateSA, *SwanIKESA) {
	t.Helper()
	t0 := time.Now()
	if ikegI {
		if out, err := g.Up(name); err != nil {
			t.Fatalf("ikegate up %s: %v\n%s", name, err, out)
		}
	} else if out, err := swan.Initiate(name, 5); err != nil {
		t.Errorf("swanctl --initiate --child %s: %v\n%s", name, err, out)
	}
	gsa := v1WaitGate(t, g, name, 5*time.Second, v1Settled(1))
	ssa := v1WaitSwan(t, swan, name, 1, 5*time.Second)
	t.Logf("established in %v: ikegate %s %s/%s peer_vendor %q", time.Since(t0).Round(time.Millisecond),
		gsa.IKEProposal, gsa.LocalSPI, gsa.RemoteSPI, gsa.PeerVendor)
	gi, gr := v1Cookies(gsa)
	if ssa.InitSPI != gi || ssa.RespSPI != gr {
		t.Errorf("cookies differ: ikegate %s/%s, strongSwan %s/%s", gi, gr, ssa.InitSPI, ssa.RespSPI)
	}
	if gsa.Initiator != ikegI || ssa.Initiator == gsa.Initiator {
		t.Errorf("roles: ikegate initiator=%v (want %v), strongSwan initiator=%v", gsa.Initiator, ikegI, ssa.Initiator)
	}
	if gsa.Version != 1 || ssa.Version != 1 {
		t.Errorf("versions: ikegate %d, strongSwan %d, want 1", gsa.Version, ssa.Version)
	}
	if gsa.Local != addrPort(pair.Gate, 4500) || gsa.Remote != addrPort(pair.Peer, 4500) {
		t.Errorf("ikegate ISAKMP SA endpoints %s <-> %s, want port 4500 on both (NAT-T float)", gsa.Local, gsa.Remote)
	}
	if ssa.Raw["local-port"] != "4500" || ssa.Raw["remote-port"] != "4500" {
		t.Errorf("strongSwan ISAKMP SA ports %s/%s, want 4500", ssa.Raw["local-port"], ssa.Raw["remote-port"])
	}
	return gsa, ssa
}

// v1CheckSwanChild: the phase 2 SA on both ends, INSTALLED, crossed SPIs,
// mirrored selectors, UDP encapsulation on strongSwan's side, the suite's
// ESP proposal at ikegate and PFS group at strongSwan.
func v1CheckSwanChild(t *testing.T, g *v1GateSA, s *SwanIKESA, name, wantESP, wantPFS string) {
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
		t.Errorf("phase 2 SA %q: ikegate has %+v, strongSwan has %+v", name, g.Children, s.Children)
		return
	}
	t.Logf("phase 2: ikegate %s %s in %s out %s %v === %v; strongSwan %s in %s out %s encap %s dh %q",
		gc.State, gc.ESPProposal, gc.SPIIn, gc.SPIOut, gc.LocalTS, gc.RemoteTS,
		sc.State, sc.SPIIn, sc.SPIOut, sc.Raw["encap"], sc.Raw["dh-group"])
	if gc.State != "INSTALLED" || sc.State != "INSTALLED" {
		t.Errorf("phase 2 SA %q: ikegate %s (%s), strongSwan %s", name, gc.State, gc.Error, sc.State)
	}
	if gc.SPIIn != sc.SPIOut || gc.SPIOut != sc.SPIIn {
		t.Errorf("phase 2 SA %q SPIs not crossed: ikegate in %s out %s, strongSwan in %s out %s",
			name, gc.SPIIn, gc.SPIOut, sc.SPIIn, sc.SPIOut)
	}
	if gc.ESPProposal != wantESP {
		t.Errorf("phase 2 SA %q: ikegate esp_proposal %q, want %q", name, gc.ESPProposal, wantESP)
	}
	if sc.Raw["dh-group"] != wantPFS {
		t.Errorf("phase 2 SA %q: strongSwan dh-group (PFS) %q, want %q", name, sc.Raw["dh-group"], wantPFS)
	}
	if sc.Raw["encap"] != "yes" {
		t.Errorf("phase 2 SA %q: strongSwan encap %q, want yes (UDP-encapsulated)", name, sc.Raw["encap"])
	}
	if strings.Join(gc.LocalTS, ",") != strings.Join(sc.RemoteTS, ",") || strings.Join(gc.RemoteTS, ",") != strings.Join(sc.LocalTS, ",") {
		t.Errorf("phase 2 SA %q selectors: ikegate %v === %v, strongSwan %v === %v", name, gc.LocalTS, gc.RemoteTS, sc.LocalTS, sc.RemoteTS)
	}
}

// v1CheckWire asserts the phase 1 and Quick Mode messages of the ISAKMP SA
// with initiator cookie icky on the wire: Main Mode MM1-MM4 on 500 and
// MM5/MM6 on floatPort (4500 after a NAT-T float, else 500), or Aggressive
// AM1/AM2 on 500 and AM3 on floatPort; Quick Mode's three messages on
// floatPort.
func v1CheckWire(t *testing.T, pkts []IKEPacket, icky string, pair v1Pair, ikegI, aggressive bool, floatPort int) {
	t.Helper()
	ws := v1WireOf(pkts, icky)
	ini, resp := pair.Peer, pair.Gate
	if ikegI {
		ini, resp = resp, ini
	}
	at := func(a string, port int) string { return fmt.Sprintf("%s:%d", a, port) }
	type want struct {
		x        int
		src, dst string
		n        int
		what     string
	}
	var wants []want
	if aggressive {
		wants = []want{
			{v1XAggressive, at(ini, 500), at(resp, 500), 1, "AM1"},
			{v1XAggressive, at(resp, 500), at(ini, 500), 1, "AM2"},
			{v1XAggressive, at(ini, floatPort), at(resp, floatPort), 1, "AM3"},
		}
	} else {
		wants = []want{
			{v1XMain, at(ini, 500), at(resp, 500), 2, "MM1+MM3"},
			{v1XMain, at(resp, 500), at(ini, 500), 2, "MM2+MM4"},
			{v1XMain, at(ini, floatPort), at(resp, floatPort), 1, "MM5"},
			{v1XMain, at(resp, floatPort), at(ini, floatPort), 1, "MM6"},
		}
	}
	wants = append(wants,
		want{v1XQuick, at(ini, floatPort), at(resp, floatPort), 2, "QM1+QM3"},
		want{v1XQuick, at(resp, floatPort), at(ini, floatPort), 1, "QM2"})
	for _, w := range wants {
		if got := v1CountWire(ws, w.x, w.src, w.dst); got < w.n {
			var seen []string
			for _, p := range ws {
				seen = append(seen, p.String())
			}
			t.Errorf("wire: ISAKMP SA %s: %d %s (exchange %d %s -> %s), want %d; saw:\n  %s",
				icky, got, w.what, w.x, w.src, w.dst, w.n, strings.Join(seen, "\n  "))
		}
	}
}

// v1CheckEarlyQuick reads from the wire whether the Aggressive Mode
// initiator's first Quick Mode message came before or after its message 3,
// and, when ikegate responded and Quick Mode came first, requires that
// ikegate held it (held_quick_modes grew during the case).
func v1CheckEarlyQuick(t *testing.T, name string, tl []v1TimedPacket, icky string, pair v1Pair, ikegI bool, held uint64) {
	t.Helper()
	ini := pair.Peer
	if ikegI {
		ini = pair.Gate
	}
	gap, ok := v1AggrOrder(tl, icky, ini)
	if !ok {
		t.Errorf("%s: wire lacks AM3 or QM1 from %s", name, ini)
		return
	}
	who := map[bool]string{true: "ikegate", false: "peer"}[ikegI]
	t.Logf("%s: %s's QM1 %v after its AM3 on the wire; ikegate held_quick_modes +%d", name, who, gap, held)
	if !ikegI && gap < 0 && held == 0 {
		t.Errorf("%s: QM1 reached ikegate before AM3 but held_quick_modes did not grow", name)
	}
}
