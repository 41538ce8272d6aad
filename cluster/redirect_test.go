package cluster

import (
	"net/netip"
	"testing"
	"time"

	"ikegate/policy"
)

// TestRedirect: the entry node sends a new client to a non-entry address
// of the live node with the fewest SAs, counts it there at once, and
// keeps clients itself while it has fewer than every other node.
func TestRedirect(t *testing.T) {
	a := netip.MustParseAddr
	self := 2
	n := &Node{
		cfg:   &policy.Cluster{Node: "n1"},
		hooks: Hooks{SAs: func() int { return self }},
		owned: map[netip.Addr]bool{a("10.0.0.2"): true},
		entry: map[netip.Addr]bool{a("10.0.0.2"): true},
		view: []NodeStatus{
			{Node: "n1", Addresses: []string{"10.0.0.2/24"}, Lease: "ok"},
			{Node: "n2", Addresses: []string{"10.0.0.3/24"}, SAs: 4, Lease: "ok"},
			{Node: "n3", Addresses: []string{"10.0.0.2/24", "10.0.0.4/24"}, SAs: 2, Lease: "ok"},
			{Node: "n4", Addresses: []string{"10.0.0.5/24"}, SAs: 0, Lease: "expired"},
			{Node: "n5", Addresses: []string{}, SAs: 0, Lease: "ok"},
		},
	}
	var got []string
	for range 4 {
		to, ok := n.Redirect(a("10.0.0.2"))
		if !ok {
			got = append(got, "here")
			self++
			continue
		}
		got = append(got, to.String())
	}
	want := []string{"10.0.0.4", "here", "10.0.0.4", "here"}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("redirects %v, want %v", got, want)
		}
	}
	// A view read before n3 published its new count keeps the clients
	// sent since, and so does one published right after them (they may
	// not have arrived); one published redirectSettle later drops them.
	n.refreshed([]NodeStatus{{Node: "n3", Addresses: []string{"10.0.0.4/24"}, SAs: 2, Lease: "ok", Updated: time.Now().Add(-time.Minute)}})
	self = 3
	if to, ok := n.Redirect(a("10.0.0.2")); ok {
		t.Errorf("after a stale view: redirected to %v; n3 has 2+2 clients, this node 3", to)
	}
	n.refreshed([]NodeStatus{{Node: "n3", Addresses: []string{"10.0.0.4/24"}, SAs: 2, Lease: "ok", Updated: time.Now()}})
	if to, ok := n.Redirect(a("10.0.0.2")); ok {
		t.Errorf("after a view published right after the redirects: redirected to %v; n3 has 2+2 clients, this node 3", to)
	}
	n.refreshed([]NodeStatus{{Node: "n3", Addresses: []string{"10.0.0.4/24"}, SAs: 3, Lease: "ok", Updated: time.Now().Add(redirectSettle)}})
	if to, ok := n.Redirect(a("10.0.0.2")); !ok || to != a("10.0.0.4") {
		t.Errorf("after a fresh view (n3 has 3, this node 3): %v %v", to, ok)
	}
	if _, ok := n.Redirect(a("10.0.0.3")); ok {
		t.Error("redirected from an address that is no entry")
	}
	delete(n.owned, a("10.0.0.2"))
	if _, ok := n.Redirect(a("10.0.0.2")); ok {
		t.Error("redirected from an entry address this node does not serve")
	}
}
