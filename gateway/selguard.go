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
// traffic. One guard serves every shard. CHILD SAs whose remote
// selectors are single addresses (remote-access clients' virtual IPs) are
// indexed by address, so installing one checks the SAs of its addresses
// and those with wider selectors, not every SA; installing one with a
// wider selector (site to site) still scans them all. MoveChildSA goes
// straight to the dataplane: a move keeps the selectors.
type selectorGuard struct {
	policy.Dataplane

	mu    sync.Mutex
	owned map[uint32]guarded // by inbound SPI
	// hosts indexes the owned SAs whose remote selectors are all single
	// addresses, by each address; wide holds the others.
	hosts map[netip.Addr][]uint32
	wide  map[uint32]struct{}
	// gone is the traffic of each owner's CHILD SAs that were removed
	// (read just before), for accounting.
	gone map[string]policy.ChildCounters
	// goneConn is the same by connection name, for the metrics: never
	// reset, so a connection's traffic only grows (connTraffic).
	goneConn map[string]policy.ChildCounters
}

type guarded struct {
	owner  string
	conn   string
	remote []netip.Prefix
	// seen is what connTraffic last read of the SA: a removal that can no
	// longer read the counters (the kernel expired the SA) counts this.
	seen policy.ChildCounters
}

func newSelectorGuard(dp policy.Dataplane) *selectorGuard {
	return &selectorGuard{Dataplane: dp, owned: make(map[uint32]guarded),
		hosts: make(map[netip.Addr][]uint32), wide: make(map[uint32]struct{}),
		gone: make(map[string]policy.ChildCounters), goneConn: make(map[string]policy.ChildCounters)}
}

// AddChildSA installs sa unless its remote selectors overlap another
// owner's.
func (g *selectorGuard) AddChildSA(sa *policy.ChildSA) error {
	g.mu.Lock()
	if err := g.conflict(sa); err != nil {
		g.mu.Unlock()
		return err
	}
	g.own(sa.SPIIn, guarded{owner: sa.Owner, conn: sa.ConnName, remote: sa.RemoteTS})
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
		c, conn = maxTraffic(c, o.seen), o.conn
		ok = ok || c.InBytes|c.OutBytes|c.InPackets|c.OutPackets != 0
	}
	if ok {
		g.gone[sa.Owner] = addTraffic(g.gone[sa.Owner], c)
		g.goneConn[conn] = addTraffic(g.goneConn[conn], c)
	}
	g.disown(sa.SPIIn)
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
		o.seen = maxTraffic(read[spi], o.seen) // installed since: not read, so far nothing
		g.owned[spi] = o
		out[o.conn] = addTraffic(out[o.conn], o.seen)
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
	var live []uint32
	for spi, o := range g.owned {
		if o.owner == owner {
			live = append(live, spi)
		}
	}
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
	g.disown(spi)
	g.mu.Unlock()
}

// conflict returns the error of sa's remote selectors overlapping those
// of an owned SA of another owner, nil if none do. Called with mu held.
func (g *selectorGuard) conflict(sa *policy.ChildSA) error {
	check := func(spi uint32) error {
		o := g.owned[spi]
		if o.owner == sa.Owner {
			return nil
		}
		if p, q, ok := overlap(sa.RemoteTS, o.remote); ok {
			return fmt.Errorf("%w: %s of %s overlaps %s of %s (CHILD SA %08x)", policy.ErrSelectorConflict,
				p, sa.Owner, q, o.owner, spi)
		}
		return nil
	}
	for spi := range g.wide {
		if err := check(spi); err != nil {
			return err
		}
	}
	if hostsOnly(sa.RemoteTS) {
		for _, p := range sa.RemoteTS {
			for _, spi := range g.hosts[p.Addr()] {
				if err := check(spi); err != nil {
					return err
				}
			}
		}
		return nil
	}
	for _, spis := range g.hosts {
		for _, spi := range spis {
			if err := check(spi); err != nil {
				return err
			}
		}
	}
	return nil
}

// own records o as the SA spi, indexed. Called with mu held.
func (g *selectorGuard) own(spi uint32, o guarded) {
	g.disown(spi) // an SPI installed twice is indexed once
	g.owned[spi] = o
	if !hostsOnly(o.remote) {
		g.wide[spi] = struct{}{}
		return
	}
	for _, p := range o.remote {
		if a := p.Addr(); !slices.Contains(g.hosts[a], spi) {
			g.hosts[a] = append(g.hosts[a], spi)
		}
	}
}

// disown forgets the SA spi and its index entries. Called with mu held.
func (g *selectorGuard) disown(spi uint32) {
	o, ok := g.owned[spi]
	if !ok {
		return
	}
	delete(g.owned, spi)
	delete(g.wide, spi)
	for _, p := range o.remote {
		a := p.Addr()
		spis := slices.DeleteFunc(g.hosts[a], func(s uint32) bool { return s == spi })
		if len(spis) == 0 {
			delete(g.hosts, a)
		} else {
			g.hosts[a] = spis
		}
	}
}

// hostsOnly reports whether every prefix of ps is a single address (and
// there is one at all).
func hostsOnly(ps []netip.Prefix) bool {
	for _, p := range ps {
		if !p.IsSingleIP() {
			return false
		}
	}
	return len(ps) > 0
}

// overlap returns the first pair of prefixes of a and b that overlap.
func overlap(a, b []netip.Prefix) (netip.Prefix, netip.Prefix, bool) {
	for _, p := range a {
		for _, q := range b {
			if p.Overlaps(q) {
				return p, q, true
			}
		}
	}
	return netip.Prefix{}, netip.Prefix{}, false
}

// RetireOutbound passes a retirement to the dataplane when it has them
// (policy.OutboundRetirer).
func (g *selectorGuard) RetireOutbound(sa *policy.ChildSA) error {
	if r, ok := g.Dataplane.(policy.OutboundRetirer); ok {
		return r.RetireOutbound(sa)
	}
	return nil
}
