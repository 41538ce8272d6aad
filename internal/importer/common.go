package importer

import (
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"ikegate/oakley"
	"ikegate/policy"
)

// Helpers shared by the strongSwan and Libreswan formats (and free for
// the others): durations, proposals in strongSwan keywords, addresses and
// traffic selectors, identities, pre-shared key lookup.

// ikegate's bounds for lifetimes and DPD times.
const (
	minLifetime = policy.MinLifetime
	maxLifetime = policy.MaxLifetime
	minDPD      = policy.MinDPDDelay
	maxDPD      = policy.MaxDPDDelay
)

// parseTime reads a time as strongSwan and Libreswan write them: a
// number, optionally decimal, with an optional unit s, m, h or d (seconds
// without one).
func parseTime(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("empty time")
	}
	unit := time.Second
	switch s[len(s)-1] {
	case 's':
		s = s[:len(s)-1]
	case 'm':
		unit, s = time.Minute, s[:len(s)-1]
	case 'h':
		unit, s = time.Hour, s[:len(s)-1]
	case 'd':
		unit, s = 24*time.Hour, s[:len(s)-1]
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) || f > float64(1<<40) {
		return 0, fmt.Errorf("%q is not a time (a number with an optional s, m, h or d)", s)
	}
	return time.Duration(f * float64(unit)).Round(time.Second), nil
}

