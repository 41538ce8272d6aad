package importer

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSwanBadInput: input that is not the format is an error naming the
// line, never a panic or a result.
func TestSwanBadInput(t *testing.T) {
	for _, tc := range []struct {
		format, src, want string
	}{
		{Swanctl, "connections {\n  a {\n    version = 2\n", "section \"a\" (line 2) is not closed"},
		{Swanctl, "connections {\n}\n}\n", "line 3: \"}\" closes no section"},
		{Swanctl, "connections {\n  a = \"open\n", "line 2: quoted value not closed"},
		{Swanctl, "conn home\n  left=1.2.3.4\n", "line 1: \"conn\": expected \"=\" or \"{\""},
		{Swanctl, "connections {\n  a : missing {\n  }\n}\n", "line 2: section \"a\" references \"missing\""},
		{Swanctl, "connections {\n  a : b {\n  }\n  b : a {\n  }\n}\n", "references itself"},
		{Swanctl, "a { b = \"x\" y }\n", "line 1: unexpected 'y' after a quoted value"},
		{Swanctl, strings.Repeat("a {", 40), "nested more than 32 deep"},
		{IPsecConf, "connections {\n  gw {\n", "line 1: \"connections {\": expected \"config setup\""},
		{IPsecConf, "\tleft=1.2.3.4\n", "line 1: \"left=1.2.3.4\": a parameter outside a section"},
		{IPsecConf, "conn a\n\tleft 1.2.3.4\n", "line 2: \"left 1.2.3.4\": expected key=value"},
		{IPsecConf, "conn\n", "line 1: \"conn\": a conn section needs one name"},
		{IPsecConf, "conn a\n\tleftid=\"open\n", "line 2: quoted value not closed"},
		{Libreswan, "conn a\n\talso=b\n\tleft=1.2.3.4\nconn b\n\talso=a\n", "also= references form a loop"},
		{Libreswan, "config setup\n\tlisten=1.2.3.4\nfoo bar\n", "line 3: \"foo bar\": expected"},
	} {
		r, err := Import(tc.format, "in.conf", []byte(tc.src))
		if err == nil {
			t.Errorf("%s %q: no error (result %d conns)", tc.format, tc.src, len(r.Conns))
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %q: error %q, want it to contain %q", tc.format, tc.src, err, tc.want)
		}
	}
}

// TestSwanTimes: strongSwan's and Libreswan's times and byte counts, and
// how ikegate writes durations.
func TestSwanTimes(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		toml string
	}{
		{"3600", time.Hour, "1h"},
		{"90s", 90 * time.Second, "1m30s"},
		{"20m", 20 * time.Minute, "20m"},
		{"1.5h", 90 * time.Minute, "1h30m"},
		{"2d", 48 * time.Hour, "48h"},
		{"8h", 8 * time.Hour, "8h"},
		{"3725", 3725 * time.Second, "1h2m5s"},
	} {
		d, err := parseTime(tc.in)
		if err != nil || d != tc.want || durationTOML(d) != tc.toml {
			t.Errorf("parseTime(%q) = %v, %v (%q), want %v (%q)", tc.in, d, err, durationTOML(d), tc.want, tc.toml)
		}
	}
	for _, bad := range []string{"", "h", "-1s", "1x", "1e400"} {
		if _, err := parseTime(bad); err == nil {
			t.Errorf("parseTime(%q) succeeded", bad)
		}
	}
	for _, tc := range []struct {
		in   string
		want uint64
	}{{"1000", 1000}, {"2G", 2 << 30}, {"1GiB", 1 << 30}, {"500k", 500 << 10}, {"3MiB", 3 << 20}} {
		if b, err := parseBytes(tc.in); err != nil || b != tc.want {
			t.Errorf("parseBytes(%q) = %d, %v, want %d", tc.in, b, err, tc.want)
		}
	}
	if _, err := parseBytes("99999999999999999999T"); err == nil {
		t.Error("an overflowing byte count parsed")
	}
}

// TestSwanSelectors: prefixes, addresses, ranges (as the fewest
// prefixes), netmasks and port restrictions.
func TestSwanSelectors(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		lost     bool
	}{
		{"10.1.0.0/16", "10.1.0.0/16", false},
		{"192.0.2.7", "192.0.2.7/32", false},
		{"2001:db8::/48", "2001:db8::/48", false},
		{"10.0.0.0/255.255.255.0", "10.0.0.0/24", false},
		{"10.0.0.1/24", "10.0.0.0/24", true},
		{"10.0.0.0-10.0.0.255", "10.0.0.0/24", false},
		{"10.0.0.1-10.0.0.6", "10.0.0.1/32 10.0.0.2/31 10.0.0.4/31 10.0.0.6/32", false},
		{"0.0.0.0-255.255.255.255", "0.0.0.0/0", false},
		{"10.1.0.0/16[tcp/80]", "10.1.0.0/16", true},
		{"%any", "0.0.0.0/0", false},
	} {
		got, lost, err := selector(tc.in)
		if err != nil || strings.Join(got, " ") != tc.want || (lost != "") != tc.lost {
			t.Errorf("selector(%q) = %v, %q, %v; want %s (lost %v)", tc.in, got, lost, err, tc.want, tc.lost)
		}
	}
	for _, bad := range []string{"10.0.0.9-10.0.0.1", "10.0.0.0/33", "host.example", "10.0.0.0/16[tcp", "10.0.0.1-::1"} {
		if got, _, err := selector(bad); err == nil {
			t.Errorf("selector(%q) = %v, want an error", bad, got)
		}
	}
}

