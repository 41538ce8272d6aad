package ikev1

import (
	"fmt"
	"testing"
	"time"
)

// TestRekey runs a tunnel through several phase 1 and phase 2 lifetimes:
// new ISAKMP and IPsec SAs replace the old ones, which are deleted on
// both sides and in the kernel.
func TestRekey(t *testing.T) {
	for _, tc := range []struct {
		name string
		side func(p *pair) *node
	}{
		{"by initiator", func(p *pair) *node { return p.a }},
		{"by responder (phase 2 only)", func(p *pair) *node { return p.b }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPair(t, "main", []string{"aes256-sha256-modp2048"}, []string{"aes256-sha256"})
			n := tc.side(p)
			n.conns[0].IKELifetime, n.conns[0].ChildLifetime = 20*time.Minute, 5*time.Minute
			p.initiate(p.a, p.a.conns[0])
			p.run(time.Second)
			requireUp(t, p.a, p.b, 1)
			first := p.a.eng.SAs()[0]
			p.run(50 * time.Minute)
			requireUp(t, p.a, p.b, 1)
			now := p.a.eng.SAs()[0]
			if now.Children[0].SPIIn == first.Children[0].SPIIn {
				t.Errorf("phase 2 SA not replaced")
			}
			if n == p.a && now.LocalSPI == first.LocalSPI {
				t.Errorf("ISAKMP SA not replaced")
			}
		})
	}
}

// TestKilobyteLifetimes: the initiator offers a kilobyte lifetime, the
// responder answers with a shorter one in RESPONDER-LIFETIME, both install
// the shorter one, and the initiator rekeys when 90% of it is used.
func TestKilobyteLifetimes(t *testing.T) {
	p := newPair(t, "main", []string{"aes256-sha256-modp2048"}, []string{"aes256-sha256"})
	p.a.conns[0].ChildLifetimeBytes = 100 << 20
	p.b.conns[0].ChildLifetimeBytes = 10 << 20
	meter := p.a.inst // reports meter.Used bytes for every SA
	p.initiate(p.a, p.a.conns[0])
	p.run(time.Second)
	requireUp(t, p.a, p.b, 1)
	for _, n := range []*node{p.a, p.b} {
		for _, k := range n.inst.Live {
			if k.LifetimeBytes != 10<<20 {
				t.Fatalf("%s installed byte lifetime %d, want %d", n.name, k.LifetimeBytes, 10<<20)
			}
		}
	}
	first := p.a.eng.SAs()[0].Children[0].SPIIn
	meter.Used = 10<<20 - 1<<19 // 95%
	p.run(20 * time.Second)
	requireUp(t, p.a, p.b, 1)
	if p.a.eng.SAs()[0].Children[0].SPIIn == first {
		t.Fatal("phase 2 SA not replaced at 95% of its byte lifetime")
	}
}

func TestKernelExpire(t *testing.T) {
	p := newPair(t, "main", []string{"aes256-sha256-modp2048"}, []string{"aes256-sha256"})
	p.initiate(p.a, p.a.conns[0])
	p.run(time.Second)
	requireUp(t, p.a, p.b, 1)
	var spi uint32
	fmt.Sscanf(p.a.eng.SAs()[0].Children[0].SPIOut, "%x", &spi)
	ds, ok := p.a.eng.Expired(p.Now, spi, false)
	if !ok {
		t.Fatal("soft expire not claimed")
	}
	p.do(p.a, ds)
	p.run(time.Second)
	requireUp(t, p.a, p.b, 1)
	if got := p.a.eng.SAs()[0].Children[0].SPIOut; got == fmt.Sprintf("%08x", spi) {
		t.Fatal("not replaced after a soft expire")
	}
	fmt.Sscanf(p.a.eng.SAs()[0].Children[0].SPIIn, "%x", &spi)
	ds, _ = p.a.eng.Expired(p.Now, spi, true)
	p.do(p.a, ds)
	p.run(time.Second)
	if c := p.b.eng.SAs()[0].Children; len(c) != 0 {
		t.Fatalf("peer still has %d phase 2 SAs after a hard expire", len(c))
	}
}

// TestLongPeerLifetimeBounded: an initiator proposing 2147483 s for both
// phases (some peers' "for ever", which others refuse) gets the
// responder's own lifetimes: its ISAKMP SA is replaced within the
// responder's ike_lifetime, and the responder answers the Quick Mode with
// RESPONDER-LIFETIME, which the initiator honours for its IPsec SA.
func TestLongPeerLifetimeBounded(t *testing.T) {
	const forever = 2147483 * time.Second
	for _, tc := range []struct {
		name               string
		ownIKE, ownChild   time.Duration // the responder's (0: defaults 8h, 1h)
		wantIKE, wantChild time.Duration
	}{
		{"defaults", 0, 0, defaultIKELifetime, time.Hour},
		{"configured", 3 * time.Hour, 20 * time.Minute, 3 * time.Hour, 20 * time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPair(t, "main", []string{"aes256-sha256-modp2048"}, []string{"aes256-sha256"})
			a, b := p.a.conns[0], p.b.conns[0]
			a.IKELifetime, a.ChildLifetime = forever, forever
			b.IKELifetime, b.ChildLifetime = tc.ownIKE, tc.ownChild
			p.initiate(p.a, a)
			p.run(time.Second)
			requireUp(t, p.a, p.b, 1)
			at := func(s string) time.Duration {
				v, err := time.Parse(time.RFC3339, s)
				if err != nil {
					t.Fatalf("time %q: %v", s, err)
				}
				return v.Sub(p.Now)
			}
			sb, sa := p.b.eng.SAs()[0], p.a.eng.SAs()[0]
			if d := at(sb.RekeyAt); d > tc.wantIKE {
				t.Errorf("responder replaces its ISAKMP SA in %v, want within %v", d, tc.wantIKE)
			}
			for who, s := range map[string]string{"responder": sb.Children[0].ExpiresAt, "initiator": sa.Children[0].ExpiresAt} {
				if d := at(s); d > tc.wantChild+time.Second {
					t.Errorf("%s's IPsec SA expires in %v, want within %v", who, d, tc.wantChild)
				}
			}
		})
	}
}

