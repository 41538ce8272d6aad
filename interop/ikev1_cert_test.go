package interop

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

// IKEv1 Main Mode with RSA signatures (RFC 2409 5.1) against strongSwan and
// Libreswan: CERT and SIG in MM5/MM6, CR in MM3/MM4. ikegate signs IKEv1
// only with RSA keys, so every leaf here is RSA-2048.

// v1CertConns returns an RSA-signature connection as the peer sees it and
// as ikegate sees it: leaves "peer-NAME" (issued by peerPKI: pki, or a CA
// ikegate does not trust) and "gate-NAME" (issued by pki), FQDN identities
// in the subjectAltName; both ends trust only pki's CA.
func v1CertConns(t *testing.T, pki, peerPKI *TestPKI, name string, i int, p v1Pair) (peer, gate Conn, peerLeaf *Leaf) {
	t.Helper()
	peer = v1PSKConn(name, i, p, "aes256-sha256-modp2048", "aes256-sha256-modp2048")
	peer.PSK = ""
	peerLeaf = peerPKI.Leaf(t, "peer-"+name, RSA2048, []string{"peer-" + name + ".lab"}, []string{p.Peer})
	gl := pki.Leaf(t, "gate-"+name, RSA2048, []string{"gate-" + name + ".lab"}, []string{p.Gate})
	peerLeaf.UseIn(&peer, peerPKI)
	peer.CAs = []string{pki.CACert}
	peer.RemoteKeyType = RSA2048
	gate = peer.Mirror()
	gl.UseIn(&gate, pki)
	return peer, gate, peerLeaf
}

// v1CertCase is one case of the IKEv1 certificate tests.
type v1CertCase struct {
	name      string
	ikegI     bool
	untrusted bool // the peer's certificate is from a CA ikegate does not trust
	pair      v1Pair
	peer      Conn
	gate      Conn
	icky      string // initiator cookie: from ikegate's SA, or from the wire
	took      time.Duration
}

func v1CertCases(t *testing.T, pki, other *TestPKI, prefix string, pairs []v1Pair) ([]*v1CertCase, []*Leaf) {
	var cases []*v1CertCase
	var foreign []*Leaf
	for _, bad := range []bool{false, true} {
		for _, ikegI := range []bool{true, false} {
			i := len(cases)
			name := prefix + map[bool]string{false: "", true: "ca-"}[bad] + map[bool]string{true: "i", false: "r"}[ikegI]
			issuer := pki
			if bad {
				issuer = other
			}
			peer, gate, pl := v1CertConns(t, pki, issuer, name, i, pairs[i])
			if bad {
				foreign = append(foreign, pl)
			}
			cases = append(cases, &v1CertCase{name: name, ikegI: ikegI, untrusted: bad, pair: pairs[i], peer: peer, gate: gate})
		}
	}
	return cases, foreign
}

