package oakley

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/hmac"
	crand "crypto/rand"
	"errors"
	"fmt"
	"io"

	"golang.org/x/crypto/chacha20poly1305"
)

// SKCipher protects the body of an IKEv2 Encrypted (SK) payload
// (RFC 7296 section 3.14; RFC 5282 for AES-GCM, RFC 5930 for AES-CTR,
// RFC 7634 for ChaCha20-Poly1305). The body is IV || ciphertext || ICV,
// where the ciphertext covers plaintext || padding || pad length.
//
// All implementations are safe for concurrent use.
type SKCipher interface {
	// BodyLen is the length of the SK payload body (IV || ciphertext (incl.
	// padding and pad length byte) || ICV) for a plaintext of n bytes.
	BodyLen(n int) int
	// Seal returns the SK body for plaintext. aad is the message from its
	// header through the SK generic payload header (which must already carry
	// lengths computed with BodyLen). For AEAD ciphers it is the associated
	// data; for the others the ICV is the integrity MAC over
	// aad || IV || ciphertext. The IV is read from rand (crypto/rand.Reader
	// if nil).
	Seal(aad, plaintext []byte, rand io.Reader) ([]byte, error)
	// Open verifies and decrypts an SK body, returning the plaintext without
	// padding. aad as for Seal. Open never modifies body.
	Open(aad, body []byte) ([]byte, error)
}

// Errors returned (wrapped) by SKCipher.Open.
var (
	ErrSKMalformed  = errors.New("oakley: malformed SK payload")
	ErrSKAuthFailed = errors.New("oakley: SK payload integrity check failed")
)

// aeadIVLen is the explicit IV length of AES-GCM and ChaCha20-Poly1305 in
// IKEv2 (RFC 5282 section 3, RFC 7634 section 2), and of AES-CTR (RFC 5930).
const (
	aeadIVLen = 8
	saltLen   = 4
)

// NewSKCipher returns the SK payload protection for an encryption transform
// and an integrity algorithm. encKey is SK_ei or SK_er as long as
// EncrKeyLen(encr) says (salt last, for AES-CTR, AES-GCM and
// ChaCha20-Poly1305); integKey is SK_ai or SK_ar. AEAD ciphers require
// integID == IntegNone and no integKey; the others require an integrity
// algorithm. ENCR_NULL is refused: RFC 7296 does not allow it for IKE SAs.
func NewSKCipher(encr Transform, integID uint16, encKey, integKey []byte) (SKCipher, error) {
	need, err := EncrKeyLen(encr)
	if err != nil {
		return nil, err
	}
	if len(encKey) != need {
		return nil, fmt.Errorf("oakley: %s key material is %d bytes, want %d", encrTransformName(encr), len(encKey), need)
	}
	if IsAEAD(encr.ID) {
		if integID != IntegNone || len(integKey) != 0 {
			return nil, fmt.Errorf("oakley: %s is an AEAD cipher and takes no integrity algorithm (got %s)",
				encrTransformName(encr), Transform{Type: TransformINTEG, ID: integID})
		}
		return newAEADSK(encr, encKey)
	}
	if integID == IntegNone {
		return nil, fmt.Errorf("oakley: %s needs an integrity algorithm", encrTransformName(encr))
	}
	mac, err := newIntegMAC(integID, integKey)
	if err != nil {
		return nil, err
	}
	switch encr.ID {
	case EncrAESCBC:
		b, err := aes.NewCipher(encKey)
		if err != nil {
			return nil, err
		}
		return &cbcSK{block: b, mac: mac}, nil
	case Encr3DES:
		b, err := des.NewTripleDESCipher(encKey)
		if err != nil {
			return nil, err
		}
		return &cbcSK{block: b, mac: mac}, nil
	case EncrAESCTR:
		k := len(encKey) - saltLen
		b, err := aes.NewCipher(encKey[:k])
		if err != nil {
			return nil, err
		}
		s := &ctrSK{block: b, mac: mac}
		copy(s.salt[:], encKey[k:])
		return s, nil
	}
	return nil, fmt.Errorf("%w: %s", ErrUnsupportedEncr, encrTransformName(encr))
}

