package policy

import (
	"crypto/ecdsa"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"

	"ikegate/oakley"
)

// certsDir is the absolute path of the test-only PKI in configs/certs.
func loadTestCertsDir(t *testing.T) string {
	t.Helper()
	d, err := filepath.Abs(filepath.Join("..", "configs", "certs"))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestLoadConfigs loads every sample configuration in configs/.
func TestLoadConfigs(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "configs", "*.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 3 {
		t.Fatalf("found only %d configs: %v", len(files), files)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			cfg, err := Load(f)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if cfg.File != f || len(cfg.Gateway.Listen) == 0 || len(cfg.Connections) == 0 {
				t.Fatalf("incomplete config: %+v", cfg)
			}
			db := NewDB(cfg.Connections)
			for _, c := range cfg.Connections {
				if db.Lookup(c.Name) != c {
					t.Errorf("Lookup(%q) failed", c.Name)
				}
				if len(c.IKE) == 0 || len(c.ESP) == 0 {
					t.Errorf("%s: no proposals", c.Name)
				}
			}
		})
	}
}

func TestSampleSiteToSitePSK(t *testing.T) {
	cfg, err := Load(filepath.Join("..", "configs", "site-to-site-psk.toml"))
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.Connections[0]
	if c.Name != "site-b" || c.Version != IKEv2 || c.Auth != AuthPSK || string(c.PSK) != "test-only-secret-change-me" {
		t.Errorf("site-b: %v", c)
	}
	if got := c.LocalID.String(); got != "right.lab" {
		t.Errorf("local_id %q", got)
	}
	if got := c.IKE[1].String(); got != "AES_GCM_16_128/PRF_HMAC_SHA2_256/CURVE_25519" {
		t.Errorf("ike[1] = %s", got)
	}
	if c.LocalTS[0] != netip.MustParsePrefix("10.2.0.0/24") || c.Start != StartStart || c.DPDAction != "restart" {
		t.Errorf("site-b: %v", c)
	}
	v1 := cfg.Connections[1]
	if v1.Version != IKEv1 || v1.IKEv1Mode != "main" || string(v1.PSK) != "test-only" {
		t.Errorf("legacy-c: %v psk=%q", v1, v1.PSK)
	}
	// local_id/remote_id default to the addresses.
	if v1.LocalID.String() != "10.200.0.2" || v1.RemoteID.String() != "10.200.0.3" || v1.LocalID.Type != IDIPv4Addr {
		t.Errorf("legacy-c ids: %v %v", v1.LocalID, v1.RemoteID)
	}
}

func TestSampleSiteToSiteCert(t *testing.T) {
	cfg, err := Load(filepath.Join("..", "configs", "site-to-site-cert.toml"))
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.Connections[0]
	if c.Cert == nil || c.Cert.Subject.CommonName != "right.lab" {
		t.Fatalf("cert: %v", c.Cert)
	}
	if len(c.CertChain) != 1 || c.CertChain[0].Subject.CommonName != "ikegate test intermediate CA" {
		t.Errorf("chain: %v", c.CertChain)
	}
	if _, ok := c.Key.(*ecdsa.PrivateKey); !ok {
		t.Errorf("key type %T", c.Key)
	}
	if c.CAs == nil {
		t.Fatal("no CA pool")
	}
	// The same anchors as a list, for CERTREQ (ikev2.certReq): strongSwan
	// sends its certificate only when asked for one.
	if len(c.CACerts) != 1 || !c.CACerts[0].IsCA {
		t.Errorf("CACerts %v, want the one CA of ca = [...]", c.CACerts)
	}
	if c.LocalID.Type != IDDERASN1DN || c.LocalID.String() != "C=CH, O=ikegate test, CN=right.lab" {
		t.Errorf("local_id %v", c.LocalID)
	}
	// The configured DN is the certificate's subject, semantically.
	if !c.LocalID.Equal(Identity{Type: IDDERASN1DN, Data: c.Cert.RawSubject}) {
		t.Errorf("local_id %v != cert subject %v", c.LocalID, c.Cert.Subject)
	}
}

