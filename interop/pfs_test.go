package interop

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// PFS leniency (configs/README.md, "PFS"): an ikegate connection whose esp
// names no DH group takes a peer's PFS offer by default (pfs = "lenient")
// and refuses it with pfs = "strict"; ikegate's own PFS offers are
// unaffected.

// pfsSwanCase is one case of TestPFSStrongSwan. Case i protects
// 10.201.<2i>.0/24 === 10.202.<2i>.0/24 with its first CHILD SA and
// 10.201.<2i+1>.0/24 === 10.202.<2i+1>.0/24 with "<name>-2" (IKEv2,
// CREATE_CHILD_SA).
type pfsSwanCase struct {
	name    string
	version int
	swanESP string // strongSwan's esp_proposals
	gateESP string // ikegate's esp
	strict  bool   // pfs = "strict" at ikegate
	// gateInit: ikegate brings the CHILD SAs up (it proposes PFS);
	// otherwise strongSwan does.
	gateInit bool
	accept   bool
	// What both ends must show for the CHILD SA negotiated with a KE
	// payload: ikegate's esp_proposal and strongSwan's dh-group ("": none).
	wantGate, wantSwan string
	// wantGateLog: a line ikegate must log for it.
	wantGateLog []string
	i           int
	pair        v2Pair
}

func (c *pfsSwanCase) second() string { return c.name + "-2" }

