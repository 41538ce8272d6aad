package interop

import (
	"fmt"

	"strings"
	"testing"
	"time"
)

// ra2MovedAddr is the road warrior's second address in TestIKEv2RAMOBIKE:
// on the same link, as a phone's new network would be.
const ra2MovedAddr = "10.200.0.5"

// TestIKEv2RAMOBIKE: a road warrior (strongSwan, PSK, virtual IP, mobike
// = yes, its default) changes its address: the new one is added to its
// interface and the old one removed. strongSwan notices (kernel-netlink)
// and sends UPDATE_SA_ADDRESSES from the new address; ikegate (mobike =
// true) moves the IKE SA and the CHILD SA without reauthentication: the
// IKE SA and CHILD SA SPIs stay the same on both sides, ikegate's SA now
// names the new address, its return routability check is answered, and a
// ping from the virtual IP goes through again.
func TestIKEv2RAMOBIKE(t *testing.T) {
	t.Parallel()
	lab := newRALab(t)
	ra2RequirePlugins(t)
	c := ra2GateConn(raGateID, "aes256-sha256-modp2048", "aes256-sha256")
	c.Auth, c.PSK = "psk", ra2PSK
	g := lab.StartIkegate(t, lab.Right, ra2GateTOML(c, "", "", "mobike = true"))
	conf := ra2Swanctl(ra2Spec{
		local:   "auth = psk\nid = " + ra2CliID,
		remote:  "auth = psk\nid = " + raGateID,
		secrets: fmt.Sprintf("ike-rw {\n  id-1 = %s\n  id-2 = %s\n  secret = %q\n}", raGateID, ra2CliID, ra2PSK),
	})
	// Any local address: the one it moves to must be allowed too.
	conf = strings.Replace(conf, "local_addrs = "+LeftAddr, "local_addrs = %any", 1)
	swan := ra2StartSwan(t, lab.Lab, conf)
	keepLogs(t, swan.LogPath, g.LogPath)

	up := ra2Connect(t, lab, swan, g, ra2Want{})
	before := up.Swan
	gBefore := ra2OnlyGateSA(t, g)
	if len(before.Children) != 1 || len(gBefore.Children) != 1 {
		t.Fatalf("before the move: strongSwan %d, ikegate %d CHILD SAs", len(before.Children), len(gBefore.Children))
	}
	smark, gmark := v1MarkLog(swan.LogPath), v1MarkLog(g.LogPath)

	// The move: new address first, then the old one goes (the new one,
	// a secondary of the same subnet, must survive the primary's removal).
	MustRun(t, IPCmd, "netns", "exec", lab.Left, "sysctl", "-qw", "net.ipv4.conf."+LabIface+".promote_secondaries=1")
	MustRun(t, IPCmd, "-n", lab.Left, "addr", "add", ra2MovedAddr+"/24", "dev", LabIface)
	MustRun(t, IPCmd, "-n", lab.Left, "addr", "del", LeftAddr+"/24", "dev", LabIface)

	v1WaitLine(t, "ikegate", gmark, 15*time.Second, "MOBIKE: peer moved its SAs to a new address", `"old": "`+LeftAddr, `"new": "`+ra2MovedAddr)
	v1WaitLine(t, "ikegate", gmark, 5*time.Second, "CHILD SA moved to new addresses", before.Children[0].SPIOut, ra2MovedAddr)
	v1WaitLine(t, "ikegate", gmark, 5*time.Second, "MOBIKE: return routability of "+ra2MovedAddr, "confirmed")
	time.Sleep(time.Second) // strongSwan's follow-up (below) settles
	for _, l := range v1Lines(smark.since(), "UPDATE_SA_ADDRESSES", "MOBIKE", "N(UPD_SA_ADDR)", "COOKIE2") {
		t.Logf("strongSwan: %s", v1Short(l, 200))
	}
	after := swan.IKESA(raConn)
	gAfter := ra2OnlyGateSA(t, g)
	if after != nil { // the CHILD SA a rekey replaced may linger as DELETED
		var live []SwanChildSA
		for _, c := range after.Children {
			if c.State == "INSTALLED" {
				live = append(live, c)
			}
		}
		after.Children = live
	}
	switch {
	case after == nil || after.State != "ESTABLISHED":
		t.Fatalf("strongSwan's IKE SA after the move: %+v", after)
	case after.InitSPI != before.InitSPI || after.RespSPI != before.RespSPI:
		t.Errorf("strongSwan's IKE SA SPIs changed: %s_i %s_r -> %s_i %s_r", before.InitSPI, before.RespSPI, after.InitSPI, after.RespSPI)
	case after.LocalHost != ra2MovedAddr:
		t.Errorf("strongSwan's IKE SA local host %s, want %s", after.LocalHost, ra2MovedAddr)
	case len(after.Children) != 1 || after.Children[0].State != "INSTALLED":
		t.Errorf("strongSwan's CHILD SAs after the move: %+v", after.Children)
	}
	if gAfter.LocalSPI != gBefore.LocalSPI || gAfter.RemoteSPI != gBefore.RemoteSPI {
		t.Errorf("ikegate's IKE SA SPIs changed: %s/%s -> %s/%s", gBefore.LocalSPI, gBefore.RemoteSPI, gAfter.LocalSPI, gAfter.RemoteSPI)
	}
	// ikegate moved the CHILD SA in its dataplane (above). strongSwan's
	// kernel-libipsec cannot move one: strongSwan rekeys it instead, over
	// the moved IKE SA (N(REKEY_SA)); a kernel with ESP would keep it.
	// Either way both sides agree on one CHILD SA.
	var inst []IkegateChild
	for _, c := range gAfter.Children {
		if c.State == "INSTALLED" {
			inst = append(inst, c)
		}
	}
	if after != nil && len(after.Children) == 1 {
		sc := after.Children[0]
		if len(inst) != 1 || inst[0].SPIIn != sc.SPIOut || inst[0].SPIOut != sc.SPIIn {
			t.Errorf("CHILD SAs disagree after the move: strongSwan %s/%s, ikegate %+v", sc.SPIIn, sc.SPIOut, gAfter.Children)
		}
		if sc.SPIIn != before.Children[0].SPIIn {
			t.Logf("strongSwan rekeyed its CHILD SA after the move (kernel-libipsec cannot update one): %s -> %s", before.Children[0].SPIIn, sc.SPIIn)
		}
	}
	if h, _, _ := strings.Cut(gAfter.Remote, ":"); h != ra2MovedAddr {
		t.Errorf("ikegate's IKE SA remote %s, want %s", gAfter.Remote, ra2MovedAddr)
	}
	if l := v1Lines(gmark.since(), "IKE SA established"); len(l) != 0 {
		t.Errorf("ikegate established a new IKE SA (reauthentication instead of MOBIKE): %s", l[0])
	}
	raPing(t, lab.Left, up.VIP)
	ra2Disconnect(t, swan, g)
}

// ra2OnlyGateSA is ikegate's one IKE SA.
func ra2OnlyGateSA(t *testing.T, g *Ikegate) IkegateSA {
	t.Helper()
	sas, err := g.SAs()
	if err != nil || len(sas) != 1 {
		t.Fatalf("ikegate sas: %v %+v, want one", err, sas)
	}
	return sas[0]
}
