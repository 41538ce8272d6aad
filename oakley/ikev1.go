package oakley

// IKEv1 (RFC 2409) numbering, and its mapping to the IKEv2-numbered
// Transform used everywhere else in ikegate. The key derivations and the
// CBC IV chain are in ikev1_kdf.go and ikev1_cipher.go.

import (
	"errors"
	"fmt"
)

// ErrV1Unsupported is returned (wrapped) when an IKEv1 attribute value or
// transform ID has no equivalent this package can use.
var ErrV1Unsupported = errors.New("oakley: unsupported IKEv1 algorithm")

// EncrDES is ENCR_DES (IANA IKEv2 transform type 1, value 2; RFC 2405). It
// is not in the IKEv2 proposal keywords and NewSKCipher refuses it; it exists
// so that IKEv1 peers still offering single DES can be recognised, named in
// logs and, where policy allows, decrypted (NewV1Cipher).
const EncrDES uint16 = 2

// Oakley Group Type attribute values (RFC 2409 Appendix A). The attribute
// type numbers themselves (V1IKEAttr*) and the Life Type values are wire
// structure and live in package isakmp.
const (
	V1GroupTypeMODP uint16 = 1
	V1GroupTypeECP  uint16 = 2
	V1GroupTypeEC2N uint16 = 3
)

// Oakley Encryption Algorithm attribute values (RFC 2409 Appendix A,
// RFC 3602 for AES-CBC, RFC 4312 for Camellia).
const (
	V1EncrDESCBC      uint16 = 1
	V1EncrIDEACBC     uint16 = 2
	V1EncrBlowfishCBC uint16 = 3
	V1EncrRC5CBC      uint16 = 4
	V1Encr3DESCBC     uint16 = 5
	V1EncrCASTCBC     uint16 = 6
	V1EncrAESCBC      uint16 = 7 // with a Key Length attribute (128, 192, 256)
	V1EncrCamelliaCBC uint16 = 8
)

// Oakley Hash Algorithm attribute values (RFC 2409 Appendix A, RFC 4868).
// With no PRF attribute (the usual case) the IKEv1 PRF is HMAC with the
// negotiated hash: see V1HashToPRF.
const (
	V1HashMD5     uint16 = 1
	V1HashSHA1    uint16 = 2
	V1HashTiger   uint16 = 3
	V1HashSHA2256 uint16 = 4
	V1HashSHA2384 uint16 = 5
	V1HashSHA2512 uint16 = 6
)

// Oakley Authentication Method attribute values (RFC 2409 Appendix A,
// RFC 4754 for ECDSA, draft-ietf-ipsec-isakmp-xauth / hybrid-auth for the
// private-use XAUTH and hybrid values). Constants only: what each method
// changes in the exchange is the engine's business.
const (
	V1AuthPSK                uint16 = 1
	V1AuthDSS                uint16 = 2
	V1AuthRSASig             uint16 = 3
	V1AuthRSAEnc             uint16 = 4
	V1AuthRSARevisedEnc      uint16 = 5
	V1AuthECDSA256           uint16 = 9
	V1AuthECDSA384           uint16 = 10
	V1AuthECDSA521           uint16 = 11
	V1AuthHybridInitRSA      uint16 = 64221
	V1AuthHybridRespRSA      uint16 = 64222
	V1AuthHybridInitDSS      uint16 = 64223
	V1AuthHybridRespDSS      uint16 = 64224
	V1AuthXAUTHInitPreShared uint16 = 65001
	V1AuthXAUTHRespPreShared uint16 = 65002
	V1AuthXAUTHInitDSS       uint16 = 65003
	V1AuthXAUTHRespDSS       uint16 = 65004
	V1AuthXAUTHInitRSA       uint16 = 65005
	V1AuthXAUTHRespRSA       uint16 = 65006
	V1AuthXAUTHInitRSAEnc    uint16 = 65007
	V1AuthXAUTHRespRSAEnc    uint16 = 65008
	V1AuthXAUTHInitRSARevEnc uint16 = 65009
	V1AuthXAUTHRespRSARevEnc uint16 = 65010
)

// The Oakley Group Description attribute uses the IKEv2 DH group numbers
// (MODP1024 = 2, MODP1536 = 5, MODP2048 = 14, ..., ECP256 = 19, ECP384 =
// 20, ECP521 = 21, Curve25519 = 31): pass it to NewKeyExchange unchanged.

