package policy

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/BurntSushi/toml"

	"ikegate/oakley"
)

// Defaults applied by Load and Parse to keys the file leaves out.
const (
	DefaultIKEPort           = 500
	DefaultNATTPort          = 4500
	DefaultDataplane         = "none"
	DefaultControl           = "/run/ikegate/ikegate.sock"
	DefaultLogLevel          = "info"
	DefaultCookieThreshold   = 100
	DefaultRetransmitTries   = 5
	DefaultRetransmitTimeout = time.Second
	DefaultIKELifetime       = 4 * time.Hour
	DefaultChildLifetime     = time.Hour
	DefaultDPDDelay          = 30 * time.Second
	DefaultDPDTimeout        = 150 * time.Second
	DefaultDPDAction         = "clear"
	DefaultRadiusTimeout     = 3 * time.Second
)

// Bounds of radius.timeout.
const (
	MinRadiusTimeout = 100 * time.Millisecond
	MaxRadiusTimeout = 60 * time.Second
)

// DefaultIKEProposals is used when a connection has no "ike" key.
var DefaultIKEProposals = []string{"aes256-sha256-modp2048"}

// DefaultESPProposals is used when a connection has no "esp" key: AEAD
// first, then AES-CBC with HMAC-SHA2-256, one algorithm of each kind per
// proposal so that the list is valid for IKEv1 as well.
var DefaultESPProposals = []string{"aes256gcm16", "aes128gcm16", "aes256-sha256", "aes128-sha256"}

// Load reads, decodes and validates the configuration file at path. Relative
// cert, key and ca paths are resolved against the file's directory. All
// problems found are returned together (errors.Join of *FieldError); each
// names the file, the key and what is wrong.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	return Parse(path, data)
}

// Parse decodes and validates a configuration whose text is data; path
// names it in errors and is the base for relative cert, key and ca paths
// (which are read from disk), exactly as with Load.
func Parse(path string, data []byte) (*Config, error) {
	l := &cfgLoader{file: path, dir: filepath.Dir(path), src: data}
	cfg := l.parse()
	if len(l.errs) > 0 {
		l.sortErrs()
		return nil, errors.Join(l.errs...)
	}
	return cfg, nil
}

// FieldError is one problem found in a configuration file.
type FieldError struct {
	File    string // the config file
	Section string // e.g. `gateway`, `connection "site-b" (connection[0])`; empty at top level
	Key     string // the key within Section; empty for syntax errors and whole-section problems
	Line    int    // 1-based line in File, 0 if unknown
	Column  int    // 1-based column, for TOML syntax errors only
	Err     error
}

// Error formats the problem: the file, then the section, key, message and
// line (`f.toml: gateway: key "ike_port": ... (line 3)`), or for a TOML
// syntax error the file, line and column, then the message.
func (e *FieldError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	b.WriteString(": ")
	if e.Section == "" && e.Key == "" && e.Line > 0 {
		// TOML syntax error: the position is the main information.
		fmt.Fprintf(&b, "line %d", e.Line)
		if e.Column > 0 {
			fmt.Fprintf(&b, ", column %d", e.Column)
		}
		fmt.Fprintf(&b, ": %v", e.Err)
		return b.String()
	}
	if e.Section != "" {
		b.WriteString(e.Section)
		b.WriteString(": ")
	}
	if e.Key != "" {
		fmt.Fprintf(&b, "key %q: ", e.Key)
	}
	fmt.Fprint(&b, e.Err)
	if e.Line > 0 {
		fmt.Fprintf(&b, " (line %d)", e.Line)
	}
	return b.String()
}

// Unwrap returns the underlying error, Err.
func (e *FieldError) Unwrap() error { return e.Err }

// cfgLoader holds the state of one Parse call.
type cfgLoader struct {
	file  string
	dir   string
	src   []byte
	lines cfgLineIndex
	errs  []error
	// order holds, for each of errs recorded by cfgTable.errf, the line
	// of its section (the table header; at top level the key's own line):
	// sortErrs orders the errors by it, so that they come section by
	// section in document order whatever order the sections are read in.
	order []int
	// host, when set (LoadHost), asks for the checks against this host
	// and its files whose findings are warnings (load_warn.go).
	host  *Host
	warns []*FieldError
	// service are the [cluster] service addresses (bound like listen).
	service map[netip.Addr]bool
}

// sortErrs puts the errors in document order of their sections, keeping
// the order within each section.
func (l *cfgLoader) sortErrs() {
	if len(l.order) != len(l.errs) {
		return // a syntax error: nothing else was recorded
	}
	idx := make([]int, len(l.errs))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return l.order[a] - l.order[b] })
	errs := make([]error, len(idx))
	for i, j := range idx {
		errs[i] = l.errs[j]
	}
	l.errs = errs
}

func (l *cfgLoader) parse() *Config {
	var raw map[string]any
	if _, err := toml.Decode(string(l.src), &raw); err != nil {
		l.syntaxError(err)
		return nil
	}
	l.lines = cfgIndexLines(l.src)
	top := &cfgTable{l: l, m: raw}

	cfg := &Config{File: l.file}
	if v, ok := top.take("gateway"); ok {
		if m, ok := v.(map[string]any); ok {
			l.gateway(&cfgTable{l: l, sec: "gateway", loc: "gateway", m: m}, &cfg.Gateway)
		} else {
			top.errf("gateway", "must be a table ([gateway]), not %s", cfgTOMLType(v))
			l.gateway(&cfgTable{l: l, sec: "gateway", loc: "gateway"}, &cfg.Gateway)
		}
	} else {
		l.gateway(&cfgTable{l: l, sec: "gateway", loc: "gateway"}, &cfg.Gateway)
	}

	// Remote access: pools, users and RADIUS before the connections that
	// refer to them.
	acc := &cfgAccess{pools: map[string]bool{}, groups: map[string]bool{}}
	cfg.Pools = l.pools(top, acc)
	cfg.Groups = l.groups(top, acc)
	cfg.Users = l.users(top, acc)
	cfg.Radius = l.radius(top, acc)
	cfg.Cluster = l.cluster(top, &cfg.Gateway)

	names := map[string]int{}
	for i, m := range l.tableArray(top, "connection") {
		t := &cfgTable{l: l, sec: fmt.Sprintf("connection[%d]", i), loc: fmt.Sprintf("connection#%d", i), m: m}
		c := l.connection(t, &cfg.Gateway, acc)
		if c == nil {
			continue
		}
		if first, dup := names[c.Name]; dup {
			t.errf("name", "duplicate connection name %q (also connection[%d])", c.Name, first)
			continue
		}
		names[c.Name] = i
		cfg.Connections = append(cfg.Connections, c)
	}
	top.unknown(validTopKeys)
	return cfg
}

var validTopKeys = []string{"gateway", "connection", "pool", "group", "user", "radius", "cluster"}

// cfgAccess is what the connections may refer to: the declared pool names
// and whether any [[user]] or a [radius] table exists. A table with errors
// still counts as declared, so that its errors are not repeated as
// dangling references.
type cfgAccess struct {
	pools  map[string]bool
	groups map[string]bool
	users  bool
	radius bool
}

// tableArray returns the tables of the array of tables key ([[key]]), or
// nil (with an error recorded) when key holds anything else.
func (l *cfgLoader) tableArray(top *cfgTable, key string) []map[string]any {
	v, ok := top.take(key)
	if !ok {
		return nil
	}
	switch v := v.(type) {
	case []map[string]any:
		return v
	case []any:
		tables := make([]map[string]any, 0, len(v))
		for _, e := range v {
			m, ok := e.(map[string]any)
			if !ok {
				top.errf(key, "must be an array of tables ([[%s]]), but holds %s", key, cfgTOMLType(e))
				return nil
			}
			tables = append(tables, m)
		}
		return tables
	}
	top.errf(key, "must be an array of tables ([[%s]]), not %s (write [[%s]], not [%s])", key, cfgTOMLType(v), key, key)
	return nil
}

// syntaxError records a decoder error, with its position when it has one.
// A message that may quote a PSK's text is withheld.
func (l *cfgLoader) syntaxError(err error) {
	var pe toml.ParseError
	if !errors.As(err, &pe) {
		l.errs = append(l.errs, &FieldError{File: l.file, Err: fmt.Errorf("invalid TOML: %w", err)})
		return
	}
	msg := cfgOneLine(pe.Message)
	if cfgSecretNear(l.src, pe) {
		msg = "invalid value (details withheld: the text may contain a secret)"
	} else if pe.LastKey != "" {
		msg += fmt.Sprintf(" (after key %q)", pe.LastKey)
	}
	l.errs = append(l.errs, &FieldError{
		File: l.file, Line: pe.Position.Line, Column: pe.Position.Col,
		Err: &cfgSyntaxErr{msg: "invalid TOML: " + msg, pe: pe},
	})
}

