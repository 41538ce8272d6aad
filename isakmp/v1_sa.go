package isakmp

import "encoding/binary"

// Domains of interpretation (RFC 2408 3.4, RFC 2407 4.2) and IPsec DOI
// situations (RFC 2407 4.2).
const (
	V1DOIISAKMP uint32 = 0
	V1DOIIPsec  uint32 = 1

	V1SitIdentityOnly uint32 = 1
	V1SitSecrecy      uint32 = 2 // followed by labels: not supported here
	V1SitIntegrity    uint32 = 4 // followed by labels: not supported here
)

// IKEv1 protocol IDs (RFC 2407 4.4.1); AH and ESP are ProtocolAH and
// ProtocolESP.
const (
	V1ProtocolISAKMP       = ProtocolIKE // 1
	V1ProtocolIPComp uint8 = 4
)

// V1KeyIKE is the only ISAKMP transform ID (RFC 2407 4.4.2), the ID of
// every Transform payload of a phase 1 proposal. The AH, ESP and IPComp
// transform IDs are algorithm registry values and live in package oakley
// (oakley.V1AH*, oakley.V1ESP*, oakley.V1IPComp*).
const V1KeyIKE uint8 = 1

// Phase 1 (ISAKMP SA) attribute types (RFC 2409 Appendix A). "V" types are
// variable length; the others are basic (TV).
const (
	V1IKEAttrEncryption   uint16 = 1
	V1IKEAttrHash         uint16 = 2
	V1IKEAttrAuthMethod   uint16 = 3
	V1IKEAttrGroupDesc    uint16 = 4
	V1IKEAttrGroupType    uint16 = 5
	V1IKEAttrGroupPrime   uint16 = 6  // V
	V1IKEAttrGroupGen1    uint16 = 7  // V
	V1IKEAttrGroupGen2    uint16 = 8  // V
	V1IKEAttrGroupCurveA  uint16 = 9  // V
	V1IKEAttrGroupCurveB  uint16 = 10 // V
	V1IKEAttrLifeType     uint16 = 11
	V1IKEAttrLifeDuration uint16 = 12 // V
	V1IKEAttrPRF          uint16 = 13
	V1IKEAttrKeyLength    uint16 = 14
	V1IKEAttrFieldSize    uint16 = 15
	V1IKEAttrGroupOrder   uint16 = 16 // V
)

// Life Type attribute values, for both the phase 1 Life Type
// (V1IKEAttrLifeType, RFC 2409 Appendix A) and the IPsec SA Life Type
// (V1IPsecAttrLifeType, RFC 2407 4.5). The phase 1 algorithm values
// (encryption, hash, authentication method, group type) live in package
// oakley (oakley.V1Encr*, oakley.V1Hash*, oakley.V1Auth*,
// oakley.V1GroupType*); Group Description values are the IANA group
// numbers (see package oakley).
const (
	V1LifeSeconds   uint16 = 1
	V1LifeKilobytes uint16 = 2
)

// IPsec DOI SA attribute types (RFC 2407 4.5, RFC 4304).
const (
	V1IPsecAttrLifeType          uint16 = 1
	V1IPsecAttrLifeDuration      uint16 = 2 // V
	V1IPsecAttrGroupDesc         uint16 = 3
	V1IPsecAttrEncapsulationMode uint16 = 4
	V1IPsecAttrAuthAlg           uint16 = 5
	V1IPsecAttrKeyLength         uint16 = 6
	V1IPsecAttrKeyRounds         uint16 = 7
	V1IPsecAttrCompressDictSize  uint16 = 8
	V1IPsecAttrCompressPrivAlg   uint16 = 9  // V
	V1IPsecAttrECNTunnel         uint16 = 10 // RFC 3168
	V1IPsecAttrESN               uint16 = 11
)

// IPsec DOI Encapsulation Mode attribute values (RFC 2407 4.5, RFC 3947
// 5, draft-ietf-ipsec-nat-t-ike-00..03 for the private-use values). The
// Authentication Algorithm values (V1IPsecAttrAuthAlg) live in package
// oakley (oakley.V1ESPAuth*).
const (
	V1EncapTunnel            uint16 = 1
	V1EncapTransport         uint16 = 2
	V1EncapUDPTunnel         uint16 = 3
	V1EncapUDPTransport      uint16 = 4
	V1EncapUDPTunnelDraft    uint16 = 61443
	V1EncapUDPTransportDraft uint16 = 61444
)

