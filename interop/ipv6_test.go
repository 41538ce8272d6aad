package interop

// IPv6 (issue 16): ikegate over an IPv6-only outer link (NewLab6: the
// lab link has fd00:200::/64 addresses and no IPv4 at all), both IKE
// versions, both roles:
//
//   - TestIPv6StrongSwan: against strongSwan 5.9.8 with kernel-libipsec,
//     ikegate with the userspace dataplane; IPv6 selectors (IKEv2 and
//     IKEv1) and IPv4+IPv6 selectors in one IKEv2 CHILD SA, pings of both
//     families through it both ways, and the ESP-in-UDP datagrams over
//     IPv6 on the wire with the CHILD SA's SPIs.
//   - TestIPv6Libreswan: against Libreswan 4.10, negotiation only (it
//     cannot install ESP here); NAT detection over IPv6 addresses finds
//     no NAT: the SAs stay on port 500 on both ends while both sides'
//     NAT detection payloads are on the wire.
//   - TestIPv6Fragmentation: IKEv2 with RSA-3072 certificates on a link
//     with IPv6's minimum MTU (1280): IKE_AUTH is larger than that, both
//     sides send it as RFC 7383 fragments, and no IKE datagram needs IPv6
//     fragmentation.
//
// Remote access over IPv6 is in ipv6_ra_test.go, the IPv6 policies of
// the xfrm backend in kernel/xfrm_linux_test.go.

import (
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// addPairs6 adds n IPv6 address pairs on the lab link (fd00:200::1:<base+i>
// left, fd00:200::2:<base+i> right), as addPairs does for IPv4: every case
// of a test gets its own addresses.
func addPairs6(t *testing.T, lab *Lab, base, n int) []v2Pair {
	t.Helper()
	var ps []v2Pair
	for i := 0; i < n; i++ {
		p := v2Pair{fmt.Sprintf("fd00:200::1:%d", base+i), fmt.Sprintf("fd00:200::2:%d", base+i)}
		lab.AddAddr(t, lab.Left, LabIface, p.Peer+"/64")
		lab.AddAddr(t, lab.Right, LabIface, p.Gate+"/64")
		ps = append(ps, p)
	}
	return ps
}

// Protected IPv6 subnets of case i: fd00:201:<i>::/64 on the peer's side,
// fd00:202:<i>::/64 on ikegate's, with the hosts ::1 of each (canonical
// text, as both daemons print prefixes).
func leftNet6(i int) string {
	return netip.MustParsePrefix(fmt.Sprintf("fd00:201:%d::/64", i)).String()
}
func rightNet6(i int) string {
	return netip.MustParsePrefix(fmt.Sprintf("fd00:202:%d::/64", i)).String()
}
func leftHost6(i int) string  { return netip.MustParseAddr(fmt.Sprintf("fd00:201:%d::1", i)).String() }
func rightHost6(i int) string { return netip.MustParseAddr(fmt.Sprintf("fd00:202:%d::1", i)).String() }

// addrPort is an endpoint as ikegate's `sas --json` prints it
// ("[fd00:200::2]:4500", "10.200.0.2:500").
func addrPort(addr string, port uint16) string {
	return netip.AddrPortFrom(netip.MustParseAddr(addr), port).String()
}

// dualSubnets gives the peer (sn<i>) and ikegate (gs<i>) the protected
// subnets of case i in both families: 10.201.<i>.1/24 and
// fd00:201:<i>::1/64 on the left, 10.202.<i>.1/24 and fd00:202:<i>::1/64
// on the right (kernel-libipsec needs a local address in each local
// selector for its route, addPeerSubnets).
func dualSubnets(t *testing.T, lab *Lab, i int) {
	t.Helper()
	lab.AddSubnet(t, lab.Left, fmt.Sprintf("sn%d", i), leftHost(i)+"/24", leftHost6(i)+"/64")
	lab.AddSubnet(t, lab.Right, fmt.Sprintf("gs%d", i), rightHost(i)+"/24", rightHost6(i)+"/64")
}

// v6SwanCase is one case of TestIPv6StrongSwan.
type v6SwanCase struct {
	name    string
	version int
	ikegI   bool // ikegate initiates
	dual    bool // IPv4 and IPv6 selectors in the one CHILD SA (IKEv2)

	pair          v2Pair
	ispi          string // IKE SA initiator SPI, for the wire checks
	spiIn, spiOut string // ikegate's CHILD SA SPIs
}

// sels are the case's selectors as the peer sees them.
func (c *v6SwanCase) sels(i int) (local, remote []string) {
	local, remote = []string{leftNet6(i)}, []string{rightNet6(i)}
	if c.dual {
		local, remote = append([]string{leftSubnet(i)}, local...), append([]string{rightSubnet(i)}, remote...)
	}
	return local, remote
}

// TestIPv6StrongSwan: strongSwan 5.9.8 (kernel-libipsec) and ikegate
// (dataplane = "userspace") on an IPv6-only link, each case on its own
// address pair and subnets, all in one lab (one strongSwan, one ikegate):
// IKEv2 with IPv6 selectors and with IPv4+IPv6 selectors in one CHILD SA,
// IKEv1 with IPv6 selectors (Quick Mode carries one pair), ikegate as
// initiator and as responder. Each case checks:
//   - both daemons' IKE SA between the IPv6 addresses, on port 4500 on
//     both ends (kernel-libipsec and the userspace dataplane both need
//     UDP encapsulation and say so with NAT detection hashes that cannot
//     match; ikegate parses strongSwan's, computed over IPv6 addresses);
//   - the CHILD SA INSTALLED on both with crossed SPIs and the expected
//     selectors of both families, mirrored;
//   - ICMPv6 echo both ways between the subnets, and for dual-stack also
//     ICMP (IPv4 inside IPv6 outside), every echo answered, and ikegate's
//     CHILD SA counters having seen them;
//   - on the wire, the IKE exchanges over IPv6 (dissected) and ESP in UDP
//     over IPv6 in both directions with the CHILD SA's SPIs.
func TestIPv6StrongSwan(t *testing.T) {
	t.Parallel()
	cases := []*v6SwanCase{
		{name: "v2-dual-i", version: 2, ikegI: true, dual: true},
		{name: "v2-dual-r", version: 2, dual: true},
		{name: "v2-v6-i", version: 2, ikegI: true},
		{name: "v2-v6-r", version: 2},
		{name: "v1-v6-i", version: 1, ikegI: true},
		{name: "v1-v6-r", version: 1},
	}
	lab := NewLab6(t)
	pairs := addPairs6(t, lab, 10, len(cases))
	var peers, gates []Conn
	for i, c := range cases {
		c.pair = pairs[i]
		dualSubnets(t, lab, i)
		ike, esp := swanTrafficSuite(c.version)
		local, remote := c.sels(i)
		peer := Conn{Name: c.name, Version: c.version, LocalAddr: c.pair.Peer, RemoteAddr: c.pair.Gate,
			LocalID: "@peer-" + c.name + ".lab", RemoteID: "@gate-" + c.name + ".lab",
			Auth: "psk", PSK: "ipv6-" + c.name + "-0123456789abcdef",
			IKE: []string{ike}, ESP: []string{esp}, LocalTS: local, RemoteTS: remote}
		peers, gates = append(peers, peer), append(gates, peer.Mirror())
	}
	capt := lab.Capture(t, lab.Left, LabIface)
	swan := lab.StartStrongSwan(t, lab.Left, SwanConfig{Conns: peers, LibIPsec: true})
	g := lab.StartIkegate(t, lab.Right, IkegateTOML(userspaceGateway(gateAddrs(pairs)...), gates...))
	keepLogs(t, swan.LogPath, g.LogPath)

	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) { v6SwanCaseRun(t, lab, g, swan, c, i) })
	}

	pcap := capt.Stop()
	pkts := CheckDissection(t, pcap)
	t.Run("wire", func(t *testing.T) {
		esps, err := espOnWire(pcap)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cases {
			if c.ispi == "" {
				continue // the case failed before its SA was up
			}
			ini, resp := c.pair.Peer, c.pair.Gate
			if c.ikegI {
				ini, resp = resp, ini
			}
			if c.version == 2 {
				checkWire(t, pkts, c.ispi, ini, resp, 4500)
			} else {
				v1CheckSentBy(t, pkts, c.pair.Gate, 500, 4500)
			}
			checkESPOnWire(t, esps, c.name, c.pair.Gate, c.pair.Peer, c.spiOut)
			checkESPOnWire(t, esps, c.name, c.pair.Peer, c.pair.Gate, c.spiIn)
		}
	})
}

