package oakley

import (
	"strings"
	"testing"
)

// TestForeignSpellings: Cisco and Libreswan proposal spellings get a
// "did you mean" in strongSwan keywords that itself parses; broken
// groups and ciphers are named as such.
func TestForeignSpellings(t *testing.T) {
	for _, tc := range []struct {
		in   string
		esp  bool
		want string // in the error
	}{
		{"esp-aes-256 esp-sha-hmac", true, `did you mean "aes256-sha1"`},
		{"esp-aes 256 esp-sha256-hmac", true, `did you mean "aes256-sha256"`},
		{"esp-3des esp-md5-hmac", true, `did you mean "3des-md5"`},
		{"esp-gcm 256", true, `did you mean "aes256gcm16"`},
		{"aes 256 sha256 group14", false, `did you mean "aes256-sha256-modp2048"`},
		{"aes256-sha2_256;modp2048", false, `did you mean "aes256-sha256-modp2048"`},
		{"aes-sha-group2", false, `did you mean "aes128-sha1-modp1024"`},
		{"aes256-sha1-modp768", false, "DH group 1 (768-bit MODP) is broken"},
		{"des-sha1", true, "single DES is broken"},
		{"aes256-sha256-bogus", false, ""}, // nothing to suggest
	} {
		_, err := ParseProposal(tc.in, tc.esp)
		if err == nil {
			t.Errorf("%q parsed", tc.in)
			continue
		}
		if tc.want == "" {
			if strings.Contains(err.Error(), "did you mean") {
				t.Errorf("%q: unexpected suggestion: %v", tc.in, err)
			}
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want it to contain %s", tc.in, err, tc.want)
		}
	}
}

// TestKeywords: every keyword `ikegate algs` lists parses in a proposal of
// its kind, and its meaning is a transform name, not a number.
func TestKeywords(t *testing.T) {
	ks := Keywords()
	if len(ks) < 40 {
		t.Fatalf("%d keywords", len(ks))
	}
	for _, k := range ks {
		if strings.Contains(k.Meaning, "_0") || k.Kind == "" {
			t.Errorf("%+v", k)
		}
		var prop string
		esp := false
		switch k.Kind {
		case "encryption":
			prop, esp = k.Word+"-sha256", true
			if IsAEADKeyword(k.Word) {
				prop = k.Word
			}
		case "integrity":
			prop, esp = "aes128-"+k.Word, true
		case "prf":
			prop = "aes128-sha256-" + k.Word + "-modp2048"
		case "dh":
			prop = "aes128-sha256-" + k.Word
		case "esn":
			prop, esp = "aes128-sha256-"+k.Word, true
		}
		if _, err := ParseProposal(prop, esp); err != nil {
			t.Errorf("keyword %q in %q: %v", k.Word, prop, err)
		}
	}
}
