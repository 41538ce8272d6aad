package policy

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestLoadBounds checks every bounded key below its minimum, at both
// edges, and above its maximum: an out-of-range value is an error naming
// file, section, key and line; an edge value loads.
func TestLoadBounds(t *testing.T) {
	gw := func(kv string) string { return "[gateway]\nlisten = [\"192.0.2.1\"]\n" + kv + "\n" }
	conn := func(kv string) string {
		return loadTestConn("remote_addr = \"198.51.100.1\"\npsk = \"pw\"\n" + kv + "\n")
	}
	const gwAt = `bad.toml: gateway: key `
	const connAt = `bad.toml: connection "c" (connection[0]): key `
	g := func(f func(*Gateway) any) func(*Config) any {
		return func(c *Config) any { return f(&c.Gateway) }
	}
	c := func(f func(*Connection) any) func(*Config) any {
		return func(cfg *Config) any { return f(cfg.Connections[0]) }
	}
	workers := g(func(g *Gateway) any { return g.Workers })
	cookies := g(func(g *Gateway) any { return g.CookieThreshold })
	tries := g(func(g *Gateway) any { return g.RetransmitTries })
	rto := g(func(g *Gateway) any { return g.RetransmitBase })
	keepalive := g(func(g *Gateway) any { return g.NATKeepalive })
	ikeLife := c(func(c *Connection) any { return c.IKELifetime })
	childLife := c(func(c *Connection) any { return c.ChildLifetime })
	dpdDelay := c(func(c *Connection) any { return c.DPDDelay })
	dpdTimeout := c(func(c *Connection) any { return c.DPDTimeout })

	tests := []struct {
		name string
		toml string
		err  string // "" when the value loads
		got  func(*Config) any
		want any
	}{
		{"workers below", gw("workers = -1"), gwAt + `"workers": -1 is out of range: must be from 0 to 1024 (0 means one per CPU) (line 3)`, nil, nil},
		{"workers min", gw("workers = 0"), "", workers, 0},
		{"workers max", gw("workers = 1024"), "", workers, 1024},
		{"workers above", gw("workers = 1025"), gwAt + `"workers": 1025 is out of range: must be from 0 to 1024 (0 means one per CPU) (line 3)`, nil, nil},

		{"cookie_threshold below", gw("cookie_threshold = -1"), gwAt + `"cookie_threshold": -1 is out of range: must be from 0 to 1000000 (0 demands a cookie always) (line 3)`, nil, nil},
		{"cookie_threshold min", gw("cookie_threshold = 0"), "", cookies, 0},
		{"cookie_threshold max", gw("cookie_threshold = 1_000_000"), "", cookies, 1000000},
		{"cookie_threshold above", gw("cookie_threshold = 1_000_001"), gwAt + `"cookie_threshold": 1000001 is out of range: must be from 0 to 1000000`, nil, nil},

		{"retransmit_tries below", gw("retransmit_tries = 0"), gwAt + `"retransmit_tries": 0 is out of range: must be from 1 to 10 (line 3)`, nil, nil},
		{"retransmit_tries min", gw("retransmit_tries = 1"), "", tries, 1},
		{"retransmit_tries max", gw("retransmit_tries = 10"), "", tries, 10},
		{"retransmit_tries above", gw("retransmit_tries = 11"), gwAt + `"retransmit_tries": 11 is out of range: must be from 1 to 10 (line 3)`, nil, nil},

		{"retransmit_timeout below", gw(`retransmit_timeout = "99ms"`), gwAt + `"retransmit_timeout": "99ms" is out of range: must be from 100ms to 10s (line 3)`, nil, nil},
		{"retransmit_timeout min", gw(`retransmit_timeout = "100ms"`), "", rto, 100 * time.Millisecond},
		{"retransmit_timeout max", gw(`retransmit_timeout = "10s"`), "", rto, 10 * time.Second},
		{"retransmit_timeout above", gw(`retransmit_timeout = "10.001s"`), gwAt + `"retransmit_timeout": "10.001s" is out of range: must be from 100ms to 10s (line 3)`, nil, nil},
		{"retransmit_timeout zero", gw(`retransmit_timeout = "0s"`), gwAt + `"retransmit_timeout": "0s": must be positive (line 3)`, nil, nil},

		{"natt_keepalive below", gw(`natt_keepalive = "999ms"`), gwAt + `"natt_keepalive": "999ms" is out of range: must be from 1s to 2m (line 3)`, nil, nil},
		{"natt_keepalive min", gw(`natt_keepalive = "1s"`), "", keepalive, time.Second},
		{"natt_keepalive max", gw(`natt_keepalive = "2m"`), "", keepalive, 2 * time.Minute},
		{"natt_keepalive above", gw(`natt_keepalive = "121s"`), gwAt + `"natt_keepalive": "121s" is out of range: must be from 1s to 2m (line 3)`, nil, nil},

		{"ike_lifetime below", conn(`ike_lifetime = "4s"`), connAt + `"ike_lifetime": "4s" is out of range: must be from 5s to 24h (line 9)`, nil, nil},
		{"ike_lifetime min", conn(`ike_lifetime = "5s"`), "", ikeLife, 5 * time.Second},
		{"ike_lifetime max", conn(`ike_lifetime = "24h"`), "", ikeLife, 24 * time.Hour},
		{"ike_lifetime above", conn(`ike_lifetime = "24h1s"`), connAt + `"ike_lifetime": "24h1s" is out of range: must be from 5s to 24h (line 9)`, nil, nil},

		{"child_lifetime below", conn(`child_lifetime = "1s"`), connAt + `"child_lifetime": "1s" is out of range: must be from 5s to 24h (line 9)`, nil, nil},
		{"child_lifetime min", conn(`child_lifetime = "5s"`), "", childLife, 5 * time.Second},
		{"child_lifetime max", conn(`child_lifetime = "1440m"`), "", childLife, 24 * time.Hour},
		{"child_lifetime above", conn(`child_lifetime = "25h"`), connAt + `"child_lifetime": "25h" is out of range: must be from 5s to 24h (line 9)`, nil, nil},

		{"dpd_delay below", conn(`dpd_delay = "500ms"`), connAt + `"dpd_delay": "500ms" is out of range: must be from 1s to 1h (line 9)`, nil, nil},
		{"dpd_delay min", conn(`dpd_delay = "1s"`), "", dpdDelay, time.Second},
		{"dpd_delay max", conn(`dpd_delay = "1h"`), "", dpdDelay, time.Hour},
		{"dpd_delay above", conn(`dpd_delay = "61m"`), connAt + `"dpd_delay": "61m" is out of range: must be from 1s to 1h (line 9)`, nil, nil},

		{"dpd_timeout below", conn(`dpd_timeout = "900ms"`), connAt + `"dpd_timeout": "900ms" is out of range: must be from 1s to 1h (line 9)`, nil, nil},
		{"dpd_timeout min", conn(`dpd_timeout = "1s"`), "", dpdTimeout, time.Second},
		{"dpd_timeout max", conn(`dpd_timeout = "3600s"`), "", dpdTimeout, time.Hour},
		{"dpd_timeout above", conn(`dpd_timeout = "2h"`), connAt + `"dpd_timeout": "2h" is out of range: must be from 1s to 1h (line 9)`, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse("testdata/bad.toml", []byte(tt.toml))
			if tt.err != "" {
				if err == nil {
					t.Fatalf("loaded; want error %q", tt.err)
				}
				if !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error\n  %v\nwant it to contain\n  %s", err, tt.err)
				}
				var fe *FieldError
				if !errors.As(err, &fe) || fe.Line == 0 {
					t.Errorf("not a *FieldError with a line: %#v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := tt.got(cfg); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// TestLoadBoundsAdmitLabValues: the short values the interop tests use on
// purpose (rekey, DPD and NAT keepalive tests) stay valid.
func TestLoadBoundsAdmitLabValues(t *testing.T) {
	tests := []struct{ name, gw, conn string }{
		{"ikev2 rekey", "", "ike_lifetime = \"9s\"\nchild_lifetime = \"6s\"\n"},
		{"ikev1 rekey", "", "ike_lifetime = \"10s\"\nchild_lifetime = \"6s\"\n"},
		{"dpd", "", "dpd_delay = \"3s\"\ndpd_timeout = \"9s\"\n"},
		{"natt keepalive", "natt_keepalive = \"2s\"\n", ""},
		{"retransmit", "retransmit_tries = 2\nretransmit_timeout = \"1s\"\n", ""},
		{"workers", "workers = 2\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text := "[gateway]\nlisten = [\"192.0.2.1\"]\n" + tt.gw +
				"[[connection]]\nname = \"c\"\nlocal_addr = \"192.0.2.1\"\nremote_addr = \"198.51.100.1\"\npsk = \"pw\"\n" + tt.conn
			if _, err := Parse("lab.toml", []byte(text)); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestCfgFmtDuration(t *testing.T) {
	for _, tt := range []struct {
		d    time.Duration
		want string
	}{
		{100 * time.Millisecond, "100ms"}, {time.Second, "1s"}, {90 * time.Second, "1m30s"}, {2 * time.Minute, "2m"},
		{time.Hour, "1h"}, {24 * time.Hour, "24h"}, {90 * time.Minute, "1h30m"}, {time.Hour + time.Second, "1h0m1s"},
	} {
		if got := cfgFmtDuration(tt.d); got != tt.want {
			t.Errorf("cfgFmtDuration(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

// TestLoadHostWarnings: LoadHost's warnings name file, section, key and
// line; a clean file on a matching host has none.
func TestLoadHostWarnings(t *testing.T) {
	cd := loadTestCertsDir(t)
	dir := t.TempDir()
	looseKey := filepath.Join(dir, "loose.key.pem")
	tightKey := filepath.Join(dir, "tight.key.pem")
	keyPEM, err := os.ReadFile(filepath.Join(cd, "right.key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	for p, mode := range map[string]os.FileMode{looseKey: 0o640, tightKey: 0o600} {
		if err := os.WriteFile(p, keyPEM, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
	}
	local := func(a netip.Addr) bool { return a == netip.MustParseAddr("192.0.2.1") }
	groups := func(name string) error {
		if name == "vpnadm" {
			return nil
		}
		return fmt.Errorf("group: unknown group %s", name)
	}
	pskConn := "[[connection]]\nname = \"c\"\nlocal_addr = \"192.0.2.1\"\nremote_addr = \"198.51.100.1\"\npsk = \"pw\"\n"
	pubConn := func(key string) string {
		return fmt.Sprintf("[[connection]]\nname = \"c\"\nlocal_addr = \"192.0.2.1\"\nremote_addr = \"198.51.100.1\"\nauth = \"pubkey\"\ncert = %q\nkey = %q\nca = [%q]\n",
			filepath.Join(cd, "right.crt.pem"), key, filepath.Join(cd, "ca.pem"))
	}
	users := "[[user]]\nname = \"u\"\nnt_hash = \"8846f7eaee8fb117ad06bdd830b7586c\"\n"
	radius := "[radius]\nservers = [\"10.0.0.2:1812\"]\nsecret = \"s\"\n"

	tests := []struct {
		name string
		text string
		mode os.FileMode
		want []string // warnings, in order ("" file prefix added)
	}{
		{"clean", "[gateway]\nlisten = [\"192.0.2.1\"]\ncontrol_group = \"vpnadm\"\n" + pskConn, 0o600, nil},
		{"wildcard listen", "[gateway]\nlisten = [\"0.0.0.0\", \"::\"]\n", 0o644, nil},
		{"listen not on host", "[gateway]\nlisten = [\"192.0.2.1\", \"198.51.100.7\"]\n", 0o644,
			[]string{`gateway: key "listen": 198.51.100.7 is not an address of this host: ` + "`ikegate run`" + ` cannot bind it (line 2)`}},
		{"control_group unknown", "[gateway]\nlisten = [\"192.0.2.1\"]\ncontrol_group = \"nosuch\"\n", 0o600,
			[]string{`gateway: key "control_group": group "nosuch" does not exist on this host: ` + "`ikegate run`" + ` will fail to create the control socket (line 3)`}},
		{"psk readable by others", "[gateway]\nlisten = [\"192.0.2.1\"]\n" + pskConn, 0o604,
			[]string{`holds secrets (psk, line 7) but is readable by others (mode 0604): chmod 600 `}},
		{"psk readable by group", "[gateway]\nlisten = [\"192.0.2.1\"]\n" + pskConn, 0o640,
			[]string{`holds secrets (psk, line 7) but is readable by group (mode 0640): chmod 600 `}},
		{"users readable", "[gateway]\nlisten = [\"192.0.2.1\"]\n" + users, 0o644,
			[]string{`holds secrets (nt_hash, line 5) but is readable by group and others (mode 0644)`}},
		{"radius readable", "[gateway]\nlisten = [\"192.0.2.1\"]\n" + radius, 0o644,
			[]string{`holds secrets (radius secret, line 5) but is readable by group and others (mode 0644)`}},
		{"no secrets readable", "[gateway]\nlisten = [\"192.0.2.1\"]\n", 0o644, nil},
		{"key file readable", "[gateway]\nlisten = [\"192.0.2.1\"]\n" + pubConn(looseKey), 0o600,
			[]string{`connection "c" (connection[0]): key "key": ` + looseKey + ` holds a private key but is readable by group (mode 0640): chmod 600 ` + looseKey + ` (line 9)`}},
		{"key file private", "[gateway]\nlisten = [\"192.0.2.1\"]\n" + pubConn(tightKey), 0o644, nil},
		{"several", "[gateway]\nlisten = [\"192.0.2.1\", \"198.51.100.7\"]\ncontrol_group = \"nosuch\"\n" + pskConn, 0o644,
			[]string{"holds secrets (psk, line 8)", `key "listen": 198.51.100.7`, `key "control_group": group "nosuch"`}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(dir, fmt.Sprintf("c%d.toml", i))
			if err := os.WriteFile(p, []byte(tt.text), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(p, tt.mode); err != nil {
				t.Fatal(err)
			}
			cfg, warns, err := LoadHost(p, Host{IsLocal: local, LookupGroup: groups})
			if err != nil || cfg == nil {
				t.Fatalf("LoadHost: %v", err)
			}
			if len(warns) != len(tt.want) {
				t.Fatalf("%d warnings, want %d: %v", len(warns), len(tt.want), warns)
			}
			for j, w := range warns {
				if msg := w.Error(); !strings.HasPrefix(msg, p+": ") || !strings.Contains(msg, tt.want[j]) {
					t.Errorf("warning %d\n  %s\nwant %s: ...%s...", j, msg, p, tt.want[j])
				}
			}
			// Load (no host) never warns and loads the same.
			if _, err := Load(p); err != nil {
				t.Errorf("Load: %v", err)
			}
		})
	}

	// A file that does not load still returns its warnings.
	bad := filepath.Join(dir, "bad.toml")
	os.WriteFile(bad, []byte("[gateway]\nlisten = [\"198.51.100.7\"]\nworkers = -1\n"), 0o600)
	_, warns, err := LoadHost(bad, Host{IsLocal: local})
	if err == nil || len(warns) != 1 || !strings.Contains(warns[0].Error(), `key "listen"`) {
		t.Errorf("bad file: err %v, warnings %v", err, warns)
	}
}

func TestLoadControlGroup(t *testing.T) {
	tests := []struct{ value, want, err string }{
		{`"vpnadm"`, "vpnadm", ""},
		{`"1001"`, "1001", ""},
		{`""`, "", `gateway: key "control_group": must not be empty (leave the key out for a socket only root may use, mode 0600) (line 3)`},
		{`"vpn adm"`, "", `gateway: key "control_group": "vpn adm" is not a group name (line 3)`},
		{`1001`, "", `gateway: key "control_group": must be a string, not an integer (line 3)`},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			cfg, err := Parse("g.toml", []byte("[gateway]\nlisten = [\"192.0.2.1\"]\ncontrol_group = "+tt.value+"\n"))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || cfg.Gateway.ControlGroup != tt.want {
				t.Fatalf("got %v, %v; want %q", cfg, err, tt.want)
			}
		})
	}
	cfg, err := Parse("g.toml", []byte("[gateway]\nlisten = [\"192.0.2.1\"]\n"))
	if err != nil || cfg.Gateway.ControlGroup != "" {
		t.Errorf("default: %v %q, want none (root-only socket)", err, cfg.Gateway.ControlGroup)
	}
}

func TestLine(t *testing.T) {
	p := filepath.Join(t.TempDir(), "l.toml")
	os.WriteFile(p, []byte("# c\n[gateway]\n\nlisten = [\n  \"192.0.2.1\",\n]\n[[connection]]\nname = \"a\"\n[[connection]]\nname = \"b\"\n"), 0o600)
	for _, tt := range []struct {
		sec, key string
		want     int
	}{
		{"gateway", "listen", 4}, {"connection#0", "name", 8}, {"connection#1", "name", 10}, {"gateway", "workers", 0}, {"", "gateway", 2},
	} {
		if got := Line(p, tt.sec, tt.key); got != tt.want {
			t.Errorf("Line(%q, %q) = %d, want %d", tt.sec, tt.key, got, tt.want)
		}
	}
	if got := Line(filepath.Join(t.TempDir(), "missing.toml"), "gateway", "listen"); got != 0 {
		t.Errorf("missing file: line %d", got)
	}
}