type cfgSyntaxErr struct {
	msg string
	pe  toml.ParseError
}

func (e *cfgSyntaxErr) Error() string { return e.msg }
func (e *cfgSyntaxErr) Unwrap() error { return e.pe }

// cfgSecretKeys are the keys whose values are secrets: psk (connections),
// password and nt_hash ([[user]]), secret ([radius]).
var cfgSecretKeys = []string{"psk", "password", "nt_hash", "secret", "state_key"}

var cfgSecretKeyLine = regexp.MustCompile(`^\s*(?:"(?:psk|password|nt_hash|secret|state_key)"|'(?:psk|password|nt_hash|secret|state_key)'|psk|password|nt_hash|secret|state_key)\s*=`)

// cfgSecretNear reports whether a parse error concerns a secret's value.
func cfgSecretNear(src []byte, pe toml.ParseError) bool {
	k := pe.LastKey
	if i := strings.LastIndexByte(k, '.'); i >= 0 {
		k = k[i+1:]
	}
	if slices.Contains(cfgSecretKeys, k) {
		return true
	}
	lines := strings.Split(string(src), "\n")
	for _, n := range []int{pe.Position.Line - 1, pe.Position.Line} { // this line and the one before
		if n >= 1 && n <= len(lines) && cfgSecretKeyLine.MatchString(lines[n-1]) {
			return true
		}
	}
	return false
}

// gateway fills g from the [gateway] table.
func (l *cfgLoader) gateway(t *cfgTable, g *Gateway) {
	*g = Gateway{
		IKEPort: DefaultIKEPort, NATTPort: DefaultNATTPort,
		Dataplane: DefaultDataplane, Control: DefaultControl, LogLevel: DefaultLogLevel,
		CookieThreshold: DefaultCookieThreshold, RetransmitTries: DefaultRetransmitTries,
		RetransmitBase: DefaultRetransmitTimeout,
	}
	if list, ok := t.strs("listen"); ok {
		seen := map[netip.Addr]bool{}
		for _, s := range list {
			a, err := cfgParseAddr(s)
			if err != nil {
				t.errf("listen", "%w", err)
				continue
			}
			if seen[a] {
				t.errf("listen", "address %s listed twice", a)
				continue
			}
			seen[a] = true
			g.Listen = append(g.Listen, a)
			l.listenOnHost(t, a)
		}
		if len(list) == 0 {
			t.errf("listen", "must list at least one address to bind")
		}
	} else if !t.has("listen") {
		t.errf("listen", "missing: list the addresses to bind, e.g. listen = [\"192.0.2.1\"]")
	}
	portKey := func(key string, p *int) {
		if v, ok := t.int(key); ok {
			if v < 1 || v > 65535 {
				t.errf(key, "port %d out of range 1-65535", v)
				return
			}
			*p = v
		}
	}
	portKey("ike_port", &g.IKEPort)
	portKey("natt_port", &g.NATTPort)
	if g.IKEPort == g.NATTPort {
		t.errf("natt_port", "must differ from ike_port (both are %d)", g.IKEPort)
	}
	t.enum("dataplane", &g.Dataplane, "xfrm", "userspace", "none")
	l.espEncap(t, g)
	if v, ok := t.str("control"); ok {
		if v == "" {
			t.errf("control", "must not be empty")
		} else {
			g.Control = v
		}
	}
	t.enum("log_level", &g.LogLevel, "debug", "info", "warn", "error")
	t.enum("log_format", &g.LogFormat, "console", "json")
	if v, ok := t.str("control_group"); ok {
		l.controlGroup(t, v)
		g.ControlGroup = v
	}
	t.intIn("cookie_threshold", &g.CookieThreshold, MinCookieThreshold, MaxCookieThreshold, "0 demands a cookie always")
	t.intIn("retransmit_tries", &g.RetransmitTries, MinRetransmitTries, MaxRetransmitTries, "")
	t.durationIn("retransmit_timeout", &g.RetransmitBase, MinRetransmitTimeout, MaxRetransmitTimeout)
	t.durationIn("natt_keepalive", &g.NATKeepalive, MinNATKeepalive, MaxNATKeepalive)
	if v, ok := t.str("key_export"); ok {
		g.KeyExport = v
	}
	t.intIn("workers", &g.Workers, MinWorkers, MaxWorkers, "0 means one per CPU")
	if v, ok := t.str("metrics_listen"); ok {
		if ap, err := cfgParseMetricsListen(v); err != nil {
			t.errf("metrics_listen", "%w", err)
		} else {
			g.MetricsListen = ap.String()
		}
	}
	if v, ok := t.int("gc_percent"); ok {
		if v != -1 && (v < MinGCPercent || v > MaxGCPercent) {
			t.errf("gc_percent", "%d is out of range: must be from %d to %d, or -1 (the collector off until memory_limit)", v, MinGCPercent, MaxGCPercent)
		} else {
			g.GCPercent = v
		}
	}
	if v, ok := t.int("gc_idle_percent"); ok {
		if v < MinGCPercent || v > MaxGCPercent {
			t.errf("gc_idle_percent", "%d is out of range: must be from %d to %d (at or above gc_percent: no switching)", v, MinGCPercent, MaxGCPercent)
		} else {
			g.GCIdlePercent = v
		}
	}
	if v, ok := t.str("memory_limit"); ok {
		if n, err := parseByteSize(v); err != nil {
			t.errf("memory_limit", "%w", err)
		} else if n < MinMemoryLimit {
			t.errf("memory_limit", "%q is below the minimum of 16MiB", v)
		} else {
			g.MemoryLimit = n
		}
	}
	if g.GCPercent == -1 && g.MemoryLimit == 0 {
		t.errf("gc_percent", "-1 turns the garbage collector off: set memory_limit too, or memory grows without bound")
	}
	t.intIn("log_sample", &g.LogSample, 0, MaxLogSample, "0 writes every line")
	t.unknown(validGatewayKeys)
}

// Bounds of the runtime keys of [gateway].
const (
	MinGCPercent   = 10
	MaxGCPercent   = 10000
	MinMemoryLimit = 16 << 20
	MaxLogSample   = 1000000
)

// parseByteSize reads a size: a number of bytes, or a number with one
// of the units KiB, MiB, GiB, TiB (also KB, MB, GB, TB: powers of 1000).
func parseByteSize(s string) (int64, error) {
	num := strings.TrimSpace(s)
	unit := ""
	if i := strings.IndexFunc(num, func(r rune) bool { return r < '0' || r > '9' }); i >= 0 {
		num, unit = strings.TrimSpace(num[:i]), strings.TrimSpace(num[i:])
	}
	mult := map[string]int64{"": 1, "B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40,
		"KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12}[unit]
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || mult == 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("%q is not a size (like \"512MiB\", \"2GiB\" or a number of bytes)", s)
	}
	return n * mult, nil
}

var validGatewayKeys = []string{
	"listen", "ike_port", "natt_port", "dataplane", "control", "log_level", "log_format",
	"cookie_threshold", "retransmit_tries", "retransmit_timeout", "natt_keepalive", "workers", "key_export",
	"control_group", "metrics_listen", "gc_percent", "gc_idle_percent", "memory_limit", "log_sample", "esp_encap",
}

// cfgParseMetricsListen parses metrics_listen: an IP address and a TCP
// port, "127.0.0.1:9595" or "[::1]:9595".
func cfgParseMetricsListen(s string) (netip.AddrPort, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("%q is not IP:port (e.g. \"127.0.0.1:9595\" or \"[::1]:9595\")", s)
	}
	a, err := netip.ParseAddr(host)
	if err != nil || a.Zone() != "" {
		return netip.AddrPort{}, fmt.Errorf("%q: the host must be an IP address (e.g. \"127.0.0.1:9595\"), not %q", s, host)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil || p == 0 {
		return netip.AddrPort{}, fmt.Errorf("%q: port %q out of range 1-65535", s, port)
	}
	return netip.AddrPortFrom(a.Unmap(), uint16(p)), nil
}

var validConnKeys = []string{
	"name", "version", "ikev1_mode", "local_addr", "remote_addr", "local_id", "remote_id",
	"auth", "psk", "cert", "key", "ca", "ike", "esp", "local_ts", "remote_ts", "start", "mode",
	"ike_lifetime", "child_lifetime", "child_lifetime_bytes", "dpd_delay", "dpd_timeout", "dpd_action",
	"pool", "group", "xauth", "remote_auth", "unique", "allow_aggressive_psk", "modecfg", "mobike", "eap_only",
	"send_cert", "nat_ikev1_method", "sha2_truncbug", "pfs",
	"split_child_sas",
}

var cfgConnNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// connection builds one [[connection]]; it returns nil when the table has
// no usable name (errors are recorded either way).
func (l *cfgLoader) connection(t *cfgTable, g *Gateway, acc *cfgAccess) *Connection {
	c := &Connection{
		Version: IKEv2, Start: StartNone, Unique: UniqueNo,
		IKELifetime: DefaultIKELifetime, ChildLifetime: DefaultChildLifetime,
		DPDDelay: DefaultDPDDelay, DPDTimeout: DefaultDPDTimeout, DPDAction: DefaultDPDAction,
	}
	defer t.unknown(validConnKeys)

	if name, ok := t.str("name"); ok {
		switch {
		case !cfgConnNameRE.MatchString(name):
			t.errf("name", "%q is not a valid connection name (letters, digits, '.', '_', '-'; starting with a letter or digit)", name)
		case len(name) > 64:
			t.errf("name", "longer than 64 characters")
		default:
			c.Name = name
			t.sec = fmt.Sprintf("connection %q (%s)", name, t.sec)
		}
	} else if !t.has("name") {
		t.errf("name", "missing: every [[connection]] needs a name")
	}

	var v string
	versionOK := !t.has("version")
	if t.enum("version", &v, "ikev1", "ikev2", "any") {
		c.Version = Version(v)
		versionOK = true
	}
	if c.Version != IKEv2 {
		c.IKEv1Mode = "main"
	}
	switch {
	case !versionOK:
		t.take("ikev1_mode")
	case t.has("ikev1_mode") && c.Version != IKEv1:
		t.take("ikev1_mode")
		t.errf("ikev1_mode", "only applies to version = \"ikev1\" (this connection is %q)", c.Version)
	default:
		t.enum("ikev1_mode", &c.IKEv1Mode, "main", "aggressive")
	}

	// Addresses.
	localOK := !t.has("local_addr") // absent: unset, no error
	if s, ok := t.str("local_addr"); ok {
		if s == "%any" {
			localOK = true // leave unset: any local address
		} else if a, err := cfgParseAddr(s); err != nil {
			t.errf("local_addr", "%w", err)
		} else {
			localOK = true
			c.LocalAddr = a
			if !cfgListensOn(g.Listen, a) && !l.service[a] && len(g.Listen) > 0 {
				t.errf("local_addr", "%s is not one of gateway.listen (%s) nor a cluster service address, so nothing would receive for it", a, cfgJoinAddrs(g.Listen))
			}
		}
	}
	remoteOK := false
	if s, ok := t.str("remote_addr"); ok {
		if s == "%any" {
			remoteOK = true
		} else if a, err := cfgParseAddr(s); err != nil {
			t.errf("remote_addr", "%w", err)
		} else {
			c.RemoteAddr = a
			remoteOK = true
		}
	} else if !t.has("remote_addr") {
		t.errf("remote_addr", "missing: give the peer's address, or \"%%any\" to accept any peer")
	}
	if c.LocalAddr.IsValid() && c.RemoteAddr.IsValid() && c.LocalAddr.Is4() != c.RemoteAddr.Is4() {
		t.errf("remote_addr", "%s and local_addr %s are of different address families", c.RemoteAddr, c.LocalAddr)
	}

	// Identities.
	if s, ok := t.str("local_id"); ok {
		id, err := ParseIdentity(s)
		switch {
		case err != nil:
			t.errf("local_id", "%w", err)
		case id.Any:
			t.errf("local_id", "cannot be %%any: the local end must have an identity")
		default:
			c.LocalID = id
		}
	}
	localIDSet := t.has("local_id")
	if s, ok := t.str("remote_id"); ok {
		if id, err := ParseIdentity(s); err != nil {
			t.errf("remote_id", "%w", err)
		} else {
			c.RemoteID = id
		}
	} else if !t.has("remote_id") && remoteOK {
		if c.RemoteAddr.IsValid() {
			c.RemoteID = cfgAddrIdentity(c.RemoteAddr)
		} else {
			c.RemoteID = Identity{Any: true}
		}
	}

	// How the client authenticates decides which credentials the
	// connection needs, so it is read first.
	l.remoteAuth(t, c, acc, versionOK)
	l.auth(t, c)

	// The default local identity: with a certificate, the identity it
	// vouches for (its subject DN, as strongSwan does); else local_addr.
	// A configured one must be in the certificate, or the peer will reject
	// our AUTH.
	switch {
	case localIDSet && c.Cert != nil && c.LocalID.Type != 0:
		if err := CertMatchesIdentity(c.Cert, c.LocalID); err != nil {
			t.errf("local_id", "%w", err)
		}
	case localIDSet:
	case c.Auth == AuthPubkey && c.Cert != nil:
		c.LocalID = CertIdentity(c.Cert)
	case c.LocalAddr.IsValid():
		c.LocalID = cfgAddrIdentity(c.LocalAddr)
	case c.Auth == AuthPubkey && t.has("cert"):
		// The certificate did not load (reported): no default to offer.
	default:
		t.errf("local_id", "missing: set local_id or local_addr (the default local_id is local_addr)")
	}

	// Proposals.
	c.IKE = l.proposals(t, "ike", false, c.Version, DefaultIKEProposals)
	c.ESP = l.proposals(t, "esp", true, c.Version, DefaultESPProposals)
	l.pfs(t, c)

	// Traffic selectors.
	c.LocalTS = l.selectors(t, "local_ts", c.LocalAddr, "local_addr")
	c.RemoteTS = l.selectors(t, "remote_ts", c.RemoteAddr, "remote_addr")

	var start string
	if t.enum("start", &start, "none", "start", "trap") {
		c.Start = Start(start)
		if c.Start != StartNone {
			if remoteOK && !c.RemoteAddr.IsValid() {
				t.errf("start", "%q needs a peer address to initiate to, but remote_addr is %%any", start)
			}
			if c.Version == Any {
				t.errf("start", "%q needs a version to initiate with, but version is \"any\" (responder only)", start)
			}
			if localOK && !c.LocalAddr.IsValid() {
				t.errf("start", "%q needs a local address to initiate from, but local_addr is not set", start)
			}
		}
		if c.Start == StartTrap && g.Dataplane != "xfrm" {
			t.errf("start", "\"trap\" needs gateway.dataplane = \"xfrm\" (a kernel policy raises the acquire that starts the negotiation), but dataplane is %q; use start = \"start\" or \"none\" with it", g.Dataplane)
		}
	}

	t.durationIn("ike_lifetime", &c.IKELifetime, MinLifetime, MaxLifetime)
	t.durationIn("child_lifetime", &c.ChildLifetime, MinLifetime, MaxLifetime)
	if v, ok := t.int("child_lifetime_bytes"); ok {
		if v < 0 {
			t.errf("child_lifetime_bytes", "must not be negative (0: no byte limit)")
		} else {
			c.ChildLifetimeBytes = uint64(v)
		}
	}
	t.durationIn("dpd_delay", &c.DPDDelay, MinDPDDelay, MaxDPDDelay)
	t.durationIn("dpd_timeout", &c.DPDTimeout, MinDPDTimeout, MaxDPDTimeout)
	t.enum("dpd_action", &c.DPDAction, "clear", "hold", "restart")
	mode := "tunnel"
	if t.enum("mode", &mode, "tunnel", "transport") {
		c.Transport = mode == "transport"
	}

	l.remoteAccess(t, c, acc, versionOK)

	if c.Name == "" {
		return nil
	}
	return c
}

// pfs reads pfs: whether a connection whose esp names no DH group takes
// a peer's PFS offer ("lenient", the default) or refuses it ("strict").
// With a group in esp a PFS offer must use one of its groups anyway, so
// the key is an error there rather than a setting that does nothing.
func (l *cfgLoader) pfs(t *cfgTable, c *Connection) {
	s, ok := t.str("pfs")
	if !ok {
		return
	}
	switch s {
	case "lenient", "strict":
	default:
		msg := fmt.Sprintf("%q is not one of \"lenient\", \"strict\"", s)
		// Libreswan's pfs=yes|no, or a group: the way to ask for PFS here
		// is a group in esp.
		group := "modp2048"
		_, err := oakley.ParseDHGroup(s)
		if err == nil {
			group = strings.ToLower(s)
		}
		if err == nil || slices.Contains([]string{"yes", "no", "on", "off", "true", "false"}, strings.ToLower(s)) {
			msg += fmt.Sprintf("; to ask for PFS, add a DH group to the esp proposals (e.g. \"aes256-sha256-%s\"): "+
				"pfs only says whether a connection whose esp names no group takes a peer's PFS offer", group)
		}
		t.errf("pfs", "%s", msg)
		return
	}
	if oakley.HasGroup(c.ESP) {
		t.errf("pfs", "only applies when esp names no DH group; esp %s names %s, so a peer's PFS offer must use one of them: "+
			"remove pfs, or the groups from esp to let the peer choose", strProposalList(c.ESP), cfgGroups(c.ESP))
		return
	}
	c.StrictPFS = s == "strict"
}

