package oakley

import (
	"fmt"
	"sort"
	"strings"
)

// This file parses strongSwan's proposal keyword syntax
// (https://docs.strongswan.org/docs/latest/config/proposals.html): a
// proposal is algorithm keywords joined with dashes, e.g.
// "aes256-sha256-modp2048" or "aes128gcm16-prfsha256-x25519". Several
// keywords of one kind make one proposal that offers all of them, the
// first preferred; the order between kinds does not matter.
//
// Semantics (strongSwan's, with the stricter choices marked):
//   - An integrity keyword (sha256, ...) in an IKE proposal also adds the
//     matching PRF, unless the proposal names a PRF explicitly (prfsha256).
//   - In a proposal whose ciphers are all AEAD (GCM, ChaCha20-Poly1305) the
//     integrity keywords are only used to imply the PRF and are then
//     dropped; an IKE proposal with an AEAD cipher, no prf keyword and no
//     integrity keyword is rejected (strongSwan rejects it too: a PRF is
//     mandatory in IKE).
//   - Mixing AEAD and non-AEAD ciphers in one proposal is an error (RFC 7296
//     3.3 says not to; strongSwan accepts it). Use two proposals.
//   - ESP: an optional DH group requests PFS; "esn"/"noesn" pick extended
//     sequence numbers (both may be given); neither means "noesn", so an
//     ESP proposal always carries an ESN transform.
//   - "null" encryption is ESP only; prf keywords are IKE only; repeating a
//     transform (directly or through an alias) is an error.
//   - Keywords are matched case-insensitively. strongSwan's "!" strictness
//     suffix and "default" proposal are not supported.

// kwKind says what a keyword contributes to a proposal.
type kwKind uint8

const (
	kwEncr  kwKind = iota + 1 // encryption algorithm
	kwInteg                   // integrity algorithm (implies a PRF in IKE)
	kwPRF                     // explicit PRF (IKE only)
	kwDH                      // Diffie-Hellman group
	kwESN                     // ESN mode (ESP only)
)

type propKeyword struct {
	kind   kwKind
	id     uint16 // transform ID of the kind's transform type
	keyLen uint16 // bits, for AES variants
	prf    uint16 // kwInteg: the PRF it implies
}

var propKeywords = buildPropKeywords()

func buildPropKeywords() map[string]propKeyword {
	m := map[string]propKeyword{
		"3des":             {kind: kwEncr, id: Encr3DES},
		"null":             {kind: kwEncr, id: EncrNULL},
		"aes":              {kind: kwEncr, id: EncrAESCBC, keyLen: 128},
		"chacha20poly1305": {kind: kwEncr, id: EncrChaCha20Poly1305},

		"md5":      {kind: kwInteg, id: IntegHMACMD5_96, prf: PRFHMACMD5},
		"sha":      {kind: kwInteg, id: IntegHMACSHA1_96, prf: PRFHMACSHA1},
		"sha1":     {kind: kwInteg, id: IntegHMACSHA1_96, prf: PRFHMACSHA1},
		"sha256":   {kind: kwInteg, id: IntegHMACSHA2_256, prf: PRFHMACSHA2_256},
		"sha2_256": {kind: kwInteg, id: IntegHMACSHA2_256, prf: PRFHMACSHA2_256},
		"sha384":   {kind: kwInteg, id: IntegHMACSHA2_384, prf: PRFHMACSHA2_384},
		"sha2_384": {kind: kwInteg, id: IntegHMACSHA2_384, prf: PRFHMACSHA2_384},
		"sha512":   {kind: kwInteg, id: IntegHMACSHA2_512, prf: PRFHMACSHA2_512},
		"sha2_512": {kind: kwInteg, id: IntegHMACSHA2_512, prf: PRFHMACSHA2_512},
		"aesxcbc":  {kind: kwInteg, id: IntegAESXCBC96, prf: PRFAES128XCBC},

		"prfmd5":     {kind: kwPRF, id: PRFHMACMD5},
		"prfsha1":    {kind: kwPRF, id: PRFHMACSHA1},
		"prfsha256":  {kind: kwPRF, id: PRFHMACSHA2_256},
		"prfsha384":  {kind: kwPRF, id: PRFHMACSHA2_384},
		"prfsha512":  {kind: kwPRF, id: PRFHMACSHA2_512},
		"prfaesxcbc": {kind: kwPRF, id: PRFAES128XCBC},

		"modp1024":   {kind: kwDH, id: MODP1024},
		"modp1536":   {kind: kwDH, id: MODP1536},
		"modp2048":   {kind: kwDH, id: MODP2048},
		"modp3072":   {kind: kwDH, id: MODP3072},
		"modp4096":   {kind: kwDH, id: MODP4096},
		"modp6144":   {kind: kwDH, id: MODP6144},
		"modp8192":   {kind: kwDH, id: MODP8192},
		"ecp256":     {kind: kwDH, id: ECP256},
		"ecp384":     {kind: kwDH, id: ECP384},
		"ecp521":     {kind: kwDH, id: ECP521},
		"curve25519": {kind: kwDH, id: Curve25519},
		"x25519":     {kind: kwDH, id: Curve25519},

		"esn":   {kind: kwESN, id: ESNOn},
		"noesn": {kind: kwESN, id: ESNNone},
	}
	for _, bits := range []uint16{128, 192, 256} {
		b := fmt.Sprint(bits)
		m["aes"+b] = propKeyword{kind: kwEncr, id: EncrAESCBC, keyLen: bits}
		m["aes"+b+"ctr"] = propKeyword{kind: kwEncr, id: EncrAESCTR, keyLen: bits}
		// ICV length in bytes, and strongSwan's alias in bits.
		for _, g := range []struct {
			bytes, bits string
			id          uint16
		}{{"8", "64", EncrAESGCM8}, {"12", "96", EncrAESGCM12}, {"16", "128", EncrAESGCM16}} {
			m["aes"+b+"gcm"+g.bytes] = propKeyword{kind: kwEncr, id: g.id, keyLen: bits}
			m["aes"+b+"gcm"+g.bits] = propKeyword{kind: kwEncr, id: g.id, keyLen: bits}
		}
	}
	return m
}

