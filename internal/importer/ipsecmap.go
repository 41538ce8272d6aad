package importer

import (
	"fmt"
	"path"
	"regexp"
	"strings"
	"time"
)

// What ipsec.conf's parameters mean for ikegate, for strongSwan's and
// Libreswan's dialects. Which end is this host: left, as the convention
// (and both daemons when no address decides) has it, unless left is %any
// or right is %defaultroute or an address config setup listens on.

func parseIPsecConf(name string, src []byte, files Files, d dialect) (*Result, error) {
	r := &Result{Gateway: map[string]string{}}
	rd := &icReader{files: files, r: r, open: map[string]bool{}}
	if err := rd.read(src, ""); err != nil {
		return nil, err
	}
	im := &icImporter{r: r, d: d, files: files, dir: "/etc", names: map[string]bool{},
		conns: map[string]*icSection{}, usedSecret: map[*secret]bool{}, referenced: map[string][]string{}}
	if files != nil {
		im.dir = files.Dir()
	}
	if err := im.run(name, rd.sections); err != nil {
		return nil, err
	}
	return r, nil
}

// icImporter holds the state of one ipsec.conf import.
type icImporter struct {
	r          *Result
	d          dialect
	files      Files
	dir        string // the input's directory: ipsec.d is below it
	names      map[string]bool
	conns      map[string]*icSection
	def        *icSection
	cas        []string // strongSwan ca sections' cacert files
	secrets    []secret
	usedSecret map[*secret]bool
	referenced map[string][]string // conn name → the conns that also= it
	listen     []string            // config setup listen=
	unique     string              // from uniqueids
	needUsers  bool
	secretsRd  bool // a secrets file was found
}

func (im *icImporter) note(p pos, st Status, format string, args ...any) {
	im.r.NoteIn(p.file, p.line, st, format, args...)
}

// ipsecD is the ipsec.d directory (strongSwan's certificates and keys).
func (im *icImporter) ipsecD(sub, name string) string {
	if path.IsAbs(name) {
		return name
	}
	return path.Join(im.dir, "ipsec.d", sub, name)
}

func (im *icImporter) run(name string, sections []*icSection) error {
	im.r.Gateway["dataplane"] = tomlString("xfrm")
	im.r.Note(0, Translated, "[gateway] dataplane = \"xfrm\": the kernel's IPsec, as %s uses it", map[dialect]string{dialectStrongSwan: "charon", dialectLibreswan: "pluto"}[im.d])
	var order []*icSection
	var setup []*setKV
	for _, s := range sections {
		switch {
		case s.kind == "config":
			setup = append(setup, s.keys...)
		case s.kind == "ca":
			im.ca(s)
		case s.name == "%default":
			if im.def == nil {
				im.def = &icSection{kind: "conn", name: "%default", pos: s.pos}
			}
			im.def.keys = append(im.def.keys, s.keys...)
			im.note(s.pos, Translated, "conn %%default: defaults of every conn (noted with each)")
		case im.conns[s.name] != nil:
			im.note(s.pos, Omitted, "conn %s is defined twice; this second definition is ignored, as the daemon refuses it", s.name)
		default:
			im.conns[s.name] = s
			order = append(order, s)
		}
	}
	secretsFile := ""
	for _, kv := range setup {
		if v := im.setupKey(kv); v != "" {
			secretsFile = v
		}
	}
	im.readSecrets(name, secretsFile)
	for _, s := range order {
		for _, kv := range s.keys {
			if kv.key == "also" {
				im.referenced[kv.value] = append(im.referenced[kv.value], s.name)
			}
		}
	}
	for _, s := range order {
		kvs, err := resolveConn(s, im.conns, im.def, im.r, nil)
		if err != nil {
			return err
		}
		im.conn(s, kvs)
	}
	im.emitUsers()
	for i := range im.secrets {
		s := &im.secrets[i]
		if s.kind == "PSK" && !im.usedSecret[s] {
			im.r.NoteIn(s.file, s.line, Omitted, "this pre-shared key matches no imported connection")
		}
	}
	im.r.Listen = listenAddrs(im.r.Conns)
	for _, a := range im.listen {
		if !hasString(im.r.Listen, a) {
			im.r.Listen = append(im.r.Listen, a)
		}
	}
	return nil
}

// ca reads a strongSwan ca section.
func (im *icImporter) ca(s *icSection) {
	if im.d == dialectLibreswan {
		im.note(s.pos, Omitted, "ca %s: Libreswan has no ca sections (its CAs are in the NSS database)", s.name)
		return
	}
	for _, kv := range s.keys {
		src := fmt.Sprintf("ca %s: %s=%s", s.name, kv.key, kv.value)
		switch kv.key {
		case "cacert":
			p := im.ipsecD("cacerts", kv.value)
			im.cas = append(im.cas, p)
			im.note(kv.pos, Translated, "%s → %s, a ca file of the certificate connections", src, p)
		case "auto":
			im.note(kv.pos, Translated, "%s", src)
		case "crluri", "crluri1", "crluri2", "ocspuri", "ocspuri1", "ocspuri2", "certuribase":
			im.note(kv.pos, Omitted, "%s: ikegate does not check revocation", src)
		default:
			im.note(kv.pos, Omitted, "%s: no equivalent in ikegate", src)
		}
	}
}

// setupKey maps a config setup parameter; it returns the secrets file
// Libreswan's secretsfile= names.
func (im *icImporter) setupKey(kv *setKV) string {
	src := fmt.Sprintf("config setup: %s=%s", kv.key, kv.value)
	note := func(st Status, format string, args ...any) {
		im.note(kv.pos, st, "%s"+format, append([]any{src}, args...)...)
	}
	switch kv.key {
	case "uniqueids":
		m := map[string]string{"yes": "replace", "no": "no", "never": "never", "replace": "replace", "keep": "keep"}
		if u, ok := m[strings.ToLower(kv.value)]; ok {
			im.unique = u
			note(Translated, " → unique = %q on every connection", u)
		} else {
			note(Omitted, ": not yes, no, never, replace or keep")
		}
	case "charondebug", "plutodebug":
		v := strings.ToLower(kv.value)
		if v == "" || v == "none" {
			note(Translated, " (log_level \"info\", ikegate's default)")
		} else {
			im.r.Gateway["log_level"] = tomlString("debug")
			note(Approximated, " → log_level = \"debug\" (ikegate has one level, not one per subsystem)")
		}
	case "logfile", "plutostderrlog", "logtime", "logappend", "logip", "audit-log", "syslog", "plutostderrlogtime":
		note(Approximated, ": ikegate logs to standard error (the journal under systemd); log_format = \"json\" for a log shipper")
	case "protostack":
		if v := strings.ToLower(kv.value); v == "netkey" || v == "xfrm" || v == "native" {
			note(Translated, " (dataplane = \"xfrm\")")
		} else {
			note(Omitted, ": ikegate's kernel dataplane is XFRM")
		}
	case "listen":
		if a, ok := parseAddr(kv.value); ok {
			im.listen = append(im.listen, a.String())
			note(Translated, " → listen includes %q", a.String())
		} else {
			note(Omitted, ": not an address")
		}
	case "interfaces":
		note(Approximated, ": ikegate listens on gateway.listen's addresses (the connections' local addresses, or 0.0.0.0)")
	case "nat_traversal", "nat-traversal":
		note(Translated, " (ikegate always does NAT traversal)")
	case "keep-alive", "keep_alive":
		d, err := parseTime(kv.value)
		if err != nil {
			note(Omitted, ": %v", err)
			return ""
		}
		cd, ch := clampDuration(d, minDPD, 2*time.Minute)
		im.r.Gateway["natt_keepalive"] = tomlString(durationTOML(cd))
		if ch {
			note(Approximated, " → natt_keepalive = %q (from 1s to 2m)", durationTOML(cd))
		} else {
			note(Translated, " → natt_keepalive = %q", durationTOML(cd))
		}
	case "ikev1-policy":
		switch strings.ToLower(kv.value) {
		case "accept":
			note(Translated, " (ikegate takes IKEv1 on connections with version = \"ikev1\" or \"any\")")
		default:
			note(Approximated, ": ikegate drops IKEv1 for connections with version = \"ikev2\"; there is no global switch")
		}
	case "virtual_private", "virtual-private":
		note(Approximated, ": ikegate takes the clients' addresses as the remote_ts and pools say; there is no separate allow list")
	case "secretsfile":
		note(Translated, ": the secrets are read from it")
		return kv.value
	case "strictcrlpolicy", "cachecrls", "crlcheckinterval", "crl-strict", "ocsp-enable", "ocsp-strict", "ocsp-method",
		"ocsp-timeout", "ocsp-uri", "ocsp-trustname", "ocsp-cache-size", "ocsp-cache-min-age", "ocsp-cache-max-age", "curl-iface", "curl-timeout":
		if v, ok := parseYesNo(kv.value); ok && !v {
			note(Translated, " (no revocation checks, as ikegate)")
		} else {
			note(Omitted, ": ikegate does not check revocation (CRL, OCSP)")
		}
	case "dumpdir", "ipsecdir", "nssdir", "statsbin", "seccomp", "nhelpers", "seedbits", "dnssec-enable", "dnssec-rootkey-file",
		"dnssec-anchors", "shuntlifetime", "xfrmlifetime", "ike-socket-bufsize", "ike-socket-errqueue", "myvendorid",
		"myid", "ddos-mode", "ddos-ike-threshold", "max-halfopen-ike", "global-redirect", "global-redirect-to",
		"listen-udp", "listen-tcp", "nflog-all", "ikev1-secctx-attr-type", "plutorestartoncrash", "plutostart":
		note(Omitted, ": no equivalent in ikegate (its [gateway] settings are its own)")
	default:
		note(Omitted, ": no equivalent in ikegate")
	}
	return ""
}

