package oakley

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// vector is one entry of a testdata/*.json "vectors" array. Field names
// follow each file's "conventions" block.
type vector map[string]any

func loadVectors(t testing.TB, file string) []vector {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Vectors []vector `json:"vectors"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	if len(f.Vectors) == 0 {
		t.Fatalf("%s: no vectors", file)
	}
	return f.Vectors
}

func (v vector) id() string { return v.str("id") }

func (v vector) str(field string) string {
	s, _ := v[field].(string)
	return s
}

func (v vector) has(field string) bool {
	_, ok := v[field]
	return ok
}

func (v vector) num(field string) int {
	f, _ := v[field].(float64)
	return int(f)
}

func (v vector) hex(t testing.TB, field string) []byte {
	t.Helper()
	s, ok := v[field].(string)
	if !ok {
		t.Fatalf("%s: no string field %q", v.id(), field)
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("%s: field %q: %v", v.id(), field, err)
	}
	return b
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func checkEqual(t testing.TB, what string, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		t.Errorf("%s:\n got  %x\n want %x", what, got, want)
	}
}

// fixedReader returns its bytes in order and then io.EOF-like errors; it
// injects known IVs and private values.
type fixedReader struct{ b []byte }

func (r *fixedReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, errShortRand
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}

type errString string

func (e errString) Error() string { return string(e) }

const errShortRand = errString("fixedReader exhausted")

// countingReader is a deterministic byte stream (0, 1, 2, ...).
type countingReader struct{ n byte }

func (r *countingReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = r.n
		r.n++
	}
	return len(p), nil
}
