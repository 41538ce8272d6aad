package policy

import (
	"fmt"
	"net/netip"
	"testing"
)

func TestRangePrefixes(t *testing.T) {
	tests := []struct{ start, end, want string }{
		{"10.0.0.0", "10.0.0.255", "[10.0.0.0/24]"},
		{"10.0.0.1", "10.0.0.1", "[10.0.0.1/32]"},
		{"10.0.0.1", "10.0.0.6", "[10.0.0.1/32 10.0.0.2/31 10.0.0.4/31 10.0.0.6/32]"},
		{"0.0.0.0", "255.255.255.255", "[0.0.0.0/0]"},
		{"10.0.0.5", "10.0.0.4", "[]"},
		{"2001:db8::", "2001:db8::ffff", "[2001:db8::/112]"},
		{"255.255.255.254", "255.255.255.255", "[255.255.255.254/31]"},
	}
	for _, tt := range tests {
		got := fmt.Sprint(RangePrefixes(netip.MustParseAddr(tt.start), netip.MustParseAddr(tt.end)))
		if got != tt.want {
			t.Errorf("%s-%s: %s, want %s", tt.start, tt.end, got, tt.want)
		}
	}
}

func TestCovered(t *testing.T) {
	allowed := []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")}
	if !Covered([]netip.Prefix{netip.MustParsePrefix("10.1.2.0/24"), netip.MustParsePrefix("10.1.0.1/32")}, allowed) {
		t.Error("inside not covered")
	}
	if Covered([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, allowed) || Covered(nil, allowed) {
		t.Error("outside or empty covered")
	}
}
