package importer

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// TestCiscoIOSCorpus imports each IOS configuration of testdata/cisco-ios
// and compares the result with its golden files (see vendorCorpus).
func TestCiscoIOSCorpus(t *testing.T) {
	vendorCorpus(t, CiscoIOS, []vendorCase{
		{file: "s2s-ikev1-crypto-map.cfg", conns: 2},
		{file: "s2s-ikev2-profile.cfg", conns: 2, fillPSK: true, leftOut: true},
		{file: "ra-easyvpn-xauth.cfg", conns: 2, leftOut: true},
		{file: "legacy-des-transport.cfg", conns: 2, fillPSK: true, leftOut: true},
		{file: "hub-dynamic-spokes.cfg", conns: 2},
	})
}

// TestCiscoASACorpus does the same for testdata/cisco-asa.
func TestCiscoASACorpus(t *testing.T) {
	vendorCorpus(t, CiscoASA, []vendorCase{
		{file: "s2s-ikev1.cfg", conns: 2, leftOut: true},
		{file: "s2s-ikev2.cfg", conns: 1, leftOut: true},
		{file: "ra-ikev1-xauth.cfg", conns: 2, leftOut: true},
		{file: "s2s-mixed-masked.cfg", conns: 2, fillPSK: true, leftOut: true},
		{file: "legacy-pre84.cfg", conns: 2, leftOut: true},
	})
}

// TestCiscoTranslations pins single translations: what a source line
// becomes in the connection and which status its note has.
func TestCiscoTranslations(t *testing.T) {
	const head = "interface Gi0/0\n ip address 192.0.2.1 255.255.255.0\n crypto map M\n" +
		"crypto isakmp policy 10\n encr aes 256\n hash sha256\n authentication pre-share\n group 14\n" +
		"crypto isakmp key k3y-for-the-test address 198.51.100.1\n" +
		"crypto ipsec transform-set T esp-aes 256 esp-sha256-hmac\n" +
		"ip access-list extended A\n permit ip 10.1.0.0 0.0.0.255 10.2.0.0 0.0.0.255\n"
	const entry = "crypto map M 10 ipsec-isakmp\n set peer 198.51.100.1\n set transform-set T\n match address A\n"
	for _, tc := range []struct {
		name   string
		extra  string // appended to the crypto map entry
		global string // appended to the configuration
		check  func(c *Conn) bool
		status Status
		what   string // in the note
	}{
		{"pfs group14", " set pfs group14\n", "", func(c *Conn) bool { return c.ESP[0] == "aes256-sha256-modp2048" }, Translated, "modp2048 added"},
		{"pfs group1 refused", " set pfs group1\n", "", func(c *Conn) bool { return c.ESP[0] == "aes256-sha256" }, Omitted, "group 1"},
		{"pfs default group on IOS is 1", " set pfs\n", "", func(c *Conn) bool { return c.ESP[0] == "aes256-sha256" }, Omitted, "group 1"},
		{"lifetime seconds", " set security-association lifetime seconds 28800\n", "", func(c *Conn) bool { return c.ChildLifetime == "8h" }, Translated, "child_lifetime"},
		{"lifetime above 24h clamped", " set security-association lifetime seconds 172800\n", "", func(c *Conn) bool { return c.ChildLifetime == "24h" }, Approximated, "maximum"},
		{"kilobytes", " set security-association lifetime kilobytes 1000\n", "", func(c *Conn) bool { return c.ChildLifetimeBytes == 1024000 }, Translated, "child_lifetime_bytes"},
		{"keepalive", "", "crypto isakmp keepalive 10 2\n", func(c *Conn) bool { return c.DPDDelay == "10s" && c.DPDTimeout == "10s" }, Approximated, "dpd_delay"},
		{"identity hostname", "", "hostname R1\nip domain name example.net\ncrypto isakmp identity hostname\n", func(c *Conn) bool { return c.LocalID == "@R1.example.net" }, Translated, "local_id"},
		{"nat keepalive", "", "crypto isakmp nat keepalive 20\n", func(*Conn) bool { return true }, Translated, "natt_keepalive"},
		{"transport mode", "", "crypto ipsec transform-set T2 esp-gcm 256\n mode transport\ncrypto map M 20 ipsec-isakmp\n set peer 198.51.100.2\n set transform-set T2\n match address A\n",
			func(c *Conn) bool { return true }, Translated, "mode = \"transport\""},
		{"backup peer", " set peer 198.51.100.9\n", "", func(c *Conn) bool { return c.RemoteAddr == "198.51.100.1" }, Approximated, "backup peers 198.51.100.9"},
		{"reverse-route left out", " reverse-route static\n", "", func(*Conn) bool { return true }, Omitted, "adds no routes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Import(CiscoIOS, "t.cfg", []byte(head+entry+tc.extra+tc.global))
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Conns) == 0 || !tc.check(r.Conns[0]) {
				t.Errorf("connection not as expected:\n%s", r.TOML(true))
			}
			found := false
			for _, n := range r.Notes {
				found = found || n.Status == tc.status && strings.Contains(n.What, tc.what)
			}
			if !found {
				t.Errorf("no %s note with %q:\n%s", tc.status, tc.what, r.Report())
			}
			if r.Conns[0].PSK != "k3y-for-the-test" {
				t.Errorf("PSK not carried over")
			}
		})
	}
}

