package ikev1

import (
	"bytes"
	"reflect"
	"strconv"
	"testing"
	"time"

	"ikegate/internal/engine"
	"ikegate/internal/enginetest"
	"ikegate/isakmp"
)

// moveTo exports every SA of n, sends the records through their JSON
// encoding and restores them into a fresh engine with a fresh installer,
// which then takes n's place.
func moveTo(t *testing.T, p *pair, n *node) {
	t.Helper()
	before := n.eng.SAs()
	recs := n.eng.Export()
	if len(recs) != len(before) || len(recs) == 0 {
		t.Fatalf("exported %d records for %d SAs", len(recs), len(before))
	}
	cfg := n.eng.Cfg
	inst := &fakeInstaller{Base: n.inst.Base ^ 0x0f000000}
	cfg.Installer = inst
	fresh := NewEngine(cfg)
	for _, rec := range recs {
		b, err := rec.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		back, err := engine.UnmarshalRecord(b)
		if err != nil {
			t.Fatal(err)
		}
		out, err := fresh.Restore(p.Now, back)
		if err != nil {
			t.Fatal(err)
		}
		p.Do(enginetest.Peer{Engine: fresh, Inst: inst}, out)
	}
	if after := fresh.SAs(); !reflect.DeepEqual(after, before) {
		t.Fatalf("restored SAs differ:\n before %+v\n after  %+v", before, after)
	}
	n.eng, n.inst = fresh, inst
}

// deliver hands the queued datagrams to their engines without running
// timers.
func (p *pair) deliver() {
	for len(p.Queue) > 0 {
		p.Wire.Deliver()
	}
}

// TestExportRestore moves one side's ISAKMP SA (with its phase 2 SA) to a
// fresh engine right after one of its answers was lost: Main Mode message
// 6 (answered again from the restored phase 1 cache) or Quick Mode message
// 2 (the peer's retransmission starts the Quick Mode anew). The SA then
// lives on through DPD both ways, phase 2 and phase 1 renewals, and a new
// Quick Mode from the restored side.
func TestExportRestore(t *testing.T) {
	for _, tc := range []struct {
		name  string
		moved func(p *pair) *node
		short func(p *pair) *node // whose lifetimes are short
		lost  string              // "MM6" or "QM2"
	}{
		{"responder moves, MM6 lost", func(p *pair) *node { return p.b }, func(p *pair) *node { return p.a }, "MM6"},
		{"responder moves, QM2 lost", func(p *pair) *node { return p.b }, func(p *pair) *node { return p.a }, "QM2"},
		{"initiator moves, QM2 lost, it renews", func(p *pair) *node { return p.a }, func(p *pair) *node { return p.a }, "QM2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPair(t, "main", []string{"aes256-sha256-modp2048"}, []string{"aes256-sha256"})
			for _, n := range []*node{p.a, p.b} {
				n.conns[0].DPDDelay, n.conns[0].DPDTimeout, n.conns[0].DPDAction = 20*time.Second, time.Minute, "clear"
			}
			s := tc.short(p)
			s.conns[0].IKELifetime, s.conns[0].ChildLifetime = 20*time.Minute, 5*time.Minute
			moved := tc.moved(p)
			other := p.a
			if moved == p.a {
				other = p.b
			}
			drop := false
			dropped := 0
			p.Filter = func(_ int, d isakmp.Datagram) []isakmp.Datagram {
				if drop && d.Local.Addr() == moved.addr {
					drop = false
					dropped++
					return nil
				}
				return []isakmp.Datagram{d}
			}

			p.initiate(p.a, p.a.conns[0])
			if tc.lost == "MM6" {
				// MM1..MM5 pass; b's MM6 is lost; b is established.
				for i := 0; i < 4; i++ {
					p.Wire.Deliver()
				}
				drop = true
				p.deliver()
				if sas := p.b.eng.SAs(); len(sas) != 1 || sas[0].State != "ESTABLISHED" || dropped != 1 {
					t.Fatalf("b should hold an established SA after MM5 with MM6 lost (%d): %+v", dropped, sas)
				}
				moveTo(t, p, moved)
				p.run(30 * time.Second)
				requireUp(t, p.a, p.b, 1)
			} else {
				p.run(time.Second)
				requireUp(t, p.a, p.b, 1)
				spi := other.eng.SAs()[0].Children[0].SPIIn
				v, _ := strconv.ParseUint(spi, 16, 32)
				out, ok := other.eng.Expired(p.Now, uint32(v), false)
				if !ok {
					t.Fatal("soft expire not taken")
				}
				drop = true
				p.do(other, out)
				p.deliver()
				if dropped != 1 {
					t.Fatal("QM2 was not dropped")
				}
				moveTo(t, p, moved)
				p.run(30 * time.Second)
				requireUp(t, p.a, p.b, 1)
				if got := p.a.eng.SAs()[0]; got.Children[0].State != "INSTALLED" {
					t.Fatalf("phase 2 after the move: %+v", got.Children)
				}
			}
			first := p.a.eng.SAs()[0]

			// DPD both ways, phase 2 and phase 1 renewals.
			p.run(50 * time.Minute)
			requireUp(t, p.a, p.b, 1)
			now := p.a.eng.SAs()[0]
			if now.Children[0].SPIIn == first.Children[0].SPIIn {
				t.Errorf("phase 2 SA not replaced after the move")
			}
			if s == p.a && now.LocalSPI == first.LocalSPI {
				t.Errorf("ISAKMP SA not replaced after the move")
			}

			// A new Quick Mode from the moved side.
			ds, err := moved.eng.Initiate(p.Now, moved.conns[0])
			if err != nil {
				t.Fatal(err)
			}
			p.do(moved, ds)
			p.run(time.Second)
			requireUp(t, p.a, p.b, 2)
		})
	}
}

// FuzzRestore restores arbitrary record JSON (as a cluster node reads it
// from etcd after decryption) into an engine: refused with an error or
// restored, never a panic; a restored SA is established.
// go test -run=NONE -fuzz='^FuzzRestore$' -fuzztime=5m ./ikev1/
func FuzzRestore(f *testing.F) {
	p := newPair(f, "main", []string{"aes128-sha256-modp2048"}, []string{"aes128-sha256"})
	p.initiate(p.a, p.a.conns[0])
	p.run(time.Minute)
	for _, n := range []*node{p.a, p.b} {
		for _, rec := range n.eng.Export() {
			b, err := rec.Marshal()
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
			f.Add(bytes.Replace(b, []byte(`"phase2_iv":"`), []byte(`"phase2_iv":"AA`), 1))
		}
	}
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p := newPair(t, "main", []string{"aes128-sha256-modp2048"}, []string{"aes128-sha256"})
		rec, err := engine.UnmarshalRecord(b)
		if err != nil {
			return
		}
		if _, err := p.b.eng.Restore(p.Now, rec); err != nil {
			return
		}
		for _, sa := range p.b.eng.SAs() {
			if sa.State != "ESTABLISHED" {
				t.Fatalf("restored SA in state %s", sa.State)
			}
		}
	})
}
