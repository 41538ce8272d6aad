package oakley

import (
	"errors"
	"fmt"
)

// ErrUnsupportedEncr is returned (wrapped) for encryption transforms this
// package cannot use for an IKE SA (unknown IDs, ENCR_NULL, bad key sizes).
var ErrUnsupportedEncr = errors.New("oakley: unsupported encryption algorithm")

// aesKeyBits reports whether bits is a valid AES key length attribute.
func aesKeyBits(bits uint16) bool {
	return bits == 128 || bits == 192 || bits == 256
}

// EncrKeyLen returns how many bytes of keying material (SK_ei / SK_er, or a
// Child SA's encryption KEYMAT) the cipher takes, salt included:
// AES-CBC KeyLen/8, AES-CTR and AES-GCM KeyLen/8+4 (RFC 5930, RFC 5282),
// ChaCha20-Poly1305 36 (RFC 7634), 3DES 24.
//
// AES transforms need their Key Length attribute (128, 192 or 256).
// ChaCha20-Poly1305 and 3DES have no key length attribute; 0 is accepted,
// and so are 256 and 192 respectively. t.Type may be TransformENCR or 0.
func EncrKeyLen(t Transform) (int, error) {
	if t.Type != 0 && t.Type != TransformENCR {
		return 0, fmt.Errorf("%w: %s is not an encryption transform", ErrUnsupportedEncr, t)
	}
	switch t.ID {
	case EncrAESCBC:
		if aesKeyBits(t.KeyLen) {
			return int(t.KeyLen) / 8, nil
		}
	case EncrAESCTR, EncrAESGCM8, EncrAESGCM12, EncrAESGCM16:
		if aesKeyBits(t.KeyLen) {
			return int(t.KeyLen)/8 + 4, nil
		}
	case EncrChaCha20Poly1305:
		if t.KeyLen == 0 || t.KeyLen == 256 {
			return 36, nil
		}
	case Encr3DES:
		if t.KeyLen == 0 || t.KeyLen == 192 {
			return 24, nil
		}
	default:
		return 0, fmt.Errorf("%w: %s", ErrUnsupportedEncr, encrName(t))
	}
	return 0, fmt.Errorf("%w: %s with key length %d", ErrUnsupportedEncr, encrName(t), t.KeyLen)
}

func encrName(t Transform) string {
	t.Type = TransformENCR
	t.KeyLen = 0
	return t.String()
}
