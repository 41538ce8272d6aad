package oakley

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// unhex decodes hex written with spaces and line breaks, as in RFC text.
func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

// The AlgorithmIdentifier encodings of RFC 7427 Appendix A (and RFC 8420 for
// Ed25519), written out as the RFCs print them.
var rfcAlgIDs = []struct {
	name  string
	rfc   string // where the hex is from
	hex   string
	build func() []byte // how we encode it when signing; nil: verify only
	parse string        // sigAlg.name parseSigAlgID must report
}{
	{"sha1WithRSAEncryption", "RFC 7427 A.1.1", "300d 0609 2a86 4886 f70d 0101 0505 00",
		func() []byte { return algIDRSA(crypto.SHA1) }, "sha1WithRSAEncryption"},
	{"sha256WithRSAEncryption", "RFC 7427 A.1.2", "300d 0609 2a86 4886 f70d 0101 0b05 00",
		func() []byte { return algIDRSA(crypto.SHA256) }, "sha256WithRSAEncryption"},
	{"sha384WithRSAEncryption", "RFC 7427 A.1.3", "300d 0609 2a86 4886 f70d 0101 0c05 00",
		func() []byte { return algIDRSA(crypto.SHA384) }, "sha384WithRSAEncryption"},
	{"sha512WithRSAEncryption", "RFC 7427 A.1.4", "300d 0609 2a86 4886 f70d 0101 0d05 00",
		func() []byte { return algIDRSA(crypto.SHA512) }, "sha512WithRSAEncryption"},
	{"ecdsa-with-sha256", "RFC 7427 A.3.1", "300a 0608 2a86 48ce 3d04 0302",
		func() []byte { return algIDECDSA(crypto.SHA256) }, "ecdsa-with-SHA256"},
	{"ecdsa-with-sha384", "RFC 7427 A.3.2", "300a 0608 2a86 48ce 3d04 0303",
		func() []byte { return algIDECDSA(crypto.SHA384) }, "ecdsa-with-SHA384"},
	{"ecdsa-with-sha512", "RFC 7427 A.3.3", "300a 0608 2a86 48ce 3d04 0304",
		func() []byte { return algIDECDSA(crypto.SHA512) }, "ecdsa-with-SHA512"},
	{"RSASSA-PSS with empty parameters", "RFC 7427 A.4.1", "300d 0609 2a86 4886 f70d 0101 0a30 00",
		nil, "RSASSA-PSS(SHA-1, MGF1-SHA-1, salt 20)"},
	{"RSASSA-PSS with SHA-256", "RFC 7427 A.4.3", `
		3041 0609 2a86 4886 f70d 0101 0a30 34a0
		0f30 0d06 0960 8648 0165 0304 0201 0500
		a11c 301a 0609 2a86 4886 f70d 0101 0830
		0d06 0960 8648 0165 0304 0201 0500 a203
		0201 20`,
		func() []byte { return algIDPSS(crypto.SHA256) }, "RSASSA-PSS(SHA-256, MGF1-SHA-256, salt 32)"},
	{"id-Ed25519", "RFC 8420 3 / RFC 8410 3", "3005 0603 2b65 70",
		algIDEd25519, "Ed25519"},
}

func TestAlgorithmIdentifierEncodingsMatchRFC(t *testing.T) {
	for _, c := range rfcAlgIDs {
		t.Run(c.name, func(t *testing.T) {
			want := unhex(t, c.hex)
			if c.build != nil {
				if got := c.build(); !bytes.Equal(got, want) {
					t.Errorf("encoding differs from %s:\n got %x\nwant %x", c.rfc, got, want)
				}
			}
			alg, err := parseSigAlgID(want)
			if err != nil {
				t.Fatalf("parse %s hex: %v", c.rfc, err)
			}
			if alg.name != c.parse {
				t.Errorf("parsed as %q, want %q", alg.name, c.parse)
			}
		})
	}
	// The other PSS encodings we send, checked for shape: hash, MGF1 hash
	// and salt length as RFC 7427 A.4.3 does for SHA-256.
	for _, h := range []crypto.Hash{crypto.SHA384, crypto.SHA512} {
		alg, err := parseSigAlgID(algIDPSS(h))
		if err != nil || !alg.pss || alg.hash != h || alg.saltLen != h.Size() {
			t.Errorf("algIDPSS(%v) parses as %+v, %v", h, alg, err)
		}
	}
}

