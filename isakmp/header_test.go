package isakmp

import (
	"bytes"
	"errors"
	"testing"
)

func TestHeaderRoundTrip(t *testing.T) {
	h := Header{
		SPIi: 0x0102030405060708, SPIr: 0x1112131415161718,
		NextPayload: PayloadSK, MajorVersion: 2, MinorVersion: 0,
		Exchange: ExchangeIKEAuth, Flags: FlagInitiator, MessageID: 1, Length: 28,
	}
	want := []byte{
		1, 2, 3, 4, 5, 6, 7, 8,
		0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18,
		46, 0x20, 35, 0x08,
		0, 0, 0, 1,
		0, 0, 0, 28,
	}
	b := h.AppendTo(nil)
	if !bytes.Equal(b, want) {
		t.Fatalf("AppendTo = %x, want %x", b, want)
	}
	got, err := ParseHeader(b)
	if err != nil || got != h {
		t.Fatalf("ParseHeader = %+v, %v", got, err)
	}
	if v, err := PeekVersion(b); v != 2 || err != nil {
		t.Fatalf("PeekVersion = %d, %v", v, err)
	}
	if s, ok := PeekSPIi(b); s != h.SPIi || !ok {
		t.Fatalf("PeekSPIi = %x, %v", s, ok)
	}
	if s, ok := PeekSPIr(b); s != h.SPIr || !ok {
		t.Fatalf("PeekSPIr = %x, %v", s, ok)
	}
	// IKEv1 major 1, minor 0.
	b[17] = 0x10
	if v, _ := PeekVersion(b); v != 1 {
		t.Fatalf("PeekVersion = %d", v)
	}
}

func TestHeaderErrors(t *testing.T) {
	good := (&Header{MajorVersion: 2, Length: 30}).AppendTo(nil)
	good = append(good, 0, 0)
	withLen := func(n byte) []byte {
		c := append([]byte(nil), good...)
		c[27] = n
		return c
	}
	tests := []struct {
		name string
		b    []byte
		want error
	}{
		{"ok", good, nil},
		{"ok, trailing ignored", append(withLen(28), 0), nil},
		{"length below header", withLen(27), ErrMalformed},
		{"length zero", withLen(0), ErrMalformed},
		{"length past data", withLen(31), ErrTruncated},
	}
	for n := 0; n < HeaderLen; n++ {
		tests = append(tests, struct {
			name string
			b    []byte
			want error
		}{"prefix", good[:n], ErrTruncated})
	}
	for _, tc := range tests {
		_, err := ParseHeader(tc.b)
		if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
			t.Errorf("%s (%d bytes): err = %v, want %v", tc.name, len(tc.b), err, tc.want)
		}
		if len(tc.b) < HeaderLen {
			if _, err := PeekVersion(tc.b); !errors.Is(err, ErrTruncated) {
				t.Errorf("PeekVersion(%d bytes): %v", len(tc.b), err)
			}
			if _, ok := PeekSPIi(tc.b); ok {
				t.Errorf("PeekSPIi(%d bytes) ok", len(tc.b))
			}
			if _, ok := PeekSPIr(tc.b); ok {
				t.Errorf("PeekSPIr(%d bytes) ok", len(tc.b))
			}
		}
	}
}

func TestExchangeTypeString(t *testing.T) {
	for _, tc := range []struct {
		e    ExchangeType
		want string
	}{
		{ExchangeIKESAInit, "IKE_SA_INIT"}, {ExchangeIKEAuth, "IKE_AUTH"},
		{ExchangeCreateChildSA, "CREATE_CHILD_SA"}, {ExchangeInformational, "INFORMATIONAL"},
		{ExchangeV1Main, "ID_PROT"}, {ExchangeType(99), "ExchangeType(99)"},
	} {
		if got := tc.e.String(); got != tc.want {
			t.Errorf("%d: %q, want %q", uint8(tc.e), got, tc.want)
		}
	}
}