func v6SwanCaseRun(t *testing.T, lab *Lab, g *Ikegate, swan *Swan, c *v6SwanCase, i int) {
	t0 := time.Now()
	if c.ikegI {
		if out, err := g.Up(c.name); err != nil {
			t.Fatalf("ikegate up %s: %v\n%s", c.name, err, out)
		}
	} else if out, err := swan.Initiate(c.name, 10); err != nil {
		t.Errorf("swanctl --initiate --child %s: %v\n%s", c.name, err, out)
	}
	gsa := waitGateSA(t, g, c.name, 10*time.Second, settled(1))
	ssa := waitSwanSA(t, swan, c.name, 1, 10*time.Second)
	t.Logf("up in %v: ikegate v%d %s <-> %s %s; strongSwan %s:%s <-> %s:%s",
		time.Since(t0).Round(time.Millisecond), gsa.Version, gsa.Local, gsa.Remote, gsa.IKEProposal,
		ssa.LocalHost, ssa.Raw["local-port"], ssa.RemoteHost, ssa.Raw["remote-port"])
	c.ispi, _ = spisOf(gsa)
	if gsa.Version != c.version || ssa.Version != c.version || gsa.Initiator != c.ikegI {
		t.Errorf("ikegate v%d initiator=%v, strongSwan v%d; want v%d, ikegate initiator=%v",
			gsa.Version, gsa.Initiator, ssa.Version, c.version, c.ikegI)
	}
	if c.version == 2 {
		checkSwanIKE(t, gsa, ssa)
	}
	if want := [2]string{addrPort(c.pair.Gate, 4500), addrPort(c.pair.Peer, 4500)}; [2]string{gsa.Local, gsa.Remote} != want {
		t.Errorf("ikegate IKE SA %s <-> %s, want %s <-> %s (IPv6, UDP-encapsulated)", gsa.Local, gsa.Remote, want[0], want[1])
	}
	if ssa.LocalHost != c.pair.Peer || ssa.RemoteHost != c.pair.Gate || ssa.Raw["local-port"] != "4500" || ssa.Raw["remote-port"] != "4500" {
		t.Errorf("strongSwan IKE SA %s:%s <-> %s:%s, want [%s]:4500 <-> [%s]:4500", ssa.LocalHost, ssa.Raw["local-port"],
			ssa.RemoteHost, ssa.Raw["remote-port"], c.pair.Peer, c.pair.Gate)
	}

	// The CHILD SA: installed on both, SPIs crossed, the selectors of
	// both families (dual-stack) in one SA, mirrored.
	local, remote := c.sels(i)
	gc, sc := findGateChild(gsa, c.name), findSwanChild(ssa, c.name)
	if gc == nil || sc == nil {
		t.Fatalf("CHILD SA %s: ikegate has %+v, strongSwan has %+v", c.name, gsa.Children, ssa.Children)
	}
	t.Logf("CHILD SA: ikegate %s %s in %s out %s %v === %v; strongSwan %s %v === %v",
		gc.State, gc.ESPProposal, gc.SPIIn, gc.SPIOut, gc.LocalTS, gc.RemoteTS, sc.State, sc.LocalTS, sc.RemoteTS)
	c.spiIn, c.spiOut = gc.SPIIn, gc.SPIOut
	if gc.State != "INSTALLED" || sc.State != "INSTALLED" {
		t.Errorf("CHILD SA: ikegate %s (%s), strongSwan %s; want both INSTALLED", gc.State, gc.Error, sc.State)
	}
	if gc.SPIIn != sc.SPIOut || gc.SPIOut != sc.SPIIn {
		t.Errorf("CHILD SA SPIs not crossed: ikegate in %s out %s, strongSwan in %s out %s", gc.SPIIn, gc.SPIOut, sc.SPIIn, sc.SPIOut)
	}
	for _, s := range []struct {
		who       string
		got, want []string
	}{
		{"strongSwan local-ts", sc.LocalTS, local}, {"strongSwan remote-ts", sc.RemoteTS, remote},
		{"ikegate local_ts", gc.LocalTS, remote}, {"ikegate remote_ts", gc.RemoteTS, local},
	} {
		if !sameSet(s.got, s.want) {
			t.Errorf("CHILD SA %s %v, want %v", s.who, s.got, s.want)
		}
	}

	// Traffic: ICMPv6 (and ICMP for dual-stack) both ways.
	const n = 3
	type ping struct{ ns, src, dst string }
	pings := []ping{{lab.Left, leftHost6(i), rightHost6(i)}, {lab.Right, rightHost6(i), leftHost6(i)}}
	if c.dual {
		pings = append(pings, ping{lab.Left, leftHost(i), rightHost(i)}, ping{lab.Right, rightHost(i), leftHost(i)})
	}
	for _, p := range pings {
		got, err := Ping(p.ns, p.src, p.dst, n, 100*time.Millisecond, 2*time.Second)
		if err != nil || got != n {
			t.Errorf("ping %s -> %s through the CHILD SA: %d of %d replies (%v)", p.src, p.dst, got, n, err)
		} else {
			t.Logf("ping %s -> %s: %d/%d replies", p.src, p.dst, got, n)
		}
	}
	ch := gateChild(g, c.name)
	if ch == nil {
		t.Fatalf("ikegate: no INSTALLED CHILD SA %s after the pings", c.name)
	}
	t.Logf("ikegate CHILD SA counters: in %d packets, out %d packets, outside-TS drops %d, auth failures %d",
		ch.InPackets, ch.OutPackets, ch.OutsideTSDrops, ch.AuthFailures)
	if want := uint64(n * len(pings)); ch.InPackets < want || ch.OutPackets < want {
		t.Errorf("ikegate CHILD SA counters: in %d, out %d packets; want >= %d each (every echo and reply of %d pings)",
			ch.InPackets, ch.OutPackets, want, len(pings))
	}
	if ch.OutsideTSDrops != 0 || ch.AuthFailures != 0 || ch.ReplayDrops != 0 {
		t.Errorf("ikegate dropped genuine traffic: outside TS %d, auth %d, replay %d", ch.OutsideTSDrops, ch.AuthFailures, ch.ReplayDrops)
	}
}

