package interop

import (
	"strings"
	"testing"
	"time"
)

// TestSplitChildSAsStrongSwan: split_child_sas against strongSwan
// (kernel-libipsec), whose connection lists two subnets on each side in
// one CHILD SA config: ikegate negotiates one CHILD SA per subnet pair
// (four), strongSwan narrows each request to its pair and installs all
// four under one IKE SA, and both sides list the same four pairs.
func TestSplitChildSAsStrongSwan(t *testing.T) {
	t.Parallel()
	lab := NewLab(t)
	pairs := addPairs(t, lab, 150, 1)
	addPeerSubnets(t, lab, 2)
	peer := v2PSKConn("split", 0, pairs[0], "aes128gcm16-prfsha256-x25519", "aes128gcm16")
	peer.LocalTS = []string{"10.201.0.0/24", "10.201.1.0/24"}
	peer.RemoteTS = []string{"10.202.0.0/24", "10.202.1.0/24"}
	gate := peer.Mirror()
	gate.IkegateExtra = "split_child_sas = true"
	swan := lab.StartStrongSwan(t, lab.Left, SwanConfig{Conns: []Conn{peer}, LibIPsec: true})
	g := lab.StartIkegate(t, lab.Right, IkegateTOML(IkegateGateway{Listen: gateAddrs(pairs)}, gate))
	keepLogs(t, swan.LogPath, g.LogPath)
	if out, err := g.UpWait("split", 15*time.Second); err != nil {
		t.Fatalf("up: %v: %s", err, out)
	}
	var gp, sp []string
	if !WaitFor(t, 10*time.Second, func() bool {
		gsa, ssa := g.SA("split"), swan.IKESA("split")
		if gsa == nil || ssa == nil {
			return false
		}
		gp, sp = nil, nil
		for _, c := range gsa.Children {
			if c.State == "INSTALLED" {
				gp = append(gp, strings.Join(c.LocalTS, ",")+"="+strings.Join(c.RemoteTS, ","))
			}
		}
		for _, c := range ssa.Children {
			if c.State == "INSTALLED" {
				sp = append(sp, strings.Join(c.RemoteTS, ",")+"="+strings.Join(c.LocalTS, ","))
			}
		}
		return len(gp) == 4 && len(sp) == 4
	}) {
		out, _ := swan.Swanctl("--list-sas")
		t.Fatalf("CHILD SAs: ikegate %v, strongSwan %v, want 4 each\n%s", gp, sp, out)
	}
	for _, p := range gp {
		if strings.Contains(p, ",") {
			t.Errorf("ikegate CHILD SA with several subnets: %s", p)
		}
		found := false
		for _, q := range sp {
			found = found || q == p
		}
		if !found {
			t.Errorf("ikegate's CHILD SA %s is not among strongSwan's %v", p, sp)
		}
	}
}