func TestSampleResponderAny(t *testing.T) {
	cfg, err := Load(filepath.Join("..", "configs", "responder-any.toml"))
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.Connections[0]
	if !c.RemoteAny() || c.Version != Any || c.LocalAddr.IsValid() || c.RemoteTS != nil {
		t.Errorf("roadwarrior: %v", c)
	}
	if string(c.PSK) != "test-only-roadwarrior" {
		t.Errorf("0s PSK decoded to %q", c.PSK)
	}
	peer, _ := ParseIdentity("alice@lab")
	if !c.RemoteID.Matches(peer) {
		t.Errorf("%v does not match %v", c.RemoteID, peer)
	}
	db := NewDB(cfg.Connections)
	if got := db.Candidates(netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("198.51.100.7"), IKEv1); len(got) != 1 {
		t.Errorf("Candidates: %v", got)
	}
	if cfg.Gateway.CookieThreshold != 50 || cfg.Gateway.LogLevel != "debug" {
		t.Errorf("gateway: %+v", cfg.Gateway)
	}
}

const loadTestMinimal = `
[gateway]
listen = ["192.0.2.1"]

[[connection]]
name = "c"
local_addr = "192.0.2.1"
remote_addr = "198.51.100.1"
psk = "pw"
`

func TestDefaults(t *testing.T) {
	cfg, err := Parse("min.toml", []byte(loadTestMinimal))
	if err != nil {
		t.Fatal(err)
	}
	g := cfg.Gateway
	want := Gateway{
		Listen: []netip.Addr{netip.MustParseAddr("192.0.2.1")}, IKEPort: 500, NATTPort: 4500,
		Dataplane: "none", Control: "/run/ikegate/ikegate.sock", LogLevel: "info",
		CookieThreshold: 100, RetransmitTries: 5, RetransmitBase: time.Second, Workers: 0,
	}
	if fmt.Sprint(g) != fmt.Sprint(want) {
		t.Errorf("gateway defaults:\n got %+v\nwant %+v", g, want)
	}
	c := cfg.Connections[0]
	checks := []struct {
		what      string
		got, want any
	}{
		{"version", c.Version, IKEv2},
		{"ikev1_mode", c.IKEv1Mode, ""},
		{"auth (inferred)", c.Auth, AuthPSK},
		{"local_id", c.LocalID.String(), "192.0.2.1"},
		{"remote_id", c.RemoteID.String(), "198.51.100.1"},
		{"local_ts", fmt.Sprint(c.LocalTS), "[192.0.2.1/32]"},
		{"remote_ts", fmt.Sprint(c.RemoteTS), "[198.51.100.1/32]"},
		{"start", c.Start, StartNone},
		{"ike", strProposalList(c.IKE), "[AES_CBC_256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048]"},
		{"esp", strProposalList(c.ESP), "[AES_GCM_16_256/NO_ESN, AES_GCM_16_128/NO_ESN, AES_CBC_256/HMAC_SHA2_256_128/NO_ESN, AES_CBC_128/HMAC_SHA2_256_128/NO_ESN]"},
		{"ike_lifetime", c.IKELifetime, 4 * time.Hour},
		{"child_lifetime", c.ChildLifetime, time.Hour},
		{"dpd_delay", c.DPDDelay, 30 * time.Second},
		{"dpd_timeout", c.DPDTimeout, 150 * time.Second},
		{"dpd_action", c.DPDAction, "clear"},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %v, want %v", ch.what, ch.got, ch.want)
		}
	}

	// IKEv1 defaults to Main Mode; IPv6 gets /128 selectors.
	v6 := strings.NewReplacer("192.0.2.1", "2001:db8::1", "198.51.100.1", "2001:db8::2", `name = "c"`, "name = \"c\"\nversion = \"ikev1\"").Replace(loadTestMinimal)
	cfg, err = Parse("v6.toml", []byte(v6))
	if err != nil {
		t.Fatal(err)
	}
	c = cfg.Connections[0]
	if c.IKEv1Mode != "main" || c.LocalTS[0].String() != "2001:db8::1/128" || c.LocalID.Type != IDIPv6Addr || len(c.LocalID.Data) != 16 {
		t.Errorf("v6/ikev1: %v", c)
	}
}

// conn returns a config with one connection made of the minimal one plus
// extra lines (later keys are appended; callers avoid repeating keys).
func loadTestConn(extra string) string {
	return `[gateway]
listen = ["192.0.2.1"]

[[connection]]
name = "c"
local_addr = "192.0.2.1"
` + extra
}

