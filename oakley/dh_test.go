package oakley

import (
	"bytes"
	crand "crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"testing"
)

// dhVectors checks a file of two-party vectors: each side, built from its
// private value, must encode the published public value and derive the
// shared secret from the other side's public value.
func dhVectors(t *testing.T, file string) {
	var ran int
	for _, v := range loadVectors(t, file) {
		group := uint16(v.num("ike_group"))
		t.Run(v.id(), func(t *testing.T) {
			if _, ok := KEDataLen(group); !ok {
				// Brainpool and RFC 5114 groups are not supported.
				if _, err := NewKeyExchange(group, nil); !errors.Is(err, ErrUnsupportedGroup) {
					t.Errorf("group %d: error %v, want ErrUnsupportedGroup", group, err)
				}
				return // the unsupported group is refused as it should be
			}
			ran++
			shared := v.hex(t, "shared_secret")
			for _, side := range [][2]string{{"i", "r"}, {"r", "i"}} {
				k, err := newKeyExchangeFromPrivate(group, v.hex(t, "private_"+side[0]))
				if err != nil {
					t.Fatal(err)
				}
				if k.Group() != group {
					t.Errorf("Group() = %d", k.Group())
				}
				pub := v.hex(t, "public_"+side[0])
				checkEqual(t, "public_"+side[0], k.PublicKey(), pub)
				if n, _ := KEDataLen(group); n != len(pub) {
					t.Errorf("KEDataLen = %d, want %d", n, len(pub))
				}
				s, err := k.SharedSecret(v.hex(t, "public_"+side[1]))
				if err != nil {
					t.Fatal(err)
				}
				checkEqual(t, "shared secret ("+side[0]+")", s, shared)
			}
		})
	}
	if ran == 0 {
		t.Errorf("%s: no supported vectors", file)
	}
}

func TestECPVectors(t *testing.T) { dhVectors(t, "ecp_dh.json") }

func TestX25519Vectors(t *testing.T) { dhVectors(t, "x25519.json") }

