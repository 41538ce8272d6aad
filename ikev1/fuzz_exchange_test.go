package ikev1

// FuzzIKEv1EncryptedPayloads fuzzes IKEv1 past the first messages: the
// fuzzer's bytes are the decrypted payload chain of one encrypted message
// of a real exchange, encrypted with the real key and the IV the receiver
// expects. Run it longer with
//
//	go test -run=NONE -fuzz='^FuzzIKEv1EncryptedPayloads$' -fuzztime=5m ./ikev1/
//
// Seeds are the plaintexts of the messages it replaces, recorded from the
// same exchanges (the engines draw randomness from fixed ChaCha8 streams,
// so a recorded plaintext fits the exchange it is replayed into).

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

	"ikegate/internal/enginetest"
	"ikegate/isakmp"
	"ikegate/policy"
)

func v1Rand(seed byte) io.Reader {
	var s [32]byte
	s[0] = seed
	return rand.NewChaCha8(s)
}

var (
	v1A, v1B, v1C = netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10.0.0.9")
)

func v1FuzzNode(name string, addr netip.Addr, seed byte, db *policy.DB, conns ...*policy.Connection) *node {
	inst := &fakeInstaller{Base: 0xc0000000 | uint32(addr.As4()[3])<<16}
	if db == nil {
		db = policy.NewDB(conns)
	}
	return &node{name: name, addr: addr, inst: inst, conns: conns,
		eng: NewEngine(Config{DB: db, Installer: inst, Log: zap.NewNop(), Rand: v1Rand(seed),
			RetransmitTries: 3, RetransmitBase: time.Second})}
}

// v1Scenarios: Main Mode PSK site to site; Main Mode with the engine as
// XAUTH and Mode Config client against the engine as gateway; the same in
// Aggressive Mode.
var v1Scenarios = []struct {
	name string
	mode string
	ra   bool
}{
	{"main-psk", "main", false},
	{"main-xauth", "main", true},
	{"aggressive-xauth", "aggressive", true},
}

// v1Net is a pair (a initiates, b responds) and a bystander c with an
// established ISAKMP SA with b.
type v1Net struct {
	*pair
	c       *node
	cState  string
	cKernel string
}

func newV1Net(tb testing.TB, s int) *v1Net {
	sc := v1Scenarios[s]
	ike, esp := []string{"aes128-sha256-x25519"}, []string{"aes128-sha256"}
	ca, cb := conn(tb, "a", v1A, v1B, sc.mode, ike, esp), conn(tb, "b", v1B, v1A, sc.mode, ike, esp)
	for _, c := range []*policy.Connection{ca, cb} {
		c.DPDDelay, c.DPDTimeout = 20*time.Second, time.Minute
	}
	bc, cc := conn(tb, "bc", v1B, v1C, "main", ike, esp), conn(tb, "cb", v1C, v1B, "main", ike, esp)
	var dbB *policy.DB
	var acc *enginetest.Access
	if sc.ra {
		cb.XAuth, cb.Pool = policy.XAuthLocal, "rw"
		cb.LocalTS, cb.RemoteTS = []netip.Prefix{netip.MustParsePrefix("10.2.0.0/24")}, nil
		pool := &policy.Pool{Name: "rw", Ranges: []policy.AddrRange{{First: netip.MustParseAddr("10.9.0.1"), Last: netip.MustParseAddr("10.9.0.254")}},
			Attributes: policy.Attributes{DNS: []netip.Addr{netip.MustParseAddr("10.2.0.53")}, Domain: "corp.example", Banner: "Authorized use only",
				SplitInclude: []netip.Prefix{netip.MustParsePrefix("10.2.0.0/24")}}}
		dbB = policy.NewDB([]*policy.Connection{cb, bc}, pool)
		acc = &enginetest.Access{Users: map[string]string{"alice": "alice-secret"}, Pool: netip.MustParsePrefix("10.9.0.0/24")}
		ca.XAuth = policy.XAuthLocal
		ca.XAuthUser, ca.XAuthPassword, ca.VirtualIP = "alice", []byte("alice-secret"), true
		ca.RemoteTS = []netip.Prefix{netip.MustParsePrefix("10.2.0.0/24")}
	}
	n := &v1Net{pair: &pair{t: tb,
		a: v1FuzzNode("a", v1A, 1, nil, ca),
		b: v1FuzzNode("b", v1B, 2, dbB, cb, bc),
	}}
	n.b.access = acc
	n.c = v1FuzzNode("c", v1C, 3, nil, cc)
	n.wire()
	n.At = func(ad netip.Addr) enginetest.Peer {
		if ad == v1C {
			return n.c.peer()
		}
		return n.nodeFor(ad).peer()
	}
	n.Peers = func() []enginetest.Peer { return []enginetest.Peer{n.a.peer(), n.b.peer(), n.c.peer()} }
	n.initiate(n.c, cc)
	if !n.Run(10 * time.Second) {
		tb.Fatal("bystander did not settle")
	}
	n.cState, n.cKernel = n.bystander()
	if n.cState == "" {
		tb.Fatal("bystander ISAKMP SA not established")
	}
	return n
}