func TestSupportedSignatureHashes(t *testing.T) {
	got := SupportedSignatureHashes()
	want := []uint16{HashSHA256, HashSHA384, HashSHA512, HashIdentity}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
}

// Test keys, generated once per process.
var (
	testKeysOnce sync.Once
	testRSA      *rsa.PrivateKey
	testRSA2     *rsa.PrivateKey
	testP256     *ecdsa.PrivateKey
	testP384     *ecdsa.PrivateKey
	testP521     *ecdsa.PrivateKey
	testEd       ed25519.PrivateKey
)

func testKeys(t testing.TB) {
	t.Helper()
	testKeysOnce.Do(func() {
		var err error
		must := func(e error) {
			if e != nil && err == nil {
				err = e
			}
		}
		var e error
		testRSA, e = rsa.GenerateKey(rand.Reader, 2048)
		must(e)
		testRSA2, e = rsa.GenerateKey(rand.Reader, 2048)
		must(e)
		testP256, e = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		must(e)
		testP384, e = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		must(e)
		testP521, e = ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
		must(e)
		_, testEd, e = ed25519.GenerateKey(rand.Reader)
		must(e)
		if err != nil {
			panic(err)
		}
	})
}

var (
	all7427  = []uint16{HashSHA256, HashSHA384, HashSHA512, HashIdentity}
	only256  = []uint16{HashSHA256}
	onlySHA1 = []uint16{HashSHA1, HashIdentity}
)

