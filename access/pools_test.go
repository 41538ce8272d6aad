package access

import (
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"ikegate/policy"
)

// testPools loads pools from [[pool]] tables through the policy loader
// (which drops the network and broadcast addresses of IPv4 prefixes).
func testPools(t *testing.T, pools string) *Pools {
	t.Helper()
	cfg, err := policy.Parse("pools.toml", []byte("[gateway]\nlisten = [\"192.0.2.1\"]\n"+pools))
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPools(cfg.Pools, nil)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func poolTOML(name string, addresses ...string) string {
	return fmt.Sprintf("[[pool]]\nname = %q\naddresses = [%s]\n", name, quoteList(addresses))
}

func quoteList(s []string) string {
	q := make([]string, len(s))
	for i, v := range s {
		q[i] = fmt.Sprintf("%q", v)
	}
	return strings.Join(q, ", ")
}

func mustLease(t *testing.T, p *Pools, pool, id string) netip.Addr {
	t.Helper()
	a, err := p.Lease(pool, id)
	if err != nil {
		t.Fatalf("Lease(%q, %q): %v", pool, id, err)
	}
	return a
}

// TestLeaseOrder: which addresses a pool hands out, in order, to distinct
// identities, and when it is exhausted.
func TestLeaseOrder(t *testing.T) {
	for _, c := range []struct {
		name      string
		addresses []string
		want      []string // in order; then the pool is exhausted unless open
		open      bool
	}{
		{"ipv4 /30 skips network and broadcast", []string{"10.9.0.0/30"}, []string{"10.9.0.1", "10.9.0.2"}, false},
		{"ipv4 /24 starts at .1", []string{"10.9.0.0/24"}, []string{"10.9.0.1", "10.9.0.2", "10.9.0.3"}, true},
		{"ipv4 /31 is used whole", []string{"10.9.0.0/31"}, []string{"10.9.0.0", "10.9.0.1"}, false},
		{"ipv4 /32", []string{"10.9.0.7/32"}, []string{"10.9.0.7"}, false},
		{"single address", []string{"10.9.0.7"}, []string{"10.9.0.7"}, false},
		{"range is used whole", []string{"10.9.0.0-10.9.0.3"}, []string{"10.9.0.0", "10.9.0.1", "10.9.0.2", "10.9.0.3"}, false},
		{"range across a byte boundary", []string{"10.9.0.254-10.9.1.1"}, []string{"10.9.0.254", "10.9.0.255", "10.9.1.0", "10.9.1.1"}, false},
		{"several ranges, lowest first", []string{"10.9.0.20-10.9.0.21", "10.9.0.5", "10.9.0.10/31"},
			[]string{"10.9.0.5", "10.9.0.10", "10.9.0.11", "10.9.0.20", "10.9.0.21"}, false},
		{"ipv6 /64 is used whole", []string{"2001:db8:9::/64"}, []string{"2001:db8:9::", "2001:db8:9::1", "2001:db8:9::2"}, true},
		{"ipv6 range", []string{"2001:db8:9::ffff-2001:db8:9::1:1"}, []string{"2001:db8:9::ffff", "2001:db8:9::1:0", "2001:db8:9::1:1"}, false},
		{"ipv6 /127", []string{"2001:db8:9::/127"}, []string{"2001:db8:9::", "2001:db8:9::1"}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := testPools(t, poolTOML("p", c.addresses...))
			for i, w := range c.want {
				if got := mustLease(t, p, "p", fmt.Sprintf("user%d", i)); got.String() != w {
					t.Fatalf("lease %d = %s, want %s", i, got, w)
				}
			}
			_, err := p.Lease("p", "one-more")
			if c.open {
				if err != nil {
					t.Fatalf("lease %d: %v", len(c.want), err)
				}
				return
			}
			if !errors.Is(err, ErrExhausted) {
				t.Fatalf("lease %d: %v, want ErrExhausted", len(c.want), err)
			}
			want := fmt.Sprintf("address pool \"p\": all %d addresses are leased: address pool exhausted", len(c.want))
			if err.Error() != want {
				t.Errorf("error %q, want %q", err, want)
			}
		})
	}
}