// TestCiscoErrors: input that is not a Cisco configuration fails with the
// line, never a panic; the dialects refuse each other's syntax.
func TestCiscoErrors(t *testing.T) {
	for _, tc := range []struct {
		format, src, want string
	}{
		{CiscoIOS, "crypto isakmp policy 1\n encr aes\x00\n", "line 2: not text"},
		{CiscoIOS, "hostname r1\n\xff\xfe\n", "line 2: not text"},
		{CiscoIOS, "set security ike proposal p1 dh-group group14\n", "line 1: a Junos set command"},
		{CiscoIOS, "! x\nsecurity {\n", "line 2: a line ending in a brace"},
		{CiscoIOS, "config setup\nconn a\n", "line 1: an ipsec.conf section"},
		{CiscoIOS, "crypto isakmp policy 1\ntunnel-group 1.2.3.4 type ipsec-l2l\n", "line 2: \"tunnel-group 1.2.3.4 type\" is Cisco ASA syntax"},
		{CiscoASA, "crypto isakmp key abc address 1.2.3.4\n", "line 1: \"crypto isakmp key\" is Cisco IOS syntax"},
		{CiscoASA, "ip access-list extended X\n", "line 1: \"ip access-list extended\" is Cisco IOS syntax"},
		{CiscoIOS, "banner motd ^C\nnever closed\ncrypto isakmp policy 1\n", "line 1: banner text never closed"},
		{CiscoIOS, "hostname r1\ninterface Gi0/0\n ip address 192.0.2.1 255.255.255.0\n", "no IPsec configuration found"},
		{CiscoASA, "", "no IPsec configuration found"},
	} {
		_, err := Import(tc.format, "bad.cfg", []byte(tc.src))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %q: error %v, want %q", tc.format, tc.src, err, tc.want)
		}
	}
}

