package ikev1

import (
	"testing"
	"time"

	"ikegate/isakmp"
)

// TestDeadPeerRestart: b goes silent; a sends R-U-THERE, declares b dead
// within dpd_delay + dpd_timeout (+ one probe interval) and, with
// dpd_action = "restart", brings the tunnel back when b returns.
func TestDeadPeerRestart(t *testing.T) {
	p := newPair(t, "main", []string{"aes256-sha256-modp2048"}, []string{"aes256-sha256"})
	c := p.a.conns[0]
	c.DPDDelay, c.DPDTimeout, c.DPDAction = 10*time.Second, 30*time.Second, "restart"
	p.initiate(p.a, c)
	p.run(time.Second)
	requireUp(t, p.a, p.b, 1)
	old := p.a.eng.SAs()[0].LocalSPI

	// First a quiet period with b alive: probes are acknowledged.
	p.run(time.Minute)
	if sas := p.a.eng.SAs(); len(sas) != 1 || sas[0].LocalSPI != old {
		t.Fatalf("SA replaced although b answers R-U-THERE: %+v", sas)
	}
	bDown := true
	p.Filter = func(_ int, d isakmp.Datagram) []isakmp.Datagram {
		if bDown && d.Local.Addr() == p.b.addr {
			return nil
		}
		return []isakmp.Datagram{d}
	}
	start := p.Now
	for p.Now.Sub(start) < 2*time.Minute {
		if sas := p.a.eng.SAs(); len(sas) == 0 || sas[0].LocalSPI != old {
			break
		}
		p.Now = p.Now.Add(time.Second)
		p.do(p.a, p.a.eng.Tick(p.Now))
		p.do(p.b, p.b.eng.Tick(p.Now))
		p.run(0)
	}
	if dead, limit := p.Now.Sub(start), 50*time.Second; dead > limit {
		t.Fatalf("declared dead after %v, want at most %v", dead, limit)
	}
	bDown = false
	p.b.eng = NewEngine(p.b.eng.Cfg)
	p.b.inst.Live = nil
	p.run(time.Minute)
	sas := p.a.eng.SAs()
	if len(sas) != 1 || sas[0].State != "ESTABLISHED" || sas[0].LocalSPI == old || len(sas[0].Children) != 1 {
		t.Fatalf("tunnel did not come back: %+v", sas)
	}
}
