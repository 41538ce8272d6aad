package ikev2

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"ikegate/internal/engine"
	"ikegate/internal/enginetest"
	"ikegate/isakmp"
	"ikegate/oakley"
	"ikegate/policy"
)

type fakeInstaller = enginetest.Installer

// node is one engine with its address.
type node struct {
	name  string
	addr  netip.Addr
	eng   *Engine
	inst  *fakeInstaller
	conns []*policy.Connection
	// access is the remote-access layer (users, pool, EAP server; nil:
	// none).
	access *enginetest.Access
}

// pair wires two engines back to back over an in-memory network with a
// fake clock (enginetest.Wire); its Filter may drop, duplicate or reorder
// datagrams.
type pair struct {
	*enginetest.Wire
	t    testing.TB
	a, b *node
}

// wire connects p's two nodes, starting the clock at a fixed time.
func (p *pair) wire() *pair {
	p.Wire = &enginetest.Wire{Now: time.Unix(1700000000, 0),
		At:    func(a netip.Addr) enginetest.Peer { return p.nodeFor(a).peer() },
		Peers: func() []enginetest.Peer { return []enginetest.Peer{p.a.peer(), p.b.peer()} }}
	return p
}

// peer is n as the wire drives it: its engine and its dataplane.
func (n *node) peer() enginetest.Peer {
	p := enginetest.Peer{Engine: n.eng, Inst: n.inst}
	if n.access != nil {
		p.Access = n.access
	}
	return p
}

// do carries out what n's engine returned and sends its datagrams.
func (p *pair) do(n *node, out engine.Output) { p.Do(n.peer(), out) }

func mustProposals(t testing.TB, esp bool, ss ...string) []oakley.Proposal {
	return enginetest.Proposals(t, esp, ss...)
}

func ipID(a netip.Addr) policy.Identity {
	return policy.Identity{Type: policy.IDIPv4Addr, Data: a.AsSlice()}
}

func pskConn(t testing.TB, name string, local, remote netip.Addr, ike, esp []string) *policy.Connection {
	return &policy.Connection{
		Name: name, Version: policy.IKEv2,
		LocalAddr: local, RemoteAddr: remote,
		LocalID: ipID(local), RemoteID: ipID(remote),
		Auth: policy.AuthPSK, PSK: []byte("test secret"),
		IKE: mustProposals(t, false, ike...), ESP: mustProposals(t, true, esp...),
		LocalTS:  []netip.Prefix{netip.PrefixFrom(local, 32)},
		RemoteTS: []netip.Prefix{netip.PrefixFrom(remote, 32)},
	}
}

func newNode(t testing.TB, name string, addr netip.Addr, log *zap.Logger, conns ...*policy.Connection) *node {
	inst := &fakeInstaller{Base: 0xc0000000 | uint32(addr.As4()[3])<<16}
	n := &node{name: name, addr: addr, inst: inst, conns: conns}
	n.eng = NewEngine(Config{DB: policy.NewDB(conns), Installer: inst, Log: log.Named(name),
		RetransmitTries: 5, RetransmitBase: time.Second, CookieThreshold: 10})
	return n
}

func newPair(t *testing.T, ike, esp []string) *pair {
	a, b := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	log := zaptest.NewLogger(t, zaptest.Level(zap.InfoLevel))
	p := &pair{t: t,
		a: newNode(t, "a", a, log, pskConn(t, "ab", a, b, ike, esp)),
		b: newNode(t, "b", b, log, pskConn(t, "ba", b, a, ike, esp)),
	}
	return p.wire()
}

func (p *pair) nodeFor(a netip.Addr) *node {
	if a == p.a.addr {
		return p.a
	}
	return p.b
}

// run delivers datagrams and fires timers until nothing is left or the
// clock passes limit.
func (p *pair) run(limit time.Duration) {
	if !p.Run(limit) {
		p.t.Fatal("pair did not settle")
	}
}

func (p *pair) initiate(n *node, conn *policy.Connection) {
	ds, err := n.eng.Initiate(p.Now, conn)
	if err != nil {
		p.t.Fatal(err)
	}
	p.do(n, ds)
}

