package ikev2

// Fuzz targets past IKE_SA_INIT: the fuzzer's bytes are the decrypted
// payload chain of one message of a real exchange, which the harness
// encrypts under the SA's real keys (sealPlain) in place of what the
// engine sent. Run one longer with e.g.
//
//	go test -run=NONE -fuzz='^FuzzIKEv2AuthPayloads$' -fuzztime=5m ./ikev2/
//	go test -run=NONE -fuzz='^FuzzIKEv2EstablishedPayloads$' -fuzztime=5m ./ikev2/
//	go test -run=NONE -fuzz='^FuzzIKEv2ResponsePayloads$' -fuzztime=5m ./ikev2/
//
// Seeds are the plaintexts of the messages the targets replace, recorded
// from the same exchanges (every engine draws its randomness from a fixed
// ChaCha8 stream, so a recorded plaintext fits the exchange it is replayed
// into: the AUTH payload of a seed verifies, a Delete names a real SPI).

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"go.uber.org/zap"

	"ikegate/access"
	"ikegate/internal/engine"
	"ikegate/internal/enginetest"
	"ikegate/isakmp"
	"ikegate/oakley"
	"ikegate/policy"
)

// sealPlain builds an SK-protected message with header h (its length and
// next payload set here) whose encrypted payload chain is plain, first
// naming its first payload, under c (an SA's outbound cipher): what
// Engine.seal produces, for arbitrary plaintext.
func sealPlain(h isakmp.Header, first isakmp.PayloadType, plain []byte, c oakley.SKCipher, rnd io.Reader) ([]byte, error) {
	bodyLen := c.BodyLen(len(plain))
	payLen := 4 + bodyLen
	h.NextPayload = isakmp.PayloadSK
	h.Length = uint32(isakmp.HeaderLen + payLen)
	buf := h.AppendTo(make([]byte, 0, int(h.Length)))
	buf = append(buf, byte(first), 0, byte(payLen>>8), byte(payLen))
	body, err := c.Seal(buf, plain, rnd)
	if err != nil {
		return nil, err
	}
	return append(buf, body...), nil
}

// v2SA returns the IKE SA of n that message header h belongs to: n sent
// the message (sender) or is to receive it.
func v2SA(n *node, h isakmp.Header, sender bool) *ikeSA {
	fromInitiator := h.Flags&isakmp.FlagInitiator != 0
	spi := h.SPIr
	if fromInitiator == sender {
		spi = h.SPIi
	}
	return n.eng.sas[spi]
}

// chachaReader is a deterministic randomness source for the engines.
func chachaReader(seed byte) io.Reader {
	var s [32]byte
	s[0] = seed
	return rand.NewChaCha8(s)
}

func fuzzNode(tb testing.TB, name string, addr netip.Addr, seed byte, conns ...*policy.Connection) *node {
	inst := &fakeInstaller{Base: 0xc0000000 | uint32(addr.As4()[3])<<16}
	n := &node{name: name, addr: addr, inst: inst, conns: conns}
	n.eng = NewEngine(Config{DB: policy.NewDB(conns), Installer: inst, Log: zap.NewNop(), Rand: chachaReader(seed),
		RetransmitTries: 3, RetransmitBase: time.Second, CookieThreshold: 10})
	return n
}

// v2Net is a pair (a: initiator, b: responder) plus a bystander c with an
// established IKE SA with b that nothing the fuzzer sends may touch.
type v2Net struct {
	*pair
	c       *node
	cState  string // b's view of c's IKE SA, as JSON
	cKernel string // b's CHILD SAs with c in its dataplane
}

var (
	fuzzA, fuzzB, fuzzC = netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10.0.0.9")
	fuzzRoamed          = netip.MustParseAddr("10.0.0.5")
)

