package isakmp

import (
	"net/netip"
	"testing"
)

func TestTS(t *testing.T) {
	v4 := TrafficSelector{TSType: TSIPv4AddrRange, IPProtocol: 6, StartPort: 1, EndPort: 65535,
		StartAddr: netip.MustParseAddr("192.0.2.0"), EndAddr: netip.MustParseAddr("192.0.2.255")}
	v4body := []byte{7, 6, 0, 16, 0, 1, 0xff, 0xff, 192, 0, 2, 0, 192, 0, 2, 255}
	v6 := TrafficSelector{TSType: TSIPv6AddrRange, StartPort: 0, EndPort: 0xffff,
		StartAddr: netip.MustParseAddr("::"), EndAddr: netip.MustParseAddr("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")}
	v6body := append([]byte{8, 0, 0, 40, 0, 0, 0xff, 0xff}, make([]byte, 16)...)
	for range 16 {
		v6body = append(v6body, 0xff)
	}
	runBodyCases(t, []bodyCase{
		{"TSi v4", &TS{PType: PayloadTSi, Selectors: []TrafficSelector{v4}}, append([]byte{1, 0, 0, 0}, v4body...)},
		{"TSr v4+v6", &TS{PType: PayloadTSr, Selectors: []TrafficSelector{v4, v6}},
			append(append([]byte{2, 0, 0, 0}, v4body...), v6body...)},
		{"TSi seclabel", &TS{PType: PayloadTSi, Selectors: []TrafficSelector{{TSType: 16, Data: []byte("lbl")}}},
			[]byte{1, 0, 0, 0, 16, 0, 0, 7, 'l', 'b', 'l'}},
		{"TSi empty", &TS{PType: PayloadTSi}, []byte{0, 0, 0, 0}},
	})
	runBadBodies(t, []badBody{
		{"short", PayloadTSi, []byte{1, 0, 0}, ErrTruncated, "TSi payload: body of 3 bytes"},
		{"count high", PayloadTSi, append([]byte{2, 0, 0, 0}, v4body...), ErrMalformed, "TSi payload: 1 selectors present, header says 2"},
		{"count low", PayloadTSr, append(append([]byte{1, 0, 0, 0}, v4body...), v4body...), ErrMalformed, "2 selectors present, header says 1"},
		{"selector header", PayloadTSi, []byte{1, 0, 0, 0, 7, 0}, ErrTruncated, "selector 1: header: 2 bytes left"},
		{"selector length short", PayloadTSi, []byte{1, 0, 0, 0, 16, 0, 0, 3}, ErrMalformed, "selector 1: length 3 is less than 4"},
		{"selector length long", PayloadTSi, append([]byte{1, 0, 0, 0}, v4body[:15]...), ErrTruncated, "selector 1: length 16 exceeds remaining 15"},
		{"v4 wrong length", PayloadTSi, []byte{1, 0, 0, 0, 7, 0, 0, 8, 0, 0, 0, 0}, ErrMalformed, "selector 1: length 8, want 16 for type 7"},
		{"v6 with v4 length", PayloadTSi, append([]byte{1, 0, 0, 0, 8}, v4body[1:]...), ErrMalformed, "length 16, want 40 for type 8"},
	})
}
