package isakmp

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// PayloadType is the IKEv2 payload type carried in the next-payload fields
// (RFC 7296 3.2, RFC 7383 2.5).
type PayloadType uint8

// IKEv2 payload types.
const (
	PayloadNone     PayloadType = 0
	PayloadSA       PayloadType = 33
	PayloadKE       PayloadType = 34
	PayloadIDi      PayloadType = 35
	PayloadIDr      PayloadType = 36
	PayloadCERT     PayloadType = 37
	PayloadCERTREQ  PayloadType = 38
	PayloadAUTH     PayloadType = 39
	PayloadNonce    PayloadType = 40
	PayloadNotify   PayloadType = 41
	PayloadDelete   PayloadType = 42
	PayloadVendorID PayloadType = 43
	PayloadTSi      PayloadType = 44
	PayloadTSr      PayloadType = 45
	PayloadSK       PayloadType = 46
	PayloadCP       PayloadType = 47
	PayloadEAP      PayloadType = 48
	PayloadSKF      PayloadType = 53
)

func (t PayloadType) String() string {
	switch t {
	case PayloadNone:
		return "None"
	case PayloadSA:
		return "SA"
	case PayloadKE:
		return "KE"
	case PayloadIDi:
		return "IDi"
	case PayloadIDr:
		return "IDr"
	case PayloadCERT:
		return "CERT"
	case PayloadCERTREQ:
		return "CERTREQ"
	case PayloadAUTH:
		return "AUTH"
	case PayloadNonce:
		return "Nonce"
	case PayloadNotify:
		return "Notify"
	case PayloadDelete:
		return "Delete"
	case PayloadVendorID:
		return "VendorID"
	case PayloadTSi:
		return "TSi"
	case PayloadTSr:
		return "TSr"
	case PayloadSK:
		return "SK"
	case PayloadCP:
		return "CP"
	case PayloadEAP:
		return "EAP"
	case PayloadSKF:
		return "SKF"
	}
	return fmt.Sprintf("PayloadType(%d)", uint8(t))
}

// Errors wrapped by every decoding failure. ErrTruncated: a length runs past
// the data. ErrMalformed: anything else (a length too small, a count or a
// last-substructure field that disagrees with the data, bytes left over).
// ErrUnsupportedVersion: ParseMessage was given a message whose major
// version is not 2 (answer it with INVALID_MAJOR_VERSION, using ParseHeader).
var (
	ErrTruncated          = errors.New("isakmp: truncated")
	ErrMalformed          = errors.New("isakmp: malformed")
	ErrUnsupportedVersion = errors.New("isakmp: unsupported major version")
)

// wireError is a decoding failure whose text carries its own context and
// which wraps one of the sentinels.
type wireError struct {
	msg  string
	kind error
}

func (e *wireError) Error() string { return e.msg }
func (e *wireError) Unwrap() error { return e.kind }

func errTrunc(format string, a ...any) error {
	return &wireError{fmt.Sprintf(format, a...), ErrTruncated}
}

func errBad(format string, a ...any) error {
	return &wireError{fmt.Sprintf(format, a...), ErrMalformed}
}

// encodeError is raised (as a panic) by encoders given a value that cannot
// be represented on the wire; TryAppendPayloads and TryMarshal turn it back
// into an error.
type encodeError struct{ msg string }

func (e *encodeError) Error() string { return "isakmp: cannot encode: " + e.msg }

func encodeFail(format string, a ...any) {
	panic(&encodeError{fmt.Sprintf(format, a...)})
}

// clip returns b with its capacity clipped, or nil when b is empty, so that
// parsed fields compare equal after a round trip and appending to one never
// overwrites its neighbour.
func clip(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b[:len(b):len(b)]
}

// putLen16 writes len(b)-start as a big-endian uint16 at b[at:] and
// returns it; a length over 65535 is not written (the caller fails).
func putLen16(b []byte, start, at int) int {
	n := len(b) - start
	if n <= 0xffff {
		binary.BigEndian.PutUint16(b[at:], uint16(n))
	}
	return n
}