// TestLeaseSticky: a reconnecting identity gets its address back, a
// second SA of an identity shares its address, and no address is handed
// to two identities.
func TestLeaseSticky(t *testing.T) {
	p := testPools(t, poolTOML("rw", "10.9.0.0/29")) // .1 to .6
	a := mustLease(t, p, "rw", "alice")
	b := mustLease(t, p, "rw", "bob")
	if a.String() != "10.9.0.1" || b.String() != "10.9.0.2" {
		t.Fatalf("alice %s, bob %s", a, b)
	}

	steps := []struct {
		name   string
		do     func() netip.Addr
		want   string
		leases string // Leases() afterwards, as identity=address
	}{
		{"second SA of alice: the same address", func() netip.Addr { return mustLease(t, p, "rw", "alice") }, "10.9.0.1",
			"alice=10.9.0.1 bob=10.9.0.2"},
		{"first release: still held by the other SA", func() netip.Addr { p.Release("rw", "alice", a); return a }, "10.9.0.1",
			"alice=10.9.0.1 bob=10.9.0.2"},
		{"carol cannot get alice's address", func() netip.Addr { return mustLease(t, p, "rw", "carol") }, "10.9.0.3",
			"alice=10.9.0.1 bob=10.9.0.2 carol=10.9.0.3"},
		{"last release frees it", func() netip.Addr { p.Release("rw", "alice", a); return a }, "10.9.0.1",
			"bob=10.9.0.2 carol=10.9.0.3"},
		{"alice reconnects: her previous address", func() netip.Addr { return mustLease(t, p, "rw", "alice") }, "10.9.0.1",
			"alice=10.9.0.1 bob=10.9.0.2 carol=10.9.0.3"},
		{"bob leaves", func() netip.Addr { p.Release("rw", "bob", b); return b }, "10.9.0.2",
			"alice=10.9.0.1 carol=10.9.0.3"},
		{"dave takes the lowest free, bob's previous", func() netip.Addr { return mustLease(t, p, "rw", "dave") }, "10.9.0.2",
			"alice=10.9.0.1 dave=10.9.0.2 carol=10.9.0.3"},
		{"bob comes back: the lowest free", func() netip.Addr { return mustLease(t, p, "rw", "bob") }, "10.9.0.4",
			"alice=10.9.0.1 dave=10.9.0.2 carol=10.9.0.3 bob=10.9.0.4"},
		{"releasing another identity's address does nothing", func() netip.Addr { p.Release("rw", "bob", a); return a }, "10.9.0.1",
			"alice=10.9.0.1 dave=10.9.0.2 carol=10.9.0.3 bob=10.9.0.4"},
		{"releasing an address not leased does nothing", func() netip.Addr {
			x := netip.MustParseAddr("10.9.0.6")
			p.Release("rw", "alice", x)
			return x
		}, "10.9.0.6", "alice=10.9.0.1 dave=10.9.0.2 carol=10.9.0.3 bob=10.9.0.4"},
		{"release in an unknown pool does nothing", func() netip.Addr { p.Release("nope", "alice", a); return a }, "10.9.0.1",
			"alice=10.9.0.1 dave=10.9.0.2 carol=10.9.0.3 bob=10.9.0.4"},
	}
	for _, s := range steps {
		if got := s.do(); got.String() != s.want {
			t.Fatalf("%s: %s, want %s", s.name, got, s.want)
		}
		var ls []string
		for _, l := range p.Leases() {
			ls = append(ls, l.Identity+"="+l.Address.String())
		}
		if got := strings.Join(ls, " "); got != s.leases {
			t.Fatalf("%s: leases %s, want %s", s.name, got, s.leases)
		}
	}
}

func TestLeaseErrors(t *testing.T) {
	p := testPools(t, poolTOML("rw", "10.9.0.1"))
	for _, c := range []struct {
		pool, id string
		want     string
	}{
		{"nope", "alice", `unknown address pool "nope"`},
		{"rw", "", `address pool "rw": no identity to lease an address to`},
	} {
		if _, err := p.Lease(c.pool, c.id); err == nil || err.Error() != c.want || errors.Is(err, ErrExhausted) {
			t.Errorf("Lease(%q, %q): %v, want %q", c.pool, c.id, err, c.want)
		}
	}
}