func encrTransformName(t Transform) string {
	t.Type = TransformENCR
	return t.String()
}

func readIV(rand io.Reader, iv []byte) error {
	if rand == nil {
		rand = crand.Reader
	}
	if _, err := io.ReadFull(rand, iv); err != nil {
		return fmt.Errorf("oakley: reading SK payload IV: %w", err)
	}
	return nil
}

// stripPadding removes the padding and the pad length byte from a decrypted
// SK payload. Any padding content is accepted (RFC 7296 section 3.14).
func stripPadding(pt []byte) ([]byte, error) {
	if len(pt) == 0 {
		return nil, fmt.Errorf("%w: no pad length byte", ErrSKMalformed)
	}
	pad := int(pt[len(pt)-1])
	if pad+1 > len(pt) {
		return nil, fmt.Errorf("%w: pad length %d exceeds the %d-byte plaintext", ErrSKMalformed, pad, len(pt))
	}
	return pt[: len(pt)-1-pad : len(pt)-1-pad], nil
}

// cbcSK is AES-CBC or 3DES-CBC with a separate integrity algorithm.
type cbcSK struct {
	block cipher.Block
	mac   *integMAC
}

func (s *cbcSK) ctLen(n int) int {
	bs := s.block.BlockSize()
	return (n + 1 + bs - 1) / bs * bs
}

func (s *cbcSK) BodyLen(n int) int {
	return s.block.BlockSize() + s.ctLen(n) + s.mac.icvLen
}

func (s *cbcSK) Seal(aad, plaintext []byte, rand io.Reader) ([]byte, error) {
	bs := s.block.BlockSize()
	ct := s.ctLen(len(plaintext))
	out := make([]byte, bs+ct, bs+ct+s.mac.icvLen)
	if err := readIV(rand, out[:bs]); err != nil {
		return nil, err
	}
	copy(out[bs:], plaintext)
	// The padding bytes stay zero; the last byte is the pad length.
	out[bs+ct-1] = byte(ct - len(plaintext) - 1)
	cipher.NewCBCEncrypter(s.block, out[:bs]).CryptBlocks(out[bs:], out[bs:])
	return append(out, s.mac.icv(aad, out)...), nil
}

func (s *cbcSK) Open(aad, body []byte) ([]byte, error) {
	bs := s.block.BlockSize()
	icvLen := s.mac.icvLen
	if len(body) < bs+bs+icvLen {
		return nil, fmt.Errorf("%w: %d-byte body is shorter than IV, one block and ICV (%d)", ErrSKMalformed, len(body), bs+bs+icvLen)
	}
	ivct := body[:len(body)-icvLen]
	if (len(ivct)-bs)%bs != 0 {
		return nil, fmt.Errorf("%w: ciphertext length %d is not a multiple of the %d-byte block", ErrSKMalformed, len(ivct)-bs, bs)
	}
	if !hmac.Equal(s.mac.icv(aad, ivct), body[len(ivct):]) {
		return nil, ErrSKAuthFailed
	}
	pt := make([]byte, len(ivct)-bs)
	cipher.NewCBCDecrypter(s.block, ivct[:bs]).CryptBlocks(pt, ivct[bs:])
	return stripPadding(pt)
}

// ctrSK is AES-CTR (RFC 5930, counter block as in RFC 3686) with a separate
// integrity algorithm. A stream cipher needs no padding; only the pad
// length byte (zero) is added.
type ctrSK struct {
	block cipher.Block
	salt  [saltLen]byte
	mac   *integMAC
}

func (s *ctrSK) BodyLen(n int) int { return aeadIVLen + n + 1 + s.mac.icvLen }

