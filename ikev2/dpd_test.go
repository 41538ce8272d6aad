package ikev2

import (
	"testing"
	"time"

	"ikegate/isakmp"
	"ikegate/policy"
)

// TestDeadPeerRestart silences b after the handshake: a must declare it
// dead within dpd_delay + dpd_timeout (+ one probe interval), and with
// dpd_action = "restart" bring the tunnel back once b answers again.
func TestDeadPeerRestart(t *testing.T) {
	p := newPair(t, []string{"aes128gcm16-prfsha256-x25519"}, []string{"aes128gcm16"})
	c := p.a.conns[0]
	c.DPDDelay, c.DPDTimeout, c.DPDAction = 10*time.Second, 30*time.Second, "restart"
	p.initiate(p.a, c)
	p.run(time.Second)
	requireEstablished(t, p.a, p.b)
	oldSPI := p.a.eng.SAs()[0].LocalSPI

	// b's host goes away: nothing from b reaches a.
	bDown := true
	p.Filter = func(_ int, d isakmp.Datagram) []isakmp.Datagram {
		if bDown && d.Local.Addr() == p.b.addr {
			return nil
		}
		return []isakmp.Datagram{d}
	}
	start := p.Now
	for p.Now.Sub(start) < 2*time.Minute {
		p.run(time.Second)
		sas := p.a.eng.SAs()
		if len(sas) == 0 || sas[0].LocalSPI != oldSPI {
			break
		}
		p.Now = p.Now.Add(time.Second)
		p.do(p.a, p.a.eng.Tick(p.Now))
		p.do(p.b, p.b.eng.Tick(p.Now))
	}
	dead := p.Now.Sub(start)
	if limit := 10*time.Second + 30*time.Second + 10*time.Second; dead > limit {
		t.Fatalf("peer declared dead after %v, want at most %v", dead, limit)
	}
	if sas := p.a.eng.SAs(); len(sas) != 1 || sas[0].LocalSPI == oldSPI || sas[0].State == "ESTABLISHED" {
		t.Fatalf("after death a should be re-initiating: %+v", sas)
	}
	// b is back (it forgot everything): the restart completes.
	bDown = false
	p.b.eng = NewEngine(p.b.eng.Cfg)
	p.b.inst.Live = nil
	p.run(time.Minute)
	sas := p.a.eng.SAs()
	if len(sas) != 1 || sas[0].State != "ESTABLISHED" || len(sas[0].Children) != 1 {
		t.Fatalf("tunnel did not come back: %+v", sas)
	}
}

// TestLivenessAnswered: with both sides alive, probes are answered and
// nothing is torn down.
func TestLivenessAnswered(t *testing.T) {
	p := newPair(t, []string{"aes128gcm16-prfsha256-x25519"}, []string{"aes128gcm16"})
	p.a.conns[0].DPDDelay, p.a.conns[0].DPDTimeout = 10*time.Second, 30*time.Second
	p.initiate(p.a, p.a.conns[0])
	p.run(5 * time.Minute)
	requireEstablished(t, p.a, p.b)
	if p.Sent < 10 {
		t.Fatalf("only %d datagrams in 5 minutes: no liveness checks", p.Sent)
	}
}

// TestStartKeepsTrying: a start = "start" connection whose peer is not up
// yet initiates again after each retransmission schedule, and comes up
// once the peer answers.
func TestStartKeepsTrying(t *testing.T) {
	p := newPair(t, []string{"aes128gcm16-prfsha256-x25519"}, []string{"aes128gcm16"})
	p.a.conns[0].Start = policy.StartStart
	down := true
	p.Filter = func(_ int, d isakmp.Datagram) []isakmp.Datagram {
		if down {
			return nil
		}
		return []isakmp.Datagram{d}
	}
	p.initiate(p.a, p.a.conns[0])
	p.run(2 * time.Minute) // several schedules of 31 s
	if sas := p.a.eng.SAs(); len(sas) != 1 || sas[0].State != "CONNECTING" {
		t.Fatalf("after two minutes without the peer: %+v", sas)
	}
	down = false
	p.run(time.Minute)
	requireEstablished(t, p.a, p.b)
}
