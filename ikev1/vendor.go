// Package ikev1 is the IKEv1 engine (RFC 2407/2408/2409): Main,
// Aggressive and Quick Mode as a sans-I/O state machine, with the vendor ID
// catalogue that names the extensions and products of IKEv1 peers.
package ikev1

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
)

// VendorKind says what a vendor ID announces.
type VendorKind int

// Vendor ID kinds.
const (
	KindProduct       VendorKind = iota + 1 // names an implementation (and often its version)
	KindNATT                                // a NAT traversal version (RFC 3947 or a draft)
	KindDPD                                 // dead peer detection (RFC 3706)
	KindFragmentation                       // Cisco-style IKE fragmentation (payload 132)
	KindXAUTH                               // extended authentication (draft-ietf-ipsec-isakmp-xauth)
	KindUnity                               // Cisco Unity (Mode Config extensions)
	KindFeature                             // another capability or informational marker
)

func (k VendorKind) String() string {
	switch k {
	case KindProduct:
		return "product"
	case KindNATT:
		return "NAT-T"
	case KindDPD:
		return "DPD"
	case KindFragmentation:
		return "fragmentation"
	case KindXAUTH:
		return "XAUTH"
	case KindUnity:
		return "Cisco Unity"
	case KindFeature:
		return "feature"
	}
	return "unknown"
}

// VendorID is one entry of the catalogue.
type VendorID struct {
	Name string // what the ID is, e.g. "draft-ietf-ipsec-nat-t-ike-02\n" or "Cisco VPN 3000 Series"
	Data []byte // the ID, or its fixed leading part when Prefix is set
	// Prefix marks IDs that peers extend with a version, capabilities or
	// a build string: any VID starting with Data matches.
	Prefix bool
	Kind   VendorKind
	// Product is the implementation the ID reveals ("" if it does not: the
	// extension IDs are sent by many). Product() reports it.
	Product string
}

// The vendor IDs ikegate sends. Do not modify them: they are shared.
var (
	// MD5("RFC 3947")
	VIDNATTRFC3947 = hexVID("4a131c81070358455c5728f20e95452f")
	// MD5("draft-ietf-ipsec-nat-t-ike-02")
	VIDNATTDraft02 = hexVID("cd60464335df21f87cfdb2fc68b6a448")
	// MD5("draft-ietf-ipsec-nat-t-ike-02\n"): the hash printed in the -02
	// draft includes the newline; implementations send and accept both.
	VIDNATTDraft02n = hexVID("90cb80913ebb696e086381b5ec427b1f")
	// MD5("draft-ietf-ipsec-nat-t-ike-03")
	VIDNATTDraft03 = hexVID("7d9419a65310ca6f2c179d9215529d56")
	// RFC 3706 section 5.3 (major version 1, minor 0 in the last two octets).
	VIDDPD = hexVID("afcad71368a1f1c96b8696fc77570100")
	// MD5("FRAGMENTATION") followed by the capability word 0x80000000
	// (fragmentation of Main and Aggressive Mode messages), as strongSwan
	// sends it; Cisco sends 0xc0000000, Windows and Libreswan the bare hash.
	VIDFragmentation = hexVID("4048b7d56ebce88525e7de7f00d6c2d380000000")
	// The first 8 octets of MD5("draft-ietf-ipsra-isakmp-xauth-06.txt").
	VIDXAUTH = hexVID("09002689dfd6b712")
	// MD5("CISCO-UNITY") with the last two octets replaced by the Unity
	// version 1.0.
	VIDCiscoUnity = hexVID("12f5f28c457168a9702d9fe274cc0100")
	// MD5("strongSwan"), sent by strongSwan with send_vendor_id, and by
	// Libreswan's fake-strongswan option to get strongSwan-only behaviour.
	VIDStrongSwan = hexVID("882fe56d6fd20dbc2251613b2ebe5beb")
)

