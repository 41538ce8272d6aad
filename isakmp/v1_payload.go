package isakmp

import "fmt"

// IKEv1 (ISAKMP, RFC 2408) payloads live beside the IKEv2 ones, prefixed V1.
// They share the header (Header, ParseHeader), the generic payload header
// layout, the data attribute format (Attribute) and the error sentinels
// (ErrTruncated, ErrMalformed, ErrUnsupportedVersion) with the IKEv2 side.

// IKEv1 header flags (RFC 2408 3.1), the same bits as FlagEncryption,
// FlagCommit and FlagAuthOnly.
const (
	V1FlagEncryption = FlagEncryption // payloads after the header are encrypted
	V1FlagCommit     = FlagCommit     // commit bit (RFC 2408 3.1, 4.4)
	V1FlagAuthOnly   = FlagAuthOnly   // authentication only (RFC 2408 3.1)
)

// V1PayloadType is an IKEv1 payload type (RFC 2408 3.1, RFC 3947 3.2 and 5.2,
// the NAT-T drafts, draft-ietf-ipsec-isakmp-mode-cfg and the Cisco IKE
// fragmentation extension). In a V1Message, Header.NextPayload holds one of
// these as a PayloadType: convert with V1PayloadType(h.NextPayload).
type V1PayloadType uint8

// IKEv1 payload types.
const (
	V1PayloadNone       V1PayloadType = 0
	V1PayloadSA         V1PayloadType = 1
	V1PayloadProposal   V1PayloadType = 2 // only inside an SA payload
	V1PayloadTransform  V1PayloadType = 3 // only inside a Proposal
	V1PayloadKE         V1PayloadType = 4
	V1PayloadID         V1PayloadType = 5
	V1PayloadCERT       V1PayloadType = 6
	V1PayloadCR         V1PayloadType = 7
	V1PayloadHASH       V1PayloadType = 8
	V1PayloadSIG        V1PayloadType = 9
	V1PayloadNonce      V1PayloadType = 10
	V1PayloadN          V1PayloadType = 11
	V1PayloadD          V1PayloadType = 12
	V1PayloadVID        V1PayloadType = 13
	V1PayloadATTR       V1PayloadType = 14  // mode config / XAUTH
	V1PayloadNATD       V1PayloadType = 20  // RFC 3947
	V1PayloadNATOA      V1PayloadType = 21  // RFC 3947
	V1PayloadNATDDraft  V1PayloadType = 130 // draft-ietf-ipsec-nat-t-ike-02/03
	V1PayloadNATOADraft V1PayloadType = 131 // draft-ietf-ipsec-nat-t-ike-02/03
	V1PayloadFRAG       V1PayloadType = 132 // Cisco/strongSwan IKE fragmentation
)

var v1PayloadNames = [...]string{
	V1PayloadNone:       "None",
	V1PayloadSA:         "SA",
	V1PayloadProposal:   "Proposal",
	V1PayloadTransform:  "Transform",
	V1PayloadKE:         "KE",
	V1PayloadID:         "ID",
	V1PayloadCERT:       "CERT",
	V1PayloadCR:         "CR",
	V1PayloadHASH:       "HASH",
	V1PayloadSIG:        "SIG",
	V1PayloadNonce:      "NONCE",
	V1PayloadN:          "N",
	V1PayloadD:          "D",
	V1PayloadVID:        "VID",
	V1PayloadATTR:       "ATTR",
	V1PayloadNATD:       "NAT-D",
	V1PayloadNATOA:      "NAT-OA",
	V1PayloadNATDDraft:  "NAT-D(draft)",
	V1PayloadNATOADraft: "NAT-OA(draft)",
	V1PayloadFRAG:       "FRAG",
}

func (t V1PayloadType) String() string {
	if int(t) < len(v1PayloadNames) && v1PayloadNames[t] != "" {
		return v1PayloadNames[t]
	}
	return fmt.Sprintf("V1PayloadType(%d)", uint8(t))
}

