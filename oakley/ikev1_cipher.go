package oakley

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"errors"
	"fmt"
)

// ErrV1Malformed is returned (wrapped) by V1Cipher.Decrypt for ciphertext
// that cannot be a CBC-encrypted IKEv1 message body.
var ErrV1Malformed = errors.New("oakley: malformed IKEv1 encrypted message")

// V1Cipher encrypts IKEv1 message bodies (everything after the ISAKMP
// header when its encryption flag is set) in CBC mode with the IKEv1 IV
// chain (RFC 2409 section 5 and Appendix B): there is no IV on the wire;
// the first phase 1 IV is V1PhaseOneIV, the first IV of each Quick Mode or
// Informational exchange is V1PhaseTwoIV, and every later message of an
// exchange uses the last ciphertext block of the message before it, which
// Encrypt and Decrypt return as nextIV. The caller keeps one chain per
// exchange (message ID) and only advances it for messages it accepts:
// a retransmission or a message failing its HASH check must not move it.
//
// Padding: RFC 2409 Appendix B says each message is padded up to the
// nearest block size with 0x00 bytes, and the header's length includes the
// padding. (The "last byte is the pad length" rule of RFC 2409 section 5.3
// applies only to the payloads encrypted with Ke_i/Ke_r in revised public
// key encryption mode, not to message bodies.) Encrypt therefore appends
// zero bytes only when the plaintext is not already a block multiple, and
// Decrypt returns the plaintext with whatever padding the peer added: the
// payload chain's own lengths tell the parser where the payloads end, and
// trailing bytes after the last payload are padding to ignore, whatever
// their value (some implementations pad with the length-byte convention).
//
// Supported: AES-CBC (128/192/256-bit keys), 3DES-CBC and, to recognise
// and talk to very old peers, DES-CBC. A V1Cipher is stateless (the IV is
// passed in) and safe for concurrent use. It keeps its key and builds the
// block cipher per message: an AES key schedule is about 500 bytes, held
// by every idle ISAKMP SA otherwise, for a fraction of a microsecond per
// message.
type V1Cipher struct {
	id  uint16 // EncrAESCBC, Encr3DES or EncrDES
	bs  int    // block size
	key []byte
}

// NewV1Cipher returns the cipher for an IKEv2-numbered encryption
// transform (V1EncrToTransform maps the Oakley attribute) and its key
// (V1EncKey with V1EncrKeyLen bytes).
func NewV1Cipher(encr Transform, key []byte) (*V1Cipher, error) {
	need, err := V1EncrKeyLen(encr)
	if err != nil {
		return nil, err
	}
	if len(key) != need {
		return nil, fmt.Errorf("oakley: %s key is %d bytes, want %d", v1EncrName(encr), len(key), need)
	}
	c := &V1Cipher{id: encr.ID, key: append([]byte(nil), key...)}
	b, err := c.block() // checks the key now
	if err != nil {
		return nil, err
	}
	c.bs = b.BlockSize()
	return c, nil
}

// block builds the block cipher of c's key.
func (c *V1Cipher) block() (cipher.Block, error) {
	switch c.id {
	case EncrAESCBC:
		return aes.NewCipher(c.key)
	case Encr3DES:
		return des.NewTripleDESCipher(c.key)
	case EncrDES:
		return des.NewCipher(c.key)
	}
	// Unreachable: NewV1Cipher accepted only the three above.
	return nil, fmt.Errorf("%w: %s", ErrV1Unsupported, v1EncrName(Transform{Type: TransformENCR, ID: c.id}))
}

// mustBlock is block for a cipher NewV1Cipher made, whose key it checked.
func (c *V1Cipher) mustBlock() cipher.Block {
	b, err := c.block()
	if err != nil {
		panic("oakley: IKEv1 cipher: " + err.Error()) // NewV1Cipher checked the key
	}
	return b
}

// BlockSize returns the cipher's block size in bytes (16 for AES, 8 for
// 3DES and DES), which is also the IV length.
func (c *V1Cipher) BlockSize() int { return c.bs }

// Encrypt zero-pads plaintext to a multiple of the block size (no padding
// if it already is one; see V1Cipher) and CBC-encrypts it with iv. It
// returns the ciphertext and its last block, the IV of the next message of
// the exchange. plaintext and iv are not modified. iv must be BlockSize
// bytes long; anything else is a programming error and panics. An empty
// plaintext encrypts to an empty ciphertext and returns iv as nextIV.
func (c *V1Cipher) Encrypt(iv, plaintext []byte) (ct, nextIV []byte) {
	bs := c.bs
	if len(iv) != bs {
		panic(fmt.Sprintf("oakley: IKEv1 IV is %d bytes, want %d", len(iv), bs))
	}
	n := (len(plaintext) + bs - 1) / bs * bs
	ct = make([]byte, n)
	copy(ct, plaintext) // the tail stays zero: the padding
	if n == 0 {
		return ct, append([]byte(nil), iv...)
	}
	cipher.NewCBCEncrypter(c.mustBlock(), iv).CryptBlocks(ct, ct)
	return ct, append([]byte(nil), ct[n-bs:]...)
}

// Decrypt CBC-decrypts ct with iv and returns the plaintext (padding
// included; see V1Cipher) and the last ciphertext block, the IV of the next
// message. It returns an error, never panics, when ct is empty or not a
// multiple of the block size or iv has the wrong length. ct and iv are not
// modified.
func (c *V1Cipher) Decrypt(iv, ct []byte) (pt, nextIV []byte, err error) {
	bs := c.bs
	switch {
	case len(iv) != bs:
		return nil, nil, fmt.Errorf("%w: IV is %d bytes, want %d", ErrV1Malformed, len(iv), bs)
	case len(ct) == 0:
		return nil, nil, fmt.Errorf("%w: no encrypted data", ErrV1Malformed)
	case len(ct)%bs != 0:
		return nil, nil, fmt.Errorf("%w: %d bytes of ciphertext is not a multiple of the %d-byte block", ErrV1Malformed, len(ct), bs)
	}
	nextIV = append([]byte(nil), ct[len(ct)-bs:]...)
	pt = make([]byte, len(ct))
	cipher.NewCBCDecrypter(c.mustBlock(), iv).CryptBlocks(pt, ct)
	return pt, nextIV, nil
}