func TestParseErrors(t *testing.T) {
	cd := loadTestCertsDir(t)
	pub := func(cert, key string, ca ...string) string {
		s := fmt.Sprintf("remote_addr = \"198.51.100.1\"\nauth = \"pubkey\"\ncert = %q\nkey = %q\n", filepath.Join(cd, cert), filepath.Join(cd, key))
		if len(ca) > 0 {
			s += fmt.Sprintf("ca = [%q]\n", filepath.Join(cd, ca[0]))
		}
		return s
	}
	psk := "remote_addr = \"198.51.100.1\"\npsk = \"pw\"\n"
	cases := []struct {
		name string
		toml string
		want []string // substrings of the error
	}{
		{"syntax", "[gateway]\nlisten = [\"a\"\nike_port = 500\n",
			[]string{"bad.toml: line 3, column", "invalid TOML", `after key "gateway.listen"`}},
		{"unknown top key", "[gatway]\nlisten = [\"192.0.2.1\"]\n",
			[]string{`bad.toml: key "gatway": unknown key (did you mean "gateway"?) (line 1)`}},
		{"unknown gateway key", "[gateway]\nlisten = [\"192.0.2.1\"]\nike_prot = 500\n",
			[]string{`bad.toml: gateway: key "ike_prot": unknown key (did you mean "ike_port"?) (line 3)`}},
		{"unknown conn key", loadTestConn(psk + "esp_proposals = [\"aes\"]\n"),
			[]string{`bad.toml: connection "c" (connection[0]): key "esp_proposals": unknown key (line 9)`}},
		{"connection as table", "[gateway]\nlisten = [\"192.0.2.1\"]\n[connection]\nname = \"x\"\n",
			[]string{`key "connection": must be an array of tables ([[connection]])`}},
		{"gateway type", "gateway = 5\n", []string{`key "gateway": must be a table`}},
		{"missing listen", "[gateway]\nike_port = 500\n", []string{`gateway: key "listen": missing`}},
		{"empty listen", "[gateway]\nlisten = []\n", []string{`gateway: key "listen": must list at least one address`}},
		{"bad listen", "[gateway]\nlisten = [\"10.0.0.300\"]\n", []string{`gateway: key "listen": "10.0.0.300" is not an IP address (line 2)`}},
		{"listen type", "[gateway]\nlisten = [1]\n", []string{`key "listen": must be an array of strings, but element 0 is an integer`}},
		{"port range", "[gateway]\nlisten = [\"192.0.2.1\"]\nike_port = 70000\n", []string{`gateway: key "ike_port": port 70000 out of range 1-65535 (line 3)`}},
		{"port zero", "[gateway]\nlisten = [\"192.0.2.1\"]\nnatt_port = 0\n", []string{`key "natt_port": port 0 out of range`}},
		{"same ports", "[gateway]\nlisten = [\"192.0.2.1\"]\nnatt_port = 500\n", []string{`key "natt_port": must differ from ike_port`}},
		{"port type", "[gateway]\nlisten = [\"192.0.2.1\"]\nike_port = \"500\"\n", []string{`gateway: key "ike_port": must be an integer, not a string (line 3)`}},
		{"dataplane", "[gateway]\nlisten = [\"192.0.2.1\"]\ndataplane = \"dpdk\"\n", []string{`key "dataplane": "dpdk" is not one of "xfrm", "userspace", "none"`}},
		{"log_level", "[gateway]\nlisten = [\"192.0.2.1\"]\nlog_level = \"trace\"\n", []string{`key "log_level": "trace" is not one of`}},
		{"retransmit_timeout", "[gateway]\nlisten = [\"192.0.2.1\"]\nretransmit_timeout = \"1 second\"\n", []string{`key "retransmit_timeout": "1 second" is not a duration`}},
		{"retransmit_timeout int", "[gateway]\nlisten = [\"192.0.2.1\"]\nretransmit_timeout = 1\n", []string{`key "retransmit_timeout": must be a string, not an integer`}},
		{"retransmit_tries", "[gateway]\nlisten = [\"192.0.2.1\"]\nretransmit_tries = 0\n", []string{`key "retransmit_tries": must be at least 1`}},
		{"workers", "[gateway]\nlisten = [\"192.0.2.1\"]\nworkers = -1\n", []string{`key "workers": must not be negative`}},

		{"missing name", "[gateway]\nlisten = [\"192.0.2.1\"]\n[[connection]]\nremote_addr = \"%any\"\nlocal_id = \"a\"\nlocal_ts = [\"10.0.0.0/8\"]\npsk = \"x\"\n",
			[]string{`bad.toml: connection[0]: key "name": missing: every [[connection]] needs a name (line 3)`}},
		{"bad name", loadTestConn(psk)[:0] + strings.Replace(loadTestConn(psk), `name = "c"`, `name = "site b"`, 1), []string{`connection[0]: key "name": "site b" is not a valid connection name`}},
		{"duplicate name", loadTestConn(psk) + "[[connection]]\nname = \"c\"\nlocal_addr = \"192.0.2.1\"\n" + psk,
			[]string{`connection "c" (connection[1]): key "name": duplicate connection name "c" (also connection[0]) (line 10)`}},
		{"version", loadTestConn(psk + "version = \"ikev3\"\n"), []string{`connection "c" (connection[0]): key "version": "ikev3" is not one of "ikev1", "ikev2", "any"`}},
		{"ikev1_mode on ikev2", loadTestConn(psk + "ikev1_mode = \"aggressive\"\n"), []string{`key "ikev1_mode": only applies to version = "ikev1" (this connection is "ikev2")`}},
		{"ikev1_mode on any", loadTestConn(psk + "version = \"any\"\nikev1_mode = \"main\"\n"), []string{`key "ikev1_mode": only applies to version = "ikev1"`}},
		{"ikev1_mode value", loadTestConn(psk + "version = \"ikev1\"\nikev1_mode = \"quick\"\n"), []string{`key "ikev1_mode": "quick" is not one of "main", "aggressive"`}},
		{"bad local_addr", strings.Replace(loadTestConn(psk), `local_addr = "192.0.2.1"`, `local_addr = "192.0.2"`, 1), []string{`key "local_addr": "192.0.2" is not an IP address (line 6)`}},
		{"local_addr not listened", strings.Replace(loadTestConn(psk), `local_addr = "192.0.2.1"`, `local_addr = "192.0.2.9"`, 1), []string{`key "local_addr": 192.0.2.9 is not one of gateway.listen (192.0.2.1)`}},
		{"bad remote_addr", loadTestConn("remote_addr = \"peer.example\"\npsk = \"x\"\n"), []string{`key "remote_addr": "peer.example" is not an IP address`}},
		{"missing remote_addr", loadTestConn("psk = \"x\"\n"), []string{`key "remote_addr": missing: give the peer's address, or "%any"`}},
		{"family mismatch", loadTestConn("remote_addr = \"2001:db8::1\"\npsk = \"x\"\n"), []string{`key "remote_addr": 2001:db8::1 and local_addr 192.0.2.1 are of different address families`}},
		{"bad local_id", loadTestConn(psk + "local_id = \"C=CH, XX=y\"\n"), []string{`key "local_id": identity "C=CH, XX=y": unknown DN attribute "XX"`}},
		{"local_id any", loadTestConn(psk + "local_id = \"%any\"\n"), []string{`key "local_id": cannot be %any`}},
		{"bad remote_id", loadTestConn(psk + "remote_id = \"%all\"\n"), []string{`key "remote_id": unknown identity "%all"`}},
		{"auth enum", loadTestConn(psk + "auth = \"eap\"\n"), []string{`key "auth": "eap" is not one of "psk", "pubkey"`}},
		{"auth missing", loadTestConn("remote_addr = \"198.51.100.1\"\n"), []string{`key "auth": missing: "psk" or "pubkey"`}},
		{"psk missing", loadTestConn("remote_addr = \"198.51.100.1\"\nauth = \"psk\"\n"), []string{`key "psk": missing: auth = "psk" needs a pre-shared key`}},
		{"psk empty", loadTestConn("remote_addr = \"198.51.100.1\"\npsk = \"\"\n"), []string{`key "psk": must not be empty`}},
		{"psk bad hex", loadTestConn("remote_addr = \"198.51.100.1\"\npsk = \"0xzz\"\n"), []string{`key "psk": starts with 0x but the rest is not an even number of hex digits`}},
		{"psk bad base64", loadTestConn("remote_addr = \"198.51.100.1\"\npsk = \"0s!!\"\n"), []string{`key "psk": starts with 0s but the rest is not base64`}},
		{"cert with psk", loadTestConn(psk + "auth = \"psk\"\ncert = \"x.pem\"\n"), []string{`key "cert": only used with auth = "pubkey"`}},
		{"psk with pubkey", loadTestConn(pub("right.crt.pem", "right.key.pem", "ca.pem") + "psk = \"x\"\n"), []string{`key "psk": only used with auth = "psk"`}},
		{"pubkey missing all", loadTestConn("remote_addr = \"198.51.100.1\"\nauth = \"pubkey\"\n"),
			[]string{`key "cert": missing`, `key "key": missing`, `key "ca": missing`}},
		{"cert unreadable", strings.Replace(loadTestConn(pub("nope.pem", "right.key.pem", "ca.pem")), "nope.pem", "nope.pem", 1),
			[]string{`key "cert": open `, `nope.pem: no such file or directory`}},
		{"key does not match", loadTestConn(pub("right.crt.pem", "left.key.pem", "ca.pem")),
			[]string{`key "key": `, `left.key.pem: private key does not match the certificate's public key`}},
		{"cert is a key", loadTestConn(pub("right.key.pem", "right.key.pem", "ca.pem")),
			[]string{`key "cert": `, `right.key.pem: PEM block 1 is "PRIVATE KEY", expected only CERTIFICATE blocks`}},
		{"key is a cert", loadTestConn(pub("right.crt.pem", "right.crt.pem", "ca.pem")),
			[]string{`key "key": `, `right.crt.pem: PEM block "CERTIFICATE" is not a private key`}},
		{"ca unreadable", loadTestConn(pub("right.crt.pem", "right.key.pem", "missing-ca.pem")),
			[]string{`key "ca": open `, `missing-ca.pem`}},
		{"local_id not in cert", loadTestConn(pub("right.crt.pem", "right.key.pem", "ca.pem") + "local_id = \"left.lab\"\n"),
			[]string{`key "local_id": certificate `, `does not contain identity`}},
		{"ca empty", loadTestConn(pub("right.crt.pem", "right.key.pem") + "ca = []\n"), []string{`key "ca": must list at least one CA certificate file`}},

		{"bad ike", loadTestConn(psk + "ike = [\"aes257-sha256-modp2048\"]\n"),
			[]string{`bad.toml: connection "c" (connection[0]): key "ike": unknown algorithm keyword "aes257" in proposal "aes257-sha256-modp2048" (line 9)`}},
		{"bad esp", loadTestConn(psk + "esp = [\"aes256gcm16\", \"aes128\"]\n"), []string{`key "esp": missing an integrity algorithm keyword`, `in proposal "aes128"`}},
		{"ike not esp", loadTestConn(psk + "ike = [\"aes256-sha256-modp2048-esn\"]\n"), []string{`key "ike": "esn" (extended sequence numbers) is only allowed in ESP proposals`}},
		{"empty ike", loadTestConn(psk + "ike = []\n"), []string{`key "ike": must list at least one proposal`}},
		{"ikev1 aead", loadTestConn(psk + "version = \"ikev1\"\nike = [\"aes128gcm16-prfsha256-modp2048\"]\n"), []string{`key "ike": IKEv1 has no AEAD ciphers for the IKE SA`}},
		{"ikev1 several", loadTestConn(psk + "version = \"ikev1\"\nesp = [\"aes128-aes256-sha256\"]\n"), []string{`key "esp": IKEv1 takes one algorithm of each kind per proposal, but proposal "aes128-aes256-sha256" has 2 ENCR algorithms`}},
		{"ikev1 prf", loadTestConn(psk + "version = \"ikev1\"\nike = [\"aes128-sha256-prfsha1-modp2048\"]\n"), []string{`key "ike": IKEv1 uses the HMAC of the hash algorithm as PRF`}},

		{"bad ts", loadTestConn(psk + "local_ts = [\"10.2.0.0/33\"]\n"), []string{`key "local_ts": "10.2.0.0/33" is not a prefix`}},
		{"ts host bits", loadTestConn(psk + "remote_ts = [\"10.1.0.1/24\"]\n"), []string{`key "remote_ts": prefix "10.1.0.1/24" has host bits set (did you mean 10.1.0.0/24?)`}},
		{"start enum", loadTestConn(psk + "start = \"auto\"\n"), []string{`key "start": "auto" is not one of "none", "start", "trap"`}},
		{"start with %any", loadTestConn("remote_addr = \"%any\"\npsk = \"x\"\nstart = \"start\"\n"), []string{`key "start": "start" needs a peer address to initiate to, but remote_addr is %any`}},
		{"trap with %any", loadTestConn("remote_addr = \"%any\"\npsk = \"x\"\nstart = \"trap\"\n"), []string{`key "start": "trap" needs a peer address`}},
		{"trap without xfrm", loadTestConn(psk + "start = \"trap\"\n"),
			[]string{`bad.toml: connection "c" (connection[0]): key "start": "trap" needs gateway.dataplane = "xfrm" (a kernel policy raises the acquire that starts the negotiation), but dataplane is "none"`}},
		{"start with any version", loadTestConn(psk + "version = \"any\"\nstart = \"start\"\n"), []string{`key "start": "start" needs a version to initiate with, but version is "any"`}},
		{"lifetime", loadTestConn(psk + "ike_lifetime = \"4 hours\"\n"), []string{`key "ike_lifetime": "4 hours" is not a duration`}},
		{"negative dpd", loadTestConn(psk + "dpd_delay = \"-5s\"\n"), []string{`key "dpd_delay": "-5s": must be positive`}},
		{"dpd_action", loadTestConn(psk + "dpd_action = \"restart-now\"\n"), []string{`key "dpd_action": "restart-now" is not one of "clear", "hold", "restart"`}},
		{"no local_addr no id", "[gateway]\nlisten = [\"192.0.2.1\"]\n[[connection]]\nname = \"c\"\n" + psk,
			[]string{`key "local_id": missing: set local_id or local_addr`, `key "local_ts": missing`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("testdata/bad.toml", []byte(c.toml))
			if err == nil {
				t.Fatalf("no error for:\n%s", c.toml)
			}
			msg := err.Error()
			for _, w := range c.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error\n  %s\ndoes not contain\n  %s", strings.ReplaceAll(msg, "\n", "\n  "), w)
				}
			}
			// Every line of the joined error names the file.
			for _, line := range strings.Split(msg, "\n") {
				if !strings.HasPrefix(line, "testdata/bad.toml: ") {
					t.Errorf("error line without the file name: %q", line)
				}
			}
		})
	}
}

