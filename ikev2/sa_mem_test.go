package ikev2

import (
	"slices"
	"testing"
	"unsafe"
)

// TestSASizes keeps the records every SA has in their size classes of
// the Go allocator (640 and 288 bytes): one field more moves each to the
// next class (768, 320), which every SA of a large gateway pays.
func TestSASizes(t *testing.T) {
	for _, tc := range []struct {
		name      string
		size, max uintptr
	}{
		{"ikeSA", unsafe.Sizeof(ikeSA{}), 640},
		{"childSA", unsafe.Sizeof(childSA{}), 288},
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
