package cluster

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
)

// sealer encrypts SA records at rest in etcd with the cluster's state key
// (AES-256-GCM, a random 96-bit nonce per write). The etcd key is the
// additional data, so that a record cannot be moved to another SA's or
// address's key unnoticed.
type sealer struct{ aead cipher.AEAD }

func newSealer(key []byte) (*sealer, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("cluster: state_key: %w", err)
	}
	a, err := cipher.NewGCM(b)
	if err != nil {
		return nil, fmt.Errorf("cluster: state_key: %w", err)
	}
	return &sealer{aead: a}, nil
}

// seal returns nonce || ciphertext of plain, bound to name.
func (s *sealer) seal(name string, plain []byte) []byte {
	ns := s.aead.NonceSize()
	out := make([]byte, ns, ns+len(plain)+s.aead.Overhead())
	if _, err := rand.Read(out); err != nil {
		panic(fmt.Sprintf("cluster: crypto/rand: %v", err)) // rand.Read never fails on Linux
	}
	return s.aead.Seal(out, out, plain, []byte(name))
}

// errOpen is the one error of open: wrong key, other name, or damage.
var errOpen = errors.New("cannot decrypt (another state_key, or the value was altered)")

// open reverses seal.
func (s *sealer) open(name string, sealed []byte) ([]byte, error) {
	ns := s.aead.NonceSize()
	if len(sealed) < ns+s.aead.Overhead() {
		return nil, errOpen
	}
	p, err := s.aead.Open(nil, sealed[:ns], sealed[ns:], []byte(name))
	if err != nil {
		return nil, errOpen
	}
	return p, nil
}
