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
		CookieThreshold: 100, RetransmitTries: 5, RetransmitBase: time.Second, Workers: 0, ESPEncap: "auto",
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
		{"metrics_listen no port", "[gateway]\nlisten = [\"192.0.2.1\"]\nmetrics_listen = \"127.0.0.1\"\n", []string{`bad.toml: gateway: key "metrics_listen": "127.0.0.1" is not IP:port (e.g. "127.0.0.1:9595" or "[::1]:9595") (line 3)`}},
		{"metrics_listen host", "[gateway]\nlisten = [\"192.0.2.1\"]\nmetrics_listen = \"localhost:9595\"\n", []string{`gateway: key "metrics_listen": "localhost:9595": the host must be an IP address`, `(line 3)`}},
		{"metrics_listen port", "[gateway]\nlisten = [\"192.0.2.1\"]\nmetrics_listen = \"127.0.0.1:95950\"\n", []string{`key "metrics_listen": "127.0.0.1:95950": port "95950" out of range 1-65535 (line 3)`}},
		{"metrics_listen port zero", "[gateway]\nlisten = [\"192.0.2.1\"]\nmetrics_listen = \"[::1]:0\"\n", []string{`key "metrics_listen": "[::1]:0": port "0" out of range`}},
		{"metrics_listen type", "[gateway]\nlisten = [\"192.0.2.1\"]\nmetrics_listen = 9595\n", []string{`gateway: key "metrics_listen": must be a string, not an integer (line 3)`}},
		{"retransmit_tries", "[gateway]\nlisten = [\"192.0.2.1\"]\nretransmit_tries = 0\n", []string{`key "retransmit_tries": 0 is out of range: must be from 1 to 10 (line 3)`}},
		{"workers", "[gateway]\nlisten = [\"192.0.2.1\"]\nworkers = -1\n", []string{`key "workers": -1 is out of range: must be from 0 to 1024 (0 means one per CPU) (line 3)`}},
		{"gc_percent range", "[gateway]\nlisten = [\"192.0.2.1\"]\ngc_percent = 5\n", []string{`key "gc_percent": 5 is out of range: must be from 10 to 10000, or -1 (the collector off until memory_limit) (line 3)`}},
		{"gc_percent zero", "[gateway]\nlisten = [\"192.0.2.1\"]\ngc_percent = 0\n", []string{`key "gc_percent": 0 is out of range`}},
		{"gc_percent type", "[gateway]\nlisten = [\"192.0.2.1\"]\ngc_percent = \"200\"\n", []string{`key "gc_percent": must be an integer, not a string (line 3)`}},
		{"gc_percent off alone", "[gateway]\nlisten = [\"192.0.2.1\"]\ngc_percent = -1\n", []string{`key "gc_percent": -1 turns the garbage collector off: set memory_limit too`}},
		{"memory_limit unit", "[gateway]\nlisten = [\"192.0.2.1\"]\nmemory_limit = \"512 megs\"\n", []string{`key "memory_limit": "512 megs" is not a size (like "512MiB"`, `(line 3)`}},
		{"memory_limit small", "[gateway]\nlisten = [\"192.0.2.1\"]\nmemory_limit = \"1MiB\"\n", []string{`key "memory_limit": "1MiB" is below the minimum of 16MiB`}},
		{"memory_limit type", "[gateway]\nlisten = [\"192.0.2.1\"]\nmemory_limit = 512\n", []string{`key "memory_limit": must be a string, not an integer`}},
		{"gc_idle_percent range", "[gateway]\nlisten = [\"192.0.2.1\"]\ngc_idle_percent = 5\n", []string{`key "gc_idle_percent": 5 is out of range: must be from 10 to 10000 (at or above gc_percent: no switching) (line 3)`}},
		{"gc_idle_percent off", "[gateway]\nlisten = [\"192.0.2.1\"]\ngc_idle_percent = -1\n", []string{`key "gc_idle_percent": -1 is out of range`}},
		{"log_sample", "[gateway]\nlisten = [\"192.0.2.1\"]\nlog_sample = -1\n", []string{`key "log_sample": -1 is out of range: must be from 0 to 1000000 (0 writes every line) (line 3)`}},
		{"esp_encap value", "[gateway]\nlisten = [\"192.0.2.1\"]\ndataplane = \"userspace\"\nesp_encap = \"never\"\n", []string{`bad.toml: gateway: key "esp_encap": "never" is not one of "force", "auto" (line 4)`}},
		{"esp_encap type", "[gateway]\nlisten = [\"192.0.2.1\"]\nesp_encap = true\n", []string{`gateway: key "esp_encap": must be a string, not a boolean (line 3)`}},

		{"missing name", "[gateway]\nlisten = [\"192.0.2.1\"]\n[[connection]]\nremote_addr = \"%any\"\nlocal_id = \"a\"\nlocal_ts = [\"10.0.0.0/8\"]\npsk = \"x\"\n",
			[]string{`bad.toml: connection[0]: key "name": missing: every [[connection]] needs a name (line 3)`}},
		{"bad name", loadTestConn(psk)[:0] + strings.Replace(loadTestConn(psk), `name = "c"`, `name = "site b"`, 1), []string{`connection[0]: key "name": "site b" is not a valid connection name`}},
		{"duplicate name", loadTestConn(psk) + "[[connection]]\nname = \"c\"\nlocal_addr = \"192.0.2.1\"\n" + psk,
			[]string{`connection "c" (connection[1]): key "name": duplicate connection name "c" (also connection[0]) (line 10)`}},
		{"version", loadTestConn(psk + "version = \"ikev3\"\n"), []string{`connection "c" (connection[0]): key "version": "ikev3" is not one of "ikev1", "ikev2", "any"`}},
		{"nat_ikev1_method on ikev2", loadTestConn(psk + "nat_ikev1_method = \"drafts\"\n"), []string{`key "nat_ikev1_method": only applies to IKEv1`}},
		{"nat_ikev1_method value", loadTestConn(psk + "version = \"ikev1\"\nnat_ikev1_method = \"draft\"\n"), []string{`key "nat_ikev1_method": "draft" is not one of "both", "rfc", "drafts", "none"`}},
		{"split_child_sas on ikev1", loadTestConn(psk + "version = \"ikev1\"\nsplit_child_sas = true\n"), []string{`key "split_child_sas": only applies to version = "ikev2"`}},
		{"send_cert with psk", loadTestConn(psk + "send_cert = \"never\"\n"), []string{`key "send_cert": only applies with auth = "pubkey"`}},
		{"send_cert value", loadTestConn(psk + "send_cert = \"sometimes\"\n"), []string{`key "send_cert": "sometimes" is not one of "always", "ifasked", "never"`}},
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