func TestSignVerifyRoundTrip(t *testing.T) {
	testKeys(t)
	octets := []byte("RealMessage1 | Nr | prf(SK_pi, IDi') for the round trip")
	cases := []struct {
		name       string
		key        crypto.Signer
		peerHashes []uint16
		pss        bool
		wantMethod uint8
		wantAlg    []byte // AlgorithmIdentifier for method 14
		wantLen    int    // signature length for the legacy methods (0: any)
		otherKey   crypto.PublicKey
		wrongType  crypto.PublicKey
	}{
		{"RSA-2048 method 1", testRSA, nil, false, AuthRSASig, nil, 256, &testRSA2.PublicKey, &testP256.PublicKey},
		{"RSA-2048 method 1, pss ignored", testRSA, nil, true, AuthRSASig, nil, 256, &testRSA2.PublicKey, testEd.Public()},
		{"RSA-2048 method 1, peer only SHA1", testRSA, onlySHA1, false, AuthRSASig, nil, 256, &testRSA2.PublicKey, &testP256.PublicKey},
		{"RSA-2048 method 14 PKCS1v15 SHA-256", testRSA, only256, false, AuthDigitalSignature, algIDRSA(crypto.SHA256), 0, &testRSA2.PublicKey, &testP256.PublicKey},
		{"RSA-2048 method 14 PKCS1v15 strongest", testRSA, all7427, false, AuthDigitalSignature, algIDRSA(crypto.SHA512), 0, &testRSA2.PublicKey, testEd.Public()},
		{"RSA-2048 method 14 PSS SHA-256", testRSA, only256, true, AuthDigitalSignature, algIDPSS(crypto.SHA256), 0, &testRSA2.PublicKey, &testP256.PublicKey},
		{"RSA-2048 method 14 PSS strongest", testRSA, all7427, true, AuthDigitalSignature, algIDPSS(crypto.SHA512), 0, &testRSA2.PublicKey, &testP384.PublicKey},
		{"P-256 method 9", testP256, nil, false, AuthECDSA256, nil, 64, &testP384.PublicKey, &testRSA.PublicKey},
		{"P-384 method 10", testP384, nil, false, AuthECDSA384, nil, 96, &testP256.PublicKey, &testRSA.PublicKey},
		{"P-521 method 11", testP521, nil, false, AuthECDSA521, nil, 132, &testP256.PublicKey, testEd.Public()},
		{"P-256 method 14", testP256, all7427, false, AuthDigitalSignature, algIDECDSA(crypto.SHA256), 0, &testP384.PublicKey, &testRSA.PublicKey},
		{"P-384 method 14", testP384, all7427, false, AuthDigitalSignature, algIDECDSA(crypto.SHA384), 0, &testP256.PublicKey, &testRSA.PublicKey},
		{"P-384 method 14, peer only SHA-256", testP384, only256, false, AuthDigitalSignature, algIDECDSA(crypto.SHA256), 0, &testP521.PublicKey, testEd.Public()},
		{"P-521 method 14", testP521, all7427, false, AuthDigitalSignature, algIDECDSA(crypto.SHA512), 0, &testP256.PublicKey, &testRSA.PublicKey},
		{"P-256 method 9, peer only Identity", testP256, []uint16{HashIdentity}, false, AuthECDSA256, nil, 64, &testP384.PublicKey, &testRSA.PublicKey},
		{"Ed25519 method 14", testEd, all7427, false, AuthDigitalSignature, algIDEd25519(), 0, &testRSA.PublicKey, &testP256.PublicKey},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			method, data, err := SignAuth(c.key, c.peerHashes, c.pss, octets, rand.Reader)
			if err != nil {
				t.Fatalf("SignAuth: %v", err)
			}
			if method != c.wantMethod {
				t.Fatalf("method %d, want %d", method, c.wantMethod)
			}
			if c.wantAlg != nil {
				if int(data[0]) != len(c.wantAlg) || !bytes.HasPrefix(data[1:], c.wantAlg) {
					t.Fatalf("AUTH data starts %x, want length %d and %x", data[:min(len(data), 1+len(c.wantAlg))], len(c.wantAlg), c.wantAlg)
				}
			}
			if c.wantLen != 0 && len(data) != c.wantLen {
				t.Fatalf("signature is %d octets, want %d", len(data), c.wantLen)
			}
			pub := c.key.Public()
			if err := VerifyAuth(pub, method, data, octets); err != nil {
				t.Fatalf("VerifyAuth: %v", err)
			}

			// A flipped bit anywhere in the signed octets fails.
			for _, i := range []int{0, len(octets) / 2, len(octets) - 1} {
				bad := bytes.Clone(octets)
				bad[i] ^= 0x08
				err := VerifyAuth(pub, method, data, bad)
				if !errors.Is(err, ErrSignatureInvalid) {
					t.Errorf("octet %d flipped: err = %v, want ErrSignatureInvalid", i, err)
				}
			}
			// A flipped bit in the signature fails (first and last octet
			// of the signature proper).
			sigStart := 0
			if method == AuthDigitalSignature {
				sigStart = 1 + int(data[0])
			}
			for _, i := range []int{sigStart, len(data) - 1} {
				bad := bytes.Clone(data)
				bad[i] ^= 0x01
				if err := VerifyAuth(pub, method, bad, octets); err == nil {
					t.Errorf("signature octet %d flipped: verified", i)
				}
			}
			// Another key of the same kind fails as a bad signature.
			if err := VerifyAuth(c.otherKey, method, data, octets); err == nil {
				t.Errorf("verified with another key (%s)", describeKey(c.otherKey))
			}
			// A key of the wrong type fails with a clear error.
			err = VerifyAuth(c.wrongType, method, data, octets)
			if err == nil || errors.Is(err, ErrSignatureInvalid) {
				t.Errorf("wrong key type (%s): err = %v, want a mismatch error", describeKey(c.wrongType), err)
			} else if !strings.Contains(err.Error(), describeKey(c.wrongType)) {
				t.Errorf("wrong key type error %q does not name the key (%s)", err, describeKey(c.wrongType))
			}
			// The same data under another method fails.
			other := AuthDigitalSignature
			if method == AuthDigitalSignature {
				other = AuthRSASig
			}
			if err := VerifyAuth(pub, other, data, octets); err == nil {
				t.Errorf("verified as method %d", other)
			}
		})
	}
}

