package ikev1

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"testing"
)

func md5Of(s string) []byte {
	h := md5.Sum([]byte(s))
	return h[:]
}

func entry(t *testing.T, name string) VendorID {
	t.Helper()
	for _, e := range catalogue {
		if e.Name == name {
			return e
		}
	}
	t.Fatalf("no catalogue entry %q", name)
	return VendorID{}
}

// TestVendorIDsFromTheirStrings recomputes every ID that is derived from a
// string, so the table is checked rather than trusted.
func TestVendorIDsFromTheirStrings(t *testing.T) {
	// Entries whose Data is the whole MD5 of a string.
	md5Entries := map[string]string{
		"strongSwan":                            "strongSwan",
		"MS NT5 ISAKMPOAKLEY":                   "MS NT5 ISAKMPOAKLEY",
		"Fortinet Endpoint Control":             "Fortinet Endpoint Control",
		"MS-Negotiation Discovery Capable":      "MS-Negotiation Discovery Capable",
		"IKE CGA version 1":                     "IKE CGA version 1",
		"MS-MamieExists (AuthIP supported)":     "MS-MamieExists",
		"RFC 3947":                              "RFC 3947",
		"FRAGMENTATION":                         "FRAGMENTATION",
		"Vid-Initial-Contact":                   "Vid-Initial-Contact",
		"draft-stenberg-ipsec-nat-traversal-01": "draft-stenberg-ipsec-nat-traversal-01",
		"draft-stenberg-ipsec-nat-traversal-02": "draft-stenberg-ipsec-nat-traversal-02",
		"draft-ietf-ipsec-nat-t-ike":            "draft-ietf-ipsec-nat-t-ike",
		"draft-ietf-ipsec-nat-t-ike-02\n":       "draft-ietf-ipsec-nat-t-ike-02\n",
	}
	for _, d := range []string{"00", "01", "02", "03", "04", "05", "06", "07", "08"} {
		md5Entries["draft-ietf-ipsec-nat-t-ike-"+d] = "draft-ietf-ipsec-nat-t-ike-" + d
	}
	for name, s := range md5Entries {
		if got := entry(t, name).Data; !bytes.Equal(got, md5Of(s)) {
			t.Errorf("%q: %x, want MD5(%q) = %x", name, got, s, md5Of(s))
		}
	}
	// Truncated or modified hashes.
	if got, want := entry(t, "XAUTH").Data, md5Of("draft-ietf-ipsra-isakmp-xauth-06.txt")[:8]; !bytes.Equal(got, want) {
		t.Errorf("XAUTH: %x, want %x", got, want)
	}
	if got, want := entry(t, "Cisco Unity").Data, md5Of("CISCO-UNITY")[:14]; !bytes.Equal(got, want) {
		t.Errorf("Cisco Unity: %x, want %x", got, want)
	}
	if got, want := entry(t, "Cisco VPN 3000 Series").Data, md5Of("ALTIGA GATEWAY")[:14]; !bytes.Equal(got, want) {
		t.Errorf("Cisco VPN 3000: %x, want %x", got, want)
	}
	// ASCII IDs.
	for name, s := range map[string]string{
		"Libreswan 3.6+ (OE-Libreswan-<version>)":  "OE-Libreswan-",
		"CISCO-DELETE-REASON":                      "CISCO-DELETE-REASON",
		"FLEXVPN-SUPPORTED":                        "FLEXVPN-SUPPORTED",
		"HeartBeat_Notify":                         "HeartBeat_Notify",
		"CAN-IKEv2 (Openswan/Libreswan, obsolete)": "IKEv2",
	} {
		if got := entry(t, name).Data; string(got) != s {
			t.Errorf("%q: %q, want %q", name, got, s)
		}
	}

	// The IDs we send.
	for _, tc := range []struct {
		name      string
		got, want []byte
	}{
		{"VIDNATTRFC3947", VIDNATTRFC3947, md5Of("RFC 3947")},
		{"VIDNATTDraft02", VIDNATTDraft02, md5Of("draft-ietf-ipsec-nat-t-ike-02")},
		{"VIDNATTDraft02n", VIDNATTDraft02n, md5Of("draft-ietf-ipsec-nat-t-ike-02\n")},
		{"VIDNATTDraft03", VIDNATTDraft03, md5Of("draft-ietf-ipsec-nat-t-ike-03")},
		{"VIDStrongSwan", VIDStrongSwan, md5Of("strongSwan")},
		{"VIDXAUTH", VIDXAUTH, md5Of("draft-ietf-ipsra-isakmp-xauth-06.txt")[:8]},
		{"VIDCiscoUnity", VIDCiscoUnity, append(md5Of("CISCO-UNITY")[:14:14], 1, 0)},
		{"VIDFragmentation", VIDFragmentation, append(md5Of("FRAGMENTATION"), 0x80, 0, 0, 0)},
		// RFC 3706 gives the DPD ID as bytes, not as a hash.
		{"VIDDPD", VIDDPD, []byte{0xaf, 0xca, 0xd7, 0x13, 0x68, 0xa1, 0xf1, 0xc9, 0x6b, 0x86, 0x96, 0xfc, 0x77, 0x57, 0x01, 0x00}},
	} {
		if !bytes.Equal(tc.got, tc.want) {
			t.Errorf("%s = %x, want %x", tc.name, tc.got, tc.want)
		}
	}
}

