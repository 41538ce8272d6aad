package ikev2

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"ikegate/internal/engine"
	"ikegate/internal/enginetest"
	"ikegate/isakmp"
	"ikegate/policy"
)

// colPair is a pair for the rekey collision tests: the engines draw from
// seeded random sources (the nonces, hence who wins a collision, are
// reproducible), liveness checks are on, every log line is observed and
// every effect counted.
type colPair struct {
	*pair
	logs    *observer.ObservedLogs
	effects map[*node]*effectCount
}

// effectCount is what a node's engine asked of its dataplane and runtime.
type effectCount struct {
	installs, removes int
	removed           map[uint32]int // by inbound SPI
	ups, downs        int
	down              map[uint64]int // by IKE SA key
}

const colDPD = 30 * time.Second

func newColPair(t *testing.T, seed uint64, esp string) *colPair {
	t.Helper()
	core, logs := observer.New(zap.InfoLevel)
	log := zap.New(zapcore.NewTee(zaptest.NewLogger(t, zaptest.Level(zap.InfoLevel)).Core(), core))
	a, b := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	ike := []string{"aes128gcm16-prfsha256-x25519"}
	mk := func(name string, local, remote netip.Addr, connName string, s uint64) *node {
		conn := pskConn(t, connName, local, remote, ike, []string{esp})
		conn.DPDDelay = colDPD
		var key [32]byte
		binary.LittleEndian.PutUint64(key[:], s)
		inst := &fakeInstaller{Base: 0xc0000000 | uint32(local.As4()[3])<<16}
		n := &node{name: name, addr: local, inst: inst, conns: []*policy.Connection{conn}}
		n.eng = NewEngine(Config{DB: policy.NewDB(n.conns), Installer: inst, Log: log.Named(name),
			Rand: rand.NewChaCha8(key), RetransmitTries: 5, RetransmitBase: time.Second, CookieThreshold: 10})
		return n
	}
	p := &colPair{pair: &pair{t: t, a: mk("a", a, b, "ab", 2*seed), b: mk("b", b, a, "ba", 2*seed+1)}, logs: logs}
	p.wire()
	p.effects = map[*node]*effectCount{
		p.a: {removed: map[uint32]int{}, down: map[uint64]int{}},
		p.b: {removed: map[uint32]int{}, down: map[uint64]int{}},
	}
	p.Observe = func(peer enginetest.Peer, ef engine.Effect, err error) {
		n := p.b
		if peer.Engine == enginetest.Engine(p.a.eng) {
			n = p.a
		}
		c := p.effects[n]
		switch ef.Kind {
		case engine.EffectInstall:
			c.installs++
		case engine.EffectRemove:
			c.removes++
			c.removed[ef.Child.SPIIn]++
		case engine.EffectIKEUp:
			c.ups++
		case engine.EffectIKEDown:
			c.downs++
			c.down[ef.Key]++
		}
	}
	p.Filter = p.checked(nil)
	p.initiate(p.a, p.a.conns[0])
	p.run(time.Second)
	p.requireConverged(1)
	return p
}

// checked wraps a wire filter (nil: deliver all) with checkRetired, run
// on every datagram sent.
func (p *colPair) checked(f func(int, isakmp.Datagram) []isakmp.Datagram) func(int, isakmp.Datagram) []isakmp.Datagram {
	return func(n int, d isakmp.Datagram) []isakmp.Datagram {
		p.checkRetired()
		if f == nil {
			return []isakmp.Datagram{d}
		}
		return f(n, d)
	}
}

// checkRetired checks that no retired or undecided IKE SA runs liveness
// checks, rekeys or carries CHILD SAs, and that no CHILD SA waiting for
// the peer's delete is rekeyed.
func (p *colPair) checkRetired() {
	for _, n := range []*node{p.a, p.b} {
		for _, sa := range n.eng.sas {
			if sa.state == stateEstablished && (sa.retired || sa.undecidedOf != nil) &&
				(sa.DPD.Enabled() || !sa.Rekeying || len(sa.children) > 0) {
				p.t.Errorf("%s: retired/undecided IKE SA %s/%s: liveness checks %v, rekeying %v, %d CHILD SAs",
					n.name, spiHex(sa.spiI), spiHex(sa.spiR), sa.DPD.Enabled(), !sa.Rekeying, len(sa.children))
			}
			for _, c := range sa.children {
				if c.Installed() && !c.retireAt.IsZero() && !c.Rekeying {
					p.t.Errorf("%s: CHILD SA %08x waits for the peer's delete but may be rekeyed", n.name, c.SPIIn)
				}
			}
		}
	}
}

