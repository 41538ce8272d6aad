package oakley

import (
	"fmt"
	"strings"
)

// Proposals written the way other products write them, for "did you
// mean": Cisco IOS/ASA transform sets and ISAKMP policies ("esp-aes-256
// esp-sha-hmac", "aes 256", "group14") and Libreswan/Openswan's
// ("aes256-sha2_256;modp2048", "aes_gcm256"). Broken groups are named as
// such instead.

// ciscoGroups are Cisco's DH group names (and Libreswan's "dhN").
var ciscoGroups = map[string]string{
	"2": "modp1024", "5": "modp1536", "14": "modp2048", "15": "modp3072", "16": "modp4096",
	"17": "modp6144", "18": "modp8192", "19": "ecp256", "20": "ecp384", "21": "ecp521", "31": "curve25519",
}

// brokenKeywords are keywords ikegate refuses on purpose, with why.
var brokenKeywords = map[string]string{
	"modp768": "not supported: DH group 1 (768-bit MODP) is broken",
	"group1":  "not supported: DH group 1 (768-bit MODP) is broken",
	"dh1":     "not supported: DH group 1 (768-bit MODP) is broken",
	"des":     "not supported: single DES is broken (use aes256)",
	"esp-des": "not supported: single DES is broken (use aes256)",
}

// ForeignHint explains a proposal keyword that is not ours: a broken
// algorithm, or the proposal in strongSwan keywords when it reads as a
// Cisco or Libreswan spelling. "" when it has nothing to say.
func ForeignHint(word, proposal string, esp bool) string {
	if why, ok := brokenKeywords[strings.ToLower(word)]; ok {
		return fmt.Sprintf("%q is %s", word, why)
	}
	if s, ok := TranslateForeign(proposal, esp); ok {
		return fmt.Sprintf("did you mean %q? (strongSwan keywords; this looks like a Cisco or Libreswan spelling)", s)
	}
	return ""
}

// TranslateForeign rewrites a Cisco or Libreswan proposal in strongSwan
// keywords, if every word of it is understood and the result parses.
func TranslateForeign(s string, esp bool) (string, bool) {
	f := strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
		return r == '-' || r == ' ' || r == ';' || r == ',' || r == '_' || r == '+' || r == '/'
	})
	var out []string
	for i := 0; i < len(f); i++ {
		w := f[i]
		next := ""
		if i+1 < len(f) {
			next = f[i+1]
		}
		isBits := next == "128" || next == "192" || next == "256"
		switch {
		case w == "esp" || w == "ah" || w == "hmac" || w == "ike" || w == "encryption" || w == "hash" || w == "integrity":
		case w == "aes" && isBits:
			out = append(out, "aes"+next)
			i++
		case w == "aes":
			out = append(out, "aes128")
		case (w == "gcm" || w == "aesgcm") && isBits:
			out = append(out, "aes"+next+"gcm16")
			i++
		case strings.HasPrefix(w, "aes") && strings.HasSuffix(w, "gcm") && (next == "16" || next == "c"):
			out = append(out, w+"16")
			i++
		case w == "gcm":
			out = append(out, "aes128gcm16")
		case w == "sha":
			out = append(out, "sha1")
		case w == "sha2" && (next == "256" || next == "384" || next == "512"):
			out = append(out, "sha"+next)
			i++
		case w == "3des" || w == "md5" || w == "sha1" || w == "sha256" || w == "sha384" || w == "sha512":
			out = append(out, w)
		case strings.HasPrefix(w, "group") && ciscoGroups[strings.TrimPrefix(w, "group")] != "":
			out = append(out, ciscoGroups[strings.TrimPrefix(w, "group")])
		case strings.HasPrefix(w, "dh") && ciscoGroups[strings.TrimPrefix(w, "dh")] != "":
			out = append(out, ciscoGroups[strings.TrimPrefix(w, "dh")])
		case w == "group" && ciscoGroups[next] != "":
			out = append(out, ciscoGroups[next])
			i++
		default:
			if _, ok := propKeywords[w]; !ok {
				return "", false
			}
			out = append(out, w)
		}
	}
	if len(out) == 0 {
		return "", false
	}
	t := strings.Join(out, "-")
	if !esp && !strings.Contains(t, "modp") && !strings.Contains(t, "ecp") && !strings.Contains(t, "25519") {
		t += "-modp2048" // Cisco's IKE policies name the group on a line of their own
	}
	if _, err := ParseProposal(t, esp); err != nil || strings.EqualFold(t, s) {
		return "", false
	}
	return t, true
}