// TestMetricsListen: metrics_listen is off by default and takes IP:port.
func TestMetricsListen(t *testing.T) {
	for in, want := range map[string]string{"": "", "127.0.0.1:9595": "127.0.0.1:9595", "[::1]:9100": "[::1]:9100", "0.0.0.0:80": "0.0.0.0:80"} {
		src := "[gateway]\nlisten = [\"192.0.2.1\"]\n"
		if in != "" {
			src += fmt.Sprintf("metrics_listen = %q\n", in)
		}
		cfg, err := Parse("m.toml", []byte(src))
		if err != nil {
			t.Fatalf("%q: %v", in, err)
		}
		if got := cfg.Gateway.MetricsListen; got != want {
			t.Errorf("metrics_listen = %q: got %q, want %q", in, got, want)
		}
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

func TestSampleRemoteAccessIKEv1(t *testing.T) {
	cfg, err := Load(filepath.Join("..", "configs", "remote-access-ikev1.toml"))
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.Connections[0]
	if c.Version != IKEv1 || c.IKEv1Mode != "aggressive" || c.Auth != AuthPSK || !c.RemoteAny() ||
		c.XAuth != XAuthLocal || c.Pool != "rw" || c.Unique != UniqueNo || c.AggressivePSK || c.RemoteAuth != RemoteAuthSame {
		t.Errorf("connection: %v", c)
	}
	if c.LocalID.Type != IDFQDN || c.RemoteID.Type != IDKeyID || string(c.RemoteID.Data) != "vpngroup" {
		t.Errorf("identities %v %v", c.LocalID, c.RemoteID)
	}
	if len(cfg.Pools) != 1 || len(cfg.Users) != 2 || cfg.Radius != nil {
		t.Fatalf("pools %v users %v radius %v", cfg.Pools, cfg.Users, cfg.Radius)
	}
	p := cfg.Pools[0]
	if p.Name != "rw" || fmt.Sprint(p.Ranges) != "[{10.9.0.1 10.9.0.254}]" || fmt.Sprint(p.DNS) != "[10.2.0.53]" ||
		p.Domain != "corp.lab" || fmt.Sprint(p.SplitDNS) != "[corp.lab]" || fmt.Sprint(p.SplitInclude) != "[10.2.0.0/24]" ||
		p.SavePassword || !strings.HasPrefix(p.Banner, "ikegate test concentrator.\n") || strings.Count(p.Banner, "\n") != 2 {
		t.Errorf("pool: %+v", p)
	}
	if len(cfg.Groups) != 1 {
		t.Fatalf("groups %v", cfg.Groups)
	}
	if g := cfg.Groups[0]; g.Name != "engineering" || g.Pool != "" || fmt.Sprint(g.SplitInclude) != "[10.2.0.0/24 10.3.0.0/16]" ||
		g.Banner != "ikegate test concentrator: engineering." || len(g.DNS) != 0 {
		t.Errorf("group: %+v", g)
	} else if eff := g.Attributes.Over(p.Attributes); fmt.Sprint(eff.DNS) != "[10.2.0.53]" || eff.Domain != "corp.lab" ||
		eff.Banner != g.Banner || fmt.Sprint(eff.SplitInclude) != fmt.Sprint(g.SplitInclude) {
		t.Errorf("engineering over rw: %+v", eff)
	}
	if u := cfg.Users[0]; u.Name != "alice" || string(u.Password) != "test-only-alice" || fmt.Sprintf("%x", u.NTHash) != fmt.Sprintf("%x", NTPasswordHash([]byte("test-only-alice"))) {
		t.Errorf("alice: %v", u)
	}
	if u := cfg.Users[1]; u.Name != "bob" || u.Password != nil || fmt.Sprintf("%X", u.NTHash) != "44EBBA8D5312B8D611474411F56989AE" {
		t.Errorf("bob: %v", u)
	}
}

// TestNTPasswordHash: RFC 2759 section 9.2's test vector, and a non-ASCII
// password (UTF-16LE of U+20AC is AC 20).
func TestNTPasswordHash(t *testing.T) {
	for _, c := range []struct{ pw, want string }{
		{"clientPass", "44ebba8d5312b8d611474411f56989ae"},
		{"", "31d6cfe0d16ae931b73c59d7e0c089c0"}, // MD4 of nothing
	} {
		if got := fmt.Sprintf("%x", NTPasswordHash([]byte(c.pw))); got != c.want {
			t.Errorf("NTPasswordHash(%q) = %s, want %s", c.pw, got, c.want)
		}
	}
	if a, b := NTPasswordHash([]byte("€")), NTPasswordHash([]byte{0xe2, 0x82, 0xac}); string(a) != string(b) {
		t.Errorf("UTF-8 decoding")
	}
}

// loadTestRA builds a remote-access config: the gateway, then the given
// [[pool]], [[user]] and [radius] text, then one connection made of conn.
func loadTestRA(access, conn string) string {
	return `[gateway]
listen = ["192.0.2.1"]
` + access + `
[[connection]]
name = "c"
local_addr = "192.0.2.1"
remote_addr = "%any"
local_ts = ["10.2.0.0/24"]
` + conn
}

const (
	loadTestPool   = "[[pool]]\nname = \"rw\"\naddresses = [\"10.9.0.0/24\"]\n"
	loadTestUser   = "[[user]]\nname = \"alice\"\npassword = \"alice-secret\"\n"
	loadTestRadius = "[radius]\nservers = [\"10.200.0.2:1812\"]\nsecret = \"radius-secret\"\n"
	loadTestAll    = loadTestPool + loadTestUser + loadTestRadius
)

func TestRemoteAccessParse(t *testing.T) {
	src := loadTestRA(`
[[pool]]
name = "rw"
addresses = ["10.9.0.0/24", "10.9.1.0/31", "10.9.2.10-10.9.2.20", "10.9.3.7"]
dns = ["10.2.0.53", "2001:db8::53"]
nbns = "10.2.0.54"
domain = "corp.lab."
split_dns = ["corp.lab", "_sites.corp.lab"]
split_include = ["10.2.0.0/24", "10.3.0.0/16"]
banner = "line 1\nline 2"
save_password = true

[[pool]]
name = "rw6"
addresses = ["2001:db8:9::/64", "2001:db8:a::1-2001:db8:a::ff"]

[[user]]
name = "alice"
password = "alice-secret"

[[user]]
name = "DOMAIN\\bob"
nt_hash = "44ebba8d5312b8d611474411f56989ae"

[radius]
servers = ["10.200.0.2:1812", "[2001:db8::2]:1645", "radius.lab:1812"]
secret = "radius-secret"
accounting = true
timeout = "500ms"
nas_identifier = "ikegate-1"
`, `psk = "pw"
version = "any"
pool = "rw"
xauth = "radius"
remote_auth = "eap-mschapv2"
unique = "replace"
`)
	cfg, err := Parse("ra.toml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		what      string
		got, want any
	}{
		{"pools", len(cfg.Pools), 2},
		{"ranges", fmt.Sprint(cfg.Pools[0].Ranges), "[{10.9.0.1 10.9.0.254} {10.9.1.0 10.9.1.1} {10.9.2.10 10.9.2.20} {10.9.3.7 10.9.3.7}]"},
		{"dns", fmt.Sprint(cfg.Pools[0].DNS), "[10.2.0.53 2001:db8::53]"},
		{"nbns", fmt.Sprint(cfg.Pools[0].NBNS), "[10.2.0.54]"},
		{"domain", cfg.Pools[0].Domain, "corp.lab."},
		{"split_dns", fmt.Sprint(cfg.Pools[0].SplitDNS), "[corp.lab _sites.corp.lab]"},
		{"split_include", fmt.Sprint(cfg.Pools[0].SplitInclude), "[10.2.0.0/24 10.3.0.0/16]"},
		{"banner", cfg.Pools[0].Banner, "line 1\nline 2"},
		{"save_password", cfg.Pools[0].SavePassword, true},
		{"ipv6 ranges", fmt.Sprint(cfg.Pools[1].Ranges), "[{2001:db8:9:: 2001:db8:9:0:ffff:ffff:ffff:ffff} {2001:db8:a::1 2001:db8:a::ff}]"},
		{"users", len(cfg.Users), 2},
		{"bob", cfg.Users[1].Name, `DOMAIN\bob`},
		{"bob's hash", fmt.Sprintf("%X", cfg.Users[1].NTHash), "44EBBA8D5312B8D611474411F56989AE"},
		{"servers", fmt.Sprint(cfg.Radius.Servers), "[10.200.0.2:1812 [2001:db8::2]:1645 radius.lab:1812]"},
		{"secret", string(cfg.Radius.Secret), "radius-secret"},
		{"accounting", cfg.Radius.Accounting, true},
		{"timeout", cfg.Radius.Timeout, 500 * time.Millisecond},
		{"nas_identifier", cfg.Radius.NASIdentifier, "ikegate-1"},
		{"pool", cfg.Connections[0].Pool, "rw"},
		{"xauth", cfg.Connections[0].XAuth, XAuthRadius},
		{"remote_auth", cfg.Connections[0].RemoteAuth, RemoteAuthEAPMSCHAPv2},
		{"unique", cfg.Connections[0].Unique, UniqueReplace},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %v, want %v", ch.what, ch.got, ch.want)
		}
	}

	// Defaults.
	cfg, err = Parse("ra.toml", []byte(loadTestRA(loadTestAll, "psk = \"pw\"\n")))
	if err != nil {
		t.Fatal(err)
	}
	r, c, p := cfg.Radius, cfg.Connections[0], cfg.Pools[0]
	if r.Timeout != 3*time.Second || r.Accounting || r.NASIdentifier != "" {
		t.Errorf("radius defaults: %v", r)
	}
	if c.Unique != UniqueNo || c.Pool != "" || c.XAuth != XAuthNone || c.RemoteAuth != RemoteAuthSame || c.AggressivePSK {
		t.Errorf("connection defaults: %v", c)
	}
	if p.DNS != nil || p.NBNS != nil || p.SplitInclude != nil || p.SavePassword || p.Banner != "" {
		t.Errorf("pool defaults: %+v", p)
	}
	// Without remote access tables: none.
	cfg, err = Parse("min.toml", []byte(loadTestMinimal))
	if err != nil || cfg.Pools != nil || cfg.Users != nil || cfg.Radius != nil || cfg.Connections[0].Unique != UniqueNo {
		t.Errorf("minimal: %v %+v", err, cfg)
	}
}

// TestRemoteAccessCredentials: remote_auth = "psk" or "pubkey" asks for the
// clients' credential when it differs from auth.
func TestRemoteAccessCredentials(t *testing.T) {
	cd := loadTestCertsDir(t)
	pub := fmt.Sprintf("auth = \"pubkey\"\ncert = %q\nkey = %q\n", filepath.Join(cd, "right.crt.pem"), filepath.Join(cd, "right.key.pem"))
	ca := fmt.Sprintf("ca = [%q]\n", filepath.Join(cd, "ca.pem"))

	cfg, err := Parse("ra.toml", []byte(loadTestRA("", pub+ca+"remote_auth = \"psk\"\npsk = \"client-psk\"\n")))
	if err != nil {
		t.Fatal(err)
	}
	if c := cfg.Connections[0]; c.Auth != AuthPubkey || c.RemoteAuth != RemoteAuthPSK || string(c.PSK) != "client-psk" || c.Key == nil {
		t.Errorf("pubkey + remote psk: %v", c)
	}
	cfg, err = Parse("ra.toml", []byte(loadTestRA("", "psk = \"pw\"\nremote_auth = \"pubkey\"\n"+ca)))
	if err != nil {
		t.Fatal(err)
	}
	if c := cfg.Connections[0]; c.Auth != AuthPSK || c.RemoteAuth != RemoteAuthPubkey || c.CAs == nil || len(c.CACerts) != 1 || c.Cert != nil {
		t.Errorf("psk + remote pubkey: %v", c)
	}
	cfg, err = Parse("ra.toml", []byte(loadTestRA(loadTestUser, pub+ca+"remote_auth = \"eap-mschapv2\"\npool = \"rw\"\n"+"")))
	if err == nil {
		t.Errorf("pool without a [[pool]] accepted")
	}
	cfg, err = Parse("ra.toml", []byte(loadTestRA(loadTestAll, pub+ca+"remote_auth = \"eap-mschapv2\"\npool = \"rw\"\n")))
	if err != nil {
		t.Fatal(err)
	}
	if c := cfg.Connections[0]; c.RemoteAuth != RemoteAuthEAPMSCHAPv2 || c.Pool != "rw" || c.PSK != nil {
		t.Errorf("eap: %v", c)
	}
	// EAP clients have no certificate to check: ca is optional.
	cfg, err = Parse("ra.toml", []byte(loadTestRA(loadTestAll, pub+"remote_auth = \"eap-radius\"\npool = \"rw\"\n")))
	if err != nil {
		t.Fatalf("eap without ca: %v", err)
	}
	if c := cfg.Connections[0]; c.RemoteAuth != RemoteAuthEAPRadius || c.CAs != nil || c.Cert == nil {
		t.Errorf("eap without ca: %v", c)
	}
	// eap_only: with EAP only.
	cfg, err = Parse("ra.toml", []byte(loadTestRA(loadTestAll, pub+"remote_auth = \"eap-radius\"\neap_only = true\n")))
	if err != nil || !cfg.Connections[0].EAPOnly {
		t.Errorf("eap_only with eap-radius: %v", err)
	}
	if _, err := Parse("ra.toml", []byte(loadTestRA("", pub+ca+"eap_only = true\n"))); err == nil || !strings.Contains(err.Error(), "eap_only") {
		t.Errorf("eap_only without EAP: %v", err)
	}
	// A gateway whose clients use certificates still needs one.
	if _, err := Parse("ra.toml", []byte(loadTestRA("", pub))); err == nil || !strings.Contains(err.Error(), "ca") {
		t.Errorf("pubkey without ca: %v", err)
	}
}

// TestAggressivePSK: Aggressive Mode with a PSK needs XAUTH, or an
// explicit allow_aggressive_psk.
func TestAggressivePSK(t *testing.T) {
	const aggr = "version = \"ikev1\"\nikev1_mode = \"aggressive\"\n"
	cd := loadTestCertsDir(t)
	pub := fmt.Sprintf("auth = \"pubkey\"\ncert = %q\nkey = %q\nca = %q\n",
		filepath.Join(cd, "right.crt.pem"), filepath.Join(cd, "right.key.pem"), filepath.Join(cd, "ca.pem"))
	for _, c := range []struct {
		name, conn string
		ok         bool
	}{
		{"psk alone", aggr + "psk = \"pw\"\n", false},
		{"psk, allow_aggressive_psk = false", aggr + "psk = \"pw\"\nallow_aggressive_psk = false\n", false},
		{"psk, allowed", aggr + "psk = \"pw\"\nallow_aggressive_psk = true\n", true},
		{"psk + xauth local", aggr + "psk = \"pw\"\nxauth = \"local\"\n", true},
		{"psk + xauth radius", aggr + "psk = \"pw\"\nxauth = \"radius\"\n", true},
		{"certificates", aggr + pub, true},
		{"main mode", "version = \"ikev1\"\npsk = \"pw\"\n", true},
		{"allow on main mode: harmless", "version = \"ikev1\"\npsk = \"pw\"\nallow_aggressive_psk = true\n", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := Parse("testdata/bad.toml", []byte(loadTestRA(loadTestAll, c.conn)))
			if c.ok {
				if err != nil {
					t.Fatal(err)
				}
				if want := strings.Contains(c.conn, "allow_aggressive_psk = true"); cfg.Connections[0].AggressivePSK != want {
					t.Errorf("AggressivePSK = %v", cfg.Connections[0].AggressivePSK)
				}
				return
			}
			want := `testdata/bad.toml: connection "c" (connection[0]): key "ikev1_mode": Aggressive Mode with a pre-shared key and no XAUTH is refused: ` +
				`anyone who knows the group name (an identity remote_id accepts) can get the gateway's answer, which holds a hash of the PSK ` +
				`that can be cracked offline, and then log in with it; use xauth = "local" or "radius", certificates (auth = "pubkey"), ` +
				`ikev1_mode = "main" or IKEv2, or set allow_aggressive_psk = true to accept the risk (line 19)`
			if err == nil || err.Error() != want {
				t.Errorf("got\n%v\nwant\n%s", err, want)
			}
		})
	}
}

