package isakmp

import "encoding/binary"

// KE is the Key Exchange payload (RFC 7296 3.4).
type KE struct {
	Group uint16 // Diffie-Hellman group (transform type 4 ID)
	Data  []byte
}

func (*KE) Type() PayloadType { return PayloadKE }

func (k *KE) appendBody(b []byte) []byte {
	b = binary.BigEndian.AppendUint16(b, k.Group)
	b = append(b, 0, 0)
	return append(b, k.Data...)
}

func parseKE(b []byte) (*KE, error) {
	if len(b) < 4 {
		return nil, errTrunc("body of %d bytes, need at least 4", len(b))
	}
	return &KE{Group: binary.BigEndian.Uint16(b[0:2]), Data: clip(b[4:])}, nil
}