// v2Scenarios are the configurations the exchanges run under.
var v2Scenarios = []struct {
	name   string
	mobike bool
	setup  func(tb testing.TB, a, b *policy.Connection, bAccess *enginetest.Access)
}{
	{"psk", false, func(testing.TB, *policy.Connection, *policy.Connection, *enginetest.Access) {}},
	{"cp", false, raConns},
	{"eap", false, func(tb testing.TB, ca, cb *policy.Connection, acc *enginetest.Access) {
		raConns(tb, ca, cb, acc)
		ca.XAuthUser, ca.XAuthPassword = "alice", []byte("alice-secret")
		cb.RemoteAuth, cb.RemoteID = policy.RemoteAuthEAPMSCHAPv2, policy.Identity{Any: true}
		users := access.NewUsers([]*policy.User{{Name: "alice", Password: []byte("alice-secret")}})
		rnd := chachaReader(7)
		server := localEAP(users)
		acc.EAPServer = func(ef engine.Effect) engine.Result {
			if ef.Session == nil {
				ef.Session = access.NewMSCHAPv2Server(users, rnd)
			}
			return server(ef)
		}
	}},
	{"cp-mobike", true, func(tb testing.TB, ca, cb *policy.Connection, acc *enginetest.Access) {
		raConns(tb, ca, cb, acc)
		ca.MOBIKE, cb.MOBIKE = true, true
	}},
}

// raConns makes a a road warrior asking for a virtual IP and b its gateway
// with a pool (newRAPair's configuration).
func raConns(_ testing.TB, ca, cb *policy.Connection, acc *enginetest.Access) {
	ca.VirtualIP, ca.RemoteTS = true, []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}
	cb.Pool, cb.LocalTS, cb.RemoteTS = "rw", []netip.Prefix{raNet}, nil
	acc.Pool = raPool
}

// newV2Net builds scenario s's pair and brings up the bystander c's IKE
// SA with b.
func newV2Net(tb testing.TB, s int) *v2Net {
	ike, esp := []string{"aes128gcm16-prfsha256-x25519"}, []string{"aes128gcm16"}
	ca, cb := pskConn(tb, "ab", fuzzA, fuzzB, ike, esp), pskConn(tb, "ba", fuzzB, fuzzA, ike, esp)
	acc := &enginetest.Access{}
	v2Scenarios[s].setup(tb, ca, cb, acc)
	bc, cc := pskConn(tb, "bc", fuzzB, fuzzC, ike, esp), pskConn(tb, "cb", fuzzC, fuzzB, ike, esp)
	n := &v2Net{pair: &pair{t: tb,
		a: fuzzNode(tb, "a", fuzzA, 1, ca),
		b: fuzzNode(tb, "b", fuzzB, 2, cb, bc),
	}}
	n.b.access = acc
	n.c = fuzzNode(tb, "c", fuzzC, 3, cc)
	n.wire()
	n.At = func(ad netip.Addr) enginetest.Peer {
		if ad == n.c.addr {
			return n.c.peer()
		}
		return n.nodeFor(ad).peer()
	}
	n.Peers = func() []enginetest.Peer { return []enginetest.Peer{n.a.peer(), n.b.peer(), n.c.peer()} }
	n.initiate(n.c, cc)
	if !n.Run(time.Minute) {
		tb.Fatal("bystander handshake did not settle")
	}
	n.cState, n.cKernel = n.bystander()
	if n.cState == "" {
		tb.Fatal("bystander IKE SA not established")
	}
	return n
}

// bystander returns b's view of its IKE SA with c and of the CHILD SAs
// with c in b's dataplane.
func (n *v2Net) bystander() (string, string) {
	var state string
	for _, s := range n.b.eng.SAs() {
		if s.Remote == netip.AddrPortFrom(fuzzC, 500).String() {
			j, _ := json.Marshal(s)
			state += string(j)
		}
	}
	var kernel string
	for spi, k := range n.b.inst.Live {
		if k.Remote == fuzzC {
			kernel += fmt.Sprintf("%08x:%x:%x;", spi, k.EncKeyIn, k.EncKeyOut)
		}
	}
	return state, kernel
}

