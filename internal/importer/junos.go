package importer

// Juniper Junos (SRX): `show configuration` in either form, the curly
// brace hierarchy or `| display set` commands. The hierarchy is first
// normalised into set-style paths ("security ike proposal P dh-group
// group14"), each with its line; the rest reads paths only.
//
// Read: security ike proposal / policy / gateway, security ipsec
// proposal / policy / vpn (bind-interface, ike gateway and ipsec-policy,
// proxy-identity, traffic-selector, establish-tunnels), the interfaces'
// addresses, static routes into st0 units, zones, address books and the
// security policies of policy-based VPNs, access profiles and address
// pools of dynamic (XAUTH) VPNs.

import (
	"encoding/hex"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
)

func init() {
	Register(Junos, func(_ string, src []byte) (*Result, error) { return parseJunos(src) })
}

// junosStmt is one configuration statement as a set-style path.
type junosStmt struct {
	line       int
	path       []string
	inactiveAt int // line of the "inactive:" or "deactivate" that turns it off; 0 when active
	noted      bool
}

// junosItem is a statement seen below a prefix: rest is its path past
// the prefix (and the object's name).
type junosItem struct {
	s    *junosStmt
	rest []string
}

// has reports whether the rest of the path starts with words ("*": any).
func (it junosItem) has(words ...string) bool { return vendorHasWords(it.rest, words) }

// show quotes the statement for the report, secrets replaced.
func (it junosItem) show() string { return vendorShow(it.rest) }

// junosTok is a token of the configuration text.
type junosTok struct {
	line int
	s    string
	kind byte // 'w' word, '{', '}', ';', '[', ']'
}

var junosSkipRE = regexp.MustCompile(`^\s*(\{[A-Za-z0-9_:-]+\}|\S+@\S+[>#].*|\[edit.*\])\s*$`)

// junosTokens splits text into tokens: words (quoted strings unquoted),
// braces, brackets and semicolons; # and /* */ comments dropped.
func junosTokens(text string, line int) ([]junosTok, error) {
	var out []junosTok
	for i := 0; i < len(text); {
		c := text[i]
		switch {
		case c == '\n':
			line++
			i++
		case c == ' ' || c == '\t' || c == '\r':
			i++
		case c == '#':
			for i < len(text) && text[i] != '\n' {
				i++
			}
		case c == '/' && i+1 < len(text) && text[i+1] == '*':
			start := line
			end := strings.Index(text[i+2:], "*/")
			if end < 0 {
				return nil, fmt.Errorf("line %d: comment never closed (no */)", start)
			}
			line += strings.Count(text[i:i+2+end], "\n")
			i += end + 4
		case c == '{' || c == '}' || c == ';' || c == '[' || c == ']':
			out = append(out, junosTok{line: line, s: string(c), kind: c})
			i++
		case c == '"':
			start := line
			var b strings.Builder
			j := i + 1
			for ; j < len(text) && text[j] != '"'; j++ {
				if text[j] == '\\' && j+1 < len(text) {
					j++
				}
				if text[j] == '\n' {
					line++
				}
				b.WriteByte(text[j])
			}
			if j >= len(text) {
				return nil, fmt.Errorf("line %d: quoted string never closed", start)
			}
			out = append(out, junosTok{line: start, s: b.String(), kind: 'w'})
			i = j + 1
		default:
			j := i
			for j < len(text) && !strings.ContainsRune(" \t\r\n{};[]\"", rune(text[j])) {
				j++
			}
			out = append(out, junosTok{line: line, s: text[i:j], kind: 'w'})
			i = j
		}
	}
	return out, nil
}

// junosParse normalises a Junos configuration into statements: set-style
// if its first command is set (or deactivate), else the brace hierarchy.
func junosParse(src []byte) ([]*junosStmt, []Note, error) {
	if l := vendorCheckText(src); l > 0 {
		return nil, nil, fmt.Errorf("line %d: not text (binary data or invalid UTF-8): not a Junos configuration", l)
	}
	lines := strings.Split(string(src), "\n")
	setStyle := false
	for i, l := range lines {
		t := strings.TrimSpace(l)
		if t == "" || t[0] == '#' || strings.HasPrefix(t, "/*") || junosSkipRE.MatchString(l) {
			continue
		}
		f := strings.Fields(t)
		if err := junosForeign(i+1, t, f); err != nil {
			return nil, nil, err
		}
		setStyle = f[0] == "set" || f[0] == "deactivate" || f[0] == "delete" || f[0] == "activate"
		break
	}
	if setStyle {
		return junosSetStyle(lines)
	}
	// Blank out prompts and cluster banners ("{primary:node0}") line by line,
	// keeping the line numbers.
	for i, l := range lines {
		if junosSkipRE.MatchString(l) {
			lines[i] = ""
		}
	}
	toks, err := junosTokens(strings.Join(lines, "\n"), 1)
	if err != nil {
		return nil, nil, err
	}
	stmts, err := junosHierarchy(toks)
	return stmts, nil, err
}

// junosForeign refuses other formats' first lines, naming the line.
func junosForeign(ln int, t string, f []string) error {
	switch {
	case f[0] == "crypto" || f[0] == "tunnel-group" || f[0] == "hostname" && !strings.HasSuffix(t, ";") && len(f) == 2:
		return fmt.Errorf("line %d: a Cisco command, not Junos: use --from %s or --from %s", ln, CiscoIOS, CiscoASA)
	case f[0] == "conn" || f[0] == "config" && len(f) > 1 && f[1] == "setup":
		return fmt.Errorf("line %d: an ipsec.conf section, not Junos: use --from %s or --from %s", ln, IPsecConf, Libreswan)
	case f[0] == "connections" || f[0] == "secrets" || f[0] == "pools":
		return fmt.Errorf("line %d: a swanctl.conf section, not Junos: use --from %s", ln, Swanctl)
	}
	return nil
}

// junosSetStyle reads "set ..." and "deactivate ..." lines.
func junosSetStyle(lines []string) ([]*junosStmt, []Note, error) {
	var stmts []*junosStmt
	var notes []Note
	type deact struct {
		line int
		path []string
	}
	var deacts []deact
	for i, l := range lines {
		ln := i + 1
		t := strings.TrimSpace(l)
		if t == "" || t[0] == '#' || junosSkipRE.MatchString(l) {
			continue
		}
		toks, err := junosTokens(t, ln)
		if err != nil {
			return nil, nil, err
		}
		var words []string
		var list []string
		inList, hasList := false, false
		for _, tk := range toks {
			switch tk.kind {
			case '[':
				inList, hasList = true, true
			case ']':
				inList = false
			case '{', '}':
				return nil, nil, fmt.Errorf("line %d: a brace in a set-style configuration: one form per file", ln)
			case ';':
			default:
				if inList {
					list = append(list, tk.s)
				} else {
					words = append(words, tk.s)
				}
			}
		}
		if len(words) == 0 {
			continue
		}
		switch words[0] {
		case "set":
			if len(words) < 2 {
				notes = append(notes, Note{Line: ln, Status: Omitted, What: "set with nothing to set"})
				continue
			}
			if !hasList {
				stmts = append(stmts, &junosStmt{line: ln, path: words[1:]})
				continue
			}
			for _, v := range list {
				stmts = append(stmts, &junosStmt{line: ln, path: append(append([]string{}, words[1:]...), v)})
			}
		case "deactivate":
			deacts = append(deacts, deact{ln, words[1:]})
		default:
			notes = append(notes, Note{Line: ln, Status: Omitted, What: fmt.Sprintf("%s: not a set command; not read", vendorShow(words))})
		}
	}
	for _, d := range deacts {
		for _, s := range stmts {
			if junosPrefix(s.path, d.path) && s.inactiveAt == 0 {
				s.inactiveAt = d.line
			}
		}
	}
	return stmts, notes, nil
}

// junosPrefix reports whether path starts with prefix.
func junosPrefix(path, prefix []string) bool {
	if len(path) < len(prefix) {
		return false
	}
	for i, w := range prefix {
		if path[i] != w {
			return false
		}
	}
	return true
}

