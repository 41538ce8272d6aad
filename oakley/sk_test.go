package oakley

import (
	"bytes"
	"crypto/cipher"
	"errors"
	"fmt"
	"testing"
)

type skCase struct {
	name  string
	encr  Transform
	integ uint16
}

var skIntegs = []uint16{IntegHMACMD5_96, IntegHMACSHA1_96, IntegAESXCBC96, IntegHMACSHA2_256, IntegHMACSHA2_384, IntegHMACSHA2_512}

// skCases lists every encryption/integrity combination NewSKCipher takes.
func skCases() []skCase {
	var cs []skCase
	add := func(encr Transform, integ uint16) {
		name := encr.String()
		if integ != IntegNone {
			name += "/" + Transform{Type: TransformINTEG, ID: integ}.String()
		}
		cs = append(cs, skCase{name, encr, integ})
	}
	for _, bits := range []uint16{128, 192, 256} {
		for _, integ := range skIntegs {
			add(Transform{TransformENCR, EncrAESCBC, bits}, integ)
			add(Transform{TransformENCR, EncrAESCTR, bits}, integ)
		}
		for _, id := range []uint16{EncrAESGCM8, EncrAESGCM12, EncrAESGCM16} {
			add(Transform{TransformENCR, id, bits}, IntegNone)
		}
	}
	for _, integ := range skIntegs {
		add(Transform{TransformENCR, Encr3DES, 0}, integ)
	}
	add(Transform{TransformENCR, EncrChaCha20Poly1305, 0}, IntegNone)
	return cs
}

// newTestSK builds the cipher with keys derived from seed, so that two
// calls with the same seed give interoperating ciphers.
func newTestSK(t testing.TB, c skCase, seed byte) SKCipher {
	t.Helper()
	ek, err := EncrKeyLen(c.encr)
	if err != nil {
		t.Fatal(err)
	}
	ik, err := IntegKeyLen(c.integ)
	if err != nil {
		t.Fatal(err)
	}
	r := &countingReader{n: seed}
	enc, integ := make([]byte, ek), make([]byte, ik)
	r.Read(enc)
	r.Read(integ)
	if ik == 0 {
		integ = nil
	}
	sk, err := NewSKCipher(c.encr, c.integ, enc, integ)
	if err != nil {
		t.Fatalf("%s: %v", c.name, err)
	}
	return sk
}

func TestSKRoundTrip(t *testing.T) {
	for _, c := range skCases() {
		t.Run(c.name, func(t *testing.T) {
			sender, receiver := newTestSK(t, c, 1), newTestSK(t, c, 1)
			other := newTestSK(t, c, 2)
			for _, n := range []int{0, 1, 7, 8, 15, 16, 17, 31, 32, 100, 1024} {
				pt := bytes.Repeat([]byte{byte(n)}, n)
				aad := []byte(fmt.Sprintf("IKE header and SK header for %d", n))
				body, err := sender.Seal(aad, pt, nil)
				if err != nil {
					t.Fatal(err)
				}
				if len(body) != sender.BodyLen(n) {
					t.Fatalf("n=%d: body %d bytes, BodyLen %d", n, len(body), sender.BodyLen(n))
				}
				keep := append([]byte(nil), body...)
				got, err := receiver.Open(aad, body)
				if err != nil {
					t.Fatalf("n=%d: %v", n, err)
				}
				if !bytes.Equal(got, pt) {
					t.Fatalf("n=%d: got %x", n, got)
				}
				if !bytes.Equal(body, keep) {
					t.Fatal("Open modified the body")
				}
				if _, err := other.Open(aad, body); !errors.Is(err, ErrSKAuthFailed) {
					t.Errorf("n=%d: wrong key: %v", n, err)
				}
				if _, err := receiver.Open(aad[1:], body); !errors.Is(err, ErrSKAuthFailed) {
					t.Errorf("n=%d: wrong aad: %v", n, err)
				}
				// Two seals of one plaintext use different IVs.
				body2, _ := sender.Seal(aad, pt, nil)
				if bytes.Equal(body, body2) {
					t.Errorf("n=%d: two seals are identical", n)
				}
			}
		})
	}
}

