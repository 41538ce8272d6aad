package oakley

import (
	"crypto/ecdh"
	"fmt"
	"io"
)

// ecpCurve describes one NIST ECP group (RFC 5903).
type ecpCurve struct {
	curve     ecdh.Curve
	coordLen  int  // field element length in bytes
	scalarLen int  // private scalar length in bytes
	topMask   byte // mask for the first scalar byte when sampling
}

var ecpCurves = map[uint16]ecpCurve{
	ECP256: {curve: ecdh.P256(), coordLen: 32, scalarLen: 32, topMask: 0xff},
	ECP384: {curve: ecdh.P384(), coordLen: 48, scalarLen: 48, topMask: 0xff},
	ECP521: {curve: ecdh.P521(), coordLen: 66, scalarLen: 66, topMask: 0x01},
}

type ecpKE struct {
	group uint16
	c     ecpCurve
	priv  *ecdh.PrivateKey
	pub   []byte // x || y
}

// newECP samples a private scalar from rand by rejection (crypto/ecdh's
// NewPrivateKey rejects zero and values not below the group order).
func newECP(group uint16, c ecpCurve, rand io.Reader) (*ecpKE, error) {
	buf := make([]byte, c.scalarLen)
	for range 100 {
		if _, err := io.ReadFull(rand, buf); err != nil {
			return nil, fmt.Errorf("oakley: %s: reading random scalar: %w", groupName(group), err)
		}
		buf[0] &= c.topMask
		if k, err := c.curve.NewPrivateKey(buf); err == nil {
			clear(buf)
			return newECPFromKey(group, c, k), nil
		}
	}
	return nil, fmt.Errorf("oakley: %s: random source keeps returning invalid scalars", groupName(group))
}

func newECPFromKey(group uint16, c ecpCurve, k *ecdh.PrivateKey) *ecpKE {
	// PublicKey().Bytes() is the SEC1 uncompressed point 0x04 || x || y.
	return &ecpKE{group: group, c: c, priv: k, pub: k.PublicKey().Bytes()[1:]}
}

func (k *ecpKE) Group() uint16 { return k.group }

func (k *ecpKE) PublicKey() []byte { return append([]byte(nil), k.pub...) }

// SharedSecret checks the length of the peer's x || y, lets crypto/ecdh
// check that the point is on the curve, and returns the x coordinate of the
// shared point (RFC 5903 section 7).
func (k *ecpKE) SharedSecret(peer []byte) ([]byte, error) {
	if len(peer) != 2*k.c.coordLen {
		return nil, invalidKE(k.group, "length %d, want %d", len(peer), 2*k.c.coordLen)
	}
	sec1 := make([]byte, 1+len(peer))
	sec1[0] = 4
	copy(sec1[1:], peer)
	pk, err := k.c.curve.NewPublicKey(sec1)
	if err != nil {
		return nil, invalidKE(k.group, "point not on curve")
	}
	s, err := k.priv.ECDH(pk)
	if err != nil {
		return nil, invalidKE(k.group, "%v", err)
	}
	return s, nil
}

type x25519KE struct {
	priv *ecdh.PrivateKey
	pub  []byte
}

func newX25519(rand io.Reader) (*x25519KE, error) {
	buf := make([]byte, 32)
	if _, err := io.ReadFull(rand, buf); err != nil {
		return nil, fmt.Errorf("oakley: %s: reading random scalar: %w", groupName(Curve25519), err)
	}
	k, err := ecdh.X25519().NewPrivateKey(buf)
	clear(buf)
	if err != nil {
		return nil, fmt.Errorf("oakley: %s: %w", groupName(Curve25519), err)
	}
	return &x25519KE{priv: k, pub: k.PublicKey().Bytes()}, nil
}

func (k *x25519KE) Group() uint16 { return Curve25519 }

func (k *x25519KE) PublicKey() []byte { return append([]byte(nil), k.pub...) }

// SharedSecret checks the length and rejects peers that force an all-zero
// output (RFC 8031 section 2.1; crypto/ecdh returns an error for them).
func (k *x25519KE) SharedSecret(peer []byte) ([]byte, error) {
	if len(peer) != 32 {
		return nil, invalidKE(Curve25519, "length %d, want 32", len(peer))
	}
	pk, err := ecdh.X25519().NewPublicKey(peer)
	if err != nil {
		return nil, invalidKE(Curve25519, "%v", err)
	}
	s, err := k.priv.ECDH(pk)
	if err != nil {
		return nil, invalidKE(Curve25519, "low-order public value (all-zero shared secret)")
	}
	return s, nil
}
