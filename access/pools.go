package access

import (
	"errors"
	"fmt"
	"math/big"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"ikegate/policy"
)

// ErrExhausted is wrapped by Lease's error when every address of the pool
// is leased.
var ErrExhausted = errors.New("address pool exhausted")

// Lease is one leased address.
type Lease struct {
	Pool     string     `json:"pool"`
	Address  netip.Addr `json:"address"`
	Identity string     `json:"identity"`
	Since    time.Time  `json:"since"` // when the identity got the address
}

// Pools hands out addresses of the configured pools; safe for concurrent
// use.
//
// An identity keeps one address per pool and device while it holds
// leases: every Lease of an identity that has one (LeaseFor: from the same
// device) returns the same address (a client that reconnects before its
// old SA is gone, or a second SA of the same client) and counts one more
// holder; each Release drops one, and the address returns to the pool
// with the last. Another device of the identity gets an address of its
// own. Once free, an address is remembered as the identity's previous one
// (per concurrent device: first, second...) and given back to it while no
// one else has taken it.
//
// Nothing is allocated per address up front: leases live in maps, and the
// lowest free address is found by walking each range from its start,
// skipping leased addresses. A Lease costs O(L) map look-ups for L leased
// addresses in the pool (fine up to ~65k), whatever the pool's size (a /16
// or an IPv6 /64 alike). Memory is O(leases + identities seen).
//
// The ranges are used whole: policy's loader has already left out the
// network and broadcast addresses of IPv4 prefixes (/30 or shorter) given
// in the configuration.
type Pools struct {
	now   func() time.Time
	mu    sync.Mutex
	pools map[string]*addrPool
	res   Reserver // nil: this process alone hands out the addresses
}

// Reserver makes leases unique beyond this process: the nodes of a
// cluster that serve clients from the same pools reserve each address
// they hand out (in etcd). Its calls may block briefly (they are made
// with the pools' lock held, so that two clients here never race).
type Reserver interface {
	// Reserve claims addr of pool for identity; false (and a nil error)
	// when another node holds it.
	Reserve(pool string, addr netip.Addr, identity string) (bool, error)
	// Unreserve gives addr of pool up.
	Unreserve(pool string, addr netip.Addr)
}

// ElsewhereIdentity is the identity Leases shows for an address another
// node of the cluster holds.
const ElsewhereIdentity = "(another cluster node)"

// SetReserver makes every address handed out (Lease, Claim, Hold) be
// reserved with r first.
func (p *Pools) SetReserver(r Reserver) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.res = r
}

// MarkElsewhere records that another node holds addr of pool (held), or
// no longer does: Lease skips such addresses without asking the
// Reserver. An address this process leased is left alone.
func (p *Pools) MarkElsewhere(pool string, addr netip.Addr, held bool) {
	addr = addr.Unmap()
	p.mu.Lock()
	defer p.mu.Unlock()
	ap := p.pools[pool]
	if ap == nil || !ap.contains(addr) {
		return
	}
	l := ap.byAddr[addr]
	switch {
	case held && l == nil:
		ap.heldElsewhere(addr, p.now())
	case !held && l != nil && l.elsewhere:
		delete(ap.byAddr, addr)
		ap.freed(addr)
	}
}

// reserve asks the Reserver for addr; with p.mu held. An address another
// node holds is marked so (false).
func (p *Pools) reserve(ap *addrPool, addr netip.Addr, identity string) (bool, error) {
	if p.res == nil {
		return true, nil
	}
	ok, err := p.res.Reserve(ap.cfg.Name, addr, identity)
	if err != nil {
		return false, fmt.Errorf("address pool %q: reserving %s in the cluster: %w", ap.cfg.Name, addr, err)
	}
	if !ok {
		ap.heldElsewhere(addr, p.now())
	}
	return ok, nil
}

// addrPool is one pool's state, guarded by Pools.mu.
type addrPool struct {
	cfg    *policy.Pool
	ranges []policy.AddrRange // sorted, disjoint
	size   *big.Int           // number of addresses

	byAddr map[netip.Addr]*lease
	byID   map[string]*lease
	prev   map[string]netip.Addr // identity → its last released address
	// free is where lowestFree starts: every address of the ranges
	// before it is leased (invalid: start at the first). It only moves
	// forward as lowestFree finds leased addresses, and back to an
	// address that is released, so filling a pool costs O(1) per lease
	// instead of a walk over all leased addresses.
	free netip.Addr
}

