package interop

// The FreeRADIUS driver: FreeRADIUS 3.2.1 (Debian bookworm's freeradius),
// the RADIUS server of the xauth = "radius" tests, run in a lab namespace
// from a private configuration directory, and radclient
// (freeradius-utils) to probe it.
//
// Facts (FreeRADIUS 3.2.1, measured on this host):
//   - The packaged /etc/freeradius/3.0 is not usable as it is: its eap
//     module wants the snakeoil certificate and key (and its certs/ has no
//     server.pem until a bootstrap script has run), its security section
//     switches to user freerad (which then cannot read a root-owned private
//     copy), and reject_delay = 1 delays every Access-Reject by a second.
//     So the harness writes a minimal radiusd.conf from scratch: pap,
//     mschap, eap (md5 and mschapv2; EAP-TLS only when the test asks for
//     it with FreeRADIUSConfig.EAPTLS and gives it certificates), files,
//     detail, always; one virtual server; clients inline. Started as root,
//     it binds its sockets and then runs as user freerad (security.user,
//     as packaged), so the private directory (0700, files 0600) is
//     chowned to freerad: it writes the detail files there.
//   - `freeradius -f -d DIR -l stdout -xx` runs it in the foreground with
//     debug output (every request with its attributes, passwords
//     included) on stdout; "Ready to process requests" follows the
//     "Listening on ..." lines. It starts in about 0.1 s.
//   - With require_message_authenticator = yes an Access-Request without a
//     valid Message-Authenticator is dropped ("Packet does not contain
//     required Message-Authenticator attribute"): an Access-Accept proves
//     the client signed its request.
//   - With security.status_server = yes a Status-Server on the auth port
//     is answered with Access-Accept (radclient ... status).
//   - The detail module writes one record per Accounting-Request: a
//     timestamp line, then one tab-indented "Attr = value" line per
//     attribute, then an empty line. Strings are double-quoted, octets
//     (Class) are printed as 0x<hex>, enumerations by name (Start, Stop).
//     The harness writes it to radacct/<client address>/detail (no date
//     in the name: a test running over midnight keeps one file).

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Paths of FreeRADIUS and radclient (install.sh installs them).
var (
	FreeRADIUSBin = "/usr/sbin/freeradius"
	RadclientBin  = "/usr/bin/radclient"
)

// RadiusClient is a NAS allowed to ask the server (clients.conf).
type RadiusClient struct {
	Name   string // short name (letters, digits, '-')
	Addr   string // its source address, or a prefix
	Secret string
}

// RadiusUser is a user of the files module (mods-config/files/authorize).
type RadiusUser struct {
	Name     string
	Password string   // Cleartext-Password
	Reply    []string // reply attributes, e.g. `Framed-IP-Address = 10.9.0.77`, `Class = "group-a"`
}

// FreeRADIUSConfig is one FreeRADIUS server.
type FreeRADIUSConfig struct {
	Addr     string // listen address inside the namespace
	AuthPort int    // default 1812; accounting listens on AuthPort+1
	Clients  []RadiusClient
	Users    []RadiusUser
	// NoMessageAuthenticator: do not require Message-Authenticator in
	// Access-Requests (by default every client must send one).
	NoMessageAuthenticator bool
	// EAPTLS, when set, adds EAP-TLS to the eap module and makes it the
	// default EAP type (md5 and mschapv2 stay: a client may NAK).
	EAPTLS *RadiusEAPTLS
}

// RadiusEAPTLS is the eap module's tls-common: FreeRADIUS's certificate
// and key (PEM) and the CA that client certificates must chain to. The
// harness copies them into raddb/certs (FreeRADIUS runs as freerad).
type RadiusEAPTLS struct {
	Cert, Key, CA string
	// FragmentSize is the eap-tls fragment_size (0: 1024, FreeRADIUS's
	// default): TLS records are cut into EAP-TLS fragments of this size.
	FragmentSize int
}

// FreeRADIUS is a running FreeRADIUS.
type FreeRADIUS struct {
	NS       string
	Dir      string // private directory: raddb/, radacct/, log/, run/
	Raddb    string
	AcctDir  string // radacct: <client address>/detail
	LogPath  string // its stdout (debug output)
	Proc     *Proc
	cfg      FreeRADIUSConfig
	probeSec string // the secret of the harness's own client entry (cfg.Addr)
}

