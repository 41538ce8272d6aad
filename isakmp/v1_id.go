package isakmp

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/bits"
	"net/netip"
)

// IPsec DOI identification types (RFC 2407 4.6.2.1). Those shared with
// IKEv2 have the same values as the ID* constants.
const (
	V1IDIPv4Addr             = IDIPv4Addr // 1
	V1IDFQDN                 = IDFQDN     // 2
	V1IDUserFQDN             = IDRFC822Addr
	V1IDIPv4AddrSubnet uint8 = 4
	V1IDIPv6Addr             = IDIPv6Addr // 5
	V1IDIPv6AddrSubnet uint8 = 6
	V1IDIPv4AddrRange  uint8 = 7
	V1IDIPv6AddrRange  uint8 = 8
	V1IDDERASN1DN            = IDDERASN1DN // 9
	V1IDDERASN1GN            = IDDERASN1GN // 10
	V1IDKeyID                = IDKeyID     // 11
)

var v1IDTypeNames = [...]string{
	V1IDIPv4Addr:       "IPV4_ADDR",
	V1IDFQDN:           "FQDN",
	V1IDUserFQDN:       "USER_FQDN",
	V1IDIPv4AddrSubnet: "IPV4_ADDR_SUBNET",
	V1IDIPv6Addr:       "IPV6_ADDR",
	V1IDIPv6AddrSubnet: "IPV6_ADDR_SUBNET",
	V1IDIPv4AddrRange:  "IPV4_ADDR_RANGE",
	V1IDIPv6AddrRange:  "IPV6_ADDR_RANGE",
	V1IDDERASN1DN:      "DER_ASN1_DN",
	V1IDDERASN1GN:      "DER_ASN1_GN",
	V1IDKeyID:          "KEY_ID",
}

// V1IDTypeName returns the RFC 2407 name of an IPsec DOI ID type.
func V1IDTypeName(t uint8) string {
	if int(t) < len(v1IDTypeNames) && v1IDTypeNames[t] != "" {
		return v1IDTypeNames[t]
	}
	return fmt.Sprintf("ID_TYPE(%d)", t)
}

// v1IDDataLen is the fixed data length of the address ID types, 0 for the
// others.
func v1IDDataLen(t uint8) int {
	switch t {
	case V1IDIPv4Addr:
		return 4
	case V1IDIPv4AddrSubnet, V1IDIPv4AddrRange:
		return 8
	case V1IDIPv6Addr:
		return 16
	case V1IDIPv6AddrSubnet, V1IDIPv6AddrRange:
		return 32
	}
	return 0
}

// V1ID is the Identification payload in the IPsec DOI (RFC 2408 3.8,
// RFC 2407 4.6.2): in phase 1 the peer's identity (ProtocolID and Port 0,
// or 17 and 500), in Quick Mode the client IDs (traffic selectors). The
// address types (IPV4_ADDR, ..._SUBNET, ..._RANGE) must carry exactly
// their address bytes. AppendV1Body(b, id) gives IDii_b / IDir_b.
type V1ID struct {
	IDType     uint8
	ProtocolID uint8 // IP protocol, 0 for any
	Port       uint16
	Data       []byte
}

func (*V1ID) V1Type() V1PayloadType { return V1PayloadID }

func (id *V1ID) appendV1Body(b []byte) []byte {
	if n := v1IDDataLen(id.IDType); n != 0 && len(id.Data) != n {
		encodeFail("ID %s: %d bytes of data, want %d", V1IDTypeName(id.IDType), len(id.Data), n)
	}
	b = append(b, id.IDType, id.ProtocolID)
	b = binary.BigEndian.AppendUint16(b, id.Port)
	return append(b, id.Data...)
}

func parseV1ID(b []byte) (*V1ID, error) {
	if len(b) < 4 {
		return nil, errTrunc("body of %d bytes, need at least 4", len(b))
	}
	id := &V1ID{IDType: b[0], ProtocolID: b[1], Port: binary.BigEndian.Uint16(b[2:4]), Data: clip(b[4:])}
	if n := v1IDDataLen(id.IDType); n != 0 && len(id.Data) != n {
		if len(id.Data) < n {
			return nil, errTrunc("%s: %d bytes of data, need %d", V1IDTypeName(id.IDType), len(id.Data), n)
		}
		return nil, errBad("%s: %d bytes of data, want %d", V1IDTypeName(id.IDType), len(id.Data), n)
	}
	return id, nil
}