func TestRemoteAccessErrors(t *testing.T) {
	cd := loadTestCertsDir(t)
	pub := fmt.Sprintf("auth = \"pubkey\"\ncert = %q\nkey = %q\nca = %q\n",
		filepath.Join(cd, "right.crt.pem"), filepath.Join(cd, "right.key.pem"), filepath.Join(cd, "ca.pem"))
	psk := "psk = \"pw\"\n"
	pool := func(lines string) string { return "[[pool]]\nname = \"rw\"\n" + lines }
	user := func(lines string) string { return "[[user]]\n" + lines }
	radius := func(lines string) string { return "[radius]\n" + lines }
	const rs = "servers = [\"10.200.0.2:1812\"]\n"
	const sec = "secret = \"radius-secret\"\n"
	cases := []struct {
		name   string
		access string
		conn   string
		want   []string
	}{
		// [[pool]]
		{"pool as table", "[pool]\nname = \"rw\"\n", psk, []string{`bad.toml: key "pool": must be an array of tables ([[pool]]), not a table (write [[pool]], not [pool])`}},
		{"pool name missing", "[[pool]]\naddresses = [\"10.9.0.0/24\"]\n", psk, []string{`bad.toml: pool[0]: key "name": missing: every [[pool]] needs a name (connections refer to it with pool = "...") (line 3)`}},
		{"pool name invalid", "[[pool]]\nname = \"r w\"\naddresses = [\"10.9.0.0/24\"]\n", psk, []string{`pool[0]: key "name": "r w" is not a valid pool name (letters, digits, '.', '_', '-'; starting with a letter or digit) (line 4)`}},
		{"pool name duplicate", loadTestPool + "[[pool]]\nname = \"rw\"\naddresses = [\"10.8.0.0/24\"]\n", psk,
			[]string{`bad.toml: pool "rw" (pool[1]): key "name": duplicate pool name "rw" (also pool[0]) (line 7)`}},
		{"addresses missing", pool(""), psk, []string{`pool "rw" (pool[0]): key "addresses": missing: list the prefixes or first-last ranges to hand out, e.g. addresses = ["10.9.0.0/24"] (line 3)`}},
		{"addresses empty", pool("addresses = []\n"), psk, []string{`key "addresses": must list at least one prefix or first-last range (line 5)`}},
		{"addresses type", pool("addresses = [1]\n"), psk, []string{`key "addresses": must be an array of strings, but element 0 is an integer`}},
		{"address unparsable", pool("addresses = [\"10.9.0\"]\n"), psk, []string{`key "addresses": "10.9.0" is not a prefix (like 10.9.0.0/24), an address or a first-last range`}},
		{"prefix unparsable", pool("addresses = [\"10.9.0.0/33\"]\n"), psk, []string{`key "addresses": "10.9.0.0/33" is not a prefix (like 10.1.0.0/24)`}},
		{"prefix host bits", pool("addresses = [\"10.9.0.1/24\"]\n"), psk, []string{`key "addresses": prefix "10.9.0.1/24" has host bits set (did you mean 10.9.0.0/24?)`}},
		{"range unparsable", pool("addresses = [\"10.9.0.1-10.9.0.x\"]\n"), psk, []string{`key "addresses": range "10.9.0.1-10.9.0.x": "10.9.0.x" is not an IP address`}},
		{"range reversed", pool("addresses = [\"10.9.0.9-10.9.0.1\"]\n"), psk, []string{`key "addresses": range "10.9.0.9-10.9.0.1": the first address is above the last (did you mean 10.9.0.1-10.9.0.9?)`}},
		{"range families", pool("addresses = [\"10.9.0.1-2001:db8::9\"]\n"), psk, []string{`key "addresses": range "10.9.0.1-2001:db8::9" mixes IPv4 and IPv6`}},
		{"pool families", pool("addresses = [\"10.9.0.0/24\", \"2001:db8::/64\"]\n"), psk,
			[]string{`key "addresses": mixes IPv4 and IPv6: a client gets one address from its pool, so use a pool per address family`}},
		{"overlap within", pool("addresses = [\"10.9.0.0/24\", \"10.9.0.128/25\"]\n"), psk, []string{`pool "rw" (pool[0]): key "addresses": "10.9.0.128/25" overlaps "10.9.0.0/24" of the same pool (line 5)`}},
		{"overlap across", loadTestPool + "[[pool]]\nname = \"b\"\naddresses = [\"10.8.0.0/24\", \"10.9.0.200-10.9.1.5\"]\n", psk,
			[]string{`bad.toml: pool "b" (pool[1]): key "addresses": "10.9.0.200-10.9.1.5" overlaps "10.9.0.0/24" of pool "rw": two pools must never hand out the same address (line 8)`}},
		{"overlap ipv6", pool("addresses = [\"2001:db8::/64\", \"2001:db8::5-2001:db8::9\"]\n"), psk, []string{`"2001:db8::5-2001:db8::9" overlaps "2001:db8::/64" of the same pool`}},
		{"dns", pool("addresses = \"10.9.0.0/24\"\ndns = [\"10.2.0\"]\n"), psk, []string{`key "dns": "10.2.0" is not an IP address (line 6)`}},
		{"nbns", pool("addresses = \"10.9.0.0/24\"\nnbns = [\"2001:db8::53\"]\n"), psk, []string{`key "nbns": 2001:db8::53: WINS (NetBIOS name) servers are IPv4 only`}},
		{"domain", pool("addresses = \"10.9.0.0/24\"\ndomain = \"corp lab\"\n"), psk, []string{`key "domain": "corp lab" is not a domain name (labels of letters, digits and '-', separated by dots)`}},
		{"split_dns", pool("addresses = \"10.9.0.0/24\"\nsplit_dns = [\"corp..lab\"]\n"), psk, []string{`key "split_dns": "corp..lab" is not a domain name`}},
		{"split_include", pool("addresses = \"10.9.0.0/24\"\nsplit_include = [\"10.2.0.1/24\"]\n"), psk, []string{`key "split_include": prefix "10.2.0.1/24" has host bits set (did you mean 10.2.0.0/24?)`}},
		{"banner type", pool("addresses = \"10.9.0.0/24\"\nbanner = 1\n"), psk, []string{`key "banner": must be a string, not an integer`}},
		{"save_password type", pool("addresses = \"10.9.0.0/24\"\nsave_password = \"yes\"\n"), psk, []string{`key "save_password": must be a boolean (true or false), not a string`}},
		{"idle_timeout short", pool("addresses = \"10.9.0.0/24\"\nidle_timeout = \"30s\"\n"), psk, []string{`key "idle_timeout": "30s" is out of range: must be from 1m to 168h (leave the key out for none)`}},
		{"idle_timeout syntax", "[[group]]\nname = \"g\"\nidle_timeout = \"5\"\n", psk, []string{`group "g" (group[0]): key "idle_timeout": "5" is not a duration (like "30m")`}},
		{"backup_servers", "[[group]]\nname = \"g\"\nbackup_servers = [\"vpn 2\"]\n", psk, []string{`group "g" (group[0]): key "backup_servers": "vpn 2" is neither an IP address nor a host name`}},
		{"pfs_group", "[[group]]\nname = \"g\"\npfs_group = \"modp2047\"\n", psk, []string{`group "g" (group[0]): key "pfs_group": "modp2047" is not a Diffie-Hellman group keyword (like "modp2048", "ecp256", "x25519")`}},
		{"pool unknown key", pool("adresses = \"10.9.0.0/24\"\n"), psk, []string{`key "addresses": missing`, `key "adresses": unknown key (did you mean "addresses"?)`}},

		// [[group]]
		{"group name missing", "[[group]]\ndomain = \"a.lab\"\n", psk, []string{`bad.toml: group[0]: key "name": missing: every [[group]] needs a name (connections and RADIUS Class attributes refer to it) (line 3)`}},
		{"group name duplicate", "[[group]]\nname = \"eng\"\n[[group]]\nname = \"eng\"\n", psk, []string{`group "eng" (group[1]): key "name": duplicate group name "eng" (also group[0]) (line 6)`}},
		{"group pool unknown", loadTestPool + "[[group]]\nname = \"eng\"\npool = \"rx\"\n", psk, []string{`group "eng" (group[0]): key "pool": no [[pool]] is named "rx" (did you mean "rw"?)`}},
		{"group dns", "[[group]]\nname = \"eng\"\ndns = [\"10.2.0\"]\n", psk, []string{`group "eng" (group[0]): key "dns": "10.2.0" is not an IP address (line 5)`}},
		{"group addresses", "[[group]]\nname = \"eng\"\naddresses = [\"10.9.0.0/24\"]\n", psk, []string{`group "eng" (group[0]): key "addresses": unknown key`}},
		{"group unknown", "[[group]]\nname = \"eng\"\n", psk + "group = \"eng2\"\n", []string{`key "group": no [[group]] is named "eng2" (did you mean "eng"?)`}},

		// [[user]]
		{"user as table", "[user]\nname = \"a\"\n", psk, []string{`bad.toml: key "user": must be an array of tables ([[user]])`}},
		{"user name missing", user("password = \"x\"\n"), psk, []string{`bad.toml: user[0]: key "name": missing: every [[user]] needs a name (line 3)`}},
		{"user name empty", user("name = \"\"\npassword = \"x\"\n"), psk, []string{`user[0]: key "name": must not be empty`}},
		{"user name control", user("name = \"a\\nb\"\npassword = \"x\"\n"), psk, []string{`user[0]: key "name": "a\nb" contains control characters`}},
		{"user duplicate", loadTestUser + user("name = \"alice\"\npassword = \"y\"\n"), psk, []string{`bad.toml: user "alice" (user[1]): key "name": duplicate user name "alice" (also user[0]) (line 7)`}},
		{"user no password", user("name = \"a\"\n"), psk, []string{`user "a" (user[0]): key "password": missing: every [[user]] needs a password or an nt_hash (line 3)`}},
		{"user both", user("name = \"a\"\npassword = \"x\"\nnt_hash = \"44ebba8d5312b8d611474411f56989ae\"\n"), psk, []string{`user "a" (user[0]): key "nt_hash": give either password or nt_hash, not both (line 6)`}},
		{"user empty password", user("name = \"a\"\npassword = \"\"\n"), psk, []string{`key "password": must not be empty`}},
		{"nt_hash short", user("name = \"a\"\nnt_hash = \"44ebba8d\"\n"), psk, []string{`key "nt_hash": must be 32 hex digits (MD4 of the UTF-16LE password, as MSCHAPv2 uses)`}},
		{"nt_hash not hex", user("name = \"a\"\nnt_hash = \"44ebba8d5312b8d611474411f56989zz\"\n"), psk, []string{`key "nt_hash": must be 32 hex digits`}},
		{"user unknown key", user("name = \"a\"\npasswd = \"x\"\n"), psk, []string{`key "passwd": unknown key (did you mean "password"?)`, `key "password": missing`}},

		// [radius]
		{"radius as array", "[[radius]]\nservers = [\"10.200.0.2:1812\"]\n", psk, []string{`bad.toml: key "radius": must be a table ([radius]), not an array`}},
		{"servers missing", radius(sec), psk, []string{`bad.toml: radius: key "servers": missing: list the RADIUS servers, e.g. servers = ["10.200.0.2:1812"] (line 3)`}},
		{"servers empty", radius(sec + "servers = []\n"), psk, []string{`radius: key "servers": must list at least one server (host:port)`}},
		{"server without port", radius(sec + "servers = [\"10.200.0.2\"]\n"), psk, []string{`radius: key "servers": "10.200.0.2" is not host:port (like "10.200.0.2:1812", IPv6 as "[2001:db8::2]:1812")`}},
		{"server port", radius(sec + "servers = [\"10.200.0.2:radius\"]\n"), psk, []string{`radius: key "servers": "10.200.0.2:radius": port "radius" is not a number from 1 to 65535`}},
		{"server port range", radius(sec + "servers = [\"10.200.0.2:70000\"]\n"), psk, []string{`port "70000" is not a number from 1 to 65535`}},
		{"server host", radius(sec + "servers = [\"bad host:1812\"]\n"), psk, []string{`radius: key "servers": "bad host:1812": host "bad host" is neither an IP address nor a host name`}},
		{"server bad ip", radius(sec + "servers = [\"10.200.0:1812\"]\n"), psk, []string{`radius: key "servers": "10.200.0:1812": host "10.200.0" is neither an IP address nor a host name`}},
		{"server twice", radius(sec + "servers = [\"10.200.0.2:1812\", \"10.200.0.2:1812\"]\n"), psk, []string{`radius: key "servers": 10.200.0.2:1812 listed twice`}},
		{"accounting port", radius(sec + "servers = [\"10.200.0.2:65535\"]\naccounting = true\n"), psk, []string{`"10.200.0.2:65535": accounting goes to port+1, and 65535 is the last port`}},
		{"accounting type", radius(sec + rs + "accounting = 1\n"), psk, []string{`radius: key "accounting": must be a boolean (true or false), not an integer`}},
		{"secret missing", radius(rs), psk, []string{`radius: key "secret": missing: the shared secret of the RADIUS servers`}},
		{"secret empty", radius(rs + "secret = \"\"\n"), psk, []string{`radius: key "secret": must not be empty`}},
		{"timeout short", radius(rs + sec + "timeout = \"50ms\"\n"), psk, []string{`radius: key "timeout": "50ms" is out of range: must be from 100ms to 60s (line 6)`}},
		{"timeout long", radius(rs + sec + "timeout = \"2m\"\n"), psk, []string{`radius: key "timeout": "2m" is out of range`}},
		{"timeout syntax", radius(rs + sec + "timeout = \"3\"\n"), psk, []string{`radius: key "timeout": "3" is not a duration (like "3s", "500ms")`}},
		{"interim without accounting", radius(rs + sec + "interim_interval = \"10m\"\n"), psk, []string{`radius: key "interim_interval": needs accounting = true`}},
		{"interim short", radius(rs + sec + "accounting = true\ninterim_interval = \"500ms\"\n"), psk, []string{`radius: key "interim_interval": "500ms" is out of range: must be from 1s to 24h (RFC 2869 advises 60s or more)`}},
		{"interim syntax", radius(rs + sec + "accounting = true\ninterim_interval = \"10\"\n"), psk, []string{`radius: key "interim_interval": "10" is not a duration (like "10m")`}},
		{"nas_identifier", radius(rs + sec + "nas_identifier = \"\"\n"), psk, []string{`radius: key "nas_identifier": must not be empty (leave the key out to send the host name)`}},
		{"radius unknown key", radius(rs + sec + "secrets = \"x\"\n"), psk, []string{`radius: key "secrets": unknown key (did you mean "secret"?)`}},

		// [[connection]]
		{"pool unknown", loadTestPool, psk + "pool = \"rww\"\n", []string{`bad.toml: connection "c" (connection[0]): key "pool": no [[pool]] is named "rww" (did you mean "rw"?) (line 13)`}},
		{"pool list", loadTestPool + "[[pool]]\nname = \"other\"\naddresses = \"10.8.0.0/24\"\n", psk + "pool = \"xyzzy\"\n", []string{`key "pool": no [[pool]] is named "xyzzy" (pools: "other", "rw")`}},
		{"pool without pools", "", psk + "pool = \"rw\"\n", []string{`key "pool": no [[pool]] is named "rw"`}},
		{"pool empty", loadTestPool, psk + "pool = \"\"\n", []string{`key "pool": must not be empty (leave the key out for no address pool)`}},
		{"xauth enum", loadTestAll, psk + "version = \"ikev1\"\nxauth = \"ldap\"\n", []string{`key "xauth": "ldap" is not one of "local", "radius"`}},
		{"xauth on ikev2", loadTestAll, psk + "xauth = \"local\"\n", []string{`key "xauth": only applies to IKEv1 (version = "ikev1" or "any"; this connection is "ikev2"): IKEv2 clients use remote_auth = "eap-mschapv2" or "eap-radius"`}},
		{"xauth local without users", loadTestPool + loadTestRadius, psk + "version = \"ikev1\"\nxauth = \"local\"\n", []string{`key "xauth": "local" checks the local user list, but there is no [[user]]`}},
		{"xauth radius without radius", loadTestPool + loadTestUser, psk + "version = \"any\"\nxauth = \"radius\"\n", []string{`key "xauth": "radius" asks the RADIUS servers, but there is no [radius] table`}},
		{"remote_auth enum", loadTestAll, psk + "remote_auth = \"eap-tls\"\n", []string{`key "remote_auth": "eap-tls" is not one of "psk", "pubkey", "eap-mschapv2", "eap-radius"`}},
		{"remote_auth on ikev1", loadTestAll, psk + "version = \"ikev1\"\nremote_auth = \"eap-mschapv2\"\n", []string{`key "remote_auth": only applies to IKEv2 (this connection is "ikev1"): IKEv1 clients authenticate as auth says, plus xauth for a second round`}},
		{"eap-mschapv2 without users", loadTestRadius, pub + "remote_auth = \"eap-mschapv2\"\n", []string{`key "remote_auth": "eap-mschapv2" checks clients against the local user list, but there is no [[user]]`}},
		{"eap-radius without radius", loadTestUser, pub + "remote_auth = \"eap-radius\"\n", []string{`key "remote_auth": "eap-radius" passes the clients' EAP to the RADIUS servers, but there is no [radius] table`}},
		{"remote psk missing", "", pub + "remote_auth = \"psk\"\n", []string{`key "psk": missing: remote_auth = "psk" needs the clients' pre-shared key`}},
		{"remote pubkey missing ca", "", psk + "remote_auth = \"pubkey\"\n", []string{`key "ca": missing: remote_auth = "pubkey" needs the CA certificates that sign the clients' certificates`}},
		{"ca with psk", "", psk + "ca = \"x.pem\"\n", []string{`key "ca": only used with auth = "pubkey" or remote_auth = "pubkey" (this connection uses auth = "psk")`}},
		{"psk with pubkey", "", pub + psk, []string{`key "psk": only used with auth = "psk" or remote_auth = "psk" (this connection uses auth = "pubkey")`}},
		{"unique enum", "", psk + "unique = \"yes\"\n", []string{`key "unique": "yes" is not one of "no", "never", "keep", "replace"`}},
		{"allow_aggressive_psk type", "", psk + "allow_aggressive_psk = \"true\"\n", []string{`key "allow_aggressive_psk": must be a boolean (true or false), not a string`}},
		{"conn unknown key", "", psk + "xauht = \"local\"\n", []string{`key "xauht": unknown key (did you mean "xauth"?)`}},

		// A table with errors is still declared: no dangling references.
		{"broken pool still declared", pool("addresses = [\"bad\"]\n") + user("name = \"a\"\n") + "[radius]\nsecret = \"s\"\n",
			psk + "version = \"ikev1\"\npool = \"rw\"\nxauth = \"local\"\n[[connection]]\nname = \"d\"\nlocal_addr = \"192.0.2.1\"\nremote_addr = \"%any\"\nlocal_ts = \"10.2.0.0/24\"\npsk = \"x\"\nversion = \"ikev1\"\nxauth = \"radius\"\n",
			[]string{`key "addresses": "bad" is not a prefix`, `key "password": missing`, `radius: key "servers": missing`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src := loadTestRA(c.access, c.conn)
			_, err := Parse("testdata/bad.toml", []byte(src))
			if err == nil {
				t.Fatalf("no error for:\n%s", src)
			}
			msg := err.Error()
			for _, w := range c.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error\n  %s\ndoes not contain\n  %s", strings.ReplaceAll(msg, "\n", "\n  "), w)
				}
			}
			lines := strings.Split(msg, "\n")
			if len(lines) != len(c.want) {
				t.Errorf("%d errors, want %d:\n%s", len(lines), len(c.want), msg)
			}
			for _, line := range lines {
				if !strings.HasPrefix(line, "testdata/bad.toml: ") {
					t.Errorf("error line without the file name: %q", line)
				}
			}
		})
	}
}