// V1SA is the IKEv1 Security Association payload (RFC 2408 3.4) with its
// Proposal and Transform payloads (3.5, 3.6). Situation is the IPsec DOI's
// four-byte situation bitmap (RFC 2407 4.6.1); situations with secrecy or
// integrity labels are rejected. Proposals with the same Num form one
// bundle offered together (e.g. AH and ESP); different numbers are
// alternatives, in order of preference (RFC 2408 4.2).
type V1SA struct {
	DOI       uint32
	Situation uint32
	Proposals []V1Proposal
}

// V1Proposal is a Proposal payload. ProtocolID is V1ProtocolISAKMP,
// ProtocolAH, ProtocolESP or V1ProtocolIPComp; SPI is empty in phase 1 (or
// the cookies, which receivers ignore) and 4 bytes (2 for IPComp) in
// Quick Mode.
type V1Proposal struct {
	Num        uint8
	ProtocolID uint8
	SPI        []byte
	Transforms []V1Transform
}

// V1Transform is a Transform payload. ID is V1KeyIKE for ISAKMP, or an
// oakley.V1ESP*, oakley.V1AH* or oakley.V1IPComp* transform ID. Attrs are the SA attributes
// (V1IKEAttr* in phase 1, V1IPsecAttr* in Quick Mode).
type V1Transform struct {
	Num   uint8
	ID    uint8
	Attrs []Attribute
}

func (*V1SA) V1Type() V1PayloadType { return V1PayloadSA }

// Attr returns the first attribute of type typ.
func (t *V1Transform) Attr(typ uint16) (Attribute, bool) {
	for _, a := range t.Attrs {
		if a.Type == typ {
			return a, true
		}
	}
	return Attribute{}, false
}

// Bundles returns the proposals grouped by proposal number, in order: each
// group is one offer whose proposals (protocols) are all to be accepted
// together (RFC 2408 4.2).
func (sa *V1SA) Bundles() [][]V1Proposal {
	var out [][]V1Proposal
	for i := 0; i < len(sa.Proposals); {
		j := i + 1
		for j < len(sa.Proposals) && sa.Proposals[j].Num == sa.Proposals[i].Num {
			j++
		}
		out = append(out, sa.Proposals[i:j:j])
		i = j
	}
	return out
}

func (sa *V1SA) appendV1Body(b []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, sa.DOI)
	b = binary.BigEndian.AppendUint32(b, sa.Situation)
	for i := range sa.Proposals {
		p := &sa.Proposals[i]
		next := byte(V1PayloadProposal)
		if i == len(sa.Proposals)-1 {
			next = 0
		}
		if len(p.SPI) > 0xff {
			encodeFail("SA proposal %d: SPI of %d bytes", i+1, len(p.SPI))
		}
		if len(p.Transforms) > 0xff {
			encodeFail("SA proposal %d: %d transforms", i+1, len(p.Transforms))
		}
		start := len(b)
		b = append(b, next, 0, 0, 0, p.Num, p.ProtocolID, byte(len(p.SPI)), byte(len(p.Transforms)))
		b = append(b, p.SPI...)
		for j := range p.Transforms {
			t := &p.Transforms[j]
			next := byte(V1PayloadTransform)
			if j == len(p.Transforms)-1 {
				next = 0
			}
			tstart := len(b)
			b = append(b, next, 0, 0, 0, t.Num, t.ID, 0, 0)
			for k := range t.Attrs {
				b = t.Attrs[k].appendTo(b)
			}
			if n := putLen16(b, tstart, tstart+2); n > 0xffff {
				encodeFail("SA proposal %d: transform %d length %d exceeds 65535", i+1, j+1, n)
			}
		}
		if n := putLen16(b, start, start+2); n > 0xffff {
			encodeFail("SA proposal %d length %d exceeds 65535", i+1, n)
		}
	}
	return b
}