type lease struct {
	Lease
	holders int    // Lease calls not yet released
	key     string // its key in byID and prev: the identity, or "identity#n" for its n-th concurrent address
	device  string // LeaseFor's device that took it
	// elsewhere: another node of the cluster holds the address (only in
	// byAddr, so that nobody here gets it).
	elsewhere bool
}

// NewPools checks the pools (unique names; at least one range each; every
// range valid, of one family per pool, and no address in two ranges of
// any pools) and returns their empty state. now is the clock of
// Lease.Since (nil: time.Now).
func NewPools(pools []*policy.Pool, now func() time.Time) (*Pools, error) {
	if now == nil {
		now = time.Now
	}
	p := &Pools{now: now, pools: make(map[string]*addrPool, len(pools))}
	type owned struct {
		pool string
		r    policy.AddrRange
	}
	var all []owned
	for i, cfg := range pools {
		if cfg == nil {
			return nil, fmt.Errorf("pool %d is nil", i)
		}
		if cfg.Name == "" {
			return nil, fmt.Errorf("pool %d has no name", i)
		}
		if _, dup := p.pools[cfg.Name]; dup {
			return nil, fmt.Errorf("duplicate pool name %q", cfg.Name)
		}
		if len(cfg.Ranges) == 0 {
			return nil, fmt.Errorf("pool %q has no addresses", cfg.Name)
		}
		ap := &addrPool{
			cfg:    cfg,
			ranges: slices.Clone(cfg.Ranges),
			byAddr: map[netip.Addr]*lease{},
			byID:   map[string]*lease{},
			prev:   map[string]netip.Addr{},
		}
		size := new(big.Int)
		for _, r := range ap.ranges {
			if err := checkRange(r); err != nil {
				return nil, fmt.Errorf("pool %q: %w", cfg.Name, err)
			}
			if r.First.Is4() != ap.ranges[0].First.Is4() {
				return nil, fmt.Errorf("pool %q mixes IPv4 and IPv6 ranges", cfg.Name)
			}
			size.Add(size, rangeSize(r))
			all = append(all, owned{cfg.Name, r})
		}
		ap.size = size
		slices.SortFunc(ap.ranges, func(a, b policy.AddrRange) int { return a.First.Compare(b.First) })
		p.pools[cfg.Name] = ap
	}
	slices.SortFunc(all, func(a, b owned) int { return a.r.First.Compare(b.r.First) })
	for i := 1; i < len(all); i++ {
		a, b := all[i-1], all[i]
		if a.r.First.Is4() == b.r.First.Is4() && !a.r.Last.Less(b.r.First) {
			return nil, fmt.Errorf("range %s of pool %q overlaps range %s of pool %q", rangeString(b.r), b.pool, rangeString(a.r), a.pool)
		}
	}
	return p, nil
}

func checkRange(r policy.AddrRange) error {
	switch {
	case !r.First.IsValid() || !r.Last.IsValid():
		return fmt.Errorf("range %s: invalid address", rangeString(r))
	case r.First.Is4() != r.Last.Is4() || r.First.Is4In6() || r.Last.Is4In6():
		return fmt.Errorf("range %s mixes IPv4 and IPv6", rangeString(r))
	case r.First.Zone() != "" || r.Last.Zone() != "":
		return fmt.Errorf("range %s: zoned addresses are not supported", rangeString(r))
	case r.Last.Less(r.First):
		return fmt.Errorf("range %s: first address above the last", rangeString(r))
	}
	return nil
}

// rangeSize is the number of addresses of r: Last - First + 1.
func rangeSize(r policy.AddrRange) *big.Int {
	first, last := new(big.Int).SetBytes(r.First.AsSlice()), new(big.Int).SetBytes(r.Last.AsSlice())
	n := last.Sub(last, first)
	return n.Add(n, big.NewInt(1))
}

func rangeString(r policy.AddrRange) string {
	if r.First == r.Last {
		return r.First.String()
	}
	return r.First.String() + "-" + r.Last.String()
}

// Lease returns the address of identity in the named pool: its current
// lease if it has one (the same address again), else its previous address
// if that is still free, else the lowest free address. It never returns
// an address leased to another identity. Each successful Lease is to be
// balanced by one Release. A full pool gives an error wrapping
// ErrExhausted that names the pool and its size.
func (p *Pools) Lease(pool, identity string) (netip.Addr, error) {
	return p.LeaseFor(pool, identity, "")
}