// TestPFSStrongSwan: strongSwan 5.9.8 (kernel-libipsec) against ikegate
// with the userspace dataplane, so the CHILD SAs carry pings and a key that
// differs between the ends would show.
//
//   - IKEv1: strongSwan's Quick Mode offers PFS (esp_proposals =
//     aes128-sha256-modp2048) to an ikegate connection with esp =
//     aes128-sha256: taken by default (MODP_2048 on both ends, the
//     pings pass, and so after `swanctl --rekey`); refused with pfs =
//     "strict" (NO_PROPOSAL_CHOSEN, explained in ikegate's log).
//   - IKEv2: the same proposals; IKE_AUTH's CHILD SA has no PFS, strongSwan
//     then creates a second CHILD SA and rekeys the first, both with
//     CREATE_CHILD_SA and a MODP_2048 KE: taken by default, refused with
//     "strict" (the first CHILD SA stays as it was). With PFS optional on
//     strongSwan's side (modp2048-modpnone) "lenient" takes MODP_2048 and
//     "strict" answers NONE.
//   - IKEv2, ikegate proposing PFS (esp with modp2048 on both ends):
//     ikegate's CREATE_CHILD_SA with its KE gets MODP_2048 on both ends.
//     (ikegate proposing Quick Mode PFS to strongSwan is
//     TestIKEv1StrongSwanPSK's mm-a256-i.)
func TestPFSStrongSwan(t *testing.T) {
	t.Parallel()
	lab := NewLab(t)
	const (
		v1ESP = "AES_CBC_128/HMAC_SHA2_256_128"
		v2ESP = "AES_GCM_16_128"
	)
	taking := []string{"taking the peer's PFS offer with MODP_2048 although esp names no DH group", `pfs = "lenient"`}
	refusing := []string{"no proposal chosen", "DH group: peer MODP_2048", "local none", `has pfs = "strict"`}
	cases := []*pfsSwanCase{
		{name: "pfs1-lenient", version: 1, swanESP: "aes128-sha256-modp2048", gateESP: "aes128-sha256", accept: true,
			wantGate: v1ESP + "/MODP_2048", wantSwan: "MODP_2048", wantGateLog: append([]string{"Quick Mode"}, taking...)},
		{name: "pfs1-strict", version: 1, swanESP: "aes128-sha256-modp2048", gateESP: "aes128-sha256", strict: true,
			wantGateLog: append([]string{"Quick Mode"}, refusing...)},
		{name: "pfs2-lenient", version: 2, swanESP: "aes128gcm16-modp2048", gateESP: "aes128gcm16", accept: true,
			wantGate: v2ESP + "/MODP_2048/NO_ESN", wantSwan: "MODP_2048", wantGateLog: append([]string{"CHILD SA"}, taking...)},
		{name: "pfs2-strict", version: 2, swanESP: "aes128gcm16-modp2048", gateESP: "aes128gcm16", strict: true,
			wantGateLog: append([]string{"CHILD SA"}, refusing...)},
		{name: "pfs2-opt-lenient", version: 2, swanESP: "aes128gcm16-modp2048-modpnone", gateESP: "aes128gcm16", accept: true,
			wantGate: v2ESP + "/MODP_2048/NO_ESN", wantSwan: "MODP_2048", wantGateLog: append([]string{"CHILD SA"}, taking...)},
		{name: "pfs2-opt-strict", version: 2, swanESP: "aes128gcm16-modp2048-modpnone", gateESP: "aes128gcm16", strict: true, accept: true,
			wantGate: v2ESP + "/NO_ESN", wantSwan: ""},
		{name: "pfs2-ikeg", version: 2, swanESP: "aes128gcm16-modp2048", gateESP: "aes128gcm16-modp2048", gateInit: true, accept: true,
			wantGate: v2ESP + "/MODP_2048/NO_ESN", wantSwan: "MODP_2048"},
	}
	pairs := addPairs(t, lab, 60, len(cases))
	var peers, gates []Conn
	var strict []string
	for i, c := range cases {
		c.i, c.pair = i, pairs[i]
		for _, j := range []int{2 * i, 2*i + 1} {
			lab.AddSubnet(t, lab.Left, fmt.Sprintf("sn%d", j), leftHost(j)+"/24")
			lab.AddSubnet(t, lab.Right, fmt.Sprintf("gs%d", j), rightHost(j)+"/24")
		}
		ike := "aes128-sha256-modp2048"
		if c.version == 2 {
			ike = "aes128gcm16-prfsha256-x25519"
		}
		peer := trafficConn(c.name, c.version, 2*i, c.pair.Peer, c.pair.Gate, ike, c.swanESP)
		if c.version == 2 {
			peer.ExtraChildren = []Child{{Name: c.second(), LocalTS: []string{leftSubnet(2*i + 1)}, RemoteTS: []string{rightSubnet(2*i + 1)}}}
		}
		gate := peer.Mirror()
		gate.ESP = []string{c.gateESP}
		for k := range gate.ExtraChildren {
			gate.ExtraChildren[k].ESP = gate.ESP
		}
		peers, gates = append(peers, peer), append(gates, gate)
		if c.strict {
			strict = append(strict, c.name, c.second())
		}
	}
	toml := v1GatewayTOML(gateAddrs(pairs), gates...)
	toml = strings.Replace(toml, `dataplane = "none"`, `dataplane = "userspace"`, 1)
	for _, name := range strict {
		toml = PatchIkegateTOML(toml, nil, name, []string{`pfs = "strict"`})
	}
	capt := lab.Capture(t, lab.Right, LabIface)
	swan := lab.StartStrongSwan(t, lab.Left, SwanConfig{Conns: peers, LibIPsec: true, Extra: v1SwanExtra})
	g := lab.StartIkegate(t, lab.Right, toml)
	keepLogs(t, swan.LogPath, g.LogPath)

	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			gmark, smark := markLog(g.LogPath), markLog(swan.LogPath)
			if c.version == 1 {
				pfsSwanV1(t, g, swan, c, gmark, smark)
			} else {
				pfsSwanV2(t, g, swan, c, gmark, smark)
			}
		})
	}
	CheckDissection(t, capt.Stop())
}

