package isakmp

import "encoding/binary"

// EAP codes (RFC 3748 4).
const (
	EAPRequest  uint8 = 1
	EAPResponse uint8 = 2
	EAPSuccess  uint8 = 3
	EAPFailure  uint8 = 4
)

// EAP is the EAP payload (RFC 7296 3.16): one EAP message (RFC 3748).
// Success and Failure messages carry no type: EAPType is 0 and Data empty.
type EAP struct {
	Code, Identifier uint8
	EAPType          uint8 // 0 when absent (Success/Failure)
	Data             []byte
}

func (*EAP) Type() PayloadType { return PayloadEAP }

func eapHasType(code uint8) bool { return code != EAPSuccess && code != EAPFailure }

func (e *EAP) appendBody(b []byte) []byte {
	n := 4
	if eapHasType(e.Code) {
		n += 1 + len(e.Data)
	} else if e.EAPType != 0 || len(e.Data) != 0 {
		encodeFail("EAP code %d carries no type or data", e.Code)
	}
	if n > 0xffff {
		encodeFail("EAP message of %d bytes", n)
	}
	b = append(b, e.Code, e.Identifier)
	b = binary.BigEndian.AppendUint16(b, uint16(n))
	if eapHasType(e.Code) {
		b = append(b, e.EAPType)
		b = append(b, e.Data...)
	}
	return b
}

func parseEAP(b []byte) (*EAP, error) {
	if len(b) < 4 {
		return nil, errTrunc("body of %d bytes, need at least 4", len(b))
	}
	e := &EAP{Code: b[0], Identifier: b[1]}
	n := int(binary.BigEndian.Uint16(b[2:4]))
	if n > len(b) {
		return nil, errTrunc("EAP length %d exceeds payload body %d", n, len(b))
	}
	if n != len(b) {
		return nil, errBad("EAP length %d, payload body is %d", n, len(b))
	}
	if !eapHasType(e.Code) {
		if n != 4 {
			return nil, errBad("EAP code %d with length %d, want 4", e.Code, n)
		}
		return e, nil
	}
	if n < 5 {
		return nil, errTrunc("EAP code %d with length %d, need at least 5", e.Code, n)
	}
	e.EAPType = b[4]
	e.Data = clip(b[5:])
	return e, nil
}

// ParseEAPMessage decodes one EAP message (RFC 3748 4), as an EAP
// payload's body carries it.
func ParseEAPMessage(b []byte) (*EAP, error) { return parseEAP(b) }

// Message encodes e as an EAP message (the payload's body).
func (e *EAP) Message() []byte { return e.appendBody(nil) }