// junosHierarchy turns the brace hierarchy's tokens into statements.
func junosHierarchy(toks []junosTok) ([]*junosStmt, error) {
	type frame struct {
		words    []string
		inactive int
		line     int
	}
	var stack []frame
	var stmts []*junosStmt
	var cur, list []string
	curLine, curInactive := 0, 0
	hasList, inList := false, false
	prefix := func() ([]string, int) {
		var p []string
		in := 0
		for _, f := range stack {
			p = append(p, f.words...)
			if f.inactive != 0 && in == 0 {
				in = f.inactive
			}
		}
		return p, in
	}
	emit := func() {
		if len(cur) == 0 {
			return
		}
		p, in := prefix()
		if in == 0 {
			in = curInactive
		}
		base := append(p, cur...)
		if !hasList {
			stmts = append(stmts, &junosStmt{line: curLine, path: base, inactiveAt: in})
		}
		for _, v := range list {
			stmts = append(stmts, &junosStmt{line: curLine, path: append(append([]string{}, base...), v), inactiveAt: in})
		}
		cur, list, hasList, curInactive = nil, nil, false, 0
	}
	for _, tk := range toks {
		switch tk.kind {
		case 'w':
			if inList {
				list = append(list, tk.s)
				continue
			}
			if len(cur) == 0 {
				switch tk.s {
				case "inactive:":
					curInactive = tk.line
					continue
				case "protect:", "replace:", "active:", "apply-groups-except", "delete:":
					continue
				}
				curLine = tk.line
			}
			cur = append(cur, tk.s)
		case '[':
			inList, hasList = true, true
		case ']':
			inList = false
		case ';':
			emit()
		case '{':
			if len(cur) == 0 {
				return nil, fmt.Errorf("line %d: a block with no name before '{'", tk.line)
			}
			stack = append(stack, frame{words: cur, inactive: curInactive, line: curLine})
			cur, curInactive = nil, 0
		case '}':
			emit()
			if len(stack) == 0 {
				return nil, fmt.Errorf("line %d: '}' closes no block", tk.line)
			}
			stack = stack[:len(stack)-1]
		}
	}
	emit()
	if len(stack) > 0 {
		return nil, fmt.Errorf("line %d: block %q is never closed (missing '}')", stack[len(stack)-1].line, strings.Join(stack[len(stack)-1].words, " "))
	}
	return stmts, nil
}

// junosSuite is a Junos proposal read: its proposal string, or why not.
type junosProposal struct {
	vendorDef
	name     string
	props    []string
	auth     string // IKE: authentication-method
	esp      bool
	lifetime int64
	lifeLine int
	kbytes   int64
	kbLine   int
	truncbug bool // hmac-sha-256-96
}

// junosPolicy is an IKE or IPsec policy.
type junosPolicy struct {
	vendorDef
	name      string
	mode      string
	modeLine  int
	proposals []string
	propLine  int
	set       string
	setLine   int
	psk       string
	pskHex    bool // psk is "0x" + the hexadecimal key already
	pskHidden string
	pskLine   int
	pfs       string
	pfsLine   int
	items     []junosItem
}

// junosGateway is an IKE gateway.
type junosGateway struct {
	vendorDef
	name  string
	items []junosItem
}

// junosVPN is an IPsec VPN.
type junosVPN struct {
	name  string
	line  int
	items []junosItem
}

// junosParser builds the Result from the statements.
type junosParser struct {
	r      *Result
	stmts  []*junosStmt
	names  map[string]bool
	defs   []*vendorDef
	ikeP   map[string]*junosProposal
	espP   map[string]*junosProposal
	ikePol map[string]*junosPolicy
	espPol map[string]*junosPolicy
	gws    map[string]*junosGateway
	vpns   []*junosVPN
	natKA  int64
	natKAl int
	users  map[string]bool
	pools  map[string]bool
	tables []*Table
}

// parseJunos reads a Junos configuration.
func parseJunos(src []byte) (*Result, error) {
	stmts, notes, err := junosParse(src)
	if err != nil {
		return nil, err
	}
	j := &junosParser{r: &Result{Notes: notes}, stmts: stmts, names: map[string]bool{},
		ikeP: map[string]*junosProposal{}, espP: map[string]*junosProposal{},
		ikePol: map[string]*junosPolicy{}, espPol: map[string]*junosPolicy{}, gws: map[string]*junosGateway{},
		users: map[string]bool{}, pools: map[string]bool{}}
	vpn := false
	for _, s := range stmts {
		if junosPrefix(s.path, []string{"security", "ike"}) || junosPrefix(s.path, []string{"security", "ipsec"}) {
			vpn = true
			break
		}
	}
	if !vpn {
		if len(stmts) == 0 {
			return nil, fmt.Errorf("no Junos statements found (is this a Junos configuration?)")
		}
		return nil, fmt.Errorf("no IPsec configuration found: no security ike or security ipsec statements")
	}
	j.inactive()
	j.read()
	for _, v := range j.vpns {
		j.vpn(v)
	}
	j.finish()
	return j.r, nil
}

// inactive notes deactivated statements once per deactivation.
func (j *junosParser) inactive() {
	seen := map[int]bool{}
	for _, s := range j.stmts {
		if s.inactiveAt == 0 {
			continue
		}
		s.noted = true
		if !seen[s.inactiveAt] && (junosPrefix(s.path, []string{"security"}) || junosPrefix(s.path, []string{"access"})) {
			seen[s.inactiveAt] = true
			j.r.Note(s.inactiveAt, Omitted, "%s...: deactivated (inactive) in the source; not imported", vendorShow(s.path[:min(len(s.path), 4)]))
		}
	}
}

// group collects the active statements below prefix by the object name
// that follows it, in order of first appearance.
func (j *junosParser) group(prefix ...string) ([]string, map[string][]junosItem) {
	var names []string
	m := map[string][]junosItem{}
	for _, s := range j.stmts {
		if s.inactiveAt != 0 || len(s.path) <= len(prefix) || !junosPrefix(s.path, prefix) {
			continue
		}
		name := s.path[len(prefix)]
		if _, ok := m[name]; !ok {
			names = append(names, name)
		}
		m[name] = append(m[name], junosItem{s: s, rest: s.path[len(prefix)+1:]})
	}
	return names, m
}

// items returns the active statements below prefix.
func (j *junosParser) items(prefix ...string) []junosItem {
	var out []junosItem
	for _, s := range j.stmts {
		if s.inactiveAt == 0 && junosPrefix(s.path, prefix) {
			out = append(out, junosItem{s: s, rest: s.path[len(prefix):]})
		}
	}
	return out
}

// junosCiphers, junosHashes: Junos algorithm names to ikegate keywords
// (IKE "sha-256", IPsec "hmac-sha-256-128").
var (
	junosCiphers = map[string]string{
		"3des-cbc": "3des", "aes-128-cbc": "aes128", "aes-192-cbc": "aes192", "aes-256-cbc": "aes256",
		"aes-128-gcm": "aes128gcm16", "aes-192-gcm": "aes192gcm16", "aes-256-gcm": "aes256gcm16",
	}
	junosHashes = map[string]string{
		"md5": "md5", "sha1": "sha1", "sha-256": "sha256", "sha-384": "sha384", "sha-512": "sha512",
		"hmac-md5-96": "md5", "hmac-sha1-96": "sha1", "hmac-sha-256-128": "sha256", "hmac-sha-256-96": "sha256",
		"hmac-sha-384-192": "sha384", "hmac-sha-512-256": "sha512",
	}
)

// read indexes proposals, policies, gateways and VPNs.
func (j *junosParser) read() {
	for _, esp := range []bool{false, true} {
		kind, all := "ike", j.ikeP
		if esp {
			kind, all = "ipsec", j.espP
		}
		names, m := j.group("security", kind, "proposal")
		for _, n := range names {
			all[n] = j.proposal(n, m[n], esp)
		}
		names, m = j.group("security", kind, "policy")
		for _, n := range names {
			pol := j.policy(n, m[n], esp)
			if esp {
				j.espPol[n] = pol
			} else {
				j.ikePol[n] = pol
			}
		}
	}
	names, m := j.group("security", "ike", "gateway")
	for _, n := range names {
		gw := &junosGateway{vendorDef: vendorDef{line: m[n][0].s.line, what: "IKE gateway " + n, why: "no IPsec VPN uses it"}, name: n, items: m[n]}
		j.gws[n] = gw
		j.defs = append(j.defs, &gw.vendorDef)
	}
	names, m = j.group("security", "ipsec", "vpn")
	for _, n := range names {
		j.vpns = append(j.vpns, &junosVPN{name: n, line: m[n][0].s.line, items: m[n]})
	}
}