func (s *ctrSK) stream(iv []byte) cipher.Stream {
	var cb [aes.BlockSize]byte
	copy(cb[:], s.salt[:])
	copy(cb[saltLen:], iv)
	cb[aes.BlockSize-1] = 1
	return cipher.NewCTR(s.block, cb[:])
}

func (s *ctrSK) Seal(aad, plaintext []byte, rand io.Reader) ([]byte, error) {
	n := aeadIVLen + len(plaintext) + 1
	out := make([]byte, n, n+s.mac.icvLen)
	if err := readIV(rand, out[:aeadIVLen]); err != nil {
		return nil, err
	}
	copy(out[aeadIVLen:], plaintext)
	s.stream(out[:aeadIVLen]).XORKeyStream(out[aeadIVLen:], out[aeadIVLen:])
	return append(out, s.mac.icv(aad, out)...), nil
}

func (s *ctrSK) Open(aad, body []byte) ([]byte, error) {
	icvLen := s.mac.icvLen
	if len(body) < aeadIVLen+1+icvLen {
		return nil, fmt.Errorf("%w: %d-byte body is shorter than IV, pad length and ICV (%d)", ErrSKMalformed, len(body), aeadIVLen+1+icvLen)
	}
	ivct := body[:len(body)-icvLen]
	if !hmac.Equal(s.mac.icv(aad, ivct), body[len(ivct):]) {
		return nil, ErrSKAuthFailed
	}
	pt := make([]byte, len(ivct)-aeadIVLen)
	s.stream(ivct[:aeadIVLen]).XORKeyStream(pt, ivct[aeadIVLen:])
	return stripPadding(pt)
}

// aeadSK is AES-GCM (RFC 5282) or ChaCha20-Poly1305 (RFC 7634): nonce =
// salt || 8-byte explicit IV, associated data = aad (IKE header through
// the SK payload header, not the IV). No padding is added.
// aeadSK is an AEAD SK cipher (AES-GCM, ChaCha20-Poly1305). It keeps
// only the key and salt and builds the AEAD for each message: an
// established IKE SA spends most of its life idle, and an expanded AES key
// with its GCM state is about 700 bytes per direction (140 MB for 100,000
// IKE SAs), while building it costs well under a microsecond per message.
type aeadSK struct {
	id     uint16 // the encryption transform
	keyLen uint8
	icv    uint8 // the AEAD's overhead
	salt   [saltLen]byte
	keyBuf [32]byte // keymat without the salt (AES-128/192/256 or ChaCha20: at most 32 bytes)
}

func newAEADSK(encr Transform, keymat []byte) (*aeadSK, error) {
	k := len(keymat) - saltLen
	if k < 0 || k > 32 {
		return nil, fmt.Errorf("oakley: %s key material is %d bytes", encrTransformName(encr), len(keymat))
	}
	s := &aeadSK{id: encr.ID, keyLen: uint8(k)}
	copy(s.keyBuf[:], keymat[:k])
	copy(s.salt[:], keymat[k:])
	a, err := s.aead() // checks the key and the transform now
	if err != nil {
		return nil, err
	}
	s.icv = uint8(a.Overhead())
	return s, nil
}

// key is the encryption key without the salt.
func (s *aeadSK) key() []byte { return s.keyBuf[:s.keyLen] }

// aead builds the AEAD of s's key.
func (s *aeadSK) aead() (cipher.AEAD, error) {
	switch s.id {
	case EncrChaCha20Poly1305:
		return chacha20poly1305.New(s.key())
	case EncrAESGCM8, EncrAESGCM12, EncrAESGCM16:
		b, err := aes.NewCipher(s.key())
		if err != nil {
			return nil, err
		}
		switch s.id {
		case EncrAESGCM16:
			return cipher.NewGCM(b)
		case EncrAESGCM12:
			return cipher.NewGCMWithTagSize(b, 12)
		default:
			return newGCM8(b)
		}
	}
	return nil, fmt.Errorf("%w: %s", ErrUnsupportedEncr, encrTransformName(Transform{Type: TransformENCR, ID: s.id}))
}