// TestErrorsInDocumentOrder: errors come section by section in the order
// of the file, although pools are read before connections.
func TestErrorsInDocumentOrder(t *testing.T) {
	src := `[gateway]
listen = ["192.0.2.1"]

[[connection]]
name = "c"
local_addr = "192.0.2.1"
remote_addr = "%any"
local_ts = "10.2.0.0/24"
psk = "x"
pool = "rw"
unique = "always"

[[pool]]
name = "rw"
addresses = ["10.9.0.9-10.9.0.1"]
`
	_, err := Parse("o.toml", []byte(src))
	want := []string{
		`o.toml: connection "c" (connection[0]): key "unique": "always" is not one of "no", "never", "keep", "replace" (line 11)`,
		`o.toml: pool "rw" (pool[0]): key "addresses": range "10.9.0.9-10.9.0.1": the first address is above the last (did you mean 10.9.0.1-10.9.0.9?) (line 15)`,
	}
	if err == nil || err.Error() != strings.Join(want, "\n") {
		t.Errorf("got\n%v\nwant\n%s", err, strings.Join(want, "\n"))
	}
}

// TestRemoteAccessSecretsNotPrinted: user passwords, NT hashes and the
// RADIUS secret appear in no error and no printed or JSON form.
func TestRemoteAccessSecretsNotPrinted(t *testing.T) {
	const (
		pw     = "UserSecretPw42"
		nt     = "0123456789abcdeffedcba9876543210"
		secret = "RadiusSecret42"
	)
	secrets := []string{pw, nt, strings.ToUpper(nt), secret, "UserSecret", "RadiusSecret", "0123456789abcdef"}
	reveals := func(s string) string {
		for _, x := range secrets {
			if strings.Contains(s, x) || strings.Contains(strings.ToLower(s), fmt.Sprintf("%x", x)) {
				return x
			}
		}
		return ""
	}
	for _, access := range []string{
		// TOML syntax errors at the secrets.
		"[[user]]\nname = \"a\"\npassword = " + pw + "\n",
		"[[user]]\nname = \"a\"\npassword = \"" + pw + "\n",
		"[[user]]\nname = \"a\"\nnt_hash = " + nt + "\n",
		"[[user]]\nname = \"a\"\n\"password\" = '''" + pw + "\n",
		"[radius]\nservers = \"10.200.0.2:1812\"\nsecret = " + secret + "\n",
		"[radius]\nservers = \"10.200.0.2:1812\"\nsecret = \"" + secret + "\n",
		// Semantic errors involving them.
		"[[user]]\nname = \"a\"\nnt_hash = \"" + nt + "0\"\n",
		"[[user]]\nname = \"a\"\nnt_hash = \"" + pw + "\"\n",
		"[[user]]\nname = \"a\"\npassword = \"" + pw + "\"\nnt_hash = \"" + nt + "\"\n",
		"[[user]]\nname = \"a\"\npassword = [\"" + pw + "\"]\n",
		"[[user]]\nname = \"a\"\npassword = \"" + pw + "\"\n", // no connection error: xauth on ikev2 below
		"[radius]\nservers = \"10.200.0.2\"\nsecret = \"" + secret + "\"\n",
		"[radius]\nservers = \"10.200.0.2:1812\"\nsecret = [\"" + secret + "\"]\n",
	} {
		src := loadTestRA(access, "psk = \"pw\"\nxauth = \"local\"\n")
		_, err := Parse("s.toml", []byte(src))
		if err == nil {
			t.Errorf("no error for\n%s", src)
			continue
		}
		if x := reveals(err.Error()); x != "" {
			t.Errorf("error reveals %q: %v", x, err)
		}
	}

	cfg, err := Parse("s.toml", []byte(loadTestRA(
		"[[user]]\nname = \"a\"\npassword = \""+pw+"\"\n[[user]]\nname = \"b\"\nnt_hash = \""+nt+"\"\n"+
			"[radius]\nservers = \"10.200.0.2:1812\"\nsecret = \""+secret+"\"\n",
		"psk = \"pw\"\nversion = \"ikev1\"\nxauth = \"radius\"\n")))
	if err != nil {
		t.Fatal(err)
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%d", "%x", "%X", "%q"} {
		for _, v := range []any{cfg, *cfg, cfg.Users, cfg.Users[0], *cfg.Users[1], cfg.Radius, *cfg.Radius} {
			out := fmt.Sprintf(verb, v)
			if x := reveals(out); x != "" || strings.Contains(out, fmt.Sprint([]byte(pw))) {
				t.Errorf("%s of %T reveals %q: %s", verb, v, x, out)
			}
		}
	}
	js, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if x := reveals(string(js)); x != "" || strings.Contains(string(js), "VXNlclNlY3JldFB3") || strings.Contains(string(js), "UmFkaXVzU2VjcmV0") {
		t.Errorf("JSON reveals %q: %s", x, js)
	}
	for _, w := range []string{`"password":"[redacted]"`, `"nt_hash":"[redacted]"`, `"secret":"[redacted]"`, `"xauth":"radius"`} {
		if !strings.Contains(string(js), w) {
			t.Errorf("JSON lacks %s: %s", w, js)
		}
	}
	if got := cfg.Users[0].String(); got != "a password=[redacted] nt_hash=[redacted]" {
		t.Errorf("User.String: %s", got)
	}
	if got := cfg.Radius.String(); got != "servers=[10.200.0.2:1812] secret=[redacted] accounting=false timeout=3s nas_identifier=-" {
		t.Errorf("Radius.String: %s", got)
	}
	if got := cfg.Connections[0].String(); !strings.HasSuffix(got, " start=none xauth=radius") {
		t.Errorf("Connection.String: %s", got)
	}
}