func TestParseErrorTypes(t *testing.T) {
	_, err := Parse("x.toml", []byte("[gateway]\nlisten = [\"a\"\n"))
	var pe toml.ParseError
	if !errors.As(err, &pe) || pe.Position.Line != 2 {
		t.Errorf("syntax error does not unwrap to toml.ParseError with its position: %v", err)
	}
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Line != 2 || fe.File != "x.toml" {
		t.Errorf("not a FieldError with line 2: %#v", fe)
	}

	_, err = Parse("x.toml", []byte(loadTestConn(`remote_addr = "198.51.100.1"
auth = "pubkey"
cert = "does-not-exist.pem"
key = "k.pem"
ca = "ca.pem"
`)))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing cert does not unwrap to fs.ErrNotExist: %v", err)
	}
	if !errors.As(err, &fe) || fe.Key != "cert" || fe.Section != `connection "c" (connection[0])` || fe.Line != 9 {
		t.Errorf("cert FieldError: %+v", fe)
	}
}

// TestCollectsErrors checks that problems in several places are all
// reported, in document order.
func TestCollectsErrors(t *testing.T) {
	src := `[gateway]
listen = ["192.0.2.1"]
ike_port = 0
bogus = 1

[[connection]]
name = "a"
local_addr = "192.0.2.1"
remote_addr = "198.51.100.1"
psk = "x"
ike = ["aes257-sha256-modp2048", "aes256-sha256-modp2049"]

[[connection]]
name = "b"
local_addr = "192.0.2.1"
remote_addr = "%any"
psk = "x"
start = "start"
`
	_, err := Parse("multi.toml", []byte(src))
	if err == nil {
		t.Fatal("no error")
	}
	want := []string{
		`multi.toml: gateway: key "ike_port": port 0 out of range 1-65535 (line 3)`,
		`multi.toml: gateway: key "bogus": unknown key (line 4)`,
		`multi.toml: connection "a" (connection[0]): key "ike": unknown algorithm keyword "aes257" in proposal "aes257-sha256-modp2048" (line 11)`,
		`multi.toml: connection "a" (connection[0]): key "ike": unknown algorithm keyword "modp2049" in proposal "aes256-sha256-modp2049" (line 11)`,
		`multi.toml: connection "b" (connection[1]): key "start": "start" needs a peer address to initiate to, but remote_addr is %any (line 18)`,
	}
	if got := strings.Split(err.Error(), "\n"); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", err, strings.Join(want, "\n"))
	}
}