// NewV1IDAddr returns an IPV4_ADDR or IPV6_ADDR identification for a (an
// IPv4-mapped IPv6 address is sent as IPv4). It panics if a is the zero
// Addr.
func NewV1IDAddr(a netip.Addr, proto uint8, port uint16) V1ID {
	a = a.Unmap()
	if !a.IsValid() {
		panic("isakmp: NewV1IDAddr: invalid address")
	}
	t := V1IDIPv6Addr
	if a.Is4() {
		t = V1IDIPv4Addr
	}
	return V1ID{IDType: t, ProtocolID: proto, Port: port, Data: a.AsSlice()}
}

// NewV1IDSubnet returns an IPV4_ADDR_SUBNET or IPV6_ADDR_SUBNET
// identification for p, host bits cleared. It panics if p is not valid.
func NewV1IDSubnet(p netip.Prefix, proto uint8, port uint16) V1ID {
	if !p.IsValid() {
		panic("isakmp: NewV1IDSubnet: invalid prefix")
	}
	p = p.Masked()
	a := p.Addr()
	if a.Is4In6() { // a /96 or longer on a mapped address
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
		a = p.Addr()
	}
	mask := netmask(a.BitLen(), p.Bits())
	t := V1IDIPv6AddrSubnet
	if a.Is4() {
		t = V1IDIPv4AddrSubnet
	}
	return V1ID{IDType: t, ProtocolID: proto, Port: port, Data: append(a.AsSlice(), mask...)}
}

// NewV1IDRange returns an IPV4_ADDR_RANGE or IPV6_ADDR_RANGE
// identification from start to end inclusive. Both must be valid, of the
// same family, and start <= end.
func NewV1IDRange(start, end netip.Addr, proto uint8, port uint16) (V1ID, error) {
	start, end = start.Unmap(), end.Unmap()
	if !start.IsValid() || !end.IsValid() || start.Is4() != end.Is4() {
		return V1ID{}, fmt.Errorf("isakmp: ID range %v-%v: addresses of different families", start, end)
	}
	if end.Less(start) {
		return V1ID{}, fmt.Errorf("isakmp: ID range %v-%v: start after end", start, end)
	}
	t := V1IDIPv6AddrRange
	if start.Is4() {
		t = V1IDIPv4AddrRange
	}
	return V1ID{IDType: t, ProtocolID: proto, Port: port, Data: append(start.AsSlice(), end.AsSlice()...)}, nil
}

// netmask returns the bytes of a /ones mask of n bits.
func netmask(n, ones int) []byte {
	m := make([]byte, n/8)
	for i := range m {
		switch {
		case ones >= 8:
			m[i] = 0xff
			ones -= 8
		case ones > 0:
			m[i] = ^byte(0xff >> ones)
			ones = 0
		}
	}
	return m
}

// maskBits returns the prefix length of a contiguous mask, or -1.
func maskBits(m []byte) int {
	ones := 0
	for i, c := range m {
		if c == 0xff {
			ones += 8
			continue
		}
		l := bits.LeadingZeros8(^c)
		if c<<l != 0 {
			return -1
		}
		for _, d := range m[i+1:] {
			if d != 0 {
				return -1
			}
		}
		return ones + l
	}
	return ones
}

// addrs splits the data of an address ID into its one or two addresses;
// the length was checked when the ID was decoded, and is checked again.
func (id V1ID) addrs() (a, b netip.Addr, err error) {
	n := v1IDDataLen(id.IDType)
	if n == 0 {
		return a, b, errBad("ID type %s is not an address", V1IDTypeName(id.IDType))
	}
	if len(id.Data) != n {
		return a, b, errBad("ID %s: %d bytes of data, want %d", V1IDTypeName(id.IDType), len(id.Data), n)
	}
	switch id.IDType {
	case V1IDIPv4Addr, V1IDIPv6Addr:
		a, _ = netip.AddrFromSlice(id.Data)
		return a, a, nil
	}
	a, _ = netip.AddrFromSlice(id.Data[:n/2])
	b, _ = netip.AddrFromSlice(id.Data[n/2:])
	return a, b, nil
}