// TestIKEv1CertStrongSwan: Main Mode with RSA signatures against strongSwan
// (kernel-libipsec, so phase 2 installs on its side; Main Mode floats to
// 4500 with MM5), ikegate as initiator and as responder; then a peer
// certificate from a CA ikegate does not trust, in both roles.
func TestIKEv1CertStrongSwan(t *testing.T) {
	t.Parallel()
	lab := NewLab(t)
	pki := NewTestPKI(t, t.TempDir())
	other := NewTestPKICN(t, t.TempDir(), "untrusted interop CA")
	pairs := v1AddPairs(t, lab.Left, lab.Right, 10, 4)
	v1PeerSubnets(t, lab, lab.Left, 211, []int{0, 1, 2, 3})
	cases, _ := v1CertCases(t, pki, other, "v1c-", pairs)
	var peers, gates []Conn
	for _, c := range cases {
		peers, gates = append(peers, c.peer), append(gates, c.gate)
	}
	capt := lab.Capture(t, lab.Right, LabIface)
	swan := lab.StartStrongSwan(t, lab.Left, SwanConfig{Conns: peers, LibIPsec: true, Extra: v1SwanExtra})
	g := lab.StartIkegate(t, lab.Right, v1GatewayTOML(v1GateAddrs(pairs), gates...))
	v1KeepLogs(t, swan.LogPath, g.LogPath)

	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t0 := time.Now()
			gmark, smark := v1MarkLog(g.LogPath), v1MarkLog(swan.LogPath)
			if c.untrusted {
				v1CertRejectedBySwan(t, g, swan, c, gmark, smark)
				c.took = time.Since(t0)
				return
			}
			gsa, ssa := v1UpWithSwan(t, g, swan, c.name, c.ikegI, c.pair)
			c.took = time.Since(t0)
			c.icky, _ = v1Cookies(gsa)
			if gsa.RemoteID != "peer-"+c.name+".lab" || gsa.LocalID != "gate-"+c.name+".lab" {
				t.Errorf("ikegate identities: local %q remote %q", gsa.LocalID, gsa.RemoteID)
			}
			if ssa.RemoteID != "gate-"+c.name+".lab" || ssa.LocalID != "peer-"+c.name+".lab" {
				t.Errorf("strongSwan identities: local %q remote %q", ssa.LocalID, ssa.RemoteID)
			}
			v1CheckSwanChild(t, gsa, ssa, c.name, "AES_CBC_256/HMAC_SHA2_256_128/MODP_2048", "MODP_2048")
			// strongSwan verified ikegate's RSA signature with ikegate's
			// certificate, which it checked against the test CA.
			v1WaitLine(t, "strongSwan", smark, time.Second, "authentication of 'gate-"+c.name+".lab' with RSA", "successful")
			v1WaitLine(t, "strongSwan", smark, time.Second, "using trusted ca certificate", pki.CADN)
			v1WaitLine(t, "ikegate", gmark, time.Second, "IKEv1 phase 1 established", "peer-"+c.name+".lab")

			if out, err := g.Down(c.name); err != nil {
				t.Errorf("ikegate down %s: %v\n%s", c.name, err, out)
			}
			v1WaitNoSwan(t, swan, c.name, 3*time.Second)
			v1WaitNoGate(t, g, c.name, 3*time.Second)
		})
	}

	pcap := capt.Stop()
	pkts := CheckDissection(t, pcap)
	t.Run("wire", func(t *testing.T) {
		mm := v1MainModeWire(t, pcap)
		for _, c := range cases {
			if c.icky == "" {
				c.icky = v1FirstCookie(mm, c.pair, c.ikegI)
			}
			if c.icky == "" {
				t.Errorf("%s: no Main Mode on the wire", c.name)
				continue
			}
			if !c.untrusted {
				v1CheckWire(t, pkts, c.icky, c.pair, c.ikegI, false, 4500)
			}
			v1CheckCertWire(t, c, mm, 4500)
		}
	})
	v1CertDurations(t, cases)
}

// v1CertRejectedBySwan: strongSwan presents a certificate from a CA ikegate
// does not trust. ikegate refuses it in MM6 (initiator) or MM5 (responder)
// with "peer certificate not trusted", tells strongSwan, and neither side
// keeps an ISAKMP SA.
func v1CertRejectedBySwan(t *testing.T, g *Ikegate, swan *Swan, c *v1CertCase, gmark, smark v1Mark) {
	t.Helper()
	if c.ikegI {
		if out, err := g.Up(c.name); err != nil {
			t.Fatalf("ikegate up %s: %v\n%s", c.name, err, out)
		}
	} else if out, err := swan.Initiate(c.name, 3); err == nil {
		t.Errorf("swanctl --initiate succeeded:\n%s", out)
	}
	v1WaitLine(t, "ikegate", gmark, 5*time.Second, "peer certificate not trusted", c.pair.Peer)
	if c.ikegI {
		// strongSwan, Main Mode responder, verified ikegate's certificate,
		// sent MM6 and took the ISAKMP SA as established; ikegate's
		// INVALID_CERTIFICATE notify and Delete remove it.
		v1WaitLine(t, "strongSwan", smark, time.Second, "authentication of 'gate-"+c.name+".lab' with RSA", "successful")
		v1WaitLine(t, "strongSwan", smark, 3*time.Second, "received DELETE for IKE_SA")
	} else {
		v1WaitLine(t, "strongSwan", smark, 3*time.Second, "received INVALID_CERTIFICATE error notify")
	}
	v1WaitNoGate(t, g, c.name, 3*time.Second)
	v1WaitNoSwan(t, swan, c.name, 3*time.Second)
}