// Payload is one IKEv2 payload. The concrete types are the pointer types of
// this package (*SA, *KE, *ID, ..., *Unknown); the set is closed.
type Payload interface {
	// Type is the payload type written in the previous next-payload field.
	Type() PayloadType
	// appendBody appends the body (without the generic header).
	appendBody(b []byte) []byte
}

// Unknown is a payload whose type this package does not decode, kept so the
// engine can answer UNSUPPORTED_CRITICAL_PAYLOAD when Critical is set.
type Unknown struct {
	PType    PayloadType
	Critical bool
	Data     []byte
}

func (u *Unknown) Type() PayloadType { return u.PType }

func (u *Unknown) appendBody(b []byte) []byte { return append(b, u.Data...) }

// rawPayload is one payload of a chain, split by its generic header.
type rawPayload struct {
	Type     PayloadType
	Next     PayloadType // the next-payload field as sent
	Critical bool
	Body     []byte
	Offset   int // of the generic header, relative to the start of the message
}

// walkChain splits the payload chain in b whose first payload has type
// first, calling fn for each payload in order. base is added to offsets.
// A payload for which terminal reports true ends the chain (its next-payload
// field does not link to an outer payload) and must extend to the end of b.
// The generic header layout (next, flags, length) is the same in IKEv1 and
// IKEv2; IKEv1 chains (walkV1Chain) share genericHeader with this function.
func walkChain(first PayloadType, b []byte, base int, terminal func(PayloadType) bool, fn func(*rawPayload) error) error {
	off := 0
	var rp rawPayload
	for t := first; t != PayloadNone; {
		rest := b[off:]
		n, err := genericHeader(t, rest)
		if err != nil {
			return err
		}
		rp = rawPayload{
			Type:     t,
			Next:     PayloadType(rest[0]),
			Critical: rest[1]&0x80 != 0,
			Body:     rest[4:n],
			Offset:   base + off,
		}
		if terminal != nil && terminal(t) {
			if n != len(rest) {
				return errBad("isakmp: %s payload must be last, but %d bytes follow it", t, len(rest)-n)
			}
			return fn(&rp)
		}
		if err := fn(&rp); err != nil {
			return err
		}
		off += n
		t = rp.Next
	}
	if off != len(b) {
		return errBad("isakmp: %d bytes after the last payload", len(b)-off)
	}
	return nil
}

// payloadTypeName is PayloadType or V1PayloadType.
type payloadTypeName interface {
	~uint8
	String() string
}

// genericHeader checks the generic payload header (next payload, flags or
// reserved, length), common to IKEv1 and IKEv2, at the start of rest for a
// payload of type t, and returns the payload's length, header included.
func genericHeader[T payloadTypeName](t T, rest []byte) (int, error) {
	if len(rest) < 4 {
		return 0, errTrunc("isakmp: %s payload: generic header: %d bytes left, need 4", t, len(rest))
	}
	n := int(binary.BigEndian.Uint16(rest[2:4]))
	if n < 4 {
		return 0, errBad("isakmp: %s payload: length field %d is less than 4", t, n)
	}
	if n > len(rest) {
		return 0, errTrunc("isakmp: %s payload: length %d exceeds remaining %d", t, n, len(rest))
	}
	return n, nil
}

func isEncrypted(t PayloadType) bool { return t == PayloadSK || t == PayloadSKF }

// decodePayload decodes one IKEv2 payload body. body must not be shared
// with the caller (the payload aliases it).
func decodePayload(rp *rawPayload) (Payload, error) {
	var (
		p   Payload
		err error
		b   = rp.Body
	)
	switch rp.Type {
	case PayloadSA:
		p, err = parseSA(b)
	case PayloadKE:
		p, err = parseKE(b)
	case PayloadIDi, PayloadIDr:
		p, err = parseID(rp.Type, b)
	case PayloadCERT:
		p, err = parseCert(b)
	case PayloadCERTREQ:
		p, err = parseCertReq(b)
	case PayloadAUTH:
		p, err = parseAuth(b)
	case PayloadNonce:
		p, err = parseNonce(b)
	case PayloadNotify:
		p, err = parseNotify(b)
	case PayloadDelete:
		p, err = parseDelete(b)
	case PayloadVendorID:
		p, err = parseVendorID(b)
	case PayloadTSi, PayloadTSr:
		p, err = parseTS(rp.Type, b)
	case PayloadSK:
		p, err = parseSK(rp.Next, b)
	case PayloadSKF:
		p, err = parseSKF(rp.Next, b)
	case PayloadCP:
		p, err = parseCP(b)
	case PayloadEAP:
		p, err = parseEAP(b)
	default:
		p = &Unknown{PType: rp.Type, Critical: rp.Critical, Data: clip(b)}
	}
	if err != nil {
		return nil, fmt.Errorf("isakmp: %s payload: %w", rp.Type, err)
	}
	return p, nil
}