func TestLookup(t *testing.T) {
	names := map[string]bool{}
	for _, e := range catalogue {
		if names[e.Name] {
			t.Errorf("duplicate name %q", e.Name)
		}
		names[e.Name] = true
		if len(e.Data) == 0 || e.Kind == 0 {
			t.Errorf("%q: empty data or kind", e.Name)
		}
		got, ok := Lookup(e.Data)
		if !ok || got.Name != e.Name {
			t.Errorf("Lookup(%x) = %q, %v; want %q", e.Data, got.Name, ok, e.Name)
		}
		ext := append(append([]byte(nil), e.Data...), 0x01, 0x02, 0x03, 0x04)
		got, ok = Lookup(ext)
		if e.Prefix {
			if !ok || got.Name != e.Name {
				t.Errorf("Lookup(%x) (extended prefix) = %q, %v; want %q", ext, got.Name, ok, e.Name)
			}
		} else if ok && got.Name == e.Name {
			t.Errorf("Lookup(%x) matched non-prefix entry %q", ext, e.Name)
		}
	}
	// The IDs we send are all known, with the expected kinds.
	for _, tc := range []struct {
		vid  []byte
		kind VendorKind
	}{
		{VIDNATTRFC3947, KindNATT}, {VIDNATTDraft02, KindNATT}, {VIDNATTDraft02n, KindNATT},
		{VIDNATTDraft03, KindNATT}, {VIDDPD, KindDPD}, {VIDFragmentation, KindFragmentation},
		{VIDXAUTH, KindXAUTH}, {VIDCiscoUnity, KindUnity}, {VIDStrongSwan, KindProduct},
	} {
		if got, ok := Lookup(tc.vid); !ok || got.Kind != tc.kind {
			t.Errorf("Lookup(%x) = %+v, %v; want kind %v", tc.vid, got, ok, tc.kind)
		}
	}
	// Longest prefix wins: Libreswan over the 2-byte Openswan prefix.
	if got, _ := Lookup([]byte("OE-Libreswan-4.10")); got.Product != ProductLibreswan {
		t.Errorf("OE-Libreswan-4.10 -> %+v", got)
	}
	if got, _ := Lookup([]byte("OEabcdefghij")); got.Product != ProductOpenswan {
		t.Errorf("OEabcdefghij -> %+v", got)
	}
	// Versioned IDs.
	for vid, want := range map[string]string{
		"1e2b516905991c7d7c96fcbfb587e46100000009":                 "MS NT5 ISAKMPOAKLEY",
		"1f07f70eaa6514d3b0fa96542a500407":                         "Cisco VPN 3000 Series",
		"12f5f28c457168a9702d9fe274cc02d4":                         "Cisco Unity", // MD5("CISCO-UNITY") itself
		"8299031757a36082c6a621de000502d7":                         "Fortinet FortiGate",
		"699369228741c6d4ca094c93e242c9de19e7b7c60000000500000500": "Netscreen-06",
		"4048b7d56ebce88525e7de7f00d6c2d3c0000000":                 "FRAGMENTATION",
		"3e984048101e66cc659fd002b0ed3655":                         "Cisco IOS",
	} {
		b, _ := hex.DecodeString(vid)
		if got, ok := Lookup(b); !ok || got.Name != want {
			t.Errorf("Lookup(%s) = %q, %v; want %q", vid, got.Name, ok, want)
		}
	}
	// Unknown and degenerate inputs.
	for _, vid := range [][]byte{nil, {}, {0x12}, md5Of("no such vendor"), VIDDPD[:15], append(VIDDPD[:16:16], 0)} {
		if got, ok := Lookup(vid); ok {
			t.Errorf("Lookup(%x) = %q, want not found", vid, got.Name)
		}
	}
	// Lookup returns a copy.
	got, _ := Lookup(VIDDPD)
	got.Data[0] ^= 0xff
	if again, _ := Lookup(VIDDPD); again.Data[0] != VIDDPD[0] {
		t.Error("Lookup returned the catalogue's own slice")
	}
}

