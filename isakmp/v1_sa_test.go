package isakmp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// mainModeSA is the expected encoding, built by hand from RFC 2408 3.4-3.6,
// RFC 2407 4.2 and RFC 2409 Appendix A, of a Main Mode SA payload with one
// ISAKMP proposal and one KEY_IKE transform: AES-CBC (7) with Key Length
// 256, SHA2-256 (4), pre-shared key (1), group 14, lifetime 28800 seconds
// (sent, as Cisco does, as a four-byte variable attribute).
var mainModeSA = []byte{
	// generic payload header: next = VID (13), reserved, length 60
	0x0d, 0x00, 0x00, 0x3c,
	// DOI: IPsec (1); situation: SIT_IDENTITY_ONLY (1)
	0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01,
	// proposal payload: next 0 (last), reserved, length 48,
	// proposal #1, PROTO_ISAKMP (1), SPI size 0, 1 transform
	0x00, 0x00, 0x00, 0x30, 0x01, 0x01, 0x00, 0x01,
	// transform payload: next 0 (last), reserved, length 40,
	// transform #1, KEY_IKE (1), reserved
	0x00, 0x00, 0x00, 0x28, 0x01, 0x01, 0x00, 0x00,
	// AF=1 | Encryption Algorithm (1): AES-CBC (7)
	0x80, 0x01, 0x00, 0x07,
	// AF=1 | Key Length (14): 256
	0x80, 0x0e, 0x01, 0x00,
	// AF=1 | Hash Algorithm (2): SHA2-256 (4)
	0x80, 0x02, 0x00, 0x04,
	// AF=1 | Authentication Method (3): pre-shared key (1)
	0x80, 0x03, 0x00, 0x01,
	// AF=1 | Group Description (4): 14
	0x80, 0x04, 0x00, 0x0e,
	// AF=1 | Life Type (11): seconds (1)
	0x80, 0x0b, 0x00, 0x01,
	// AF=0 | Life Duration (12), length 4, 28800
	0x00, 0x0c, 0x00, 0x04, 0x00, 0x00, 0x70, 0x80,
}

func mainModeSAValue() *V1SA {
	return &V1SA{DOI: V1DOIIPsec, Situation: V1SitIdentityOnly, Proposals: []V1Proposal{{
		Num: 1, ProtocolID: V1ProtocolISAKMP,
		Transforms: []V1Transform{{Num: 1, ID: V1KeyIKE, Attrs: []Attribute{
			V1AttrTV(V1IKEAttrEncryption, 7), // AES-CBC (oakley.V1EncrAESCBC)
			V1AttrTV(V1IKEAttrKeyLength, 256),
			V1AttrTV(V1IKEAttrHash, 4),       // SHA2-256 (oakley.V1HashSHA2256)
			V1AttrTV(V1IKEAttrAuthMethod, 1), // pre-shared key (oakley.V1AuthPSK)
			V1AttrTV(V1IKEAttrGroupDesc, 14),
			V1AttrTV(V1IKEAttrLifeType, V1LifeSeconds),
			{Type: V1IKEAttrLifeDuration, Value: []byte{0, 0, 0x70, 0x80}},
		}}},
	}}}
}

func TestV1SAByteExact(t *testing.T) {
	b := AppendV1Payloads(nil, []V1Payload{mainModeSAValue(), &V1VendorID{Data: vidDPD}})
	if !bytes.Equal(b[:len(mainModeSA)], mainModeSA) {
		t.Fatalf("SA encoding\n got %x\nwant %x", b[:len(mainModeSA)], mainModeSA)
	}
	ps, err := ParseV1Payloads(V1PayloadSA, b)
	if err != nil {
		t.Fatal(err)
	}
	sa := ps[0].(*V1SA)
	if !reflect.DeepEqual(sa, mainModeSAValue()) {
		t.Fatalf("parsed %#v", sa)
	}
	tr := &sa.Proposals[0].Transforms[0]
	life, ok := tr.Attr(V1IKEAttrLifeDuration)
	if v, err := life.Uint32(); !ok || err != nil || v != 28800 {
		t.Fatalf("life duration = %d, %v, %v", v, ok, err)
	}
	kl, ok := tr.Attr(V1IKEAttrKeyLength)
	if v, err := kl.Uint64(); !ok || err != nil || v != 256 {
		t.Fatalf("key length = %d, %v, %v", v, ok, err)
	}
	if _, ok := tr.Attr(V1IKEAttrPRF); ok {
		t.Fatalf("PRF attribute found")
	}
	// The same SA from the helper that picks TV or TLV: 28800 fits in a TV.
	alt := mainModeSAValue()
	alt.Proposals[0].Transforms[0].Attrs[6] = V1AttrUint(V1IKEAttrLifeDuration, 28800)
	if got := AppendV1Body(nil, alt); len(got) != len(mainModeSA)-4-4 {
		t.Fatalf("TV life duration body is %d bytes", len(got))
	}
}

func TestV1SABundles(t *testing.T) {
	sa := v1IPsecSA()
	got := sa.Bundles()
	if len(got) != 2 || len(got[0]) != 2 || len(got[1]) != 1 ||
		got[0][1].ProtocolID != V1ProtocolIPComp || got[1][0].ProtocolID != ProtocolAH {
		t.Fatalf("Bundles = %+v", got)
	}
	if (&V1SA{}).Bundles() != nil {
		t.Fatalf("empty SA has bundles")
	}
}