func findGateChild(sa *IkegateSA, name string) *IkegateChild {
	for i := range sa.Children {
		if sa.Children[i].Name == name {
			return &sa.Children[i]
		}
	}
	return nil
}

func findSwanChild(sa *SwanIKESA, name string) *SwanChildSA {
	for i := range sa.Children {
		if sa.Children[i].Name == name && sa.Children[i].State == "INSTALLED" {
			return &sa.Children[i]
		}
	}
	return nil
}

// sameSet reports whether a and b hold the same strings, in any order.
func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// espPacket is one ESP-in-UDP datagram of a capture.
type espPacket struct {
	Src, Dst string // "addr:port", as IKEPacket
	SPI      string // 8 hex digits, as ikegate prints SPIs
}

// espOnWire lists the ESP-in-UDP datagrams of pcap (tshark's UDP
// encapsulation dissector: port 4500, not IKE, not a keepalive).
func espOnWire(pcap string) ([]espPacket, error) {
	rows, err := tsharkRows(pcap, "esp", "ip.src", "ipv6.src", "udp.srcport", "ip.dst", "ipv6.dst", "udp.dstport", "esp.spi")
	if err != nil {
		return nil, err
	}
	var out []espPacket
	for _, f := range rows {
		spi, err := strconv.ParseUint(strings.Fields(f[6])[0], 0, 32)
		if err != nil {
			return nil, fmt.Errorf("tshark esp.spi %q: %v", f[6], err)
		}
		out = append(out, espPacket{Src: f[0] + f[1] + ":" + f[2], Dst: f[3] + f[4] + ":" + f[5], SPI: fmt.Sprintf("%08x", spi)})
	}
	return out, nil
}

// checkESPOnWire asserts ESP datagrams from src to dst (port 4500 on
// both) with SPI spi.
func checkESPOnWire(t *testing.T, esps []espPacket, name, src, dst, spi string) {
	t.Helper()
	n := 0
	for _, e := range esps {
		if e.Src == src+":4500" && e.Dst == dst+":4500" && e.SPI == spi {
			n++
		}
	}
	if n == 0 {
		t.Errorf("%s: no ESP-in-UDP datagram %s:4500 -> %s:4500 with SPI %s on the wire (%d ESP datagrams in all)",
			name, src, dst, spi, len(esps))
	} else {
		t.Logf("%s: %d ESP-in-UDP datagrams %s -> %s with SPI %s", name, n, src, dst, spi)
	}
}