// TestCiscoShow: the report's quotations of source lines never show a key
// or password.
func TestCiscoShow(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"crypto isakmp key s3cret address 192.0.2.1", "crypto isakmp key (secret) address 192.0.2.1"},
		{"crypto isakmp key 0 s3cret address 192.0.2.1", "crypto isakmp key 0 (secret) address 192.0.2.1"},
		{"pre-shared-key address 192.0.2.1 key s3cret", "pre-shared-key address 192.0.2.1 key (secret)"},
		{"pre-shared-key local s3cret", "pre-shared-key local (secret)"},
		{"ikev1 pre-shared-key s3cret", "ikev1 pre-shared-key (secret)"},
		{"username bob password 0 s3cret", "username bob password 0 (secret)"},
		{"username bob secret 5 $1$hash", "username bob secret 5 (secret)"},
		{"key s3cret", "key (secret)"},
		{"set peer 192.0.2.1", "set peer 192.0.2.1"},
		{"pre-shared-key ascii-text s3cret", "pre-shared-key ascii-text (secret)"},
		{"pre-shared-key hexadecimal 0a0b0c", "pre-shared-key hexadecimal (secret)"},
		{"client bob firewall-user password s3cret", "client bob firewall-user password (secret)"},
		{"radius-server 10.0.0.1 secret s3cret", "radius-server 10.0.0.1 secret (secret)"},
		{"authentication remote pre-share key 0 s3cret", "authentication remote pre-share key 0 (secret)"},
	} {
		if got := ciscoShow(strings.Fields(tc.in)); got != tc.want {
			t.Errorf("ciscoShow(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestCiscoPrompts: commands pasted with their prompts read as the
// indented configuration does.
func TestCiscoPrompts(t *testing.T) {
	src := "R1# configure terminal\n" +
		"R1(config)# crypto isakmp policy 10\n" +
		"R1(config-isakmp)# encr aes 256\n" +
		"R1(config-isakmp)# hash sha256\n" +
		"R1(config-isakmp)# authentication pre-share\n" +
		"R1(config-isakmp)# group 14\n" +
		"R1(config-isakmp)# exit\n" +
		"R1(config)# crypto isakmp key pasted-key-123 address 198.51.100.1\n" +
		"R1(config)# crypto ipsec transform-set T esp-aes 256 esp-sha256-hmac\n" +
		"R1(cfg-crypto-trans)# mode tunnel\n" +
		"R1(config)# ip access-list extended A\n" +
		"R1(config-ext-nacl)# permit ip 10.1.0.0 0.0.0.255 10.2.0.0 0.0.0.255\n" +
		"R1(config)# crypto map M 10 ipsec-isakmp\n" +
		"R1(config-crypto-map)# set peer 198.51.100.1\n" +
		"R1(config-crypto-map)# set transform-set T\n" +
		"R1(config-crypto-map)# match address A\n" +
		"R1(config)# interface Gi0/0\n" +
		"R1(config-if)# ip address 192.0.2.1 255.255.255.0\n" +
		"R1(config-if)# crypto map M\n" +
		"R1(config-if)# end\n"
	r, err := Import(CiscoIOS, "pasted.txt", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Conns) != 1 || r.Conns[0].IKE[0] != "aes256-sha256-modp2048" || r.Conns[0].LocalAddr != "192.0.2.1" {
		t.Fatalf("pasted session not read as a configuration:\n%s\n%s", r.TOML(true), r.Report())
	}
	vendorCheckLoads(t, r, false)
}

// FuzzCisco feeds both dialects arbitrary input: no panic, errors name
// a line (or say nothing was found), secrets stay out of the printed
// configuration and the report. Seeds: the corpus of both dialects.
//
//	go test -run=NONE -fuzz=FuzzCisco -fuzztime=1m ./internal/importer/
func FuzzCisco(f *testing.F) {
	vendorSeeds(f, filepath.Join("testdata", CiscoIOS), func(b []byte) { f.Add(b, false) })
	vendorSeeds(f, filepath.Join("testdata", CiscoASA), func(b []byte) { f.Add(b, true) })
	f.Fuzz(func(t *testing.T, data []byte, asa bool) {
		format := CiscoIOS
		if asa {
			format = CiscoASA
		}
		vendorFuzzCheck(t, format, data)
	})
}

// TestCiscoObjectGroupLoops: object groups that contain themselves, or
// fan out, are reported instead of expanded for ever.
func TestCiscoObjectGroupLoops(t *testing.T) {
	var b strings.Builder
	b.WriteString("interface Gi0/0\n nameif outside\n ip address 192.0.2.1 255.255.255.0\n")
	b.WriteString("object-group network LOOP\n")
	for i := 0; i < 20; i++ {
		b.WriteString(" group-object LOOP\n")
	}
	for g := 0; g < 8; g++ { // each group names the next one ten times
		fmt.Fprintf(&b, "object-group network FAN%d\n", g)
		for i := 0; i < 10; i++ {
			fmt.Fprintf(&b, " group-object FAN%d\n", g+1)
		}
	}
	b.WriteString("object-group network FAN8\n network-object 10.1.0.0 255.255.0.0\n")
	b.WriteString("access-list A extended permit ip object-group LOOP 10.2.0.0 255.255.0.0\n")
	b.WriteString("access-list A extended permit ip object-group FAN0 10.3.0.0 255.255.0.0\n")
	b.WriteString("crypto ipsec ikev1 transform-set T esp-aes-256 esp-sha-hmac\n" +
		"crypto map M 10 match address A\ncrypto map M 10 set peer 198.51.100.1\ncrypto map M 10 set ikev1 transform-set T\n" +
		"crypto map M interface outside\ncrypto ikev1 policy 10\n authentication pre-share\n encryption aes-256\n hash sha\n group 14\n" +
		"tunnel-group 198.51.100.1 type ipsec-l2l\ntunnel-group 198.51.100.1 ipsec-attributes\n ikev1 pre-shared-key loop-test-key\n")
	r, err := Import(CiscoASA, "loop.cfg", []byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Conns) != 1 || strings.Join(r.Conns[0].LocalTS, " ") != "10.1.0.0/16" {
		t.Fatalf("want one connection from 10.1.0.0/16:\n%s\n%s", r.TOML(true), r.Report())
	}
	if !strings.Contains(r.Report(), "contains itself") {
		t.Errorf("the loop is not reported:\n%s", r.Report())
	}
}