// requireEstablished checks both sides have one established IKE SA with
// matching SPIs and one installed CHILD SA with crossed SPIs and keys.
func requireEstablished(t *testing.T, a, b *node) {
	t.Helper()
	sa, sb := a.eng.SAs(), b.eng.SAs()
	if len(sa) != 1 || len(sb) != 1 {
		t.Fatalf("IKE SAs: a=%d b=%d, want 1 each (a=%+v b=%+v)", len(sa), len(sb), sa, sb)
	}
	x, y := sa[0], sb[0]
	if x.State != "ESTABLISHED" || y.State != "ESTABLISHED" {
		t.Fatalf("states %s/%s", x.State, y.State)
	}
	if x.LocalSPI != y.RemoteSPI || x.RemoteSPI != y.LocalSPI {
		t.Fatalf("SPIs do not cross: %+v %+v", x, y)
	}
	if len(x.Children) != 1 || len(y.Children) != 1 {
		t.Fatalf("children a=%+v b=%+v", x.Children, y.Children)
	}
	if x.Children[0].State != "INSTALLED" || y.Children[0].State != "INSTALLED" {
		t.Fatalf("child states %+v %+v", x.Children[0], y.Children[0])
	}
	if x.Children[0].SPIIn != y.Children[0].SPIOut || x.Children[0].SPIOut != y.Children[0].SPIIn {
		t.Fatalf("child SPIs do not cross: %+v %+v", x.Children[0], y.Children[0])
	}
	// The engines' CHILD SAs; a deleted one may stay in a's dataplane a
	// few seconds after a rekey (rekeyedDelay).
	for spi, ka := range listedLive(a) {
		kb := findBySPIOut(b.inst, spi)
		if kb == nil {
			t.Fatalf("b has no outbound SA for a's inbound %08x", spi)
		}
		if string(ka.EncKeyIn) != string(kb.EncKeyOut) || string(ka.IntegKeyIn) != string(kb.IntegKeyOut) ||
			string(ka.EncKeyOut) != string(kb.EncKeyIn) {
			t.Fatalf("CHILD SA keys differ between the peers")
		}
		if len(ka.EncKeyIn) == 0 {
			t.Fatal("empty key")
		}
	}
}

func findBySPIOut(f *fakeInstaller, spi uint32) *policy.ChildSA {
	for _, k := range f.Live {
		if k.SPIOut == spi {
			return k
		}
	}
	return nil
}

func TestHandshakeSuites(t *testing.T) {
	suites := []struct{ ike, esp string }{
		{"aes256-sha256-modp2048", "aes256-sha256"},
		{"aes128gcm16-prfsha256-x25519", "aes128gcm16"},
		{"aes256gcm16-prfsha384-ecp384", "aes256gcm16"},
		{"3des-sha1-modp1024", "3des-sha1"},
		{"aes128ctr-aesxcbc-ecp256", "aes128-sha1"},
		{"chacha20poly1305-prfsha512-x25519", "chacha20poly1305"},
	}
	for _, s := range suites {
		t.Run(s.ike, func(t *testing.T) {
			p := newPair(t, []string{s.ike}, []string{s.esp})
			p.initiate(p.a, p.a.conns[0])
			p.run(time.Minute)
			requireEstablished(t, p.a, p.b)
			if got := p.a.eng.SAs()[0].IKEProposal; got == "" {
				t.Error("no IKE proposal recorded")
			}
		})
	}
}

func TestInvalidKERoundTrip(t *testing.T) {
	// a prefers x25519 but also offers modp2048; b accepts only modp2048:
	// b answers INVALID_KE_PAYLOAD and a retries with modp2048.
	p := newPair(t, []string{"aes128-sha256-x25519-modp2048"}, []string{"aes128gcm16"})
	p.b.conns[0].IKE = mustProposals(t, false, "aes128-sha256-modp2048")
	p.initiate(p.a, p.a.conns[0])
	p.run(time.Minute)
	requireEstablished(t, p.a, p.b)
	if got := p.a.eng.SAs()[0].IKEProposal; got != "AES_CBC_128/PRF_HMAC_SHA2_256/HMAC_SHA2_256_128/MODP_2048" {
		t.Errorf("proposal %s", got)
	}
}