// requireFreeRADIUS fails the test when FreeRADIUS or radclient is missing.
func requireFreeRADIUS(t testing.TB) {
	t.Helper()
	for _, p := range []string{FreeRADIUSBin, RadclientBin} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("IKEGATE_INTEROP=1 but %s is missing: %v (run interop/install.sh)", p, err)
		}
	}
}

// AuthAddr is "addr:port" of the authentication service.
func (r *FreeRADIUS) AuthAddr() string { return fmt.Sprintf("%s:%d", r.cfg.Addr, r.cfg.AuthPort) }

// AcctAddr is "addr:port" of the accounting service.
func (r *FreeRADIUS) AcctAddr() string { return fmt.Sprintf("%s:%d", r.cfg.Addr, r.cfg.AuthPort+1) }

// freeradiusConf is radiusd.conf: %[1]s the private directory, %[2]s the
// listen address, %[3]d the auth port, %[4]d the accounting port, %[5]s
// the client sections, %[6]s the default EAP type, %[7]s more EAP method
// sections (eapTLSConf).
const freeradiusConf = `# written by ikegate interop harness: a minimal FreeRADIUS 3.2 server
prefix = /usr
exec_prefix = /usr
sysconfdir = /etc
localstatedir = /var
sbindir = /usr/sbin
logdir = %[1]s/log
raddbdir = %[1]s/raddb
radacctdir = %[1]s/radacct
name = freeradius
confdir = ${raddbdir}
modconfdir = ${confdir}/mods-config
certdir = ${confdir}/certs
cadir = ${confdir}/certs
run_dir = %[1]s/run
db_dir = %[1]s
libdir = /usr/lib/freeradius
pidfile = ${run_dir}/${name}.pid
max_request_time = 30
cleanup_delay = 5
max_requests = 16384
hostname_lookups = no

log {
	destination = files
	colourise = no
	file = ${logdir}/radius.log
	stripped_names = no
	auth = yes
	auth_badpass = no
	auth_goodpass = no
}

security {
	user = freerad
	group = freerad
	allow_core_dumps = no
	max_attributes = 200
	reject_delay = 0
	status_server = yes
}

proxy_requests = no

%[5]s
thread pool {
	start_servers = 2
	max_servers = 4
	min_spare_servers = 1
	max_spare_servers = 2
	max_requests_per_server = 0
	auto_limit_acct = no
}

modules {
	pap {
	}
	mschap {
	}
	eap {
		default_eap_type = %[6]s
		timer_expire = 60
		ignore_unknown_eap_types = no
		max_sessions = ${max_requests}
		md5 {
		}
		mschapv2 {
		}
%[7]s	}
	files {
		moddir = ${modconfdir}/${.:instance}
		filename = ${moddir}/authorize
	}
	detail {
		filename = ${radacctdir}/%%{%%{Packet-Src-IP-Address}:-%%{Packet-Src-IPv6-Address}}/detail
		escape_filenames = no
		permissions = 0600
		header = "%%t"
	}
	always ok {
		rcode = ok
	}
}

server default {
	listen {
		type = auth
		ipaddr = %[2]s
		port = %[3]d
	}
	listen {
		type = acct
		ipaddr = %[2]s
		port = %[4]d
	}
	authorize {
		eap {
			ok = return
		}
		files
		mschap
		pap
	}
	authenticate {
		Auth-Type PAP {
			pap
		}
		Auth-Type MS-CHAP {
			mschap
		}
		eap
	}
	preacct {
	}
	accounting {
		detail
		ok
	}
	post-auth {
		Post-Auth-Type REJECT {
			ok
		}
	}
}
`

// eapTLSConf is the eap module's EAP-TLS (%[1]d: fragment_size), with the
// files RadiusEAPTLS names copied to ${certdir}. TLS 1.2 only: TLS 1.3
// EAP-TLS (RFC 9190) is experimental in FreeRADIUS 3.2 and strongSwan
// 5.9's eap-tls speaks 1.2 by default. No session cache: each connect is
// a full handshake.
const eapTLSConf = `		tls-config tls-common {
			private_key_file = ${certdir}/server.key
			certificate_file = ${certdir}/server.pem
			ca_file = ${certdir}/ca.pem
			fragment_size = %[1]d
			include_length = yes
			cipher_list = "DEFAULT"
			tls_min_version = "1.2"
			tls_max_version = "1.2"
			ecdh_curve = "prime256v1"
			cache {
				enable = no
			}
			verify {
			}
			ocsp {
				enable = no
			}
		}
		tls {
			tls = tls-common
		}
`