// v2Selector picks the messages a target replaces.
type v2Selector func(h isakmp.Header) bool

func isAuthRequest(h isakmp.Header) bool {
	return h.Exchange == isakmp.ExchangeIKEAuth && h.Flags&isakmp.FlagResponse == 0
}

func isLaterRequest(h isakmp.Header) bool {
	return h.Exchange != isakmp.ExchangeIKESAInit && h.Exchange != isakmp.ExchangeIKEAuth && h.Flags&isakmp.FlagResponse == 0
}

func isResponse(h isakmp.Header) bool {
	return h.Exchange != isakmp.ExchangeIKESAInit && h.Flags&isakmp.FlagResponse != 0
}

// v2Seed is one recorded message: the plaintext the k-th selected message
// carried.
type v2Seed struct {
	k     int
	first isakmp.PayloadType
	plain []byte
}

// runV2 runs scenario s (the handshake, then with later the exchanges
// on the established SA: a second CHILD SA, a CHILD SA rekey, liveness
// checks both ways, a CHILD SA delete, a MOBIKE move with its return
// routability check, IKE SA rekeys both ways and a delete). With plain
// non-nil, the k-th message sel selects carries plain (first: its first
// payload type) instead of what the engine sent; with record, the
// plaintexts of the selected messages are returned.
func runV2(tb testing.TB, s int, later bool, sel v2Selector, k int, first uint8, plain []byte, record bool) ([]v2Seed, *v2Net) {
	n := newV2Net(tb, s)
	var seeds []v2Seed
	seen := 0
	sealRand := chachaReader(9)
	n.Filter = func(_ int, d isakmp.Datagram) []isakmp.Datagram {
		if d.Local.Addr() == fuzzC || d.Remote.Addr() == fuzzC {
			return []isakmp.Datagram{d}
		}
		m, err := isakmp.ParseMessage(d.Data)
		if err != nil || !sel(m.Header) || len(m.Payloads) == 0 {
			return []isakmp.Datagram{d}
		}
		switch sk := m.Payloads[len(m.Payloads)-1].(type) {
		case *isakmp.SK:
			i := seen
			seen++
			if record {
				if sa := v2SA(n.nodeFor(d.Remote.Addr()), m.Header, false); sa != nil && sa.keys != nil {
					if p, err := sa.keys.in.Open(d.Data[:m.SKOffset+4], sk.Body); err == nil {
						seeds = append(seeds, v2Seed{i, sk.NextPayload, p})
					}
				}
			}
			if plain == nil || i != k {
				return []isakmp.Datagram{d}
			}
			sa := v2SA(n.nodeFor(d.Local.Addr()), m.Header, true)
			if sa == nil || sa.keys == nil {
				return []isakmp.Datagram{d}
			}
			raw, err := sealPlain(m.Header, isakmp.PayloadType(first), plain, sa.keys.out, sealRand)
			if err != nil {
				tb.Fatalf("seal: %v", err)
			}
			d.Data = raw
		}
		return []isakmp.Datagram{d}
	}
	settle := func() {
		if !n.Run(time.Minute) {
			tb.Fatalf("engines did not settle (scenario %s, message %d)", v2Scenarios[s].name, k)
		}
		n.check(tb)
	}
	n.initiate(n.a, n.a.conns[0])
	settle()
	if !later {
		return seeds, n
	}
	// saOf returns node x's IKE SA of the pair (nil: none left).
	saOf := func(x *node) *ikeSA {
		for _, sa := range x.eng.sas {
			if sa.state == stateEstablished && sa.remote.Addr() != fuzzC {
				return sa
			}
		}
		return nil
	}
	steps := []func(){
		func() { n.initiate(n.a, n.a.conns[0]) }, // CREATE_CHILD_SA: a second CHILD SA
		func() { // CREATE_CHILD_SA: rekey the first CHILD SA
			if sa := saOf(n.a); sa != nil && len(sa.children) > 0 {
				n.a.eng.rekeyChild(n.Now, sa, sa.children[0])
				n.do(n.a, n.a.eng.Flush())
			}
		},
		func() { n.liveness(n.a, saOf(n.a)) },
		func() { n.liveness(n.b, saOf(n.b)) },
		func() { // INFORMATIONAL: delete a CHILD SA
			if sa := saOf(n.a); sa != nil && len(sa.children) > 0 {
				n.a.eng.deleteChild(n.Now, sa, sa.children[len(sa.children)-1])
				n.do(n.a, n.a.eng.Flush())
			}
		},
		func() { // MOBIKE: UPDATE_SA_ADDRESSES, then b's COOKIE2 check
			if !v2Scenarios[s].mobike {
				return
			}
			n.a.addr = fuzzRoamed
			out, _ := n.a.eng.Roam(n.Now, fuzzA, fuzzRoamed)
			n.do(n.a, out)
		},
		func() { // CREATE_CHILD_SA: b rekeys the IKE SA
			if sa := saOf(n.b); sa != nil {
				n.b.eng.rekeyIKE(n.Now, sa)
				n.do(n.b, n.b.eng.Flush())
			}
		},
		func() { // and a does
			if sa := saOf(n.a); sa != nil {
				n.a.eng.rekeyIKE(n.Now, sa)
				n.do(n.a, n.a.eng.Flush())
			}
		},
		func() { // INFORMATIONAL: delete the IKE SA
			out, _ := n.a.eng.Terminate(n.Now, n.a.conns[0].Name)
			n.do(n.a, out)
		},
	}
	for _, step := range steps {
		step()
		settle()
	}
	return seeds, n
}