func TestRelativeCredentialPaths(t *testing.T) {
	// A config in a temporary directory referring to certs relative to it.
	dir := t.TempDir()
	cd := loadTestCertsDir(t)
	for _, f := range []string{"ca.pem", "left.crt.pem", "left.key.pem", "ed.crt.pem", "ed.key.pem", "ec.crt.pem", "ec.key.pem"} {
		data, err := os.ReadFile(filepath.Join(cd, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(dir, "pki"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "pki", f), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, kc := range []struct {
		name string
		typ  string
	}{{"left", "*rsa.PrivateKey"}, {"ed", "ed25519.PrivateKey"}, {"ec", "*ecdsa.PrivateKey"}} {
		src := loadTestConn(fmt.Sprintf(`remote_addr = "198.51.100.1"
auth = "pubkey"
cert = "pki/%s.crt.pem"
key = "pki/%s.key.pem"
ca = "pki/ca.pem"
`, kc.name, kc.name))
		path := filepath.Join(dir, kc.name+".toml")
		if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := Load(path)
		if err != nil {
			t.Fatalf("%s: %v", kc.name, err)
		}
		c := cfg.Connections[0]
		if got := fmt.Sprintf("%T", c.Key); got != kc.typ {
			t.Errorf("%s: key type %s, want %s", kc.name, got, kc.typ)
		}
		// Without local_id, the certificate's subject is our identity.
		if c.LocalID.Type != IDDERASN1DN || c.LocalID.String() != "C=CH, O=ikegate test, CN="+kc.name+".lab" {
			t.Errorf("%s: default local_id %v", kc.name, c.LocalID)
		}
		if len(c.CertChain) != 0 {
			t.Errorf("%s: unexpected chain %v", kc.name, c.CertChain)
		}
		// Parse with the same path resolves the same way.
		if _, err := Parse(path, []byte(src)); err != nil {
			t.Errorf("Parse: %v", err)
		}
		// Relative to the working directory it would not be found.
		if _, err := Parse(kc.name+".toml", []byte(src)); err == nil {
			t.Errorf("Parse relative to cwd found the credentials")
		}
	}
}

// TestSecretsNotPrinted checks that PSKs and keys appear in no error
// message and no printed form of a Connection.
func TestSecretsNotPrinted(t *testing.T) {
	const secret = "SuperSecretPSK42"
	bad := []string{
		// TOML syntax errors at the psk.
		loadTestConn("remote_addr = \"198.51.100.1\"\npsk = " + secret + "\n"),
		loadTestConn("remote_addr = \"198.51.100.1\"\npsk = \"" + secret + "\n"),
		loadTestConn("remote_addr = \"198.51.100.1\"\npsk = '''" + secret + "\n"),
		// Semantic errors involving it.
		loadTestConn("remote_addr = \"198.51.100.1\"\npsk = \"0x" + secret + "\"\n"),
		loadTestConn("remote_addr = \"198.51.100.1\"\npsk = \"0s" + secret + "!\"\n"),
		loadTestConn("remote_addr = \"198.51.100.1\"\nauth = \"pubkey\"\npsk = \"" + secret + "\"\n"),
		loadTestConn("remote_addr = \"198.51.100.1\"\npsk = [\"" + secret + "\"]\n"),
	}
	for _, src := range bad {
		_, err := Parse("s.toml", []byte(src))
		if err == nil {
			t.Errorf("no error for\n%s", src)
			continue
		}
		if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "SuperSecret") {
			t.Errorf("error reveals the PSK: %v", err)
		}
	}

	cfg, err := Parse("s.toml", []byte(loadTestConn("remote_addr = \"198.51.100.1\"\npsk = \""+secret+"\"\n")))
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.Connections[0]
	hexSecret := fmt.Sprintf("%x", secret)
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%d", "%x", "%X", "%q"} {
		for _, v := range []any{c, *c, cfg, *cfg, cfg.Connections} {
			out := fmt.Sprintf(verb, v)
			if strings.Contains(out, secret) || strings.Contains(strings.ToLower(out), hexSecret) || strings.Contains(out, fmt.Sprint([]byte(secret))) {
				t.Errorf("%s of %T reveals the PSK: %s", verb, v, out)
			}
		}
	}
	js, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(js), secret) || strings.Contains(string(js), "U3VwZXJTZWNyZXRQU0s0Mg") {
		t.Errorf("JSON reveals the PSK: %s", js)
	}
	if !strings.Contains(c.String(), "auth=psk([redacted])") {
		t.Errorf("String: %s", c)
	}

	// A private key: no verb prints its parts.
	cfg, err = Load(filepath.Join("..", "configs", "site-to-site-cert.toml"))
	if err != nil {
		t.Fatal(err)
	}
	c = cfg.Connections[0]
	k := c.Key.(*ecdsa.PrivateKey)
	d := k.D.String()
	for _, verb := range []string{"%v", "%+v", "%#v", "%d"} {
		if out := fmt.Sprintf(verb, c); strings.Contains(out, d) || strings.Contains(out, "PrivateKey") {
			t.Errorf("%s reveals the key: %s", verb, out)
		}
	}
	js, _ = json.Marshal(c)
	if strings.Contains(string(js), d) || !strings.Contains(string(js), `"key":"[redacted]"`) {
		t.Errorf("JSON: %s", js)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load("testdata/no-such-file.toml")
	if err == nil || !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "testdata/no-such-file.toml") {
		t.Errorf("Load of a missing file: %v", err)
	}
}

