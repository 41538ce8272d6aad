package ikev2

import (
	"bytes"
	"slices"
	"testing"
	"unsafe"

	"ikegate/oakley"
)

// TestSASizes keeps the records every SA has in their size classes of
// the Go allocator (640, 288 and 80 bytes): one field more moves each to
// the next class, which every SA of a large gateway pays.
func TestSASizes(t *testing.T) {
	for _, tc := range []struct {
		name      string
		size, max uintptr
	}{
		{"ikeSA", unsafe.Sizeof(ikeSA{}), 640},
		{"childSA", unsafe.Sizeof(childSA{}), 288},
		{"ikeKeys", unsafe.Sizeof(ikeKeys{}), 80},
	} {
		if tc.size > tc.max {
			t.Errorf("%s is %d bytes, want at most %d", tc.name, tc.size, tc.max)
		}
	}
}

// TestHashSet: the peer's SIGNATURE_HASH_ALGORITHMS as kept per SA, from
// the notify's data and from a record's list, and back.
func TestHashSet(t *testing.T) {
	for _, tc := range []struct {
		name string
		data []byte
		want []uint16
	}{
		{"none", nil, nil},
		{"sha2", []byte{0, 2, 0, 3, 0, 4}, []uint16{2, 3, 4}},
		{"unordered and repeated", []byte{0, 4, 0, 1, 0, 4}, []uint16{1, 4}},
		{"odd trailing octet ignored", []byte{0, 2, 0}, []uint16{2}},
		{"IDs above 15 left out", []byte{0, 2, 0x80, 0x01, 0, 16}, []uint16{2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := parseHashList(tc.data)
			if got := h.list(); !slices.Equal(got, tc.want) {
				t.Errorf("list() = %v, want %v", got, tc.want)
			}
			if back := hashSetOf(h.list()); back != h {
				t.Errorf("hashSetOf(list()) = %#x, want %#x", back, h)
			}
		})
	}
}

// TestIKEKeys: the keys kept in one buffer come back as derived, for an
// AEAD (no SK_a) and for a cipher with an integrity algorithm.
func TestIKEKeys(t *testing.T) {
	key := func(n int, b byte) []byte { return bytes.Repeat([]byte{b}, n) }
	for _, k := range []oakley.IKEKeys{
		{SKd: key(32, 1), SKei: key(20, 4), SKer: key(20, 5), SKpi: key(32, 6), SKpr: key(32, 7)},
		{SKd: key(64, 1), SKai: key(64, 2), SKar: key(64, 3), SKei: key(32, 4), SKer: key(32, 5), SKpi: key(64, 6), SKpr: key(64, 7)},
	} {
		got := newIKEKeys(nil, k, nil, nil).sk()
		for _, f := range []struct {
			name      string
			got, want []byte
		}{{"SK_d", got.SKd, k.SKd}, {"SK_ai", got.SKai, k.SKai}, {"SK_ar", got.SKar, k.SKar}, {"SK_ei", got.SKei, k.SKei},
			{"SK_er", got.SKer, k.SKer}, {"SK_pi", got.SKpi, k.SKpi}, {"SK_pr", got.SKpr, k.SKpr}} {
			if !bytes.Equal(f.got, f.want) || cap(f.got) != len(f.want) {
				t.Errorf("%s = %x (cap %d), want %x", f.name, f.got, cap(f.got), f.want)
			}
		}
	}
}