func TestCookieRoundTrip(t *testing.T) {
	p := newPair(t, []string{"aes128gcm16-prfsha256-x25519"}, []string{"aes128gcm16"})
	p.b.eng = NewEngine(Config{DB: p.b.eng.Cfg.DB, Installer: p.b.inst, Log: zap.NewNop(), CookieThreshold: 1})
	// Fill b's half-open table with one SA from an unrelated initiator.
	p.b.eng.halfOpen[halfOpenKey{netip.MustParseAddrPort("10.9.9.9:500"), 42}] = &ikeSA{}
	p.initiate(p.a, p.a.conns[0])
	p.run(time.Minute)
	if p.b.eng.Stats().CookiesSent != 1 {
		t.Fatalf("cookies sent %d, want 1", p.b.eng.Stats().CookiesSent)
	}
	delete(p.b.eng.halfOpen, halfOpenKey{netip.MustParseAddrPort("10.9.9.9:500"), 42})
	requireEstablished(t, p.a, p.b)
}

func TestWrongPSK(t *testing.T) {
	p := newPair(t, []string{"aes128gcm16-prfsha256-x25519"}, []string{"aes128gcm16"})
	p.b.conns[0].PSK = []byte("another secret")
	p.initiate(p.a, p.a.conns[0])
	p.run(time.Minute)
	if n := len(p.a.eng.SAs()) + len(p.b.eng.SAs()); n != 0 {
		t.Fatalf("%d SAs left after a failed authentication", n)
	}
	if p.b.eng.Stats().AuthFailures != 1 || p.a.eng.Stats().AuthFailures != 1 {
		t.Fatalf("auth failures a=%d b=%d", p.a.eng.Stats().AuthFailures, p.b.eng.Stats().AuthFailures)
	}
	if len(p.a.inst.Live)+len(p.b.inst.Live) != 0 {
		t.Fatal("CHILD SA installed despite failed authentication")
	}
}

func TestNoProposalChosen(t *testing.T) {
	p := newPair(t, []string{"aes256-sha256-modp2048"}, []string{"aes128gcm16"})
	p.b.conns[0].IKE = mustProposals(t, false, "aes128-sha1-modp1024")
	p.initiate(p.a, p.a.conns[0])
	p.run(time.Minute)
	if n := len(p.a.eng.SAs()) + len(p.b.eng.SAs()); n != 0 {
		t.Fatalf("%d SAs after NO_PROPOSAL_CHOSEN", n)
	}
}

func TestChildProposalMismatchKeepsIKESA(t *testing.T) {
	p := newPair(t, []string{"aes128gcm16-prfsha256-x25519"}, []string{"aes128gcm16"})
	p.b.conns[0].ESP = mustProposals(t, true, "aes256-sha512")
	p.initiate(p.a, p.a.conns[0])
	p.run(time.Minute)
	sa, sb := p.a.eng.SAs(), p.b.eng.SAs()
	if len(sa) != 1 || len(sb) != 1 || sa[0].State != "ESTABLISHED" || sb[0].State != "ESTABLISHED" {
		t.Fatalf("IKE SAs %+v %+v", sa, sb)
	}
	if len(sa[0].Children) != 1 || sa[0].Children[0].State != "FAILED" {
		t.Fatalf("initiator child %+v", sa[0].Children)
	}
	if len(p.a.inst.Live)+len(p.b.inst.Live) != 0 {
		t.Fatal("a CHILD SA was installed")
	}
}

func TestKernelRefusalKeepsIKESA(t *testing.T) {
	p := newPair(t, []string{"aes128gcm16-prfsha256-x25519"}, []string{"aes128gcm16"})
	p.a.inst.FailAdd = fmt.Errorf("protocol not supported")
	p.initiate(p.a, p.a.conns[0])
	p.run(time.Minute)
	sa := p.a.eng.SAs()
	if len(sa) != 1 || sa[0].State != "ESTABLISHED" {
		t.Fatalf("IKE SA %+v", sa)
	}
	if c := sa[0].Children; len(c) != 1 || c[0].State != "INSTALL_FAILED" || c[0].Error != "protocol not supported" {
		t.Fatalf("child %+v", c)
	}
}

