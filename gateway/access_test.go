package gateway

import (
	"context"
	"errors"
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
	a, err := ra.Lease(engine.Effect{Pool: "rw", Identity: "alice"})
	if err != nil || a != netip.MustParseAddr("10.9.0.1") {
		t.Fatalf("lease: %v %v", a, err)
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