func TestSignAuthErrors(t *testing.T) {
	testKeys(t)
	p224, err := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		key   crypto.Signer
		peer  []uint16
		wants string
	}{
		{"nil key", nil, all7427, "no private key"},
		{"Ed25519 without RFC 7427", testEd, nil, "Identity hash"},
		{"Ed25519 without Identity", testEd, []uint16{HashSHA256, HashSHA512}, "Identity hash"},
		{"P-224", p224, all7427, "unsupported ECDSA curve P-224"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := SignAuth(c.key, c.peer, false, []byte("x"), rand.Reader)
			if err == nil || !strings.Contains(err.Error(), c.wants) {
				t.Fatalf("err = %v, want it to mention %q", err, c.wants)
			}
		})
	}
}

// RFC 4754 wants r and s left-padded to the curve size; a signature whose r
// or s happens to be short must still be 2*size octets. About 1 in 128
// signatures has a short r or s, so 600 signatures almost surely hit one.
func TestLegacyECDSAFixedWidth(t *testing.T) {
	testKeys(t)
	octets := []byte("fixed width")
	for i := 0; i < 600; i++ {
		m, data, err := SignAuth(testP256, nil, false, octets, rand.Reader)
		if err != nil || m != AuthECDSA256 || len(data) != 64 {
			t.Fatalf("SignAuth = %d, %d octets, %v", m, len(data), err)
		}
		if err := VerifyAuth(&testP256.PublicKey, m, data, octets); err != nil {
			t.Fatal(err)
		}
	}
}

