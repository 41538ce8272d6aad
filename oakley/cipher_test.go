package oakley

import (
	"errors"
	"testing"
)

// The known-answer tests go through NewSKCipher, so they also check how
// key material is split into key and salt and how IVs and nonces are laid
// out. CBC and CTR vectors have no IKE padding: a vector's ciphertext is a
// prefix of the SK body's ciphertext for the same key, IV and plaintext.

func TestAESCBCVectors(t *testing.T) {
	for _, v := range loadVectors(t, "aes_cbc.json") {
		t.Run(v.id(), func(t *testing.T) {
			key := v.hex(t, "key")
			encr := Transform{Type: TransformENCR, ID: EncrAESCBC, KeyLen: uint16(v.num("key_length_bits"))}
			cbcPrefixKAT(t, encr, key, v.hex(t, "iv"), v.hex(t, "plaintext"), v.hex(t, "ciphertext"))
		})
	}
}

func Test3DESVectors(t *testing.T) {
	for _, v := range loadVectors(t, "3des_cbc.json") {
		t.Run(v.id(), func(t *testing.T) {
			encr := Transform{Type: TransformENCR, ID: Encr3DES}
			cbcPrefixKAT(t, encr, v.hex(t, "key"), v.hex(t, "iv"), v.hex(t, "plaintext"), v.hex(t, "ciphertext"))
		})
	}
}

