package importer

import (
	"fmt"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// strongSwan's swanctl.conf (swanctl.conf(5)): connections with local and
// remote authentication rounds and children, secrets, pools, authorities.
// Each CHILD SA (children.NAME) becomes one ikegate connection (ikegate has
// one [[connection]] per CHILD SA; the IKE settings are repeated): named as
// the IKE connection when it has one child, else CONN-CHILD.
//
// Files: relative credential names are taken as swanctl does, in the
// x509/, x509ca/ and private/ directories beside swanctl.conf (the input's
// directory; /etc/swanctl when it is not known); includes are followed
// when the input's directory is known. PSKs come from the secrets section
// (ike-* entries matched against the connection's identities, as charon
// does), local users for EAP and XAUTH from its eap-* and xauth-* entries.

func init() { RegisterFiles(Swanctl, parseSwanctl) }

func parseSwanctl(name string, src []byte, files Files) (*Result, error) {
	r := &Result{Gateway: map[string]string{}}
	p := &settingsParser{files: files, r: r, open: map[string]bool{}}
	root := &setSection{}
	if err := p.parseSettings(src, "", root); err != nil {
		return nil, err
	}
	referenced := map[string][]string{}
	if cs := root.sub("connections"); cs != nil {
		for _, c := range cs.subs {
			for _, ref := range c.refs {
				ref = strings.TrimPrefix(ref, "connections.")
				referenced[ref] = append(referenced[ref], c.name)
			}
		}
	}
	if err := resolveRefs(root); err != nil {
		return nil, err
	}
	im := &swImporter{r: r, root: root, referenced: referenced, dir: "/etc/swanctl", files: files, names: map[string]bool{},
		pools: map[string]bool{}, usedSecret: map[*secret]bool{}}
	if files != nil {
		im.dir = files.Dir()
	}
	im.run()
	return r, nil
}

// swImporter holds the state of one swanctl.conf import.
type swImporter struct {
	r          *Result
	root       *setSection
	dir        string // swanctl's directory
	files      Files
	secrets    []secret
	keyFiles   []secret // private-*, rsa-*, ecdsa-*, pkcs8-* entries
	caFiles    []string // authorities' cacert files
	names      map[string]bool
	pools      map[string]bool // pools the connections use
	usedSecret map[*secret]bool
	needUsers  bool
	referenced map[string][]string // connection → the connections that reference it
}

func (im *swImporter) note(p pos, st Status, format string, args ...any) {
	im.r.NoteIn(p.file, p.line, st, format, args...)
}

func (im *swImporter) run() {
	im.r.Gateway["dataplane"] = tomlString("xfrm")
	im.r.Note(0, Translated, "[gateway] dataplane = \"xfrm\": the kernel's IPsec, as charon uses it")
	for _, kv := range im.root.keys {
		im.note(kv.pos, Omitted, "%s = %s: a top-level key swanctl.conf does not have", kv.key, kv.value)
	}
	for _, s := range im.root.subs {
		switch s.name {
		case "connections", "secrets", "pools", "authorities":
		default:
			im.note(s.pos, Omitted, "section %s: not part of swanctl.conf's format (connections, secrets, pools, authorities)", s.name)
		}
	}
	im.readSecrets()
	im.readAuthorities()
	if cs := im.root.sub("connections"); cs != nil {
		for _, kv := range cs.keys {
			im.note(kv.pos, Omitted, "connections.%s: a key where a connection section belongs", kv.key)
		}
		for _, c := range cs.subs {
			im.conn(c)
		}
	}
	im.emitPools()
	im.emitUsers()
	for i := range im.secrets {
		s := &im.secrets[i]
		if s.kind == "PSK" && !im.usedSecret[s] {
			im.r.NoteIn(s.file, s.line, Omitted, "secrets: this pre-shared key matches no imported connection")
		}
	}
	im.r.Listen = listenAddrs(im.r.Conns)
}

// listenAddrs lists the connections' local addresses, or the wildcards.
func listenAddrs(conns []*Conn) []string {
	var out []string
	v6 := false
	for _, c := range conns {
		if c.LocalAddr != "" && !hasString(out, c.LocalAddr) {
			out = append(out, c.LocalAddr)
		}
		if a, ok := parseAddr(c.RemoteAddr); ok && a.Is6() {
			v6 = true
		}
	}
	for _, c := range conns {
		if c.LocalAddr == "" {
			// A connection on any local address needs the wildcards.
			out = append(out, "0.0.0.0")
			if v6 {
				out = append(out, "::")
			}
			return out
		}
	}
	if len(out) == 0 {
		out = []string{"0.0.0.0"}
	}
	return out
}

// readSecrets collects the secrets section.
func (im *swImporter) readSecrets() {
	sec := im.root.sub("secrets")
	if sec == nil {
		return
	}
	for _, kv := range sec.keys {
		im.note(kv.pos, Omitted, "secrets.%s: a key where a secret section belongs", kv.key)
	}
	for _, s := range sec.subs {
		kind := strings.ToLower(s.name)
		if i := strings.IndexAny(kind, "-_"); i >= 0 {
			kind = kind[:i]
		}
		var ids []string
		var val *setKV
		for _, kv := range s.effective() {
			switch {
			case kv.key == "secret":
				val = kv
				im.note(kv.pos, Translated, "secrets.%s.secret (not shown)", s.name)
			case strings.HasPrefix(kv.key, "id"):
				ids = append(ids, kv.value)
				if kind == "ike" {
					im.note(kv.pos, Translated, "secrets.%s.%s = %s: whose secret it is (matched against the connections' identities)", s.name, kv.key, kv.value)
				} else {
					im.note(kv.pos, Translated, "secrets.%s.%s = %s: the user name", s.name, kv.key, kv.value)
				}
			case kv.key == "file":
				im.note(kv.pos, Translated, "secrets.%s.file = %s", s.name, kv.value)
			default:
				im.note(kv.pos, Omitted, "secrets.%s.%s: not supported by ikegate", s.name, kv.key)
			}
		}
		switch kind {
		case "ike", "eap", "xauth", "ntlm":
			if val == nil {
				im.note(s.pos, Omitted, "secrets.%s: no secret", s.name)
				continue
			}
			k := map[string]string{"ike": "PSK", "eap": "EAP", "xauth": "XAUTH", "ntlm": "NTLM"}[kind]
			im.secrets = append(im.secrets, secret{ids: ids, kind: k, value: pskValue(val.value, false), file: s.pos.file, line: s.pos.line})
		case "private", "rsa", "ecdsa", "pkcs8":
			f := s.get("file")
			if f == nil {
				im.note(s.pos, Omitted, "secrets.%s: no file", s.name)
				continue
			}
			dir := map[string]string{"private": "private", "rsa": "rsa", "ecdsa": "ecdsa", "pkcs8": "pkcs8"}[kind]
			p := im.credPath(dir, f.value)
			im.keyFiles = append(im.keyFiles, secret{kind: "KEY", value: p, file: s.pos.file, line: s.pos.line})
			if val != nil {
				im.note(s.pos, Approximated, "secrets.%s: %s is encrypted: ikegate reads unencrypted keys only (decrypt it, e.g. `openssl pkey -in %s -out KEY.pem`, and point key at it)", s.name, p, p)
			} else {
				im.note(s.pos, Translated, "secrets.%s: private key %s (for key when it matches a connection's certificate)", s.name, p)
			}
		case "pkcs12", "token", "ppk":
			im.note(s.pos, Omitted, "secrets.%s: %s secrets are not supported by ikegate", s.name, strings.ToUpper(kind))
		default:
			im.note(s.pos, Omitted, "secrets.%s: unknown kind of secret", s.name)
		}
	}
}

// readAuthorities collects CA certificates of the authorities section.
func (im *swImporter) readAuthorities() {
	sec := im.root.sub("authorities")
	if sec == nil {
		return
	}
	for _, a := range sec.subs {
		for _, kv := range a.effective() {
			switch kv.key {
			case "cacert", "file":
				p := im.credPath("x509ca", kv.value)
				im.caFiles = append(im.caFiles, p)
				im.note(kv.pos, Translated, "authorities.%s: %s = %s → a ca file of the certificate connections that name no cacerts", a.name, kv.key, p)
			case "crl_uris", "ocsp_uris", "cert_uri_base":
				im.note(kv.pos, Omitted, "authorities.%s: %s: ikegate does not check revocation", a.name, kv.key)
			default:
				im.note(kv.pos, Omitted, "authorities.%s: %s: no equivalent in ikegate", a.name, kv.key)
			}
		}
	}
}

// credPath makes a credential name absolute, in swanctl's subdirectory.
func (im *swImporter) credPath(sub, name string) string {
	name = strings.TrimSpace(name)
	if path.IsAbs(name) {
		return name
	}
	return path.Join(im.dir, sub, name)
}

// connNameRE is what ikegate takes as a connection name.
var connNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// uniqueName makes s a valid connection name not yet used.
func uniqueName(names map[string]bool, s string) string {
	if !connNameRE.MatchString(s) {
		s = regexp.MustCompile(`[^A-Za-z0-9._-]+`).ReplaceAllString(s, "-")
		s = strings.TrimLeft(s, "._-")
		if s == "" {
			s = "conn"
		}
	}
	if len(s) > 60 {
		s = s[:60]
	}
	n := s
	for i := 2; names[n]; i++ {
		n = fmt.Sprintf("%s-%d", s, i)
	}
	names[n] = true
	return n
}

// swAuth is what the local and remote rounds say.
type swAuth struct {
	localAuth, remoteAuth string // "psk", "pubkey", or ikegate's remote_auth value
	xauth                 string // "local", "radius"
	certs, cacerts        []string
	certPos               pos
}

// conn imports one connection section.
func (im *swImporter) conn(sec *setSection) {
	name := sec.name
	c := &Conn{Extra: map[string]string{}, File: sec.pos.file, Lines: []int{sec.pos.line}}
	pre := name + ": "

	children := sec.sub("children")
	var childList []*setSection
	if children != nil {
		childList = children.subs
		for _, kv := range children.keys {
			im.note(kv.pos, Omitted, "%schildren.%s: a key where a child section belongs", pre, kv.key)
		}
	}
	if len(childList) == 0 && len(im.referenced[name]) > 0 {
		im.note(sec.pos, Translated, "connection %s: a template for %s (referenced; its settings are noted with them)", name, strings.Join(im.referenced[name], ", "))
		return
	}
	if len(childList) == 0 {
		im.note(sec.pos, Omitted, "connection %s has no children (CHILD SAs): nothing to protect, left out (ikegate has one [[connection]] per CHILD SA)", name)
		return
	}

	// The version first: proposals depend on it.
	initiates := false
	for _, ch := range childList {
		if sa := ch.get("start_action"); sa != nil && (strings.Contains(sa.value, "start") || strings.Contains(sa.value, "trap")) {
			initiates = true
		}
	}
	c.Version = "any"
	if kv := sec.get("version"); kv != nil {
		switch kv.value {
		case "1":
			c.Version = "ikev1"
			im.note(kv.pos, Translated, "%sversion = 1 → version = \"ikev1\"", pre)
		case "2":
			c.Version = "ikev2"
			im.note(kv.pos, Translated, "%sversion = 2 → version = \"ikev2\"", pre)
		case "0":
			if initiates {
				c.Version = "ikev2"
				im.note(kv.pos, Approximated, "%sversion = 0 → version = \"ikev2\" (charon initiates with IKEv2; ikegate's \"any\" is responder only)", pre)
			} else {
				im.note(kv.pos, Translated, "%sversion = 0 → version = \"any\" (responder for both)", pre)
			}
		default:
			im.note(kv.pos, Omitted, "%sversion = %s: not 0, 1 or 2", pre, kv.value)
		}
	} else if initiates {
		c.Version = "ikev2"
		im.note(sec.pos, Approximated, "%sno version (0, any): version = \"ikev2\", as charon initiates (ikegate's \"any\" is responder only)", pre)
	}

	var auth swAuth
	var rounds []*setSection
	for _, s := range sec.subs {
		switch {
		case s.name == "children":
		case strings.HasPrefix(s.name, "local"), strings.HasPrefix(s.name, "remote"):
			rounds = append(rounds, s)
		default:
			im.note(s.pos, Omitted, "%s%s: not a section of a connection", pre, s.name)
		}
	}
	im.rounds(c, pre, rounds, &auth)

	for _, kv := range sec.effective() {
		im.ikeKey(c, pre, kv, &auth)
	}
	if c.RemoteAddr == "" {
		c.RemoteAddr = "%any"
		im.note(sec.pos, Translated, "%sno remote_addrs: remote_addr = \"%%any\" (swanctl's default)", pre)
	}
	if c.RemoteID == "" {
		c.RemoteID = "%any"
		im.note(sec.pos, Translated, "%sno remote id: remote_id = \"%%any\" (swanctl's default: whatever identity the peer's credentials prove)", pre)
	}
	im.finishAuth(c, pre, sec, &auth)

	multi := len(childList) > 1
	for _, ch := range childList {
		cc := *c
		cc.Extra = map[string]string{}
		for k, v := range c.Extra {
			cc.Extra[k] = v
		}
		cc.Lines = append([]int(nil), c.Lines...)
		if ch.pos.file == c.File && ch.pos.line != sec.pos.line {
			cc.Lines = append(cc.Lines, ch.pos.line)
		}
		want := name
		if multi {
			want = name + "-" + ch.name
		}
		cc.Name = uniqueName(im.names, want)
		if cc.Name != want {
			im.note(ch.pos, Approximated, "%schildren.%s → connection %q (%q is not a valid or unique ikegate name)", pre, ch.name, cc.Name, want)
		} else {
			im.note(ch.pos, Translated, "%schildren.%s → connection %q", pre, ch.name, cc.Name)
		}
		if im.child(&cc, name+"/"+ch.name+": ", ch) {
			im.r.Conns = append(im.r.Conns, &cc)
		}
	}
}

// rounds reads the local and remote authentication rounds.
func (im *swImporter) rounds(c *Conn, pre string, rounds []*setSection, auth *swAuth) {
	byRound := func(prefix string) []*setSection {
		var out []*setSection
		for _, s := range rounds {
			if strings.HasPrefix(s.name, prefix) {
				out = append(out, s)
			}
		}
		sort.SliceStable(out, func(i, j int) bool {
			ri, rj := 0, 0
			if kv := out[i].get("round"); kv != nil {
				ri, _ = strconv.Atoi(kv.value)
			}
			if kv := out[j].get("round"); kv != nil {
				rj, _ = strconv.Atoi(kv.value)
			}
			return ri < rj
		})
		return out
	}
	auth.localAuth, auth.remoteAuth = "pubkey", "pubkey"
	for i, s := range byRound("local") {
		sp := pre + s.name + "."
		if i > 0 {
			im.note(s.pos, Omitted, "%s: a second local authentication round: ikegate authenticates itself in one round", pre+s.name)
			continue
		}
		for _, kv := range s.effective() {
			src := fmt.Sprintf("%s%s = %s", sp, kv.key, kv.value)
			switch kv.key {
			case "auth":
				a := strings.ToLower(kv.value)
				switch {
				case a == "psk":
					auth.localAuth = "psk"
					im.note(kv.pos, Translated, "%s → auth = \"psk\"", src)
				case a == "pubkey" || a == "rsa" || a == "ecdsa" || a == "ed25519" || a == "ed448":
					auth.localAuth = "pubkey"
					im.note(kv.pos, Translated, "%s → auth = \"pubkey\"", src)
				case strings.HasPrefix(a, "pubkey-") || strings.HasPrefix(a, "rsa") || strings.HasPrefix(a, "ecdsa"):
					auth.localAuth = "pubkey"
					im.note(kv.pos, Approximated, "%s → auth = \"pubkey\" (ikegate chooses the signature scheme itself)", src)
				default:
					im.note(kv.pos, Omitted, "%s: ikegate's connections authenticate themselves with a PSK or a certificate only (%s is a client's method)", src, kv.value)
				}
			case "id":
				if id, err := identity(kv.value); err != nil {
					im.note(kv.pos, Omitted, "%s: %v", src, err)
				} else {
					c.LocalID = id
					im.note(kv.pos, Translated, "%s → local_id = %q", src, id)
				}
			case "certs", "cert":
				auth.certs = splitList(kv.value)
				auth.certPos = kv.pos
			case "round":
				im.note(kv.pos, Translated, "%s (the first round)", src)
			case "pubkeys":
				im.note(kv.pos, Omitted, "%s: raw public keys are not supported by ikegate (use a certificate)", src)
			case "eap_id", "xauth_id", "aaa_id":
				im.note(kv.pos, Omitted, "%s: ikegate's connections do not authenticate as EAP or XAUTH clients", src)
			default:
				im.note(kv.pos, Omitted, "%s: no equivalent in ikegate", src)
			}
		}
	}
	for i, s := range byRound("remote") {
		sp := pre + s.name + "."
		if i > 1 {
			im.note(s.pos, Omitted, "%s: a third remote authentication round: ikegate checks at most two", pre+s.name)
			continue
		}
		for _, kv := range s.effective() {
			src := fmt.Sprintf("%s%s = %s", sp, kv.key, kv.value)
			switch kv.key {
			case "auth":
				im.remoteAuth(kv, src, i, auth)
			case "id":
				if i > 0 {
					im.note(kv.pos, Omitted, "%s: an identity for the second round: ikegate checks the first round's", src)
					continue
				}
				if id, err := identity(kv.value); err != nil {
					im.note(kv.pos, Omitted, "%s: %v", src, err)
				} else {
					c.RemoteID = id
					im.note(kv.pos, Translated, "%s → remote_id = %q", src, id)
				}
			case "cacerts", "cacert":
				for _, f := range splitList(kv.value) {
					auth.cacerts = append(auth.cacerts, im.credPath("x509ca", f))
				}
				im.note(kv.pos, Translated, "%s → ca = %s", src, tomlList(auth.cacerts))
			case "round":
				im.note(kv.pos, Translated, "%s", src)
			case "eap_id":
				if kv.value == "%any" {
					im.note(kv.pos, Translated, "%s (the default: any EAP identity)", src)
				} else {
					im.note(kv.pos, Omitted, "%s: ikegate does not restrict the EAP identity per connection (the users are the [[user]] list)", src)
				}
			case "xauth_id":
				im.note(kv.pos, Omitted, "%s: ikegate does not restrict the XAUTH user per connection (the users are the [[user]] list)", src)
			case "certs", "cert":
				im.note(kv.pos, Omitted, "%s: ikegate does not pin a peer's certificate; it checks the issuing CA (ca) and remote_id", src)
			case "pubkeys":
				im.note(kv.pos, Omitted, "%s: raw public keys are not supported by ikegate", src)
			case "revocation":
				if kv.value == "relaxed" {
					im.note(kv.pos, Approximated, "%s: ikegate does not check revocation (CRL, OCSP)", src)
				} else {
					im.note(kv.pos, Omitted, "%s: ikegate does not check revocation (CRL, OCSP)", src)
				}
			case "groups", "cert_policy", "ca_id":
				im.note(kv.pos, Omitted, "%s: ikegate has no group membership or certificate policy constraints", src)
			default:
				im.note(kv.pos, Omitted, "%s: no equivalent in ikegate", src)
			}
		}
	}
}

// remoteAuth maps a remote round's auth.
func (im *swImporter) remoteAuth(kv *setKV, src string, round int, auth *swAuth) {
	a := strings.ToLower(kv.value)
	switch {
	case round == 1 && strings.HasPrefix(a, "xauth"):
		switch a {
		case "xauth", "xauth-generic", "xauth-eap", "xauth-pam":
			auth.xauth = "local"
			im.needUsers = true
			if a == "xauth" || a == "xauth-generic" {
				im.note(kv.pos, Translated, "%s → xauth = \"local\" (the xauth secrets become [[user]]s)", src)
			} else {
				im.note(kv.pos, Approximated, "%s → xauth = \"local\" (checked against [[user]]s from the xauth secrets, not %s)", src, strings.TrimPrefix(a, "xauth-"))
			}
		case "xauth-radius":
			auth.xauth = "radius"
			im.note(kv.pos, Approximated, "%s → xauth = \"radius\": add a [radius] table (charon's RADIUS servers are in strongswan.conf, not here)", src)
		default:
			im.note(kv.pos, Omitted, "%s: this XAUTH backend is not supported by ikegate", src)
		}
	case round == 1 && strings.HasPrefix(a, "eap"):
		im.eapAuth(kv, src, a, auth)
	case round == 1:
		im.note(kv.pos, Omitted, "%s: ikegate's second round is XAUTH (IKEv1) or EAP (IKEv2)", src)
	case a == "psk":
		auth.remoteAuth = "psk"
		im.note(kv.pos, Translated, "%s: the peer authenticates with the PSK", src)
	case a == "pubkey" || a == "rsa" || a == "ecdsa" || a == "ed25519" || a == "ed448":
		auth.remoteAuth = "pubkey"
		im.note(kv.pos, Translated, "%s: the peer authenticates with a certificate", src)
	case strings.HasPrefix(a, "pubkey-") || strings.HasPrefix(a, "rsa") || strings.HasPrefix(a, "ecdsa"):
		auth.remoteAuth = "pubkey"
		im.note(kv.pos, Approximated, "%s: the peer authenticates with a certificate (ikegate accepts the signature schemes it implements, without this constraint)", src)
	case strings.HasPrefix(a, "eap"):
		im.eapAuth(kv, src, a, auth)
	default:
		im.note(kv.pos, Omitted, "%s: not supported by ikegate", src)
	}
}

func (im *swImporter) eapAuth(kv *setKV, src, a string, auth *swAuth) {
	switch a {
	case "eap-mschapv2":
		auth.remoteAuth = "eap-mschapv2"
		im.needUsers = true
		im.note(kv.pos, Translated, "%s → remote_auth = \"eap-mschapv2\" (the eap secrets become [[user]]s)", src)
	case "eap", "eap-dynamic":
		auth.remoteAuth = "eap-mschapv2"
		im.needUsers = true
		im.note(kv.pos, Approximated, "%s → remote_auth = \"eap-mschapv2\" (ikegate's local EAP method)", src)
	case "eap-radius":
		auth.remoteAuth = "eap-radius"
		im.note(kv.pos, Omitted, "%s → remote_auth = \"eap-radius\": add a [radius] table (charon's RADIUS servers are in strongswan.conf, not here)", src)
	default:
		im.note(kv.pos, Omitted, "%s: ikegate has EAP-MSCHAPv2 locally and other EAP methods only through RADIUS (remote_auth = \"eap-radius\")", src)
	}
}

// splitList splits a comma-separated swanctl list.
func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// ikeKey maps one key of a connection section.
func (im *swImporter) ikeKey(c *Conn, pre string, kv *setKV, auth *swAuth) {
	src := fmt.Sprintf("%s%s = %s", pre, kv.key, kv.value)
	n := noter{im.r, kv.pos.file}
	line := kv.pos.line
	switch kv.key {
	case "version":
	case "local_addrs":
		list := splitList(kv.value)
		for i, s := range list {
			a, ok := parseAddr(s)
			if !ok {
				if s == "%any" || s == "0.0.0.0" || s == "::" {
					n.note(line, Translated, "%s: any local address (local_addr unset)", src)
				} else {
					n.note(line, Approximated, "%s: %s is not an address: local_addr left unset (any local address)", src, s)
				}
				return
			}
			if i == 0 {
				c.LocalAddr = a.String()
			}
		}
		if len(list) > 1 {
			n.note(line, Approximated, "%s → local_addr = %q (ikegate takes one local address per connection)", src, c.LocalAddr)
		} else if c.LocalAddr != "" {
			n.note(line, Translated, "%s → local_addr = %q", src, c.LocalAddr)
		}
	case "remote_addrs":
		list := splitList(kv.value)
		if len(list) == 0 {
			return
		}
		a, ok := parseAddr(list[0])
		switch {
		case ok && len(list) == 1:
			c.RemoteAddr = a.String()
			n.note(line, Translated, "%s → remote_addr = %q", src, c.RemoteAddr)
		case ok:
			c.RemoteAddr = a.String()
			n.note(line, Approximated, "%s → remote_addr = %q (ikegate takes one peer address per connection; the others are left out)", src, c.RemoteAddr)
		case list[0] == "%any" || list[0] == "0.0.0.0/0" || list[0] == "::/0" || list[0] == "%any6":
			c.RemoteAddr = "%any"
			n.note(line, Translated, "%s → remote_addr = \"%%any\"", src)
		case isSubnetOrRange(list[0]):
			c.RemoteAddr = "%any"
			n.note(line, Approximated, "%s → remote_addr = \"%%any\" (ikegate cannot restrict peers to a subnet or range; remote_id and the credentials still decide)", src)
		default:
			c.RemoteAddr = "%any"
			n.note(line, Omitted, "%s: %s is a host name; ikegate takes addresses: remote_addr = \"%%any\" (responder only) until you set the address", src, list[0])
		}
	case "proposals":
		list := splitList(kv.value)
		if len(list) == 1 && strings.EqualFold(list[0], "default") {
			n.note(line, Approximated, "%s: strongSwan's default IKE proposals → ikegate's default (aes256-sha256-modp2048)", src)
			return
		}
		var def string
		var keep []string
		for _, p := range list {
			if strings.EqualFold(p, "default") {
				def = "; \"default\" (strongSwan's own list) left to ikegate's defaults is dropped from an explicit list"
				continue
			}
			keep = append(keep, p)
		}
		c.IKE = noteProposals(n, line, src, keep, false, c.Version,
			func(s string) proposalResult { return mapSwanProposal(s, false, c.Version) }, strings.TrimPrefix(def, "; "))
	case "aggressive":
		if v, _ := parseYesNo(kv.value); v {
			if c.Version != "ikev1" {
				n.note(line, Omitted, "%s: Aggressive Mode is IKEv1 only, and this connection is not version 1", src)
				return
			}
			c.IKEv1Mode = "aggressive"
			n.note(line, Translated, "%s → ikev1_mode = \"aggressive\"", src)
		} else {
			n.note(line, Translated, "%s (Main Mode, the default)", src)
		}
	case "dpd_delay":
		d, err := parseTime(kv.value)
		switch {
		case err != nil:
			n.note(line, Omitted, "%s: %v", src, err)
		case d == 0:
			n.note(line, Approximated, "%s: ikegate always checks liveness; its default dpd_delay (30s) applies", src)
		default:
			cd, ch := clampDuration(d, minDPD, maxDPD)
			c.DPDDelay = durationTOML(cd)
			st := Translated
			if ch {
				st = Approximated
			}
			n.note(line, st, "%s → dpd_delay = %q", src, c.DPDDelay)
		}
	case "dpd_timeout":
		d, err := parseTime(kv.value)
		if err != nil {
			n.note(line, Omitted, "%s: %v", src, err)
			return
		}
		cd, ch := clampDuration(d, minDPD, maxDPD)
		c.DPDTimeout = durationTOML(cd)
		st := Translated
		if ch {
			st = Approximated
		}
		n.note(line, st, "%s → dpd_timeout = %q", src, c.DPDTimeout)
	case "rekey_time":
		d, err := parseTime(kv.value)
		if err == nil && d == 0 {
			n.note(line, Approximated, "%s: ikegate always rekeys; its default ike_lifetime (4h) applies", src)
			return
		}
		c.IKELifetime = lifetimeNote(n, line, src, kv.value, "ike_lifetime")
	case "over_time", "rand_time":
		n.note(line, Approximated, "%s: ikegate rekeys at 80-90%% of ike_lifetime (its own jitter and margin)", src)
	case "reauth_time":
		if d, err := parseTime(kv.value); err == nil && d == 0 {
			n.note(line, Translated, "%s (no reauthentication, as ikegate)", src)
		} else {
			n.note(line, Omitted, "%s: ikegate does not reauthenticate; it rekeys the IKE SA (ike_lifetime)", src)
		}
	case "mobike":
		v, ok := parseYesNo(kv.value)
		switch {
		case !ok:
			n.note(line, Omitted, "%s: not yes or no", src)
		case v && c.Version == "ikev1":
			n.note(line, Translated, "%s (IKEv1 has no MOBIKE)", src)
		case v:
			c.Extra["mobike"] = "true"
			n.note(line, Translated, "%s → mobike = true", src)
		default:
			n.note(line, Translated, "%s (ikegate's default)", src)
		}
	case "fragmentation":
		switch strings.ToLower(kv.value) {
		case "yes", "accept":
			n.note(line, Translated, "%s (ikegate announces fragmentation and fragments for peers that support it)", src)
		case "force":
			n.note(line, Approximated, "%s: ikegate fragments only for peers that announce support", src)
		default:
			n.note(line, Approximated, "%s: ikegate always announces and accepts fragmentation", src)
		}
	case "encap":
		if v, _ := parseYesNo(kv.value); v {
			n.note(line, Omitted, "%s: ikegate does not force UDP encapsulation (it encapsulates when a NAT is detected)", src)
		} else {
			n.note(line, Translated, "%s (encapsulation only behind a NAT)", src)
		}
	case "unique":
		switch kv.value {
		case "no", "never", "keep", "replace":
			c.Extra["unique"] = tomlString(kv.value)
			n.note(line, Translated, "%s → unique = %q", src, kv.value)
		default:
			n.note(line, Omitted, "%s: not no, never, keep or replace", src)
		}
	case "send_cert":
		switch kv.value {
		case "always", "ifasked", "never":
			c.Extra["send_cert"] = tomlString(kv.value)
			n.note(line, Translated, "%s → send_cert = %q", src, kv.value)
		default:
			n.note(line, Omitted, "%s: not always, ifasked or never", src)
		}
	case "send_certreq":
		if v, _ := parseYesNo(kv.value); v {
			n.note(line, Translated, "%s (ikegate sends certificate requests for its CAs)", src)
		} else {
			n.note(line, Approximated, "%s: ikegate always sends certificate requests for its CAs", src)
		}
	case "keyingtries":
		if kv.value == "0" {
			n.note(line, Translated, "%s (ikegate keeps trying a started connection)", src)
		} else {
			n.note(line, Approximated, "%s: a started ikegate connection keeps trying until the peer answers", src)
		}
	case "pools":
		list := splitList(kv.value)
		if len(list) == 0 {
			return
		}
		p := list[0]
		if p == "radius" || p == "dhcp" {
			n.note(line, Omitted, "%s: addresses from %s are not supported by ikegate (pools are [[pool]]s)", src, p)
			return
		}
		if _, ps := lookupSection(im.root, "pools."+p); ps == nil {
			n.note(line, Omitted, "%s: there is no pool %q in the pools section", src, p)
			return
		}
		c.Extra["pool"] = tomlString(uniquePoolName(p))
		im.pools[p] = true
		if len(list) > 1 {
			n.note(line, Approximated, "%s → pool = %q (ikegate takes one pool per connection)", src, uniquePoolName(p))
		} else {
			n.note(line, Translated, "%s → pool = %q", src, uniquePoolName(p))
		}
	case "vips":
		n.note(line, Omitted, "%s: ikegate's connections do not request virtual IPs (it is the gateway side)", src)
	case "pull":
		n.note(line, Translated, "%s (ikegate answers Mode Config requests; with pools, modecfg = \"push\" sends unasked)", src)
	case "local_port", "remote_port":
		n.note(line, Omitted, "%s: ikegate uses gateway.ike_port / natt_port for all connections", src)
	case "dscp":
		n.note(line, Omitted, "%s: ikegate does not mark IKE packets", src)
	case "childless":
		n.note(line, Omitted, "%s: ikegate does not do childless IKE SAs", src)
	case "if_id_in", "if_id_out":
		n.note(line, Omitted, "%s: ikegate does not set XFRM interface IDs", src)
	case "ppk_id", "ppk_required":
		n.note(line, Omitted, "%s: post-quantum preshared keys are not supported by ikegate", src)
	case "mediation", "mediated_by", "mediation_peer":
		n.note(line, Omitted, "%s: IKEv2 mediation is not supported by ikegate", src)
	default:
		n.note(line, Omitted, "%s: no equivalent in ikegate", src)
	}
}

// poolName makes a pool name valid for ikegate (the same rules as
// connection names).
func uniquePoolName(s string) string {
	if connNameRE.MatchString(s) && len(s) <= 64 {
		return s
	}
	return uniqueName(map[string]bool{}, s)
}

// finishAuth settles auth, remote_auth, the PSK and the certificates.
func (im *swImporter) finishAuth(c *Conn, pre string, sec *setSection, auth *swAuth) {
	c.Auth = auth.localAuth
	switch {
	case auth.remoteAuth == auth.localAuth:
	case c.Version == "ikev1" && (auth.remoteAuth == "psk" || auth.remoteAuth == "pubkey"):
		im.note(sec.pos, Omitted, "%sthe peer authenticates with %s and this end with %s: IKEv1 needs the same method on both ends", pre, auth.remoteAuth, auth.localAuth)
	case c.Version == "ikev1":
		// EAP in IKEv1: already noted.
	default:
		c.Extra["remote_auth"] = tomlString(auth.remoteAuth)
	}
	if auth.xauth != "" {
		if c.Version == "ikev2" {
			im.note(sec.pos, Omitted, "%sXAUTH is IKEv1 only (this connection is version 2)", pre)
		} else {
			c.Extra["xauth"] = tomlString(auth.xauth)
		}
	}
	if c.Version != "ikev1" && c.IKEv1Mode == "aggressive" {
		c.IKEv1Mode = ""
	}
	if c.IKEv1Mode == "aggressive" && c.Auth == "psk" && auth.xauth == "" {
		c.Extra["allow_aggressive_psk"] = "true"
		im.note(sec.pos, Approximated, "%sAggressive Mode with a PSK and no XAUTH: allow_aggressive_psk = true, as charon was told to accept that risk (its PSK hash can be cracked offline: prefer Main Mode, certificates or IKEv2)", pre)
	}

	needPSK := c.Auth == "psk" || auth.remoteAuth == "psk"
	if needPSK {
		local := []string{c.LocalID, c.LocalAddr}
		remote := []string{c.RemoteID, c.RemoteAddr}
		s, amb := matchSecret(im.secrets, "PSK", local, remote)
		switch {
		case s == nil:
			im.note(sec.pos, Omitted, "%sno ike secret matches %s and %s: set psk by hand", pre, idOrAddr(c.LocalID, c.LocalAddr, "this end"), idOrAddr(c.RemoteID, c.RemoteAddr, "the peer"))
		default:
			c.PSK = s.value
			im.usedSecret[s] = true
			st := Translated
			what := ""
			if amb {
				st, what = Approximated, " (another entry matches as well and holds a different secret: check)"
			}
			im.r.NoteIn(s.file, s.line, st, "secrets: pre-shared key → psk of connection %s (not shown)%s", strings.TrimSuffix(pre, ": "), what)
		}
	}
	if c.Auth == "pubkey" {
		if len(auth.certs) == 0 {
			im.note(sec.pos, Omitted, "%sauth is pubkey but local has no certs: set cert and key by hand", pre)
		} else {
			c.Cert = im.credPath("x509", auth.certs[0])
			st := Translated
			what := ""
			if len(auth.certs) > 1 {
				st, what = Approximated, " (ikegate takes one certificate per connection: the first)"
			}
			key, how := im.keyFor(c.Cert)
			c.Key = key
			if how != "" {
				st = Approximated
				what += "; " + how
			}
			im.note(auth.certPos, st, "%slocal.certs = %s → cert = %q, key = %q%s", pre, strings.Join(auth.certs, ","), c.Cert, c.Key, what)
		}
	}
	if auth.remoteAuth == "pubkey" || len(auth.cacerts) > 0 {
		switch {
		case len(auth.cacerts) > 0:
			c.Extra["ca"] = tomlList(auth.cacerts)
		case len(im.caFiles) > 0:
			c.Extra["ca"] = tomlList(im.caFiles)
			im.note(sec.pos, Approximated, "%sno cacerts: ca = the authorities' CA certificates %s", pre, tomlList(im.caFiles))
		default:
			cas := im.glob("x509ca/*")
			if len(cas) > 0 {
				c.Extra["ca"] = tomlList(cas)
				im.note(sec.pos, Approximated, "%sno cacerts: ca = every CA certificate in x509ca/ (as charon trusts them all) %s", pre, tomlList(cas))
			} else {
				im.note(sec.pos, Omitted, "%sno cacerts: charon trusts every CA certificate in %s; list them in ca", pre, path.Join(im.dir, "x509ca"))
			}
		}
	}
}

// idOrAddr names an end for a note.
func idOrAddr(id, addr, def string) string {
	switch {
	case id != "":
		return id
	case addr != "" && addr != "%any":
		return addr
	}
	return def
}

// glob lists files in swanctl's directory, absolute.
func (im *swImporter) glob(pat string) []string {
	if im.files == nil {
		return nil
	}
	m, err := im.files.Glob(pat)
	if err != nil {
		return nil
	}
	var out []string
	for _, f := range m {
		if !path.IsAbs(f) {
			f = path.Join(im.dir, f)
		}
		out = append(out, f)
	}
	return out
}

// keyFor finds the private key of a certificate: the secrets' key files or
// those in private/, rsa/, ecdsa/, pkcs8/, preferring one with the same
// base name. how says how it was guessed ("" when certain).
func (im *swImporter) keyFor(cert string) (string, string) {
	var cands []string
	for _, k := range im.keyFiles {
		cands = append(cands, k.value)
	}
	if len(cands) == 0 {
		for _, d := range []string{"private", "rsa", "ecdsa", "pkcs8"} {
			cands = append(cands, im.glob(d+"/*")...)
		}
	}
	stem := func(p string) string {
		b := path.Base(p)
		for _, ext := range []string{".pem", ".der", ".crt", ".key", ".cert"} {
			b = strings.TrimSuffix(b, ext)
		}
		return strings.TrimSuffix(strings.TrimSuffix(b, "Cert"), "Key")
	}
	for _, k := range cands {
		if stem(k) == stem(cert) {
			if len(cands) == 1 {
				return k, ""
			}
			return k, "the private key of the same name"
		}
	}
	if len(cands) == 1 {
		return cands[0], ""
	}
	if len(cands) > 1 {
		return cands[0], "the first of several private keys: check it belongs to the certificate"
	}
	return path.Join(im.dir, "private", path.Base(cert)), "key guessed: charon finds it in private/ by matching the certificate, ikegate needs its file"
}

// child maps one child section onto c; false when the connection is left
// out (a shunt).
func (im *swImporter) child(c *Conn, pre string, ch *setSection) bool {
	var lifeTime, rekeyBytes, lifeBytes *setKV
	hasRekeyTime := ch.get("rekey_time") != nil
	for _, kv := range ch.effective() {
		src := fmt.Sprintf("%s%s = %s", pre, kv.key, kv.value)
		n := noter{im.r, kv.pos.file}
		line := kv.pos.line
		switch kv.key {
		case "local_ts", "remote_ts":
			ts, ok := im.selectors(n, line, src, kv.value)
			if !ok {
				continue
			}
			if kv.key == "local_ts" {
				c.LocalTS = ts
			} else {
				c.RemoteTS = ts
			}
		case "esp_proposals":
			list := splitList(kv.value)
			if len(list) == 1 && strings.EqualFold(list[0], "default") {
				n.note(line, Approximated, "%s: strongSwan's default ESP proposals → ikegate's (aes256gcm16, aes128gcm16, aes256-sha256, aes128-sha256)", src)
				continue
			}
			var keep []string
			for _, p := range list {
				if !strings.EqualFold(p, "default") {
					keep = append(keep, p)
				}
			}
			c.ESP = noteProposals(n, line, src, keep, true, c.Version,
				func(s string) proposalResult { return mapSwanProposal(s, true, c.Version) }, "")
		case "ah_proposals":
			n.note(line, Omitted, "%s: AH is not implemented in ikegate (use ESP, with null encryption if need be)", src)
		case "mode":
			switch strings.ToLower(kv.value) {
			case "tunnel":
				n.note(line, Translated, "%s (ikegate's default)", src)
			case "transport":
				c.Mode = "transport"
				n.note(line, Translated, "%s → mode = \"transport\"", src)
			case "pass", "drop":
				n.note(line, Omitted, "%s: a shunt policy, not a tunnel: ikegate has no shunts; connection left out", src)
				return false
			default:
				n.note(line, Omitted, "%s: ikegate has tunnel and transport mode only; tunnel kept", src)
			}
		case "start_action":
			im.startAction(c, n, line, src, kv.value)
		case "dpd_action":
			switch strings.ToLower(kv.value) {
			case "clear":
				c.DPDAction = "clear"
				n.note(line, Translated, "%s → dpd_action = \"clear\"", src)
			case "trap":
				c.DPDAction = "hold"
				n.note(line, Translated, "%s → dpd_action = \"hold\"", src)
			case "restart", "start":
				c.DPDAction = "restart"
				n.note(line, Translated, "%s → dpd_action = \"restart\"", src)
			case "none":
				n.note(line, Translated, "%s (ikegate clears the SAs of a dead peer: dpd_action = \"clear\")", src)
			default:
				n.note(line, Omitted, "%s: not clear, trap, restart or none", src)
			}
		case "close_action":
			if strings.EqualFold(kv.value, "none") {
				n.note(line, Translated, "%s (as ikegate)", src)
			} else {
				n.note(line, Omitted, "%s: ikegate does not act when the peer closes a CHILD SA", src)
			}
		case "rekey_time":
			if d, err := parseTime(kv.value); err == nil && d == 0 {
				n.note(line, Approximated, "%s: ikegate always rekeys; its default child_lifetime (1h) applies", src)
				continue
			}
			c.ChildLifetime = lifetimeNote(n, line, src, kv.value, "child_lifetime")
		case "life_time":
			lifeTime = kv
		case "rand_time":
			n.note(line, Approximated, "%s: ikegate rekeys at 80-90%% of child_lifetime", src)
		case "rekey_bytes":
			rekeyBytes = kv
		case "life_bytes":
			lifeBytes = kv
		case "rand_bytes":
			n.note(line, Approximated, "%s: ikegate rekeys at 90%% of child_lifetime_bytes", src)
		case "rekey_packets", "life_packets", "rand_packets":
			if v, err := strconv.ParseUint(kv.value, 10, 64); err == nil && v == 0 {
				n.note(line, Translated, "%s (no packet limit, as ikegate)", src)
			} else {
				n.note(line, Omitted, "%s: ikegate has no packet-count lifetimes (only time and bytes)", src)
			}
		case "sha256_96":
			if v, _ := parseYesNo(kv.value); v {
				c.Extra["sha2_truncbug"] = "true"
				n.note(line, Translated, "%s → sha2_truncbug = true", src)
			} else {
				n.note(line, Translated, "%s (ikegate's default)", src)
			}
		case "updown":
			n.note(line, Omitted, "%s: ikegate runs no updown script (use its log or metrics)", src)
		case "hostaccess":
			n.note(line, Omitted, "%s: ikegate does not set up firewall rules", src)
		case "policies":
			if v, _ := parseYesNo(kv.value); v {
				n.note(line, Translated, "%s (ikegate installs policies with the xfrm dataplane)", src)
			} else {
				n.note(line, Omitted, "%s: ikegate always installs the CHILD SA's policies", src)
			}
		case "inactivity":
			n.note(line, Omitted, "%s: ikegate has no inactivity timeout for site-to-site CHILD SAs (pools have idle_timeout)", src)
		case "ipcomp":
			if v, _ := parseYesNo(kv.value); v {
				n.note(line, Omitted, "%s: IPComp is not implemented in ikegate", src)
			} else {
				n.note(line, Translated, "%s (no IPComp, as ikegate)", src)
			}
		case "replay_window", "hw_offload", "copy_df", "copy_ecn", "copy_dscp", "tfc_padding", "priority", "interface",
			"mark_in", "mark_out", "mark_in_sa", "set_mark_in", "set_mark_out", "if_id_in", "if_id_out", "label",
			"label_mode", "reqid", "policies_fwd_out", "per_cpu_sas":
			n.note(line, Omitted, "%s: no equivalent in ikegate (its kernel settings are its own)", src)
		default:
			n.note(line, Omitted, "%s: no equivalent in ikegate", src)
		}
	}
	if lifeTime != nil {
		n := noter{im.r, lifeTime.pos.file}
		src := fmt.Sprintf("%s%s = %s", pre, lifeTime.key, lifeTime.value)
		if hasRekeyTime {
			n.note(lifeTime.pos.line, Approximated, "%s: ikegate's child_lifetime is the lifetime it rekeys at 80-90%% of; taken from rekey_time", src)
		} else {
			c.ChildLifetime = lifetimeNote(n, lifeTime.pos.line, src, lifeTime.value, "child_lifetime")
		}
	}
	bytesKey := func(kv *setKV, how string) {
		n := noter{im.r, kv.pos.file}
		src := fmt.Sprintf("%s%s = %s", pre, kv.key, kv.value)
		v, err := parseBytes(kv.value)
		switch {
		case err != nil:
			n.note(kv.pos.line, Omitted, "%s: %v", src, err)
		case v == 0:
			n.note(kv.pos.line, Translated, "%s (no byte limit, as ikegate)", src)
		default:
			c.ChildLifetimeBytes = v
			if how == "" {
				n.note(kv.pos.line, Translated, "%s → child_lifetime_bytes = %d", src, v)
			} else {
				n.note(kv.pos.line, Approximated, "%s → child_lifetime_bytes = %d (%s)", src, v, how)
			}
		}
	}
	switch {
	case lifeBytes != nil:
		bytesKey(lifeBytes, "")
		if rekeyBytes != nil {
			noter{im.r, rekeyBytes.pos.file}.note(rekeyBytes.pos.line, Approximated, "%srekey_bytes = %s: ikegate rekeys at 90%% of child_lifetime_bytes", pre, rekeyBytes.value)
		}
	case rekeyBytes != nil:
		bytesKey(rekeyBytes, "ikegate rekeys at 90% of it and drops the SA at 100%")
	}
	im.checkStart(c, pre, ch)
	return true
}

// selectors maps a comma-separated list of traffic selectors.
func (im *swImporter) selectors(n noter, line int, src, val string) ([]string, bool) {
	var out, lost []string
	for _, s := range splitList(val) {
		if s == "dynamic" || s == "%dynamic" {
			lost = append(lost, "dynamic (the address, or the virtual IP: ikegate's default)")
			continue
		}
		ps, l, err := selector(s)
		if err != nil {
			n.note(line, Omitted, "%s: %v", src, err)
			return nil, false
		}
		if l != "" {
			lost = append(lost, l)
		}
		for _, p := range ps {
			if !hasString(out, p) {
				out = append(out, p)
			}
		}
	}
	key := "local_ts"
	if strings.Contains(src, "remote_ts") {
		key = "remote_ts"
	}
	switch {
	case len(out) == 0:
		n.note(line, Translated, "%s (ikegate's default: %s)", src, strings.Join(lost, "; "))
	case len(lost) > 0 && !allDynamic(lost):
		n.note(line, Approximated, "%s → %s = %s (%s)", src, key, tomlList(out), strings.Join(lost, "; "))
	default:
		n.note(line, Translated, "%s → %s = %s", src, key, tomlList(out))
	}
	return out, true
}

func allDynamic(lost []string) bool {
	for _, l := range lost {
		if !strings.HasPrefix(l, "dynamic") {
			return false
		}
	}
	return true
}

// startAction maps start_action.
func (im *swImporter) startAction(c *Conn, n noter, line int, src, val string) {
	parts := strings.Split(strings.ToLower(val), "|")
	has := func(s string) bool { return hasString(parts, s) }
	switch {
	case has("start") && has("trap"):
		c.Start = "start"
		n.note(line, Approximated, "%s → start = \"start\" (ikegate starts or traps, not both)", src)
	case has("start"):
		c.Start = "start"
		n.note(line, Translated, "%s → start = \"start\"", src)
	case has("trap"):
		c.Start = "trap"
		n.note(line, Translated, "%s → start = \"trap\"", src)
	case has("none"):
		c.Start = "none"
		n.note(line, Translated, "%s → start = \"none\"", src)
	default:
		n.note(line, Omitted, "%s: not none, start or trap", src)
	}
}

// checkStart drops start/trap when ikegate could not initiate.
func (im *swImporter) checkStart(c *Conn, pre string, ch *setSection) {
	if c.Start == "" || c.Start == "none" {
		return
	}
	why := ""
	switch {
	case c.RemoteAddr == "" || c.RemoteAddr == "%any":
		why = "no peer address (remote_addrs) to initiate to"
	case c.LocalAddr == "":
		why = "no local address (local_addrs): ikegate initiates from a set local_addr"
	case c.Version == "any":
		why = "version any is responder only"
	}
	if why == "" {
		return
	}
	p := ch.pos
	if kv := ch.get("start_action"); kv != nil {
		p = kv.pos
	}
	im.note(p, Omitted, "%sstart = %q needs %s: left at \"none\"", pre, c.Start, why)
	c.Start = ""
}

// emitPools writes the pools the connections use.
func (im *swImporter) emitPools() {
	sec := im.root.sub("pools")
	if sec == nil {
		return
	}
	for _, p := range sec.subs {
		if !im.pools[p.name] {
			im.note(p.pos, Omitted, "pools.%s: no imported connection uses this pool", p.name)
			continue
		}
		t := &Table{Kind: "pool", File: p.pos.file, Lines: []int{p.pos.line}}
		t.Keys = append(t.Keys, KV{Key: "name", Value: tomlString(uniquePoolName(p.name))})
		im.note(p.pos, Translated, "pools.%s → [[pool]] %q", p.name, uniquePoolName(p.name))
		attrs := map[string][]string{}
		var order []string
		var single []KV
		add := func(k string, v []string) {
			if _, ok := attrs[k]; !ok {
				order = append(order, k)
			}
			attrs[k] = append(attrs[k], v...)
		}
		for _, kv := range p.effective() {
			src := fmt.Sprintf("pools.%s.%s = %s", p.name, kv.key, kv.value)
			switch kv.key {
			case "addrs":
				var addrs []string
				for _, a := range splitList(kv.value) {
					if a == "dhcp" || a == "radius" {
						im.note(kv.pos, Omitted, "%s: addresses from %s are not supported by ikegate", src, a)
						continue
					}
					addrs = append(addrs, a)
				}
				add("addresses", addrs)
				im.note(kv.pos, Translated, "%s → addresses = %s", src, tomlList(addrs))
			case "dns", "nbns":
				add(kv.key, splitList(kv.value))
				im.note(kv.pos, Translated, "%s → %s = %s", src, kv.key, tomlList(splitList(kv.value)))
			case "split_include", "split_exclude":
				add(kv.key, splitList(kv.value))
				im.note(kv.pos, Translated, "%s → %s = %s", src, kv.key, tomlList(splitList(kv.value)))
			case "subnet":
				add("split_include", splitList(kv.value))
				im.note(kv.pos, Approximated, "%s → split_include = %s (the networks the clients route to the tunnel)", src, tomlList(splitList(kv.value)))
			case "28675", "unity_def_domain":
				single = append(single, KV{Key: "domain", Value: tomlString(kv.value)})
				im.note(kv.pos, Translated, "%s → domain = %q", src, kv.value)
			case "28672", "unity_banner":
				single = append(single, KV{Key: "banner", Value: tomlString(kv.value)})
				im.note(kv.pos, Translated, "%s → banner", src)
			default:
				im.note(kv.pos, Omitted, "%s: this attribute is not supported by ikegate's pools", src)
			}
		}
		for _, k := range order {
			t.Keys = append(t.Keys, KV{Key: k, Value: tomlList(attrs[k])})
		}
		t.Keys = append(t.Keys, single...)
		im.r.Tables = append(im.r.Tables, t)
	}
}

// emitUsers writes [[user]]s from the EAP and XAUTH secrets when a
// connection checks users.
func (im *swImporter) emitUsers() {
	seen := map[string]bool{}
	for _, s := range im.secrets {
		if s.kind == "PSK" {
			continue
		}
		if !im.needUsers {
			im.r.NoteIn(s.file, s.line, Omitted, "secrets: a %s password, but no imported connection checks users", s.kind)
			continue
		}
		if len(s.ids) == 0 {
			im.r.NoteIn(s.file, s.line, Omitted, "secrets: a %s password without an id: ikegate's users have names", s.kind)
			continue
		}
		for _, id := range s.ids {
			if seen[id] {
				im.r.NoteIn(s.file, s.line, Omitted, "secrets: %s has a password already (the first one is kept)", id)
				continue
			}
			seen[id] = true
			im.r.Tables = append(im.r.Tables, userTable(s, id))
			im.r.NoteIn(s.file, s.line, Translated, "secrets: user %s → [[user]] (password not shown)", id)
		}
	}
	if im.needUsers && len(seen) == 0 {
		im.r.Note(0, Omitted, "a connection checks users (EAP-MSCHAPv2 or XAUTH) but there are no eap or xauth secrets: add [[user]]s")
	}
}
