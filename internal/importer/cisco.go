package importer

// Cisco IOS and ASA: `show running-config` text (or commands pasted with
// their prompts). Both share an indentation-aware line parser and most
// of the model; where the dialects differ, the code says which it reads.
//
//   - IOS: crypto isakmp policy / key / keepalive / nat keepalive /
//     identity / profile / client configuration group, crypto keyring,
//     crypto ikev2 proposal / policy / keyring / profile / dpd, crypto
//     ipsec transform-set, crypto map entries with their set and match
//     sub-commands, crypto dynamic-map, ip access-list and access-list,
//     ip local pool, username, aaa authentication login, interfaces.
//   - ASA: crypto ikev1 / ikev2 policy (and the pre-8.4 crypto isakmp
//     policy), crypto ikev1 / ikev2 enable, crypto ipsec ikev1
//     transform-set, crypto ipsec ikev2 ipsec-proposal, one-line crypto
//     map and dynamic-map commands, tunnel-group (ipsec-l2l and
//     remote-access), group-policy, access-list, object network,
//     object-group network, ip local pool, username, interfaces (nameif).

import (
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
)

func init() {
	Register(CiscoIOS, func(_ string, src []byte) (*Result, error) { return parseCisco(ciscoIOS, src) })
	Register(CiscoASA, func(_ string, src []byte) (*Result, error) { return parseCisco(ciscoASA, src) })
}

// ciscoDialect says which Cisco configuration language is read.
type ciscoDialect int

const (
	ciscoIOS ciscoDialect = iota
	ciscoASA
)

// String names the dialect for messages.
func (d ciscoDialect) String() string {
	if d == ciscoASA {
		return "Cisco ASA"
	}
	return "Cisco IOS"
}

// ciscoNode is one command line with the sub-commands indented under it.
type ciscoNode struct {
	line   int
	indent int
	w      []string // words as written
	lw     []string // the same, lower-case, for matching
	kids   []*ciscoNode
	text   string // a banner's text
}

// has reports whether the command starts with the words of prefix ("*"
// matches any word).
func (n *ciscoNode) has(prefix ...string) bool { return vendorHasWords(n.lw, prefix) }

// arg is the i-th word as written, "" past the end; larg lower-case.
func (n *ciscoNode) arg(i int) string { return vendorWord(n.w, i) }

// larg is the i-th word in lower case, "" past the end.
func (n *ciscoNode) larg(i int) string { return vendorWord(n.lw, i) }

// show quotes the command for the report, secrets replaced.
func (n *ciscoNode) show() string { return ciscoShow(n.w) }

// ciscoShow quotes a Cisco command for the report (vendorShow).
func ciscoShow(w []string) string { return vendorShow(w) }

var (
	ciscoPromptRE   = regexp.MustCompile(`^[A-Za-z0-9_.:/-]+\((config[A-Za-z0-9_-]*)\)#\s*`)
	ciscoExecRE     = regexp.MustCompile(`^[A-Za-z0-9_.:/-]+[#>]\s*`)
	ciscoBannerKind = map[string]bool{"motd": true, "login": true, "exec": true, "incoming": true, "slip-ppp": true, "prompt-timeout": true, "config-save": true}
)

// ciscoLex splits src into command trees by indentation. Prompts of
// pasted sessions ("R1(config-isakmp)# encr aes") stand for the
// indentation. It fails only on input that is not a Cisco configuration:
// binary data, a banner never closed, Junos or ipsec.conf syntax.
func ciscoLex(d ciscoDialect, src []byte) ([]*ciscoNode, error) {
	if l := vendorCheckText(src); l > 0 {
		return nil, fmt.Errorf("line %d: not text (binary data or invalid UTF-8): not a %s configuration", l, d)
	}
	lines := strings.Split(string(src), "\n")
	var top, stack []*ciscoNode
	for i := 0; i < len(lines); i++ {
		ln := i + 1
		s := strings.TrimRight(lines[i], " \t\r")
		body := strings.TrimLeft(s, " \t")
		indent := len(s) - len(body)
		if body == "" || body[0] == '!' || body[0] == ':' || body[0] == '#' {
			continue
		}
		if m := ciscoPromptRE.FindStringSubmatch(body); m != nil {
			body = body[len(m[0]):]
			switch {
			case m[1] == "config":
				indent = 0
			case strings.HasSuffix(m[1], "-peer") || strings.HasSuffix(m[1], "-cert-chain") || strings.HasSuffix(m[1], "-pubkey"):
				indent = 2
			default:
				indent = 1
			}
		} else if m := ciscoExecRE.FindString(body); m != "" && indent == 0 {
			continue // "R1# show running-config", "asa> enable"
		}
		words := strings.Fields(body)
		if len(words) == 0 {
			continue
		}
		lw := make([]string, len(words))
		for j, w := range words {
			lw[j] = strings.ToLower(w)
		}
		if len(words) == 1 && (lw[0] == "end" || lw[0] == "exit" || lw[0] == "quit") {
			continue
		}
		if err := ciscoForeign(d, ln, body, lw, indent); err != nil {
			return nil, err
		}
		n := &ciscoNode{line: ln, indent: indent, w: words, lw: lw}
		if lw[0] == "banner" && d == ciscoIOS {
			next, err := ciscoBanner(n, body, lines, i)
			if err != nil {
				return nil, err
			}
			i = next
		}
		for len(stack) > 0 && stack[len(stack)-1].indent >= indent {
			stack = stack[:len(stack)-1]
		}
		if len(stack) == 0 {
			top = append(top, n)
		} else {
			p := stack[len(stack)-1]
			p.kids = append(p.kids, n)
		}
		stack = append(stack, n)
	}
	return top, nil
}

// ciscoForeign refuses lines of other formats, naming the line.
func ciscoForeign(d ciscoDialect, ln int, body string, lw []string, indent int) error {
	switch {
	case lw[0] == "set" && len(lw) > 1 && (lw[1] == "security" || lw[1] == "interfaces" || lw[1] == "system" || lw[1] == "routing-options"):
		return fmt.Errorf("line %d: a Junos set command, not %s: use --from junos", ln, d)
	case (strings.HasSuffix(body, "{") || body == "}") && lw[0] != "banner" && lw[0] != "description" && !ciscoRemark(lw):
		return fmt.Errorf("line %d: a line ending in a brace: this is not a %s configuration (Junos? swanctl.conf?)", ln, d)
	case indent == 0 && (lw[0] == "conn" && len(lw) == 2 || lw[0] == "config" && len(lw) > 1 && lw[1] == "setup"):
		return fmt.Errorf("line %d: an ipsec.conf section, not %s: use --from %s or --from %s", ln, d, IPsecConf, Libreswan)
	}
	if indent > 0 {
		return nil
	}
	ios := lw[0] == "crypto" && len(lw) > 2 && (lw[1] == "isakmp" && (lw[2] == "key" || lw[2] == "profile" || lw[2] == "client") ||
		lw[1] == "keyring" || lw[1] == "ikev2" && (lw[2] == "keyring" || lw[2] == "profile" || lw[2] == "proposal")) ||
		lw[0] == "ip" && len(lw) > 1 && lw[1] == "access-list"
	asa := lw[0] == "tunnel-group" || lw[0] == "group-policy" ||
		lw[0] == "crypto" && len(lw) > 2 && (lw[1] == "ikev1" || lw[1] == "ipsec" && (lw[2] == "ikev1" || lw[2] == "ikev2"))
	switch {
	case d == ciscoASA && ios:
		return fmt.Errorf("line %d: %q is Cisco IOS syntax, not ASA: use --from %s", ln, strings.Join(lw[:min(3, len(lw))], " "), CiscoIOS)
	case d == ciscoIOS && asa:
		return fmt.Errorf("line %d: %q is Cisco ASA syntax, not IOS: use --from %s", ln, strings.Join(lw[:min(3, len(lw))], " "), CiscoASA)
	}
	return nil
}