func TestLeasesSorted(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	clock := t0
	cfg, err := policy.Parse("p.toml", []byte("[gateway]\nlisten = \"192.0.2.1\"\n"+
		poolTOML("v6", "2001:db8::/120")+poolTOML("b", "10.9.1.0/24")+poolTOML("a", "10.9.0.0/24", "10.8.0.0/24")))
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPools(cfg.Pools, func() time.Time { return clock })
	if err != nil {
		t.Fatal(err)
	}
	for i, pool := range []string{"v6", "b", "a", "b", "a", "v6"} {
		clock = t0.Add(time.Duration(i) * time.Second)
		mustLease(t, p, pool, fmt.Sprint("id", i))
	}
	var got []string
	for _, l := range p.Leases() {
		got = append(got, fmt.Sprintf("%s %s %s %s", l.Pool, l.Address, l.Identity, l.Since.Sub(t0)))
	}
	want := []string{
		"a 10.8.0.1 id2 2s", "a 10.8.0.2 id4 4s",
		"b 10.9.1.1 id1 1s", "b 10.9.1.2 id3 3s",
		"v6 2001:db8:: id0 0s", "v6 2001:db8::1 id5 5s",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("Leases:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if p.Pool("a") != cfg.Pools[2] || p.Pool("zz") != nil {
		t.Errorf("Pool lookup")
	}
	if (&Pools{}).Leases() != nil {
		t.Errorf("empty Pools has leases")
	}
}

// TestLeaseConcurrent: many goroutines leasing at once get distinct
// addresses (run with -race).
func TestLeaseConcurrent(t *testing.T) {
	p := testPools(t, poolTOML("rw", "10.9.0.0/24")+poolTOML("v6", "2001:db8::/64"))
	const n = 200
	for _, pool := range []string{"rw", "v6"} {
		var wg sync.WaitGroup
		addrs := make([]netip.Addr, n)
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() {
				id := fmt.Sprint("user", i)
				addrs[i], errs[i] = p.Lease(pool, id)
				// A second SA of the same identity, and a release of
				// it: the address stays the identity's.
				if a, err := p.Lease(pool, id); err != nil || a != addrs[i] {
					errs[i] = fmt.Errorf("second lease %v, %v", a, err)
				}
				p.Release(pool, id, addrs[i])
				_ = p.Leases()
			})
		}
		wg.Wait()
		seen := map[netip.Addr]int{}
		for i, a := range addrs {
			if errs[i] != nil {
				t.Fatalf("%s: user%d: %v", pool, i, errs[i])
			}
			if j, dup := seen[a]; dup {
				t.Fatalf("%s: user%d and user%d both got %s", pool, i, j, a)
			}
			seen[a] = i
		}
		// Each identity still holds its first lease.
		held := 0
		for _, l := range p.Leases() {
			if l.Pool == pool {
				held++
			}
		}
		if held != n {
			t.Errorf("%s: %d leases, want %d", pool, held, n)
		}
	}
}

// TestLargePools: a /8 and an IPv6 /64 cost nothing up front, and the
// walk for the lowest free address skips the leased ones.
func TestLargePools(t *testing.T) {
	start := time.Now()
	p := testPools(t, poolTOML("big4", "10.0.0.0/8")+poolTOML("big6", "2001:db8::/64"))
	for _, c := range []struct{ pool, last string }{{"big4", "10.0.19.136"}, {"big6", "2001:db8::1387"}} {
		var a netip.Addr
		for i := range 5000 {
			a = mustLease(t, p, c.pool, fmt.Sprint("id", i))
		}
		if a.String() != c.last {
			t.Errorf("%s: lease 5000 = %s, want %s", c.pool, a, c.last)
		}
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("took %v", d)
	}
	// The size in exhaustion errors is exact, however large.
	for pool, want := range map[string]string{"big4": "16777214", "big6": "18446744073709551616"} {
		if got := p.pools[pool].size.String(); got != want {
			t.Errorf("%s: size %s, want %s", pool, got, want)
		}
	}
}

