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
// installed CHILD SAs, O(n) per install.
type selectorGuard struct {
	policy.Dataplane

	mu    sync.Mutex
	owned map[uint32]guarded // by inbound SPI
	// gone is the traffic of each owner's CHILD SAs that were removed
	// (read just before), for accounting.
	gone map[string]policy.ChildCounters
}

type guarded struct {
	owner  string
	remote []netip.Prefix
}

func newSelectorGuard(dp policy.Dataplane) *selectorGuard {
	return &selectorGuard{Dataplane: dp, owned: make(map[uint32]guarded), gone: make(map[string]policy.ChildCounters)}
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
	g.owned[sa.SPIIn] = guarded{owner: sa.Owner, remote: sa.RemoteTS}
	g.mu.Unlock()
	if err := g.Dataplane.AddChildSA(sa); err != nil {
		g.forget(sa.SPIIn)
		return err
	}
	return nil
}

// MoveChildSA moves sa (its selectors, which the guard checks, stay).
func (g *selectorGuard) MoveChildSA(sa *policy.ChildSA, local, remote netip.AddrPort) error {
	return g.Dataplane.MoveChildSA(sa, local, remote)
}

// DelChildSA removes sa, keeping its traffic for its owner's accounting.
func (g *selectorGuard) DelChildSA(sa *policy.ChildSA) error {
	if c, ok := g.Dataplane.Counters(sa.SPIIn); ok {
		g.mu.Lock()
		t := g.gone[sa.Owner]
		t.InBytes, t.OutBytes = t.InBytes+c.InBytes, t.OutBytes+c.OutBytes
		t.InPackets, t.OutPackets = t.InPackets+c.InPackets, t.OutPackets+c.OutPackets
		g.gone[sa.Owner] = t
		g.mu.Unlock()
	}
	g.forget(sa.SPIIn)
	return g.Dataplane.DelChildSA(sa)
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
			t.InBytes, t.OutBytes = t.InBytes+c.InBytes, t.OutBytes+c.OutBytes
			t.InPackets, t.OutPackets = t.InPackets+c.InPackets, t.OutPackets+c.OutPackets
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