// proposal reads an IKE or IPsec proposal.
func (j *junosParser) proposal(name string, items []junosItem, esp bool) *junosProposal {
	what := "IKE proposal " + name
	if esp {
		what = "IPsec proposal " + name
	}
	p := &junosProposal{vendorDef: vendorDef{line: items[0].s.line, what: what, why: "no policy names it"}, name: name, esp: esp}
	j.defs = append(j.defs, &p.vendorDef)
	var suite vendorSuite
	var bad []string
	for _, it := range items {
		it.s.noted = true
		switch {
		case it.has("authentication-method") && len(it.rest) > 1:
			p.auth = it.rest[1]
			if p.auth == "pre-shared-keys" {
				p.note(it.s.line, Translated, "authentication-method pre-shared-keys → auth = \"psk\"")
			} else {
				p.note(it.s.line, Omitted, "authentication-method %s: certificates are not imported; this proposal is left out of PSK connections (set auth = \"pubkey\", cert, key and ca by hand)", p.auth)
			}
		case it.has("dh-group") && len(it.rest) > 1:
			kw, why := vendorDH(strings.TrimPrefix(it.rest[1], "group"))
			if why != "" {
				bad = append(bad, why)
				p.note(it.s.line, Omitted, "dh-group %s: %s; %s is left out", it.rest[1], why, what)
			} else {
				suite.DH = []string{kw}
				p.note(it.s.line, Translated, "dh-group %s → %s", it.rest[1], kw)
			}
		case it.has("encryption-algorithm") && len(it.rest) > 1:
			kw, ok := junosCiphers[it.rest[1]]
			switch {
			case ok:
				suite.Enc = []string{kw}
				p.note(it.s.line, Translated, "encryption-algorithm %s → %s", it.rest[1], kw)
			case strings.HasPrefix(it.rest[1], "des-"):
				bad = append(bad, "DES")
				p.note(it.s.line, Omitted, "encryption-algorithm %s: single DES is broken: ikegate refuses it; %s is left out", it.rest[1], what)
			default:
				bad = append(bad, it.rest[1])
				p.note(it.s.line, Omitted, "encryption-algorithm %s: not supported by ikegate; %s is left out", it.rest[1], what)
			}
		case it.has("authentication-algorithm") && len(it.rest) > 1:
			kw, ok := junosHashes[it.rest[1]]
			if !ok {
				bad = append(bad, it.rest[1])
				p.note(it.s.line, Omitted, "authentication-algorithm %s: not supported by ikegate; %s is left out", it.rest[1], what)
				continue
			}
			suite.Integ = []string{kw}
			if it.rest[1] == "hmac-sha-256-96" {
				p.truncbug = true
				p.note(it.s.line, Approximated, "authentication-algorithm hmac-sha-256-96 → sha256 with sha2_truncbug = true (the 96-bit truncation both sides must share)")
			} else {
				p.note(it.s.line, Translated, "authentication-algorithm %s → %s", it.rest[1], kw)
			}
		case it.has("protocol") && len(it.rest) > 1:
			if it.rest[1] == "esp" {
				p.note(it.s.line, Translated, "protocol esp")
			} else {
				bad = append(bad, it.rest[1])
				p.note(it.s.line, Omitted, "protocol %s: ikegate does ESP only; %s is left out", it.rest[1], what)
			}
		case it.has("lifetime-seconds") && len(it.rest) > 1:
			if v, ok := vendorAtoi(it.rest[1]); ok {
				p.lifetime, p.lifeLine = v, it.s.line
			} else {
				p.note(it.s.line, Omitted, "%s: not a number", it.show())
			}
		case it.has("lifetime-kilobytes") && len(it.rest) > 1 && esp:
			if v, ok := vendorAtoi(it.rest[1]); ok {
				p.kbytes, p.kbLine = v, it.s.line
			} else {
				p.note(it.s.line, Omitted, "%s: not a number", it.show())
			}
		case it.has("description"):
			p.note(it.s.line, Translated, "description: not carried over")
		default:
			p.note(it.s.line, Omitted, "%s: no ikegate equivalent", it.show())
		}
	}
	if len(bad) > 0 {
		return p
	}
	if !esp && len(suite.DH) == 0 {
		p.note(p.line, Omitted, "%s has no dh-group; left out", what)
		return p
	}
	if len(suite.Enc) == 0 || len(suite.Integ) == 0 && !vendorAllAEAD(suite.Enc) {
		p.note(p.line, Omitted, "%s needs an encryption and an authentication algorithm; left out", what)
		return p
	}
	if esp && vendorAllAEAD(suite.Enc) {
		suite.Integ = nil
	}
	props, notes, err := suite.proposals(esp)
	if err != nil {
		p.note(p.line, Omitted, "%s: %v; left out", what, err)
		return p
	}
	for _, n := range notes {
		p.note(p.line, Approximated, "%s: %s (Junos takes the PRF from authentication-algorithm)", what, n)
	}
	p.props = props
	key := "ike"
	if esp {
		key = "esp"
	}
	p.note(p.line, Translated, "%s → %s proposal %q%s", what, key, props[0], vendorWeak(props[0]))
	return p
}

// junosSets are Junos's predefined proposal sets as its documentation
// lists them, in ikegate keywords ("" for a proposal ikegate refuses).
var junosSets = map[string][]string{
	"ike standard":         {"aes128-sha1-modp1024", "3des-sha1-modp1024"},
	"ike compatible":       {"3des-sha1-modp1024", "aes128-sha1-modp1024", ""},
	"ike basic":            {"", ""},
	"ike suiteb-gcm-128":   {"aes128gcm16-prfsha256-ecp256"},
	"ike suiteb-gcm-256":   {"aes256gcm16-prfsha384-ecp384"},
	"ipsec standard":       {"aes128-sha1-modp1024", "3des-sha1-modp1024"},
	"ipsec compatible":     {"3des-sha1", "3des-md5", "", ""},
	"ipsec basic":          {"", ""},
	"ipsec suiteb-gcm-128": {"aes128gcm16-ecp256"},
	"ipsec suiteb-gcm-256": {"aes256gcm16-ecp384"},
	"ipsec prime-128":      {"aes128gcm16-ecp256"},
	"ipsec prime-256":      {"aes256gcm16-ecp384"},
	"ike prime-128":        {"aes128gcm16-prfsha256-ecp256"},
	"ike prime-256":        {"aes256gcm16-prfsha384-ecp384"},
}

// policy reads an IKE or IPsec policy.
func (j *junosParser) policy(name string, items []junosItem, esp bool) *junosPolicy {
	what := "IKE policy " + name
	if esp {
		what = "IPsec policy " + name
	}
	p := &junosPolicy{vendorDef: vendorDef{line: items[0].s.line, what: what, why: "no gateway or VPN uses it"}, name: name, items: items}
	j.defs = append(j.defs, &p.vendorDef)
	for _, it := range items {
		it.s.noted = true
		switch {
		case it.has("mode") && len(it.rest) > 1 && !esp:
			p.mode, p.modeLine = it.rest[1], it.s.line
			p.note(it.s.line, Translated, "mode %s → ikev1_mode = %q", it.rest[1], it.rest[1])
		case it.has("proposals") && len(it.rest) > 1:
			p.proposals = append(p.proposals, it.rest[1:]...)
			p.propLine = it.s.line
		case it.has("proposal-set") && len(it.rest) > 1:
			p.set, p.setLine = it.rest[1], it.s.line
		case it.has("pre-shared-key", "ascii-text") && len(it.rest) > 2 && !esp:
			p.pskLine = it.s.line
			if strings.HasPrefix(it.rest[2], "$9$") {
				p.pskHidden = "stored as a Junos $9$ secret, which cannot be decrypted here"
			} else {
				p.psk, p.pskHex = it.rest[2], false
			}
		case it.has("pre-shared-key", "hexadecimal") && len(it.rest) > 2 && !esp:
			p.pskLine = it.s.line
			if b, err := hex.DecodeString(it.rest[2]); err != nil || len(b) == 0 {
				p.pskHidden = "not hex digits"
			} else {
				p.psk, p.pskHex = "0x"+strings.ToLower(it.rest[2]), true
			}
		case it.has("perfect-forward-secrecy", "keys") && len(it.rest) > 2 && esp:
			p.pfs, p.pfsLine = it.rest[2], it.s.line
		case it.has("certificate") || it.has("local-certificate"):
			p.note(it.s.line, Omitted, "%s: certificates are not imported", it.show())
		case it.has("description"):
			p.note(it.s.line, Translated, "description: not carried over")
		default:
			p.note(it.s.line, Omitted, "%s: no ikegate equivalent", it.show())
		}
	}
	return p
}