// Product names reported by Product.
const (
	ProductStrongSwan   = "strongSwan"
	ProductLibreswan    = "Libreswan"
	ProductOpenswan     = "Openswan"
	ProductCiscoIOS     = "Cisco IOS"
	ProductCiscoVPN3000 = "Cisco VPN Concentrator"
	ProductCisco        = "Cisco"
	ProductJuniper      = "Juniper/NetScreen"
	ProductFortiGate    = "FortiGate"
	ProductFortinet     = "Fortinet"
	ProductCheckPoint   = "Check Point"
	ProductWindows      = "Microsoft Windows"
	ProductSonicWall    = "SonicWall"
	ProductZyxel        = "Zyxel"
	ProductShrewSoft    = "Shrew Soft VPN Client"
	ProductNCP          = "NCP"
)

// The catalogue. Order matters for Product: when a peer sends IDs of two
// products, the earlier entry wins (Libreswan can send strongSwan's ID, not
// the reverse). Sources for the byte values: RFC 3947, RFC 3706, the NAT-T
// drafts, and the vendor ID tables of strongSwan (isakmp_vendor.c) and
// Libreswan (vendor.c); MD5-derived entries are recomputed in the tests.
var catalogue = []VendorID{
	// Implementations.
	{Name: "Libreswan 3.6+ (OE-Libreswan-<version>)", Data: []byte("OE-Libreswan-"), Prefix: true, Kind: KindProduct, Product: ProductLibreswan},
	{Name: "Libreswan 3.0-3.5", Data: []byte("OEN"), Prefix: true, Kind: KindProduct, Product: ProductLibreswan},
	{Name: "Openswan (Xelerance)", Data: []byte("OSW"), Prefix: true, Kind: KindProduct, Product: ProductOpenswan},
	{Name: "Openswan/FreeS/WAN", Data: []byte("OE"), Prefix: true, Kind: KindProduct, Product: ProductOpenswan},
	{Name: "strongSwan", Data: hexVID("882fe56d6fd20dbc2251613b2ebe5beb"), Kind: KindProduct, Product: ProductStrongSwan},
	{Name: "MS NT5 ISAKMPOAKLEY", Data: hexVID("1e2b516905991c7d7c96fcbfb587e461"), Prefix: true, Kind: KindProduct, Product: ProductWindows},
	{Name: "Cisco IOS", Data: hexVID("3e984048"), Prefix: true, Kind: KindProduct, Product: ProductCiscoIOS},
	{Name: "Cisco VPN 3000 Series", Data: hexVID("1f07f70eaa6514d3b0fa96542a50"), Prefix: true, Kind: KindProduct, Product: ProductCiscoVPN3000},
	{Name: "Check Point", Data: hexVID("f4ed19e0c114eb516faaac0ee37daf2807b4381f"), Prefix: true, Kind: KindProduct, Product: ProductCheckPoint},
	{Name: "Fortinet FortiGate", Data: hexVID("8299031757a36082c6a621de"), Prefix: true, Kind: KindProduct, Product: ProductFortiGate},
	{Name: "Netscreen-01", Data: hexVID("299ee8289f40a8973bc78687e2e7226b532c3b76"), Prefix: true, Kind: KindProduct, Product: ProductJuniper},
	{Name: "Netscreen-02", Data: hexVID("3a15e1f3cf2a63582e3ac82d1c64cbe3b6d779e7"), Prefix: true, Kind: KindProduct, Product: ProductJuniper},
	{Name: "Netscreen-03", Data: hexVID("47d2b126bfcd83489760e2cf8c5d4d5a03497c15"), Prefix: true, Kind: KindProduct, Product: ProductJuniper},
	{Name: "Netscreen-04", Data: hexVID("4a4340b543e02b84c88a8b96a8af9ebe77d9accc"), Prefix: true, Kind: KindProduct, Product: ProductJuniper},
	{Name: "Netscreen-05", Data: hexVID("64405f46f03b7660a23be116a1975058e69e8387"), Prefix: true, Kind: KindProduct, Product: ProductJuniper},
	{Name: "Netscreen-06", Data: hexVID("699369228741c6d4ca094c93e242c9de19e7b7c6"), Prefix: true, Kind: KindProduct, Product: ProductJuniper},
	{Name: "Netscreen-07", Data: hexVID("8c0dc6cf62a0ef1b5c6eabd1b67ba69866adf16a"), Prefix: true, Kind: KindProduct, Product: ProductJuniper},
	{Name: "Netscreen-08", Data: hexVID("92d27a9ecb31d99246986d3453d0c3d57a222a61"), Prefix: true, Kind: KindProduct, Product: ProductJuniper},
	{Name: "Netscreen-09", Data: hexVID("9b096d9ac3275a7d6fe8b91c583111b09efed1a0"), Prefix: true, Kind: KindProduct, Product: ProductJuniper},
	{Name: "Netscreen-10", Data: hexVID("bf03746108d746c904f1f3547de24f78479fed12"), Prefix: true, Kind: KindProduct, Product: ProductJuniper},
	{Name: "Netscreen-11", Data: hexVID("c2e80500f4cc5fbf5daaeed3bb59abaeee56c652"), Prefix: true, Kind: KindProduct, Product: ProductJuniper},
	{Name: "Netscreen-12", Data: hexVID("c8660a62b03b1b6130bf781608d32a6a8d0fb89f"), Prefix: true, Kind: KindProduct, Product: ProductJuniper},
	{Name: "Netscreen-13", Data: hexVID("f885da40b1e7a9abd17655ec5bbec0f21f0ed52e"), Prefix: true, Kind: KindProduct, Product: ProductJuniper},
	{Name: "Netscreen-14", Data: hexVID("2a2bcac19b8e91b426107807e02e7249569d6fd3"), Prefix: true, Kind: KindProduct, Product: ProductJuniper},
	{Name: "Netscreen-15", Data: hexVID("166f932d55eb64d8e4df4fd37e2313f0d0fd8451"), Prefix: true, Kind: KindProduct, Product: ProductJuniper},
	{Name: "Netscreen-16", Data: hexVID("a35bfd05ca1ac0b3d2f24e9e82bfcbff9c9e52b5"), Prefix: true, Kind: KindProduct, Product: ProductJuniper},
	{Name: "ZyXEL ZyWALL Router", Data: hexVID("b858d1addd08c1e8adafea150608aa4497aa6cc8"), Kind: KindProduct, Product: ProductZyxel},
	{Name: "ZyXEL ZyWALL USG 100", Data: hexVID("f758f22668750f03b08df6ebe1d0"), Kind: KindProduct, Product: ProductZyxel},
	{Name: "ZyXEL ZyWALL", Data: hexVID("625027749d5ab97f5616c1602765cf480a3b7d0b"), Kind: KindProduct, Product: ProductZyxel},
	{Name: "SonicWall", Data: hexVID("404bf439522ca3f6"), Kind: KindProduct, Product: ProductSonicWall},
	{Name: "Shrew Soft client", Data: hexVID("f14b94b7bff1fef02773b8c49feded26"), Kind: KindProduct, Product: ProductShrewSoft},
	{Name: "NCP client", Data: hexVID("101fb0b35c5a4f4c08b919f1cb9777b0"), Kind: KindProduct, Product: ProductNCP},
	{Name: "Fortinet Endpoint Control", Data: hexVID("b4f01ca951e9da8d0bafbbd34ad3044e"), Kind: KindProduct, Product: ProductFortinet},

	// Product-specific features: they name the product too.
	{Name: "MS-Negotiation Discovery Capable", Data: hexVID("fb1de3cdf341b7ea16b7e5be0855f120"), Kind: KindFeature, Product: ProductWindows},
	{Name: "IKE CGA version 1", Data: hexVID("e3a5966a76379fe707228231e5ce8652"), Kind: KindFeature, Product: ProductWindows},
	{Name: "MS-MamieExists (AuthIP supported)", Data: hexVID("214ca4faffa7f32d6748e5303395ae83"), Kind: KindFeature, Product: ProductWindows},
	{Name: "CISCO-DELETE-REASON", Data: []byte("CISCO-DELETE-REASON"), Kind: KindFeature, Product: ProductCisco},
	{Name: "CISCO-DYNAMIC-ROUTE", Data: []byte("CISCO-DYNAMIC-ROUTE"), Kind: KindFeature, Product: ProductCisco},
	{Name: "CISCOVPN-REV-02", Data: []byte("CISCOVPN-REV-02"), Kind: KindFeature, Product: ProductCisco},
	{Name: "FLEXVPN-SUPPORTED", Data: []byte("FLEXVPN-SUPPORTED"), Kind: KindFeature, Product: ProductCisco},
	{Name: "HeartBeat_Notify", Data: []byte("HeartBeat_Notify"), Prefix: true, Kind: KindFeature, Product: ProductJuniper},

	// Extensions, sent by many implementations.
	{Name: "RFC 3947", Data: hexVID("4a131c81070358455c5728f20e95452f"), Kind: KindNATT},
	{Name: "draft-ietf-ipsec-nat-t-ike-08", Data: hexVID("8f8d83826d246b6fc7a8a6a428c11de8"), Kind: KindNATT},
	{Name: "draft-ietf-ipsec-nat-t-ike-07", Data: hexVID("439b59f8ba676c4c7737ae22eab8f582"), Kind: KindNATT},
	{Name: "draft-ietf-ipsec-nat-t-ike-06", Data: hexVID("4d1e0e136deafa34c4f3ea9f02ec7285"), Kind: KindNATT},
	{Name: "draft-ietf-ipsec-nat-t-ike-05", Data: hexVID("80d0bb3def54565ee84645d4c85ce3ee"), Kind: KindNATT},
	{Name: "draft-ietf-ipsec-nat-t-ike-04", Data: hexVID("9909b64eed937c6573de52ace952fa6b"), Kind: KindNATT},
	{Name: "draft-ietf-ipsec-nat-t-ike-03", Data: hexVID("7d9419a65310ca6f2c179d9215529d56"), Kind: KindNATT},
	{Name: "draft-ietf-ipsec-nat-t-ike-02\n", Data: hexVID("90cb80913ebb696e086381b5ec427b1f"), Kind: KindNATT},
	{Name: "draft-ietf-ipsec-nat-t-ike-02", Data: hexVID("cd60464335df21f87cfdb2fc68b6a448"), Kind: KindNATT},
	{Name: "draft-ietf-ipsec-nat-t-ike-01", Data: hexVID("16f6ca16e4a4066d83821a0f0aeaa862"), Kind: KindNATT},
	{Name: "draft-ietf-ipsec-nat-t-ike-00", Data: hexVID("4485152d18b6bbcd0be8a8469579ddcc"), Kind: KindNATT},
	{Name: "draft-ietf-ipsec-nat-t-ike", Data: hexVID("4df37928e9fc4fd1b3262170d515c662"), Kind: KindNATT},
	{Name: "draft-stenberg-ipsec-nat-traversal-02", Data: hexVID("6105c422e76847e43f9684801292aecd"), Kind: KindNATT},
	{Name: "draft-stenberg-ipsec-nat-traversal-01", Data: hexVID("27bab5dc01ea0760ea4e3190ac27c0d0"), Kind: KindNATT},
	{Name: "Dead Peer Detection", Data: hexVID("afcad71368a1f1c96b8696fc77570100"), Kind: KindDPD},
	{Name: "FRAGMENTATION", Data: hexVID("4048b7d56ebce88525e7de7f00d6c2d3"), Prefix: true, Kind: KindFragmentation},
	{Name: "XAUTH", Data: hexVID("09002689dfd6b712"), Kind: KindXAUTH},
	// MD5("CISCO-UNITY") up to the two version octets.
	{Name: "Cisco Unity", Data: hexVID("12f5f28c457168a9702d9fe274cc"), Prefix: true, Kind: KindUnity},
	{Name: "Vid-Initial-Contact", Data: hexVID("26244d38eddb61b3172a36e3d0cfb819"), Kind: KindFeature},
	{Name: "CAN-IKEv2 (Openswan/Libreswan, obsolete)", Data: []byte("IKEv2"), Kind: KindFeature},
}