// Message is a parsed or to-be-marshalled IKEv2 message.
type Message struct {
	Header Header
	// Payloads in order; if the last is *SK or *SKF it is the encrypted
	// payload, whose contents are opaque here (decrypt, then ParsePayloads).
	Payloads []Payload
	// SKOffset is the offset in the raw message of the SK/SKF payload's
	// generic header, 0 if there is none. The AEAD associated data (or the
	// start of the MAC input) is raw[:SKOffset+4] for SK and
	// raw[:SKOffset+8] for SKF.
	SKOffset int
}

// ParseMessage decodes an IKEv2 message: the header and the payload chain.
// The message is b[:Header.Length]; bytes past it are ignored. An SK or SKF
// payload must be the last (anything after it is an error). A major version
// other than 2 fails with ErrUnsupportedVersion. The returned message does
// not alias b.
func ParseMessage(b []byte) (*Message, error) {
	h, err := ParseHeader(b)
	if err != nil {
		return nil, err
	}
	if h.MajorVersion != 2 {
		return nil, &wireError{fmt.Sprintf("isakmp: major version %d, want 2", h.MajorVersion), ErrUnsupportedVersion}
	}
	raw := make([]byte, h.Length)
	copy(raw, b)
	m := &Message{Header: h}
	m.Payloads, err = parseChain(h.NextPayload, raw[HeaderLen:], HeaderLen, true, &m.SKOffset)
	if err != nil {
		return nil, err
	}
	return m, nil
}

// ParsePayloads decodes an inner payload chain (the decrypted contents of an
// SK payload, or of reassembled SKF fragments) whose first payload has type
// first. SK and SKF payloads are not allowed inside. The payloads do not
// alias b.
func ParsePayloads(first PayloadType, b []byte) ([]Payload, error) {
	return parseChain(first, append([]byte(nil), b...), 0, false, nil)
}