// TestModeCfgKey: modecfg = "push" makes an IKEv1 gateway push the
// configuration; it needs a pool and IKEv1.
func TestModeCfgKey(t *testing.T) {
	base := `[gateway]
listen = ["10.0.0.1"]
[[pool]]
name = "rw"
addresses = ["10.9.0.0/24"]
[[user]]
name = "alice"
password = "pw"
[[connection]]
name = "rw"
version = "%s"
local_addr = "10.0.0.1"
remote_addr = "%%any"
local_id = "@gw"
remote_id = "%%any"
auth = "psk"
psk = "x"
ike = ["aes128-sha256-modp2048"]
esp = ["aes128-sha256"]
%s
`
	for _, tc := range []struct {
		version, extra, wantErr string
		push                    bool
	}{
		{"ikev1", "xauth = \"local\"\npool = \"rw\"\nmodecfg = \"push\"", "", true},
		{"ikev1", "xauth = \"local\"\npool = \"rw\"\nmodecfg = \"pull\"", "", false},
		{"ikev1", "xauth = \"local\"\nmodecfg = \"push\"", "needs pool", false},
		{"ikev2", "pool = \"rw\"\nmodecfg = \"push\"", "only applies to IKEv1", false},
		{"ikev1", "pool = \"rw\"\nmodecfg = \"both\"", "not one of", false},
	} {
		cfg, err := Parse("t.toml", []byte(fmt.Sprintf(base, tc.version, tc.extra)))
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%s: %v, want an error with %q", tc.extra, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tc.extra, err)
		}
		if got := cfg.Connections[0].ModeCfgPush; got != tc.push {
			t.Errorf("%s: ModeCfgPush %v", tc.extra, got)
		}
	}
}

