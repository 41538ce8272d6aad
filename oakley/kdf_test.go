package oakley

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/binary"
	"strings"
	"testing"
)

var kdfPRFByHash = map[string]uint16{
	"SHA-1": PRFHMACSHA1, "SHA-256": PRFHMACSHA2_256, "SHA-384": PRFHMACSHA2_384, "SHA-512": PRFHMACSHA2_512,
}

// splitDKM checks DeriveIKEKeys against a DKM: the seven keys, in order,
// must be the DKM, for a split of the non-PRF part into encryption and
// integrity keys.
func splitDKM(t *testing.T, p *PRF, skeyseed, ni, nr []byte, spii, spir uint64, dkm []byte) IKEKeys {
	t.Helper()
	rest := len(dkm) - 3*p.KeyLen()
	if rest < 0 || rest%2 != 0 {
		// Too short for seven keys (SHA-512 with a 1056-bit DKM): check
		// that SK_d is the DKM's first PRF-key-length bytes.
		k := DeriveIKEKeys(p, skeyseed, ni, nr, spii, spir, 0, 0)
		checkEqual(t, "SK_d", k.SKd, dkm[:p.KeyLen()])
		return k
	}
	integ := rest / 4
	enc := rest/2 - integ
	k := DeriveIKEKeys(p, skeyseed, ni, nr, spii, spir, enc, integ)
	var all []byte
	for _, part := range [][]byte{k.SKd, k.SKai, k.SKar, k.SKei, k.SKer, k.SKpi, k.SKpr} {
		all = append(all, part...)
	}
	checkEqual(t, "SK_d|SK_ai|...|SK_pr", all, dkm)
	if len(k.SKd) != p.KeyLen() || len(k.SKai) != integ || len(k.SKei) != enc || len(k.SKpr) != p.KeyLen() {
		t.Errorf("key lengths %d %d %d %d", len(k.SKd), len(k.SKai), len(k.SKei), len(k.SKpr))
	}
	return k
}

func TestIKEv2KDFVectors(t *testing.T) {
	var acvp, cavp int
	for _, v := range loadVectors(t, "ike_kdf.json") {
		if !strings.HasPrefix(v.str("algorithm"), "IKEv2") {
			continue // IKEv1 SKEYID vectors
		}
		t.Run(v.id(), func(t *testing.T) {
			id, ok := kdfPRFByHash[v.str("hash")]
			if !ok {
				t.Fatalf("unknown hash %q", v.str("hash"))
			}
			p, _ := NewPRF(id)
			var ni, nr []byte
			if v.has("ni_nr") {
				// CAVP: only Ni | Nr is given; any split gives the same result.
				nn := v.hex(t, "ni_nr")
				ni, nr = nn[:len(nn)/2], nn[len(nn)/2:]
			} else {
				ni, nr = v.hex(t, "ni"), v.hex(t, "nr")
			}
			gir := v.hex(t, "g_ir")
			spii := binary.BigEndian.Uint64(v.hex(t, "spi_i"))
			spir := binary.BigEndian.Uint64(v.hex(t, "spi_r"))
			dkm := v.hex(t, "dkm")
			if len(dkm)*8 != v.num("dkm_length_bits") {
				t.Fatalf("dkm is %d bits, file says %d", len(dkm)*8, v.num("dkm_length_bits"))
			}

			skeyseed := SKEYSEED(p, ni, nr, gir)
			checkEqual(t, "SKEYSEED", skeyseed, v.hex(t, "skeyseed"))
			seed := append(append(append([]byte(nil), ni...), nr...), append(v.hex(t, "spi_i"), v.hex(t, "spi_r")...)...)
			checkEqual(t, "prf+", PRFPlus(p, skeyseed, seed, len(dkm)), dkm)
			k := splitDKM(t, p, skeyseed, ni, nr, spii, spir, dkm)

			if !v.has("dkm_child_sa") {
				cavp++
				return
			}
			acvp++
			girNew := v.hex(t, "g_ir_new")
			child := v.hex(t, "dkm_child_sa")
			if len(child)*8 != v.num("child_dkm_length_bits") {
				t.Fatalf("child dkm is %d bits", len(child)*8)
			}
			checkEqual(t, "child DKM", ChildKeymat(p, k.SKd, nil, ni, nr, len(child)), child)
			childDH := v.hex(t, "dkm_child_sa_dh")
			checkEqual(t, "child DH DKM", ChildKeymat(p, k.SKd, girNew, ni, nr, len(childDH)), childDH)
			checkEqual(t, "rekey SKEYSEED", RekeySKEYSEED(p, k.SKd, girNew, ni, nr), v.hex(t, "skeyseed_rekey"))
		})
	}
	if acvp != 1 || cavp != 6 {
		t.Errorf("ran %d ACVP and %d CAVP IKEv2 vectors, want 1 and 6", acvp, cavp)
	}
}

