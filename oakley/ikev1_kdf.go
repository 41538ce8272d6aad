package oakley

// IKEv1 key derivation (RFC 2409 section 5 and Appendix B). Every function
// takes the *PRF of the phase 1 SA: HMAC with the negotiated hash (see
// V1HashToPRF). "|" is concatenation, cookies and message IDs are
// big-endian, and nonces, SA and ID payloads are their bodies without the
// generic payload header (Ni_b, SAi_b, IDii_b), as RFC 2409 defines them.

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"fmt"
	"hash"
)

// V1Keys are the phase 1 secrets (RFC 2409 section 5).
type V1Keys struct {
	SKEYID  []byte // the authentication-method-specific root secret
	SKEYIDd []byte // SKEYID_d: phase 2 keying material (V1KeyMat)
	SKEYIDa []byte // SKEYID_a: HASH payloads after phase 1 (V1QMHash*, V1InfoHash)
	SKEYIDe []byte // SKEYID_e: the ISAKMP SA's encryption key (V1EncKey)
}

// V1SKEYIDPSK returns SKEYID for pre-shared key authentication:
// prf(pre-shared-key, Ni_b | Nr_b).
func V1SKEYIDPSK(p *PRF, psk, ni, nr []byte) []byte {
	return p.Sum(psk, ni, nr)
}

// V1SKEYIDSig returns SKEYID for signature authentication (DSS, RSA, ECDSA):
// prf(Ni_b | Nr_b, g^xy).
func V1SKEYIDSig(p *PRF, ni, nr, gxy []byte) []byte {
	key := make([]byte, 0, len(ni)+len(nr))
	key = append(key, ni...)
	key = append(key, nr...)
	return p.Sum(key, gxy)
}

// V1SKEYIDPubKeyEnc returns SKEYID for the two public key encryption
// methods: prf(hash(Ni_b | Nr_b), CKY-I | CKY-R), hash being the one under
// p's HMAC. It returns nil for a PRF that is not an HMAC.
func V1SKEYIDPubKeyEnc(p *PRF, ni, nr []byte, ckyI, ckyR uint64) []byte {
	if p.newHash == nil {
		return nil
	}
	h := p.newHash()
	h.Write(ni)
	h.Write(nr)
	return p.Sum(h.Sum(nil), v1Cookies(ckyI, ckyR))
}

// V1DeriveKeys derives SKEYID_d, SKEYID_a and SKEYID_e from SKEYID:
//
//	SKEYID_d = prf(SKEYID, g^xy | CKY-I | CKY-R | 0)
//	SKEYID_a = prf(SKEYID, SKEYID_d | g^xy | CKY-I | CKY-R | 1)
//	SKEYID_e = prf(SKEYID, SKEYID_a | g^xy | CKY-I | CKY-R | 2)
//
// gxy is the shared Diffie-Hellman secret as KeyExchange.SharedSecret
// returns it (MODP values zero-padded to the prime's length).
func V1DeriveKeys(p *PRF, skeyid, gxy []byte, ckyI, ckyR uint64) V1Keys {
	cky := v1Cookies(ckyI, ckyR)
	k := V1Keys{SKEYID: skeyid}
	k.SKEYIDd = p.Sum(skeyid, gxy, cky, []byte{0})
	k.SKEYIDa = p.Sum(skeyid, k.SKEYIDd, gxy, cky, []byte{1})
	k.SKEYIDe = p.Sum(skeyid, k.SKEYIDa, gxy, cky, []byte{2})
	return k
}

// V1EncKey returns the n-byte ISAKMP SA encryption key (RFC 2409 Appendix
// B). If SKEYID_e is long enough its first n bytes are the key; otherwise
// it is the first n bytes of K1 | K2 | ... with K1 = prf(SKEYID_e, 0) (0
// being one zero octet) and Ki = prf(SKEYID_e, K(i-1)). n <= 0 gives an
// empty key. The result never aliases skeyidE.
func V1EncKey(p *PRF, skeyidE []byte, n int) []byte {
	if n <= 0 {
		return []byte{}
	}
	if n <= len(skeyidE) {
		return append([]byte(nil), skeyidE[:n]...)
	}
	out := make([]byte, 0, n+p.Size())
	k := p.Sum(skeyidE, []byte{0})
	for {
		out = append(out, k...)
		if len(out) >= n {
			return out[:n:n]
		}
		k = p.Sum(skeyidE, k)
	}
}

// V1HashI returns HASH_I, the initiator's phase 1 authenticator (the PSK
// HASH payload, or the data signed with signatures):
// prf(SKEYID, g^xi | g^xr | CKY-I | CKY-R | SAi_b | IDii_b).
func V1HashI(p *PRF, skeyid, gxi, gxr []byte, ckyI, ckyR uint64, saiB, idiiB []byte) []byte {
	return p.Sum(skeyid, gxi, gxr, v1Cookies(ckyI, ckyR), saiB, idiiB)
}

// V1HashR returns HASH_R, the responder's phase 1 authenticator:
// prf(SKEYID, g^xr | g^xi | CKY-R | CKY-I | SAi_b | IDir_b). Note that the
// responder also hashes the initiator's SA payload body.
func V1HashR(p *PRF, skeyid, gxr, gxi []byte, ckyR, ckyI uint64, saiB, idirB []byte) []byte {
	return p.Sum(skeyid, gxr, gxi, v1Cookies(ckyR, ckyI), saiB, idirB)
}

// V1QMHash1 returns Quick Mode HASH(1): prf(SKEYID_a, M-ID | rest), rest
// being the message after the HASH payload (SA | Ni [| KE] [| IDci | IDcr]
// ...) with the payloads' generic headers.
func V1QMHash1(p *PRF, skeyidA []byte, msgID uint32, rest []byte) []byte {
	return p.Sum(skeyidA, v1BE32(msgID), rest)
}

