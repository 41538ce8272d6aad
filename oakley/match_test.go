package oakley

import (
	"slices"
	"strings"
	"testing"
)

func prop(ts ...Transform) Proposal { return Proposal{Transforms: ts} }

var (
	aes256   = Transform{TransformENCR, EncrAESCBC, 256}
	aes128   = Transform{TransformENCR, EncrAESCBC, 128}
	gcm128   = Transform{TransformENCR, EncrAESGCM16, 128}
	prf256   = Transform{TransformPRF, PRFHMACSHA2_256, 0}
	prf1     = Transform{TransformPRF, PRFHMACSHA1, 0}
	integ256 = Transform{TransformINTEG, IntegHMACSHA2_256, 0}
	integ1   = Transform{TransformINTEG, IntegHMACSHA1_96, 0}
	modp2048 = Transform{TransformDH, MODP2048, 0}
	modp1024 = Transform{TransformDH, MODP1024, 0}
	x25519   = Transform{TransformDH, Curve25519, 0}
	noESN    = Transform{TransformESN, ESNNone, 0}
)

func TestSelect(t *testing.T) {
	tests := []struct {
		name        string
		local, peer []Proposal
		opt         MatchOptions
		want        string
		ok          bool
	}{
		{"exact", []Proposal{prop(aes256, prf256, integ256, modp2048)}, []Proposal{prop(aes256, prf256, integ256, modp2048)}, MatchOptions{},
			"AES_CBC_256/PRF_HMAC_SHA2_256/HMAC_SHA2_256_128/MODP_2048", true},
		{"peer lists several, first common wins", []Proposal{prop(aes256, prf256, integ256, modp2048, x25519)},
			[]Proposal{prop(aes128, aes256, prf1, prf256, integ256, x25519, modp2048)}, MatchOptions{},
			"AES_CBC_256/PRF_HMAC_SHA2_256/HMAC_SHA2_256_128/CURVE_25519", true},
		{"local order preferred", []Proposal{prop(gcm128, prf256, x25519), prop(aes256, prf256, integ256, modp2048)},
			[]Proposal{prop(aes256, prf256, integ256, modp2048), prop(gcm128, prf256, x25519)}, MatchOptions{},
			"AES_GCM_16_128/PRF_HMAC_SHA2_256/CURVE_25519", true},
		{"key length differs", []Proposal{prop(aes256, prf256, integ256, modp2048)}, []Proposal{prop(aes128, prf256, integ256, modp2048)}, MatchOptions{}, "", false},
		{"dh ignored in IKE_AUTH", []Proposal{prop(gcm128, modp2048, noESN)}, []Proposal{prop(gcm128, noESN)}, MatchOptions{IgnoreDH: true},
			"AES_GCM_16_128/NO_ESN", true},
		{"missing ESN tolerated", []Proposal{prop(gcm128, noESN)}, []Proposal{prop(gcm128)}, MatchOptions{OptionalESN: true},
			"AES_GCM_16_128/NO_ESN", true},
		{"extra type on peer side is a mismatch", []Proposal{prop(gcm128, noESN)}, []Proposal{prop(gcm128, noESN, modp2048)}, MatchOptions{}, "", false},
		// Optional PFS (RFC 7296 3.3.2): NONE beside a group.
		{"peer's optional PFS, local without a group: NONE", []Proposal{prop(gcm128, noESN)},
			[]Proposal{prop(gcm128, modp2048, dhNone, noESN)}, MatchOptions{}, "AES_GCM_16_128/NONE/NO_ESN", true},
		{"peer's optional PFS, NONE first, local without a group", []Proposal{prop(gcm128, noESN)},
			[]Proposal{prop(gcm128, dhNone, modp2048, noESN)}, MatchOptions{}, "AES_GCM_16_128/NONE/NO_ESN", true},
		{"peer's optional PFS, local with the group: the group", []Proposal{prop(gcm128, modp2048, noESN)},
			[]Proposal{prop(gcm128, dhNone, modp2048, noESN)}, MatchOptions{}, "AES_GCM_16_128/MODP_2048/NO_ESN", true},
		{"peer's NONE alone is no DH", []Proposal{prop(gcm128, noESN)},
			[]Proposal{prop(gcm128, dhNone, noESN)}, MatchOptions{}, "AES_GCM_16_128/NO_ESN", true},
		{"peer's NONE alone, local requires PFS", []Proposal{prop(gcm128, modp2048, noESN)},
			[]Proposal{prop(gcm128, dhNone, noESN)}, MatchOptions{}, "", false},
		{"our optional PFS answered without DH", []Proposal{prop(gcm128, modp2048, dhNone, noESN)},
			[]Proposal{prop(gcm128, noESN)}, MatchOptions{}, "AES_GCM_16_128/NO_ESN", true},
		{"our optional PFS answered with NONE", []Proposal{prop(gcm128, modp2048, dhNone, noESN)},
			[]Proposal{prop(gcm128, dhNone, noESN)}, MatchOptions{}, "AES_GCM_16_128/NO_ESN", true},
		{"peer requires PFS, local without a group", []Proposal{prop(gcm128, noESN)},
			[]Proposal{prop(gcm128, modp2048, x25519, noESN)}, MatchOptions{}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sel, ok := Select(tt.local, tt.peer, tt.opt)
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v", ok, tt.ok)
			}
			if ok && sel.Chosen.String() != tt.want {
				t.Errorf("chosen %s, want %s", sel.Chosen, tt.want)
			}
		})
	}
}

