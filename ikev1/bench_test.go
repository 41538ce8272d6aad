package ikev1

import (
	"testing"

	"ikegate/isakmp"
)

// BenchmarkMainQuick measures Main Mode + Quick Mode (PSK), both sides'
// work in one goroutine. SAs are kept, as a gateway would.
func BenchmarkMainQuick(b *testing.B) {
	for _, s := range []struct{ name, ike string }{
		{"x25519", "aes128-sha256-x25519"},
		{"modp2048", "aes256-sha256-modp2048"},
	} {
		b.Run(s.name, func(b *testing.B) {
			p := newPair(b, "main", []string{s.ike}, []string{"aes128-sha256"})
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := p.a.eng.initiatePhase1(p.Now, p.a.conns[0]); err != nil {
					b.Fatal(err)
				}
				p.do(p.a, p.a.eng.Flush())
				for len(p.Queue) > 0 {
					p.Deliver()
				}
			}
			b.StopTimer()
			if got := len(p.b.inst.Live); got != b.N {
				b.Fatalf("%d phase 2 SAs, want %d", got, b.N)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "exchanges/s")
		})
	}
}

// FuzzHandleDatagram feeds arbitrary datagrams to an IKEv1 responder and
// to an initiator waiting for message 2: nothing may panic, and garbage
// never establishes an SA.
func FuzzHandleDatagram(f *testing.F) {
	seed := newPair(f, "main", []string{"aes256-sha256-modp2048"}, []string{"aes256-sha256"})
	seed.Filter = func(_ int, d isakmp.Datagram) []isakmp.Datagram {
		f.Add(d.Data)
		return []isakmp.Datagram{d}
	}
	seed.initiate(seed.a, seed.a.conns[0])
	seed.run(60e9)
	f.Fuzz(func(t *testing.T, data []byte) {
		p := newPair(t, "aggressive", []string{"aes256-sha256-modp2048"}, []string{"aes256-sha256"})
		p.initiate(p.a, p.a.conns[0])
		p.Queue = nil
		for _, n := range []*node{p.b, p.a} {
			other := p.a
			if n == p.a {
				other = p.b
			}
			n.eng.HandleDatagram(p.Now, isakmp.Datagram{Local: netipPort(n), Remote: netipPort(other), Data: data})
			for _, s := range n.eng.SAs() {
				if s.State == "ESTABLISHED" {
					t.Fatalf("garbage established an SA: %+v", s)
				}
			}
		}
	})
}