// V1Payload is one IKEv1 payload. The concrete types are the pointer types
// *V1SA, *V1KE, *V1ID, ..., *V1Unknown of this package; the set is closed.
type V1Payload interface {
	// V1Type is the payload type written in the previous next-payload field.
	V1Type() V1PayloadType
	// appendV1Body appends the body (without the generic header).
	appendV1Body(b []byte) []byte
}

// V1Unknown is a payload whose type this package does not decode (IKEv1 has
// no critical bit: RFC 2408 5.1 answers INVALID_PAYLOAD_TYPE).
type V1Unknown struct {
	PType V1PayloadType
	Data  []byte
}

func (u *V1Unknown) V1Type() V1PayloadType { return u.PType }

func (u *V1Unknown) appendV1Body(b []byte) []byte { return append(b, u.Data...) }

// decodeV1Payload decodes one IKEv1 payload body. b must not be shared with
// the caller (the payload aliases it).
func decodeV1Payload(t V1PayloadType, b []byte) (V1Payload, error) {
	var (
		p   V1Payload
		err error
	)
	switch t {
	case V1PayloadSA:
		p, err = parseV1SA(b)
	case V1PayloadProposal, V1PayloadTransform:
		err = errBad("outside an SA payload")
	case V1PayloadKE:
		p = &V1KE{Data: clip(b)}
	case V1PayloadID:
		p, err = parseV1ID(b)
	case V1PayloadCERT:
		p, err = parseV1Cert(b)
	case V1PayloadCR:
		p, err = parseV1CertReq(b)
	case V1PayloadHASH:
		p = &V1Hash{Data: clip(b)}
	case V1PayloadSIG:
		p = &V1Sig{Data: clip(b)}
	case V1PayloadNonce:
		p = &V1Nonce{Data: clip(b)}
	case V1PayloadN:
		p, err = parseV1Notify(b)
	case V1PayloadD:
		p, err = parseV1Delete(b)
	case V1PayloadVID:
		p = &V1VendorID{Data: clip(b)}
	case V1PayloadATTR:
		p, err = parseV1Attr(b)
	case V1PayloadNATD, V1PayloadNATDDraft:
		p = &V1NATD{Draft: t == V1PayloadNATDDraft, Hash: clip(b)}
	case V1PayloadNATOA, V1PayloadNATOADraft:
		p, err = parseV1NATOA(t == V1PayloadNATOADraft, b)
	case V1PayloadFRAG:
		p, err = parseV1Frag(b)
	default:
		p = &V1Unknown{PType: t, Data: clip(b)}
	}
	if err != nil {
		return nil, fmt.Errorf("isakmp: %s payload: %w", t, err)
	}
	return p, nil
}

// ParseV1Payloads decodes an IKEv1 payload chain whose first payload has
// type first: the payloads of a plaintext message, or the decrypted body of
// an encrypted one. The chain ends at the payload whose next-payload field
// is 0; bytes after it (the block cipher's padding) are ignored. The
// payloads do not alias b.
func ParseV1Payloads(first V1PayloadType, b []byte) ([]V1Payload, error) {
	ps, _, err := ParseV1PayloadsLen(first, b)
	return ps, err
}

// ParseV1PayloadsLen is ParseV1Payloads also returning the length n of the
// chain: len(b)-n is the length of the padding, and b[l:n], where l is the
// first payload's length, is what a Quick Mode or Informational HASH(1)
// covers after the message ID (RFC 2409 5.5, 5.7).
func ParseV1PayloadsLen(first V1PayloadType, b []byte) (ps []V1Payload, n int, err error) {
	if first == V1PayloadNone {
		return nil, 0, nil
	}
	return parseV1Chain(first, append([]byte(nil), b...))
}

