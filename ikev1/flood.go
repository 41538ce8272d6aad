package ikev1

// Flood defence (IKEv1 has no cookies of IKEv2's kind, so the responder
// makes its own):
//
//   - Main Mode keeps no SA for message 1. Its responder cookie is an HMAC
//     of the initiator cookie, the peer's address and message 1 under a
//     secret of the engine, so a retransmitted message 1 gets the same
//     answer; message 1 itself is kept in a bounded table (oldest out
//     first), because HASH_I and HASH_R cover its SA payload. The SA is
//     created when message 3 comes back with that cookie: the peer has
//     shown that it receives at its address. Message 2 is never
//     retransmitted by us (the initiator retransmits message 1).
//   - Aggressive Mode must answer message 1 with KE and HASH_R. With a
//     pre-shared key HASH_R needs SKEYID only, not g^xy: the DH shared
//     secret waits for message 3 (deferred in computeKeys), and while
//     many SAs are half-open one DH key per group is reused for the
//     answers for a few seconds, so a spoofed message 1 costs a few
//     hashes, not a modular exponentiation. Half-open Aggressive Mode SAs
//     are not retransmitted either, and when the table is full the oldest
//     unproven one makes room.
//
// So an unauthenticated peer gets at most one packet per packet it sends
// (no reflection), and the state it can create is bounded.

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"net/netip"
	"time"

	"ikegate/oakley"
)

// mm1Entry is a Main Mode message 1 we answered statelessly.
type mm1Entry struct {
	ckyI, ckyR uint64
	remote     netip.AddrPort
	msg        []byte // message 1 as received
}

// mm1Slack is how many dead entries mm1Table's queue may hold beyond
// twice its live ones before it is compacted.
const mm1Slack = 64

// mm1Table holds the answered Main Mode messages 1 until their message 3
// comes, at most max of them: the oldest goes first.
type mm1Table struct {
	max     int
	byCky   map[uint64]*mm1Entry
	order   []*mm1Entry // insertion order (ring-free FIFO; compacted lazily)
	evicted uint64
}

func (t *mm1Table) put(en *mm1Entry) {
	if t.byCky == nil {
		t.byCky = make(map[uint64]*mm1Entry)
	}
	if old := t.byCky[en.ckyI]; old != nil {
		old.msg = nil // superseded (a retransmitted message 1)
	}
	for len(t.byCky) >= t.max && len(t.order) > 0 {
		first := t.order[0]
		t.order = t.order[1:]
		if t.byCky[first.ckyI] == first {
			delete(t.byCky, first.ckyI)
			t.evicted++
		}
	}
	t.byCky[en.ckyI] = en
	t.order = append(t.order, en)
	// Drop superseded and taken entries from the queue once it is twice
	// what the table holds (plus some slack): a taken entry's message 1
	// would otherwise stay in memory with every established SA, up to
	// 2*max of them.
	if len(t.order) > 2*len(t.byCky)+mm1Slack {
		live := t.order[:0]
		for _, x := range t.order {
			if t.byCky[x.ckyI] == x {
				live = append(live, x)
			}
		}
		t.order = live
	}
}

// take returns and forgets the entry of ckyI, if any.
func (t *mm1Table) take(ckyI uint64) *mm1Entry {
	en := t.byCky[ckyI]
	if en != nil {
		delete(t.byCky, ckyI)
	}
	return en
}

// mmCookie is our stateless Main Mode responder cookie for message 1 msg
// from remote with initiator cookie ckyI.
func (e *Engine) mmCookie(ckyI uint64, remote netip.AddrPort, msg []byte) uint64 {
	m := hmac.New(sha256.New, e.cookieKey[:])
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], ckyI)
	m.Write(b[:])
	a := remote.Addr().As16()
	m.Write(a[:])
	binary.BigEndian.PutUint16(b[:2], remote.Port())
	m.Write(b[:2])
	m.Write(msg)
	c := binary.BigEndian.Uint64(m.Sum(nil))
	if c == 0 {
		c = 1
	}
	return c
}

// underPressure reports whether so many responder SAs are half-open that
// the engine saves work per new one (IKEv2's cookie threshold).
func (e *Engine) underPressure() bool { return e.halfOpen >= e.Cfg.CookieThreshold }

// sharedDHLifetime is how long one DH key answers Aggressive Mode
// messages 1 under pressure.
const sharedDHLifetime = 5 * time.Second

