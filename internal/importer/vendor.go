package importer

// Helpers shared by the Cisco (cisco.go) and Junos (junos.go) importers:
// durations, pre-shared keys, connection names, prefixes and selector
// pairs, proposals. Their names start with "vendor" so that they do not
// meet the other formats' helpers in this package.

import (
	"encoding/hex"
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"ikegate/oakley"
	"ikegate/policy"
)

// Bounds of ikegate's lifetimes and DPD times in seconds (policy's
// limits).
const (
	vendorMinLifetime = int64(policy.MinLifetime / time.Second)
	vendorMaxLifetime = int64(policy.MaxLifetime / time.Second)
	vendorMinDPD      = int64(policy.MinDPDDelay / time.Second)
	vendorMaxDPD      = int64(policy.MaxDPDDelay / time.Second)
)

// vendorDuration writes sec seconds as ikegate writes durations: "8h",
// "1h30m", "45s".
func vendorDuration(sec int64) string {
	if sec <= 0 {
		return "0s"
	}
	h, m, s := sec/3600, sec%3600/60, sec%60
	var b strings.Builder
	if h > 0 {
		fmt.Fprintf(&b, "%dh", h)
	}
	if m > 0 {
		fmt.Fprintf(&b, "%dm", m)
	}
	if s > 0 {
		fmt.Fprintf(&b, "%ds", s)
	}
	return b.String()
}

// vendorClamp keeps sec within [lo, hi]; why says what was changed, ""
// when nothing was.
func vendorClamp(sec, lo, hi int64) (int64, string) {
	switch {
	case sec < lo:
		return lo, fmt.Sprintf("%ds is below ikegate's minimum of %s: %s", sec, vendorDuration(lo), vendorDuration(lo))
	case sec > hi:
		return hi, fmt.Sprintf("%s is above ikegate's maximum of %s: %s", vendorDuration(sec), vendorDuration(hi), vendorDuration(hi))
	}
	return sec, ""
}

// vendorLifetime translates a lifetime in seconds for key (ike_lifetime,
// child_lifetime) on line: the duration, and a note.
func vendorLifetime(r *Result, line int, key, src string, sec int64) string {
	v, why := vendorClamp(sec, vendorMinLifetime, vendorMaxLifetime)
	if why != "" {
		r.Note(line, Approximated, "%s → %s: %s", src, key, why)
	} else {
		r.Note(line, Translated, "%s → %s = %q", src, key, vendorDuration(v))
	}
	return vendorDuration(v)
}

// vendorAtoi parses a non-negative decimal number that fits in 32 bits.
func vendorAtoi(s string) (int64, bool) {
	n, err := strconv.ParseUint(s, 10, 32)
	return int64(n), err == nil
}

// vendorPSK returns the text of a pre-shared key as ikegate's psk value:
// a key that begins like one of ikegate's encodings ("0x", "0s") is
// written as hex so that it is not decoded; the second result says so.
func vendorPSK(key string) (string, bool) {
	if l := strings.ToLower(key); strings.HasPrefix(l, "0x") || strings.HasPrefix(l, "0s") {
		return "0x" + hex.EncodeToString([]byte(key)), true
	}
	return key, false
}

// vendorName makes a valid, unique connection (or pool, group) name of s:
// letters, digits, '.', '_', '-', starting with a letter or digit, at most
// 64 characters.
func vendorName(used map[string]bool, s string) string {
	var b strings.Builder
	for _, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
			b.WriteRune(c)
		default:
			b.WriteByte('-')
		}
	}
	n := strings.TrimLeft(b.String(), "._-")
	if n == "" {
		n = "conn"
	}
	if len(n) > 60 {
		n = n[:60]
	}
	base := n
	for i := 2; used[n]; i++ {
		n = fmt.Sprintf("%s-%d", base, i)
	}
	used[n] = true
	return n
}

// vendorMaskBits turns a dotted IPv4 netmask (255.255.255.0) into a
// prefix length; wildcard masks (0.0.0.255, Cisco ACLs) when wild.
func vendorMaskBits(mask string, wild bool) (int, bool) {
	a, err := netip.ParseAddr(mask)
	if err != nil || !a.Is4() {
		return 0, false
	}
	return maskBits(a, wild)
}