// parseV1Chain decodes the chain at the start of b, which is owned by the
// result, and returns its length.
func parseV1Chain(first V1PayloadType, b []byte) ([]V1Payload, int, error) {
	ps := make([]V1Payload, 0, 8)
	n, err := walkV1Chain(first, b, func(t V1PayloadType, raw []byte) error {
		p, err := decodeV1Payload(t, raw[4:len(raw):len(raw)])
		if err != nil {
			return err
		}
		ps = append(ps, p)
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	return ps, n, nil
}

// walkV1Chain calls fn with each payload (generic header included) of the
// chain at the start of b, which ends at next payload 0, and returns the
// chain's length. Substructures are not examined.
func walkV1Chain(first V1PayloadType, b []byte, fn func(t V1PayloadType, raw []byte) error) (int, error) {
	off := 0
	for t := first; t != V1PayloadNone; {
		rest := b[off:]
		n, err := genericHeader(t, rest)
		if err != nil {
			return 0, err
		}
		if err := fn(t, rest[:n:n]); err != nil {
			return 0, err
		}
		t = V1PayloadType(rest[0])
		off += n
	}
	return off, nil
}

// V1RawPayload is one payload of a chain exactly as received.
type V1RawPayload struct {
	Type V1PayloadType
	Raw  []byte // the payload, generic header included; Raw[4:] is the body
}

// SplitV1Payloads splits the chain at the start of b (as ParseV1PayloadsLen
// does, padding ignored) without decoding the bodies, for the hashes that
// cover payloads byte for byte as the peer sent them: SAi_b and IDii_b /
// IDir_b in HASH_I and HASH_R (RFC 2409 5). Unlike the rest of this
// package, the Raw slices alias b.
func SplitV1Payloads(first V1PayloadType, b []byte) ([]V1RawPayload, int, error) {
	var out []V1RawPayload
	n, err := walkV1Chain(first, b, func(t V1PayloadType, raw []byte) error {
		out = append(out, V1RawPayload{Type: t, Raw: raw})
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	return out, n, nil
}

// AppendV1Payloads appends the payloads ps, each with its generic header, to
// b, chaining the next-payload fields; the last one's is 0. The caller
// writes ps[0].V1Type() in whatever precedes the chain (the header, or the
// header of an encrypted message, whose body is this chain encrypted after
// padding). The generic header's reserved byte is sent as zero.
//
// AppendV1Payloads panics if a value cannot be encoded (a length that does
// not fit its field, a nil payload, ...); use TryAppendV1Payloads for values
// that come from outside the program.
func AppendV1Payloads(b []byte, ps []V1Payload) []byte {
	for i, p := range ps {
		if p == nil {
			encodeFail("payload %d is nil", i+1)
		}
		t := p.V1Type()
		if t == V1PayloadNone {
			encodeFail("payload %d has type 0", i+1)
		}
		next := V1PayloadNone
		if i+1 < len(ps) && ps[i+1] != nil {
			next = ps[i+1].V1Type()
		}
		start := len(b)
		b = append(b, byte(next), 0, 0, 0)
		b = p.appendV1Body(b)
		if n := putLen16(b, start, start+2); n > 0xffff {
			encodeFail("%s payload length %d exceeds 65535", t, n)
		}
	}
	return b
}

// TryAppendV1Payloads is AppendV1Payloads returning encoding failures as
// errors.
func TryAppendV1Payloads(b []byte, ps []V1Payload) (out []byte, err error) {
	defer recoverEncode(&err)
	return AppendV1Payloads(b, ps), nil
}

// AppendV1Body appends the body of p, without its generic header, to b: for
// instance the SAi_b or IDii_b that the IKEv1 HASH_I/HASH_R cover (RFC 2409
// 5). It panics like AppendV1Payloads.
func AppendV1Body(b []byte, p V1Payload) []byte { return p.appendV1Body(b) }

// FindV1 returns the first payload of type t in ps, or nil.
func FindV1(ps []V1Payload, t V1PayloadType) V1Payload {
	for _, p := range ps {
		if p != nil && p.V1Type() == t {
			return p
		}
	}
	return nil
}

// FindV1Notify returns the first Notification payload of type t in ps, or
// nil.
func FindV1Notify(ps []V1Payload, t V1NotifyType) *V1Notify {
	for _, p := range ps {
		if n, ok := p.(*V1Notify); ok && n.Type == t {
			return n
		}
	}
	return nil
}
