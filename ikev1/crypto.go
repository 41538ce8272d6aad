package ikev1

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"ikegate/isakmp"
	"ikegate/oakley"
)

// rawBody returns the body, as sent, of the first payload of type t:
// RFC 2409's hashes cover "SAi_b" and "IDii_b" byte for byte.
func rawBody(ps []isakmp.V1RawPayload, t isakmp.V1PayloadType) []byte {
	for _, p := range ps {
		if p.Type == t {
			return p.Raw[4:]
		}
	}
	return nil
}

// natdHash is HASH(CKY-I | CKY-R | IP | Port) (RFC 3947 3.2).
func natdHash(hashID uint16, ckyI, ckyR uint64, ap netip.AddrPort) []byte {
	newHash, err := oakley.V1NewHash(hashID)
	if err != nil {
		return nil
	}
	h := newHash()
	var b [16]byte
	binary.BigEndian.PutUint64(b[:], ckyI)
	binary.BigEndian.PutUint64(b[8:], ckyR)
	h.Write(b[:])
	h.Write(ap.Addr().Unmap().AsSlice())
	binary.BigEndian.PutUint16(b[:2], ap.Port())
	h.Write(b[:2])
	return h.Sum(nil)
}

// sealP1 encrypts a phase 1 message with the phase 1 IV chain.
func (sa *p1SA) sealP1(exchange isakmp.ExchangeType, ps []isakmp.V1Payload) []byte {
	raw, next := sa.seal(exchange, 0, sa.keys.iv, ps)
	sa.keys.iv = next
	return raw
}

// seal builds an encrypted message with the given IV and returns it with
// the IV for the next message of the chain.
func (sa *p1SA) seal(exchange isakmp.ExchangeType, msgID uint32, iv []byte, ps []isakmp.V1Payload) ([]byte, []byte) {
	plain := isakmp.AppendV1Payloads(nil, ps)
	ct, next := sa.keys.cipher.Encrypt(iv, plain)
	h := sa.header(exchange, msgID, true)
	h.NextPayload = isakmp.PayloadType(ps[0].V1Type())
	h.Length = uint32(isakmp.HeaderLen + len(ct))
	raw := h.AppendTo(make([]byte, 0, h.Length))
	return append(raw, ct...), next
}

// open decrypts an encrypted message body with iv, returning the payloads,
// their raw form and the next IV.
func (sa *p1SA) open(msg *isakmp.V1Message, iv []byte) ([]isakmp.V1Payload, []isakmp.V1RawPayload, []byte, []byte, error) {
	if sa.keys == nil || msg.Encrypted == nil {
		return nil, nil, nil, nil, errors.New("message is not encrypted")
	}
	plain, next, err := sa.keys.cipher.Decrypt(iv, msg.Encrypted)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	first := msg.NextV1()
	raws, n, err := isakmp.SplitV1Payloads(first, plain)
	if err != nil {
		return nil, nil, nil, nil, fmt.Errorf("decrypted payloads do not parse (%v): most likely the keys differ, i.e. the pre-shared keys do not match", err)
	}
	ps, err := isakmp.ParseV1Payloads(first, plain[:n])
	if err != nil {
		return nil, nil, nil, nil, fmt.Errorf("decrypted payloads do not parse: %w", err)
	}
	return ps, raws, plain[:n], next, nil
}

// hashedPayloads builds [HASH, ps...] where HASH covers the bytes of ps
// (with their generic headers) through compute.
func hashedPayloads(hashLen int, ps []isakmp.V1Payload, compute func(rest []byte) []byte) []isakmp.V1Payload {
	rest := isakmp.AppendV1Payloads(nil, ps)
	return append([]isakmp.V1Payload{&isakmp.V1Hash{Data: compute(rest)}}, ps...)
}

// restAfterHash returns the HASH body of a message that starts with HASH
// and the bytes of the payloads after it, which the HASH covers.
func restAfterHash(raws []isakmp.V1RawPayload, plain []byte) ([]byte, []byte, error) {
	if len(raws) == 0 || raws[0].Type != isakmp.V1PayloadHASH {
		return nil, nil, errors.New("message does not start with a HASH payload")
	}
	return raws[0].Raw[4:], plain[len(raws[0].Raw):], nil
}

func cookies(ckyI, ckyR uint64) []byte {
	b := make([]byte, 16)
	binary.BigEndian.PutUint64(b, ckyI)
	binary.BigEndian.PutUint64(b[8:], ckyR)
	return b
}
