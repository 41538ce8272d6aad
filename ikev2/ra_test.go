package ikev2

import (
	"net/netip"
	"testing"
	"time"

	"ikegate/internal/enginetest"
	"ikegate/isakmp"
	"ikegate/policy"
)

var (
	raNet  = netip.MustParsePrefix("10.2.0.0/24")
	raPool = netip.MustParsePrefix("10.9.0.0/24")
)

// newRAPair is a road warrior (a, asking for a virtual IP) and a gateway
// (b, with a pool in its access layer).
func newRAPair(t *testing.T) *pair {
	p := newPair(t, []string{"aes128gcm16-prfsha256-x25519"}, []string{"aes128gcm16"})
	ca, cb := p.a.conns[0], p.b.conns[0]
	ca.VirtualIP, ca.RemoteTS = true, []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}
	cb.Pool, cb.LocalTS, cb.RemoteTS = "rw", []netip.Prefix{raNet}, nil
	p.b.access = &enginetest.Access{Pool: raPool}
	return p
}

// vipOf returns the virtual IP of n's only IKE SA.
func vipOf(t *testing.T, n *node) string {
	t.Helper()
	sas := n.eng.SAs()
	if len(sas) != 1 {
		t.Fatalf("%s: %d IKE SAs, want 1", n.name, len(sas))
	}
	return sas[0].VirtualIP
}

// TestConfigPayload: a client asking for an address with a CFG_REQUEST
// gets one from the gateway's pool, and both sides narrow the CHILD SA to
// it and the gateway's network; the lease outlives IKE SA rekeys (on the
// same address) and goes back when the IKE SA is deleted. With loss and
// reordering too.
func TestConfigPayload(t *testing.T) {
	for _, tc := range []struct {
		name   string
		filter func(n int, d isakmp.Datagram) []isakmp.Datagram
	}{
		{"clean", nil},
		{"lossy", func(n int, d isakmp.Datagram) []isakmp.Datagram {
			if n%3 == 0 {
				return nil // every third datagram lost
			}
			return []isakmp.Datagram{d, d} // the others twice
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newRAPair(t)
			p.Filter = tc.filter
			p.b.conns[0].IKELifetime = 10 * time.Minute
			p.initiate(p.a, p.a.conns[0])
			p.run(2 * time.Minute)
			requireEstablished(t, p.a, p.b)
			want := raPool.Addr().Next().String()
			if got := vipOf(t, p.b); got != want {
				t.Fatalf("gateway: virtual IP %q, want %q", got, want)
			}
			if got := vipOf(t, p.a); got != want {
				t.Fatalf("client: virtual IP %q, want %q", got, want)
			}
			gc, cc := p.b.eng.SAs()[0].Children[0], p.a.eng.SAs()[0].Children[0]
			if len(gc.RemoteTS) != 1 || gc.RemoteTS[0] != want+"/32" || len(gc.LocalTS) != 1 || gc.LocalTS[0] != raNet.String() {
				t.Errorf("gateway CHILD SA %v === %v, want %s === %s/32", gc.LocalTS, gc.RemoteTS, raNet, want)
			}
			if len(cc.LocalTS) != 1 || cc.LocalTS[0] != want+"/32" || len(cc.RemoteTS) != 1 || cc.RemoteTS[0] != raNet.String() {
				t.Errorf("client CHILD SA %v === %v, want %s/32 === %s", cc.LocalTS, cc.RemoteTS, want, raNet)
			}
			first := p.b.eng.SAs()[0].LocalSPI
			p.Filter = nil
			p.run(25 * time.Minute) // two IKE SA rekeys by the gateway
			requireEstablished(t, p.a, p.b)
			if p.b.eng.SAs()[0].LocalSPI == first {
				t.Fatal("IKE SA not rekeyed")
			}
			if got := vipOf(t, p.b); got != want {
				t.Errorf("after rekeys: virtual IP %q, want %q", got, want)
			}
			if l := p.b.access.Leases; len(l) != 1 || l[policy.Identity(ipID(p.a.addr)).String()].String() != want {
				t.Errorf("leases after rekeys: %v, want one of %s", l, want)
			}
			out, ok := p.a.eng.Terminate(p.Now, p.a.conns[0].Name)
			if !ok {
				t.Fatal("terminate: no such connection")
			}
			p.do(p.a, out)
			p.run(time.Minute)
			if l := p.b.access.Leases; len(l) != 0 {
				t.Errorf("leases after delete: %v, want none", l)
			}
		})
	}
}

// TestConfigPayloadPoolExhausted: with no address left the client gets
// INTERNAL_ADDRESS_FAILURE instead of a CHILD SA, and holds nothing.
func TestConfigPayloadPoolExhausted(t *testing.T) {
	p := newRAPair(t)
	p.b.access.Pool = netip.MustParsePrefix("10.9.0.0/31") // only .1, which is taken
	p.b.access.Leases = map[string]netip.Addr{"someone": netip.MustParseAddr("10.9.0.1")}
	p.initiate(p.a, p.a.conns[0])
	p.run(time.Minute)
	sas := p.b.eng.SAs()
	if len(sas) == 1 && len(sas[0].Children) != 0 {
		t.Errorf("gateway installed a CHILD SA without an address: %+v", sas[0].Children)
	}
	if len(p.b.inst.Live) != 0 {
		t.Errorf("gateway dataplane holds %d SAs", len(p.b.inst.Live))
	}
	if len(p.b.access.Leases) != 1 {
		t.Errorf("leases: %v", p.b.access.Leases)
	}
}