// onlySA is n's one IKE SA.
func (p *colPair) onlySA(n *node) *ikeSA {
	p.t.Helper()
	if len(n.eng.sas) != 1 {
		p.t.Fatalf("%s has %d IKE SAs, want 1", n.name, len(n.eng.sas))
	}
	for _, sa := range n.eng.sas {
		return sa
	}
	return nil
}

// onlyChild is the one CHILD SA of n's one IKE SA.
func (p *colPair) onlyChild(n *node) *childSA {
	p.t.Helper()
	sa := p.onlySA(n)
	if len(sa.children) != 1 {
		p.t.Fatalf("%s has %d CHILD SAs, want 1", n.name, len(sa.children))
	}
	return sa.children[0]
}

// flush carries out what n's engine has queued after a direct call into it.
func (p *colPair) flush(n *node, sa *ikeSA) {
	n.eng.Schedule(sa)
	p.do(n, n.eng.Flush())
}

// rekeyIKE has n start the rekey of its IKE SA now.
func (p *colPair) rekeyIKE(n *node) {
	sa := p.onlySA(n)
	n.eng.rekeyIKE(p.Now, sa)
	p.flush(n, sa)
}

// rekeyChild has n start the rekey of its CHILD SA now.
func (p *colPair) rekeyChild(n *node) {
	sa, c := p.onlySA(n), p.onlyChild(n)
	n.eng.rekeyChild(p.Now, sa, c)
	p.flush(n, sa)
}

// loss describes the one datagram to lose: the first that node from sends
// of exchange ex, a request or a response; onSA, if set, restricts it to
// that IKE SA (by its initiator SPI) and makes the loss permanent.
type loss struct {
	from     string
	ex       isakmp.ExchangeType
	response bool
	onSA     uint64
}

// lose installs the filter that drops what l describes.
func (p *colPair) lose(l loss) {
	from := p.a.addr
	if l.from == "b" {
		from = p.b.addr
	}
	done := false
	p.Filter = p.checked(func(_ int, d isakmp.Datagram) []isakmp.Datagram {
		if done || d.Local.Addr() != from {
			return []isakmp.Datagram{d}
		}
		h, err := isakmp.ParseHeader(d.Data)
		if err != nil || h.Exchange != l.ex || (h.Flags&isakmp.FlagResponse != 0) != l.response ||
			(l.onSA != 0 && h.SPIi != l.onSA) {
			return []isakmp.Datagram{d}
		}
		done = l.onSA == 0
		return nil
	})
}

// deliverAndOvertake delivers the first datagram on the wire, then swaps
// the next two: the answer to it overtakes the other side's request, so that one
// side completes its rekey before it sees the peer's.
func (p *colPair) deliverAndOvertake() {
	p.t.Helper()
	p.Deliver()
	if len(p.Queue) != 2 {
		p.t.Fatalf("%d datagrams on the wire, want the other request and the answer", len(p.Queue))
	}
	p.Queue[0], p.Queue[1] = p.Queue[1], p.Queue[0]
}

