package engine

import (
	"bytes"
	"net/netip"
	"testing"

	"ikegate/isakmp"
	"ikegate/policy"
)

// TestConfigAttr: what a client asking for one attribute gets, for an
// IPv4 and an IPv6 virtual IP, with a pool that has DNS servers of both
// families: the address only of its own family (IPv6 with prefix length
// 128, RFC 7296 3.15.1), each family's DNS servers only under its own
// attribute.
func TestConfigAttr(t *testing.T) {
	v4, v6 := netip.MustParseAddr("10.9.0.1"), netip.MustParseAddr("fd00:9::100")
	attrs := &policy.Attributes{
		DNS:  []netip.Addr{netip.MustParseAddr("10.2.0.53"), netip.MustParseAddr("fd00:2::53"), netip.MustParseAddr("10.2.0.54")},
		NBNS: []netip.Addr{netip.MustParseAddr("10.2.0.55")},
	}
	b := func(s ...string) [][]byte {
		var out [][]byte
		for _, a := range s {
			out = append(out, netip.MustParseAddr(a).AsSlice())
		}
		return out
	}
	for _, tc := range []struct {
		name  string
		t     uint16
		vip   netip.Addr
		attrs *policy.Attributes
		known bool
		want  [][]byte
	}{
		{"ip4 address, ipv4 vip", isakmp.CPInternalIP4Address, v4, attrs, true, b("10.9.0.1")},
		{"ip4 address, ipv6 vip", isakmp.CPInternalIP4Address, v6, attrs, true, nil},
		{"ip4 netmask, ipv4 vip", isakmp.CPInternalIP4Netmask, v4, attrs, true, [][]byte{{255, 255, 255, 255}}},
		{"ip4 netmask, ipv6 vip", isakmp.CPInternalIP4Netmask, v6, attrs, true, nil},
		{"ip6 address, ipv6 vip", isakmp.CPInternalIP6Address, v6, attrs, true, [][]byte{append(v6.AsSlice(), 128)}},
		{"ip6 address, ipv4 vip", isakmp.CPInternalIP6Address, v4, attrs, true, nil},
		{"ip6 address, no vip", isakmp.CPInternalIP6Address, netip.Addr{}, attrs, true, nil},
		{"ip4 dns", isakmp.CPInternalIP4DNS, v6, attrs, true, b("10.2.0.53", "10.2.0.54")},
		{"ip6 dns", isakmp.CPInternalIP6DNS, v4, attrs, true, b("fd00:2::53")},
		{"ip6 dns, no pool attributes", isakmp.CPInternalIP6DNS, v6, nil, true, nil},
		{"nbns", isakmp.CPInternalIP4NBNS, v4, attrs, true, b("10.2.0.55")},
		{"ip6 subnet: not a shared one", isakmp.CPInternalIP6Subnet, v6, attrs, false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got [][]byte
			known := ConfigAttr(tc.t, tc.vip, tc.attrs, func(typ uint16, v []byte) {
				if typ != tc.t {
					t.Errorf("added attribute %d, asked for %d", typ, tc.t)
				}
				got = append(got, v)
			})
			if known != tc.known {
				t.Errorf("ConfigAttr reported %v, want %v", known, tc.known)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("values %x, want %x", got, tc.want)
			}
			for i := range got {
				if !bytes.Equal(got[i], tc.want[i]) {
					t.Errorf("value %d: %x, want %x", i, got[i], tc.want[i])
				}
			}
		})
	}
}