// tsharkRows runs tshark over pcap with display filter filter (may be
// "") and returns the fields of each matching packet (first occurrence).
func tsharkRows(pcap, filter string, fields ...string) ([][]string, error) {
	args := []string{Tshark, "-r", pcap, "-n", "-T", "fields", "-E", "separator=|", "-E", "occurrence=f"}
	if filter != "" {
		args = append(args, "-Y", filter)
	}
	for _, f := range fields {
		args = append(args, "-e", f)
	}
	out, err := runOut(args...)
	if err != nil {
		return nil, fmt.Errorf("tshark -r %s -Y %q: %v\n%s", pcap, filter, err, out)
	}
	var rows [][]string
	for _, l := range meaningful(out) {
		if f := strings.Split(l, "|"); len(f) == len(fields) {
			rows = append(rows, f)
		}
	}
	return rows, nil
}

// v6LswCase is one case of TestIPv6Libreswan.
type v6LswCase struct {
	name    string
	version int
	ikegI   bool

	pair v2Pair
	ispi string
}

// TestIPv6Libreswan: Libreswan 4.10 and ikegate (no dataplane, so real
// NAT detection hashes: nothing forces UDP encapsulation) on an IPv6-only
// link, IPv6 selectors, IKEv2 and IKEv1, ikegate as initiator and as
// responder. Libreswan cannot install ESP on these hosts, so each case
// checks what the IPv4 tests do (TestIKEv2LibreswanPSK,
// TestIKEv1LibreswanPSK): the IKE SA established on both ends with the
// same SPIs (cookies) over the IPv6 addresses; the CHILD SA as far as it
// gets (IKEv2: INSTALLED on ikegate's side with the IPv6 selectors when
// Libreswan initiates, refused with TS_UNACCEPTABLE after Libreswan's
// install failure when ikegate does; IKEv1: Quick Mode on the wire and
// Libreswan's install failure in its log). NAT detection over IPv6: both
// sides sent their NAT detection payloads (on the wire) and neither found
// a NAT: the SAs stay on port 500 and ikegate never logs a NAT.
func TestIPv6Libreswan(t *testing.T) {
	t.Parallel()
	cases := []*v6LswCase{
		{name: "lsw2-i", version: 2, ikegI: true},
		{name: "lsw2-r", version: 2},
		{name: "lsw1-i", version: 1, ikegI: true},
		{name: "lsw1-r", version: 1},
	}
	lab := NewLab6(t)
	pairs := addPairs6(t, lab, 30, len(cases))
	var peers, gates []Conn
	for i, c := range cases {
		c.pair = pairs[i]
		esp := "aes256-sha256"
		if c.version == 1 {
			esp = "aes256-sha256-modp2048" // Libreswan's Quick Mode has PFS (the IKE group) by default
		}
		peer := Conn{Name: c.name, Version: c.version, LocalAddr: c.pair.Peer, RemoteAddr: c.pair.Gate,
			LocalID: "@peer-" + c.name + ".lab", RemoteID: "@gate-" + c.name + ".lab",
			Auth: "psk", PSK: "ipv6-lsw-" + c.name + "-0123456789",
			IKE: []string{"aes256-sha256-modp2048"}, ESP: []string{esp},
			LocalTS: []string{leftNet6(i)}, RemoteTS: []string{rightNet6(i)}}
		peers, gates = append(peers, peer), append(gates, peer.Mirror())
	}
	capt := lab.Capture(t, lab.Right, LabIface)
	lsw := lab.StartLibreswan(t, lab.Left, LibreswanConfig{Conns: peers, Debug: true})
	g := lab.StartIkegate(t, lab.Right, v1GatewayTOML(gateAddrs(pairs), gates...))
	keepLogs(t, lsw.LogPath, g.LogPath)

	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			gmark, lmark := markLog(g.LogPath), v1MarkLog(lsw.LogPath)
			if c.version == 2 {
				v6LswIKEv2(t, g, lsw, c, i, lmark)
			} else {
				v6LswIKEv1(t, g, lsw, c, lmark)
			}
			// Libreswan revives a connection whose CHILD SA failed;
			// deleting it stops that (TestIKEv2LibreswanPSK).
			lsw.Whack("--delete", "--name", c.name)
			if l, ok := v1Line(gmark.since(), "NAT detected"); ok {
				t.Errorf("ikegate detected a NAT on a NAT-free IPv6 link (NAT detection hashes over IPv6 differ): %s", l)
			}
		})
	}

	pcap := capt.Stop()
	pkts := CheckDissection(t, pcap)
	t.Run("wire", func(t *testing.T) {
		// NAT detection payloads from both ends: IKEv2
		// NAT_DETECTION_SOURCE_IP (16388) and _DESTINATION_IP (16389)
		// notifies, IKEv1 NAT-D payloads (20, RFC 3947).
		natd, err := tsharkRows(pcap, "isakmp.notify.msgtype == 16388 || isakmp.notify.msgtype == 16389 || isakmp.typepayload == 20",
			"ipv6.src", "isakmp.ispi")
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cases {
			if c.ispi == "" {
				continue
			}
			from := map[string]int{}
			for _, r := range natd {
				if r[1] == c.ispi {
					from[r[0]]++
				}
			}
			t.Logf("%s: messages with NAT detection payloads: %d from ikegate, %d from Libreswan", c.name, from[c.pair.Gate], from[c.pair.Peer])
			if from[c.pair.Gate] == 0 || from[c.pair.Peer] == 0 {
				t.Errorf("%s: messages with NAT detection payloads: %d from ikegate (%s), %d from Libreswan (%s); want both",
					c.name, from[c.pair.Gate], c.pair.Gate, from[c.pair.Peer], c.pair.Peer)
			}
			ini, resp := c.pair.Peer, c.pair.Gate
			if c.ikegI {
				ini, resp = resp, ini
			}
			if c.version == 2 {
				checkWire(t, pkts, c.ispi, ini, resp, 500)
				checkSentBy(t, pkts, c.pair.Gate, false)
				continue
			}
			v1CheckPhase1Wire(t, pkts, c.ispi, v1Pair(c.pair), c.ikegI, false)
			ws := v1WireOf(pkts, c.ispi)
			q1, q2 := v1CountWire(ws, v1XQuick, ini+":500", resp+":500"), v1CountWire(ws, v1XQuick, resp+":500", ini+":500")
			t.Logf("%s: Quick Mode on the wire: %d from the initiator, %d from the responder", c.name, q1, q2)
			if q1 == 0 || !c.ikegI && q2 == 0 {
				t.Errorf("%s: Quick Mode messages %d from the initiator, %d from ikegate as responder; want QM1 (and QM2)", c.name, q1, q2)
			}
			v1CheckSentBy(t, pkts, c.pair.Gate, 500)
		}
	})
}

