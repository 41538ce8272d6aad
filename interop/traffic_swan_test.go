package interop

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// swanTrafficSuite is the suite of the strongSwan traffic cases: AES-GCM-128
// ESP (what libipsec and ikegate's dataplane both do fastest); IKEv1 takes
// no AEAD for the ISAKMP SA in strongSwan.
func swanTrafficSuite(version int) (ike, esp string) {
	if version == 1 {
		return "aes128-sha256-modp2048", "aes128gcm16"
	}
	return "aes128gcm16-prfsha256-x25519", "aes128gcm16"
}

// TestTrafficStrongSwan (case 1): strongSwan 5.9.8 with kernel-libipsec on
// the left, ikegate with dataplane = "userspace" on the right, a protected
// subnet behind each (10.201.0.1 and 10.202.0.1, addresses of the daemons'
// own namespaces, routed into ipsec0 by strongSwan's table 220 and into
// ikegate0 by ikegate). For IKEv2 and IKEv1, directly (strongSwan
// initiates) and with ikegate behind a masquerading NAT namespace (ikegate
// initiates): ping both ways, 50 MB each way over TCP with sha256 compared
// end to end, ikegate's per-SA counters, and in the capture the float to
// port 4500 and ikegate's NAT keepalives (1-byte 0xFF on port 4500) behind
// the NAT, none directly (the NAT ikegate claims there to force UDP
// encapsulation has no mapping to keep).
func TestTrafficStrongSwan(t *testing.T) {
	t.Parallel()
	for _, v := range []int{2, 1} {
		for _, nat := range []bool{false, true} {
			name := fmt.Sprintf("ikev%d-direct", v)
			if nat {
				name = fmt.Sprintf("ikev%d-nat", v)
			}
			t.Run(name, func(t *testing.T) { swanTrafficCase(t, v, nat) })
		}
	}
}

func swanTrafficCase(t *testing.T, version int, nat bool) {
	t0 := time.Now()
	var (
		lab       *Lab
		capNS     string // where the capture runs: the peer's link
		gateLocal string // ikegate's own address
		gatePub   string // ikegate's address as the peer sees it
	)
	if nat {
		nl := NewNATLab(t)
		lab, capNS, gateLocal, gatePub = nl.Lab, nl.Left, NATRight, NATOutside
	} else {
		lab = NewLab(t)
		capNS, gateLocal, gatePub = lab.Left, RightAddr, RightAddr
	}
	lab.AddSubnet(t, lab.Left, "sn0", leftHost(0)+"/24")
	lab.AddSubnet(t, lab.Right, "gs0", rightHost(0)+"/24")

	ike, esp := swanTrafficSuite(version)
	name := fmt.Sprintf("tr%d", version)
	peer := trafficConn(name, version, 0, LeftAddr, gatePub, ike, esp)
	gate := peer.Mirror()
	gate.LocalAddr, gate.RemoteAddr = gateLocal, LeftAddr

	capt := lab.CaptureFiltered(t, capNS, LabIface, TrafficCaptureFilter)
	swan := lab.StartStrongSwan(t, lab.Left, SwanConfig{Conns: []Conn{peer}, LibIPsec: true})
	toml := PatchIkegateTOML(IkegateTOML(userspaceGateway(gateLocal), gate),
		[]string{`natt_keepalive = "2s"`}, "", nil)
	g := lab.StartIkegate(t, lab.Right, toml)
	keepLogs(t, swan.LogPath, g.LogPath)

	tUp := time.Now()
	if nat {
		if out, err := g.Up(name); err != nil {
			t.Fatalf("ikegate up %s: %v\n%s", name, err, out)
		}
	} else if out, err := swan.Initiate(name, 10); err != nil {
		t.Errorf("swanctl --initiate --child %s: %v\n%s", name, err, out)
	}
	gsa := waitGateSA(t, g, name, 10*time.Second, settled(1))
	ssa := waitSwanSA(t, swan, name, 1, 10*time.Second)
	t.Logf("up in %v: ikegate %s <-> %s %s, CHILD %s/%s; strongSwan %s:%s <-> %s:%s",
		time.Since(tUp).Round(time.Millisecond), gsa.Local, gsa.Remote, gsa.IKEProposal,
		gsa.Children[0].ESPProposal, gsa.Children[0].SPIIn,
		ssa.LocalHost, ssa.Raw["local-port"], ssa.RemoteHost, ssa.Raw["remote-port"])
	if gsa.Local != gateLocal+":4500" || gsa.Remote != LeftAddr+":4500" {
		t.Errorf("ikegate IKE SA %s <-> %s, want %s:4500 <-> %s:4500", gsa.Local, gsa.Remote, gateLocal, LeftAddr)
	}
	if ssa.RemoteHost != gatePub || ssa.Raw["remote-port"] != "4500" {
		t.Errorf("strongSwan sees ikegate at %s:%s, want %s:4500", ssa.RemoteHost, ssa.Raw["remote-port"], gatePub)
	}
	if nat && !strings.Contains(ssa.Raw["nat-remote"], "yes") {
		t.Errorf("strongSwan did not detect the NAT in front of ikegate: nat-remote=%q (nat-any=%q)", ssa.Raw["nat-remote"], ssa.Raw["nat-any"])
	}
	if version == 2 {
		checkSwanIKE(t, gsa, ssa)
	}

	checkPing(t, lab.Left, lab.Right, 0)
	res := checkBulk(t, lab.Left, lab.Right, 0, trafficMB)

	c := gateChild(g, name)
	if c == nil {
		t.Fatalf("ikegate has no INSTALLED CHILD SA %s after the traffic", name)
	}
	t.Logf("ikegate CHILD SA %s counters: in %d packets/%d bytes, out %d packets/%d bytes, replay %d, auth %d",
		name, c.InPackets, c.InBytes, c.OutPackets, c.OutBytes, c.ReplayDrops, c.AuthFailures)
	minBytes := uint64(trafficMB) << 20
	if len(res) == 2 && (c.InBytes < minBytes || c.OutBytes < minBytes) {
		t.Errorf("ikegate counters: in %d bytes, out %d bytes; want >= %d each way", c.InBytes, c.OutBytes, minBytes)
	}
	if c.ReplayDrops != 0 || c.AuthFailures != 0 {
		t.Errorf("ikegate dropped genuine traffic: replay %d, auth %d", c.ReplayDrops, c.AuthFailures)
	}
	if st, err := g.StatsJSON(); err == nil {
		t.Logf("ikegate stats: packets_in %v packets_out %v dataplane %v", st["packets_in"], st["packets_out"], st["dataplane"])
	}

	// Keepalives every 2 s: wait for at least two since the SA came up.
	if d := 5*time.Second - time.Since(tUp); d > 0 {
		time.Sleep(d)
	}
	pkts, err := WirePackets(capt.Stop())
	if err != nil {
		t.Fatal(err)
	}
	checkFloatAndKeepalives(t, pkts, gatePub, LeftAddr, nat)
	t.Logf("case took %v", time.Since(t0).Round(time.Millisecond))
}

