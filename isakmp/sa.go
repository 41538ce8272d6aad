package isakmp

import "encoding/binary"

// Protocol IDs of proposals, notifications and deletes (RFC 7296 3.3.1).
const (
	ProtocolIKE uint8 = 1
	ProtocolAH  uint8 = 2
	ProtocolESP uint8 = 3
)

// AttrKeyLength is the Key Length transform attribute (RFC 7296 3.3.5),
// always in TV form.
const AttrKeyLength uint16 = 14

// SA is the Security Association payload (RFC 7296 3.3).
type SA struct {
	Proposals []Proposal
}

// Proposal is a proposal substructure. Num is the proposal number (the first
// proposal offered is 1); SPI is empty for the IKE SA's initial exchange.
type Proposal struct {
	Num        uint8
	Protocol   uint8 // ProtocolIKE, ProtocolAH or ProtocolESP
	SPI        []byte
	Transforms []Transform
}

// Transform is a transform substructure (RFC 7296 3.3.2). Type and ID are
// the IANA values (see package oakley).
type Transform struct {
	Type  uint8
	ID    uint16
	Attrs []Attribute
}

// KeyLen returns the value of the Key Length attribute, if any.
func (t Transform) KeyLen() (uint16, bool) {
	for _, a := range t.Attrs {
		if a.Type == AttrKeyLength && a.TV {
			return a.TVValue, true
		}
	}
	return 0, false
}

// Attribute is a transform attribute (RFC 7296 3.3.5). Type is the 15-bit
// attribute type, without the AF bit. With TV set the attribute is in
// Type/Value form and its value is TVValue; otherwise it is in
// Type/Length/Value form and its value is Value.
type Attribute struct {
	Type    uint16
	Value   []byte
	TV      bool
	TVValue uint16
}

func (*SA) Type() PayloadType { return PayloadSA }

const (
	lastProposalMore  = 2
	lastTransformMore = 3
)

