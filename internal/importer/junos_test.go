package importer

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestJunosCorpus imports each Junos configuration of testdata/junos and
// compares the result with its golden files (see vendorCorpus).
func TestJunosCorpus(t *testing.T) {
	vendorCorpus(t, Junos, []vendorCase{
		{file: "route-based-ikev1.set", conns: 1},
		{file: "route-based-ikev2-ts.conf", conns: 1, fillPSK: true, leftOut: true},
		{file: "policy-based-proxy-id.set", conns: 2},
		{file: "dynamic-vpn-xauth.set", conns: 1, leftOut: true},
		{file: "hub-legacy.conf", conns: 2, leftOut: true},
	})
}

// TestJunosForms: the brace hierarchy and its `display set` form import
// to the same connections; only the line numbers differ.
func TestJunosForms(t *testing.T) {
	const curly = `interfaces {
    ge-0/0/0 {
        unit 0 {
            family inet {
                address 192.0.2.1/24;
            }
        }
    }
}
security {
    ike {
        proposal P1 {
            authentication-method pre-shared-keys;
            dh-group group19;
            authentication-algorithm sha-256;
            encryption-algorithm aes-128-cbc;
        }
        policy POL {
            mode main;
            proposals [ P1 ];
            pre-shared-key ascii-text "forms-test-key"; ## SECRET-DATA
        }
        gateway GW {
            ike-policy POL;
            address 198.51.100.1;
            external-interface ge-0/0/0.0;
            /* a comment
               over two lines */
            version v2-only;
        }
    }
    ipsec {
        proposal P2 {
            protocol esp;
            encryption-algorithm aes-128-gcm;
        }
        policy IPOL {
            proposals P2;
        }
        vpn V {
            ike {
                gateway GW;
                ipsec-policy IPOL;
                proxy-identity {
                    local 10.1.0.0/16;
                    remote 10.2.0.0/16;
                }
            }
            establish-tunnels immediately;
        }
        inactive: vpn OFF {
            ike {
                gateway GW;
            }
        }
    }
}
`
	const set = `set interfaces ge-0/0/0 unit 0 family inet address 192.0.2.1/24
set security ike proposal P1 authentication-method pre-shared-keys
set security ike proposal P1 dh-group group19
set security ike proposal P1 authentication-algorithm sha-256
set security ike proposal P1 encryption-algorithm aes-128-cbc
set security ike policy POL mode main
set security ike policy POL proposals [ P1 ]
set security ike policy POL pre-shared-key ascii-text "forms-test-key"
set security ike gateway GW ike-policy POL
set security ike gateway GW address 198.51.100.1
set security ike gateway GW external-interface ge-0/0/0.0
set security ike gateway GW version v2-only
set security ipsec proposal P2 protocol esp
set security ipsec proposal P2 encryption-algorithm aes-128-gcm
set security ipsec policy IPOL proposals P2
set security ipsec vpn V ike gateway GW
set security ipsec vpn V ike ipsec-policy IPOL
set security ipsec vpn V ike proxy-identity local 10.1.0.0/16
set security ipsec vpn V ike proxy-identity remote 10.2.0.0/16
set security ipsec vpn V establish-tunnels immediately
set security ipsec vpn OFF ike gateway GW
deactivate security ipsec vpn OFF
`
	a, err := Import(Junos, "curly.conf", []byte(curly))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Import(Junos, "set.conf", []byte(set))
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Conns) != 1 || len(b.Conns) != 1 {
		t.Fatalf("connections: %d and %d, want 1 each", len(a.Conns), len(b.Conns))
	}
	ca, cb := *a.Conns[0], *b.Conns[0]
	ca.Lines, cb.Lines = nil, nil
	if !reflect.DeepEqual(ca, cb) {
		t.Errorf("the two forms differ:\n%s\n%s", a.TOML(true), b.TOML(true))
	}
	want := Conn{Name: "V", Version: "ikev2", LocalAddr: "192.0.2.1", RemoteAddr: "198.51.100.1", Auth: "psk", PSK: "forms-test-key",
		IKE: []string{"aes128-sha256-ecp256"}, ESP: []string{"aes128gcm16"}, LocalTS: []string{"10.1.0.0/16"}, RemoteTS: []string{"10.2.0.0/16"},
		IKELifetime: "8h", Start: "start", DPDAction: "restart"}
	if !reflect.DeepEqual(ca, want) {
		t.Errorf("connection:\n got %+v\nwant %+v", ca, want)
	}
	for _, r := range []*Result{a, b} {
		found := false
		for _, n := range r.Notes {
			found = found || n.Status == Omitted && strings.Contains(n.What, "deactivated")
		}
		if !found {
			t.Errorf("%s: the inactive VPN is not reported:\n%s", r.Source, r.Report())
		}
		vendorCheckLoads(t, r, false)
	}
}