// checkFloatAndKeepalives: on the peer's link, IKE from ikegate's public
// address starts on port 500 and continues on 4500 (the float), and
// ikegate sends NAT keepalives (UDP/4500, one byte 0xFF) if it is behind
// a NAT (behindNAT), none otherwise.
func checkFloatAndKeepalives(t *testing.T, pkts []WirePacket, gate, peer string, behindNAT bool) {
	t.Helper()
	var ike500, ike4500, ka, first4500 int
	for _, p := range pkts {
		fromGate := strings.HasPrefix(p.Src, gate+":")
		switch {
		case p.IKE && (p.Src == gate+":500" || p.Dst == gate+":500"):
			ike500++
			if first4500 != 0 {
				t.Errorf("frame %d: IKE on port 500 after the float (frame %d)", p.Frame, first4500)
			}
		case p.IKE && (fromGate || strings.HasPrefix(p.Dst, gate+":")) && (strings.HasSuffix(p.Src, ":4500") || strings.HasSuffix(p.Dst, ":4500")):
			ike4500++
			if first4500 == 0 {
				first4500 = p.Frame
			}
		case fromGate && p.Dst == peer+":4500" && p.UDPLen == 9:
			if !p.Keepalive || p.Data != "ff" {
				t.Errorf("frame %d: 1-byte datagram %q from ikegate is not a NAT keepalive (tshark keepalive=%v)", p.Frame, p.Data, p.Keepalive)
				continue
			}
			ka++
		}
	}
	t.Logf("wire (peer's link): %d IKE messages on 500, %d on 4500 (first frame %d), %d NAT keepalives from ikegate (%s)",
		ike500, ike4500, first4500, ka, gate)
	if ike500 < 2 {
		t.Errorf("wire: %d IKE messages on port 500, want the first exchange there", ike500)
	}
	if ike4500 < 2 {
		t.Errorf("wire: %d IKE messages on port 4500: no float", ike4500)
	}
	switch {
	case behindNAT && ka < 1:
		t.Errorf("wire: no NAT keepalive (UDP/4500, 1 byte 0xFF) from ikegate at %s behind a NAT", gate)
	case !behindNAT && ka > 0:
		t.Errorf("wire: %d NAT keepalives from ikegate at %s, which is behind no NAT (it only claims one to force UDP encapsulation)", ka, gate)
	}
}
