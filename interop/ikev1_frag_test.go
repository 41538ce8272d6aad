package interop

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// IKEv1 fragmentation (the Cisco/strongSwan extension: FRAGMENTATION vendor
// ID, messages split into FRAG payloads, type 132) against strongSwan 5.9
// with RSA certificates in Main Mode over a path that drops IP fragments.
//
// The leaves carry 80 extra DNS subjectAltNames so each certificate is
// ~5.2 kB and MM5/MM6 (CERT + SIG + ID + HASH, encrypted) ~5.7 kB: well over
// the 1500-byte link MTU (strongSwan splits them into 5 fragments, ikegate
// too). An nftables rule in both namespaces, in prerouting
// at priority -450 (before conntrack's defragmentation at -400), counts and
// drops every IP fragment. Without IKE fragmentation MM5 (or MM6) is lost
// and the ISAKMP SA never comes up (the control cases, strongSwan
// fragmentation = no); with it both ends send MM5/MM6 as FRAG messages of
// at most ~1280 bytes and no IP fragment is ever put on the wire.

// v1fExtraSANs is the number of padding subjectAltNames of each leaf.
const v1fExtraSANs = 80

// v1fBigLeaf issues, from pki's CA, an RSA-2048 leaf for name with the DNS
// name dns, the IP ip and v1fExtraSANs further long DNS names, so that the
// certificate alone exceeds the link MTU.
func v1fBigLeaf(t *testing.T, p *TestPKI, name, dns, ip string) *Leaf {
	t.Helper()
	names := []string{dns}
	for i := 0; i < v1fExtraSANs; i++ {
		names = append(names, fmt.Sprintf("padding-san-%03d.%s.fragmentation.interop.lab", i, name))
	}
	l := p.Leaf(t, name, RSA2048, names, []string{ip})
	if n := len(l.X509.Raw); n < 3000 {
		t.Fatalf("leaf %s: certificate of %d bytes, want > 3000 so MM5/MM6 need IP fragmentation", name, n)
	}
	return l
}

// v1fCase is one case: strongSwan's fragmentation setting and who initiates.
type v1fCase struct {
	name  string
	frag  string // strongSwan's fragmentation = yes|force|no
	ikegI bool
	pair  v1Pair
	peer  Conn
	gate  Conn
	// nft drop counter growth during the case, in the peer's and in
	// ikegate's namespace
	dropPeer, dropGate uint64
	took               time.Duration
}

func (c *v1fCase) expectUp() bool { return c.frag != "no" }

// v1fNftTable is the nftables table that drops IP fragments.
const v1fNftTable = "ikgfrag"

// v1fDropFragments installs, in namespace ns, a prerouting chain at
// priority -450 (before defragmentation at -400) that counts and drops
// every IPv4 fragment (MF set or a non-zero offset).
func v1fDropFragments(t *testing.T, ns string) {
	t.Helper()
	nft := func(args ...string) {
		t.Helper()
		MustRun(t, IPCmd, append([]string{"netns", "exec", ns, "nft"}, args...)...)
	}
	nft("add", "table", "ip", v1fNftTable)
	nft("add", "chain", "ip", v1fNftTable, "in", "{ type filter hook prerouting priority -450; policy accept; }")
	nft("add", "rule", "ip", v1fNftTable, "in", "ip", "frag-off", "&", "0x3fff", "!=", "0", "counter", "drop")
	t.Logf("%s: %s", ns, MustRun(t, IPCmd, "netns", "exec", ns, "nft", "list", "table", "ip", v1fNftTable))
}

var v1fCounterRE = regexp.MustCompile(`counter packets (\d+) bytes (\d+)`)

// v1fDropped returns the packet count of the fragment drop rule in ns.
func v1fDropped(t *testing.T, ns string) uint64 {
	t.Helper()
	out := MustRun(t, IPCmd, "netns", "exec", ns, "nft", "list", "chain", "ip", v1fNftTable, "in")
	m := v1fCounterRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("nft in %s: no counter in:\n%s", ns, out)
	}
	n, _ := strconv.ParseUint(m[1], 10, 64)
	return n
}

// v1fFilter is the capture filter: IKE and NAT-T as Capture's, plus every
// IP fragment (non-first fragments carry no UDP header, so "udp port" alone
// would miss them).
const v1fFilter = "udp port 500 or udp port 4500 or (ip[6:2] & 0x3fff != 0)"

