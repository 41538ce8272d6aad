package oakley

import (
	"strings"
	"testing"
)

func tEnc(id, bits uint16) Transform { return Transform{Type: TransformENCR, ID: id, KeyLen: bits} }
func tInteg(id uint16) Transform     { return Transform{Type: TransformINTEG, ID: id} }
func tPRF(id uint16) Transform       { return Transform{Type: TransformPRF, ID: id} }
func tDH(id uint16) Transform        { return Transform{Type: TransformDH, ID: id} }
func tESN(id uint16) Transform       { return Transform{Type: TransformESN, ID: id} }

func kwSameTransforms(a, b []Transform) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestParseProposalKeywords checks every keyword once, each inside an otherwise
// fixed proposal of the right kind.
func TestParseProposalKeywords(t *testing.T) {
	encrs := map[string]Transform{
		"aes": tEnc(EncrAESCBC, 128), "aes128": tEnc(EncrAESCBC, 128),
		"aes192": tEnc(EncrAESCBC, 192), "aes256": tEnc(EncrAESCBC, 256),
		"aes128ctr": tEnc(EncrAESCTR, 128), "aes192ctr": tEnc(EncrAESCTR, 192), "aes256ctr": tEnc(EncrAESCTR, 256),
		"3des": tEnc(Encr3DES, 0),
	}
	aeads := map[string]Transform{
		"chacha20poly1305": tEnc(EncrChaCha20Poly1305, 0),
	}
	for _, bits := range []struct {
		s string
		n uint16
	}{{"128", 128}, {"192", 192}, {"256", 256}} {
		for _, g := range []struct {
			a, b string
			id   uint16
		}{{"8", "64", EncrAESGCM8}, {"12", "96", EncrAESGCM12}, {"16", "128", EncrAESGCM16}} {
			aeads["aes"+bits.s+"gcm"+g.a] = tEnc(g.id, bits.n)
			aeads["aes"+bits.s+"gcm"+g.b] = tEnc(g.id, bits.n)
		}
	}
	integs := map[string][2]Transform{
		"md5":      {tInteg(IntegHMACMD5_96), tPRF(PRFHMACMD5)},
		"sha":      {tInteg(IntegHMACSHA1_96), tPRF(PRFHMACSHA1)},
		"sha1":     {tInteg(IntegHMACSHA1_96), tPRF(PRFHMACSHA1)},
		"sha256":   {tInteg(IntegHMACSHA2_256), tPRF(PRFHMACSHA2_256)},
		"sha2_256": {tInteg(IntegHMACSHA2_256), tPRF(PRFHMACSHA2_256)},
		"sha384":   {tInteg(IntegHMACSHA2_384), tPRF(PRFHMACSHA2_384)},
		"sha2_384": {tInteg(IntegHMACSHA2_384), tPRF(PRFHMACSHA2_384)},
		"sha512":   {tInteg(IntegHMACSHA2_512), tPRF(PRFHMACSHA2_512)},
		"sha2_512": {tInteg(IntegHMACSHA2_512), tPRF(PRFHMACSHA2_512)},
		"aesxcbc":  {tInteg(IntegAESXCBC96), tPRF(PRFAES128XCBC)},
	}
	prfs := map[string]Transform{
		"prfmd5": tPRF(PRFHMACMD5), "prfsha1": tPRF(PRFHMACSHA1), "prfsha256": tPRF(PRFHMACSHA2_256),
		"prfsha384": tPRF(PRFHMACSHA2_384), "prfsha512": tPRF(PRFHMACSHA2_512), "prfaesxcbc": tPRF(PRFAES128XCBC),
	}
	dhs := map[string]Transform{
		"modp1024": tDH(MODP1024), "modp1536": tDH(MODP1536), "modp2048": tDH(MODP2048),
		"modp3072": tDH(MODP3072), "modp4096": tDH(MODP4096), "modp6144": tDH(MODP6144),
		"modp8192": tDH(MODP8192), "ecp256": tDH(ECP256), "ecp384": tDH(ECP384), "ecp521": tDH(ECP521),
		"curve25519": tDH(Curve25519), "x25519": tDH(Curve25519),
	}

	type tc struct {
		s    string
		esp  bool
		want []Transform
	}
	var cases []tc
	for w, tr := range encrs {
		cases = append(cases,
			tc{w + "-sha256-modp2048", false, []Transform{tr, tInteg(IntegHMACSHA2_256), tPRF(PRFHMACSHA2_256), tDH(MODP2048)}},
			tc{w + "-sha1", true, []Transform{tr, tInteg(IntegHMACSHA1_96), tESN(ESNNone)}})
	}
	for w, tr := range aeads {
		cases = append(cases,
			tc{w + "-prfsha384-ecp384", false, []Transform{tr, tPRF(PRFHMACSHA2_384), tDH(ECP384)}},
			tc{w, true, []Transform{tr, tESN(ESNNone)}})
	}
	for w, tr := range integs {
		cases = append(cases,
			tc{"aes128-" + w + "-modp2048", false, []Transform{tEnc(EncrAESCBC, 128), tr[0], tr[1], tDH(MODP2048)}},
			tc{"aes128-" + w, true, []Transform{tEnc(EncrAESCBC, 128), tr[0], tESN(ESNNone)}},
			// With AEAD the integrity keyword only implies the PRF.
			tc{"aes128gcm16-" + w + "-modp2048", false, []Transform{tEnc(EncrAESGCM16, 128), tr[1], tDH(MODP2048)}},
			tc{"aes128gcm16-" + w, true, []Transform{tEnc(EncrAESGCM16, 128), tESN(ESNNone)}})
	}
	for w, tr := range prfs {
		cases = append(cases,
			tc{"aes256-sha256-" + w + "-ecp256", false, []Transform{tEnc(EncrAESCBC, 256), tInteg(IntegHMACSHA2_256), tr, tDH(ECP256)}})
	}
	for w, tr := range dhs {
		cases = append(cases,
			tc{"aes256-sha256-" + w, false, []Transform{tEnc(EncrAESCBC, 256), tInteg(IntegHMACSHA2_256), tPRF(PRFHMACSHA2_256), tr}},
			tc{"aes256-sha256-" + w, true, []Transform{tEnc(EncrAESCBC, 256), tInteg(IntegHMACSHA2_256), tr, tESN(ESNNone)}})
	}
	cases = append(cases,
		tc{"null-sha256", true, []Transform{tEnc(EncrNULL, 0), tInteg(IntegHMACSHA2_256), tESN(ESNNone)}},
		tc{"aes128-sha256-esn", true, []Transform{tEnc(EncrAESCBC, 128), tInteg(IntegHMACSHA2_256), tESN(ESNOn)}},
		tc{"aes128-sha256-noesn", true, []Transform{tEnc(EncrAESCBC, 128), tInteg(IntegHMACSHA2_256), tESN(ESNNone)}},
		tc{"aes128-sha256-esn-noesn", true, []Transform{tEnc(EncrAESCBC, 128), tInteg(IntegHMACSHA2_256), tESN(ESNOn), tESN(ESNNone)}},
	)

	for _, c := range cases {
		got, err := ParseProposal(c.s, c.esp)
		if err != nil {
			t.Errorf("ParseProposal(%q, esp=%v): %v", c.s, c.esp, err)
			continue
		}
		if !kwSameTransforms(got.Transforms, c.want) {
			t.Errorf("ParseProposal(%q, esp=%v) = %v, want %v", c.s, c.esp, got, Proposal{c.want})
		}
	}
}