// pfsSwanV1: strongSwan initiates; its Quick Mode carries the KE.
func pfsSwanV1(t *testing.T, g *Ikegate, swan *Swan, c *pfsSwanCase, gmark, smark logMark) {
	out, err := swan.Initiate(c.name, 5)
	t.Logf("swanctl --initiate --child %s: %v %s", c.name, err, lastLine(out))
	if !c.accept {
		pfsRefused(t, g, swan, c, gmark, smark)
		if sa := g.SA(c.name); sa != nil && len(sa.Children) != 0 {
			t.Errorf("ikegate lists phase 2 SAs after refusing: %+v", sa.Children)
		}
		return
	}
	gc, sc := pfsWaitChild(t, g, swan, c.name, c.name, "", 10*time.Second)
	pfsCheckChild(t, gc, sc, c)
	requireLog(t, "ikegate", gmark, c.wantGateLog...)
	checkPing(t, swan.NS, g.NS, 2*c.i)

	// strongSwan rekeys the phase 2 SA: a new Quick Mode with PFS.
	if out, err := swan.Swanctl("--rekey", "--child", c.name); err != nil {
		t.Errorf("swanctl --rekey --child %s: %v\n%s", c.name, err, out)
	}
	gc2, sc2 := pfsWaitChild(t, g, swan, c.name, c.name, gc.SPIIn, 10*time.Second)
	pfsCheckChild(t, gc2, sc2, c)
	checkPing(t, swan.NS, g.NS, 2*c.i)
}

// pfsSwanV2: the IKE SA with its first CHILD SA (IKE_AUTH, no PFS), then
// a second CHILD SA and a rekey of the first, each with CREATE_CHILD_SA
// and a KE from whoever initiates.
func pfsSwanV2(t *testing.T, g *Ikegate, swan *Swan, c *pfsSwanCase, gmark, smark logMark) {
	if c.gateInit {
		if out, err := g.Up(c.name); err != nil {
			t.Fatalf("ikegate up %s: %v\n%s", c.name, err, out)
		}
	} else if out, err := swan.Initiate(c.name, 5); err != nil {
		t.Errorf("swanctl --initiate --child %s: %v\n%s", c.name, err, out)
	}
	gc, sc := pfsWaitChild(t, g, swan, c.name, c.name, "", 10*time.Second)
	if gc.ESPProposal != "AES_GCM_16_128/NO_ESN" || sc.Raw["dh-group"] != "" {
		t.Errorf("IKE_AUTH's CHILD SA: ikegate %q, strongSwan dh-group %q; want no PFS", gc.ESPProposal, sc.Raw["dh-group"])
	}
	checkPing(t, swan.NS, g.NS, 2*c.i)

	// A second CHILD SA with CREATE_CHILD_SA.
	if c.gateInit {
		if out, err := g.Up(c.second()); err != nil {
			t.Errorf("ikegate up %s: %v\n%s", c.second(), err, out)
		}
	} else {
		out, err := swan.Initiate(c.second(), 5)
		t.Logf("swanctl --initiate --child %s: %v %s", c.second(), err, lastLine(out))
	}
	if !c.accept {
		pfsRefused(t, g, swan, c, gmark, smark)
		// The rekey of the first CHILD SA is refused too; it stays.
		smark2 := markLog(swan.LogPath)
		if out, err := swan.Swanctl("--rekey", "--child", c.name); err != nil {
			t.Errorf("swanctl --rekey --child %s: %v\n%s", c.name, err, out)
		}
		if !WaitFor(t, 5*time.Second, func() bool { return strings.Contains(smark2.since(), "NO_PROPOSAL_CHOSEN") }) {
			t.Errorf("strongSwan: its rekey of %s was not refused with NO_PROPOSAL_CHOSEN; log:\n%s", c.name, tail(smark2.since(), 30))
		}
		gc2, _ := pfsWaitChild(t, g, swan, c.name, c.name, "", 5*time.Second)
		if gc2.SPIIn != gc.SPIIn {
			t.Errorf("CHILD SA %s: inbound SPI %s, was %s: rekeyed although refused", c.name, gc2.SPIIn, gc.SPIIn)
		}
		checkPing(t, swan.NS, g.NS, 2*c.i)
		return
	}
	gc2, sc2 := pfsWaitChild(t, g, swan, c.name, c.second(), "", 10*time.Second)
	pfsCheckChild(t, gc2, sc2, c)
	if len(c.wantGateLog) > 0 {
		requireLog(t, "ikegate", gmark, c.wantGateLog...)
	}
	checkPing(t, swan.NS, g.NS, 2*c.i+1)
	if c.gateInit {
		return
	}

	// strongSwan rekeys the first CHILD SA: CREATE_CHILD_SA with REKEY_SA
	// and a KE.
	if out, err := swan.Swanctl("--rekey", "--child", c.name); err != nil {
		t.Errorf("swanctl --rekey --child %s: %v\n%s", c.name, err, out)
	}
	gc3, sc3 := pfsWaitChild(t, g, swan, c.name, c.name, gc.SPIIn, 10*time.Second)
	pfsCheckChild(t, gc3, sc3, c)
	checkPing(t, swan.NS, g.NS, 2*c.i)
}