// TestSKTamper flips every bit of the body and the AAD, and tries every
// truncation and an extension, for a short message of each combination.
func TestSKTamper(t *testing.T) {
	for _, c := range skCases() {
		t.Run(c.name, func(t *testing.T) {
			sk := newTestSK(t, c, 3)
			aad := []byte("0123456789abcdef0123456789ab\x2e\x00\x00\x30")
			pt := []byte("notify payload")
			body, err := sk.Seal(aad, pt, nil)
			if err != nil {
				t.Fatal(err)
			}
			for i := range 8 * len(body) {
				b := append([]byte(nil), body...)
				b[i/8] ^= 1 << (i % 8)
				if got, err := sk.Open(aad, b); err == nil {
					t.Fatalf("body bit %d flipped: Open returned %x", i, got)
				}
			}
			for i := range 8 * len(aad) {
				a := append([]byte(nil), aad...)
				a[i/8] ^= 1 << (i % 8)
				if _, err := sk.Open(a, body); err == nil {
					t.Fatalf("aad bit %d flipped: Open succeeded", i)
				}
			}
			for n := range len(body) {
				if _, err := sk.Open(aad, body[:n]); err == nil {
					t.Fatalf("truncated to %d: Open succeeded", n)
				}
				if _, err := sk.Open(aad, body[len(body)-n:]); err == nil {
					t.Fatalf("front-truncated to %d: Open succeeded", n)
				}
			}
			if _, err := sk.Open(aad, append(append([]byte(nil), body...), 0)); err == nil {
				t.Fatal("extended body: Open succeeded")
			}
		})
	}
}

// TestSKPeerPadding checks that Open accepts what other implementations
// send: non-zero padding content and more padding than needed (CBC), and
// padding on stream and AEAD ciphers.
func TestSKPeerPadding(t *testing.T) {
	pt := []byte("hello")
	aad := []byte("hdr")
	padded := func(pad int) []byte {
		b := append([]byte(nil), pt...)
		for i := range pad {
			b = append(b, byte(0xa0+i))
		}
		return append(b, byte(pad))
	}
	// AES-CBC: 5 + 26 + 1 = 32 bytes, two blocks.
	cbc := newTestSK(t, skCase{encr: Transform{TransformENCR, EncrAESCBC, 128}, integ: IntegHMACSHA1_96}, 9).(*cbcSK)
	iv := make([]byte, 16)
	inner := padded(26)
	ct := make([]byte, len(inner))
	cipher.NewCBCEncrypter(cbc.block, iv).CryptBlocks(ct, inner)
	body := append(iv, ct...)
	body = append(body, cbc.mac.icv(aad, body)...)
	if got, err := cbc.Open(aad, body); err != nil || !bytes.Equal(got, pt) {
		t.Errorf("CBC: %q, %v", got, err)
	}
	// Pad length larger than the plaintext: authenticated but malformed.
	inner = append(make([]byte, 15), 200)
	ct = make([]byte, 16)
	cipher.NewCBCEncrypter(cbc.block, iv).CryptBlocks(ct, inner)
	body = append(append([]byte(nil), iv...), ct...)
	body = append(body, cbc.mac.icv(aad, body)...)
	if _, err := cbc.Open(aad, body); !errors.Is(err, ErrSKMalformed) {
		t.Errorf("CBC pad length 200: %v, want ErrSKMalformed", err)
	}

	// ChaCha20-Poly1305 with 3 bytes of padding.
	a := newTestSK(t, skCase{encr: Transform{TransformENCR, EncrChaCha20Poly1305, 0}}, 9).(*aeadSK)
	aead, err := a.aead()
	if err != nil {
		t.Fatal(err)
	}
	iv8 := []byte("12345678")
	body = append(append([]byte(nil), iv8...), aead.Seal(nil, a.nonce(iv8), padded(3), aad)...)
	if got, err := a.Open(aad, body); err != nil || !bytes.Equal(got, pt) {
		t.Errorf("ChaCha20-Poly1305: %q, %v", got, err)
	}
	// An empty ciphertext has no pad length byte.
	body = append(append([]byte(nil), iv8...), aead.Seal(nil, a.nonce(iv8), nil, aad)...)
	if _, err := a.Open(aad, body); !errors.Is(err, ErrSKMalformed) {
		t.Errorf("empty AEAD plaintext: %v, want ErrSKMalformed", err)
	}
}