// ParseDHGroup returns the Diffie-Hellman group of a proposal keyword
// ("modp2048", "ecp256", "x25519", ...).
func ParseDHGroup(s string) (uint16, error) {
	kw, ok := propKeywords[strings.ToLower(strings.TrimSpace(s))]
	if !ok || kw.kind != kwDH || kw.id == DHNone {
		return 0, fmt.Errorf("%q is not a Diffie-Hellman group keyword (like \"modp2048\", \"ecp256\", \"x25519\")", s)
	}
	return kw.id, nil
}

// ParseProposal parses one strongSwan-style proposal string, e.g.
// "aes256-sha256-modp2048", "aes128gcm16-prfsha256-x25519",
// "aes256gcm16-prfsha384-ecp384" or "3des-sha1-modp1024", for an IKE SA
// (esp=false) or an ESP CHILD SA (esp=true).
//
// The result lists the transforms by type (ENCR, INTEG, PRF, DH, ESN), each
// type in the order written. An IKE proposal always has ENCR, PRF and DH,
// and INTEG unless its ciphers are AEAD; an ESP proposal has ENCR, INTEG
// unless AEAD, an optional DH group and at least one ESN transform.
// Errors name the offending keyword and the proposal.
func ParseProposal(s string, esp bool) (Proposal, error) {
	s = strings.TrimSpace(s)
	what := "IKE"
	if esp {
		what = "ESP"
	}
	if s == "" {
		return Proposal{}, fmt.Errorf("empty %s proposal", what)
	}
	fail := func(format string, args ...any) (Proposal, error) {
		return Proposal{}, fmt.Errorf(format+" in proposal %q", append(args, s)...)
	}

	type entry struct {
		word string
		kw   propKeyword
	}
	var encr, integ, prf, dh, esn []entry
	seen := map[propKeyword]string{} // canonical transform -> first keyword naming it
	var aead, classic string         // first AEAD / non-AEAD cipher keyword

	for _, word := range strings.Split(s, "-") {
		if word == "" {
			return fail("empty algorithm keyword (doubled or trailing \"-\")")
		}
		kw, ok := propKeywords[strings.ToLower(word)]
		if !ok {
			if hint := ForeignHint(word, s, esp); hint != "" {
				return fail("unknown algorithm keyword %q (%s)", word, hint)
			}
			return fail("unknown algorithm keyword %q", word)
		}
		if prev, dup := seen[kw]; dup {
			if strings.EqualFold(prev, word) {
				return fail("algorithm keyword %q given twice", word)
			}
			return fail("algorithm keyword %q repeats %q", word, prev)
		}
		seen[kw] = word
		e := entry{word, kw}
		switch kw.kind {
		case kwEncr:
			if kw.id == EncrNULL && !esp {
				return fail("%q (null encryption) is only allowed in ESP proposals", word)
			}
			if IsAEAD(kw.id) {
				if aead == "" {
					aead = word
				}
			} else if classic == "" {
				classic = word
			}
			encr = append(encr, e)
		case kwInteg:
			integ = append(integ, e)
		case kwPRF:
			if esp {
				return fail("%q is a PRF, which only IKE proposals take", word)
			}
			prf = append(prf, e)
		case kwDH:
			dh = append(dh, e)
		case kwESN:
			if !esp {
				return fail("%q (extended sequence numbers) is only allowed in ESP proposals", word)
			}
			esn = append(esn, e)
		}
	}

	if len(encr) == 0 {
		return fail("missing an encryption algorithm keyword (e.g. aes256, aes256gcm16)")
	}
	if aead != "" && classic != "" {
		return fail("AEAD cipher %q and non-AEAD cipher %q cannot share a proposal (use two proposals)", aead, classic)
	}
	if aead == "" && len(integ) == 0 {
		return fail("missing an integrity algorithm keyword (e.g. sha256) for non-AEAD cipher %q", classic)
	}

	var p Proposal
	add := func(t TransformType, es []entry) {
		for _, e := range es {
			tr := Transform{Type: t, ID: e.kw.id}
			if t == TransformENCR {
				tr.KeyLen = e.kw.keyLen
			}
			p.Transforms = append(p.Transforms, tr)
		}
	}
	add(TransformENCR, encr)
	if aead == "" {
		add(TransformINTEG, integ)
	}

	if !esp {
		if len(prf) == 0 {
			// Integrity keywords imply their PRFs (also with AEAD, where
			// they are given for that purpose only).
			implied := map[uint16]bool{}
			for _, e := range integ {
				if !implied[e.kw.prf] {
					implied[e.kw.prf] = true
					prf = append(prf, entry{e.word, propKeyword{kind: kwPRF, id: e.kw.prf}})
				}
			}
		}
		if len(prf) == 0 {
			return fail("missing a PRF keyword (e.g. prfsha256) for AEAD cipher %q", aead)
		}
		add(TransformPRF, prf)
		if len(dh) == 0 {
			return fail("missing a DH group keyword (e.g. modp2048, ecp256, x25519)")
		}
	}
	add(TransformDH, dh)
	if esp {
		if len(esn) == 0 {
			esn = []entry{{"noesn", propKeywords["noesn"]}}
		}
		add(TransformESN, esn)
	}
	return p, nil
}