// lswESP is how Libreswan's log names an ESP SA to addr up to its SPI.
// Fact: Libreswan 4.10 writes "esp." for IPv4 and "esp:" for IPv6
// ("netlink response for Add SA esp:77d05e4a@fd00:200::2:32").
func lswESP(addr string) string {
	if strings.Contains(addr, ":") {
		return "esp:"
	}
	return "esp."
}

// v6LswIKEv2 is an IKEv2 case of TestIPv6Libreswan.
func v6LswIKEv2(t *testing.T, g *Ikegate, lsw *Libreswan, c *v6LswCase, i int, lmark v1Mark) {
	firstSPI := ""
	if c.ikegI {
		if out, err := g.Up(c.name); err != nil {
			t.Fatalf("ikegate up %s: %v\n%s", c.name, err, out)
		}
	} else {
		out, ok := lsw.Initiate(c.name)
		if !ok {
			t.Fatalf("whack --initiate %s did not establish the IKE SA:\n%s", c.name, out)
		}
		lsw.Whack("--delete", "--name", c.name)
		m := regexp.MustCompile(`Add SA esp[.:]([0-9a-f]+)@`).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("whack --initiate output names no CHILD SA SPI:\n%s", out)
		}
		firstSPI = fmt.Sprintf("%08s", m[1])
	}
	gsa := waitGateSA(t, g, c.name, 5*time.Second, func(sa *IkegateSA) bool {
		return settled(1)(sa) && (firstSPI == "" || sa.Children[0].SPIIn == firstSPI)
	})
	gi, gr := spisOf(gsa)
	c.ispi = gi
	t.Logf("ikegate: %s %s/%s %s <-> %s", gsa.IKEProposal, gi, gr, gsa.Local, gsa.Remote)
	if gsa.Initiator != c.ikegI || gsa.Version != 2 {
		t.Errorf("ikegate IKE SA v%d initiator=%v, want v2 initiator=%v", gsa.Version, gsa.Initiator, c.ikegI)
	}
	if want := [2]string{addrPort(c.pair.Gate, 500), addrPort(c.pair.Peer, 500)}; [2]string{gsa.Local, gsa.Remote} != want {
		t.Errorf("ikegate IKE SA %s <-> %s, want %s <-> %s (IPv6, port 500: no NAT)", gsa.Local, gsa.Remote, want[0], want[1])
	}
	if !lswIKESPIs(lmark.since())[[2]string{gi, gr}] {
		t.Errorf("pluto's debug log has no IKE message with SPIs %s/%s (ikegate's view)", gi, gr)
	}
	child := gsa.Children[0]
	llog := lmark.since()
	if c.ikegI {
		if !WaitFor(t, 3*time.Second, func() bool { return lsw.IKEEstablished(c.name) }) {
			t.Errorf("Libreswan: no established IKE SA for %s: %s", c.name, lsw.Status())
		}
		if child.State != "FAILED" || !strings.Contains(child.Error, "peer refused the CHILD SA with TS_UNACCEPTABLE") {
			t.Errorf("ikegate CHILD SA %s (%s), want FAILED with the peer's TS_UNACCEPTABLE", child.State, child.Error)
		}
		requireLine(t, "Libreswan", llog, "responder established IKE SA")
		requireLine(t, "Libreswan", llog, "netlink response for Add SA "+lswESP(c.pair.Gate))
		return
	}
	if child.State != "INSTALLED" {
		t.Errorf("ikegate CHILD SA %s (%s), want INSTALLED", child.State, child.Error)
	}
	if !sameSet(child.LocalTS, []string{rightNet6(i)}) || !sameSet(child.RemoteTS, []string{leftNet6(i)}) {
		t.Errorf("ikegate CHILD SA %v === %v, want [%s] === [%s]", child.LocalTS, child.RemoteTS, rightNet6(i), leftNet6(i))
	}
	requireLine(t, "Libreswan", llog, "initiator established IKE SA")
	requireLine(t, "Libreswan", llog, "netlink response for Add SA "+lswESP(c.pair.Gate)+strings.TrimLeft(child.SPIIn, "0")+"@"+c.pair.Gate)
}