// TestIKEv1CertLibreswan: Main Mode with RSA signatures (authby=rsasig,
// certificates in pluto's NSS database) against Libreswan, ikegate as
// initiator and as responder, then a Libreswan certificate from a CA
// ikegate does not trust in both roles. Libreswan cannot install phase 2
// SAs here (see TestIKEv1LibreswanPSK): phase 1 is checked on both sides,
// phase 2 in the logs.
func TestIKEv1CertLibreswan(t *testing.T) {
	t.Parallel()
	lab := NewLab(t)
	pki := NewTestPKI(t, t.TempDir())
	other := NewTestPKICN(t, t.TempDir(), "untrusted interop CA")
	pairs := v1AddPairs(t, lab.Left, lab.Right, 20, 4)
	cases, foreign := v1CertCases(t, pki, other, "lv1c-", pairs)
	var peers, gates []Conn
	for _, c := range cases {
		peers, gates = append(peers, c.peer), append(gates, c.gate)
	}
	capt := lab.Capture(t, lab.Right, LabIface)
	lsw := lab.StartLibreswan(t, lab.Left, LibreswanConfig{Conns: peers, PKI: pki, Leaves: foreign, Debug: true})
	g := lab.StartIkegate(t, lab.Right, v1GatewayTOML(v1GateAddrs(pairs), gates...))
	v1KeepLogs(t, lsw.LogPath, g.LogPath)

	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t0 := time.Now()
			gmark, lmark := v1MarkLog(g.LogPath), v1MarkLog(lsw.LogPath)
			if c.ikegI {
				if out, err := g.Up(c.name); err != nil {
					t.Fatalf("ikegate up %s: %v\n%s", c.name, err, out)
				}
			} else {
				out, err := lsw.Whack("--initiate", "--asynchronous", "--name", c.name)
				t.Logf("whack --initiate --asynchronous: %v %s", err, strings.TrimSpace(out))
			}
			defer lsw.Whack("--delete", "--name", c.name) // no revival, no retransmissions
			if c.untrusted {
				v1WaitLine(t, "ikegate", gmark, 5*time.Second, "peer certificate not trusted", c.pair.Peer)
				if c.ikegI {
					// Libreswan (responder) verified ikegate's certificate
					// and sent MM6; ikegate's notify and Delete follow.
					v1WaitLine(t, "Libreswan", lmark, time.Second, "Peer ID is ID_FQDN: '@gate-"+c.name+".lab'")
					v1WaitLine(t, "Libreswan", lmark, 3*time.Second, "received Delete SA payload")
				} else {
					// Fact: Libreswan 4.10 cannot read the protected
					// INVALID_CERTIFICATE notify a Main Mode responder sends
					// after refusing MM5 ("55436-byte length of ISAKMP Hash
					// Payload is larger than can fit / malformed payload in
					// packet"): it derives the Informational IV from its
					// phase 1 IV, which it sets only once phase 1
					// completes, while ikegate (and strongSwan, which reads
					// it) chain from the last block of MM5. Libreswan then
					// retransmits MM5, unanswered, until its own timeout.
					v1WaitLine(t, "Libreswan", lmark, 3*time.Second, "malformed payload in packet")
					v1WaitLine(t, "Libreswan", lmark, 3*time.Second, "STATE_MAIN_I3: retransmission")
				}
				c.took = time.Since(t0)
				v1WaitNoGate(t, g, c.name, 3*time.Second)
				if c.ikegI && !WaitFor(t, 3*time.Second, func() bool { return v1LswISAKMP(lsw, c.name) == nil }) {
					t.Errorf("Libreswan keeps an ISAKMP SA: %+v", v1LswStates(lsw, c.name))
				}
				if st := v1LswISAKMP(lsw, c.name); st != nil && !c.ikegI {
					t.Errorf("Libreswan has an established ISAKMP SA: %s", st.Line)
				}
				return
			}
			gsa := v1WaitGate(t, g, c.name, 5*time.Second, func(sa *v1GateSA) bool { return sa.State == "ESTABLISHED" })
			if !WaitFor(t, 3*time.Second, func() bool { return v1LswISAKMP(lsw, c.name) != nil }) {
				t.Errorf("Libreswan: no established ISAKMP SA for %s: %+v", c.name, v1LswStates(lsw, c.name))
			}
			c.took = time.Since(t0)
			if st := v1LswISAKMP(lsw, c.name); st != nil {
				t.Logf("Libreswan: %s", st.Line)
				if !strings.HasPrefix(st.State, "STATE_MAIN_") {
					t.Errorf("Libreswan ISAKMP state %s, want STATE_MAIN_*", st.State)
				}
			}
			gi, gr := v1Cookies(gsa)
			c.icky = gi
			if gsa.Initiator != c.ikegI || gsa.Version != 1 || gsa.IKEProposal != "AES_CBC_256/PRF_HMAC_SHA2_256/HMAC_SHA2_256_128/MODP_2048" {
				t.Errorf("ikegate ISAKMP SA %q initiator=%v v%d", gsa.IKEProposal, gsa.Initiator, gsa.Version)
			}
			if gsa.RemoteID != "peer-"+c.name+".lab" || gsa.LocalID != "gate-"+c.name+".lab" {
				t.Errorf("ikegate identities: local %q remote %q", gsa.LocalID, gsa.RemoteID)
			}
			if !v1LswCookies(lmark.since())[[2]string{gi, gr}] {
				t.Errorf("pluto's debug log has no ISAKMP message with cookies %s/%s (ikegate's view)", gi, gr)
			}
			// Libreswan's view: the peer's ID, checked against ikegate's
			// certificate, and an ISAKMP SA authenticated with RSA_SIG.
			v1WaitLine(t, "Libreswan", lmark, time.Second, "Peer ID is ID_FQDN: '@gate-"+c.name+".lab'")
			v1WaitLine(t, "Libreswan", lmark, time.Second, "established", "auth=RSA_SIG")
			v1Phase2Libreswan(t, g, lsw, &v1LswCase{name: c.name, ikegI: c.ikegI, pfs: true, pair: c.pair}, gmark, lmark)

			serial := -1
			if st := v1LswISAKMP(lsw, c.name); st != nil {
				serial = st.Serial
			}
			if out, err := g.Down(c.name); err != nil {
				t.Errorf("ikegate down %s: %v\n%s", c.name, err, out)
			}
			// Libreswan revives a connection it initiated when the peer
			// deletes it (see TestIKEv1LibreswanPSK): wait for this ISAKMP
			// SA, by cookies and serial, to be gone from both sides.
			if !WaitFor(t, 3*time.Second, func() bool {
				for _, sa := range v1GateNamed(g, c.name) {
					if sa.LocalSPI == gsa.LocalSPI {
						return false
					}
				}
				for _, s := range v1LswStates(lsw, c.name) {
					if s.Serial == serial {
						return false
					}
				}
				return true
			}) {
				t.Errorf("after ikegate down: ikegate %+v, Libreswan %+v", v1GateNamed(g, c.name), v1LswStates(lsw, c.name))
			}
			v1WaitLine(t, "Libreswan", lmark, time.Second, "received Delete SA payload")
		})
	}

	pcap := capt.Stop()
	pkts := CheckDissection(t, pcap)
	t.Run("wire", func(t *testing.T) {
		mm := v1MainModeWire(t, pcap)
		for _, c := range cases {
			if c.icky == "" {
				c.icky = v1FirstCookie(mm, c.pair, c.ikegI)
			}
			if c.icky == "" {
				t.Errorf("%s: no Main Mode on the wire", c.name)
				continue
			}
			if !c.untrusted {
				v1CheckPhase1Wire(t, pkts, c.icky, c.pair, c.ikegI, false)
			}
			v1CheckCertWire(t, c, mm, 500)
		}
	})
	v1CertDurations(t, cases)
}

