package interop

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestIKEv2RekeyCollision: ikegate and strongSwan rekey the same IKE SA,
// or the same CHILD SA, at once (RFC 7296 2.8.1, 2.8.2). The lab has no
// netem, so the interleavings are forced with nftables in ikegate's
// namespace: while ikegate's IKE packets to the peer are dropped, both
// rekeys start and each side sees the other's request first ("both
// notice": the nonces decide); while the peer's packets to ikegate are
// dropped, strongSwan sees both requests but ikegate completes its own
// before it sees strongSwan's ("ikegate does not notice": ikegate's
// survives). Both daemons end with one IKE SA and one CHILD SA with the
// same new SPIs, `ikegate rekey` reports the survivor, the SAs retired on
// the way disappear, and ikegate logs no warning (before the fix:
// "CHILD SA failed: ... TEMPORARY_FAILURE", a second IKE SA, "peer is
// dead").
func TestIKEv2RekeyCollision(t *testing.T) {
	t.Parallel()
	lab := NewLab(t)
	cases := []struct {
		name  string
		ike   bool
		block string // "out": ikegate's packets to the peer are lost; "in": the peer's to ikegate
	}{
		{"col-ike-both", true, "out"},
		{"col-ike-unaware", true, "in"},
		{"col-child-both", false, "out"},
		{"col-child-unaware", false, "in"},
	}
	pairs := addPairs(t, lab, 140, len(cases))
	addPeerSubnets(t, lab, len(pairs))
	var peers, gates []Conn
	for i, c := range cases {
		p := v2PSKConn(c.name, i, pairs[i], "aes128gcm16-prfsha256-x25519", "aes128gcm16")
		peers, gates = append(peers, p), append(gates, p.Mirror())
	}
	swan := lab.StartStrongSwan(t, lab.Left, SwanConfig{Conns: peers, LibIPsec: true})
	g := lab.StartIkegate(t, lab.Right, IkegateTOML(IkegateGateway{Listen: gateAddrs(pairs)}, gates...))
	keepLogs(t, swan.LogPath, g.LogPath)

	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			first, _ := upWithSwan(t, g, swan, c.name, true, pairs[i], "AES_GCM_16_128/NO_ESN")
			ns, from := lab.Left, pairs[i].Gate // ikegate's packets, dropped where they arrive
			if c.block == "in" {
				ns, from = lab.Right, pairs[i].Peer
			}
			hold := holdIKE(t, ns, from)
			hold(true)
			swanRekey := func() {
				what := "--child"
				if c.ike {
					what = "--ike"
				}
				if out, err := swan.Swanctl("--rekey", what, c.name); err != nil {
					t.Errorf("swanctl --rekey %s %s: %v\n%s", what, c.name, err, out)
				}
			}
			args := []string{"rekey", c.name, "--timeout", "30", "--quiet"}
			if c.ike {
				args = append(args, "--ike")
			}
			done := make(chan string, 1)
			ikegRekey := func() {
				go func() {
					out, err := g.ctl(args...)
					done <- fmt.Sprintf("%v: %s", err, out)
				}()
			}
			if c.block == "out" {
				ikegRekey() // its request is lost, strongSwan's reaches it
				time.Sleep(300 * time.Millisecond)
				swanRekey()
			} else {
				swanRekey() // its request is lost, ikegate's reaches it
				time.Sleep(300 * time.Millisecond)
				ikegRekey()
			}
			time.Sleep(300 * time.Millisecond)
			hold(false)
			if res := <-done; !strings.HasPrefix(res, "<nil>: ") || !strings.Contains(res, "rekeyed: new") {
				t.Errorf("ikegate %s: %s", strings.Join(args, " "), res)
			}
			gsa, ssa := colSettled(t, g, swan, c.name)
			checkSwanIKE(t, gsa, ssa)
			checkSwanChild(t, gsa, ssa, c.name, "AES_GCM_16_128/NO_ESN")
			// An IKE SA rekey moves the CHILD SA; a CHILD SA rekey keeps the IKE SA.
			newIKE, newChild := gsa.LocalSPI != first.LocalSPI, gsa.Children[0].SPIIn != first.Children[0].SPIIn
			if newIKE != c.ike || newChild == c.ike {
				t.Errorf("IKE SA %s (was %s), CHILD SA %s (was %s): not what a rekey of the %s makes", gsa.LocalSPI, first.LocalSPI,
					gsa.Children[0].SPIIn, first.Children[0].SPIIn, map[bool]string{true: "IKE SA", false: "CHILD SA"}[c.ike])
			}
			if c.block == "in" && c.ike && !gsa.Initiator {
				t.Error("ikegate completed its rekey first, but strongSwan's new IKE SA survived")
			}
		})
	}
	// What was retired on the way (a redundant SA strongSwan dropped
	// without a delete) goes within retireGrace and the retransmissions of
	// its delete: one IKE SA per connection is left.
	if !WaitFor(t, 150*time.Second, func() bool {
		sas, err := g.SAs()
		return err == nil && len(sas) == len(cases)
	}) {
		sas, _ := g.SAs()
		t.Errorf("ikegate still lists %d IKE SAs, want %d: %+v", len(sas), len(cases), sas)
	}
	log := readFile(t, g.LogPath)
	for _, bad := range []string{"\tWARN\t", "\tERROR\t", "peer is dead"} {
		if lines := v1Lines(log, bad); len(lines) > 0 {
			t.Errorf("ikegate logged %q:\n%s", bad, strings.Join(lines, "\n"))
		}
	}
	requireLine(t, "ikegate", log, "rekey collision")
}

// colSettled waits until both daemons hold exactly one ESTABLISHED IKE SA
// of connection name with the same SPIs and one INSTALLED CHILD SA with
// crossed SPIs (SAs retired on the way, REKEYED on either side, aside).
func colSettled(t *testing.T, g *Ikegate, swan *Swan, name string) (*IkegateSA, *SwanIKESA) {
	t.Helper()
	var gsa *IkegateSA
	var ssa *SwanIKESA
	ok := WaitFor(t, 20*time.Second, func() bool {
		gsa, ssa = nil, nil
		gsas, err := g.SAs()
		if err != nil {
			return false
		}
		for i := range gsas {
			if gsas[i].Name == name && gsas[i].State == "ESTABLISHED" {
				if gsa != nil {
					return false
				}
				gsa = &gsas[i]
			}
		}
		ssas, err := swan.ListSAs()
		if err != nil {
			return false
		}
		for i := range ssas {
			if ssas[i].Name == name && ssas[i].State == "ESTABLISHED" {
				if ssa != nil {
					return false
				}
				ssa = &ssas[i]
			}
		}
		if gsa == nil || ssa == nil || len(gsa.Children) != 1 || gsa.Children[0].State != "INSTALLED" {
			return false
		}
		gi, gr := spisOf(gsa)
		n := 0
		for _, c := range ssa.Children {
			if c.State == "INSTALLED" && c.SPIIn == gsa.Children[0].SPIOut && c.SPIOut == gsa.Children[0].SPIIn {
				n++
			}
		}
		return ssa.InitSPI == gi && ssa.RespSPI == gr && n == 1 && len(ssa.Children) == 1
	})
	if !ok {
		gsas, _ := g.SAs()
		raw, _ := swan.Swanctl("--list-sas", "--pretty")
		t.Fatalf("%s: no agreement on one IKE SA and one CHILD SA within 20s\nikegate: %+v\nstrongSwan:\n%s", name, gsas, raw)
	}
	return gsa, ssa
}