// ciscoRemark reports whether a command is an ACL remark (free text).
func ciscoRemark(lw []string) bool {
	for i := 0; i < len(lw) && i < 4; i++ {
		if lw[i] == "remark" {
			return true
		}
	}
	return false
}

// ciscoBanner reads an IOS banner's text between its delimiters
// ("banner motd ^C ... ^C"), which may span lines; it returns the index of
// the banner's last line.
func ciscoBanner(n *ciscoNode, body string, lines []string, i int) (int, error) {
	at := 1
	if len(n.lw) > 1 && ciscoBannerKind[n.lw[1]] {
		at = 2
	}
	if at >= len(n.w) {
		return i, nil
	}
	// The text starts right after the delimiter, in the line as written.
	tok := n.w[at]
	delim := tok[:1]
	if strings.HasPrefix(tok, "^C") || strings.HasPrefix(tok, "^c") {
		delim = tok[:2]
	}
	start := strings.Index(body, tok) + len(delim)
	rest := body[start:]
	if j := strings.Index(rest, delim); j >= 0 {
		n.text = strings.TrimSpace(rest[:j])
		return i, nil
	}
	text := []string{strings.TrimSpace(rest)}
	for k := i + 1; k < len(lines); k++ {
		l := strings.TrimRight(lines[k], "\r")
		if j := strings.Index(l, delim); j >= 0 {
			text = append(text, strings.TrimRight(l[:j], " \t"))
			n.text = strings.Trim(strings.Join(text, "\n"), "\n ")
			return k, nil
		}
		text = append(text, l)
	}
	return 0, fmt.Errorf("line %d: banner text never closed (no second %q)", n.line, delim)
}

// ciscoIKEv1Policy is an ISAKMP policy (IOS crypto isakmp policy, ASA
// crypto ikev1 policy).
type ciscoIKEv1Policy struct {
	vendorDef
	num      int
	prop     string // "" when it cannot be translated
	auth     string // "pre-share", "rsa-sig", ...
	lifetime int64
	lifeLine int
}

// ciscoSuiteDef is a named set of proposals: an IOS ikev2 proposal, an ASA
// ikev2 policy, a transform set or ASA ikev2 ipsec-proposal.
type ciscoSuiteDef struct {
	vendorDef
	name      string
	props     []string
	transport bool
	modeLine  int
	lifetime  int64 // ASA ikev2 policy lifetime seconds
	lifeLine  int
}

// ciscoV2Policy is an IOS crypto ikev2 policy.
type ciscoV2Policy struct {
	vendorDef
	name      string
	proposals []string
	local     []string // match address local
}

// ciscoKey is a pre-shared key for an address range or host name: crypto
// isakmp key, a crypto keyring's pre-shared-key, an ikev2 keyring peer.
type ciscoKey struct {
	vendorDef
	prefix         netip.Prefix
	host           string
	key            string // symmetric key
	local, remote  string // IKEv2 asymmetric keys
	hidden         string // why the key cannot be read
	id             string // ikev2 keyring peer identity (strongSwan syntax)
	keyLine, owner int
}

// ciscoV2Profile is an IOS crypto ikev2 profile.
type ciscoV2Profile struct {
	vendorDef
	n *ciscoNode
}

// ciscoIface is an interface with its address.
type ciscoIface struct {
	name, nameif string
	addr         string
	addrLine     int
	line         int
	maps         []*ciscoNode // IOS: crypto map on the interface
}

// ciscoCmd is one sub-command of a crypto map entry: the IOS sub-mode
// lines, the rest of an ASA "crypto map NAME SEQ ..." line.
type ciscoCmd struct {
	line int
	w    []string
	lw   []string
}

// has reports whether the sub-command starts with prefix ("*": any word).
func (c ciscoCmd) has(prefix ...string) bool {
	n := ciscoNode{w: c.w, lw: c.lw}
	return n.has(prefix...)
}

// show quotes the sub-command for the report, secrets replaced.
func (c ciscoCmd) show() string { return ciscoShow(c.w) }

// ciscoEntry is a crypto map or dynamic-map entry.
type ciscoEntry struct {
	mapName string
	seq     int
	line    int
	dynamic bool   // an entry of a crypto dynamic-map
	dynRef  string // "ipsec-isakmp dynamic NAME"
	refLine int
	manual  bool
	cmds    []ciscoCmd
}

// ciscoTunnelGroup is an ASA tunnel-group with its attribute blocks.
type ciscoTunnelGroup struct {
	vendorDef
	name     string
	typ      string
	general  *ciscoNode
	ipsec    *ciscoNode
	others   []*ciscoNode
	typeLine int
}

// ciscoPool is an ip local pool.
type ciscoPool struct {
	name   string
	ranges []string
	lines  []int
	bad    []int
}

// ciscoUser is a local user.
type ciscoUser struct {
	name, password string
	hidden         string
	line           int
}

// ciscoACL is a crypto ACL read into selector pairs.
type ciscoACL struct {
	vendorDef
	pairs []vendorPair
	lines []int
}