func (sa *SA) appendBody(b []byte) []byte {
	for i := range sa.Proposals {
		p := &sa.Proposals[i]
		last := byte(lastProposalMore)
		if i == len(sa.Proposals)-1 {
			last = 0
		}
		if len(p.SPI) > 0xff {
			encodeFail("SA proposal %d: SPI of %d bytes", i+1, len(p.SPI))
		}
		if len(p.Transforms) > 0xff {
			encodeFail("SA proposal %d: %d transforms", i+1, len(p.Transforms))
		}
		start := len(b)
		b = append(b, last, 0, 0, 0, p.Num, p.Protocol, byte(len(p.SPI)), byte(len(p.Transforms)))
		b = append(b, p.SPI...)
		for j := range p.Transforms {
			t := &p.Transforms[j]
			last := byte(lastTransformMore)
			if j == len(p.Transforms)-1 {
				last = 0
			}
			tstart := len(b)
			b = append(b, last, 0, 0, 0, t.Type, 0)
			b = binary.BigEndian.AppendUint16(b, t.ID)
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

func (a *Attribute) appendTo(b []byte) []byte {
	if a.Type > 0x7fff {
		encodeFail("transform attribute type %d exceeds 15 bits", a.Type)
	}
	if a.TV {
		b = binary.BigEndian.AppendUint16(b, 0x8000|a.Type)
		return binary.BigEndian.AppendUint16(b, a.TVValue)
	}
	if len(a.Value) > 0xffff {
		encodeFail("transform attribute %d: value of %d bytes", a.Type, len(a.Value))
	}
	b = binary.BigEndian.AppendUint16(b, a.Type)
	b = binary.BigEndian.AppendUint16(b, uint16(len(a.Value)))
	return append(b, a.Value...)
}

func parseSA(b []byte) (*SA, error) {
	if len(b) == 0 {
		return nil, errBad("no proposals")
	}
	sa := &SA{}
	for i := 1; len(b) > 0; i++ {
		n, err := substructure(b, "proposal", i, lastProposalMore)
		if err != nil {
			return nil, err
		}
		p, err := parseProposal(b[:n])
		if err != nil {
			return nil, wrapf(err, "proposal %d: ", i)
		}
		sa.Proposals = append(sa.Proposals, p)
		b = b[n:]
	}
	return sa, nil
}

// substructure checks the 8-byte-minimum header of a proposal or transform
// at the start of b and returns its length. more is the value of the "last
// substructure" field meaning another one follows.
func substructure(b []byte, what string, i int, more byte) (int, error) {
	if len(b) < 8 {
		return 0, errTrunc("%s %d: header: %d bytes left, need 8", what, i, len(b))
	}
	n := int(binary.BigEndian.Uint16(b[2:4]))
	if n < 8 {
		return 0, errBad("%s %d: length %d is less than 8", what, i, n)
	}
	if n > len(b) {
		return 0, errTrunc("%s %d: length %d exceeds remaining %d", what, i, n, len(b))
	}
	switch b[0] {
	case 0:
		if n != len(b) {
			return 0, errBad("%s %d: marked last, but %d bytes follow", what, i, len(b)-n)
		}
	case more:
		if n == len(b) {
			return 0, errBad("%s %d: marked not last, but nothing follows", what, i)
		}
	default:
		return 0, errBad("%s %d: last-substructure field %d, want 0 or %d", what, i, b[0], more)
	}
	return n, nil
}

func parseProposal(b []byte) (Proposal, error) {
	p := Proposal{Num: b[4], Protocol: b[5]}
	spiSize, count := int(b[6]), int(b[7])
	b = b[8:]
	if spiSize > len(b) {
		return Proposal{}, errTrunc("SPI size %d exceeds remaining %d", spiSize, len(b))
	}
	p.SPI = clip(b[:spiSize])
	b = b[spiSize:]
	if count > 0 {
		p.Transforms = make([]Transform, 0, min(count, len(b)/8))
	}
	for i := 1; len(b) > 0; i++ {
		n, err := substructure(b, "transform", i, lastTransformMore)
		if err != nil {
			return Proposal{}, err
		}
		t, err := parseTransform(b[:n])
		if err != nil {
			return Proposal{}, wrapf(err, "transform %d: ", i)
		}
		p.Transforms = append(p.Transforms, t)
		b = b[n:]
	}
	if len(p.Transforms) != count {
		return Proposal{}, errBad("%d transforms present, header says %d", len(p.Transforms), count)
	}
	return p, nil
}

func parseTransform(b []byte) (Transform, error) {
	t := Transform{Type: b[4], ID: binary.BigEndian.Uint16(b[6:8])}
	var err error
	if t.Attrs, err = parseAttributes(b[8:]); err != nil {
		return Transform{}, err
	}
	return t, nil
}

// parseAttributes decodes a list of data attributes in TV or TLV form, the
// format shared by IKEv2 transform attributes, IKEv1 SA attributes (RFC 2408
// 3.3) and IKEv1 mode-config attributes. The list fills b exactly.
func parseAttributes(b []byte) ([]Attribute, error) {
	var attrs []Attribute
	for i := 1; len(b) > 0; i++ {
		if len(b) < 4 {
			return nil, errTrunc("attribute %d: header: %d bytes left, need 4", i, len(b))
		}
		typ := binary.BigEndian.Uint16(b[0:2])
		v := binary.BigEndian.Uint16(b[2:4])
		a := Attribute{Type: typ & 0x7fff}
		if typ&0x8000 != 0 {
			a.TV, a.TVValue = true, v
			b = b[4:]
		} else {
			n := int(v)
			if n > len(b)-4 {
				return nil, errTrunc("attribute %d: length %d exceeds remaining %d", i, n, len(b)-4)
			}
			a.Value = clip(b[4 : 4+n])
			b = b[4+n:]
		}
		attrs = append(attrs, a)
	}
	return attrs, nil
}

// AppendAttributes appends SA attributes as they are encoded inside
// transforms; IKEv1 also carries them in notification data (e.g.
// RESPONDER-LIFETIME, RFC 2407 4.6.3.1).
func AppendAttributes(b []byte, attrs []Attribute) []byte {
	for i := range attrs {
		b = attrs[i].appendTo(b)
	}
	return b
}

// ParseAttributes decodes a run of SA attributes (see AppendAttributes).
func ParseAttributes(b []byte) ([]Attribute, error) { return parseAttributes(b) }
