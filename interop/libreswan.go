package interop

import (
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// LibreswanConfig is one Libreswan (pluto) instance.
type LibreswanConfig struct {
	Conns []Conn
	// Setup is raw text added to `config setup` (after ikev1-policy=accept).
	Setup string
	// ConnExtra is raw text added to every conn section, e.g. "rekey=no".
	ConnExtra string
	// PerConn is raw text added to the conn section of that name, after
	// ConnExtra, e.g. "pfs=no" (IKEv1: Libreswan's Quick Mode PFS is on by
	// default and cannot be chosen in esp=).
	PerConn map[string]string
	// IKE / ESP override the proposals derived from each Conn's strongSwan
	// syntax (LibreswanProposal) with Libreswan syntax, by conn name.
	IKE, ESP map[string]string
	// Debug turns on plutodebug=all.
	Debug bool
	// PKI, when set, is imported into the NSS database (the CA as trusted,
	// every leaf with its key) so pubkey conns can name their CertNick.
	PKI *TestPKI
	// Leaves are further certificates imported with their keys (e.g. from
	// a second TestPKI) whose CA is NOT marked trusted: an end can present
	// a certificate its peer cannot verify. Conns name them by CertNick.
	Leaves []*Leaf
	// Secrets is raw text appended to ipsec.secrets, e.g. an XAUTH
	// password: `@alice : XAUTH "password"` (the index is the XAUTH user
	// name, leftusername=, as @FQDN).
	Secrets string
}

// Libreswan is a running pluto.
type Libreswan struct {
	NS      string
	Dir     string
	NSSDir  string
	Ctl     string // pluto.ctl socket
	Config  string
	LogPath string
	Proc    *Proc
	lab     *Lab
}

// StartLibreswan runs Libreswan's pluto in the foreground in namespace ns,
// unpacked in LibreswanPrefix (install.sh), with its own NSS database, rundir
// and secrets; then loads the conns with addconn --autoall.
//
// pluto insists on /usr/libexec/ipsec/addconn (and friends) existing, so it
// runs under `ip netns exec NS unshare -m sh -c 'mount --bind
// PREFIX/usr/libexec/ipsec /usr/libexec/ipsec && exec pluto ...'`: the bind
// mount lives only in that private mount namespace (install.sh creates the
// empty mount point /usr/libexec/ipsec on the host).
func (l *Lab) StartLibreswan(t testing.TB, ns string, cfg LibreswanConfig) *Libreswan {
	t.Helper()
	for _, c := range cfg.Conns {
		if err := c.validate(); err != nil {
			t.Fatalf("LibreswanConfig: %v", err)
		}
	}
	dir := shortTempDir(t, "lsw-")
	ls := &Libreswan{
		NS:      ns,
		Dir:     dir,
		NSSDir:  filepath.Join(dir, "nss"),
		Ctl:     filepath.Join(dir, "pluto.ctl"),
		Config:  filepath.Join(dir, "ipsec.conf"),
		LogPath: filepath.Join(dir, "pluto.log"),
		lab:     l,
	}
	if err := os.MkdirAll(ls.NSSDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "ipsec.d"), 0o700); err != nil {
		t.Fatal(err)
	}
	// Even PSK-only pluto needs an NSS database.
	MustRun(t, Certutil, "-N", "-d", "sql:"+ls.NSSDir, "--empty-password")
	if cfg.PKI != nil {
		cfg.PKI.ImportNSS(t, ls.NSSDir)
	}
	for _, l := range cfg.Leaves {
		// The PKCS#12 holds the leaf's CA too; pk12util imports it without
		// trust flags, so NSS does not trust it.
		MustRun(t, Pk12util, "-i", l.P12, "-d", "sql:"+ls.NSSDir, "-W", "")
	}
	conf, secrets, err := libreswanConf(cfg, dir)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, ls.Config, conf, 0o644)
	secretsPath := filepath.Join(dir, "ipsec.secrets")
	writeFile(t, secretsPath, secrets, 0o600)
	t.Logf("Libreswan %s ipsec.conf:\n%s", ns, conf)

	if err := os.MkdirAll("/usr/libexec/ipsec", 0o755); err != nil {
		t.Fatalf("mount point /usr/libexec/ipsec: %v", err)
	}
	pluto := fmt.Sprintf("mount --bind %s /usr/libexec/ipsec && exec /usr/libexec/ipsec/pluto"+
		" --nofork --config %s --rundir %s --dumpdir %s --nssdir %s --ipsecdir %s"+
		" --secretsfile %s --logfile %s --no-dnssec --nhelpers 1",
		libreswanBin(""), ls.Config, dir, dir, ls.NSSDir, filepath.Join(dir, "ipsec.d"),
		secretsPath, ls.LogPath)
	ls.Proc = startProc(t, "pluto@"+ns, filepath.Join(dir, "pluto.stdout"), nil,
		[]string{IPCmd, "netns", "exec", ns, Unshare, "-m", "sh", "-c", pluto}, ls.LogPath)

	var lastErr string
	t0 := time.Now()
	if !WaitFor(t, 15*time.Second, func() bool {
		if ls.Proc.Exited() {
			return true
		}
		out, err := ls.whack("--status")
		lastErr = out
		return err == nil
	}) || ls.Proc.Exited() {
		t.Fatalf("pluto in %s did not answer on %s (exited: %v): %s", ns, ls.Ctl, ls.Proc.Exited(), lastErr)
	}
	t.Logf("pluto in %s answered after %v", ns, time.Since(t0).Round(time.Millisecond))
	out, err := l.Exec(ns, libreswanBin("addconn"), "--config", ls.Config, "--ctlsocket", ls.Ctl, "--autoall")
	t.Logf("addconn --autoall (%s): %v\n%s", ns, err, strings.TrimSpace(out))
	if err != nil {
		t.Fatalf("addconn --autoall in %s: %v\n%s", ns, err, out)
	}
	for _, c := range cfg.Conns {
		if !strings.Contains(ls.Status(), `"`+c.Name+`"`) {
			t.Fatalf("Libreswan in %s: conn %q not loaded; addconn said:\n%s", ns, c.Name, out)
		}
	}
	return ls
}

