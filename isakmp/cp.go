package isakmp

import "encoding/binary"

// Configuration payload types (RFC 7296 3.15).
const (
	CfgRequest uint8 = 1
	CfgReply   uint8 = 2
	CfgSet     uint8 = 3
	CfgAck     uint8 = 4
)

// Configuration attribute types (RFC 7296 3.15.1).
const (
	CPInternalIP4Address  uint16 = 1
	CPInternalIP4Netmask  uint16 = 2
	CPInternalIP4DNS      uint16 = 3
	CPInternalIP4NBNS     uint16 = 4
	CPInternalIP4DHCP     uint16 = 6
	CPApplicationVersion  uint16 = 7
	CPInternalIP6Address  uint16 = 8
	CPInternalIP6DNS      uint16 = 10
	CPInternalIP6DHCP     uint16 = 12
	CPInternalIP4Subnet   uint16 = 13
	CPSupportedAttributes uint16 = 14
	CPInternalIP6Subnet   uint16 = 15
)

// CP is the Configuration payload (RFC 7296 3.15).
type CP struct {
	CfgType uint8
	Attrs   []CPAttribute
}

// CPAttribute is a configuration attribute. Type is the 15-bit type (the
// reserved high bit is sent as zero and ignored on receipt).
type CPAttribute struct {
	Type  uint16
	Value []byte
}

func (*CP) Type() PayloadType { return PayloadCP }

func (c *CP) appendBody(b []byte) []byte {
	b = append(b, c.CfgType, 0, 0, 0)
	for _, a := range c.Attrs {
		if a.Type > 0x7fff {
			encodeFail("CP attribute type %d exceeds 15 bits", a.Type)
		}
		if len(a.Value) > 0xffff {
			encodeFail("CP attribute %d: value of %d bytes", a.Type, len(a.Value))
		}
		b = binary.BigEndian.AppendUint16(b, a.Type)
		b = binary.BigEndian.AppendUint16(b, uint16(len(a.Value)))
		b = append(b, a.Value...)
	}
	return b
}

func parseCP(b []byte) (*CP, error) {
	if len(b) < 4 {
		return nil, errTrunc("body of %d bytes, need at least 4", len(b))
	}
	c := &CP{CfgType: b[0]}
	b = b[4:]
	for i := 1; len(b) > 0; i++ {
		if len(b) < 4 {
			return nil, errTrunc("attribute %d: header: %d bytes left, need 4", i, len(b))
		}
		a := CPAttribute{Type: binary.BigEndian.Uint16(b[0:2]) & 0x7fff}
		n := int(binary.BigEndian.Uint16(b[2:4]))
		if n > len(b)-4 {
			return nil, errTrunc("attribute %d: length %d exceeds remaining %d", i, n, len(b)-4)
		}
		a.Value = clip(b[4 : 4+n])
		c.Attrs = append(c.Attrs, a)
		b = b[4+n:]
	}
	return c, nil
}