// ciscoParser holds what the scan found and builds the Result.
type ciscoParser struct {
	d     ciscoDialect
	r     *Result
	names map[string]bool
	defs  []*vendorDef

	hostname, domain     string
	hostLine, domainLine int

	ifaces  map[string]*ciscoIface
	ifOrder []*ciscoIface

	v1Policies  []*ciscoIKEv1Policy
	v2Proposals map[string]*ciscoSuiteDef // IOS crypto ikev2 proposal
	v2Policies  []*ciscoV2Policy          // IOS crypto ikev2 policy
	v2ASA       []*ciscoSuiteDef          // ASA crypto ikev2 policy
	tsets       map[string]*ciscoSuiteDef // transform sets
	ipsecProps  map[string]*ciscoSuiteDef // ASA ikev2 ipsec-proposals
	keys        []*ciscoKey               // crypto isakmp key
	keyrings    map[string][]*ciscoKey    // crypto keyring
	v2Keyrings  map[string][]*ciscoKey    // crypto ikev2 keyring
	v2Profiles  map[string]*ciscoV2Profile
	v1Profiles  map[string]*ciscoV2Profile // crypto isakmp profile (same shape)
	maps        map[string]map[int]*ciscoEntry
	dynMaps     map[string]map[int]*ciscoEntry
	mapCmds     map[string][]*ciscoNode // crypto map NAME client/isakmp/local-address/interface
	aclLines    map[string][]*ciscoNode
	acls        map[string]*ciscoACL
	objects     map[string]*ciscoNode
	objGroups   map[string]*ciscoNode
	tgroups     map[string]*ciscoTunnelGroup
	tgOrder     []*ciscoTunnelGroup
	gpolicies   map[string]*ciscoNode // group-policy NAME attributes
	gpLines     map[string][]int
	clientGrps  []*ciscoNode
	pools       map[string]*ciscoPool
	users       []*ciscoUser
	aaaLists    map[string]*ciscoNode
	aaaServers  map[string]*ciscoNode

	keepalive, v2dpd, natKeepalive, identity *ciscoNode
	saLifeSec, saLifeKB                      int64
	saLifeSecLine, saLifeKBLine              int
	ikeEnable                                []*ciscoNode

	vpn        bool
	gnames     map[string]bool // [[group]] names written
	groupMemo  map[string]ciscoExpansion
	groupBusy  map[string]bool
	gpUsed     map[string]bool // group-policies used by a remote-access connection
	userAttrs  []*ciscoNode    // ASA "username N attributes" blocks
	usedPools  []string
	xauthLocal []int // lines of the connections that need [[user]]
	tables     []*Table
}

// parseCisco reads an IOS or ASA configuration.
func parseCisco(d ciscoDialect, src []byte) (*Result, error) {
	top, err := ciscoLex(d, src)
	if err != nil {
		return nil, err
	}
	p := &ciscoParser{d: d, r: &Result{}, names: map[string]bool{},
		ifaces: map[string]*ciscoIface{}, v2Proposals: map[string]*ciscoSuiteDef{}, tsets: map[string]*ciscoSuiteDef{},
		ipsecProps: map[string]*ciscoSuiteDef{}, keyrings: map[string][]*ciscoKey{}, v2Keyrings: map[string][]*ciscoKey{},
		v2Profiles: map[string]*ciscoV2Profile{}, v1Profiles: map[string]*ciscoV2Profile{},
		maps: map[string]map[int]*ciscoEntry{}, dynMaps: map[string]map[int]*ciscoEntry{}, mapCmds: map[string][]*ciscoNode{},
		aclLines: map[string][]*ciscoNode{}, acls: map[string]*ciscoACL{}, objects: map[string]*ciscoNode{}, objGroups: map[string]*ciscoNode{},
		tgroups: map[string]*ciscoTunnelGroup{}, gpolicies: map[string]*ciscoNode{}, gpLines: map[string][]int{},
		pools: map[string]*ciscoPool{}, aaaLists: map[string]*ciscoNode{}, aaaServers: map[string]*ciscoNode{},
		gnames: map[string]bool{}, gpUsed: map[string]bool{}, groupMemo: map[string]ciscoExpansion{}, groupBusy: map[string]bool{}}
	for _, n := range top {
		p.scan(n)
	}
	if !p.vpn {
		return nil, fmt.Errorf("no IPsec configuration found: no crypto map, ISAKMP/IKEv2 policy or transform set (is this a %s configuration?)", d)
	}
	p.build()
	p.finish()
	return p.r, nil
}

// note records a note for line.
func (p *ciscoParser) note(line int, st Status, format string, args ...any) {
	p.r.Note(line, st, format, args...)
}

// def registers a definition whose notes wait for the end.
func (p *ciscoParser) def(d *vendorDef) { p.defs = append(p.defs, d) }

// scan indexes one top-level command.
func (p *ciscoParser) scan(n *ciscoNode) {
	switch {
	case n.has("hostname") && len(n.w) > 1:
		p.hostname, p.hostLine = n.arg(1), n.line
	case (n.has("ip", "domain", "name") || n.has("ip", "domain-name")) && len(n.w) > 2:
		p.domain, p.domainLine = n.w[len(n.w)-1], n.line
	case n.has("domain-name") && len(n.w) > 1 && p.d == ciscoASA:
		p.domain, p.domainLine = n.arg(1), n.line
	case n.has("interface") && len(n.w) > 1:
		p.iface(n)
	case n.has("ip", "local", "pool") && len(n.w) > 4:
		p.pool(n)
	case n.has("username") && len(n.w) > 2 && n.larg(2) == "attributes":
		p.userAttrs = append(p.userAttrs, n)
	case n.has("username") && len(n.w) > 1:
		p.user(n)
	case n.has("aaa", "authentication", "login") && len(n.w) > 4:
		p.aaaLists[n.lw[3]] = n
	case n.has("aaa-server") && len(n.w) > 3 && n.larg(2) == "protocol":
		p.aaaServers[n.lw[1]] = n
	case n.has("ip", "access-list") && len(n.w) > 3:
		p.aclLines[n.arg(3)] = append(p.aclLines[n.arg(3)], n.kids...)
	case n.has("access-list") && len(n.w) > 2:
		p.aclLines[n.arg(1)] = append(p.aclLines[n.arg(1)], n)
	case n.has("object", "network") && len(n.w) > 2:
		p.objects[n.arg(2)] = n
	case n.has("object-group", "network") && len(n.w) > 2:
		p.objGroups[n.arg(2)] = n
	case n.has("object-group") && len(n.w) > 2:
		p.objGroups[n.arg(2)] = n // service and protocol groups: told apart where used
	case n.has("tunnel-group") && len(n.w) > 2:
		p.vpn = true
		p.tunnelGroup(n)
	case n.has("group-policy") && len(n.w) > 2:
		p.vpn = true
		name := n.arg(1)
		p.gpLines[name] = append(p.gpLines[name], n.line)
		if n.larg(2) == "attributes" {
			p.gpolicies[name] = n
		}
	case n.has("crypto"):
		p.vpn = true
		p.crypto(n)
	case n.has("isakmp") && p.d == ciscoASA:
		p.vpn = true
		p.note(n.line, Omitted, "%s: pre-8.0 ASA/PIX syntax is not read (`isakmp ...` without `crypto`); upgrade its spelling to crypto isakmp/ikev1", n.show())
	}
}

// iface records an interface's name, nameif and address, and (IOS) the
// crypto map applied to it.
func (p *ciscoParser) iface(n *ciscoNode) {
	f := &ciscoIface{name: n.arg(1), line: n.line}
	for _, k := range n.kids {
		switch {
		case k.has("nameif") && len(k.w) > 1:
			f.nameif = k.arg(1)
		case k.has("ip", "address") && len(k.w) > 3 && k.larg(4) != "secondary" && f.addr == "":
			if a, err := netip.ParseAddr(k.arg(2)); err == nil {
				f.addr, f.addrLine = a.String(), k.line
			}
		case k.has("ipv6", "address") && len(k.w) > 2 && f.addr == "":
			if pf, err := netip.ParsePrefix(k.arg(2)); err == nil {
				f.addr, f.addrLine = pf.Addr().String(), k.line
			}
		case k.has("crypto", "map") && len(k.w) > 2:
			f.maps = append(f.maps, k)
		}
	}
	p.ifaces[strings.ToLower(f.name)] = f
	if f.nameif != "" {
		p.ifaces[strings.ToLower(f.nameif)] = f
	}
	p.ifOrder = append(p.ifOrder, f)
}

