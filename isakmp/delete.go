package isakmp

import "encoding/binary"

// Delete is the Delete payload (RFC 7296 3.11). For the IKE SA, Protocol is
// ProtocolIKE, SPISize 0 and SPIs empty; for AH/ESP SPISize is 4 and every
// SPI is SPISize bytes.
type Delete struct {
	Protocol uint8
	SPISize  uint8
	SPIs     [][]byte
}

func (*Delete) Type() PayloadType { return PayloadDelete }

func (d *Delete) appendBody(b []byte) []byte {
	if len(d.SPIs) > 0xffff {
		encodeFail("Delete: %d SPIs", len(d.SPIs))
	}
	b = append(b, d.Protocol, d.SPISize)
	b = binary.BigEndian.AppendUint16(b, uint16(len(d.SPIs)))
	for i, s := range d.SPIs {
		if len(s) != int(d.SPISize) {
			encodeFail("Delete: SPI %d has %d bytes, SPI size is %d", i+1, len(s), d.SPISize)
		}
		b = append(b, s...)
	}
	return b
}

func parseDelete(b []byte) (*Delete, error) {
	if len(b) < 4 {
		return nil, errTrunc("body of %d bytes, need at least 4", len(b))
	}
	d := &Delete{Protocol: b[0], SPISize: b[1]}
	size, count := int(b[1]), int(binary.BigEndian.Uint16(b[2:4]))
	b = b[4:]
	if size == 0 && count > 0 {
		return nil, errBad("%d SPIs of size 0", count)
	}
	if want := size * count; want != len(b) {
		if want > len(b) {
			return nil, errTrunc("%d SPIs of %d bytes need %d, have %d", count, size, want, len(b))
		}
		return nil, errBad("%d SPIs of %d bytes need %d, have %d", count, size, want, len(b))
	}
	if count > 0 {
		d.SPIs = make([][]byte, count)
		for i := range d.SPIs {
			d.SPIs[i] = clip(b[i*size : (i+1)*size])
		}
	}
	return d, nil
}