// maskBits returns the prefix length of an IPv4 netmask (a wildcard mask
// when wild); false when its bits are not contiguous.
func maskBits(m netip.Addr, wild bool) (int, bool) {
	b := m.As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	if wild {
		v = ^v
	}
	n := 0
	for n < 32 && v&(1<<(31-n)) != 0 {
		n++
	}
	if n < 32 && v<<n != 0 {
		return 0, false // not contiguous
	}
	return n, true
}

// vendorPrefix is addr/bits with the host bits cleared, as text.
func vendorPrefix(addr string, bits int) (string, bool) {
	a, err := netip.ParseAddr(addr)
	if err != nil || a.Zone() != "" || bits < 0 || bits > a.BitLen() {
		return "", false
	}
	return netip.PrefixFrom(a.Unmap(), bits).Masked().String(), true
}

// vendorHost is addr as a single-host prefix.
func vendorHost(addr string) (string, bool) {
	a, err := netip.ParseAddr(addr)
	if err != nil || a.Zone() != "" {
		return "", false
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()).String(), true
}

// vendorCIDR parses "10.1.0.0/24" (host bits cleared) or a bare address.
func vendorCIDR(s string) (string, bool) {
	if !strings.Contains(s, "/") {
		return vendorHost(s)
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return "", false
	}
	return netip.PrefixFrom(p.Addr().Unmap(), p.Bits()).Masked().String(), true
}

// vendorRange covers the inclusive range first-last exactly with prefixes
// (at most 64 of them).
func vendorRange(first, last string) ([]string, bool) {
	a, err1 := netip.ParseAddr(first)
	b, err2 := netip.ParseAddr(last)
	if err1 != nil || err2 != nil || a.Is4() != b.Is4() || b.Less(a) {
		return nil, false
	}
	out := policy.PrefixStrings(policy.RangePrefixes(a, b))
	return out, len(out) <= 64
}

// vendorPair is one selector pair (a crypto ACL line, a proxy ID).
type vendorPair struct {
	Local, Remote string
}

// vendorSelectors turns selector pairs into ikegate's local_ts and
// remote_ts. ikegate negotiates every local × remote pair of one address
// family, so pairs that are not a full cross product get more than they
// asked for: extra lists those pairs.
func vendorSelectors(pairs []vendorPair) (locals, remotes, extra []string) {
	have := map[vendorPair]bool{}
	seenL, seenR := map[string]bool{}, map[string]bool{}
	for _, p := range pairs {
		have[p] = true
		if !seenL[p.Local] {
			seenL[p.Local] = true
			locals = append(locals, p.Local)
		}
		if !seenR[p.Remote] {
			seenR[p.Remote] = true
			remotes = append(remotes, p.Remote)
		}
	}
	for _, l := range locals {
		for _, r := range remotes {
			if vendorIs4(l) == vendorIs4(r) && !have[vendorPair{l, r}] {
				extra = append(extra, l+" → "+r)
			}
		}
	}
	return locals, remotes, extra
}

// vendorIs4 reports whether a prefix is IPv4.
func vendorIs4(prefix string) bool { return !strings.Contains(prefix, ":") }

// vendorDH names DH groups by number (Cisco's "group 14", Junos's
// "group14"): the keyword, or why there is none.
func vendorDH(n string) (string, string) {
	switch n {
	case "1":
		return "", "DH group 1 (768-bit MODP) is broken: ikegate refuses it"
	case "2":
		return "modp1024", ""
	case "5":
		return "modp1536", ""
	case "14":
		return "modp2048", ""
	case "15":
		return "modp3072", ""
	case "16":
		return "modp4096", ""
	case "17":
		return "modp6144", ""
	case "18":
		return "modp8192", ""
	case "19":
		return "ecp256", ""
	case "20":
		return "ecp384", ""
	case "21":
		return "ecp521", ""
	case "31":
		return "curve25519", ""
	case "22", "23", "24":
		return "", fmt.Sprintf("DH group %s (MODP with a prime-order subgroup) is not supported by ikegate", n)
	}
	return "", fmt.Sprintf("DH group %s is not supported by ikegate", n)
}

// vendorWeak lists the weak algorithms a proposal keeps (ikegate still
// accepts them), for the note.
func vendorWeak(prop string) string {
	var w []string
	for _, k := range strings.Split(prop, "-") {
		switch k {
		case "3des":
			w = append(w, "3DES")
		case "md5":
			w = append(w, "MD5")
		case "modp1024":
			w = append(w, "MODP-1024")
		case "modp1536":
			w = append(w, "MODP-1536")
		case "null":
			w = append(w, "no encryption")
		}
	}
	if len(w) == 0 {
		return ""
	}
	return " (weak: " + strings.Join(w, ", ") + "; ikegate accepts it, move the peer to AES and DH group 14 or 19 when it can)"
}