func TestVerifyAuthErrorMessages(t *testing.T) {
	testKeys(t)
	octets := []byte("octets")
	_, ecData, err := SignAuth(testP256, all7427, false, octets, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, pssData, err := SignAuth(testRSA, all7427, true, octets, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	with := func(algID []byte, sig string) []byte {
		return method14Data(algID, []byte(sig))
	}
	pssMGFMismatch := unhex(t, `
		3041 0609 2a86 4886 f70d 0101 0a30 34a0
		0f30 0d06 0960 8648 0165 0304 0201 0500
		a11c 301a 0609 2a86 4886 f70d 0101 0830
		0d06 0960 8648 0165 0304 0203 0500 a203
		0201 20`) // MGF1 with SHA-512 under SHA-256
	pssTrailer2 := unhex(t, "3012 0609 2a86 4886 f70d 0101 0a30 05a3 0302 0102")
	pssBadMGF := unhex(t, "301c 0609 2a86 4886 f70d 0101 0a30 0fa1 0d30 0b06 092a 8648 86f7 0d01 0107")
	pssJunkMGF := unhex(t, "3011 0609 2a86 4886 f70d 0101 0a30 04a1 0206 00")
	pssExtra := unhex(t, "3012 0609 2a86 4886 f70d 0101 0a30 05a4 0302 0101")
	cases := []struct {
		name   string
		pub    crypto.PublicKey
		method uint8
		data   []byte
		want   string
	}{
		{"ECDSA alg, RSA key", &testRSA.PublicKey, 14, ecData,
			"AUTH method 14: algorithm ecdsa-with-SHA256 does not match RSA-2048 public key"},
		{"PSS alg, ECDSA key", &testP256.PublicKey, 14, pssData,
			"AUTH method 14: algorithm RSASSA-PSS(SHA-512, MGF1-SHA-512, salt 64) does not match ECDSA P-256 public key"},
		{"Ed25519 alg, RSA key", &testRSA.PublicKey, 14, with(algIDEd25519(), "sig"),
			"AUTH method 14: algorithm Ed25519 does not match RSA-2048 public key"},
		{"method 9 with P-384 key", &testP384.PublicKey, 9, make([]byte, 64),
			"AUTH method 9 (ECDSA with SHA-256 on P-256): does not match ECDSA P-384 public key"},
		{"method 10 short", &testP384.PublicKey, 10, make([]byte, 95),
			"AUTH method 10 (ECDSA with SHA-384 on P-384): signature is 95 octets, want 96 (r||s)"},
		{"method 1 with ECDSA key", &testP256.PublicKey, 1, make([]byte, 256),
			"AUTH method 1 (RSA Digital Signature): needs an RSA public key, have ECDSA P-256 public key"},
		{"method 2", &testRSA.PublicKey, 2, []byte{1}, "AUTH method 2 (shared key MIC) is not a signature method"},
		{"method 3", &testRSA.PublicKey, 3, []byte{1}, "AUTH method 3 (DSS Digital Signature) is not supported"},
		{"method 200", &testRSA.PublicKey, 200, []byte{1}, "AUTH method 200 is not a supported signature method"},
		{"empty", &testRSA.PublicKey, 14, nil, "AUTH method 14: AUTH data is empty"},
		{"zero length", &testRSA.PublicKey, 14, []byte{0, 1, 2}, "AUTH method 14: AlgorithmIdentifier length is zero"},
		{"length too long", &testRSA.PublicKey, 14, []byte{15, 0x30, 0x0d},
			"AUTH method 14: AlgorithmIdentifier length 15 exceeds the 2 octets of AUTH data"},
		{"no signature", &testRSA.PublicKey, 14, with(algIDRSA(crypto.SHA256), ""),
			"AUTH method 14: algorithm sha256WithRSAEncryption: signature is empty"},
		{"unknown OID", &testRSA.PublicKey, 14, with(unhex(t, "300b 0609 2a86 4886 f70d 0101 04"), "sig"),
			"AUTH method 14: unsupported signature algorithm 1.2.840.113549.1.1.4"},
		{"stray octets in algid", &testRSA.PublicKey, 14, with(append(algIDRSA(crypto.SHA256), 0), "sig"),
			"AUTH method 14: AlgorithmIdentifier is followed by 1 stray octets inside its stated length"},
		{"garbage algid", &testRSA.PublicKey, 14, with([]byte{0x04, 0x01, 0x00}, "sig"),
			"AUTH method 14: malformed AlgorithmIdentifier"},
		{"ECDSA with parameters", &testP256.PublicKey, 14,
			with(unhex(t, "300c 0608 2a86 48ce 3d04 0302 0500"), "sig"), // NULL is tolerated
			"AUTH method 14: algorithm ecdsa-with-SHA256 with ECDSA P-256 public key: signature does not verify"},
		{"ECDSA with OID parameters", &testP256.PublicKey, 14,
			with(unhex(t, "3015 0608 2a86 48ce 3d04 0302 0609 6086 4801 6503 0402 01"), "sig"),
			"AUTH method 14: algorithm ecdsa-with-SHA256 has unexpected parameters"},
		{"PSS MGF1 hash differs", &testRSA.PublicKey, 14, with(pssMGFMismatch, "sig"),
			"AUTH method 14: algorithm RSASSA-PSS with SHA-256 and MGF1 with SHA-512: a different MGF1 hash is not supported"},
		{"PSS trailer 2", &testRSA.PublicKey, 14, with(pssTrailer2, "sig"),
			"AUTH method 14: algorithm RSASSA-PSS: unsupported trailer field 2 (want 1)"},
		{"PSS bad MGF", &testRSA.PublicKey, 14, with(pssBadMGF, "sig"),
			"AUTH method 14: algorithm RSASSA-PSS: unsupported mask generation function 1.2.840.113549.1.1.7 (want MGF1)"},
		{"PSS junk MGF", &testRSA.PublicKey, 14, with(pssJunkMGF, "sig"),
			"AUTH method 14: algorithm RSASSA-PSS: malformed mask generation function"},
		{"PSS unknown field", &testRSA.PublicKey, 14, with(pssExtra, "sig"),
			"AUTH method 14: algorithm RSASSA-PSS: unexpected or misordered fields in the parameters"},
		{"nil key", nil, 14, ecData, "AUTH method 14: algorithm ecdsa-with-SHA256 does not match no public key"},
		{"nil RSA key", (*rsa.PublicKey)(nil), 1, make([]byte, 256), "RSA public key is empty or invalid"},
		{"short Ed25519 key", ed25519.PublicKey{1, 2, 3}, 14, with(algIDEd25519(), "sig"),
			"AUTH method 14: Ed25519 public key is 3 octets, want 32"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := VerifyAuth(c.pub, c.method, c.data, octets)
			if err == nil {
				t.Fatal("verified")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error\n %q\ndoes not contain\n %q", err, c.want)
			}
		})
	}
}

// RSASSA-PSS with the empty parameters of RFC 7427 A.4.1 means SHA-1,
// MGF1-SHA-1 and a 20-octet salt (RFC 4055 defaults).
func TestVerifyPSSDefaults(t *testing.T) {
	testKeys(t)
	octets := []byte("pss defaults")
	d := digest(crypto.SHA1, octets)
	sig, err := rsa.SignPSS(rand.Reader, testRSA, crypto.SHA1, d, &rsa.PSSOptions{SaltLength: 20})
	if err != nil {
		t.Fatal(err)
	}
	for _, algID := range []string{
		"300d 0609 2a86 4886 f70d 0101 0a30 00", // RFC 7427 A.4.1
		"300b 0609 2a86 4886 f70d 0101 0a",      // parameters absent
	} {
		data := method14Data(unhex(t, algID), sig)
		if err := VerifyAuth(&testRSA.PublicKey, AuthDigitalSignature, data, octets); err != nil {
			t.Errorf("%s: %v", algID, err)
		}
	}
	// A salt length other than the one announced fails.
	sig32, err := rsa.SignPSS(rand.Reader, testRSA, crypto.SHA256, digest(crypto.SHA256, octets), &rsa.PSSOptions{SaltLength: 20})
	if err != nil {
		t.Fatal(err)
	}
	err = VerifyAuth(&testRSA.PublicKey, AuthDigitalSignature, method14Data(algIDPSS(crypto.SHA256), sig32), octets)
	if !errors.Is(err, ErrSignatureInvalid) {
		t.Errorf("salt 20 announced as 32: err = %v", err)
	}
}

func readPublicKey(t *testing.T, path string) crypto.PublicKey {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatalf("%s: no PEM block", path)
	}
	pub, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return pub
}

