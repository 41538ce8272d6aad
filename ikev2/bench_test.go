package ikev2

import (
	"net/netip"
	"runtime"
	"testing"

	"go.uber.org/zap"
)

// benchPair is a pair without a *testing.T, for benchmarks.
func newBenchPair(b *testing.B, ike, esp string) *pair {
	a, bb := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	log := zap.NewNop()
	p := (&pair{t: b,
		a: newNode(b, "a", a, log, pskConn(b, "ab", a, bb, []string{ike}, []string{esp})),
		b: newNode(b, "b", bb, log, pskConn(b, "ba", bb, a, []string{ike}, []string{esp})),
	}).wire()
	p.b.eng.Cfg.CookieThreshold = 1 << 30
	return p
}

// handshake runs one IKE_SA_INIT + IKE_AUTH (with its CHILD SA) to the end.
func (p *pair) handshake(b *testing.B) {
	if err := p.a.eng.initiateIKE(p.Now, p.a.conns[0]); err != nil {
		b.Fatal(err)
	}
	p.do(p.a, p.a.eng.Flush())
	for len(p.Queue) > 0 {
		p.Deliver()
	}
}

// BenchmarkHandshake measures a full PSK IKE_SA_INIT + IKE_AUTH, both
// sides' work, in one goroutine. SAs are kept, as a gateway would.
func BenchmarkHandshake(b *testing.B) {
	for _, s := range []struct{ name, ike string }{
		{"x25519", "aes128gcm16-prfsha256-x25519"},
		{"modp2048", "aes256-sha256-modp2048"},
	} {
		b.Run(s.name, func(b *testing.B) {
			p := newBenchPair(b, s.ike, "aes128gcm16")
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				p.handshake(b)
			}
			b.StopTimer()
			if got := len(p.a.eng.SAs()); got != b.N {
				b.Fatalf("%d SAs established, want %d", got, b.N)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "handshakes/s")
		})
	}
}

// BenchmarkMemoryPerSA reports the heap held per established IKE SA with
// one CHILD SA (responder and initiator side each hold one). Run with
// -benchtime=10000x to hold 10,000 SAs.
func BenchmarkMemoryPerSA(b *testing.B) {
	p := newBenchPair(b, "aes128gcm16-prfsha256-x25519", "aes128gcm16")
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := 0; i < b.N; i++ {
		p.handshake(b)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if got := len(p.b.eng.SAs()); got != b.N {
		b.Fatalf("%d SAs, want %d", got, b.N)
	}
	perSA := float64(after.HeapAlloc-before.HeapAlloc) / float64(2*b.N)
	b.ReportMetric(perSA, "heap-bytes/SA")
	runtime.KeepAlive(p)
}