func (ls *Libreswan) whack(args ...string) (string, error) {
	return ls.lab.Exec(ls.NS, libreswanBin("whack"), append([]string{"--ctlsocket", ls.Ctl}, args...)...)
}

// Whack runs any whack command against this pluto.
func (ls *Libreswan) Whack(args ...string) (string, error) { return ls.whack(args...) }

// Status returns `whack --status`.
func (ls *Libreswan) Status() string {
	out, _ := ls.whack("--status")
	return out
}

// Initiate brings conn name up with `whack --initiate` (which waits for the
// outcome) and returns its output and whether it reported an established
// IKE SA. whack exits 0 even on failure: success is read from its output,
// "established IKE SA" (IKEv2) or "IKE SA established" (IKEv1; Libreswan
// 4.10 prints "ISAKMP SA established" in some states, matched too).
func (ls *Libreswan) Initiate(name string) (string, bool) {
	out, _ := ls.whack("--initiate", "--name", name)
	ok := strings.Contains(out, "established IKE SA") || strings.Contains(out, "IKE SA established") ||
		strings.Contains(out, "ISAKMP SA established")
	return out, ok
}

// Terminate brings conn name down.
func (ls *Libreswan) Terminate(name string) (string, error) {
	return ls.whack("--terminate", "--name", name)
}

// LibreswanState is one line of `whack --showstates`:
//
//	#1: "smoke":500 STATE_V2_ESTABLISHED_IKE_SA (established IKE SA); REKEY in 28510s; ...
type LibreswanState struct {
	Serial  int    // #N
	Conn    string // connection name (without instance suffix)
	Port    int
	State   string // STATE_V2_ESTABLISHED_IKE_SA, STATE_MAIN_R3, ...
	Desc    string // text in parentheses: "established IKE SA", "Child SA established", ...
	Line    string
	IsIKE   bool // an IKE (ISAKMP) SA rather than a Child (IPsec) SA
	Settled bool // established
}