func TestParseProposalExamples(t *testing.T) {
	cases := []struct {
		s    string
		esp  bool
		want string // Proposal.String()
	}{
		{"aes256-sha256-modp2048", false, "AES_CBC_256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048"},
		{"aes128gcm16-prfsha256-x25519", false, "AES_GCM_16_128/PRF_HMAC_SHA2_256/CURVE_25519"},
		{"aes256gcm16-prfsha384-ecp384", false, "AES_GCM_16_256/PRF_HMAC_SHA2_384/ECP_384"},
		{"3des-sha1-modp1024", false, "3DES/HMAC_SHA1_96/PRF_HMAC_SHA1/MODP_1024"},
		{"chacha20poly1305-prfsha256-curve25519", false, "CHACHA20_POLY1305/PRF_HMAC_SHA2_256/CURVE_25519"},
		// Several algorithms of a kind, order between kinds free, explicit
		// PRF overriding the implied ones.
		{"aes256gcm16-aes192gcm16-prfsha384-prfsha256-ecp384-modp3072", false,
			"AES_GCM_16_256/AES_GCM_16_192/PRF_HMAC_SHA2_384/PRF_HMAC_SHA2_256/ECP_384/MODP_3072"},
		{"modp2048-sha256-aes256", false, "AES_CBC_256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048"},
		{"aes256-aes128-sha384-sha256-modp2048", false,
			"AES_CBC_256/AES_CBC_128/HMAC_SHA2_384_192/HMAC_SHA2_256_128/PRF_HMAC_SHA2_384/PRF_HMAC_SHA2_256/MODP_2048"},
		{"aes128-sha256-prfsha512-modp2048", false, "AES_CBC_128/HMAC_SHA2_256_128/PRF_HMAC_SHA2_512/MODP_2048"},
		{"aes128gcm16-sha256-sha384-prfsha512-ecp256", false, "AES_GCM_16_128/PRF_HMAC_SHA2_512/ECP_256"},
		{"AES256-SHA256-MODP2048", false, "AES_CBC_256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048"},
		{"  aes256-sha256-modp2048 ", false, "AES_CBC_256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048"},
		{"aes256gcm16", true, "AES_GCM_16_256/NO_ESN"},
		{"aes128-sha256-modp2048", true, "AES_CBC_128/HMAC_SHA2_256_128/MODP_2048/NO_ESN"},
		{"aes256gcm16-ecp256-esn", true, "AES_GCM_16_256/ECP_256/ESN"},
	}
	for _, c := range cases {
		got, err := ParseProposal(c.s, c.esp)
		if err != nil {
			t.Errorf("ParseProposal(%q, esp=%v): %v", c.s, c.esp, err)
			continue
		}
		if got.String() != c.want {
			t.Errorf("ParseProposal(%q, esp=%v) = %s, want %s", c.s, c.esp, got, c.want)
		}
	}
}