// proposals collects a policy's proposals: named ones (marked used) or a
// predefined set.
func (j *junosParser) proposals(pol *junosPolicy, esp bool, auth *string) (props []string, first *junosProposal, lines []int) {
	all, kind := j.ikeP, "ike"
	if esp {
		all, kind = j.espP, "ipsec"
	}
	for _, n := range pol.proposals {
		p := all[n]
		if p == nil {
			pol.note(pol.propLine, Omitted, "proposal %s is not defined", n)
			continue
		}
		p.used = true
		lines = append(lines, p.line)
		for _, it := range j.items("security", kind, "proposal", n) {
			lines = append(lines, it.s.line)
		}
		if !esp && p.auth != "" && p.auth != "pre-shared-keys" {
			if auth != nil && *auth == "" {
				*auth = p.auth
			}
			continue
		}
		if len(p.props) == 0 {
			continue
		}
		if first == nil {
			first = p
		}
		props = append(props, p.props...)
	}
	if pol.propLine > 0 {
		pol.note(pol.propLine, Translated, "proposals %s → %s = %s", strings.Join(pol.proposals, " "), map[bool]string{false: "ike", true: "esp"}[esp], tomlList(props))
		lines = append(lines, pol.propLine)
	}
	if pol.set != "" {
		set, ok := junosSets[kind+" "+pol.set]
		var kept []string
		dropped := 0
		for _, s := range set {
			if s == "" {
				dropped++
			} else {
				kept = append(kept, s)
			}
		}
		switch {
		case !ok || set == nil:
			pol.note(pol.setLine, Omitted, "proposal-set %s: not known to this importer; name the proposals instead", pol.set)
		case len(kept) == 0:
			pol.note(pol.setLine, Omitted, "proposal-set %s: only DES and DH group 1, which ikegate refuses", pol.set)
		default:
			why := ""
			if dropped > 0 {
				why = fmt.Sprintf("; %d with DES left out", dropped)
			}
			pol.note(pol.setLine, Approximated, "proposal-set %s → %s = %s (Junos's predefined set as documented%s; check it against your release)", pol.set, map[bool]string{false: "ike", true: "esp"}[esp], tomlList(kept), why)
			props = append(props, kept...)
		}
		lines = append(lines, pol.setLine)
	}
	return props, first, lines
}

// junosIdentity writes a Junos identity (inet, hostname,
// user-at-hostname, key-id) in ikegate's syntax.
func junosIdentity(kind, v string) string {
	switch kind {
	case "inet", "inet6":
		return v
	case "hostname":
		return "@" + v
	case "user-at-hostname":
		return v
	case "key-id":
		return "keyid:" + v
	}
	return ""
}

// junosIface finds an interface unit's address ("ge-0/0/0.0" or
// "ge-0/0/0", unit 0).
func (j *junosParser) ifaceAddr(name string) (string, int) {
	ifname, unit, ok := strings.Cut(name, ".")
	if !ok {
		unit = "0"
	}
	for _, fam := range []string{"inet", "inet6"} {
		for _, it := range j.items("interfaces", ifname, "unit", unit, "family", fam, "address") {
			if len(it.rest) == 0 {
				continue
			}
			if p, err := netip.ParsePrefix(it.rest[0]); err == nil {
				return p.Addr().String(), it.s.line
			}
		}
	}
	return "", 0
}

