package kernel

import (
	"strings"
	"testing"

	"ikegate/oakley"
)

func encr(id, keyLen uint16) oakley.Transform {
	return oakley.Transform{Type: oakley.TransformENCR, ID: id, KeyLen: keyLen}
}

func integ(id uint16) oakley.Transform {
	return oakley.Transform{Type: oakley.TransformINTEG, ID: id}
}

func TestMapAEAD(t *testing.T) {
	tests := []struct {
		encr   oakley.Transform
		name   string
		icv    int
		keyLen int
	}{
		{encr(oakley.EncrAESGCM8, 128), "rfc4106(gcm(aes))", 64, 20},
		{encr(oakley.EncrAESGCM12, 192), "rfc4106(gcm(aes))", 96, 28},
		{encr(oakley.EncrAESGCM16, 256), "rfc4106(gcm(aes))", 128, 36},
		{encr(oakley.EncrAESGCM16, 0), "rfc4106(gcm(aes))", 128, 20}, // default 128
		{encr(oakley.EncrChaCha20Poly1305, 0), "rfc7539esp(chacha20,poly1305)", 128, 36},
		{encr(oakley.EncrChaCha20Poly1305, 256), "rfc7539esp(chacha20,poly1305)", 128, 36},
	}
	for _, tt := range tests {
		a, err := mapAlgorithms(tt.encr, integ(oakley.IntegNone))
		if err != nil {
			t.Errorf("%s: %v", tt.encr, err)
			continue
		}
		if a.aeadName != tt.name || a.aeadICV != tt.icv || a.aeadKeyLen != tt.keyLen || a.cryptName != "" || a.authName != "" {
			t.Errorf("%s: got %+v", tt.encr, a)
		}
		// Zero Transform (no INTEG at all) is accepted for AEADs too.
		if _, err := mapAlgorithms(tt.encr, oakley.Transform{}); err != nil {
			t.Errorf("%s without INTEG: %v", tt.encr, err)
		}
		// An AEAD with an integrity algorithm is a negotiation bug.
		if _, err := mapAlgorithms(tt.encr, integ(oakley.IntegHMACSHA2_256)); err == nil || !strings.Contains(err.Error(), "AEAD") {
			t.Errorf("%s with HMAC: got %v", tt.encr, err)
		}
	}
}

func TestMapCipherIntegPairs(t *testing.T) {
	ciphers := []struct {
		encr   oakley.Transform
		name   string
		keyLen int
	}{
		{encr(oakley.EncrAESCBC, 128), "cbc(aes)", 16},
		{encr(oakley.EncrAESCBC, 192), "cbc(aes)", 24},
		{encr(oakley.EncrAESCBC, 256), "cbc(aes)", 32},
		{encr(oakley.EncrAESCBC, 0), "cbc(aes)", 16},
		{encr(oakley.EncrAESCTR, 256), "rfc3686(ctr(aes))", 36},
		{encr(oakley.Encr3DES, 0), "cbc(des3_ede)", 24},
		{encr(oakley.EncrNULL, 0), "ecb(cipher_null)", 0},
	}
	integs := []struct {
		id     uint16
		name   string
		trunc  int
		keyLen int
	}{
		{oakley.IntegHMACSHA2_256, "hmac(sha256)", 128, 32},
		{oakley.IntegHMACSHA2_384, "hmac(sha384)", 192, 48},
		{oakley.IntegHMACSHA2_512, "hmac(sha512)", 256, 64},
		{oakley.IntegHMACSHA1_96, "hmac(sha1)", 96, 20},
		{oakley.IntegHMACMD5_96, "hmac(md5)", 96, 16},
		{oakley.IntegAESXCBC96, "xcbc(aes)", 96, 16},
	}
	for _, c := range ciphers {
		for _, i := range integs {
			a, err := mapAlgorithms(c.encr, integ(i.id))
			if err != nil {
				t.Errorf("%s + %s: %v", c.encr, integ(i.id), err)
				continue
			}
			if a.isAEAD() || a.cryptName != c.name || a.cryptKeyLen != c.keyLen ||
				a.authName != i.name || a.authTrunc != i.trunc || a.authKeyLen != i.keyLen {
				t.Errorf("%s + %s: got %+v", c.encr, integ(i.id), a)
			}
			if err := a.checkKeys("inbound", make([]byte, c.keyLen), make([]byte, i.keyLen)); err != nil {
				t.Errorf("%s + %s: right key sizes rejected: %v", c.encr, integ(i.id), err)
			}
			if err := a.checkKeys("inbound", make([]byte, c.keyLen+1), make([]byte, i.keyLen)); err == nil {
				t.Errorf("%s + %s: long enc key accepted", c.encr, integ(i.id))
			}
			if err := a.checkKeys("inbound", make([]byte, c.keyLen), make([]byte, i.keyLen-1)); err == nil {
				t.Errorf("%s + %s: short integ key accepted", c.encr, integ(i.id))
			}
		}
		// A plain cipher without integrity must be refused.
		_, err := mapAlgorithms(c.encr, integ(oakley.IntegNone))
		if err == nil || !strings.Contains(err.Error(), "needs an integrity algorithm") {
			t.Errorf("%s without integrity: got %v", c.encr, err)
		}
	}
}

