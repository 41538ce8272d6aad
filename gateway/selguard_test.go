package gateway

import (
	"errors"
	"math/rand/v2"
	"net/netip"
	"testing"

	"ikegate/kernel"
	"ikegate/policy"
)

// TestSelectorGuard: a CHILD SA whose remote selectors overlap another
// owner's is refused; the same owner (rekey, reconnect) may overlap, and a
// deleted SA frees its selectors.
func TestSelectorGuard(t *testing.T) {
	kb, err := kernel.New("none", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer kb.Close()
	g := newSelectorGuard(kb)
	child := func(owner, remote string, spi uint32) *policy.ChildSA {
		return &policy.ChildSA{Owner: owner, SPIIn: spi, SPIOut: spi + 1, Local: netip.MustParseAddr("192.0.2.1"),
			Remote: netip.MustParseAddr("192.0.2.2"), RemoteTS: []netip.Prefix{netip.MustParsePrefix(remote)},
			LocalTS: []netip.Prefix{netip.MustParsePrefix("10.2.0.0/24")}}
	}
	first := child("peer-a", "10.1.0.0/24", 0x100)
	for _, tc := range []struct {
		name string
		sa   *policy.ChildSA
		want error
	}{
		{"first", first, nil},
		{"other peer, same network", child("peer-b", "10.1.0.0/24", 0x200), policy.ErrSelectorConflict},
		{"other peer, inside it", child("peer-b", "10.1.0.7/32", 0x300), policy.ErrSelectorConflict},
		{"other peer, other network", child("peer-b", "10.1.1.0/24", 0x400), nil},
		{"same peer, rekey", child("peer-a", "10.1.0.0/24", 0x500), nil},
	} {
		err := g.AddChildSA(tc.sa)
		if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	g.DelChildSA(first)
	g.DelChildSA(child("peer-a", "10.1.0.0/24", 0x500))
	if err := g.AddChildSA(child("peer-b", "10.1.0.0/24", 0x600)); err != nil {
		t.Errorf("after peer-a left: %v", err)
	}
}

// TestSelectorGuardIndex: the guard's address index decides as a scan of
// every owned SA would, through random installs and removals of
// remote-access (single address) and site-to-site (wider) selectors of a
// few owners, both families.
func TestSelectorGuardIndex(t *testing.T) {
	kb, err := kernel.New("none", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer kb.Close()
	g := newSelectorGuard(kb)
	prefixes := []string{"10.9.0.1/32", "10.9.0.2/32", "10.9.0.3/32", "10.9.0.0/30", "10.9.0.0/24", "10.8.0.0/16",
		"2001:db8::1/128", "2001:db8::/64", "::ffff:10.9.0.1/128"}
	owners := []string{"a", "b", "c"}
	rng := rand.New(rand.NewPCG(1, 2))
	model := map[uint32]*policy.ChildSA{}
	for i := range 3000 {
		spi := uint32(rng.IntN(40) + 1)
		if old, ok := model[spi]; ok && rng.IntN(2) == 0 {
			if err := g.DelChildSA(old); err != nil {
				t.Fatal(err)
			}
			delete(model, spi)
			continue
		}
		if _, ok := model[spi]; ok {
			continue
		}
		var ts []netip.Prefix
		for range rng.IntN(2) + 1 {
			ts = append(ts, netip.MustParsePrefix(prefixes[rng.IntN(len(prefixes))]))
		}
		sa := &policy.ChildSA{Owner: owners[rng.IntN(len(owners))], SPIIn: spi, SPIOut: spi, RemoteTS: ts,
			Local: netip.MustParseAddr("192.0.2.1"), Remote: netip.MustParseAddr("192.0.2.2"),
			LocalTS: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}}
		want := false // what a scan of every owned SA says
		for _, o := range model {
			if _, _, ok := overlap(ts, o.RemoteTS); ok && o.Owner != sa.Owner {
				want = true
			}
		}
		err := g.AddChildSA(sa)
		if got := errors.Is(err, policy.ErrSelectorConflict); got != want || (err != nil && !got) {
			t.Fatalf("step %d: %s %v: got %v, want conflict %v", i, sa.Owner, ts, err, want)
		}
		if err == nil {
			model[spi] = sa
		}
	}
}