// TestSwanProposals: strongSwan keywords checked against ikegate's, and
// Libreswan's spellings translated.
func TestSwanProposals(t *testing.T) {
	for _, tc := range []struct {
		lsw      bool
		in       string
		esp      bool
		version  string
		want     string // "" when left out
		dropped  int
		remarked bool
	}{
		{false, "aes256-sha256-modp2048", false, "ikev2", "aes256-sha256-modp2048", 0, false},
		{false, "aes256-aes128-sha256-sha1-modp2048", false, "ikev1", "aes256-sha256-modp2048", 0, true},
		{false, "aes256-sha256-modp2048-modp768", false, "ikev2", "aes256-sha256-modp2048", 1, false},
		{false, "des-md5-modp768", false, "ikev1", "", 2, false},
		{false, "aes128gcm16-prfsha256-ecp256", false, "ikev1", "", 0, false},
		{false, "camellia256-sha256", true, "ikev2", "", 1, false},
		{true, "aes256-sha2_256;modp2048", false, "ikev2", "aes256-sha256-modp2048", 0, false},
		{true, "aes_gcm256-null", true, "ikev2", "aes256gcm16", 0, false},
		{true, "aes_gcm_a128", true, "ikev2", "aes128gcm8", 0, false},
		{true, "aes_gcm-sha2;dh19", false, "ikev2", "aes256gcm16-sha256-ecp256", 0, false},
		{true, "aes+aes_ctr128-sha2_512+sha1;dh14+dh31", false, "ikev2", "aes256-aes128ctr-sha512-sha1-modp2048-x25519", 0, false},
		{true, "chacha20_poly1305", true, "ikev2", "chacha20poly1305", 0, false},
		{true, "aes256", false, "ikev2", "aes256-sha256-modp2048", 0, true},
		{true, "3des-md5;dh2", false, "ikev1", "3des-md5-modp1024", 0, false},
		{true, "1des-md5", true, "ikev1", "", 1, false},
		{true, "aes_ccm_c-sha2", true, "ikev2", "", 1, false},
		{true, "3des-md5;modp768", false, "ikev2", "", 1, false}, // not filled in with a sound group
		{true, "aes128-aes_cmac;dh19", false, "ikev2", "", 1, false},
	} {
		var res proposalResult
		if tc.lsw {
			res = mapLswProposal(tc.in, tc.esp, tc.version)
		} else {
			res = mapSwanProposal(tc.in, tc.esp, tc.version)
		}
		got := strings.Join(res.out, ",")
		if got != tc.want || len(res.dropped) != tc.dropped || (res.remark != "") != tc.remarked || (tc.want == "") != (res.err != "") {
			t.Errorf("%q (esp %v, %s): %+v; want %q, %d dropped, remark %v", tc.in, tc.esp, tc.version, res, tc.want, tc.dropped, tc.remarked)
		}
	}
}

// TestSwanSecrets: ipsec.secrets entries (quoted selectors, IPv6, indented
// continuation lines, hex/base64/text secrets) and the choice of the most
// specific entry.
func TestSwanSecrets(t *testing.T) {
	src := `# comment
: PSK "catch-all"
@gw.example.org @peer.example.org : PSK "pair"
2001:db8::1 2001:db8::2 : PSK 0x0102030405
192.0.2.1
    198.51.100.7 : PSK "continued # not a comment"
"carol" : EAP "pw"
@gw.example.org : PSK "0xnot-hex"
bogus line
: RSA gwKey.pem
`
	var out []secret
	r := &Result{}
	readSecretsFile(nil, r, "ipsec.secrets", []byte(src), 0, nil, &out)
	if len(out) != 7 {
		t.Fatalf("%d secrets: %+v", len(out), out)
	}
	if len(r.Notes) != 1 || r.Notes[0].Line != 9 || r.Notes[0].Status != Omitted {
		t.Errorf("notes %+v, want one omitted on line 9", r.Notes)
	}
	for _, tc := range []struct {
		local, remote []string
		want          string
	}{
		{[]string{"@gw.example.org", "192.0.2.1"}, []string{"peer.example.org", ""}, "pair"},
		{[]string{"", "2001:db8::1"}, []string{"", "2001:DB8::2"}, "0x0102030405"},
		{[]string{"", "192.0.2.1"}, []string{"", "198.51.100.7"}, "continued # not a comment"},
		{[]string{"gw.example.org", ""}, []string{"other", ""}, "0x" + "3078" + "6e6f742d686578"},
		{[]string{"x", ""}, []string{"y", ""}, "catch-all"},
	} {
		s, _ := matchSecret(out, "PSK", tc.local, tc.remote)
		if s == nil || s.value != tc.want {
			t.Errorf("match %v %v = %+v, want %q", tc.local, tc.remote, s, tc.want)
		}
	}
	if out[4].kind != "EAP" || out[4].ids[0] != "carol" || out[6].kind != "KEY" || out[6].value != "gwKey.pem" {
		t.Errorf("EAP or key entry: %+v %+v", out[4], out[6])
	}
}

