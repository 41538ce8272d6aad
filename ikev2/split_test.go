package ikev2

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestSplitChildSAs: a split_child_sas initiator with two local and two
// remote subnets negotiates four CHILD SAs of one subnet pair each (the
// first in IKE_AUTH, the others with CREATE_CHILD_SA) against a
// responder that lists the four subnets in one connection, as a Cisco
// crypto ACL of several lines does; both sides agree on the pairs and
// SPIs, and a rekey of each keeps its pair. Without the switch one CHILD
// SA carries everything.
func TestSplitChildSAs(t *testing.T) {
	pfx := func(ss ...string) []netip.Prefix {
		var out []netip.Prefix
		for _, s := range ss {
			out = append(out, netip.MustParsePrefix(s))
		}
		return out
	}
	for _, split := range []bool{true, false} {
		t.Run(map[bool]string{true: "split", false: "one"}[split], func(t *testing.T) {
			p := newPair(t, []string{"aes128gcm16-prfsha256-x25519"}, []string{"aes128gcm16"})
			a, b := p.a.conns[0], p.b.conns[0]
			a.LocalTS, a.RemoteTS = pfx("10.1.0.0/24", "10.1.1.0/24"), pfx("10.2.0.0/24", "10.2.1.0/24")
			b.LocalTS, b.RemoteTS = a.RemoteTS, a.LocalTS
			a.SplitChildSAs = split
			p.initiate(p.a, a)
			p.run(5 * time.Second)
			want := 1
			if split {
				want = 4
			}
			pairsOf := func(n *node) []string {
				sas := n.eng.SAs()
				if len(sas) != 1 {
					t.Fatalf("%s: %d IKE SAs", n.name, len(sas))
				}
				var out []string
				for _, ch := range sas[0].Children {
					if ch.State != "INSTALLED" {
						t.Errorf("%s: CHILD SA %s %s", n.name, ch.SPIIn, ch.State)
					}
					out = append(out, strings.Join(ch.LocalTS, ",")+"="+strings.Join(ch.RemoteTS, ","))
				}
				slices.Sort(out)
				return out
			}
			ga, gb := pairsOf(p.a), pairsOf(p.b)
			if len(ga) != want || len(gb) != want {
				t.Fatalf("CHILD SAs: a %v, b %v; want %d each", ga, gb, want)
			}
			if split {
				for _, s := range ga {
					if strings.Contains(s, ",") {
						t.Errorf("a CHILD SA with several subnets: %s", s)
					}
				}
			}
			// Rekey every CHILD SA: the pairs stay.
			out, n := p.a.eng.Rekey(p.Now, a.Name, false, true)
			if n != want {
				t.Fatalf("Rekey started %d, want %d", n, want)
			}
			p.do(p.a, out)
			p.run(5 * time.Second)
			if got := pairsOf(p.a); !slices.Equal(got, ga) {
				t.Errorf("after the rekeys a has %v, want %v", got, ga)
			}
		})
	}
}
