package gateway

import (
	"errors"
	"fmt"
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

// TestSelIndexConflict checks the prefix index against the definition
// (two prefixes overlap when one contains the other) on a mix of lengths
// and families: for every probe, a conflict is found exactly when some
// claim of another owner overlaps it.
func TestSelIndexConflict(t *testing.T) {
	claims := []struct {
		prefix, owner string
	}{
		{"10.1.0.0/24", "a"},
		{"10.1.0.7/32", "a"},
		{"10.2.0.0/16", "b"},
		{"10.2.3.4/32", "c"},
		{"10.3.0.0/30", "c"},
		{"192.0.2.0/25", "d"},
		{"2001:db8::/48", "a"},
		{"2001:db8:1::5/128", "b"},
	}
	var x selIndex
	for i, c := range claims {
		x.add(netip.MustParsePrefix(c.prefix), &policy.ChildSA{SPIIn: uint32(i + 1), Owner: c.owner})
	}
	for _, tc := range []struct {
		probe, owner string
	}{
		{"10.1.0.0/24", "a"}, {"10.1.0.0/24", "b"}, {"10.1.0.9/32", "b"}, {"10.0.0.0/8", "a"},
		{"10.0.0.0/8", "b"}, {"10.2.3.0/24", "b"}, {"10.2.3.0/24", "c"}, {"10.3.0.2/31", "c"},
		{"10.3.0.0/29", "b"}, {"0.0.0.0/0", "d"}, {"192.0.2.128/25", "a"}, {"192.0.2.0/24", "d"},
		{"2001:db8::/32", "a"}, {"2001:db8::/32", "b"}, {"2001:db8:0:1::/64", "b"}, {"::/0", "c"},
		{"172.16.0.0/12", "a"}, {"2001:db9::/32", "a"},
	} {
		p := netip.MustParsePrefix(tc.probe)
		want := false
		for _, c := range claims {
			if c.owner != tc.owner && netip.MustParsePrefix(c.prefix).Overlaps(p) {
				want = true
			}
		}
		q, r, got := x.conflict(p, tc.owner)
		owner := ""
		if r != nil {
			owner = r.Owner
		}
		if got != want {
			t.Errorf("%s of %s: conflict %v (%s of %s), want %v", tc.probe, tc.owner, got, q, owner, want)
		}
		if got && (owner == tc.owner || !q.Overlaps(p)) {
			t.Errorf("%s of %s: reported %s of %s", tc.probe, tc.owner, q, owner)
		}
	}
	// Removing every claim leaves nothing to conflict with.
	for i, c := range claims {
		x.remove(netip.MustParsePrefix(c.prefix), uint32(i+1))
	}
	if q, r, ok := x.conflict(netip.MustParsePrefix("0.0.0.0/0"), "z"); ok {
		t.Errorf("after removal: conflict with %s of %s", q, r.Owner)
	}
}

// BenchmarkSelectorGuardInstall installs CHILD SAs of remote-access
// clients, a /32 virtual IP each, on top of 100,000 installed ones, and
// one site network among them: the cost per install must not grow with
// the number installed (it was a scan of all of them).
//
//	go test -run=NONE -bench=SelectorGuardInstall ./gateway/
func BenchmarkSelectorGuardInstall(b *testing.B) {
	kb, err := kernel.New("none", nil)
	if err != nil {
		b.Fatal(err)
	}
	defer kb.Close()
	g := newSelectorGuard(kb)
	child := func(n uint32, remote netip.Prefix) *policy.ChildSA {
		return &policy.ChildSA{Owner: fmt.Sprintf("client-%d", n), SPIIn: 0x1000 + n, SPIOut: 0x9000000 + n,
			Local: netip.MustParseAddr("192.0.2.1"), Remote: netip.MustParseAddr("192.0.2.2"),
			RemoteTS: []netip.Prefix{remote}, LocalTS: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}}
	}
	vip := func(n uint32) netip.Prefix {
		return netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(64 + n>>16), byte(n >> 8), byte(n)}), 32)
	}
	const held = 100_000
	for n := range uint32(held) {
		if err := g.AddChildSA(child(n, vip(n))); err != nil {
			b.Fatal(err)
		}
	}
	if err := g.AddChildSA(child(held, netip.MustParsePrefix("172.16.0.0/24"))); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := range b.N {
		n := uint32(held + 1 + i%1000)
		sa := child(n, vip(n))
		if err := g.AddChildSA(sa); err != nil {
			b.Fatal(err)
		}
		g.DelChildSA(sa)
	}
}
