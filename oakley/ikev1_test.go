package oakley

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"strings"
	"testing"
)

// refHMAC is an independent prf (crypto/hmac directly, not PRF.Sum).
func refHMAC(h func() hash.Hash, key []byte, data ...[]byte) []byte {
	m := hmac.New(h, key)
	for _, d := range data {
		m.Write(d)
	}
	return m.Sum(nil)
}

func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func mustPRF(t testing.TB, id uint16) *PRF {
	t.Helper()
	p, err := NewPRF(id)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestIKEv1KDFVectors(t *testing.T) {
	var psk, sig int
	for _, v := range loadVectors(t, "ike_kdf.json") {
		if !strings.HasPrefix(v.str("algorithm"), "IKEv1") {
			continue
		}
		t.Run(v.id(), func(t *testing.T) {
			id, ok := kdfPRFByHash[v.str("hash")]
			if !ok {
				t.Fatalf("unknown hash %q", v.str("hash"))
			}
			p := mustPRF(t, id)
			ni, nr, gxy := v.hex(t, "ni"), v.hex(t, "nr"), v.hex(t, "g_xy")
			ckyI := binary.BigEndian.Uint64(v.hex(t, "cky_i"))
			ckyR := binary.BigEndian.Uint64(v.hex(t, "cky_r"))
			var skeyid []byte
			if v.has("pre_shared_key") {
				psk++
				skeyid = V1SKEYIDPSK(p, v.hex(t, "pre_shared_key"), ni, nr)
			} else {
				sig++
				skeyid = V1SKEYIDSig(p, ni, nr, gxy)
			}
			checkEqual(t, "SKEYID", skeyid, v.hex(t, "skeyid"))
			k := V1DeriveKeys(p, skeyid, gxy, ckyI, ckyR)
			checkEqual(t, "SKEYID (V1Keys)", k.SKEYID, v.hex(t, "skeyid"))
			checkEqual(t, "SKEYID_d", k.SKEYIDd, v.hex(t, "skeyid_d"))
			checkEqual(t, "SKEYID_a", k.SKEYIDa, v.hex(t, "skeyid_a"))
			checkEqual(t, "SKEYID_e", k.SKEYIDe, v.hex(t, "skeyid_e"))
		})
	}
	if psk != 1 || sig != 1 {
		t.Errorf("ran %d PSK and %d signature IKEv1 vectors, want 1 and 1", psk, sig)
	}
}

func TestV1SKEYIDPubKeyEnc(t *testing.T) {
	p := mustPRF(t, PRFHMACSHA2_256)
	ni, nr := bytes.Repeat([]byte{1}, 16), bytes.Repeat([]byte{2}, 24)
	h := sha256.Sum256(cat(ni, nr))
	want := refHMAC(sha256.New, h[:], mustHex("0102030405060708a1a2a3a4a5a6a7a8"))
	checkEqual(t, "SKEYID", V1SKEYIDPubKeyEnc(p, ni, nr, 0x0102030405060708, 0xa1a2a3a4a5a6a7a8), want)
	if V1SKEYIDPubKeyEnc(mustPRF(t, PRFAES128XCBC), ni, nr, 1, 2) != nil {
		t.Error("XCBC PRF: want nil")
	}
}

// TestV1EncKeyExpansion checks RFC 2409 Appendix B against an independent
// computation: AES-256 needs 32 bytes, SHA-1 gives 20.
func TestV1EncKeyExpansion(t *testing.T) {
	skeyidE := mustHex("cd74b0c048219db81384d3fda8f6cda51e398a2b") // the ACVP PSK vector's
	k1 := refHMAC(sha1.New, skeyidE, []byte{0})
	k2 := refHMAC(sha1.New, skeyidE, k1)
	want := cat(k1, k2)[:32]

	p := mustPRF(t, PRFHMACSHA1)
	n, err := V1EncrKeyLen(Transform{Type: TransformENCR, ID: EncrAESCBC, KeyLen: 256})
	if err != nil || n != 32 {
		t.Fatalf("V1EncrKeyLen(AES_CBC_256) = %d, %v", n, err)
	}
	got := V1EncKey(p, skeyidE, n)
	checkEqual(t, "AES-256 key from SHA-1 SKEYID_e", got, want)

	// Three blocks: 3DES (24) with MD5 (16) needs K1 | K2; 50 bytes need K1..K3.
	k3 := refHMAC(sha1.New, skeyidE, k2)
	checkEqual(t, "50 bytes", V1EncKey(p, skeyidE, 50), cat(k1, k2, k3)[:50])
	pm := mustPRF(t, PRFHMACMD5)
	e16 := skeyidE[:16]
	m1 := refHMAC(md5.New, e16, []byte{0})
	m2 := refHMAC(md5.New, e16, m1)
	checkEqual(t, "3DES key from MD5 SKEYID_e", V1EncKey(pm, e16, 24), cat(m1, m2)[:24])

	// No expansion when SKEYID_e is long enough: its first n bytes.
	checkEqual(t, "AES-128 from SHA-1", V1EncKey(p, skeyidE, 16), skeyidE[:16])
	checkEqual(t, "exactly 20", V1EncKey(p, skeyidE, 20), skeyidE)
	e32 := bytes.Repeat([]byte{0x5a}, 32)
	checkEqual(t, "AES-256 from SHA-256", V1EncKey(mustPRF(t, PRFHMACSHA2_256), e32, 32), e32)

	// The result never aliases SKEYID_e.
	k := V1EncKey(p, skeyidE, 16)
	k[0] ^= 0xff
	if skeyidE[0] == k[0] {
		t.Error("V1EncKey aliases SKEYID_e")
	}
	if len(V1EncKey(p, skeyidE, 0)) != 0 || len(V1EncKey(p, skeyidE, -1)) != 0 {
		t.Error("n <= 0 must give an empty key")
	}
}

// IPsec DOI protocol IDs (RFC 2407 4.4.1) as KEYMAT's protocol octet. They
// are wire structure owned by package isakmp (ProtocolESP, ProtocolAH),
// which oakley does not import.
const (
	protoAH  uint8 = 2
	protoESP uint8 = 3
)

func TestV1KeyMat(t *testing.T) {
	p := mustPRF(t, PRFHMACSHA1)
	skeyidD := mustHex("369e5aad1bdb5faf6a3d929d500cdc236710a9ab")
	ni := bytes.Repeat([]byte{0x11}, 16)
	nr := bytes.Repeat([]byte{0x22}, 20)
	spi := uint32(0xc0ffee01)
	spiB := []byte{0xc0, 0xff, 0xee, 0x01}
	gxy := bytes.Repeat([]byte{0x33}, 128)

	for _, tc := range []struct {
		name string
		gxy  []byte
	}{{"no PFS", nil}, {"PFS", gxy}} {
		t.Run(tc.name, func(t *testing.T) {
			seed := cat(tc.gxy, []byte{protoESP}, spiB, ni, nr)
			k1 := refHMAC(sha1.New, skeyidD, seed)
			k2 := refHMAC(sha1.New, skeyidD, k1, seed)
			k3 := refHMAC(sha1.New, skeyidD, k2, seed)
			// AES-256 (32) + HMAC-SHA1 (20) = 52 bytes: three SHA-1 blocks.
			got := V1KeyMat(p, skeyidD, tc.gxy, protoESP, spi, ni, nr, 52)
			checkEqual(t, "KEYMAT", got, cat(k1, k2, k3)[:52])
			checkEqual(t, "short KEYMAT", V1KeyMat(p, skeyidD, tc.gxy, protoESP, spi, ni, nr, 7), k1[:7])
			checkEqual(t, "one block", V1KeyMat(p, skeyidD, tc.gxy, protoESP, spi, ni, nr, 20), k1)
		})
	}
	// The SPI and protocol are part of the seed: each direction and protocol differs.
	a := V1KeyMat(p, skeyidD, nil, protoESP, 1, ni, nr, 20)
	if bytes.Equal(a, V1KeyMat(p, skeyidD, nil, protoESP, 2, ni, nr, 20)) ||
		bytes.Equal(a, V1KeyMat(p, skeyidD, nil, protoAH, 1, ni, nr, 20)) {
		t.Error("KEYMAT does not depend on SPI / protocol")
	}
	if len(V1KeyMat(p, skeyidD, nil, protoESP, 1, ni, nr, 0)) != 0 {
		t.Error("n = 0 must give an empty result")
	}
}

func TestV1AuthHashes(t *testing.T) {
	p := mustPRF(t, PRFHMACSHA2_256)
	skeyid := bytes.Repeat([]byte{0x01}, 32)
	skeyidA := bytes.Repeat([]byte{0x0a}, 32)
	gxi, gxr := bytes.Repeat([]byte{0xaa}, 32), bytes.Repeat([]byte{0xbb}, 32)
	ckyI, ckyR := uint64(0x0102030405060708), uint64(0x1112131415161718)
	ckyIB, ckyRB := mustHex("0102030405060708"), mustHex("1112131415161718")
	sai := []byte("SAi_b: the initiator's SA payload body")
	idii, idir := []byte{1, 0, 0, 0, 192, 0, 2, 1}, []byte{1, 0, 0, 0, 192, 0, 2, 2}

	checkEqual(t, "HASH_I", V1HashI(p, skeyid, gxi, gxr, ckyI, ckyR, sai, idii),
		refHMAC(sha256.New, skeyid, gxi, gxr, ckyIB, ckyRB, sai, idii))
	checkEqual(t, "HASH_R", V1HashR(p, skeyid, gxr, gxi, ckyR, ckyI, sai, idir),
		refHMAC(sha256.New, skeyid, gxr, gxi, ckyRB, ckyIB, sai, idir))

	msgID := uint32(0xdeadbeef)
	mid := mustHex("deadbeef")
	ni, nr := []byte("Ni_b nonce body"), []byte("Nr_b nonce body")
	rest := []byte("SA | Ni | IDci | IDcr with generic headers")
	checkEqual(t, "HASH(1)", V1QMHash1(p, skeyidA, msgID, rest), refHMAC(sha256.New, skeyidA, mid, rest))
	checkEqual(t, "HASH(2)", V1QMHash2(p, skeyidA, msgID, ni, rest), refHMAC(sha256.New, skeyidA, mid, ni, rest))
	checkEqual(t, "HASH(3)", V1QMHash3(p, skeyidA, msgID, ni, nr), refHMAC(sha256.New, skeyidA, []byte{0}, mid, ni, nr))
	checkEqual(t, "Informational HASH(1)", V1InfoHash(p, skeyidA, msgID, rest), refHMAC(sha256.New, skeyidA, mid, rest))
}

func TestV1IVs(t *testing.T) {
	gxi, gxr := bytes.Repeat([]byte{0x01}, 128), bytes.Repeat([]byte{0x02}, 128)
	s1 := sha1.Sum(cat(gxi, gxr))
	checkEqual(t, "phase 1 IV SHA-1/AES", V1PhaseOneIV(V1HashSHA1, gxi, gxr, 16), s1[:16])
	checkEqual(t, "phase 1 IV SHA-1/3DES", V1PhaseOneIV(V1HashSHA1, gxi, gxr, 8), s1[:8])
	m := md5.Sum(cat(gxi, gxr))
	checkEqual(t, "phase 1 IV MD5/AES", V1PhaseOneIV(V1HashMD5, gxi, gxr, 16), m[:])
	s5 := sha512.Sum512(cat(gxi, gxr))
	checkEqual(t, "phase 1 IV SHA-512/AES", V1PhaseOneIV(V1HashSHA2512, gxi, gxr, 16), s5[:16])

	last := mustHex("00112233445566778899aabbccddeeff")
	s2 := sha256.Sum256(cat(last, mustHex("01020304")))
	checkEqual(t, "phase 2 IV SHA-256", V1PhaseTwoIV(V1HashSHA2256, last, 0x01020304, 16), s2[:16])
	s3 := sha512.Sum384(cat(last[8:], mustHex("fffffffe")))
	checkEqual(t, "phase 2 IV SHA-384/3DES", V1PhaseTwoIV(V1HashSHA2384, last[8:], 0xfffffffe, 8), s3[:8])

	for _, bad := range []struct {
		hash uint16
		bs   int
	}{{V1HashTiger, 16}, {0, 16}, {V1HashMD5, 17}, {V1HashSHA1, 0}, {V1HashSHA1, -8}} {
		if iv := V1PhaseOneIV(bad.hash, gxi, gxr, bad.bs); iv != nil {
			t.Errorf("V1PhaseOneIV(%d, %d) = %x, want nil", bad.hash, bad.bs, iv)
		}
		if iv := V1PhaseTwoIV(bad.hash, last, 1, bad.bs); iv != nil {
			t.Errorf("V1PhaseTwoIV(%d, %d) = %x, want nil", bad.hash, bad.bs, iv)
		}
	}
}

func TestV1EncrMapping(t *testing.T) {
	for _, tc := range []struct {
		v1, keyLen uint16
		want       Transform
		n          int
	}{
		{V1EncrAESCBC, 128, Transform{TransformENCR, EncrAESCBC, 128}, 16},
		{V1EncrAESCBC, 192, Transform{TransformENCR, EncrAESCBC, 192}, 24},
		{V1EncrAESCBC, 256, Transform{TransformENCR, EncrAESCBC, 256}, 32},
		{V1Encr3DESCBC, 0, Transform{TransformENCR, Encr3DES, 0}, 24},
		{V1EncrDESCBC, 0, Transform{TransformENCR, EncrDES, 0}, 8},
	} {
		got, err := V1EncrToTransform(tc.v1, tc.keyLen)
		if err != nil || got != tc.want {
			t.Errorf("V1EncrToTransform(%d, %d) = %v, %v; want %v", tc.v1, tc.keyLen, got, err, tc.want)
			continue
		}
		id, kl, err := V1EncrFromTransform(got)
		if err != nil || id != tc.v1 || kl != tc.keyLen {
			t.Errorf("V1EncrFromTransform(%v) = %d, %d, %v", got, id, kl, err)
		}
		if n, err := V1EncrKeyLen(got); err != nil || n != tc.n {
			t.Errorf("V1EncrKeyLen(%v) = %d, %v; want %d", got, n, err, tc.n)
		}
	}
	// 3DES and DES accept their fixed size as an attribute.
	if tr, err := V1EncrToTransform(V1Encr3DESCBC, 192); err != nil || tr.ID != Encr3DES {
		t.Errorf("3DES/192: %v %v", tr, err)
	}
	for _, bad := range [][2]uint16{
		{V1EncrAESCBC, 0}, {V1EncrAESCBC, 64}, {V1Encr3DESCBC, 128}, {V1EncrDESCBC, 56},
		{V1EncrIDEACBC, 0}, {V1EncrBlowfishCBC, 128}, {V1EncrCamelliaCBC, 128}, {0, 0}, {99, 0},
	} {
		if _, err := V1EncrToTransform(bad[0], bad[1]); !errors.Is(err, ErrV1Unsupported) {
			t.Errorf("V1EncrToTransform(%d, %d): err = %v", bad[0], bad[1], err)
		}
	}
	for _, bad := range []Transform{
		{TransformENCR, EncrAESGCM16, 128}, {TransformENCR, EncrAESCTR, 128}, {TransformENCR, EncrChaCha20Poly1305, 0},
		{TransformENCR, EncrAESCBC, 0}, {TransformPRF, PRFHMACSHA1, 0}, {TransformENCR, EncrNULL, 0},
	} {
		if _, _, err := V1EncrFromTransform(bad); !errors.Is(err, ErrV1Unsupported) {
			t.Errorf("V1EncrFromTransform(%v): err = %v", bad, err)
		}
		if _, err := V1EncrKeyLen(bad); err == nil {
			t.Errorf("V1EncrKeyLen(%v): no error", bad)
		}
	}
	if _, err := V1EncrToTransform(V1EncrAESCBC, 0); err == nil || !strings.Contains(err.Error(), "Key Length") {
		t.Errorf("missing AES key length should say so: %v", err)
	}
}

func TestV1HashPRFMapping(t *testing.T) {
	pairs := [][2]uint16{
		{V1HashMD5, PRFHMACMD5}, {V1HashSHA1, PRFHMACSHA1}, {V1HashSHA2256, PRFHMACSHA2_256},
		{V1HashSHA2384, PRFHMACSHA2_384}, {V1HashSHA2512, PRFHMACSHA2_512},
	}
	for _, pr := range pairs {
		if got, err := V1HashToPRF(pr[0]); err != nil || got != pr[1] {
			t.Errorf("V1HashToPRF(%d) = %d, %v", pr[0], got, err)
		}
		if got, err := V1HashFromPRF(pr[1]); err != nil || got != pr[0] {
			t.Errorf("V1HashFromPRF(%d) = %d, %v", pr[1], got, err)
		}
		// The PRF's output size equals the plain hash's (used for the IVs).
		if p := mustPRF(t, pr[1]); p.Size() != v1NewHash(pr[0])().Size() {
			t.Errorf("hash %d: PRF size %d", pr[0], p.Size())
		}
	}
	if h, err := V1NewHash(V1HashSHA2384); err != nil || h().Size() != 48 {
		t.Errorf("V1NewHash(SHA2-384) = %v", err)
	}
	if _, err := V1NewHash(V1HashTiger); !errors.Is(err, ErrV1Unsupported) {
		t.Errorf("V1NewHash(Tiger): %v", err)
	}
	if _, err := V1HashToPRF(V1HashTiger); !errors.Is(err, ErrV1Unsupported) {
		t.Errorf("Tiger: %v", err)
	}
	if _, err := V1HashFromPRF(PRFAES128XCBC); !errors.Is(err, ErrV1Unsupported) {
		t.Errorf("XCBC: %v", err)
	}
}

func TestV1ESPMapping(t *testing.T) {
	pairs := [][2]uint16{
		{V1ESPAuthHMACMD5, IntegHMACMD5_96}, {V1ESPAuthHMACSHA1, IntegHMACSHA1_96},
		{V1ESPAuthHMACSHA2256, IntegHMACSHA2_256}, {V1ESPAuthHMACSHA2384, IntegHMACSHA2_384},
		{V1ESPAuthHMACSHA2512, IntegHMACSHA2_512}, {V1ESPAuthAESXCBC, IntegAESXCBC96},
	}
	for _, pr := range pairs {
		if got, err := V1ESPAuthToInteg(pr[0]); err != nil || got != pr[1] {
			t.Errorf("V1ESPAuthToInteg(%d) = %d, %v", pr[0], got, err)
		}
		if got, err := V1ESPAuthFromInteg(pr[1]); err != nil || got != pr[0] {
			t.Errorf("V1ESPAuthFromInteg(%d) = %d, %v", pr[1], got, err)
		}
	}
	for _, bad := range []uint16{0, V1ESPAuthDESMAC, V1ESPAuthKPDK, V1ESPAuthHMACRIPEMD, 100} {
		if _, err := V1ESPAuthToInteg(bad); !errors.Is(err, ErrV1Unsupported) {
			t.Errorf("V1ESPAuthToInteg(%d): %v", bad, err)
		}
	}
	if _, err := V1ESPAuthFromInteg(IntegNone); !errors.Is(err, ErrV1Unsupported) {
		t.Errorf("V1ESPAuthFromInteg(NONE): %v", err)
	}

	for _, tc := range []struct {
		id     uint8
		keyLen uint16
		want   Transform
	}{
		{V1ESPAES, 128, Transform{TransformENCR, EncrAESCBC, 128}},
		{V1ESPAES, 256, Transform{TransformENCR, EncrAESCBC, 256}},
		{V1ESPAESCTR, 192, Transform{TransformENCR, EncrAESCTR, 192}},
		{V1ESPAESGCM8, 128, Transform{TransformENCR, EncrAESGCM8, 128}},
		{V1ESPAESGCM12, 256, Transform{TransformENCR, EncrAESGCM12, 256}},
		{V1ESPAESGCM16, 256, Transform{TransformENCR, EncrAESGCM16, 256}},
		{V1ESP3DES, 0, Transform{TransformENCR, Encr3DES, 0}},
		{V1ESPDES, 0, Transform{TransformENCR, EncrDES, 0}},
		{V1ESPNULL, 0, Transform{TransformENCR, EncrNULL, 0}},
		{V1ESPChaCha20Poly1305, 0, Transform{TransformENCR, EncrChaCha20Poly1305, 0}},
	} {
		got, err := V1ESPTransformToTransform(tc.id, tc.keyLen)
		if err != nil || got != tc.want {
			t.Errorf("V1ESPTransformToTransform(%d, %d) = %v, %v; want %v", tc.id, tc.keyLen, got, err, tc.want)
			continue
		}
		id, kl, err := V1ESPTransformFromTransform(got)
		if err != nil || id != tc.id || kl != tc.keyLen {
			t.Errorf("V1ESPTransformFromTransform(%v) = %d, %d, %v", got, id, kl, err)
		}
	}
	for _, bad := range []struct {
		id     uint8
		keyLen uint16
	}{{V1ESPAES, 0}, {V1ESPAESGCM16, 64}, {V1ESPNULL, 128}, {V1ESP3DES, 128}, {1, 0}, {255, 0}} {
		if _, err := V1ESPTransformToTransform(bad.id, bad.keyLen); !errors.Is(err, ErrV1Unsupported) {
			t.Errorf("V1ESPTransformToTransform(%d, %d): %v", bad.id, bad.keyLen, err)
		}
	}
	if _, _, err := V1ESPTransformFromTransform(Transform{TransformENCR, 300, 0}); !errors.Is(err, ErrV1Unsupported) {
		t.Errorf("ID 300: %v", err)
	}
}

func newTestV1Cipher(t testing.TB, encr Transform) *V1Cipher {
	t.Helper()
	n, err := V1EncrKeyLen(encr)
	if err != nil {
		t.Fatal(err)
	}
	key := make([]byte, n)
	for i := range key {
		key[i] = byte(i*7 + 1)
	}
	c, err := NewV1Cipher(encr, key)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var v1TestCiphers = []Transform{
	{TransformENCR, EncrAESCBC, 128}, {TransformENCR, EncrAESCBC, 192}, {TransformENCR, EncrAESCBC, 256},
	{TransformENCR, Encr3DES, 0}, {TransformENCR, EncrDES, 0},
}

// TestV1CipherVectors runs the published CBC vectors through V1Cipher
// (their plaintexts are block multiples, so no padding is added).
func TestV1CipherVectors(t *testing.T) {
	run := func(file string, encr func(v vector) Transform) {
		for _, v := range loadVectors(t, file) {
			c, err := NewV1Cipher(encr(v), v.hex(t, "key"))
			if err != nil {
				t.Fatalf("%s: %v", v.id(), err)
			}
			ct, next := c.Encrypt(v.hex(t, "iv"), v.hex(t, "plaintext"))
			checkEqual(t, v.id()+" ciphertext", ct, v.hex(t, "ciphertext"))
			checkEqual(t, v.id()+" next IV", next, ct[len(ct)-c.BlockSize():])
			pt, _, err := c.Decrypt(v.hex(t, "iv"), v.hex(t, "ciphertext"))
			if err != nil {
				t.Fatalf("%s: %v", v.id(), err)
			}
			checkEqual(t, v.id()+" plaintext", pt, v.hex(t, "plaintext"))
		}
	}
	run("aes_cbc.json", func(v vector) Transform {
		return Transform{TransformENCR, EncrAESCBC, uint16(len(v.hex(t, "key")) * 8)}
	})
	run("3des_cbc.json", func(vector) Transform { return Transform{TransformENCR, Encr3DES, 0} })
}

func TestV1CipherRoundTripAndChaining(t *testing.T) {
	for _, encr := range v1TestCiphers {
		t.Run(fmt.Sprintf("%s_%d", v1EncrName(encr), encr.KeyLen), func(t *testing.T) {
			c := newTestV1Cipher(t, encr)
			bs := c.BlockSize()
			if want := map[uint16]int{EncrAESCBC: 16, Encr3DES: 8, EncrDES: 8}[encr.ID]; bs != want {
				t.Fatalf("BlockSize = %d, want %d", bs, want)
			}
			iv := bytes.Repeat([]byte{0x42}, bs)
			for n := 0; n <= 3*bs+1; n++ {
				pt := make([]byte, n)
				for i := range pt {
					pt[i] = byte(0xff - i)
				}
				orig := append([]byte(nil), pt...)
				ct, next := c.Encrypt(iv, pt)
				if want := (n + bs - 1) / bs * bs; len(ct) != want {
					t.Fatalf("n=%d: ciphertext %d bytes, want %d", n, len(ct), want)
				}
				if !bytes.Equal(pt, orig) {
					t.Fatalf("n=%d: Encrypt modified the plaintext", n)
				}
				if n == 0 {
					checkEqual(t, "empty nextIV", next, iv)
					continue
				}
				checkEqual(t, "nextIV is the last block", next, ct[len(ct)-bs:])
				got, next2, err := c.Decrypt(iv, ct)
				if err != nil {
					t.Fatalf("n=%d: %v", n, err)
				}
				checkEqual(t, "nextIV (decrypt)", next2, next)
				// Plaintext then zero padding (RFC 2409 Appendix B).
				checkEqual(t, "plaintext", got[:n], pt)
				if !bytes.Equal(got[n:], make([]byte, len(got)-n)) {
					t.Fatalf("n=%d: padding %x is not zeros", n, got[n:])
				}
			}

			// Chaining: message 2 encrypted with message 1's last block equals
			// one CBC pass over both, and decrypting in turn with the returned
			// IVs recovers both.
			m1 := bytes.Repeat([]byte{1}, 2*bs)
			m2 := bytes.Repeat([]byte{2}, 3*bs)
			ct1, iv2 := c.Encrypt(iv, m1)
			ct2, iv3 := c.Encrypt(iv2, m2)
			all, ivAll := c.Encrypt(iv, cat(m1, m2))
			checkEqual(t, "chained ciphertext", cat(ct1, ct2), all)
			checkEqual(t, "chained next IV", iv3, ivAll)
			p1, d2, err := c.Decrypt(iv, ct1)
			if err != nil {
				t.Fatal(err)
			}
			p2, d3, err := c.Decrypt(d2, ct2)
			if err != nil {
				t.Fatal(err)
			}
			checkEqual(t, "m1", p1, m1)
			checkEqual(t, "m2", p2, m2)
			checkEqual(t, "decrypt chain IV", d3, iv3)
			// A wrong IV garbles only the first block.
			bad := bytes.Repeat([]byte{0x43}, bs)
			p2b, _, _ := c.Decrypt(bad, ct2)
			if bytes.Equal(p2b[:bs], m2[:bs]) || !bytes.Equal(p2b[bs:], m2[bs:]) {
				t.Error("wrong IV: expected only the first block to differ")
			}
			// nextIV must be a copy, not a view of the ciphertext.
			iv2[0] ^= 0xff
			if ct1[len(ct1)-bs] == iv2[0] {
				t.Error("nextIV aliases the ciphertext")
			}
		})
	}
}

func TestV1CipherBadInput(t *testing.T) {
	for _, encr := range v1TestCiphers {
		c := newTestV1Cipher(t, encr)
		bs := c.BlockSize()
		iv := make([]byte, bs)
		ct, _ := c.Encrypt(iv, bytes.Repeat([]byte{7}, 4*bs))
		// Every truncation: errors unless a non-empty block multiple.
		for n := 0; n < len(ct); n++ {
			pt, next, err := c.Decrypt(iv, ct[:n])
			if n > 0 && n%bs == 0 {
				if err != nil || len(pt) != n || len(next) != bs {
					t.Errorf("%s: %d bytes: %v", encr, n, err)
				}
				continue
			}
			if !errors.Is(err, ErrV1Malformed) || pt != nil || next != nil {
				t.Errorf("%s: %d bytes: err = %v", encr, n, err)
			}
		}
		for _, badIV := range [][]byte{nil, make([]byte, bs-1), make([]byte, bs+1)} {
			if _, _, err := c.Decrypt(badIV, ct); !errors.Is(err, ErrV1Malformed) {
				t.Errorf("%s: IV of %d bytes: err = %v", encr, len(badIV), err)
			}
		}
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: Encrypt with a short IV did not panic", encr)
				}
			}()
			c.Encrypt(iv[:bs-1], []byte("x"))
		}()
	}

	// Key and transform checks.
	for _, tc := range []struct {
		encr   Transform
		keyLen int
	}{
		{Transform{TransformENCR, EncrAESCBC, 128}, 32},
		{Transform{TransformENCR, EncrAESCBC, 256}, 16},
		{Transform{TransformENCR, Encr3DES, 0}, 16},
		{Transform{TransformENCR, EncrDES, 0}, 24},
		{Transform{TransformENCR, EncrAESGCM16, 128}, 20},
		{Transform{TransformENCR, EncrAESCBC, 0}, 16},
	} {
		if _, err := NewV1Cipher(tc.encr, make([]byte, tc.keyLen)); err == nil {
			t.Errorf("NewV1Cipher(%v, %d-byte key): no error", tc.encr, tc.keyLen)
		}
	}
}

