package policy

import (
	"testing"
	"unsafe"
)

// TestChildSASize keeps ChildSA within the 288-byte size class: there is
// one per CHILD SA, and a field that pushes it past 288 bytes costs 32
// more per SA (the 320-byte class). Reorder fields into padding first.
func TestChildSASize(t *testing.T) {
	for _, tc := range []struct {
		name      string
		size, max uintptr
	}{
		{"ChildSA", unsafe.Sizeof(ChildSA{}), 288},
	} {
		if tc.size > tc.max {
			t.Errorf("%s is %d bytes, want at most %d", tc.name, tc.size, tc.max)
		}
	}
}