// requireConverged checks the end state: one established IKE SA on each
// side with the same SPIs, want installed CHILD SAs with crossed SPIs, the
// dataplanes holding exactly those with matching keys, every removal and
// IKE SA end reported once, and no log line at Warn or above.
func (p *colPair) requireConverged(want int) (sa, sb *ikeSA) {
	t := p.t
	t.Helper()
	sa, sb = p.onlySA(p.a), p.onlySA(p.b)
	for _, s := range []*ikeSA{sa, sb} {
		if !s.usable() || s.replacedBy != nil {
			t.Fatalf("IKE SA %s/%s: state %s retired=%v undecided=%v replaced=%v", spiHex(s.spiI), spiHex(s.spiR),
				s.state, s.retired, s.undecidedOf != nil, s.replacedBy != nil)
		}
	}
	if sa.spiI != sb.spiI || sa.spiR != sb.spiR || sa.initiator == sb.initiator {
		t.Fatalf("IKE SAs differ: a %s/%s (initiator %v), b %s/%s", spiHex(sa.spiI), spiHex(sa.spiR), sa.initiator,
			spiHex(sb.spiI), spiHex(sb.spiR))
	}
	if len(sa.children) != want || len(sb.children) != want {
		t.Fatalf("CHILD SAs: a %d, b %d, want %d", len(sa.children), len(sb.children), want)
	}
	for _, ca := range sa.children {
		var cb *childSA
		for _, c := range sb.children {
			if c.SPIOut == ca.SPIIn {
				cb = c
			}
		}
		if !ca.Installed() || cb == nil || !cb.Installed() || cb.SPIIn != ca.SPIOut {
			t.Fatalf("a's CHILD SA %08x/%08x (%s) has no installed counterpart on b", ca.SPIIn, ca.SPIOut, ca.State)
		}
		if !ca.retireAt.IsZero() || !cb.retireAt.IsZero() || ca.Rekeying || cb.Rekeying {
			t.Fatalf("surviving CHILD SA %08x still marked for replacement", ca.SPIIn)
		}
	}
	p.requireDataplanes(p.a, p.b, want)
	p.requireDataplanes(p.b, p.a, want)
	for _, n := range []*node{p.a, p.b} {
		c := p.effects[n]
		if c.installs-c.removes != want || c.ups-c.downs != 1 {
			t.Fatalf("%s: %d installs, %d removes, %d IKE SAs up, %d down", n.name, c.installs, c.removes, c.ups, c.downs)
		}
		for spi, k := range c.removed {
			if k != 1 {
				t.Fatalf("%s removed CHILD SA %08x %d times", n.name, spi, k)
			}
		}
		for key, k := range c.down {
			if k != 1 {
				t.Fatalf("%s reported IKE SA %s down %d times", n.name, spiHex(key), k)
			}
		}
		if len(n.eng.halfOpen) != 0 {
			t.Fatalf("%s has half-open SAs", n.name)
		}
	}
	if bad := p.logs.Filter(func(e observer.LoggedEntry) bool { return e.Level >= zap.WarnLevel }); bad.Len() > 0 {
		for _, e := range bad.All() {
			t.Errorf("%s: %s %v", e.Level, e.Message, e.ContextMap())
		}
		t.FailNow()
	}
	return sa, sb
}

// requireDataplanes checks that x's dataplane holds exactly its installed
// CHILD SAs (want) and that y's holds the other half of each.
func (p *colPair) requireDataplanes(x, y *node, want int) {
	t := p.t
	t.Helper()
	if len(x.inst.Live) != want {
		t.Fatalf("%s's dataplane holds %d SAs, want %d", x.name, len(x.inst.Live), want)
	}
	for spi, kx := range x.inst.Live {
		found := false
		for _, c := range p.onlySA(x).children {
			found = found || (c.SPIIn == spi && c.Installed())
		}
		ky := findBySPIOut(y.inst, spi)
		if !found || ky == nil {
			t.Fatalf("%s's dataplane SA %08x: in the engine %v, on %s %v", x.name, spi, found, y.name, ky != nil)
		}
		if !bytes.Equal(kx.EncKeyIn, ky.EncKeyOut) || !bytes.Equal(kx.EncKeyOut, ky.EncKeyIn) {
			t.Fatalf("keys of CHILD SA %08x differ between %s and %s", spi, x.name, y.name)
		}
	}
}

// logged counts the observed log lines that contain s.
func (p *colPair) logged(s string) int { return p.logs.FilterMessageSnippet(s).Len() }

// lowestOfFour says which exchange, 1 or 2, holds the lowest of the four
// nonces (RFC 7296 2.8.1: octet by octet, a nonce that ends first being
// the lower).
func lowestOfFour(ex1, ex2 exchangeNonces) int {
	all := []struct {
		nonce []byte
		ex    int
	}{{ex1.ni, 1}, {ex1.nr, 1}, {ex2.ni, 2}, {ex2.nr, 2}}
	low := all[0]
	for _, x := range all[1:] {
		if bytes.Compare(x.nonce, low.nonce) < 0 {
			low = x
		}
	}
	return low.ex
}

