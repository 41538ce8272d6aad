package interop

import (
	"testing"
	"time"
)

// TestIKEv2Rekey: rekeying against strongSwan (kernel-libipsec, so CHILD
// SAs are installed on both ends), both ways: strongSwan rekeys the IKE
// SA and the CHILD SA (rekey_time) with ikegate responding, and ikegate
// rekeys them (ike_lifetime / child_lifetime) with strongSwan responding.
// Afterwards both daemons show one IKE SA with new SPIs and one CHILD SA
// with new SPIs, and they agree on them.
func TestIKEv2Rekey(t *testing.T) {
	t.Parallel()
	lab := NewLab(t)
	cases := []struct {
		name  string
		ikegI bool
	}{{"rk-swan", false}, {"rk-ikeg", true}}
	pairs := addPairs(t, lab, 120, len(cases))
	addPeerSubnets(t, lab, len(pairs))
	var peers, gates []Conn
	for i, c := range cases {
		p := v2PSKConn(c.name, i, pairs[i], "aes128gcm16-prfsha256-x25519", "aes128gcm16")
		g := p.Mirror()
		if c.ikegI {
			g.IkegateLifetimes = [2]string{"9s", "6s"}
		} else {
			p.SwanRekeyIKE, p.SwanRekeyChild = "8s", "5s"
		}
		peers, gates = append(peers, p), append(gates, g)
	}
	capt := lab.Capture(t, lab.Right, LabIface)
	swan := lab.StartStrongSwan(t, lab.Left, SwanConfig{Conns: peers, LibIPsec: true})
	g := lab.StartIkegate(t, lab.Right, IkegateTOML(IkegateGateway{Listen: gateAddrs(pairs)}, gates...))
	keepLogs(t, swan.LogPath, g.LogPath)

	first := make([]*IkegateSA, len(cases))
	for i, c := range cases {
		first[i], _ = upWithSwan(t, g, swan, c.name, c.ikegI, pairs[i], "AES_GCM_16_128/NO_ESN")
	}
	// Long enough for one IKE rekey and at least one CHILD rekey each.
	time.Sleep(11 * time.Second)
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			gsa := waitGateSA(t, g, c.name, 5*time.Second, settled(1))
			ssa := waitSwanSA(t, swan, c.name, 1, 5*time.Second)
			checkSwanIKE(t, gsa, ssa)
			checkSwanChild(t, gsa, ssa, c.name, "AES_GCM_16_128/NO_ESN")
			if gsa.LocalSPI == first[i].LocalSPI || gsa.RemoteSPI == first[i].RemoteSPI {
				t.Errorf("IKE SA not rekeyed: SPIs %s/%s as at the start", gsa.LocalSPI, gsa.RemoteSPI)
			}
			if gsa.Children[0].SPIIn == first[i].Children[0].SPIIn {
				t.Errorf("CHILD SA not rekeyed: inbound SPI %s as at the start", gsa.Children[0].SPIIn)
			}
		})
	}
	requireLine(t, "strongSwan", readFile(t, swan.LogPath), "rekeyed")
	CheckDissection(t, capt.Stop())
}
