package interop

import (
	"testing"
	"time"
)

// TestIKEv2CreateChildAndDelete, against strongSwan (kernel-libipsec):
//
//	(a) ikegate brings "main" up, then `ikegate up second` (same peer and
//	    identities, other selectors): ikegate reuses the IKE SA and runs
//	    CREATE_CHILD_SA; strongSwan lists 2 CHILD SAs under one IKE SA.
//	    `ikegate down second` deletes that CHILD SA only; `ikegate down
//	    main` deletes the IKE SA and strongSwan lists none.
//	(b) strongSwan brings "main" up, then initiates child "second" on the
//	    same IKE SA: ikegate lists 2 CHILD SAs; `swanctl --terminate --ike
//	    main` and ikegate lists none.
func TestIKEv2CreateChildAndDelete(t *testing.T) {
	t.Parallel()
	lab := NewLab(t)
	pairs := addPairs(t, lab, 70, 1)
	addPeerSubnets(t, lab, 2)
	peer := v2PSKConn("main", 0, pairs[0], "aes128gcm16-prfsha256-x25519", "aes128gcm16")
	peer.ExtraChildren = []Child{{Name: "second", LocalTS: []string{"10.201.1.0/24"}, RemoteTS: []string{"10.202.1.0/24"}}}
	capt := lab.Capture(t, lab.Right, LabIface)
	swan := lab.StartStrongSwan(t, lab.Left, SwanConfig{Conns: []Conn{peer}, LibIPsec: true})
	g := lab.StartIkegate(t, lab.Right, IkegateTOML(IkegateGateway{Listen: gateAddrs(pairs)}, peer.Mirror()))
	keepLogs(t, swan.LogPath, g.LogPath)
	const esp = "AES_GCM_16_128/NO_ESN"
	var ispiA, ispiB string

	t.Run("ikegate-creates-second", func(t *testing.T) {
		upWithSwan(t, g, swan, "main", true, pairs[0], esp)
		if out, err := g.Up("second"); err != nil {
			t.Fatalf("ikegate up second: %v\n%s", err, out)
		}
		gsa := waitGateSA(t, g, "main", 5*time.Second, settled(2))
		ssa := waitSwanSA(t, swan, "main", 2, 5*time.Second)
		if sas, _ := g.SAs(); len(sas) != 1 {
			t.Errorf("ikegate has %d IKE SAs, want the one reused: %+v", len(sas), sas)
		}
		if sas, _ := swan.ListSAs(); len(sas) != 1 {
			t.Errorf("strongSwan has %d IKE SAs, want 1", len(sas))
		}
		checkSwanIKE(t, gsa, ssa)
		checkSwanChild(t, gsa, ssa, "main", esp)
		checkSwanChild(t, gsa, ssa, "second", esp)
		ispiA, _ = spisOf(gsa)

		// Delete the second CHILD SA only.
		if out, err := g.Down("second"); err != nil {
			t.Fatalf("ikegate down second: %v\n%s", err, out)
		}
		if !WaitFor(t, 5*time.Second, func() bool {
			s := swan.IKESA("main")
			return s != nil && len(s.Children) == 1 && s.Children[0].Name == "main"
		}) {
			t.Errorf("strongSwan after ikegate down second: %+v", swan.IKESA("main"))
		}
		if sa := g.SA("main"); sa == nil || len(sa.Children) != 1 || sa.Children[0].Name != "main" {
			t.Errorf("ikegate after down second: %+v", sa)
		}
	})

	t.Run("ikegate-deletes", func(t *testing.T) {
		if out, err := g.Down("main"); err != nil {
			t.Fatalf("ikegate down main: %v\n%s", err, out)
		}
		waitNoSwanSA(t, swan, "main", 5*time.Second)
		waitNoGateSA(t, g, "main", 5*time.Second)
	})

	t.Run("strongswan-creates-second", func(t *testing.T) {
		upWithSwan(t, g, swan, "main", false, pairs[0], esp)
		if out, err := swan.Initiate("second", 5); err != nil {
			t.Errorf("swanctl --initiate --child second: %v\n%s", err, out)
		}
		ssa := waitSwanSA(t, swan, "main", 2, 5*time.Second)
		gsa := waitGateSA(t, g, "main", 5*time.Second, settled(2))
		if sas, _ := g.SAs(); len(sas) != 1 {
			t.Errorf("ikegate has %d IKE SAs, want 1: %+v", len(sas), sas)
		}
		checkSwanIKE(t, gsa, ssa)
		checkSwanChild(t, gsa, ssa, "main", esp)
		checkSwanChild(t, gsa, ssa, "second", esp)
		ispiB, _ = spisOf(gsa)
	})

	t.Run("strongswan-deletes", func(t *testing.T) {
		if out, err := swan.Terminate("main"); err != nil {
			t.Errorf("swanctl --terminate --ike main: %v\n%s", err, out)
		}
		waitNoGateSA(t, g, "main", 5*time.Second)
		waitNoSwanSA(t, swan, "main", 5*time.Second)
	})

	pkts := CheckDissection(t, capt.Stop())
	t.Run("wire", func(t *testing.T) {
		p := pairs[0]
		if ispiA != "" {
			// CREATE_CHILD_SA, then INFORMATIONAL (child delete, IKE delete).
			checkWire(t, pkts, ispiA, p.Gate, p.Peer, 4500, xCreateChildSA, xInformational)
		}
		if ispiB != "" {
			checkWire(t, pkts, ispiB, p.Peer, p.Gate, 4500, xCreateChildSA, xInformational)
		}
		checkSentBy(t, pkts, p.Gate, true)
	})
}