// TestGroupOfClass: the group a RADIUS Class value names.
func TestGroupOfClass(t *testing.T) {
	for _, c := range []struct{ class, want string }{
		{"engineering", "engineering"},
		{"OU=engineering;", "engineering"},
		{"ou=engineering", "engineering"},
		{" sales ", "sales"},
		{"OU=", "OU="},
		{"", ""},
	} {
		if got := GroupOfClass([]byte(c.class)); got != c.want {
			t.Errorf("GroupOfClass(%q) = %q, want %q", c.class, got, c.want)
		}
	}
}

// TestUnknownTableLines: misspelt [table] and [[array]] headers are
// reported with their lines and the name meant.
func TestUnknownTableLines(t *testing.T) {
	_, err := Parse("typo.toml", []byte("[gatway]\nlisten = [\"127.0.0.1\"]\n\n[[connections]]\nname = \"x\"\n"))
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{`"gatway": unknown key (did you mean "gateway"?) (line 1)`, `"connections": unknown key (did you mean "connection"?) (line 4)`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

// TestPFSKey: pfs is "lenient" by default and when set so, "strict" on
// request, both only on a connection whose esp names no DH group; other
// values and a group in esp are errors with the key and line, a misspelt
// key gets its did-you-mean.
func TestPFSKey(t *testing.T) {
	psk := "remote_addr = \"198.51.100.1\"\npsk = \"pw\"\n"
	for _, c := range []struct {
		name, extra string
		strict      bool
		lenient     bool // LenientPFS()
		err         string
	}{
		{"default", "", false, true, ""},
		{"lenient", "pfs = \"lenient\"\n", false, true, ""},
		{"strict", "pfs = \"strict\"\n", true, false, ""},
		{"ikev1 strict", "version = \"ikev1\"\nesp = [\"aes256-sha256\"]\npfs = \"strict\"\n", true, false, ""},
		{"any version", "version = \"any\"\npfs = \"strict\"\n", true, false, ""},
		{"group in esp, no key", "esp = [\"aes256-sha256-modp2048\"]\n", false, false, ""},
		{"group in esp, strict", "esp = [\"aes256-sha256-modp2048\", \"aes256-sha256\"]\npfs = \"strict\"\n", false, false,
			`bad.toml: connection "c" (connection[0]): key "pfs": only applies when esp names no DH group; esp [AES_CBC_256/HMAC_SHA2_256_128/MODP_2048/NO_ESN, AES_CBC_256/HMAC_SHA2_256_128/NO_ESN] ` +
				`names MODP_2048, so a peer's PFS offer must use one of them: remove pfs, or the groups from esp to let the peer choose (line 10)`},
		{"group in esp, lenient", "esp = [\"aes128gcm16-x25519-ecp256\"]\npfs = \"lenient\"\n", false, false,
			`key "pfs": only applies when esp names no DH group; esp [AES_GCM_16_128/CURVE_25519/ECP_256/NO_ESN] names CURVE_25519, ECP_256, so a peer's PFS offer must use one of them`},
		{"bad value", "pfs = \"relaxed\"\n", false, false,
			`bad.toml: connection "c" (connection[0]): key "pfs": "relaxed" is not one of "lenient", "strict" (line 9)`},
		{"libreswan yes", "pfs = \"yes\"\n", false, false,
			`key "pfs": "yes" is not one of "lenient", "strict"; to ask for PFS, add a DH group to the esp proposals (e.g. "aes256-sha256-modp2048"): pfs only says whether a connection whose esp names no group takes a peer's PFS offer (line 9)`},
		{"a group", "pfs = \"ECP384\"\n", false, false,
			`key "pfs": "ECP384" is not one of "lenient", "strict"; to ask for PFS, add a DH group to the esp proposals (e.g. "aes256-sha256-ecp384")`},
		{"boolean", "pfs = true\n", false, false, `key "pfs": must be a string, not a boolean (line 9)`},
		{"misspelt", "pfss = \"strict\"\n", false, false, `key "pfss": unknown key (did you mean "pfs"?) (line 9)`},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := Parse("testdata/bad.toml", []byte(loadTestConn(psk+c.extra)))
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error\n  %v\nwant it to contain\n  %s", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			conn := cfg.Connections[0]
			if conn.StrictPFS != c.strict || conn.LenientPFS() != c.lenient {
				t.Errorf("StrictPFS %v LenientPFS %v, want %v %v", conn.StrictPFS, conn.LenientPFS(), c.strict, c.lenient)
			}
			js, _ := json.Marshal(conn)
			if got := strings.Contains(string(js), `"pfs":"strict"`); got != c.strict {
				t.Errorf("JSON %s: pfs strict shown %v, want %v", js, got, c.strict)
			}
			if got := strings.Contains(conn.String(), " pfs=strict"); got != c.strict {
				t.Errorf("String %s: pfs=strict shown %v, want %v", conn, got, c.strict)
			}
		})
	}
}