// v1fFrame is one captured frame as far as these tests care.
type v1fFrame struct {
	Frame      int
	Src, Dst   string // IP addresses
	IPFragment bool   // MF set or a non-zero fragment offset
	ISPI       string
	Payloads   []string // ISAKMP payload types (decimal), as tshark lists them
	FragID     string   // isakmp.frag.packetid
	FragSeq    string
	FragLast   string
}

func (f v1fFrame) isakmpFrag() bool {
	for _, p := range f.Payloads {
		if p == "132" {
			return true
		}
	}
	return false
}

// v1fFrames reads every frame of pcap (one tshark pass).
func v1fFrames(t *testing.T, pcap string) []v1fFrame {
	t.Helper()
	out, err := runOut(Tshark, "-r", pcap, "-n", "-T", "fields", "-E", "separator=|", "-E", "occurrence=a", "-E", "aggregator=,",
		"-e", "frame.number", "-e", "ip.src", "-e", "ip.dst", "-e", "ip.flags.mf", "-e", "ip.frag_offset",
		"-e", "isakmp.ispi", "-e", "isakmp.typepayload",
		"-e", "isakmp.frag.packetid", "-e", "isakmp.frag.seq", "-e", "isakmp.frag.last")
	if err != nil {
		t.Fatalf("tshark: %v\n%s", err, out)
	}
	first := func(s string) string { v, _, _ := strings.Cut(s, ","); return v }
	var fs []v1fFrame
	for _, line := range meaningful(out) {
		f := strings.Split(line, "|")
		if len(f) != 10 {
			continue
		}
		var fr v1fFrame
		fr.Frame, _ = strconv.Atoi(f[0])
		fr.Src, fr.Dst = first(f[1]), first(f[2])
		mf := first(f[3])
		off, _ := strconv.Atoi(first(f[4]))
		fr.IPFragment = mf == "1" || strings.EqualFold(mf, "true") || off != 0
		fr.ISPI = first(f[5])
		if f[6] != "" {
			fr.Payloads = strings.Split(f[6], ",")
		}
		fr.FragID, fr.FragSeq, fr.FragLast = f[7], f[8], f[9]
		fs = append(fs, fr)
	}
	return fs
}

