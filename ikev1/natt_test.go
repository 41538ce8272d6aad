package ikev1

import (
	"testing"
	"time"

	"ikegate/isakmp"
	"ikegate/natt"
)

// TestForceEncap: the ForceEncap side claims a NAT through NAT-D, both
// float to 4500, phase 2 uses UDP-encapsulated tunnel mode and the
// side that claims the NAT sends no keepalives: no NAT mapping exists to
// keep (RFC 3948 4: the side behind a NAT sends them).
func TestForceEncap(t *testing.T) {
	p := newPair(t, "main", []string{"aes256-sha256-modp2048"}, []string{"aes256-sha256"})
	p.a.eng.Cfg.ForceEncap = true
	keepalives := 0
	p.Filter = func(_ int, d isakmp.Datagram) []isakmp.Datagram {
		if natt.IsKeepalive(d.Data) {
			keepalives++
			return nil
		}
		return []isakmp.Datagram{d}
	}
	p.initiate(p.a, p.a.conns[0])
	p.run(70 * time.Second)
	requireUp(t, p.a, p.b, 1)
	for _, n := range []*node{p.a, p.b} {
		for _, k := range n.inst.Live {
			if k.EncapLocalPort != 4500 || k.EncapRemotePort != 4500 {
				t.Errorf("%s: phase 2 SA not UDP-encapsulated: %d/%d", n.name, k.EncapLocalPort, k.EncapRemotePort)
			}
		}
	}
	if keepalives != 0 {
		t.Errorf("%d keepalives in 70 s for a claimed NAT, want none", keepalives)
	}
}

// TestTransportBehindNAT: UDP-encapsulated transport mode carries NAT-OA
// in both Quick Mode messages and installs with encapsulation ports.
func TestTransportBehindNAT(t *testing.T) {
	p := newPair(t, "main", []string{"aes256-sha256-modp2048"}, []string{"aes256-sha256"})
	p.a.eng.Cfg.ForceEncap = true
	p.a.conns[0].Transport, p.b.conns[0].Transport = true, true
	p.initiate(p.a, p.a.conns[0])
	p.run(time.Minute)
	requireUp(t, p.a, p.b, 1)
	for _, n := range []*node{p.a, p.b} {
		for _, k := range n.inst.Live {
			if k.Tunnel || k.EncapLocalPort != 4500 || k.EncapRemotePort != 4500 {
				t.Errorf("%s: want UDP-encapsulated transport, got tunnel=%v ports %d/%d", n.name, k.Tunnel, k.EncapLocalPort, k.EncapRemotePort)
			}
		}
	}
}

// TestNATIKEv1Method: nat_ikev1_method on either side decides the NAT
// traversal both use (like Libreswan's nat-ikev1-method): RFC 3947 when
// both allow it, the drafts when one side allows only those, none when
// the two have nothing in common or one says "none"; with ForceEncap (a
// claimed NAT) the phase 2 SA is UDP-encapsulated exactly when there is
// a method.
func TestNATIKEv1Method(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want natTVariant
	}{
		{"", "", natTRFC},
		{"both", "rfc", natTRFC},
		{"drafts", "", natTDraft},
		{"", "drafts", natTDraft},
		{"rfc", "drafts", natTNone},
		{"none", "both", natTNone},
		{"both", "none", natTNone},
	} {
		t.Run(tc.a+"/"+tc.b, func(t *testing.T) {
			p := newPair(t, "main", []string{"aes256-sha256-modp2048"}, []string{"aes256-sha256"})
			p.a.conns[0].NATIKEv1Method, p.b.conns[0].NATIKEv1Method = tc.a, tc.b
			p.a.eng.Cfg.ForceEncap = true
			p.initiate(p.a, p.a.conns[0])
			p.run(5 * time.Second)
			requireUp(t, p.a, p.b, 1)
			for _, n := range []*node{p.a, p.b} {
				for _, sa := range n.eng.sas {
					if sa.natT != tc.want {
						t.Errorf("%s: NAT-T variant %d, want %d", n.name, sa.natT, tc.want)
					}
				}
				for _, k := range n.inst.Live {
					if encap := k.EncapLocalPort != 0; encap != (tc.want != natTNone) {
						t.Errorf("%s: phase 2 UDP encapsulation %v with NAT-T variant %d", n.name, encap, tc.want)
					}
				}
			}
		})
	}
}