// vpn writes one IPsec VPN as a connection.
func (j *junosParser) vpn(v *junosVPN) {
	c := &Conn{Name: vendorName(j.names, v.name)}
	lines := []int{v.line}
	var gwName, polName, bind, establish string
	var gwLine, polLine, bindLine, estLine int
	var proxyL, proxyR, service string
	var proxyLine int
	type tsel struct {
		local, remote string
		line          int
	}
	var tsels []*tsel
	tsByName := map[string]*tsel{}
	for _, it := range v.items {
		it.s.noted = true
		lines = append(lines, it.s.line)
		switch {
		case it.has("ike", "gateway") && len(it.rest) > 2:
			gwName, gwLine = it.rest[2], it.s.line
		case it.has("ike", "ipsec-policy") && len(it.rest) > 2:
			polName, polLine = it.rest[2], it.s.line
		case it.has("ike", "proxy-identity", "local") && len(it.rest) > 3:
			proxyL, proxyLine = it.rest[3], it.s.line
		case it.has("ike", "proxy-identity", "remote") && len(it.rest) > 3:
			proxyR, proxyLine = it.rest[3], it.s.line
		case it.has("ike", "proxy-identity", "service") && len(it.rest) > 3:
			service = it.rest[3]
			if service != "any" {
				j.r.Note(it.s.line, Approximated, "proxy-identity service %s: ikegate's selectors are address prefixes, so all traffic between them is protected", service)
			} else {
				j.r.Note(it.s.line, Translated, "proxy-identity service any: all traffic between the prefixes")
			}
		case it.has("traffic-selector") && len(it.rest) > 3:
			ts := tsByName[it.rest[1]]
			if ts == nil {
				ts = &tsel{line: it.s.line}
				tsByName[it.rest[1]] = ts
				tsels = append(tsels, ts)
			}
			switch it.rest[2] {
			case "local-ip":
				ts.local = it.rest[3]
			case "remote-ip":
				ts.remote = it.rest[3]
			default:
				j.r.Note(it.s.line, Omitted, "%s: not imported", it.show())
			}
		case it.has("bind-interface") && len(it.rest) > 1:
			bind, bindLine = it.rest[1], it.s.line
		case it.has("establish-tunnels") && len(it.rest) > 1:
			establish, estLine = it.rest[1], it.s.line
		case it.has("df-bit") || it.has("copy-outer-dscp") || it.has("vpn-monitor") || it.has("ike", "idle-time") || it.has("ike", "install-interval") || it.has("ike", "no-anti-replay") || it.has("udp-encapsulate"):
			j.r.Note(it.s.line, Omitted, "%s: no ikegate equivalent", it.show())
		case it.has("manual"):
			j.r.Note(it.s.line, Omitted, "%s: manually keyed SAs are not imported (ikegate negotiates every SA with IKE)", it.show())
		case it.has("description"):
			j.r.Note(it.s.line, Translated, "description: not carried over")
		default:
			j.r.Note(it.s.line, Omitted, "%s: not imported", it.show())
		}
	}
	gw := j.gws[gwName]
	if gw == nil {
		j.r.Note(v.line, Omitted, "IPsec VPN %s: no IKE gateway %q; not imported", v.name, gwName)
		return
	}
	j.r.Note(v.line, Translated, "IPsec VPN %s → connection %q", v.name, c.Name)
	if gwLine > 0 {
		j.r.Note(gwLine, Translated, "ike gateway %s: its address, identities, IKE policy and DPD", gwName)
	}
	gw.used = true
	xauth := j.gateway(c, gw, &lines)

	// ESP.
	if pol := j.espPol[polName]; pol == nil {
		j.r.Note(max(polLine, v.line), Approximated, "no IPsec policy %q: ikegate's default esp proposals are written in; the peer must accept them", polName)
	} else {
		pol.used = true
		lines = append(lines, pol.line)
		for _, it := range pol.items {
			lines = append(lines, it.s.line)
		}
		props, first, pl := j.proposals(pol, true, nil)
		lines = append(lines, pl...)
		c.ESP = props
		if len(props) == 0 {
			j.r.Note(polLine, Approximated, "IPsec policy %s has no proposal ikegate can use: ikegate's default esp proposals are written in", polName)
		}
		if first != nil {
			if first.truncbug {
				c.Extra = map[string]string{"sha2_truncbug": "true"}
			}
			if first.lifeLine > 0 {
				c.ChildLifetime = vendorLifetime(j.r, first.lifeLine, "child_lifetime", "lifetime-seconds "+strconv.FormatInt(first.lifetime, 10), first.lifetime)
			}
			if first.kbLine > 0 && first.kbytes > 0 {
				c.ChildLifetimeBytes = uint64(first.kbytes) * 1024
				j.r.Note(first.kbLine, Translated, "lifetime-kilobytes %d → child_lifetime_bytes = %d", first.kbytes, c.ChildLifetimeBytes)
			}
		}
		if pol.pfs != "" {
			dh, why := vendorDH(strings.TrimPrefix(pol.pfs, "group"))
			if why != "" {
				pol.note(pol.pfsLine, Omitted, "perfect-forward-secrecy keys %s: %s; PFS left out: agree on a group with the peer and add it to each esp proposal", pol.pfs, why)
			} else {
				if len(c.ESP) == 0 {
					c.ESP = []string{"aes256gcm16", "aes128gcm16", "aes256-sha256", "aes128-sha256"}
				}
				c.ESP = vendorWithPFS(c.ESP, dh)
				pol.note(pol.pfsLine, Translated, "perfect-forward-secrecy keys %s → %s added to each esp proposal%s", pol.pfs, dh, vendorWeak(dh))
			}
		}
	}

	// Selectors.
	var pairs []vendorPair
	var how string
	switch {
	case len(tsels) > 0:
		for _, ts := range tsels {
			l, okL := vendorCIDR(ts.local)
			r, okR := vendorCIDR(ts.remote)
			if !okL || !okR {
				j.r.Note(ts.line, Omitted, "traffic-selector: needs local-ip and remote-ip prefixes")
				continue
			}
			pairs = append(pairs, vendorPair{l, r})
			j.r.Note(ts.line, Translated, "traffic-selector → %s → %s", l, r)
		}
		how = "traffic-selector"
	case proxyLine > 0:
		l, r := "0.0.0.0/0", "0.0.0.0/0"
		okL, okR := true, true
		if proxyL != "" {
			l, okL = vendorCIDR(proxyL)
		}
		if proxyR != "" {
			r, okR = vendorCIDR(proxyR)
		}
		if okL && okR {
			pairs = append(pairs, vendorPair{l, r})
			j.r.Note(proxyLine, Translated, "proxy-identity → local_ts = %q, remote_ts = %q", l, r)
		} else {
			j.r.Note(proxyLine, Omitted, "proxy-identity: not a prefix")
		}
		how = "proxy-identity"
	default:
		pairs, how = j.policyPairs(v.name, gw, &lines)
	}
	if len(pairs) == 0 && bind != "" {
		routes := j.routesVia(bind, &lines)
		c.LocalTS = []string{"0.0.0.0/0"}
		c.RemoteTS = []string{"0.0.0.0/0"}
		if len(routes) > 0 {
			c.RemoteTS = routes
			j.r.Note(bindLine, Approximated, "bind-interface %s (route-based): Junos negotiates 0.0.0.0/0 both ways and routes %s into the tunnel; ikegate has no tunnel interface, its selectors decide: local_ts = [\"0.0.0.0/0\"], remote_ts = %s (the routes); a peer that insists on 0.0.0.0/0 needs remote_ts = [\"0.0.0.0/0\"]", bind, strings.Join(routes, ", "), tomlList(routes))
		} else {
			j.r.Note(bindLine, Approximated, "bind-interface %s (route-based) with no routes into it here: local_ts = remote_ts = [\"0.0.0.0/0\"], as Junos negotiates; with dataplane = \"xfrm\" that protects all IPv4 traffic: narrow remote_ts to the routed networks", bind)
		}
	} else if len(pairs) > 0 {
		var extra []string
		c.LocalTS, c.RemoteTS, extra = vendorSelectors(pairs)
		if len(extra) > 0 {
			j.r.Note(v.line, Approximated, "ikegate negotiates every local_ts × remote_ts pair, so the %s pairs also cover %s", how, strings.Join(extra, ", "))
		}
	} else if !xauth {
		c.LocalTS, c.RemoteTS = []string{"0.0.0.0/0"}, []string{"0.0.0.0/0"}
		j.r.Note(v.line, Approximated, "IPsec VPN %s: no bind-interface, proxy-identity, traffic-selector or security policy: local_ts = remote_ts = [\"0.0.0.0/0\"]; narrow them", v.name)
	}

	// Start.
	switch {
	case c.RemoteAddr == "%any" || xauth:
		if estLine > 0 {
			j.r.Note(estLine, Approximated, "establish-tunnels %s: the peer's address is not known: ikegate responds only (start = \"none\")", establish)
		}
	case establish == "immediately" && c.LocalAddr != "" && c.RemoteAddr != "":
		c.Start, c.DPDAction = "start", "restart"
		j.r.Note(estLine, Translated, "establish-tunnels immediately → start = \"start\", dpd_action = \"restart\" (kept up)")
	case c.LocalAddr != "" && c.RemoteAddr != "":
		c.Start, c.DPDAction = "start", "restart"
		j.r.Note(max(estLine, v.line), Approximated, "Junos negotiates on traffic (establish-tunnels on-traffic); ikegate's on-traffic start (start = \"trap\") needs dataplane = \"xfrm\": start = \"start\" and dpd_action = \"restart\" bring the tunnel up at startup and again after the peer is lost")
	default:
		j.r.Note(max(estLine, v.line), Approximated, "start left at \"none\" (respond only): initiating needs local_addr and remote_addr")
	}
	c.Lines = vendorSortedUnique(lines)
	j.r.Conns = append(j.r.Conns, c)
}