// LeaseFor is Lease for one device of the identity (e.g. the client's
// address and port): an identity's address is shared only by the SAs of
// one device, and another device of the same identity gets an address of
// its own (its second, third... concurrent address, each remembered for it
// like the first), so two devices of one user never share an address. An
// empty device shares, as Lease.
func (p *Pools) LeaseFor(pool, identity, device string) (netip.Addr, error) {
	if identity == "" {
		return netip.Addr{}, fmt.Errorf("address pool %q: no identity to lease an address to", pool)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	ap := p.pools[pool]
	if ap == nil {
		return netip.Addr{}, fmt.Errorf("unknown address pool %q", pool)
	}
	key := identity
	for n := 2; ; n++ {
		l := ap.byID[key]
		if l == nil {
			break
		}
		if device == "" || l.device == device {
			l.holders++
			return l.Address, nil
		}
		key = identity + "#" + strconv.Itoa(n)
	}
	addr, ok := ap.prev[key]
	if !ok || ap.byAddr[addr] != nil {
		addr, ok = ap.lowestFree()
	}
	for ok {
		won, err := p.reserve(ap, addr, identity)
		if err != nil {
			return netip.Addr{}, err
		}
		if won {
			break
		}
		addr, ok = ap.lowestFree() // another node has it: the next one
	}
	if !ok {
		return netip.Addr{}, fmt.Errorf("address pool %q: all %s addresses are leased: %w", pool, ap.size.String(), ErrExhausted)
	}
	l := &lease{Lease: Lease{Pool: pool, Address: addr, Identity: identity, Since: p.now()}, holders: 1, key: key, device: device}
	ap.byAddr[addr] = l
	ap.byID[key] = l
	delete(ap.prev, key)
	return addr, nil
}

// Hold records that identity's device holds addr of the named pool,
// as a lease made elsewhere says (another node of a cluster leased it and
// the client's SA moves here): afterwards Lease and LeaseFor see it as
// theirs, and Release gives it back. It fails when addr is not in the
// pool or is another identity's or device's.
func (p *Pools) Hold(pool, identity, device string, addr netip.Addr) error {
	addr = addr.Unmap()
	if identity == "" || !addr.IsValid() {
		return fmt.Errorf("address pool %q: hold of %v by %q: no identity or address", pool, addr, identity)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	ap := p.pools[pool]
	if ap == nil {
		return fmt.Errorf("unknown address pool %q", pool)
	}
	if !ap.contains(addr) {
		return fmt.Errorf("address pool %q does not hold %s", pool, addr)
	}
	if l := ap.byAddr[addr]; l != nil && l.elsewhere {
		delete(ap.byAddr, addr) // its holder (a failed node) is gone: we take over its client
	} else if l != nil {
		if l.Identity != identity || l.device != device {
			return fmt.Errorf("address %s (pool %q) is already leased to %q", addr, pool, l.Identity)
		}
		l.holders++
		return nil
	}
	key := identity
	for n := 2; ap.byID[key] != nil; n++ {
		key = identity + "#" + strconv.Itoa(n)
	}
	if won, err := p.reserve(ap, addr, identity); err != nil {
		return err
	} else if !won {
		return fmt.Errorf("address %s (pool %q) is held by another node of the cluster", addr, pool)
	}
	l := &lease{Lease: Lease{Pool: pool, Address: addr, Identity: identity, Since: p.now()}, holders: 1, key: key, device: device}
	ap.byAddr[addr] = l
	ap.byID[key] = l
	delete(ap.prev, key)
	return nil
}

// ExternalPool is the pool name Leases shows for addresses claimed
// outside every configured pool (a RADIUS server's Framed-IP-Address).
const ExternalPool = "(external)"

// Claim records that identity holds addr because someone else chose it (a
// RADIUS server's Framed-IP-Address): in the pool whose ranges hold addr,
// so that Lease never hands it to another identity, or else under
// ExternalPool. It returns the pool name to Release it with. Like Lease it
// counts holders; it fails when addr is another identity's, or when the
// identity already holds a different address of that pool.
func (p *Pools) Claim(identity string, addr netip.Addr) (string, error) {
	addr = addr.Unmap()
	if identity == "" || !addr.IsValid() {
		return "", fmt.Errorf("claim of %v by %q: no identity or address", addr, identity)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	ap := p.owner(addr)
	if ap == nil {
		if ap = p.pools[ExternalPool]; ap == nil {
			ap = &addrPool{cfg: &policy.Pool{Name: ExternalPool}, byAddr: map[netip.Addr]*lease{},
				byID: map[string]*lease{}, prev: map[string]netip.Addr{}}
			p.pools[ExternalPool] = ap
		}
	}
	name := ap.cfg.Name
	if l := ap.byAddr[addr]; l != nil {
		if l.Identity != identity {
			return "", fmt.Errorf("address %s (pool %q) is already leased to %q", addr, name, l.Identity)
		}
		l.holders++
		return name, nil
	}
	if l := ap.byID[identity]; l != nil {
		return "", fmt.Errorf("%q already holds %s of pool %q, not %s", identity, l.Address, name, addr)
	}
	if name != ExternalPool {
		if won, err := p.reserve(ap, addr, identity); err != nil {
			return "", err
		} else if !won {
			return "", fmt.Errorf("address %s (pool %q) is held by another node of the cluster", addr, name)
		}
	}
	l := &lease{Lease: Lease{Pool: name, Address: addr, Identity: identity, Since: p.now()}, holders: 1, key: identity}
	ap.byAddr[addr] = l
	ap.byID[identity] = l
	return name, nil
}

// contains reports whether addr is one of the pool's.
func (ap *addrPool) contains(addr netip.Addr) bool {
	return slices.ContainsFunc(ap.ranges, func(r policy.AddrRange) bool { return r.Contains(addr) })
}

// heldElsewhere records that another node of the cluster holds addr.
func (ap *addrPool) heldElsewhere(addr netip.Addr, now time.Time) {
	ap.byAddr[addr] = &lease{Lease: Lease{Pool: ap.cfg.Name, Address: addr, Identity: ElsewhereIdentity, Since: now}, elsewhere: true}
}

// owner is the configured pool whose ranges hold addr, or nil.
func (p *Pools) owner(addr netip.Addr) *addrPool {
	for _, ap := range p.pools {
		if ap.contains(addr) {
			return ap
		}
	}
	return nil
}

// lowestFree walks the ranges in order from the first address that may
// be free (ap.free), skipping leased ones, and returns the lowest free
// address.
func (ap *addrPool) lowestFree() (netip.Addr, bool) {
	for _, r := range ap.ranges {
		if ap.free.IsValid() && r.Last.Less(ap.free) {
			continue // all leased
		}
		a := r.First
		if ap.free.IsValid() && r.First.Less(ap.free) {
			a = ap.free
		}
		for ; ; a = a.Next() {
			if ap.byAddr[a] == nil {
				ap.free = a
				return a, true
			}
			if a == r.Last {
				break
			}
		}
	}
	return netip.Addr{}, false
}

// freed notes that addr is free again (for lowestFree).
func (ap *addrPool) freed(addr netip.Addr) {
	if ap.free.IsValid() && addr.Less(ap.free) {
		ap.free = addr
	}
}

// Release gives back one Lease of addr by identity; with the last, the
// address is free again and remembered as the identity's previous one. It
// does nothing when addr is not leased to identity in that pool.
func (p *Pools) Release(pool, identity string, addr netip.Addr) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ap := p.pools[pool]
	if ap == nil {
		return
	}
	l := ap.byAddr[addr.Unmap()]
	if l == nil || l.Identity != identity {
		return
	}
	if l.holders--; l.holders > 0 {
		return
	}
	delete(ap.byAddr, l.Address)
	delete(ap.byID, l.key)
	ap.prev[l.key] = l.Address
	ap.freed(l.Address)
	if p.res != nil {
		p.res.Unreserve(pool, l.Address)
	}
}

// Leases returns every current lease, sorted by pool, then address.
func (p *Pools) Leases() []Lease {
	p.mu.Lock()
	var out []Lease
	for _, ap := range p.pools {
		for _, l := range ap.byAddr {
			out = append(out, l.Lease)
		}
	}
	p.mu.Unlock()
	slices.SortFunc(out, func(a, b Lease) int {
		if c := strings.Compare(a.Pool, b.Pool); c != 0 {
			return c
		}
		return a.Address.Compare(b.Address)
	})
	return out
}

// PoolUsage is one pool's size and how many of its addresses are leased.
type PoolUsage struct {
	Name   string
	Size   float64 // addresses in the pool (an IPv6 /64 is 2^64, rounded)
	Leased int
}

// Usage returns every pool's size and leased count, sorted by name.
func (p *Pools) Usage() []PoolUsage {
	p.mu.Lock()
	out := make([]PoolUsage, 0, len(p.pools))
	for name, ap := range p.pools {
		size, _ := new(big.Float).SetInt(ap.size).Float64()
		out = append(out, PoolUsage{Name: name, Size: size, Leased: len(ap.byAddr)})
	}
	p.mu.Unlock()
	slices.SortFunc(out, func(a, b PoolUsage) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Pool returns the named pool's configuration (its attributes: DNS,
// split routes, banner, ...), or nil if there is none. It is shared: do
// not modify it.
func (p *Pools) Pool(name string) *policy.Pool {
	if ap := p.pools[name]; ap != nil {
		return ap.cfg
	}
	return nil
}