// Addr returns the address of an IPV4_ADDR or IPV6_ADDR identification.
func (id V1ID) Addr() (netip.Addr, error) {
	if id.IDType != V1IDIPv4Addr && id.IDType != V1IDIPv6Addr {
		return netip.Addr{}, errBad("ID type %s is not a single address", V1IDTypeName(id.IDType))
	}
	a, _, err := id.addrs()
	return a, err
}

// Prefix returns the identification as a prefix: a single address as a /32
// or /128, a subnet with its mask, which must be contiguous. The address is
// as sent; host bits set in it are kept (see netip.Prefix.Masked). Ranges
// and non-address types fail.
func (id V1ID) Prefix() (netip.Prefix, error) {
	a, m, err := id.addrs()
	if err != nil {
		return netip.Prefix{}, err
	}
	switch id.IDType {
	case V1IDIPv4Addr, V1IDIPv6Addr:
		return netip.PrefixFrom(a, a.BitLen()), nil
	case V1IDIPv4AddrSubnet, V1IDIPv6AddrSubnet:
		n := maskBits(m.AsSlice())
		if n < 0 {
			return netip.Prefix{}, errBad("ID %s: mask %v is not contiguous", V1IDTypeName(id.IDType), m)
		}
		return netip.PrefixFrom(a, n), nil
	}
	return netip.Prefix{}, errBad("ID type %s is not a prefix", V1IDTypeName(id.IDType))
}

// Range returns the first and last address covered by an address
// identification: the address itself, a subnet's first and last address
// (its mask must be contiguous; host bits sent are ignored), or a range's
// ends, which must be in order. Non-address types fail.
func (id V1ID) Range() (first, last netip.Addr, err error) {
	a, b, err := id.addrs()
	if err != nil {
		return a, b, err
	}
	switch id.IDType {
	case V1IDIPv4AddrSubnet, V1IDIPv6AddrSubnet:
		ab, mb := a.AsSlice(), b.AsSlice()
		if maskBits(mb) < 0 {
			return netip.Addr{}, netip.Addr{}, errBad("ID %s: mask %v is not contiguous", V1IDTypeName(id.IDType), b)
		}
		lo, hi := make([]byte, len(ab)), make([]byte, len(ab))
		for i := range ab {
			lo[i] = ab[i] & mb[i]
			hi[i] = ab[i] | ^mb[i]
		}
		a, _ = netip.AddrFromSlice(lo)
		b, _ = netip.AddrFromSlice(hi)
	case V1IDIPv4AddrRange, V1IDIPv6AddrRange:
		if b.Less(a) {
			return netip.Addr{}, netip.Addr{}, errBad("ID %s: start %v after end %v", V1IDTypeName(id.IDType), a, b)
		}
	}
	return a, b, nil
}

// String formats the identification for logs, in strongSwan's style:
// an address, prefix or range, the FQDN or user FQDN as text, KEY_ID as
// "keyid:" and hex, DER types as their name and hex; followed by
// "[proto/port]" when either is set.
func (id V1ID) String() string {
	var s string
	switch id.IDType {
	case V1IDFQDN, V1IDUserFQDN:
		s = fmt.Sprintf("%q", id.Data)
		s = s[1 : len(s)-1]
	case V1IDKeyID:
		s = "keyid:" + hex.EncodeToString(id.Data)
	default:
		first, last, err := id.Range()
		switch {
		case err != nil:
			s = V1IDTypeName(id.IDType) + ":" + hex.EncodeToString(id.Data)
		case id.IDType == V1IDIPv4Addr || id.IDType == V1IDIPv6Addr:
			s = first.String()
		default:
			if p, err := id.Prefix(); err == nil {
				s = p.String()
			} else {
				s = first.String() + "-" + last.String()
			}
		}
	}
	if id.ProtocolID != 0 || id.Port != 0 {
		s += fmt.Sprintf("[%d/%d]", id.ProtocolID, id.Port)
	}
	return s
}