func parseChain(first PayloadType, b []byte, base int, outer bool, skOffset *int) ([]Payload, error) {
	if first == PayloadNone {
		if len(b) != 0 {
			return nil, errBad("isakmp: %d bytes after the last payload", len(b))
		}
		return nil, nil
	}
	ps := make([]Payload, 0, 8)
	var terminal func(PayloadType) bool
	if outer {
		terminal = isEncrypted
	}
	err := walkChain(first, b, base, terminal, func(rp *rawPayload) error {
		if !outer && isEncrypted(rp.Type) {
			return errBad("isakmp: %s payload inside an encrypted payload", rp.Type)
		}
		p, err := decodePayload(rp)
		if err != nil {
			return err
		}
		if isEncrypted(rp.Type) {
			*skOffset = rp.Offset
		}
		ps = append(ps, p)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return ps, nil
}

// AppendPayloads appends the payloads ps, each with its generic header, to
// b, chaining the next-payload fields; the last payload's next field is 0,
// or for an *SK/*SKF (which must be last) its NextPayload. The caller writes
// ps[0].Type() in whatever precedes the chain. Only *Unknown payloads may
// carry the critical bit.
//
// AppendPayloads panics if a value cannot be encoded (a length that does not
// fit its field, an SK payload that is not last, an ID or TS whose PType is
// not one of its two types, ...); use TryAppendPayloads for values that come
// from outside the program.
func AppendPayloads(b []byte, ps []Payload) []byte {
	b, _ = appendPayloads(b, ps)
	return b
}

// TryAppendPayloads is AppendPayloads returning encoding failures as errors.
func TryAppendPayloads(b []byte, ps []Payload) (out []byte, err error) {
	defer recoverEncode(&err)
	return AppendPayloads(b, ps), nil
}

func recoverEncode(err *error) {
	if r := recover(); r != nil {
		e, ok := r.(*encodeError)
		if !ok {
			panic(r)
		}
		*err = e
	}
}

// appendPayloads is AppendPayloads also returning the offset in b of the
// last payload's generic header when it is SK or SKF (else -1).
func appendPayloads(b []byte, ps []Payload) ([]byte, int) {
	skAt := -1
	for i, p := range ps {
		if p == nil {
			encodeFail("payload %d is nil", i+1)
		}
		t := p.Type()
		if t == PayloadNone {
			encodeFail("payload %d has type 0", i+1)
		}
		next := PayloadNone
		switch q := p.(type) {
		case *SK:
			next = q.NextPayload
		case *SKF:
			next = q.NextPayload
		}
		if isEncrypted(t) {
			if i != len(ps)-1 {
				encodeFail("%s payload %d of %d is not last", t, i+1, len(ps))
			}
			skAt = len(b)
		} else if i+1 < len(ps) && ps[i+1] != nil {
			next = ps[i+1].Type()
		}
		var flags byte
		if u, ok := p.(*Unknown); ok && u.Critical {
			flags = 0x80
		}
		start := len(b)
		b = append(b, byte(next), flags, 0, 0)
		b = p.appendBody(b)
		if n := putLen16(b, start, start+2); n > 0xffff {
			encodeFail("%s payload length %d exceeds 65535", t, n)
		}
	}
	return b, skAt
}

// AppendBody appends the body of p, without its generic header, to b: for
// instance the RestOfInitIDPayload of an ID payload, which AUTH covers. It
// panics like AppendPayloads.
func AppendBody(b []byte, p Payload) []byte { return p.appendBody(b) }

// Marshal encodes m. It fills in m.Header.NextPayload (from the first
// payload), m.Header.Length and m.SKOffset, so that after building a message
// with an SK payload of the right size the caller can compute the associated
// data over raw[:m.SKOffset+4] and encrypt in place. It panics like
// AppendPayloads; see TryMarshal.
func (m *Message) Marshal() []byte { return m.AppendTo(make([]byte, 0, 512)) }

// TryMarshal is Marshal returning encoding failures as errors.
func (m *Message) TryMarshal() (b []byte, err error) {
	defer recoverEncode(&err)
	return m.Marshal(), nil
}

// AppendTo appends the encoding of m to b, as Marshal does.
func (m *Message) AppendTo(b []byte) []byte {
	start := len(b)
	m.Header.NextPayload = PayloadNone
	if len(m.Payloads) > 0 && m.Payloads[0] != nil {
		m.Header.NextPayload = m.Payloads[0].Type()
	}
	b = m.Header.AppendTo(b)
	b, skAt := appendPayloads(b, m.Payloads)
	n := len(b) - start
	if uint64(n) > 0xffffffff {
		encodeFail("message length %d exceeds 2^32-1", n)
	}
	m.Header.Length = uint32(n)
	binary.BigEndian.PutUint32(b[start+24:], m.Header.Length)
	m.SKOffset = 0
	if skAt >= 0 {
		m.SKOffset = skAt - start
	}
	return b
}

// Find returns the first payload of type t, or nil.
func (m *Message) Find(t PayloadType) Payload {
	for _, p := range m.Payloads {
		if p != nil && p.Type() == t {
			return p
		}
	}
	return nil
}

// FindNotify returns the first Notify payload of type t in ps, or nil.
func FindNotify(ps []Payload, t NotifyType) *Notify {
	for _, p := range ps {
		if n, ok := p.(*Notify); ok && n.NotifyType == t {
			return n
		}
	}
	return nil
}

// wrapf prefixes err's text with a formatted context, keeping it wrapped.
func wrapf(err error, format string, a ...any) error {
	return fmt.Errorf(format+"%w", append(a, err)...)
}