func TestKeyExchangeAgreement(t *testing.T) {
	for _, g := range SupportedGroups() {
		t.Run(groupName(g), func(t *testing.T) {
			a, err := NewKeyExchange(g, nil)
			if err != nil {
				t.Fatal(err)
			}
			b, err := NewKeyExchange(g, crand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			n, ok := KEDataLen(g)
			if !ok || len(a.PublicKey()) != n || len(b.PublicKey()) != n {
				t.Fatalf("KEDataLen %d %v, public keys %d and %d bytes", n, ok, len(a.PublicKey()), len(b.PublicKey()))
			}
			if bytes.Equal(a.PublicKey(), b.PublicKey()) {
				t.Fatal("two fresh keys have the same public value")
			}
			sa, err := a.SharedSecret(b.PublicKey())
			if err != nil {
				t.Fatal(err)
			}
			sb, err := b.SharedSecret(a.PublicKey())
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(sa, sb) {
				t.Fatalf("secrets differ:\n%x\n%x", sa, sb)
			}
			wantLen := n
			if _, ecp := ecpCurves[g]; ecp {
				wantLen = n / 2
			}
			if len(sa) != wantLen {
				t.Errorf("shared secret is %d bytes, want %d", len(sa), wantLen)
			}
			// PublicKey returns a copy.
			a.PublicKey()[0] ^= 0xff
			if s2, _ := b.SharedSecret(a.PublicKey()); !bytes.Equal(s2, sa) {
				t.Error("PublicKey exposes internal state")
			}
		})
	}
}

// TestKeyExchangeDeterministic checks that the injected reader is the only
// source of randomness, for every group.
func TestKeyExchangeDeterministic(t *testing.T) {
	for _, g := range SupportedGroups() {
		a, err := NewKeyExchange(g, &countingReader{n: 7})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := NewKeyExchange(g, &countingReader{n: 7})
		if !bytes.Equal(a.PublicKey(), b.PublicKey()) {
			t.Errorf("%s: same reader, different keys", groupName(g))
		}
		if _, err := NewKeyExchange(g, &fixedReader{b: []byte{1, 2, 3}}); err == nil {
			t.Errorf("%s: short random source not reported", groupName(g))
		}
	}
}

func TestMODPRejects(t *testing.T) {
	for _, g := range []uint16{MODP1024, MODP1536, MODP2048, MODP3072, MODP4096, MODP6144, MODP8192} {
		t.Run(groupName(g), func(t *testing.T) {
			k, err := NewKeyExchange(g, nil)
			if err != nil {
				t.Fatal(err)
			}
			grp := modpGroupByID(g)
			enc := func(x *big.Int) []byte { return x.FillBytes(make([]byte, grp.size)) }
			pPlus1 := new(big.Int).Add(grp.p, big.NewInt(1))
			ones := bytes.Repeat([]byte{0xff}, grp.size)
			bad := map[string][]byte{
				"zero":      enc(big.NewInt(0)),
				"one":       enc(big.NewInt(1)),
				"p-1":       enc(grp.pMinus1),
				"p":         enc(grp.p),
				"p+1":       enc(pPlus1),
				"all-ones":  ones,
				"too long":  append([]byte{0}, k.PublicKey()...),
				"too short": k.PublicKey()[1:],
				"empty":     nil,
			}
			for name, peer := range bad {
				if _, err := k.SharedSecret(peer); !errors.Is(err, ErrInvalidKEData) {
					t.Errorf("%s: error %v, want ErrInvalidKEData", name, err)
				}
			}
			// The smallest and largest valid values are accepted, and g^ir
			// keeps its leading zero bytes.
			for _, y := range []*big.Int{big.NewInt(2), new(big.Int).Sub(grp.pMinus1, big.NewInt(1))} {
				s, err := k.SharedSecret(enc(y))
				if err != nil || len(s) != grp.size {
					t.Errorf("y=%v...: %d bytes, %v", y.Text(16)[:4], len(s), err)
				}
			}
		})
	}
}

func TestMODPSharedSecretPadding(t *testing.T) {
	// Find a private exponent whose shared secret with y=2 has a leading
	// zero byte, then check it is kept.
	grp := modpGroupByID(MODP1024)
	for x := int64(2); x < 5000; x++ {
		k, err := newKeyExchangeFromPrivate(MODP1024, big.NewInt(x).Bytes())
		if err != nil {
			t.Fatal(err)
		}
		z := new(big.Int).Exp(big.NewInt(2), big.NewInt(x), grp.p)
		if z.BitLen() > 8*grp.size-8 {
			continue
		}
		s, err := k.SharedSecret(big.NewInt(2).FillBytes(make([]byte, grp.size)))
		if err != nil {
			t.Fatal(err)
		}
		if len(s) != grp.size || s[0] != 0 {
			t.Fatalf("x=%d: %d bytes, first %#x", x, len(s), s[0])
		}
		checkEqual(t, "g^x", s, z.FillBytes(make([]byte, grp.size)))
		return
	}
	t.Fatal("no exponent with a short result found: the test no longer exercises left-padding")
}

func TestECPRejects(t *testing.T) {
	for _, g := range []uint16{ECP256, ECP384, ECP521} {
		t.Run(groupName(g), func(t *testing.T) {
			k, _ := NewKeyExchange(g, nil)
			peer, _ := NewKeyExchange(g, nil)
			pub := peer.PublicKey()
			offCurve := append([]byte(nil), pub...)
			offCurve[len(offCurve)-1] ^= 1
			bad := map[string][]byte{
				"off curve":      offCurve,
				"zero point":     make([]byte, len(pub)),
				"with 04 prefix": append([]byte{4}, pub...),
				"x only":         pub[:len(pub)/2],
				"too short":      pub[1:],
				"empty":          nil,
			}
			for name, b := range bad {
				if _, err := k.SharedSecret(b); !errors.Is(err, ErrInvalidKEData) {
					t.Errorf("%s: error %v, want ErrInvalidKEData", name, err)
				}
			}
		})
	}
}

func TestX25519Rejects(t *testing.T) {
	k, _ := NewKeyExchange(Curve25519, nil)
	one := make([]byte, 32)
	one[0] = 1
	// u = 1 and u = 0 are points of small order: X25519 gives all zeros.
	bad := map[string][]byte{
		"zero":      make([]byte, 32),
		"one":       one,
		"too short": make([]byte, 31),
		"too long":  make([]byte, 33),
	}
	for name, b := range bad {
		if _, err := k.SharedSecret(b); !errors.Is(err, ErrInvalidKEData) {
			t.Errorf("%s: error %v, want ErrInvalidKEData", name, err)
		}
	}
}

func TestUnsupportedGroup(t *testing.T) {
	for _, g := range []uint16{0, 1, 22, 24, 25, 26, 28, 32, 9999} {
		if _, err := NewKeyExchange(g, nil); !errors.Is(err, ErrUnsupportedGroup) {
			t.Errorf("group %d: %v", g, err)
		}
		if _, ok := KEDataLen(g); ok {
			t.Errorf("KEDataLen(%d) ok", g)
		}
	}
	want := []uint16{2, 5, 14, 15, 16, 17, 18, 19, 20, 21, 31}
	if got := SupportedGroups(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("SupportedGroups() = %v, want %v", got, want)
	}
	lens := map[uint16]int{2: 128, 5: 192, 14: 256, 15: 384, 16: 512, 17: 768, 18: 1024, 19: 64, 20: 96, 21: 132, 31: 32}
	for g, n := range lens {
		if got, ok := KEDataLen(g); !ok || got != n {
			t.Errorf("KEDataLen(%d) = %d, %v; want %d", g, got, ok, n)
		}
	}
}

// piTimes2ToThe returns floor(pi * 2^bits), computed with Machin's formula
// pi = 16 atan(1/5) - 4 atan(1/239) and 64 guard bits.
func piTimes2ToThe(bits uint) *big.Int {
	one := new(big.Int).Lsh(big.NewInt(1), bits+64)
	atanInv := func(x int64) *big.Int {
		sum := new(big.Int).Div(one, big.NewInt(x))
		term := new(big.Int).Set(sum)
		x2 := big.NewInt(x * x)
		for n := int64(1); term.Sign() != 0; n++ {
			term.Div(term, x2)
			t := new(big.Int).Div(term, big.NewInt(2*n+1))
			if n%2 == 1 {
				sum.Sub(sum, t)
			} else {
				sum.Add(sum, t)
			}
		}
		return sum
	}
	pi := new(big.Int).Mul(atanInv(5), big.NewInt(16))
	pi.Sub(pi, new(big.Int).Mul(atanInv(239), big.NewInt(4)))
	return pi.Rsh(pi, 64)
}

// TestMODPPrimesFromPi recomputes every prime with the RFC 2409/3526
// formula p = 2^n - 2^(n-64) - 1 + 2^64 * (floor(2^(n-130) pi) + k).
func TestMODPPrimesFromPi(t *testing.T) {
	offsets := map[uint16]struct {
		bits uint
		k    int64
	}{
		MODP1024: {1024, 129093}, MODP1536: {1536, 741804}, MODP2048: {2048, 124476},
		MODP3072: {3072, 1690314}, MODP4096: {4096, 240904}, MODP6144: {6144, 929484},
		MODP8192: {8192, 4743158},
	}
	pi := piTimes2ToThe(8192 - 130)
	for g, o := range offsets {
		p := new(big.Int).Rsh(pi, 8192-o.bits)
		p.Add(p, big.NewInt(o.k))
		p.Lsh(p, 64)
		p.Add(p, new(big.Int).Lsh(big.NewInt(1), o.bits))
		p.Sub(p, new(big.Int).Lsh(big.NewInt(1), o.bits-64))
		p.Sub(p, big.NewInt(1))
		if got := modpGroupByID(g).p; got.Cmp(p) != 0 {
			t.Errorf("%s: prime does not match the formula", groupName(g))
		}
	}
}

func TestMODPPrimesAreSafe(t *testing.T) {
	for _, g := range []uint16{MODP1024, MODP1536, MODP2048, MODP3072, MODP4096, MODP6144, MODP8192} {
		grp := modpGroupByID(g)
		if testing.Short() && grp.size > 512 {
			continue
		}
		q := new(big.Int).Rsh(grp.p, 1)
		if !grp.p.ProbablyPrime(0) || !q.ProbablyPrime(0) { // Baillie-PSW
			t.Errorf("%s: p or (p-1)/2 is not prime", groupName(g))
		}
	}
}

func BenchmarkKeyExchange(b *testing.B) {
	for _, g := range SupportedGroups() {
		b.Run(groupName(g), func(b *testing.B) {
			peer, err := NewKeyExchange(g, nil)
			if err != nil {
				b.Fatal(err)
			}
			pub := peer.PublicKey()
			for b.Loop() {
				k, err := NewKeyExchange(g, nil)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := k.SharedSecret(pub); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