// fragCapMainAggr is the capability bit of the 20-byte fragmentation VID
// meaning "fragments Main and Aggressive Mode messages".
const fragCapMainAggr = 0x80000000

// Lookup finds a vendor ID in the catalogue: an entry whose Data equals
// vid, or else the entry with the longest Data that is a prefix of vid
// among the Prefix entries. The returned Data is a copy.
func Lookup(vid []byte) (VendorID, bool) {
	i := lookupIndex(vid)
	if i < 0 {
		return VendorID{}, false
	}
	v := catalogue[i]
	v.Data = append([]byte(nil), v.Data...)
	return v, true
}

// FragmentationCapable reports whether vid announces Cisco-style IKE
// fragmentation that covers Main and Aggressive Mode: the bare
// MD5("FRAGMENTATION") (Windows, Libreswan), or that hash followed by a
// 32-bit capability word with bit 0x80000000 set (strongSwan 0x80000000,
// Cisco 0xc0000000). strongSwan applies the same rule.
func FragmentationCapable(vid []byte) bool {
	frag := catalogue[fragIndex].Data
	if !bytes.HasPrefix(vid, frag) {
		return false
	}
	switch len(vid) - len(frag) {
	case 0:
		return true
	case 4:
		return binary.BigEndian.Uint32(vid[len(frag):])&fragCapMainAggr != 0
	}
	return false
}