func (n *v1Net) bystander() (string, string) {
	var state string
	for _, s := range n.b.eng.SAs() {
		if s.Remote == netip.AddrPortFrom(v1C, 500).String() && s.State == "ESTABLISHED" {
			j, _ := json.Marshal(s)
			state += string(j)
		}
	}
	var kernel string
	for spi, k := range n.b.inst.Live {
		if k.Remote == v1C {
			kernel += fmt.Sprintf("%08x:%x:%x;", spi, k.EncKeyIn, k.EncKeyOut)
		}
	}
	return state, kernel
}

// check: the bystander's SAs are untouched, and every SA in a dataplane
// belongs to an ISAKMP SA its engine lists.
func (n *v1Net) check(tb testing.TB) {
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
				tb.Fatalf("%s: phase 2 SA %08x in the dataplane belongs to no ISAKMP SA (SAs %+v)", x.name, spi, x.eng.SAs())
			}
		}
	}
}

// recvIV is the IV with which the receiving SA sa decrypts a message with
// header h (what the engine's handlers pick).
func recvIV(sa *p1SA, h isakmp.Header) []byte {
	switch h.Exchange {
	case isakmp.ExchangeV1Main, isakmp.ExchangeV1Aggressive:
		return sa.keys.iv
	case isakmp.ExchangeV1Quick:
		if q := sa.quick[h.MessageID]; q != nil {
			return q.iv
		}
	case isakmp.ExchangeV1Transaction:
		if sa.ra != nil && sa.ra.tx != nil && sa.ra.tx.msgID == h.MessageID {
			return sa.ra.tx.iv
		}
	}
	return sa.phase2IV(h.MessageID)
}

type v1Seed struct {
	k     int
	first isakmp.V1PayloadType
	plain []byte
}

// runV1 runs scenario s: phase 1 (and XAUTH, Mode Config), Quick Mode, a
// second Quick Mode, DPD both ways, and a delete. With plain non-nil the
// k-th encrypted message carries plain (first payload: first) instead;
// with record the plaintexts of the encrypted messages are returned.
func runV1(tb testing.TB, s, k int, first uint8, plain []byte, record bool) ([]v1Seed, *v1Net) {
	n := newV1Net(tb, s)
	var seeds []v1Seed
	seen := 0
	n.Filter = func(_ int, d isakmp.Datagram) []isakmp.Datagram {
		if d.Local.Addr() == v1C || d.Remote.Addr() == v1C {
			return []isakmp.Datagram{d}
		}
		m, err := isakmp.ParseV1Message(d.Data)
		if err != nil || m.Encrypted == nil {
			return []isakmp.Datagram{d}
		}
		rcv := n.nodeFor(d.Remote.Addr()).eng.sas[m.Header.SPIi]
		if rcv == nil || rcv.keys == nil || rcv.keys.cipher == nil {
			return []isakmp.Datagram{d}
		}
		i := seen
		seen++
		iv := recvIV(rcv, m.Header)
		if record {
			if p, _, err := rcv.keys.cipher.Decrypt(iv, m.Encrypted); err == nil {
				seeds = append(seeds, v1Seed{i, m.NextV1(), p})
			}
		}
		if plain == nil || i != k {
			return []isakmp.Datagram{d}
		}
		ct, _ := rcv.keys.cipher.Encrypt(iv, plain)
		h := m.Header
		h.NextPayload = isakmp.PayloadType(first)
		h.Length = uint32(isakmp.HeaderLen + len(ct))
		d.Data = append(h.AppendTo(nil), ct...)
		return []isakmp.Datagram{d}
	}
	settle := func(limit time.Duration) {
		if !n.Run(limit) {
			tb.Fatalf("engines did not settle (scenario %s, message %d)", v1Scenarios[s].name, k)
		}
		n.check(tb)
	}
	n.initiate(n.a, n.a.conns[0])
	settle(10 * time.Second)
	if sa := v1Established(n.a); sa != nil {
		if out, err := n.a.eng.Initiate(n.Now, n.a.conns[0]); err == nil { // a second Quick Mode
			n.do(n.a, out)
		}
	}
	settle(10 * time.Second)
	settle(45 * time.Second) // idle: R-U-THERE both ways
	out, _ := n.a.eng.Terminate(n.Now, n.a.conns[0].Name)
	n.do(n.a, out)
	settle(10 * time.Second)
	return seeds, n
}