// StartFreeRADIUS writes a private configuration and runs
// `freeradius -f -d RADDB -l stdout -xx` in namespace ns; it returns once
// the server answers a Status-Server (radclient, from the namespace itself
// through a client entry of its own).
func (l *Lab) StartFreeRADIUS(t testing.TB, ns string, cfg FreeRADIUSConfig) *FreeRADIUS {
	t.Helper()
	requireFreeRADIUS(t)
	if cfg.AuthPort == 0 {
		cfg.AuthPort = 1812
	}
	dir := shortTempDir(t, "frad-")
	r := &FreeRADIUS{NS: ns, Dir: dir, cfg: cfg,
		Raddb:   filepath.Join(dir, "raddb"),
		AcctDir: filepath.Join(dir, "radacct"),
		LogPath: filepath.Join(dir, "freeradius.log"),
	}
	for _, d := range []string{"raddb/mods-config/files", "radacct", "log", "run"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	// The harness's own client: radclient in the namespace sends from the
	// listen address itself.
	clients := cfg.Clients
	r.probeSec = "harness-" + randomHex(t, 12)
	self := true
	for _, c := range clients {
		if c.Addr == cfg.Addr {
			r.probeSec, self = c.Secret, false
		}
	}
	if self {
		clients = append(clients, RadiusClient{Name: "harness", Addr: cfg.Addr, Secret: r.probeSec})
	}
	var cs strings.Builder
	for _, c := range clients {
		fmt.Fprintf(&cs, "client %s {\n\tipaddr = %s\n\tsecret = %s\n\trequire_message_authenticator = %s\n\tnas_type = other\n}\n",
			c.Name, c.Addr, radiusQuote(c.Secret), yesNo(!cfg.NoMessageAuthenticator))
	}
	eapDefault, eapMore := "mschapv2", ""
	if x := cfg.EAPTLS; x != nil {
		certs := filepath.Join(r.Raddb, "certs")
		if err := os.MkdirAll(certs, 0o700); err != nil {
			t.Fatal(err)
		}
		for src, dst := range map[string]string{x.Cert: "server.pem", x.Key: "server.key", x.CA: "ca.pem"} {
			if err := copyFile(src, filepath.Join(certs, dst)); err != nil {
				t.Fatal(err)
			}
		}
		frag := x.FragmentSize
		if frag == 0 {
			frag = 1024
		}
		eapDefault, eapMore = "tls", fmt.Sprintf(eapTLSConf, frag)
	}
	conf := fmt.Sprintf(freeradiusConf, dir, cfg.Addr, cfg.AuthPort, cfg.AuthPort+1, cs.String(), eapDefault, eapMore)
	writeFile(t, filepath.Join(r.Raddb, "radiusd.conf"), conf, 0o600)
	var users strings.Builder
	for _, u := range cfg.Users {
		fmt.Fprintf(&users, "%s\tCleartext-Password := %s\n", u.Name, radiusQuote(u.Password))
		for i, a := range u.Reply {
			sep := ","
			if i == len(u.Reply)-1 {
				sep = ""
			}
			fmt.Fprintf(&users, "\t%s%s\n", a, sep)
		}
		users.WriteString("\n")
	}
	writeFile(t, filepath.Join(r.Raddb, "mods-config/files/authorize"), users.String(), 0o600)
	var elided []string
	for _, c := range clients {
		elided = append(elided, c.Secret)
	}
	for _, u := range cfg.Users {
		elided = append(elided, u.Password)
	}
	t.Logf("FreeRADIUS %s on %s (auth) and %s (accounting); clients %v; users file (secrets elided):\n%s",
		ns, r.AuthAddr(), r.AcctAddr(), clientNames(clients), elide(users.String(), elided...))

	chownTree(t, dir, "freerad")
	r.Proc = startProc(t, "freeradius@"+ns, r.LogPath, nil,
		[]string{IPCmd, "netns", "exec", ns, FreeRADIUSBin, "-f", "-d", r.Raddb, "-l", "stdout", "-xx"})
	t0 := time.Now()
	if !WaitFor(t, 10*time.Second, func() bool {
		return r.Proc.Exited() || strings.Contains(r.Log(), "Ready to process requests")
	}) || r.Proc.Exited() {
		t.Fatalf("FreeRADIUS in %s did not start (exited: %v):\n%s", ns, r.Proc.Exited(), tail(r.Log(), 40))
	}
	var lastErr error
	if !WaitFor(t, 5*time.Second, func() bool {
		_, lastErr = r.Status()
		return lastErr == nil
	}) {
		t.Fatalf("FreeRADIUS in %s does not answer Status-Server: %v\n%s", ns, lastErr, tail(r.Log(), 40))
	}
	t.Logf("FreeRADIUS %s ready in %v", ns, time.Since(t0).Round(time.Millisecond))
	return r
}

// chownTree gives dir and everything in it to the user name (and its
// primary group).
func chownTree(t testing.TB, dir, name string) {
	t.Helper()
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatalf("user %s: %v (is FreeRADIUS installed? run interop/install.sh)", name, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	}); err != nil {
		t.Fatalf("chown -R %s %s: %v", name, dir, err)
	}
}

