package oakley

import (
	"reflect"
	"strings"
	"testing"
)

// FuzzParseProposal feeds proposal strings as a config file writes them
// (ike = "...", esp = "...") to ParseProposal, for IKE and ESP. It must not
// panic, and a proposal it accepts must be well formed: it parses the same
// way twice and regardless of case and surrounding white space, it has an
// encryption transform, an IKE proposal has a PRF and a DH group and an
// ESP proposal an ESN transform, an AEAD cipher never comes with an
// integrity transform (and a classic one always does), and it has a
// non-empty String.
//
// Run it longer with
//
//	go test -run=NONE -fuzz='^FuzzParseProposal$' -fuzztime=5m ./oakley/
func FuzzParseProposal(f *testing.F) {
	for _, s := range []string{
		"aes256-sha256-modp2048", "aes128gcm16-prfsha256-x25519", "aes256gcm16-prfsha384-ecp384",
		"3des-sha1-modp1024", "aes128ctr-aesxcbc-ecp256", "chacha20poly1305-prfsha512-x25519",
		"aes128-sha256-x25519-modp2048", "aes256-aes128-sha256-sha1-modp2048-modp1024",
		"aes128gcm16", "aes256-sha256", "aes128-sha1", "aes128gcm16-modp2048", "aes256-sha512-esn-noesn",
		"null-sha256", "AES256-SHA256-MODP2048", " aes256-sha256 ", "aes256--sha256", "aes256-sha256-",
		"aes256-aes256", "aes128gcm16-sha256", "aes128gcm128-prfsha256-ecp521", "", "-",
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, s string, esp bool) {
		p, err := ParseProposal(s, esp)
		if err != nil {
			if err.Error() == "" {
				t.Errorf("ParseProposal(%q): empty error", s)
			}
			return
		}
		again, err := ParseProposal(" "+strings.ToUpper(s)+"\t", esp)
		if err != nil || !reflect.DeepEqual(p, again) {
			t.Errorf("ParseProposal(%q) = %v, but upper-cased %v, %v", s, p, again, err)
		}
		if p.String() == "" {
			t.Errorf("ParseProposal(%q): empty String", s)
		}
		encr := p.Of(TransformENCR)
		if len(encr) == 0 {
			t.Fatalf("ParseProposal(%q): no encryption transform: %v", s, p)
		}
		aead := IsAEAD(encr[0].ID)
		for _, e := range encr {
			if IsAEAD(e.ID) != aead {
				t.Errorf("ParseProposal(%q): mixes AEAD and classic ciphers: %v", s, p)
			}
		}
		if integ := p.Of(TransformINTEG); aead != (len(integ) == 0) {
			t.Errorf("ParseProposal(%q): AEAD=%v with %d integrity transforms: %v", s, aead, len(integ), p)
		}
		if esp {
			if len(p.Of(TransformPRF)) != 0 || len(p.Of(TransformESN)) == 0 {
				t.Errorf("ESP ParseProposal(%q): %v", s, p)
			}
		} else if len(p.Of(TransformPRF)) == 0 || len(p.Of(TransformDH)) == 0 || len(p.Of(TransformESN)) != 0 {
			t.Errorf("IKE ParseProposal(%q): %v", s, p)
		}
	})
}
