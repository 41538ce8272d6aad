package gateway

import (
	"errors"
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