// vendorSuite is one proposal in the making: ikegate keywords by kind.
// Several of a kind make an IKEv2 proposal offer them all.
type vendorSuite struct {
	Enc, Integ, PRF, DH []string
}

// proposals renders the suite as proposal strings (AEAD ciphers apart from
// the others, as a proposal cannot mix them), checked with oakley. An IKE
// proposal with an AEAD cipher and no PRF gets the PRF of its integrity
// algorithms, else prfsha256; the second result says so.
func (s vendorSuite) proposals(esp bool) ([]string, []string, error) {
	var plain, aead []string
	for _, e := range s.Enc {
		if oakley.IsAEADKeyword(e) {
			aead = append(aead, e)
		} else {
			plain = append(plain, e)
		}
	}
	var out, notes []string
	if len(plain) > 0 {
		parts := append(append([]string{}, plain...), s.Integ...)
		if !esp {
			parts = append(parts, s.PRF...)
		}
		out = append(out, strings.Join(append(parts, s.DH...), "-"))
	}
	if len(aead) > 0 {
		parts := append([]string{}, aead...)
		if !esp {
			prf := s.PRF
			if len(prf) == 0 {
				for _, i := range s.Integ {
					if i != "aesxcbc" {
						prf = append(prf, "prf"+i)
					}
				}
				if len(prf) == 0 {
					prf = []string{"prfsha256"}
				}
				notes = append(notes, "an AEAD cipher needs a PRF in IKE: "+strings.Join(prf, ", "))
			}
			parts = append(parts, prf...)
		}
		out = append(out, strings.Join(append(parts, s.DH...), "-"))
	}
	for _, p := range out {
		if _, err := oakley.ParseProposal(p, esp); err != nil {
			return nil, notes, err
		}
	}
	return out, notes, nil
}

// vendorWithPFS appends the PFS group to each ESP proposal.
func vendorWithPFS(esp []string, dh string) []string {
	if dh == "" {
		return esp
	}
	out := make([]string, len(esp))
	for i, p := range esp {
		out[i] = p + "-" + dh
	}
	return out
}

// vendorSortedUnique sorts and deduplicates line numbers.
func vendorSortedUnique(v []int) []int {
	sort.Ints(v)
	out := v[:0]
	for i, n := range v {
		if n > 0 && (i == 0 || n != v[i-1]) {
			out = append(out, n)
		}
	}
	return out
}

// vendorCheckText returns the 1-based line of the first byte that is not
// text (a NUL, invalid UTF-8), 0 when src is text.
func vendorCheckText(src []byte) int {
	line := 1
	for i := 0; i < len(src); {
		c := src[i]
		if c == '\n' {
			line++
		}
		if c == 0 {
			return line
		}
		if c < utf8.RuneSelf {
			i++
			continue
		}
		r, n := utf8.DecodeRune(src[i:])
		if r == utf8.RuneError && n <= 1 {
			return line
		}
		i += n
	}
	return 0
}

// vendorDPD translates DPD from an idle delay and a time to give up, both
// in seconds: the dpd_delay and dpd_timeout values, and what was clamped.
func vendorDPD(delay, timeout int64) (string, string, string) {
	d, why1 := vendorClamp(delay, vendorMinDPD, vendorMaxDPD)
	t, why2 := vendorClamp(timeout, vendorMinDPD, vendorMaxDPD)
	why := why1
	if why2 != "" {
		if why != "" {
			why += "; "
		}
		why += why2
	}
	return vendorDuration(d), vendorDuration(t), why
}

// vendorNATKeepalive translates a NAT keepalive interval in seconds for
// gateway.natt_keepalive (from 1s to 2m).
func vendorNATKeepalive(sec int64) (string, string) {
	v, why := vendorClamp(sec, 1, 120)
	return vendorDuration(v), why
}

// vendorDef is something defined once and used by any number of
// connections (a policy, a proposal, an ACL, a key): its notes are
// held until the end, then reported if it was used, or replaced by one
// "not used" note if it was not.
type vendorDef struct {
	line  int
	what  string
	notes []Note
	used  bool
	why   string // for unused: what would have used it
}