func TestCreateChildSAAndDelete(t *testing.T) {
	for _, esp := range []string{"aes128gcm16", "aes128gcm16-modp2048"} {
		t.Run(esp, func(t *testing.T) {
			p := newPair(t, []string{"aes128gcm16-prfsha256-x25519"}, []string{esp})
			p.initiate(p.a, p.a.conns[0])
			p.run(time.Minute)
			requireEstablished(t, p.a, p.b)
			// Second CHILD SA on the same IKE SA.
			p.initiate(p.a, p.a.conns[0])
			p.run(time.Minute)
			if n := len(p.a.eng.SAs()); n != 1 {
				t.Fatalf("%d IKE SAs, want 1", n)
			}
			ca, cb := p.a.eng.SAs()[0].Children, p.b.eng.SAs()[0].Children
			if len(ca) != 2 || len(cb) != 2 || ca[1].State != "INSTALLED" || cb[1].State != "INSTALLED" {
				t.Fatalf("children %+v / %+v", ca, cb)
			}
			if len(p.a.inst.Live) != 2 || len(p.b.inst.Live) != 2 {
				t.Fatalf("installed %d/%d", len(p.a.inst.Live), len(p.b.inst.Live))
			}
			// b deletes everything; a follows.
			ds, ok := p.b.eng.Terminate(p.Now, "ba")
			if !ok {
				t.Fatal("terminate found nothing")
			}
			p.do(p.b, ds)
			p.run(time.Minute)
			if n := len(p.a.eng.SAs()) + len(p.b.eng.SAs()); n != 0 {
				t.Fatalf("%d SAs after delete", n)
			}
			if len(p.a.inst.Live)+len(p.b.inst.Live) != 0 {
				t.Fatal("CHILD SAs left in the kernel")
			}
		})
	}
}

// TestLossDuplicationReordering drops, duplicates or swaps each message of
// the handshake in turn; the exchange must still complete.
func TestLossDuplicationReordering(t *testing.T) {
	for _, mode := range []string{"drop", "dup", "reorder"} {
		for target := 1; target <= 4; target++ {
			t.Run(fmt.Sprintf("%s-%d", mode, target), func(t *testing.T) {
				p := newPair(t, []string{"aes128gcm16-prfsha256-x25519"}, []string{"aes128gcm16"})
				var held *isakmp.Datagram
				p.Filter = func(n int, d isakmp.Datagram) []isakmp.Datagram {
					switch {
					case n == target && mode == "drop":
						return nil
					case n == target && mode == "dup":
						return []isakmp.Datagram{d, d}
					case n == target && mode == "reorder":
						held = &d
						return nil
					case held != nil && mode == "reorder":
						h := *held
						held = nil
						return []isakmp.Datagram{d, h}
					}
					return []isakmp.Datagram{d}
				}
				p.initiate(p.a, p.a.conns[0])
				p.run(time.Minute)
				if held != nil {
					p.Queue = append(p.Queue, *held)
					p.run(time.Minute)
				}
				requireEstablished(t, p.a, p.b)
			})
		}
	}
}

func TestSimultaneousInitiation(t *testing.T) {
	p := newPair(t, []string{"aes128gcm16-prfsha256-x25519"}, []string{"aes128gcm16"})
	p.initiate(p.a, p.a.conns[0])
	p.initiate(p.b, p.b.conns[0])
	p.run(time.Minute)
	// Both IKE SAs come up independently; each side holds both.
	for _, n := range []*node{p.a, p.b} {
		sas := n.eng.SAs()
		if len(sas) != 2 {
			t.Fatalf("%s has %d IKE SAs", n.name, len(sas))
		}
		for _, s := range sas {
			if s.State != "ESTABLISHED" {
				t.Fatalf("%s: %+v", n.name, s)
			}
		}
	}
}

func TestRetransmitGivesUp(t *testing.T) {
	p := newPair(t, []string{"aes128gcm16-prfsha256-x25519"}, []string{"aes128gcm16"})
	p.Filter = func(int, isakmp.Datagram) []isakmp.Datagram { return nil } // peer unreachable
	start := p.Now
	p.initiate(p.a, p.a.conns[0])
	p.run(time.Hour)
	if p.Sent != 5 {
		t.Errorf("sent %d times, want 5", p.Sent)
	}
	if n := len(p.a.eng.SAs()); n != 0 {
		t.Errorf("%d SAs left", n)
	}
	// 1+2+4+8+16 seconds of waiting.
	if got := p.Now.Sub(start); got != 31*time.Second {
		t.Errorf("gave up after %v", got)
	}
}