// pool records an ip local pool: IOS "NAME FIRST [LAST]", ASA "NAME
// FIRST-LAST [mask M]"; several IOS lines of one name add ranges.
func (p *ciscoParser) pool(n *ciscoNode) {
	name := n.arg(3)
	pl := p.pools[name]
	if pl == nil {
		pl = &ciscoPool{name: name}
		p.pools[name] = pl
	}
	pl.lines = append(pl.lines, n.line)
	first, last := n.arg(4), n.arg(5)
	if a, b, ok := strings.Cut(first, "-"); ok {
		first, last = a, b
	}
	if last == "" || strings.EqualFold(last, "mask") || strings.EqualFold(last, "group") || strings.EqualFold(last, "cache-size") {
		last = first
	}
	fa, err1 := netip.ParseAddr(first)
	la, err2 := netip.ParseAddr(last)
	switch {
	case err1 != nil || err2 != nil || la.Less(fa) || fa.Is4() != la.Is4():
		pl.bad = append(pl.bad, n.line)
	case fa == la:
		pl.ranges = append(pl.ranges, fa.String())
	default:
		pl.ranges = append(pl.ranges, fa.String()+"-"+la.String())
	}
}

// user records a local user: IOS "username N [privilege P] password 0 PW"
// or "secret 5 HASH"; ASA "username N password PW [encrypted|pbkdf2]".
func (p *ciscoParser) user(n *ciscoNode) {
	u := &ciscoUser{name: n.arg(1), line: n.line}
	for i := 2; i < len(n.lw); i++ {
		switch n.lw[i] {
		case "password", "secret":
			rest := n.w[i+1:]
			switch {
			case n.lw[i] == "secret":
				u.hidden = "stored as a one-way hash (secret): ikegate needs the password or its NT hash"
			case len(rest) >= 2 && rest[0] == "0":
				u.password = rest[1]
			case len(rest) >= 2 && (rest[0] == "7" || rest[0] == "5" || rest[0] == "8" || rest[0] == "9" || rest[0] == "6"):
				u.hidden = "stored encrypted or hashed (type " + rest[0] + ")"
			case len(rest) >= 2 && (strings.EqualFold(rest[1], "encrypted") || strings.EqualFold(rest[1], "pbkdf2") || strings.EqualFold(rest[1], "nt-encrypted")):
				u.hidden = "stored hashed (" + strings.ToLower(rest[1]) + ")"
			case len(rest) >= 1:
				u.password = rest[0]
			}
			i = len(n.lw)
		case "nopassword":
			u.hidden = "has no password"
		case "attributes":
			return // ASA "username N attributes" block
		}
	}
	if u.password == "" && u.hidden == "" {
		u.hidden = "has no password here"
	}
	p.users = append(p.users, u)
}

// tunnelGroup records an ASA tunnel-group line and its blocks.
func (p *ciscoParser) tunnelGroup(n *ciscoNode) {
	name := n.arg(1)
	tg := p.tgroups[name]
	if tg == nil {
		tg = &ciscoTunnelGroup{vendorDef: vendorDef{line: n.line, what: "tunnel-group " + name, why: "no crypto map peer or remote-access connection uses it"}, name: name}
		p.tgroups[name] = tg
		p.tgOrder = append(p.tgOrder, tg)
		p.def(&tg.vendorDef)
	}
	switch n.larg(2) {
	case "type":
		tg.typ, tg.typeLine = n.larg(3), n.line
	case "general-attributes":
		tg.general = n
	case "ipsec-attributes":
		tg.ipsec = n
	default:
		tg.others = append(tg.others, n)
	}
}

// crypto dispatches a top-level crypto command.
func (p *ciscoParser) crypto(n *ciscoNode) {
	asa := p.d == ciscoASA
	switch {
	case n.has("crypto", "isakmp", "policy") || asa && n.has("crypto", "ikev1", "policy"):
		p.v1Policy(n)
	case n.has("crypto", "ikev2", "policy") && asa:
		p.v2PolicyASA(n)
	case n.has("crypto", "ikev2", "policy"):
		p.v2PolicyIOS(n)
	case n.has("crypto", "ikev2", "proposal") && len(n.w) > 3:
		s := &ciscoSuiteDef{vendorDef: vendorDef{line: n.line, what: "IKEv2 proposal " + n.arg(3), why: "no crypto ikev2 policy names it"}, name: n.arg(3)}
		p.v2Suite(s, n.kids, false)
		p.v2Proposals[s.name] = s
		p.def(&s.vendorDef)
	case n.has("crypto", "isakmp", "key"):
		p.isakmpKey(n)
	case n.has("crypto", "keyring") && len(n.w) > 2:
		p.keyring(n)
	case n.has("crypto", "ikev2", "keyring") && len(n.w) > 3:
		p.v2Keyring(n)
	case n.has("crypto", "ikev2", "profile") && len(n.w) > 3:
		pr := &ciscoV2Profile{vendorDef: vendorDef{line: n.line, what: "IKEv2 profile " + n.arg(3), why: "no crypto map sets it"}, n: n}
		p.v2Profiles[n.arg(3)] = pr
		p.def(&pr.vendorDef)
	case n.has("crypto", "isakmp", "profile") && len(n.w) > 3:
		pr := &ciscoV2Profile{vendorDef: vendorDef{line: n.line, what: "ISAKMP profile " + n.arg(3), why: "no crypto map sets it"}, n: n}
		p.v1Profiles[n.arg(3)] = pr
		p.def(&pr.vendorDef)
	case n.has("crypto", "isakmp", "keepalive") || n.has("crypto", "ikev2", "dpd"):
		if n.larg(1) == "ikev2" {
			p.v2dpd = n
		} else {
			p.keepalive = n
		}
	case n.has("crypto", "isakmp", "nat", "keepalive") || n.has("crypto", "ikev2", "nat", "keepalive") ||
		asa && n.has("crypto", "isakmp", "nat-traversal") && len(n.w) > 3:
		p.natKeepalive = n
	case asa && n.has("crypto", "isakmp", "nat-traversal"):
		p.note(n.line, Translated, "NAT traversal on: ikegate's default")
	case n.has("crypto", "isakmp", "identity"):
		p.identity = n
	case n.has("crypto", "isakmp", "client", "configuration", "group") && len(n.w) > 5:
		p.clientGrps = append(p.clientGrps, n)
	case n.has("crypto", "isakmp", "aggressive-mode", "disable") || asa && n.has("crypto", "ikev1", "am-disable"):
		p.note(n.line, Translated, "Aggressive Mode off: ikegate's connections use Main Mode unless ikev1_mode says otherwise")
	case asa && (n.has("crypto", "ikev1", "enable") || n.has("crypto", "ikev2", "enable") || n.has("crypto", "isakmp", "enable")) && len(n.w) > 3:
		p.ikeEnable = append(p.ikeEnable, n)
	case n.has("crypto", "isakmp", "enable") || n.has("crypto", "ikev1", "enable"):
		p.note(n.line, Translated, "IKE on: ikegate answers on gateway.listen")
	case n.has("crypto", "ipsec", "transform-set") && len(n.w) > 3 || asa && n.has("crypto", "ipsec", "ikev1", "transform-set") && len(n.w) > 4:
		p.transformSet(n)
	case asa && n.has("crypto", "ipsec", "ikev2", "ipsec-proposal") && len(n.w) > 4:
		s := &ciscoSuiteDef{vendorDef: vendorDef{line: n.line, what: "IKEv2 IPsec proposal " + n.arg(4), why: "no imported crypto map entry sets it"}, name: n.arg(4)}
		p.ipsecProposal(s, n)
		p.ipsecProps[s.name] = s
		p.def(&s.vendorDef)
	case n.has("crypto", "ipsec", "security-association", "lifetime") && len(n.w) > 5:
		v, ok := vendorAtoi(n.arg(5))
		switch {
		case !ok:
			p.note(n.line, Omitted, "%s: not a number", n.show())
		case n.larg(4) == "seconds":
			p.saLifeSec, p.saLifeSecLine = v, n.line
		case n.larg(4) == "kilobytes":
			p.saLifeKB, p.saLifeKBLine = v, n.line
		default:
			p.note(n.line, Omitted, "%s: not understood", n.show())
		}
	case n.has("crypto", "map") && len(n.w) > 3:
		p.cryptoMap(n, false)
	case n.has("crypto", "dynamic-map") && len(n.w) > 3:
		p.cryptoMap(n, true)
	case n.has("crypto", "pki") || n.has("crypto", "ca") || n.has("crypto", "key"):
		p.note(n.line, Omitted, "%s: certificates and keys are not imported; give cert, key and ca files and auth = \"pubkey\" by hand", n.show())
	case n.has("crypto", "ipsec", "nat-transparency"):
		p.note(n.line, Translated, "NAT traversal (UDP encapsulation) on: ikegate's default")
	case n.has("crypto", "ipsec", "profile"):
		p.note(n.line, Omitted, "%s: IPsec profiles (route-based VTI tunnels) are not imported: ikegate has no tunnel interfaces; write a connection with local_ts/remote_ts for the routed networks", n.show())
	default:
		p.note(n.line, Omitted, "%s: no ikegate equivalent", n.show())
	}
}

