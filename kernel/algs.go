package kernel

import (
	"fmt"

	"ikegate/oakley"
)

// espAlgs is how a negotiated ESP transform pair is named for the kernel.
// For an AEAD, only aead* is set; otherwise crypt* and auth*.
type espAlgs struct {
	// AEAD: kernel name, ICV length in bits, key length in bytes
	// (including the salt).
	aeadName   string
	aeadICV    int
	aeadKeyLen int

	cryptName   string
	cryptKeyLen int // bytes, including any nonce (AES-CTR)

	authName   string
	authTrunc  int // bits
	authKeyLen int // bytes
}

func (a espAlgs) isAEAD() bool { return a.aeadName != "" }

// Salt/nonce bytes taken from KEYMAT after the cipher key.
const (
	gcmSaltLen      = 4 // RFC 4106 8.1
	chachaSaltLen   = 4 // RFC 7634 2
	ctrNonceLen     = 4 // RFC 3686 5.1
	chachaKeyLen    = 32
	des3KeyLen      = 24
	defaultAESBits  = 128
	kernelAEADName  = "rfc4106(gcm(aes))"
	kernelChaChaESP = "rfc7539esp(chacha20,poly1305)"
)

// integAlg is the kernel view of an IKE integrity transform.
type integAlg struct {
	name   string
	trunc  int // bits
	keyLen int // bytes
}

var integAlgs = map[uint16]integAlg{
	oakley.IntegHMACMD5_96:   {"hmac(md5)", 96, 16},
	oakley.IntegHMACSHA1_96:  {"hmac(sha1)", 96, 20},
	oakley.IntegAESXCBC96:    {"xcbc(aes)", 96, 16},
	oakley.IntegHMACSHA2_256: {"hmac(sha256)", 128, 32},
	oakley.IntegHMACSHA2_384: {"hmac(sha384)", 192, 48},
	oakley.IntegHMACSHA2_512: {"hmac(sha512)", 256, 64},
}

// aesKeyBytes returns the AES key length in bytes for a KeyLen attribute
// (0 means the default, 128 bits).
func aesKeyBytes(encr oakley.Transform) (int, error) {
	switch encr.KeyLen {
	case 0:
		return defaultAESBits / 8, nil
	case 128, 192, 256:
		return int(encr.KeyLen) / 8, nil
	}
	return 0, fmt.Errorf("kernel: %s: AES key length %d bits is not 128, 192 or 256", encr, encr.KeyLen)
}

// mapAlgorithms maps the negotiated ENCR and INTEG transforms (IKEv2
// transform IDs; the IKEv1 engine hands over the same numbers) to kernel
// algorithm names and key sizes, or says clearly why it cannot.
func mapAlgorithms(encr, integ oakley.Transform) (espAlgs, error) {
	return mapAlgorithmsTrunc(encr, integ, false)
}

// mapAlgorithmsTrunc is mapAlgorithms; with sha256Trunc96 HMAC-SHA2-256
// gets a 96-bit ICV (sha2_truncbug).
func mapAlgorithmsTrunc(encr, integ oakley.Transform, sha256Trunc96 bool) (espAlgs, error) {
	var a espAlgs
	if encr.Type != oakley.TransformENCR {
		return a, fmt.Errorf("kernel: encryption transform has type %s, want ENCR", encr.Type)
	}
	if integ.Type != 0 && integ.Type != oakley.TransformINTEG {
		return a, fmt.Errorf("kernel: integrity transform has type %s, want INTEG", integ.Type)
	}
	if oakley.IsAEAD(encr.ID) {
		if integ.ID != oakley.IntegNone {
			return a, fmt.Errorf("kernel: %s is an AEAD and takes no integrity algorithm, got %s", encr, integ)
		}
		switch encr.ID {
		case oakley.EncrAESGCM8, oakley.EncrAESGCM12, oakley.EncrAESGCM16:
			n, err := aesKeyBytes(encr)
			if err != nil {
				return a, err
			}
			a.aeadName = kernelAEADName
			a.aeadICV = map[uint16]int{oakley.EncrAESGCM8: 64, oakley.EncrAESGCM12: 96, oakley.EncrAESGCM16: 128}[encr.ID]
			a.aeadKeyLen = n + gcmSaltLen
		case oakley.EncrChaCha20Poly1305:
			if encr.KeyLen != 0 && encr.KeyLen != 256 {
				return a, fmt.Errorf("kernel: %s: key length must be 256 bits", encr)
			}
			a.aeadName = kernelChaChaESP
			a.aeadICV = 128
			a.aeadKeyLen = chachaKeyLen + chachaSaltLen
		default:
			return a, fmt.Errorf("kernel: AEAD %s has no kernel mapping", encr)
		}
		return a, nil
	}

	switch encr.ID {
	case oakley.EncrAESCBC:
		n, err := aesKeyBytes(encr)
		if err != nil {
			return a, err
		}
		a.cryptName, a.cryptKeyLen = "cbc(aes)", n
	case oakley.EncrAESCTR:
		n, err := aesKeyBytes(encr)
		if err != nil {
			return a, err
		}
		a.cryptName, a.cryptKeyLen = "rfc3686(ctr(aes))", n+ctrNonceLen
	case oakley.Encr3DES:
		if encr.KeyLen != 0 && encr.KeyLen != 192 {
			return a, fmt.Errorf("kernel: %s: 3DES has a fixed 192-bit key, got key length %d", encr, encr.KeyLen)
		}
		a.cryptName, a.cryptKeyLen = "cbc(des3_ede)", des3KeyLen
	case oakley.EncrNULL:
		a.cryptName, a.cryptKeyLen = "ecb(cipher_null)", 0
	default:
		return a, fmt.Errorf("kernel: encryption algorithm %s has no kernel mapping", encr)
	}

	if integ.ID == oakley.IntegNone {
		return a, fmt.Errorf("kernel: %s is not an AEAD and needs an integrity algorithm", encr)
	}
	ia, ok := integAlgs[integ.ID]
	if !ok {
		return a, fmt.Errorf("kernel: integrity algorithm %s has no kernel mapping", integ)
	}
	a.authName, a.authTrunc, a.authKeyLen = ia.name, ia.trunc, ia.keyLen
	if sha256Trunc96 && integ.ID == oakley.IntegHMACSHA2_256 {
		a.authTrunc = 96
	}
	return a, nil
}

// checkKeys verifies the key lengths of one direction against the mapping.
func (a espAlgs) checkKeys(dir string, encKey, integKey []byte) error {
	if a.isAEAD() {
		if len(encKey) != a.aeadKeyLen {
			return fmt.Errorf("kernel: %s %s key is %d bytes, want %d (key plus %d-byte salt)", dir, a.aeadName, len(encKey), a.aeadKeyLen, gcmSaltLen)
		}
		if len(integKey) != 0 {
			return fmt.Errorf("kernel: %s %s takes no integrity key, got %d bytes", dir, a.aeadName, len(integKey))
		}
		return nil
	}
	if len(encKey) != a.cryptKeyLen {
		return fmt.Errorf("kernel: %s %s key is %d bytes, want %d", dir, a.cryptName, len(encKey), a.cryptKeyLen)
	}
	if len(integKey) != a.authKeyLen {
		return fmt.Errorf("kernel: %s %s key is %d bytes, want %d", dir, a.authName, len(integKey), a.authKeyLen)
	}
	return nil
}