// TestJunosTranslations pins single translations of a gateway, proposal
// or VPN statement.
func TestJunosTranslations(t *testing.T) {
	const base = "set interfaces ge-0/0/0 unit 0 family inet address 192.0.2.1/24\n" +
		"set security ike proposal P1 authentication-method pre-shared-keys\n" +
		"set security ike proposal P1 dh-group group14\n" +
		"set security ike proposal P1 authentication-algorithm sha-256\n" +
		"set security ike proposal P1 encryption-algorithm aes-256-cbc\n" +
		"set security ike policy POL proposals P1\n" +
		"set security ike policy POL pre-shared-key ascii-text \"translation-key\"\n" +
		"set security ike gateway GW ike-policy POL\n" +
		"set security ike gateway GW address 198.51.100.1\n" +
		"set security ike gateway GW external-interface ge-0/0/0\n" +
		"set security ipsec proposal P2 protocol esp\n" +
		"set security ipsec proposal P2 authentication-algorithm hmac-sha-256-128\n" +
		"set security ipsec proposal P2 encryption-algorithm aes-256-cbc\n" +
		"set security ipsec policy IPOL proposals P2\n" +
		"set security ipsec vpn V ike gateway GW\n" +
		"set security ipsec vpn V ike ipsec-policy IPOL\n" +
		"set security ipsec vpn V ike proxy-identity local 10.1.0.0/24\n" +
		"set security ipsec vpn V ike proxy-identity remote 10.2.0.0/24\n"
	for _, tc := range []struct {
		name   string
		extra  string
		check  func(c *Conn, r *Result) bool
		status Status
		what   string
	}{
		{"pfs", "set security ipsec policy IPOL perfect-forward-secrecy keys group19\n",
			func(c *Conn, _ *Result) bool { return c.ESP[0] == "aes256-sha256-ecp256" }, Translated, "ecp256 added"},
		{"dpd", "set security ike gateway GW dead-peer-detection interval 5\nset security ike gateway GW dead-peer-detection threshold 4\n",
			func(c *Conn, _ *Result) bool { return c.DPDDelay == "5s" && c.DPDTimeout == "20s" }, Approximated, "dpd_timeout"},
		{"nat keepalive", "set security ike gateway GW nat-keepalive 15\n",
			func(_ *Conn, r *Result) bool { return r.Gateway["natt_keepalive"] == `"15s"` }, Translated, "natt_keepalive"},
		{"v2-only", "set security ike gateway GW version v2-only\n",
			func(c *Conn, _ *Result) bool { return c.Version == "ikev2" }, Translated, "version = \"ikev2\""},
		{"ike lifetime", "set security ike proposal P1 lifetime-seconds 3600\n",
			func(c *Conn, _ *Result) bool { return c.IKELifetime == "1h" }, Translated, "ike_lifetime"},
		{"kilobytes", "set security ipsec proposal P2 lifetime-kilobytes 2000\n",
			func(c *Conn, _ *Result) bool { return c.ChildLifetimeBytes == 2048000 }, Translated, "child_lifetime_bytes"},
		{"des refused", "set security ipsec proposal P2 encryption-algorithm des-cbc\n",
			func(c *Conn, _ *Result) bool { return len(c.ESP) == 0 }, Omitted, "single DES"},
		{"local identity", "set security ike gateway GW local-identity hostname gw.example.net\n",
			func(c *Conn, _ *Result) bool { return c.LocalID == "@gw.example.net" }, Translated, "local_id"},
		{"hexadecimal key", "set security ike policy POL pre-shared-key hexadecimal 6b6579\n",
			func(c *Conn, _ *Result) bool { return c.PSK == "0x6b6579" }, Translated, "psk"},
		{"$9$ key", "set security ike policy POL pre-shared-key ascii-text \"$9$abcdefg\"\n",
			func(c *Conn, _ *Result) bool { return c.PSK == "" }, Omitted, "fill in psk"},
		{"traffic selector wins over proxy-identity", "set security ipsec vpn V traffic-selector T local-ip 10.9.0.0/24\nset security ipsec vpn V traffic-selector T remote-ip 10.8.0.0/24\n",
			func(c *Conn, _ *Result) bool { return c.LocalTS[0] == "10.9.0.0/24" && c.RemoteTS[0] == "10.8.0.0/24" }, Translated, "traffic-selector"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Import(Junos, "t.set", []byte(base+tc.extra))
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Conns) != 1 || !tc.check(r.Conns[0], r) {
				t.Errorf("not as expected:\n%s\n%s", r.TOML(true), r.Report())
			}
			found := false
			for _, n := range r.Notes {
				found = found || n.Status == tc.status && strings.Contains(n.What, tc.what)
			}
			if !found {
				t.Errorf("no %s note with %q:\n%s", tc.status, tc.what, r.Report())
			}
		})
	}
}