// cfgGroups names the DH groups of props, e.g. "MODP_2048, CURVE_25519".
func cfgGroups(props []oakley.Proposal) string {
	var names []string
	for _, p := range props {
		for _, g := range p.Of(oakley.TransformDH) {
			if n := g.String(); g.ID != oakley.DHNone && !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
	}
	return strings.Join(names, ", ")
}

// remoteAuth reads remote_auth: how an IKEv2 client authenticates when it
// is not as the gateway does (auth).
func (l *cfgLoader) remoteAuth(t *cfgTable, c *Connection, acc *cfgAccess, versionOK bool) {
	var ra string
	if !t.enum("remote_auth", &ra, "psk", "pubkey", "eap-mschapv2", "eap-radius") {
		return
	}
	switch {
	case versionOK && c.Version == IKEv1:
		t.errf("remote_auth", "only applies to IKEv2 (this connection is \"ikev1\"): IKEv1 clients authenticate as auth says, plus xauth for a second round")
		return
	case RemoteAuth(ra) == RemoteAuthEAPMSCHAPv2 && !acc.users:
		t.errf("remote_auth", "\"eap-mschapv2\" checks clients against the local user list, but there is no [[user]]")
		return
	case RemoteAuth(ra) == RemoteAuthEAPRadius && !acc.radius:
		t.errf("remote_auth", "\"eap-radius\" passes the clients' EAP to the RADIUS servers, but there is no [radius] table")
		return
	}
	c.RemoteAuth = RemoteAuth(ra)
}

// remoteAccess reads pool, xauth, unique and allow_aggressive_psk, and
// refuses Aggressive Mode with a bare PSK.
func (l *cfgLoader) remoteAccess(t *cfgTable, c *Connection, acc *cfgAccess, versionOK bool) {
	if name, ok := t.str("pool"); ok && l.refPool(t, "pool", name, acc) {
		c.Pool = name
	}
	if name, ok := t.str("group"); ok {
		switch {
		case !acc.groups[name]:
			msg := fmt.Sprintf("no [[group]] is named %q", name)
			names := slices.Sorted(maps.Keys(acc.groups))
			if s := cfgSuggest(name, names); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			} else if len(names) > 0 {
				msg += " (groups: " + cfgQuoteList(names) + ")"
			}
			t.errf("group", "%s", msg)
		default:
			c.Group = name
		}
	}

	var xa string
	if t.enum("xauth", &xa, string(XAuthLocal), string(XAuthRadius)) {
		switch {
		case versionOK && c.Version == IKEv2:
			t.errf("xauth", "only applies to IKEv1 (version = \"ikev1\" or \"any\"; this connection is \"ikev2\"): IKEv2 clients use remote_auth = \"eap-mschapv2\" or \"eap-radius\"")
		case XAuth(xa) == XAuthLocal && !acc.users:
			t.errf("xauth", "\"local\" checks the local user list, but there is no [[user]]")
		case XAuth(xa) == XAuthRadius && !acc.radius:
			t.errf("xauth", "\"radius\" asks the RADIUS servers, but there is no [radius] table")
		default:
			c.XAuth = XAuth(xa)
		}
	}

	u := string(UniqueNo)
	if t.enum("unique", &u, string(UniqueNo), string(UniqueNever), string(UniqueKeep), string(UniqueReplace)) {
		c.Unique = Unique(u)
	}

	var mc string
	if t.enum("modecfg", &mc, "pull", "push") {
		switch {
		case versionOK && c.Version == IKEv2:
			t.errf("modecfg", "only applies to IKEv1 (Mode Config); IKEv2 clients ask with a configuration payload")
		case c.Pool == "":
			t.errf("modecfg", "needs pool: Mode Config hands out an address from it")
		default:
			c.ModeCfgPush = mc == "push"
		}
	}

	if v, ok := t.bool("allow_aggressive_psk"); ok {
		c.AggressivePSK = v
	}
	var sendCert string
	if t.enum("send_cert", &sendCert, SendCertAlways, SendCertIfAsked, SendCertNever) {
		if c.Auth != AuthPubkey {
			t.errf("send_cert", "only applies with auth = \"pubkey\" (a certificate to send)")
		}
		c.SendCert = sendCert
	}
	if v, ok := t.bool("split_child_sas"); ok {
		if c.Version != IKEv2 {
			t.errf("split_child_sas", "only applies to version = \"ikev2\" (IKEv1 Quick Mode always negotiates one subnet pair per phase 2 SA)")
		}
		c.SplitChildSAs = v
	}
	if v, ok := t.bool("sha2_truncbug"); ok {
		c.SHA2TruncBug = v
	}
	var natMethod string
	if t.enum("nat_ikev1_method", &natMethod, NATMethodBoth, NATMethodRFC, NATMethodDrafts, NATMethodNone) {
		if c.Version == IKEv2 {
			t.errf("nat_ikev1_method", "only applies to IKEv1 (version \"ikev1\" or \"any\"); IKEv2 has one NAT traversal")
		}
		c.NATIKEv1Method = natMethod
	}
	if v, ok := t.bool("eap_only"); ok {
		if c.RemoteAuth != RemoteAuthEAPMSCHAPv2 && c.RemoteAuth != RemoteAuthEAPRadius {
			t.errf("eap_only", "only applies with remote_auth = \"eap-mschapv2\" or \"eap-radius\" (RFC 5998 EAP-only authentication)")
		}
		c.EAPOnly = v
	}
	if v, ok := t.bool("mobike"); ok {
		if c.Version == IKEv1 {
			t.errf("mobike", "only applies to IKEv2 (RFC 4555); this connection is \"ikev1\"")
		}
		c.MOBIKE = v
	}
	// Aggressive Mode sends the responder's hash, keyed with the PSK, in
	// the clear to anyone who names an identity the connection accepts:
	// an offline dictionary attack on the PSK needs nothing more. With
	// XAUTH the group PSK alone lets nobody in. (xauth given but invalid
	// is reported already.)
	if c.Version != IKEv2 && c.IKEv1Mode == "aggressive" && c.Auth == AuthPSK && !t.has("xauth") && !c.AggressivePSK {
		t.errf("ikev1_mode", "Aggressive Mode with a pre-shared key and no XAUTH is refused: anyone who knows the group name (an identity remote_id accepts) "+
			"can get the gateway's answer, which holds a hash of the PSK that can be cracked offline, and then log in with it; "+
			"use xauth = \"local\" or \"radius\", certificates (auth = \"pubkey\"), ikev1_mode = \"main\" or IKEv2, "+
			"or set allow_aggressive_psk = true to accept the risk")
	}
}