// TestMapEveryRegistryTransform walks every ENCR and INTEG ID the oakley
// registry names (what the IKE side can negotiate): each pair maps or
// fails with an error that names the problem.
func TestMapEveryRegistryTransform(t *testing.T) {
	encrIDs := []uint16{oakley.Encr3DES, oakley.EncrNULL, oakley.EncrAESCBC, oakley.EncrAESCTR,
		oakley.EncrAESGCM8, oakley.EncrAESGCM12, oakley.EncrAESGCM16, oakley.EncrChaCha20Poly1305}
	integIDs := []uint16{oakley.IntegNone, oakley.IntegHMACMD5_96, oakley.IntegHMACSHA1_96, oakley.IntegAESXCBC96,
		oakley.IntegHMACSHA2_256, oakley.IntegHMACSHA2_384, oakley.IntegHMACSHA2_512}
	mapped := 0
	for _, e := range encrIDs {
		for _, kl := range []uint16{0, 128, 192, 256} {
			for _, i := range integIDs {
				a, err := mapAlgorithms(encr(e, kl), integ(i))
				if err != nil {
					if !strings.HasPrefix(err.Error(), "kernel: ") || len(err.Error()) < 30 {
						t.Errorf("%s + %s: unclear error %q", encr(e, kl), integ(i), err)
					}
					continue
				}
				mapped++
				if a.isAEAD() != oakley.IsAEAD(e) {
					t.Errorf("%s: AEAD mismatch", encr(e, kl))
				}
			}
		}
	}
	if mapped == 0 {
		t.Fatal("nothing mapped")
	}
}

func TestMapErrors(t *testing.T) {
	tests := []struct {
		encr, integ oakley.Transform
		want        string
	}{
		{encr(99, 0), integ(oakley.IntegHMACSHA2_256), "no kernel mapping"},
		{encr(oakley.EncrAESCBC, 128), integ(99), "no kernel mapping"},
		{encr(oakley.EncrAESCBC, 100), integ(oakley.IntegHMACSHA2_256), "not 128, 192 or 256"},
		{encr(oakley.EncrAESGCM16, 64), integ(oakley.IntegNone), "not 128, 192 or 256"},
		{encr(oakley.EncrChaCha20Poly1305, 128), integ(oakley.IntegNone), "256 bits"},
		{encr(oakley.Encr3DES, 128), integ(oakley.IntegHMACSHA1_96), "3DES"},
		{oakley.Transform{Type: oakley.TransformPRF, ID: 5}, integ(oakley.IntegNone), "want ENCR"},
		{encr(oakley.EncrAESCBC, 128), oakley.Transform{Type: oakley.TransformDH, ID: 14}, "want INTEG"},
	}
	for _, tt := range tests {
		_, err := mapAlgorithms(tt.encr, tt.integ)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s + %s: got %v, want error containing %q", tt.encr, tt.integ, err, tt.want)
		}
	}
}

func TestAEADKeyIncludesSalt(t *testing.T) {
	a, err := mapAlgorithms(encr(oakley.EncrAESGCM16, 256), integ(oakley.IntegNone))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.checkKeys("outbound", make([]byte, 32), nil); err == nil || !strings.Contains(err.Error(), "salt") {
		t.Fatalf("key without salt: got %v", err)
	}
	if err := a.checkKeys("outbound", make([]byte, 36), nil); err != nil {
		t.Fatal(err)
	}
	if err := a.checkKeys("outbound", make([]byte, 36), make([]byte, 32)); err == nil {
		t.Fatal("integrity key accepted for an AEAD")
	}
}

// TestMapAlgorithmsTrunc: sha2_truncbug gives HMAC-SHA2-256 a 96-bit
// truncation in the kernel and leaves every other algorithm alone.
func TestMapAlgorithmsTrunc(t *testing.T) {
	encr := oakley.Transform{Type: oakley.TransformENCR, ID: oakley.EncrAESCBC, KeyLen: 128}
	for _, tc := range []struct {
		integ uint16
		trunc bool
		want  int
	}{
		{oakley.IntegHMACSHA2_256, false, 128},
		{oakley.IntegHMACSHA2_256, true, 96},
		{oakley.IntegHMACSHA2_384, true, 192},
		{oakley.IntegHMACSHA1_96, true, 96},
	} {
		a, err := mapAlgorithmsTrunc(encr, oakley.Transform{Type: oakley.TransformINTEG, ID: tc.integ}, tc.trunc)
		if err != nil || a.authTrunc != tc.want {
			t.Errorf("integ %d trunc %v: authTrunc %d (%v), want %d", tc.integ, tc.trunc, a.authTrunc, err, tc.want)
		}
	}
}