func TestV1SAErrors(t *testing.T) {
	good := v1Encoded(mainModeSAValue())
	mod := func(f func(b []byte) []byte) []byte {
		b := f(append([]byte(nil), good...))
		binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
		return b
	}
	const prop, tr = 12, 20 // offsets of the proposal and transform headers
	tests := []struct {
		name string
		b    []byte
		want error
		text string
	}{
		{"short body", mod(func(b []byte) []byte { return b[:11] }), ErrTruncated, "body of 7 bytes, need at least 8"},
		{"no proposals", mod(func(b []byte) []byte { return b[:12] }), ErrMalformed, "no proposals"},
		{"secrecy", mod(func(b []byte) []byte { b[11] = 3; return b }), ErrMalformed, "situation 0x3"},
		{"proposal next 3", mod(func(b []byte) []byte { b[prop] = 3; return b }), ErrMalformed, "proposal 1: last-substructure field 3, want 0 or 2"},
		{"proposal more, none", mod(func(b []byte) []byte { b[prop] = 2; return b }), ErrMalformed, "marked not last"},
		{"proposal last, more", mod(func(b []byte) []byte { return append(b, 0, 0, 0, 8, 2, 1, 0, 0) }), ErrMalformed, "marked last, but 8 bytes follow"},
		{"proposal short", mod(func(b []byte) []byte { b[prop+3] = 7; return b }), ErrMalformed, "proposal 1: length 7 is less than 8"},
		{"transform next 2", mod(func(b []byte) []byte { b[tr] = 2; return b }), ErrMalformed, "transform 1: last-substructure field 2, want 0 or 3"},
		{"transform count", mod(func(b []byte) []byte { b[prop+7] = 2; return b }), ErrMalformed, "1 transforms present, header says 2"},
		{"transform count 0", mod(func(b []byte) []byte { b[prop+7] = 0; return b }), ErrMalformed, "1 transforms present, header says 0"},
		{"SPI size", mod(func(b []byte) []byte { b[prop+6] = 41; return b }), ErrTruncated, "SPI size 41 exceeds remaining 40"},
		{"attribute length", mod(func(b []byte) []byte { b[len(b)-5] = 5; return b }), ErrTruncated, "transform 1: attribute 7: length 5 exceeds remaining 4"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseV1Payloads(V1PayloadSA, tc.b)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("err = %v, want %v containing %q", err, tc.want, tc.text)
			}
		})
	}
}

func TestAttributeUint(t *testing.T) {
	tests := []struct {
		a    Attribute
		want uint64
		err  bool
	}{
		{V1AttrTV(1, 0xbeef), 0xbeef, false},
		{Attribute{Type: 2, Value: []byte{0x70, 0x80}}, 28800, false},
		{Attribute{Type: 2, Value: []byte{0, 1, 0x51, 0x80}}, 86400, false},
		{Attribute{Type: 2, Value: []byte{1, 2, 3, 4, 5, 6, 7, 8}}, 0x0102030405060708, false},
		{Attribute{Type: 2, Value: []byte{0, 0, 1, 2, 3, 4, 5, 6, 7, 8}}, 0x0102030405060708, false},
		{Attribute{Type: 2, Value: []byte{1, 0, 0, 0, 0, 0, 0, 0, 0}}, 0, true},
		{Attribute{Type: 2}, 0, true},
	}
	for i, tc := range tests {
		got, err := tc.a.Uint64()
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("%d: Uint64 = %#x, %v; want %#x, error %v", i, got, err, tc.want, tc.err)
		}
		if err != nil && !errors.Is(err, ErrMalformed) {
			t.Errorf("%d: error %v is not ErrMalformed", i, err)
		}
	}
	if _, err := (Attribute{Type: 2, Value: []byte{1, 0, 0, 0, 0}}).Uint32(); err == nil {
		t.Errorf("Uint32 of 2^32 succeeded")
	}
	if v, err := (Attribute{Type: 2, Value: []byte{0xff, 0xff, 0xff, 0xff}}).Uint32(); err != nil || v != 0xffffffff {
		t.Errorf("Uint32 = %d, %v", v, err)
	}
	if _, err := (Attribute{Type: 2}).Uint32(); err == nil {
		t.Errorf("Uint32 of empty value succeeded")
	}
	for _, v := range []uint64{0, 1, 0xffff, 0x10000, 0xffffffff, 0x100000000, 1<<64 - 1} {
		a := V1AttrUint(V1IPsecAttrLifeDuration, v)
		if got, err := a.Uint64(); err != nil || got != v {
			t.Errorf("V1AttrUint(%d) = %+v -> %d, %v", v, a, got, err)
		}
		wantTV, wantLen := v <= 0xffff, 4
		if v > 0xffffffff {
			wantLen = 8
		}
		if a.TV != wantTV || (!a.TV && len(a.Value) != wantLen) {
			t.Errorf("V1AttrUint(%d) = %+v", v, a)
		}
	}
}
