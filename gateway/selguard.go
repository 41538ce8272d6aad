package gateway

import (
	"fmt"
	"net/netip"
	"sync"

	"ikegate/policy"
)

// selectorGuard stands between the engines' installs and the dataplane
// (engine.Execute's installer) and refuses a CHILD SA whose remote
// selectors overlap those of an installed CHILD SA of another owner
// (policy.ErrSelectorConflict): two peers that both claim 10.1.0.0/24, or
// a client that claims another's virtual IP, cannot take each other's
// traffic. One guard serves every shard. The check is a scan of the
// installed CHILD SAs, O(n) per install. MoveChildSA goes straight to
// the dataplane: a move keeps the selectors.
type selectorGuard struct {
	policy.Dataplane

	mu    sync.Mutex
	owned map[uint32]guarded // by inbound SPI
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
		gone: make(map[string]policy.ChildCounters), goneConn: make(map[string]policy.ChildCounters)}
}

// AddChildSA installs sa unless its remote selectors overlap another
// owner's.
func (g *selectorGuard) AddChildSA(sa *policy.ChildSA) error {
	g.mu.Lock()
	for spi, o := range g.owned {
		if o.owner == sa.Owner {
			continue
		}
		if p, q, ok := overlap(sa.RemoteTS, o.remote); ok {
			g.mu.Unlock()
			return fmt.Errorf("%w: %s of %s overlaps %s of %s (CHILD SA %08x)", policy.ErrSelectorConflict,
				p, sa.Owner, q, o.owner, spi)
		}
	}
	g.owned[sa.SPIIn] = guarded{owner: sa.Owner, conn: sa.ConnName, remote: sa.RemoteTS}
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
	delete(g.owned, sa.SPIIn)
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
	delete(g.owned, spi)
	g.mu.Unlock()
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
