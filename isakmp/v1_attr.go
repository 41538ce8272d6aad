package isakmp

import "encoding/binary"

// V1Attr is the Attribute payload of the ISAKMP Configuration Method
// (draft-ietf-ipsec-isakmp-mode-cfg-05 3.2) that carries Mode Config and
// XAUTH (draft-ietf-ipsec-isakmp-xauth-06) in Transaction exchanges. Type
// is CfgRequest, CfgReply, CfgSet or CfgAck (same values as IKEv2's CP
// types); Identifier matches a reply to its request. The attributes use the
// ISAKMP data attribute format, TV or TLV. Their types are the IKEv2 CP*
// values for addresses (INTERNAL_IP4_ADDRESS 1, ...) and V1XAuth* for
// XAUTH.
type V1Attr struct {
	Type       uint8
	Identifier uint16
	Attrs      []Attribute
}

// XAUTH attribute types (draft-ietf-ipsec-isakmp-xauth-06 2.4).
const (
	V1XAuthType      uint16 = 16520
	V1XAuthUserName  uint16 = 16521
	V1XAuthPassword  uint16 = 16522
	V1XAuthPasscode  uint16 = 16523
	V1XAuthMessage   uint16 = 16524
	V1XAuthChallenge uint16 = 16525
	V1XAuthDomain    uint16 = 16526
	V1XAuthStatus    uint16 = 16527
	V1XAuthNextPIN   uint16 = 16528
	V1XAuthAnswer    uint16 = 16529
)

func (*V1Attr) V1Type() V1PayloadType { return V1PayloadATTR }

func (a *V1Attr) appendV1Body(b []byte) []byte {
	b = append(b, a.Type, 0)
	b = binary.BigEndian.AppendUint16(b, a.Identifier)
	for i := range a.Attrs {
		b = a.Attrs[i].appendTo(b)
	}
	return b
}

func parseV1Attr(b []byte) (*V1Attr, error) {
	if len(b) < 4 {
		return nil, errTrunc("body of %d bytes, need at least 4", len(b))
	}
	a := &V1Attr{Type: b[0], Identifier: binary.BigEndian.Uint16(b[2:4])}
	var err error
	if a.Attrs, err = parseAttributes(b[4:]); err == nil {
		return a, nil
	}
	// Libreswan pads some payloads (an ACK with a 14-byte
	// UNITY_SPLIT_INCLUDE) to a multiple of 4 with zero bytes that belong
	// to no attribute; Wireshark accepts them, and so do we: up to 3
	// trailing zeros, when the attributes then fill the rest exactly.
	body := b[4:]
	for n := 1; n <= 3 && n <= len(body) && body[len(body)-n] == 0; n++ {
		if attrs, perr := parseAttributes(body[:len(body)-n]); perr == nil {
			a.Attrs = attrs
			return a, nil
		}
	}
	return nil, err
}

// V1Frag is the IKE fragmentation payload of the Cisco extension, as
// strongSwan and Libreswan implement it: fragment ID (2 bytes, the same for
// all fragments of one message), fragment number (1, counting from 1),
// flags (1; bit 0 marks the last fragment, other bits are ignored) and the
// data, a slice of the whole original message (header included). A
// fragmented message is sent as messages whose only payload is a V1Frag.
type V1Frag struct {
	ID   uint16
	Num  uint8
	Last bool
	Data []byte
}

const v1FragLast = 0x01

func (*V1Frag) V1Type() V1PayloadType { return V1PayloadFRAG }

func (f *V1Frag) appendV1Body(b []byte) []byte {
	var flags byte
	if f.Last {
		flags = v1FragLast
	}
	b = binary.BigEndian.AppendUint16(b, f.ID)
	b = append(b, f.Num, flags)
	return append(b, f.Data...)
}

func parseV1Frag(b []byte) (*V1Frag, error) {
	if len(b) < 4 {
		return nil, errTrunc("body of %d bytes, need at least 4", len(b))
	}
	f := &V1Frag{ID: binary.BigEndian.Uint16(b[0:2]), Num: b[2], Last: b[3]&v1FragLast != 0, Data: clip(b[4:])}
	if f.Num == 0 {
		return nil, errBad("fragment number 0")
	}
	return f, nil
}