// collisionCase is one interleaving of a rekey of the same SA by both
// sides (a's exchange is the first, b's the second).
type collisionCase struct {
	name string
	// first starts its rekey first (its request is on the wire first).
	first string
	// overtake: the answer to the first request reaches the first side
	// before the second request does, so that it does not notice.
	overtake bool
	lost     *loss
	// survivor is whose exchange's SA must survive: "a", "b", or
	// "nonces" (decided by the four nonces).
	survivor string
	// childLog, ikeLog: a log line (part) that shows the path taken.
	childLog, ikeLog string
}

// Log lines that show the path a collision took.
const (
	logNoticed     = "rekey collision: the peer rekeys the"
	logClosing     = "peer rekeys a CHILD SA we are deleting: TEMPORARY_FAILURE"
	logNotFound    = "peer rekeys a CHILD SA we do not have: CHILD_SA_NOT_FOUND"
	logPeerDeleted = "peer deleted the IKE SA both sides were rekeying"
	logUndecided   = "peer uses its new IKE SA before our rekey was answered"
)

var collisionCases = []collisionCase{
	{name: "both notice, a first", first: "a", survivor: "nonces", childLog: logNoticed, ikeLog: logNoticed},
	{name: "both notice, b first", first: "b", survivor: "nonces", childLog: logNoticed, ikeLog: logNoticed},
	{name: "a does not notice", first: "a", overtake: true, survivor: "a", childLog: logClosing, ikeLog: logPeerDeleted},
	{name: "b does not notice", first: "b", overtake: true, survivor: "b", childLog: logClosing, ikeLog: logPeerDeleted},
	{name: "a does not notice, its delete lost", first: "a", overtake: true, lost: &loss{from: "a", ex: isakmp.ExchangeInformational},
		survivor: "a", childLog: "CHILD SA rekey abandoned", ikeLog: "IKE SA rekey abandoned"},
	{name: "a's request lost", first: "a", lost: &loss{from: "a", ex: isakmp.ExchangeCreateChildSA}, survivor: "b",
		childLog: logNotFound, ikeLog: logPeerDeleted},
	{name: "b's request lost", first: "a", lost: &loss{from: "b", ex: isakmp.ExchangeCreateChildSA}, survivor: "a",
		childLog: logNotFound, ikeLog: logPeerDeleted},
	{name: "answer to a lost", first: "a", lost: &loss{from: "b", ex: isakmp.ExchangeCreateChildSA, response: true},
		survivor: "nonces", childLog: logNoticed, ikeLog: logNoticed},
	{name: "answer to b lost", first: "a", lost: &loss{from: "a", ex: isakmp.ExchangeCreateChildSA, response: true},
		survivor: "nonces", childLog: logNoticed, ikeLog: logNoticed},
	{name: "first delete from a lost", first: "a", lost: &loss{from: "a", ex: isakmp.ExchangeInformational},
		survivor: "nonces", childLog: logNoticed, ikeLog: logNoticed},
	{name: "first delete from b lost", first: "b", lost: &loss{from: "b", ex: isakmp.ExchangeInformational},
		survivor: "nonces", childLog: logNoticed, ikeLog: logNoticed},
}

// TestCollisionChildSA: both sides rekey the same CHILD SA (RFC 7296
// 2.8.1), in every interleaving, with and without a lost message, over
// enough seeds that each side's exchange survives. One CHILD SA remains,
// the one the nonces (or, when one side did not notice, the order)
// choose; every other is deleted exactly once and nothing is logged at
// Warn.
func TestCollisionChildSA(t *testing.T) {
	for _, esp := range []string{"aes128gcm16", "aes128gcm16-x25519"} {
		for _, tc := range collisionCases {
			t.Run(esp+"/"+tc.name, func(t *testing.T) {
				runCollision(t, tc, esp, false)
			})
		}
	}
}

// TestCollisionIKESA: both sides rekey the same IKE SA (RFC 7296 2.8.2),
// as TestCollisionChildSA. The CHILD SA moves to the surviving IKE SA
// untouched.
func TestCollisionIKESA(t *testing.T) {
	for _, tc := range collisionCases {
		t.Run(tc.name, func(t *testing.T) {
			runCollision(t, tc, "aes128gcm16", true)
		})
	}
}