func TestFragmentationCapable(t *testing.T) {
	frag := md5Of("FRAGMENTATION")
	for _, tc := range []struct {
		vid  []byte
		want bool
	}{
		{frag, true},             // Windows, Libreswan
		{VIDFragmentation, true}, // strongSwan 0x80000000
		{append(frag[:16:16], 0xc0, 0, 0, 0), true}, // Cisco
		{append(frag[:16:16], 0x40, 0, 0, 0), false},
		{append(frag[:16:16], 0, 0, 0, 0), false},
		{append(frag[:16:16], 0x80, 0), false},
		{frag[:15], false},
		{VIDDPD, false},
		{nil, false},
	} {
		if got := FragmentationCapable(tc.vid); got != tc.want {
			t.Errorf("FragmentationCapable(%x) = %v, want %v", tc.vid, got, tc.want)
		}
	}
}

func TestProduct(t *testing.T) {
	natt := [][]byte{VIDNATTRFC3947, VIDNATTDraft03, VIDNATTDraft02n, VIDNATTDraft02}
	with := func(extra ...[]byte) [][]byte { return append(append([][]byte(nil), extra...), natt...) }
	mustHex := func(s string) []byte {
		b, err := hex.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	libreswanFrag := md5Of("FRAGMENTATION")
	for _, tc := range []struct {
		name  string
		vids  [][]byte
		want  string
		exact bool
	}{
		// strongSwan 5.x main mode I1 with send_vendor_id = yes, and by default.
		{"strongSwan (send_vendor_id)", with(VIDStrongSwan, VIDXAUTH, VIDDPD, VIDFragmentation), ProductStrongSwan, true},
		{"strongSwan (default)", with(VIDXAUTH, VIDDPD, VIDFragmentation), ProductStrongSwan, false},
		{"strongSwan cisco_unity", with(VIDXAUTH, VIDDPD, VIDFragmentation, VIDCiscoUnity), ProductStrongSwan, false},
		// Libreswan 4.x with send-vendorid=yes, by default, and faking strongSwan.
		{"Libreswan (send-vendorid)", with([]byte("OE-Libreswan-4.10"), VIDDPD, libreswanFrag), ProductLibreswan, true},
		{"Libreswan (default)", with(VIDDPD, libreswanFrag), ProductLibreswan, false},
		{"Libreswan fake-strongswan", with(VIDStrongSwan, []byte("OE-Libreswan-4.10"), VIDDPD), ProductLibreswan, true},
		{"Libreswan 3.x CAN-IKEv2", with([]byte("IKEv2"), VIDDPD), ProductLibreswan, false},
		// Cisco IOS router.
		{"Cisco IOS", with(VIDCiscoUnity, VIDDPD, mustHex("3e984048101e66cc659fd002b0ed3655"), VIDXAUTH), ProductCiscoIOS, true},
		{"Cisco VPN 3000", [][]byte{VIDCiscoUnity, mustHex("1f07f70eaa6514d3b0fa96542a500407"), VIDXAUTH, VIDDPD}, ProductCiscoVPN3000, true},
		{"Cisco (delete reason)", with(VIDCiscoUnity, []byte("CISCO-DELETE-REASON"), VIDDPD, append(libreswanFrag[:16:16], 0xc0, 0, 0, 0)), ProductCisco, true},
		// Windows 10 (L2TP/IPsec client).
		{"Windows", [][]byte{
			mustHex("1e2b516905991c7d7c96fcbfb587e46100000009"), VIDNATTRFC3947, VIDNATTDraft02n,
			libreswanFrag, md5Of("MS-Negotiation Discovery Capable"), md5Of("IKE CGA version 1"),
			md5Of("Vid-Initial-Contact"), VIDDPD,
		}, ProductWindows, true},
		{"FortiGate", with(VIDDPD, libreswanFrag, append(libreswanFrag[:16:16], 0xc0, 0, 0, 0), mustHex("8299031757a36082c6a621de00000000")), ProductFortiGate, true},
		{"Juniper SRX", with(VIDDPD, mustHex("699369228741c6d4ca094c93e242c9de19e7b7c60000000500000500")), ProductJuniper, true},
		{"Check Point", with(mustHex("f4ed19e0c114eb516faaac0ee37daf2807b4381f0000000100000002")), ProductCheckPoint, true},
		{"Zyxel", with(mustHex("b858d1addd08c1e8adafea150608aa4497aa6cc8"), VIDDPD), ProductZyxel, true},
		{"SonicWall", with(mustHex("404bf439522ca3f6"), VIDDPD, VIDXAUTH), ProductSonicWall, true},
		// Not enough to tell.
		{"only NAT-T", natt, "", false},
		{"NAT-T and DPD", with(VIDDPD), "", false},
		{"Unity alone", [][]byte{VIDCiscoUnity, VIDXAUTH, VIDDPD}, "", false},
		{"unknown", [][]byte{md5Of("something else"), nil, {}}, "", false},
		{"none", nil, "", false},
	} {
		got, exact := Identify(tc.vids)
		if got != tc.want || exact != tc.exact {
			t.Errorf("%s: Identify = %q, %v; want %q, %v", tc.name, got, exact, tc.want, tc.exact)
		}
		if p := Product(tc.vids); p != tc.want {
			t.Errorf("%s: Product = %q, want %q", tc.name, p, tc.want)
		}
		// Order does not matter.
		rev := make([][]byte, len(tc.vids))
		for i, v := range tc.vids {
			rev[len(rev)-1-i] = v
		}
		if p, e := Identify(rev); p != tc.want || e != tc.exact {
			t.Errorf("%s reversed: Identify = %q, %v", tc.name, p, e)
		}
	}
}

func TestVendorKindString(t *testing.T) {
	for k := KindProduct; k <= KindFeature; k++ {
		if s := k.String(); s == "" || s == "unknown" {
			t.Errorf("VendorKind(%d).String() = %q", int(k), s)
		}
	}
	if VendorKind(0).String() != "unknown" {
		t.Error("zero kind")
	}
}

func FuzzLookup(f *testing.F) {
	for _, e := range catalogue {
		f.Add(e.Data)
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, vid []byte) {
		v, ok := Lookup(vid)
		if !ok {
			return
		}
		if !bytes.HasPrefix(vid, v.Data) || (!v.Prefix && !bytes.Equal(vid, v.Data)) {
			t.Fatalf("Lookup(%x) = %+v", vid, v)
		}
		_ = Product([][]byte{vid})
		_ = FragmentationCapable(vid)
	})
}
