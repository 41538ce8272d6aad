package oakley

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"errors"
	"fmt"
	"hash"
)

// ErrUnsupportedPRF is returned (wrapped) by NewPRF for unknown PRF IDs.
var ErrUnsupportedPRF = errors.New("oakley: unsupported PRF")

// PRF is an IKE pseudorandom function (IANA Transform Type 2): HMAC with
// MD5, SHA-1 or SHA-2, or AES128-XCBC (RFC 4434). A PRF is stateless and
// safe for concurrent use.
type PRF struct {
	id      uint16
	newHash func() hash.Hash // nil for AES128-XCBC
	size    int
	keyLen  int
}

// prfs are the PRFs by IANA ID: a PRF is immutable, so one serves every
// SA (an SA holds a pointer, not a PRF of its own).
var prfs = map[uint16]*PRF{
	PRFHMACMD5:      {id: PRFHMACMD5, newHash: md5.New, size: md5.Size, keyLen: md5.Size},
	PRFHMACSHA1:     {id: PRFHMACSHA1, newHash: sha1.New, size: sha1.Size, keyLen: sha1.Size},
	PRFHMACSHA2_256: {id: PRFHMACSHA2_256, newHash: sha256.New, size: sha256.Size, keyLen: sha256.Size},
	PRFHMACSHA2_384: {id: PRFHMACSHA2_384, newHash: sha512.New384, size: sha512.Size384, keyLen: sha512.Size384},
	PRFHMACSHA2_512: {id: PRFHMACSHA2_512, newHash: sha512.New, size: sha512.Size, keyLen: sha512.Size},
	PRFAES128XCBC:   {id: PRFAES128XCBC, size: aes.BlockSize, keyLen: 16},
}

// NewPRF returns the PRF with the given IANA ID. PRFs are immutable and
// shared: the same pointer for every call with one ID.
func NewPRF(id uint16) (*PRF, error) {
	if p := prfs[id]; p != nil {
		return p, nil
	}
	return nil, fmt.Errorf("%w: %s", ErrUnsupportedPRF, Transform{Type: TransformPRF, ID: id})
}

// ID returns the PRF's IANA transform ID.
func (p *PRF) ID() uint16 { return p.id }

// Size returns the PRF output length in bytes.
func (p *PRF) Size() int { return p.size }

// KeyLen returns the PRF's preferred key length in bytes, the length of
// SK_d, SK_pi and SK_pr (RFC 7296 section 2.13): the output size for HMAC,
// 16 for AES128-XCBC.
func (p *PRF) KeyLen() int { return p.keyLen }

// Sum returns prf(key, data[0] | data[1] | ...). For AES128-XCBC a key that
// is not 16 bytes long is first normalised as RFC 4434 section 2 says:
// shorter keys are zero-padded, longer keys are replaced by
// AES-XCBC-PRF-128 of the key under the all-zero key.
func (p *PRF) Sum(key []byte, data ...[]byte) []byte {
	var m hash.Hash
	if p.newHash != nil {
		m = hmac.New(p.newHash, key)
	} else {
		m = newXCBC(xcbcPRFKey(key))
	}
	for _, d := range data {
		m.Write(d)
	}
	return m.Sum(nil)
}

// PRFPlus returns the first n bytes of prf+(key, seed) (RFC 7296 section
// 2.13): T1 | T2 | ... with T1 = prf(K, S | 0x01) and
// Tn = prf(K, T(n-1) | S | n). prf+ is defined for at most 255 blocks;
// asking for more is a programming error and panics.
func PRFPlus(p *PRF, key, seed []byte, n int) []byte {
	if n < 0 || n > 255*p.size {
		panic(fmt.Sprintf("oakley: prf+ of %d bytes exceeds 255 blocks of %s", n, Transform{Type: TransformPRF, ID: p.id}))
	}
	out := make([]byte, 0, n+p.size)
	var t []byte
	for i := 1; len(out) < n; i++ {
		t = p.Sum(key, t, seed, []byte{byte(i)})
		out = append(out, t...)
	}
	return out[:n:n]
}

// xcbcPRFKey normalises a PRF_AES128_XCBC key (RFC 4434 section 2).
func xcbcPRFKey(key []byte) []byte {
	switch {
	case len(key) == 16:
		return key
	case len(key) < 16:
		k := make([]byte, 16)
		copy(k, key)
		return k
	default:
		m := newXCBC(make([]byte, 16))
		m.Write(key)
		return m.Sum(nil)
	}
}

// xcbc is AES-XCBC-MAC-128 (RFC 3566) as a hash.Hash. The standard library
// and x/crypto do not provide this CBC-MAC variant, so it is built here on
// crypto/aes; the key must be 16 bytes.
type xcbc struct {
	k1     cipher.Block
	k2, k3 [aes.BlockSize]byte
	e      [aes.BlockSize]byte // chaining value
	buf    [aes.BlockSize]byte // pending (possibly final) block
	nbuf   int
}

func newXCBC(key []byte) *xcbc {
	k, err := aes.NewCipher(key)
	if err != nil {
		panic("oakley: AES-XCBC key must be 16 bytes")
	}
	x := new(xcbc)
	var c [aes.BlockSize]byte
	for i := range c {
		c[i] = 0x01
	}
	var k1 [aes.BlockSize]byte
	k.Encrypt(k1[:], c[:])
	for i := range c {
		c[i] = 0x02
	}
	k.Encrypt(x.k2[:], c[:])
	for i := range c {
		c[i] = 0x03
	}
	k.Encrypt(x.k3[:], c[:])
	x.k1, _ = aes.NewCipher(k1[:])
	return x
}

func (x *xcbc) Size() int      { return aes.BlockSize }
func (x *xcbc) BlockSize() int { return aes.BlockSize }

func (x *xcbc) Reset() {
	clear(x.e[:])
	x.nbuf = 0
}

// Write processes every full block except the last one, which is kept in
// buf because its treatment depends on whether more data follows.
func (x *xcbc) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		if x.nbuf == aes.BlockSize {
			subtle.XORBytes(x.e[:], x.e[:], x.buf[:])
			x.k1.Encrypt(x.e[:], x.e[:])
			x.nbuf = 0
		}
		c := copy(x.buf[x.nbuf:], p)
		x.nbuf += c
		p = p[c:]
	}
	return n, nil
}

func (x *xcbc) Sum(in []byte) []byte {
	var last [aes.BlockSize]byte
	copy(last[:], x.buf[:x.nbuf])
	if x.nbuf == aes.BlockSize {
		subtle.XORBytes(last[:], last[:], x.k2[:])
	} else {
		last[x.nbuf] = 0x80
		subtle.XORBytes(last[:], last[:], x.k3[:])
	}
	subtle.XORBytes(last[:], last[:], x.e[:])
	x.k1.Encrypt(last[:], last[:])
	return append(in, last[:]...)
}