// Product names the peer's implementation from the vendor IDs it sent
// (in any order), or returns "" if they do not tell. See Identify.
func Product(vids [][]byte) string {
	p, _ := Identify(vids)
	return p
}

// Identify names the peer's implementation from its vendor IDs. exact is
// true when a product-specific vendor ID says so (when IDs of several
// products are present the catalogue order decides, so Libreswan sending
// strongSwan's ID for compatibility is still Libreswan). Failing that, it
// recognises the default ID sets of the two common open-source peers,
// which send no product ID unless configured to, and returns exact false:
//
//   - strongSwan 5.x: the 20-byte fragmentation ID with capability word
//     exactly 0x80000000, together with the DPD and XAUTH IDs;
//   - Libreswan: the bare 16-byte fragmentation ID with the DPD ID, or the
//     obsolete "IKEv2" (CAN-IKEv2) ID of Libreswan/Openswan 3.x.
//
// These are heuristics, meant for log lines, never for policy decisions.
// It returns "", false when nothing matches.
func Identify(vids [][]byte) (product string, exact bool) {
	best := -1
	var fragBare, fragStrongSwan, dpd, xauth, canIKEv2 bool
	for _, vid := range vids {
		i := lookupIndex(vid)
		if i < 0 {
			continue
		}
		e := &catalogue[i]
		if e.Product != "" && (best < 0 || i < best) {
			best = i
		}
		switch {
		case i == fragIndex:
			if len(vid) == len(e.Data) {
				fragBare = true
			} else if len(vid) == len(e.Data)+4 && binary.BigEndian.Uint32(vid[len(e.Data):]) == fragCapMainAggr {
				fragStrongSwan = true
			}
		case e.Kind == KindDPD:
			dpd = true
		case e.Kind == KindXAUTH:
			xauth = true
		case bytes.Equal(e.Data, []byte("IKEv2")):
			canIKEv2 = true
		}
	}
	switch {
	case best >= 0:
		return catalogue[best].Product, true
	case fragStrongSwan && dpd && xauth:
		return ProductStrongSwan, false
	case fragBare && dpd, canIKEv2:
		return ProductLibreswan, false
	}
	return "", false
}

// lookupIndex is Lookup returning the catalogue index, or -1.
func lookupIndex(vid []byte) int {
	best := -1
	for i := range catalogue {
		e := &catalogue[i]
		if bytes.Equal(e.Data, vid) {
			return i
		}
		if e.Prefix && bytes.HasPrefix(vid, e.Data) && (best < 0 || len(e.Data) > len(catalogue[best].Data)) {
			best = i
		}
	}
	return best
}

// fragIndex is the catalogue index of the fragmentation ID.
var fragIndex = func() int {
	for i, e := range catalogue {
		if e.Kind == KindFragmentation {
			return i
		}
	}
	panic("ikev1: no fragmentation vendor ID in the catalogue")
}()

func hexVID(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic("ikev1: bad vendor ID hex " + s)
	}
	return b
}
