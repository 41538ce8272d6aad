package interop

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// Addresses of TestOverlapTwoPeers: peer A is the standard lab's left end
// (10.200.0.1 -> ikegate 10.200.0.2); peer B sits in a third namespace on
// its own link to ikegate (10.200.1.1 -> 10.200.1.2, ikegate's lab1).
// Both claim the same protected network, ovlNet, behind them (each has
// ovlHost on a subnet veth: kernel-libipsec needs a local address inside
// its local selector); ikegate protects ovlGateNet (ovlGateHost on gs0).
const (
	ovlPeerB    = "10.200.1.1"
	ovlGateB    = "10.200.1.2"
	ovlNet      = "10.1.0.0/24"
	ovlHost     = "10.1.0.1"
	ovlGateNet  = "10.202.0.0/24"
	ovlGateHost = "10.202.0.1"
	ovlPSK      = "overlap-shared-psk-0123456789abcdef"
	ovlGateID   = "@gate-ovl.lab"
)

// TestOverlapTwoPeers: no peer can install traffic selectors covering
// another peer's network. ikegate (responder, userspace dataplane) has ONE
// connection with remote_addr = remote_id = "%any" and a shared PSK; two
// strongSwan 5.9.8 peers (kernel-libipsec) in separate namespaces both
// claim 10.1.0.0/24 behind them. Peer A connects first and gets its CHILD
// SA; peer B's CHILD SA is refused by ikegate's selector guard (IKEv2:
// TS_UNACCEPTABLE in the IKE_AUTH response; IKEv1: INVALID_ID_INFORMATION
// and a Delete after Quick Mode) with a WARN line naming both owners. A's
// CHILD SA stays INSTALLED with the same SPIs on both ends, and A's traffic
// still flows through it (pings both ways; ikegate's counters of A's CHILD
// SA grow).
func TestOverlapTwoPeers(t *testing.T) {
	t.Parallel()
	for _, v := range []int{2, 1} {
		v := v
		t.Run(fmt.Sprintf("ikev%d", v), func(t *testing.T) {
			t.Parallel()
			overlapCase(t, v)
		})
	}
}

