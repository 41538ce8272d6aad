package ikev2

import (
	"net/netip"
	"testing"
	"time"

	"go.uber.org/zap"

	"ikegate/internal/engine"
)

// TestIdleTimerWakeups holds a few hundred established IKE SAs (one CHILD
// SA each) for ten minutes of fake time and counts the engines' timer
// wakeups, as a shard's timer would see them: without liveness checks
// idle SAs wake nothing (their next deadlines are their rekeys, hours
// away); with dpd_delay 30 s each SA wakes its responder about once per
// probe and no more, and every SA survives. (interop/scale.sh measures
// the same with 100,000 SAs in a real process.)
func TestIdleTimerWakeups(t *testing.T) {
	const (
		sas  = 300
		idle = 10 * time.Minute
	)
	for _, tc := range []struct {
		name string
		dpd  time.Duration
		max  int // wakeups allowed over idle
	}{
		{"no liveness checks", 0, 0},
		{"dpd_delay 30s", 30 * time.Second, sas * (int(idle/(30*time.Second)) + 1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
			ike, esp := []string{"aes128gcm16-prfsha256-x25519"}, []string{"aes128gcm16"}
			p := (&pair{t: t,
				a: newNode(t, "a", a, zap.NewNop(), pskConn(t, "ab", a, b, ike, esp)),
				b: newNode(t, "b", b, zap.NewNop(), pskConn(t, "ba", b, a, ike, esp)),
			}).wire()
			p.b.eng.Cfg.CookieThreshold = 1 << 30
			for _, n := range []*node{p.a, p.b} {
				n.conns[0].DPDDelay, n.conns[0].DPDTimeout = tc.dpd, 5*tc.dpd
			}
			// One handshake every 100 ms of fake time, as a steady stream
			// of clients would come.
			for range sas {
				if err := p.a.eng.initiateIKE(p.Now, p.a.conns[0]); err != nil {
					t.Fatal(err)
				}
				p.do(p.a, p.a.eng.Flush())
				for len(p.Queue) > 0 {
					p.Deliver()
				}
				p.Now = p.Now.Add(100 * time.Millisecond)
			}
			for _, n := range []*node{p.a, p.b} {
				if got := established(n.eng); got != sas {
					t.Fatalf("%s: %d established IKE SAs, want %d", n.name, got, sas)
				}
			}
			end := p.Now.Add(idle)
			wakeups := 0
			for {
				var d engine.Deadline
				d.Consider(p.a.eng.NextDeadline())
				d.Consider(p.b.eng.NextDeadline())
				next := d.When()
				if next.IsZero() || next.After(end) {
					break
				}
				if wakeups++; wakeups > tc.max+sas {
					t.Fatalf("more than %d timer wakeups in %v", wakeups-1, idle)
				}
				if next.After(p.Now) {
					p.Now = next
				}
				p.do(p.a, p.a.eng.Tick(p.Now))
				p.do(p.b, p.b.eng.Tick(p.Now))
				for len(p.Queue) > 0 {
					p.Deliver()
				}
			}
			if wakeups > tc.max {
				t.Errorf("%d timer wakeups in %v with %d idle SAs, want at most %d", wakeups, idle, sas, tc.max)
			}
			for _, n := range []*node{p.a, p.b} {
				if got := established(n.eng); got != sas {
					t.Errorf("%s: %d established IKE SAs after the idle time, want %d", n.name, got, sas)
				}
			}
			t.Logf("%d timer wakeups in %v with %d idle SAs", wakeups, idle, sas)
		})
	}
}

// established counts e's established IKE SAs with an installed CHILD SA.
func established(e *Engine) int {
	n := 0
	for _, sa := range e.sas {
		if sa.state == stateEstablished && len(sa.children) > 0 && sa.children[0].Installed() {
			n++
		}
	}
	return n
}