func TestNewSKCipherErrors(t *testing.T) {
	cbc128 := Transform{TransformENCR, EncrAESCBC, 128}
	gcm := Transform{TransformENCR, EncrAESGCM16, 128}
	tests := []struct {
		name     string
		encr     Transform
		integ    uint16
		enc, mac int
	}{
		{"short AES key", cbc128, IntegHMACSHA2_256, 15, 32},
		{"long AES key", cbc128, IntegHMACSHA2_256, 17, 32},
		{"GCM key without salt", gcm, IntegNone, 16, 0},
		{"AEAD with integrity", gcm, IntegHMACSHA2_256, 20, 32},
		{"AEAD with integrity key", gcm, IntegNone, 20, 16},
		{"CBC without integrity", cbc128, IntegNone, 16, 0},
		{"short integrity key", cbc128, IntegHMACSHA2_256, 16, 31},
		{"long XCBC key", cbc128, IntegAESXCBC96, 16, 17},
		{"unknown integrity", cbc128, 4, 16, 16},
		{"ENCR_NULL", Transform{TransformENCR, EncrNULL, 0}, IntegHMACSHA1_96, 0, 20},
		{"AES without key length", Transform{TransformENCR, EncrAESCBC, 0}, IntegHMACSHA1_96, 16, 20},
		{"unknown cipher", Transform{TransformENCR, 99, 0}, IntegHMACSHA1_96, 16, 20},
		{"3DES short key", Transform{TransformENCR, Encr3DES, 0}, IntegHMACSHA1_96, 16, 20},
	}
	for _, tc := range tests {
		if _, err := NewSKCipher(tc.encr, tc.integ, make([]byte, tc.enc), make([]byte, tc.mac)); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
}

func TestSKSealRandError(t *testing.T) {
	for _, c := range skCases() {
		sk := newTestSK(t, c, 1)
		if _, err := sk.Seal(nil, []byte("x"), &fixedReader{b: []byte{1}}); err == nil {
			t.Errorf("%s: short IV source not reported", c.name)
		}
	}
}

// FuzzSKOpen feeds arbitrary bodies and AADs to every cipher: Open must
// return an error, never panic (and never succeed on a forgery).
func FuzzSKOpen(f *testing.F) {
	cases := skCases()
	sks := make([]SKCipher, len(cases))
	for i, c := range cases {
		sks[i] = newTestSK(f, c, 5)
	}
	aad := []byte("fuzz aad")
	for i, sk := range sks {
		body, err := sk.Seal(aad, []byte("seed plaintext"), nil)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(i), aad, body)
		f.Add(uint8(i), aad, body[:len(body)/2])
		f.Add(uint8(i), []byte(nil), []byte{})
	}
	f.Fuzz(func(t *testing.T, sel uint8, aad, body []byte) {
		sk := sks[int(sel)%len(sks)]
		pt, err := sk.Open(aad, body)
		if err == nil && len(pt) > len(body) {
			t.Fatalf("plaintext longer than the body")
		}
	})
}

func BenchmarkSKCipher(b *testing.B) {
	pt := make([]byte, 1024)
	aad := make([]byte, 32)
	for _, c := range skCases() {
		sk := newTestSK(b, c, 1)
		b.Run("Seal/"+c.name, func(b *testing.B) {
			b.SetBytes(int64(len(pt)))
			for b.Loop() {
				if _, err := sk.Seal(aad, pt, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
		body, _ := sk.Seal(aad, pt, nil)
		b.Run("Open/"+c.name, func(b *testing.B) {
			b.SetBytes(int64(len(pt)))
			for b.Loop() {
				if _, err := sk.Open(aad, body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestSKConcurrent uses one cipher from several goroutines (run with -race).
func TestSKConcurrent(t *testing.T) {
	for _, c := range skCases() {
		sk := newTestSK(t, c, 4)
		done := make(chan error)
		for g := range 4 {
			go func() {
				for i := range 20 {
					pt := bytes.Repeat([]byte{byte(g)}, i*7)
					body, err := sk.Seal(nil, pt, nil)
					if err == nil {
						var got []byte
						got, err = sk.Open(nil, body)
						if err == nil && !bytes.Equal(got, pt) {
							err = errors.New("wrong plaintext")
						}
					}
					if err != nil {
						done <- fmt.Errorf("%s: %w", c.name, err)
						return
					}
				}
				done <- nil
			}()
		}
		for range 4 {
			if err := <-done; err != nil {
				t.Error(err)
			}
		}
	}
}