func cbcPrefixKAT(t *testing.T, encr Transform, key, iv, pt, ct []byte) {
	t.Helper()
	if n, err := EncrKeyLen(encr); err != nil || n != len(key) {
		t.Fatalf("EncrKeyLen(%v) = %d, %v; vector key is %d bytes", encr, n, err, len(key))
	}
	sk, err := NewSKCipher(encr, IntegHMACSHA2_256, key, make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	aad := []byte("header")
	body, err := sk.Seal(aad, pt, &fixedReader{b: iv})
	if err != nil {
		t.Fatal(err)
	}
	checkEqual(t, "IV", body[:len(iv)], iv)
	checkEqual(t, "ciphertext", body[len(iv):len(iv)+len(ct)], ct)
	// A block-aligned plaintext gets a whole block of padding.
	if want := len(iv) + len(pt) + len(iv) + 16; len(body) != want || sk.BodyLen(len(pt)) != want {
		t.Errorf("body %d bytes, BodyLen %d, want %d", len(body), sk.BodyLen(len(pt)), want)
	}
	got, err := sk.Open(aad, body)
	if err != nil {
		t.Fatal(err)
	}
	checkEqual(t, "plaintext", got, pt)
}

func TestAESCTRVectors(t *testing.T) {
	for _, v := range loadVectors(t, "aes_ctr.json") {
		t.Run(v.id(), func(t *testing.T) {
			keymat, iv, pt, ct := v.hex(t, "keymat"), v.hex(t, "iv"), v.hex(t, "plaintext"), v.hex(t, "ciphertext")
			checkEqual(t, "keymat layout", keymat, append(v.hex(t, "key"), v.hex(t, "nonce")...))
			encr := Transform{Type: TransformENCR, ID: EncrAESCTR, KeyLen: uint16(v.num("key_length_bits"))}
			if n, err := EncrKeyLen(encr); err != nil || n != len(keymat) {
				t.Fatalf("EncrKeyLen = %d, %v; keymat is %d bytes", n, err, len(keymat))
			}
			sk, err := NewSKCipher(encr, IntegAESXCBC96, keymat, make([]byte, 16))
			if err != nil {
				t.Fatal(err)
			}
			body, err := sk.Seal(nil, pt, &fixedReader{b: iv})
			if err != nil {
				t.Fatal(err)
			}
			checkEqual(t, "IV", body[:8], iv)
			checkEqual(t, "ciphertext", body[8:8+len(ct)], ct)
			if len(body) != 8+len(pt)+1+12 || sk.BodyLen(len(pt)) != len(body) {
				t.Errorf("body %d bytes, BodyLen %d", len(body), sk.BodyLen(len(pt)))
			}
			got, err := sk.Open(nil, body)
			if err != nil {
				t.Fatal(err)
			}
			checkEqual(t, "plaintext", got, pt)
		})
	}
}

var gcmByName = map[string]uint16{
	"ENCR_AES_GCM_8": EncrAESGCM8, "ENCR_AES_GCM_12": EncrAESGCM12, "ENCR_AES_GCM_16": EncrAESGCM16,
	"ENCR_CHACHA20_POLY1305": EncrChaCha20Poly1305,
}

// aeadVectors checks the AEAD vectors on the AEAD an SK cipher uses, with
// the nonce it builds from the key material's salt and the explicit IV.
// The vectors' plaintexts are not IKE-padded, so Seal/Open of the SK layer
// are covered by the RFC 7634 IKEv2 example and by the round-trip tests.
func aeadVectors(t *testing.T, file string) {
	for _, v := range loadVectors(t, file) {
		t.Run(v.id(), func(t *testing.T) {
			id, ok := gcmByName[v.str("algorithm")]
			if !ok {
				t.Fatalf("unknown algorithm %q", v.str("algorithm"))
			}
			encr := Transform{Type: TransformENCR, ID: id, KeyLen: uint16(v.num("key_length_bits"))}
			keymat, iv, aad := v.hex(t, "keymat"), v.hex(t, "iv"), v.hex(t, "aad")
			pt, ct, icv := v.hex(t, "plaintext"), v.hex(t, "ciphertext"), v.hex(t, "icv")
			checkEqual(t, "keymat layout", keymat, append(v.hex(t, "key"), v.hex(t, "salt")...))
			if n, err := EncrKeyLen(encr); err != nil || n != len(keymat) {
				t.Fatalf("EncrKeyLen = %d, %v; keymat is %d bytes", n, err, len(keymat))
			}
			sk, err := NewSKCipher(encr, IntegNone, keymat, nil)
			if err != nil {
				t.Fatal(err)
			}
			a := sk.(*aeadSK)
			aead, err := a.aead()
			if err != nil {
				t.Fatal(err)
			}
			nonce := a.nonce(iv)
			checkEqual(t, "nonce", nonce, v.hex(t, "nonce"))
			if aead.Overhead() != len(icv) {
				t.Fatalf("ICV length %d, want %d", aead.Overhead(), len(icv))
			}
			want := append(append([]byte(nil), ct...), icv...)
			checkEqual(t, "seal", aead.Seal(nil, nonce, pt, aad), want)
			got, err := aead.Open(nil, nonce, want, aad)
			if err != nil {
				t.Fatal(err)
			}
			checkEqual(t, "open", got, pt)
			for i := range want {
				bad := append([]byte(nil), want...)
				bad[i] ^= 0x80
				if _, err := aead.Open(nil, nonce, bad, aad); err == nil {
					t.Fatalf("byte %d flipped: Open succeeded", i)
				}
			}
		})
	}
}

func TestAESGCMVectors(t *testing.T) { aeadVectors(t, "aes_gcm.json") }

func TestChaCha20Poly1305Vectors(t *testing.T) { aeadVectors(t, "chacha20poly1305.json") }

// TestChaCha20Poly1305IKEv2Example runs RFC 7634 Appendix B through the SK
// layer: the 13-byte plaintext is a 12-byte Notify payload and a zero pad
// length byte.
func TestChaCha20Poly1305IKEv2Example(t *testing.T) {
	var v vector
	for _, x := range loadVectors(t, "chacha20poly1305.json") {
		if x.id() == "rfc7634-ikev2" {
			v = x
		}
	}
	if v == nil {
		t.Fatal("rfc7634-ikev2 vector missing")
	}
	keymat, iv, aad := v.hex(t, "keymat"), v.hex(t, "iv"), v.hex(t, "aad")
	padded := v.hex(t, "plaintext")
	if padded[len(padded)-1] != 0 {
		t.Fatal("vector plaintext does not end in a zero pad length")
	}
	inner := padded[:len(padded)-1]
	wantBody := append(append(append([]byte(nil), iv...), v.hex(t, "ciphertext")...), v.hex(t, "icv")...)

	sk, err := NewSKCipher(Transform{Type: TransformENCR, ID: EncrChaCha20Poly1305}, IntegNone, keymat, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := sk.BodyLen(len(inner)); n != len(wantBody) {
		t.Errorf("BodyLen = %d, want %d", n, len(wantBody))
	}
	// The SK payload length in the AAD (last two bytes) is 4 + body.
	if got := int(aad[len(aad)-2])<<8 | int(aad[len(aad)-1]); got != 4+len(wantBody) {
		t.Errorf("payload length in AAD %d, want %d", got, 4+len(wantBody))
	}
	body, err := sk.Seal(aad, inner, &fixedReader{b: iv})
	if err != nil {
		t.Fatal(err)
	}
	checkEqual(t, "sealed body", body, wantBody)
	got, err := sk.Open(aad, wantBody)
	if err != nil {
		t.Fatal(err)
	}
	checkEqual(t, "opened", got, inner)
}

func TestEncrKeyLen(t *testing.T) {
	tests := []struct {
		t    Transform
		want int // -1: error
	}{
		{Transform{TransformENCR, EncrAESCBC, 128}, 16},
		{Transform{TransformENCR, EncrAESCBC, 192}, 24},
		{Transform{TransformENCR, EncrAESCBC, 256}, 32},
		{Transform{TransformENCR, EncrAESCTR, 128}, 20},
		{Transform{TransformENCR, EncrAESCTR, 256}, 36},
		{Transform{TransformENCR, EncrAESGCM8, 128}, 20},
		{Transform{TransformENCR, EncrAESGCM12, 192}, 28},
		{Transform{TransformENCR, EncrAESGCM16, 256}, 36},
		{Transform{TransformENCR, EncrChaCha20Poly1305, 0}, 36},
		{Transform{TransformENCR, EncrChaCha20Poly1305, 256}, 36},
		{Transform{TransformENCR, Encr3DES, 0}, 24},
		{Transform{0, Encr3DES, 0}, 24},
		{Transform{TransformENCR, EncrAESCBC, 0}, -1},
		{Transform{TransformENCR, EncrAESCBC, 512}, -1},
		{Transform{TransformENCR, EncrChaCha20Poly1305, 128}, -1},
		{Transform{TransformENCR, Encr3DES, 128}, -1},
		{Transform{TransformENCR, EncrNULL, 0}, -1},
		{Transform{TransformENCR, 9999, 0}, -1},
		{Transform{TransformINTEG, EncrAESCBC, 128}, -1},
	}
	for _, tc := range tests {
		got, err := EncrKeyLen(tc.t)
		if tc.want < 0 {
			if !errors.Is(err, ErrUnsupportedEncr) {
				t.Errorf("%v: got %d, %v; want ErrUnsupportedEncr", tc.t, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%v: got %d, %v; want %d", tc.t, got, err, tc.want)
		}
	}
}

func TestIntegLens(t *testing.T) {
	tests := []struct {
		id          uint16
		key, icvLen int
	}{
		{IntegNone, 0, 0},
		{IntegHMACMD5_96, 16, 12},
		{IntegHMACSHA1_96, 20, 12},
		{IntegHMACSHA2_256, 32, 16},
		{IntegHMACSHA2_384, 48, 24},
		{IntegHMACSHA2_512, 64, 32},
		{IntegAESXCBC96, 16, 12},
	}
	for _, tc := range tests {
		k, err1 := IntegKeyLen(tc.id)
		i, err2 := IntegICVLen(tc.id)
		if err1 != nil || err2 != nil || k != tc.key || i != tc.icvLen {
			t.Errorf("integ %d: key %d icv %d (%v, %v); want %d %d", tc.id, k, i, err1, err2, tc.key, tc.icvLen)
		}
	}
	for _, id := range []uint16{3, 4, 6, 8, 9, 1000} {
		if _, err := IntegKeyLen(id); !errors.Is(err, ErrUnsupportedInteg) {
			t.Errorf("IntegKeyLen(%d): %v", id, err)
		}
		if _, err := IntegICVLen(id); !errors.Is(err, ErrUnsupportedInteg) {
			t.Errorf("IntegICVLen(%d): %v", id, err)
		}
	}
}
