package ikev2

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"ikegate/internal/engine"
	"ikegate/isakmp"
)

// TestRekey runs a tunnel through several IKE SA and CHILD SA lifetimes,
// rekeyed by the initiator and by the responder: each rekey replaces the
// SAs (new SPIs), the old ones disappear on both sides and in the kernel,
// and the keys still agree.
func TestRekey(t *testing.T) {
	for _, tc := range []struct {
		name string
		side func(p *pair) *node // whose lifetimes are short
		esp  string
	}{
		{"by initiator", func(p *pair) *node { return p.a }, "aes128gcm16"},
		{"by responder", func(p *pair) *node { return p.b }, "aes128gcm16"},
		{"by initiator with PFS", func(p *pair) *node { return p.a }, "aes128gcm16-modp2048"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPair(t, []string{"aes128gcm16-prfsha256-x25519"}, []string{tc.esp})
			n := tc.side(p)
			n.conns[0].IKELifetime, n.conns[0].ChildLifetime = 10*time.Minute, 4*time.Minute
			p.initiate(p.a, p.a.conns[0])
			p.run(time.Second)
			requireEstablished(t, p.a, p.b)
			first := p.a.eng.SAs()[0]
			p.run(25 * time.Minute)
			requireEstablished(t, p.a, p.b)
			now := p.a.eng.SAs()[0]
			if now.LocalSPI == first.LocalSPI || now.RemoteSPI == first.RemoteSPI {
				t.Errorf("IKE SA not rekeyed: %s/%s", now.LocalSPI, now.RemoteSPI)
			}
			if now.Children[0].SPIIn == first.Children[0].SPIIn {
				t.Errorf("CHILD SA not rekeyed: %s", now.Children[0].SPIIn)
			}
		})
	}
}

// TestRekeyByBytes: a CHILD SA with child_lifetime_bytes is rekeyed once
// the installer reports 90% of it used, long before its time lifetime.
func TestRekeyByBytes(t *testing.T) {
	p := newPair(t, []string{"aes128gcm16-prfsha256-x25519"}, []string{"aes128gcm16"})
	p.a.conns[0].ChildLifetimeBytes = 1 << 20
	meter := p.a.inst // reports meter.Used bytes for every SA
	p.initiate(p.a, p.a.conns[0])
	p.run(time.Second)
	requireEstablished(t, p.a, p.b)
	first := p.a.eng.SAs()[0].Children[0].SPIIn
	p.run(30 * time.Second)
	if got := p.a.eng.SAs()[0].Children[0].SPIIn; got != first {
		t.Fatalf("rekeyed below the byte limit: %s -> %s", first, got)
	}
	meter.Used = 1<<20 - 1<<16 // 94%
	p.run(30 * time.Second)
	requireEstablished(t, p.a, p.b)
	if got := p.a.eng.SAs()[0].Children[0].SPIIn; got == first {
		t.Fatal("CHILD SA not rekeyed after 94% of its byte lifetime")
	}
	for _, k := range p.a.inst.Live {
		if k.LifetimeBytes != 1<<20 {
			t.Errorf("installed with byte lifetime %d", k.LifetimeBytes)
		}
	}
}

// TestKernelExpire: a soft expire from the kernel rekeys the CHILD SA; a
// hard expire deletes it on both sides.
func TestKernelExpire(t *testing.T) {
	p := newPair(t, []string{"aes128gcm16-prfsha256-x25519"}, []string{"aes128gcm16"})
	p.initiate(p.a, p.a.conns[0])
	p.run(time.Second)
	requireEstablished(t, p.a, p.b)
	var spi uint32
	fmt.Sscanf(p.a.eng.SAs()[0].Children[0].SPIIn, "%x", &spi)
	ds, ok := p.a.eng.Expired(p.Now, spi, false)
	if !ok {
		t.Fatal("soft expire not claimed")
	}
	p.do(p.a, ds)
	p.run(time.Second)
	requireEstablished(t, p.a, p.b)
	if got := p.a.eng.SAs()[0].Children[0].SPIIn; got == fmt.Sprintf("%08x", spi) {
		t.Fatal("not rekeyed after a soft expire")
	}
	fmt.Sscanf(p.a.eng.SAs()[0].Children[0].SPIIn, "%x", &spi)
	ds, _ = p.a.eng.Expired(p.Now, spi, true)
	p.do(p.a, ds)
	p.run(time.Second)
	if c := p.b.eng.SAs()[0].Children; len(c) != 0 {
		t.Fatalf("peer still has %d CHILD SAs after a hard expire", len(c))
	}
	if _, ok := p.a.eng.Expired(p.Now, 0xdeadbeef, false); ok {
		t.Fatal("unknown SPI claimed")
	}
}

// TestCreateChildPFSWithoutKE: a CREATE_CHILD_SA whose proposal has a DH
// group but which carries no KE payload is answered with INVALID_SYNTAX,
// and the IKE SA survives.
func TestCreateChildPFSWithoutKE(t *testing.T) {
	p := newPair(t, []string{"aes128gcm16-prfsha256-x25519"}, []string{"aes128gcm16-modp2048"})
	p.initiate(p.a, p.a.conns[0])
	p.run(time.Second)
	requireEstablished(t, p.a, p.b)
	var sa *ikeSA
	for _, s := range p.a.eng.sas {
		sa = s
	}
	c := p.a.conns[0]
	ps := []isakmp.Payload{
		&isakmp.SA{Proposals: toWire(c.ESP, protoESP, spi32(0x12345678), false)},
		&isakmp.Nonce{Data: make([]byte, 32)},
		&isakmp.TS{PType: isakmp.PayloadTSi, Selectors: selectorsFor(c.LocalTS)},
		&isakmp.TS{PType: isakmp.PayloadTSr, Selectors: selectorsFor(c.RemoteTS)},
	}
	e := p.a.eng
	r := e.encryptedRequest(sa, isakmp.ExchangeCreateChildSA, ps, stepChild)
	r.child = &childSA{Child: engine.Child{Conn: c, State: engine.ChildCreating, SPIIn: 0x12345678}, nonce: make([]byte, 32)}
	e.startRequest(p.Now, sa, r)
	p.do(p.a, e.Flush())
	p.run(time.Second)
	if got := r.child; got.State != engine.ChildFailed || !strings.Contains(got.Err, "INVALID_SYNTAX") {
		t.Fatalf("CHILD SA %s: %q, want FAILED with INVALID_SYNTAX", got.State, got.Err)
	}
	e.removeChild(sa, r.child)
	requireEstablished(t, p.a, p.b)
}
