package interop

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

// rawESPCaptureFilter captures ESP of both kinds: raw (IP protocol 50,
// IPv4 and IPv6) and in UDP on port 4500, plus IKE.
const rawESPCaptureFilter = "ip proto 50 or ip6 proto 50 or udp port 4500 or udp port 500"

// espKinds counts the ESP packets of a capture by SPI: raw (IP protocol
// 50) and in UDP (RFC 3948, port 4500).
type espKinds struct{ raw, udp map[uint32]int }

// espPackets reads pcap with tshark and counts its ESP packets by SPI and
// kind.
func espPackets(t *testing.T, pcap string) espKinds {
	t.Helper()
	out, err := runOut(Tshark, "-r", pcap, "-n", "-Y", "esp", "-T", "fields", "-E", "separator=|",
		"-e", "esp.spi", "-e", "udp.srcport", "-e", "ip.proto", "-e", "ipv6.nxt")
	if err != nil {
		t.Fatalf("tshark -r %s: %v\n%s", pcap, err, out)
	}
	w := espKinds{raw: map[uint32]int{}, udp: map[uint32]int{}}
	for _, line := range meaningful(out) {
		f := strings.Split(line, "|")
		if len(f) != 4 || f[0] == "" {
			continue
		}
		spi, err := strconv.ParseUint(f[0], 0, 32)
		if err != nil {
			t.Fatalf("tshark: SPI %q: %v", f[0], err)
		}
		switch {
		case f[1] != "":
			w.udp[uint32(spi)]++
		case f[2] == "50" || f[3] == "50":
			w.raw[uint32(spi)]++
		}
	}
	return w
}

// checkESPKind fails the test unless both SPIs of the CHILD SA c carried
// packets of the kind wanted (raw: IP protocol 50; else ESP-in-UDP) and
// none of the other.
func checkESPKind(t *testing.T, w espKinds, c *IkegateTrafficChild, raw bool) {
	t.Helper()
	for _, s := range []string{c.SPIIn, c.SPIOut} {
		spi := spiOf(t, s)
		r, u := w.raw[spi], w.udp[spi]
		t.Logf("SPI %08x on the wire: %d raw ESP (IP protocol 50), %d ESP-in-UDP", spi, r, u)
		if raw && (r == 0 || u != 0) {
			t.Errorf("SPI %08x: %d raw, %d in UDP; want raw ESP only", spi, r, u)
		}
		if !raw && (u == 0 || r != 0) {
			t.Errorf("SPI %08x: %d raw, %d in UDP; want ESP-in-UDP only", spi, r, u)
		}
	}
}

// rawGateway is the [gateway] of an ikegate with the userspace dataplane
// and esp_encap = "auto".
func rawGateway(listen ...string) IkegateGateway {
	gw := userspaceGateway(listen...)
	gw.ESPEncap = "auto"
	return gw
}

// TestRawESPIkegatePair: two ikegates with the userspace dataplane in
// the lab's two namespaces, no NAT between them, an IKEv2 and an IKEv1
// tunnel (AES-GCM-128) on their own address pairs. With esp_encap =
// "auto" the IKE SAs stay on port 500 (no NAT found, no float), ping
// passes both ways, and the capture on the link shows every ESP packet
// of both CHILD SAs' SPIs as IP protocol 50, none in UDP; both ends count
// the packets and drop none. The same with esp_encap = "force" (the
// default) in a lab of its own: port 4500 and ESP-in-UDP only. Each then
// moves 20 MB each way (sha256 compared), and the throughput of raw ESP
// is logged against ESP-in-UDP's of the same run.
func TestRawESPIkegatePair(t *testing.T) {
	t.Parallel()
	res := map[string][]TransferResult{}
	for _, encap := range []string{"force", "auto"} {
		t.Run(encap, func(t *testing.T) {
			lab := NewLab(t)
			res[encap] = rawPair(t, lab, addPairs(t, lab, 70, 2), encap, pairMB)
		})
	}
	if a, f := res["auto"], res["force"]; len(a) == 2 && len(f) == 2 {
		for i, dir := range []string{"left->right", "right->left"} {
			t.Logf("bulk %s: raw ESP %.1f MB/s, ESP-in-UDP %.1f MB/s: ratio %.2f", dir, a[i].MBps(), f[i].MBps(), a[i].MBps()/f[i].MBps())
		}
	}
}

// TestRawESPIkegatePairIPv6 is TestRawESPIkegatePair's "auto" case over
// an IPv6-only link (IPv4 inside): raw ESP over IPv6 (next header 50).
func TestRawESPIkegatePairIPv6(t *testing.T) {
	t.Parallel()
	lab := NewLab6(t)
	rawPair(t, lab, addPairs6(t, lab, 70, 2), "auto", 0)
}

