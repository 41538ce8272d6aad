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
	return appendDeleteSPIs(b, d.Protocol, d.SPISize, d.SPIs)
}

func parseDelete(b []byte) (*Delete, error) {
	if len(b) < 4 {
		return nil, errTrunc("body of %d bytes, need at least 4", len(b))
	}
	d := &Delete{}
	var err error
	if d.Protocol, d.SPISize, d.SPIs, err = parseDeleteSPIs(b); err != nil {
		return nil, err
	}
	return d, nil
}

// appendDeleteSPIs appends what the Delete payloads of both versions share
// (RFC 7296 3.11; RFC 2408 3.15 after the DOI): protocol ID, SPI size,
// number of SPIs and the SPIs.
func appendDeleteSPIs(b []byte, protocol, spiSize uint8, spis [][]byte) []byte {
	if len(spis) > 0xffff {
		encodeFail("Delete: %d SPIs", len(spis))
	}
	b = append(b, protocol, spiSize)
	b = binary.BigEndian.AppendUint16(b, uint16(len(spis)))
	for i, s := range spis {
		if len(s) != int(spiSize) {
			encodeFail("Delete: SPI %d has %d bytes, SPI size is %d", i+1, len(s), spiSize)
		}
		b = append(b, s...)
	}
	return b
}

// parseDeleteSPIs parses what appendDeleteSPIs wrote; b has at least 4
// bytes.
func parseDeleteSPIs(b []byte) (protocol, spiSize uint8, spis [][]byte, err error) {
	protocol, spiSize = b[0], b[1]
	size, count := int(b[1]), int(binary.BigEndian.Uint16(b[2:4]))
	b = b[4:]
	if size == 0 && count > 0 {
		return 0, 0, nil, errBad("%d SPIs of size 0", count)
	}
	if want := size * count; want != len(b) {
		if want > len(b) {
			return 0, 0, nil, errTrunc("%d SPIs of %d bytes need %d, have %d", count, size, want, len(b))
		}
		return 0, 0, nil, errBad("%d SPIs of %d bytes need %d, have %d", count, size, want, len(b))
	}
	if count > 0 {
		spis = make([][]byte, count)
		for i := range spis {
			spis[i] = clip(b[i*size : (i+1)*size])
		}
	}
	return protocol, spiSize, spis, nil
}
