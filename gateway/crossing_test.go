package gateway

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"ikegate/kernel"
	"ikegate/oakley"
	"ikegate/policy"
)

// TestShardOfPeer: IKEv1 goes to the shard of the peer's address, the
// same for every port (NAT-T floats 500 to 4500; clients behind one NAT
// differ in port only) and for an IPv4 address in its mapped IPv6 form,
// and the addresses spread over the shards.
func TestShardOfPeer(t *testing.T) {
	for _, n := range []int{1, 2, 3, 8} {
		seen := map[int]bool{}
		for i := range 256 {
			a := netip.AddrFrom4([4]byte{10, 0, byte(i / 16), byte(i)})
			k := shardOfPeer(a, n)
			if k < 0 || k >= n {
				t.Fatalf("n=%d: %v maps to shard %d", n, a, k)
			}
			if m := shardOfPeer(netip.AddrFrom16(a.As16()), n); m != k {
				t.Errorf("n=%d: %v on shard %d, its mapped form on %d", n, a, k, m)
			}
			seen[k] = true
		}
		if len(seen) != n {
			t.Errorf("n=%d: 256 addresses use %d shards", n, len(seen))
		}
		for i := range 64 {
			a := netip.MustParseAddr(fmt.Sprintf("2001:db8::%x", i))
			if k := shardOfPeer(a, n); k < 0 || k >= n {
				t.Fatalf("n=%d: %v maps to shard %d", n, a, k)
			}
		}
	}
}

// TestIKEv1CrossingAcrossShards: two gateways of two and three shards
// renew their IKEv1 ISAKMP SA with each other at the same instant, several times
// (equal lifetimes, or an operator on each side). Each crossing leaves
// both with exactly one ISAKMP SA, the same cookies on both, and one phase
// 2 SA with the same SPIs. Routed by cookie, the ISAKMP SA the peer
// initiated landed on a random shard, and half of the crossings stayed
// unresolved (two SAs each until their lifetime).
func TestIKEv1CrossingAcrossShards(t *testing.T) {
	a, b := netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.6")
	port := freePortTB(t, a, b)
	conn := func(local, remote netip.Addr, lts, rts string, lid, rid string) *policy.Connection {
		return &policy.Connection{
			Name: "cross", Version: policy.IKEv1, LocalAddr: local, RemoteAddr: remote,
			LocalID:  policy.Identity{Type: policy.IDFQDN, Data: []byte(lid)},
			RemoteID: policy.Identity{Type: policy.IDFQDN, Data: []byte(rid)},
			Auth:     policy.AuthPSK, PSK: []byte(testPSK),
			IKE:      []oakley.Proposal{mustProposal(t, "aes128-sha256-modp2048", false)},
			ESP:      []oakley.Proposal{mustProposal(t, "aes128gcm16", true)},
			LocalTS:  []netip.Prefix{netip.MustParsePrefix(lts)},
			RemoteTS: []netip.Prefix{netip.MustParsePrefix(rts)},
			// Equal lifetimes beyond the test: only the renewals it asks for.
			IKELifetime: 2 * time.Hour, ChildLifetime: time.Hour,
			Start: policy.StartNone,
		}
	}
	gw := func(local netip.Addr, workers int, c *policy.Connection) *Gateway {
		cfg := &policy.Config{File: "cross-" + local.String(), Gateway: policy.Gateway{
			Listen: []netip.Addr{local}, IKEPort: port, NATTPort: port + 1, Dataplane: "none", Workers: workers,
			CookieThreshold: 1000, RetransmitTries: 4, RetransmitBase: 500 * time.Millisecond,
		}, Connections: []*policy.Connection{c}}
		kb, err := kernel.New("none", nil)
		if err != nil {
			t.Fatal(err)
		}
		return runGateway(t, cfg, zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)), kb)
	}
	// Different shard counts: the peer's cookies are as good as random to
	// this side's shards (as a strongSwan's are), so routed by cookie the
	// two new SAs would often land on different shards of either.
	ga := gw(a, 2, conn(a, b, "10.1.0.0/16", "10.2.0.0/16", "a.example", "b.example"))
	gb := gw(b, 3, conn(b, a, "10.2.0.0/16", "10.1.0.0/16", "b.example", "a.example"))
	ctx := context.Background()
	if out, err := ga.UpWait(ctx, "cross", 10*time.Second); err != nil {
		t.Fatalf("up: %v: %s", err, out)
	}
	// settled reports whether both hold exactly one ISAKMP SA of the
	// connection with the same cookies and one installed phase 2 SA with
	// the same SPIs, and describes what they hold.
	settled := func() (string, string, bool) {
		var views [2][]policy.IKESAInfo
		for i, g := range []*Gateway{ga, gb} {
			sas, err := g.SAs(ctx)
			if err != nil {
				t.Fatal(err)
			}
			views[i] = sas
		}
		desc := fmt.Sprintf("a: %s; b: %s", describeSAs(views[0]), describeSAs(views[1]))
		if len(views[0]) != 1 || len(views[1]) != 1 {
			return "", desc, false
		}
		x, y := views[0][0], views[1][0]
		if x.State != "ESTABLISHED" || y.State != "ESTABLISHED" || x.LocalSPI != y.RemoteSPI || x.RemoteSPI != y.LocalSPI ||
			len(x.Children) != 1 || len(y.Children) != 1 {
			return "", desc, false
		}
		cx, cy := x.Children[0], y.Children[0]
		ok := cx.State == "INSTALLED" && cy.State == "INSTALLED" && cx.SPIIn == cy.SPIOut && cx.SPIOut == cy.SPIIn
		return x.LocalSPI, desc, ok
	}
	wait := func(what string, cond func(string) bool) string {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			spi, desc, ok := settled()
			if ok && cond(spi) {
				return spi
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: not one ISAKMP SA with one phase 2 SA on both: %s", what, desc)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	spi := wait("after up", func(string) bool { return true })
	for round := range 6 {
		var wg sync.WaitGroup
		for _, g := range []*Gateway{ga, gb} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// Either side's wait may see its new SA lose the crossing:
				// only the outcome below counts.
				out, err := g.RekeyWait(ctx, "cross", true, false, 10*time.Second)
				t.Logf("round %d: rekey: %v %s", round+1, err, out)
			}()
		}
		wg.Wait()
		old := spi
		spi = wait(fmt.Sprintf("round %d", round+1), func(s string) bool { return s != old })
	}
}

// describeSAs is a short listing of IKE SAs for a failure message.
func describeSAs(sas []policy.IKESAInfo) string {
	s := ""
	for _, sa := range sas {
		s += fmt.Sprintf("[%s %s/%s %s init=%v", sa.Name, sa.LocalSPI, sa.RemoteSPI, sa.State, sa.Initiator)
		for _, c := range sa.Children {
			s += fmt.Sprintf(" %s %s/%s", c.State, c.SPIIn, c.SPIOut)
		}
		s += "]"
	}
	return s
}

// BenchmarkShardOfPeer: the IKEv1 dispatch's shard choice, once per
// datagram (no allocation).
func BenchmarkShardOfPeer(b *testing.B) {
	addrs := []netip.Addr{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("::ffff:198.51.100.7")}
	b.ReportAllocs()
	k := 0
	for i := 0; b.Loop(); i++ {
		k += shardOfPeer(addrs[i%len(addrs)], 4)
	}
	if k < 0 {
		b.Fatal(k)
	}
}