// liveness makes x send an empty INFORMATIONAL on sa (a DPD).
func (n *v2Net) liveness(x *node, sa *ikeSA) {
	if sa == nil {
		return
	}
	x.eng.startRequest(n.Now, sa, x.eng.encryptedRequest(sa, isakmp.ExchangeInformational, nil, stepInfo))
	x.eng.Schedule(sa)
	n.do(x, x.eng.Flush())
}

// check asserts what no message of a may change: b's IKE SA with c and
// its CHILD SAs, and that every CHILD SA in a dataplane belongs to an IKE
// SA its engine lists.
func (n *v2Net) check(tb testing.TB) {
	tb.Helper()
	if st, k := n.bystander(); st != n.cState || k != n.cKernel {
		tb.Fatalf("the bystander's SAs changed:\n%s\n%s\nnow\n%s\n%s", n.cState, n.cKernel, st, k)
	}
	for _, x := range []*node{n.a, n.b, n.c} {
		listed := map[string]bool{}
		for _, s := range x.eng.SAs() {
			for _, c := range s.Children {
				listed[c.SPIIn] = true
			}
		}
		for spi := range x.inst.Live {
			if !listed[fmt.Sprintf("%08x", spi)] {
				tb.Fatalf("%s: CHILD SA %08x in the dataplane belongs to no IKE SA (%d live, SAs %+v)", x.name, spi, len(x.inst.Live), x.eng.SAs())
			}
		}
	}
}

// fuzzV2 is the common body of the targets: replay message k of scenario
// s with the fuzzer's plaintext; bounded output and no goroutine left.
func fuzzV2(t *testing.T, later bool, sel v2Selector, s, k, first uint8, plain []byte) {
	if plain == nil {
		plain = []byte{}
	}
	g := runtime.NumGoroutine()
	runV2(t, int(s)%len(v2Scenarios), later, sel, int(k), first, plain, false)
	if now := runtime.NumGoroutine(); now > g {
		t.Fatalf("%d goroutines after the exchange, %d before", now, g)
	}
}