// gateway fills c from an IKE gateway and its IKE policy; it reports
// whether the gateway serves XAUTH remote-access clients.
func (j *junosParser) gateway(c *Conn, gw *junosGateway, lines *[]int) bool {
	var polName string
	var addrs []string
	var dynamic, xauthProfile, extIf string
	var dynLine, xauthLine, extLine, verLine int
	dpd := map[string]int64{}
	dpdLine := 0
	c.Version = "ikev1"
	for _, it := range gw.items {
		it.s.noted = true
		*lines = append(*lines, it.s.line)
		switch {
		case it.has("ike-policy") && len(it.rest) > 1:
			polName = it.rest[1]
			gw.note(it.s.line, Translated, "ike-policy %s: the connection's proposals, mode and key", polName)
		case it.has("address") && len(it.rest) > 1:
			if len(addrs) == 0 {
				gw.note(it.s.line, Translated, "address %s → remote_addr", it.rest[1])
			} else {
				gw.note(it.s.line, Approximated, "address %s (a backup peer): ikegate's connection has one remote_addr; copy the connection for it if you need it", it.rest[1])
			}
			addrs = append(addrs, it.rest[1:]...)
		case it.has("dynamic") && len(it.rest) > 2 && it.rest[1] != "ike-user-type" && it.rest[1] != "connections-limit":
			dynamic, dynLine = junosIdentity(it.rest[1], it.rest[2]), it.s.line
			if dynamic == "" {
				gw.note(it.s.line, Omitted, "%s: certificate identities are not imported", it.show())
			} else {
				c.RemoteID = dynamic
				gw.note(it.s.line, Translated, "dynamic %s %s → remote_addr = \"%%any\", remote_id = %q", it.rest[1], it.rest[2], dynamic)
			}
		case it.has("dynamic", "ike-user-type") && len(it.rest) > 2:
			if it.rest[2] == "shared-ike-id" || it.rest[2] == "group-ike-id" {
				gw.note(it.s.line, Translated, "ike-user-type %s: the clients share one IKE identity, told apart by XAUTH", it.rest[2])
			}
		case it.has("dynamic", "connections-limit"):
			gw.note(it.s.line, Omitted, "%s: no ikegate equivalent", it.show())
		case it.has("external-interface") && len(it.rest) > 1:
			extIf, extLine = it.rest[1], it.s.line
		case it.has("local-address") && len(it.rest) > 1:
			c.LocalAddr = it.rest[1]
			gw.note(it.s.line, Translated, "local-address %s → local_addr", it.rest[1])
		case it.has("local-identity") && len(it.rest) > 2:
			if id := junosIdentity(it.rest[1], it.rest[2]); id != "" {
				c.LocalID = id
				gw.note(it.s.line, Translated, "local-identity %s %s → local_id = %q", it.rest[1], it.rest[2], id)
			} else {
				gw.note(it.s.line, Omitted, "%s: certificate identities are not imported", it.show())
			}
		case it.has("remote-identity") && len(it.rest) > 2:
			if id := junosIdentity(it.rest[1], it.rest[2]); id != "" {
				c.RemoteID = id
				gw.note(it.s.line, Translated, "remote-identity %s %s → remote_id = %q", it.rest[1], it.rest[2], id)
			} else {
				gw.note(it.s.line, Omitted, "%s: certificate identities are not imported", it.show())
			}
		case it.has("general-ikeid"):
			c.RemoteID = "%any"
			gw.note(it.s.line, Translated, "general-ikeid → remote_id = \"%%any\" (any identity)")
		case it.has("dead-peer-detection"):
			dpdLine = max(dpdLine, it.s.line)
			if len(it.rest) > 2 {
				if v, ok := vendorAtoi(it.rest[2]); ok {
					dpd[it.rest[1]] = v
				}
			} else if len(it.rest) == 2 {
				dpd["mode"] = 1
				gw.note(it.s.line, Approximated, "dead-peer-detection %s: ikegate probes an idle peer (like optimized)", it.rest[1])
			}
		case it.has("nat-keepalive") && len(it.rest) > 1:
			if v, ok := vendorAtoi(it.rest[1]); ok {
				if j.natKAl == 0 || v < j.natKA {
					if j.natKAl != 0 {
						gw.note(it.s.line, Approximated, "nat-keepalive %d: gateway.natt_keepalive is one for all connections: the shortest (%d s) is used", v, v)
					}
					j.natKA, j.natKAl = v, it.s.line
				} else if v != j.natKA {
					gw.note(it.s.line, Approximated, "nat-keepalive %d: gateway.natt_keepalive is one for all connections: the shortest (%d s) is used", v, j.natKA)
				}
			}
		case it.has("no-nat-traversal"):
			if c.Extra == nil {
				c.Extra = map[string]string{}
			}
			c.Extra["nat_ikev1_method"] = `"none"`
		case it.has("version") && len(it.rest) > 1:
			verLine = it.s.line
			switch it.rest[1] {
			case "v2-only":
				c.Version = "ikev2"
				gw.note(it.s.line, Translated, "version v2-only → version = \"ikev2\"")
			case "v1-only":
				gw.note(it.s.line, Translated, "version v1-only → version = \"ikev1\"")
			default:
				gw.note(it.s.line, Omitted, "version %s: not understood; IKEv1 (Junos's default) written", it.rest[1])
			}
		case (it.has("xauth", "access-profile") || it.has("aaa", "access-profile")) && len(it.rest) > 2:
			xauthProfile, xauthLine = it.rest[2], it.s.line
		case it.has("description"):
			gw.note(it.s.line, Translated, "description: not carried over")
		default:
			gw.note(it.s.line, Omitted, "%s: no ikegate equivalent", it.show())
		}
	}
	if verLine == 0 {
		gw.note(gw.line, Translated, "no version: Junos's default v1-only → version = \"ikev1\"")
	}
	// Addresses.
	switch {
	case dynamic != "" || len(addrs) == 0 && dynLine > 0:
		c.RemoteAddr = "%any"
	case len(addrs) > 0:
		if a, err := netip.ParseAddr(addrs[0]); err == nil {
			c.RemoteAddr = a.String()
		} else {
			gw.note(gw.line, Omitted, "address %s: a host name; ikegate needs the peer's address in remote_addr (fill it in)", addrs[0])
		}
	default:
		gw.note(gw.line, Omitted, "IKE gateway %s has no address: fill in remote_addr", gw.name)
	}
	if c.LocalAddr == "" && extIf != "" {
		addr, line := j.ifaceAddr(extIf)
		if addr != "" {
			c.LocalAddr = addr
			*lines = append(*lines, line)
			gw.note(extLine, Translated, "external-interface %s → local_addr = %q", extIf, addr)
			j.r.Note(line, Translated, "address of %s → local_addr of the VPNs through it", extIf)
		} else {
			gw.note(extLine, Approximated, "external-interface %s: its address is not in the configuration (DHCP?): local_addr left unset, gateway.listen = 0.0.0.0; set both by hand", extIf)
		}
	} else if extIf != "" {
		gw.note(extLine, Translated, "external-interface %s: local-address decides", extIf)
	}
	// DPD: Junos declares the peer dead after threshold unanswered probes
	// interval seconds apart (defaults 10 and 5).
	if dpdLine > 0 {
		iv, th := int64(10), int64(5)
		if v, ok := dpd["interval"]; ok {
			iv = v
		}
		if v, ok := dpd["threshold"]; ok {
			th = v
		}
		d, t, why := vendorDPD(iv, iv*th)
		c.DPDDelay, c.DPDTimeout = d, t
		msg := fmt.Sprintf("dead-peer-detection interval %d threshold %d → dpd_delay = %q, dpd_timeout = %q (threshold probes interval apart)", iv, th, d, t)
		if why != "" {
			msg += "; " + why
		}
		gw.note(dpdLine, Approximated, "%s", msg)
	}
	if c.Extra["nat_ikev1_method"] != "" {
		if c.Version == "ikev1" {
			gw.note(gw.line, Translated, "no-nat-traversal → nat_ikev1_method = \"none\"")
		} else {
			delete(c.Extra, "nat_ikev1_method")
			gw.note(gw.line, Omitted, "no-nat-traversal: ikegate cannot turn NAT traversal off for IKEv2")
		}
	}
	// The IKE policy.
	c.Auth = "psk"
	pol := j.ikePol[polName]
	if pol == nil {
		gw.note(gw.line, Omitted, "IKE gateway %s: no IKE policy %q: no proposals or key; fill in psk", gw.name, polName)
	} else {
		pol.used = true
		*lines = append(*lines, pol.line)
		for _, it := range pol.items {
			*lines = append(*lines, it.s.line)
		}
		if pol.mode == "aggressive" {
			if c.Version == "ikev1" {
				c.IKEv1Mode = "aggressive"
			} else {
				pol.note(pol.modeLine, Approximated, "mode aggressive: IKEv1 only; the gateway is IKEv2")
			}
		}
		var certAuth string
		props, first, pl := j.proposals(pol, false, &certAuth)
		*lines = append(*lines, pl...)
		c.IKE = props
		if len(props) == 0 {
			why := ""
			if certAuth != "" {
				why = " (" + certAuth + ": certificates are not imported)"
			}
			pol.note(pol.line, Approximated, "IKE policy %s has no proposal ikegate can use with a pre-shared key%s: ikegate's default ike is written in", pol.name, why)
		}
		sec, line := int64(28800), 0 // Junos's default IKE lifetime
		if first != nil && first.lifeLine > 0 {
			sec, line = first.lifetime, first.lifeLine
		}
		if first != nil || len(props) > 0 {
			if line > 0 {
				c.IKELifetime = vendorLifetime(j.r, line, "ike_lifetime", "lifetime-seconds "+strconv.FormatInt(sec, 10), sec)
			} else {
				c.IKELifetime = vendorDuration(sec)
				pol.note(pol.line, Translated, "no lifetime-seconds: Junos's default 28800 s → ike_lifetime = \"8h\"")
			}
		}
		switch {
		case pol.pskHidden != "":
			pol.note(pol.pskLine, Omitted, "pre-shared-key: %s; fill in psk for connection %s by hand", pol.pskHidden, c.Name)
		case pol.psk != "":
			c.PSK = pol.psk
			if !pol.pskHex {
				c.PSK, _ = vendorPSK(pol.psk)
			}
			j.r.Note(pol.pskLine, Translated, "pre-shared-key → psk of connection %s (written only to the --out file)", c.Name)
		default:
			pol.note(pol.line, Omitted, "IKE policy %s has no pre-shared-key: fill in psk for connection %s (certificates are not imported)", pol.name, c.Name)
		}
		if c.IKEv1Mode == "aggressive" && xauthProfile == "" {
			pol.note(pol.modeLine, Omitted, "mode aggressive with a pre-shared key and no XAUTH: ikegate refuses it unless allow_aggressive_psk = true (anyone who knows the peer's identity can crack the key offline); decide and set it, or use main mode")
		}
	}
	if xauthProfile != "" {
		j.xauth(c, gw, xauthProfile, xauthLine, lines)
		return true
	}
	return false
}