// IPsec DOI AH transform IDs (RFC 2407 4.4.3, RFC 4868). The protocol
// IDs (ISAKMP, AH, ESP, IPComp) are wire structure and live in package
// isakmp.
const (
	V1AHMD5    uint8 = 2
	V1AHSHA1   uint8 = 3
	V1AHSHA256 uint8 = 5
	V1AHSHA384 uint8 = 6
	V1AHSHA512 uint8 = 7
)

// IPsec DOI ESP transform IDs (RFC 2407 4.4.4, RFC 3602, RFC 3686, RFC
// 4106, RFC 4309, RFC 4543). They share their numbers with the IKEv2 ENCR
// IDs. The Transform ID field of an IKEv1 Transform payload is one octet.
const (
	V1ESPDES              uint8 = 2
	V1ESP3DES             uint8 = 3
	V1ESPNULL             uint8 = 11
	V1ESPAES              uint8 = 12 // AES-CBC, with a Key Length attribute
	V1ESPAESCTR           uint8 = 13
	V1ESPAESCCM8          uint8 = 14
	V1ESPAESCCM12         uint8 = 15
	V1ESPAESCCM16         uint8 = 16
	V1ESPAESGCM8          uint8 = 18
	V1ESPAESGCM12         uint8 = 19
	V1ESPAESGCM16         uint8 = 20
	V1ESPNullAuthAESGMAC  uint8 = 23
	V1ESPChaCha20Poly1305 uint8 = 28 // IKEv2 number, as Libreswan uses it in IKEv1
)

// IPsec DOI IPComp transform IDs (RFC 2407 4.4.5).
const (
	V1IPCompOUI     uint8 = 1
	V1IPCompDeflate uint8 = 2
	V1IPCompLZS     uint8 = 3
)

// IPsec DOI Authentication Algorithm attribute values (RFC 2407 4.5,
// RFC 4868 for SHA-2, RFC 3566 for AES-XCBC-MAC).
const (
	V1ESPAuthHMACMD5     uint16 = 1
	V1ESPAuthHMACSHA1    uint16 = 2
	V1ESPAuthDESMAC      uint16 = 3
	V1ESPAuthKPDK        uint16 = 4
	V1ESPAuthHMACSHA2256 uint16 = 5 // 128-bit ICV (RFC 4868)
	V1ESPAuthHMACSHA2384 uint16 = 6
	V1ESPAuthHMACSHA2512 uint16 = 7
	V1ESPAuthHMACRIPEMD  uint16 = 8
	V1ESPAuthAESXCBC     uint16 = 9
)

// V1EncrFromTransform returns the Oakley Encryption Algorithm value for an
// IKEv2-numbered encryption transform and the Key Length attribute to send
// with it (0: send none). Only the CBC ciphers IKEv1 phase 1 defines and
// this package implements are accepted: AES-CBC (with a key length of 128,
// 192 or 256), 3DES and DES.
func V1EncrFromTransform(t Transform) (id uint16, keyLen uint16, err error) {
	if t.Type != 0 && t.Type != TransformENCR {
		return 0, 0, fmt.Errorf("%w: %s is not an encryption transform", ErrV1Unsupported, t)
	}
	switch t.ID {
	case EncrAESCBC:
		if aesKeyBits(t.KeyLen) {
			return V1EncrAESCBC, t.KeyLen, nil
		}
	case Encr3DES:
		if t.KeyLen == 0 || t.KeyLen == 192 {
			return V1Encr3DESCBC, 0, nil
		}
	case EncrDES:
		if t.KeyLen == 0 || t.KeyLen == 64 {
			return V1EncrDESCBC, 0, nil
		}
	default:
		return 0, 0, fmt.Errorf("%w: %s has no IKEv1 phase 1 equivalent", ErrV1Unsupported, v1EncrName(t))
	}
	return 0, 0, fmt.Errorf("%w: %s with key length %d", ErrV1Unsupported, v1EncrName(t), t.KeyLen)
}

