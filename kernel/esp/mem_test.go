package esp

import (
	"bytes"
	"runtime"
	"sync"
	"testing"
	"unsafe"

	"ikegate/oakley"
)

// TestSAState checks what an SA keeps: no cipher state and no anti-replay
// window until its first packet; then the AES block only where CTR
// decryption needs it (GCM-8) or the mode is CBC, the anti-replay window
// only inbound.
func TestSAState(t *testing.T) {
	for _, c := range []struct {
		name      string
		encr      oakley.Transform
		integ     uint16
		encKey    []byte
		integKey  []byte
		wantBlock bool
		suite     string
	}{
		{"aes128gcm16", oakley.Transform{Type: oakley.TransformENCR, ID: oakley.EncrAESGCM16, KeyLen: 128}, oakley.IntegNone, bytes.Repeat([]byte{1}, 20), nil, false, "aes128gcm128"},
		{"aes256gcm12", oakley.Transform{Type: oakley.TransformENCR, ID: oakley.EncrAESGCM12, KeyLen: 256}, oakley.IntegNone, bytes.Repeat([]byte{2}, 36), nil, false, "aes256gcm96"},
		{"aes128gcm8", oakley.Transform{Type: oakley.TransformENCR, ID: oakley.EncrAESGCM8, KeyLen: 128}, oakley.IntegNone, bytes.Repeat([]byte{3}, 20), nil, true, "aes128gcm64"},
		{"chacha20poly1305", oakley.Transform{Type: oakley.TransformENCR, ID: oakley.EncrChaCha20Poly1305}, oakley.IntegNone, bytes.Repeat([]byte{4}, 36), nil, false, "chacha20poly1305"},
		{"aes128cbc-sha256", oakley.Transform{Type: oakley.TransformENCR, ID: oakley.EncrAESCBC, KeyLen: 128}, oakley.IntegHMACSHA2_256, bytes.Repeat([]byte{5}, 16), bytes.Repeat([]byte{6}, 32), true, "aes128cbc-sha256_128"},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, err := NewOutbound(0x1000, c.encr, c.integ, c.encKey, c.integKey)
			if err != nil {
				t.Fatal(err)
			}
			in, err := NewInbound(0x1000, c.encr, c.integ, c.encKey, c.integKey)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range []*SA{out, in} {
				if s.cs.Load() != nil || s.replay != nil {
					t.Errorf("inbound %v: cipher state or replay window before the first packet", s.inbound)
				}
			}
			if out.Highest() != 0 || in.Highest() != 0 {
				t.Errorf("outbound Highest() = %d, want 0", out.Highest())
			}
			// The pair still works.
			pkt, err := out.Encapsulate(nil, []byte{0x45, 0, 0, 20, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2})
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := in.Decapsulate(nil, pkt); err != nil {
				t.Fatal(err)
			}
			if in.Highest() != 1 {
				t.Errorf("inbound Highest() = %d after one packet, want 1", in.Highest())
			}
			for _, s := range []*SA{out, in} {
				cs := s.cs.Load()
				if cs == nil {
					t.Fatalf("inbound %v: no cipher state after a packet", s.inbound)
				}
				if got := cs.block != nil; got != c.wantBlock {
					t.Errorf("inbound %v: block kept %v, want %v", s.inbound, got, c.wantBlock)
				}
				if got := s.replay != nil; got != s.inbound {
					t.Errorf("inbound %v: replay window %v, want %v", s.inbound, got, s.inbound)
				}
				if got := s.Suite(); got != c.suite {
					t.Errorf("Suite() = %q, want %q", got, c.suite)
				}
			}
		})
	}
}

// BenchmarkNewSA reports what one AES-GCM-16 SA pair (inbound and
// outbound) costs to build (ns/op, B/op) and, as heap-bytes/pair, to
// hold: the live heap after a collection with all b.N pairs kept.
func BenchmarkNewSA(b *testing.B) {
	encr := oakley.Transform{Type: oakley.TransformENCR, ID: oakley.EncrAESGCM16, KeyLen: 128}
	key := bytes.Repeat([]byte{7}, 20)
	held := make([]*SA, 0, 2*b.N)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		out, err := NewOutbound(0x1000, encr, oakley.IntegNone, key, nil)
		if err != nil {
			b.Fatal(err)
		}
		in, err := NewInbound(0x1000, encr, oakley.IntegNone, key, nil)
		if err != nil {
			b.Fatal(err)
		}
		held = append(held, out, in)
	}
	b.StopTimer()
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/float64(b.N), "heap-bytes/pair")
	runtime.KeepAlive(held)
}

// TestFirstPacketConcurrent: goroutines sending an SA's first packets at
// once all get working cipher state (one is kept), and every packet
// decapsulates on the peer's fresh SA.
func TestFirstPacketConcurrent(t *testing.T) {
	encr := oakley.Transform{Type: oakley.TransformENCR, ID: oakley.EncrAESGCM16, KeyLen: 128}
	key := bytes.Repeat([]byte{9}, 20)
	out, err := NewOutbound(0x2000, encr, oakley.IntegNone, key, nil)
	if err != nil {
		t.Fatal(err)
	}
	in, err := NewInbound(0x2000, encr, oakley.IntegNone, key, nil)
	if err != nil {
		t.Fatal(err)
	}
	inner := []byte{0x45, 0, 0, 20, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2}
	const n = 8
	pkts := make([][]byte, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { pkts[i], errs[i] = out.Encapsulate(nil, inner) })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		wg.Go(func() { _, _, errs[i] = in.Decapsulate(nil, pkts[i]) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("packet %d: %v", i, err)
		}
	}
	if c := in.Counters(); c.Packets != n {
		t.Errorf("%d packets accepted, want %d", c.Packets, n)
	}
}

// TestSASize keeps an SA direction in the 160-byte size class of the Go
// allocator: every CHILD SA of the userspace dataplane has two.
func TestSASize(t *testing.T) {
	if n := unsafe.Sizeof(SA{}); n > 160 {
		t.Errorf("SA is %d bytes, want at most 160", n)
	}
}