func v1Established(x *node) *p1SA {
	for _, sa := range x.eng.sas {
		if sa.state == stateEstablished && sa.remote.Addr() != v1C {
			return sa
		}
	}
	return nil
}

// FuzzIKEv1EncryptedPayloads: k picks the k-th encrypted message between a
// and b of scenario s's run (both ways: Main Mode messages 5 and 6 or
// Aggressive Mode's third, XAUTH and Mode Config Transaction exchanges,
// Quick Mode, R-U-THERE/ACK and Delete Informational exchanges), and the
// fuzzer's bytes are its decrypted payload chain. Nothing may panic, the
// engines settle, b's SA with a bystander c stays untouched, no phase 2
// SA is orphaned in a dataplane, no goroutine is left.
func FuzzIKEv1EncryptedPayloads(f *testing.F) {
	for s := range v1Scenarios {
		seeds, _ := runV1(f, s, -1, 0, nil, true)
		if len(seeds) == 0 {
			f.Fatalf("scenario %s: no encrypted message recorded", v1Scenarios[s].name)
		}
		for _, sd := range seeds {
			f.Add(uint8(s), uint8(sd.k), uint8(sd.first), sd.plain)
		}
		sd := seeds[0]
		f.Add(uint8(s), uint8(sd.k), uint8(sd.first), sd.plain[:len(sd.plain)/2])
		f.Add(uint8(s), uint8(sd.k), uint8(0), []byte{})
	}
	f.Fuzz(func(t *testing.T, s, k, first uint8, plain []byte) {
		if plain == nil {
			plain = []byte{}
		}
		g := runtime.NumGoroutine()
		runV1(t, int(s)%len(v1Scenarios), int(k%32), first, plain, false)
		if now := runtime.NumGoroutine(); now > g {
			t.Fatalf("%d goroutines after the exchange, %d before", now, g)
		}
	})
}

// TestIKEv1FuzzSeedsReplay: the recorded seeds fit the exchange they are
// replayed into: replaying the phase 1 and Transaction messages in place
// of the originals still brings the SAs up.
func TestIKEv1FuzzSeedsReplay(t *testing.T) {
	for s := range v1Scenarios {
		seeds, _ := runV1(t, s, -1, 0, nil, true)
		if len(seeds) < 4 {
			t.Fatalf("%s: %d encrypted messages recorded", v1Scenarios[s].name, len(seeds))
		}
		for _, sd := range seeds[:2] {
			t.Run(fmt.Sprintf("%s-%d", v1Scenarios[s].name, sd.k), func(t *testing.T) {
				_, n := runV1(t, s, sd.k, uint8(sd.first), sd.plain, false)
				if n.a.eng.Stats().AuthFailures+n.b.eng.Stats().AuthFailures != 0 {
					t.Errorf("replayed seed failed authentication")
				}
			})
		}
	}
}