func TestExplainNamesTheNearestMiss(t *testing.T) {
	local := []Proposal{prop(aes128, prf256, integ256, x25519), prop(aes256, prf256, integ256, modp2048)}
	peer := []Proposal{prop(aes256, prf256, integ256, modp1024)}
	got := Explain(local, peer, MatchOptions{})
	for _, want := range []string{
		"peer proposed AES_CBC_256/PRF_HMAC_SHA2_256/HMAC_SHA2_256_128/MODP_1024",
		"closest local proposal AES_CBC_256/PRF_HMAC_SHA2_256/HMAC_SHA2_256_128/MODP_2048",
		"DH group: peer MODP_1024, local MODP_2048",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("explanation %q lacks %q", got, want)
		}
	}
}

func TestWithGroups(t *testing.T) {
	local := []Proposal{prop(gcm128, noESN), prop(aes256, integ256, modp2048, noESN), prop(aes128, integ256, dhNone, noESN), prop(aes128, integ256)}
	got := WithGroups(local, MODP3072, Curve25519)
	want := []string{
		"AES_GCM_16_128/MODP_3072/CURVE_25519/NO_ESN",
		"AES_CBC_256/HMAC_SHA2_256_128/MODP_2048/NO_ESN", // has a group: unchanged
		"AES_CBC_128/HMAC_SHA2_256_128/MODP_3072/CURVE_25519/NO_ESN",
		"AES_CBC_128/HMAC_SHA2_256_128/MODP_3072/CURVE_25519", // no ESN: at the end
	}
	for i, w := range want {
		if got[i].String() != w {
			t.Errorf("proposal %d: %s, want %s", i, got[i], w)
		}
	}
	if local[0].String() != "AES_GCM_16_128/NO_ESN" {
		t.Errorf("WithGroups changed its argument: %s", local[0])
	}
	// The peer's order decides among the added groups.
	sel, ok := Select(got[:1], []Proposal{prop(gcm128, x25519, Transform{TransformDH, MODP3072, 0}, noESN)}, MatchOptions{})
	if !ok || sel.Chosen.String() != "AES_GCM_16_128/CURVE_25519/NO_ESN" {
		t.Errorf("Select over WithGroups: %v %s", ok, sel.Chosen)
	}
	if HasGroup(local[:1]) || !HasGroup(local) || HasGroup([]Proposal{prop(gcm128, dhNone)}) {
		t.Error("HasGroup")
	}
}

func TestLenientPFSGroups(t *testing.T) {
	got := LenientPFSGroups()
	supported := SupportedGroups()
	for _, g := range got {
		if !slices.Contains(supported, g) {
			t.Errorf("lenient group %d is not supported", g)
		}
	}
	for _, weak := range []uint16{1, MODP1024, MODP1536} {
		if slices.Contains(got, weak) {
			t.Errorf("lenient groups include weak group %d", weak)
		}
	}
	if !slices.Contains(got, MODP2048) || !slices.Contains(got, Curve25519) {
		t.Errorf("lenient groups %v lack MODP_2048 or CURVE_25519", got)
	}
	got[0] = 0
	if LenientPFSGroups()[0] == 0 {
		t.Error("LenientPFSGroups returns its own slice")
	}
}
