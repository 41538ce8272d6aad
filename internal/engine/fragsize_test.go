package engine

import (
	"net/netip"
	"testing"
)

func TestFragmentLimit(t *testing.T) {
	cfg := Config{}.WithDefaults()
	for _, c := range []struct {
		remote string
		want   int
		// datagram is the largest IKE datagram on port 4500 (IP, UDP,
		// non-ESP marker, message): it must fit 1280 bytes.
		ipHeader int
	}{
		{"192.0.2.1", 1232, 20},
		{"::ffff:192.0.2.1", 1232, 20}, // IPv4-mapped: an IPv4 peer
		{"2001:db8::1", 1212, 40},
		{"fe80::1%eth0", 1212, 40},
	} {
		got := cfg.FragmentLimit(netip.MustParseAddr(c.remote))
		if got != c.want {
			t.Errorf("FragmentLimit(%s) = %d, want %d", c.remote, got, c.want)
		}
		if d := c.ipHeader + 8 + 4 + got; d > 1280 {
			t.Errorf("FragmentLimit(%s) = %d: a datagram of %d bytes, more than 1280", c.remote, got, d)
		}
	}
	if got := (Config{FragmentSize: 500}).FragmentLimit(netip.MustParseAddr("2001:db8::1")); got != 480 {
		t.Errorf("FragmentLimit with FragmentSize 500 to IPv6 = %d, want 480", got)
	}
}
