package isakmp

import "encoding/binary"

// SK is the Encrypted and Authenticated payload (RFC 7296 3.14). Its
// next-payload field holds the type of the first inner payload. Body is
// IV || ciphertext || ICV, opaque to this package; decrypt it and pass the
// plaintext (without padding and pad length) to ParsePayloads.
type SK struct {
	NextPayload PayloadType
	Body        []byte
}

// SKF is the Encrypted Fragment payload (RFC 7383 2.5). NextPayload is the
// type of the first inner payload in fragment 1 and 0 in the others.
type SKF struct {
	NextPayload                    PayloadType
	FragmentNumber, TotalFragments uint16 // 1 <= FragmentNumber <= TotalFragments
	Body                           []byte
}

func (*SK) Type() PayloadType  { return PayloadSK }
func (*SKF) Type() PayloadType { return PayloadSKF }

func (s *SK) appendBody(b []byte) []byte { return append(b, s.Body...) }

func (s *SKF) appendBody(b []byte) []byte {
	b = binary.BigEndian.AppendUint16(b, s.FragmentNumber)
	b = binary.BigEndian.AppendUint16(b, s.TotalFragments)
	return append(b, s.Body...)
}

func parseSK(next PayloadType, b []byte) (*SK, error) {
	return &SK{NextPayload: next, Body: clip(b)}, nil
}

func parseSKF(next PayloadType, b []byte) (*SKF, error) {
	if len(b) < 4 {
		return nil, errTrunc("body of %d bytes, need at least 4", len(b))
	}
	s := &SKF{
		NextPayload:    next,
		FragmentNumber: binary.BigEndian.Uint16(b[0:2]),
		TotalFragments: binary.BigEndian.Uint16(b[2:4]),
		Body:           clip(b[4:]),
	}
	if s.FragmentNumber == 0 || s.FragmentNumber > s.TotalFragments {
		return nil, errBad("fragment number %d of %d", s.FragmentNumber, s.TotalFragments)
	}
	return s, nil
}
