// Package oakley holds the cryptography shared by the IKEv1 and IKEv2
// engines: Diffie-Hellman groups, PRFs, ciphers and integrity algorithms,
// the IKEv2 key derivations (prf+, SKEYSEED) and IKEv1's SKEYID and IV
// chains, and the IANA transform registry that maps strongSwan-style
// proposal keywords to transform IDs.
package oakley

import (
	"fmt"
	"strings"
)

// TransformType is an IKEv2 transform type (RFC 7296 3.3.2).
type TransformType uint8

// IKEv2 transform types.
const (
	TransformENCR  TransformType = 1 // encryption algorithm
	TransformPRF   TransformType = 2 // pseudorandom function
	TransformINTEG TransformType = 3 // integrity algorithm
	TransformDH    TransformType = 4 // Diffie-Hellman group (key exchange method)
	TransformESN   TransformType = 5 // extended sequence numbers
)

func (t TransformType) String() string {
	switch t {
	case TransformENCR:
		return "ENCR"
	case TransformPRF:
		return "PRF"
	case TransformINTEG:
		return "INTEG"
	case TransformDH:
		return "DH"
	case TransformESN:
		return "ESN"
	}
	return fmt.Sprintf("TRANSFORM_%d", uint8(t))
}

// Encryption algorithm IDs (IANA "Transform Type 1").
const (
	Encr3DES             uint16 = 3
	EncrNULL             uint16 = 11
	EncrAESCBC           uint16 = 12
	EncrAESCTR           uint16 = 13
	EncrAESGCM8          uint16 = 18
	EncrAESGCM12         uint16 = 19
	EncrAESGCM16         uint16 = 20
	EncrChaCha20Poly1305 uint16 = 28
)

// PRF IDs (IANA "Transform Type 2").
const (
	PRFHMACMD5      uint16 = 1
	PRFHMACSHA1     uint16 = 2
	PRFAES128XCBC   uint16 = 4
	PRFHMACSHA2_256 uint16 = 5
	PRFHMACSHA2_384 uint16 = 6
	PRFHMACSHA2_512 uint16 = 7
)

// Integrity algorithm IDs (IANA "Transform Type 3").
const (
	IntegNone         uint16 = 0
	IntegHMACMD5_96   uint16 = 1
	IntegHMACSHA1_96  uint16 = 2
	IntegAESXCBC96    uint16 = 5
	IntegHMACSHA2_256 uint16 = 12 // HMAC-SHA2-256-128
	IntegHMACSHA2_384 uint16 = 13 // HMAC-SHA2-384-192
	IntegHMACSHA2_512 uint16 = 14 // HMAC-SHA2-512-256
)

// Diffie-Hellman group numbers (IANA "Transform Type 4").
const (
	DHNone     uint16 = 0
	MODP1024   uint16 = 2
	MODP1536   uint16 = 5
	MODP2048   uint16 = 14
	MODP3072   uint16 = 15
	MODP4096   uint16 = 16
	MODP6144   uint16 = 17
	MODP8192   uint16 = 18
	ECP256     uint16 = 19
	ECP384     uint16 = 20
	ECP521     uint16 = 21
	Curve25519 uint16 = 31
)

// ESN values (IANA "Transform Type 5").
const (
	ESNNone uint16 = 0
	ESNOn   uint16 = 1
)

// Transform is one algorithm of a proposal: its type, its ID and, for
// ciphers with a variable key size, the key length in bits (0 if the
// algorithm has no key length attribute).
type Transform struct {
	Type   TransformType
	ID     uint16
	KeyLen uint16
}

// Proposal is one proposal: any number of transforms of each type. A peer's
// proposal is acceptable when, for every type present, one of its
// transforms matches one of ours.
type Proposal struct {
	Transforms []Transform
}

// Of returns the transforms of type t, in order.
func (p Proposal) Of(t TransformType) []Transform {
	var out []Transform
	for _, tr := range p.Transforms {
		if tr.Type == t {
			out = append(out, tr)
		}
	}
	return out
}

