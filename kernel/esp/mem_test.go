package esp

import (
	"bytes"
	"runtime"
	"testing"

	"ikegate/oakley"
)

// TestSAState checks what an SA keeps besides its cipher: the AES block
// only where CTR decryption needs it (GCM-8) or the mode is CBC, the
// anti-replay window only inbound.
func TestSAState(t *testing.T) {
	for _, c := range []struct {
		name      string
		encr      oakley.Transform
		integ     uint16
		encKey    []byte
		integKey  []byte
		wantBlock bool
	}{
		{"aes128gcm16", oakley.Transform{Type: oakley.TransformENCR, ID: oakley.EncrAESGCM16, KeyLen: 128}, oakley.IntegNone, bytes.Repeat([]byte{1}, 20), nil, false},
		{"aes256gcm12", oakley.Transform{Type: oakley.TransformENCR, ID: oakley.EncrAESGCM12, KeyLen: 256}, oakley.IntegNone, bytes.Repeat([]byte{2}, 36), nil, false},
		{"aes128gcm8", oakley.Transform{Type: oakley.TransformENCR, ID: oakley.EncrAESGCM8, KeyLen: 128}, oakley.IntegNone, bytes.Repeat([]byte{3}, 20), nil, true},
		{"chacha20poly1305", oakley.Transform{Type: oakley.TransformENCR, ID: oakley.EncrChaCha20Poly1305}, oakley.IntegNone, bytes.Repeat([]byte{4}, 36), nil, false},
		{"aes128cbc-sha256", oakley.Transform{Type: oakley.TransformENCR, ID: oakley.EncrAESCBC, KeyLen: 128}, oakley.IntegHMACSHA2_256, bytes.Repeat([]byte{5}, 16), bytes.Repeat([]byte{6}, 32), true},
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
				if got := s.block != nil; got != c.wantBlock {
					t.Errorf("inbound %v: block kept %v, want %v", s.inbound, got, c.wantBlock)
				}
				if got := s.replay != nil; got != s.inbound {
					t.Errorf("inbound %v: replay window %v, want %v", s.inbound, got, s.inbound)
				}
			}
			if out.Highest() != 0 {
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
