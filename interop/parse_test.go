package interop

// Offline tests of the harness's own parsers and config generators: they need
// no root and run under plain `go test ./...`.

import (
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
)

// swanctlPretty is real `swanctl --list-sas --pretty` output (strongSwan
// 5.9.8 responder, CHILD SA not installed), plus a CHILD SA in the shape vici
// prints one, to cover lists.
const swanctlPretty = `list-sa event {
  smoke {
    uniqueid = 1
    version = 2
    state = ESTABLISHED
    local-host = 10.200.0.2
    local-port = 4500
    local-id = right.lab
    remote-host = 10.200.0.1
    remote-port = 4500
    remote-id = left.lab
    initiator-spi = a9df7dd25737072e
    responder-spi = a740e84926443588
    encr-alg = AES_CBC
    encr-keysize = 256
    integ-alg = HMAC_SHA2_256_128
    prf-alg = PRF_HMAC_SHA2_256
    dh-group = MODP_2048
    established = 1
    rekey-time = 13768
    child-sas {
    }
  }
}
list-sa event {
  other {
    uniqueid = 2
    version = 1
    state = CONNECTING
    local-id = C=CH, O=ikegate, CN=left
    initiator = yes
    child-sas {
      other-3 {
        name = other
        uniqueid = 3
        state = INSTALLED
        protocol = ESP
        spi-in = c3ff5f93
        spi-out = c1dcc823
        encr-alg = AES_GCM_16
        local-ts = [
          10.201.0.0/24
          10.201.1.0/24
        ]
        remote-ts = [
          10.202.0.0/24
        ]
      }
    }
  }
}
list-sas reply {
}
`

func TestParseSwanctlSAs(t *testing.T) {
	sas, err := ParseSwanctlSAs(swanctlPretty)
	if err != nil {
		t.Fatal(err)
	}
	if len(sas) != 2 {
		t.Fatalf("got %d SAs: %+v", len(sas), sas)
	}
	a := sas[0]
	if a.Name != "smoke" || a.Version != 2 || a.State != "ESTABLISHED" || a.InitSPI != "a9df7dd25737072e" ||
		a.RespSPI != "a740e84926443588" || a.DHGroup != "MODP_2048" || a.Initiator || len(a.Children) != 0 ||
		a.LocalID != "right.lab" || a.Raw["rekey-time"] != "13768" {
		t.Errorf("first SA: %+v", a)
	}
	b := sas[1]
	if b.Version != 1 || !b.Initiator || b.LocalID != "C=CH, O=ikegate, CN=left" || len(b.Children) != 1 {
		t.Fatalf("second SA: %+v", b)
	}
	c := b.Children[0]
	if c.Name != "other" || c.State != "INSTALLED" || c.SPIIn != "c3ff5f93" || c.SPIOut != "c1dcc823" ||
		strings.Join(c.LocalTS, ",") != "10.201.0.0/24,10.201.1.0/24" || strings.Join(c.RemoteTS, ",") != "10.202.0.0/24" {
		t.Errorf("child: %+v", c)
	}
	if _, err := ParseSwanctlSAs("list-sa event {\n  x {\n"); err == nil {
		t.Error("unbalanced output parsed without error")
	}
}

func TestParseShowStates(t *testing.T) {
	// Real Libreswan 4.10 line, an IKEv1 one, and a Child SA one.
	out := `#1: "lsw":4500 STATE_V2_ESTABLISHED_IKE_SA (established IKE SA); REKEY in 28529s; REPLACE in 28799s; newest; idle;
#2: "lsw":4500 STATE_V2_ESTABLISHED_CHILD_SA (established Child SA); REKEY in 28529s; newest; eroute owner;
000 #3: "v1"[1] 10.200.0.1:500 STATE_MAIN_R3 (ISAKMP SA established); REPLACE in 3300s; newest;
#4: "v1"[1] 10.200.0.1:500 STATE_MAIN_R2 (sent Main Mode R2); EVENT_RETRANSMIT in 1s;
`
	st := ParseShowStates(out)
	if len(st) != 4 {
		t.Fatalf("got %d states: %+v", len(st), st)
	}
	want := []struct {
		serial  int
		conn    string
		ike     bool
		settled bool
	}{{1, "lsw", true, true}, {2, "lsw", false, true}, {3, "v1", true, true}, {4, "v1", true, false}}
	for i, w := range want {
		s := st[i]
		if s.Serial != w.serial || s.Conn != w.conn || s.IsIKE != w.ike || s.Settled != w.settled {
			t.Errorf("state %d: %+v, want %+v", i, s, w)
		}
	}
}