// readSecrets reads ipsec.secrets (or secretsfile=) and NAME.secrets.
func (im *icImporter) readSecrets(name, secretsFile string) {
	if im.files == nil {
		im.r.Note(0, Translated, "ipsec.secrets not read (no access to the input's directory)")
		return
	}
	cands := []string{"ipsec.secrets"}
	if secretsFile != "" {
		cands = []string{secretsFile}
	}
	if stem := strings.TrimSuffix(path.Base(name), ".conf"); stem != "ipsec" && stem != path.Base(name) {
		cands = append(cands, stem+".secrets")
	}
	open := map[string]bool{}
	for _, f := range cands {
		data, err := im.files.ReadFile(f)
		if err != nil {
			continue
		}
		im.secretsRd = true
		display := f
		if path.IsAbs(f) && strings.HasPrefix(f, im.dir+"/") {
			display = strings.TrimPrefix(f, im.dir+"/")
		}
		im.r.Note(0, Translated, "secrets read from %s", display)
		open[display] = true
		readSecretsFile(im.files, im.r, display, data, 0, open, &im.secrets)
	}
	if !im.secretsRd {
		im.r.Note(0, Translated, "no %s beside the input (needed for PSKs and user passwords only)", strings.Join(cands, " or "))
	}
}

// icConnState is what a conn's parameters say before the notes.
type icConnState struct {
	localSide, remoteSide string
	localAuth, remoteAuth string // "psk", "pubkey", "eap-mschapv2", ...
	xauth                 string // "local", "radius"
	xauthServer           bool
	ike, esp, pfs         *setKV
	certKV, caKV          *setKV
	pool                  *Table
	poolDNS               []string
	autoIgnore            bool
	remoteName            string // the peer's address as written (a host name, for the secrets)
}

// endKey splits a left/right parameter into its end and the rest.
func endKey(k string) (side, rest string, ok bool) {
	for _, s := range []string{"left", "right"} {
		if strings.HasPrefix(k, s) {
			return s, strings.TrimPrefix(k, s), true
		}
	}
	return "", "", false
}

// isAnyEnd reports whether an end's address is a wildcard.
func isAnyEnd(v string) bool {
	switch strings.ToLower(v) {
	case "%any", "%any4", "%any6", "%group", "%opportunistic", "%opportunisticgroup", "0.0.0.0", "::":
		return true
	}
	return false
}

// conn imports one conn with its resolved parameters.
func (im *icImporter) conn(s *icSection, kvs []*setKV) {
	get := func(k string) *setKV {
		for _, kv := range kvs {
			if kv.key == k {
				return kv
			}
		}
		return nil
	}
	val := func(k string) string {
		if kv := get(k); kv != nil {
			return kv.value
		}
		return ""
	}
	pre := s.name + ": "

	// Not a tunnel at all, or not loaded.
	leftOut := func(p pos, format string, args ...any) {
		im.note(p, Omitted, format, args...)
		for _, kv := range s.keys {
			if kv.pos != p {
				im.note(kv.pos, Omitted, "%s%s=%s: part of a conn left out", pre, kv.key, kv.value)
			}
		}
	}
	if t := strings.ToLower(val("type")); t == "passthrough" || t == "pass" || t == "drop" || t == "reject" {
		leftOut(get("type").pos, "%stype=%s: a shunt, not a tunnel: ikegate has no shunts; conn left out", pre, t)
		return
	}
	if strings.ToLower(val("authby")) == "never" {
		leftOut(get("authby").pos, "%sauthby=never: a shunt-only conn: left out", pre)
		return
	}
	if strings.ToLower(val("authby")) == "null" {
		leftOut(get("authby").pos, "%sauthby=null: NULL authentication (RFC 7619) is not supported by ikegate; conn left out", pre)
		return
	}
	auto := strings.ToLower(val("auto"))
	if auto == "" || auto == "ignore" {
		if refs := im.referenced[s.name]; len(refs) > 0 {
			im.note(s.pos, Translated, "conn %s: a template (also=) for %s: its parameters are noted with them", s.name, strings.Join(refs, ", "))
			return
		}
	}
	if val("left") == "" && val("right") == "" {
		leftOut(s.pos, "conn %s: neither left= nor right=: not a connection; left out", s.name)
		return
	}
	for _, kv := range s.keys {
		if kv.key == "also" {
			im.note(kv.pos, Translated, "%salso=%s: inherits conn %s's parameters", pre, kv.value, kv.value)
		}
	}

	st := &icConnState{localSide: "left", remoteSide: "right"}
	c := &Conn{Extra: map[string]string{}, File: s.pos.file, Lines: []int{s.pos.line}}
	left, right := strings.ToLower(val("left")), strings.ToLower(val("right"))
	why := "left is this host, as ipsec.conf's convention has it"
	switch {
	case isAnyEnd(left) && !isAnyEnd(right) && right != "":
		st.localSide, st.remoteSide = "right", "left"
		why = "right is this host (left is " + left + ")"
	case right == "%defaultroute" && left != "%defaultroute":
		st.localSide, st.remoteSide = "right", "left"
		why = "right is this host (%defaultroute)"
	case hasString(im.listen, right) && !hasString(im.listen, left):
		st.localSide, st.remoteSide = "right", "left"
		why = "right is this host (config setup listens on it)"
	}
	c.Name = uniqueName(im.names, s.name)
	if c.Name != s.name {
		im.note(s.pos, Approximated, "conn %s → connection %q (%s; the name is not valid for ikegate)", s.name, c.Name, why)
	} else {
		im.note(s.pos, Translated, "conn %s → connection %q (%s)", s.name, c.Name, why)
	}

	// Version first: proposals and several keys depend on it.
	c.Version = "ikev2"
	if im.d == dialectStrongSwan {
		if kv := get("keyexchange"); kv != nil {
			switch strings.ToLower(kv.value) {
			case "ikev1":
				c.Version = "ikev1"
				im.note(kv.pos, Translated, "%skeyexchange=ikev1 → version = \"ikev1\"", pre)
			case "ikev2":
				im.note(kv.pos, Translated, "%skeyexchange=ikev2 → version = \"ikev2\"", pre)
			case "ike":
				im.note(kv.pos, Approximated, "%skeyexchange=ike → version = \"ikev2\" (charon also answered IKEv1 on this conn; ikegate's version = \"any\" would, as responder only)", pre)
			default:
				im.note(kv.pos, Omitted, "%skeyexchange=%s: not ike, ikev1 or ikev2; version = \"ikev2\"", pre, kv.value)
			}
		}
	} else {
		if kv := get("ikev2"); kv != nil {
			switch strings.ToLower(kv.value) {
			case "no", "never", "permit":
				c.Version = "ikev1"
				im.note(kv.pos, Translated, "%sikev2=%s → version = \"ikev1\"", pre, kv.value)
			case "yes", "insist", "propose":
				im.note(kv.pos, Translated, "%sikev2=%s → version = \"ikev2\"", pre, kv.value)
			default:
				im.note(kv.pos, Omitted, "%sikev2=%s: not yes or no; version = \"ikev2\"", pre, kv.value)
			}
		}
		if kv := get("keyexchange"); kv != nil {
			switch strings.ToLower(kv.value) {
			case "ikev1":
				c.Version = "ikev1"
				im.note(kv.pos, Translated, "%skeyexchange=ikev1 → version = \"ikev1\"", pre)
			case "ikev2", "ike":
				if get("ikev2") == nil {
					c.Version = "ikev2"
				}
				im.note(kv.pos, Translated, "%skeyexchange=%s → version = %q", pre, kv.value, c.Version)
			default:
				im.note(kv.pos, Omitted, "%skeyexchange=%s: not ike, ikev1 or ikev2", pre, kv.value)
			}
		}
	}

	im.authMethods(c, pre, get, st)
	st.remoteName = val(st.remoteSide)

	for _, kv := range kvs {
		if side, rest, ok := endKey(kv.key); ok {
			im.endKey(c, pre, kv, side == st.localSide, side, rest, st)
			continue
		}
		im.connKey(c, pre, kv, st)
	}
	im.proposals(c, pre, s, st)
	im.finish(c, pre, s, st)
	if c.Start == "" && st.autoIgnore {
		im.note(s.pos, Approximated, "%sauto=ignore (the default): the daemon does not load this conn by itself; imported with start = \"none\"", pre)
	}
	if st.pool != nil {
		if len(st.poolDNS) > 0 {
			st.pool.Keys = append(st.pool.Keys, KV{Key: "dns", Value: tomlList(st.poolDNS)})
		}
		im.r.Tables = append(im.r.Tables, st.pool)
		c.Extra["pool"] = tomlString(c.Name)
	}
	im.r.Conns = append(im.r.Conns, c)
}