var stateRe = regexp.MustCompile(`^#(\d+): "([^"]+)"(?:\[[^\]]*\])?[^:]*:(\d+) (STATE_[A-Z0-9_]+) \(([^)]*)\)`)

// ShowStates parses `whack --showstates`.
func (ls *Libreswan) ShowStates() ([]LibreswanState, error) {
	out, err := ls.whack("--showstates")
	if err != nil {
		return nil, fmt.Errorf("whack --showstates: %v: %s", err, out)
	}
	return ParseShowStates(out), nil
}

// ParseShowStates parses whack --showstates output; lines that are not state
// lines (e.g. per-state traffic details) are ignored.
func ParseShowStates(out string) []LibreswanState {
	var states []LibreswanState
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		// whack may prefix lines with a 3-digit RC code ("000 #1: ...").
		if len(line) > 4 && line[3] == ' ' && strings.Trim(line[:3], "0123456789") == "" {
			line = line[4:]
		}
		m := stateRe.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		s := LibreswanState{Conn: m[2], State: m[4], Desc: m[5], Line: line}
		fmt.Sscan(m[1], &s.Serial)
		fmt.Sscan(m[3], &s.Port)
		switch {
		case strings.Contains(s.State, "_IKE_SA") || strings.Contains(s.State, "IKE_SA_INIT") ||
			strings.Contains(s.State, "IKE_AUTH") && !strings.Contains(s.State, "CHILD") ||
			strings.HasPrefix(s.State, "STATE_MAIN_") || strings.HasPrefix(s.State, "STATE_AGGR_"):
			s.IsIKE = true
		}
		d := strings.ToLower(s.Desc)
		s.Settled = strings.Contains(d, "established")
		states = append(states, s)
	}
	return states
}

// IKEEstablished reports whether conn name has an established IKE SA.
func (ls *Libreswan) IKEEstablished(name string) bool {
	st, err := ls.ShowStates()
	if err != nil {
		return false
	}
	for _, s := range st {
		if s.Conn == name && s.IsIKE && s.Settled {
			return true
		}
	}
	return false
}

// Log returns pluto's log so far.
func (ls *Libreswan) Log() string {
	b, _ := os.ReadFile(ls.LogPath)
	return string(b)
}