// note holds a note until the definition is known to be used.
func (d *vendorDef) note(line int, st Status, format string, args ...any) {
	d.notes = append(d.notes, Note{Line: line, Status: st, What: fmt.Sprintf(format, args...)})
}

// vendorDedupe drops repeated notes (a global setting noted for each
// connection that uses it), keeping the first.
func vendorDedupe(notes []Note) []Note {
	seen := map[Note]bool{}
	out := notes[:0]
	for _, n := range notes {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}

// vendorSecretWords are the words a secret follows in Cisco and Junos
// commands; vendorSecretMarks may stand between them and the secret.
var (
	vendorSecretWords = map[string]bool{"key": true, "pre-shared-key": true, "password": true, "secret": true,
		"ascii-text": true, "hexadecimal": true, "encrypted-password": true, "seeded-pre-shared-key": true}
	vendorSecretMarks = map[string]bool{"local": true, "remote": true, "ascii-text": true, "hexadecimal": true,
		"0": true, "5": true, "6": true, "7": true, "8": true, "9": true}
)

// vendorHasWords reports whether words starts with prefix ("*" matches
// any word).
func vendorHasWords(words, prefix []string) bool {
	if len(words) < len(prefix) {
		return false
	}
	for i, p := range prefix {
		if p != "*" && words[i] != p {
			return false
		}
	}
	return true
}

// vendorWord is words[i], "" past the end.
func vendorWord(words []string, i int) string {
	if i < len(words) {
		return words[i]
	}
	return ""
}

// vendorShow joins a command's words for the report, with every secret
// (what follows key, pre-shared-key, password, secret, ascii-text, ...,
// past an encryption type digit, local/remote or ascii-text) replaced by
// "(secret)", so that the report never shows a key. Long commands are
// shortened.
func vendorShow(w []string) string {
	out := make([]string, 0, len(w))
	for i := 0; i < len(w); i++ {
		out = append(out, w[i])
		if !vendorSecretWords[strings.ToLower(w[i])] {
			continue
		}
		j := i + 1
		if j < len(w) && (strings.EqualFold(w[j], "address") || strings.EqualFold(w[j], "hostname")) {
			continue // "pre-shared-key address A key K": the key follows "key"
		}
		for j+1 < len(w) && vendorSecretMarks[strings.ToLower(w[j])] {
			out = append(out, w[j])
			j++
		}
		if j < len(w) {
			out = append(out, "(secret)")
			i = j
		}
	}
	s := strings.Join(out, " ")
	if len(s) > 120 {
		s = s[:117] + "..."
	}
	return s
}

// vendorUnique drops repeated strings, keeping the first of each.
func vendorUnique(v []string) []string {
	seen := map[string]bool{}
	out := v[:0:0]
	for _, s := range v {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// vendorConnAddrs lists the connections' local addresses, each once (seen
// holds them); unknown names the first connection without one.
func vendorConnAddrs(conns []*Conn) (addrs []string, seen map[string]bool, unknown string) {
	seen = map[string]bool{}
	for _, c := range conns {
		switch {
		case c.LocalAddr == "":
			if unknown == "" {
				unknown = c.Name
			}
		case !seen[c.LocalAddr]:
			seen[c.LocalAddr] = true
			addrs = append(addrs, c.LocalAddr)
		}
	}
	return addrs, seen, unknown
}

// vendorSetListen sets gateway.listen to addrs, or to 0.0.0.0 (noted)
// when there are none or connection unknown has no local address.
func vendorSetListen(r *Result, addrs []string, unknown string) {
	if unknown == "" && len(addrs) > 0 {
		r.Listen = addrs
		return
	}
	r.Listen = []string{"0.0.0.0"}
	why := "no local address is known"
	if unknown != "" {
		why = "the local address of connection " + unknown + " is not known"
	}
	r.Note(0, Approximated, "gateway.listen = [\"0.0.0.0\"]: %s; set listen and local_addr to the address the peers talk to", why)
}

// vendorMaxPairs bounds the selector pairs one line may expand to (object
// groups on both sides multiply).
const vendorMaxPairs = 10000

// vendorAllAEAD reports whether every cipher of enc is AEAD (and there is one).
func vendorAllAEAD(enc []string) bool {
	for _, e := range enc {
		if !oakley.IsAEADKeyword(e) {
			return false
		}
	}
	return len(enc) > 0
}
