package importer

import (
	"flag"
	"strings"
	"testing"

	"ikegate/policy"
)

// update regenerates the golden files of every format's corpus:
//
//	go test ./internal/importer/ -update
//
// then read the diff.
var update = flag.Bool("update", false, "rewrite the import corpus's golden files")

// TestRender: a Result renders as a configuration that ikegate loads,
// with comments naming the source lines and the PSK only when asked, and
// a report with one line per note and the totals.
func TestRender(t *testing.T) {
	r := &Result{Format: "test", Source: "box.cfg", Listen: []string{"192.0.2.1"},
		Conns: []*Conn{{Name: "peer1", Version: "ikev1", LocalAddr: "192.0.2.1", RemoteAddr: "198.51.100.7",
			Auth: "psk", PSK: "s3cret-key-0123", IKE: []string{"aes256-sha256-modp2048"}, ESP: []string{"aes256-sha256"},
			LocalTS: []string{"10.1.0.0/24"}, RemoteTS: []string{"10.2.0.0/24"}, IKELifetime: "8h", Lines: []int{3, 7}}}}
	r.Note(3, Translated, "crypto map entry 10 → connection peer1")
	r.Note(9, Omitted, "DES is broken: left out")
	full := r.TOML(false)
	if _, err := policy.Parse("imported.toml", []byte(full)); err != nil {
		t.Fatalf("rendered configuration does not load: %v\n%s", err, full)
	}
	if !strings.Contains(full, "# from box.cfg lines 3, 7") || !strings.Contains(full, `psk = "s3cret-key-0123"`) {
		t.Errorf("rendering lacks the source comment or the PSK:\n%s", full)
	}
	if red := r.TOML(true); strings.Contains(red, "s3cret") {
		t.Errorf("redacted rendering shows the PSK:\n%s", red)
	}
	rep := r.Report()
	for _, want := range []string{"line 3", "translated", "line 9", "omitted", "1 connection; 1 translated, 0 approximated, 1 omitted"} {
		if !strings.Contains(rep, want) {
			t.Errorf("report lacks %q:\n%s", want, rep)
		}
	}
	if !r.LeftOut() {
		t.Error("LeftOut is false with an omitted note")
	}
	if _, err := Import("no-such", "x", nil); err == nil {
		t.Error("Import of an unknown format succeeded")
	}
}
