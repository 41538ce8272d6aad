package loadgen

import (
	"context"
	"net/netip"
	"testing"
	"time"
)

// BenchmarkRun drives b.N IKEv2 handshakes (PSK, Curve25519, AES-GCM,
// virtual IPs) against an in-process ikegate on loopback, with the
// clients on one engine, on the default shards, and on an engine each.
// Generator and responder share the process and the CPUs: the rate is a
// lower bound of either, and cpu-µs/handshake is both together. (The
// generator's own CPU and memory per client show with `ikegate bench`
// against a responder in another process; see the package comment.)
//
//	go test -run=NONE -bench=Run -benchtime=2000x ./internal/loadgen/
func BenchmarkRun(b *testing.B) {
	const psk = "loadgen-bench-secret-0123456789"
	for _, bc := range []struct {
		name    string
		engines func(n int) int
	}{
		{"one-engine", func(int) int { return 1 }},
		{"shards", func(int) int { return 0 }},
		{"engine-per-client", func(n int) int { return n }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			_, port := responder(b, "version = \"ikev2\"\nike = [\"aes128gcm16-prfsha256-x25519\"]\nauth = \"psk\"\npsk = \""+
				psk+"\"\npool = \"rw\"\n", 0)
			b.ResetTimer()
			res, err := Run(context.Background(), Config{Target: netip.AddrPortFrom(loopback, port), NATTPort: port + 1,
				From: []netip.Addr{clientIP}, PSK: []byte(psk), LocalID: "c%d.bench", VirtualIP: true,
				Count: b.N, Concurrency: 64, Engines: bc.engines(b.N), Timeout: time.Minute})
			b.StopTimer()
			if err != nil {
				b.Fatal(err)
			}
			if res.Established != b.N {
				b.Fatalf("%d of %d established: %v", res.Established, b.N, res.Failures)
			}
			b.ReportMetric(res.Rate, "handshakes/s")
			b.ReportMetric(float64(res.CPU.Microseconds())/float64(b.N), "cpu-µs/handshake")
			b.ReportMetric(float64(res.Latency.P99.Microseconds())/1000, "p99-ms")
		})
	}
}
