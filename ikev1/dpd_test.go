package ikev1

import (
	"encoding/binary"
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

// TestDPDAckOutOfStep emulates a peer that acknowledges each R-U-THERE
// with the previous probe's sequence number (reported of Cisco ASAs): b's
// ACKs are replaced by ones carrying a's latest sequence number minus one.
// a takes the ACK of an earlier probe of the same probing as life (no
// dead peer in four dpd_timeouts, counted), while ACKs that answer no
// probe of the probing (minus 1000) leave the peer dead as before.
func TestDPDAckOutOfStep(t *testing.T) {
	for _, tc := range []struct {
		name  string
		lag   uint32
		alive bool
	}{
		{"one behind", 1, true},
		{"answers nothing", 1000, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPair(t, "main", []string{"aes256-sha256-modp2048"}, []string{"aes256-sha256"})
			c := p.a.conns[0]
			c.DPDDelay, c.DPDTimeout = 10*time.Second, 30*time.Second
			p.initiate(p.a, c)
			p.run(time.Second)
			requireUp(t, p.a, p.b, 1)
			var asa, bsa *p1SA
			for _, s := range p.a.eng.sas {
				asa = s
			}
			for _, s := range p.b.eng.sas {
				bsa = s
			}
			p.Filter = func(_ int, d isakmp.Datagram) []isakmp.Datagram {
				h, err := isakmp.ParseHeader(d.Data)
				if err != nil || d.Local.Addr() != p.b.addr || h.Exchange != isakmp.ExchangeV1Informational {
					return []isakmp.Datagram{d}
				}
				// b's ACK, replaced by one with the lagging number.
				seq := asa.DPD.State().Seq - tc.lag
				p.b.eng.sendNotify(bsa, isakmp.V1NotifyRUThereAck, binary.BigEndian.AppendUint32(nil, seq))
				return p.b.eng.Flush().Datagrams
			}
			start := p.Now
			for p.Now.Sub(start) < 2*time.Minute && len(p.a.eng.sas) == 1 {
				p.Now = p.Now.Add(time.Second)
				p.do(p.a, p.a.eng.Tick(p.Now))
				p.do(p.b, p.b.eng.Tick(p.Now))
				p.run(0)
			}
			alive := len(p.a.eng.sas) == 1 && asa.state == stateEstablished
			st := p.a.eng.Stats()
			if alive != tc.alive {
				t.Fatalf("after %v: a's SA alive %v, want %v (counters %+v)", p.Now.Sub(start), alive, tc.alive, st)
			}
			if tc.alive && st.DPDAckEarlier == 0 {
				t.Errorf("no ACK counted as answering an earlier probe: %+v", st)
			}
			if !tc.alive && st.DPDAckStale == 0 {
				t.Errorf("no stale ACK counted: %+v", st)
			}
		})
	}
}