func overlapCase(t *testing.T, version int) {
	t0 := time.Now()
	lab := NewLab(t)
	nsB := lab.NewNamespace(t, "b")
	lab.Link(t, nsB, LabIface, ovlPeerB+"/24", lab.Right, "lab1", ovlGateB+"/24")
	lab.AddSubnet(t, lab.Left, "sn0", ovlHost+"/24")
	lab.AddSubnet(t, nsB, "sn0", ovlHost+"/24")
	lab.AddSubnet(t, lab.Right, "gs0", ovlGateHost+"/24")

	ike, esp := swanTrafficSuite(version)
	name := fmt.Sprintf("ovl%d", version)
	peer := func(local, remote, id string) Conn {
		return Conn{
			Name: name, Version: version,
			LocalAddr: local, RemoteAddr: remote,
			LocalID: id, RemoteID: ovlGateID,
			Auth: "psk", PSK: ovlPSK,
			IKE: []string{ike}, ESP: []string{esp},
			LocalTS: []string{ovlNet}, RemoteTS: []string{ovlGateNet},
		}
	}
	peerA := peer(LeftAddr, RightAddr, "@peer-a.lab")
	peerB := peer(ovlPeerB, ovlGateB, "@peer-b.lab")
	gate := Conn{
		Name: name, Version: version,
		RemoteAddr: "%any", LocalID: ovlGateID, RemoteID: "%any",
		Auth: "psk", PSK: ovlPSK,
		IKE: []string{ike}, ESP: []string{esp},
		LocalTS: []string{ovlGateNet}, RemoteTS: []string{ovlNet},
	}

	swanA := lab.StartStrongSwan(t, lab.Left, SwanConfig{Conns: []Conn{peerA}, LibIPsec: true})
	swanB := lab.StartStrongSwan(t, nsB, SwanConfig{Conns: []Conn{peerB}, LibIPsec: true})
	g := lab.StartIkegate(t, lab.Right, IkegateTOML(userspaceGateway(RightAddr, ovlGateB), gate))
	keepLogs(t, swanA.LogPath, swanB.LogPath, g.LogPath)

	// 1. Peer A: IKE SA and CHILD SA up on both ends, traffic flows.
	if out, err := swanA.Initiate(name, 10); err != nil {
		t.Fatalf("peer A: swanctl --initiate --child %s: %v\n%s", name, err, out)
	}
	gsaA := waitGateSA(t, g, name, 10*time.Second, func(sa *IkegateSA) bool {
		return strings.HasPrefix(sa.Remote, LeftAddr+":") && settled(1)(sa)
	})
	ssaA := waitSwanSA(t, swanA, name, 1, 10*time.Second)
	if version == 2 {
		checkSwanIKE(t, gsaA, ssaA)
	}
	checkSwanChild(t, gsaA, ssaA, name, "")
	if len(gsaA.Children) != 1 || gsaA.Children[0].State != "INSTALLED" {
		t.Fatalf("ikegate: peer A's CHILD SA not INSTALLED: %+v", gsaA.Children)
	}
	childA := gsaA.Children[0]
	if strings.Join(childA.RemoteTS, ",") != ovlNet {
		t.Errorf("ikegate: peer A's CHILD SA remote selectors %v, want %s", childA.RemoteTS, ovlNet)
	}
	t.Logf("peer A up: ikegate IKE SA %s <-> %s, CHILD SA in %s out %s %v === %v",
		gsaA.Local, gsaA.Remote, childA.SPIIn, childA.SPIOut, childA.LocalTS, childA.RemoteTS)
	ovlPing(t, lab.Left, lab.Right)
	before := gateChildBySPI(t, g, childA.SPIIn)

	// 2. Peer B claims the same network: its CHILD SA must be refused.
	gmark, bmark := markLog(g.LogPath), markLog(swanB.LogPath)
	outB, errB := swanB.Initiate(name, 10)
	t.Logf("peer B: swanctl --initiate --child %s: err=%v\n%s", name, errB, outB)
	if version == 2 && errB == nil {
		t.Errorf("peer B: swanctl --initiate --child succeeded; want it to fail (CHILD SA refused)")
	}

	line, ok := waitLog(t, gmark, 10*time.Second, "WARN", "overlap", "peer-a.lab", "peer-b.lab")
	if !ok {
		t.Errorf("ikegate: no WARN line with \"overlap\" naming both peer-a.lab and peer-b.lab; log since peer B's attempt:\n%s",
			tail(gmark.since(), 60))
	} else {
		t.Logf("ikegate: %s", strings.TrimSpace(line))
		for _, s := range []string{ovlNet, LeftAddr, ovlPeerB} {
			if !strings.Contains(line, s) {
				t.Errorf("ikegate's overlap WARN line does not name %s: %s", s, line)
			}
		}
	}

	if version == 2 {
		requireLine(t, "strongSwan B", waitSwanLog(t, bmark, "TS_UNACCEPTABLE"), "received TS_UNACCEPTABLE notify")
	} else {
		blog := waitSwanLog(t, bmark, "received DELETE for ESP CHILD_SA")
		requireLine(t, "strongSwan B", blog, "INVALID_ID_INFORMATION")
		requireLine(t, "strongSwan B", blog, "received DELETE for ESP CHILD_SA")
	}

	// Peer B ends up with no CHILD SA on either end; its IKE SA may stay.
	if !WaitFor(t, 10*time.Second, func() bool {
		sa := swanB.IKESA(name)
		if sa == nil {
			return true
		}
		for _, c := range sa.Children {
			if c.State == "INSTALLED" {
				return false
			}
		}
		return true
	}) {
		raw, _ := swanB.Swanctl("--list-sas", "--pretty")
		t.Errorf("strongSwan B still has an INSTALLED CHILD SA:\n%s", raw)
	}
	sas, err := g.SAs()
	if err != nil {
		t.Fatal(err)
	}
	var sawB bool
	for _, sa := range sas {
		if !strings.HasPrefix(sa.Remote, ovlPeerB+":") {
			continue
		}
		sawB = true
		t.Logf("ikegate: peer B's IKE SA %s %s <-> %s, children %+v", sa.State, sa.Local, sa.Remote, sa.Children)
		for _, c := range sa.Children {
			if c.State == "INSTALLED" {
				t.Errorf("ikegate installed peer B's CHILD SA: %+v", c)
			}
		}
	}
	if !sawB {
		t.Logf("ikegate lists no IKE SA of peer B (allowed)")
	}
	if st, err := swanB.ListSAs(); err == nil {
		t.Logf("strongSwan B SAs: %+v", st)
	}

	// 3. Peer A is untouched: same CHILD SA, INSTALLED on both ends, and
	// its traffic still flows through it.
	gsaA2 := waitGateSA(t, g, name, 2*time.Second, func(sa *IkegateSA) bool {
		return strings.HasPrefix(sa.Remote, LeftAddr+":") && settled(1)(sa)
	})
	ssaA2 := waitSwanSA(t, swanA, name, 1, 2*time.Second)
	checkSwanChild(t, gsaA2, ssaA2, name, "")
	if len(gsaA2.Children) != 1 || gsaA2.Children[0].SPIIn != childA.SPIIn || gsaA2.Children[0].State != "INSTALLED" {
		t.Errorf("ikegate: peer A's CHILD SA changed: had %s INSTALLED, now %+v", childA.SPIIn, gsaA2.Children)
	}
	if len(ssaA2.Children) != 1 || ssaA2.Children[0].SPIOut != childA.SPIIn {
		t.Errorf("strongSwan A's CHILD SA changed: had out SPI %s, now %+v", childA.SPIIn, ssaA2.Children)
	}
	ovlPing(t, lab.Left, lab.Right)
	after := gateChildBySPI(t, g, childA.SPIIn)
	if before != nil && after != nil {
		t.Logf("ikegate peer A CHILD SA counters: in %d -> %d packets, out %d -> %d packets",
			before.InPackets, after.InPackets, before.OutPackets, after.OutPackets)
		// Two pings of 3 echoes each: 6 packets each way at least.
		if after.InPackets < before.InPackets+6 || after.OutPackets < before.OutPackets+6 {
			t.Errorf("ikegate: peer A's CHILD SA did not carry the pings after peer B's attempt: in %d -> %d, out %d -> %d",
				before.InPackets, after.InPackets, before.OutPackets, after.OutPackets)
		}
	}
	t.Logf("case took %v", time.Since(t0).Round(time.Millisecond))
}

