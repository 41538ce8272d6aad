package importer

import (
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"ikegate/policy"
)

// corpusFiles are the Files of one corpus case: the case's directory
// stands for dir (the directory the configuration would be in, e.g.
// /etc/swanctl), so that the paths in the results do not depend on
// where the test runs. Paths outside dir do not exist.
type corpusFiles struct {
	root string // the case's directory
	dir  string // what it stands for
}

func (f corpusFiles) Dir() string { return f.dir }

func (f corpusFiles) real(p string) (string, bool) {
	if path.IsAbs(p) {
		if !strings.HasPrefix(p, f.dir+"/") {
			return "", false
		}
		p = strings.TrimPrefix(p, f.dir+"/")
	}
	if strings.HasPrefix(path.Clean(p), "..") || strings.HasPrefix(path.Base(p), "want.") {
		return "", false
	}
	return filepath.Join(f.root, filepath.FromSlash(p)), true
}

func (f corpusFiles) ReadFile(p string) ([]byte, error) {
	r, ok := f.real(p)
	if !ok {
		return nil, os.ErrNotExist
	}
	return os.ReadFile(r)
}

func (f corpusFiles) Glob(pattern string) ([]string, error) {
	r, ok := f.real(pattern)
	if !ok {
		return nil, nil
	}
	m, err := filepath.Glob(r)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, x := range m {
		rel, err := filepath.Rel(f.root, x)
		if err != nil || strings.HasPrefix(filepath.Base(x), "want.") {
			continue
		}
		rel = filepath.ToSlash(rel)
		if path.IsAbs(pattern) {
			rel = path.Join(f.dir, rel)
		}
		out = append(out, rel)
	}
	sort.Strings(out)
	return out, nil
}

// swanCorpus lists the formats of the corpus, their input file and the
// directory it stands in.
var swanCorpus = []struct {
	format, input, dir string
}{
	{Swanctl, "swanctl.conf", "/etc/swanctl"},
	{IPsecConf, "ipsec.conf", "/etc"},
	{Libreswan, "ipsec.conf", "/etc"},
}

// TestSwanGolden imports every case of the strongSwan and Libreswan corpus
// and compares the configuration and the report with the golden files
// want.toml and want.report (-update rewrites them). Each configuration
// must load (policy.Parse, with the test PKI of configs/certs standing in
// for the certificates it names) unless the case has a want.check file
// with the error expected; no secret may show in the redacted
// configuration or in the report.
func TestSwanGolden(t *testing.T) {
	for _, fc := range swanCorpus {
		cases, err := filepath.Glob(filepath.Join("testdata", fc.format, "*", fc.input))
		if err != nil {
			t.Fatal(err)
		}
		if len(cases) < 5 {
			t.Errorf("%s: %d corpus cases, want at least 5", fc.format, len(cases))
		}
		for _, in := range cases {
			dir := filepath.Dir(in)
			t.Run(fc.format+"/"+filepath.Base(dir), func(t *testing.T) {
				src, err := os.ReadFile(in)
				if err != nil {
					t.Fatal(err)
				}
				r, err := ImportFiles(fc.format, fc.input, src, corpusFiles{root: dir, dir: fc.dir})
				if err != nil {
					t.Fatalf("import: %v", err)
				}
				full, report := r.TOML(false), r.Report()
				golden(t, filepath.Join(dir, "want.toml"), full)
				golden(t, filepath.Join(dir, "want.report"), report)
				checkLoads(t, dir, full)
				checkRedacted(t, r)
				checkLines(t, r, src)
			})
		}
	}
}

// golden compares got with the file, or rewrites it with -update.
func golden(t *testing.T, file, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs (run with -update to accept):\n--- got ---\n%s\n--- want ---\n%s", file, got, want)
	}
}

var (
	certLine    = regexp.MustCompile(`(?m)^cert = .*$`)
	keyLine     = regexp.MustCompile(`(?m)^key = .*$`)
	caLine      = regexp.MustCompile(`(?m)^ca = .*$`)
	localIDLine = regexp.MustCompile(`(?m)^local_id = .*$`)
)

// checkLoads runs the configuration through ikegate's loader. The
// certificates, keys and CAs it names stand on the migrated host; here
// configs/certs' test PKI stands in (and its identity for local_id).
func checkLoads(t *testing.T, dir, full string) {
	t.Helper()
	certs, err := filepath.Abs("../../configs/certs")
	if err != nil {
		t.Fatal(err)
	}
	blocks := strings.Split(full, "[[connection]]")
	for i, b := range blocks {
		if i == 0 || !strings.Contains(b, "\ncert = ") {
			continue
		}
		b = certLine.ReplaceAllString(b, "cert = "+tomlString(filepath.Join(certs, "right.crt.pem")))
		b = keyLine.ReplaceAllString(b, "key = "+tomlString(filepath.Join(certs, "right.key.pem")))
		b = localIDLine.ReplaceAllString(b, `local_id = "C=CH, O=ikegate test, CN=right.lab"`)
		blocks[i] = b
	}
	stand := strings.Join(blocks, "[[connection]]")
	stand = caLine.ReplaceAllString(stand, "ca = "+tomlString(filepath.Join(certs, "ca.pem")))
	_, err = policy.Parse("imported.toml", []byte(stand))
	want, _ := os.ReadFile(filepath.Join(dir, "want.check"))
	switch {
	case len(want) == 0 && err != nil:
		t.Errorf("the configuration does not load: %v\n%s", err, stand)
	case len(want) > 0 && err == nil:
		t.Errorf("the configuration loads; want.check expects an error with %q", strings.TrimSpace(string(want)))
	case len(want) > 0 && !strings.Contains(err.Error(), strings.TrimSpace(string(want))):
		t.Errorf("the configuration does not load with %v; want.check expects %q", err, strings.TrimSpace(string(want)))
	}
}

// checkRedacted: no PSK or password in the printed configuration or the
// report.
func checkRedacted(t *testing.T, r *Result) {
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
	red, rep := r.TOML(true), r.Report()
	for _, s := range secrets {
		if strings.Contains(red, s) || strings.Contains(rep, s) {
			t.Errorf("secret %q shows in the redacted configuration or the report", s)
		}
	}
}

// checkLines: every note of the input names a line that exists, and every
// line of the input with a parameter has a note.
func checkLines(t *testing.T, r *Result, src []byte) {
	t.Helper()
	lines := strings.Split(string(src), "\n")
	noted := map[int]bool{}
	for _, n := range r.Notes {
		if n.File != "" {
			continue
		}
		if n.Line < 0 || n.Line > len(lines) {
			t.Errorf("note on line %d of a %d-line input: %s", n.Line, len(lines), n.What)
		}
		noted[n.Line] = true
	}
	for i, l := range lines {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") || l == "}" || strings.HasSuffix(l, "{") && !strings.Contains(l, "=") {
			continue
		}
		if strings.Contains(l, "=") && !noted[i+1] {
			t.Errorf("line %d %q has no note", i+1, l)
		}
	}
}