func v1CertDurations(t *testing.T, cases []*v1CertCase) {
	t.Logf("case durations (initiate to both sides settled / the refusal seen on both sides):")
	for _, c := range cases {
		t.Logf("  %-12s %v", c.name, c.took.Round(time.Millisecond))
	}
}

// v1MMPacket is one Main Mode message with the payloads tshark sees in it
// (MM5/MM6 are encrypted: one payload of the encrypted first type).
type v1MMPacket struct {
	ICky, Src, Dst string // Src/Dst addr:port
	Payloads       []int  // payload types (1 SA, 4 KE, 7 CR, ...)
	AuthMethods    []int  // phase 1 Authentication Method attributes (3 = RSA signatures)
}

func (p v1MMPacket) has(typ int) bool {
	for _, x := range p.Payloads {
		if x == typ {
			return true
		}
	}
	return false
}

// IKEv1 payload types and the RSA-signature authentication method.
const (
	v1PayloadSA   = 1
	v1PayloadKE   = 4
	v1PayloadCR   = 7
	v1AuthRSASig  = 3
	v1EncapTransp = 2
)

// v1MainModeWire reads every Main Mode message of pcap (one tshark pass).
func v1MainModeWire(t *testing.T, pcap string) []v1MMPacket {
	t.Helper()
	out, err := runOut(Tshark, "-r", pcap, "-n", "-Y", "isakmp.exchangetype == 2", "-T", "fields",
		"-E", "separator=|", "-E", "occurrence=a", "-E", "aggregator=,",
		"-e", "isakmp.ispi", "-e", "ip.src", "-e", "udp.srcport", "-e", "ip.dst", "-e", "udp.dstport",
		"-e", "isakmp.typepayload", "-e", "isakmp.ike.attr.authentication_method")
	if err != nil {
		t.Errorf("tshark: %v\n%s", err, out)
		return nil
	}
	ints := func(s string) []int {
		var v []int
		for _, f := range strings.Split(s, ",") {
			if n, err := strconv.ParseInt(strings.TrimSpace(f), 0, 32); err == nil {
				v = append(v, int(n))
			}
		}
		return v
	}
	var pkts []v1MMPacket
	for _, line := range meaningful(out) {
		f := strings.Split(line, "|")
		if len(f) != 7 {
			continue
		}
		pkts = append(pkts, v1MMPacket{ICky: f[0], Src: f[1] + ":" + f[2], Dst: f[3] + ":" + f[4],
			Payloads: ints(f[5]), AuthMethods: ints(f[6])})
	}
	return pkts
}