// authMethods settles how each end authenticates (authby=, leftauth=,
// leftauth2=, xauth=, leftxauthserver=), noting those parameters.
func (im *icImporter) authMethods(c *Conn, pre string, get func(string) *setKV, st *icConnState) {
	method := "pubkey" // both daemons' default
	if kv := get("authby"); kv != nil {
		v := strings.ToLower(kv.value)
		src := pre + "authby=" + kv.value
		switch {
		case v == "secret" || v == "psk":
			method = "psk"
			im.note(kv.pos, Translated, "%s → auth = \"psk\"", src)
		case v == "pubkey" || v == "rsasig" || v == "rsa" || v == "ecdsasig" || v == "ecdsa" || v == "rsasig,ecdsa" || v == "ecdsa,rsasig":
			im.note(kv.pos, Translated, "%s → auth = \"pubkey\"", src)
		case strings.HasPrefix(v, "rsa-sha") || strings.HasPrefix(v, "ecdsa-"):
			im.note(kv.pos, Approximated, "%s → auth = \"pubkey\" (ikegate picks the signature scheme itself)", src)
		case v == "xauthpsk" || v == "xauthrsasig":
			if v == "xauthpsk" {
				method = "psk"
			}
			st.xauth = "local"
			im.note(kv.pos, Translated, "%s → auth = %q with XAUTH (xauth = \"local\" when this end is the XAUTH server)", src, method)
		case v == "secret|rsasig" || v == "rsasig|secret":
			method = "psk"
			im.note(kv.pos, Approximated, "%s → auth = \"psk\" (ikegate takes one method per connection)", src)
		case v == "null":
			im.note(kv.pos, Omitted, "%s: NULL authentication (RFC 7619) is not supported by ikegate", src)
		default:
			im.note(kv.pos, Omitted, "%s: unknown; auth = \"pubkey\" assumed", src)
		}
	}
	st.localAuth, st.remoteAuth = method, method
	endAuth := func(side string, kv *setKV) string {
		v := strings.ToLower(kv.value)
		src := pre + kv.key + "=" + kv.value
		local := side == st.localSide
		switch {
		case v == "psk" || v == "secret":
			im.note(kv.pos, Translated, "%s: %s authenticates with the PSK", src, endName(local))
			return "psk"
		case v == "pubkey" || v == "rsa" || v == "rsasig" || v == "ecdsa" || v == "ecdsasig":
			im.note(kv.pos, Translated, "%s: %s authenticates with a certificate", src, endName(local))
			return "pubkey"
		case strings.HasPrefix(v, "rsa-") || strings.HasPrefix(v, "ecdsa-") || strings.HasPrefix(v, "pubkey-"):
			im.note(kv.pos, Approximated, "%s: %s authenticates with a certificate (without the signature scheme constraint)", src, endName(local))
			return "pubkey"
		case v == "eap-mschapv2" && !local:
			im.needUsers = true
			im.note(kv.pos, Translated, "%s → remote_auth = \"eap-mschapv2\" (EAP passwords in ipsec.secrets become [[user]]s)", src)
			return "eap-mschapv2"
		case (v == "eap" || v == "eap-dynamic") && !local:
			im.needUsers = true
			im.note(kv.pos, Approximated, "%s → remote_auth = \"eap-mschapv2\" (ikegate's local EAP method)", src)
			return "eap-mschapv2"
		case v == "eap-radius" && !local:
			im.note(kv.pos, Omitted, "%s → remote_auth = \"eap-radius\": add a [radius] table (the RADIUS servers are in strongswan.conf, not here)", src)
			return "eap-radius"
		default:
			im.note(kv.pos, Omitted, "%s: not supported by ikegate for %s", src, endName(local))
			return ""
		}
	}
	for _, side := range []string{st.localSide, st.remoteSide} {
		if kv := get(side + "auth"); kv != nil {
			if m := endAuth(side, kv); m != "" {
				if side == st.localSide {
					if m == "psk" || m == "pubkey" {
						st.localAuth = m
					}
				} else {
					st.remoteAuth = m
				}
			}
		}
	}
	if kv := get(st.remoteSide + "auth2"); kv != nil {
		v := strings.ToLower(kv.value)
		src := pre + kv.key + "=" + kv.value
		switch {
		case strings.HasPrefix(v, "xauth"):
			st.xauth = "local"
			if v == "xauth-radius" {
				st.xauth = "radius"
				im.note(kv.pos, Approximated, "%s → xauth = \"radius\": add a [radius] table", src)
			} else {
				im.needUsers = true
				im.note(kv.pos, Translated, "%s → xauth = \"local\" (XAUTH passwords in ipsec.secrets become [[user]]s)", src)
			}
			st.xauthServer = true
		case v == "eap-mschapv2" || v == "eap":
			st.remoteAuth = "eap-mschapv2"
			im.needUsers = true
			im.note(kv.pos, Translated, "%s → remote_auth = \"eap-mschapv2\" after the certificate (RFC 4739)", src)
		default:
			im.note(kv.pos, Omitted, "%s: ikegate's second round is XAUTH or EAP-MSCHAPv2", src)
		}
	}
	if kv := get(st.localSide + "auth2"); kv != nil {
		im.note(kv.pos, Omitted, "%s%s=%s: ikegate's connections authenticate themselves in one round", pre, kv.key, kv.value)
	}
	// strongSwan: xauth=server|client; Libreswan: leftxauthserver=yes.
	if kv := get("xauth"); kv != nil && im.d == dialectStrongSwan {
		if strings.EqualFold(kv.value, "server") {
			st.xauthServer = true
			im.note(kv.pos, Translated, "%sxauth=server: this end checks the users (xauth)", pre)
		} else {
			im.note(kv.pos, Translated, "%sxauth=%s", pre, kv.value)
		}
	}
	if kv := get(st.localSide + "xauthserver"); kv != nil {
		if v, _ := parseYesNo(kv.value); v {
			st.xauthServer = true
			if st.xauth == "" {
				st.xauth = "local"
			}
		}
	}
	if kv := get(st.remoteSide + "xauthclient"); kv != nil {
		if v, _ := parseYesNo(kv.value); v && st.xauth == "" {
			st.xauth = "local"
		}
	}
	c.Auth = st.localAuth
}

func endName(local bool) string {
	if local {
		return "this end"
	}
	return "the peer"
}