// Signatures made by OpenSSL 3 (`openssl pkeyutl -sign -rawin`, see
// testdata/sig/gen.sh) verify as AUTH data: our hashing, padding and
// AlgorithmIdentifier choice agree with OpenSSL's.
func TestVerifyAuthOpenSSLFixtures(t *testing.T) {
	dir := filepath.Join("testdata", "sig")
	octets, err := os.ReadFile(filepath.Join(dir, "octets.bin"))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		key, sig string
		method   uint8
		algID    []byte
	}{
		{"rsa", "rsa-pkcs1-sha1.sig", AuthRSASig, nil},
		{"rsa", "rsa-pkcs1-sha1.sig", AuthDigitalSignature, algIDRSA(crypto.SHA1)},
		{"rsa", "rsa-pkcs1-sha256.sig", AuthDigitalSignature, algIDRSA(crypto.SHA256)},
		{"rsa", "rsa-pkcs1-sha512.sig", AuthDigitalSignature, algIDRSA(crypto.SHA512)},
		{"rsa", "rsa-pss-sha256.sig", AuthDigitalSignature, algIDPSS(crypto.SHA256)},
		{"rsa", "rsa-pss-sha384.sig", AuthDigitalSignature, algIDPSS(crypto.SHA384)},
		{"p256", "p256-sha256.sig", AuthDigitalSignature, algIDECDSA(crypto.SHA256)},
		{"p256", "p256-sha256.sig", AuthECDSA256, nil}, // converted to r||s below
		{"p384", "p384-sha384.sig", AuthDigitalSignature, algIDECDSA(crypto.SHA384)},
		{"p384", "p384-sha384.sig", AuthECDSA384, nil},
		{"ed25519", "ed25519.sig", AuthDigitalSignature, algIDEd25519()},
	}
	for _, c := range cases {
		t.Run(c.sig+"/"+AuthMethodName(c.method), func(t *testing.T) {
			pub := readPublicKey(t, filepath.Join(dir, c.key+".pub.pem"))
			sig, err := os.ReadFile(filepath.Join(dir, c.sig))
			if err != nil {
				t.Fatal(err)
			}
			data := sig
			switch c.method {
			case AuthDigitalSignature:
				data = method14Data(c.algID, sig)
			case AuthECDSA256, AuthECDSA384:
				_, _, size, _ := ecdsaCurveParams(pub.(*ecdsa.PublicKey).Curve)
				if data, err = ecdsaDERToRaw(sig, size); err != nil {
					t.Fatal(err)
				}
			}
			if err := VerifyAuth(pub, c.method, data, octets); err != nil {
				t.Fatalf("VerifyAuth: %v", err)
			}
			bad := bytes.Clone(octets)
			bad[len(bad)-1] ^= 1
			if err := VerifyAuth(pub, c.method, data, bad); !errors.Is(err, ErrSignatureInvalid) {
				t.Fatalf("altered octets: err = %v", err)
			}
		})
	}
}