// TestIKEv1FragStrongSwan: Main Mode with RSA certificates too large for
// one datagram, against strongSwan, over a link whose both ends drop IP
// fragments. With strongSwan's fragmentation = yes and force (each in both
// roles) the ISAKMP SA and one phase 2 SA come up on both
// ends with MM5/MM6 carried in FRAG payloads (type 132) from both sides and
// no IP fragment on the wire; with fragmentation = no (both roles) the
// exchange never completes and the nft rule counts the dropped fragments.
func TestIKEv1FragStrongSwan(t *testing.T) {
	t.Parallel()
	lab := NewLab(t)
	pki := NewTestPKI(t, t.TempDir())
	specs := []struct {
		frag  string
		ikegI bool
	}{{"yes", true}, {"yes", false}, {"force", true}, {"force", false}, {"no", true}, {"no", false}}
	pairs := v1AddPairs(t, lab.Left, lab.Right, 10, len(specs))
	var idx []int
	for i := range specs {
		idx = append(idx, i)
	}
	v1PeerSubnets(t, lab, lab.Left, 211, idx)
	var cases []*v1fCase
	var peers, gates []Conn
	var certLens [2]int
	for i, s := range specs {
		name := "v1f-" + s.frag + "-" + map[bool]string{true: "i", false: "r"}[s.ikegI]
		p := pairs[i]
		peer := v1PSKConn(name, i, p, "aes256-sha256-modp2048", "aes256-sha256-modp2048")
		peer.PSK = ""
		peer.SwanFragmentation = s.frag
		pl := v1fBigLeaf(t, pki, "peer-"+name, "peer-"+name+".lab", p.Peer)
		gl := v1fBigLeaf(t, pki, "gate-"+name, "gate-"+name+".lab", p.Gate)
		pl.UseIn(&peer, pki)
		certLens = [2]int{len(pl.X509.Raw), len(gl.X509.Raw)}
		peer.RemoteKeyType = RSA2048
		gate := peer.Mirror()
		gl.UseIn(&gate, pki)
		c := &v1fCase{name: name, frag: s.frag, ikegI: s.ikegI, pair: p, peer: peer, gate: gate}
		cases = append(cases, c)
		peers, gates = append(peers, peer), append(gates, gate)
	}
	t.Logf("certificates: %d bytes (strongSwan's leaf), %d bytes (ikegate's leaf)", certLens[0], certLens[1])

	v1fDropFragments(t, lab.Left)
	v1fDropFragments(t, lab.Right)
	capt := lab.CaptureFiltered(t, lab.Right, LabIface, v1fFilter)
	swan := lab.StartStrongSwan(t, lab.Left, SwanConfig{Conns: peers, LibIPsec: true, Extra: v1SwanExtra})
	g := lab.StartIkegate(t, lab.Right, v1GatewayTOML(v1GateAddrs(pairs), gates...))
	v1KeepLogs(t, swan.LogPath, g.LogPath)

	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t0 := time.Now()
			gmark, smark := v1MarkLog(g.LogPath), v1MarkLog(swan.LogPath)
			dp0, dg0 := v1fDropped(t, lab.Left), v1fDropped(t, lab.Right)
			defer func() {
				c.took = time.Since(t0)
				c.dropPeer, c.dropGate = v1fDropped(t, lab.Left)-dp0, v1fDropped(t, lab.Right)-dg0
				t.Logf("IP fragments dropped during the case: %d at strongSwan, %d at ikegate", c.dropPeer, c.dropGate)
			}()
			if c.expectUp() {
				v1fUp(t, g, swan, c, gmark, smark, pki)
			} else {
				v1fNeverUp(t, g, swan, c, gmark, smark)
			}
		})
	}

	pcap := capt.Stop()
	frames := v1fFrames(t, pcap)
	pkts := CheckDissection(t, pcap)
	t.Logf("capture: %d frames, %d IKE messages", len(frames), len(pkts))
	t.Run("wire", func(t *testing.T) {
		for _, c := range cases {
			v1fCheckWire(t, c, frames)
		}
	})
	t.Run("nft", func(t *testing.T) {
		for _, c := range cases {
			if c.expectUp() && c.dropPeer+c.dropGate != 0 {
				t.Errorf("%s: nft dropped %d IP fragments at strongSwan and %d at ikegate, want none with IKE fragmentation",
					c.name, c.dropPeer, c.dropGate)
			}
			if !c.expectUp() && c.dropPeer+c.dropGate == 0 {
				t.Errorf("%s: nft dropped no IP fragment: the control case does not prove the path drops them", c.name)
			}
		}
	})
	t.Run("ikegate-log", func(t *testing.T) {
		log := g.Log()
		for _, bad := range []string{"lacks an ID payload", "IKE fragment outside phase 1", "malformed message"} {
			if ls := v1Lines(log, bad); len(ls) > 0 {
				t.Errorf("ikegate log has %d lines with %q, first: %s", len(ls), bad, v1Short(ls[0], 400))
			}
		}
	})
	t.Logf("cases (duration, IP fragments dropped at strongSwan / at ikegate):")
	for _, c := range cases {
		t.Logf("  %-14s %-8v %d / %d", c.name, c.took.Round(time.Millisecond), c.dropPeer, c.dropGate)
	}
}

// v1fUp: the case comes up on both ends with certificates; phase 2 too.
func v1fUp(t *testing.T, g *Ikegate, swan *Swan, c *v1fCase, gmark, smark v1Mark, pki *TestPKI) {
	t.Helper()
	gsa, ssa := v1UpWithSwan(t, g, swan, c.name, c.ikegI, c.pair)
	if gsa.RemoteID != "peer-"+c.name+".lab" || gsa.LocalID != "gate-"+c.name+".lab" {
		t.Errorf("ikegate identities: local %q remote %q", gsa.LocalID, gsa.RemoteID)
	}
	if ssa.RemoteID != "gate-"+c.name+".lab" || ssa.LocalID != "peer-"+c.name+".lab" {
		t.Errorf("strongSwan identities: local %q remote %q", ssa.LocalID, ssa.RemoteID)
	}
	v1CheckSwanChild(t, gsa, ssa, c.name, "AES_CBC_256/HMAC_SHA2_256_128/MODP_2048", "MODP_2048")
	// Authentication by certificates on both ends: strongSwan received
	// ikegate's certificate, chained it to the CA and verified the RSA
	// signature; ikegate's connection has no other credential than its
	// certificate and the CA.
	v1WaitLine(t, "strongSwan", smark, time.Second, "received end entity cert", "CN=gate-"+c.name)
	v1WaitLine(t, "strongSwan", smark, time.Second, "using trusted ca certificate", pki.CADN)
	v1WaitLine(t, "strongSwan", smark, time.Second, "authentication of 'gate-"+c.name+".lab' with RSA", "successful")
	v1WaitLine(t, "ikegate", gmark, time.Second, "IKEv1 phase 1 established", "peer-"+c.name+".lab")
	// strongSwan sent its MM5/MM6 in IKE fragments and reassembled ikegate's.
	v1WaitLine(t, "strongSwan", smark, time.Second, "splitting IKE message", "fragments")
	v1WaitLine(t, "strongSwan", smark, time.Second, "received fragment #1")
	if out, err := g.Down(c.name); err != nil {
		t.Errorf("ikegate down %s: %v\n%s", c.name, err, out)
	}
	v1WaitNoSwan(t, swan, c.name, 3*time.Second)
	v1WaitNoGate(t, g, c.name, 3*time.Second)
}

