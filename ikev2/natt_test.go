package ikev2

import (
	"testing"
	"time"

	"ikegate/isakmp"
	"ikegate/natt"
)

// TestForceEncap: with ForceEncap on the initiator only (as with the
// userspace dataplane), both sides see a NAT, IKE moves to the NAT-T port,
// the CHILD SAs are UDP-encapsulated, and nobody sends NAT keepalives: no
// NAT mapping exists to keep (RFC 3948 4: the side behind a NAT sends them).
func TestForceEncap(t *testing.T) {
	p := newPair(t, []string{"aes128gcm16-prfsha256-x25519"}, []string{"aes128gcm16"})
	p.a.eng.Cfg.ForceEncap = true
	p.a.eng.Cfg.NATKeepalive = 20 * time.Second
	keepalives := 0
	p.Filter = func(_ int, d isakmp.Datagram) []isakmp.Datagram {
		if natt.IsKeepalive(d.Data) {
			keepalives++
			if d.Local.Port() != 4500 || d.Remote.Port() != 4500 {
				t.Errorf("keepalive %v -> %v not on the NAT-T port", d.Local, d.Remote)
			}
			return nil
		}
		return []isakmp.Datagram{d}
	}
	p.initiate(p.a, p.a.conns[0])
	p.run(70 * time.Second)
	requireEstablished(t, p.a, p.b)
	for _, n := range []*node{p.a, p.b} {
		s := n.eng.SAs()[0]
		if s.Local[len(s.Local)-4:] != "4500" || s.Remote[len(s.Remote)-4:] != "4500" {
			t.Errorf("%s: IKE SA on %s <-> %s, want port 4500", n.name, s.Local, s.Remote)
		}
		for _, k := range n.inst.Live {
			if k.EncapLocalPort != 4500 || k.EncapRemotePort != 4500 {
				t.Errorf("%s: CHILD SA not UDP-encapsulated: %d/%d", n.name, k.EncapLocalPort, k.EncapRemotePort)
			}
		}
	}
	if keepalives != 0 {
		t.Errorf("%d keepalives in 70 s for a claimed NAT, want none", keepalives)
	}
}