// libreswanConf renders ipsec.conf and ipsec.secrets.
func libreswanConf(cfg LibreswanConfig, dir string) (conf, secrets string, err error) {
	var b, sec strings.Builder
	b.WriteString("# written by ikegate interop harness\nconfig setup\n")
	b.WriteString("\tikev1-policy=accept\n")
	b.WriteString("\tlogtime=yes\n\tlogappend=no\n")
	if cfg.Debug {
		b.WriteString("\tplutodebug=all\n")
	}
	if cfg.Setup != "" {
		b.WriteString(indent(cfg.Setup, "\t") + "\n")
	}
	for _, c := range cfg.Conns {
		fmt.Fprintf(&b, "\nconn %s\n", c.Name)
		fmt.Fprintf(&b, "\tleft=%s\n", c.LocalAddr)
		right := c.RemoteAddr
		if right == "" {
			right = "%any"
		}
		fmt.Fprintf(&b, "\tright=%s\n", right)
		if c.LocalID != "" {
			fmt.Fprintf(&b, "\tleftid=%s\n", lswQuote(c.LocalID))
		}
		if c.RemoteID != "" {
			fmt.Fprintf(&b, "\trightid=%s\n", lswQuote(c.RemoteID))
		}
		switch c.Version {
		case 1:
			b.WriteString("\tikev2=no\n")
		case 2:
			b.WriteString("\tikev2=yes\n")
		default:
			return "", "", fmt.Errorf("%s: Libreswan conn needs version 1 or 2", c.Name)
		}
		switch c.Auth {
		case "psk":
			b.WriteString("\tauthby=secret\n")
			l, r := c.LocalID, c.RemoteID
			if l == "" {
				l = c.LocalAddr
			}
			if r == "" {
				r = right
			}
			fmt.Fprintf(&sec, "%s %s : PSK \"%s\"\n", l, r, strings.ReplaceAll(c.PSK, `"`, `\"`))
		case "pubkey":
			if c.CertNick == "" {
				return "", "", fmt.Errorf("%s: Libreswan pubkey needs CertNick (NSS nickname; use TestPKI.Leaf and LibreswanConfig.PKI)", c.Name)
			}
			kind, err := certKeyKind(c.Cert)
			if err != nil {
				return "", "", err
			}
			// Fact: Libreswan's authby= applies to BOTH ends: with
			// authby=ecdsa and an RSA peer it fails IKE_AUTH with
			// "authentication failed: peer authentication requires policy
			// RSASIG_v1_5" (strongSwan signs RSA_EMSA_PKCS1_SHA2_256). The
			// With authby=rsasig,ecdsa (and a bare-name leftid, since fixed
			// in lswQuote) strongSwan rejected pluto's AUTH with "no trusted
			// RSA public key found for '10.200.0.2'"; which of the two caused
			// it was not isolated. What works: the kind of each end's cert.
			// leftauth=/rightauth= must be set together ("failed to add
			// connection: leftauth= and rightauth= must both be set or both
			// be unset" -- in pluto's log only: addconn prints nothing and
			// exits 0, so StartLibreswan checks whack --status).
			auth := map[string]string{"rsa": "rsasig", "ecdsa": "ecdsa"}
			peer := kind
			switch c.RemoteKeyType {
			case RSA2048:
				peer = "rsa"
			case ECDSAP256:
				peer = "ecdsa"
			}
			if peer == kind {
				fmt.Fprintf(&b, "\tauthby=%s\n", auth[kind])
			} else {
				fmt.Fprintf(&b, "\tleftauth=%s\n\trightauth=%s\n", auth[kind], auth[peer])
			}
			fmt.Fprintf(&b, "\tleftcert=%s\n", c.CertNick)
			b.WriteString("\tleftsendcert=always\n")
			if c.RemoteID == "" {
				b.WriteString("\trightid=%fromcert\n")
			}
			b.WriteString("\trightca=%any\n")
		}
		ike := strings.Join(LibreswanProposals(c.IKE, false), ",")
		if v, ok := cfg.IKE[c.Name]; ok {
			ike = v
		}
		if ike != "" {
			fmt.Fprintf(&b, "\tike=%s\n", ike)
		}
		esp := LibreswanProposals(c.ESP, c.Version == 1)
		if c.Version == 1 && len(c.ESP) > 0 && espHasDH(c.ESP) {
			// Libreswan's IKEv1 refuses a DH group in esp=: Quick Mode PFS
			// uses the IKE group (pfs=yes is its default anyway).
			b.WriteString("\tpfs=yes\n")
		}
		espS := strings.Join(esp, ",")
		if v, ok := cfg.ESP[c.Name]; ok {
			espS = v
		}
		if espS != "" {
			fmt.Fprintf(&b, "\tesp=%s\n", espS)
		}
		if len(c.LocalTS) > 0 {
			fmt.Fprintf(&b, "\tleftsubnet=%s\n", c.LocalTS[0])
		}
		if len(c.RemoteTS) > 0 {
			fmt.Fprintf(&b, "\trightsubnet=%s\n", c.RemoteTS[0])
		}
		if c.Aggressive {
			b.WriteString("\taggressive=yes\n")
		}
		if c.Mode != "" {
			fmt.Fprintf(&b, "\ttype=%s\n", c.Mode)
		}
		switch c.Start {
		case "", "none":
			b.WriteString("\tauto=add\n")
		case "start":
			b.WriteString("\tauto=start\n")
		case "trap":
			b.WriteString("\tauto=ondemand\n")
		}
		// The default updown runs `ipsec _updown`, and `ipsec` on PATH is
		// strongSwan's: no updown at all.
		b.WriteString("\tleftupdown=%disabled\n")
		if cfg.ConnExtra != "" {
			b.WriteString(indent(cfg.ConnExtra, "\t") + "\n")
		}
		if x := cfg.PerConn[c.Name]; x != "" {
			b.WriteString(indent(x, "\t") + "\n")
		}
	}
	if cfg.Secrets != "" {
		sec.WriteString(strings.TrimRight(cfg.Secrets, "\n") + "\n")
	}
	return b.String(), sec.String(), nil
}