func parseV1SA(b []byte) (*V1SA, error) {
	if len(b) < 8 {
		return nil, errTrunc("body of %d bytes, need at least 8", len(b))
	}
	sa := &V1SA{DOI: binary.BigEndian.Uint32(b[0:4]), Situation: binary.BigEndian.Uint32(b[4:8])}
	if sa.DOI == V1DOIIPsec && sa.Situation&(V1SitSecrecy|V1SitIntegrity) != 0 {
		return nil, errBad("situation %#x: secrecy and integrity labels are not supported", sa.Situation)
	}
	b = b[8:]
	if len(b) == 0 {
		return nil, errBad("no proposals")
	}
	// The Proposal payloads are a chain of generic payloads of their own
	// (RFC 2408 3.5): next payload 2 (another proposal) or 0 (the last),
	// and the last one ends the SA payload. The shared substructure check
	// validates exactly that.
	for i := 1; len(b) > 0; i++ {
		n, err := substructure(b, "proposal", i, byte(V1PayloadProposal))
		if err != nil {
			return nil, err
		}
		p, err := parseV1Proposal(b[:n])
		if err != nil {
			return nil, wrapf(err, "proposal %d: ", i)
		}
		sa.Proposals = append(sa.Proposals, p)
		b = b[n:]
	}
	return sa, nil
}

func parseV1Proposal(b []byte) (V1Proposal, error) {
	p := V1Proposal{Num: b[4], ProtocolID: b[5]}
	spiSize, count := int(b[6]), int(b[7])
	b = b[8:]
	if spiSize > len(b) {
		return V1Proposal{}, errTrunc("SPI size %d exceeds remaining %d", spiSize, len(b))
	}
	p.SPI = clip(b[:spiSize])
	b = b[spiSize:]
	if count > 0 {
		p.Transforms = make([]V1Transform, 0, min(count, len(b)/8))
	}
	for i := 1; len(b) > 0; i++ {
		n, err := substructure(b, "transform", i, byte(V1PayloadTransform))
		if err != nil {
			return V1Proposal{}, err
		}
		t := V1Transform{Num: b[4], ID: b[5]}
		if t.Attrs, err = parseAttributes(b[8:n]); err != nil {
			return V1Proposal{}, wrapf(err, "transform %d: ", i)
		}
		p.Transforms = append(p.Transforms, t)
		b = b[n:]
	}
	if len(p.Transforms) != count {
		return V1Proposal{}, errBad("%d transforms present, header says %d", len(p.Transforms), count)
	}
	return p, nil
}

// V1AttrTV returns a basic (TV) attribute.
func V1AttrTV(typ, v uint16) Attribute { return Attribute{Type: typ, TV: true, TVValue: v} }

// V1AttrUint returns an attribute carrying v: basic (TV) when v fits in 16
// bits, else variable (TLV) with a 4-byte value, or 8 bytes when v does
// not fit in 32 bits. RFC 2409 Appendix A allows a variable attribute such
// as Life Duration to be sent basic when its value fits.
func V1AttrUint(typ uint16, v uint64) Attribute {
	switch {
	case v <= 0xffff:
		return V1AttrTV(typ, uint16(v))
	case v <= 0xffffffff:
		return Attribute{Type: typ, Value: binary.BigEndian.AppendUint32(nil, uint32(v))}
	}
	return Attribute{Type: typ, Value: binary.BigEndian.AppendUint64(nil, v)}
}

// Uint64 returns the attribute's value as an integer, whether it came basic
// (TV) or variable (TLV, big-endian, any length once leading zero bytes are
// dropped, e.g. a four-byte Life Duration). An empty or over-long TLV value
// fails with ErrMalformed.
func (a Attribute) Uint64() (uint64, error) {
	if a.TV {
		return uint64(a.TVValue), nil
	}
	v := a.Value
	if len(v) == 0 {
		return 0, errBad("attribute %d: empty value", a.Type)
	}
	for len(v) > 8 && v[0] == 0 {
		v = v[1:]
	}
	if len(v) > 8 {
		return 0, errBad("attribute %d: value of %d bytes exceeds 64 bits", a.Type, len(a.Value))
	}
	var x uint64
	for _, c := range v {
		x = x<<8 | uint64(c)
	}
	return x, nil
}

// Uint32 is Uint64 for values that must fit in 32 bits.
func (a Attribute) Uint32() (uint32, error) {
	x, err := a.Uint64()
	if err != nil {
		return 0, err
	}
	if x > 0xffffffff {
		return 0, errBad("attribute %d: value %d exceeds 32 bits", a.Type, x)
	}
	return uint32(x), nil
}