// ciscoCiphers maps Cisco encryption names (IOS ISAKMP "aes 256" joined as
// "aes-256", ASA "aes-256", IKEv2 "aes-cbc-256", transform names without
// "esp-") to ikegate keywords.
var ciscoCiphers = map[string]string{
	"3des": "3des", "aes": "aes128", "aes-128": "aes128", "aes-192": "aes192", "aes-256": "aes256",
	"aes-cbc-128": "aes128", "aes-cbc-192": "aes192", "aes-cbc-256": "aes256",
	"aes-gcm": "aes128gcm16", "aes-gcm-128": "aes128gcm16", "aes-gcm-192": "aes192gcm16", "aes-gcm-256": "aes256gcm16",
	"gcm": "aes128gcm16", "gcm-128": "aes128gcm16", "gcm-192": "aes192gcm16", "gcm-256": "aes256gcm16",
	"null": "null",
}

// ciscoCipher translates an encryption name: the keyword, or why not.
func ciscoCipher(s string) (string, string) {
	if k, ok := ciscoCiphers[s]; ok {
		return k, ""
	}
	switch {
	case s == "des" || strings.HasPrefix(s, "des-"):
		return "", "single DES is broken: ikegate refuses it"
	case strings.Contains(s, "gmac"):
		return "", "AES-GMAC (integrity without encryption) is not supported by ikegate"
	case s == "seal":
		return "", "SEAL is not supported by ikegate"
	}
	return "", fmt.Sprintf("unknown cipher %q", s)
}

// ciscoHashes maps Cisco hash and integrity names to ikegate keywords;
// "null" and "none" (AEAD, or ASA's esp-none) to "".
var ciscoHashes = map[string]string{
	"md5": "md5", "sha": "sha1", "sha1": "sha1", "sha-1": "sha1", "sha256": "sha256", "sha-256": "sha256",
	"sha384": "sha384", "sha-384": "sha384", "sha512": "sha512", "sha-512": "sha512", "null": "", "none": "",
}

// v1Policy reads an ISAKMP policy (IOS crypto isakmp policy, ASA crypto
// ikev1 policy or the pre-8.4 crypto isakmp policy).
func (p *ciscoParser) v1Policy(n *ciscoNode) {
	num, _ := strconv.Atoi(n.arg(3))
	label := "ISAKMP policy"
	if n.larg(1) == "ikev1" {
		label = "IKEv1 policy"
	}
	pol := &ciscoIKEv1Policy{vendorDef: vendorDef{line: n.line, what: label + " " + n.arg(3), why: "no IKEv1 connection with a pre-shared key uses it"}, num: num}
	p.v1Policies = append(p.v1Policies, pol)
	p.def(&pol.vendorDef)
	// Cisco's defaults for what the policy leaves out.
	enc, hash, group, auth := "des", "sha", "1", "rsa-sig"
	if p.d == ciscoASA {
		enc, group = "3des", "2"
	}
	var encLine, hashLine, groupLine int
	var why []string
	encText := enc
	for _, k := range n.kids {
		switch {
		case (k.has("encr") || k.has("encryption")) && len(k.w) > 1:
			enc, encLine = strings.Join(k.lw[1:], "-"), k.line
			encText = strings.Join(k.lw[1:], " ")
		case k.has("hash") && len(k.w) > 1:
			hash, hashLine = k.lw[1], k.line
		case k.has("group") && len(k.w) > 1:
			group, groupLine = k.lw[1], k.line
		case k.has("authentication") && len(k.w) > 1:
			auth = k.lw[1]
			switch auth {
			case "pre-share":
				pol.note(k.line, Translated, "authentication pre-share → auth = \"psk\" (with the peer's key)")
			case "rsa-sig":
				pol.note(k.line, Omitted, "authentication rsa-sig: certificates are not imported; this policy is left out of PSK connections (set auth = \"pubkey\", cert, key and ca by hand)")
			default:
				pol.note(k.line, Omitted, "authentication %s: no such method in ikegate; this policy is left out", auth)
			}
		case k.has("lifetime") && len(k.w) > 1:
			v, ok := vendorAtoi(k.arg(len(k.w) - 1))
			if !ok {
				pol.note(k.line, Omitted, "%s: not a number", k.show())
				continue
			}
			pol.lifetime, pol.lifeLine = v, k.line
		default:
			pol.note(k.line, Omitted, "%s: not understood in an ISAKMP policy", k.show())
		}
	}
	ek, ew := ciscoCipher(enc)
	hk, hok := ciscoHashes[hash]
	gk, gw := vendorDH(group)
	defaulted := func(line int, what, v, kw string) {
		if line == 0 && kw != "" {
			pol.note(n.line, Approximated, "no %s given: %s's default, %s → %s", what, p.d, v, kw)
		}
	}
	at := func(l int) int {
		if l == 0 {
			return n.line
		}
		return l
	}
	dflt := func(line int) string {
		if line == 0 {
			return fmt.Sprintf(" (%s's default)", p.d)
		}
		return ""
	}
	if ew != "" {
		why = append(why, ew)
		pol.note(at(encLine), Omitted, "encryption %s%s: %s; policy %d is left out", enc, dflt(encLine), ew, num)
	} else if strings.Contains(ek, "gcm") || ek == "null" {
		why = append(why, "no AEAD or null cipher in IKEv1")
		pol.note(at(encLine), Omitted, "encryption %s: IKEv1 has no such cipher; policy %d is left out", enc, num)
	} else if encLine > 0 {
		pol.note(encLine, Translated, "encryption %s → %s", encText, ek)
	}
	if !hok || hk == "" {
		why = append(why, "hash "+hash)
		pol.note(at(hashLine), Omitted, "hash %s: not known to ikegate; policy %d is left out", hash, num)
	} else if hashLine > 0 {
		pol.note(hashLine, Translated, "hash %s → %s", hash, hk)
	}
	if gw != "" {
		why = append(why, gw)
		pol.note(at(groupLine), Omitted, "group %s%s: %s; policy %d is left out", group, dflt(groupLine), gw, num)
	} else if groupLine > 0 {
		pol.note(groupLine, Translated, "group %s → %s", group, gk)
	}
	pol.auth = auth
	if len(why) == 0 {
		defaulted(encLine, "encryption", enc, ek)
		defaulted(hashLine, "hash", hash, hk)
		defaulted(groupLine, "DH group", "group "+group, gk)
		pol.prop = ek + "-" + hk + "-" + gk
		if auth == "pre-share" {
			pol.note(n.line, Translated, "%s %d → ike proposal %q%s", label, num, pol.prop, vendorWeak(pol.prop))
		}
	}
}