// addV2Seeds records scenario runs and adds each selected message as a
// seed, plus a few malformed variants of the first.
func addV2Seeds(f *testing.F, later bool, sel v2Selector) {
	for s := range v2Scenarios {
		seeds, _ := runV2(f, s, later, sel, -1, 0, nil, true)
		if len(seeds) == 0 {
			f.Fatalf("scenario %s: no message recorded", v2Scenarios[s].name)
		}
		for _, sd := range seeds {
			f.Add(uint8(s), uint8(sd.k), uint8(sd.first), sd.plain)
		}
		sd := seeds[0]
		f.Add(uint8(s), uint8(sd.k), uint8(sd.first), sd.plain[:len(sd.plain)/2])
		f.Add(uint8(s), uint8(sd.k), uint8(isakmp.PayloadNone), []byte{})
		f.Add(uint8(s), uint8(sd.k), uint8(sd.first)+1, sd.plain)
	}
}

// FuzzIKEv2AuthPayloads fuzzes the IKE_AUTH requests a responder gets
// after a real IKE_SA_INIT: k picks the initiator's k-th IKE_AUTH request
// (0: the first, with IDi, AUTH or none for EAP, CP, SA and TSs; 1 and
// later: the EAP continuation and the final AUTH) and s the configuration
// (PSK site to site, remote access with a CFG_REQUEST, EAP-MSCHAPv2, CP
// with MOBIKE). The initiator sees the responder's real answer.
func FuzzIKEv2AuthPayloads(f *testing.F) {
	addV2Seeds(f, false, isAuthRequest)
	f.Fuzz(func(t *testing.T, s, k, first uint8, plain []byte) {
		fuzzV2(t, false, isAuthRequest, s, k%8, first, plain)
	})
}

// FuzzIKEv2EstablishedPayloads fuzzes the requests on an established IKE
// SA, both ways: CREATE_CHILD_SA (a new CHILD SA, CHILD SA and IKE SA
// rekeys), INFORMATIONAL (liveness, CHILD SA and IKE SA deletes, MOBIKE's
// UPDATE_SA_ADDRESSES and the COOKIE2 return routability check); k picks
// the k-th such request of the run.
func FuzzIKEv2EstablishedPayloads(f *testing.F) {
	addV2Seeds(f, true, isLaterRequest)
	f.Fuzz(func(t *testing.T, s, k, first uint8, plain []byte) {
		fuzzV2(t, true, isLaterRequest, s, k%32, first, plain)
	})
}

// FuzzIKEv2ResponsePayloads fuzzes the responses, to the initiator's
// IKE_AUTH requests and to every request of the established SA's
// exchanges (either way): k picks the k-th response of the run.
func FuzzIKEv2ResponsePayloads(f *testing.F) {
	addV2Seeds(f, true, isResponse)
	f.Fuzz(func(t *testing.T, s, k, first uint8, plain []byte) {
		fuzzV2(t, true, isResponse, s, k%32, first, plain)
	})
}

// TestIKEv2FuzzSeedsReplay: the recorded seeds fit the exchange they are
// replayed into (so the fuzzer starts from messages the engine accepts):
// each IKE_AUTH request replayed in place of the original still brings
// the IKE SA up on both sides.
func TestIKEv2FuzzSeedsReplay(t *testing.T) {
	for s := range v2Scenarios {
		seeds, _ := runV2(t, s, false, isAuthRequest, -1, 0, nil, true)
		for _, sd := range seeds {
			t.Run(fmt.Sprintf("%s-%d", v2Scenarios[s].name, sd.k), func(t *testing.T) {
				_, n := runV2(t, s, false, isAuthRequest, sd.k, uint8(sd.first), sd.plain, false)
				for _, x := range []*node{n.a, n.b} {
					up := 0
					for _, sa := range x.eng.SAs() {
						if sa.State == "ESTABLISHED" && sa.Remote != netip.AddrPortFrom(fuzzC, 500).String() {
							up++
						}
					}
					if up != 1 {
						t.Errorf("%s: %d IKE SAs up after the replayed seed, want 1: %+v", x.name, up, x.eng.SAs())
					}
				}
			})
		}
	}
}
