package isakmp

import (
	"encoding/binary"
	"fmt"
)

// V1Message is a parsed or to-be-marshalled IKEv1 (ISAKMP) message.
//
// When Header.Flags has V1FlagEncryption, everything after the header is
// ciphertext: Encrypted holds it (exactly Header.Length-28 bytes) and
// Payloads is nil; Header.NextPayload is the type of the first encrypted
// payload (as a PayloadType holding a V1PayloadType). Decrypt Encrypted and
// pass the plaintext, padding included, to ParseV1Payloads. Otherwise
// Payloads holds the plaintext payloads and Encrypted is nil.
type V1Message struct {
	Header    Header
	Payloads  []V1Payload
	Encrypted []byte
}

// NextV1 returns the header's next-payload field as an IKEv1 payload type.
func (m *V1Message) NextV1() V1PayloadType { return V1PayloadType(m.Header.NextPayload) }

// ParseV1Message decodes an IKEv1 message: the header and, unless the
// message is encrypted, the payload chain, which must end exactly at the
// header's Length (RFC 2408 5.1: UNEQUAL_PAYLOAD_LENGTHS). The message is
// b[:Header.Length]; bytes past it are ignored. A major version other than
// 1 fails with ErrUnsupportedVersion. The result does not alias b.
func ParseV1Message(b []byte) (*V1Message, error) {
	h, err := ParseHeader(b)
	if err != nil {
		return nil, err
	}
	if h.MajorVersion != 1 {
		return nil, &wireError{fmt.Sprintf("isakmp: major version %d, want 1", h.MajorVersion), ErrUnsupportedVersion}
	}
	m := &V1Message{Header: h}
	body := b[HeaderLen:h.Length]
	if h.Flags&V1FlagEncryption != 0 {
		m.Encrypted = clip(append([]byte(nil), body...))
		return m, nil
	}
	first := V1PayloadType(h.NextPayload)
	if first == V1PayloadNone {
		if len(body) != 0 {
			return nil, errBad("isakmp: %d bytes after the last payload", len(body))
		}
		return m, nil
	}
	ps, n, err := parseV1Chain(first, append([]byte(nil), body...))
	if err != nil {
		return nil, err
	}
	if n != len(body) {
		return nil, errBad("isakmp: %d bytes after the last payload", len(body)-n)
	}
	m.Payloads = ps
	return m, nil
}

// Marshal encodes m. For a plaintext message it fills in Header.NextPayload
// (from the first payload); for an encrypted one (V1FlagEncryption set) it
// writes Encrypted after the header and keeps Header.NextPayload, which the
// caller sets to the first encrypted payload's type. In both cases it fills
// in Header.Length. The version fields are written as set (IKEv1 is 1.0).
// It panics like AppendV1Payloads, and when an encrypted message has
// Payloads or a plaintext one has Encrypted; see TryMarshal.
func (m *V1Message) Marshal() []byte { return m.AppendTo(make([]byte, 0, 512)) }

// TryMarshal is Marshal returning encoding failures as errors.
func (m *V1Message) TryMarshal() (b []byte, err error) {
	defer recoverEncode(&err)
	return m.Marshal(), nil
}

// AppendTo appends the encoding of m to b, as Marshal does.
func (m *V1Message) AppendTo(b []byte) []byte {
	start := len(b)
	if m.Header.Flags&V1FlagEncryption != 0 {
		if len(m.Payloads) != 0 {
			encodeFail("encrypted IKEv1 message with %d plaintext payloads", len(m.Payloads))
		}
		b = m.Header.AppendTo(b)
		b = append(b, m.Encrypted...)
	} else {
		if len(m.Encrypted) != 0 {
			encodeFail("IKEv1 message with an encrypted body but no E flag")
		}
		m.Header.NextPayload = PayloadNone
		if len(m.Payloads) > 0 && m.Payloads[0] != nil {
			m.Header.NextPayload = PayloadType(m.Payloads[0].V1Type())
		}
		b = m.Header.AppendTo(b)
		b = AppendV1Payloads(b, m.Payloads)
	}
	n := len(b) - start
	if uint64(n) > 0xffffffff {
		encodeFail("message length %d exceeds 2^32-1", n)
	}
	m.Header.Length = uint32(n)
	binary.BigEndian.PutUint32(b[start+24:], m.Header.Length)
	return b
}

// Find returns the first payload of type t, or nil.
func (m *V1Message) Find(t V1PayloadType) V1Payload { return FindV1(m.Payloads, t) }