// auth reads auth, psk, cert, key and ca (psk also for remote_auth =
// "psk", ca also for remote_auth = "pubkey": the client's credentials).
func (l *cfgLoader) auth(t *cfgTable, c *Connection) {
	var auth string
	if !t.enum("auth", &auth, "psk", "pubkey") && !t.has("auth") {
		// Not given: infer it from the credentials present.
		switch {
		case t.has("psk") && !t.has("cert"):
			auth = "psk"
		case t.has("cert") && !t.has("psk"):
			auth = "pubkey"
		case t.has("psk") && t.has("cert"):
			t.errf("auth", "missing, and both psk and cert are given: say which to use (\"psk\" or \"pubkey\")")
		default:
			t.errf("auth", "missing: \"psk\" or \"pubkey\"")
		}
	}
	c.Auth = AuthMethod(auth)
	if c.Auth != AuthPSK && c.Auth != AuthPubkey {
		// auth is missing or invalid (already reported): do not report
		// the credentials as unknown keys as well.
		for _, k := range []string{"psk", "cert", "key", "ca"} {
			t.take(k)
		}
		return
	}

	needPSK := c.Auth == AuthPSK || c.RemoteAuth == RemoteAuthPSK
	needCA := c.Auth == AuthPubkey || c.RemoteAuth == RemoteAuthPubkey
	needCert := c.Auth == AuthPubkey
	other := map[AuthMethod]string{AuthPSK: "pubkey", AuthPubkey: "psk"}[c.Auth]
	unused := func(k, method string) {
		if t.has(k) {
			t.take(k)
			how := fmt.Sprintf("auth = %q", method)
			if k == "psk" || k == "ca" {
				how += fmt.Sprintf(" or remote_auth = %q", method)
			}
			t.errf(k, "only used with %s (this connection uses auth = %q)", how, c.Auth)
		}
	}

	if needPSK {
		if s, ok := t.str("psk"); ok {
			psk, err := cfgDecodePSK(s)
			if err != nil {
				t.errf("psk", "%w", err)
			} else {
				c.PSK = psk
			}
		} else if !t.has("psk") {
			if c.Auth == AuthPSK {
				t.errf("psk", "missing: auth = \"psk\" needs a pre-shared key")
			} else {
				t.errf("psk", "missing: remote_auth = \"psk\" needs the clients' pre-shared key")
			}
		}
	} else {
		unused("psk", "psk")
	}

	if !needCert {
		unused("cert", other)
		unused("key", other)
	} else {
		certPath, certOK := t.str("cert")
		if !certOK && !t.has("cert") {
			t.errf("cert", "missing: auth = \"pubkey\" needs our certificate (PEM file)")
		}
		keyPath, keyOK := t.str("key")
		if !keyOK && !t.has("key") {
			t.errf("key", "missing: auth = \"pubkey\" needs our private key (PEM file)")
		}
		if certOK {
			chain, err := cfgLoadCertChain(l.resolve(certPath))
			if err != nil {
				t.errf("cert", "%w", err)
			} else {
				c.Cert, c.CertChain = chain[0], chain[1:]
			}
		}
		if keyOK {
			key, err := cfgLoadPrivateKey(l.resolve(keyPath))
			switch {
			case err != nil:
				t.errf("key", "%w", err)
			case c.Cert != nil:
				if err := cfgKeyMatchesCert(key, c.Cert); err != nil {
					t.errf("key", "%s: %v", l.resolve(keyPath), err)
				} else {
					c.Key = key
				}
			default:
				c.Key = key
			}
			if err == nil {
				l.secretFile(t, "key", l.resolve(keyPath))
			}
		}
	}

	// A gateway with a certificate whose clients authenticate otherwise
	// (EAP, PSK) checks no client certificate: ca is optional there.
	clientsOther := c.RemoteAuth != RemoteAuthSame && c.RemoteAuth != RemoteAuthPubkey
	if !needCA || (clientsOther && !t.has("ca")) {
		unused("ca", "pubkey")
		return
	}
	caPaths, caOK := t.strs("ca")
	switch {
	case !caOK && !t.has("ca"):
		if c.Auth == AuthPubkey {
			t.errf("ca", "missing: auth = \"pubkey\" needs the CA certificates that sign the peer's certificate")
		} else {
			t.errf("ca", "missing: remote_auth = \"pubkey\" needs the CA certificates that sign the clients' certificates")
		}
	case caOK && len(caPaths) == 0:
		t.errf("ca", "must list at least one CA certificate file")
	case caOK:
		pool, ok := x509.NewCertPool(), true
		var list []*x509.Certificate
		for _, p := range caPaths {
			certs, err := cfgLoadCertChain(l.resolve(p))
			if err != nil {
				t.errf("ca", "%w", err)
				ok = false
				continue
			}
			for _, cert := range certs {
				pool.AddCert(cert)
				list = append(list, cert)
			}
		}
		if ok {
			// CACerts feeds CERTREQ: without it a peer that sends its
			// certificate only when asked (strongSwan's default)
			// sends none.
			c.CAs, c.CACerts = pool, list
		}
	}
}

// resolve makes a relative credential path relative to the config file.
func (l *cfgLoader) resolve(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(l.dir, p)
}

// cfgDecodePSK decodes a psk value: "0x" + hex, "0s" + base64 (strongSwan's
// forms), or the text itself. Errors never quote the value.
func cfgDecodePSK(s string) ([]byte, error) {
	switch {
	case strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X"):
		b, err := hex.DecodeString(s[2:])
		if err != nil || len(b) == 0 {
			return nil, errors.New("starts with 0x but the rest is not an even number of hex digits")
		}
		return b, nil
	case strings.HasPrefix(s, "0s"):
		b, err := base64.StdEncoding.DecodeString(s[2:])
		if err != nil || len(b) == 0 {
			return nil, errors.New("starts with 0s but the rest is not base64")
		}
		return b, nil
	case s == "":
		return nil, errors.New("must not be empty")
	}
	return []byte(s), nil
}

// proposals parses a list of proposals, or the defaults when key is absent.
func (l *cfgLoader) proposals(t *cfgTable, key string, esp bool, v Version, def []string) []oakley.Proposal {
	list, ok := t.strs(key)
	if !ok {
		if t.has(key) {
			return nil // type error already recorded
		}
		list = def
	}
	if len(list) == 0 {
		t.errf(key, "must list at least one proposal")
		return nil
	}
	var out []oakley.Proposal
	for _, s := range list {
		p, err := oakley.ParseProposal(s, esp)
		if err == nil && v == IKEv1 {
			err = cfgIKEv1Proposal(p, s, esp)
		}
		if err != nil {
			t.errf(key, "%w", err)
			continue
		}
		out = append(out, p)
	}
	return out
}

// cfgIKEv1Proposal checks what IKEv1 cannot express: several algorithms of one
// kind in a proposal, AEAD or AES-XCBC for the ISAKMP SA, a PRF other than
// the HMAC of the hash, ChaCha20-Poly1305.
func cfgIKEv1Proposal(p oakley.Proposal, s string, esp bool) error {
	for _, tt := range []oakley.TransformType{oakley.TransformENCR, oakley.TransformINTEG, oakley.TransformPRF, oakley.TransformDH, oakley.TransformESN} {
		if n := len(p.Of(tt)); n > 1 {
			return fmt.Errorf("IKEv1 takes one algorithm of each kind per proposal, but proposal %q has %d %s algorithms: split it into several proposals", s, n, tt)
		}
	}
	enc, _ := p.First(oakley.TransformENCR)
	if enc.ID == oakley.EncrChaCha20Poly1305 {
		return fmt.Errorf("ChaCha20-Poly1305 is not defined for IKEv1 (proposal %q)", s)
	}
	if esp {
		return nil
	}
	if oakley.IsAEAD(enc.ID) {
		return fmt.Errorf("IKEv1 has no AEAD ciphers for the IKE SA (proposal %q); use e.g. aes256-sha256-modp2048", s)
	}
	integ, _ := p.First(oakley.TransformINTEG)
	if integ.ID == oakley.IntegAESXCBC96 {
		return fmt.Errorf("IKEv1 has no AES-XCBC hash for the IKE SA (proposal %q)", s)
	}
	implied, err := oakley.ParseProposal(strings.Join([]string{"aes", cfgIntegKeyword(integ.ID), "modp2048"}, "-"), false)
	if err == nil {
		want, _ := implied.First(oakley.TransformPRF)
		if got, _ := p.First(oakley.TransformPRF); got != want {
			return fmt.Errorf("IKEv1 uses the HMAC of the hash algorithm as PRF; %s cannot be combined with %s (proposal %q)", got, integ, s)
		}
	}
	return nil
}

func cfgIntegKeyword(id uint16) string {
	switch id {
	case oakley.IntegHMACMD5_96:
		return "md5"
	case oakley.IntegHMACSHA1_96:
		return "sha1"
	case oakley.IntegHMACSHA2_256:
		return "sha256"
	case oakley.IntegHMACSHA2_384:
		return "sha384"
	case oakley.IntegHMACSHA2_512:
		return "sha512"
	}
	return ""
}

// selectors parses a traffic selector list; without the key the selector is
// the connection's own address (addrKey), as a single-host prefix. A nil
// result for remote_ts with remote_addr = "%any" means the peer's address,
// whatever it turns out to be (strongSwan's "dynamic").
func (l *cfgLoader) selectors(t *cfgTable, key string, addr netip.Addr, addrKey string) []netip.Prefix {
	list, ok := t.strs(key)
	if !ok {
		if t.has(key) {
			return nil
		}
		if addr.IsValid() {
			return []netip.Prefix{netip.PrefixFrom(addr, addr.BitLen())}
		}
		if addrKey == "local_addr" {
			t.errf(key, "missing: without a local_addr, local_ts must be given")
		}
		return nil
	}
	if len(list) == 0 {
		t.errf(key, "must list at least one prefix")
		return nil
	}
	var out []netip.Prefix
	for _, s := range list {
		p, err := cfgParsePrefix(s)
		if err != nil {
			t.errf(key, "%w", err)
			continue
		}
		out = append(out, p)
	}
	return out
}

