package isakmp

import "net/netip"

// V1NATD is the NAT Discovery payload (RFC 3947 3.2): the hash of an IP
// address and port. Draft selects the pre-RFC payload type 130 used with
// the draft-ietf-ipsec-nat-t-ike-02/03 vendor IDs instead of 20.
type V1NATD struct {
	Draft bool
	Hash  []byte
}

// V1NATOA is the NAT Original Address payload (RFC 3947 5.2), sent in
// Quick Mode for transport mode. IDType is V1IDIPv4Addr or V1IDIPv6Addr
// and must match Addr; 0 when encoding means "from Addr". Draft selects
// payload type 131 instead of 21.
type V1NATOA struct {
	Draft  bool
	IDType uint8
	Addr   netip.Addr
}

func (n *V1NATD) V1Type() V1PayloadType {
	if n.Draft {
		return V1PayloadNATDDraft
	}
	return V1PayloadNATD
}

func (n *V1NATOA) V1Type() V1PayloadType {
	if n.Draft {
		return V1PayloadNATOADraft
	}
	return V1PayloadNATOA
}

func (n *V1NATD) appendV1Body(b []byte) []byte { return append(b, n.Hash...) }

func (n *V1NATOA) appendV1Body(b []byte) []byte {
	t := n.IDType
	switch {
	case !n.Addr.IsValid():
		encodeFail("NAT-OA: no address")
	case t == 0 && n.Addr.Is4():
		t = V1IDIPv4Addr
	case t == 0:
		t = V1IDIPv6Addr
	case t == V1IDIPv4Addr && !n.Addr.Is4(), t == V1IDIPv6Addr && !n.Addr.Is6(), t != V1IDIPv4Addr && t != V1IDIPv6Addr:
		encodeFail("NAT-OA: ID type %s with address %v", V1IDTypeName(t), n.Addr)
	}
	b = append(b, t, 0, 0, 0)
	return append(b, n.Addr.AsSlice()...)
}

func parseV1NATOA(draft bool, b []byte) (*V1NATOA, error) {
	if len(b) < 4 {
		return nil, errTrunc("body of %d bytes, need at least 4", len(b))
	}
	n := &V1NATOA{Draft: draft, IDType: b[0]}
	want := 0
	switch n.IDType {
	case V1IDIPv4Addr:
		want = 4
	case V1IDIPv6Addr:
		want = 16
	default:
		return nil, errBad("ID type %s, want IPV4_ADDR or IPV6_ADDR", V1IDTypeName(n.IDType))
	}
	b = b[4:]
	if len(b) < want {
		return nil, errTrunc("%s: %d bytes of address, need %d", V1IDTypeName(n.IDType), len(b), want)
	}
	if len(b) > want {
		return nil, errBad("%s: %d bytes of address, want %d", V1IDTypeName(n.IDType), len(b), want)
	}
	n.Addr, _ = netip.AddrFromSlice(b)
	return n, nil
}
