package natt

import (
	"net/netip"
	"testing"
)

func TestDetectIKEv2(t *testing.T) {
	local := netip.MustParseAddrPort("10.0.0.2:500")
	remote := netip.MustParseAddrPort("10.0.0.1:500")
	natted := netip.MustParseAddrPort("192.0.2.7:40123")
	const spii, spir = 0x1122334455667788, 0x99aabbccddeeff00
	tests := []struct {
		name       string
		srcFor     netip.AddrPort // what the peer hashed as its source
		dstFor     netip.AddrPort // what the peer hashed as our address
		wantLocal  bool
		wantRemote bool
	}{
		{"no NAT", remote, local, false, false},
		{"peer behind NAT", natted, local, false, true},
		{"we are behind NAT", remote, natted, true, false},
		{"both", natted, natted, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, ok := DetectIKEv2(spii, spir, local, remote,
				[][]byte{IKEv2Hash(spii, spir, tt.srcFor)}, IKEv2Hash(spii, spir, tt.dstFor))
			if !ok {
				t.Fatal("not ok")
			}
			if d.LocalBehindNAT != tt.wantLocal || d.PeerBehindNAT != tt.wantRemote {
				t.Errorf("got %+v", d)
			}
			if d.Any() != (tt.wantLocal || tt.wantRemote) {
				t.Errorf("Any() = %v", d.Any())
			}
		})
	}
	if _, ok := DetectIKEv2(spii, spir, local, remote, nil, nil); ok {
		t.Error("ok without payloads")
	}
}

func TestIKEv2HashLayout(t *testing.T) {
	// The hash covers 8+8 SPI bytes, 4 address bytes and 2 port bytes:
	// changing any of them changes it, and IPv4-mapped IPv6 hashes as IPv4.
	base := IKEv2Hash(1, 2, netip.MustParseAddrPort("10.0.0.1:500"))
	if len(base) != 20 {
		t.Fatalf("len %d", len(base))
	}
	for _, other := range [][]byte{
		IKEv2Hash(1, 3, netip.MustParseAddrPort("10.0.0.1:500")),
		IKEv2Hash(1, 2, netip.MustParseAddrPort("10.0.0.1:4500")),
		IKEv2Hash(1, 2, netip.MustParseAddrPort("10.0.0.2:500")),
	} {
		if string(other) == string(base) {
			t.Error("hash did not change")
		}
	}
	if string(IKEv2Hash(1, 2, netip.MustParseAddrPort("[::ffff:10.0.0.1]:500"))) != string(base) {
		t.Error("mapped address hashed differently")
	}
}
