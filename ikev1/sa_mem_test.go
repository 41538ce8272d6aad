package ikev1

import (
	"testing"
	"unsafe"
)

// TestSASizes keeps the records every SA has in their size classes of
// the Go allocator (704 and 176 bytes): one field more moves each to the
// next class, which every SA of a large gateway pays.
func TestSASizes(t *testing.T) {
	for _, tc := range []struct {
		name      string
		size, max uintptr
	}{
		{"p1SA", unsafe.Sizeof(p1SA{}), 704},
		{"child", unsafe.Sizeof(child{}), 176},
	} {
		if tc.size > tc.max {
			t.Errorf("%s is %d bytes, want at most %d", tc.name, tc.size, tc.max)
		}
	}
}
