package gateway

import (
	"bytes"
	"encoding/binary"
	"testing"

	"ikegate/isakmp"
)

// ikeMsg builds a header-only IKE message of the given major version with a
// correct Length field, padded to size bytes (size >= 28).
func ikeMsg(major uint8, spii, spir uint64, flags uint8, size int) []byte {
	b := make([]byte, size)
	binary.BigEndian.PutUint64(b[0:], spii)
	binary.BigEndian.PutUint64(b[8:], spir)
	b[16] = 33 // SA
	b[17] = major << 4
	b[18] = 34 // IKE_SA_INIT
	b[19] = flags
	binary.BigEndian.PutUint32(b[24:], uint32(size))
	return b
}

func withMarker(b []byte) []byte { return append([]byte{0, 0, 0, 0}, b...) }

func TestClassify(t *testing.T) {
	v2 := ikeMsg(2, 0x1122334455667788, 0, isakmp.FlagInitiator, 80)
	v1 := ikeMsg(1, 0xAA, 0, 0, 40)
	v3 := ikeMsg(3, 0xAA, 0, 0, 28)
	v0 := ikeMsg(0, 0xAA, 0, 0, 28)
	badLen := ikeMsg(2, 1, 0, 0, 40)
	binary.BigEndian.PutUint32(badLen[24:], 41)
	esp := []byte{0x00, 0x00, 0x12, 0x34, 0, 0, 0, 1, 0xde, 0xad, 0xbe, 0xef}

	tests := []struct {
		name   string
		natt   bool
		in     []byte
		kind   Kind
		reason Reason
		msg    []byte
	}{
		{"500 ikev2", false, v2, KindIKEv2, ReasonNone, v2},
		{"500 ikev1", false, v1, KindIKEv1, ReasonNone, v1},
		{"500 version 3 (answered by the IKEv2 engine)", false, v3, KindIKEv2, ReasonNone, v3},
		{"500 version 0", false, v0, KindInvalid, ReasonBadVersion, nil},
		{"500 version 0", false, ikeMsg(0, 1, 0, 0, 28), KindInvalid, ReasonBadVersion, nil},
		{"500 empty", false, nil, KindInvalid, ReasonTooShort, nil},
		{"500 27 bytes", false, v2[:27], KindInvalid, ReasonTooShort, nil},
		{"500 truncated", false, v2[:60], KindInvalid, ReasonLengthMismatch, nil},
		{"500 trailing bytes", false, append(append([]byte{}, v2...), 0), KindInvalid, ReasonLengthMismatch, nil},
		{"500 length field off", false, badLen, KindInvalid, ReasonLengthMismatch, nil},
		{"500 keepalive byte is not special", false, []byte{0xFF}, KindInvalid, ReasonTooShort, nil},
		{"500 marker is not stripped", false, withMarker(v2), KindInvalid, ReasonLengthMismatch, nil},
		{"4500 keepalive", true, []byte{0xFF}, KindKeepalive, ReasonNone, nil},
		{"4500 ikev2", true, withMarker(v2), KindIKEv2, ReasonNone, v2},
		{"4500 ikev1", true, withMarker(v1), KindIKEv1, ReasonNone, v1},
		{"4500 marker only", true, []byte{0, 0, 0, 0}, KindInvalid, ReasonTooShort, nil},
		{"4500 marker + short", true, withMarker(v2[:20]), KindInvalid, ReasonTooShort, nil},
		{"4500 marker + bad length", true, withMarker(badLen), KindInvalid, ReasonLengthMismatch, nil},
		{"4500 marker + version 3", true, withMarker(v3), KindIKEv2, ReasonNone, v3},
		{"4500 esp", true, esp, KindESP, ReasonNone, esp},
		{"4500 ike without marker is esp", true, v2, KindESP, ReasonNone, v2},
		{"4500 empty", true, nil, KindInvalid, ReasonRunt, nil},
		{"4500 two 0xFF", true, []byte{0xFF, 0xFF}, KindInvalid, ReasonRunt, nil},
		{"4500 single 0x00", true, []byte{0}, KindInvalid, ReasonRunt, nil},
		{"4500 seven bytes", true, esp[:7], KindInvalid, ReasonRunt, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kind, reason, msg := Classify(tt.in, tt.natt)
			if kind != tt.kind || reason != tt.reason {
				t.Fatalf("Classify = %v/%v, want %v/%v", kind, reason, tt.kind, tt.reason)
			}
			if !bytes.Equal(msg, tt.msg) {
				t.Fatalf("msg = %x, want %x", msg, tt.msg)
			}
		})
	}
}