// rawPair runs the two tunnels of TestRawESPIkegatePair on pairs with
// esp_encap = encap, then mb MB each way over the first (none for 0).
func rawPair(t *testing.T, lab *Lab, pairs []v2Pair, encap string, mb int) []TransferResult {
	raw := encap == "auto"
	type tc struct {
		name    string
		version int
		i       int
	}
	cases := []tc{{"raw2", 2, 0}, {"raw1", 1, 1}}
	var lconns, rconns []Conn
	for _, c := range cases {
		ike := "aes128-sha256-modp2048"
		if c.version == 2 {
			ike = "aes128gcm16-prfsha256-x25519"
		}
		lc := trafficConn(c.name, c.version, c.i, pairs[c.i].Peer, pairs[c.i].Gate, ike, "aes128gcm16")
		lconns = append(lconns, lc)
		rconns = append(rconns, lc.Mirror())
		lab.AddSubnet(t, lab.Left, fmt.Sprintf("sn%d", c.i), leftHost(c.i)+"/24")
		lab.AddSubnet(t, lab.Right, fmt.Sprintf("gs%d", c.i), rightHost(c.i)+"/24")
	}
	gw := func(listen ...string) IkegateGateway {
		g := userspaceGateway(listen...)
		g.ESPEncap = encap
		return g
	}
	capt := lab.CaptureFiltered(t, lab.Right, LabIface, rawESPCaptureFilter)
	left := lab.StartIkegate(t, lab.Left, IkegateTOML(gw(pairs[0].Peer, pairs[1].Peer), lconns...))
	right := lab.StartIkegate(t, lab.Right, IkegateTOML(gw(gateAddrs(pairs)...), rconns...))
	keepLogs(t, left.LogPath, right.LogPath)

	port := uint16(500)
	if !raw {
		port = 4500
	}
	children := map[string]*IkegateTrafficChild{}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if out, err := left.Up(c.name); err != nil {
				t.Fatalf("ikegate up %s: %v\n%s", c.name, err, out)
			}
			lsa := waitGateSA(t, left, c.name, 10*time.Second, settled(1))
			rsa := waitGateSA(t, right, c.name, 10*time.Second, settled(1))
			if lsa.Children[0].State != "INSTALLED" || rsa.Children[0].State != "INSTALLED" {
				t.Fatalf("CHILD SA states %s (%s) / %s (%s)", lsa.Children[0].State, lsa.Children[0].Error,
					rsa.Children[0].State, rsa.Children[0].Error)
			}
			p := pairs[c.i]
			if lsa.Local != addrPort(p.Peer, port) || lsa.Remote != addrPort(p.Gate, port) {
				t.Errorf("IKE SA %s <-> %s, want port %d on both ends", lsa.Local, lsa.Remote, port)
			}
			checkPing(t, lab.Left, lab.Right, c.i)
			l, r := gateChild(left, c.name), gateChild(right, c.name)
			if l == nil || r == nil {
				t.Fatalf("CHILD SA %s gone after the pings", c.name)
			}
			t.Logf("left: out %d in %d packets; right: out %d in %d", l.OutPackets, l.InPackets, r.OutPackets, r.InPackets)
			if l.OutPackets < 6 || l.InPackets < 6 || r.InPackets < 6 || r.OutPackets < 6 {
				t.Errorf("counters below the 6 ESP packets each way of the pings")
			}
			for _, x := range []*IkegateTrafficChild{l, r} {
				if x.ReplayDrops+x.AuthFailures+x.PadErrors+x.Malformed+x.OutsideTSDrops != 0 {
					t.Errorf("drops on genuine traffic: %+v", *x)
				}
			}
			children[c.name] = r
		})
	}
	w := espPackets(t, capt.Stop())
	for _, c := range cases {
		if ch := children[c.name]; ch != nil {
			t.Logf("%s (IKEv%d, esp_encap = %q):", c.name, c.version, encap)
			checkESPKind(t, w, ch, raw)
		}
	}
	if mb == 0 {
		return nil
	}
	// Bulk after the capture, which would be large.
	res := checkBulk(t, lab.Left, lab.Right, 0, mb)
	for _, g := range []*Ikegate{left, right} {
		if st, err := g.StatsJSON(); err == nil {
			t.Logf("%s stats: dataplane %v", g.NS, st["dataplane"])
		}
	}
	return res
}