// Keyword describes one proposal keyword for `ikegate algs`.
type Keyword struct {
	Word    string // as written in ike/esp lists
	Kind    string // "encryption", "integrity", "prf", "dh", "esn"
	Meaning string // the transform it stands for (IANA-style name)
	Note    string // what else it implies or where it applies
}

// Keywords lists every proposal keyword ikegate accepts, sorted by kind
// and then word.
func Keywords() []Keyword {
	kinds := map[kwKind]string{kwEncr: "encryption", kwInteg: "integrity", kwPRF: "prf", kwDH: "dh", kwESN: "esn"}
	order := map[kwKind]int{kwEncr: 0, kwInteg: 1, kwPRF: 2, kwDH: 3, kwESN: 4}
	types := map[kwKind]TransformType{kwEncr: TransformENCR, kwInteg: TransformINTEG, kwPRF: TransformPRF, kwDH: TransformDH, kwESN: TransformESN}
	out := make([]Keyword, 0, len(propKeywords))
	for w, kw := range propKeywords {
		k := Keyword{Word: w, Kind: kinds[kw.kind], Meaning: Transform{Type: types[kw.kind], ID: kw.id, KeyLen: kw.keyLen}.String()}
		switch {
		case kw.kind == kwInteg:
			k.Note = "in IKE proposals also the PRF " + Transform{Type: TransformPRF, ID: kw.prf}.String() + " (unless a prf keyword is given)"
		case kw.kind == kwEncr && IsAEAD(kw.id):
			k.Note = "AEAD: no integrity keyword with it"
		case kw.kind == kwEncr && kw.id == EncrNULL:
			k.Note = "ESP only"
		case kw.kind == kwPRF:
			k.Note = "IKE only"
		case kw.kind == kwESN:
			k.Note = "ESP only"
		case kw.kind == kwDH:
			k.Note = "IKE: the key exchange; ESP: PFS for CREATE_CHILD_SA / Quick Mode"
		}
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := propKeywords[out[i].Word], propKeywords[out[j].Word]
		if order[a.kind] != order[b.kind] {
			return order[a.kind] < order[b.kind]
		}
		return out[i].Word < out[j].Word
	})
	return out
}

// IsAEADKeyword reports whether word names an AEAD cipher.
func IsAEADKeyword(word string) bool {
	kw, ok := propKeywords[strings.ToLower(word)]
	return ok && kw.kind == kwEncr && IsAEAD(kw.id)
}