func (s *aeadSK) BodyLen(n int) int { return aeadIVLen + n + 1 + int(s.icv) }

func (s *aeadSK) nonce(iv []byte) []byte {
	n := make([]byte, saltLen+aeadIVLen)
	copy(n, s.salt[:])
	copy(n[saltLen:], iv)
	return n
}

func (s *aeadSK) Seal(aad, plaintext []byte, rand io.Reader) ([]byte, error) {
	a, err := s.aead()
	if err != nil {
		return nil, err
	}
	m := len(plaintext) + 1
	// Room for the full 16-byte tag, which the ICV-8 wrapper truncates.
	out := make([]byte, aeadIVLen+m, aeadIVLen+m+16)
	if err := readIV(rand, out[:aeadIVLen]); err != nil {
		return nil, err
	}
	copy(out[aeadIVLen:], plaintext) // pad length byte stays 0
	inner := out[aeadIVLen:]
	sealed := a.Seal(inner[:0], s.nonce(out[:aeadIVLen]), inner, aad)
	return append(out[:aeadIVLen], sealed...), nil
}

func (s *aeadSK) Open(aad, body []byte) ([]byte, error) {
	minLen := aeadIVLen + 1 + int(s.icv)
	if len(body) < minLen {
		return nil, fmt.Errorf("%w: %d-byte body is shorter than IV, pad length and ICV (%d)", ErrSKMalformed, len(body), minLen)
	}
	a, err := s.aead()
	if err != nil {
		return nil, err
	}
	pt, err := a.Open(nil, s.nonce(body[:aeadIVLen]), body[aeadIVLen:], aad)
	if err != nil {
		return nil, ErrSKAuthFailed
	}
	return stripPadding(pt)
}

// gcm8 is AES-GCM with an 8-byte ICV (ENCR_AES_GCM_8, RFC 4106/5282).
// crypto/cipher only allows tags of 12 to 16 bytes, so the tag is the
// leftmost 8 bytes of the standard 16-byte tag: Seal truncates it, and Open
// decrypts with the GCM keystream (AES-CTR from counter block
// nonce || 00000002) and recomputes the full tag over the recovered
// plaintext, releasing the plaintext only if the first 8 bytes match.
type gcm8 struct {
	block cipher.Block
	full  cipher.AEAD
}

const gcm8TagLen = 8

func newGCM8(b cipher.Block) (cipher.AEAD, error) {
	full, err := cipher.NewGCM(b)
	if err != nil {
		return nil, err
	}
	return &gcm8{block: b, full: full}, nil
}

func (g *gcm8) NonceSize() int { return g.full.NonceSize() }
func (g *gcm8) Overhead() int  { return gcm8TagLen }

func (g *gcm8) Seal(dst, nonce, plaintext, aad []byte) []byte {
	out := g.full.Seal(dst, nonce, plaintext, aad)
	return out[:len(out)-(g.full.Overhead()-gcm8TagLen)]
}

func (g *gcm8) Open(dst, nonce, ciphertext, aad []byte) ([]byte, error) {
	if len(nonce) != g.full.NonceSize() || len(ciphertext) < gcm8TagLen {
		return nil, errors.New("oakley: gcm8: message authentication failed")
	}
	ct := ciphertext[:len(ciphertext)-gcm8TagLen]
	tag := ciphertext[len(ct):]
	var cb [aes.BlockSize]byte
	copy(cb[:], nonce)
	cb[aes.BlockSize-1] = 2
	pt := make([]byte, len(ct))
	cipher.NewCTR(g.block, cb[:]).XORKeyStream(pt, ct)
	check := g.full.Seal(nil, nonce, pt, aad)
	if !hmac.Equal(check[len(ct):len(ct)+gcm8TagLen], tag) {
		clear(pt)
		return nil, errors.New("oakley: gcm8: message authentication failed")
	}
	return append(dst, pt...), nil
}