// pfsRefused: ikegate refused the PFS offer with NO_PROPOSAL_CHOSEN,
// saying why, and strongSwan got that answer.
func pfsRefused(t *testing.T, g *Ikegate, swan *Swan, c *pfsSwanCase, gmark, smark logMark) {
	t.Helper()
	if line, ok := waitLog(t, gmark, 5*time.Second, c.wantGateLog...); ok {
		t.Logf("ikegate: %s", strings.TrimSpace(line))
	} else {
		t.Errorf("ikegate: no log line with %q; log of the case:\n%s", c.wantGateLog, tail(gmark.since(), 30))
	}
	if line, ok := waitLog(t, smark, 5*time.Second, "NO_PROPOSAL_CHOSEN"); ok {
		t.Logf("strongSwan: %s", strings.TrimSpace(line))
	} else {
		t.Errorf("strongSwan: no NO_PROPOSAL_CHOSEN in its log; log of the case:\n%s", tail(smark.since(), 30))
	}
}

// pfsWaitChild waits until ikegate's IKE SA of conn and strongSwan's both
// list CHILD SA child INSTALLED (with an inbound SPI at ikegate other than
// notSPI, when set: a rekeyed one) and returns both views.
func pfsWaitChild(t *testing.T, g *Ikegate, swan *Swan, conn, child, notSPI string, timeout time.Duration) (*IkegateChild, *SwanChildSA) {
	t.Helper()
	var gc *IkegateChild
	var sc *SwanChildSA
	ok := WaitFor(t, timeout, func() bool {
		gc, sc = nil, nil
		if sa := g.SA(conn); sa != nil {
			for i := range sa.Children {
				if x := &sa.Children[i]; x.Name == child && x.State == "INSTALLED" && x.SPIIn != notSPI {
					gc = x
				}
			}
		}
		if sa := swan.IKESA(conn); sa != nil && gc != nil {
			for i := range sa.Children {
				if x := &sa.Children[i]; x.Name == child && x.State == "INSTALLED" && x.SPIOut == gc.SPIIn {
					sc = x
				}
			}
		}
		return gc != nil && sc != nil
	})
	if !ok {
		raw, _ := swan.Swanctl("--list-sas", "--pretty")
		t.Fatalf("CHILD SA %s of %s not INSTALLED on both ends within %v (new inbound SPI wanted: %v); ikegate: %+v\nstrongSwan:\n%s",
			child, conn, timeout, notSPI != "", g.SA(conn), raw)
	}
	t.Logf("CHILD SA %s: ikegate %s in %s out %s; strongSwan in %s out %s dh-group %q",
		child, gc.ESPProposal, gc.SPIIn, gc.SPIOut, sc.SPIIn, sc.SPIOut, sc.Raw["dh-group"])
	return gc, sc
}

