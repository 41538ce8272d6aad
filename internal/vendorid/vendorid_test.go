package vendorid

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"strings"
	"testing"
)

func md5Sum(s string) []byte {
	h := md5.Sum([]byte(s))
	return h[:]
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func entry(t *testing.T, name string) Entry {
	t.Helper()
	for _, e := range catalogue {
		if e.Name == name {
			return e
		}
	}
	t.Fatalf("no catalogue entry %q", name)
	return Entry{}
}

// TestVendorIDsFromTheirStrings recomputes every ID that is derived from a
// string, so the table is checked rather than trusted.
func TestVendorIDsFromTheirStrings(t *testing.T) {
	// Entries whose Data is the whole MD5 of a string.
	md5Entries := map[string]string{
		"strongSwan":                              "strongSwan",
		"MS NT5 ISAKMPOAKLEY":                     "MS NT5 ISAKMPOAKLEY",
		"Fortinet Endpoint Control":               "Fortinet Endpoint Control",
		"FortiClient connect license":             "forticlient connect license",
		"MS-Negotiation Discovery Capable":        "MS-Negotiation Discovery Capable",
		"IKE CGA version 1":                       "IKE CGA version 1",
		"MS-MamieExists (AuthIP supported)":       "MS-MamieExists",
		"NLBS_PRESENT (NLB/MSCS fast failover)":   "NLBS_PRESENT",
		"Cisco VPN 3000 client":                   "ALTIGA NETWORKS",
		"KAME/racoon":                             "KAME/racoon",
		"RFC 3947":                                "RFC 3947",
		"FRAGMENTATION":                           "FRAGMENTATION",
		"Vid-Initial-Contact":                     "Vid-Initial-Contact",
		"GSSAPI":                                  "GSSAPI",
		"A GSS-API Authentication Method for IKE": "A GSS-API Authentication Method for IKE",
		"draft-stenberg-ipsec-nat-traversal-01":   "draft-stenberg-ipsec-nat-traversal-01",
		"draft-stenberg-ipsec-nat-traversal-02":   "draft-stenberg-ipsec-nat-traversal-02",
		"draft-ietf-ipsec-nat-t-ike":              "draft-ietf-ipsec-nat-t-ike",
		"draft-ietf-ipsec-nat-t-ike-02\n":         "draft-ietf-ipsec-nat-t-ike-02\n",
	}
	for _, d := range []string{"00", "01", "02", "03", "04", "05", "06", "07", "08"} {
		md5Entries["draft-ietf-ipsec-nat-t-ike-"+d] = "draft-ietf-ipsec-nat-t-ike-" + d
	}
	for _, v := range []string{"2.2.0", "2.8.8", "4.0.0", "4.1.11", "4.3.7", "5.0.4", "5.1.1"} {
		md5Entries["strongSwan "+v] = "strongSwan " + v
	}
	for name, s := range md5Entries {
		if got := entry(t, name).Data; !bytes.Equal(got, md5Sum(s)) {
			t.Errorf("%q: %x, want MD5(%q) = %x", name, got, s, md5Sum(s))
		}
	}
	// Truncated or modified hashes.
	if got, want := entry(t, "XAUTH").Data, md5Sum("draft-ietf-ipsra-isakmp-xauth-06.txt")[:8]; !bytes.Equal(got, want) {
		t.Errorf("XAUTH: %x, want %x", got, want)
	}
	if got, want := entry(t, "Cisco Unity").Data, md5Sum("CISCO-UNITY")[:14]; !bytes.Equal(got, want) {
		t.Errorf("Cisco Unity: %x, want %x", got, want)
	}
	if got, want := entry(t, "Cisco VPN 3000 Series").Data, md5Sum("ALTIGA GATEWAY")[:14]; !bytes.Equal(got, want) {
		t.Errorf("Cisco VPN 3000: %x, want %x", got, want)
	}
	// ASCII IDs.
	for name, s := range map[string]string{
		"Libreswan 3.6+ (OE-Libreswan-<version>)":  "OE-Libreswan-",
		"Opportunistic IPsec":                      "Opportunistic IPsec",
		"OpenIKED":                                 "OpenIKED",
		"Mac OS X 10.x (racoon)":                   "Mac OSX 10.x",
		"CISCO-DELETE-REASON":                      "CISCO-DELETE-REASON",
		"CISCO-DYNAMIC-ROUTE":                      "CISCO-DYNAMIC-ROUTE",
		"CISCO-GRE-MODE":                           "CISCO-GRE-MODE",
		"CISCOVPN-REV-02":                          "CISCOVPN-REV-02",
		"FLEXVPN-SUPPORTED":                        "FLEXVPN-SUPPORTED",
		"Cisco Copyright (c) 2009":                 "CISCO(COPYRIGHT)&Copyright (c) 2009 Cisco Systems, Inc.",
		"HeartBeat_Notify":                         "HeartBeat_Notify",
		"Aruba VIA Auth Profile":                   "VIA Auth Profile : ",
		"CAN-IKEv2 (Openswan/Libreswan, obsolete)": "IKEv2",
	} {
		if got := entry(t, name).Data; string(got) != s {
			t.Errorf("%q: %q, want %q", name, got, s)
		}
	}
	// The versioned strongSwan IDs as published (ike-scan's
	// ike-vendor-ids), so the "strongSwan <version>" scheme is checked
	// against the outside world too.
	for v, h := range map[string]string{
		"4.0.0": "2ce9c946a4c879bf11b50b76cc5692cb",
		"4.2.3": "2d1f406118fbd5d28474791ffa00488a",
		"5.0.0": "e154b11a96ee2b44d4954843cd3a40a3",
		"5.1.1": "9e10a0d4205edc6c90bd5381a53c2d2b",
	} {
		if got := entry(t, "strongSwan "+v).Data; hex.EncodeToString(got) != h {
			t.Errorf("strongSwan %s: %x, want %s", v, got, h)
		}
	}

	// The well-known IDs.
	for _, tc := range []struct {
		name      string
		got, want []byte
	}{
		{"NATTRFC3947", NATTRFC3947, md5Sum("RFC 3947")},
		{"NATTDraft02", NATTDraft02, md5Sum("draft-ietf-ipsec-nat-t-ike-02")},
		{"NATTDraft02n", NATTDraft02n, md5Sum("draft-ietf-ipsec-nat-t-ike-02\n")},
		{"NATTDraft03", NATTDraft03, md5Sum("draft-ietf-ipsec-nat-t-ike-03")},
		{"StrongSwan", StrongSwan, md5Sum("strongSwan")},
		{"XAUTH", XAUTH, md5Sum("draft-ietf-ipsra-isakmp-xauth-06.txt")[:8]},
		{"CiscoUnity", CiscoUnity, append(md5Sum("CISCO-UNITY")[:14:14], 1, 0)},
		{"Fragmentation", Fragmentation, append(md5Sum("FRAGMENTATION"), 0x80, 0, 0, 0)},
		// RFC 3706 gives the DPD ID as bytes, not as a hash.
		{"DPD", DPD, []byte{0xaf, 0xca, 0xd7, 0x13, 0x68, 0xa1, 0xf1, 0xc9, 0x6b, 0x86, 0x96, 0xfc, 0x77, 0x57, 0x01, 0x00}},
	} {
		if !bytes.Equal(tc.got, tc.want) {
			t.Errorf("%s = %x, want %x", tc.name, tc.got, tc.want)
		}
	}
}

// TestCatalogue: every entry's own bytes map back to it, a prefix entry
// also matches when extended and an exact one does not, names are unique.
func TestCatalogue(t *testing.T) {
	names := map[string]bool{}
	for _, e := range catalogue {
		t.Run(e.Name, func(t *testing.T) {
			if names[e.Name] {
				t.Errorf("duplicate name %q", e.Name)
			}
			names[e.Name] = true
			if len(e.Data) == 0 || e.Kind == 0 {
				t.Fatalf("%q: empty data or kind", e.Name)
			}
			if e.Kind == KindProduct && e.Product == "" {
				t.Errorf("%q: a product ID without a product", e.Name)
			}
			got, ok := Lookup(e.Data)
			if !ok || got.Name != e.Name || got.Product != e.Product || got.Kind != e.Kind {
				t.Errorf("Lookup(%x) = %+v, %v; want %q", e.Data, got, ok, e.Name)
			}
			if d, ok := Describe(e.Data); !ok || d != e.Name {
				t.Errorf("Describe(%x) = %q, %v; want %q", e.Data, d, ok, e.Name)
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
			if p, exact := Identify([][]byte{e.Data}); e.Product != "" && (p != e.Product || !exact) {
				t.Errorf("Identify(%q) = %q, %v; want %q, exact", e.Name, p, exact, e.Product)
			}
		})
	}
}

func TestLookup(t *testing.T) {
	// The well-known IDs are all known, with the expected kinds.
	for _, tc := range []struct {
		vid  []byte
		kind Kind
	}{
		{NATTRFC3947, KindNATT}, {NATTDraft02, KindNATT}, {NATTDraft02n, KindNATT},
		{NATTDraft03, KindNATT}, {DPD, KindDPD}, {Fragmentation, KindFragmentation},
		{XAUTH, KindXAUTH}, {CiscoUnity, KindUnity}, {StrongSwan, KindProduct},
	} {
		if got, ok := Lookup(tc.vid); !ok || got.Kind != tc.kind {
			t.Errorf("Lookup(%x) = %+v, %v; want kind %v", tc.vid, got, ok, tc.kind)
		}
	}
	// Longest prefix wins: Libreswan over the 2-byte Openswan prefix.
	for _, tc := range []struct {
		vid  string
		want string
	}{
		{"OE-Libreswan-4.10", ProductLibreswan},
		{"OENxyz", ProductLibreswan},
		{"OSWabcdefghi", ProductOpenswan},
		{"OEabcdefghij", ProductOpenswan},
		{"OpenIKED-7.3", ProductOpenIKED},
	} {
		if got, _ := Lookup([]byte(tc.vid)); got.Product != tc.want {
			t.Errorf("%s -> %+v, want %s", tc.vid, got, tc.want)
		}
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
		"5b362bc820f60007":                                         "SonicWall (5b362bc820f6)",
		"01528bbbc00696121849ab9a1c5b2a5100000002":                 "Windows KEY_MODS",
		"f4ed19e0c114eb516faaac0ee37daf2807b4381f0000000100000002": "Check Point",
	} {
		if got, ok := Lookup(mustHex(t, vid)); !ok || got.Name != want {
			t.Errorf("Lookup(%s) = %q, %v; want %q", vid, got.Name, ok, want)
		}
	}
	// Unknown and degenerate inputs.
	for _, vid := range [][]byte{nil, {}, {0x12}, md5Sum("no such vendor"), DPD[:15], append(DPD[:16:16], 0), md5Sum("strongSwan 9.9.9")} {
		if got, ok := Lookup(vid); ok {
			t.Errorf("Lookup(%x) = %q, want not found", vid, got.Name)
		}
		if d, ok := Describe(vid); ok {
			t.Errorf("Describe(%x) = %q, want not found", vid, d)
		}
	}
	// Lookup returns a copy.
	got, _ := Lookup(DPD)
	got.Data[0] ^= 0xff
	if again, _ := Lookup(DPD); again.Data[0] != DPD[0] {
		t.Error("Lookup returned the catalogue's own slice")
	}
}

func TestDescribe(t *testing.T) {
	for _, tc := range []struct {
		name string
		vid  []byte
		want string
	}{
		{"exact", StrongSwan, "strongSwan"},
		{"versioned strongSwan", md5Sum("strongSwan 4.2.3"), "strongSwan 4.2.3"},
		{"Windows 10", mustHex(t, "1e2b516905991c7d7c96fcbfb587e46100000009"), "MS NT5 ISAKMPOAKLEY v9 (Windows 8, 8.1, 10, Server 2012 R2, Server 2016)"},
		{"Windows unknown version", mustHex(t, "1e2b516905991c7d7c96fcbfb587e46100000010"), "MS NT5 ISAKMPOAKLEY v16"},
		{"Libreswan version", []byte("OE-Libreswan-4.10"), `Libreswan 3.6+ (OE-Libreswan-<version>) "OE-Libreswan-4.10"`},
		{"capability word", Fragmentation, "FRAGMENTATION +80000000"},
		{"long tail", append(mustHex(t, "f4ed19e0c114eb516faaac0ee37daf2807b4381f"), make([]byte, 20)...), "Check Point +" + strings.Repeat("00", 16) + "...(20 bytes)"},
	} {
		if got, ok := Describe(tc.vid); !ok || got != tc.want {
			t.Errorf("%s: Describe(%x) = %q, %v; want %q", tc.name, tc.vid, got, ok, tc.want)
		}
	}
}

func TestHex(t *testing.T) {
	for _, tc := range []struct {
		b    []byte
		max  int
		want string
	}{
		{nil, 16, ""},
		{[]byte{0xab, 0xcd}, 16, "abcd"},
		{bytes.Repeat([]byte{1}, 16), 16, strings.Repeat("01", 16)},
		{bytes.Repeat([]byte{1}, 17), 16, strings.Repeat("01", 16) + "...(17 bytes)"},
	} {
		if got := Hex(tc.b, tc.max); got != tc.want {
			t.Errorf("Hex(%x, %d) = %q, want %q", tc.b, tc.max, got, tc.want)
		}
	}
}

func TestFragmentationCapable(t *testing.T) {
	frag := md5Sum("FRAGMENTATION")
	for _, tc := range []struct {
		vid  []byte
		want bool
	}{
		{frag, true},          // Windows, Libreswan
		{Fragmentation, true}, // strongSwan 0x80000000
		{append(frag[:16:16], 0xc0, 0, 0, 0), true}, // Cisco
		{append(frag[:16:16], 0x40, 0, 0, 0), false},
		{append(frag[:16:16], 0, 0, 0, 0), false},
		{append(frag[:16:16], 0x80, 0), false},
		{frag[:15], false},
		{DPD, false},
		{nil, false},
	} {
		if got := FragmentationCapable(tc.vid); got != tc.want {
			t.Errorf("FragmentationCapable(%x) = %v, want %v", tc.vid, got, tc.want)
		}
	}
}

func TestIdentify(t *testing.T) {
	natt := [][]byte{NATTRFC3947, NATTDraft03, NATTDraft02n, NATTDraft02}
	with := func(extra ...[]byte) [][]byte { return append(append([][]byte(nil), extra...), natt...) }
	libreswanFrag := md5Sum("FRAGMENTATION")
	for _, tc := range []struct {
		name  string
		vids  [][]byte
		want  string
		exact bool
	}{
		// strongSwan 5.x main mode I1 with send_vendor_id = yes, and by default.
		{"strongSwan (send_vendor_id)", with(StrongSwan, XAUTH, DPD, Fragmentation), ProductStrongSwan, true},
		{"strongSwan (default)", with(XAUTH, DPD, Fragmentation), ProductStrongSwan, false},
		{"strongSwan cisco_unity", with(XAUTH, DPD, Fragmentation, CiscoUnity), ProductStrongSwan, false},
		{"strongSwan 4.x pluto", with(md5Sum("strongSwan 4.2.3"), DPD), ProductStrongSwan, true},
		// strongSwan's IKEv2 IKE_SA_INIT with send_vendor_id.
		{"strongSwan IKEv2", [][]byte{StrongSwan}, ProductStrongSwan, true},
		// Libreswan 4.x with send-vendorid=yes, by default, and faking strongSwan.
		{"Libreswan (send-vendorid)", with([]byte("OE-Libreswan-4.10"), DPD, libreswanFrag), ProductLibreswan, true},
		{"Libreswan (default)", with(DPD, libreswanFrag), ProductLibreswan, false},
		{"Libreswan fake-strongswan", with(StrongSwan, []byte("OE-Libreswan-4.10"), DPD), ProductLibreswan, true},
		{"Libreswan 3.x CAN-IKEv2", with([]byte("IKEv2"), DPD), ProductLibreswan, false},
		{"Libreswan IKEv2 (send-vendorid)", [][]byte{[]byte("OE-Libreswan-4.10")}, ProductLibreswan, true},
		// Cisco IOS router.
		{"Cisco IOS", with(CiscoUnity, DPD, mustHex(t, "3e984048101e66cc659fd002b0ed3655"), XAUTH), ProductCiscoIOS, true},
		{"Cisco VPN 3000", [][]byte{CiscoUnity, mustHex(t, "1f07f70eaa6514d3b0fa96542a500407"), XAUTH, DPD}, ProductCiscoVPN3000, true},
		{"Cisco (delete reason)", with(CiscoUnity, []byte("CISCO-DELETE-REASON"), DPD, append(libreswanFrag[:16:16], 0xc0, 0, 0, 0)), ProductCisco, true},
		// Cisco IOS FlexVPN IKEv2 IKE_SA_INIT.
		{"Cisco FlexVPN", [][]byte{[]byte("CISCO-DELETE-REASON"), []byte("CISCO(COPYRIGHT)&Copyright (c) 2009 Cisco Systems, Inc."), []byte("CISCO-GRE-MODE"), []byte("FLEXVPN-SUPPORTED")}, ProductCisco, true},
		// Windows 10 (L2TP/IPsec client), and its IKEv2 client.
		{"Windows", [][]byte{
			mustHex(t, "1e2b516905991c7d7c96fcbfb587e46100000009"), NATTRFC3947, NATTDraft02n,
			libreswanFrag, md5Sum("MS-Negotiation Discovery Capable"), md5Sum("IKE CGA version 1"),
			md5Sum("Vid-Initial-Contact"), DPD,
		}, ProductWindows, true},
		{"Windows IKEv2", [][]byte{mustHex(t, "1e2b516905991c7d7c96fcbfb587e46100000009"), md5Sum("MS-Negotiation Discovery Capable"),
			md5Sum("IKE CGA version 1"), mustHex(t, "01528bbbc00696121849ab9a1c5b2a5100000002")}, ProductWindows, true},
		{"FortiGate", with(DPD, libreswanFrag, append(libreswanFrag[:16:16], 0xc0, 0, 0, 0), mustHex(t, "8299031757a36082c6a621de00000000")), ProductFortiGate, true},
		{"FortiGate (strongSwan's ID)", [][]byte{mustHex(t, "1d6e178f6c2c0be284985465450fe9d4")}, ProductFortiGate, true},
		{"Juniper SRX", with(DPD, mustHex(t, "699369228741c6d4ca094c93e242c9de19e7b7c60000000500000500")), ProductJuniper, true},
		{"Check Point", with(mustHex(t, "f4ed19e0c114eb516faaac0ee37daf2807b4381f0000000100000002")), ProductCheckPoint, true},
		{"Zyxel", with(mustHex(t, "b858d1addd08c1e8adafea150608aa4497aa6cc8"), DPD), ProductZyxel, true},
		{"SonicWall", with(mustHex(t, "404bf439522ca3f6"), DPD, XAUTH), ProductSonicWall, true},
		// Not enough to tell.
		{"only NAT-T", natt, "", false},
		{"NAT-T and DPD", with(DPD), "", false},
		{"Unity alone", [][]byte{CiscoUnity, XAUTH, DPD}, "", false},
		{"Vid-Initial-Contact alone", [][]byte{md5Sum("Vid-Initial-Contact")}, "", false},
		{"unknown", [][]byte{md5Sum("something else"), nil, {}}, "", false},
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

func TestProbably(t *testing.T) {
	if got := Probably(ProductStrongSwan); got != "strongSwan (probably)" {
		t.Errorf("Probably = %q", got)
	}
}

func TestKindString(t *testing.T) {
	for k := KindProduct; k <= KindFeature; k++ {
		if s := k.String(); s == "" || s == "unknown" {
			t.Errorf("Kind(%d).String() = %q", int(k), s)
		}
	}
	if Kind(0).String() != "unknown" {
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
		d, dok := Describe(vid)
		if ok != dok || (ok && !strings.HasPrefix(d, v.Name)) {
			t.Fatalf("Lookup(%x) = %q, %v but Describe = %q, %v", vid, v.Name, ok, d, dok)
		}
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
