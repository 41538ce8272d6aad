package importer

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"ikegate/policy"
)

// The corpus tests compare each configuration's import with golden files
// next to it: NAME.toml (the configuration as written to --out) and
// NAME.report. Regenerate them after a deliberate change with
//
//	go test ./internal/importer/ -run 'Corpus' -update
//
// and read the diff.
//

// vendorCase is one configuration of the corpus.
type vendorCase struct {
	file    string
	conns   int  // connections written
	fillPSK bool // the source hides a key (Junos $9$, ASA *****, type 6): the config passes check once psk is filled in
	leftOut bool // something is reported as omitted
}

// vendorCorpus runs the golden-file test for one format's directory.
func vendorCorpus(t *testing.T, format string, cases []vendorCase) {
	t.Helper()
	dir := filepath.Join("testdata", format)
	listed := map[string]bool{}
	for _, tc := range cases {
		listed[tc.file] = true
		t.Run(tc.file, func(t *testing.T) {
			src, err := os.ReadFile(filepath.Join(dir, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			r, err := Import(format, tc.file, src)
			if err != nil {
				t.Fatalf("import: %v", err)
			}
			full, rep := r.TOML(false), r.Report()
			base := strings.TrimSuffix(filepath.Join(dir, tc.file), filepath.Ext(tc.file))
			vendorGolden(t, base+".toml", full)
			vendorGolden(t, base+".report", rep)

			if len(r.Conns) != tc.conns {
				t.Errorf("%d connections, want %d", len(r.Conns), tc.conns)
			}
			if r.LeftOut() != tc.leftOut {
				t.Errorf("LeftOut() = %v, want %v", r.LeftOut(), tc.leftOut)
			}
			vendorCheckLoads(t, r, tc.fillPSK)
			vendorCheckSecrets(t, r)
			vendorCheckLines(t, r, bytes.Count(src, []byte("\n"))+1)
		})
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if ext := filepath.Ext(e.Name()); ext != ".toml" && ext != ".report" && !listed[e.Name()] {
			t.Errorf("%s is in the corpus directory but not in the test table", e.Name())
		}
	}
}

// vendorGolden compares got with the file, or rewrites it with -update.
func vendorGolden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (run with -update and read the diff):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// vendorCheckLoads checks that the written configuration passes
// policy.Parse; with fillPSK, after the keys the source hides are filled in
// (and only then).
func vendorCheckLoads(t *testing.T, r *Result, fillPSK bool) {
	t.Helper()
	full := r.TOML(false)
	_, err := policy.Parse("imported.toml", []byte(full))
	if !fillPSK {
		if err != nil {
			t.Fatalf("the imported configuration does not load: %v\n%s", err, full)
		}
		return
	}
	if err == nil {
		t.Fatalf("marked fillPSK, but the configuration loads without filling in a key")
	}
	filled := 0
	for _, c := range r.Conns {
		if c.Auth == "psk" && c.PSK == "" {
			c.PSK = "filled-in-by-the-test"
			filled++
		}
	}
	if filled == 0 {
		t.Fatalf("marked fillPSK, but no connection lacks its key; the configuration fails for another reason: %v", err)
	}
	if _, err := policy.Parse("imported.toml", []byte(r.TOML(false))); err != nil {
		t.Fatalf("with the keys filled in, the configuration still does not load: %v\n%s", err, r.TOML(false))
	}
}

// vendorCheckSecrets checks that neither the report nor the redacted
// configuration shows a key or password.
func vendorCheckSecrets(t *testing.T, r *Result) {
	t.Helper()
	var secrets []string
	for _, c := range r.Conns {
		if c.PSK != "" {
			secrets = append(secrets, c.PSK)
		}
	}
	for _, tb := range r.Tables {
		for _, kv := range tb.Keys {
			if kv.Secret {
				secrets = append(secrets, strings.Trim(kv.Value, `"`))
			}
		}
	}
	rep, red := r.Report(), r.TOML(true)
	for _, s := range secrets {
		if strings.Contains(rep, s) {
			t.Errorf("the report shows a secret (%d bytes)", len(s))
		}
		if strings.Contains(red, s) {
			t.Errorf("the redacted configuration shows a secret (%d bytes)", len(s))
		}
	}
}

// vendorCheckLines checks that notes and source comments name lines of
// the file, and that every connection names some.
func vendorCheckLines(t *testing.T, r *Result, lines int) {
	t.Helper()
	for _, n := range r.Notes {
		if n.Line < 0 || n.Line > lines {
			t.Errorf("note names line %d of %d: %+v", n.Line, lines, n)
		}
		if n.What == "" || n.Status == "" {
			t.Errorf("empty note %+v", n)
		}
	}
	for _, c := range r.Conns {
		if len(c.Lines) == 0 {
			t.Errorf("connection %s names no source line", c.Name)
		}
		if !sort.IntsAreSorted(c.Lines) {
			t.Errorf("connection %s: lines not sorted: %v", c.Name, c.Lines)
		}
		for _, l := range c.Lines {
			if l < 1 || l > lines {
				t.Errorf("connection %s names line %d of %d", c.Name, l, lines)
			}
		}
	}
}

// vendorRedactedPSK matches a psk line of a redacted configuration that
// is not the placeholder.
var vendorRedactedPSK = regexp.MustCompile(`(?m)^(psk|password) = "(?:[^"(]|\([^s])`)

// vendorFuzzCheck is what every fuzzed input must satisfy: no panic, and
// when it imports, a rendering that shows no secret when redacted.
func vendorFuzzCheck(t *testing.T, format string, data []byte) {
	r, err := Import(format, "fuzz.cfg", data)
	if err != nil {
		if !strings.Contains(err.Error(), "line ") && !strings.Contains(err.Error(), "no ") {
			t.Fatalf("error without a line or reason: %v", err)
		}
		return
	}
	red := r.TOML(true)
	if m := vendorRedactedPSK.FindString(red); m != "" {
		t.Fatalf("redacted configuration shows a secret: %q", m)
	}
	_ = r.TOML(false)
	_ = r.Report()
	for _, c := range r.Conns {
		if c.PSK != "" && len(c.PSK) >= 6 && strings.Contains(r.Report(), c.PSK) {
			t.Fatalf("report shows the PSK of %s", c.Name)
		}
	}
}

// vendorSeeds adds a directory's corpus to a fuzz target.
func vendorSeeds(f *testing.F, dir string, add func([]byte)) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range entries {
		if ext := filepath.Ext(e.Name()); ext == ".toml" || ext == ".report" {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			f.Fatal(err)
		}
		add(b)
	}
}

// TestVendorHelpers covers the shared helpers: durations, masks, ranges,
// selector pairs, PSK text.
func TestVendorHelpers(t *testing.T) {
	for _, tc := range []struct {
		sec  int64
		want string
	}{{28800, "8h"}, {3600, "1h"}, {5400, "1h30m"}, {86400, "24h"}, {45, "45s"}, {3661, "1h1m1s"}, {0, "0s"}} {
		if got := vendorDuration(tc.sec); got != tc.want {
			t.Errorf("vendorDuration(%d) = %q, want %q", tc.sec, got, tc.want)
		}
	}
	for _, tc := range []struct {
		mask string
		wild bool
		bits int
		ok   bool
	}{
		{"255.255.255.0", false, 24, true}, {"0.0.0.255", true, 24, true}, {"255.255.255.255", false, 32, true},
		{"0.0.0.0", false, 0, true}, {"255.0.255.0", false, 0, false}, {"0.0.255.0", true, 0, false}, {"x", false, 0, false},
	} {
		bits, ok := vendorMaskBits(tc.mask, tc.wild)
		if bits != tc.bits || ok != tc.ok {
			t.Errorf("vendorMaskBits(%q, %v) = %d, %v; want %d, %v", tc.mask, tc.wild, bits, ok, tc.bits, tc.ok)
		}
	}
	for _, tc := range []struct {
		a, b string
		want string
	}{
		{"10.0.0.0", "10.0.0.255", "10.0.0.0/24"},
		{"10.0.0.1", "10.0.0.6", "10.0.0.1/32 10.0.0.2/31 10.0.0.4/31 10.0.0.6/32"},
		{"192.0.2.7", "192.0.2.7", "192.0.2.7/32"},
		{"0.0.0.0", "255.255.255.255", "0.0.0.0/0"},
		{"2001:db8::", "2001:db8::ffff", "2001:db8::/112"},
	} {
		got, ok := vendorRange(tc.a, tc.b)
		if !ok || strings.Join(got, " ") != tc.want {
			t.Errorf("vendorRange(%s, %s) = %v, %v; want %s", tc.a, tc.b, got, ok, tc.want)
		}
	}
	if _, ok := vendorRange("10.0.0.9", "10.0.0.1"); ok {
		t.Error("a backwards range was accepted")
	}
	l, r, extra := vendorSelectors([]vendorPair{{"10.1.0.0/24", "10.2.0.0/24"}, {"10.1.0.0/24", "10.3.0.0/24"}, {"10.4.0.0/24", "10.2.0.0/24"}})
	if strings.Join(l, " ") != "10.1.0.0/24 10.4.0.0/24" || strings.Join(r, " ") != "10.2.0.0/24 10.3.0.0/24" ||
		strings.Join(extra, ", ") != "10.4.0.0/24 → 10.3.0.0/24" {
		t.Errorf("vendorSelectors: %v %v %v", l, r, extra)
	}
	for _, tc := range []struct{ key, want string }{{"plain key", "plain key"}, {"0x1234", "0x30783132333"}, {"0sabc", "0x30736162"}} {
		if got, _ := vendorPSK(tc.key); !strings.HasPrefix(got, tc.want) {
			t.Errorf("vendorPSK(%q) = %q, want %q...", tc.key, got, tc.want)
		}
	}
	used := map[string]bool{}
	for _, tc := range []struct{ in, want string }{{"VPN-MAP-10", "VPN-MAP-10"}, {"VPN-MAP-10", "VPN-MAP-10-2"}, {"a b/c", "a-b-c"}, {"_x", "x"}, {"", "conn"}} {
		if got := vendorName(used, tc.in); got != tc.want {
			t.Errorf("vendorName(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