// responderDH is the DH key for a new responder SA in group: a fresh one,
// or under pressure one shared for sharedDHLifetime (RFC 2409 leaves the
// responder free to reuse its exponent; the nonces still make every SA's
// keys its own).
func (e *Engine) responderDH(now time.Time, group uint16) (oakley.KeyExchange, error) {
	if !e.underPressure() {
		return oakley.NewKeyExchange(group, e.Cfg.Rand)
	}
	if s, ok := e.sharedDH[group]; ok && now.Before(s.until) {
		return s.dh, nil
	}
	dh, err := oakley.NewKeyExchange(group, e.Cfg.Rand)
	if err != nil {
		return nil, err
	}
	if e.sharedDH == nil {
		e.sharedDH = map[uint16]sharedDH{}
	}
	e.sharedDH[group] = sharedDH{dh: dh, until: now.Add(sharedDHLifetime)}
	return dh, nil
}

type sharedDH struct {
	dh    oakley.KeyExchange
	until time.Time
}

// makeRoom evicts the oldest unproven half-open responder SA when the
// half-open table is full, so that a flood cannot lock new peers out.
func (e *Engine) makeRoom() bool {
	if e.halfOpen < e.Cfg.MaxHalfOpen {
		return true
	}
	for len(e.unproven) > 0 {
		cky := e.unproven[0]
		e.unproven = e.unproven[1:]
		if sa := e.sas[cky]; sa != nil && sa.halfOpen && !sa.proven && !sa.initiator {
			e.Count.HalfOpenEvicted++
			e.destroy(sa, "half-open table full: oldest unproven SA evicted")
			return true
		}
	}
	return false
}

// fileHalfOpen files sa, a new responder SA, as half-open (making room
// for it: makeRoom); it reports false, counted, when there is none.
func (e *Engine) fileHalfOpen(sa *p1SA) bool {
	if !e.makeRoom() {
		e.Count.HalfOpenRefused++
		return false
	}
	e.sas[sa.ckyI] = sa
	sa.halfOpen = true
	e.halfOpen++
	return true
}

// noteUnproven queues sa for eviction (makeRoom). The queue holds cookies,
// not SAs, so that SAs gone meanwhile cost 8 bytes until the queue is
// compacted (at twice the half-open limit), not their memory.
func (e *Engine) noteUnproven(sa *p1SA) {
	e.unproven = append(e.unproven, sa.ckyI)
	if len(e.unproven) <= 2*e.Cfg.MaxHalfOpen {
		return
	}
	live := make([]uint64, 0, e.halfOpen) // a fresh array: the old one goes
	for _, cky := range e.unproven {
		if x := e.sas[cky]; x != nil && x.halfOpen && !x.proven && !x.initiator {
			live = append(live, cky)
		}
	}
	e.unproven = live
}

// startResponderKeys prepares an Aggressive Mode responder's keys for
// message 2. With a pre-shared key only SKEYID is made now (HASH_R needs
// nothing more); the DH shared secret and the rest wait for message 3
// (finishKeys). With signatures SKEYID needs g^xy: everything is made now.
func (e *Engine) startResponderKeys(now time.Time, sa *p1SA) error {
	group, _ := sa.chosen.First(oakley.TransformDH)
	dh, err := e.responderDH(now, group.ID)
	if err != nil {
		return err
	}
	sa.hs.dh, sa.hs.gxr, sa.hs.nr = dh, dh.PublicKey(), e.Random(nonceLen)
	if baseAuth(sa.auth) != oakley.V1AuthPSK {
		return e.computeKeys(sa)
	}
	prfT, _ := sa.chosen.First(oakley.TransformPRF)
	prf, err := oakley.NewPRF(prfT.ID)
	if err != nil {
		return err
	}
	sa.keys = &p1Keys{prf: prf, skeyid: oakley.V1SKEYIDPSK(prf, sa.psk(), sa.hs.ni, sa.hs.nr)}
	sa.keysDeferred = true
	return nil
}

// finishKeys completes keys that startResponderKeys deferred: the peer
// has answered (message 3), the DH exchange is worth doing now.
func (e *Engine) finishKeys(sa *p1SA) error {
	if !sa.keysDeferred {
		return nil
	}
	sa.keysDeferred = false
	return e.computeKeys(sa)
}

// psk is the pre-shared key sa's SKEYID is made with: the connection's,
// or a decoy's random one.
func (sa *p1SA) psk() []byte {
	if sa.decoyPSK != nil {
		return sa.decoyPSK
	}
	return sa.conn.PSK
}
