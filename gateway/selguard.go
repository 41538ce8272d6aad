package gateway

import (
	"fmt"
	"net/netip"
	"slices"
	"sync"

	"ikegate/policy"
)

// selectorGuard stands between the engines' installs and the dataplane
// (engine.Execute's installer) and refuses a CHILD SA whose remote
// selectors overlap those of an installed CHILD SA of another owner
// (policy.ErrSelectorConflict): two peers that both claim 10.1.0.0/24, or
// a client that claims another's virtual IP, cannot take each other's
// traffic. One guard serves every shard. The check looks the selectors
// up in an index by prefix (selIndex), so it costs about as much with
// 100,000 installed CHILD SAs as with ten. MoveChildSA goes straight to
// the dataplane: a move keeps the selectors.
type selectorGuard struct {
	policy.Dataplane

	mu sync.Mutex
	// owned are the installed CHILD SAs by inbound SPI: the engine's own
	// record as installed (policy.Installer.AddChildSA lets us keep it;
	// its owner, connection and selectors never change), not a copy.
	owned map[uint32]*policy.ChildSA
	index selIndex // the remote selectors of owned
	// seen is what connTraffic last read of each CHILD SA that had
	// traffic: a removal that can no longer read the counters (the kernel
	// expired the SA) counts this. SAs without traffic have no entry.
	seen map[uint32]policy.ChildCounters
	// byOwner are the inbound SPIs of each owner's CHILD SAs, for its
	// accounting (traffic).
	byOwner map[string][]uint32
	// gone is the traffic of each owner's CHILD SAs that were removed
	// (read just before), for accounting.
	gone map[string]policy.ChildCounters
	// goneConn is the same by connection name, for the metrics: never
	// reset, so a connection's traffic only grows (connTraffic).
	goneConn map[string]policy.ChildCounters
}

func newSelectorGuard(dp policy.Dataplane) *selectorGuard {
	return &selectorGuard{Dataplane: dp, owned: make(map[uint32]*policy.ChildSA),
		seen: make(map[uint32]policy.ChildCounters), byOwner: make(map[string][]uint32),
		gone: make(map[string]policy.ChildCounters), goneConn: make(map[string]policy.ChildCounters)}
}

// add files an installed CHILD SA (under g.mu).
func (g *selectorGuard) add(sa *policy.ChildSA) {
	spi := sa.SPIIn
	g.remove(spi) // a re-used SPI replaces what it had
	g.owned[spi] = sa
	for _, p := range sa.RemoteTS {
		g.index.add(p, sa)
	}
	g.byOwner[sa.Owner] = append(g.byOwner[sa.Owner], spi)
}

// remove forgets the CHILD SA with inbound SPI spi (under g.mu).
func (g *selectorGuard) remove(spi uint32) {
	o, ok := g.owned[spi]
	if !ok {
		return
	}
	delete(g.owned, spi)
	delete(g.seen, spi)
	for _, p := range o.RemoteTS {
		g.index.remove(p, spi)
	}
	spis := g.byOwner[o.Owner]
	if i := slices.Index(spis, spi); i >= 0 {
		spis = slices.Delete(spis, i, i+1)
	}
	if len(spis) == 0 {
		delete(g.byOwner, o.Owner)
	} else {
		g.byOwner[o.Owner] = spis
	}
}

// AddChildSA installs sa unless its remote selectors overlap another
// owner's.
func (g *selectorGuard) AddChildSA(sa *policy.ChildSA) error {
	g.mu.Lock()
	for _, p := range sa.RemoteTS {
		if q, r, ok := g.index.conflict(p, sa.Owner); ok {
			g.mu.Unlock()
			return fmt.Errorf("%w: %s of %s overlaps %s of %s (CHILD SA %08x)", policy.ErrSelectorConflict,
				p, sa.Owner, q, r.Owner, r.SPIIn)
		}
	}
	g.add(sa)
	g.mu.Unlock()
	if err := g.Dataplane.AddChildSA(sa); err != nil {
		g.forget(sa.SPIIn)
		return err
	}
	return nil
}