// lswQuote renders an ID for ipsec.conf. Fact: Libreswan resolves a bare
// name ("right.lab") in DNS and sends an IP address ID; strongSwan takes it
// as an FQDN ID. "@" makes Libreswan send it as ID_FQDN, as strongSwan does.
func lswQuote(v string) string {
	if !strings.HasPrefix(v, "@") && !strings.Contains(v, "=") && !strings.Contains(v, "@") &&
		net.ParseIP(v) == nil && v != "%any" && !strings.HasPrefix(v, "%") {
		v = "@" + v
	}
	if strings.ContainsAny(v, " ,=") {
		return `"` + v + `"`
	}
	return v
}

func espHasDH(props []string) bool {
	for _, p := range props {
		for _, tok := range strings.Split(p, "-") {
			if _, ok := lswDH[tok]; ok {
				return true
			}
		}
	}
	return false
}

var lswDH = map[string]string{
	"modp768": "modp768", "modp1024": "modp1024", "modp1536": "modp1536", "modp2048": "modp2048",
	"modp3072": "modp3072", "modp4096": "modp4096", "modp6144": "modp6144", "modp8192": "modp8192",
	"ecp256": "dh19", "ecp384": "dh20", "ecp521": "dh21", "x25519": "dh31", "curve25519": "dh31",
}

var lswInteg = map[string]string{
	"md5": "md5", "sha1": "sha1", "sha": "sha1", "sha256": "sha2_256", "sha384": "sha2_384",
	"sha512": "sha2_512", "aesxcbc": "aes_xcbc",
}

// LibreswanProposals translates strongSwan proposal keywords
// ("aes256-sha256-modp2048", "aes128gcm16-prfsha256-x25519") into
// Libreswan's ike=/esp= syntax ("aes256-sha2_256-modp2048",
// "aes_gcm128-sha2_256-dh31"). dropDH removes DH groups (IKEv1 esp=).
// Unknown tokens pass through unchanged.
func LibreswanProposals(props []string, dropDH bool) []string {
	var out []string
	for _, p := range props {
		var toks []string
		for _, tok := range strings.Split(p, "-") {
			switch {
			case lswDH[tok] != "":
				if !dropDH {
					toks = append(toks, lswDH[tok])
				}
			case lswInteg[tok] != "":
				toks = append(toks, lswInteg[tok])
			case strings.HasPrefix(tok, "prf") && lswInteg[strings.TrimPrefix(tok, "prf")] != "":
				toks = append(toks, lswInteg[strings.TrimPrefix(tok, "prf")])
			case regexp.MustCompile(`^aes(128|192|256)gcm(8|12|16)?$`).MatchString(tok):
				m := regexp.MustCompile(`^aes(128|192|256)gcm`).FindStringSubmatch(tok)
				toks = append(toks, "aes_gcm"+m[1])
			default:
				toks = append(toks, tok)
			}
		}
		out = append(out, strings.Join(toks, "-"))
	}
	return out
}

// certKeyKind returns "rsa" or "ecdsa" for the key in a PEM certificate.
func certKeyKind(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return "", fmt.Errorf("%s: no PEM block", path)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return "", err
	}
	if _, ok := c.PublicKey.(*ecdsa.PublicKey); ok {
		return "ecdsa", nil
	}
	return "rsa", nil
}