// v2Suite reads IKEv2 algorithm lists (IOS crypto ikev2 proposal, ASA
// crypto ikev2 policy) into s.props. Algorithms ikegate refuses are
// dropped from their list with a note; a list left empty drops the whole.
func (p *ciscoParser) v2Suite(s *ciscoSuiteDef, kids []*ciscoNode, asa bool) {
	var suite vendorSuite
	var encLine, integLine, groupLine int
	bad := false
	list := func(k *ciscoNode, what string, tr func(string) (string, string)) []string {
		var out, dropped, whys []string
		for _, w := range k.lw[1:] {
			kw, why := tr(w)
			switch {
			case why != "":
				dropped = append(dropped, w+": "+why)
				whys = append(whys, why)
			case kw != "":
				out = append(out, kw)
			}
		}
		switch {
		case len(dropped) > 0 && len(out) > 0:
			s.note(k.line, Approximated, "%s %s → %s; dropped %s", what, strings.Join(k.lw[1:], " "), strings.Join(out, ", "), strings.Join(dropped, "; "))
		case len(dropped) > 0:
			s.note(k.line, Omitted, "%s %s: %s; %s is left out", what, strings.Join(k.lw[1:], " "), strings.Join(whys, "; "), s.what)
			bad = true
		case len(out) > 0:
			s.note(k.line, Translated, "%s %s → %s", what, strings.Join(k.lw[1:], " "), strings.Join(out, ", "))
		default:
			s.note(k.line, Translated, "%s %s: none (AEAD ciphers need none)", what, strings.Join(k.lw[1:], " "))
		}
		return out
	}
	hash := func(w string) (string, string) {
		k, ok := ciscoHashes[w]
		if !ok {
			return "", "unknown"
		}
		return k, ""
	}
	for _, k := range kids {
		switch {
		case k.has("encryption") && len(k.w) > 1:
			suite.Enc, encLine = list(k, "encryption", ciscoCipher), k.line
		case k.has("integrity") && len(k.w) > 1:
			suite.Integ, integLine = list(k, "integrity", hash), k.line
		case k.has("prf") && len(k.w) > 1:
			suite.PRF = list(k, "prf", func(w string) (string, string) {
				h, why := hash(w)
				if h != "" {
					h = "prf" + h
				}
				return h, why
			})
		case k.has("group") && len(k.w) > 1:
			suite.DH, groupLine = list(k, "group", vendorDH), k.line
		case asa && k.has("lifetime") && len(k.w) > 2:
			if v, ok := vendorAtoi(k.arg(2)); ok {
				s.lifetime, s.lifeLine = v, k.line
			} else {
				s.note(k.line, Omitted, "%s: not a number", k.show())
			}
		default:
			s.note(k.line, Omitted, "%s: not understood here", k.show())
		}
	}
	if encLine == 0 || groupLine == 0 || integLine == 0 && !vendorAllAEAD(suite.Enc) {
		s.note(s.line, Omitted, "%s: incomplete (an encryption, integrity and group line are needed); left out", s.what)
		return
	}
	if bad {
		return
	}
	props, notes, err := suite.proposals(false)
	if err != nil {
		s.note(s.line, Omitted, "%s: %v; left out", s.what, err)
		return
	}
	for _, m := range notes {
		s.note(s.line, Approximated, "%s: %s", s.what, m)
	}
	s.props = props
	weak := ""
	for _, pr := range props {
		weak += vendorWeak(pr)
	}
	s.note(s.line, Translated, "%s → ike %s%s", s.what, tomlList(props), weak)
}

// v2PolicyIOS reads an IOS crypto ikev2 policy: proposals and local
// addresses.
func (p *ciscoParser) v2PolicyIOS(n *ciscoNode) {
	pol := &ciscoV2Policy{vendorDef: vendorDef{line: n.line, what: "IKEv2 policy " + n.arg(3), why: "no IKEv2 connection uses it"}, name: n.arg(3)}
	for _, k := range n.kids {
		switch {
		case k.has("proposal") && len(k.w) > 1:
			pol.proposals = append(pol.proposals, k.arg(1))
			pol.note(k.line, Translated, "proposal %s → the connections' ike", k.arg(1))
		case k.has("match", "address", "local") && len(k.w) > 3:
			pol.local = append(pol.local, k.arg(3))
			pol.note(k.line, Translated, "match address local %s: used for connections from that address", k.arg(3))
		case k.has("match", "fvrf"):
			pol.note(k.line, Approximated, "%s: ikegate has no VRFs; ignored", k.show())
		default:
			pol.note(k.line, Omitted, "%s: not understood in an IKEv2 policy", k.show())
		}
	}
	p.v2Policies = append(p.v2Policies, pol)
	p.def(&pol.vendorDef)
}

// v2PolicyASA reads an ASA crypto ikev2 policy: algorithm lists.
func (p *ciscoParser) v2PolicyASA(n *ciscoNode) {
	s := &ciscoSuiteDef{vendorDef: vendorDef{line: n.line, what: "IKEv2 policy " + n.arg(3), why: "no IKEv2 connection uses it"}, name: n.arg(3)}
	p.v2Suite(s, n.kids, true)
	p.v2ASA = append(p.v2ASA, s)
	p.def(&s.vendorDef)
}