// First returns the first transform of type t and whether there is one.
func (p Proposal) First(t TransformType) (Transform, bool) {
	for _, tr := range p.Transforms {
		if tr.Type == t {
			return tr, true
		}
	}
	return Transform{}, false
}

// String names the proposal's transforms as IANA names joined with "/",
// e.g. "AES_CBC_256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048".
func (p Proposal) String() string {
	names := make([]string, 0, len(p.Transforms))
	for _, t := range p.Transforms {
		names = append(names, t.String())
	}
	return strings.Join(names, "/")
}

// ProposalsString returns the proposals in order of preference, separated
// by ", ", for logs and failure explanations.
func ProposalsString(ps []Proposal) string {
	names := make([]string, len(ps))
	for i, p := range ps {
		names[i] = p.String()
	}
	return strings.Join(names, ", ")
}

// IsAEAD reports whether the encryption transform ID is a combined-mode
// (AEAD) cipher that needs no separate integrity transform.
func IsAEAD(encrID uint16) bool {
	switch encrID {
	case EncrAESGCM8, EncrAESGCM12, EncrAESGCM16, EncrChaCha20Poly1305:
		return true
	}
	return false
}

// String returns the transform's IANA-style name.
func (t Transform) String() string {
	var name string
	var ok bool
	switch t.Type {
	case TransformENCR:
		name, ok = encrNames[t.ID]
		if ok && t.KeyLen != 0 {
			name = fmt.Sprintf("%s_%d", name, t.KeyLen)
		}
	case TransformPRF:
		name, ok = prfNames[t.ID]
	case TransformINTEG:
		name, ok = integNames[t.ID]
	case TransformDH:
		name, ok = dhNames[t.ID]
	case TransformESN:
		name, ok = esnNames[t.ID]
	}
	if !ok {
		return fmt.Sprintf("%s_%d", t.Type, t.ID)
	}
	return name
}

var encrNames = map[uint16]string{
	Encr3DES: "3DES", EncrNULL: "NULL", EncrAESCBC: "AES_CBC", EncrAESCTR: "AES_CTR",
	EncrAESGCM8: "AES_GCM_8", EncrAESGCM12: "AES_GCM_12", EncrAESGCM16: "AES_GCM_16",
	EncrChaCha20Poly1305: "CHACHA20_POLY1305",
}

var prfNames = map[uint16]string{
	PRFHMACMD5: "PRF_HMAC_MD5", PRFHMACSHA1: "PRF_HMAC_SHA1", PRFAES128XCBC: "PRF_AES128_XCBC",
	PRFHMACSHA2_256: "PRF_HMAC_SHA2_256", PRFHMACSHA2_384: "PRF_HMAC_SHA2_384", PRFHMACSHA2_512: "PRF_HMAC_SHA2_512",
}

var integNames = map[uint16]string{
	IntegNone: "NONE", IntegHMACMD5_96: "HMAC_MD5_96", IntegHMACSHA1_96: "HMAC_SHA1_96",
	IntegAESXCBC96: "AES_XCBC_96", IntegHMACSHA2_256: "HMAC_SHA2_256_128",
	IntegHMACSHA2_384: "HMAC_SHA2_384_192", IntegHMACSHA2_512: "HMAC_SHA2_512_256",
}

var dhNames = map[uint16]string{
	DHNone: "NONE", MODP1024: "MODP_1024", MODP1536: "MODP_1536", MODP2048: "MODP_2048",
	MODP3072: "MODP_3072", MODP4096: "MODP_4096", MODP6144: "MODP_6144", MODP8192: "MODP_8192",
	ECP256: "ECP_256", ECP384: "ECP_384", ECP521: "ECP_521", Curve25519: "CURVE_25519",
}

var esnNames = map[uint16]string{ESNNone: "NO_ESN", ESNOn: "ESN"}