// TestSimultaneousPhase2Rekey: both sides renew the same phase 2 SA at
// the same instant (equal lifetimes, or an operator's rekey on both), so
// each ends with two phase 2 SAs for one connection and selectors. By the
// newer-wins rule neither renews the older one; with the dataplane's
// hard expiry emulated, one phase 2 SA per side is left after the
// duplicates' lifetime, the same on both sides, and no renewal brings the
// duplicate back.
func TestSimultaneousPhase2Rekey(t *testing.T) {
	p := newPair(t, "main", []string{"aes256-sha256-modp2048"}, []string{"aes256-sha256"})
	for _, n := range []*node{p.a, p.b} {
		n.conns[0].ChildLifetime = 5 * time.Minute
	}
	p.initiate(p.a, p.a.conns[0])
	p.run(time.Second)
	requireUp(t, p.a, p.b, 1)
	for _, n := range []*node{p.a, p.b} {
		out, started := n.eng.Rekey(p.Now, n.conns[0].Name, false, true)
		if started != 1 {
			t.Fatalf("%s: Rekey started %d renewals", n.name, started)
		}
		p.do(n, out)
	}
	p.run(0)
	most := 0
	for end := p.Now.Add(20 * time.Minute); p.Now.Before(end); {
		p.Now = p.Now.Add(time.Second)
		for _, n := range []*node{p.a, p.b} {
			p.do(n, n.eng.Tick(p.Now))
			for _, sa := range n.eng.SAs() {
				most = max(most, len(sa.Children))
				for _, ch := range sa.Children {
					if at, err := time.Parse(time.RFC3339, ch.ExpiresAt); err == nil && !at.After(p.Now) {
						var spi uint32
						fmt.Sscanf(ch.SPIIn, "%x", &spi)
						out, _ := n.eng.Expired(p.Now, spi, true) // the dataplane's hard expiry
						p.do(n, out)
					}
				}
			}
		}
		p.run(0)
	}
	requireUp(t, p.a, p.b, 1)
	if most > 3 {
		t.Errorf("up to %d phase 2 SAs at once on one side", most)
	}
}

// TestCrossingPhase1Renewal: both sides renew the ISAKMP SA at the same
// instant, so each initiates a new Main Mode and deletes the old SA once
// its new one carries the phase 2 SAs. Two kinds of peer:
//
//   - one that renews as we do, with a Quick Mode on the new SA: both
//     then hold the two new ISAKMP SAs, and by the
//     highest-initiator-cookie rule both keep the same one and delete the
//     other with its phase 2 SA;
//   - one that reauthenticates as strongSwan does: a Main Mode without a
//     Quick Mode, its phase 2 SAs moved to the new ISAKMP SA in its own
//     bookkeeping (and gone with it if that SA is deleted), the old SA
//     kept until told. The newest ISAKMP SA stays; we negotiate the phase
//     2 SA on it if it has none and delete the others.
//
// Either way: one ISAKMP SA and one phase 2 SA per side, the same on both
// (keys included), renewed normally afterwards.
func TestCrossingPhase1Renewal(t *testing.T) {
	for _, reauth := range []bool{false, true} {
		for seed := range 4 {
			t.Run(fmt.Sprintf("reauth=%v/%d", reauth, seed), func(t *testing.T) {
				p := newPair(t, "main", []string{"aes256-sha256-modp2048"}, []string{"aes256-sha256"})
				for _, n := range []*node{p.a, p.b} {
					n.conns[0].IKELifetime, n.conns[0].ChildLifetime = 20*time.Minute, 5*time.Minute
				}
				p.initiate(p.a, p.a.conns[0])
				p.run(time.Second)
				requireUp(t, p.a, p.b, 1)
				old := p.a.eng.SAs()[0].LocalSPI
				p.Now = p.Now.Add(time.Duration(seed) * time.Second)
				p.b.eng.noQuick = reauth
				for _, n := range []*node{p.a, p.b} {
					out, started := n.eng.Rekey(p.Now, n.conns[0].Name, true, false)
					if started != 1 {
						t.Fatalf("%s: Rekey started %d renewals", n.name, started)
					}
					if reauth && n == p.b {
						moveToNewest(n.eng)
					}
					p.do(n, out)
				}
				p.run(10 * time.Second)
				requireUp(t, p.a, p.b, 1)
				if p.a.eng.SAs()[0].LocalSPI == old {
					t.Fatal("the old ISAKMP SA survived")
				}
				// And afterwards the survivor and its phase 2 SA renew as usual.
				p.run(30 * time.Minute)
				requireUp(t, p.a, p.b, 1)
			})
		}
	}
}

// moveToNewest plays strongSwan's reauthentication on e right after it
// started a new phase 1: the phase 2 SAs of the SA being replaced are
// filed under the new one.
func moveToNewest(e *Engine) {
	var from, to *p1SA
	for _, sa := range e.sas {
		switch {
		case sa.state == stateEstablished && sa.Rekeying:
			from = sa
		case sa.state != stateEstablished && sa.initiator:
			to = sa
		}
	}
	if from != nil && to != nil {
		to.children, from.children = from.children, nil
	}
}