// endKey maps a leftX/rightX parameter.
func (im *icImporter) endKey(c *Conn, pre string, kv *setKV, local bool, side, rest string, st *icConnState) {
	src := pre + kv.key + "=" + kv.value
	v := kv.value
	note := func(s Status, format string, args ...any) {
		im.note(kv.pos, s, "%s"+format, append([]any{src}, args...)...)
	}
	switch rest {
	case "":
		im.endAddr(c, kv, src, local)
	case "subnet", "subnets":
		var list []string
		t := strings.TrimSpace(strings.Trim(strings.TrimSpace(v), "{}"))
		for _, f := range strings.FieldsFunc(t, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }) {
			list = append(list, f)
		}
		if len(list) == 0 {
			note(Translated, " (none: the end's address)")
			return
		}
		if strings.HasPrefix(t, "vhost:") || strings.HasPrefix(t, "vnet:") {
			note(Omitted, ": virtual subnets are not supported by ikegate")
			return
		}
		var out, lost []string
		for _, f := range list {
			if f == "%dynamic" {
				lost = append(lost, "%dynamic (the address: ikegate's default)")
				continue
			}
			ps, l, err := selector(f)
			if err != nil {
				note(Omitted, ": %v", err)
				return
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
		key := "remote_ts"
		if local {
			key = "local_ts"
		}
		if local {
			c.LocalTS = append(c.LocalTS, out...)
		} else {
			c.RemoteTS = append(c.RemoteTS, out...)
		}
		switch {
		case len(out) == 0:
			note(Translated, " (ikegate's default)")
		case len(lost) > 0:
			note(Approximated, " → %s = %s (%s)", key, tomlList(out), strings.Join(lost, "; "))
		case len(list) > 1 && im.d == dialectLibreswan && rest == "subnets":
			note(Translated, " → %s = %s (one CHILD SA with all prefixes, where pluto makes one per pair)", key, tomlList(out))
		default:
			note(Translated, " → %s = %s", key, tomlList(out))
		}
	case "id":
		id, how, err := im.endID(v, local)
		switch {
		case err != nil:
			note(Omitted, ": %v", err)
		case id == "" && how != "":
			note(Translated, " (%s)", how)
		case local:
			c.LocalID = id
			note(Translated, " → local_id = %q%s", id, paren(how))
		default:
			c.RemoteID = id
			note(Translated, " → remote_id = %q%s", id, paren(how))
		}
	case "cert":
		if local {
			st.certKV = kv
		} else {
			note(Omitted, ": ikegate does not pin the peer's certificate; it checks its CA (ca) and remote_id")
		}
	case "ca":
		if local {
			note(Translated, " (ikegate sends certificate requests for its ca)")
		} else {
			st.caKV = kv
		}
	case "auth", "auth2", "xauthserver", "xauthclient":
		// Noted by authMethods (the local end's auth2 too).
		if rest == "xauthserver" || rest == "xauthclient" {
			if b, _ := parseYesNo(v); b && ((rest == "xauthserver") == local) {
				note(Translated, " → xauth = %q", "local")
			} else if b {
				note(Omitted, ": ikegate's connections are not XAUTH clients")
			} else {
				note(Translated, "")
			}
		}
	case "sendcert":
		m := map[string]string{"always": "always", "yes": "always", "ifasked": "ifasked", "never": "never", "no": "never"}
		switch {
		case !local:
			note(Translated, " (the peer's setting)")
		case m[strings.ToLower(v)] == "":
			note(Omitted, ": not always, ifasked or never")
		default:
			c.Extra["send_cert"] = tomlString(m[strings.ToLower(v)])
			note(Translated, " → send_cert = %q", m[strings.ToLower(v)])
		}
	case "sourceip", "addresspool":
		if local {
			note(Omitted, ": ikegate's connections do not request virtual IPs (it is the gateway side)")
			return
		}
		if strings.HasPrefix(v, "%") {
			note(Omitted, ": pools from a plugin (%s) are not supported by ikegate; define a [[pool]]", v)
			return
		}
		var addrs []string
		for _, a := range strings.Split(v, ",") {
			if a = strings.TrimSpace(a); a != "" {
				addrs = append(addrs, a)
			}
		}
		st.pool = &Table{Kind: "pool", File: kv.pos.file, Lines: []int{kv.pos.line},
			Keys: []KV{{Key: "name", Value: tomlString(c.Name)}, {Key: "addresses", Value: tomlList(addrs)}}}
		note(Translated, " → [[pool]] %q with addresses = %s, pool = %q", c.Name, tomlList(addrs), c.Name)
	case "dns":
		if local {
			note(Omitted, ": ikegate's connections do not request DNS servers")
			return
		}
		st.poolDNS = append(st.poolDNS, splitList(v)...)
		note(Translated, " → the pool's dns")
	case "firewall":
		if b, _ := parseYesNo(v); b {
			note(Omitted, ": ikegate does not set up firewall rules")
		} else {
			note(Translated, "")
		}
	case "updown":
		if v == "" || v == "%disabled" {
			note(Translated, " (no updown script, as ikegate)")
		} else {
			note(Omitted, ": ikegate runs no updown script")
		}
	case "hostaccess":
		note(Omitted, ": ikegate does not set up firewall rules")
	case "protoport":
		if v == "" || v == "%any" || v == "0/0" {
			note(Translated, "")
		} else {
			note(Approximated, ": ikegate's selectors are whole prefixes (all protocols and ports)")
		}
	case "nexthop":
		note(Approximated, ": ikegate follows the host's routing table")
	case "ikeport":
		note(Omitted, ": ikegate uses gateway.ike_port / natt_port for all connections")
	case "rsasigkey", "sigkey", "pubkey", "ckaid":
		if v == "%cert" || v == "" {
			note(Translated, " (from the certificate)")
		} else {
			note(Omitted, ": raw public keys are not supported by ikegate (use certificates)")
		}
	case "modecfgserver", "modecfgclient":
		if local == (rest == "modecfgserver") {
			note(Translated, " (Mode Config from the pool)")
		} else {
			note(Omitted, ": ikegate's connections are not Mode Config clients")
		}
	case "username", "id2", "cert2", "ca2", "groups", "groups2", "allowany", "certpolicy", "vti", "cat", "autheap", "iface", "interface-ip":
		note(Omitted, ": no equivalent in ikegate")
	default:
		note(Omitted, ": no equivalent in ikegate")
	}
}

func paren(s string) string {
	if s == "" {
		return ""
	}
	return " (" + s + ")"
}

// endAddr maps left=/right=.
func (im *icImporter) endAddr(c *Conn, kv *setKV, src string, local bool) {
	v := strings.TrimSpace(kv.value)
	lv := strings.ToLower(v)
	note := func(s Status, format string, args ...any) {
		im.note(kv.pos, s, "%s"+format, append([]any{src}, args...)...)
	}
	if a, ok := parseAddr(v); ok && !a.IsUnspecified() {
		if local {
			c.LocalAddr = a.String()
			note(Translated, " → local_addr = %q", c.LocalAddr)
		} else {
			c.RemoteAddr = a.String()
			note(Translated, " → remote_addr = %q", c.RemoteAddr)
		}
		return
	}
	switch {
	case local && (lv == "%defaultroute" || lv == "%any" || lv == "%any4" || lv == "%any6" || isAnyEnd(lv)):
		note(Approximated, ": local_addr unset (any local address; set it to initiate)")
	case local && strings.HasPrefix(lv, "%"):
		note(Approximated, ": the address of interface %s: local_addr unset (any local address)", strings.TrimPrefix(v, "%"))
	case local:
		note(Omitted, ": %s is a host name; ikegate takes addresses: local_addr unset", v)
	case isAnyEnd(lv):
		c.RemoteAddr = "%any"
		note(Translated, " → remote_addr = \"%%any\"")
	case isSubnetOrRange(v):
		c.RemoteAddr = "%any"
		note(Approximated, " → remote_addr = \"%%any\" (ikegate cannot restrict peers to a subnet or range; remote_id and the credentials still decide)")
	case strings.HasPrefix(lv, "%"):
		c.RemoteAddr = "%any"
		note(Omitted, ": %s is not supported by ikegate: remote_addr = \"%%any\"", v)
	default:
		c.RemoteAddr = "%any"
		note(Omitted, ": %s is a host name; ikegate takes addresses: remote_addr = \"%%any\" (responder only) until you set the address", v)
	}
}

// endID converts an ID as the dialect writes it to ikegate's (strongSwan)
// syntax; "" with how when it becomes ikegate's default.
func (im *icImporter) endID(v string, local bool) (string, string, error) {
	v = strings.TrimSpace(v)
	switch strings.ToLower(v) {
	case "":
		return "", "empty: the default", nil
	case "%fromcert":
		if local {
			return "", "the certificate's subject: ikegate's default with a certificate", nil
		}
		return "%any", "any identity the peer's certificate proves", nil
	case "%any":
		if local {
			return "", "", fmt.Errorf("this end cannot be %%any")
		}
		return "%any", "", nil
	case "%none":
		return "", "no ID: the default", nil
	case "%myid":
		return "", "", fmt.Errorf("%%myid (config setup's myid) is not supported: set the identity")
	}
	switch {
	case strings.HasPrefix(v, "@#"):
		v = "keyid:#" + v[2:]
	case strings.HasPrefix(v, "@[") && strings.HasSuffix(v, "]"):
		v = "keyid:" + v[2:len(v)-1]
	case strings.HasPrefix(v, "@~"):
		return "", "", fmt.Errorf("%s: a DER-encoded DN in hex is not supported; write the DN", v)
	}
	if im.d == dialectLibreswan && strings.Contains(v, ",,") {
		v = strings.ReplaceAll(v, ",,", "\\,")
	}
	id, err := identity(v)
	return id, "", err
}

// connKey maps a parameter that is not about one end.
func (im *icImporter) connKey(c *Conn, pre string, kv *setKV, st *icConnState) {
	src := pre + kv.key + "=" + kv.value
	v := strings.ToLower(strings.TrimSpace(kv.value))
	n := noter{im.r, kv.pos.file}
	line := kv.pos.line
	note := func(s Status, format string, args ...any) {
		im.note(kv.pos, s, "%s"+format, append([]any{src}, args...)...)
	}
	lsw := im.d == dialectLibreswan
	switch kv.key {
	case "also", "authby", "keyexchange", "ikev2", "xauth":
		// Noted already.
	case "auto":
		switch v {
		case "add":
			c.Start = "none"
			note(Translated, " → start = \"none\"")
		case "start":
			c.Start = "start"
			note(Translated, " → start = \"start\"")
		case "route", "ondemand":
			c.Start = "trap"
			note(Translated, " → start = \"trap\"")
		case "keep":
			c.Start = "none"
			note(Approximated, " → start = \"none\" (ikegate does not restart what the peer started; dpd_action = \"restart\" keeps a connection up)")
		case "ignore", "":
			st.autoIgnore = true
			note(Translated, "")
		default:
			note(Omitted, ": not add, start, route, ondemand or ignore")
		}
	case "type":
		switch v {
		case "tunnel", "":
			note(Translated, " (ikegate's default)")
		case "transport":
			c.Mode = "transport"
			note(Translated, " → mode = \"transport\"")
		default:
			note(Omitted, ": ikegate has tunnel and transport mode only; tunnel kept")
		}
	case "ike":
		st.ike = kv
	case "esp", "phase2alg":
		st.esp = kv
	case "ah":
		note(Omitted, ": AH is not implemented in ikegate (use ESP, with null encryption if need be)")
	case "phase2":
		if v == "esp" || v == "" {
			note(Translated, "")
		} else {
			note(Omitted, ": AH is not implemented in ikegate")
		}
	case "pfs":
		if lsw {
			st.pfs = kv
		} else {
			note(Omitted, ": obsolete for charon (PFS is a DH group in esp=)")
		}
	case "pfsgroup":
		note(Omitted, ": obsolete; give the group in esp= (e.g. aes256-sha2_256-modp2048)")
	case "ikelifetime":
		c.IKELifetime = lifetimeNote(n, line, src, kv.value, "ike_lifetime")
	case "lifetime", "keylife", "salifetime":
		c.ChildLifetime = lifetimeNote(n, line, src, kv.value, "child_lifetime")
	case "rekeymargin", "margintime", "rekeyfuzz", "marginbytes", "marginpackets":
		note(Approximated, ": ikegate rekeys at 80-90%% of a lifetime (90%% of child_lifetime_bytes)")
	case "lifebytes", "ipsec-max-bytes":
		b, err := parseBytes(kv.value)
		switch {
		case err != nil:
			note(Omitted, ": %v", err)
		case b == 0:
			note(Translated, " (no byte limit, as ikegate)")
		default:
			c.ChildLifetimeBytes = b
			note(Translated, " → child_lifetime_bytes = %d", b)
		}
	case "lifepackets", "ipsec-max-packets":
		note(Omitted, ": ikegate has no packet-count lifetimes (only time and bytes)")
	case "rekey":
		if b, ok := parseYesNo(v); ok && b {
			note(Translated, " (ikegate rekeys)")
		} else {
			note(Approximated, ": ikegate always rekeys before the lifetime ends")
		}
	case "reauth":
		if b, ok := parseYesNo(v); ok && !b {
			note(Translated, " (no reauthentication, as ikegate)")
		} else {
			note(Approximated, ": ikegate rekeys the IKE SA instead of reauthenticating")
		}
	case "keyingtries":
		if v == "%forever" || v == "0" {
			note(Translated, " (a started ikegate connection keeps trying)")
		} else {
			note(Approximated, ": a started ikegate connection keeps trying until the peer answers")
		}
	case "dpddelay":
		d, err := parseTime(kv.value)
		switch {
		case err != nil:
			note(Omitted, ": %v", err)
		case d == 0:
			note(Approximated, ": ikegate always checks liveness; its default dpd_delay (30s) applies")
		default:
			cd, ch := clampDuration(d, minDPD, maxDPD)
			c.DPDDelay = durationTOML(cd)
			if ch {
				note(Approximated, " → dpd_delay = %q (from 1s to 1h)", c.DPDDelay)
			} else {
				note(Translated, " → dpd_delay = %q", c.DPDDelay)
			}
		}
	case "dpdtimeout":
		d, err := parseTime(kv.value)
		switch {
		case err != nil:
			note(Omitted, ": %v", err)
		case d == 0:
			note(Translated, " (ikegate's default dpd_timeout applies)")
		default:
			cd, ch := clampDuration(d, minDPD, maxDPD)
			c.DPDTimeout = durationTOML(cd)
			switch {
			case ch:
				note(Approximated, " → dpd_timeout = %q (from 1s to 1h)", c.DPDTimeout)
			case !lsw && c.Version == "ikev2":
				note(Approximated, " → dpd_timeout = %q (charon ignores it for IKEv2 and uses its retransmissions; ikegate honours it)", c.DPDTimeout)
			default:
				note(Translated, " → dpd_timeout = %q", c.DPDTimeout)
			}
		}
	case "dpdaction":
		switch v {
		case "clear", "hold", "restart":
			c.DPDAction = v
			note(Translated, " → dpd_action = %q", v)
		case "none":
			note(Approximated, ": ikegate always checks liveness (dpd_delay) and clears the SAs of a dead peer")
		case "restart_by_peer":
			c.DPDAction = "restart"
			note(Approximated, " → dpd_action = \"restart\"")
		default:
			note(Omitted, ": not clear, hold or restart")
		}
	case "closeaction":
		if v == "none" || v == "" {
			note(Translated, " (as ikegate)")
		} else {
			note(Omitted, ": ikegate does not act when the peer closes a CHILD SA")
		}
	case "aggressive", "aggrmode":
		b, ok := parseYesNo(v)
		switch {
		case !ok:
			note(Omitted, ": not yes or no")
		case !b:
			note(Translated, " (Main Mode)")
		case c.Version != "ikev1":
			note(Translated, " (no effect with IKEv2)")
		default:
			c.IKEv1Mode = "aggressive"
			note(Translated, " → ikev1_mode = \"aggressive\"")
		}
	case "compress":
		if b, _ := parseYesNo(v); b {
			note(Omitted, ": IPComp is not implemented in ikegate")
		} else {
			note(Translated, " (no IPComp, as ikegate)")
		}
	case "mobike":
		b, ok := parseYesNo(v)
		switch {
		case !ok:
			note(Omitted, ": not yes or no")
		case b && c.Version == "ikev2":
			c.Extra["mobike"] = "true"
			note(Translated, " → mobike = true")
		case b:
			note(Translated, " (IKEv1 has no MOBIKE)")
		default:
			note(Translated, " (ikegate's default)")
		}
	case "forceencaps", "encapsulation":
		switch v {
		case "yes":
			note(Omitted, ": ikegate does not force UDP encapsulation (it encapsulates when a NAT is detected)")
		case "no":
			if kv.key == "forceencaps" {
				note(Translated, " (encapsulation only behind a NAT)")
			} else {
				note(Approximated, ": ikegate encapsulates whenever a NAT is detected")
			}
		default:
			note(Translated, " (encapsulation only behind a NAT)")
		}
	case "fragmentation", "ike_frag", "ike-frag":
		switch v {
		case "yes", "accept", "":
			note(Translated, " (ikegate announces fragmentation and fragments for peers that support it)")
		case "force":
			note(Approximated, ": ikegate fragments only for peers that announce support")
		default:
			note(Approximated, ": ikegate always announces and accepts fragmentation")
		}
	case "sha256_96", "sha2-truncbug", "sha2_truncbug":
		if b, _ := parseYesNo(v); b {
			c.Extra["sha2_truncbug"] = "true"
			note(Translated, " → sha2_truncbug = true")
		} else {
			note(Translated, " (ikegate's default)")
		}
	case "nat-ikev1-method", "nat_ikev1_method":
		m := map[string]string{"both": "both", "rfc": "rfc", "drafts": "drafts", "none": "none"}[v]
		switch {
		case m == "":
			note(Omitted, ": not both, rfc, drafts or none")
		case c.Version != "ikev1":
			note(Translated, " (IKEv1 only; no effect here)")
		default:
			c.Extra["nat_ikev1_method"] = tomlString(m)
			note(Translated, " → nat_ikev1_method = %q", m)
		}
	case "modeconfig", "modecfgpull":
		switch {
		case v == "push" || (kv.key == "modecfgpull" && v == "no"):
			st.modecfg(c, "push")
			note(Translated, " → modecfg = \"push\" (with a pool)")
		default:
			note(Translated, " (ikegate answers Mode Config requests: modecfg = \"pull\")")
		}
	case "modecfgdns", "modecfgdns1", "modecfgdns2":
		st.poolDNS = append(st.poolDNS, strings.FieldsFunc(kv.value, func(r rune) bool { return r == ',' || r == ' ' })...)
		note(Translated, " → the pool's dns")
	case "modecfgdomains", "modecfgdomain":
		if st.pool != nil {
			d := strings.FieldsFunc(kv.value, func(r rune) bool { return r == ',' || r == ' ' })
			if len(d) > 0 {
				st.pool.Keys = append(st.pool.Keys, KV{Key: "domain", Value: tomlString(d[0])})
				if len(d) > 1 {
					st.pool.Keys = append(st.pool.Keys, KV{Key: "split_dns", Value: tomlList(d[1:])})
				}
			}
			note(Translated, " → the pool's domain")
		} else {
			note(Omitted, ": no address pool on this conn to carry it")
		}
	case "modecfgbanner":
		if st.pool != nil {
			st.pool.Keys = append(st.pool.Keys, KV{Key: "banner", Value: tomlString(kv.value)})
			note(Translated, " → the pool's banner")
		} else {
			note(Omitted, ": no address pool on this conn to carry it")
		}
	case "xauthby":
		switch v {
		case "file", "":
			im.needUsers = true
			note(Approximated, ": ikegate checks XAUTH users against [[user]] (pluto's /etc/ipsec.d/passwd holds crypt hashes ikegate cannot use: add each user's password or NT hash)")
		case "alwaysok":
			note(Omitted, ": ikegate always checks XAUTH passwords")
		default:
			note(Omitted, ": ikegate checks XAUTH against [[user]] or RADIUS (xauth = \"radius\")")
		}
	case "xauth_identity", "eap_identity", "aaa_identity":
		if v == "%identity" || v == "" {
			note(Translated, " (any identity)")
		} else {
			note(Omitted, ": ikegate does not restrict the user per connection")
		}
	case "narrowing":
		note(Approximated, ": ikegate narrows a peer's selectors to its own as a responder")
	case "esn":
		note(Approximated, ": give esn/noesn in the esp proposals (ikegate's default: noesn)")
	case "inactivity":
		note(Omitted, ": ikegate has no inactivity timeout for site-to-site CHILD SAs (pools have idle_timeout)")
	case "installpolicy":
		if b, _ := parseYesNo(v); b {
			note(Translated, " (ikegate installs policies with the xfrm dataplane)")
		} else {
			note(Omitted, ": ikegate always installs the CHILD SA's policies")
		}
	case "retransmit-timeout", "retransmit-interval":
		note(Approximated, ": ikegate's retransmissions are global (gateway.retransmit_tries, retransmit_timeout)")
	case "uniqueids":
		note(Omitted, ": a config setup parameter")
	case "mark", "mark_in", "mark_out", "mark-in", "mark-out", "reqid", "replay_window", "replay-window", "tfc", "ikedscp",
		"ikepad", "decap-dscp", "nopmtudisc", "sareftrack", "nic-offload", "overlapip", "metric", "mtu", "priority",
		"vti-interface", "vti-routing", "vti-shared", "ipsec-interface", "hostaddrfamily", "clientaddrfamily", "connaddrfamily",
		"labeled-ipsec", "policy-label", "failureshunt", "negotiationshunt", "ms-dh-downgrade", "dns-match-id",
		"require-id-on-certificate", "ppk", "accept-redirect", "accept-redirect-to", "send-redirect", "redirect-to",
		"pam-authorize", "ignore-peer-dns", "nat-keepalive", "sendca", "mediation", "me_peerid", "mediated_by",
		"remote-peer-type", "nm-configured", "cisco-unity", "send-vendorid", "initial-contact", "fake-strongswan",
		"enable-tcp", "tcp-remoteport", "nflog", "xauthfail", "send-no-esp-tfc", "dpdaction_cache", "salifetime_bytes":
		note(Omitted, ": no equivalent in ikegate")
	default:
		note(Omitted, ": no equivalent in ikegate")
	}
}

// modecfg records Mode Config push for the pool.
func (st *icConnState) modecfg(c *Conn, v string) {
	if c.Version != "ikev2" {
		c.Extra["modecfg"] = tomlString(v)
	}
}

// proposals maps ike= and esp= (and Libreswan's pfs=).
func (im *icImporter) proposals(c *Conn, pre string, s *icSection, st *icConnState) {
	lsw := im.d == dialectLibreswan
	mapOne := func(esp bool) func(string) proposalResult {
		if lsw {
			return func(p string) proposalResult { return mapLswProposal(p, esp, c.Version) }
		}
		return func(p string) proposalResult {
			return mapSwanProposal(strings.TrimSuffix(strings.TrimSpace(p), "!"), esp, c.Version)
		}
	}
	one := func(kv *setKV, esp bool) []string {
		if kv == nil || strings.TrimSpace(kv.value) == "" {
			return nil
		}
		src := pre + kv.key + "=" + kv.value
		list := splitList(kv.value)
		remark := ""
		if !lsw && !strings.HasSuffix(strings.TrimSpace(kv.value), "!") {
			remark = "without \"!\" charon also offered and accepted its default proposals; ikegate takes only these"
		}
		return noteProposals(noter{im.r, kv.pos.file}, kv.pos.line, src, list, esp, c.Version, mapOne(esp), remark)
	}
	c.IKE = one(st.ike, false)
	c.ESP = one(st.esp, true)
	if !lsw {
		return
	}
	// Libreswan: pfs=yes (the default) puts the IKE SA's group into every
	// Quick Mode / CREATE_CHILD_SA; ikegate's PFS is a DH group in the
	// ESP proposals.
	pfs := true
	p := s.pos
	if st.pfs != nil {
		p = st.pfs.pos
		b, ok := parseYesNo(st.pfs.value)
		if !ok {
			im.note(p, Omitted, "%spfs=%s: not yes or no; yes assumed", pre, st.pfs.value)
		}
		pfs = b || !ok
	}
	if !pfs {
		var out []string
		dropped := false
		for _, e := range c.ESP {
			if hasDH(e) {
				dropped = true
			}
			if w := withoutDH(e); !hasString(out, w) {
				out = append(out, w)
			}
		}
		if dropped {
			c.ESP = out
			im.note(p, Approximated, "%spfs=no → no DH group in esp = %s", pre, tomlList(out))
		} else if st.pfs != nil {
			im.note(p, Translated, "%spfs=no (no DH group in the esp proposals)", pre)
		}
		return
	}
	group := firstDH(c.IKE)
	if group == "" {
		group = "modp2048" // ikegate's default IKE proposal's
	}
	esp := c.ESP
	if len(esp) == 0 {
		esp = []string{"aes256gcm16", "aes128gcm16", "aes256-sha256", "aes128-sha256"} // ikegate's defaults
	}
	var out []string
	added := false
	for _, e := range esp {
		if !hasDH(e) {
			e += "-" + group
			added = true
		}
		if !hasString(out, e) {
			out = append(out, e)
		}
	}
	if !added {
		if st.pfs != nil {
			im.note(p, Translated, "%spfs=yes (the esp proposals name their DH groups)", pre)
		}
		return
	}
	c.ESP = out
	what := "pfs=yes"
	if st.pfs == nil {
		what = "PFS (pfs=yes, Libreswan's default)"
	}
	im.note(p, Approximated, "%s%s → esp = %s (pluto uses the IKE SA's negotiated group; ikegate's PFS is a DH group in the proposals: %s, the first IKE group)", pre, what, tomlList(out), group)
}

// finish settles credentials, the PSK, remote_auth, xauth and start.
func (im *icImporter) finish(c *Conn, pre string, s *icSection, st *icConnState) {
	if im.unique != "" {
		c.Extra["unique"] = tomlString(im.unique)
	}
	switch {
	case st.remoteAuth == st.localAuth:
	case c.Version == "ikev1" && (st.remoteAuth == "psk" || st.remoteAuth == "pubkey"):
		im.note(s.pos, Omitted, "%sthe peer authenticates with %s and this end with %s: IKEv1 needs one method for both", pre, st.remoteAuth, st.localAuth)
	case c.Version == "ikev1":
	default:
		c.Extra["remote_auth"] = tomlString(st.remoteAuth)
	}
	if st.xauth != "" && st.xauthServer {
		if c.Version != "ikev1" {
			im.note(s.pos, Omitted, "%sXAUTH is IKEv1 only (this connection is IKEv2)", pre)
		} else {
			c.Extra["xauth"] = tomlString(st.xauth)
			if st.xauth == "local" {
				im.needUsers = true
			}
		}
	} else if st.xauth != "" {
		im.note(s.pos, Omitted, "%sthis end is the XAUTH client: ikegate's connections are not XAUTH clients", pre)
	}
	if c.IKEv1Mode == "aggressive" && c.Auth == "psk" && c.Extra["xauth"] == "" {
		c.Extra["allow_aggressive_psk"] = "true"
		im.note(s.pos, Approximated, "%sAggressive Mode with a PSK and no XAUTH: allow_aggressive_psk = true, as the source accepted that risk (its PSK hash can be cracked offline: prefer Main Mode, certificates or IKEv2)", pre)
	}

	if c.Auth == "psk" || st.remoteAuth == "psk" {
		local := []string{c.LocalID, c.LocalAddr}
		remote := []string{c.RemoteID, c.RemoteAddr, st.remoteName}
		sec, amb := matchSecret(im.secrets, "PSK", local, remote)
		switch {
		case sec == nil && im.secretsRd:
			im.note(s.pos, Omitted, "%sno PSK in the secrets matches %s and %s: set psk by hand", pre, idOrAddr(c.LocalID, c.LocalAddr, "this end"), idOrAddr(c.RemoteID, c.RemoteAddr, "the peer"))
		case sec == nil:
			im.note(s.pos, Omitted, "%sno secrets file: set psk by hand", pre)
		default:
			c.PSK = sec.value
			im.usedSecret[sec] = true
			stt, what := Translated, ""
			if amb {
				stt, what = Approximated, " (another entry matches as well with a different secret: check)"
			}
			im.r.NoteIn(sec.file, sec.line, stt, "pre-shared key → psk of connection %s (not shown)%s", c.Name, what)
		}
	}
	if c.Auth == "pubkey" {
		im.certs(c, pre, s, st)
	}
	if st.remoteAuth == "pubkey" || st.caKV != nil {
		im.caFiles(c, pre, s, st)
	}
	// Initiating needs a peer and a local address.
	if c.Start == "start" || c.Start == "trap" {
		why := ""
		switch {
		case c.RemoteAddr == "" || c.RemoteAddr == "%any":
			why = "a peer address to initiate to"
		case c.LocalAddr == "":
			why = "a local address (local_addr) to initiate from"
		}
		if why != "" {
			im.note(s.pos, Omitted, "%sstart = %q needs %s: left at \"none\"", pre, c.Start, why)
			c.Start = "none"
		}
	}
	if c.RemoteAddr == "" {
		c.RemoteAddr = "%any"
	}
	if c.LocalAddr == "" && c.LocalID == "" && !(c.Auth == "pubkey" && c.Cert != "") {
		im.note(s.pos, Omitted, "%sno local address and no local identity: set local_addr or local_id", pre)
	}
}

// certs sets cert and key from leftcert= (strongSwan: files in
// ipsec.d; Libreswan: an NSS nickname to export).
func (im *icImporter) certs(c *Conn, pre string, s *icSection, st *icConnState) {
	kv := st.certKV
	if kv == nil {
		im.note(s.pos, Omitted, "%sauth is pubkey but there is no %scert=: set cert and key by hand", pre, st.localSide)
		return
	}
	src := pre + kv.key + "=" + kv.value
	if im.d == dialectLibreswan {
		nick := kv.value
		base := regexp.MustCompile(`[^A-Za-z0-9._-]+`).ReplaceAllString(nick, "_")
		c.Cert, c.Key = base+".crt.pem", base+".key.pem"
		im.note(kv.pos, Approximated, "%s → cert = %q, key = %q (an NSS nickname: export them, e.g. `pk12util -d sql:/var/lib/ipsec/nss -n %q -o %s.p12` (or -d sql:/etc/ipsec.d), then `openssl pkcs12 -in %s.p12 -clcerts -nokeys -out %s` and `openssl pkcs12 -in %s.p12 -nocerts -nodes -out %s`)",
			src, c.Cert, c.Key, nick, base, base, c.Cert, base, c.Key)
		return
	}
	c.Cert = im.ipsecD("certs", kv.value)
	key := ""
	var keys []string
	for _, sec := range im.secrets {
		if sec.kind == "KEY" {
			keys = append(keys, im.ipsecD("private", sec.value))
		}
	}
	stem := func(p string) string {
		b := path.Base(p)
		for _, ext := range []string{".pem", ".der", ".crt", ".key"} {
			b = strings.TrimSuffix(b, ext)
		}
		return strings.TrimSuffix(strings.TrimSuffix(b, "Cert"), "Key")
	}
	how := ""
	for _, k := range keys {
		if stem(k) == stem(c.Cert) {
			key = k
		}
	}
	switch {
	case key != "":
	case len(keys) == 1:
		key = keys[0]
	case len(keys) > 1:
		key, how = keys[0], "the first of several RSA/ECDSA keys in the secrets: check it belongs to the certificate"
	default:
		key, how = im.ipsecD("private", path.Base(kv.value)), "key guessed: no RSA/ECDSA entry in the secrets names the key file"
	}
	c.Key = key
	if how != "" {
		im.note(kv.pos, Approximated, "%s → cert = %q, key = %q (%s)", src, c.Cert, c.Key, how)
	} else {
		im.note(kv.pos, Translated, "%s → cert = %q, key = %q", src, c.Cert, c.Key)
	}
}

// caFiles sets ca for certificate authentication.
func (im *icImporter) caFiles(c *Conn, pre string, s *icSection, st *icConnState) {
	p := s.pos
	src := pre + "no " + st.remoteSide + "ca="
	if st.caKV != nil {
		p = st.caKV.pos
		src = pre + st.caKV.key + "=" + st.caKV.value
	}
	if im.d == dialectLibreswan {
		c.Extra["ca"] = tomlList([]string{"ca.pem"})
		im.note(p, Approximated, "%s → ca = [\"ca.pem\"] (the CAs are in the NSS database: export them, e.g. `certutil -L -d sql:/var/lib/ipsec/nss -n NICK -a > ca.pem`)", src)
		return
	}
	switch {
	case len(im.cas) > 0:
		c.Extra["ca"] = tomlList(im.cas)
		im.note(p, Approximated, "%s → ca = %s (the ca sections' certificates)", src, tomlList(im.cas))
	default:
		var cas []string
		if im.files != nil {
			if m, err := im.files.Glob("ipsec.d/cacerts/*"); err == nil {
				for _, f := range m {
					if !path.IsAbs(f) {
						f = path.Join(im.dir, f)
					}
					cas = append(cas, f)
				}
			}
		}
		if len(cas) > 0 {
			c.Extra["ca"] = tomlList(cas)
			im.note(p, Approximated, "%s → ca = %s (every CA certificate in ipsec.d/cacerts, as charon trusts them all)", src, tomlList(cas))
		} else {
			im.note(p, Omitted, "%s: charon trusts every CA certificate in %s; list them in ca", src, im.ipsecD("cacerts", ""))
		}
	}
}

// emitUsers writes [[user]]s from EAP and XAUTH secrets when a connection
// checks users.
func (im *icImporter) emitUsers() {
	seen := map[string]bool{}
	for _, s := range im.secrets {
		if s.kind != "EAP" && s.kind != "XAUTH" && s.kind != "NTLM" {
			continue
		}
		if !im.needUsers {
			im.r.NoteIn(s.file, s.line, Omitted, "a %s password, but no imported connection checks users", s.kind)
			continue
		}
		if len(s.ids) == 0 {
			im.r.NoteIn(s.file, s.line, Omitted, "a %s password without a user name", s.kind)
			continue
		}
		for _, id := range s.ids {
			name := strings.Trim(id, `"`)
			if strings.HasPrefix(name, "@") {
				name = name[1:]
			}
			if seen[name] {
				im.r.NoteIn(s.file, s.line, Omitted, "%s has a password already (the first one is kept)", name)
				continue
			}
			seen[name] = true
			im.r.Tables = append(im.r.Tables, userTable(s, name))
			im.r.NoteIn(s.file, s.line, Translated, "user %s → [[user]] (password not shown)", name)
		}
	}
	if im.needUsers && len(seen) == 0 {
		im.r.Note(0, Omitted, "a connection checks users (XAUTH or EAP-MSCHAPv2) but no EAP or XAUTH secret was found: add [[user]]s")
	}
}

// Libreswan's proposal syntax.

var (
	lswGCM = regexp.MustCompile(`^aes_?gcm(?:_?([abc]|8|12|16))?_?(128|192|256)?$`)
	lswCTR = regexp.MustCompile(`^aes_?ctr_?(128|192|256)?$`)
	lswCBC = regexp.MustCompile(`^aes(?:_?cbc)?_?(128|192|256)?$`)
)

// lswAlg maps one Libreswan algorithm name to strongSwan keywords; "" and
// a reason when ikegate lacks it; skip for "null" integrity and "none".
func lswAlg(w string) (kw, why string, skip bool) {
	switch w {
	case "null", "none":
		return "", "", true
	case "3des", "3des_cbc":
		return "3des", "", false
	case "chacha20_poly1305", "chacha20poly1305":
		return "chacha20poly1305", "", false
	case "sha", "sha1", "sha1_96":
		return "sha1", "", false
	case "sha2", "sha2_256", "sha256", "sha2_256_128":
		return "sha256", "", false
	case "sha2_384", "sha384", "sha2_384_192":
		return "sha384", "", false
	case "sha2_512", "sha512", "sha2_512_256":
		return "sha512", "", false
	case "md5", "md5_96":
		return "md5", "", false
	case "aes_xcbc", "aes_xcbc_96", "aesxcbc":
		return "aesxcbc", "", false
	case "curve25519", "x25519", "dh31":
		return "x25519", "", false
	}
	if m := lswGCM.FindStringSubmatch(w); m != nil {
		icv := map[string]string{"": "16", "a": "8", "8": "8", "b": "12", "12": "12", "c": "16", "16": "16"}[m[1]]
		bits := m[2]
		if bits == "" {
			bits = "256"
		}
		return "aes" + bits + "gcm" + icv, "", false
	}
	if m := lswCTR.FindStringSubmatch(w); m != nil {
		bits := m[1]
		if bits == "" {
			bits = "256"
		}
		return "aes" + bits + "ctr", "", false
	}
	if m := lswCBC.FindStringSubmatch(w); m != nil {
		bits := m[1]
		if bits == "" {
			bits = "256" // Libreswan's default key size
		}
		return "aes" + bits, "", false
	}
	if strings.HasPrefix(w, "dh") {
		g := map[string]string{"2": "modp1024", "5": "modp1536", "14": "modp2048", "15": "modp3072", "16": "modp4096",
			"17": "modp6144", "18": "modp8192", "19": "ecp256", "20": "ecp384", "21": "ecp521", "31": "x25519"}[w[2:]]
		if g != "" {
			return g, "", false
		}
	}
	if strings.HasPrefix(w, "ecp_") {
		w = "ecp" + w[4:]
	}
	if _, ok := ikegateKeywords[w]; ok {
		return w, "", false
	}
	return "", unsupported(w), false
}

// mapLswProposal translates one Libreswan proposal
// ("aes256-sha2_256;modp2048", "aes_gcm256-null", "aes+aes_gcm-sha2;dh19+dh20")
// into strongSwan keywords and checks it as mapSwanProposal does. What
// Libreswan fills in from its defaults (an IKE proposal without a DH
// group or integrity, ESP without integrity) is filled with one sound
// choice, said as a remark.
func mapLswProposal(s string, esp bool, version string) proposalResult {
	var res proposalResult
	var words []string
	kinds := map[string]bool{}
	aead := false
	for _, w := range strings.FieldsFunc(strings.ToLower(strings.TrimSpace(s)), func(r rune) bool {
		return r == '-' || r == ';' || r == '+' || r == ' '
	}) {
		kw, why, skip := lswAlg(w)
		if skip {
			if w == "null" {
				kinds["integrity"] = true // AEAD's "no integrity"
			}
			continue
		}
		if kw == "" {
			res.dropped = append(res.dropped, fmt.Sprintf("%s (%s)", w, why))
			// What was named and dropped is not filled in from defaults:
			// the proposal is then left out.
			kinds[lswKind(w)] = true
			continue
		}
		if !hasString(words, kw) {
			words = append(words, kw)
		}
		kinds[ikegateKeywords[kw]] = true
		if ikegateKeywords[kw] == "encryption" && (strings.Contains(kw, "gcm") || kw == "chacha20poly1305") {
			aead = true
		}
	}
	var filled []string
	if hasKind(words, "encryption") {
		if !kinds["integrity"] && !(aead && esp) {
			words = append(words, "sha256")
			filled = append(filled, "sha256")
		}
		if !esp && !kinds["dh"] {
			words = append(words, "modp2048")
			filled = append(filled, "modp2048")
		}
	}
	sub := mapSwanProposal(strings.Join(words, "-"), esp, version)
	if sub.err != "" && len(res.dropped) > 0 {
		sub.err = fmt.Sprintf("what remains (%s) is no complete proposal", strings.Join(words, "-"))
		if len(words) == 0 {
			sub.err = "no algorithm ikegate has"
		}
	}
	sub.dropped = append(res.dropped, sub.dropped...)
	if len(filled) > 0 && sub.err == "" {
		r := "pluto fills in its defaults for what is not named; taken: " + strings.Join(filled, ", ")
		if sub.remark != "" {
			r += "; " + sub.remark
		}
		sub.remark = r
	}
	return sub
}

// lswKind guesses the kind of an algorithm name ikegate lacks.
func lswKind(w string) string {
	for _, p := range []string{"modp", "dh", "ecp", "curve", "x448", "ntru", "newhope", "mlkem"} {
		if strings.HasPrefix(w, p) {
			return "dh"
		}
	}
	for _, p := range []string{"sha", "md5", "aes_xcbc", "aes_cmac", "aesxcbc", "aescmac", "ripemd"} {
		if strings.HasPrefix(w, p) {
			return "integrity"
		}
	}
	return "encryption"
}

// hasKind reports whether a keyword of that kind is among words.
func hasKind(words []string, kind string) bool {
	for _, w := range words {
		if ikegateKeywords[w] == kind {
			return true
		}
	}
	return false
}