func FuzzClassify(f *testing.F) {
	f.Add([]byte{0xFF}, true)
	f.Add([]byte{0, 0, 0, 0}, true)
	f.Add(withMarker(ikeMsg(2, 1, 2, 8, 28)), true)
	f.Add(ikeMsg(2, 1, 2, 8, 28), false)
	f.Add(ikeMsg(1, 1, 0, 0, 36), false)
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9}, true)
	f.Fuzz(func(t *testing.T, b []byte, natt bool) {
		kind, reason, msg := Classify(b, natt)
		switch kind {
		case KindIKEv1, KindIKEv2:
			if reason != ReasonNone {
				t.Fatalf("IKE with reason %v", reason)
			}
			if len(msg) < isakmp.HeaderLen || int(binary.BigEndian.Uint32(msg[24:28])) != len(msg) {
				t.Fatalf("IKE message of %d bytes with bad length field", len(msg))
			}
			want := b
			if natt {
				want = b[4:]
			}
			if !bytes.Equal(msg, want) {
				t.Fatalf("msg is not the datagram minus marker")
			}
			h := peekHeader(msg)
			_ = ShardOf(routeSPI(h), 7)
			_ = h.fields(2)
		case KindESP:
			if !natt || reason != ReasonNone || len(msg) < 8 {
				t.Fatalf("bad ESP classification natt=%v reason=%v len=%d", natt, reason, len(msg))
			}
		case KindKeepalive:
			if !natt || len(b) != 1 || b[0] != 0xFF {
				t.Fatalf("keepalive for %x natt=%v", b, natt)
			}
		case KindInvalid:
			if reason == ReasonNone || msg != nil {
				t.Fatalf("invalid without reason or with msg")
			}
		default:
			t.Fatalf("unknown kind %v", kind)
		}
	})
}

func TestShardOfStable(t *testing.T) {
	const n = 8
	counts := make([]int, n)
	for i := uint64(0); i < 8000; i++ {
		spi := i * 0x9E3779B97F4A7C15
		k := ShardOf(spi, n)
		if k < 0 || k >= n {
			t.Fatalf("ShardOf(%x) = %d out of range", spi, k)
		}
		for range 3 {
			if ShardOf(spi, n) != k {
				t.Fatalf("ShardOf(%x) not stable", spi)
			}
		}
		counts[k]++
		if f := spiFilter(k, n); f != nil && !f(spi) {
			t.Fatalf("spiFilter(%d) rejects an SPI that routes to it", k)
		}
		if f := spiFilter((k+1)%n, n); f(spi) {
			t.Fatalf("spiFilter of another shard accepts %x", spi)
		}
	}
	for k, c := range counts {
		if c < 700 || c > 1300 {
			t.Errorf("shard %d got %d of 8000 SPIs; distribution is poor: %v", k, c, counts)
		}
	}
	// Sequential SPIs (a peer that counts) still spread.
	seen := map[int]bool{}
	for i := uint64(1); i <= 64; i++ {
		seen[ShardOf(i, n)] = true
	}
	if len(seen) != n {
		t.Errorf("sequential SPIs reach only %d of %d shards", len(seen), n)
	}
	if ShardOf(12345, 1) != 0 || ShardOf(12345, 0) != 0 || spiFilter(0, 1) != nil {
		t.Error("a single shard must take everything, without a filter")
	}
}

// A message is routed by the SPI this gateway chose: SPIi for new SAs and
// for SAs we initiated, SPIr for SAs the peer initiated. All messages of an
// IKE SA therefore land on one shard, including after the peer rekeys it.
func TestRouteSPI(t *testing.T) {
	const ours, theirs = 0x1111, 0x2222
	tests := []struct {
		name string
		msg  []byte
		want uint64
	}{
		{"IKE_SA_INIT request from peer", ikeMsg(2, theirs, 0, isakmp.FlagInitiator, 28), theirs},
		{"peer-initiated SA, request from initiator", ikeMsg(2, theirs, ours, isakmp.FlagInitiator, 28), ours},
		{"peer-initiated SA, response from initiator", ikeMsg(2, theirs, ours, isakmp.FlagInitiator|isakmp.FlagResponse, 28), ours},
		{"our SA, response from responder", ikeMsg(2, ours, theirs, isakmp.FlagResponse, 28), ours},
		{"our SA, request from responder", ikeMsg(2, ours, theirs, 0, 28), ours},
		{"IKE_SA_INIT response to us (SPIr set)", ikeMsg(2, ours, theirs, isakmp.FlagResponse, 28), ours},
	}
	for _, tt := range tests {
		if got := routeSPI(peekHeader(tt.msg)); got != tt.want {
			t.Errorf("%s: routeSPI = %#x, want %#x", tt.name, got, tt.want)
		}
	}
}
