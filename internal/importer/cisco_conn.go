package importer

// Cisco IOS and ASA, second half: crypto map entries become connections,
// crypto ACLs selector pairs, remote-access groups [[group]], [[pool]]
// and [[user]] tables.

import (
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"ikegate/policy"
)

// ciscoLocal is where a crypto map is applied: the interface address.
type ciscoLocal struct {
	addr  string
	lines []int
}

// ciscoEntryConf is a crypto map entry's sub-commands, read.
type ciscoEntryConf struct {
	peers                   []string
	peerLine                int
	tsets                   []string // IOS set transform-set, ASA set ikev1 transform-set
	tsetLine                int
	tsetVerb                string
	v2props                 []string // ASA set ikev2 ipsec-proposal
	v2Line                  int
	pfs                     string // "" none, "default", else the group number
	pfsLine                 int
	lifeSec, lifeKB         int64
	lifeSecLine, lifeKBLine int
	kbOff                   int // line of "kilobytes disable|unlimited"
	acl                     string
	aclLine                 int
	v2prof, v1prof          string
	profLine                int
	connType                string
	connTypeLine            int
	natTOff, aggressive     int // lines
	lines                   []int
}

// build turns the crypto maps into connections.
func (p *ciscoParser) build() {
	dynUsed := map[string]bool{}
	for _, name := range ciscoSortedNames(p.maps) {
		loc := p.mapLocal(name)
		entries := p.maps[name]
		for _, seq := range ciscoSortedSeqs(entries) {
			e := entries[seq]
			if e.dynRef != "" {
				dynUsed[e.dynRef] = true
				p.dynamicEntry(e, loc)
				continue
			}
			p.staticEntry(e, loc)
		}
	}
	for _, name := range ciscoSortedNames(p.dynMaps) {
		if dynUsed[name] {
			continue
		}
		for _, seq := range ciscoSortedSeqs(p.dynMaps[name]) {
			p.note(p.dynMaps[name][seq].line, Omitted, "crypto dynamic-map %s %d: no crypto map refers to it (ipsec-isakmp dynamic %s); not imported", name, seq, name)
		}
	}
	for _, cmds := range p.mapCmds {
		for _, n := range cmds {
			if _, ok := p.maps[n.arg(2)]; !ok {
				p.note(n.line, Omitted, "%s: no crypto map %s entries", n.show(), n.arg(2))
			}
		}
	}
	if len(p.maps) == 0 {
		p.note(0, Omitted, "no crypto map: nothing ties the policies and keys to a peer, so no connection is written")
	}
}