// TestRuntimeKeys: gc_percent, gc_idle_percent, memory_limit and log_sample load as
// written; unset, they leave the runtime and the log alone.
func TestRuntimeKeys(t *testing.T) {
	for _, tc := range []struct {
		keys   string
		gc     int
		limit  int64
		sample int
		idle   int
	}{
		{"", 0, 0, 0, 0},
		{"gc_percent = 200\n", 200, 0, 0, 0},
		{"gc_percent = -1\nmemory_limit = \"1GiB\"\n", -1, 1 << 30, 0, 0},
		{"memory_limit = \"512MiB\"\n", 0, 512 << 20, 0, 0},
		{"memory_limit = \"300 MB\"\n", 0, 300e6, 0, 0},
		{"memory_limit = \"67108864\"\n", 0, 64 << 20, 0, 0},
		{"log_sample = 100\n", 0, 0, 100, 0},
		{"gc_idle_percent = 50\n", 0, 0, 0, 50},
	} {
		cfg, err := Parse("r.toml", []byte("[gateway]\nlisten = [\"192.0.2.1\"]\n"+tc.keys))
		if err != nil {
			t.Fatalf("%q: %v", tc.keys, err)
		}
		if g := cfg.Gateway; g.GCPercent != tc.gc || g.MemoryLimit != tc.limit || g.LogSample != tc.sample || g.GCIdlePercent != tc.idle {
			t.Errorf("%q: gc_percent %d, memory_limit %d, log_sample %d, gc_idle_percent %d; want %d, %d, %d, %d",
				tc.keys, g.GCPercent, g.MemoryLimit, g.LogSample, g.GCIdlePercent, tc.gc, tc.limit, tc.sample, tc.idle)
		}
	}
}