// cfgParseAddr parses an IP address literal without zone.
func cfgParseAddr(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(strings.TrimSpace(s))
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%q is not an IP address", s)
	}
	if a.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("%q: zoned addresses are not supported", s)
	}
	return a.Unmap(), nil
}

// cfgParsePrefix parses "10.1.0.0/24" or a single address ("10.1.0.1" means
// 10.1.0.1/32). Host bits must be zero.
func cfgParsePrefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if !strings.Contains(s, "/") {
		a, err := cfgParseAddr(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not a prefix (like 10.1.0.0/24) or an address", s)
		}
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not a prefix (like 10.1.0.0/24)", s)
	}
	if m := p.Masked(); m != p {
		return netip.Prefix{}, fmt.Errorf("prefix %q has host bits set (did you mean %s?)", s, m)
	}
	return p, nil
}

func cfgAddrIdentity(a netip.Addr) Identity {
	if a.Is4() {
		b := a.As4()
		return Identity{Type: IDIPv4Addr, Data: b[:]}
	}
	b := a.As16()
	return Identity{Type: IDIPv6Addr, Data: b[:]}
}

func cfgListensOn(listen []netip.Addr, a netip.Addr) bool {
	for _, l := range listen {
		if l == a || (l.IsUnspecified() && l.Is4() == a.Is4()) {
			return true
		}
	}
	return false
}

func cfgJoinAddrs(as []netip.Addr) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = a.String()
	}
	return strings.Join(s, ", ")
}

var validPoolKeys = []string{
	"name", "addresses", "dns", "nbns", "domain", "split_dns", "split_include", "split_exclude", "banner", "save_password", "idle_timeout", "pfs_group", "backup_servers",
}

// cfgPoolRange is one entry of a pool's addresses, kept to find overlaps.
type cfgPoolRange struct {
	pool string // the pool's name, quoted (or pool[i] without one)
	idx  int    // its index among the [[pool]] tables
	text string // as written
	r    AddrRange
}

// pools reads the [[pool]] tables. Two pools never hand out the same
// address, and neither do two entries of one pool.
func (l *cfgLoader) pools(top *cfgTable, acc *cfgAccess) []*Pool {
	var out []*Pool
	var all []cfgPoolRange
	names := map[string]int{}
	for i, m := range l.tableArray(top, "pool") {
		t := &cfgTable{l: l, sec: fmt.Sprintf("pool[%d]", i), loc: fmt.Sprintf("pool#%d", i), m: m}
		p := &Pool{}
		before := len(l.errs)
		if name, ok := t.tableName("pool", i, names, "connections refer to it with pool = \"...\""); ok {
			acc.pools[name] = true
			p.Name = name
		}

		if list, ok := t.strs("addresses"); ok {
			if len(list) == 0 {
				t.errf("addresses", "must list at least one prefix or first-last range")
			}
			var v4, v6 bool
			for _, s := range list {
				r, err := cfgParseRange(s)
				if err != nil {
					t.errf("addresses", "%w", err)
					continue
				}
				for _, o := range all {
					if r.First.Is4() != o.r.First.Is4() || r.Last.Less(o.r.First) || o.r.Last.Less(r.First) {
						continue
					}
					if o.idx == i {
						t.errf("addresses", "%q overlaps %q of the same pool", s, o.text)
					} else {
						t.errf("addresses", "%q overlaps %q of pool %s: two pools must never hand out the same address", s, o.text, o.pool)
					}
				}
				label := strconv.Quote(p.Name)
				if p.Name == "" {
					label = fmt.Sprintf("pool[%d]", i)
				}
				all = append(all, cfgPoolRange{pool: label, idx: i, text: s, r: r})
				v4, v6 = v4 || r.First.Is4(), v6 || r.First.Is6()
				p.Ranges = append(p.Ranges, r)
			}
			if v4 && v6 {
				t.errf("addresses", "mixes IPv4 and IPv6: a client gets one address from its pool, so use a pool per address family")
			}
		} else if !t.has("addresses") {
			t.errf("addresses", "missing: list the prefixes or first-last ranges to hand out, e.g. addresses = [\"10.9.0.0/24\"]")
		}

		p.Attributes = l.attributes(t)
		t.unknown(validPoolKeys)
		if len(l.errs) == before {
			out = append(out, p)
		}
	}
	return out
}

// attributes reads the client attributes of a [[pool]] or [[group]].
func (l *cfgLoader) attributes(t *cfgTable) Attributes {
	var at Attributes
	at.DNS = l.addrList(t, "dns", false)
	at.NBNS = l.addrList(t, "nbns", true)
	if s, ok := t.str("domain"); ok {
		if err := cfgDomainName(s); err != nil {
			t.errf("domain", "%w", err)
		} else {
			at.Domain = s
		}
	}
	if list, ok := t.strs("split_dns"); ok {
		for _, s := range list {
			if err := cfgDomainName(s); err != nil {
				t.errf("split_dns", "%w", err)
				continue
			}
			at.SplitDNS = append(at.SplitDNS, s)
		}
	}
	at.SplitInclude = l.prefixList(t, "split_include")
	at.SplitExclude = l.prefixList(t, "split_exclude")
	if s, ok := t.str("banner"); ok {
		if len(s) > 65535 {
			t.errf("banner", "is %d bytes long; a Mode Config attribute holds at most 65535", len(s))
		} else {
			at.Banner = s
		}
	}
	if v, ok := t.bool("save_password"); ok {
		at.SavePassword = v
	}
	if list, ok := t.strs("backup_servers"); ok {
		for _, s := range list {
			if _, err := netip.ParseAddr(s); err != nil && cfgDomainName(s) != nil {
				t.errf("backup_servers", "%q is neither an IP address nor a host name", s)
				continue
			}
			at.BackupServers = append(at.BackupServers, s)
		}
		if len(at.BackupServers) > 10 {
			t.errf("backup_servers", "lists %d servers; Cisco clients take at most 10", len(at.BackupServers))
		}
	}
	if s, ok := t.str("pfs_group"); ok {
		if g, err := oakley.ParseDHGroup(s); err != nil {
			t.errf("pfs_group", "%w", err)
		} else {
			at.PFSGroup = g
		}
	}
	if s, ok := t.str("idle_timeout"); ok {
		d, err := time.ParseDuration(s)
		switch {
		case err != nil:
			t.errf("idle_timeout", "%q is not a duration (like \"30m\")", s)
		case d < time.Minute || d > 7*24*time.Hour:
			t.errf("idle_timeout", "%q is out of range: must be from 1m to 168h (leave the key out for none)", s)
		default:
			at.IdleTimeout = d
		}
	}
	return at
}

// tableName reads the name of the i-th [[kind]] table: valid, at most 64
// characters, not taken by an earlier one (names: name → index, updated).
// The table's section names it from then on. refs says who refers to it,
// for the error when it is missing.
func (t *cfgTable) tableName(kind string, i int, names map[string]int, refs string) (string, bool) {
	name, ok := t.str("name")
	if !ok {
		if !t.has("name") {
			t.errf("name", "missing: every [[%s]] needs a name (%s)", kind, refs)
		}
		return "", false
	}
	switch {
	case !cfgConnNameRE.MatchString(name):
		t.errf("name", "%q is not a valid %s name (letters, digits, '.', '_', '-'; starting with a letter or digit)", name, kind)
	case len(name) > 64:
		t.errf("name", "longer than 64 characters")
	default:
		t.sec = fmt.Sprintf("%s %q (%s)", kind, name, t.sec)
		if first, dup := names[name]; dup {
			t.errf("name", "duplicate %s name %q (also %s[%d])", kind, name, kind, first)
			return "", false
		}
		names[name] = i
		return name, true
	}
	return "", false
}

// prefixList reads a list of prefixes (split_include, split_exclude).
func (l *cfgLoader) prefixList(t *cfgTable, key string) []netip.Prefix {
	list, ok := t.strs(key)
	if !ok {
		return nil
	}
	var out []netip.Prefix
	for _, s := range list {
		pfx, err := cfgParsePrefix(s)
		if err != nil {
			t.errf(key, "%w", err)
			continue
		}
		out = append(out, pfx)
	}
	return out
}