// ciscoSortedNames lists the crypto maps by name.
func ciscoSortedNames(m map[string]map[int]*ciscoEntry) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// ciscoSortedSeqs lists a crypto map's entries by sequence number.
func ciscoSortedSeqs(m map[int]*ciscoEntry) []int {
	out := make([]int, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Ints(out)
	return out
}

// mapLocal finds the address of the interface a crypto map is applied
// to: IOS "crypto map NAME" under the interface (or "crypto map NAME
// local-address IF"), ASA "crypto map NAME interface IF".
func (p *ciscoParser) mapLocal(name string) ciscoLocal {
	var loc ciscoLocal
	use := func(f *ciscoIface, line int, how string) {
		if f == nil {
			p.note(line, Omitted, "crypto map %s: %s: no such interface here", name, how)
			return
		}
		if f.addr == "" {
			p.note(line, Approximated, "crypto map %s on interface %s, whose address is not in the configuration (DHCP?): local_addr left unset, gateway.listen = 0.0.0.0; set both by hand", name, f.name)
			loc.lines = append(loc.lines, line)
			return
		}
		p.note(line, Translated, "crypto map %s on interface %s → local_addr = %q", name, ciscoIfName(f), f.addr)
		p.note(f.addrLine, Translated, "interface %s address %s → local_addr of crypto map %s's connections", ciscoIfName(f), f.addr, name)
		loc.addr = f.addr
		loc.lines = append(loc.lines, line, f.addrLine)
	}
	for _, n := range p.mapCmds[name] {
		switch {
		case n.has("crypto", "map", "*", "interface") && len(n.w) > 4:
			if loc.addr == "" {
				use(p.ifaces[strings.ToLower(n.arg(4))], n.line, "interface "+n.arg(4))
			} else {
				p.note(n.line, Approximated, "crypto map %s also on interface %s: ikegate's connection has one local_addr (%s); add connections for this address by hand", name, n.arg(4), loc.addr)
			}
		case n.has("crypto", "map", "*", "local-address") && len(n.w) > 4:
			loc = ciscoLocal{}
			use(p.ifaces[strings.ToLower(n.arg(4))], n.line, "local-address "+n.arg(4))
			return loc
		}
	}
	if p.d == ciscoIOS {
		for _, f := range p.ifOrder {
			for _, m := range f.maps {
				if m.arg(2) != name {
					continue
				}
				if loc.addr == "" && len(loc.lines) == 0 {
					use(f, m.line, "interface "+f.name)
				} else {
					p.note(m.line, Approximated, "crypto map %s also on interface %s: ikegate's connection has one local_addr (%s); add connections for it by hand", name, f.name, loc.addr)
				}
			}
		}
	}
	if loc.addr == "" && len(loc.lines) == 0 {
		line := 0
		for _, seq := range ciscoSortedSeqs(p.maps[name]) {
			line = p.maps[name][seq].line
			break
		}
		p.note(line, Approximated, "crypto map %s is not applied to an interface here: local_addr left unset, gateway.listen = 0.0.0.0; set local_addr (the address the peer talks to) by hand", name)
	}
	return loc
}

// ciscoIfName names an interface as the configuration does (ASA: nameif).
func ciscoIfName(f *ciscoIface) string {
	if f.nameif != "" {
		return f.nameif
	}
	return f.name
}

// entryConf reads an entry's sub-commands (noting what is not imported).
func (p *ciscoParser) entryConf(e *ciscoEntry) *ciscoEntryConf {
	x := &ciscoEntryConf{lines: []int{e.line}}
	for _, c := range e.cmds {
		x.lines = append(x.lines, c.line)
		switch {
		case c.has("set", "peer") && len(c.w) > 2:
			for _, w := range c.w[2:] {
				if !strings.EqualFold(w, "default") && !strings.EqualFold(w, "dynamic") {
					x.peers = append(x.peers, w)
				}
			}
			if x.peerLine == 0 {
				x.peerLine = c.line
			}
		case c.has("set", "transform-set") && len(c.w) > 2:
			x.tsets, x.tsetLine, x.tsetVerb = append(x.tsets, c.w[2:]...), c.line, "set transform-set"
		case c.has("set", "ikev1", "transform-set") && len(c.w) > 3:
			x.tsets, x.tsetLine, x.tsetVerb = append(x.tsets, c.w[3:]...), c.line, "set ikev1 transform-set"
		case c.has("set", "ikev2", "ipsec-proposal") && len(c.w) > 3:
			x.v2props, x.v2Line = append(x.v2props, c.w[3:]...), c.line
		case c.has("set", "pfs"):
			x.pfs, x.pfsLine = "default", c.line
			if len(c.w) > 2 {
				x.pfs = strings.TrimPrefix(c.lw[2], "group")
			}
		case c.has("set", "security-association", "lifetime") && len(c.w) > 4:
			for i := 3; i+1 < len(c.lw); i += 2 {
				switch c.lw[i] {
				case "seconds":
					if v, ok := vendorAtoi(c.lw[i+1]); ok {
						x.lifeSec, x.lifeSecLine = v, c.line
					}
				case "kilobytes":
					if v, ok := vendorAtoi(c.lw[i+1]); ok {
						x.lifeKB, x.lifeKBLine = v, c.line
					} else if c.lw[i+1] == "disable" || c.lw[i+1] == "unlimited" {
						x.kbOff = c.line
					}
				case "days":
					if v, ok := vendorAtoi(c.lw[i+1]); ok {
						x.lifeSec, x.lifeSecLine = v*86400, c.line
					}
				}
			}
		case c.has("match", "address") && len(c.w) > 2:
			x.acl, x.aclLine = c.w[2], c.line
		case c.has("set", "ikev2-profile") && len(c.w) > 2:
			x.v2prof, x.profLine = c.w[2], c.line
		case c.has("set", "isakmp-profile") && len(c.w) > 2:
			x.v1prof, x.profLine = c.w[2], c.line
		case c.has("set", "connection-type") && len(c.w) > 2:
			x.connType, x.connTypeLine = c.lw[2], c.line
		case c.has("set", "nat-t-disable"):
			x.natTOff = c.line
		case c.has("set", "ikev1", "phase1-mode") && len(c.w) > 3:
			if c.lw[3] == "aggressive" {
				x.aggressive = c.line
			} else {
				p.note(c.line, Translated, "phase1-mode %s → ikev1_mode = \"main\" (the default)", c.lw[3])
			}
		case c.has("set", "reverse-route") || c.has("reverse-route"):
			p.note(c.line, Omitted, "%s: ikegate adds no routes; route the remote networks to this host yourself", c.show())
		case c.has("description"):
			p.note(c.line, Translated, "description: not carried over (the connection's comment names this line)")
		case c.has("set", "security-association", "idle-time"):
			p.note(c.line, Omitted, "%s: ikegate has no idle timeout for site-to-site SAs (pools and groups have idle_timeout for remote access)", c.show())
		case c.has("set", "security-association", "replay"):
			p.note(c.line, Omitted, "%s: ikegate's replay window is fixed", c.show())
		case c.has("set", "trustpoint") || c.has("set", "ikev1", "trust-point"):
			p.note(c.line, Omitted, "%s: certificates are not imported", c.show())
		default:
			p.note(c.line, Omitted, "%s: no ikegate equivalent", c.show())
		}
	}
	return x
}

// staticEntry turns a crypto map entry with a peer into a connection.
func (p *ciscoParser) staticEntry(e *ciscoEntry, loc ciscoLocal) {
	what := fmt.Sprintf("crypto map %s %d", e.mapName, e.seq)
	if e.manual {
		p.note(e.line, Omitted, "%s: manually keyed (ipsec-manual); ikegate negotiates every SA with IKE", what)
		return
	}
	x := p.entryConf(e)
	var missing []string
	if len(x.peers) == 0 {
		missing = append(missing, "set peer")
	}
	if x.acl == "" {
		missing = append(missing, "match address")
	}
	if len(x.tsets) == 0 && len(x.v2props) == 0 {
		missing = append(missing, "a transform set")
	}
	if len(missing) > 0 {
		p.note(e.line, Omitted, "%s is incomplete (no %s), so %s does not use it either; not imported", what, strings.Join(missing, ", "), p.d)
		return
	}
	c := &Conn{}
	lines := append([]int{}, x.lines...)
	if !p.selectors(c, x.acl, x.aclLine, &lines) {
		p.note(e.line, Omitted, "%s: no usable selectors in access list %s; not imported", what, x.acl)
		return
	}
	c.Name = vendorName(p.names, e.mapName+"-"+strconv.Itoa(e.seq))
	lines = append(lines, loc.lines...)
	c.LocalAddr = loc.addr

	peer := x.peers[0]
	addr, err := netip.ParseAddr(peer)
	if err != nil {
		p.note(x.peerLine, Omitted, "set peer %s: not an address; ikegate needs the peer's address in remote_addr (fill it in)", peer)
	} else {
		c.RemoteAddr = addr.Unmap().String()
		p.note(x.peerLine, Translated, "set peer %s → remote_addr = %q", peer, c.RemoteAddr)
	}
	if len(x.peers) > 1 {
		p.note(x.peerLine, Approximated, "backup peers %s: ikegate's connection has one remote_addr; copy the connection for each backup peer if you need them", strings.Join(x.peers[1:], ", "))
	}
	p.note(e.line, Translated, "%s → connection %q", what, c.Name)

	switch {
	case p.d == ciscoIOS && x.v2prof != "":
		p.iosV2(c, x, addr, &lines)
	case p.d == ciscoIOS:
		p.iosV1(c, x, addr, &lines)
	default:
		p.asaPeer(c, x, peer, &lines)
	}
	p.esp(c, x, &lines)
	p.lifetimes(c, x, &lines)
	switch {
	case x.connType == "answer-only":
		p.note(x.connTypeLine, Translated, "connection-type answer-only → start = \"none\" (respond only)")
	case c.LocalAddr != "" && c.RemoteAddr != "":
		c.Start, c.DPDAction = "start", "restart"
		p.note(e.line, Approximated, "%s negotiates when traffic matches; ikegate's on-traffic start (start = \"trap\") needs dataplane = \"xfrm\": start = \"start\" and dpd_action = \"restart\" bring the tunnel up at startup and again after the peer is lost", p.d)
		if x.connType != "" {
			p.note(x.connTypeLine, Translated, "connection-type %s: ikegate initiates and answers", x.connType)
		}
	default:
		p.note(e.line, Approximated, "start left at \"none\" (respond only): initiating needs local_addr and remote_addr")
	}
	c.Lines = vendorSortedUnique(lines)
	p.r.Conns = append(p.r.Conns, c)
}

// iosV1 fills an IKEv1 connection of an IOS crypto map entry: the key
// for the peer (ISAKMP profile keyring, crypto isakmp key, keyrings), the
// ISAKMP policies, identity and DPD.
func (p *ciscoParser) iosV1(c *Conn, x *ciscoEntryConf, peer netip.Addr, lines *[]int) {
	c.Version = "ikev1"
	var keys []*ciscoKey
	var dpd *ciscoNode
	if x.v1prof != "" {
		prof := p.v1Profiles[x.v1prof]
		if prof == nil {
			p.note(x.profLine, Omitted, "set isakmp-profile %s: no such profile", x.v1prof)
		} else {
			prof.used = true
			*lines = append(*lines, prof.line)
			p.note(x.profLine, Translated, "set isakmp-profile %s: its keyring, identities and keepalive are used", x.v1prof)
			for _, k := range prof.n.kids {
				*lines = append(*lines, k.line)
				switch {
				case k.has("keyring") && len(k.w) > 1:
					keys = p.keyrings[k.arg(1)]
					if keys == nil {
						p.note(k.line, Omitted, "keyring %s: no such crypto keyring", k.arg(1))
					}
				case k.has("match", "identity", "address") && len(k.w) > 3:
					p.note(k.line, Translated, "match identity address %s: the peer's ID is its address (ikegate's default remote_id)", k.arg(3))
				case k.has("match", "identity", "host") && len(k.w) > 3:
					c.RemoteID = "@" + k.arg(3)
					p.note(k.line, Translated, "match identity host %s → remote_id = %q", k.arg(3), c.RemoteID)
				case k.has("self-identity") && len(k.w) > 1:
					p.selfIdentity(c, k)
				case k.has("keepalive") && len(k.w) > 1:
					dpd = k
				case k.has("initiate", "mode", "aggressive"):
					c.IKEv1Mode = "aggressive"
					p.note(k.line, Translated, "initiate mode aggressive → ikev1_mode = \"aggressive\" (with a PSK and no XAUTH ikegate refuses it unless allow_aggressive_psk = true: decide and set it)")
				case k.has("description"):
				default:
					p.note(k.line, Omitted, "%s: not imported (ISAKMP profile)", k.show())
				}
			}
		}
	}
	if keys == nil {
		keys = p.keys
		for _, name := range ciscoSortedKeyrings(p.keyrings) {
			keys = append(keys, p.keyrings[name]...)
		}
	}
	c.Auth = "psk"
	p.usePSK(c, ciscoFindKey(keys, peer), peer, lines, x.peerLine)
	p.v1IKE(c, lines)
	if c.LocalID == "" {
		p.localIdentity(c, lines)
	}
	if dpd == nil {
		dpd = p.keepalive
	}
	p.dpd(c, dpd, lines)
}

// ciscoSortedKeyrings lists the keyrings by name.
func ciscoSortedKeyrings(m map[string][]*ciscoKey) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// ciscoFindKey picks the key whose range holds peer most narrowly.
func ciscoFindKey(keys []*ciscoKey, peer netip.Addr) *ciscoKey {
	var best *ciscoKey
	if !peer.IsValid() {
		return nil
	}
	for _, k := range keys {
		if k.prefix.IsValid() && k.prefix.Contains(peer) && (best == nil || k.prefix.Bits() > best.prefix.Bits()) {
			best = k
		}
	}
	return best
}

// usePSK puts key's secret into c, or says why there is none.
func (p *ciscoParser) usePSK(c *Conn, k *ciscoKey, peer netip.Addr, lines *[]int, line int) {
	if k == nil {
		why := "no pre-shared key for the peer in the configuration"
		for _, pol := range p.v1Policies {
			if pol.auth == "rsa-sig" && c.Version == "ikev1" {
				why += "; certificate authentication (rsa-sig) is not imported"
				break
			}
		}
		p.note(line, Omitted, "connection %s: %s: fill in psk (or set auth = \"pubkey\" with cert, key and ca)", c.Name, why)
		return
	}
	k.used = true
	*lines = append(*lines, k.keyLine, k.owner)
	if k.hidden != "" {
		p.note(k.keyLine, Omitted, "pre-shared key for %s: %s; fill in psk for connection %s by hand", k.prefix, k.hidden, c.Name)
		return
	}
	key := k.key
	if key == "" {
		switch {
		case k.local != "" && k.remote != "":
			p.note(k.keyLine, Omitted, "different local and remote pre-shared keys: ikegate uses one psk both ways; agree on one key with the peer and fill it in for connection %s", c.Name)
			return
		case k.remote != "":
			key = k.remote
		default:
			key = k.local
		}
	}
	psk, hexed := vendorPSK(key)
	c.PSK = psk
	how := ""
	if hexed {
		how = " (written as 0x + hex: ikegate would decode a key starting with 0x or 0s)"
	}
	p.note(k.keyLine, Translated, "pre-shared key for %s → psk of connection %s%s (written only to the --out file)", ciscoKeyFor(k, peer), c.Name, how)
}

// ciscoKeyFor says which peer (or range) a key is for, for the report.
func ciscoKeyFor(k *ciscoKey, peer netip.Addr) string {
	if k.prefix.IsValid() && k.prefix.Bits() < k.prefix.Addr().BitLen() {
		return fmt.Sprintf("%s (used for %s)", k.prefix, peer)
	}
	if k.prefix.IsValid() {
		return k.prefix.Addr().String()
	}
	return peer.String()
}

// v1IKE sets the IKEv1 proposals from the ISAKMP policies with pre-shared
// keys, in priority order, and the IKE lifetime of the first.
func (p *ciscoParser) v1IKE(c *Conn, lines *[]int) {
	pols := append([]*ciscoIKEv1Policy{}, p.v1Policies...)
	sort.SliceStable(pols, func(i, j int) bool { return pols[i].num < pols[j].num })
	var life *ciscoIKEv1Policy
	for _, pol := range pols {
		pol.used = true // the notes of those left out say why
		if pol.prop == "" || pol.auth != "pre-share" {
			continue
		}
		c.IKE = append(c.IKE, pol.prop)
		*lines = append(*lines, pol.line)
		if life == nil {
			life = pol
		}
	}
	if len(c.IKE) == 0 {
		p.note(0, Approximated, "connection %s: no ISAKMP policy ikegate can use with a pre-shared key: ikegate's default ike proposal (aes256-sha256-modp2048) is written in; the peer must accept it", c.Name)
		return
	}
	sec := int64(86400) // Cisco's default ISAKMP lifetime
	line := 0
	if life.lifeLine > 0 {
		sec, line = life.lifetime, life.lifeLine
	}
	v, why := vendorClamp(sec, vendorMinLifetime, vendorMaxLifetime)
	switch {
	case why != "":
		life.note(max(line, life.line), Approximated, "ISAKMP lifetime → ike_lifetime: %s", why)
	case line == 0:
		life.note(life.line, Translated, "no lifetime given: %s's default 86400 s → ike_lifetime = \"24h\"", p.d)
	default:
		life.note(line, Translated, "lifetime %d → ike_lifetime = %q", sec, vendorDuration(v))
	}
	c.IKELifetime = vendorDuration(v)
	eff := func(pol *ciscoIKEv1Policy) int64 {
		if pol.lifeLine > 0 {
			return pol.lifetime
		}
		return 86400
	}
	for _, pol := range pols {
		if pol != life && pol.prop != "" && pol.auth == "pre-share" && eff(pol) != eff(life) {
			pol.note(max(pol.lifeLine, pol.line), Approximated, "lifetime %d s: ikegate has one ike_lifetime per connection; policy %d's (%s) is used", eff(pol), life.num, c.IKELifetime)
		}
	}
}

// localIdentity applies crypto isakmp identity.
func (p *ciscoParser) localIdentity(c *Conn, lines *[]int) {
	n := p.identity
	if n == nil {
		return
	}
	*lines = append(*lines, n.line)
	switch n.larg(3) {
	case "address", "auto":
		p.note(n.line, Translated, "identity %s → local_id is local_addr (ikegate's default)", n.larg(3))
	case "hostname":
		if p.hostname == "" {
			p.note(n.line, Omitted, "identity hostname: no hostname in the configuration; set local_id by hand")
			return
		}
		fqdn := p.hostname
		if p.domain != "" {
			fqdn += "." + p.domain
			*lines = append(*lines, p.domainLine)
		}
		*lines = append(*lines, p.hostLine)
		c.LocalID = "@" + fqdn
		p.note(n.line, Translated, "identity hostname → local_id = %q (hostname and domain name)", c.LocalID)
	case "key-id":
		if len(n.w) > 4 {
			c.LocalID = "keyid:" + n.arg(4)
			p.note(n.line, Translated, "identity key-id → local_id = %q", c.LocalID)
		}
	default:
		p.note(n.line, Omitted, "%s: certificate identities are not imported", n.show())
	}
}

// selfIdentity applies an ISAKMP profile's self-identity.
func (p *ciscoParser) selfIdentity(c *Conn, k *ciscoNode) {
	switch {
	case k.larg(1) == "address":
		p.note(k.line, Translated, "self-identity address → local_id is local_addr (ikegate's default)")
	case (k.larg(1) == "fqdn" || k.larg(1) == "user-fqdn") && len(k.w) > 2:
		c.LocalID = ciscoIdentity(k.larg(1), k.arg(2))
		p.note(k.line, Translated, "self-identity %s → local_id = %q", k.larg(1), c.LocalID)
	case k.larg(1) == "fqdn":
		var lines []int
		p.localIdentity(c, &lines)
	default:
		p.note(k.line, Omitted, "%s: not imported", k.show())
	}
}

// dpd applies a keepalive/DPD command: IOS "crypto isakmp keepalive N [R]
// [periodic|on-demand]", ISAKMP profile "keepalive N retry R", IKEv2
// "dpd N R on-demand|periodic", ASA "isakmp keepalive threshold N retry R".
// Cisco declares a peer dead after five unanswered retries R seconds
// apart: dpd_timeout = 5 × R.
func (p *ciscoParser) dpd(c *Conn, n *ciscoNode, lines *[]int) {
	if n == nil {
		return
	}
	var nums []int64
	mode := ""
	for _, w := range n.lw {
		if v, ok := vendorAtoi(w); ok {
			nums = append(nums, v)
		} else if w == "periodic" || w == "on-demand" || w == "disable" {
			mode = w
		}
	}
	*lines = append(*lines, n.line)
	if mode == "disable" {
		p.note(n.line, Omitted, "keepalives off: ikegate always probes an idle peer (dpd_delay); its defaults apply")
		return
	}
	if len(nums) == 0 {
		p.note(n.line, Omitted, "%s: no interval", n.show())
		return
	}
	retry := int64(2)
	if len(nums) > 1 {
		retry = nums[1]
	}
	d, t, why := vendorDPD(nums[0], 5*retry)
	c.DPDDelay, c.DPDTimeout = d, t
	how := fmt.Sprintf("dpd_delay = %q, dpd_timeout = %q (Cisco gives up after 5 retries %d s apart)", d, t, retry)
	if why != "" {
		how += "; " + why
	}
	if mode == "periodic" {
		how += "; periodic: ikegate probes only an idle peer, like on-demand"
	}
	p.note(n.line, Approximated, "%s → %s", ciscoShow(n.w), how)
}

// iosV2 fills an IKEv2 connection of an IOS crypto map entry from its
// IKEv2 profile: identities, authentication and keys, lifetime, DPD; and
// the IKEv2 policies' proposals.
func (p *ciscoParser) iosV2(c *Conn, x *ciscoEntryConf, peer netip.Addr, lines *[]int) {
	c.Version = "ikev2"
	c.Auth = "psk"
	prof := p.v2Profiles[x.v2prof]
	p.note(x.profLine, Translated, "set ikev2-profile %s → version = \"ikev2\"", x.v2prof)
	var dpd *ciscoNode
	var keys []*ciscoKey
	var localKey, remoteKey string
	var localLine, remoteLine int
	if prof == nil {
		p.note(x.profLine, Omitted, "IKEv2 profile %s is not defined: no identities or keys", x.v2prof)
	} else {
		prof.used = true
		*lines = append(*lines, prof.line)
		for _, k := range prof.n.kids {
			*lines = append(*lines, k.line)
			switch {
			case k.has("match", "identity", "remote") && len(k.w) > 4:
				p.v2RemoteID(c, k, peer)
			case k.has("match", "identity", "remote", "any"):
				c.RemoteID = "%any"
				p.note(k.line, Translated, "match identity remote any → remote_id = \"%%any\"")
			case k.has("match", "address", "local"):
				p.note(k.line, Translated, "%s: the connection's local_addr", k.show())
			case k.has("match", "fvrf") || k.has("match", "certificate"):
				p.note(k.line, Approximated, "%s: ignored (ikegate has no VRFs; certificates are not imported)", k.show())
			case k.has("identity", "local") && len(k.w) > 3:
				c.LocalID = ciscoIdentity(k.larg(2), k.arg(3))
				if c.LocalID == "" {
					p.note(k.line, Omitted, "%s: not imported", k.show())
				} else {
					p.note(k.line, Translated, "identity local %s %s → local_id = %q", k.larg(2), k.arg(3), c.LocalID)
				}
			case k.has("identity", "local", "dn"):
				p.note(k.line, Omitted, "identity local dn: certificate identities are not imported")
			case k.has("authentication", "*", "pre-share"):
				key := ""
				if len(k.w) > 4 && k.larg(3) == "key" {
					var hidden string
					key, hidden = ciscoKeyText(k.w[4:])
					if hidden != "" {
						p.note(k.line, Omitted, "authentication %s pre-share key: %s; fill in psk for connection %s", k.larg(1), hidden, c.Name)
						key = "-"
					}
				}
				if k.larg(1) == "local" {
					localKey, localLine = key, k.line
				} else {
					remoteKey, remoteLine = key, k.line
				}
				p.note(k.line, Translated, "authentication %s pre-share → auth = \"psk\"", k.larg(1))
			case k.has("authentication"):
				p.note(k.line, Omitted, "%s: only pre-shared keys are imported (certificates, EAP: by hand)", k.show())
			case k.has("keyring", "local") && len(k.w) > 2:
				keys = p.v2Keyrings[k.arg(2)]
				if keys == nil {
					p.note(k.line, Omitted, "keyring local %s: no such IKEv2 keyring", k.arg(2))
				} else {
					p.note(k.line, Translated, "keyring local %s: the peer's key comes from it", k.arg(2))
				}
			case k.has("lifetime") && len(k.w) > 1:
				if v, ok := vendorAtoi(k.arg(1)); ok {
					c.IKELifetime = vendorLifetime(p.r, k.line, "ike_lifetime", "lifetime "+k.arg(1), v)
				}
			case k.has("dpd"):
				dpd = k
			case k.has("nat", "keepalive") && len(k.w) > 2:
				if p.natKeepalive == nil {
					p.natKeepalive = k
				}
			case k.has("description"):
			default:
				p.note(k.line, Omitted, "%s: not imported (IKEv2 profile: remote access, VTI and AAA settings are not)", k.show())
			}
		}
	}
	switch {
	case localKey != "" && remoteKey != "" && localKey != remoteKey && localKey != "-" && remoteKey != "-":
		p.note(remoteLine, Omitted, "different local and remote pre-shared keys: ikegate uses one psk both ways; agree on one with the peer and fill it in for connection %s", c.Name)
	case remoteKey != "" && remoteKey != "-" || localKey != "" && localKey != "-":
		key, line := remoteKey, remoteLine
		if key == "" || key == "-" {
			key, line = localKey, localLine
		}
		psk, _ := vendorPSK(key)
		c.PSK = psk
		p.note(line, Translated, "pre-shared key → psk of connection %s (written only to the --out file)", c.Name)
	default:
		k := ciscoFindKey(keys, peer)
		if k == nil && c.RemoteID != "" {
			for _, kk := range keys {
				if kk.id == c.RemoteID {
					k = kk
				}
			}
		}
		if remoteKey == "-" || localKey == "-" {
			break
		}
		p.usePSK(c, k, peer, lines, max(x.profLine, remoteLine))
	}
	// Proposals: the IKEv2 policies for this local address (or for any).
	var found bool
	for _, pol := range p.v2Policies {
		match := len(pol.local) == 0
		for _, a := range pol.local {
			match = match || a == c.LocalAddr
		}
		if !match {
			continue
		}
		found = true
		pol.used = true
		*lines = append(*lines, pol.line)
		for _, name := range pol.proposals {
			s := p.v2Proposals[name]
			if s == nil {
				pol.note(pol.line, Omitted, "proposal %s is not defined", name)
				continue
			}
			s.used = true
			*lines = append(*lines, s.line)
			c.IKE = append(c.IKE, s.props...)
		}
	}
	if !found || len(c.IKE) == 0 {
		p.note(x.profLine, Approximated, "no IKEv2 policy with a usable proposal for this connection: IOS would use its default proposal; ikegate's default ike (aes256-sha256-modp2048) is written in")
	}
	if dpd == nil {
		dpd = p.v2dpd
	}
	p.dpd(c, dpd, lines)
}

// v2RemoteID reads "match identity remote address|fqdn|email|key-id ...".
func (p *ciscoParser) v2RemoteID(c *Conn, k *ciscoNode, peer netip.Addr) {
	kind, v := k.larg(3), k.arg(4)
	domain := false
	if (kind == "fqdn" || kind == "email") && strings.EqualFold(v, "domain") && len(k.w) > 5 {
		domain, v = true, k.arg(5)
	}
	switch {
	case kind == "address":
		a, err := netip.ParseAddr(v)
		bits := 32
		if len(k.w) > 5 {
			if b, ok := vendorMaskBits(k.arg(5), false); ok {
				bits = b
			}
		}
		switch {
		case err == nil && a == peer && (bits == 32 || len(k.w) == 5):
			p.note(k.line, Translated, "match identity remote address %s: the peer's address (ikegate's default remote_id)", v)
		case err == nil && bits == a.BitLen():
			c.RemoteID = a.String()
			p.note(k.line, Translated, "match identity remote address %s → remote_id = %q", v, c.RemoteID)
		default:
			p.note(k.line, Approximated, "match identity remote address %s: ikegate's remote_id takes one address, not a range: left at the peer's address", strings.Join(k.w[4:], " "))
		}
	case kind == "fqdn" && domain:
		c.RemoteID = "@*." + v
		p.note(k.line, Translated, "match identity remote fqdn domain %s → remote_id = %q", v, c.RemoteID)
	case kind == "fqdn":
		c.RemoteID = "@" + v
		p.note(k.line, Translated, "match identity remote fqdn %s → remote_id = %q", v, c.RemoteID)
	case kind == "email" && domain:
		c.RemoteID = "*@" + v
		p.note(k.line, Translated, "match identity remote email domain %s → remote_id = %q", v, c.RemoteID)
	case kind == "email":
		c.RemoteID = v
		p.note(k.line, Translated, "match identity remote email %s → remote_id = %q", v, c.RemoteID)
	case kind == "key-id":
		c.RemoteID = "keyid:" + v
		p.note(k.line, Translated, "match identity remote key-id %s → remote_id = %q", v, c.RemoteID)
	default:
		p.note(k.line, Omitted, "%s: not imported", k.show())
	}
}

// asaPeer fills a connection of an ASA crypto map entry: the IKE version
// from the proposals it names, the tunnel-group of the peer (keys,
// keepalive), the IKE policies.
func (p *ciscoParser) asaPeer(c *Conn, x *ciscoEntryConf, peer string, lines *[]int) {
	v1, v2 := len(x.tsets) > 0, len(x.v2props) > 0
	switch {
	case v1 && v2:
		c.Version = "ikev2"
		p.note(x.v2Line, Approximated, "IKEv1 and IKEv2 proposals: the ASA tries IKEv2 and falls back to IKEv1; ikegate's connection initiates one version: version = \"ikev2\" (\"any\" would answer both, but only as a responder)")
	case v2:
		c.Version = "ikev2"
	default:
		c.Version = "ikev1"
	}
	if x.aggressive > 0 {
		if c.Version == "ikev1" {
			c.IKEv1Mode = "aggressive"
			p.note(x.aggressive, Translated, "phase1-mode aggressive → ikev1_mode = \"aggressive\" (ikegate refuses it with a PSK and no XAUTH unless allow_aggressive_psk = true: decide and set it)")
		} else {
			p.note(x.aggressive, Omitted, "phase1-mode aggressive: IKEv1 only, and this connection is IKEv2")
		}
	}
	if x.natTOff > 0 {
		if c.Version == "ikev1" {
			if c.Extra == nil {
				c.Extra = map[string]string{}
			}
			c.Extra["nat_ikev1_method"] = `"none"`
			p.note(x.natTOff, Translated, "nat-t-disable → nat_ikev1_method = \"none\"")
		} else {
			p.note(x.natTOff, Omitted, "nat-t-disable: ikegate cannot turn NAT traversal off for IKEv2")
		}
	}
	c.Auth = "psk"
	tg := p.tgroups[peer]
	if tg == nil {
		tg = p.tgroups["DefaultL2LGroup"]
	}
	if tg == nil {
		p.note(x.peerLine, Omitted, "no tunnel-group %s: no pre-shared key for the peer; fill in psk for connection %s", peer, c.Name)
	} else {
		p.tunnelGroupL2L(c, tg, lines)
	}
	if c.Version == "ikev1" {
		p.v1IKE(c, lines)
	} else {
		var life *ciscoSuiteDef
		for _, s := range p.v2ASA {
			if len(s.props) == 0 {
				s.used = true
				continue
			}
			s.used = true
			c.IKE = append(c.IKE, s.props...)
			*lines = append(*lines, s.line)
			if life == nil {
				life = s
			}
		}
		if life == nil {
			p.note(x.v2Line, Approximated, "no usable crypto ikev2 policy: ikegate's default ike (aes256-sha256-modp2048) is written in")
		} else {
			sec := int64(86400)
			if life.lifeLine > 0 {
				sec = life.lifetime
			}
			v, why := vendorClamp(sec, vendorMinLifetime, vendorMaxLifetime)
			c.IKELifetime = vendorDuration(v)
			switch {
			case why != "":
				life.note(max(life.lifeLine, life.line), Approximated, "lifetime → ike_lifetime: %s", why)
			case life.lifeLine > 0:
				life.note(life.lifeLine, Translated, "lifetime seconds %d → ike_lifetime = %q", sec, c.IKELifetime)
			default:
				life.note(life.line, Translated, "no lifetime given: the ASA's default 86400 s → ike_lifetime = \"24h\"")
			}
		}
	}
	if c.LocalID == "" {
		p.localIdentity(c, lines)
	}
}

// tunnelGroupL2L reads an ASA site-to-site tunnel-group's ipsec-attributes
// for c: its key for c's version, keepalive.
func (p *ciscoParser) tunnelGroupL2L(c *Conn, tg *ciscoTunnelGroup, lines *[]int) {
	tg.used = true
	*lines = append(*lines, tg.line)
	if tg.typeLine > 0 {
		*lines = append(*lines, tg.typeLine)
		if tg.typ != "ipsec-l2l" {
			tg.note(tg.typeLine, Approximated, "tunnel-group %s type %s used by a crypto map peer: read as site-to-site", tg.name, tg.typ)
		} else {
			tg.note(tg.typeLine, Translated, "tunnel-group %s type ipsec-l2l → connection %s's key and keepalive", tg.name, c.Name)
		}
	}
	for _, n := range tg.others {
		tg.note(n.line, Omitted, "%s: not imported", n.show())
	}
	if tg.general != nil {
		*lines = append(*lines, tg.general.line)
		for _, k := range tg.general.kids {
			tg.note(k.line, Omitted, "%s: not used by a site-to-site connection in ikegate", k.show())
		}
	}
	if tg.ipsec == nil {
		p.note(tg.line, Omitted, "tunnel-group %s has no ipsec-attributes: no pre-shared key; fill in psk for connection %s", tg.name, c.Name)
		return
	}
	*lines = append(*lines, tg.ipsec.line)
	var v1key, local, remote string
	var v1Line, localLine, remoteLine int
	var hidden string
	var hiddenLine int
	var keepalive *ciscoNode
	for _, k := range tg.ipsec.kids {
		*lines = append(*lines, k.line)
		switch {
		case k.has("ikev1", "pre-shared-key") && len(k.w) > 2 || k.has("pre-shared-key") && len(k.w) > 1:
			at := 1
			if k.larg(0) == "ikev1" {
				at = 2
			}
			key, why := ciscoKeyText(k.w[at:])
			v1key, v1Line = key, k.line
			if why != "" {
				hidden, hiddenLine = why, k.line
			}
		case k.has("ikev2", "remote-authentication", "pre-shared-key") && len(k.w) > 3,
			k.has("ikev2", "local-authentication", "pre-shared-key") && len(k.w) > 3:
			key, why := ciscoKeyText(k.w[3:])
			if why != "" {
				hidden, hiddenLine = why, k.line
			}
			if k.larg(1) == "local-authentication" {
				local, localLine = key, k.line
			} else {
				remote, remoteLine = key, k.line
			}
		case k.has("ikev2", "remote-authentication") || k.has("ikev2", "local-authentication") || k.has("ikev1", "trust-point") || k.has("chain"):
			tg.note(k.line, Omitted, "%s: certificates are not imported", k.show())
		case k.has("isakmp", "keepalive"):
			keepalive = k
		case k.has("peer-id-validate"):
			tg.note(k.line, Approximated, "%s: ikegate checks the peer's ID against remote_id (default: its address)", k.show())
		default:
			tg.note(k.line, Omitted, "%s: no ikegate equivalent", k.show())
		}
	}
	mark := func(line int, what string) {
		p.note(line, Translated, "%s → psk of connection %s (written only to the --out file)", what, c.Name)
	}
	switch {
	case c.Version == "ikev1" && v1Line > 0:
		if hiddenLine == v1Line {
			p.note(v1Line, Omitted, "ikev1 pre-shared-key: %s; fill in psk for connection %s", hidden, c.Name)
			break
		}
		c.PSK, _ = vendorPSK(v1key)
		mark(v1Line, "ikev1 pre-shared-key")
	case c.Version == "ikev2" && (localLine > 0 || remoteLine > 0):
		if hiddenLine > 0 && (hiddenLine == localLine || hiddenLine == remoteLine) {
			p.note(hiddenLine, Omitted, "ikev2 pre-shared-key: %s; fill in psk for connection %s", hidden, c.Name)
			break
		}
		switch {
		case local != "" && remote != "" && local != remote:
			p.note(remoteLine, Omitted, "different local and remote pre-shared keys: ikegate uses one psk both ways; agree on one with the peer and fill it in for connection %s", c.Name)
		case remote != "":
			c.PSK, _ = vendorPSK(remote)
			mark(remoteLine, "ikev2 remote-authentication pre-shared-key")
			if localLine > 0 {
				p.note(localLine, Translated, "ikev2 local-authentication pre-shared-key: the same key, ikegate's psk both ways")
			} else {
				p.note(remoteLine, Approximated, "no local-authentication key: ikegate signs with the same psk")
			}
		default:
			c.PSK, _ = vendorPSK(local)
			mark(localLine, "ikev2 local-authentication pre-shared-key")
			p.note(localLine, Approximated, "no remote-authentication key: ikegate checks the peer with the same psk")
		}
	case c.Version == "ikev2" && v1Line > 0:
		p.note(v1Line, Omitted, "only an ikev1 pre-shared-key, but the connection is IKEv2: fill in psk for connection %s", c.Name)
	default:
		p.note(tg.ipsec.line, Omitted, "no pre-shared key for %s in tunnel-group %s: fill in psk for connection %s", c.Version, tg.name, c.Name)
	}
	if keepalive != nil {
		p.dpd(c, keepalive, lines)
	}
}

// esp sets the connection's ESP proposals (transform sets or IPsec
// proposals, with the PFS group) and mode.
func (p *ciscoParser) esp(c *Conn, x *ciscoEntryConf, lines *[]int) {
	names, defs, line, verb := x.tsets, p.tsets, x.tsetLine, x.tsetVerb
	if c.Version == "ikev2" && len(x.v2props) > 0 {
		names, defs, line, verb = x.v2props, p.ipsecProps, x.v2Line, "set ikev2 ipsec-proposal"
	}
	var modeSet *ciscoSuiteDef
	for _, name := range names {
		s := defs[name]
		if s == nil {
			p.note(line, Omitted, "%s is not defined", name)
			continue
		}
		s.used = true
		*lines = append(*lines, s.line, s.modeLine)
		if len(s.props) == 0 {
			continue
		}
		c.ESP = append(c.ESP, s.props...)
		switch {
		case modeSet == nil:
			modeSet = s
			if s.transport {
				c.Mode = "transport"
			}
		case s.transport != modeSet.transport:
			p.note(line, Approximated, "%s and %s differ in mode: ikegate has one mode per connection, %s's", modeSet.name, s.name, modeSet.name)
		}
	}
	if len(c.ESP) > 0 {
		p.note(line, Translated, "%s %s → esp = %s", verb, strings.Join(names, " "), tomlList(c.ESP))
	} else if len(names) > 0 {
		p.note(line, Approximated, "no usable transform set: ikegate's default esp is written in; the peer must accept it")
	}
	if x.pfs == "" {
		return
	}
	group := x.pfs
	if group == "default" {
		group = "1"
		if p.d == ciscoASA {
			group = "2"
		}
	}
	dh, why := vendorDH(group)
	if why != "" {
		p.note(x.pfsLine, Omitted, "set pfs (group %s): %s; PFS left out: agree on a group with the peer and add it to each esp proposal", group, why)
		return
	}
	if len(c.ESP) == 0 {
		c.ESP = append([]string{}, policy.DefaultESPProposals...)
	}
	c.ESP = vendorWithPFS(c.ESP, dh)
	extra := ""
	if x.pfs == "default" {
		extra = fmt.Sprintf(" (%s's default group %s)", p.d, group)
	}
	p.note(x.pfsLine, Translated, "set pfs → %s added to each esp proposal%s%s", dh, extra, vendorWeak(dh))
}

// lifetimes sets the CHILD SA lifetimes from the entry or the global
// crypto ipsec security-association lifetime.
func (p *ciscoParser) lifetimes(c *Conn, x *ciscoEntryConf, lines *[]int) {
	sec, line := x.lifeSec, x.lifeSecLine
	if line == 0 {
		sec, line = p.saLifeSec, p.saLifeSecLine
	}
	if line > 0 {
		*lines = append(*lines, line)
		c.ChildLifetime = vendorLifetime(p.r, line, "child_lifetime", fmt.Sprintf("security-association lifetime seconds %d", sec), sec)
	}
	kb, kline := x.lifeKB, x.lifeKBLine
	if kline == 0 && x.kbOff == 0 {
		kb, kline = p.saLifeKB, p.saLifeKBLine
	}
	if x.kbOff > 0 {
		p.note(x.kbOff, Translated, "no kilobyte limit → no child_lifetime_bytes (ikegate's default)")
	}
	if kline > 0 && kb > 0 {
		*lines = append(*lines, kline)
		c.ChildLifetimeBytes = uint64(kb) * 1024
		p.note(kline, Translated, "security-association lifetime kilobytes %d → child_lifetime_bytes = %d", kb, c.ChildLifetimeBytes)
	}
}

// selectors sets local_ts and remote_ts from a crypto ACL.
func (p *ciscoParser) selectors(c *Conn, name string, line int, lines *[]int) bool {
	a := p.acl(name)
	if a == nil {
		p.note(line, Omitted, "match address %s: no such access list", name)
		return false
	}
	a.used = true
	*lines = append(*lines, a.lines...)
	if len(a.pairs) == 0 {
		return false
	}
	var extra []string
	c.LocalTS, c.RemoteTS, extra = vendorSelectors(a.pairs)
	p.note(line, Translated, "match address %s → local_ts = %s, remote_ts = %s", name, tomlList(c.LocalTS), tomlList(c.RemoteTS))
	if len(extra) > 0 {
		p.note(line, Approximated, "ikegate negotiates every local_ts × remote_ts pair, so %s also protects %s", name, strings.Join(extra, ", "))
	}
	return true
}

// aclBody returns an ACL line's words from the action on (permit, deny,
// remark), past IOS sequence numbers and ASA's "line N extended".
func (p *ciscoParser) aclBody(n *ciscoNode) (w, lw []string, standard bool) {
	w, lw = n.w, n.lw
	if n.has("access-list") {
		w, lw = w[2:], lw[2:]
		if num, err := strconv.Atoi(n.arg(1)); err == nil && (num < 100 || num >= 1300 && num < 2000) {
			standard = true
		}
	}
	if len(lw) > 1 && lw[0] == "line" {
		w, lw = w[2:], lw[2:]
	}
	if len(lw) > 0 && (lw[0] == "extended" || lw[0] == "standard") {
		standard = lw[0] == "standard"
		w, lw = w[1:], lw[1:]
	}
	if len(lw) > 0 {
		if _, err := strconv.Atoi(lw[0]); err == nil {
			w, lw = w[1:], lw[1:]
		}
	}
	return w, lw, standard
}

// acl reads a crypto ACL into selector pairs (source = local, destination
// = remote), noting per line what became of it.
func (p *ciscoParser) acl(name string) *ciscoACL {
	if a, ok := p.acls[name]; ok {
		return a
	}
	nodes, ok := p.aclLines[name]
	if !ok {
		p.acls[name] = nil
		return nil
	}
	a := &ciscoACL{vendorDef: vendorDef{what: "access list " + name}}
	p.acls[name] = a
	p.def(&a.vendorDef)
	for _, n := range nodes {
		w, lw, standard := p.aclBody(n)
		if len(lw) == 0 || lw[0] == "remark" || lw[0] == "description" {
			continue
		}
		a.lines = append(a.lines, n.line)
		if a.line == 0 {
			a.line = n.line
		}
		if standard {
			a.note(n.line, Omitted, "%s: a standard access list cannot be a crypto ACL (no destination)", ciscoShow(n.w))
			continue
		}
		src, dst, proto, why := p.ace(w, lw)
		switch {
		case why != "":
			a.note(n.line, Omitted, "%s: %s", ciscoShow(n.w), why)
		case lw[0] == "deny":
			a.note(n.line, Omitted, "%s: ikegate's selectors cannot exclude traffic; what this line keeps out of later permit lines is protected by them in ikegate", ciscoShow(n.w))
		case lw[0] != "permit":
			a.note(n.line, Omitted, "%s: not understood", ciscoShow(n.w))
		case len(src)*len(dst) > vendorMaxPairs:
			a.note(n.line, Omitted, "%s: %d × %d address pairs is more than this importer writes", ciscoShow(n.w), len(src), len(dst))
		default:
			var pairs []string
			for _, s := range src {
				for _, d := range dst {
					if vendorIs4(s) == vendorIs4(d) {
						a.pairs = append(a.pairs, vendorPair{s, d})
						pairs = append(pairs, s+" → "+d)
					}
				}
			}
			switch {
			case len(pairs) == 0:
				a.note(n.line, Omitted, "%s: source and destination are of different address families", ciscoShow(n.w))
			case proto != "":
				a.note(n.line, Approximated, "%s → %s: %s; ikegate's selectors are address prefixes, so all traffic between them is protected", ciscoShow(n.w), strings.Join(pairs, ", "), proto)
			default:
				a.note(n.line, Translated, "%s → %s", ciscoShow(n.w), strings.Join(pairs, ", "))
			}
		}
	}
	return a
}

// ace reads an extended ACL entry "permit PROTO SRC [PORTS] DST [PORTS]
// ...": the prefixes on both sides; proto says what the selectors lose
// (protocol, ports), why why the line cannot be used.
func (p *ciscoParser) ace(w, lw []string) (src, dst []string, proto, why string) {
	if len(lw) < 4 {
		return nil, nil, "", "too short"
	}
	i := 1
	pr := lw[i]
	switch pr {
	case "object-group", "object":
		pr = lw[i] + " " + w[i+1]
		i += 2
	default:
		i++
	}
	var lost []string
	if pr != "ip" && pr != "ipv6" {
		lost = append(lost, "protocol "+pr)
	}
	var n int
	src, n, why = p.addrSpec(w[i:], lw[i:], 0)
	if why != "" {
		return nil, nil, "", why
	}
	i += n
	if ports, n := p.portSpec(lw[i:]); n > 0 {
		lost = append(lost, "source port "+ports)
		i += n
	}
	dst, n, why = p.addrSpec(w[i:], lw[i:], 0)
	if why != "" {
		return nil, nil, "", why
	}
	i += n
	if ports, n := p.portSpec(lw[i:]); n > 0 {
		lost = append(lost, "destination port "+ports)
	}
	return src, dst, strings.Join(lost, ", "), ""
}

// portSpec reads a port match: eq/neq/lt/gt P, range P Q, or an ASA
// service object-group.
func (p *ciscoParser) portSpec(lw []string) (string, int) {
	if len(lw) == 0 {
		return "", 0
	}
	switch lw[0] {
	case "eq", "neq", "lt", "gt":
		if len(lw) > 1 {
			return strings.Join(lw[:2], " "), 2
		}
	case "range":
		if len(lw) > 2 {
			return strings.Join(lw[:3], " "), 3
		}
	case "object-group":
		if len(lw) > 1 {
			if g := p.objGroups[ciscoFind(p.objGroups, lw[1])]; g != nil && g.larg(1) != "network" {
				return "object-group " + lw[1], 2
			}
		}
	}
	return "", 0
}

// ciscoFind returns the key of m equal to name ignoring case ("" if none).
func ciscoFind(m map[string]*ciscoNode, name string) string {
	if _, ok := m[name]; ok {
		return name
	}
	for k := range m {
		if strings.EqualFold(k, name) {
			return k
		}
	}
	return ""
}

// addrSpec reads an ACL address: any, any4, any6, host A, A MASK (IOS:
// wildcard), A/len, object N, object-group N, interface IF.
func (p *ciscoParser) addrSpec(w, lw []string, depth int) ([]string, int, string) {
	if len(lw) == 0 {
		return nil, 0, "an address is missing"
	}
	switch lw[0] {
	case "any", "any4":
		return []string{"0.0.0.0/0"}, 1, ""
	case "any6":
		return []string{"::/0"}, 1, ""
	case "host":
		if len(w) > 1 {
			if h, ok := vendorHost(w[1]); ok {
				return []string{h}, 2, ""
			}
		}
		return nil, 0, "host without an address"
	case "object":
		if len(w) > 1 {
			out, why := p.object(w[1])
			return out, 2, why
		}
	case "object-group", "addrgroup":
		if len(w) > 1 {
			out, why := p.group(w[1], depth)
			return out, 2, why
		}
	case "interface":
		if len(w) > 1 {
			if f := p.ifaces[strings.ToLower(w[1])]; f != nil && f.addr != "" {
				h, _ := vendorHost(f.addr)
				return []string{h}, 2, ""
			}
			return nil, 0, "interface " + w[1] + " has no address here"
		}
	}
	if strings.Contains(w[0], "/") {
		if pf, ok := vendorCIDR(w[0]); ok {
			return []string{pf}, 1, ""
		}
		return nil, 0, fmt.Sprintf("%q is not a prefix", w[0])
	}
	if len(w) > 1 {
		if bits, ok := vendorMaskBits(w[1], p.d == ciscoIOS); ok {
			if pf, ok := vendorPrefix(w[0], bits); ok {
				return []string{pf}, 2, ""
			}
		} else if _, err := netip.ParseAddr(w[1]); err == nil {
			return nil, 0, fmt.Sprintf("mask %s is not contiguous: no prefix can express it", w[1])
		}
	}
	return nil, 0, fmt.Sprintf("%q is not an address this importer reads", w[0])
}

// object expands an ASA object network.
func (p *ciscoParser) object(name string) ([]string, string) {
	n := p.objects[ciscoFind(p.objects, name)]
	if n == nil {
		return nil, "object " + name + " is not defined"
	}
	var out []string
	for _, k := range n.kids {
		switch {
		case k.has("host") && len(k.w) > 1:
			if h, ok := vendorHost(k.arg(1)); ok {
				out = append(out, h)
			}
		case k.has("subnet") && len(k.w) > 2:
			if bits, ok := vendorMaskBits(k.arg(2), false); ok {
				if pf, ok := vendorPrefix(k.arg(1), bits); ok {
					out = append(out, pf)
				}
			}
		case k.has("subnet") && len(k.w) > 1:
			if pf, ok := vendorCIDR(k.arg(1)); ok {
				out = append(out, pf)
			}
		case k.has("range") && len(k.w) > 2:
			if r, ok := vendorRange(k.arg(1), k.arg(2)); ok {
				out = append(out, r...)
			}
		case k.has("fqdn"):
			return nil, "object " + name + " is a host name (fqdn): selectors need addresses"
		}
	}
	if len(out) == 0 {
		return nil, "object " + name + " has no address"
	}
	return out, ""
}

// group expands a network object-group (ASA network-object and
// group-object lines; IOS host, A MASK, range lines).
func (p *ciscoParser) group(name string, depth int) ([]string, string) {
	if depth > 8 {
		return nil, "object groups nest too deep"
	}
	key := ciscoFind(p.objGroups, name)
	n := p.objGroups[key]
	if n == nil {
		return nil, "object-group " + name + " is not defined"
	}
	if m, ok := p.groupMemo[key]; ok {
		return m.out, m.why
	}
	if p.groupBusy[key] {
		return nil, "object-group " + name + " contains itself"
	}
	p.groupBusy[key] = true
	out, why := p.expandGroup(n, name, depth)
	delete(p.groupBusy, key)
	out = vendorUnique(out)
	p.groupMemo[key] = ciscoExpansion{out, why}
	return out, why
}

// ciscoExpansion is an object-group's prefixes, or why there are none.
type ciscoExpansion struct {
	out []string
	why string
}

// expandGroup reads a network object-group's lines.
func (p *ciscoParser) expandGroup(n *ciscoNode, name string, depth int) ([]string, string) {
	if n.larg(1) != "network" {
		return nil, "object-group " + name + " is not a network group"
	}
	var out []string
	for _, k := range n.kids {
		w, lw := k.w, k.lw
		if len(lw) > 0 && lw[0] == "network-object" {
			w, lw = w[1:], lw[1:]
		}
		switch {
		case len(lw) == 0 || lw[0] == "description":
		case lw[0] == "group-object" && len(w) > 1:
			sub, why := p.group(w[1], depth+1)
			if why != "" {
				return nil, why
			}
			out = append(out, sub...)
		case lw[0] == "object" && len(w) > 1:
			sub, why := p.object(w[1])
			if why != "" {
				return nil, why
			}
			out = append(out, sub...)
		case lw[0] == "range" && len(w) > 2:
			r, ok := vendorRange(w[1], w[2])
			if !ok {
				return nil, "range " + w[1] + " " + w[2] + " is not a range"
			}
			out = append(out, r...)
		default:
			pf, _, why := p.addrSpecNet(w, lw)
			if why != "" {
				return nil, "object-group " + name + ": " + why
			}
			out = append(out, pf...)
		}
	}
	if len(out) == 0 {
		return nil, "object-group " + name + " has no address"
	}
	return out, ""
}

// addrSpecNet reads an address with a netmask (object groups use
// netmasks in both dialects).
func (p *ciscoParser) addrSpecNet(w, lw []string) ([]string, int, string) {
	if lw[0] == "host" || lw[0] == "any" || strings.Contains(w[0], "/") || len(w) < 2 {
		return p.addrSpec(w, lw, 0)
	}
	if bits, ok := vendorMaskBits(w[1], false); ok {
		if pf, ok := vendorPrefix(w[0], bits); ok {
			return []string{pf}, 2, ""
		}
	}
	return nil, 0, fmt.Sprintf("%q is not an address with a netmask", strings.Join(w[:2], " "))
}

// splitPrefixes reads a split-tunnel ACL: standard lines give their
// address, extended ones their source.
func (p *ciscoParser) splitPrefixes(name string, line int, lines *[]int) []string {
	nodes := p.aclLines[name]
	if nodes == nil {
		p.note(line, Omitted, "split-tunnel list %s: no such access list", name)
		return nil
	}
	var out []string
	for _, n := range nodes {
		w, lw, standard := p.aclBody(n)
		if len(lw) == 0 || lw[0] == "remark" {
			continue
		}
		*lines = append(*lines, n.line)
		if lw[0] != "permit" {
			p.note(n.line, Omitted, "%s: split-tunnel lists in ikegate only include; this line is left out", ciscoShow(n.w))
			continue
		}
		var got []string
		var why string
		if standard || len(lw) < 3 {
			if len(w) > 2 && p.d == ciscoIOS && !strings.EqualFold(w[1], "host") {
				got, _, why = p.addrSpec(w[1:], lw[1:], 0) // IOS standard: wildcard
			} else if len(w) > 1 && !strings.EqualFold(w[1], "host") && !strings.EqualFold(w[1], "any") && !strings.EqualFold(w[1], "any4") && len(w) > 2 {
				got, _, why = p.addrSpecNet(w[1:], lw[1:])
			} else {
				got, _, why = p.addrSpec(w[1:], lw[1:], 0)
			}
		} else {
			got, _, _, why = p.ace(w, lw)
		}
		if why != "" {
			p.note(n.line, Omitted, "%s: %s", ciscoShow(n.w), why)
			continue
		}
		if len(got) == 1 && got[0] == "0.0.0.0/32" {
			p.note(n.line, Omitted, "%s: host 0.0.0.0 is Cisco's marker for the client's own LAN, whatever it is; ikegate's split lists need the prefixes (e.g. 192.168.0.0/16)", ciscoShow(n.w))
			continue
		}
		p.note(n.line, Translated, "%s → split list %s", ciscoShow(n.w), strings.Join(got, ", "))
		out = append(out, got...)
	}
	return out
}

// dynamicEntry turns a crypto map entry that refers to a dynamic map into
// responder connections: one per remote-access group, and one for
// site-to-site peers with a wildcard key.
func (p *ciscoParser) dynamicEntry(e *ciscoEntry, loc ciscoLocal) {
	dm := p.dynMaps[e.dynRef]
	if dm == nil {
		p.note(e.refLine, Omitted, "crypto map %s %d: no crypto dynamic-map %s", e.mapName, e.seq, e.dynRef)
		return
	}
	p.note(e.refLine, Translated, "crypto map %s %d → responder connections of dynamic map %s", e.mapName, e.seq, e.dynRef)
	for _, seq := range ciscoSortedSeqs(dm) {
		de := dm[seq]
		x := p.entryConf(de)
		x.lines = append(x.lines, e.line, e.refLine)
		n := len(p.r.Conns)
		if p.d == ciscoIOS {
			p.iosRemoteAccess(e, de, x, loc)
		} else {
			p.asaRemoteAccess(de, x, loc)
		}
		p.dynamicL2L(de, x, loc)
		if len(p.r.Conns) == n {
			p.note(de.line, Omitted, "crypto dynamic-map %s %d: no remote-access group and no wildcard pre-shared key for unknown peers, so nothing would use it", de.mapName, de.seq)
		}
	}
}

// dynamicL2L writes the responder for site-to-site peers of unknown
// address: IOS "crypto isakmp key K address 0.0.0.0 0.0.0.0", ASA
// tunnel-group DefaultL2LGroup.
func (p *ciscoParser) dynamicL2L(de *ciscoEntry, x *ciscoEntryConf, loc ciscoLocal) {
	var wild *ciscoKey
	var tg *ciscoTunnelGroup
	if p.d == ciscoIOS {
		for _, k := range p.keys {
			if k.prefix.IsValid() && k.prefix.Bits() == 0 {
				wild = k
			}
		}
		if wild == nil {
			return
		}
	} else if tg = p.tgroups["DefaultL2LGroup"]; tg == nil || tg.ipsec == nil {
		return
	}
	c := &Conn{Name: vendorName(p.names, de.mapName+"-"+strconv.Itoa(de.seq)+"-any"), RemoteAddr: "%any", LocalAddr: loc.addr, Auth: "psk"}
	lines := append(append([]int{}, x.lines...), loc.lines...)
	p.note(de.line, Translated, "crypto dynamic-map %s %d → connection %q for site-to-site peers of any address", de.mapName, de.seq, c.Name)
	switch {
	case p.d == ciscoIOS && x.v2prof != "":
		p.iosV2(c, x, netip.Addr{}, &lines)
	case p.d == ciscoIOS:
		c.Version = "ikev1"
		p.usePSK(c, wild, netip.IPv4Unspecified(), &lines, de.line)
		p.v1IKE(c, &lines)
		p.localIdentity(c, &lines)
		p.dpd(c, p.keepalive, &lines)
	default:
		if len(x.tsets) == 0 && len(x.v2props) == 0 {
			return
		}
		p.asaPeer(c, x, "DefaultL2LGroup", &lines)
	}
	p.esp(c, x, &lines)
	p.lifetimes(c, x, &lines)
	if x.acl == "" || !p.selectors(c, x.acl, x.aclLine, &lines) {
		c.LocalTS, c.RemoteTS = []string{"0.0.0.0/0"}, []string{"0.0.0.0/0"}
		p.note(de.line, Approximated, "no match address: %s accepts the selectors a dynamic peer proposes; local_ts = remote_ts = 0.0.0.0/0 accepts any IPv4 proposal: narrow them to the networks you expect", p.d)
	}
	c.Lines = vendorSortedUnique(lines)
	p.r.Conns = append(p.r.Conns, c)
}

// raConn is a remote-access connection in the making.
type ciscoRA struct {
	group     string // the group name clients send (IKE ID_KEY_ID)
	key       string
	hidden    string
	keyLine   int
	xauth     string // "local", "radius", ""
	xauthLine int
	pool      string
	poolLine  int
	attrs     []KV // [[group]] attributes
	lines     []int
	split     []string
	modecfg   string
	gname     string // the [[group]] name
}

// raFinish writes a remote-access connection and its [[group]].
func (p *ciscoParser) raFinish(ra *ciscoRA, x *ciscoEntryConf, loc ciscoLocal, line int) {
	c := &Conn{Name: vendorName(p.names, ra.group), Version: "ikev1", IKEv1Mode: "aggressive", RemoteAddr: "%any",
		RemoteID: "keyid:" + ra.group, LocalAddr: loc.addr, Auth: "psk", Extra: map[string]string{}}
	lines := append(append(append([]int{}, x.lines...), loc.lines...), ra.lines...)
	p.note(line, Translated, "remote-access group %s → connection %q: IKEv1 Aggressive Mode, remote_id = %q (the group name), remote_addr = \"%%any\"", ra.group, c.Name, c.RemoteID)
	switch {
	case ra.hidden != "":
		p.note(ra.keyLine, Omitted, "group key of %s: %s; fill in psk for connection %s", ra.group, ra.hidden, c.Name)
	case ra.key != "":
		c.PSK, _ = vendorPSK(ra.key)
		p.note(ra.keyLine, Translated, "group key of %s → psk of connection %s (written only to the --out file)", ra.group, c.Name)
	default:
		p.note(line, Omitted, "group %s has no pre-shared key (certificates are not imported): fill in psk for connection %s", ra.group, c.Name)
	}
	switch ra.xauth {
	case "local":
		c.Extra["xauth"] = `"local"`
		p.xauthLocal = append(p.xauthLocal, line)
		p.note(ra.xauthLine, Translated, "user authentication against the local users → xauth = \"local\" ([[user]] tables)")
	case "radius":
		c.Extra["xauth"] = `"radius"`
		p.note(ra.xauthLine, Approximated, "user authentication by RADIUS → xauth = \"radius\"; the RADIUS servers and secret are not imported: add a [radius] table (servers, secret)")
	default:
		p.note(line, Omitted, "no XAUTH for group %s: ikegate refuses Aggressive Mode with a group PSK and no XAUTH unless allow_aggressive_psk = true (anyone knowing the group name can crack the key offline); add xauth or decide to set it", ra.group)
	}
	if ra.pool != "" {
		if pl := p.pools[ra.pool]; pl != nil && len(pl.ranges) > 0 {
			c.Extra["pool"] = tomlString(ra.pool)
			p.usePool(ra.pool)
			lines = append(lines, pl.lines...)
			p.note(ra.poolLine, Translated, "address pool %s → pool = %q", ra.pool, ra.pool)
		} else {
			p.note(ra.poolLine, Omitted, "address pool %s: not defined (ip local pool) or unreadable; clients would get no address", ra.pool)
		}
	} else {
		p.note(line, Omitted, "group %s names no address pool: clients would get no address; add a [[pool]] and pool = \"...\"", ra.group)
	}
	if ra.modecfg == "push" && c.Extra["pool"] != "" {
		c.Extra["modecfg"] = `"push"`
	}
	if len(ra.attrs) > 0 {
		gname := vendorName(p.gnames, ra.gname)
		t := &Table{Kind: "group", Lines: vendorSortedUnique(append([]int{}, ra.lines...)), Keys: append([]KV{{Key: "name", Value: tomlString(gname)}}, ra.attrs...)}
		p.tables = append(p.tables, t)
		c.Extra["group"] = tomlString(gname)
	}
	if len(ra.split) > 0 {
		c.LocalTS = ra.split
	} else {
		c.LocalTS = []string{"0.0.0.0/0"}
		p.note(line, Translated, "no split tunnel: local_ts = \"0.0.0.0/0\" (clients send everything through the tunnel)")
	}
	p.v1IKE(c, &lines)
	p.esp(c, x, &lines)
	p.lifetimes(c, x, &lines)
	p.dpd(c, p.keepalive, &lines)
	if len(c.Extra) == 0 {
		c.Extra = nil
	}
	c.Lines = vendorSortedUnique(lines)
	p.r.Conns = append(p.r.Conns, c)
}

// usePool marks a pool as used once.
func (p *ciscoParser) usePool(name string) {
	for _, n := range p.usedPools {
		if n == name {
			return
		}
	}
	p.usedPools = append(p.usedPools, name)
}

// iosRemoteAccess writes Easy VPN groups (crypto isakmp client
// configuration group) as remote-access connections.
func (p *ciscoParser) iosRemoteAccess(e, de *ciscoEntry, x *ciscoEntryConf, loc ciscoLocal) {
	if len(p.clientGrps) == 0 {
		return
	}
	xauth, xline := "", 0
	modecfg := ""
	var mlines []int
	for _, n := range p.mapCmds[e.mapName] {
		switch {
		case n.has("crypto", "map", "*", "client", "authentication", "list") && len(n.w) > 6:
			xauth, xline = p.aaaMethod(n.arg(6), n.line), n.line
			mlines = append(mlines, n.line)
		case n.has("crypto", "map", "*", "isakmp", "authorization", "list"):
			p.note(n.line, Translated, "group authorization from the local groups → ikegate's [[group]] tables")
			mlines = append(mlines, n.line)
		case n.has("crypto", "map", "*", "client", "configuration", "address") && len(n.w) > 6:
			if n.larg(6) == "initiate" {
				modecfg = "push"
				p.note(n.line, Translated, "client configuration address initiate → modecfg = \"push\"")
			} else {
				p.note(n.line, Translated, "client configuration address respond → modecfg = \"pull\" (ikegate's default)")
			}
			mlines = append(mlines, n.line)
		}
	}
	for _, g := range p.clientGrps {
		name := g.arg(5)
		ra := &ciscoRA{group: name, gname: name, xauth: xauth, xauthLine: xline, modecfg: modecfg, lines: append([]int{g.line}, mlines...)}
		var keys []KV
		for _, k := range g.kids {
			ra.lines = append(ra.lines, k.line)
			switch {
			case k.has("key") && len(k.w) > 1:
				ra.key, ra.hidden = ciscoKeyText(k.w[1:])
				ra.keyLine = k.line
			case k.has("pool") && len(k.w) > 1:
				ra.pool, ra.poolLine = k.arg(1), k.line
			case k.has("dns") && len(k.w) > 1:
				keys = append(keys, KV{Key: "dns", Value: tomlList(k.w[1:])})
				p.note(k.line, Translated, "dns → [[group]] %s dns", name)
			case k.has("wins") && len(k.w) > 1:
				keys = append(keys, KV{Key: "nbns", Value: tomlList(k.w[1:])})
				p.note(k.line, Translated, "wins → [[group]] %s nbns", name)
			case k.has("domain") && len(k.w) > 1:
				keys = append(keys, KV{Key: "domain", Value: tomlString(k.arg(1))})
				p.note(k.line, Translated, "domain → [[group]] %s domain", name)
			case k.has("split-dns") && len(k.w) > 1:
				keys = append(keys, KV{Key: "split_dns", Value: tomlList(k.w[1:])})
				p.note(k.line, Translated, "split-dns → [[group]] %s split_dns", name)
			case k.has("acl") && len(k.w) > 1:
				ra.split = p.splitPrefixes(k.arg(1), k.line, &ra.lines)
				if len(ra.split) > 0 {
					keys = append(keys, KV{Key: "split_include", Value: tomlList(ra.split)})
					p.note(k.line, Translated, "acl %s → [[group]] %s split_include and the connection's local_ts", k.arg(1), name)
				}
			case k.has("save-password"):
				keys = append(keys, KV{Key: "save_password", Value: "true"})
				p.note(k.line, Translated, "save-password → [[group]] %s save_password = true", name)
			case k.has("banner"):
				if k.text != "" {
					keys = append(keys, KV{Key: "banner", Value: tomlString(k.text)})
					p.note(k.line, Translated, "banner → [[group]] %s banner", name)
				}
			case k.has("backup-gateway") && len(k.w) > 1:
				keys = append(keys, KV{Key: "backup_servers", Value: tomlList(k.w[1:])})
				p.note(k.line, Translated, "backup-gateway → [[group]] %s backup_servers", name)
			case k.has("pfs"):
				p.note(k.line, Omitted, "pfs: tells clients to use PFS with the IKE group; ikegate's pfs_group names one DH group: set it by hand if you need it")
			default:
				p.note(k.line, Omitted, "%s: no ikegate equivalent", k.show())
			}
		}
		ra.attrs = keys
		p.raFinish(ra, x, loc, g.line)
	}
	p.clientGrps = nil // written once, for the first dynamic entry
}

// aaaMethod says how an IOS AAA login list checks users.
func (p *ciscoParser) aaaMethod(list string, line int) string {
	n := p.aaaLists[strings.ToLower(list)]
	if n == nil {
		p.note(line, Approximated, "authentication list %s is not defined: read as the local users", list)
		return "local"
	}
	p.note(n.line, Translated, "%s: how XAUTH checks users", n.show())
	for _, w := range n.lw[4:] {
		switch w {
		case "local", "local-case":
			return "local"
		case "radius":
			return "radius"
		}
	}
	return "radius"
}

// asaRemoteAccess writes ASA remote-access tunnel-groups (IKEv1 clients:
// Cisco VPN Client, vpnc, iOS "Cisco IPsec") as connections, their
// group-policies as [[group]].
func (p *ciscoParser) asaRemoteAccess(de *ciscoEntry, x *ciscoEntryConf, loc ciscoLocal) {
	for _, tg := range p.tgOrder {
		if tg.typ != "remote-access" && tg.typ != "ipsec-ra" || tg.used {
			continue
		}
		tg.used = true
		ra := &ciscoRA{group: tg.name, gname: tg.name, xauth: "local", lines: []int{tg.line, tg.typeLine}}
		p.note(tg.typeLine, Translated, "tunnel-group %s type %s → a remote-access connection", tg.name, tg.typ)
		ra.xauthLine = tg.typeLine
		gp := "DfltGrpPolicy"
		var gpLine int
		if tg.general != nil {
			ra.lines = append(ra.lines, tg.general.line)
			for _, k := range tg.general.kids {
				ra.lines = append(ra.lines, k.line)
				switch {
				case k.has("address-pool") && len(k.w) > 1:
					names := k.w[1:]
					if strings.HasPrefix(names[0], "(") && len(names) > 1 {
						names = names[1:] // "(inside) POOL"
					}
					ra.pool, ra.poolLine = names[0], k.line
					if len(names) > 1 {
						p.note(k.line, Approximated, "address-pool %s: ikegate's connection takes one pool: %s", strings.Join(names, " "), ra.pool)
					}
				case k.has("default-group-policy") && len(k.w) > 1:
					gp, gpLine = k.arg(1), k.line
				case k.has("authentication-server-group") && len(k.w) > 1:
					if strings.EqualFold(k.arg(1), "LOCAL") {
						ra.xauth, ra.xauthLine = "local", k.line
					} else {
						ra.xauth, ra.xauthLine = "radius", k.line
						if s := p.aaaServers[strings.ToLower(k.arg(1))]; s != nil && s.larg(3) != "radius" {
							p.note(k.line, Omitted, "authentication-server-group %s uses %s: ikegate speaks RADIUS only", k.arg(1), s.larg(3))
						}
					}
				default:
					p.note(k.line, Omitted, "%s: no ikegate equivalent", k.show())
				}
			}
		}
		if tg.ipsec != nil {
			ra.lines = append(ra.lines, tg.ipsec.line)
			for _, k := range tg.ipsec.kids {
				ra.lines = append(ra.lines, k.line)
				switch {
				case k.has("ikev1", "pre-shared-key") && len(k.w) > 2 || k.has("pre-shared-key") && len(k.w) > 1:
					at := 1
					if k.larg(0) == "ikev1" {
						at = 2
					}
					ra.key, ra.hidden = ciscoKeyText(k.w[at:])
					ra.keyLine = k.line
				case k.has("isakmp", "ikev1-user-authentication", "none") || k.has("ikev1", "user-authentication", "none"):
					ra.xauth, ra.xauthLine = "", k.line
				case k.has("isakmp", "keepalive"):
					p.note(k.line, Translated, "%s: see the connection's dpd", k.show())
				default:
					p.note(k.line, Omitted, "%s: no ikegate equivalent", k.show())
				}
			}
		}
		for _, n := range tg.others {
			p.note(n.line, Omitted, "%s: not imported (WebVPN/AnyConnect and PPP settings)", n.show())
		}
		p.groupPolicy(ra, gp, gpLine)
		p.raFinish(ra, x, loc, tg.typeLine)
	}
}

// groupPolicy reads an ASA group-policy's attributes into ra's [[group]]
// keys (and its pool and split tunnel).
func (p *ciscoParser) groupPolicy(ra *ciscoRA, name string, line int) {
	n := p.gpolicies[name]
	if n == nil {
		if line > 0 {
			p.note(line, Approximated, "default-group-policy %s: no attributes for it here; its defaults (the ASA's) are not imported", name)
		}
		return
	}
	if line > 0 {
		p.note(line, Translated, "default-group-policy %s → [[group]] %s", name, name)
	}
	p.gpUsed[name] = true
	ra.gname = name
	ra.lines = append(ra.lines, p.gpLines[name]...)
	policy, list := "tunnelall", ""
	var listLine, policyLine int
	var banner []string
	for _, k := range n.kids {
		ra.lines = append(ra.lines, k.line)
		val := func() []string {
			if len(k.w) > 2 && k.larg(1) == "value" {
				return k.w[2:]
			}
			return nil
		}
		switch {
		case k.has("dns-server") && val() != nil:
			ra.attrs = append(ra.attrs, KV{Key: "dns", Value: tomlList(val())})
			p.note(k.line, Translated, "dns-server → [[group]] %s dns", name)
		case k.has("wins-server") && val() != nil:
			ra.attrs = append(ra.attrs, KV{Key: "nbns", Value: tomlList(val())})
			p.note(k.line, Translated, "wins-server → [[group]] %s nbns", name)
		case k.has("default-domain") && val() != nil:
			ra.attrs = append(ra.attrs, KV{Key: "domain", Value: tomlString(val()[0])})
			p.note(k.line, Translated, "default-domain → [[group]] %s domain", name)
		case k.has("split-dns") && val() != nil:
			ra.attrs = append(ra.attrs, KV{Key: "split_dns", Value: tomlList(val())})
			p.note(k.line, Translated, "split-dns → [[group]] %s split_dns", name)
		case k.has("split-tunnel-policy") && len(k.w) > 1:
			policy, policyLine = k.lw[1], k.line
		case k.has("split-tunnel-network-list") && val() != nil:
			list, listLine = val()[0], k.line
		case k.has("address-pools") && val() != nil:
			switch {
			case ra.pool == "":
				ra.pool, ra.poolLine = val()[0], k.line
			case ra.pool == val()[0]:
				p.note(k.line, Translated, "address-pools %s: the tunnel-group's pool too", ra.pool)
			default:
				p.note(k.line, Approximated, "address-pools %s: the tunnel-group's pool %s is used", val()[0], ra.pool)
			}
		case k.has("banner") && val() != nil:
			banner = append(banner, strings.Join(val(), " "))
		case k.has("password-storage") && len(k.w) > 1:
			ra.attrs = append(ra.attrs, KV{Key: "save_password", Value: strconv.FormatBool(k.lw[1] == "enable")})
			p.note(k.line, Translated, "password-storage %s → [[group]] %s save_password", k.lw[1], name)
		case k.has("vpn-idle-timeout") && len(k.w) > 1:
			if m, ok := vendorAtoi(k.arg(1)); ok && m >= 1 && m <= 7*24*60 {
				ra.attrs = append(ra.attrs, KV{Key: "idle_timeout", Value: tomlString(vendorDuration(m * 60))})
				p.note(k.line, Translated, "vpn-idle-timeout %d (minutes) → [[group]] %s idle_timeout = %q", m, name, vendorDuration(m*60))
			} else {
				p.note(k.line, Translated, "vpn-idle-timeout %s → no idle_timeout", k.arg(1))
			}
		case k.has("backup-servers") && len(k.w) > 1 && k.larg(1) != "keep-client-config" && k.larg(1) != "clear-client-config":
			ra.attrs = append(ra.attrs, KV{Key: "backup_servers", Value: tomlList(k.w[1:])})
			p.note(k.line, Translated, "backup-servers → [[group]] %s backup_servers", name)
		case k.has("vpn-tunnel-protocol"):
			if strings.Contains(strings.Join(k.lw, " "), "ikev1") || strings.Contains(strings.Join(k.lw, " "), "ipsec") {
				p.note(k.line, Translated, "vpn-tunnel-protocol: the IKEv1 clients are served (SSL and IKEv2 AnyConnect are not: ikegate does not speak AnyConnect)")
			} else {
				p.note(k.line, Omitted, "vpn-tunnel-protocol %s: AnyConnect (SSL, IKEv2) is not served by ikegate; the IKEv1 connection is written anyway", strings.Join(k.w[1:], " "))
			}
		default:
			p.note(k.line, Omitted, "%s: no ikegate equivalent", k.show())
		}
	}
	if len(banner) > 0 {
		ra.attrs = append(ra.attrs, KV{Key: "banner", Value: tomlString(strings.Join(banner, "\n"))})
		p.note(n.line, Translated, "banner value lines → [[group]] %s banner", name)
	}
	switch policy {
	case "tunnelspecified", "excludespecified":
		if list == "" {
			p.note(policyLine, Omitted, "split-tunnel-policy %s without a split-tunnel-network-list", policy)
			break
		}
		pfx := p.splitPrefixes(list, listLine, &ra.lines)
		if len(pfx) == 0 {
			break
		}
		key := "split_include"
		if policy == "excludespecified" {
			key = "split_exclude"
		} else {
			ra.split = pfx
		}
		ra.attrs = append(ra.attrs, KV{Key: key, Value: tomlList(pfx)})
		p.note(policyLine, Translated, "split-tunnel-policy %s with list %s → [[group]] %s %s", policy, list, name, key)
	case "tunnelall":
		if policyLine > 0 {
			p.note(policyLine, Translated, "split-tunnel-policy tunnelall: no split list (everything through the tunnel)")
		}
	}
}

// finish flushes the definitions' notes, writes the tables, the listen
// addresses and the gateway keys.
func (p *ciscoParser) finish() {
	for _, d := range p.defs {
		switch {
		case d.used:
			p.r.Notes = append(p.r.Notes, d.notes...)
		case d.line > 0 && d.why != "":
			p.note(d.line, Omitted, "%s: %s; not imported", d.what, d.why)
		}
	}
	for _, g := range p.clientGrps {
		p.note(g.line, Omitted, "client configuration group %s: no dynamic crypto map serves remote-access clients; not imported", g.arg(5))
	}
	// Pools, before the groups that name them.
	var pools []*Table
	for _, name := range p.usedPools {
		pl := p.pools[name]
		pname := vendorName(map[string]bool{}, name)
		t := &Table{Kind: "pool", Lines: vendorSortedUnique(append([]int{}, pl.lines...)),
			Keys: []KV{{Key: "name", Value: tomlString(pname)}, {Key: "addresses", Value: tomlList(pl.ranges)}}}
		pools = append(pools, t)
		for _, l := range pl.lines {
			p.note(l, Translated, "ip local pool %s → [[pool]] %s", name, pname)
		}
		for _, l := range pl.bad {
			p.note(l, Omitted, "ip local pool %s: this range is not understood", name)
		}
	}
	p.tables = append(pools, p.tables...)
	// Users, when a connection checks local users.
	if len(p.xauthLocal) > 0 {
		n := 0
		for _, u := range p.users {
			if u.hidden != "" {
				p.note(u.line, Omitted, "username %s: password %s; add a [[user]] with name = %q and its password or nt_hash", u.name, u.hidden, u.name)
				continue
			}
			n++
			p.tables = append(p.tables, &Table{Kind: "user", Lines: []int{u.line},
				Keys: []KV{{Key: "name", Value: tomlString(u.name)}, {Key: "password", Value: tomlString(u.password), Secret: true}}})
			p.note(u.line, Translated, "username %s → [[user]] (the password is written only to the --out file)", u.name)
		}
		if n == 0 {
			p.note(p.xauthLocal[0], Omitted, "xauth = \"local\" needs at least one [[user]], and no local user could be imported: add them")
		}
		for _, a := range p.userAttrs {
			p.note(a.line, Omitted, "username %s attributes: per-user settings are not imported (ikegate puts users in a [[group]] by their connection, or by a RADIUS Class)", a.arg(1))
		}
	}
	for name, lines := range p.gpLines {
		if !p.gpUsed[name] && len(lines) > 0 {
			p.note(lines[0], Omitted, "group-policy %s: no remote-access connection uses it; not imported", name)
		}
	}
	p.r.Tables = p.tables
	// Gateway.
	if n := p.natKeepalive; n != nil {
		if v, ok := vendorAtoi(n.arg(len(n.w) - 1)); ok {
			d, why := vendorNATKeepalive(v)
			p.r.Gateway = map[string]string{"natt_keepalive": tomlString(d)}
			if why != "" {
				p.note(n.line, Approximated, "NAT keepalive → gateway.natt_keepalive: %s", why)
			} else {
				p.note(n.line, Translated, "NAT keepalive %d s → gateway.natt_keepalive = %q", v, d)
			}
		}
	}
	p.listen()
	p.r.Notes = vendorDedupe(p.r.Notes)
}

// listen sets gateway.listen: the connections' local addresses, or
// 0.0.0.0 when one has none.
func (p *ciscoParser) listen() {
	addrs, seen, unknown := vendorConnAddrs(p.r.Conns)
	for _, n := range p.ikeEnable {
		f := p.ifaces[strings.ToLower(n.arg(3))]
		switch {
		case f == nil || f.addr == "":
			p.note(n.line, Approximated, "%s: the interface's address is unknown here; gateway.listen comes from the connections", n.show())
		case seen[f.addr] || unknown != "":
			p.note(n.line, Translated, "%s → gateway.listen has %s", n.show(), f.addr)
		default:
			seen[f.addr] = true
			addrs = append(addrs, f.addr)
			p.note(n.line, Translated, "%s → gateway.listen has %s", n.show(), f.addr)
		}
	}
	vendorSetListen(p.r, addrs, unknown)
}