// V1QMHash2 returns Quick Mode HASH(2): prf(SKEYID_a, M-ID | Ni_b | rest),
// rest being the responder's message after the HASH payload.
func V1QMHash2(p *PRF, skeyidA []byte, msgID uint32, ni, rest []byte) []byte {
	return p.Sum(skeyidA, v1BE32(msgID), ni, rest)
}

// V1QMHash3 returns Quick Mode HASH(3):
// prf(SKEYID_a, 0 | M-ID | Ni_b | Nr_b), 0 being one zero octet.
func V1QMHash3(p *PRF, skeyidA []byte, msgID uint32, ni, nr []byte) []byte {
	return p.Sum(skeyidA, []byte{0}, v1BE32(msgID), ni, nr)
}

// V1InfoHash returns the HASH(1) of an Informational exchange (RFC 2409
// section 5.7): prf(SKEYID_a, M-ID | N/D), the notification or delete
// payload(s) after the HASH payload with their generic headers. Mode Config
// and XAUTH transactions use the same formula over their ATTR payload.
func V1InfoHash(p *PRF, skeyidA []byte, msgID uint32, rest []byte) []byte {
	return p.Sum(skeyidA, v1BE32(msgID), rest)
}

// V1KeyMat returns n bytes of phase 2 keying material for one SA (RFC 2409
// section 5.5):
//
//	KEYMAT = K1 | K2 | ...
//	K1 = prf(SKEYID_d, [g(qm)^xy |] protocol | SPI | Ni_b | Nr_b)
//	K2 = prf(SKEYID_d, K1 | [g(qm)^xy |] protocol | SPI | Ni_b | Nr_b)
//
// gxy is the Quick Mode Diffie-Hellman secret with PFS, nil without.
// protocol is the IPsec DOI protocol ID (isakmp.ProtocolESP or
// isakmp.ProtocolAH; the caller passes it, oakley does not import isakmp)
// and spi the 4-octet SPI of the SA being keyed (the receiver's: each
// direction has its own KEYMAT). n <= 0 gives an empty result.
func V1KeyMat(p *PRF, skeyidD, gxy []byte, protocol uint8, spi uint32, ni, nr []byte, n int) []byte {
	if n <= 0 {
		return []byte{}
	}
	seed := make([]byte, 0, len(gxy)+5+len(ni)+len(nr))
	seed = append(seed, gxy...)
	seed = append(seed, protocol)
	seed = binary.BigEndian.AppendUint32(seed, spi)
	seed = append(seed, ni...)
	seed = append(seed, nr...)
	out := make([]byte, 0, n+p.Size())
	var k []byte
	for len(out) < n {
		k = p.Sum(skeyidD, k, seed)
		out = append(out, k...)
	}
	return out[:n:n]
}

// V1PhaseOneIV returns the IV of the first encrypted phase 1 message
// (RFC 2409 Appendix B): hash(g^xi | g^xr) with the negotiated hash (plain,
// not HMAC), truncated to blockSize. Later phase 1 messages chain: the IV is
// the last ciphertext block of the previous message (V1Cipher returns it).
// It returns nil for an unsupported hash or a blockSize outside 1..hash
// size.
func V1PhaseOneIV(hash uint16, gxi, gxr []byte, blockSize int) []byte {
	return v1TruncHash(hash, blockSize, gxi, gxr)
}

// V1PhaseTwoIV returns the IV of the first message of a Quick Mode or
// Informational exchange (and Mode Config transaction) with message ID
// msgID (RFC 2409 Appendix B): hash(last phase 1 CBC output block | M-ID)
// truncated to blockSize. lastPhase1Block is the last ciphertext block of
// the final phase 1 message (the nextIV of its Encrypt/Decrypt), not of
// any later exchange. Within the exchange the IVs then chain as in phase 1.
// It returns nil for an unsupported hash or a blockSize outside 1..hash
// size.
func V1PhaseTwoIV(hash uint16, lastPhase1Block []byte, msgID uint32, blockSize int) []byte {
	return v1TruncHash(hash, blockSize, lastPhase1Block, v1BE32(msgID))
}

func v1TruncHash(hashID uint16, n int, data ...[]byte) []byte {
	newHash := v1NewHash(hashID)
	if newHash == nil {
		return nil
	}
	h := newHash()
	if n <= 0 || n > h.Size() {
		return nil
	}
	for _, d := range data {
		h.Write(d)
	}
	return h.Sum(nil)[:n:n]
}

// V1NewHash returns the constructor of the plain hash an Oakley Hash
// Algorithm value names (for the IVs here, and RFC 3947 NAT-D hashes).
func V1NewHash(hashID uint16) (func() hash.Hash, error) {
	if h := v1NewHash(hashID); h != nil {
		return h, nil
	}
	return nil, fmt.Errorf("%w: IKEv1 hash algorithm %s", ErrV1Unsupported, v1HashName(hashID))
}

// v1NewHash returns the constructor for an Oakley hash, or nil.
func v1NewHash(id uint16) func() hash.Hash {
	switch id {
	case V1HashMD5:
		return md5.New
	case V1HashSHA1:
		return sha1.New
	case V1HashSHA2256:
		return sha256.New
	case V1HashSHA2384:
		return sha512.New384
	case V1HashSHA2512:
		return sha512.New
	}
	return nil
}

func v1Cookies(a, b uint64) []byte {
	c := make([]byte, 16)
	binary.BigEndian.PutUint64(c, a)
	binary.BigEndian.PutUint64(c[8:], b)
	return c
}

func v1BE32(v uint32) []byte {
	return binary.BigEndian.AppendUint32(nil, v)
}