func TestProposalsString(t *testing.T) {
	var ps []Proposal
	for _, kw := range []string{"aes256-sha256-modp2048", "aes128gcm16-prfsha256-x25519"} {
		p, err := ParseProposal(kw, false)
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	for _, c := range []struct {
		ps   []Proposal
		want string
	}{
		{nil, ""},
		{ps[:1], "AES_CBC_256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048"},
		{ps, "AES_CBC_256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048, AES_GCM_16_128/PRF_HMAC_SHA2_256/CURVE_25519"},
	} {
		if got := ProposalsString(c.ps); got != c.want {
			t.Errorf("ProposalsString(%d proposals) = %q, want %q", len(c.ps), got, c.want)
		}
	}
}

func TestParseProposalErrors(t *testing.T) {
	cases := []struct {
		s    string
		esp  bool
		want string // substring of the error
	}{
		{"aes257-sha256-modp2048", false, `unknown algorithm keyword "aes257" in proposal "aes257-sha256-modp2048"`},
		{"aes256-sha256-modp2049", true, `unknown algorithm keyword "modp2049" in proposal "aes256-sha256-modp2049"`},
		{"aes256 -sha256-modp2048", false, `unknown algorithm keyword "aes256 "`},
		{"aes256-sha256-modp2048!", false, `unknown algorithm keyword "modp2048!"`},
		{"", false, "empty IKE proposal"},
		{"  ", true, "empty ESP proposal"},
		{"aes256--sha256-modp2048", false, `empty algorithm keyword`},
		{"aes256-sha256-modp2048-", false, `empty algorithm keyword`},
		// IKE structure.
		{"aes256-sha256", false, `missing a DH group keyword`},
		{"aes256-modp2048", false, `missing an integrity algorithm keyword (e.g. sha256) for non-AEAD cipher "aes256"`},
		{"sha256-modp2048", false, `missing an encryption algorithm keyword`},
		{"aes128gcm16-modp2048", false, `missing a PRF keyword (e.g. prfsha256) for AEAD cipher "aes128gcm16" in proposal "aes128gcm16-modp2048"`},
		{"aes128gcm16-aes256-sha256-modp2048", false, `AEAD cipher "aes128gcm16" and non-AEAD cipher "aes256" cannot share a proposal`},
		{"aes128gcm16-aes256-sha256", true, `AEAD cipher "aes128gcm16" and non-AEAD cipher "aes256" cannot share a proposal`},
		{"null-sha256-modp2048", false, `"null" (null encryption) is only allowed in ESP proposals`},
		{"aes256-sha256-modp2048-esn", false, `"esn" (extended sequence numbers) is only allowed in ESP proposals`},
		{"aes256-sha256-modp2048-noesn", false, `"noesn"`},
		// ESP structure.
		{"aes256-sha256-prfsha256", true, `"prfsha256" is a PRF, which only IKE proposals take`},
		{"aes256", true, `missing an integrity algorithm keyword`},
		{"null", true, `missing an integrity algorithm keyword`},
		{"sha256", true, `missing an encryption algorithm keyword`},
		{"modp2048", true, `missing an encryption algorithm keyword`},
		// Repeats.
		{"aes256-aes256-sha256-modp2048", false, `algorithm keyword "aes256" given twice`},
		{"aes-aes128-sha256-modp2048", false, `algorithm keyword "aes128" repeats "aes"`},
		{"aes128-sha-sha1-modp2048", false, `algorithm keyword "sha1" repeats "sha"`},
		{"aes128-sha256-x25519-curve25519", false, `algorithm keyword "curve25519" repeats "x25519"`},
		{"aes128gcm16-aes128gcm128", true, `algorithm keyword "aes128gcm128" repeats "aes128gcm16"`},
		{"aes128-sha256-esn-esn", true, `algorithm keyword "esn" given twice`},
	}
	for _, c := range cases {
		p, err := ParseProposal(c.s, c.esp)
		if err == nil {
			t.Errorf("ParseProposal(%q, esp=%v) = %v, want error containing %q", c.s, c.esp, p, c.want)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseProposal(%q, esp=%v) error %q, want it to contain %q", c.s, c.esp, err, c.want)
		}
	}
}

func TestParseDHGroup(t *testing.T) {
	for _, c := range []struct {
		in   string
		want uint16
		ok   bool
	}{{"modp2048", MODP2048, true}, {"ECP256", ECP256, true}, {"x25519", Curve25519, true}, {"aes128", 0, false}, {"", 0, false}} {
		got, err := ParseDHGroup(c.in)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("ParseDHGroup(%q) = %d, %v", c.in, got, err)
		}
	}
}