// With openssl on the machine, both directions live: OpenSSL signs what we
// verify, and OpenSSL verifies what we sign.
func TestOpenSSLInteropLive(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl not on PATH; the committed fixtures still cover OpenSSL-made signatures")
	}
	testKeys(t)
	dir := t.TempDir()
	octets := []byte("live interop: InitiatorSignedOctets = RealMessage1 | NonceRData | MACedIDForI")
	octFile := filepath.Join(dir, "octets.bin")
	if err := os.WriteFile(octFile, octets, 0o600); err != nil {
		t.Fatal(err)
	}
	writeKey := func(name string, key crypto.Signer) (priv, pub string) {
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		pubDER, err := x509.MarshalPKIXPublicKey(key.Public())
		if err != nil {
			t.Fatal(err)
		}
		priv, pub = filepath.Join(dir, name+".key.pem"), filepath.Join(dir, name+".pub.pem")
		if err := os.WriteFile(priv, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(pub, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), 0o600); err != nil {
			t.Fatal(err)
		}
		return priv, pub
	}
	run := func(args ...string) error {
		out, err := exec.Command(openssl, args...).CombinedOutput()
		if err != nil {
			t.Logf("openssl %s: %s", strings.Join(args, " "), out)
		}
		return err
	}
	pssOpts := func(md string) []string {
		return []string{"-pkeyopt", "rsa_padding_mode:pss", "-pkeyopt", "rsa_pss_saltlen:digest", "-pkeyopt", "rsa_mgf1_md:" + md}
	}
	pkcs1 := []string{"-pkeyopt", "rsa_padding_mode:pkcs1"}
	cases := []struct {
		name   string
		key    crypto.Signer
		peer   []uint16
		pss    bool
		md     string // "" for Ed25519
		opts   []string
		method uint8
	}{
		{"RSA method 1", testRSA, nil, false, "sha1", pkcs1, AuthRSASig},
		{"RSA PKCS1 SHA-256", testRSA, only256, false, "sha256", pkcs1, AuthDigitalSignature},
		{"RSA PKCS1 SHA-512", testRSA, all7427, false, "sha512", pkcs1, AuthDigitalSignature},
		{"RSA PSS SHA-256", testRSA, only256, true, "sha256", pssOpts("sha256"), AuthDigitalSignature},
		{"RSA PSS SHA-512", testRSA, all7427, true, "sha512", pssOpts("sha512"), AuthDigitalSignature},
		{"P-256", testP256, all7427, false, "sha256", nil, AuthDigitalSignature},
		{"P-384", testP384, all7427, false, "sha384", nil, AuthDigitalSignature},
		{"P-521", testP521, all7427, false, "sha512", nil, AuthDigitalSignature},
		{"Ed25519", testEd, all7427, false, "", nil, AuthDigitalSignature},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			priv, pub := writeKey(strings.ReplaceAll(c.name, " ", "_"), c.key)
			digestArgs := []string{}
			if c.md != "" {
				digestArgs = []string{"-digest", c.md}
			}

			// Go signs, OpenSSL verifies.
			method, data, err := SignAuth(c.key, c.peer, c.pss, octets, rand.Reader)
			if err != nil || method != c.method {
				t.Fatalf("SignAuth = %d, %v; want method %d", method, err, c.method)
			}
			sig := data
			if method == AuthDigitalSignature {
				sig = data[1+int(data[0]):]
			}
			sigFile := filepath.Join(dir, "go.sig")
			if err := os.WriteFile(sigFile, sig, 0o600); err != nil {
				t.Fatal(err)
			}
			args := append([]string{"pkeyutl", "-verify", "-rawin", "-in", octFile, "-pubin", "-inkey", pub, "-sigfile", sigFile}, digestArgs...)
			if err := run(append(args, c.opts...)...); err != nil {
				t.Errorf("openssl rejects our signature: %v", err)
			}

			// OpenSSL signs, Go verifies.
			osslSig := filepath.Join(dir, "ossl.sig")
			args = append([]string{"pkeyutl", "-sign", "-rawin", "-in", octFile, "-inkey", priv, "-out", osslSig}, digestArgs...)
			if err := run(append(args, c.opts...)...); err != nil {
				t.Fatalf("openssl sign: %v", err)
			}
			got, err := os.ReadFile(osslSig)
			if err != nil {
				t.Fatal(err)
			}
			if method == AuthDigitalSignature {
				got = method14Data(data[1:1+int(data[0])], got)
			}
			if err := VerifyAuth(c.key.Public(), method, got, octets); err != nil {
				t.Errorf("OpenSSL's signature does not verify: %v", err)
			}
		})
	}
}