// runCollision runs tc over seeds until each side's exchange has survived
// once (a case decided by the nonces) or for a few seeds (a case decided
// by the order).
func runCollision(t *testing.T, tc collisionCase, esp string, ike bool) {
	won := map[string]int{}
	for seed := uint64(1); seed <= 64; seed++ {
		var who string
		ok := t.Run(fmt.Sprintf("seed%d", seed), func(t *testing.T) {
			who = collide(t, tc, seed, esp, ike)
		})
		if !ok || who == "" { // failed, or left out by -run
			return
		}
		won[who]++
		if tc.survivor != "nonces" && seed >= 3 {
			return
		}
		if won["a"] > 0 && won["b"] > 0 {
			return
		}
	}
	t.Fatalf("64 seeds and one side never won: %v", won)
}

// collide runs one collision of tc and returns whose exchange survived.
func collide(t *testing.T, tc collisionCase, seed uint64, esp string, ike bool) string {
	p := newColPair(t, seed, esp)
	sa0, sb0 := p.onlySA(p.a), p.onlySA(p.b)
	ca0, cb0 := p.onlyChild(p.a), p.onlyChild(p.b)
	if tc.lost != nil {
		p.lose(*tc.lost)
	}
	start := func(n *node) {
		if ike {
			p.rekeyIKE(n)
		} else {
			p.rekeyChild(n)
		}
	}
	if tc.first == "a" {
		start(p.a)
		start(p.b)
	} else {
		start(p.b)
		start(p.a)
	}
	if tc.overtake {
		p.deliverAndOvertake()
	}
	p.run(4 * time.Minute)
	sa, sb := p.requireConverged(1)
	ca, cb := sa.children[0], sb.children[0]

	// Whose exchange survived: the side that answered it holds, as what
	// replaced its old SA, the SA that survived.
	var who string
	var ex1, ex2 exchangeNonces // a's exchange (recorded by b, which answered it) and b's
	if ike {
		if sa == sa0 || sb == sb0 {
			t.Fatal("the IKE SA was not rekeyed")
		}
		if ca != ca0 || cb != cb0 {
			t.Fatal("the CHILD SA did not move to the new IKE SA unchanged")
		}
		who = survivor(t, sa == sa0.replacedBy, sb == sb0.replacedBy)
		ex1, ex2 = nonces(sb0.replacedBy), nonces(sa0.replacedBy)
	} else {
		if sa != sa0 || sb != sb0 {
			t.Fatal("the IKE SA changed")
		}
		if ca == ca0 || cb == cb0 {
			t.Fatal("the CHILD SA was not rekeyed")
		}
		who = survivor(t, ca == ca0.replacedBy, cb == cb0.replacedBy)
		ex1, ex2 = childNonces(cb0.replacedBy), childNonces(ca0.replacedBy)
	}
	if path := map[bool]string{false: tc.childLog, true: tc.ikeLog}[ike]; p.logged(path) == 0 {
		t.Fatalf("no log line %q: the collision took another path", path)
	}
	want := tc.survivor
	if want == "nonces" {
		if ex1.ni == nil || ex1.nr == nil || ex2.ni == nil || ex2.nr == nil {
			t.Fatal("a collision decided by the nonces, but an exchange was not answered on both sides")
		}
		want = map[int]string{1: "b", 2: "a"}[lowestOfFour(ex1, ex2)] // the lowest nonce's SA goes
	}
	if who != want {
		t.Fatalf("%s's exchange survived, want %s's", who, want)
	}
	return who
}

// survivor names whose exchange created the surviving SA, given whether
// a's (b's) surviving SA is the one a (b) created answering the other.
func survivor(t *testing.T, aAnswered, bAnswered bool) string {
	t.Helper()
	switch {
	case aAnswered && !bAnswered:
		return "b"
	case bAnswered && !aAnswered:
		return "a"
	}
	t.Fatalf("cannot tell whose SA survived (a answered it: %v, b answered it: %v)", aAnswered, bAnswered)
	return ""
}

func nonces(sa *ikeSA) exchangeNonces {
	if sa == nil || sa.nonces == nil {
		return exchangeNonces{}
	}
	return *sa.nonces
}

func childNonces(c *childSA) exchangeNonces {
	if c == nil || c.nonces == nil {
		return exchangeNonces{}
	}
	return *c.nonces
}