// v6LswIKEv1 is an IKEv1 case of TestIPv6Libreswan.
func v6LswIKEv1(t *testing.T, g *Ikegate, lsw *Libreswan, c *v6LswCase, lmark v1Mark) {
	gmark := v1MarkLog(g.LogPath)
	if c.ikegI {
		if out, err := g.Up(c.name); err != nil {
			t.Fatalf("ikegate up %s: %v\n%s", c.name, err, out)
		}
	} else {
		out, err := lsw.Whack("--initiate", "--asynchronous", "--name", c.name)
		t.Logf("whack --initiate --asynchronous: %v %s", err, strings.TrimSpace(out))
	}
	gsa := v1WaitGate(t, g, c.name, 5*time.Second, func(sa *v1GateSA) bool { return sa.State == "ESTABLISHED" })
	if !WaitFor(t, 3*time.Second, func() bool { return v1LswISAKMP(lsw, c.name) != nil }) {
		t.Errorf("Libreswan: no established ISAKMP SA for %s: %+v", c.name, v1LswStates(lsw, c.name))
	} else if st := v1LswISAKMP(lsw, c.name); !strings.HasPrefix(st.State, "STATE_MAIN_") {
		t.Errorf("Libreswan ISAKMP state %s, want STATE_MAIN_*", st.State)
	}
	gi, gr := v1Cookies(gsa)
	c.ispi = gi
	t.Logf("ikegate: %s %s/%s %s <-> %s", gsa.IKEProposal, gi, gr, gsa.Local, gsa.Remote)
	if gsa.Initiator != c.ikegI || gsa.Version != 1 {
		t.Errorf("ikegate ISAKMP SA v%d initiator=%v, want v1 initiator=%v", gsa.Version, gsa.Initiator, c.ikegI)
	}
	if want := [2]string{addrPort(c.pair.Gate, 500), addrPort(c.pair.Peer, 500)}; [2]string{gsa.Local, gsa.Remote} != want {
		t.Errorf("ikegate ISAKMP SA %s <-> %s, want %s <-> %s (IPv6, port 500: no NAT)", gsa.Local, gsa.Remote, want[0], want[1])
	}
	if !v1LswCookies(lmark.since())[[2]string{gi, gr}] {
		t.Errorf("pluto's debug log has no ISAKMP message with cookies %s/%s (ikegate's view)", gi, gr)
	}
	v1Phase2Libreswan(t, g, lsw, &v1LswCase{name: c.name, ikegI: c.ikegI, pfs: true, pair: v1Pair(c.pair)}, gmark, lmark)
}