// FuzzVerifyAuth: arbitrary methods, AUTH data and octets never panic, for
// every kind of key (and for no key).
func FuzzVerifyAuth(f *testing.F) {
	testKeys(f)
	octets := []byte("fuzz octets")
	for _, s := range []struct {
		key  crypto.Signer
		peer []uint16
		pss  bool
	}{
		{testRSA, nil, false}, {testRSA, all7427, false}, {testRSA, all7427, true},
		{testP256, nil, false}, {testP384, all7427, false}, {testP521, nil, false}, {testEd, all7427, false},
	} {
		m, data, err := SignAuth(s.key, s.peer, s.pss, octets, rand.Reader)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(m, data, octets)
	}
	for _, c := range rfcAlgIDs {
		f.Add(AuthDigitalSignature, method14Data(unhex(f, c.hex), []byte{1, 2, 3}), octets)
	}
	f.Add(uint8(14), []byte{}, []byte{})
	f.Add(uint8(14), []byte{0xff}, []byte{})
	f.Add(uint8(9), make([]byte, 64), []byte{})
	f.Add(uint8(3), []byte{0}, []byte{})
	keys := []crypto.PublicKey{
		&testRSA.PublicKey, &testP256.PublicKey, &testP384.PublicKey, &testP521.PublicKey,
		testEd.Public(), nil, (*rsa.PublicKey)(nil), (*ecdsa.PublicKey)(nil), ed25519.PublicKey{},
		&ecdsa.PublicKey{}, &ecdsa.PublicKey{Curve: elliptic.P256()}, &rsa.PublicKey{},
	}
	f.Fuzz(func(t *testing.T, method uint8, data, octets []byte) {
		ok := 0
		for _, k := range keys {
			if VerifyAuth(k, method, data, octets) == nil {
				ok++
			}
		}
		if ok > 1 {
			t.Fatalf("AUTH data verified under %d different keys", ok)
		}
	})
}