// groups reads the [[group]] tables (after the pools they may name).
func (l *cfgLoader) groups(top *cfgTable, acc *cfgAccess) []*Group {
	var out []*Group
	names := map[string]int{}
	for i, m := range l.tableArray(top, "group") {
		t := &cfgTable{l: l, sec: fmt.Sprintf("group[%d]", i), loc: fmt.Sprintf("group#%d", i), m: m}
		g := &Group{}
		before := len(l.errs)
		if name, ok := t.tableName("group", i, names, "connections and RADIUS Class attributes refer to it"); ok {
			acc.groups[name] = true
			g.Name = name
		}
		if name, ok := t.str("pool"); ok {
			if l.refPool(t, "pool", name, acc) {
				g.Pool = name
			}
		}
		g.Attributes = l.attributes(t)
		t.unknown(validGroupKeys)
		if len(l.errs) == before {
			out = append(out, g)
		}
	}
	return out
}

var validGroupKeys = []string{
	"name", "pool", "dns", "nbns", "domain", "split_dns", "split_include", "split_exclude", "banner", "save_password", "idle_timeout", "pfs_group", "backup_servers",
}

// refPool checks that key names a declared [[pool]].
func (l *cfgLoader) refPool(t *cfgTable, key, name string, acc *cfgAccess) bool {
	switch {
	case name == "":
		t.errf(key, "must not be empty (leave the key out for no address pool)")
	case !acc.pools[name]:
		msg := fmt.Sprintf("no [[pool]] is named %q", name)
		names := slices.Sorted(maps.Keys(acc.pools))
		if s := cfgSuggest(name, names); s != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", s)
		} else if len(names) > 0 {
			msg += " (pools: " + cfgQuoteList(names) + ")"
		}
		t.errf(key, "%s", msg)
	default:
		return true
	}
	return false
}

// addrList reads a list of IP addresses (dns, nbns); v4only for WINS.
func (l *cfgLoader) addrList(t *cfgTable, key string, v4only bool) []netip.Addr {
	list, ok := t.strs(key)
	if !ok {
		return nil
	}
	var out []netip.Addr
	for _, s := range list {
		a, err := cfgParseAddr(s)
		switch {
		case err != nil:
			t.errf(key, "%w", err)
		case v4only && !a.Is4():
			t.errf(key, "%s: WINS (NetBIOS name) servers are IPv4 only", a)
		default:
			out = append(out, a)
		}
	}
	return out
}

// cfgParseRange parses a pool entry: a prefix ("10.9.0.0/24"), a single
// address, or an inclusive range "first-last" of one family. An IPv4
// prefix of /30 or shorter loses its network and broadcast addresses (the
// range is the hosts in between); ranges and IPv6 prefixes are used whole.
func cfgParseRange(s string) (AddrRange, error) {
	if first, last, ok := strings.Cut(s, "-"); ok {
		a, err := cfgParseAddr(first)
		if err != nil {
			return AddrRange{}, fmt.Errorf("range %q: %w", s, err)
		}
		b, err := cfgParseAddr(last)
		if err != nil {
			return AddrRange{}, fmt.Errorf("range %q: %w", s, err)
		}
		if a.Is4() != b.Is4() {
			return AddrRange{}, fmt.Errorf("range %q mixes IPv4 and IPv6", s)
		}
		if b.Less(a) {
			return AddrRange{}, fmt.Errorf("range %q: the first address is above the last (did you mean %s-%s?)", s, b, a)
		}
		return AddrRange{First: a, Last: b}, nil
	}
	p, err := cfgParsePrefix(s)
	switch {
	case err != nil && strings.Contains(s, "/"):
		return AddrRange{}, err // not a prefix, or host bits set
	case err != nil:
		return AddrRange{}, fmt.Errorf("%q is not a prefix (like 10.9.0.0/24), an address or a first-last range", s)
	}
	r := AddrRange{First: p.Addr(), Last: LastAddr(p)}
	if p.Addr().Is4() && p.Bits() <= 30 {
		r.First, r.Last = r.First.Next(), r.Last.Prev()
	}
	return r, nil
}

// cfgDomainName checks a DNS name (domain, split_dns): dot-separated
// labels of letters, digits, '-' and '_', at most 253 characters; a
// trailing dot is allowed.
func cfgDomainName(s string) error {
	name := strings.TrimSuffix(s, ".")
	if name == "" || len(name) > 253 {
		return fmt.Errorf("%q is not a domain name", s)
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" || len(label) > 63 || strings.HasPrefix(label, "-") || strings.HasSuffix(label, "-") ||
			strings.ContainsFunc(label, func(r rune) bool {
				return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_')
			}) {
			return fmt.Errorf("%q is not a domain name (labels of letters, digits and '-', separated by dots)", s)
		}
	}
	return nil
}

var validRadiusKeys = []string{"servers", "secret", "accounting", "timeout", "nas_identifier", "interim_interval"}

// radius reads the [radius] table; nil without one.
func (l *cfgLoader) radius(top *cfgTable, acc *cfgAccess) *Radius {
	v, ok := top.take("radius")
	if !ok {
		return nil
	}
	acc.radius = true
	m, ok := v.(map[string]any)
	if !ok {
		top.errf("radius", "must be a table ([radius]), not %s", cfgTOMLType(v))
		return nil
	}
	t := &cfgTable{l: l, sec: "radius", loc: "radius", m: m}
	before := len(l.errs)
	r := &Radius{Timeout: DefaultRadiusTimeout}
	if v, ok := t.bool("accounting"); ok {
		r.Accounting = v
	}
	if list, ok := t.strs("servers"); ok {
		if len(list) == 0 {
			t.errf("servers", "must list at least one server (host:port)")
		}
		seen := map[string]bool{}
		for _, s := range list {
			hp, err := cfgHostPort(s, r.Accounting)
			switch {
			case err != nil:
				t.errf("servers", "%w", err)
			case seen[hp]:
				t.errf("servers", "%s listed twice", hp)
			default:
				seen[hp] = true
				r.Servers = append(r.Servers, hp)
			}
		}
	} else if !t.has("servers") {
		t.errf("servers", "missing: list the RADIUS servers, e.g. servers = [\"10.200.0.2:1812\"]")
	}
	// The secret is never quoted in errors.
	if s, ok := t.str("secret"); ok {
		if s == "" {
			t.errf("secret", "must not be empty")
		} else {
			r.Secret = []byte(s)
		}
	} else if !t.has("secret") {
		t.errf("secret", "missing: the shared secret of the RADIUS servers")
	}
	if s, ok := t.str("timeout"); ok {
		d, err := time.ParseDuration(s)
		switch {
		case err != nil:
			t.errf("timeout", "%q is not a duration (like \"3s\", \"500ms\")", s)
		case d < MinRadiusTimeout || d > MaxRadiusTimeout:
			t.errf("timeout", "%q is out of range: must be from 100ms to 60s", s)
		default:
			r.Timeout = d
		}
	}
	if s, ok := t.str("interim_interval"); ok {
		d, err := time.ParseDuration(s)
		switch {
		case err != nil:
			t.errf("interim_interval", "%q is not a duration (like \"10m\")", s)
		case d < time.Second || d > 24*time.Hour:
			t.errf("interim_interval", "%q is out of range: must be from 1s to 24h (RFC 2869 advises 60s or more)", s)
		case !r.Accounting:
			t.errf("interim_interval", "needs accounting = true")
		default:
			r.Interim = d
		}
	}
	if s, ok := t.str("nas_identifier"); ok {
		switch {
		case s == "":
			t.errf("nas_identifier", "must not be empty (leave the key out to send the host name)")
		case len(s) > 253:
			t.errf("nas_identifier", "is %d bytes long; a RADIUS attribute holds at most 253", len(s))
		default:
			r.NASIdentifier = s
		}
	}
	t.unknown(validRadiusKeys)
	if len(l.errs) != before {
		return nil
	}
	return r
}

