package ikev2

import (
	"testing"
	"time"

	"go.uber.org/zap/zapcore"

	"ikegate/isakmp"
)

// TestDeleteUnanswered: `ikegate down` towards a peer that no longer
// answers: the IKE SA goes after the retransmissions, quietly (no "peer
// is dead" warning), and a connection kept up (start = "start") is not
// initiated again: it was terminated on purpose.
func TestDeleteUnanswered(t *testing.T) {
	cp := newColPair(t, 1, "aes128gcm16")
	p := cp.pair
	c := p.a.conns[0]
	c.Start = "start"
	p.initiate(p.a, c)
	p.run(2 * time.Second)
	if len(p.a.eng.SAs()) != 1 {
		t.Fatal("no IKE SA")
	}
	p.Filter = func(_ int, d isakmp.Datagram) []isakmp.Datagram {
		if d.Local.Addr() == p.a.addr {
			return nil // the peer is gone
		}
		return []isakmp.Datagram{d}
	}
	sent := 0
	out, found := p.a.eng.Terminate(p.Now, c.Name)
	if !found {
		t.Fatal("Terminate found no SA")
	}
	p.do(p.a, out)
	start := p.Now
	for p.Now.Sub(start) < 2*time.Minute {
		p.Now = p.Now.Add(time.Second)
		out := p.a.eng.Tick(p.Now)
		sent += len(out.Datagrams)
		p.do(p.a, out)
		p.run(0)
	}
	if sas := p.a.eng.SAs(); len(sas) != 0 {
		t.Errorf("after the unanswered Delete a still lists %+v", sas)
	}
	for _, e := range cp.logs.All() {
		if e.Level >= zapcore.WarnLevel && e.ContextMap()["conn"] == c.Name { // b, cut off, may well find a dead
			t.Errorf("warning: %s %v", e.Message, e.ContextMap())
		}
	}
	if f := p.a.eng.LastFailure(c.Name); f != "" {
		t.Errorf("down recorded a failure: %s", f)
	}
	if sent > 10 {
		t.Errorf("%d datagrams sent after the Delete: initiated again?", sent)
	}
}