func clientNames(cs []RadiusClient) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Name+"="+c.Addr)
	}
	return out
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// radiusQuote quotes s as a FreeRADIUS double-quoted string.
func radiusQuote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

func randomHex(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// Log returns FreeRADIUS's output so far.
func (r *FreeRADIUS) Log() string {
	b, _ := os.ReadFile(r.LogPath)
	return string(b)
}

// Stop ends FreeRADIUS (SIGTERM).
func (r *FreeRADIUS) Stop() { r.Proc.Stop() }

// RadclientReply is what radclient received.
type RadclientReply struct {
	Code  string              // "Access-Accept", "Access-Reject", "Accounting-Response"
	Attrs map[string][]string // reply attributes as radclient prints them (raw values)
	Out   string              // radclient's output
}

// radclient sends one request (attribute lines attrs) of kind ("auth",
// "acct", "status") to addr from inside the server's namespace.
func (r *FreeRADIUS) radclient(kind, addr string, attrs []string) (*RadclientReply, error) {
	secret := filepath.Join(r.Dir, "radclient.secret")
	if err := os.WriteFile(secret, []byte(r.probeSec+"\n"), 0o600); err != nil {
		return nil, err
	}
	in := filepath.Join(r.Dir, "radclient.in")
	if err := os.WriteFile(in, []byte(strings.Join(attrs, "\n")+"\n"), 0o600); err != nil {
		return nil, err
	}
	out, err := runOut(IPCmd, "netns", "exec", r.NS, RadclientBin, "-x", "-r", "1", "-t", "1",
		"-f", in, "-S", secret, addr, kind)
	rep := ParseRadclient(out)
	if err != nil && rep.Code == "" {
		return rep, fmt.Errorf("radclient %s %s: %v: %s", kind, addr, err, strings.TrimSpace(out))
	}
	return rep, nil
}

// Status sends a Status-Server to the auth port.
func (r *FreeRADIUS) Status() (*RadclientReply, error) {
	rep, err := r.radclient("status", r.AuthAddr(), []string{"Message-Authenticator = 0x00"})
	if err == nil && rep.Code != "Access-Accept" {
		err = fmt.Errorf("Status-Server answered %q: %s", rep.Code, rep.Out)
	}
	return rep, err
}

// Authenticate sends a PAP Access-Request for user (with a
// Message-Authenticator) from the harness's own client entry.
func (r *FreeRADIUS) Authenticate(user, password string) (*RadclientReply, error) {
	return r.radclient("auth", r.AuthAddr(), []string{
		"User-Name = " + radiusQuote(user),
		"User-Password = " + radiusQuote(password),
		"Message-Authenticator = 0x00",
	})
}

// ParseRadclient reads `radclient -x` output: the code of the last
// "Received ..." line and the attribute lines after it.
func ParseRadclient(out string) *RadclientReply {
	rep := &RadclientReply{Attrs: map[string][]string{}, Out: out}
	in := false
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "Received ") {
			f := strings.Fields(l)
			if len(f) > 1 {
				rep.Code = f[1]
			}
			rep.Attrs, in = map[string][]string{}, true
			continue
		}
		if !strings.HasPrefix(l, "\t") && !strings.HasPrefix(l, " ") {
			in = false
			continue
		}
		if in {
			if k, v, ok := strings.Cut(strings.TrimSpace(l), " = "); ok {
				rep.Attrs[k] = append(rep.Attrs[k], v)
			}
		}
	}
	return rep
}