// DelChildSA removes sa, keeping its traffic for its owner's accounting
// and its connection's metrics. The counters are read under the lock, so
// that connTraffic never sees the SA's traffic both live and removed.
func (g *selectorGuard) DelChildSA(sa *policy.ChildSA) error {
	g.mu.Lock()
	c, ok := g.Dataplane.Counters(sa.SPIIn)
	conn := sa.ConnName
	if o, known := g.owned[sa.SPIIn]; known {
		c, conn = maxTraffic(c, g.seen[sa.SPIIn]), o.ConnName
		ok = ok || c.InBytes|c.OutBytes|c.InPackets|c.OutPackets != 0
	}
	if ok {
		g.gone[sa.Owner] = addTraffic(g.gone[sa.Owner], c)
		g.goneConn[conn] = addTraffic(g.goneConn[conn], c)
	}
	g.remove(sa.SPIIn)
	g.mu.Unlock()
	return g.Dataplane.DelChildSA(sa)
}

// connTraffic returns the traffic of each connection's CHILD SAs,
// installed and removed, as the metrics report it. Each connection's
// totals only grow from one call to the next (a rekey moves an SA's
// traffic from installed to removed): the counters are read outside the
// lock, and an SA removed meanwhile is counted as removed, with counters
// read after these.
func (g *selectorGuard) connTraffic() map[string]policy.ChildCounters {
	g.mu.Lock()
	spis := make([]uint32, 0, len(g.owned))
	for spi := range g.owned {
		spis = append(spis, spi)
	}
	g.mu.Unlock()
	read := make(map[uint32]policy.ChildCounters, len(spis))
	for _, spi := range spis {
		if c, ok := g.Dataplane.Counters(spi); ok {
			read[spi] = c
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make(map[string]policy.ChildCounters, len(g.goneConn))
	for conn, c := range g.goneConn {
		out[conn] = c
	}
	for spi, o := range g.owned {
		seen := maxTraffic(read[spi], g.seen[spi]) // installed since: not read, so far nothing
		if seen != (policy.ChildCounters{}) {
			g.seen[spi] = seen
		}
		out[o.ConnName] = addTraffic(out[o.ConnName], seen)
	}
	return out
}

func addTraffic(t, c policy.ChildCounters) policy.ChildCounters {
	t.InBytes, t.OutBytes = t.InBytes+c.InBytes, t.OutBytes+c.OutBytes
	t.InPackets, t.OutPackets = t.InPackets+c.InPackets, t.OutPackets+c.OutPackets
	return t
}

// maxTraffic is the larger of each traffic counter of a and b (the rest
// from a).
func maxTraffic(a, b policy.ChildCounters) policy.ChildCounters {
	a.InBytes, a.OutBytes = max(a.InBytes, b.InBytes), max(a.OutBytes, b.OutBytes)
	a.InPackets, a.OutPackets = max(a.InPackets, b.InPackets), max(a.OutPackets, b.OutPackets)
	return a
}

// traffic is owner's traffic: its removed CHILD SAs' and its installed
// ones' so far; the removed ones' total is forgotten (the session ends).
func (g *selectorGuard) traffic(owner string) policy.ChildCounters {
	g.mu.Lock()
	t := g.gone[owner]
	delete(g.gone, owner)
	live := slices.Clone(g.byOwner[owner])
	g.mu.Unlock()
	for _, spi := range live {
		if c, ok := g.Dataplane.Counters(spi); ok {
			t = addTraffic(t, c)
		}
	}
	return t
}

func (g *selectorGuard) forget(spi uint32) {
	g.mu.Lock()
	g.remove(spi)
	g.mu.Unlock()
}

// selRef is one CHILD SA's claim on a prefix: the installed CHILD SA
// (its inbound SPI and owner).
type selRef = *policy.ChildSA

// selIndex holds prefixes with the CHILD SAs that claim them, by family
// and prefix length, and finds the claims that overlap a prefix. Two
// prefixes overlap when one contains the other, so a prefix p of length
// b meets the claims on p masked to each length up to b (one map lookup
// per length in use) and those on the longer prefixes inside p: for a
// length l > b in use, the 2^(l-b) prefixes of length l inside p are
// looked up when they are fewer than the claims of that length (a /24
// among 100,000 /32 virtual IPs: 256 lookups), else those claims are
// scanned. Remote-access clients' /32 (/128) virtual IPs and a few site
// networks cost a few lookups per install. The zero value is empty.
type selIndex struct {
	byLen [2][]map[selKey][]selRef // [IPv4, IPv6][prefix length]
}

// selKey is a masked prefix's address in 16 bytes (IPv4 as IPv4-mapped
// IPv6): family and length are where the map sits in byLen, and a prefix
// has no zone. A map entry is 16 bytes smaller than with netip.Prefix
// keys, and there is one per remote selector installed.
type selKey [16]byte

// keyOf is the key of the masked prefix p.
func keyOf(p netip.Prefix) selKey { return p.Addr().As16() }

// prefix is the prefix of key k of family f (famIndex) and length l.
func (k selKey) prefix(f, l int) netip.Prefix {
	a := netip.AddrFrom16(k)
	if f == 0 {
		a = a.Unmap()
	}
	return netip.PrefixFrom(a, l)
}

// famIndex is 0 for IPv4 prefixes, 1 for IPv6.
func famIndex(p netip.Prefix) int {
	if p.Addr().Is4() {
		return 0
	}
	return 1
}

// add files ref's claim on p.
func (x *selIndex) add(p netip.Prefix, ref selRef) {
	p = p.Masked()
	if !p.IsValid() {
		return
	}
	f := famIndex(p)
	if x.byLen[f] == nil {
		x.byLen[f] = make([]map[selKey][]selRef, p.Addr().BitLen()+1)
	}
	m := x.byLen[f][p.Bits()]
	if m == nil {
		m = make(map[selKey][]selRef)
		x.byLen[f][p.Bits()] = m
	}
	k := keyOf(p)
	m[k] = append(m[k], ref)
}

// remove drops the claim of the CHILD SA with inbound SPI spi on p.
func (x *selIndex) remove(p netip.Prefix, spi uint32) {
	p = p.Masked()
	if !p.IsValid() || x.byLen[famIndex(p)] == nil {
		return
	}
	m := x.byLen[famIndex(p)][p.Bits()]
	k := keyOf(p)
	refs := m[k]
	for i, r := range refs {
		if r.SPIIn == spi {
			refs = append(refs[:i], refs[i+1:]...)
			break
		}
	}
	if len(refs) == 0 {
		delete(m, k)
	} else {
		m[k] = refs
	}
}

// conflict returns a claim of an owner other than owner on a prefix q
// that overlaps p.
func (x *selIndex) conflict(p netip.Prefix, owner string) (netip.Prefix, selRef, bool) {
	p = p.Masked()
	if !p.IsValid() {
		return netip.Prefix{}, nil, false
	}
	f := famIndex(p)
	lens := x.byLen[f]
	foreign := func(q netip.Prefix, refs []selRef) (netip.Prefix, selRef, bool) {
		for _, r := range refs {
			if r.Owner != owner {
				return q, r, true
			}
		}
		return netip.Prefix{}, nil, false
	}
	// p itself and the prefixes that contain it.
	for l := 0; l <= p.Bits() && l < len(lens); l++ {
		if len(lens[l]) == 0 {
			continue
		}
		q := netip.PrefixFrom(p.Addr(), l).Masked()
		if q, r, ok := foreign(q, lens[l][keyOf(q)]); ok {
			return q, r, true
		}
	}
	// The longer prefixes inside p.
	for l := p.Bits() + 1; l < len(lens); l++ {
		m := lens[l]
		if len(m) == 0 {
			continue
		}
		if span := l - p.Bits(); span < 31 && 1<<span <= len(m) {
			for i := range uint32(1) << span {
				q := subPrefix(p, l, i)
				if q, r, ok := foreign(q, m[keyOf(q)]); ok {
					return q, r, true
				}
			}
			continue
		}
		for k, refs := range m {
			if q := k.prefix(f, l); p.Contains(q.Addr()) {
				if q, r, ok := foreign(q, refs); ok {
					return q, r, true
				}
			}
		}
	}
	return netip.Prefix{}, nil, false
}

// subPrefix is the i-th prefix of length l inside the masked prefix p
// (l - p.Bits() < 32 bits of i are used).
func subPrefix(p netip.Prefix, l int, i uint32) netip.Prefix {
	b := p.Addr().AsSlice()
	span := l - p.Bits()
	for k := range span {
		if i>>(span-1-k)&1 != 0 {
			bit := p.Bits() + k
			b[bit/8] |= 0x80 >> (bit % 8)
		}
	}
	a, _ := netip.AddrFromSlice(b)
	return netip.PrefixFrom(a, l)
}

// RetireOutbound passes a retirement to the dataplane when it has them
// (policy.OutboundRetirer).
func (g *selectorGuard) RetireOutbound(sa *policy.ChildSA) error {
	if r, ok := g.Dataplane.(policy.OutboundRetirer); ok {
		return r.RetireOutbound(sa)
	}
	return nil
}
