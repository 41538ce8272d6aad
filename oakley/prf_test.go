package oakley

import (
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
)

var prfByName = map[string]uint16{
	"PRF_HMAC_MD5":      PRFHMACMD5,
	"PRF_HMAC_SHA1":     PRFHMACSHA1,
	"PRF_HMAC_SHA2_256": PRFHMACSHA2_256,
	"PRF_HMAC_SHA2_384": PRFHMACSHA2_384,
	"PRF_HMAC_SHA2_512": PRFHMACSHA2_512,
	"PRF_AES128_XCBC":   PRFAES128XCBC,
}

var integByName = map[string]uint16{
	"AUTH_HMAC_MD5_96":       IntegHMACMD5_96,
	"AUTH_HMAC_SHA1_96":      IntegHMACSHA1_96,
	"AUTH_HMAC_SHA2_256_128": IntegHMACSHA2_256,
	"AUTH_HMAC_SHA2_384_192": IntegHMACSHA2_384,
	"AUTH_HMAC_SHA2_512_256": IntegHMACSHA2_512,
	"AUTH_AES_XCBC_96":       IntegAESXCBC96,
}

// hmacPRFForAuth names the PRF whose output an AUTH_HMAC_* value truncates,
// for the strongSwan-private truncations IKEv2 has no transform for.
var hmacPRFForAuth = map[string]uint16{
	"MD5": PRFHMACMD5, "SHA-1": PRFHMACSHA1,
}

// macVectors runs the PRF_* and AUTH_* entries of a MAC vector file.
func macVectors(t *testing.T, file string) {
	var prfs, integs, truncs int
	for _, v := range loadVectors(t, file) {
		alg := v.str("algorithm")
		key, msg, want := v.hex(t, "key"), v.hex(t, "message"), v.hex(t, "mac")
		if len(want) != v.num("mac_length_bytes") {
			t.Fatalf("%s: mac is %d bytes, file says %d", v.id(), len(want), v.num("mac_length_bytes"))
		}
		t.Run(v.id(), func(t *testing.T) {
			if id, ok := prfByName[alg]; ok {
				prfs++
				p, err := NewPRF(id)
				if err != nil {
					t.Fatal(err)
				}
				checkEqual(t, "prf", p.Sum(key, msg), want)
				if p.Size() != len(want) {
					t.Errorf("Size() = %d, want %d", p.Size(), len(want))
				}
				// The same value with the message split in pieces.
				if len(msg) > 2 {
					checkEqual(t, "prf (split)", p.Sum(key, msg[:1], nil, msg[1:len(msg)/2], msg[len(msg)/2:]), want)
				}
				// RFC 3566 Test Cases 6 and 7 also give the 96-bit value.
				if v.has("aes_xcbc_mac_96") {
					m, err := newIntegMAC(IntegAESXCBC96, key)
					if err != nil {
						t.Fatal(err)
					}
					checkEqual(t, "xcbc-96", m.icv(msg), v.hex(t, "aes_xcbc_mac_96"))
				}
				return
			}
			if id, ok := integByName[alg]; ok {
				integs++
				m, err := newIntegMAC(id, key)
				if err != nil {
					t.Fatal(err)
				}
				checkEqual(t, "icv", m.icv(msg), want)
				if n, _ := IntegICVLen(id); n != len(want) {
					t.Errorf("IntegICVLen = %d, want %d", n, len(want))
				}
				return
			}
			// AUTH_HMAC_MD5_128 / SHA1_128 / SHA1_160: no IKEv2 transform,
			// but still a truncation of the PRF output.
			if id, ok := hmacPRFForAuth[v.str("hash")]; ok && strings.HasPrefix(alg, "AUTH_HMAC_") {
				truncs++
				p, _ := NewPRF(id)
				checkEqual(t, "truncated hmac", p.Sum(key, msg)[:len(want)], want)
				return
			}
			t.Fatalf("unexpected algorithm %q", alg)
		})
	}
	t.Logf("%s: %d PRF, %d integrity, %d other truncation vectors", file, prfs, integs, truncs)
}

func TestPRFHMACVectors(t *testing.T) { macVectors(t, "prf_hmac.json") }

func TestAESXCBCVectors(t *testing.T) { macVectors(t, "aes_xcbc.json") }

// TestXCBCStreaming feeds messages in every split to check that the final
// block is held back correctly at block boundaries.
func TestXCBCStreaming(t *testing.T) {
	p, _ := NewPRF(PRFAES128XCBC)
	key := mustHex("000102030405060708090a0b0c0d0e0f")
	msg := make([]byte, 50)
	for i := range msg {
		msg[i] = byte(i)
	}
	for n := 0; n <= len(msg); n++ {
		want := p.Sum(key, msg[:n])
		for cut := 0; cut <= n; cut++ {
			checkEqual(t, "split", p.Sum(key, msg[:cut], msg[cut:n]), want)
		}
	}
}

func TestNewPRF(t *testing.T) {
	tests := []struct {
		id           uint16
		size, keyLen int
	}{
		{PRFHMACMD5, 16, 16},
		{PRFHMACSHA1, 20, 20},
		{PRFHMACSHA2_256, 32, 32},
		{PRFHMACSHA2_384, 48, 48},
		{PRFHMACSHA2_512, 64, 64},
		{PRFAES128XCBC, 16, 16},
	}
	for _, tc := range tests {
		p, err := NewPRF(tc.id)
		if err != nil {
			t.Fatal(err)
		}
		if p.Size() != tc.size || p.KeyLen() != tc.keyLen || p.ID() != tc.id {
			t.Errorf("PRF %d: Size %d KeyLen %d ID %d, want %d %d %d", tc.id, p.Size(), p.KeyLen(), p.ID(), tc.size, tc.keyLen, tc.id)
		}
	}
	for _, id := range []uint16{0, 3, 8, 9999} {
		if _, err := NewPRF(id); !errors.Is(err, ErrUnsupportedPRF) {
			t.Errorf("NewPRF(%d) error = %v, want ErrUnsupportedPRF", id, err)
		}
	}
}

// TestPRFPlus checks prf+ against its definition, written out with
// crypto/hmac, and its length handling.
func TestPRFPlus(t *testing.T) {
	p, _ := NewPRF(PRFHMACSHA2_256)
	key, seed := []byte("key"), []byte("seed")
	var want, tprev []byte
	for i := 1; i <= 4; i++ {
		m := hmac.New(sha256.New, key)
		m.Write(tprev)
		m.Write(seed)
		m.Write([]byte{byte(i)})
		tprev = m.Sum(nil)
		want = append(want, tprev...)
	}
	for _, n := range []int{0, 1, 31, 32, 33, 100, 128} {
		got := PRFPlus(p, key, seed, n)
		if len(got) != n || cap(got) != n {
			t.Errorf("len %d cap %d, want %d", len(got), cap(got), n)
		}
		checkEqual(t, "prf+", got, want[:n])
	}
	if got := len(PRFPlus(p, key, seed, 255*32)); got != 255*32 {
		t.Errorf("255 blocks: got %d bytes", got)
	}
	defer func() {
		if recover() == nil {
			t.Error("prf+ of 256 blocks did not panic")
		}
	}()
	PRFPlus(p, key, seed, 255*32+1)
}