// transformSet reads a transform set: IOS "crypto ipsec transform-set N
// esp-aes 256 esp-sha-hmac" with a "mode" sub-command; ASA "crypto ipsec
// ikev1 transform-set N esp-aes-256 esp-sha-hmac", its mode on a line of
// its own.
func (p *ciscoParser) transformSet(n *ciscoNode) {
	at := 3
	if n.larg(2) == "ikev1" {
		at = 4
	}
	name := n.arg(at)
	words := n.lw[at+1:]
	s := p.tsets[name]
	if len(words) >= 2 && words[0] == "mode" {
		// ASA: "crypto ipsec ikev1 transform-set N mode transport".
		if s == nil {
			p.note(n.line, Omitted, "%s: no transform set %s above", n.show(), name)
			return
		}
		s.transport, s.modeLine = words[1] == "transport", n.line
		s.note(n.line, Translated, "mode %s → mode = %q", words[1], words[1])
		return
	}
	s = &ciscoSuiteDef{vendorDef: vendorDef{line: n.line, what: "transform set " + name, why: "no imported crypto map entry sets it"}, name: name}
	p.tsets[name] = s
	p.def(&s.vendorDef)
	var suite vendorSuite
	var why, dropped []string
	for i := 0; i < len(words); i++ {
		w := words[i]
		bits := ""
		if i+1 < len(words) && (words[i+1] == "128" || words[i+1] == "192" || words[i+1] == "256") {
			bits = words[i+1]
		}
		switch {
		case w == "esp-aes" || w == "esp-gcm" || w == "esp-gmac":
			if bits != "" {
				i++
				w += "-" + bits
			}
			fallthrough
		case strings.HasPrefix(w, "esp-") && !strings.HasSuffix(w, "-hmac") && w != "esp-none":
			k, e := ciscoCipher(strings.TrimPrefix(w, "esp-"))
			if e != "" {
				why = append(why, w+": "+e)
			} else {
				suite.Enc = append(suite.Enc, k)
			}
		case strings.HasSuffix(w, "-hmac") && strings.HasPrefix(w, "esp-"):
			h, ok := ciscoHashes[strings.TrimSuffix(strings.TrimPrefix(w, "esp-"), "-hmac")]
			if !ok || h == "" {
				why = append(why, w+": unknown integrity algorithm")
			} else {
				suite.Integ = append(suite.Integ, h)
			}
		case w == "esp-none":
		case strings.HasPrefix(w, "ah-"):
			why = append(why, w+": AH is not supported by ikegate (ESP only)")
		case strings.HasPrefix(w, "comp-"):
			dropped = append(dropped, w+" (IP compression is not supported by ikegate)")
		default:
			why = append(why, w+": unknown transform")
		}
	}
	for _, k := range n.kids {
		switch {
		case k.has("mode") && len(k.w) > 1:
			s.transport, s.modeLine = k.lw[1] == "transport", k.line
			s.note(k.line, Translated, "mode %s → mode = %q", k.lw[1], k.lw[1])
		default:
			s.note(k.line, Omitted, "%s: not understood in a transform set", k.show())
		}
	}
	if len(why) > 0 {
		s.note(n.line, Omitted, "transform set %s: %s; left out", name, strings.Join(why, "; "))
		return
	}
	if len(suite.Enc) != 1 || len(suite.Integ) > 1 {
		s.note(n.line, Omitted, "transform set %s: needs one ESP cipher and at most one integrity algorithm; left out", name)
		return
	}
	props, _, err := suite.proposals(true)
	if err != nil {
		s.note(n.line, Omitted, "transform set %s: %v; left out", name, err)
		return
	}
	s.props = props
	if len(dropped) > 0 {
		s.note(n.line, Approximated, "transform set %s → esp %q; dropped: %s", name, props[0], strings.Join(dropped, ", "))
	} else {
		s.note(n.line, Translated, "transform set %s → esp %q%s", name, props[0], vendorWeak(props[0]))
	}
}

// ipsecProposal reads an ASA crypto ipsec ikev2 ipsec-proposal.
func (p *ciscoParser) ipsecProposal(s *ciscoSuiteDef, n *ciscoNode) {
	var suite vendorSuite
	var encLine int
	for _, k := range n.kids {
		var kind string
		switch {
		case k.has("protocol", "esp", "encryption"):
			kind = "encryption"
			encLine = k.line
		case k.has("protocol", "esp", "integrity"):
			kind = "integrity"
		default:
			s.note(k.line, Omitted, "%s: not understood in an IPsec proposal (ikegate does ESP only)", k.show())
			continue
		}
		var out, dropped, whys []string
		for _, w := range k.lw[3:] {
			var kw, why string
			if kind == "encryption" {
				kw, why = ciscoCipher(w)
			} else if h, ok := ciscoHashes[w]; ok {
				kw = h
			} else {
				why = "unknown"
			}
			switch {
			case why != "":
				dropped = append(dropped, w+": "+why)
				whys = append(whys, why)
			case kw != "":
				out = append(out, kw)
			}
		}
		if kind == "encryption" {
			suite.Enc = append(suite.Enc, out...)
		} else {
			suite.Integ = append(suite.Integ, out...)
		}
		words := strings.Join(k.lw[3:], " ")
		switch {
		case len(dropped) > 0 && len(out) > 0:
			s.note(k.line, Approximated, "%s %s → %s; dropped %s", kind, words, strings.Join(out, ", "), strings.Join(dropped, "; "))
		case len(dropped) > 0:
			s.note(k.line, Omitted, "%s %s: %s", kind, words, strings.Join(whys, "; "))
		case len(out) > 0:
			s.note(k.line, Translated, "%s %s → %s", kind, words, strings.Join(out, ", "))
		default:
			s.note(k.line, Translated, "%s %s: none (AEAD ciphers need none)", kind, words)
		}
	}
	if encLine == 0 || len(suite.Enc) == 0 {
		s.note(n.line, Omitted, "%s: no usable encryption; left out", s.what)
		return
	}
	// An integrity list applies to the CBC ciphers; AEAD ones need none.
	props, _, err := suite.proposals(true)
	if err != nil {
		s.note(n.line, Omitted, "%s: %v; left out", s.what, err)
		return
	}
	s.props = props
	weak := ""
	for _, pr := range props {
		weak += vendorWeak(pr)
	}
	s.note(n.line, Translated, "%s → esp %s%s", s.what, tomlList(props), weak)
}

// ciscoKeyText reads "[0|6|7] KEY" from words: the key, or why it cannot
// be read.
func ciscoKeyText(w []string) (string, string) {
	switch {
	case len(w) == 0:
		return "", "no key given"
	case len(w) >= 2 && w[0] == "0":
		return w[1], ""
	case len(w) >= 2 && (w[0] == "6" || w[0] == "7"):
		return "", "stored encrypted (type " + w[0] + ") and cannot be recovered here"
	case w[0] == "*****" || strings.Trim(w[0], "*") == "":
		return "", "masked in the configuration (`show running-config` prints ***** for keys; `more system:running-config` shows them)"
	}
	return w[0], ""
}