// V1EncrToTransform maps an Oakley Encryption Algorithm value and its Key
// Length attribute (0 if absent) to the IKEv2-numbered transform. AES-CBC
// requires a Key Length of 128, 192 or 256: RFC 3602 makes the attribute
// mandatory, so a missing one is reported rather than guessed (an engine
// wanting leniency may retry with 128). 3DES and DES accept no attribute or
// their fixed size; the returned KeyLen is then 0.
func V1EncrToTransform(id, keyLen uint16) (Transform, error) {
	switch id {
	case V1EncrAESCBC:
		if aesKeyBits(keyLen) {
			return Transform{Type: TransformENCR, ID: EncrAESCBC, KeyLen: keyLen}, nil
		}
		if keyLen == 0 {
			return Transform{}, fmt.Errorf("%w: AES-CBC without a Key Length attribute", ErrV1Unsupported)
		}
		return Transform{}, fmt.Errorf("%w: AES-CBC with key length %d", ErrV1Unsupported, keyLen)
	case V1Encr3DESCBC:
		if keyLen == 0 || keyLen == 192 {
			return Transform{Type: TransformENCR, ID: Encr3DES}, nil
		}
		return Transform{}, fmt.Errorf("%w: 3DES-CBC with key length %d", ErrV1Unsupported, keyLen)
	case V1EncrDESCBC:
		if keyLen == 0 || keyLen == 64 {
			return Transform{Type: TransformENCR, ID: EncrDES}, nil
		}
		return Transform{}, fmt.Errorf("%w: DES-CBC with key length %d", ErrV1Unsupported, keyLen)
	}
	return Transform{}, fmt.Errorf("%w: IKEv1 encryption algorithm %s", ErrV1Unsupported, v1EncrAttrName(id))
}

// V1EncrKeyLen returns the length in bytes of the phase 1 encryption key
// (the n of V1EncKey) for an IKEv2-numbered transform: AES-CBC KeyLen/8,
// 3DES 24, DES 8.
func V1EncrKeyLen(t Transform) (int, error) {
	if _, _, err := V1EncrFromTransform(t); err != nil {
		return 0, err
	}
	if t.ID == EncrDES {
		return 8, nil
	}
	return EncrKeyLen(t)
}

// V1HashToPRF returns the IKEv2 PRF ID of the IKEv1 PRF for a negotiated
// Oakley hash: HMAC with that hash (RFC 2409 section 4, "prf" defaults to
// the HMAC version of the negotiated hash).
func V1HashToPRF(hash uint16) (uint16, error) {
	switch hash {
	case V1HashMD5:
		return PRFHMACMD5, nil
	case V1HashSHA1:
		return PRFHMACSHA1, nil
	case V1HashSHA2256:
		return PRFHMACSHA2_256, nil
	case V1HashSHA2384:
		return PRFHMACSHA2_384, nil
	case V1HashSHA2512:
		return PRFHMACSHA2_512, nil
	}
	return 0, fmt.Errorf("%w: IKEv1 hash algorithm %s", ErrV1Unsupported, v1HashName(hash))
}

// V1HashFromPRF is the inverse of V1HashToPRF: the Oakley hash to propose
// for an IKEv2 PRF ID. PRF_AES128_XCBC has no IKEv1 equivalent.
func V1HashFromPRF(prfID uint16) (uint16, error) {
	switch prfID {
	case PRFHMACMD5:
		return V1HashMD5, nil
	case PRFHMACSHA1:
		return V1HashSHA1, nil
	case PRFHMACSHA2_256:
		return V1HashSHA2256, nil
	case PRFHMACSHA2_384:
		return V1HashSHA2384, nil
	case PRFHMACSHA2_512:
		return V1HashSHA2512, nil
	}
	return 0, fmt.Errorf("%w: %s has no IKEv1 hash", ErrV1Unsupported, Transform{Type: TransformPRF, ID: prfID})
}

// V1ESPAuthToInteg maps an IPsec DOI Authentication Algorithm value to the
// IKEv2 integrity ID with the same algorithm and ICV length. HMAC-SHA2-*
// map to the RFC 4868 truncations (128/192/256 bits); some old Linux
// kernels used 96 bits for SHA2-256, which is not supported.
func V1ESPAuthToInteg(auth uint16) (uint16, error) {
	switch auth {
	case V1ESPAuthHMACMD5:
		return IntegHMACMD5_96, nil
	case V1ESPAuthHMACSHA1:
		return IntegHMACSHA1_96, nil
	case V1ESPAuthHMACSHA2256:
		return IntegHMACSHA2_256, nil
	case V1ESPAuthHMACSHA2384:
		return IntegHMACSHA2_384, nil
	case V1ESPAuthHMACSHA2512:
		return IntegHMACSHA2_512, nil
	case V1ESPAuthAESXCBC:
		return IntegAESXCBC96, nil
	}
	return 0, fmt.Errorf("%w: IPsec authentication algorithm %d", ErrV1Unsupported, auth)
}