// TestXCBCKeyDerivation checks the AES128-XCBC special cases: SKEYSEED is
// keyed with the first 64 bits of each nonce, and SK_d/SK_pi/SK_pr are 16
// bytes.
func TestXCBCKeyDerivation(t *testing.T) {
	p, _ := NewPRF(PRFAES128XCBC)
	ni := bytes.Repeat([]byte{0x11}, 32)
	nr := bytes.Repeat([]byte{0x22}, 32)
	gir := bytes.Repeat([]byte{0x33}, 256)
	key := append(append([]byte(nil), ni[:8]...), nr[:8]...)
	checkEqual(t, "SKEYSEED", SKEYSEED(p, ni, nr, gir), p.Sum(key, gir))
	// Short nonces (invalid in IKEv2) must not panic.
	_ = SKEYSEED(p, ni[:3], nr[:0], gir)

	k := DeriveIKEKeys(p, SKEYSEED(p, ni, nr, gir), ni, nr, 1, 2, 20, 16)
	if len(k.SKd) != 16 || len(k.SKpi) != 16 || len(k.SKpr) != 16 || len(k.SKei) != 20 || len(k.SKai) != 16 {
		t.Errorf("key lengths: d %d pi %d pr %d ei %d ai %d", len(k.SKd), len(k.SKpi), len(k.SKpr), len(k.SKei), len(k.SKai))
	}
	// HMAC PRFs use all of Ni | Nr.
	h, _ := NewPRF(PRFHMACSHA1)
	checkEqual(t, "HMAC SKEYSEED", SKEYSEED(h, ni, nr, gir), h.Sum(append(append([]byte(nil), ni...), nr...), gir))
}

func TestPSKAuth(t *testing.T) {
	p, _ := NewPRF(PRFHMACSHA1)
	psk := []byte("s3cr3t")
	octets := []byte("signed octets")
	// Written out with crypto/hmac (RFC 7296 section 2.15).
	m := hmac.New(sha1.New, psk)
	m.Write([]byte("Key Pad for IKEv2"))
	m = hmac.New(sha1.New, m.Sum(nil))
	m.Write(octets)
	checkEqual(t, "AUTH", PSKAuth(p, psk, octets), m.Sum(nil))

	// AES128-XCBC with a PSK longer than 16 bytes goes through the RFC 4434
	// key normalisation instead of failing.
	x, _ := NewPRF(PRFAES128XCBC)
	if got := PSKAuth(x, bytes.Repeat([]byte("k"), 40), octets); len(got) != 16 {
		t.Errorf("XCBC AUTH is %d bytes", len(got))
	}
}

func TestSignedOctets(t *testing.T) {
	p, _ := NewPRF(PRFHMACSHA2_256)
	msg, nonce, skp, id := []byte("IKE_SA_INIT"), []byte("peer nonce"), []byte("SK_pi"), []byte{2, 0, 0, 0, 'a', 'b'}
	got := SignedOctets(p, msg, nonce, skp, id)
	want := append(append(append([]byte(nil), msg...), nonce...), p.Sum(skp, id)...)
	checkEqual(t, "SignedOctets", got, want)
}