// TestSwanIdentities: Libreswan's ID forms in ikegate's syntax.
func TestSwanIdentities(t *testing.T) {
	im := &icImporter{d: dialectLibreswan}
	for _, tc := range []struct {
		in    string
		local bool
		want  string
		err   bool
	}{
		{"@west", true, "@west", false},
		{"@#0x0102", true, "keyid:#0x0102", true},
		{"@#0102", true, "keyid:#0102", false},
		{"@[GroupName]", false, "keyid:GroupName", false},
		{"%fromcert", false, "%any", false},
		{"%fromcert", true, "", false},
		{"%any", true, "", true},
		{"192.0.2.1", false, "192.0.2.1", false},
		{"C=CA, O=Libreswan, CN=east", false, "C=CA, O=Libreswan, CN=east", false},
		{"%myid", true, "", true},
	} {
		got, _, err := im.endID(tc.in, tc.local)
		if (err != nil) != tc.err || (!tc.err && got != tc.want) {
			t.Errorf("endID(%q, local %v) = %q, %v; want %q (error %v)", tc.in, tc.local, got, err, tc.want, tc.err)
		}
	}
}

// TestSwanWithoutFiles: without the input's directory the secrets are
// missing and said so per connection, includes are not followed.
func TestSwanWithoutFiles(t *testing.T) {
	src := "conn a\n\tleft=192.0.2.1\n\tright=192.0.2.2\n\tauthby=secret\n\tauto=add\ninclude /etc/ipsec.d/*.conf\n"
	r, err := Import(Libreswan, "ipsec.conf", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	rep := r.Report()
	for _, want := range []string{"line 1    omitted      a: no secrets file: set psk by hand", "line 6    omitted      include /etc/ipsec.d/*.conf: not followed"} {
		if !strings.Contains(rep, want) {
			t.Errorf("report lacks %q:\n%s", want, rep)
		}
	}
	if !r.LeftOut() {
		t.Error("LeftOut is false")
	}
}

// swanFuzzSeeds adds the corpus inputs (and their included files) of a
// format as seeds.
func swanFuzzSeeds(f *testing.F, formats ...string) {
	for _, format := range formats {
		err := filepath.Walk(filepath.Join("testdata", format), func(p string, fi os.FileInfo, err error) error {
			if err != nil || fi.IsDir() || strings.HasPrefix(fi.Name(), "want.") {
				return err
			}
			b, err := os.ReadFile(p)
			if err == nil {
				f.Add(b)
			}
			return err
		})
		if err != nil {
			f.Fatal(err)
		}
	}
}

// fuzzImport imports src as format: no panic, an error names a line, and a
// result renders without showing a secret in the report.
func fuzzImport(t *testing.T, format string, src []byte) {
	r, err := Import(format, "fuzz.conf", src)
	if err != nil {
		if !strings.Contains(err.Error(), "line ") {
			t.Errorf("error without a line: %v", err)
		}
		return
	}
	_ = r.TOML(false)
	red, rep := r.TOML(true), r.Report()
	for _, c := range r.Conns {
		// (A PSK that is also written elsewhere in the input may show as
		// that other text.)
		if len(c.PSK) >= 8 && strings.Count(string(src), c.PSK) == 1 && (strings.Contains(rep, c.PSK) || strings.Contains(red, c.PSK)) {
			t.Errorf("PSK %q shows in the report or the redacted configuration", c.PSK)
		}
	}
}

// FuzzSwanctl fuzzes the swanctl.conf importer; seeds: the corpus.
//
//	go test -run=NONE -fuzz=FuzzSwanctl -fuzztime=1m ./internal/importer/
func FuzzSwanctl(f *testing.F) {
	swanFuzzSeeds(f, Swanctl)
	f.Fuzz(func(t *testing.T, src []byte) { fuzzImport(t, Swanctl, src) })
}

// FuzzIPsecConf fuzzes the ipsec.conf importer in both dialects (and the
// ipsec.secrets reader through the secrets seeds); seeds: the corpus.
//
//	go test -run=NONE -fuzz=FuzzIPsecConf -fuzztime=1m ./internal/importer/
func FuzzIPsecConf(f *testing.F) {
	swanFuzzSeeds(f, IPsecConf, Libreswan)
	f.Fuzz(func(t *testing.T, src []byte) {
		fuzzImport(t, IPsecConf, src)
		fuzzImport(t, Libreswan, src)
		var out []secret
		readSecretsFile(nil, &Result{}, "ipsec.secrets", src, 0, nil, &out)
	})
}