// ovlPing pings both ways between the host behind the peer (leftNS) and
// the one behind ikegate; every echo must be answered.
func ovlPing(t *testing.T, leftNS, rightNS string) {
	t.Helper()
	const n = 3
	for _, d := range []struct{ ns, src, dst string }{
		{leftNS, ovlHost, ovlGateHost},
		{rightNS, ovlGateHost, ovlHost},
	} {
		got, err := Ping(d.ns, d.src, d.dst, n, 100*time.Millisecond, 2*time.Second)
		if err != nil || got != n {
			t.Errorf("ping %s -> %s (in %s): %d of %d replies (%v)", d.src, d.dst, d.ns, got, n, err)
			continue
		}
		t.Logf("ping %s -> %s: %d/%d replies", d.src, d.dst, got, n)
	}
}

// gateChildBySPI returns ikegate's INSTALLED CHILD SA with inbound SPI spi
// and its counters (the CHILD SAs of both peers share the connection name).
func gateChildBySPI(t *testing.T, g *Ikegate, spi string) *IkegateTrafficChild {
	t.Helper()
	cs, err := g.TrafficChildren()
	if err != nil {
		t.Errorf("ikegate children: %v", err)
		return nil
	}
	for i := range cs {
		if cs[i].SPIIn == spi && cs[i].State == "INSTALLED" {
			return &cs[i]
		}
	}
	t.Errorf("ikegate has no INSTALLED CHILD SA with inbound SPI %s: %+v", spi, cs)
	return nil
}

// waitSwanLog waits up to 10 s for sub in strongSwan's log after m and
// returns the log since m.
func waitSwanLog(t *testing.T, m logMark, sub string) string {
	t.Helper()
	WaitFor(t, 10*time.Second, func() bool { return strings.Contains(m.since(), sub) })
	return m.since()
}