// v1FirstCookie returns the initiator cookie of the first Main Mode
// message the case's initiator sent.
func v1FirstCookie(mm []v1MMPacket, pair v1Pair, ikegI bool) string {
	ini, resp := pair.Peer+":500", pair.Gate+":500"
	if ikegI {
		ini, resp = resp, ini
	}
	for _, p := range mm {
		if p.Src == ini && p.Dst == resp {
			return p.ICky
		}
	}
	return ""
}

// v1CheckCertWire: MM1 proposes and MM2 accepts RSA signatures only; the
// MM3 (ikegate initiating) or MM4 (responding) carries ikegate's CR for a
// certificate of its CA; MM5 and
// MM6 (encrypted: CERT, SIG) flow on authPort. With an untrusted peer
// certificate the exchange stops at the message carrying it.
func v1CheckCertWire(t *testing.T, c *v1CertCase, mm []v1MMPacket, authPort int) {
	t.Helper()
	ini, resp := c.pair.Peer, c.pair.Gate
	if c.ikegI {
		ini, resp = resp, ini
	}
	var mm1, mm2, mm3, mm4 *v1MMPacket
	var mm5, mm6 int
	for i := range mm {
		p := &mm[i]
		if p.ICky != c.icky {
			continue
		}
		switch {
		case p.Src == ini+":500" && p.has(v1PayloadSA):
			mm1 = p
		case p.Src == resp+":500" && p.has(v1PayloadSA):
			mm2 = p
		case p.Src == ini+":500" && p.has(v1PayloadKE):
			mm3 = p
		case p.Src == resp+":500" && p.has(v1PayloadKE):
			mm4 = p
		case p.Src == fmt.Sprintf("%s:%d", ini, authPort):
			mm5++
		case p.Src == fmt.Sprintf("%s:%d", resp, authPort):
			mm6++
		}
	}
	if mm1 == nil || mm2 == nil || mm3 == nil || mm4 == nil {
		t.Errorf("%s: Main Mode MM1-MM4 incomplete on the wire (cookie %s): %v %v %v %v", c.name, c.icky, mm1, mm2, mm3, mm4)
		return
	}
	for _, p := range []*v1MMPacket{mm1, mm2} {
		if len(p.AuthMethods) == 0 {
			t.Errorf("%s: %s's SA payload has no authentication method", c.name, p.Src)
		}
		for _, a := range p.AuthMethods {
			if a != v1AuthRSASig {
				t.Errorf("%s: %s proposes authentication method %d, want %d (RSA signatures)", c.name, p.Src, a, v1AuthRSASig)
			}
		}
	}
	// ikegate's CR goes in the clear in MM3 (initiator) or MM4 (responder).
	// Fact: strongSwan and Libreswan send theirs only in MM5/MM6
	// (encrypted; their MM3/MM4 carry KE, Ni, NAT-D only), so nothing is
	// asserted about the peer's.
	gateMsg, which := mm4, "MM4"
	if c.ikegI {
		gateMsg, which = mm3, "MM3"
	}
	if !gateMsg.has(v1PayloadCR) {
		t.Errorf("%s: ikegate's %s has payloads %v, want a CR (7)", c.name, which, gateMsg.Payloads)
	}
	t.Logf("%s: MM3 payloads %v, MM4 payloads %v; MM5 x%d, MM6 x%d on port %d", c.name, mm3.Payloads, mm4.Payloads, mm5, mm6, authPort)
	switch {
	case mm5 == 0:
		t.Errorf("%s: no MM5 from %s:%d", c.name, ini, authPort)
	case !c.untrusted && mm6 == 0:
		t.Errorf("%s: no MM6 from %s:%d", c.name, resp, authPort)
	case c.untrusted && !c.ikegI && mm6 != 0:
		// ikegate refused the peer's MM5: no MM6 may follow.
		t.Errorf("%s: ikegate sent MM6 to a peer whose certificate it does not trust", c.name)
	}
}