// cfgHostPort checks a RADIUS server "host:port" (host an IP address or a
// DNS name; IPv6 in brackets) and returns it normalised. With accounting,
// port+1 must be a port as well.
func cfgHostPort(s string, accounting bool) (string, error) {
	host, port, err := net.SplitHostPort(strings.TrimSpace(s))
	if err != nil || host == "" || port == "" {
		return "", fmt.Errorf("%q is not host:port (like \"10.200.0.2:1812\", IPv6 as \"[2001:db8::2]:1812\")", s)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("%q: port %q is not a number from 1 to 65535", s, port)
	}
	if accounting && n == 65535 {
		return "", fmt.Errorf("%q: accounting goes to port+1, and 65535 is the last port", s)
	}
	if a, err := cfgParseAddr(host); err == nil {
		return net.JoinHostPort(a.String(), strconv.Itoa(n)), nil
	} else if strings.Contains(host, ":") || strings.Contains(host, "%") {
		return "", fmt.Errorf("%q: %w", s, err)
	}
	labels := strings.Split(strings.TrimSuffix(host, "."), ".")
	if err := cfgDomainName(host); err != nil || !strings.ContainsFunc(labels[len(labels)-1], func(r rune) bool { return r < '0' || r > '9' }) {
		// An all-numeric last label is a mistyped IP address, not a name.
		return "", fmt.Errorf("%q: host %q is neither an IP address nor a host name", s, host)
	}
	return net.JoinHostPort(host, strconv.Itoa(n)), nil
}

// cfgTable is one TOML table being read: it records which keys were used so
// that the rest can be reported as unknown.
type cfgTable struct {
	l    *cfgLoader
	sec  string // section name for messages
	loc  string // section name in the line index
	m    map[string]any
	used map[string]bool
}

func (t *cfgTable) has(key string) bool { _, ok := t.m[key]; return ok }

// take returns the value of key and marks it used.
func (t *cfgTable) take(key string) (any, bool) {
	v, ok := t.m[key]
	if ok {
		if t.used == nil {
			t.used = map[string]bool{}
		}
		t.used[key] = true
	}
	return v, ok
}

func (t *cfgTable) line(key string) int {
	if t.loc == "" {
		return t.l.lines[key]
	}
	if n, ok := t.l.lines[t.loc+"."+key]; ok {
		return n
	}
	return t.l.lines[t.loc] // the table's header
}

func (t *cfgTable) errf(key, format string, args ...any) {
	t.l.errs = append(t.l.errs, &FieldError{
		File: t.l.file, Section: t.sec, Key: key, Line: t.line(key),
		Err: fmt.Errorf(format, args...),
	})
	sec := t.l.lines[t.loc]
	if t.loc == "" {
		sec = t.line(key)
	}
	t.l.order = append(t.l.order, sec)
}

// str returns a string value; ok is false when the key is absent or not a
// string (the latter recorded as an error).
func (t *cfgTable) str(key string) (string, bool) {
	v, ok := t.take(key)
	if !ok {
		return "", false
	}
	s, ok := v.(string)
	if !ok {
		t.errf(key, "must be a string, not %s", cfgTOMLType(v))
	}
	return s, ok
}

// strs returns a list of strings; a single string is taken as a list of one.
func (t *cfgTable) strs(key string) ([]string, bool) {
	v, ok := t.take(key)
	if !ok {
		return nil, false
	}
	switch v := v.(type) {
	case string:
		return []string{v}, true
	case []any:
		out := make([]string, 0, len(v))
		for i, e := range v {
			s, ok := e.(string)
			if !ok {
				t.errf(key, "must be an array of strings, but element %d is %s", i, cfgTOMLType(e))
				return nil, false
			}
			out = append(out, s)
		}
		return out, true
	}
	t.errf(key, "must be an array of strings, not %s", cfgTOMLType(v))
	return nil, false
}

func (t *cfgTable) int(key string) (int, bool) {
	v, ok := t.take(key)
	if !ok {
		return 0, false
	}
	n, ok := v.(int64)
	if !ok {
		t.errf(key, "must be an integer, not %s", cfgTOMLType(v))
		return 0, false
	}
	if int64(int(n)) != n {
		t.errf(key, "%d is out of range", n)
		return 0, false
	}
	return int(n), true
}

// bool reads a boolean; ok is false when the key is absent or not a
// boolean (the latter recorded as an error).
func (t *cfgTable) bool(key string) (v, ok bool) {
	x, ok := t.take(key)
	if !ok {
		return false, false
	}
	v, ok = x.(bool)
	if !ok {
		t.errf(key, "must be a boolean (true or false), not %s", cfgTOMLType(x))
	}
	return v, ok
}

// enum reads a string that must be one of allowed; it reports whether *dst
// was set.
func (t *cfgTable) enum(key string, dst *string, allowed ...string) bool {
	s, ok := t.str(key)
	if !ok {
		return false
	}
	if !slices.Contains(allowed, s) {
		t.errf(key, "%q is not one of %s", s, cfgQuoteList(allowed))
		return false
	}
	*dst = s
	return true
}

// unknown reports every key of the table that was not read.
func (t *cfgTable) unknown(valid []string) {
	var keys []string
	for k := range t.m {
		if !t.used[k] {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(a, b string) int {
		if la, lb := t.line(a), t.line(b); la != lb {
			return la - lb
		}
		return strings.Compare(a, b)
	})
	for _, k := range keys {
		msg := "unknown key"
		if s := cfgSuggest(k, valid); s != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", s)
		}
		t.errf(k, "%s", msg)
	}
}

// Suggest returns the one of valid closest to k (case-insensitive, at
// most two edits away), or "": the "did you mean" of keys and names.
func Suggest(k string, valid []string) string { return cfgSuggest(k, valid) }

// cfgSuggest returns the valid key closest to k, if it is close.
func cfgSuggest(k string, valid []string) string {
	best, bestD := "", 3
	for _, v := range valid {
		if d := cfgEditDistance(strings.ToLower(k), v); d < bestD {
			best, bestD = v, d
		}
	}
	return best
}

func cfgEditDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func cfgQuoteList(s []string) string {
	q := make([]string, len(s))
	for i, v := range s {
		q[i] = fmt.Sprintf("%q", v)
	}
	return strings.Join(q, ", ")
}

// cfgTOMLType names the TOML type of a decoded value.
func cfgTOMLType(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case bool:
		return "a boolean"
	case time.Time:
		return "a datetime"
	case []any, []map[string]any:
		return "an array"
	case map[string]any:
		return "a table"
	}
	return fmt.Sprintf("a %T", v)
}

// cfgLineIndex maps "section.key" to the line that defines it. Sections are
// "gateway" and "connection#<i>" for the i-th [[connection]]; a section's
// own header is indexed under its name. It is a best-effort scan of the
// source for error messages, not a TOML parser: keys it cannot place get no
// line number.
type cfgLineIndex map[string]int

var (
	cfgArrayHeaderRE = regexp.MustCompile(`^\s*\[\[\s*([A-Za-z0-9_-]+)\s*\]\]`)
	cfgTableHeaderRE = regexp.MustCompile(`^\s*\[\s*([A-Za-z0-9_-]+)\s*\]`)
	cfgKeyLineRE     = regexp.MustCompile(`^\s*([A-Za-z0-9_.-]+|"[^"]*"|'[^']*')\s*=`)
)

func cfgIndexLines(src []byte) cfgLineIndex {
	idx := cfgLineIndex{}
	counts := map[string]int{}
	sec := ""
	inMulti := "" // the delimiter of an open multi-line string
	for i, line := range strings.Split(string(src), "\n") {
		n := i + 1
		if inMulti != "" {
			if strings.Count(line, inMulti)%2 == 1 {
				inMulti = ""
			}
			continue
		}
		if m := cfgArrayHeaderRE.FindStringSubmatch(line); m != nil {
			sec = fmt.Sprintf("%s#%d", m[1], counts[m[1]])
			counts[m[1]]++
			idx[sec] = n
			if _, ok := idx[m[1]]; !ok {
				idx[m[1]] = n // the array as a whole: its first table (an unknown [[name]])
			}
			continue
		}
		if m := cfgTableHeaderRE.FindStringSubmatch(line); m != nil {
			sec = m[1]
			if _, ok := idx[sec]; !ok {
				idx[sec] = n
			}
			continue
		}
		if m := cfgKeyLineRE.FindStringSubmatch(line); m != nil {
			key := strings.Trim(m[1], `"'`)
			if sec != "" {
				key = sec + "." + key
			}
			if _, ok := idx[key]; !ok {
				idx[key] = n
			}
		}
		for _, d := range []string{`"""`, `'''`} {
			if strings.Count(line, d)%2 == 1 {
				inMulti = d
				break
			}
		}
	}
	return idx
}

// cfgOneLine escapes the control and other non-printing characters of s
// (the TOML decoder's messages quote source text, newlines included), so
// that each error stays on one line.
func cfgOneLine(s string) string {
	if !strings.ContainsFunc(s, func(r rune) bool { return !unicode.IsPrint(r) && r != ' ' }) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if unicode.IsPrint(r) || r == ' ' {
			b.WriteRune(r)
		} else {
			b.WriteString(strings.Trim(strconv.QuoteRune(r), "'"))
		}
	}
	return b.String()
}