// TestRekeyMeetsOtherRekey: a rekey that cannot be a symmetric collision
// (one side rekeys the CHILD SA or creates one while the other rekeys
// the IKE SA) is refused with TEMPORARY_FAILURE on both sides (RFC 7296
// 2.25), each retries after a short random delay, and both complete
// without a warning.
func TestRekeyMeetsOtherRekey(t *testing.T) {
	for _, tc := range []struct {
		name     string
		a        func(p *colPair) // what a starts
		children int
	}{
		{"child rekey vs IKE rekey", (*colPair).rekeyChildA, 1},
		{"new CHILD SA vs IKE rekey", (*colPair).newChildA, 2},
	} {
		for _, order := range []string{"a first", "b first"} {
			t.Run(tc.name+"/"+order, func(t *testing.T) {
				for seed := uint64(1); seed <= 4; seed++ {
					p := newColPair(t, seed, "aes128gcm16")
					sa0, ca0 := p.onlySA(p.a), p.onlyChild(p.a)
					if order == "a first" {
						tc.a(p)
						p.rekeyIKE(p.b)
					} else {
						p.rekeyIKE(p.b)
						tc.a(p)
					}
					p.run(3 * time.Minute)
					sa, _ := p.requireConverged(tc.children)
					if sa == sa0 {
						t.Fatal("the IKE SA was not rekeyed")
					}
					if tc.children == 1 && sa.children[0] == ca0 {
						t.Fatal("the CHILD SA was not rekeyed")
					}
					if n := p.logged("refused for now (TEMPORARY_FAILURE)"); n != 2 {
						t.Fatalf("%d requests refused with TEMPORARY_FAILURE, want 2 (one each way)", n)
					}
					if n := p.logged("peer answered TEMPORARY_FAILURE"); n != 2 {
						t.Fatalf("%d TEMPORARY_FAILURE answers retried, want 2", n)
					}
				}
			})
		}
	}
}

func (p *colPair) rekeyChildA() { p.rekeyChild(p.a) }

func (p *colPair) newChildA() {
	out, err := p.a.eng.Initiate(p.Now, p.a.conns[0])
	if err != nil {
		p.t.Fatal(err)
	}
	p.do(p.a, out)
}

// TestChildRekeyNotFound: a peer that lost the CHILD SA we rekey answers
// CHILD_SA_NOT_FOUND; we remove it without a delete and create a new one
// (RFC 7296 2.25), without a warning.
func TestChildRekeyNotFound(t *testing.T) {
	p := newColPair(t, 1, "aes128gcm16")
	sb, cb := p.onlySA(p.b), p.onlyChild(p.b)
	p.b.eng.removeChild(sb, cb) // b forgets it, telling nobody
	p.flush(p.b, sb)
	ca0 := p.onlyChild(p.a)
	p.rekeyChild(p.a)
	p.run(2 * time.Minute)
	sa, _ := p.requireConverged(1)
	if sa.children[0] == ca0 {
		t.Fatal("no new CHILD SA")
	}
	if p.logged("CHILD_SA_NOT_FOUND") != 2 {
		t.Fatal("CHILD_SA_NOT_FOUND not answered and acted on")
	}
}

// TestPeerDeletesChildDuringRekey: the peer deletes the CHILD SA we are
// rekeying. When the delete crosses our request, the peer refuses the
// rekey and it is abandoned; when the peer answered the rekey first, the
// rekey completes and the crossing deletes of the old CHILD SA are
// harmless.
func TestPeerDeletesChildDuringRekey(t *testing.T) {
	for _, tc := range []struct {
		name     string
		answered bool   // b answers a's rekey before it deletes
		first    string // whose message is on the wire first
		children int
	}{
		{"delete crosses rekey, rekey first", false, "a", 0},
		{"delete crosses rekey, delete first", false, "b", 0},
		{"rekey answered, then deleted", true, "a", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newColPair(t, 1, "aes128gcm16")
			sb, cb := p.onlySA(p.b), p.onlyChild(p.b)
			del := func() {
				p.b.eng.deleteChild(p.Now, sb, cb)
				p.flush(p.b, sb)
			}
			switch {
			case tc.answered:
				p.rekeyChild(p.a)
				p.Deliver() // b answers
				del()
			case tc.first == "a":
				p.rekeyChild(p.a)
				del()
			default:
				del()
				p.rekeyChild(p.a)
			}
			p.run(2 * time.Minute)
			sa, _ := p.requireConverged(tc.children)
			if tc.children == 1 && sa.children[0].SPIOut == cb.SPIIn {
				t.Fatal("the old CHILD SA survived")
			}
		})
	}
}

