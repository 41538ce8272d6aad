package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"go.uber.org/zap"

	"ikegate/access"
	"ikegate/internal/engine"
	"ikegate/policy"
)

// TestAccessLayer: the shards' remote-access layer checks users with the
// connection's backend and hands out leases that `ikegate leases` lists.
func TestAccessLayer(t *testing.T) {
	cfg := &policy.Config{
		Users: []*policy.User{{Name: "alice", Password: []byte("alice-secret")}},
		Pools: []*policy.Pool{{Name: "rw", Ranges: []policy.AddrRange{{First: netip.MustParseAddr("10.9.0.1"), Last: netip.MustParseAddr("10.9.0.2")}}}},
	}
	ra, err := newAccessLayer(cfg, newSelectorGuard(nil), zap.NewNop())
	if err != nil || ra == nil {
		t.Fatalf("newAccessLayer: %v %v", ra, err)
	}
	local := &policy.Connection{Name: "rw", XAuth: policy.XAuthLocal}
	for _, tc := range []struct {
		conn       *policy.Connection
		user, pass string
		want       error
	}{
		{local, "alice", "alice-secret", nil},
		{local, "alice", "Tr0ub4dor&3", access.ErrBadPassword},
		{local, "bob", "alice-secret", access.ErrUnknownUser},
	} {
		var err error
		ra.Authenticate(engine.Effect{Connection: tc.conn, User: tc.user}, tc.pass, func(e error) { err = e })
		if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Errorf("Authenticate(%s, %s): %v, want %v", tc.conn.XAuth, tc.user, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), tc.pass) {
			t.Errorf("error shows the password: %v", err)
		}
	}
	var err2 error
	ra.Authenticate(engine.Effect{Connection: &policy.Connection{Name: "s2s"}, User: "alice"}, "alice-secret", func(e error) { err2 = e })
	if err2 == nil {
		t.Error("a connection without xauth authenticated a user")
	}
	g := &Gateway{ra: ra}
	if l := g.Leases(context.Background()); len(l) != 0 || l == nil {
		t.Fatalf("leases before any: %#v", l)
	}
	l, err := ra.Lease(engine.Effect{Pool: "rw", Identity: "alice"})
	a := l.Addr
	if err != nil || a != netip.MustParseAddr("10.9.0.1") || l.Pool != "rw" || l.Group != "" || l.Attrs != nil {
		t.Fatalf("lease: %+v %v", l, err)
	}
	if l := g.Leases(context.Background()); len(l) != 1 || l[0].Identity != "alice" || l[0].Address != a {
		t.Fatalf("leases: %+v", l)
	}
	ra.Release(engine.Effect{Pool: "rw", Identity: "alice", Addr: a})
	if l := g.Leases(context.Background()); len(l) != 0 {
		t.Fatalf("leases after release: %+v", l)
	}
	if l := (&Gateway{}).Leases(context.Background()); l == nil || len(l) != 0 {
		t.Fatalf("no access layer: %#v", l)
	}
}

// TestAccessLayerGroups: which group (and so which pool and attributes) a
// lease gets: the connection's group, overridden by a RADIUS Class naming
// another (plain or Cisco's "OU=name;"); a Class naming no group leaves
// the connection's; a group's pool replaces the connection's; a RADIUS
// Framed-IP-Address is held in the pool that contains it.
func TestAccessLayerGroups(t *testing.T) {
	addr := netip.MustParseAddr
	rng := func(a, b string) []policy.AddrRange { return []policy.AddrRange{{First: addr(a), Last: addr(b)}} }
	cfg := &policy.Config{
		Pools: []*policy.Pool{
			{Name: "rw", Ranges: rng("10.9.0.1", "10.9.0.9"), Attributes: policy.Attributes{DNS: []netip.Addr{addr("10.2.0.53")}, Domain: "corp.lab"}},
			{Name: "eng", Ranges: rng("10.8.0.1", "10.8.0.9"), Attributes: policy.Attributes{Domain: "eng.lab"}},
		},
		Groups: []*policy.Group{
			{Name: "staff", Attributes: policy.Attributes{Banner: "staff"}},
			{Name: "engineering", Pool: "eng", Attributes: policy.Attributes{Banner: "engineers"}},
		},
	}
	ra, err := newAccessLayer(cfg, newSelectorGuard(nil), zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	conn := &policy.Connection{Name: "rw", Pool: "rw", Group: "staff"}
	bare := &policy.Connection{Name: "bare", Pool: "rw"}
	cases := []struct {
		name     string
		conn     *policy.Connection
		radius   *access.RadiusReply
		pool     string
		group    string
		addr     string
		banner   string
		domain   string
		dnsCount int
	}{
		{"no group", bare, nil, "rw", "", "10.9.0.1", "", "", 0},
		{"connection's group", conn, nil, "rw", "staff", "10.9.0.2", "staff", "corp.lab", 1},
		{"Class overrides", conn, &access.RadiusReply{Class: []byte("OU=engineering;")}, "eng", "engineering", "10.8.0.1", "engineers", "eng.lab", 0},
		{"unknown Class", conn, &access.RadiusReply{Class: []byte("OU=sales;")}, "rw", "staff", "10.9.0.3", "staff", "corp.lab", 1},
		{"Framed-IP in the eng pool", bare, &access.RadiusReply{Class: []byte("engineering"), FramedIP: addr("10.8.0.7")}, "eng", "engineering", "10.8.0.7", "engineers", "eng.lab", 0},
	}
	for i, c := range cases {
		id := fmt.Sprintf("user%d", i)
		if c.radius != nil {
			ra.accepted[id] = *c.radius
		}
		l, err := ra.Lease(engine.Effect{Connection: c.conn, Pool: c.conn.Pool, Identity: id})
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		var banner, domain string
		var dns int
		if l.Attrs != nil {
			banner, domain, dns = l.Attrs.Banner, l.Attrs.Domain, len(l.Attrs.DNS)
		}
		if l.Pool != c.pool || l.Group != c.group || l.Addr != addr(c.addr) || banner != c.banner || domain != c.domain || dns != c.dnsCount {
			t.Errorf("%s: pool %q group %q addr %v banner %q domain %q dns %d; want %q %q %s %q %q %d",
				c.name, l.Pool, l.Group, l.Addr, banner, domain, dns, c.pool, c.group, c.addr, c.banner, c.domain, c.dnsCount)
		}
	}
	// The claimed 10.8.0.7 is never leased to another member of eng: the
	// 7 other free addresses go, then the pool is exhausted.
	for i := 0; i < 7; i++ {
		l, err := ra.Lease(engine.Effect{Connection: &policy.Connection{Pool: "eng"}, Pool: "eng", Identity: fmt.Sprintf("other%d", i)})
		if err != nil {
			t.Fatalf("other%d: %v", i, err)
		}
		if l.Addr == addr("10.8.0.7") {
			t.Fatalf("other%d got the address RADIUS gave user4", i)
		}
	}
	if _, err := ra.Lease(engine.Effect{Connection: &policy.Connection{Pool: "eng"}, Pool: "eng", Identity: "one-too-many"}); !errors.Is(err, access.ErrExhausted) {
		t.Fatalf("the tenth member of a 9-address pool: %v, want exhausted", err)
	}
}
