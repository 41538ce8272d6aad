package oakley

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"fmt"
	"hash"
)

// ErrUnsupportedInteg is returned (wrapped) for unknown integrity IDs.
var ErrUnsupportedInteg = errors.New("oakley: unsupported integrity algorithm")

// integSpec describes an integrity algorithm (IANA Transform Type 3).
type integSpec struct {
	newHash func() hash.Hash // HMAC hash; nil for AES-XCBC-96 and NONE
	keyLen  int
	icvLen  int
}

var integSpecs = map[uint16]integSpec{
	IntegNone:         {},
	IntegHMACMD5_96:   {newHash: md5.New, keyLen: 16, icvLen: 12},  // RFC 2403
	IntegHMACSHA1_96:  {newHash: sha1.New, keyLen: 20, icvLen: 12}, // RFC 2404
	IntegAESXCBC96:    {keyLen: 16, icvLen: 12},                    // RFC 3566
	IntegHMACSHA2_256: {newHash: sha256.New, keyLen: 32, icvLen: 16},
	IntegHMACSHA2_384: {newHash: sha512.New384, keyLen: 48, icvLen: 24},
	IntegHMACSHA2_512: {newHash: sha512.New, keyLen: 64, icvLen: 32}, // RFC 4868
}

func integSpecByID(id uint16) (integSpec, error) {
	s, ok := integSpecs[id]
	if !ok {
		return integSpec{}, fmt.Errorf("%w: %s", ErrUnsupportedInteg, Transform{Type: TransformINTEG, ID: id})
	}
	return s, nil
}

// IntegKeyLen returns the key length in bytes of an integrity algorithm
// (SK_ai / SK_ar length); 0 for NONE.
func IntegKeyLen(id uint16) (int, error) {
	s, err := integSpecByID(id)
	return s.keyLen, err
}

// IntegICVLen returns the length in bytes of the (truncated) ICV an
// integrity algorithm produces; 0 for NONE.
func IntegICVLen(id uint16) (int, error) {
	s, err := integSpecByID(id)
	return s.icvLen, err
}

// integMAC computes truncated ICVs with a fixed key. It is safe for
// concurrent use: every call works on its own hash state.
type integMAC struct {
	id       uint16
	icvLen   int
	template hash.Hash // keyed HMAC, cloned per call when the hash allows
	newHash  func() hash.Hash
	key      []byte
	xcbc     *xcbc // keyed AES-XCBC, copied per call
}

func newIntegMAC(id uint16, key []byte) (*integMAC, error) {
	s, err := integSpecByID(id)
	if err != nil {
		return nil, err
	}
	if id == IntegNone {
		return nil, fmt.Errorf("%w: NONE cannot protect a message", ErrUnsupportedInteg)
	}
	if len(key) != s.keyLen {
		return nil, fmt.Errorf("oakley: %s key is %d bytes, want %d", Transform{Type: TransformINTEG, ID: id}, len(key), s.keyLen)
	}
	m := &integMAC{id: id, icvLen: s.icvLen}
	if s.newHash == nil {
		m.xcbc = newXCBC(key)
		return m, nil
	}
	m.newHash = s.newHash
	m.key = append([]byte(nil), key...)
	t := hmac.New(s.newHash, m.key)
	t.Reset() // precomputes the padded-key states
	if _, ok := t.(hash.Cloner); ok {
		m.template = t
	}
	return m, nil
}

func (m *integMAC) newState() hash.Hash {
	if m.xcbc != nil {
		x := *m.xcbc
		return &x
	}
	if m.template != nil {
		if c, err := m.template.(hash.Cloner).Clone(); err == nil {
			return c
		}
	}
	return hmac.New(m.newHash, m.key)
}

// icv returns the truncated MAC of the concatenated parts.
func (m *integMAC) icv(parts ...[]byte) []byte {
	h := m.newState()
	for _, p := range parts {
		h.Write(p)
	}
	return h.Sum(nil)[:m.icvLen]
}
