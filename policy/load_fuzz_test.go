package policy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
)

// loadFuzzPath is the name FuzzLoad gives Parse: a file next to the sample
// configs, so that their relative credential paths (certs/...) resolve to
// the test-only PKI in configs/certs.
var loadFuzzPath = filepath.Join("..", "configs", "fuzz.toml")

// loadFuzzSafePaths reports whether every cert, key and ca value in the
// TOML text src (under any table) is a clean relative path that stays in
// the config's directory. Parse reads those files, and an input naming
// /dev/zero or ../../proc/... would make the fuzzer read (for ever) what it
// must not; such inputs are skipped. Text that does not decode is safe:
// Parse then stops before reading any file.
func loadFuzzSafePaths(src []byte) bool {
	var raw map[string]any
	if _, err := toml.Decode(string(src), &raw); err != nil {
		return true
	}
	safe := func(p string) bool {
		if p == "" {
			return true // not read: an error
		}
		return !filepath.IsAbs(p) && filepath.Clean(p) == p && p != ".." &&
			!strings.HasPrefix(p, "../") && !strings.ContainsAny(p, "\\\x00")
	}
	var walk func(v any) bool
	walk = func(v any) bool {
		switch v := v.(type) {
		case map[string]any:
			for k, e := range v {
				if k == "cert" || k == "key" || k == "ca" {
					var list []any
					switch e := e.(type) {
					case string:
						list = []any{e}
					case []any:
						list = e
					}
					for _, x := range list {
						if s, ok := x.(string); ok && !safe(s) {
							return false
						}
					}
				}
				if !walk(e) {
					return false
				}
			}
		case []map[string]any:
			for _, e := range v {
				if !walk(e) {
					return false
				}
			}
		case []any:
			for _, e := range v {
				if !walk(e) {
					return false
				}
			}
		}
		return true
	}
	return walk(raw)
}

// FuzzLoad feeds configuration text to Parse (what Load does after reading
// the file). It must not panic and must return either a configuration or
// an error, never both or neither. An error is the errors.Join of
// *FieldError, each one line naming the file. A configuration it accepts holds what
// the engines rely on without checking again: listen addresses, distinct
// ports, and connections with a unique valid name, proposals, a local
// identity, the credentials of their auth method, and the addresses start
// needs.
func FuzzLoad(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("..", "configs", "*.toml"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no sample configs: %v", err)
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		loadTestMinimal,
		"",
		"[gateway]\nlisten = [\"192.0.2.1\"\n",
		"[gateway]\nlisten = [\"192.0.2.1\"]\n[connection]\nname = \"c\"\n",
		"[gateway]\nlisten = \"192.0.2.1\"\nike_port = 4500\n",
		"gateway = 1\nconnection = [1]\n",
		loadTestConn("remote_addr = \"%any\"\nremote_id = \"*@lab\"\npsk = \"0x\"\nstart = \"start\"\n"),
		loadTestConn("remote_addr = \"198.51.100.1\"\npsk = 'unterminated\n"),
		loadTestConn("remote_addr = \"198.51.100.1\"\nauth = \"pubkey\"\ncert = \"certs/left.crt.pem\"\nkey = \"certs/right.key.pem\"\nca = [\"certs/ca.pem\"]\n"),
		loadTestConn("remote_addr = \"198.51.100.1\"\nversion = \"ikev1\"\nikev1_mode = \"aggressive\"\npsk = \"0sAAAA\"\nallow_aggressive_psk = true\nike = \"aes256gcm16-prfsha256-modp2048\"\n"),
		loadTestConn("remote_addr = \"%any\"\nversion = \"ikev1\"\nikev1_mode = \"aggressive\"\npsk = \"grp\"\n"),
		loadTestRA(loadTestAll, "psk = \"pw\"\nversion = \"any\"\npool = \"rw\"\nxauth = \"radius\"\nremote_auth = \"eap-mschapv2\"\nunique = \"keep\"\n"),
		loadTestRA(loadTestPool+"[[pool]]\nname = \"v6\"\naddresses = [\"2001:db8::/64\", \"10.9.0.3-10.9.0.1\"]\ndns = \"2001:db8::53\"\nnbns = \"10.2.0.54\"\nsplit_dns = \"corp.lab\"\nsplit_include = \"10.2.0.0/24\"\nbanner = \"\"\"\nhi\n\"\"\"\nsave_password = true\n",
			"psk = \"pw\"\npool = \"v6\"\n"),
		loadTestRA("[[user]]\nname = \"bob\"\nnt_hash = \"44EBBA8D5312B8D611474411F56989AE\"\n[radius]\nservers = [\"[2001:db8::2]:1812\", \"radius.lab:1645\"]\nsecret = \"s\"\naccounting = true\ntimeout = \"100ms\"\nnas_identifier = \"gw\"\n",
			"psk = \"pw\"\nversion = \"ikev1\"\nikev1_mode = \"aggressive\"\nxauth = \"local\"\n"),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if !loadFuzzSafePaths(data) {
			t.Skip("names a credential file outside the config directory")
		}
		cfg, err := Parse(loadFuzzPath, data)
		switch {
		case cfg == nil && err == nil:
			t.Fatal("Parse returned neither a config nor an error")
		case cfg != nil && err != nil:
			t.Fatalf("Parse returned both a config and an error: %v", err)
		case err != nil:
			loadFuzzCheckError(t, err)
		default:
			loadFuzzCheckConfig(t, cfg)
		}
	})
}

