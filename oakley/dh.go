package oakley

import (
	"crypto/ecdh"
	crand "crypto/rand"
	"errors"
	"fmt"
	"io"
)

// KeyExchange is one party's half of a Diffie-Hellman exchange in one group:
// a private value and the public value that goes into the KE payload.
//
// A KeyExchange is safe for concurrent use once created; SharedSecret may be
// called more than once (for instance when a retransmitted message arrives).
type KeyExchange interface {
	// Group returns the IANA group number (Transform Type 4 ID).
	Group() uint16
	// PublicKey returns the Key Exchange Data of the KE payload: for MODP
	// groups g^x mod p left-padded to the prime length, for ECP groups
	// x || y without the SEC1 0x04 prefix (RFC 5903 section 7), for
	// Curve25519 the 32-byte u-coordinate (RFC 8031).
	PublicKey() []byte
	// SharedSecret validates the peer's Key Exchange Data and returns g^ir:
	// for MODP groups left-padded to the prime length, for ECP groups the
	// x coordinate of the shared point, for Curve25519 the X25519 output.
	SharedSecret(peer []byte) ([]byte, error)
}

// Errors returned by the key exchange functions. They are wrapped with the
// group's name and the reason, so test with errors.Is.
var (
	ErrUnsupportedGroup = errors.New("oakley: unsupported Diffie-Hellman group")
	ErrInvalidKEData    = errors.New("oakley: invalid peer key exchange data")
)

// supportedGroups is the list returned by SupportedGroups, in IANA order.
var supportedGroups = []uint16{
	MODP1024, MODP1536, MODP2048, MODP3072, MODP4096, MODP6144, MODP8192,
	ECP256, ECP384, ECP521, Curve25519,
}

// SupportedGroups returns the group numbers NewKeyExchange accepts, in
// ascending order. The caller owns the returned slice.
func SupportedGroups() []uint16 {
	return append([]uint16(nil), supportedGroups...)
}

// lenientPFSGroups is the list returned by LenientPFSGroups, in IANA order.
var lenientPFSGroups = []uint16{
	MODP2048, MODP3072, MODP4096, MODP6144, MODP8192, ECP256, ECP384, ECP521, Curve25519,
}

// LenientPFSGroups returns the DH groups a CHILD SA responder accepts for
// PFS on a connection whose ESP proposals name no group (policy pfs =
// "lenient"): the groups NewKeyExchange supports that RFC 8247 section 2.4
// does not advise against. MODP-1024 and MODP-1536 (SHOULD NOT there; MODP-768
// is not implemented at all) are used only where a configuration names
// them. The peer's order of preference decides among them. The caller owns
// the returned slice.
func LenientPFSGroups() []uint16 {
	return append([]uint16(nil), lenientPFSGroups...)
}

// KEDataLen returns the length of a group's Key Exchange Data (the public
// value in the KE payload) and whether the group is supported.
func KEDataLen(group uint16) (int, bool) {
	if g := modpGroupByID(group); g != nil {
		return g.size, true
	}
	if c, ok := ecpCurves[group]; ok {
		return 2 * c.coordLen, true
	}
	if group == Curve25519 {
		return 32, true
	}
	return 0, false
}

// NewKeyExchange creates a fresh private value for group, reading randomness
// from rand (crypto/rand.Reader if rand is nil). Randomness is always drawn
// from rand, even for the elliptic-curve groups (crypto/ecdh's GenerateKey
// ignores its reader since Go 1.26), so a deterministic reader gives
// deterministic keys in tests.
func NewKeyExchange(group uint16, rand io.Reader) (KeyExchange, error) {
	if rand == nil {
		rand = crand.Reader
	}
	if g := modpGroupByID(group); g != nil {
		return newMODP(g, rand)
	}
	if c, ok := ecpCurves[group]; ok {
		return newECP(group, c, rand)
	}
	if group == Curve25519 {
		return newX25519(rand)
	}
	return nil, fmt.Errorf("%w: %s", ErrUnsupportedGroup, groupName(group))
}

// newKeyExchangeFromPrivate builds a KeyExchange from a fixed private value,
// encoded as in the test vectors: a big-endian exponent for MODP groups, a
// big-endian scalar of the curve order's length for ECP groups, the 32-byte
// unclamped scalar for Curve25519. It exists for known-answer tests.
func newKeyExchangeFromPrivate(group uint16, priv []byte) (KeyExchange, error) {
	if g := modpGroupByID(group); g != nil {
		return newMODPFromPrivate(g, priv)
	}
	if c, ok := ecpCurves[group]; ok {
		k, err := c.curve.NewPrivateKey(priv)
		if err != nil {
			return nil, fmt.Errorf("oakley: %s: %w", groupName(group), err)
		}
		return newECPFromKey(group, c, k), nil
	}
	if group == Curve25519 {
		k, err := ecdh.X25519().NewPrivateKey(priv)
		if err != nil {
			return nil, fmt.Errorf("oakley: %s: %w", groupName(group), err)
		}
		return &x25519KE{priv: k, pub: k.PublicKey().Bytes()}, nil
	}
	return nil, fmt.Errorf("%w: %s", ErrUnsupportedGroup, groupName(group))
}

func groupName(group uint16) string {
	return Transform{Type: TransformDH, ID: group}.String()
}

func invalidKE(group uint16, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrInvalidKEData, groupName(group), fmt.Sprintf(format, args...))
}