// TestJunosErrors: input that is not Junos fails with the line, never a
// panic.
func TestJunosErrors(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{"security {\n    ike {\n        proposal p {\n", "line 3: block \"proposal p\" is never closed"},
		{"security {\n}\n}\n", "line 3: '}' closes no block"},
		{"security {\n  ike {\n    policy p {\n      pre-shared-key ascii-text \"abc;\n", "line 4: quoted string never closed"},
		{"/* open\nsecurity {\n", "line 1: comment never closed"},
		{"set security ike proposal p dh-group group14\nsecurity {\n", "line 2: a brace in a set-style configuration"},
		{"crypto isakmp policy 10\n", "line 1: a Cisco command"},
		{"conn a\n  left=1.2.3.4\n", "line 1: an ipsec.conf section"},
		{"connections {\n}\n", "line 1: a swanctl.conf section"},
		{"system {\n    host-name a;\n}\n", "no IPsec configuration found"},
		{"\x00\x01", "line 1: not text"},
		{"", "no Junos statements found"},
		{"{\n", "line 1: a block with no name"},
	} {
		_, err := Import(Junos, "bad.conf", []byte(tc.src))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.src, err, tc.want)
		}
	}
}

// FuzzJunos feeds the Junos reader arbitrary input: no panic, errors name
// a line (or say nothing was found), secrets stay out of the printed
// configuration and the report. Seeds: the corpus.
//
//	go test -run=NONE -fuzz=FuzzJunos -fuzztime=1m ./internal/importer/
func FuzzJunos(f *testing.F) {
	vendorSeeds(f, filepath.Join("testdata", Junos), func(b []byte) { f.Add(b) })
	f.Fuzz(func(t *testing.T, data []byte) {
		vendorFuzzCheck(t, Junos, data)
	})
}

// TestJunosAddressSetLoop: an address set that contains itself is
// reported, not expanded for ever.
func TestJunosAddressSetLoop(t *testing.T) {
	src := "set interfaces ge-0/0/0 unit 0 family inet address 192.0.2.1/24\n" +
		"set security zones security-zone untrust interfaces ge-0/0/0.0\n" +
		"set security zones security-zone trust address-book address-set S address-set S\n" +
		"set security zones security-zone untrust address-book address R 10.9.0.0/16\n" +
		"set security ike policy POL pre-shared-key ascii-text \"loop-key\"\n" +
		"set security ike gateway GW ike-policy POL\nset security ike gateway GW address 198.51.100.1\n" +
		"set security ike gateway GW external-interface ge-0/0/0.0\n" +
		"set security ipsec vpn V ike gateway GW\n" +
		"set security policies from-zone trust to-zone untrust policy P match source-address S\n" +
		"set security policies from-zone trust to-zone untrust policy P match destination-address R\n" +
		"set security policies from-zone trust to-zone untrust policy P then permit tunnel ipsec-vpn V\n"
	r, err := Import(Junos, "loop.set", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(r.Report(), "contains itself") {
		t.Errorf("the loop is not reported:\n%s", r.Report())
	}
}