// V1ESPAuthFromInteg is the inverse of V1ESPAuthToInteg.
func V1ESPAuthFromInteg(integID uint16) (uint16, error) {
	switch integID {
	case IntegHMACMD5_96:
		return V1ESPAuthHMACMD5, nil
	case IntegHMACSHA1_96:
		return V1ESPAuthHMACSHA1, nil
	case IntegHMACSHA2_256:
		return V1ESPAuthHMACSHA2256, nil
	case IntegHMACSHA2_384:
		return V1ESPAuthHMACSHA2384, nil
	case IntegHMACSHA2_512:
		return V1ESPAuthHMACSHA2512, nil
	case IntegAESXCBC96:
		return V1ESPAuthAESXCBC, nil
	}
	return 0, fmt.Errorf("%w: %s has no IPsec DOI authentication algorithm", ErrV1Unsupported, Transform{Type: TransformINTEG, ID: integID})
}

// V1ESPTransformToTransform maps an IPsec DOI ESP transform ID and its Key
// Length attribute (0 if absent) to the IKEv2-numbered encryption
// transform. The AES transforms need a Key Length of 128, 192 or 256
// (RFC 3602, 3686, 4106); 3DES, DES, NULL and ChaCha20-Poly1305 take none
// or their fixed size.
func V1ESPTransformToTransform(id uint8, keyLen uint16) (Transform, error) {
	t := Transform{Type: TransformENCR, ID: uint16(id)}
	switch id {
	case V1ESPAES, V1ESPAESCTR, V1ESPAESGCM8, V1ESPAESGCM12, V1ESPAESGCM16:
		if aesKeyBits(keyLen) {
			t.KeyLen = keyLen
			return t, nil
		}
	case V1ESP3DES:
		if keyLen == 0 || keyLen == 192 {
			return t, nil
		}
	case V1ESPDES:
		if keyLen == 0 || keyLen == 64 {
			return t, nil
		}
	case V1ESPNULL:
		if keyLen == 0 {
			return t, nil
		}
	case V1ESPChaCha20Poly1305:
		if keyLen == 0 || keyLen == 256 {
			return t, nil
		}
	default:
		return Transform{}, fmt.Errorf("%w: ESP transform ID %d", ErrV1Unsupported, id)
	}
	return Transform{}, fmt.Errorf("%w: ESP transform %s with key length %d", ErrV1Unsupported, v1EncrName(t), keyLen)
}

// V1ESPTransformFromTransform is the inverse of V1ESPTransformToTransform:
// the ESP transform ID and the Key Length attribute to send (0: none).
func V1ESPTransformFromTransform(t Transform) (id uint8, keyLen uint16, err error) {
	if t.Type != 0 && t.Type != TransformENCR {
		return 0, 0, fmt.Errorf("%w: %s is not an encryption transform", ErrV1Unsupported, t)
	}
	if t.ID > 0xff {
		return 0, 0, fmt.Errorf("%w: %s has no ESP transform ID", ErrV1Unsupported, v1EncrName(t))
	}
	back, err := V1ESPTransformToTransform(uint8(t.ID), t.KeyLen)
	if err != nil {
		return 0, 0, err
	}
	return uint8(back.ID), back.KeyLen, nil
}

func v1EncrName(t Transform) string {
	if t.Type == TransformENCR || t.Type == 0 {
		if t.ID == EncrDES {
			return "DES"
		}
	}
	return encrName(t)
}

var v1EncrAttrNames = map[uint16]string{
	V1EncrDESCBC: "DES-CBC", V1EncrIDEACBC: "IDEA-CBC", V1EncrBlowfishCBC: "Blowfish-CBC",
	V1EncrRC5CBC: "RC5-R16-B64-CBC", V1Encr3DESCBC: "3DES-CBC", V1EncrCASTCBC: "CAST-CBC",
	V1EncrAESCBC: "AES-CBC", V1EncrCamelliaCBC: "Camellia-CBC",
}

func v1EncrAttrName(id uint16) string {
	if n, ok := v1EncrAttrNames[id]; ok {
		return fmt.Sprintf("%s (%d)", n, id)
	}
	return fmt.Sprintf("%d", id)
}

var v1HashNames = map[uint16]string{
	V1HashMD5: "MD5", V1HashSHA1: "SHA", V1HashTiger: "Tiger",
	V1HashSHA2256: "SHA2-256", V1HashSHA2384: "SHA2-384", V1HashSHA2512: "SHA2-512",
}

func v1HashName(id uint16) string {
	if n, ok := v1HashNames[id]; ok {
		return fmt.Sprintf("%s (%d)", n, id)
	}
	return fmt.Sprintf("%d", id)
}
