package isakmp

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"
)

func TestV1IDConstructors(t *testing.T) {
	tests := []struct {
		name        string
		id          V1ID
		typ         uint8
		data        []byte
		prefix      string // "" when Prefix fails
		first, last string // "" when Range fails
		str         string
	}{
		{"v4 addr", NewV1IDAddr(netip.MustParseAddr("192.0.2.1"), 17, 500), V1IDIPv4Addr,
			[]byte{192, 0, 2, 1}, "192.0.2.1/32", "192.0.2.1", "192.0.2.1", "192.0.2.1[17/500]"},
		{"mapped addr", NewV1IDAddr(netip.MustParseAddr("::ffff:192.0.2.1"), 0, 0), V1IDIPv4Addr,
			[]byte{192, 0, 2, 1}, "192.0.2.1/32", "192.0.2.1", "192.0.2.1", "192.0.2.1"},
		{"v6 addr", NewV1IDAddr(netip.MustParseAddr("2001:db8::1"), 0, 0), V1IDIPv6Addr,
			netip.MustParseAddr("2001:db8::1").AsSlice(), "2001:db8::1/128", "2001:db8::1", "2001:db8::1", "2001:db8::1"},
		{"v4 subnet, host bits", NewV1IDSubnet(netip.MustParsePrefix("10.1.2.3/20"), 6, 0), V1IDIPv4AddrSubnet,
			[]byte{10, 1, 0, 0, 255, 255, 240, 0}, "10.1.0.0/20", "10.1.0.0", "10.1.15.255", "10.1.0.0/20[6/0]"},
		{"v4 any", NewV1IDSubnet(netip.MustParsePrefix("0.0.0.0/0"), 0, 0), V1IDIPv4AddrSubnet,
			make([]byte, 8), "0.0.0.0/0", "0.0.0.0", "255.255.255.255", "0.0.0.0/0"},
		{"v4 /32", NewV1IDSubnet(netip.MustParsePrefix("10.0.0.1/32"), 0, 0), V1IDIPv4AddrSubnet,
			[]byte{10, 0, 0, 1, 255, 255, 255, 255}, "10.0.0.1/32", "10.0.0.1", "10.0.0.1", "10.0.0.1/32"},
		{"mapped subnet", NewV1IDSubnet(netip.MustParsePrefix("::ffff:10.0.0.0/104"), 0, 0), V1IDIPv4AddrSubnet,
			[]byte{10, 0, 0, 0, 255, 0, 0, 0}, "10.0.0.0/8", "10.0.0.0", "10.255.255.255", "10.0.0.0/8"},
		{"v6 subnet", NewV1IDSubnet(netip.MustParsePrefix("2001:db8:1::/52"), 0, 0), V1IDIPv6AddrSubnet,
			append(netip.MustParseAddr("2001:db8:1::").AsSlice(), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xf0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
			"2001:db8:1::/52", "2001:db8:1::", "2001:db8:1:fff:ffff:ffff:ffff:ffff", "2001:db8:1::/52"},
		{"fqdn", V1ID{IDType: V1IDFQDN, Data: []byte("vpn.example")}, V1IDFQDN, []byte("vpn.example"), "", "", "", "vpn.example"},
		{"user fqdn", V1ID{IDType: V1IDUserFQDN, Data: []byte("a@b\n")}, V1IDUserFQDN, []byte("a@b\n"), "", "", "", `a@b\n`},
		{"key id", V1ID{IDType: V1IDKeyID, Data: []byte{0xab, 0xcd}}, V1IDKeyID, []byte{0xab, 0xcd}, "", "", "", "keyid:abcd"},
		{"dn", V1ID{IDType: V1IDDERASN1DN, Data: []byte{0x30, 0}}, V1IDDERASN1DN, []byte{0x30, 0}, "", "", "", "DER_ASN1_DN:3000"},
		{"non-contiguous mask", V1ID{IDType: V1IDIPv4AddrSubnet, Data: []byte{10, 0, 0, 0, 255, 0, 255, 0}}, V1IDIPv4AddrSubnet,
			[]byte{10, 0, 0, 0, 255, 0, 255, 0}, "", "", "", "IPV4_ADDR_SUBNET:0a000000ff00ff00"},
		{"reversed range", V1ID{IDType: V1IDIPv4AddrRange, Data: []byte{10, 0, 0, 9, 10, 0, 0, 1}}, V1IDIPv4AddrRange,
			[]byte{10, 0, 0, 9, 10, 0, 0, 1}, "", "", "", "IPV4_ADDR_RANGE:0a0000090a000001"},
		{"short data", V1ID{IDType: V1IDIPv4Addr, Data: []byte{10}}, V1IDIPv4Addr, []byte{10}, "", "", "", "IPV4_ADDR:0a"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.id.IDType != tc.typ || !bytes.Equal(tc.id.Data, tc.data) {
				t.Fatalf("got type %d data %x, want %d %x", tc.id.IDType, tc.id.Data, tc.typ, tc.data)
			}
			p, err := tc.id.Prefix()
			if tc.prefix == "" {
				if err == nil || !errors.Is(err, ErrMalformed) {
					t.Fatalf("Prefix = %v, %v; want ErrMalformed", p, err)
				}
			} else if err != nil || p.String() != tc.prefix {
				t.Fatalf("Prefix = %v, %v; want %s", p, err, tc.prefix)
			}
			first, last, err := tc.id.Range()
			if tc.first == "" {
				if err == nil {
					t.Fatalf("Range = %v-%v", first, last)
				}
			} else if err != nil || first.String() != tc.first || last.String() != tc.last {
				t.Fatalf("Range = %v-%v, %v; want %s-%s", first, last, err, tc.first, tc.last)
			}
			if s := tc.id.String(); s != tc.str {
				t.Fatalf("String = %q, want %q", s, tc.str)
			}
		})
	}
}