// xauth writes a dynamic VPN's XAUTH clients: the access profile's users,
// its address pool and the dynamic-vpn protected resources.
func (j *junosParser) xauth(c *Conn, gw *junosGateway, profile string, line int, lines *[]int) {
	if c.Version != "ikev1" {
		gw.note(line, Omitted, "access-profile %s on an IKEv2 gateway (EAP remote access): not imported; see remote_auth in configs/README.md", profile)
		return
	}
	if c.Extra == nil {
		c.Extra = map[string]string{}
	}
	items := j.items("access", "profile", profile)
	if len(items) == 0 {
		gw.note(line, Omitted, "xauth access-profile %s: no such access profile", profile)
		return
	}
	radius := false
	var pool string
	var poolLine int
	users := 0
	for _, it := range items {
		it.s.noted = true
		*lines = append(*lines, it.s.line)
		switch {
		case it.has("client") && len(it.rest) > 3 && (it.rest[2] == "firewall-user" || it.rest[2] == "xauth") && it.rest[3] == "password" && len(it.rest) > 4:
			name, pw := it.rest[1], it.rest[4]
			if strings.HasPrefix(pw, "$9$") || strings.HasPrefix(pw, "$") {
				j.r.Note(it.s.line, Omitted, "client %s: the password is stored encrypted ($9$) and cannot be recovered; add a [[user]] with name = %q and its password", name, name)
				continue
			}
			if j.users[name] {
				continue
			}
			j.users[name] = true
			users++
			j.tables = append(j.tables, &Table{Kind: "user", Lines: []int{it.s.line}, Keys: []KV{{Key: "name", Value: tomlString(name)}, {Key: "password", Value: tomlString(pw), Secret: true}}})
			j.r.Note(it.s.line, Translated, "client %s → [[user]] (the password is written only to the --out file)", name)
		case it.has("authentication-order"):
			for _, w := range it.rest[1:] {
				radius = radius || w == "radius"
			}
			j.r.Note(it.s.line, Translated, "%s: how XAUTH checks users", it.show())
		case it.has("address-assignment", "pool") && len(it.rest) > 2:
			pool, poolLine = it.rest[2], it.s.line
		case it.has("radius-server"):
			j.r.Note(it.s.line, Omitted, "%s: RADIUS servers are not imported; add a [radius] table", it.show())
		default:
			j.r.Note(it.s.line, Omitted, "%s: no ikegate equivalent", it.show())
		}
	}
	if radius {
		c.Extra["xauth"] = `"radius"`
		gw.note(line, Approximated, "xauth access-profile %s (RADIUS) → xauth = \"radius\"; add a [radius] table (servers, secret)", profile)
	} else {
		c.Extra["xauth"] = `"local"`
		gw.note(line, Translated, "xauth access-profile %s → xauth = \"local\" with its clients as [[user]]", profile)
		if users == 0 {
			gw.note(line, Omitted, "access profile %s has no client ikegate can import: add [[user]] tables", profile)
		}
	}
	if pool == "" {
		gw.note(line, Omitted, "access profile %s assigns no address pool: clients would get no address", profile)
		return
	}
	keys, plines, ok := j.pool(pool, lines)
	if !ok {
		j.r.Note(poolLine, Omitted, "address-assignment pool %s: not defined or no usable range", pool)
		return
	}
	// Protected resources of the dynamic VPN: the clients' split include
	// and the connection's local_ts.
	var split, exclude []string
	for _, it := range j.items("security", "dynamic-vpn") {
		it.s.noted = true
		*lines = append(*lines, it.s.line)
		switch {
		case it.has("clients", "*", "remote-protected-resources") && len(it.rest) > 3:
			if p, ok := vendorCIDR(it.rest[3]); ok {
				split = append(split, p)
				j.r.Note(it.s.line, Translated, "remote-protected-resources %s → local_ts and [[pool]] split_include", p)
			}
		case it.has("clients", "*", "remote-exceptions") && len(it.rest) > 3:
			if p, ok := vendorCIDR(it.rest[3]); ok && (p == "0.0.0.0/0" || p == "::/0") {
				j.r.Note(it.s.line, Translated, "remote-exceptions %s: only the protected resources go through the tunnel, which split_include says", p)
			} else if ok {
				exclude = append(exclude, p)
				j.r.Note(it.s.line, Translated, "remote-exceptions %s → [[pool]] split_exclude", p)
			}
		case it.has("clients", "*", "ipsec-vpn") || it.has("clients", "*", "user") || it.has("access-profile"):
			j.r.Note(it.s.line, Translated, "%s: the remote-access connection", it.show())
		default:
			j.r.Note(it.s.line, Omitted, "%s: no ikegate equivalent", it.show())
		}
	}
	if len(split) > 0 {
		c.LocalTS = split
		keys = append(keys, KV{Key: "split_include", Value: tomlList(split)})
	} else {
		c.LocalTS = []string{"0.0.0.0/0"}
	}
	if len(exclude) > 0 {
		keys = append(keys, KV{Key: "split_exclude", Value: tomlList(exclude)})
	}
	name := vendorName(map[string]bool{}, pool)
	if !j.pools[name] {
		j.pools[name] = true
		j.tables = append([]*Table{{Kind: "pool", Lines: vendorSortedUnique(plines), Keys: append([]KV{{Key: "name", Value: tomlString(name)}}, keys...)}}, j.tables...)
	}
	c.Extra["pool"] = tomlString(name)
	j.r.Note(poolLine, Translated, "address-assignment pool %s → pool = %q", pool, name)
}

// pool reads an access address-assignment pool: its addresses and the
// XAUTH attributes (DNS, WINS).
func (j *junosParser) pool(name string, lines *[]int) ([]KV, []int, bool) {
	var addrs, dns, wins []string
	var network string
	var plines []int
	ranges := map[string][2]string{}
	var order []string
	for _, it := range j.items("access", "address-assignment", "pool", name) {
		it.s.noted = true
		plines = append(plines, it.s.line)
		*lines = append(*lines, it.s.line)
		rest := it.rest
		if len(rest) > 1 && rest[0] == "family" {
			rest = rest[2:]
		}
		sub := junosItem{s: it.s, rest: rest}
		switch {
		case sub.has("network") && len(rest) > 1:
			network = rest[1]
			j.r.Note(it.s.line, Translated, "network %s: the pool's range unless ranges are given", rest[1])
		case sub.has("range") && len(rest) > 3:
			r := ranges[rest[1]]
			if _, ok := ranges[rest[1]]; !ok {
				order = append(order, rest[1])
			}
			switch rest[2] {
			case "low":
				r[0] = rest[3]
			case "high":
				r[1] = rest[3]
			}
			ranges[rest[1]] = r
			j.r.Note(it.s.line, Translated, "range %s %s %s → [[pool]] addresses", rest[1], rest[2], rest[3])
		case sub.has("xauth-attributes", "primary-dns") || sub.has("xauth-attributes", "secondary-dns") || sub.has("dhcp-attributes", "name-server"):
			a := strings.Split(rest[len(rest)-1], "/")[0]
			dns = append(dns, a)
			j.r.Note(it.s.line, Translated, "%s → [[pool]] dns", vendorShow(rest))
		case sub.has("xauth-attributes", "primary-wins") || sub.has("xauth-attributes", "secondary-wins"):
			wins = append(wins, strings.Split(rest[len(rest)-1], "/")[0])
			j.r.Note(it.s.line, Translated, "%s → [[pool]] nbns", vendorShow(rest))
		default:
			j.r.Note(it.s.line, Omitted, "%s: no ikegate equivalent", vendorShow(rest))
		}
	}
	for _, k := range order {
		r := ranges[k]
		a, err1 := netip.ParseAddr(r[0])
		b, err2 := netip.ParseAddr(r[1])
		if err1 == nil && err2 == nil && !b.Less(a) {
			addrs = append(addrs, a.String()+"-"+b.String())
		}
	}
	if len(addrs) == 0 && network != "" {
		if p, ok := vendorCIDR(network); ok {
			addrs = []string{p}
		}
	}
	if len(addrs) == 0 {
		return nil, nil, false
	}
	keys := []KV{{Key: "addresses", Value: tomlList(addrs)}}
	if len(dns) > 0 {
		keys = append(keys, KV{Key: "dns", Value: tomlList(dns)})
	}
	if len(wins) > 0 {
		keys = append(keys, KV{Key: "nbns", Value: tomlList(wins)})
	}
	return keys, plines, true
}

