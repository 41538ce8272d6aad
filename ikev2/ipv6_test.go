package ikev2

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"net/netip"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"ikegate/isakmp"
	"ikegate/policy"
)

// TestIPv6FragmentLimit: two engines with RSA-3072 certificates (each
// IKE_AUTH message is larger than one fragment) over IPv4 and over IPv6.
// Both establish, with host selectors of their family and no NAT
// detected (NAT detection hashes over 16-byte addresses match: the SA
// stays on port 500); the IKE_AUTH messages go out as SKF fragments of
// at most FragmentLimit bytes: 1232 over IPv4, 1212 over IPv6, so that
// with the IPv6 (40), UDP (8) and non-ESP marker (4) headers a fragment
// fits IPv6's minimum MTU of 1280. AES-GCM pads nothing, so the largest
// fragment fills the limit nearly to the byte (a limit ignored would show).
func TestIPv6FragmentLimit(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 3072)
	if err != nil {
		t.Fatal(err)
	}
	ca := newTestCA(t, "Test CA")
	for _, tc := range []struct {
		name, a, b string
		limit      int
	}{
		{"ipv4", "10.0.0.1", "10.0.0.2", 1232},
		{"ipv6", "fd00:200::1", "fd00:200::2", 1212},
	} {
		t.Run(tc.name, func(t *testing.T) {
			log := zaptest.NewLogger(t, zaptest.Level(zap.InfoLevel))
			mk := func(name string, me, peer netip.Addr, meID, peerID string, base uint32) *node {
				c := &policy.Connection{Name: name, Version: policy.IKEv2, LocalAddr: me, RemoteAddr: peer,
					LocalID: fqdn(meID), RemoteID: fqdn(peerID), Auth: policy.AuthPubkey,
					Key: key, Cert: ca.leaf(t, meID, key), CAs: ca.pool, CACerts: []*x509.Certificate{ca.cert},
					IKE: mustProposals(t, false, "aes128gcm16-prfsha256-x25519"), ESP: mustProposals(t, true, "aes128gcm16"),
					LocalTS:  []netip.Prefix{netip.PrefixFrom(me, me.BitLen())},
					RemoteTS: []netip.Prefix{netip.PrefixFrom(peer, peer.BitLen())}}
				inst := &fakeInstaller{Base: base}
				n := &node{name: name, addr: me, inst: inst, conns: []*policy.Connection{c}}
				n.eng = NewEngine(Config{DB: policy.NewDB(n.conns), Installer: inst, Log: log.Named(name),
					RetransmitTries: 5, RetransmitBase: time.Second})
				return n
			}
			a, b := netip.MustParseAddr(tc.a), netip.MustParseAddr(tc.b)
			p := (&pair{t: t, a: mk("ab", a, b, "a.lab", "b.lab", 0xc1000000), b: mk("ba", b, a, "b.lab", "a.lab", 0xc2000000)}).wire()
			largest, frags := 0, 0
			p.Filter = func(_ int, d isakmp.Datagram) []isakmp.Datagram {
				if len(d.Data) > tc.limit {
					t.Errorf("IKE message of %d bytes to %v, more than %d", len(d.Data), d.Remote, tc.limit)
				}
				if d.Data[16] == byte(isakmp.PayloadSKF) {
					frags++
					largest = max(largest, len(d.Data))
				}
				return []isakmp.Datagram{d}
			}
			p.initiate(p.a, p.a.conns[0])
			p.run(time.Minute)
			requireEstablished(t, p.a, p.b)
			t.Logf("%d fragments, the largest %d bytes (limit %d)", frags, largest, tc.limit)
			if frags < 4 || largest < tc.limit-16 {
				t.Errorf("%d fragments, the largest %d bytes: want IKE_AUTH fragmented both ways, fragments near %d bytes", frags, largest, tc.limit)
			}
			for _, n := range []*node{p.a, p.b} {
				sa := n.eng.SAs()[0]
				if !strings.HasSuffix(sa.Local, ":500") || !strings.HasSuffix(sa.Remote, ":500") {
					t.Errorf("%s: IKE SA %s <-> %s, want port 500 (no NAT)", n.name, sa.Local, sa.Remote)
				}
				ch := sa.Children[0]
				if want := netip.PrefixFrom(n.addr, n.addr.BitLen()).String(); len(ch.LocalTS) != 1 || ch.LocalTS[0] != want {
					t.Errorf("%s: CHILD SA local_ts %v, want [%s]", n.name, ch.LocalTS, want)
				}
			}
		})
	}
}

// TestConfigPayloadIPv6: a client asking for addresses of both families
// (ikegate's client asks for INTERNAL_IP4_ADDRESS and _IP6_ADDRESS) from
// a gateway whose pool is IPv6 gets an IPv6 virtual IP (INTERNAL_IP6_ADDRESS,
// prefix length 128), and both sides narrow the CHILD SA to it/128 ===
// the gateway's IPv6 network; the lease goes back when the IKE SA is
// deleted.
func TestConfigPayloadIPv6(t *testing.T) {
	net6 := netip.MustParsePrefix("fd00:2::/64")
	p := newRAPair(t)
	ca, cb := p.a.conns[0], p.b.conns[0]
	ca.RemoteTS = []netip.Prefix{netip.MustParsePrefix("::/0")}
	cb.LocalTS = []netip.Prefix{net6}
	p.b.access.Pool = netip.MustParsePrefix("fd00:9::/64")
	p.initiate(p.a, ca)
	p.run(time.Minute)
	requireEstablished(t, p.a, p.b)
	want := "fd00:9::1"
	if got := vipOf(t, p.b); got != want {
		t.Fatalf("gateway: virtual IP %q, want %q", got, want)
	}
	if got := vipOf(t, p.a); got != want {
		t.Fatalf("client: virtual IP %q, want %q (from INTERNAL_IP6_ADDRESS)", got, want)
	}
	gc, cc := p.b.eng.SAs()[0].Children[0], p.a.eng.SAs()[0].Children[0]
	if len(gc.RemoteTS) != 1 || gc.RemoteTS[0] != want+"/128" || len(gc.LocalTS) != 1 || gc.LocalTS[0] != net6.String() {
		t.Errorf("gateway CHILD SA %v === %v, want %s === %s/128", gc.LocalTS, gc.RemoteTS, net6, want)
	}
	if len(cc.LocalTS) != 1 || cc.LocalTS[0] != want+"/128" || len(cc.RemoteTS) != 1 || cc.RemoteTS[0] != net6.String() {
		t.Errorf("client CHILD SA %v === %v, want %s/128 === %s", cc.LocalTS, cc.RemoteTS, want, net6)
	}
	out, ok := p.a.eng.Terminate(p.Now, ca.Name)
	if !ok {
		t.Fatal("terminate: no such connection")
	}
	p.do(p.a, out)
	p.run(time.Minute)
	if l := p.b.access.Leases; len(l) != 0 {
		t.Errorf("leases after delete: %v, want none", l)
	}
}