func loadFuzzCheckError(t *testing.T, err error) {
	t.Helper()
	if err.Error() == "" {
		t.Fatal("empty error message")
	}
	list := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		list = j.Unwrap()
	}
	if len(list) == 0 {
		t.Fatalf("error %q joins no errors", err)
	}
	for _, e := range list {
		fe, ok := e.(*FieldError)
		if !ok {
			t.Fatalf("error %q is a %T, not a *FieldError", e, e)
		}
		if fe.File != loadFuzzPath || fe.Err == nil {
			t.Fatalf("FieldError %+v: wrong file or no cause", fe)
		}
		// One line per problem, each naming the file (as TestParseErrors
		// checks for known errors): text from the config is quoted.
		if msg := fe.Error(); !strings.HasPrefix(msg, loadFuzzPath+": ") || strings.ContainsAny(msg, "\r\n") {
			t.Fatalf("FieldError %q does not start with the file name or is not one line", msg)
		}
	}
}

func loadFuzzCheckConfig(t *testing.T, cfg *Config) {
	t.Helper()
	g := cfg.Gateway
	if cfg.File != loadFuzzPath {
		t.Errorf("File = %q", cfg.File)
	}
	if len(g.Listen) == 0 {
		t.Error("no listen address")
	}
	if g.IKEPort < 1 || g.IKEPort > 65535 || g.NATTPort < 1 || g.NATTPort > 65535 || g.IKEPort == g.NATTPort {
		t.Errorf("ports %d, %d", g.IKEPort, g.NATTPort)
	}
	if g.RetransmitTries < 1 || g.RetransmitBase <= 0 || g.CookieThreshold < 0 || g.Workers < 0 {
		t.Errorf("gateway %+v", g)
	}
	db := NewDB(cfg.Connections)
	for _, c := range cfg.Connections {
		if c == nil || !cfgConnNameRE.MatchString(c.Name) || len(c.Name) > 64 {
			t.Fatalf("connection with invalid name: %v", c)
		}
		if db.Lookup(c.Name) != c {
			t.Errorf("%s: Lookup finds another connection (duplicate name?)", c.Name)
		}
		if len(c.IKE) == 0 || len(c.ESP) == 0 {
			t.Errorf("%s: no IKE or ESP proposal", c.Name)
		}
		if c.LocalID.Any || c.LocalID.Type == 0 {
			t.Errorf("%s: local identity %+v", c.Name, c.LocalID)
		}
		if !c.RemoteID.Any && c.RemoteID.Type == 0 {
			t.Errorf("%s: remote identity %+v", c.Name, c.RemoteID)
		}
		if len(c.LocalTS) == 0 {
			t.Errorf("%s: no local traffic selector", c.Name)
		}
		switch c.Auth {
		case AuthPSK:
			if len(c.PSK) == 0 {
				t.Errorf("%s: auth psk without a PSK", c.Name)
			}
		case AuthPubkey:
			clientsOther := c.RemoteAuth != RemoteAuthSame && c.RemoteAuth != RemoteAuthPubkey // EAP, PSK: ca optional
			if c.Cert == nil || c.Key == nil || (!clientsOther && (c.CAs == nil || len(c.CACerts) == 0)) {
				t.Errorf("%s: auth pubkey without certificate, key or CAs", c.Name)
			}
		default:
			t.Errorf("%s: auth %q", c.Name, c.Auth)
		}
		if c.Start != StartNone && (!c.RemoteAddr.IsValid() || !c.LocalAddr.IsValid() || c.Version == Any) {
			t.Errorf("%s: start %q without addresses or version", c.Name, c.Start)
		}
		if c.IKELifetime <= 0 || c.ChildLifetime <= 0 || c.DPDDelay <= 0 || c.DPDTimeout <= 0 {
			t.Errorf("%s: non-positive lifetime or DPD interval", c.Name)
		}
		if c.String() == "" {
			t.Errorf("%s: empty String", c.Name)
		}
		if _, err := c.MarshalJSON(); err != nil {
			t.Errorf("%s: MarshalJSON: %v", c.Name, err)
		}
		_ = db.Candidates(c.LocalAddr, c.RemoteAddr, c.Version)
	}
	if len(cfg.Connections) != len(db.Connections()) {
		t.Errorf("NewDB kept %d of %d connections", len(db.Connections()), len(cfg.Connections))
	}
}

// TestLoadFuzzSafePaths checks the filter that keeps FuzzLoad from reading
// files outside configs/.
func TestLoadFuzzSafePaths(t *testing.T) {
	for _, c := range []struct {
		src  string
		safe bool
	}{
		{`cert = "certs/left.crt.pem"`, true},
		{`[[connection]]` + "\n" + `ca = ["certs/ca.pem", "ca.pem"]`, true},
		{`x = [{ key = "k.pem" }]`, true},
		{`not toml = [`, true},
		{`cert = "/dev/zero"`, false},
		{`[[connection]]` + "\n" + `key = "../../../dev/zero"`, false},
		{`[[connection]]` + "\n" + `ca = ["certs/ca.pem", "certs/../../x"]`, false},
		{`"c\u0061" = ".."`, false},
		{`a.b.cert = "./x"`, false},
		{`x = [{ key = "" }]`, true},
		{`key = "x\u0000y"`, false},
	} {
		if got := loadFuzzSafePaths([]byte(c.src)); got != c.safe {
			t.Errorf("loadFuzzSafePaths(%q) = %v, want %v", c.src, got, c.safe)
		}
	}
}