// TestV1EndToEnd wires the pieces the way the engine will: SKEYID_e from
// the ACVP vector, the key and IVs from it, a phase 1 message and the first
// Quick Mode message.
func TestV1EndToEnd(t *testing.T) {
	p := mustPRF(t, PRFHMACSHA1)
	skeyidE := mustHex("cd74b0c048219db81384d3fda8f6cda51e398a2b")
	encr, err := V1EncrToTransform(V1EncrAESCBC, 256)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := V1EncrKeyLen(encr)
	c, err := NewV1Cipher(encr, V1EncKey(p, skeyidE, n))
	if err != nil {
		t.Fatal(err)
	}
	gxi, gxr := bytes.Repeat([]byte{9}, 128), bytes.Repeat([]byte{8}, 128)
	iv := V1PhaseOneIV(V1HashSHA1, gxi, gxr, c.BlockSize())
	msg5 := []byte("ID | HASH_I payloads")
	ct5, iv6 := c.Encrypt(iv, msg5)
	msg6 := []byte("ID | HASH_R payloads, a little longer")
	ct6, last := c.Encrypt(iv6, msg6)
	// The responder decrypts both with its own chain.
	r5, riv6, err := c.Decrypt(V1PhaseOneIV(V1HashSHA1, gxi, gxr, c.BlockSize()), ct5)
	if err != nil || !bytes.HasPrefix(r5, msg5) {
		t.Fatalf("message 5: %v", err)
	}
	r6, rlast, err := c.Decrypt(riv6, ct6)
	if err != nil || !bytes.HasPrefix(r6, msg6) {
		t.Fatalf("message 6: %v", err)
	}
	checkEqual(t, "last phase 1 block", rlast, last)
	qmIV := V1PhaseTwoIV(V1HashSHA1, last, 0x12345678, c.BlockSize())
	qm, _ := c.Encrypt(qmIV, []byte("HASH(1) | SA | Ni"))
	got, _, err := c.Decrypt(V1PhaseTwoIV(V1HashSHA1, rlast, 0x12345678, c.BlockSize()), qm)
	if err != nil || !bytes.HasPrefix(got, []byte("HASH(1) | SA | Ni")) {
		t.Fatalf("quick mode: %v", err)
	}
}