// RadiusRecord is one record of a detail file: an Accounting-Request as
// the server received it.
type RadiusRecord struct {
	Client string // the directory: the NAS's address
	Time   string // the header line
	Attrs  map[string][]string
	Order  []string // attribute names in file order
}

// Get returns the first value of attribute name: unquoted for strings,
// as written otherwise ("Start", "10.9.0.77", "0x67726f75702d61").
func (r RadiusRecord) Get(name string) string {
	v := r.Attrs[name]
	if len(v) == 0 {
		return ""
	}
	return radiusUnquote(v[0])
}

// Has reports whether attribute name is present.
func (r RadiusRecord) Has(name string) bool { return len(r.Attrs[name]) > 0 }

// Octets returns attribute name as text: a 0x<hex> value decoded, a
// quoted string unquoted.
func (r RadiusRecord) Octets(name string) string { return radiusOctets(r.Get(name)) }

// Uint returns attribute name as a number (-1 when absent or not one).
func (r RadiusRecord) Uint(name string) int64 {
	n, err := strconv.ParseInt(r.Get(name), 10, 64)
	if err != nil {
		return -1
	}
	return n
}

func (r RadiusRecord) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "[%s] %s:", r.Client, r.Time)
	seen := map[string]bool{}
	for _, k := range r.Order {
		if seen[k] {
			continue
		}
		seen[k] = true
		for _, v := range r.Attrs[k] {
			fmt.Fprintf(&b, " %s=%s", k, v)
		}
	}
	return b.String()
}

func radiusUnquote(v string) string {
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		if s, err := strconv.Unquote(v); err == nil {
			return s
		}
		return v[1 : len(v)-1]
	}
	return v
}

func radiusOctets(v string) string {
	if strings.HasPrefix(v, "0x") {
		if b, err := hex.DecodeString(v[2:]); err == nil {
			return string(b)
		}
	}
	return v
}

// ParseRadiusDetail parses the text of a detail file.
func ParseRadiusDetail(client, text string) []RadiusRecord {
	var out []RadiusRecord
	var cur *RadiusRecord
	flush := func() {
		if cur != nil {
			out = append(out, *cur)
			cur = nil
		}
	}
	for _, l := range strings.Split(text, "\n") {
		switch {
		case strings.TrimSpace(l) == "":
			flush()
		case l[0] != '\t' && l[0] != ' ':
			flush()
			cur = &RadiusRecord{Client: client, Time: strings.TrimSpace(l), Attrs: map[string][]string{}}
		case cur != nil:
			if k, v, ok := strings.Cut(strings.TrimSpace(l), " = "); ok {
				cur.Attrs[k] = append(cur.Attrs[k], v)
				cur.Order = append(cur.Order, k)
			}
		}
	}
	flush()
	return out
}

// Accounting returns every record of every detail file, by client
// directory (sorted) and in file order.
func (r *FreeRADIUS) Accounting() ([]RadiusRecord, error) {
	files, err := filepath.Glob(filepath.Join(r.AcctDir, "*", "detail*"))
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	var out []RadiusRecord
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		out = append(out, ParseRadiusDetail(filepath.Base(filepath.Dir(f)), string(b))...)
	}
	return out, nil
}

// AccountingOf returns the records of user whose Acct-Status-Type is
// status ("Start", "Stop", "Interim-Update"; "" for any).
func (r *FreeRADIUS) AccountingOf(user, status string) []RadiusRecord {
	recs, _ := r.Accounting()
	var out []RadiusRecord
	for _, rec := range recs {
		if rec.Get("User-Name") == user && (status == "" || rec.Get("Acct-Status-Type") == status) {
			out = append(out, rec)
		}
	}
	return out
}