// isakmpKey reads "crypto isakmp key [0|6] KEY address A [M] [no-xauth]"
// or "... hostname H".
func (p *ciscoParser) isakmpKey(n *ciscoNode) {
	k := &ciscoKey{vendorDef: vendorDef{line: n.line, what: "crypto isakmp key", why: "no connection's peer is in its range"}, keyLine: n.line}
	at := -1
	for i := 3; i < len(n.lw); i++ {
		if n.lw[i] == "address" || n.lw[i] == "hostname" {
			at = i
			break
		}
	}
	if at < 0 {
		p.note(n.line, Omitted, "%s: not understood (no address or hostname)", n.show())
		return
	}
	k.key, k.hidden = ciscoKeyText(n.w[3:at])
	if !p.keyTarget(k, n.lw[at:], n.w[at:]) {
		p.note(n.line, Omitted, "%s: not understood", n.show())
		return
	}
	p.keys = append(p.keys, k)
	p.def(&k.vendorDef)
}

// keyTarget reads "address A [M]", "address ipv6 A/L" or "hostname H".
func (p *ciscoParser) keyTarget(k *ciscoKey, lw, w []string) bool {
	if len(w) < 2 {
		return false
	}
	if lw[0] == "hostname" {
		k.host = lw[1]
		return true
	}
	a := w[1]
	if strings.EqualFold(a, "ipv6") && len(w) > 2 {
		a = w[2]
	}
	if pf, err := netip.ParsePrefix(a); err == nil {
		k.prefix = pf.Masked()
		return true
	}
	addr, err := netip.ParseAddr(a)
	if err != nil {
		return false
	}
	bits := addr.BitLen()
	if len(w) > 2 {
		if b, ok := vendorMaskBits(w[2], false); ok {
			bits = b
		}
	}
	k.prefix = netip.PrefixFrom(addr, bits).Masked()
	return true
}

// keyring reads an IOS crypto keyring's pre-shared-key lines.
func (p *ciscoParser) keyring(n *ciscoNode) {
	name := n.arg(2)
	for _, c := range n.kids {
		if !c.has("pre-shared-key") {
			p.note(c.line, Omitted, "%s: not understood in a keyring", c.show())
			continue
		}
		k := &ciscoKey{vendorDef: vendorDef{line: c.line, what: "keyring " + name + " key", why: "no connection's peer matches it"}, keyLine: c.line, owner: n.line}
		at := -1
		for i := 1; i < len(c.lw); i++ {
			if c.lw[i] == "key" {
				at = i
				break
			}
		}
		if at < 0 || !p.keyTarget(k, c.lw[1:at], c.w[1:at]) {
			p.note(c.line, Omitted, "%s: not understood", c.show())
			continue
		}
		k.key, k.hidden = ciscoKeyText(c.w[at+1:])
		p.keyrings[name] = append(p.keyrings[name], k)
		p.def(&k.vendorDef)
	}
}

// v2Keyring reads an IOS crypto ikev2 keyring: peers with an address (or
// host name), an identity and symmetric or local/remote keys.
func (p *ciscoParser) v2Keyring(n *ciscoNode) {
	name := n.arg(3)
	for _, peer := range n.kids {
		if !peer.has("peer") {
			p.note(peer.line, Omitted, "%s: not understood in an IKEv2 keyring", peer.show())
			continue
		}
		k := &ciscoKey{vendorDef: vendorDef{line: peer.line, what: "IKEv2 keyring " + name + " peer " + peer.arg(1), why: "no connection's peer matches it"}, owner: n.line}
		for _, c := range peer.kids {
			switch {
			case c.has("address") && len(c.w) > 1:
				if !p.keyTarget(k, c.lw, c.w) {
					k.note(c.line, Omitted, "%s: not an address", c.show())
				} else {
					k.note(c.line, Translated, "address %s: the peer this key is for", k.prefix)
				}
			case c.has("hostname") && len(c.w) > 1:
				k.host = c.lw[1]
			case c.has("identity") && len(c.w) > 2:
				k.id = ciscoIdentity(c.lw[1], c.arg(2))
			case c.has("pre-shared-key") && len(c.w) > 1:
				w := c.w[1:]
				side := ""
				if c.larg(1) == "local" || c.larg(1) == "remote" {
					side, w = c.larg(1), w[1:]
				}
				key, hidden := ciscoKeyText(w)
				if hidden != "" {
					k.hidden = hidden
				}
				switch side {
				case "local":
					k.local = key
				case "remote":
					k.remote = key
				default:
					k.key = key
				}
				k.keyLine = c.line
			case c.has("description"):
			default:
				k.note(c.line, Omitted, "%s: not understood in a keyring peer", c.show())
			}
		}
		if k.key == "" && k.local != "" && k.local == k.remote {
			k.key = k.local
		}
		p.v2Keyrings[name] = append(p.v2Keyrings[name], k)
		p.def(&k.vendorDef)
	}
}

// ciscoIdentity writes a Cisco identity ("address A", "fqdn X", "email
// X", "key-id X") in ikegate's (strongSwan's) syntax.
func ciscoIdentity(kind, v string) string {
	switch kind {
	case "address", "ipv4-address", "ipv6-address":
		return v
	case "fqdn", "hostname":
		return "@" + v
	case "email", "user-fqdn":
		return v
	case "key-id":
		return "keyid:" + v
	}
	return ""
}

// cryptoMap records a crypto map or dynamic-map command (IOS entry with
// sub-commands, or an ASA one-liner).
func (p *ciscoParser) cryptoMap(n *ciscoNode, dynamic bool) {
	name := n.arg(2)
	seq, err := strconv.Atoi(n.arg(3))
	if err != nil {
		if dynamic {
			p.note(n.line, Omitted, "%s: not understood", n.show())
			return
		}
		p.mapCmds[name] = append(p.mapCmds[name], n)
		return
	}
	all := p.maps
	if dynamic {
		all = p.dynMaps
	}
	if all[name] == nil {
		all[name] = map[int]*ciscoEntry{}
	}
	e := all[name][seq]
	if e == nil {
		e = &ciscoEntry{mapName: name, seq: seq, line: n.line, dynamic: dynamic}
		all[name][seq] = e
	}
	rest := ciscoCmd{line: n.line, w: n.w[4:], lw: n.lw[4:]}
	switch {
	case rest.has("ipsec-isakmp", "dynamic") && len(rest.w) > 2:
		e.dynRef, e.refLine = rest.w[2], n.line
	case rest.has("ipsec-manual"):
		e.manual = true
	case rest.has("ipsec-isakmp") || len(rest.w) == 0:
	default:
		if p.d == ciscoIOS {
			p.note(n.line, Omitted, "%s: not understood", n.show())
		} else {
			e.cmds = append(e.cmds, rest)
		}
	}
	for _, k := range n.kids {
		e.cmds = append(e.cmds, ciscoCmd{line: k.line, w: k.w, lw: k.lw})
	}
}