func FuzzV1Decrypt(f *testing.F) {
	ciphers := make([]*V1Cipher, len(v1TestCiphers))
	for i, encr := range v1TestCiphers {
		ciphers[i] = newTestV1Cipher(f, encr)
	}
	f.Add(uint8(0), []byte{}, []byte{})
	f.Add(uint8(0), make([]byte, 16), make([]byte, 32))
	f.Add(uint8(3), make([]byte, 8), make([]byte, 8))
	f.Add(uint8(4), make([]byte, 8), make([]byte, 13))
	f.Add(uint8(2), make([]byte, 15), make([]byte, 48))
	ct, _ := ciphers[1].Encrypt(make([]byte, 16), []byte("a Quick Mode HASH(1) | SA | Ni | IDci | IDcr"))
	f.Add(uint8(1), make([]byte, 16), ct)
	f.Fuzz(func(t *testing.T, which uint8, iv, ct []byte) {
		c := ciphers[int(which)%len(ciphers)]
		ivCopy, ctCopy := append([]byte(nil), iv...), append([]byte(nil), ct...)
		pt, next, err := c.Decrypt(iv, ct)
		if !bytes.Equal(iv, ivCopy) || !bytes.Equal(ct, ctCopy) {
			t.Fatal("Decrypt modified its input")
		}
		if err != nil {
			if pt != nil || next != nil {
				t.Fatal("error with output")
			}
			return
		}
		bs := c.BlockSize()
		if len(pt) != len(ct) || !bytes.Equal(next, ct[len(ct)-bs:]) {
			t.Fatalf("pt %d bytes, ct %d, next %x", len(pt), len(ct), next)
		}
		// The plaintext is a block multiple, so Encrypt adds no padding and
		// must give back ct exactly.
		again, next2 := c.Encrypt(iv, pt)
		if !bytes.Equal(again, ct) || !bytes.Equal(next2, next) {
			t.Fatal("Encrypt(Decrypt(ct)) != ct")
		}
	})
}
