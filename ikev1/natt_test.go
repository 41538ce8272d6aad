package ikev1

import (
	"testing"
	"time"

	"ikegate/isakmp"
	"ikegate/natt"
)

// TestForceEncap: the ForceEncap side claims a NAT through NAT-D, both
// float to 4500, phase 2 uses UDP-encapsulated tunnel mode and the
// "NATed" side sends keepalives.
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
	if keepalives < 3 {
		t.Errorf("%d keepalives in 70 s, want 3", keepalives)
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