// pfsCheckChild: the CHILD SA negotiated with a KE shows the case's
// proposal at ikegate and its PFS group at strongSwan, with crossed SPIs.
func pfsCheckChild(t *testing.T, gc *IkegateChild, sc *SwanChildSA, c *pfsSwanCase) {
	t.Helper()
	if gc.ESPProposal != c.wantGate {
		t.Errorf("CHILD SA %s: ikegate esp_proposal %q, want %q", gc.Name, gc.ESPProposal, c.wantGate)
	}
	if sc.Raw["dh-group"] != c.wantSwan {
		t.Errorf("CHILD SA %s: strongSwan dh-group %q, want %q", sc.Name, sc.Raw["dh-group"], c.wantSwan)
	}
	if gc.SPIIn != sc.SPIOut || gc.SPIOut != sc.SPIIn {
		t.Errorf("CHILD SA %s: SPIs not crossed: ikegate in %s out %s, strongSwan in %s out %s", gc.Name, gc.SPIIn, gc.SPIOut, sc.SPIIn, sc.SPIOut)
	}
}

// requireLog fails unless the log since m has a line with all of subs.
func requireLog(t *testing.T, who string, m logMark, subs ...string) {
	t.Helper()
	if line, ok := waitLog(t, m, 3*time.Second, subs...); ok {
		t.Logf("%s: %s", who, strings.TrimSpace(line))
		return
	}
	t.Errorf("%s: no log line with %q; log of the case:\n%s", who, subs, tail(m.since(), 30))
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// TestPFSLibreswan: Libreswan 4.10, IKEv1. Its Quick Mode offers PFS in the
// IKE group (pfs=yes) to an ikegate connection with esp = aes128-sha256:
// ikegate takes it by default (its log; its QM2 on the wire; Libreswan
// gets as far as adding the SA, which it does only after checking QM2's KE)
// and refuses it with pfs = "strict" (NO_PROPOSAL_CHOSEN at both ends).
// Libreswan with pfs=no takes ikegate's PFS offer in turn. Libreswan
// cannot install phase 2 SAs on this host (no kernel ESP; see
// TestIKEv1LibreswanPSK), so the checks end there.
//
// IKEv2 against Libreswan is not run: its CHILD SA in IKE_AUTH fails to
// install for the same reason, so there is no IKE SA left to carry a
// CREATE_CHILD_SA.
func TestPFSLibreswan(t *testing.T) {
	t.Parallel()
	lab := NewLab(t)
	cases := []struct {
		name              string
		lswESP, gateESP   string
		strict, lswNoPFS  bool
		ikegI             bool
		accept            bool
		wantGate, wantLsw []string
	}{
		{name: "lpfs-lenient", lswESP: "aes128-sha256-modp2048", gateESP: "aes128-sha256", accept: true,
			wantGate: []string{"Quick Mode: taking the peer's PFS offer with MODP_2048 although esp names no DH group"}},
		{name: "lpfs-strict", lswESP: "aes128-sha256-modp2048", gateESP: "aes128-sha256", strict: true,
			wantGate: []string{"Quick Mode: no proposal chosen", "DH group: peer MODP_2048, local none", `has pfs = "strict"`},
			wantLsw:  []string{"NO_PROPOSAL_CHOSEN"}},
		{name: "lpfs-ikeg", lswESP: "aes128-sha256", gateESP: "aes128-sha256-modp2048", lswNoPFS: true, ikegI: true, accept: true,
			wantGate: []string{"Quick Mode initiated", "AES_CBC_128/HMAC_SHA2_256_128/MODP_2048"}},
	}
	pairs := v1AddPairs(t, lab.Left, lab.Right, 60, len(cases))
	var peers, gates []Conn
	perConn := map[string]string{}
	for i, c := range cases {
		peer := v1PSKConn(c.name, i, pairs[i], "aes128-sha256-modp2048", c.lswESP)
		gate := peer.Mirror()
		gate.ESP = []string{c.gateESP}
		peers, gates = append(peers, peer), append(gates, gate)
		if c.lswNoPFS {
			perConn[c.name] = "pfs=no"
		}
	}
	toml := v1GatewayTOML(v1GateAddrs(pairs), gates...)
	for _, c := range cases {
		if c.strict {
			toml = PatchIkegateTOML(toml, nil, c.name, []string{`pfs = "strict"`})
		}
	}
	capt := lab.Capture(t, lab.Right, LabIface)
	lsw := lab.StartLibreswan(t, lab.Left, LibreswanConfig{Conns: peers, PerConn: perConn, Debug: true})
	g := lab.StartIkegate(t, lab.Right, toml)
	v1KeepLogs(t, lsw.LogPath, g.LogPath)
	ickys := make([]string, len(cases))

	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			gmark, lmark := v1MarkLog(g.LogPath), v1MarkLog(lsw.LogPath)
			if c.ikegI {
				if out, err := g.Up(c.name); err != nil {
					t.Fatalf("ikegate up %s: %v\n%s", c.name, err, out)
				}
			} else {
				out, err := lsw.Whack("--initiate", "--asynchronous", "--name", c.name)
				t.Logf("whack --initiate --asynchronous: %v %s", err, strings.TrimSpace(out))
			}
			gsa := v1WaitGate(t, g, c.name, 5*time.Second, func(sa *v1GateSA) bool { return sa.State == "ESTABLISHED" })
			ickys[i], _ = v1Cookies(gsa)
			v1WaitLine(t, "ikegate", gmark, 3*time.Second, c.wantGate...)
			if c.ikegI {
				// Libreswan, responder with pfs=no, takes the offer: it
				// adds the SA (and fails there: no kernel ESP).
				v1WaitLine(t, "Libreswan", lmark, 3*time.Second, "netlink response for Add SA esp.", "@"+pairs[i].Gate)
				v1WaitLine(t, "Libreswan", lmark, time.Second, "state transition function for STATE_QUICK_R0 had internal error")
			} else {
				line := v1WaitLine(t, "Libreswan", lmark, 3*time.Second, "initiating Quick Mode")
				if !strings.Contains(line, "+PFS+") {
					t.Errorf("Libreswan's Quick Mode without PFS: %s", line)
				}
				if c.accept {
					// Libreswan takes ikegate's QM2 (its KE included:
					// Libreswan checks it before computing the keys) and
					// tries to add the SA.
					v1WaitLine(t, "Libreswan", lmark, 3*time.Second, "netlink response for Add SA esp.", "@"+pairs[i].Gate)
					v1WaitLine(t, "Libreswan", lmark, time.Second, "state transition function for STATE_QUICK_I1 had internal error")
				} else {
					v1WaitLine(t, "Libreswan", lmark, 3*time.Second, c.wantLsw...)
					if line, ok := v1Line(lmark.since(), "netlink response for Add SA esp.", "@"+pairs[i].Gate); ok {
						t.Errorf("Libreswan added an SA although ikegate refused: %s", line)
					}
				}
			}
			// Libreswan revives a connection whose phase 2 failed; deleting
			// it stops that (and deletes the ISAKMP SA).
			lsw.Whack("--delete", "--name", c.name)
		})
	}

	pkts := CheckDissection(t, capt.Stop())
	t.Run("wire", func(t *testing.T) {
		for i, c := range cases {
			if ickys[i] == "" {
				continue
			}
			ws := v1WireOf(pkts, ickys[i])
			lswA, gateA := pairs[i].Peer+":500", pairs[i].Gate+":500"
			fromLsw, fromGate := v1CountWire(ws, v1XQuick, lswA, gateA), v1CountWire(ws, v1XQuick, gateA, lswA)
			t.Logf("%s: Quick Mode messages: %d from Libreswan, %d from ikegate", c.name, fromLsw, fromGate)
			switch {
			case c.ikegI && fromGate == 0:
				t.Errorf("%s: ikegate sent no QM1", c.name)
			case !c.ikegI && c.accept && fromGate == 0:
				t.Errorf("%s: ikegate sent no QM2", c.name)
			case !c.ikegI && !c.accept && fromGate != 0:
				t.Errorf("%s: ikegate sent %d Quick Mode messages although it refused", c.name, fromGate)
			}
		}
	})
}