// TestReplacedIKESANeverDeleted: the peer that rekeyed the IKE SA never
// gets its delete of the old one through. It gives up on that delete
// quietly, and we delete the old IKE SA ourselves after replacedGrace
// (one Delete, not waiting for an answer that may never come): neither
// side reports a dead peer.
func TestReplacedIKESANeverDeleted(t *testing.T) {
	p := newColPair(t, 1, "aes128gcm16")
	old := p.onlySA(p.a)
	p.lose(loss{from: "a", ex: isakmp.ExchangeInformational, onSA: old.spiI})
	p.rekeyIKE(p.a)
	p.run(time.Minute)
	states := map[string]int{}
	for _, info := range p.b.eng.SAs() {
		states[info.State]++
	}
	if states["ESTABLISHED"] != 1 || states["REKEYED"] != 1 {
		t.Fatalf("b lists %v, want the new IKE SA ESTABLISHED and the old one REKEYED", states)
	}
	if recs := p.b.eng.Export(); len(recs) != 1 || len(recs[0].Children) != 1 {
		t.Fatalf("b exports %d IKE SAs, want only the new one, with the CHILD SA", len(recs))
	}
	p.run(3 * time.Minute)
	sa, _ := p.requireConverged(1)
	if sa == old {
		t.Fatal("not rekeyed")
	}
	// a gives up its unanswered delete quietly; b sends one Delete when
	// the grace is over and removes the SA without waiting.
	if p.logged("did not delete the IKE SA it replaced") != 1 || p.logged("on an IKE SA that was replaced") != 1 {
		t.Fatalf("the old IKE SA was not retired quietly on both sides:\n%s", dumpLogs(p.logs))
	}
}

func dumpLogs(logs *observer.ObservedLogs) string {
	var b strings.Builder
	for _, e := range logs.All() {
		fmt.Fprintf(&b, "%s %s %v\n", e.Level, e.Message, e.ContextMap())
	}
	return b.String()
}

// TestPeerUsesUndecidedSA: b wins an IKE SA rekey collision whose answer
// to a is lost, and its delete of the old IKE SA too; b's first request
// on its new IKE SA tells a that b made it the survivor before a's
// retransmission gets the answer. The CHILD SA moves to it at once.
func TestPeerUsesUndecidedSA(t *testing.T) {
	for seed := uint64(1); seed <= 64; seed++ {
		p := newColPair(t, seed, "aes128gcm16")
		old := p.onlySA(p.b)
		lostAnswer, lostDelete := false, false
		p.Filter = p.checked(func(_ int, d isakmp.Datagram) []isakmp.Datagram {
			h, err := isakmp.ParseHeader(d.Data)
			switch {
			case err != nil || d.Local.Addr() != p.b.addr:
			case !lostAnswer && h.Exchange == isakmp.ExchangeCreateChildSA && h.Flags&isakmp.FlagResponse != 0:
				lostAnswer = true
				return nil
			case !lostDelete && h.Exchange == isakmp.ExchangeInformational && h.Flags&isakmp.FlagResponse == 0 && h.SPIi == old.spiI:
				lostDelete = true
				return nil
			}
			return []isakmp.Datagram{d}
		})
		p.rekeyIKE(p.a)
		p.rekeyIKE(p.b)
		p.run(0) // everything until the retransmissions
		var won *ikeSA
		for _, sa := range p.b.eng.sas {
			if sa.usable() {
				won = sa
			}
		}
		if won == nil || !won.initiator { // a's exchange won: not this test's case
			continue
		}
		// b's liveness check on its new IKE SA reaches a first.
		p.b.eng.startRequest(p.Now, won, p.b.eng.encryptedRequest(won, isakmp.ExchangeInformational, nil, stepInfo))
		p.flush(p.b, won)
		p.run(0)
		var ours *ikeSA
		for _, sa := range p.a.eng.sas {
			if sa.spiI == won.spiI {
				ours = sa
			}
		}
		if ours == nil || !ours.usable() || len(ours.children) != 1 {
			t.Fatal("a did not make b's new IKE SA the successor on its first request")
		}
		p.run(4 * time.Minute)
		sa, _ := p.requireConverged(1)
		if sa.spiI != won.spiI || p.logged(logUndecided) != 1 {
			t.Fatalf("the new IKE SA b uses did not take over on a (%d)", p.logged(logUndecided))
		}
		return
	}
	t.Fatal("b never won")
}