func TestUsage(t *testing.T) {
	// A /30 gives its 2 host addresses.
	p := testPools(t, poolTOML("b", "10.1.0.0/30")+poolTOML("a", "2001:db8::/64"))
	mustLease(t, p, "b", "alice")
	mustLease(t, p, "b", "bob")
	got := p.Usage()
	want := []PoolUsage{{Name: "a", Size: 1 << 64}, {Name: "b", Size: 2, Leased: 2}}
	if !slices.Equal(got, want) {
		t.Errorf("Usage() = %+v, want %+v", got, want)
	}
}

func TestNewPoolsErrors(t *testing.T) {
	r := func(a, b string) policy.AddrRange {
		return policy.AddrRange{First: netip.MustParseAddr(a), Last: netip.MustParseAddr(b)}
	}
	pool := func(name string, rs ...policy.AddrRange) *policy.Pool { return &policy.Pool{Name: name, Ranges: rs} }
	for _, c := range []struct {
		name  string
		pools []*policy.Pool
		want  string
	}{
		{"nil", []*policy.Pool{nil}, "pool 0 is nil"},
		{"no name", []*policy.Pool{pool("", r("10.0.0.1", "10.0.0.2"))}, "pool 0 has no name"},
		{"duplicate", []*policy.Pool{pool("a", r("10.0.0.1", "10.0.0.2")), pool("a", r("10.0.1.1", "10.0.1.2"))}, `duplicate pool name "a"`},
		{"empty", []*policy.Pool{pool("a")}, `pool "a" has no addresses`},
		{"reversed", []*policy.Pool{pool("a", r("10.0.0.9", "10.0.0.2"))}, `pool "a": range 10.0.0.9-10.0.0.2: first address above the last`},
		{"families", []*policy.Pool{pool("a", r("10.0.0.1", "2001:db8::1"))}, `pool "a": range 10.0.0.1-2001:db8::1 mixes IPv4 and IPv6`},
		{"invalid", []*policy.Pool{pool("a", policy.AddrRange{})}, `pool "a": range invalid IP: invalid address`},
		{"mixed pool", []*policy.Pool{pool("a", r("10.0.0.1", "10.0.0.2"), r("2001:db8::1", "2001:db8::2"))}, `pool "a" mixes IPv4 and IPv6 ranges`},
		{"overlap across", []*policy.Pool{pool("a", r("10.0.0.1", "10.0.0.9")), pool("b", r("10.0.0.9", "10.0.0.20"))},
			`range 10.0.0.9-10.0.0.20 of pool "b" overlaps range 10.0.0.1-10.0.0.9 of pool "a"`},
		{"overlap within", []*policy.Pool{pool("a", r("10.0.0.5", "10.0.0.9"), r("10.0.0.1", "10.0.0.5"))},
			`range 10.0.0.5-10.0.0.9 of pool "a" overlaps range 10.0.0.1-10.0.0.5 of pool "a"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := NewPools(c.pools, nil); err == nil || err.Error() != c.want {
				t.Errorf("NewPools: %v, want %q", err, c.want)
			}
		})
	}
	// The same addresses in different families never overlap; neither do
	// adjacent ranges.
	if _, err := NewPools([]*policy.Pool{pool("a", r("10.0.0.1", "10.0.0.9")), pool("b", r("10.0.0.10", "10.0.0.20")),
		pool("c", r("::a00:1", "::a00:9"))}, nil); err != nil {
		t.Errorf("NewPools: %v", err)
	}
}

// TestSampleConfig: the remote-access sample's pool and users work here.
func TestSampleConfig(t *testing.T) {
	cfg, err := policy.Load(filepath.Join("..", "configs", "remote-access-ikev1.toml"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPools(cfg.Pools, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.Connections[0]
	if a := mustLease(t, p, c.Pool, "alice"); a.String() != "10.9.0.1" {
		t.Errorf("first lease %s", a)
	}
	if attrs := p.Pool(c.Pool); attrs == nil || len(attrs.DNS) != 1 || attrs.Banner == "" {
		t.Errorf("pool attributes %+v", attrs)
	}
	u := NewUsers(cfg.Users)
	if err := u.Check("bob", "clientPass"); err != nil {
		t.Errorf("bob: %v", err)
	}
	if err := u.Check("alice", "test-only-alice"); err != nil {
		t.Errorf("alice: %v", err)
	}
}

// TestClaim: an address chosen elsewhere (RADIUS Framed-IP-Address) is
// held in the pool whose ranges hold it, so Lease skips it; outside every
// pool it is listed under ExternalPool; conflicts are refused.
func TestClaim(t *testing.T) {
	p := testPools(t, poolTOML("rw", "10.9.0.77-10.9.0.78"))
	pool, err := p.Claim("alice", netip.MustParseAddr("10.9.0.77"))
	if err != nil || pool != "rw" {
		t.Fatalf("Claim in pool = %q, %v; want rw", pool, err)
	}
	if got := mustLease(t, p, "rw", "bob"); got != netip.MustParseAddr("10.9.0.78") {
		t.Fatalf("bob leased %v, want 10.9.0.78 (the claimed .77 is alice's)", got)
	}
	if _, err := p.Lease("rw", "carol"); !errors.Is(err, ErrExhausted) {
		t.Fatalf("carol: %v, want exhausted", err)
	}
	cases := []struct {
		id, addr string
		wantErr  string
	}{
		{"bob", "10.9.0.77", `already leased to "alice"`},
		{"alice", "10.9.0.78", `already leased to "bob"`},
		{"bob", "10.9.0.77", `already leased`},
		{"", "10.9.0.1", "no identity"},
	}
	for _, c := range cases {
		if _, err := p.Claim(c.id, netip.MustParseAddr(c.addr)); err == nil || !strings.Contains(err.Error(), c.wantErr) {
			t.Errorf("Claim(%q, %s) = %v, want error containing %q", c.id, c.addr, err, c.wantErr)
		}
	}
	if pool, err := p.Claim("alice", netip.MustParseAddr("10.9.0.77")); err != nil || pool != "rw" {
		t.Fatalf("second claim by the holder = %q, %v", pool, err)
	}
	ext, err := p.Claim("dave", netip.MustParseAddr("172.16.5.5"))
	if err != nil || ext != ExternalPool {
		t.Fatalf("Claim outside pools = %q, %v; want %q", ext, err, ExternalPool)
	}
	var listed []string
	for _, l := range p.Leases() {
		listed = append(listed, l.Pool+" "+l.Address.String()+" "+l.Identity)
	}
	want := "(external) 172.16.5.5 dave,rw 10.9.0.77 alice,rw 10.9.0.78 bob"
	if got := strings.Join(listed, ","); got != want {
		t.Fatalf("Leases = %s, want %s", got, want)
	}
	// alice claimed twice: the address frees with the second Release.
	p.Release("rw", "alice", netip.MustParseAddr("10.9.0.77"))
	if _, err := p.Lease("rw", "carol"); !errors.Is(err, ErrExhausted) {
		t.Fatalf("after one of two releases carol got an address: %v", err)
	}
	p.Release("rw", "alice", netip.MustParseAddr("10.9.0.77"))
	if got := mustLease(t, p, "rw", "carol"); got != netip.MustParseAddr("10.9.0.77") {
		t.Fatalf("carol leased %v after alice's release, want 10.9.0.77", got)
	}
	p.Release(ExternalPool, "dave", netip.MustParseAddr("172.16.5.5"))
	for _, l := range p.Leases() {
		if l.Pool == ExternalPool {
			t.Fatalf("external claim still listed after release: %+v", l)
		}
	}
}

// TestLeaseForDevices: two devices of one identity get addresses of their
// own; each device's further SAs share its address; each keeps its
// address across a reconnect; without a device the identity shares one.
func TestLeaseForDevices(t *testing.T) {
	p := testPools(t, poolTOML("rw", "10.9.0.1-10.9.0.9"))
	lease := func(id, dev string) netip.Addr {
		t.Helper()
		a, err := p.LeaseFor("rw", id, dev)
		if err != nil {
			t.Fatalf("LeaseFor(%q, %q): %v", id, dev, err)
		}
		return a
	}
	laptop, phone := lease("alice", "192.0.2.7:4500"), lease("alice", "192.0.2.7:61000")
	if laptop == phone {
		t.Fatalf("two devices of alice share %v", laptop)
	}
	if again := lease("alice", "192.0.2.7:61000"); again != phone {
		t.Fatalf("the phone's second SA got %v, want its %v", again, phone)
	}
	if shared := lease("alice", ""); shared != laptop {
		t.Fatalf("no device: %v, want the identity's first address %v", shared, laptop)
	}
	var listed []string
	for _, l := range p.Leases() {
		listed = append(listed, l.Identity+"="+l.Address.String())
	}
	if got := strings.Join(listed, ","); got != "alice=10.9.0.1,alice=10.9.0.2" {
		t.Fatalf("Leases: %s", got)
	}
	// The phone leaves (both its SAs) and comes back from a new port: its
	// address again, as alice's second.
	p.Release("rw", "alice", phone)
	p.Release("rw", "alice", phone)
	if back := lease("alice", "192.0.2.7:62000"); back != phone {
		t.Fatalf("the phone came back to %v, want its previous %v (and never the laptop's %v)", back, phone, laptop)
	}
}

// TestLeaseLowestAfterRelease: the lowest free address is handed out
// after releases below, at and above the addresses leased so far, across
// ranges (lowestFree starts where it last found one).
func TestLeaseLowestAfterRelease(t *testing.T) {
	p := testPools(t, poolTOML("p", "10.9.0.1-10.9.0.4", "10.9.1.1-10.9.1.2"))
	addrs := map[string]netip.Addr{}
	for _, id := range []string{"a", "b", "c", "d", "e"} {
		addrs[id] = mustLease(t, p, "p", id)
	}
	for _, step := range []struct {
		release []string // identities whose leases end
		lease   string   // then a new identity leases
		want    string
	}{
		{nil, "f", "10.9.1.2"},
		{[]string{"c"}, "g", "10.9.0.3"},
		{[]string{"e", "b"}, "h", "10.9.0.2"},
		{nil, "i", "10.9.1.1"},
		{[]string{"a", "d"}, "j", "10.9.0.1"},
		{nil, "k", "10.9.0.4"},
	} {
		for _, id := range step.release {
			p.Release("p", id, addrs[id])
		}
		got := mustLease(t, p, "p", step.lease)
		if got.String() != step.want {
			t.Fatalf("after releasing %v, %s got %s, want %s", step.release, step.lease, got, step.want)
		}
		addrs[step.lease] = got
	}
	if _, err := p.Lease("p", "full"); !errors.Is(err, ErrExhausted) {
		t.Fatalf("a full pool leased: %v", err)
	}
}

// BenchmarkLeaseFill fills a pool of 2^20 addresses, 100,000 at a time:
// constant time per lease (the walk from the first address made filling
// the pool quadratic).
//
//	go test -run=NONE -bench=LeaseFill ./access/
func BenchmarkLeaseFill(b *testing.B) {
	cfg, err := policy.Parse("pools.toml", []byte("[gateway]\nlisten = [\"192.0.2.1\"]\n"+poolTOML("p", "10.64.0.0/12")))
	if err != nil {
		b.Fatal(err)
	}
	var p *Pools
	for i := range b.N {
		if i%100_000 == 0 {
			b.StopTimer()
			if p, err = NewPools(cfg.Pools, nil); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
		if _, err := p.Lease("p", "c"+strconv.Itoa(i)); err != nil {
			b.Fatal(err)
		}
	}
}

// TestHold: an address leased elsewhere (a cluster's failed node) is
// held for its identity and device: nobody else gets it, the same device
// leasing again gets it, its release frees it; a held address of
// another identity, or outside the pool, is refused.
func TestHold(t *testing.T) {
	p := testPools(t, poolTOML("p", "10.9.0.1-10.9.0.4"))
	a := netip.MustParseAddr
	if err := p.Hold("p", "alice", "10.0.0.1:4500", a("10.9.0.3")); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"bob", "carol", "dave"} {
		if got := mustLease(t, p, "p", id); got == a("10.9.0.3") {
			t.Fatalf("%s got alice's held address", id)
		}
	}
	if got, err := p.LeaseFor("p", "alice", "10.0.0.1:4500"); err != nil || got != a("10.9.0.3") {
		t.Fatalf("alice's device leases again: %v %v", got, err)
	}
	for _, tc := range []struct {
		id, device, addr string
	}{{"bob", "", "10.9.0.3"}, {"alice", "10.0.0.9:4500", "10.9.0.3"}, {"erin", "", "10.9.9.9"}} {
		if err := p.Hold("p", tc.id, tc.device, a(tc.addr)); err == nil {
			t.Errorf("Hold(%s, %s, %s) accepted", tc.id, tc.device, tc.addr)
		}
	}
	if err := p.Hold("nope", "x", "", a("10.9.0.1")); err == nil {
		t.Error("Hold in an unknown pool accepted")
	}
	p.Release("p", "alice", a("10.9.0.3"))
	p.Release("p", "alice", a("10.9.0.3"))
	if got := mustLease(t, p, "p", "frank"); got != a("10.9.0.3") {
		t.Fatalf("after alice's release frank got %v, want the freed 10.9.0.3", got)
	}
}

// fakeReserver is a cluster's reservations: other nodes hold some
// addresses.
type fakeReserver struct {
	others map[netip.Addr]bool
	mine   map[netip.Addr]string
	fail   bool
}

func (f *fakeReserver) Reserve(pool string, addr netip.Addr, identity string) (bool, error) {
	if f.fail {
		return false, errors.New("etcd unreachable")
	}
	if f.others[addr] {
		return false, nil
	}
	f.mine[addr] = identity
	return true, nil
}

func (f *fakeReserver) Unreserve(pool string, addr netip.Addr) { delete(f.mine, addr) }

// TestReserver: with a cluster, an address another node holds is skipped
// (and shown as the other node's), each address handed out is reserved
// and unreserved when released, marks of other nodes' reservations come
// and go, and no address is handed out when the reservation cannot be
// made.
func TestReserver(t *testing.T) {
	a := netip.MustParseAddr
	p := testPools(t, poolTOML("p", "10.9.0.1-10.9.0.4"))
	f := &fakeReserver{others: map[netip.Addr]bool{a("10.9.0.1"): true}, mine: map[netip.Addr]string{}}
	p.SetReserver(f)
	if got := mustLease(t, p, "p", "alice"); got != a("10.9.0.2") {
		t.Fatalf("alice got %v, want 10.9.0.2 (10.9.0.1 is another node's)", got)
	}
	if f.mine[a("10.9.0.2")] != "alice" {
		t.Fatalf("not reserved: %v", f.mine)
	}
	p.MarkElsewhere("p", a("10.9.0.3"), true)
	if got := mustLease(t, p, "p", "bob"); got != a("10.9.0.4") {
		t.Fatalf("bob got %v, want 10.9.0.4", got)
	}
	elsewhere := 0
	for _, l := range p.Leases() {
		if l.Identity == ElsewhereIdentity {
			elsewhere++
		}
	}
	if elsewhere != 2 {
		t.Errorf("%d addresses shown as another node's, want 2: %v", elsewhere, p.Leases())
	}
	p.MarkElsewhere("p", a("10.9.0.3"), false)
	p.Release("p", "alice", a("10.9.0.2"))
	if _, ok := f.mine[a("10.9.0.2")]; ok {
		t.Error("released address still reserved")
	}
	if got := mustLease(t, p, "p", "carol"); got != a("10.9.0.2") {
		t.Fatalf("carol got %v, want the freed 10.9.0.2", got)
	}
	if got := mustLease(t, p, "p", "dave"); got != a("10.9.0.3") {
		t.Fatalf("dave got %v, want 10.9.0.3 (no longer another node's)", got)
	}
	f.fail = true
	p.Release("p", "dave", a("10.9.0.3"))
	if _, err := p.Lease("p", "erin"); err == nil || !strings.Contains(err.Error(), "etcd unreachable") {
		t.Fatalf("lease without a reservation: %v", err)
	}
}