func TestIkegateTOMLParses(t *testing.T) {
	peer := pskConn("c1")
	peer.LocalTS, peer.RemoteTS = []string{"10.201.0.0/24"}, []string{"10.202.0.0/24"}
	peer.Start = "start"
	v1 := pskConn("c2")
	v1.Version, v1.Aggressive, v1.PSK = 1, true, `quote"d`
	text := IkegateTOML(IkegateGateway{Listen: []string{RightAddr}}, peer.Mirror(), v1.Mirror())
	var cfg struct {
		Gateway struct {
			Listen    []string
			Dataplane string
			Control   string
			LogLevel  string `toml:"log_level"`
		}
		Connection []map[string]any
	}
	if _, err := toml.Decode(text, &cfg); err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	if cfg.Gateway.Dataplane != "none" || cfg.Gateway.Control != ControlPlaceholder || len(cfg.Connection) != 2 {
		t.Fatalf("%+v\n%s", cfg, text)
	}
	c := cfg.Connection[0]
	if c["name"] != "c1" || c["version"] != "ikev2" || c["local_addr"] != RightAddr || c["remote_addr"] != LeftAddr ||
		c["local_id"] != "@right.lab" || c["start"] != "none" || c["auth"] != "psk" {
		t.Errorf("connection 1: %v", c)
	}
	if ts := c["local_ts"].([]any); len(ts) != 1 || ts[0] != "10.202.0.0/24" {
		t.Errorf("local_ts %v (mirror swaps selectors)", c["local_ts"])
	}
	if c2 := cfg.Connection[1]; c2["version"] != "ikev1" || c2["ikev1_mode"] != "aggressive" || c2["psk"] != `quote"d` {
		t.Errorf("connection 2: %v", c2)
	}
}

func TestLibreswanProposals(t *testing.T) {
	for _, tc := range []struct {
		in     string
		dropDH bool
		want   string
	}{
		{"aes256-sha256-modp2048", false, "aes256-sha2_256-modp2048"},
		{"aes128gcm16-prfsha256-x25519", false, "aes_gcm128-sha2_256-dh31"},
		{"3des-sha1-modp1024", false, "3des-sha1-modp1024"},
		{"aes256-sha256-modp2048", true, "aes256-sha2_256"},
		{"aes128-sha1-ecp256", false, "aes128-sha1-dh19"},
	} {
		if got := LibreswanProposals([]string{tc.in}, tc.dropDH)[0]; got != tc.want {
			t.Errorf("LibreswanProposals(%q, %v) = %q, want %q", tc.in, tc.dropDH, got, tc.want)
		}
	}
}

func TestConfigGenerators(t *testing.T) {
	c := pskConn("gen")
	c.Version, c.Aggressive, c.ESP = 1, true, []string{"aes256-sha256-modp2048"}
	conf, secrets, err := libreswanConf(LibreswanConfig{Conns: []Conn{c}}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ikev1-policy=accept", "ikev2=no", "aggressive=yes", "esp=aes256-sha2_256\n",
		"pfs=yes", "leftupdown=%disabled", "authby=secret", "auto=add"} {
		if !strings.Contains(conf, want) {
			t.Errorf("ipsec.conf lacks %q:\n%s", want, conf)
		}
	}
	if secrets != "@left.lab @right.lab : PSK \"interop-smoke-secret-0123456789\"\n" {
		t.Errorf("ipsec.secrets: %q", secrets)
	}
	sw, err := swanSwanctlConf([]Conn{c}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"version = 1", "aggressive = yes", "proposals = aes256-sha256-modp2048",
		"esp_proposals = aes256-sha256-modp2048", "id-1 = @left.lab", "id-2 = @right.lab"} {
		if !strings.Contains(sw, want) {
			t.Errorf("swanctl.conf lacks %q:\n%s", want, sw)
		}
	}
}