// TestQueuedWorkMovesToSuccessor: a CHILD SA rekey queued behind our IKE
// SA rekey goes to the IKE SA that replaces it, whichever exchange of a
// collision survives, and completes there.
func TestQueuedWorkMovesToSuccessor(t *testing.T) {
	won := map[bool]int{}
	for seed := uint64(1); seed <= 64 && (won[true] == 0 || won[false] == 0); seed++ {
		p := newColPair(t, seed, "aes128gcm16")
		sa0, ca0 := p.onlySA(p.a), p.onlyChild(p.a)
		p.a.eng.rekeyIKE(p.Now, sa0)
		p.a.eng.rekeyChild(p.Now, sa0, ca0) // queued behind the IKE SA rekey
		p.flush(p.a, sa0)
		p.rekeyIKE(p.b)
		p.run(4 * time.Minute)
		sa, _ := p.requireConverged(1)
		if sa == sa0 || sa.children[0] == ca0 {
			t.Fatalf("seed %d: IKE SA rekeyed %v, CHILD SA rekeyed %v", seed, sa != sa0, sa.children[0] != ca0)
		}
		won[sa.initiator]++
	}
	if won[true] == 0 || won[false] == 0 {
		t.Fatalf("one side never won: %v", won)
	}
}

// TestRetiredChildDeletedAfterGrace: a CHILD SA the peer should delete
// (replaced or redundant) that it never deletes is deleted by us after
// replacedGrace, on both sides, quietly.
func TestRetiredChildDeletedAfterGrace(t *testing.T) {
	p := newColPair(t, 1, "aes128gcm16")
	sb, cb := p.onlySA(p.b), p.onlyChild(p.b)
	retireChild(p.Now, cb, replacedGrace)
	p.flush(p.b, sb)
	p.run(replacedGrace - time.Second)
	if len(sb.children) != 1 || len(p.onlySA(p.a).children) != 1 {
		t.Fatal("deleted before replacedGrace")
	}
	p.run(time.Minute)
	p.requireConverged(0)
	if p.logged("did not delete the CHILD SA it replaced") != 1 {
		t.Fatal("not deleted by the retirement")
	}
}

// TestPeerDiesDuringIKECollision: the peer goes silent in the middle of
// an IKE SA rekey collision, after its rekey was answered. Our rekey is
// never answered and the old IKE SA fails; the new IKE SA of the peer's
// rekey, still undecided, goes with it instead of lingering without
// liveness checks.
func TestPeerDiesDuringIKECollision(t *testing.T) {
	p := newColPair(t, 1, "aes128gcm16")
	p.rekeyIKE(p.a)
	p.rekeyIKE(p.b)
	p.Filter = p.checked(func(_ int, d isakmp.Datagram) []isakmp.Datagram {
		if d.Local.Addr() == p.b.addr {
			return nil // b is gone
		}
		return []isakmp.Datagram{d}
	})
	p.run(0)
	undecided := 0
	for _, sa := range p.a.eng.sas {
		if sa.undecidedOf != nil {
			undecided++
		}
	}
	if undecided != 1 {
		t.Fatalf("a holds %d undecided IKE SAs, want the one of b's rekey", undecided)
	}
	p.run(2 * time.Minute)
	if n := len(p.a.eng.sas); n != 0 || len(p.a.inst.Live) != 0 {
		t.Fatalf("a holds %d IKE SAs and %d CHILD SAs after its peer died", n, len(p.a.inst.Live))
	}
	if c := p.effects[p.a]; c.ups != c.downs {
		t.Fatalf("a reported %d IKE SAs up, %d down", c.ups, c.downs)
	}
	dead := p.logs.Filter(func(e observer.LoggedEntry) bool {
		return e.LoggerName == "a" && strings.Contains(e.Message, "peer is dead")
	})
	if dead.Len() != 1 {
		t.Fatalf("a reported its peer's death %d times, want once", dead.Len())
	}
}