func TestV1IDRange(t *testing.T) {
	id, err := NewV1IDRange(netip.MustParseAddr("2001:db8::10"), netip.MustParseAddr("2001:db8::20"), 0, 0)
	if err != nil || id.IDType != V1IDIPv6AddrRange || len(id.Data) != 32 {
		t.Fatalf("NewV1IDRange = %+v, %v", id, err)
	}
	first, last, err := id.Range()
	if err != nil || first != netip.MustParseAddr("2001:db8::10") || last != netip.MustParseAddr("2001:db8::20") {
		t.Fatalf("Range = %v-%v, %v", first, last, err)
	}
	if s := id.String(); s != "2001:db8::10-2001:db8::20" {
		t.Fatalf("String = %q", s)
	}
	if _, err := id.Prefix(); err == nil {
		t.Fatalf("Prefix of a range succeeded")
	}
	if _, err := id.Addr(); err == nil {
		t.Fatalf("Addr of a range succeeded")
	}
	for _, c := range [][2]string{{"10.0.0.2", "10.0.0.1"}, {"10.0.0.1", "2001:db8::1"}, {"", "10.0.0.1"}} {
		var a, b netip.Addr
		if c[0] != "" {
			a = netip.MustParseAddr(c[0])
		}
		b = netip.MustParseAddr(c[1])
		if id, err := NewV1IDRange(a, b, 0, 0); err == nil {
			t.Errorf("NewV1IDRange(%s, %s) = %+v", c[0], c[1], id)
		}
	}
	a, err := NewV1IDAddr(netip.MustParseAddr("10.9.8.7"), 0, 0).Addr()
	if err != nil || a != netip.MustParseAddr("10.9.8.7") {
		t.Fatalf("Addr = %v, %v", a, err)
	}
	if _, err := (V1ID{IDType: V1IDFQDN}).Addr(); err == nil {
		t.Fatalf("Addr of an FQDN succeeded")
	}
}

func TestV1IDConstructorPanics(t *testing.T) {
	for name, f := range map[string]func(){
		"addr":   func() { NewV1IDAddr(netip.Addr{}, 0, 0) },
		"subnet": func() { NewV1IDSubnet(netip.Prefix{}, 0, 0) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
}

func TestMaskBits(t *testing.T) {
	for ones := 0; ones <= 128; ones++ {
		if got := maskBits(netmask(128, ones)); got != ones {
			t.Fatalf("maskBits(netmask(%d)) = %d", ones, got)
		}
	}
	for _, m := range [][]byte{{0x7f, 0, 0, 0}, {0xff, 0x01, 0, 0}, {0xfe, 0xff, 0, 0}, {0xff, 0, 0, 1}} {
		if got := maskBits(m); got != -1 {
			t.Errorf("maskBits(%x) = %d", m, got)
		}
	}
}