// TestIPv6Fragmentation: IKE over a link with IPv6's minimum MTU (1280
// on both lab0 ends) with certificates too large for one datagram,
// strongSwan with fragmentation = yes, ikegate as initiator and as
// responder:
//   - IKEv2 (RFC 7383) with RSA-3072 certificates on both sides: each
//     IKE_AUTH message, with certificate and signature, is larger than 1280
//     bytes; ikegate initiates with an AES-GCM IKE SA (which fills a
//     fragment to the byte: no block padding) and responds with AES-CBC.
//   - IKEv1 (the FRAGMENTATION vendor ID extension, FRAG payloads) with
//     the ~5 kB certificates of TestIKEv1FragStrongSwan: MM5 and MM6 each
//     go in several fragments.
//
// Checked: the SAs come up on both ends and ICMPv6 echo passes through
// the CHILD SA both ways (userspace dataplane, kernel-libipsec); both
// sides' IKE_AUTH (MM5/MM6) went as fragments on the wire (tshark:
// Encrypted Fragment payloads with total >= 2, IKEv1 FRAG payloads), and
// strongSwan reassembled ikegate's; and no datagram on the link carries
// an IPv6 fragment header: every IKE fragment fits 1280 bytes with its
// IPv6, UDP and non-ESP-marker headers (a larger one is fragmented by the
// sender's own kernel, which fragmentation in IKE exists to avoid).
func TestIPv6Fragmentation(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		version int
		ikegI   bool
		ike     string
	}{
		{"frag2-i", 2, true, "aes256gcm16-prfsha384-ecp384"},
		{"frag2-r", 2, false, "aes256-sha256-modp3072"},
		{"frag1-i", 1, true, "aes256-sha256-modp2048"},
		{"frag1-r", 1, false, "aes256-sha256-modp2048"},
	}
	lab := NewLabWith(t, LabOptions{IPv6: true, NoIPv4: true, MTU: MinMTU6})
	pairs := addPairs6(t, lab, 50, len(cases))
	pki := NewTestPKI(t, t.TempDir())
	var peers, gates []Conn
	for i, c := range cases {
		dualSubnets(t, lab, i)
		p := pairs[i]
		peer := Conn{Name: c.name, Version: c.version, LocalAddr: p.Peer, RemoteAddr: p.Gate,
			LocalID: "@peer-" + c.name + ".lab", RemoteID: "@gate-" + c.name + ".lab",
			IKE: []string{c.ike}, ESP: []string{"aes128gcm16"},
			LocalTS: []string{leftNet6(i)}, RemoteTS: []string{rightNet6(i)}, SwanFragmentation: "yes"}
		var pl, gl *Leaf
		if c.version == 2 {
			pl = pki.Leaf(t, "peer-"+c.name, RSA3072, []string{"peer-" + c.name + ".lab"}, nil)
			gl = pki.Leaf(t, "gate-"+c.name, RSA3072, []string{"gate-" + c.name + ".lab"}, nil)
		} else {
			pl = v1fBigLeaf(t, pki, "peer-"+c.name, "peer-"+c.name+".lab", p.Peer)
			gl = v1fBigLeaf(t, pki, "gate-"+c.name, "gate-"+c.name+".lab", p.Gate)
		}
		pl.UseIn(&peer, pki)
		gate := peer.Mirror()
		gl.UseIn(&gate, pki)
		peers, gates = append(peers, peer), append(gates, gate)
	}
	// Everything on the link. Fact: libpcap's "udp port" matches an IPv6
	// packet only when UDP is its next header, so neither piece of a
	// fragmented IKE datagram (next header 44) would be captured.
	capt := lab.CaptureFiltered(t, lab.Left, LabIface, "ip6")
	swan := lab.StartStrongSwan(t, lab.Left, SwanConfig{Conns: peers, LibIPsec: true})
	g := lab.StartIkegate(t, lab.Right, IkegateTOML(userspaceGateway(gateAddrs(pairs)...), gates...))
	keepLogs(t, swan.LogPath, g.LogPath)

	ispis := make([]string, len(cases))
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			smark := v1MarkLog(swan.LogPath)
			if c.version == 2 {
				gsa, _ := upWithSwan(t, g, swan, c.name, c.ikegI, pairs[i], "")
				ispis[i], _ = spisOf(gsa)
				// strongSwan took ikegate's IKE_AUTH message in fragments.
				v1WaitLine(t, "strongSwan", smark, time.Second, "reassembled fragmented IKE message")
			} else {
				gsa, _ := v1UpWithSwan(t, g, swan, c.name, c.ikegI, v1Pair(pairs[i]))
				ispis[i], _ = v1Cookies(gsa)
				v1WaitLine(t, "strongSwan", smark, time.Second, "received fragment #")
			}
			for _, p := range []struct{ ns, src, dst string }{
				{lab.Left, leftHost6(i), rightHost6(i)}, {lab.Right, rightHost6(i), leftHost6(i)},
			} {
				if got, err := Ping(p.ns, p.src, p.dst, 3, 100*time.Millisecond, 2*time.Second); err != nil || got != 3 {
					t.Errorf("ping %s -> %s: %d of 3 replies (%v)", p.src, p.dst, got, err)
				}
			}
		})
	}

	pcap := capt.Stop()
	CheckDissection(t, pcap)
	t.Run("wire", func(t *testing.T) {
		// IKEv2 Encrypted Fragment payloads of 2 or more; IKEv1 FRAG
		// payloads (132).
		frags, err := tsharkRows(pcap, "isakmp.frag.total >= 2 || isakmp.typepayload == 132",
			"ipv6.src", "isakmp.ispi", "ipv6.plen")
		if err != nil {
			t.Fatal(err)
		}
		for i, c := range cases {
			if ispis[i] == "" {
				continue
			}
			from, largest := map[string]int{}, map[string]int{}
			for _, r := range frags {
				if r[1] == ispis[i] {
					from[r[0]]++
					plen, _ := strconv.Atoi(r[2])
					largest[r[0]] = max(largest[r[0]], plen+40)
				}
			}
			t.Logf("%s: IKE fragments on the wire: %d from ikegate (largest IPv6 packet %d bytes), %d from strongSwan (%d bytes)",
				c.name, from[pairs[i].Gate], largest[pairs[i].Gate], from[pairs[i].Peer], largest[pairs[i].Peer])
			if from[pairs[i].Gate] < 2 || from[pairs[i].Peer] < 2 {
				t.Errorf("%s: IKE fragments: %d from ikegate (%s), %d from strongSwan (%s); want its IKE_AUTH (MM5/MM6) fragmented both ways",
					c.name, from[pairs[i].Gate], pairs[i].Gate, from[pairs[i].Peer], pairs[i].Peer)
			}
		}
		ipFrags, err := tsharkRows(pcap, "ipv6.fraghdr", "frame.number", "ipv6.src", "ipv6.dst", "ipv6.plen")
		if err != nil {
			t.Fatal(err)
		}
		if len(ipFrags) > 0 {
			t.Errorf("%d IPv6 fragments on a 1280-byte link (an IKE datagram larger than the MTU), e.g. frame %s %s -> %s, payload length %s",
				len(ipFrags), ipFrags[0][0], ipFrags[0][1], ipFrags[0][2], ipFrags[0][3])
		}
	})
}

