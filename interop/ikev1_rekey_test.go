package interop

import (
	"testing"
	"time"
)

// TestIKEv1Rekey: IKEv1 SAs renewed against strongSwan (kernel-libipsec),
// both ways. ikegate, with short ike_lifetime / child_lifetime, replaces
// the IPsec SA with a new Quick Mode and the ISAKMP SA with a new Main
// Mode and deletes the old ones: both daemons then agree on one ISAKMP SA
// and one IPsec SA with new cookies and SPIs. strongSwan, with a short
// rekey_time, renews the IPsec SA with a new Quick Mode that ikegate
// accepts (strongSwan keeps the old one until it expires).
func TestIKEv1Rekey(t *testing.T) {
	t.Parallel()
	lab := NewLab(t)
	cases := []struct {
		name  string
		ikegI bool
	}{{"v1rk-swan", false}, {"v1rk-ikeg", true}}
	pairs := v1AddPairs(t, lab.Left, lab.Right, 60, len(cases))
	v1PeerSubnets(t, lab, lab.Left, 211, []int{0, 1})
	var peers, gates []Conn
	for i, c := range cases {
		p := v1PSKConn(c.name, i, pairs[i], "aes256-sha256-modp2048", "aes256-sha256")
		g := p.Mirror()
		if c.ikegI {
			g.IkegateLifetimes = [2]string{"10s", "6s"}
		} else {
			p.SwanRekeyIKE, p.SwanRekeyChild = "9s", "5s"
		}
		peers, gates = append(peers, p), append(gates, g)
	}
	capt := lab.Capture(t, lab.Right, LabIface)
	swan := lab.StartStrongSwan(t, lab.Left, SwanConfig{Conns: peers, LibIPsec: true, Extra: v1SwanExtra})
	g := lab.StartIkegate(t, lab.Right, v1GatewayTOML(v1GateAddrs(pairs), gates...))
	v1KeepLogs(t, swan.LogPath, g.LogPath)

	first := make([]*v1GateSA, len(cases))
	for i, c := range cases {
		first[i], _ = v1UpWithSwan(t, g, swan, c.name, c.ikegI, pairs[i])
	}
	time.Sleep(12 * time.Second)
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if !c.ikegI {
				// strongSwan renews: a new Quick Mode (its old CHILD_SA
				// stays until it expires, charon.delete_rekeyed = no).
				v1RequireRenewedPair(t, g, swan, c.name, first[i].Children[0].SPIIn)
				return
			}
			gsa := v1WaitGate(t, g, c.name, 8*time.Second, v1Settled(1))
			ssa := v1WaitSwan(t, swan, c.name, 1, 8*time.Second)
			gi, gr := v1Cookies(gsa)
			if ssa.InitSPI != gi || ssa.RespSPI != gr {
				t.Errorf("cookies differ: ikegate %s/%s, strongSwan %s/%s", gi, gr, ssa.InitSPI, ssa.RespSPI)
			}
			if gsa.Children[0].SPIIn == first[i].Children[0].SPIIn {
				t.Errorf("IPsec SA not renewed: inbound SPI %s as at the start", gsa.Children[0].SPIIn)
			}
			if gsa.LocalSPI == first[i].LocalSPI {
				t.Errorf("ISAKMP SA not renewed: cookie %s as at the start", gsa.LocalSPI)
			}
			if n := len(v1GateNamed(g, c.name)); n != 1 {
				t.Errorf("ikegate holds %d ISAKMP SAs for %s, want 1 (old ones deleted)", n, c.name)
			}
		})
	}
	CheckDissection(t, capt.Stop())
}

// v1RequireRenewedPair waits until ikegate holds an installed phase 2 SA
// of name with another inbound SPI than old that strongSwan lists with
// the SPIs crossed.
func v1RequireRenewedPair(t *testing.T, g *Ikegate, swan *Swan, name, old string) {
	t.Helper()
	var gotG, gotS []string
	if !WaitFor(t, 8*time.Second, func() bool {
		gotG, gotS = nil, nil
		swanSAs, err := swan.ListSAs()
		if err != nil {
			return false
		}
		for _, ss := range swanSAs {
			for _, sc := range ss.Children {
				gotS = append(gotS, sc.SPIIn+"/"+sc.SPIOut)
			}
		}
		for _, sa := range v1GateNamed(g, name) {
			for _, gc := range sa.Children {
				if gc.State != "INSTALLED" || gc.SPIIn == old {
					continue
				}
				gotG = append(gotG, gc.SPIIn+"/"+gc.SPIOut)
				for _, s := range gotS {
					if s == gc.SPIOut+"/"+gc.SPIIn {
						return true
					}
				}
			}
		}
		return false
	}) {
		t.Fatalf("no renewed phase 2 SA known to both: ikegate %v, strongSwan %v (initial inbound SPI %s)", gotG, gotS, old)
	}
}
