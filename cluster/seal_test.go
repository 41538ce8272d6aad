package cluster

import (
	"bytes"
	"testing"
	"time"
)

func TestSeal(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	s, err := newSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	plain := []byte(`{"secrets":{"sk_d":"c2VjcmV0"}}`)
	a, b := s.seal("/ikegate/sa/10.0.0.1/x", plain), s.seal("/ikegate/sa/10.0.0.1/x", plain)
	if bytes.Equal(a, b) {
		t.Fatal("two seals of the same record are equal: the nonce is not random")
	}
	if bytes.Contains(a, []byte("c2VjcmV0")) {
		t.Fatal("sealed record contains the plaintext")
	}
	got, err := s.open("/ikegate/sa/10.0.0.1/x", a)
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("open: %q, %v", got, err)
	}
	other, _ := newSealer(bytes.Repeat([]byte{8}, 32))
	flipped := append([]byte(nil), a...)
	flipped[len(flipped)-1] ^= 1
	for _, tc := range []struct {
		name string
		s    *sealer
		key  string
		b    []byte
	}{
		{"other key name", s, "/ikegate/sa/10.0.0.2/x", a},
		{"other state key", other, "/ikegate/sa/10.0.0.1/x", a},
		{"altered", s, "/ikegate/sa/10.0.0.1/x", flipped},
		{"short", s, "/ikegate/sa/10.0.0.1/x", a[:10]},
		{"empty", s, "/ikegate/sa/10.0.0.1/x", nil},
	} {
		if _, err := tc.s.open(tc.key, tc.b); err == nil {
			t.Errorf("%s: opened", tc.name)
		}
	}
}

func FuzzOpen(f *testing.F) {
	s, _ := newSealer(bytes.Repeat([]byte{7}, 32))
	f.Add(s.seal("k", []byte("record")))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		if p, err := s.open("k", b); err == nil && !bytes.Equal(p, []byte("record")) {
			t.Fatalf("forged record opened: %q", p)
		}
	})
}

func TestCeilSecond(t *testing.T) {
	for _, tc := range []struct{ in, want string }{{"0s", "1s"}, {"-2s", "1s"}, {"1ms", "1s"}, {"1s", "1s"}, {"1.5s", "2s"}, {"2.5s", "3s"}} {
		d, _ := parseDur(tc.in)
		w, _ := parseDur(tc.want)
		if got := ceilSecond(d); got != w {
			t.Errorf("ceilSecond(%s) = %v, want %s", tc.in, got, tc.want)
		}
	}
}

func parseDur(s string) (time.Duration, error) { return time.ParseDuration(s) }