// durationTOML writes d as ikegate's configurations do: "8h", "30m",
// "1h30m", "45s".
func durationTOML(d time.Duration) string {
	s := d.Round(time.Second).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// clamp bounds d to [lo, hi] and says whether it had to.
func clampDuration(d, lo, hi time.Duration) (time.Duration, bool) {
	switch {
	case d < lo:
		return lo, true
	case d > hi:
		return hi, true
	}
	return d, false
}

// noter records notes about one file: the input ("") or one it refers to.
type noter struct {
	r    *Result
	file string
}

func (n noter) note(line int, st Status, format string, args ...any) {
	n.r.NoteIn(n.file, line, st, format, args...)
}

// lifetimeNote converts a lifetime value for key and notes it; "" when it
// is not a time.
func lifetimeNote(n noter, line int, src, val, key string) string {
	d, err := parseTime(val)
	if err != nil {
		n.note(line, Omitted, "%s: %v", src, err)
		return ""
	}
	c, changed := clampDuration(d, minLifetime, maxLifetime)
	if changed {
		n.note(line, Approximated, "%s → %s = %q (ikegate's lifetimes are from 5s to 24h)", src, key, durationTOML(c))
	} else {
		n.note(line, Translated, "%s → %s = %q", src, key, durationTOML(c))
	}
	return durationTOML(c)
}

// parseBytes reads a byte count: a number with an optional k/K, M, G or
// T suffix (decimal or binary units: KiB, MiB, ... are powers of 1024, as
// are strongSwan's k, M, G).
func parseBytes(s string) (uint64, error) {
	s = strings.TrimSpace(s)
	mult := uint64(1)
	low := strings.ToLower(s)
	for _, u := range []struct {
		suf string
		m   uint64
	}{{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"tib", 1 << 40}, {"pib", 1 << 50}, {"eib", 1 << 60},
		{"k", 1 << 10}, {"m", 1 << 20}, {"g", 1 << 30}, {"t", 1 << 40}} {
		if strings.HasSuffix(low, u.suf) {
			mult, s = u.m, s[:len(s)-len(u.suf)]
			break
		}
	}
	v, err := strconv.ParseUint(strings.TrimSpace(s), 10, 64)
	if err != nil || (v != 0 && v > math.MaxUint64/mult) {
		return 0, fmt.Errorf("%q is not a byte count", s)
	}
	return v * mult, nil
}

// Proposals.

// ikegateKeywords are the proposal keywords ikegate takes (`ikegate algs`).
var ikegateKeywords = func() map[string]string {
	m := map[string]string{}
	for _, k := range oakley.Keywords() {
		m[k.Word] = k.Kind
	}
	return m
}()

// weakAlgs are algorithms ikegate refuses on purpose, with why.
var weakAlgs = map[string]string{
	"des":          "single DES is broken",
	"desiv64":      "single DES is broken",
	"des_iv64":     "single DES is broken",
	"desiv32":      "single DES is broken",
	"1des":         "single DES is broken",
	"modp768":      "DH group 1 (768-bit MODP) is broken",
	"dh1":          "DH group 1 (768-bit MODP) is broken",
	"blowfish":     "Blowfish (64-bit blocks) is weak",
	"cast128":      "CAST-128 (64-bit blocks) is weak",
	"cast":         "CAST-128 (64-bit blocks) is weak",
	"idea":         "IDEA (64-bit blocks) is weak",
	"rc5":          "RC5 is weak",
	"md5_128":      "truncated MD5 variants are weak",
	"modpnull":     "no key exchange is no security",
	"ecp192":       "a 192-bit curve is below ikegate's minimum",
	"ecp224":       "a 224-bit curve is below ikegate's minimum",
	"dh22":         "the RFC 5114 groups are not trusted (unproven parameters)",
	"dh23":         "the RFC 5114 groups are not trusted (unproven parameters)",
	"dh24":         "the RFC 5114 groups are not trusted (unproven parameters)",
	"modp1024s160": "the RFC 5114 groups are not trusted (unproven parameters)",
	"modp2048s224": "the RFC 5114 groups are not trusted (unproven parameters)",
	"modp2048s256": "the RFC 5114 groups are not trusted (unproven parameters)",
}

// unsupported says why ikegate lacks an algorithm keyword: refused as weak,
// or not implemented.
func unsupported(word string) string {
	w := strings.ToLower(word)
	if why, ok := weakAlgs[w]; ok {
		return why + ", ikegate refuses it"
	}
	for _, p := range []struct{ prefix, what string }{
		{"camellia", "Camellia"}, {"serpent", "Serpent"}, {"twofish", "Twofish"}, {"cast", "CAST"},
		{"blowfish", "Blowfish"}, {"aes_ccm", "AES-CCM"}, {"ccm", "AES-CCM"}, {"aes_gmac", "AES-GMAC"},
		{"aescmac", "AES-CMAC"}, {"aes_cmac", "AES-CMAC"}, {"prfaescmac", "AES-CMAC"},
		{"ecp224bp", "Brainpool curves"}, {"ecp256bp", "Brainpool curves"}, {"ecp384bp", "Brainpool curves"},
		{"ecp512bp", "Brainpool curves"}, {"curve448", "Curve448"}, {"x448", "Curve448"}, {"dh32", "Curve448"},
		{"ntru", "NTRU"}, {"newhope", "NewHope"}, {"mlkem", "ML-KEM"}, {"ke1_", "additional key exchanges (RFC 9370)"},
		{"sha256_96", "HMAC-SHA2-256 truncated to 96 bits as an algorithm (ikegate's sha2_truncbug does it per connection)"},
		{"sha1_160", "untruncated HMAC-SHA1"}, {"sha384_96", "truncated HMAC-SHA2-384"}, {"gost", "GOST"},
	} {
		if strings.HasPrefix(w, p.prefix) {
			return p.what + " is not implemented in ikegate"
		}
	}
	if strings.Contains(w, "ccm") {
		return "AES-CCM is not implemented in ikegate"
	}
	if strings.Contains(w, "gmac") {
		return "AES-GMAC is not implemented in ikegate"
	}
	return "unknown to ikegate"
}

// proposalResult is what became of one source proposal.
type proposalResult struct {
	out     []string // ikegate proposals (several when split for IKEv1)
	dropped []string // "word (why)" of algorithms left out
	err     string   // why the proposal as a whole was left out
	remark  string   // how it was changed otherwise
}

// mapSwanProposal checks a proposal in strongSwan keywords (words joined
// with dashes) against ikegate's keywords: unsupported words are dropped
// (said why); for IKEv1 several algorithms of a kind keep the first, as
// strongSwan does; a proposal that no longer parses is left out.
func mapSwanProposal(s string, esp bool, version string) proposalResult {
	var res proposalResult
	var keep []string
	kinds := map[string][]string{}
	for _, w := range strings.Split(strings.ToLower(strings.TrimSpace(s)), "-") {
		if w == "" {
			continue
		}
		kind, ok := ikegateKeywords[w]
		if !ok {
			res.dropped = append(res.dropped, fmt.Sprintf("%s (%s)", w, unsupported(w)))
			continue
		}
		kinds[kind] = append(kinds[kind], w)
		keep = append(keep, w)
	}
	if len(keep) == 0 {
		res.err = "no algorithm ikegate has"
		return res
	}
	if version == "ikev1" {
		var first []string
		var extra []string
		seen := map[string]bool{}
		for _, w := range keep {
			k := ikegateKeywords[w]
			if seen[k] {
				extra = append(extra, w)
				continue
			}
			seen[k] = true
			first = append(first, w)
		}
		if len(extra) > 0 {
			res.remark = "IKEv1 takes one algorithm of each kind per proposal: kept the first of each (strongSwan ignores the others too), dropped " + strings.Join(extra, ", ")
			keep = first
		}
		if !esp && oakley.IsAEADKeyword(keep[0]) {
			res.err = "IKEv1 has no AEAD cipher for the IKE SA"
			return res
		}
	}
	p := strings.Join(keep, "-")
	if _, err := oakley.ParseProposal(p, esp); err != nil {
		res.err = err.Error()
		if len(res.dropped) > 0 {
			res.err = fmt.Sprintf("what remains (%s) is no complete proposal", p)
		}
		return res
	}
	res.out = []string{p}
	return res
}

// noteProposals maps a list of proposals for key (ike or esp) and notes
// the outcome on line: omitted when an algorithm or a proposal had to be
// left out (a weak or unsupported one), approximated when only changed;
// it returns the ikegate proposals (nil: none left). extraRemark is added
// to the note (e.g. about strongSwan's "!").
func noteProposals(n noter, line int, src string, list []string, esp bool, version string, mapOne func(string) proposalResult, extraRemark string) []string {
	key := "ike"
	if esp {
		key = "esp"
	}
	var out, changes []string
	lost := false // an algorithm or a proposal was left out
	// Proposals with the same remark are named together.
	var remarks []string
	byRemark := map[string][]string{}
	omittedAll := true
	for _, s := range list {
		res := mapOne(s)
		if res.err != "" {
			why := res.err
			if len(res.dropped) > 0 {
				why = strings.Join(res.dropped, "; ") + "; " + why
			}
			changes = append(changes, fmt.Sprintf("%s left out: %s", s, why))
			lost = true
			continue
		}
		omittedAll = false
		if len(res.dropped) > 0 {
			changes = append(changes, fmt.Sprintf("%s: dropped %s", s, strings.Join(res.dropped, ", ")))
			lost = true
		}
		if res.remark != "" {
			if _, ok := byRemark[res.remark]; !ok {
				remarks = append(remarks, res.remark)
			}
			byRemark[res.remark] = append(byRemark[res.remark], s)
		}
		for _, p := range res.out {
			if !hasString(out, p) {
				out = append(out, p)
			}
		}
	}
	for _, r := range remarks {
		changes = append(changes, strings.Join(byRemark[r], ", ")+": "+r)
	}
	if extraRemark != "" {
		changes = append(changes, extraRemark)
	}
	switch {
	case omittedAll:
		n.note(line, Omitted, "%s: no proposal ikegate can use (%s); ikegate's default %s proposals apply", src, strings.Join(changes, "; "), key)
		return nil
	case lost:
		n.note(line, Omitted, "%s → %s = %s (%s)", src, key, tomlList(out), strings.Join(changes, "; "))
	case len(changes) > 0:
		n.note(line, Approximated, "%s → %s = %s (%s)", src, key, tomlList(out), strings.Join(changes, "; "))
	default:
		n.note(line, Translated, "%s → %s = %s", src, key, tomlList(out))
	}
	return out
}

// firstDH returns the first DH group keyword of proposals, "" if none.
func firstDH(props []string) string {
	for _, p := range props {
		for _, w := range strings.Split(p, "-") {
			if ikegateKeywords[w] == "dh" {
				return w
			}
		}
	}
	return ""
}

// hasDH reports whether proposal p names a DH group.
func hasDH(p string) bool { return firstDH([]string{p}) != "" }

// withoutDH removes DH group keywords from proposal p.
func withoutDH(p string) string {
	var keep []string
	for _, w := range strings.Split(p, "-") {
		if ikegateKeywords[w] != "dh" {
			keep = append(keep, w)
		}
	}
	return strings.Join(keep, "-")
}

// Addresses, selectors, identities.

// parseAddr parses an IP address (IPv4, IPv6, with a zone refused).
func parseAddr(s string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(strings.TrimSpace(s))
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

// selector converts one traffic selector as strongSwan and Libreswan
// write them (a prefix, an address, a range "a-b", optionally with
// "[proto/port]" or Libreswan's "/netmask" forms) into prefixes, and says
// what was lost ("" when nothing).
func selector(s string) ([]string, string, error) {
	s = strings.TrimSpace(s)
	lost := ""
	if i := strings.IndexByte(s, '['); i >= 0 {
		if !strings.HasSuffix(s, "]") {
			return nil, "", fmt.Errorf("%q: unclosed [", s)
		}
		lost = "the protocol/port restriction " + s[i:] + " (ikegate's selectors are whole prefixes: this tunnels all traffic of the prefix)"
		s = strings.TrimSpace(s[:i])
	}
	if s == "" || s == "%any" || s == "%any4" {
		return []string{"0.0.0.0/0"}, lost, nil
	}
	if s == "%any6" {
		return []string{"::/0"}, lost, nil
	}
	if i := strings.IndexByte(s, '-'); i > 0 {
		a, ok1 := parseAddr(s[:i])
		b, ok2 := parseAddr(s[i+1:])
		if !ok1 || !ok2 || a.Is4() != b.Is4() || b.Less(a) {
			return nil, "", fmt.Errorf("%q is not an address range", s)
		}
		return policy.PrefixStrings(policy.RangePrefixes(a, b)), lost, nil
	}
	if strings.Contains(s, "/") {
		pfx, err := netip.ParsePrefix(s)
		if err != nil {
			// Libreswan also takes a dotted netmask: 10.0.0.0/255.255.255.0.
			if i := strings.IndexByte(s, '/'); i > 0 {
				if a, ok := parseAddr(s[:i]); ok && a.Is4() {
					if m, ok := parseAddr(s[i+1:]); ok && m.Is4() {
						if bits, ok := maskBits(m, false); ok {
							pfx = netip.PrefixFrom(a, bits)
							err = nil
						}
					}
				}
			}
			if err != nil {
				return nil, "", fmt.Errorf("%q is not a prefix", s)
			}
		}
		if pfx.Masked() != pfx {
			lost = joinLost(lost, fmt.Sprintf("%s has host bits set: taken as %s", pfx, pfx.Masked()))
		}
		return []string{pfx.Masked().String()}, lost, nil
	}
	a, ok := parseAddr(s)
	if !ok {
		return nil, "", fmt.Errorf("%q is not an address, prefix or range", s)
	}
	return []string{netip.PrefixFrom(a, a.BitLen()).String()}, lost, nil
}

func joinLost(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

// identity checks an identity in strongSwan syntax for ikegate; "" and an
// error when ikegate cannot take it.
func identity(s string) (string, error) {
	s = strings.TrimSpace(s)
	if _, err := policy.ParseIdentity(s); err != nil {
		return "", err
	}
	return s, nil
}

// Secrets.

// secret is one entry of a secrets store: ipsec.secrets, or swanctl.conf's
// secrets section.
type secret struct {
	ids   []string // selectors ("" = none, matches all)
	kind  string   // "PSK", "EAP", "XAUTH", "RSA", "ECDSA", ...
	value string   // the secret, in ikegate's psk syntax for PSKs; a file for RSA/ECDSA
	file  string   // where it was read ("" = the input)
	line  int
}

// normID reduces an identity or secrets selector for comparison: quotes,
// a leading "@" (FQDN marker) and case dropped.
func normID(s string) string {
	s = strings.TrimSpace(strings.Trim(strings.TrimSpace(s), `"'`))
	switch {
	case strings.HasPrefix(s, "@#"):
		s = "keyid:#" + s[2:]
	case strings.HasPrefix(s, "@[") && strings.HasSuffix(s, "]"):
		s = "keyid:" + s[2:len(s)-1]
	case strings.HasPrefix(s, "@"):
		s = s[1:]
	}
	if a, ok := parseAddr(s); ok {
		return a.String()
	}
	return strings.ToLower(s)
}

func isAnyID(s string) bool {
	switch normID(s) {
	case "%any", "%any6", "0.0.0.0", "::", "%any4":
		return true
	}
	return false
}

// matchSecret picks the secret of kind for an end with the identities
// local and remote (each: the configured ID and the address): an entry
// without selectors matches all; one with a selector matches when it names
// one of the ends; one with several when they name both ends. The most
// specific match wins; among equals the first. ambiguous says whether an
// equally good entry holds another secret.
func matchSecret(secrets []secret, kind string, local, remote []string) (best *secret, ambiguous bool) {
	in := func(id string, set []string) int {
		if isAnyID(id) {
			return 1
		}
		for _, s := range set {
			if s != "" && normID(s) == normID(id) {
				return 2
			}
		}
		return 0
	}
	bestScore := 0
	for i := range secrets {
		s := &secrets[i]
		if s.kind != kind {
			continue
		}
		score := 0
		switch len(s.ids) {
		case 0:
			score = 1
		case 1:
			if m := max(in(s.ids[0], local), in(s.ids[0], remote)); m > 0 {
				score = 1 + m
			}
		default:
			l, r := 0, 0
			for _, id := range s.ids {
				l = max(l, in(id, local))
				r = max(r, in(id, remote))
			}
			if l > 0 && r > 0 {
				score = 2 + l + r
			}
		}
		switch {
		case score == 0:
		case score > bestScore:
			best, bestScore, ambiguous = s, score, false
		case score == bestScore && s.value != best.value:
			ambiguous = true
		}
	}
	return best, ambiguous
}

// pskValue turns a secret as written in ipsec.secrets or swanctl.conf
// (already unquoted; quoted says whether it was) into ikegate's psk
// syntax: text, "0x" + hex or "0s" + base64. Quoted text that would read
// as hex or base64 is written as hex.
func pskValue(v string, quoted bool) string {
	if quoted {
		v, _ = vendorPSK(v)
	}
	return v
}

// userTable is the [[user]] of an EAP, XAUTH or NTLM secret for the user
// name (NTLM: its NT hash, else the password).
func userTable(s secret, name string) *Table {
	t := &Table{Kind: "user", File: s.file, Lines: []int{s.line}}
	t.Keys = append(t.Keys, KV{Key: "name", Value: tomlString(name)})
	if s.kind == "NTLM" {
		h := strings.TrimPrefix(strings.ToLower(s.value), "0x")
		t.Keys = append(t.Keys, KV{Key: "nt_hash", Value: tomlString(h), Secret: true})
	} else {
		t.Keys = append(t.Keys, KV{Key: "password", Value: tomlString(s.value), Secret: true})
	}
	return t
}

func hasString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// yesNo reads a boolean as strongSwan and Libreswan write them.
func parseYesNo(s string) (bool, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "yes", "true", "1", "on", "y":
		return true, true
	case "no", "false", "0", "off", "n":
		return false, true
	}
	return false, false
}

// tomlString renders a string as a TOML value.
func tomlString(s string) string { return strconv.Quote(s) }

// isSubnetOrRange reports whether s is a prefix ("10.0.0.0/8") or an
// address range ("10.0.0.1-10.0.0.9") rather than an address or a name.
func isSubnetOrRange(s string) bool {
	if _, err := netip.ParsePrefix(s); err == nil {
		return true
	}
	if i := strings.IndexByte(s, '-'); i > 0 {
		_, ok1 := parseAddr(s[:i])
		_, ok2 := parseAddr(s[i+1:])
		return ok1 && ok2
	}
	return false
}