// TestRawESPIkegateNAT: the same two ikegates with esp_encap = "auto",
// but the right one behind a masquerading NAT (NATLab): both detect the
// NAT, float to port 4500 and carry ESP in UDP (the capture on the left
// link has the CHILD SAs' SPIs in UDP only, none as IP protocol 50), for
// IKEv2 and IKEv1; ping passes both ways.
func TestRawESPIkegateNAT(t *testing.T) {
	t.Parallel()
	nl := NewNATLab(t)
	lab := nl.Lab
	cases := []struct {
		name    string
		version int
		i       int
	}{{"nat2", 2, 0}, {"nat1", 1, 1}}
	var lconns, rconns []Conn
	for _, c := range cases {
		ike := "aes128-sha256-modp2048"
		if c.version == 2 {
			ike = "aes128gcm16-prfsha256-x25519"
		}
		lc := trafficConn(c.name, c.version, c.i, LeftAddr, "%any", ike, "aes128gcm16")
		rc := lc.Mirror()
		rc.LocalAddr, rc.RemoteAddr = NATRight, LeftAddr
		lconns = append(lconns, lc)
		rconns = append(rconns, rc)
		lab.AddSubnet(t, lab.Left, fmt.Sprintf("sn%d", c.i), leftHost(c.i)+"/24")
		lab.AddSubnet(t, lab.Right, fmt.Sprintf("gs%d", c.i), rightHost(c.i)+"/24")
	}
	capt := lab.CaptureFiltered(t, lab.Left, LabIface, rawESPCaptureFilter)
	left := lab.StartIkegate(t, lab.Left, IkegateTOML(rawGateway(LeftAddr), lconns...))
	right := lab.StartIkegate(t, lab.Right, IkegateTOML(rawGateway(NATRight), rconns...))
	keepLogs(t, left.LogPath, right.LogPath)

	children := map[string]*IkegateTrafficChild{}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if out, err := right.Up(c.name); err != nil {
				t.Fatalf("ikegate up %s: %v\n%s", c.name, err, out)
			}
			rsa := waitGateSA(t, right, c.name, 10*time.Second, settled(1))
			lsa := waitGateSA(t, left, c.name, 10*time.Second, settled(1))
			if rsa.Children[0].State != "INSTALLED" || lsa.Children[0].State != "INSTALLED" {
				t.Fatalf("CHILD SA states %s (%s) / %s (%s)", rsa.Children[0].State, rsa.Children[0].Error,
					lsa.Children[0].State, lsa.Children[0].Error)
			}
			if rsa.Local != NATRight+":4500" || !strings.HasPrefix(lsa.Remote, NATOutside+":") {
				t.Errorf("IKE SAs right %s <-> %s, left %s <-> %s: want the float to 4500 and the NAT's address",
					rsa.Local, rsa.Remote, lsa.Local, lsa.Remote)
			}
			checkPing(t, lab.Left, lab.Right, c.i)
			if l := gateChild(left, c.name); l != nil {
				children[c.name] = l
			} else {
				t.Fatalf("CHILD SA %s gone after the pings", c.name)
			}
		})
	}
	w := espPackets(t, capt.Stop())
	for _, c := range cases {
		if ch := children[c.name]; ch != nil {
			t.Logf("%s (IKEv%d, behind a NAT):", c.name, c.version)
			checkESPKind(t, w, ch, false)
		}
	}
}

// TestRawESPStrongSwan: strongSwan 5.9.8 with kernel-libipsec against
// ikegate with esp_encap = "auto", no NAT. kernel-libipsec of this
// version cannot send or receive raw ESP (its raw ESP support came with
// 5.9.11), so charon fakes a NAT to force UDP encapsulation ("faking NAT
// situation to enforce UDP encapsulation" in its log); ikegate takes
// that NAT detection at its word and uses ESP-in-UDP too: the tunnel
// works, and every ESP packet is in UDP. With raw ESP-capable peers see
// TestRawESPIkegatePair.
func TestRawESPStrongSwan(t *testing.T) {
	t.Parallel()
	lab := NewLab(t)
	lab.AddSubnet(t, lab.Left, "sn0", leftHost(0)+"/24")
	lab.AddSubnet(t, lab.Right, "gs0", rightHost(0)+"/24")
	ike, esp := swanTrafficSuite(2)
	peer := trafficConn("rawsw", 2, 0, LeftAddr, RightAddr, ike, esp)
	capt := lab.CaptureFiltered(t, lab.Left, LabIface, rawESPCaptureFilter)
	swan := lab.StartStrongSwan(t, lab.Left, SwanConfig{Conns: []Conn{peer}, LibIPsec: true})
	g := lab.StartIkegate(t, lab.Right, IkegateTOML(rawGateway(RightAddr), peer.Mirror()))
	keepLogs(t, swan.LogPath, g.LogPath)
	if out, err := swan.Initiate("rawsw", 10); err != nil {
		t.Fatalf("swanctl --initiate: %v\n%s", err, out)
	}
	gsa := waitGateSA(t, g, "rawsw", 10*time.Second, settled(1))
	waitSwanSA(t, swan, "rawsw", 1, 10*time.Second)
	line := ""
	for _, l := range strings.Split(swan.Log(), "\n") {
		if strings.Contains(l, "faking NAT situation to enforce UDP encapsulation") {
			line = strings.TrimSpace(l)
			break
		}
	}
	if line == "" {
		t.Errorf("strongSwan's log does not say it forces UDP encapsulation")
	} else {
		t.Logf("strongSwan: %s", line)
	}
	t.Logf("ikegate IKE SA %s <-> %s", gsa.Local, gsa.Remote)
	if gsa.Local != RightAddr+":4500" {
		t.Errorf("ikegate IKE SA on %s, want the float to 4500 (strongSwan claims a NAT)", gsa.Local)
	}
	checkPing(t, lab.Left, lab.Right, 0)
	c := gateChild(g, "rawsw")
	if c == nil {
		t.Fatal("no INSTALLED CHILD SA after the pings")
	}
	checkESPKind(t, espPackets(t, capt.Stop()), c, false)
}