// TestResponderFollowsIKEAuthPort: an initiator that moves to port 4500
// for IKE_AUTH (strongSwan does whenever NAT detection payloads were
// exchanged, NAT or not; RFC 7296 2.23 allows it) must find the responder
// there afterwards: the responder's SA endpoints, its own requests (here a
// Delete) and its view all use the ports IKE_AUTH came from, not those of
// IKE_SA_INIT. Found against strongSwan in interop/ikev2_psk_test.go.
func TestResponderFollowsIKEAuthPort(t *testing.T) {
	p := newPair(t, []string{"aes128gcm16-prfsha256-x25519"}, []string{"aes128gcm16"})
	float := func(ap netip.AddrPort) netip.AddrPort { return netip.AddrPortFrom(ap.Addr(), 4500) }
	p.Filter = func(_ int, d isakmp.Datagram) []isakmp.Datagram {
		// The initiator (a) sends everything after IKE_SA_INIT from and
		// to port 4500, as a floating initiator does.
		if d.Local.Addr() == p.a.addr {
			if m, err := isakmp.ParseMessage(d.Data); err == nil && m.Header.Exchange != isakmp.ExchangeIKESAInit {
				d.Local, d.Remote = float(d.Local), float(d.Remote)
			}
		}
		return []isakmp.Datagram{d}
	}
	p.initiate(p.a, p.a.conns[0])
	p.run(time.Minute)
	requireEstablished(t, p.a, p.b)
	sb := p.b.eng.SAs()[0]
	if sb.Local != "10.0.0.2:4500" || sb.Remote != "10.0.0.1:4500" {
		t.Fatalf("responder's IKE SA endpoints %s <-> %s, want port 4500 where IKE_AUTH came from", sb.Local, sb.Remote)
	}
	ds, ok := p.b.eng.Terminate(p.Now, "ba")
	if !ok || len(ds.Datagrams) != 1 {
		t.Fatalf("terminate: %v %d datagrams", ok, len(ds.Datagrams))
	}
	if ds.Datagrams[0].Local.Port() != 4500 || ds.Datagrams[0].Remote.Port() != 4500 {
		t.Fatalf("responder's Delete goes %s -> %s, want port 4500", ds.Datagrams[0].Local, ds.Datagrams[0].Remote)
	}
}

func TestTransportMode(t *testing.T) {
	for _, tc := range []struct {
		name     string
		a, b     bool
		wantMode string
	}{
		{"both transport", true, true, "transport"},
		{"only initiator asks", true, false, "tunnel"},
		{"only responder wants", false, true, "tunnel"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPair(t, []string{"aes128gcm16-prfsha256-x25519"}, []string{"aes128gcm16"})
			p.a.conns[0].Transport, p.b.conns[0].Transport = tc.a, tc.b
			p.initiate(p.a, p.a.conns[0])
			p.run(time.Minute)
			requireEstablished(t, p.a, p.b)
			for _, n := range []*node{p.a, p.b} {
				if m := n.eng.SAs()[0].Children[0].Mode; m != tc.wantMode {
					t.Errorf("%s: mode %s, want %s", n.name, m, tc.wantMode)
				}
				for _, k := range n.inst.Live {
					if k.Tunnel != (tc.wantMode == "tunnel") {
						t.Errorf("%s: kernel SA Tunnel=%v", n.name, k.Tunnel)
					}
				}
			}
		})
	}
}

// TestDeleteRemovesEveryChild: deleting an IKE SA with several CHILD SAs
// takes every one of them out of the kernel.
func TestDeleteRemovesEveryChild(t *testing.T) {
	p := newPair(t, []string{"aes128gcm16-prfsha256-x25519"}, []string{"aes128gcm16"})
	p.initiate(p.a, p.a.conns[0])
	p.run(time.Minute)
	for range 3 {
		p.initiate(p.a, p.a.conns[0]) // more CHILD SAs on the same IKE SA
		p.run(time.Minute)
	}
	if n := len(p.a.inst.Live); n != 4 {
		t.Fatalf("%d CHILD SAs installed, want 4", n)
	}
	ds, _ := p.a.eng.Terminate(p.Now, "ab")
	p.do(p.a, ds)
	p.run(time.Minute)
	if n, m := len(p.a.inst.Live), len(p.b.inst.Live); n+m != 0 {
		t.Fatalf("left in the kernel after delete: %d and %d", n, m)
	}
}

// listedLive are the installed CHILD SAs of n that its engine lists (not
// the ones deleted after a rekey, which linger rekeyedDelay).
func listedLive(n *node) map[uint32]*policy.ChildSA {
	out := map[uint32]*policy.ChildSA{}
	for _, sa := range n.eng.SAs() {
		for _, ch := range sa.Children {
			var spi uint32
			fmt.Sscanf(ch.SPIIn, "%x", &spi)
			if k, ok := n.inst.Live[spi]; ok {
				out[spi] = k
			}
		}
	}
	return out
}
