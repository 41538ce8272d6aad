package oakley

import (
	"fmt"
	"io"
	"math/big"
	"sync"
)

// modpGroup holds the parameters of one MODP group (generator 2).
type modpGroup struct {
	id      uint16
	p       *big.Int
	pMinus1 *big.Int
	size    int // prime length in bytes: the KE data and g^ir length
	expLen  int // private exponent length in bytes
}

// modpExpBits is the private exponent length used for each group: at least
// twice the group's estimated security strength (NIST SP 800-56A rev. 3,
// 5.6.1.1.4, for safe-prime groups) and never below 256 bits. Short
// exponents keep the large groups usable; the groups are safe primes, so
// any exponent in [2, q) is sound.
var modpExpBits = map[uint16]int{
	MODP1024: 256, MODP1536: 256, MODP2048: 256, MODP3072: 256,
	MODP4096: 320, MODP6144: 384, MODP8192: 512,
}

var modpGroups = sync.OnceValue(func() map[uint16]*modpGroup {
	m := make(map[uint16]*modpGroup, len(modpPrimeHex))
	for id, h := range modpPrimeHex {
		p, ok := new(big.Int).SetString(h, 16)
		if !ok {
			panic(fmt.Sprintf("oakley: bad MODP prime for group %d", id))
		}
		m[id] = &modpGroup{
			id:      id,
			p:       p,
			pMinus1: new(big.Int).Sub(p, big.NewInt(1)),
			size:    (p.BitLen() + 7) / 8,
			expLen:  modpExpBits[id] / 8,
		}
	}
	return m
})

func modpGroupByID(id uint16) *modpGroup {
	if _, ok := modpPrimeHex[id]; !ok {
		return nil
	}
	return modpGroups()[id]
}

var bigTwo = big.NewInt(2)

type modpKE struct {
	g   *modpGroup
	x   *big.Int
	pub []byte
}

func newMODP(g *modpGroup, rand io.Reader) (*modpKE, error) {
	buf := make([]byte, g.expLen)
	for range 100 {
		if _, err := io.ReadFull(rand, buf); err != nil {
			return nil, fmt.Errorf("oakley: %s: reading random exponent: %w", groupName(g.id), err)
		}
		x := new(big.Int).SetBytes(buf)
		if x.Cmp(bigTwo) >= 0 {
			return newMODPFromExp(g, x), nil
		}
	}
	return nil, fmt.Errorf("oakley: %s: random source keeps returning exponents below 2", groupName(g.id))
}

func newMODPFromPrivate(g *modpGroup, priv []byte) (*modpKE, error) {
	x := new(big.Int).SetBytes(priv)
	if x.Cmp(bigTwo) < 0 || x.Cmp(g.pMinus1) >= 0 {
		return nil, fmt.Errorf("oakley: %s: private exponent out of range", groupName(g.id))
	}
	return newMODPFromExp(g, x), nil
}

func newMODPFromExp(g *modpGroup, x *big.Int) *modpKE {
	// math/big is not constant time; there is no exported constant-time
	// modular exponentiation in the standard library. x/crypto/ssh makes the
	// same choice for its MODP groups.
	y := new(big.Int).Exp(bigTwo, x, g.p)
	return &modpKE{g: g, x: x, pub: y.FillBytes(make([]byte, g.size))}
}

func (k *modpKE) Group() uint16 { return k.g.id }

func (k *modpKE) PublicKey() []byte { return append([]byte(nil), k.pub...) }

// SharedSecret checks the peer's value as RFC 6989 section 2.1 asks for
// safe-prime groups (exact length, 1 < y < p-1) and returns y^x mod p
// left-padded to the prime length.
func (k *modpKE) SharedSecret(peer []byte) ([]byte, error) {
	if len(peer) != k.g.size {
		return nil, invalidKE(k.g.id, "length %d, want %d", len(peer), k.g.size)
	}
	y := new(big.Int).SetBytes(peer)
	if y.Cmp(big.NewInt(1)) <= 0 || y.Cmp(k.g.pMinus1) >= 0 {
		return nil, invalidKE(k.g.id, "public value not in (1, p-1)")
	}
	z := new(big.Int).Exp(y, k.x, k.g.p)
	if z.Cmp(big.NewInt(1)) <= 0 {
		// Cannot happen for 1 < y < p-1 and 2 <= x < q; kept as a guard.
		return nil, invalidKE(k.g.id, "degenerate shared secret")
	}
	return z.FillBytes(make([]byte, k.g.size)), nil
}