// v1fNeverUp: the control case; MM5 (or MM6) needs IP fragments, which the
// path drops, so neither end gets an ESTABLISHED ISAKMP SA.
func v1fNeverUp(t *testing.T, g *Ikegate, swan *Swan, c *v1fCase, gmark, smark v1Mark) {
	t.Helper()
	if c.ikegI {
		if out, err := g.Up(c.name); err != nil {
			t.Logf("ikegate up %s: %v\n%s", c.name, err, out)
		}
		// ikegate: 1 s timeout, 2 retransmissions; then it gives up.
		time.Sleep(6 * time.Second)
	} else if out, err := swan.Initiate(c.name, 8); err == nil {
		t.Errorf("swanctl --initiate %s succeeded over a path that drops IP fragments:\n%s", c.name, out)
	}
	for _, sa := range v1GateNamed(g, c.name) {
		if sa.State == "ESTABLISHED" {
			t.Errorf("ikegate: ISAKMP SA of %s ESTABLISHED without IKE fragmentation over a fragment-dropping path: %+v", c.name, sa)
		}
	}
	if sa := swan.IKESA(c.name); sa != nil && sa.State == "ESTABLISHED" {
		t.Errorf("strongSwan: IKE SA %s ESTABLISHED without IKE fragmentation over a fragment-dropping path", c.name)
	}
	if _, ok := v1Line(gmark.since(), "IKEv1 phase 1 established", "peer-"+c.name+".lab"); ok {
		t.Errorf("ikegate log: phase 1 of %s established", c.name)
	}
	// strongSwan never fragmented (fragmentation = no).
	if l, ok := v1Line(smark.since(), "splitting IKE message"); ok {
		t.Errorf("strongSwan fragmented with fragmentation = no: %s", l)
	}
	_, _ = swan.Terminate(c.name)
	_, _ = g.Down(c.name)
}

// v1fCheckWire: for an established case, FRAG payloads from both sides,
// with a last fragment, and no IP fragment of the pair at all; for a
// control case, IP fragments and no FRAG payload.
func v1fCheckWire(t *testing.T, c *v1fCase, frames []v1fFrame) {
	t.Helper()
	var ipFrags, fromPeer, fromGate, lastPeer, lastGate int
	for _, f := range frames {
		in := (f.Src == c.pair.Peer && f.Dst == c.pair.Gate) || (f.Src == c.pair.Gate && f.Dst == c.pair.Peer)
		if !in {
			continue
		}
		if f.IPFragment {
			ipFrags++
		}
		if !f.isakmpFrag() {
			continue
		}
		last := f.FragLast != "" && f.FragLast != "0"
		if f.Src == c.pair.Peer {
			fromPeer++
			if last {
				lastPeer++
			}
		} else {
			fromGate++
			if last {
				lastGate++
			}
		}
	}
	t.Logf("%s: ISAKMP fragments %d from strongSwan (%d last), %d from ikegate (%d last); %d IP fragments",
		c.name, fromPeer, lastPeer, fromGate, lastGate, ipFrags)
	if c.expectUp() {
		if fromPeer < 2 || lastPeer < 1 {
			t.Errorf("%s: strongSwan sent %d ISAKMP fragment messages (%d last), want a message split in >= 2", c.name, fromPeer, lastPeer)
		}
		if fromGate < 2 || lastGate < 1 {
			t.Errorf("%s: ikegate sent %d ISAKMP fragment messages (%d last), want a message split in >= 2", c.name, fromGate, lastGate)
		}
		if ipFrags != 0 {
			t.Errorf("%s: %d IP fragments on the wire, want none with IKE fragmentation", c.name, ipFrags)
		}
		return
	}
	if ipFrags == 0 {
		t.Errorf("%s: no IP fragment on the wire in the control case", c.name)
	}
	if fromPeer != 0 {
		t.Errorf("%s: strongSwan sent %d ISAKMP fragments with fragmentation = no", c.name, fromPeer)
	}
}