// TestIPv6XFRMTrap: the xfrm dataplane over IPv6 as far as these kernels
// allow (XFRM, but no ESP: policies install, SAs do not). ikegate with
// dataplane = "xfrm" and a trapped IKEv2 connection (start = "trap") with
// IPv4 and IPv6 selectors on an IPv6-only link, strongSwan
// (kernel-libipsec) as the peer. Checked:
//   - once ikegate runs, its traps are kernel policies: for each family's
//     selector pair one outbound policy whose ESP tunnel template runs
//     between the IPv6 outer addresses (IPv4 inside IPv6 for the other);
//   - an ICMPv6 echo into the trap makes the kernel ACQUIRE and ikegate
//     negotiate with strongSwan over IPv6: the IKE SA ESTABLISHED on both
//     sides, the CHILD SA INSTALLED at strongSwan and INSTALL_FAILED at
//     ikegate with the kernel's reason (no ESP), the traps still there;
//   - once ikegate stopped, no XFRM policy or state is left.
func TestIPv6XFRMTrap(t *testing.T) {
	t.Parallel()
	const name = "trap6"
	lab := NewLab6(t)
	p := addPairs6(t, lab, 70, 1)[0]
	dualSubnets(t, lab, 0)
	peer := Conn{Name: name, Version: 2, LocalAddr: p.Peer, RemoteAddr: p.Gate,
		LocalID: "@peer-" + name + ".lab", RemoteID: "@gate-" + name + ".lab",
		Auth: "psk", PSK: "ipv6-xfrm-trap-0123456789",
		IKE: []string{"aes128gcm16-prfsha256-x25519"}, ESP: []string{"aes128-sha256"},
		LocalTS: []string{leftSubnet(0), leftNet6(0)}, RemoteTS: []string{rightSubnet(0), rightNet6(0)}}
	gate := peer.Mirror()
	gate.Start = "trap"
	// The kernel looks up a route before the policies: the peer's subnets
	// are reached over the lab link (there is no default route).
	for _, n := range []string{leftNet6(0), leftSubnet(0)} {
		MustRun(t, IPCmd, "-n", lab.Right, "route", "add", n, "dev", LabIface)
	}
	capt := lab.Capture(t, lab.Right, LabIface)
	swan := lab.StartStrongSwan(t, lab.Left, SwanConfig{Conns: []Conn{peer}, LibIPsec: true})
	g := lab.StartIkegate(t, lab.Right, IkegateTOML(IkegateGateway{Listen: []string{p.Gate}, Dataplane: "xfrm"}, gate))
	keepLogs(t, swan.LogPath, g.LogPath)

	traps := []string{
		fmt.Sprintf("src %s dst %s dir out", rightNet6(0), leftNet6(0)),
		fmt.Sprintf("src %s dst %s dir out", rightSubnet(0), leftSubnet(0)),
	}
	tmpl := fmt.Sprintf("tmpl src %s dst %s proto esp", p.Gate, p.Peer)
	checkTraps := func(when string) {
		t.Helper()
		pols := xfrmPolicies(t, lab, lab.Right)
		for _, w := range traps {
			found := false
			for _, pol := range pols {
				if strings.HasPrefix(pol, w) && strings.Contains(pol, tmpl) && strings.Contains(pol, "mode tunnel") {
					found = true
				}
			}
			if !found {
				t.Errorf("%s: no trap policy %q with %q (ESP tunnel) among:\n%s", when, w, tmpl, strings.Join(pols, "\n"))
			}
		}
	}
	WaitFor(t, 5*time.Second, func() bool { return len(xfrmPolicies(t, lab, lab.Right)) >= len(traps) })
	checkTraps("after ikegate started")

	// One packet into the trap: ACQUIRE, then IKE over IPv6.
	gmark := markLog(g.LogPath)
	got, err := Ping(lab.Right, rightHost6(0), leftHost6(0), 1, 0, 500*time.Millisecond)
	t.Logf("ping %s -> %s into the trap: %d replies (%v)", rightHost6(0), leftHost6(0), got, err)
	gsa := waitGateSA(t, g, name, 10*time.Second, settled(1))
	ssa := waitSwanSA(t, swan, name, 1, 5*time.Second)
	checkSwanIKE(t, gsa, ssa)
	if !gsa.Initiator || gsa.Local != addrPort(p.Gate, 4500) || gsa.Remote != addrPort(p.Peer, 4500) {
		t.Errorf("ikegate IKE SA initiator=%v %s <-> %s, want the initiator between [%s]:4500 and [%s]:4500",
			gsa.Initiator, gsa.Local, gsa.Remote, p.Gate, p.Peer)
	}
	requireLine(t, "ikegate", gmark.since(), "traffic hit a trap: initiating", `"local_ts": "`+rightHost6(0)+`/128"`)
	ch := gsa.Children[0]
	t.Logf("ikegate CHILD SA %s %v === %v: %s", ch.State, ch.LocalTS, ch.RemoteTS, ch.Error)
	if ch.State != "INSTALL_FAILED" || !strings.Contains(ch.Error, "protocol not supported") {
		t.Errorf("ikegate CHILD SA %s (%s), want INSTALL_FAILED: protocol not supported (no ESP in this kernel)", ch.State, ch.Error)
	}
	if !sameSet(ch.LocalTS, gate.LocalTS) || !sameSet(ch.RemoteTS, gate.RemoteTS) {
		t.Errorf("ikegate CHILD SA %v === %v, want %v === %v", ch.LocalTS, ch.RemoteTS, gate.LocalTS, gate.RemoteTS)
	}
	checkTraps("after the refused CHILD SA")

	g.Proc.Stop()
	if pols := xfrmPolicies(t, lab, lab.Right); len(pols) != 0 {
		t.Errorf("XFRM policies after ikegate stopped:\n%s", strings.Join(pols, "\n"))
	}
	// The kernel's own larval state of the ACQUIRE (SPI 0) stays until
	// net.core.xfrm_acq_expires; ikegate's (ALLOCSPI, SPI != 0) must not.
	if out, err := lab.Exec(lab.Right, IPCmd, "xfrm", "state"); err != nil || regexp.MustCompile(`spi 0x0*[1-9a-f]`).MatchString(out) {
		t.Errorf("ip xfrm state after ikegate stopped (%v):\n%s", err, out)
	}
	pkts := CheckDissection(t, capt.Stop())
	if ispi, _ := spisOf(gsa); ispi != "" {
		checkWire(t, pkts, ispi, p.Gate, p.Peer, 4500)
	}
}

// xfrmPolicies lists the XFRM policies of namespace ns (`ip xfrm
// policy`), each on one line, without the per-socket policies of
// ikegate's IKE sockets (TestIKEv2XFRM).
func xfrmPolicies(t *testing.T, lab *Lab, ns string) []string {
	t.Helper()
	out, err := lab.Exec(ns, IPCmd, "xfrm", "policy")
	if err != nil {
		t.Errorf("ip xfrm policy in %s: %v\n%s", ns, err, out)
		return nil
	}
	var pols []string
	for _, l := range strings.Split(out, "\n") {
		switch {
		case strings.TrimSpace(l) == "":
		case !strings.HasPrefix(l, "\t") && !strings.HasPrefix(l, " "):
			pols = append(pols, strings.TrimSpace(l))
		case len(pols) > 0:
			pols[len(pols)-1] += " " + strings.TrimSpace(l)
		}
	}
	var keep []string
	for _, p := range pols {
		if !strings.Contains(p, " socket ") {
			keep = append(keep, p)
		}
	}
	return keep
}