func TestSingleStringLists(t *testing.T) {
	cfg, err := Parse("s.toml", []byte(`[gateway]
listen = "192.0.2.1"
[[connection]]
name = "c"
local_addr = "192.0.2.1"
remote_addr = "198.51.100.1"
psk = "x"
ike = "aes128gcm16-prfsha256-ecp256"
esp = "aes128gcm16-esn"
local_ts = "10.0.0.1"
`))
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.Connections[0]
	if len(c.IKE) != 1 || len(c.ESP) != 1 || c.LocalTS[0].String() != "10.0.0.1/32" {
		t.Errorf("%v", c)
	}
	if e, _ := c.ESP[0].First(oakley.TransformESN); e.ID != oakley.ESNOn {
		t.Errorf("esp %v", c.ESP[0])
	}
}

// TestErrorLines checks the line numbers given for keys after multi-line
// arrays and strings.
func TestErrorLines(t *testing.T) {
	src := `# comment
[gateway]
listen = [
  "192.0.2.1",
]

[[connection]]
name = "c"
local_addr = "192.0.2.1"
remote_addr = "198.51.100.1"
psk = """
not = a key
"""
ike = [
  "aes256-sha256-modp2048",
  "aes256-sha256-modp9999",
]
not = 1
"quoted" = 2
`
	_, err := Parse("l.toml", []byte(src))
	want := []string{
		`l.toml: connection "c" (connection[0]): key "ike": unknown algorithm keyword "modp9999" in proposal "aes256-sha256-modp9999" (line 14)`,
		`l.toml: connection "c" (connection[0]): key "not": unknown key (line 18)`,
		`l.toml: connection "c" (connection[0]): key "quoted": unknown key (line 19)`,
	}
	if err == nil || err.Error() != strings.Join(want, "\n") {
		t.Errorf("got\n%v\nwant\n%s", err, strings.Join(want, "\n"))
	}
}

// TestTrapWithXfrm: start = "trap" loads with dataplane = "xfrm".
func TestTrapWithXfrm(t *testing.T) {
	src := strings.Replace(loadTestConn("remote_addr = \"198.51.100.1\"\npsk = \"pw\"\nstart = \"trap\"\n"),
		"[gateway]\n", "[gateway]\ndataplane = \"xfrm\"\n", 1)
	cfg, err := Parse("trap.toml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if c := cfg.Connections[0]; c.Start != StartTrap || cfg.Gateway.Dataplane != "xfrm" {
		t.Fatalf("start %q dataplane %q", c.Start, cfg.Gateway.Dataplane)
	}
}