// routesVia lists the static routes into an st0 unit.
func (j *junosParser) routesVia(ifname string, lines *[]int) []string {
	var out []string
	for _, it := range j.items("routing-options", "static", "route") {
		if len(it.rest) > 2 && it.rest[1] == "next-hop" && it.rest[2] == ifname {
			if p, ok := vendorCIDR(it.rest[0]); ok {
				out = append(out, p)
				*lines = append(*lines, it.s.line)
				j.r.Note(it.s.line, Translated, "route %s via %s → remote_ts", p, ifname)
			}
		}
	}
	return out
}

// policyPairs reads the security policies that send traffic into a
// policy-based VPN ("then permit tunnel ipsec-vpn V"): their source and
// destination addresses, from the address books, are the selector pairs.
// The zone of the gateway's external interface is the outside: policies
// from it have their sides swapped.
func (j *junosParser) policyPairs(vpn string, gw *junosGateway, lines *[]int) ([]vendorPair, string) {
	outside := ""
	for _, it := range gw.items {
		if it.has("external-interface") && len(it.rest) > 1 {
			for _, z := range j.items("security", "zones", "security-zone") {
				if len(z.rest) > 2 && z.rest[1] == "interfaces" && (z.rest[2] == it.rest[1] || z.rest[2] == it.rest[1]+".0" || z.rest[2]+".0" == it.rest[1]) {
					outside = z.rest[0]
				}
			}
		}
	}
	type pol struct {
		from, to string
		src, dst []string
		lines    []int
		uses     bool
	}
	var order []string
	pols := map[string]*pol{}
	for _, it := range j.items("security", "policies", "from-zone") {
		if len(it.rest) < 6 || it.rest[1] != "to-zone" || it.rest[3] != "policy" {
			continue
		}
		key := it.rest[0] + "/" + it.rest[2] + "/" + it.rest[4]
		p := pols[key]
		if p == nil {
			p = &pol{from: it.rest[0], to: it.rest[2]}
			pols[key] = p
			order = append(order, key)
		}
		p.lines = append(p.lines, it.s.line)
		r := it.rest[5:]
		switch {
		case len(r) > 2 && r[0] == "match" && r[1] == "source-address":
			p.src = append(p.src, r[2])
		case len(r) > 2 && r[0] == "match" && r[1] == "destination-address":
			p.dst = append(p.dst, r[2])
		case len(r) > 4 && r[0] == "then" && r[1] == "permit" && r[2] == "tunnel" && r[3] == "ipsec-vpn" && r[4] == vpn:
			p.uses = true
		}
	}
	var pairs []vendorPair
	for _, key := range order {
		p := pols[key]
		if !p.uses {
			continue
		}
		*lines = append(*lines, p.lines...)
		var src, dst []string
		bad := ""
		for _, n := range p.src {
			got, why := j.address(n, p.from, lines)
			src = append(src, got...)
			if why != "" {
				bad = why
			}
		}
		for _, n := range p.dst {
			got, why := j.address(n, p.to, lines)
			dst = append(dst, got...)
			if why != "" {
				bad = why
			}
		}
		if bad != "" {
			j.r.Note(p.lines[0], Omitted, "security policy %s: %s", key, bad)
			continue
		}
		local, remote := src, dst
		if outside != "" && p.from == outside {
			local, remote = dst, src
		}
		if len(local)*len(remote) > vendorMaxPairs {
			j.r.Note(p.lines[0], Omitted, "security policy %s: %d × %d address pairs is more than this importer writes", key, len(local), len(remote))
			continue
		}
		for _, l := range local {
			for _, r := range remote {
				if vendorIs4(l) == vendorIs4(r) {
					pairs = append(pairs, vendorPair{l, r})
				}
			}
		}
		side := "from the inside"
		if outside == "" {
			side = "from-zone taken as the local side"
		} else if p.from == outside {
			side = "from the outside: sides swapped"
		}
		j.r.Note(p.lines[0], Translated, "security policy %s (%s) → local_ts %s, remote_ts %s", key, side, strings.Join(local, ", "), strings.Join(remote, ", "))
	}
	return pairs, "security policy"
}

// address resolves an address-book name (zone book, then global, with
// address-sets) into prefixes.
func (j *junosParser) address(name, zone string, lines *[]int) ([]string, string) {
	return j.addressDepth(name, zone, lines, 0, map[string]bool{})
}

// addressDepth is address with the nesting depth and the sets being
// expanded (a set that contains itself is an error, not a loop).
func (j *junosParser) addressDepth(name, zone string, lines *[]int, depth int, busy map[string]bool) ([]string, string) {
	switch name {
	case "any", "any-ipv4":
		return []string{"0.0.0.0/0"}, ""
	case "any-ipv6":
		return []string{"::/0"}, ""
	}
	if depth > 8 {
		return nil, "address sets nest too deep"
	}
	if busy[name] {
		return nil, "address-set " + name + " contains itself"
	}
	busy[name] = true
	defer delete(busy, name)
	var books [][]string
	books = append(books, []string{"security", "zones", "security-zone", zone, "address-book"})
	for _, it := range j.items("security", "address-book") {
		if len(it.rest) > 0 {
			books = append(books, []string{"security", "address-book", it.rest[0]})
		}
	}
	var out []string
	for _, b := range books {
		for _, it := range j.items(append(append([]string{}, b...), "address", name)...) {
			*lines = append(*lines, it.s.line)
			r := it.rest
			switch {
			case len(r) == 1:
				if p, ok := vendorCIDR(r[0]); ok {
					out = append(out, p)
				}
			case len(r) > 1 && r[0] == "ip-prefix":
				if p, ok := vendorCIDR(r[1]); ok {
					out = append(out, p)
				}
			case len(r) > 3 && r[0] == "range-address" && r[2] == "to":
				if rs, ok := vendorRange(r[1], r[3]); ok {
					out = append(out, rs...)
				}
			case len(r) > 0 && r[0] == "dns-name":
				return nil, "address " + name + " is a DNS name: selectors need addresses"
			}
		}
		for _, it := range j.items(append(append([]string{}, b...), "address-set", name)...) {
			*lines = append(*lines, it.s.line)
			if len(it.rest) > 1 && (it.rest[0] == "address" || it.rest[0] == "address-set") {
				sub, why := j.addressDepth(it.rest[1], zone, lines, depth+1, busy)
				if why != "" {
					return nil, why
				}
				out = append(out, sub...)
			}
		}
		if len(out) > 0 {
			return vendorUnique(out), ""
		}
	}
	return nil, "address " + name + " is not in an address book here"
}

// finish flushes the definitions' notes, notes what was not read, writes
// tables, listen addresses and the gateway keys.
func (j *junosParser) finish() {
	for _, d := range j.defs {
		switch {
		case d.used:
			j.r.Notes = append(j.r.Notes, d.notes...)
		case d.line > 0:
			j.r.Note(d.line, Omitted, "%s: %s; not imported", d.what, d.why)
		}
	}
	for _, s := range j.stmts {
		if s.noted || s.inactiveAt != 0 {
			continue
		}
		if junosPrefix(s.path, []string{"security", "ike"}) || junosPrefix(s.path, []string{"security", "ipsec"}) {
			j.r.Note(s.line, Omitted, "%s: no ikegate equivalent", vendorShow(s.path))
		}
	}
	j.r.Tables = j.tables
	if j.natKAl > 0 {
		d, why := vendorNATKeepalive(j.natKA)
		j.r.Gateway = map[string]string{"natt_keepalive": tomlString(d)}
		if why != "" {
			j.r.Note(j.natKAl, Approximated, "nat-keepalive → gateway.natt_keepalive: %s", why)
		} else {
			j.r.Note(j.natKAl, Translated, "nat-keepalive %d → gateway.natt_keepalive = %q (one for all connections)", j.natKA, d)
		}
	}
	addrs, _, unknown := vendorConnAddrs(j.r.Conns)
	vendorSetListen(j.r, addrs, unknown)
	if len(j.r.Conns) == 0 {
		j.r.Note(0, Omitted, "no security ipsec vpn: no connection is written")
	}
	j.r.Notes = vendorDedupe(j.r.Notes)
}
