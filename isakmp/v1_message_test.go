package isakmp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

// mainModeMsg1 is a Main Mode message 1 built by hand from RFC 2408 3.1
// and 3.16: HDR, SA, VID(RFC 3947), VID(DPD), VID(fragmentation).
func mainModeMsg1() []byte {
	var b []byte
	b = append(b,
		0x8a, 0x1b, 0x3c, 0x4d, 0x5e, 0x6f, 0x70, 0x81, // initiator cookie
		0, 0, 0, 0, 0, 0, 0, 0, // responder cookie
		0x01,       // next: SA
		0x10,       // version 1.0
		0x02,       // Identity Protection (Main Mode)
		0x00,       // no flags
		0, 0, 0, 0, // message ID 0
		0x00, 0x00, 0x00, 0x94, // length 148
	)
	b = append(b, mainModeSA...) // next: VID
	b = append(b, 0x0d, 0x00, 0x00, 0x14)
	b = append(b, vidRFC3947...)
	b = append(b, 0x0d, 0x00, 0x00, 0x14)
	b = append(b, vidDPD...)
	b = append(b, 0x00, 0x00, 0x00, 0x14)
	b = append(b, vidFrag...)
	return b
}

func mainModeMsg1Value() *V1Message {
	return &V1Message{
		Header: Header{
			SPIi: 0x8a1b3c4d5e6f7081, NextPayload: PayloadType(V1PayloadSA), MajorVersion: 1,
			Exchange: ExchangeV1Main, Length: 148,
		},
		Payloads: []V1Payload{
			mainModeSAValue(),
			&V1VendorID{Data: vidRFC3947},
			&V1VendorID{Data: vidDPD},
			&V1VendorID{Data: vidFrag},
		},
	}
}

// mainModeMsg5 is an encrypted Main Mode message 5: HDR*, with the first
// encrypted payload an ID; the body is opaque.
func mainModeMsg5() *V1Message {
	return &V1Message{
		Header: Header{
			SPIi: 0x8a1b3c4d5e6f7081, SPIr: 0x0102030405060708, NextPayload: PayloadType(V1PayloadID),
			MajorVersion: 1, Exchange: ExchangeV1Main, Flags: V1FlagEncryption,
		},
		Encrypted: seq(64, 0x33),
	}
}

// quickModePayloads is the plaintext of a Quick Mode message 1 with PFS
// and client IDs: HASH(1), SA, Ni, KE, IDci, IDcr.
func quickModePayloads() []V1Payload {
	ci := NewV1IDSubnet(netip.MustParsePrefix("10.1.0.0/16"), 0, 0)
	cr := NewV1IDSubnet(netip.MustParsePrefix("10.2.0.0/16"), 0, 0)
	return []V1Payload{
		&V1Hash{Data: seq(32, 0x10)},
		v1IPsecSA(),
		&V1Nonce{Data: seq(32, 0x50)},
		&V1KE{Data: seq(256, 0x70)},
		&ci, &cr,
	}
}

func TestParseV1MainMode1(t *testing.T) {
	raw := mainModeMsg1()
	if len(raw) != 148 {
		t.Fatalf("hand-built message is %d bytes", len(raw))
	}
	m, err := ParseV1Message(raw)
	if err != nil {
		t.Fatal(err)
	}
	want := mainModeMsg1Value()
	if !reflect.DeepEqual(m, want) {
		t.Fatalf("parsed\n%#v\nwant\n%#v", m, want)
	}
	if m.NextV1() != V1PayloadSA {
		t.Fatalf("NextV1 = %s", m.NextV1())
	}
	want.Header.NextPayload, want.Header.Length = 0, 0
	if got := want.Marshal(); !bytes.Equal(got, raw) {
		t.Fatalf("Marshal\n got %x\nwant %x", got, raw)
	}
	if want.Header.NextPayload != PayloadType(V1PayloadSA) || want.Header.Length != 148 {
		t.Fatalf("Marshal did not fill the header: %+v", want.Header)
	}
	// The IKEv2 parser refuses it, the dispatcher's peek sees version 1.
	if _, err := ParseMessage(raw); !errors.Is(err, ErrUnsupportedVersion) {
		t.Fatalf("ParseMessage: %v", err)
	}
	if v, _ := PeekVersion(raw); v != 1 {
		t.Fatalf("PeekVersion = %d", v)
	}
}

func TestV1EncryptedMessage(t *testing.T) {
	m := mainModeMsg5()
	raw := m.Marshal()
	if len(raw) != HeaderLen+64 || m.Header.Length != uint32(len(raw)) || !bytes.Equal(raw[HeaderLen:], seq(64, 0x33)) {
		t.Fatalf("marshalled %x", raw)
	}
	if raw[16] != byte(V1PayloadID) || raw[19] != V1FlagEncryption {
		t.Fatalf("header %x", raw[:HeaderLen])
	}
	got, err := ParseV1Message(raw)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, m) || got.Payloads != nil {
		t.Fatalf("round trip:\n got %#v\nwant %#v", got, m)
	}
	raw[HeaderLen] ^= 0xff
	if got.Encrypted[0] != 0x33 {
		t.Fatalf("Encrypted aliases the input")
	}
	// Bytes past Length are not part of the ciphertext.
	long := append(append([]byte(nil), raw...), 1, 2, 3)
	got, err = ParseV1Message(long)
	if err != nil || len(got.Encrypted) != 64 {
		t.Fatalf("with trailing bytes: %v, %d", err, len(got.Encrypted))
	}
	// The header alone: an empty ciphertext, left to the engine to reject.
	h := raw[:HeaderLen:HeaderLen]
	binary.BigEndian.PutUint32(h[24:], HeaderLen)
	if got, err := ParseV1Message(h); err != nil || got.Encrypted != nil {
		t.Fatalf("empty ciphertext: %#v, %v", got, err)
	}
}

func TestV1QuickModePlaintext(t *testing.T) {
	ps := quickModePayloads()
	body := AppendV1Payloads(nil, ps)
	// After decryption the plaintext carries the block cipher's padding.
	padded := append(append([]byte(nil), body...), 0, 0, 0, 0, 0, 0, 0, 7)
	got, n, err := ParseV1PayloadsLen(V1PayloadHASH, padded)
	if err != nil {
		t.Fatal(err)
	}
	if n != len(body) || !reflect.DeepEqual(got, ps) {
		t.Fatalf("n = %d of %d; payloads %#v", n, len(body), got)
	}
	ci, cr := got[4].(*V1ID), got[5].(*V1ID)
	if p, err := ci.Prefix(); err != nil || p != netip.MustParsePrefix("10.1.0.0/16") {
		t.Fatalf("IDci = %v, %v", p, err)
	}
	if p, err := cr.Prefix(); err != nil || p != netip.MustParsePrefix("10.2.0.0/16") {
		t.Fatalf("IDcr = %v, %v", p, err)
	}
	// As a plaintext message (as the engine would build it before
	// encryption), it round trips and every prefix fails.
	m := &V1Message{Header: Header{SPIi: 1, SPIr: 2, MajorVersion: 1, Exchange: ExchangeV1Quick, MessageID: 0xdeadbeef}, Payloads: ps}
	raw := m.Marshal()
	if !bytes.Equal(raw[HeaderLen:], body) || raw[16] != byte(V1PayloadHASH) {
		t.Fatalf("message body differs from the chain")
	}
	m2, err := ParseV1Message(raw)
	if err != nil || !reflect.DeepEqual(m2, m) {
		t.Fatalf("round trip: %v", err)
	}
}

func TestV1MessageRoundTrip(t *testing.T) {
	var all []V1Payload
	for _, s := range v1Samples() {
		all = append(all, s.p)
	}
	tests := []struct {
		name string
		m    *V1Message
	}{
		{"main mode 1", mainModeMsg1Value()},
		{"main mode 5 encrypted", mainModeMsg5()},
		{"quick mode plaintext", &V1Message{Header: Header{MajorVersion: 1, Exchange: ExchangeV1Quick, MessageID: 5}, Payloads: quickModePayloads()}},
		{"every payload", &V1Message{Header: Header{MajorVersion: 1, Exchange: ExchangeV1Informational, Flags: V1FlagCommit | V1FlagAuthOnly, MessageID: 9}, Payloads: all}},
		{"aggressive", &V1Message{Header: Header{SPIi: 7, MajorVersion: 1, Exchange: ExchangeV1Aggressive}, Payloads: []V1Payload{
			mainModeSAValue(), &V1KE{Data: seq(256, 1)}, &V1Nonce{Data: seq(20, 2)}, &V1ID{IDType: V1IDFQDN, Data: []byte("a.example")},
			&V1VendorID{Data: vidRFC3947}}}},
		{"fragment", &V1Message{Header: Header{SPIi: 7, SPIr: 8, MajorVersion: 1, Exchange: ExchangeV1Main}, Payloads: []V1Payload{
			&V1Frag{ID: 1, Num: 2, Last: true, Data: seq(300, 0)}}}},
		{"empty", &V1Message{Header: Header{MajorVersion: 1, Exchange: ExchangeV1Informational}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			raw := tc.m.Marshal()
			if int(tc.m.Header.Length) != len(raw) {
				t.Fatalf("Header.Length %d, marshalled %d", tc.m.Header.Length, len(raw))
			}
			got, err := ParseV1Message(raw)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.m) {
				t.Fatalf("round trip differs:\n got %#v\nwant %#v", got, tc.m)
			}
			if b := tc.m.AppendTo([]byte{0, 0, 0, 0}); !bytes.Equal(b[4:], raw) {
				t.Fatalf("AppendTo with a prefix differs")
			}
			for n := 0; n < len(raw); n++ {
				if _, err := ParseV1Message(raw[:n]); !errors.Is(err, ErrTruncated) {
					t.Fatalf("prefix %d/%d: err = %v, want ErrTruncated", n, len(raw), err)
				}
				if n >= HeaderLen && tc.m.Header.Flags&V1FlagEncryption == 0 {
					c := append([]byte(nil), raw[:n]...)
					binary.BigEndian.PutUint32(c[24:], uint32(n))
					if _, err := ParseV1Message(c); err == nil {
						t.Fatalf("prefix %d/%d with fixed length accepted", n, len(raw))
					}
				}
			}
			if len(tc.m.Payloads) > 0 {
				for _, delta := range []int{-1, 1, -4, 4, 0x1000} {
					c := append([]byte(nil), raw...)
					n := int(binary.BigEndian.Uint16(c[HeaderLen+2:]))
					binary.BigEndian.PutUint16(c[HeaderLen+2:], uint16(n+delta))
					if _, err := ParseV1Message(c); err == nil {
						t.Fatalf("payload length %d (real %d) accepted", n+delta, n)
					}
				}
			}
		})
	}
}

func TestV1MessageErrors(t *testing.T) {
	raw := mainModeMsg1()
	v2 := append([]byte(nil), raw...)
	v2[17] = 0x20
	trailing := append(append([]byte(nil), raw...), 0, 0, 0, 0)
	binary.BigEndian.PutUint32(trailing[24:], uint32(len(trailing)))
	pastLength := append(append([]byte(nil), raw...), 1, 2, 3)
	noPayloads := append([]byte(nil), raw...)
	noPayloads[16] = 0
	shortLen := append([]byte(nil), raw...)
	binary.BigEndian.PutUint32(shortLen[24:], 27)
	tests := []struct {
		name string
		b    []byte
		want error
		text string
	}{
		{"IKEv2", v2, ErrUnsupportedVersion, "major version 2, want 1"},
		{"bytes after the chain", trailing, ErrMalformed, "4 bytes after the last payload"},
		{"bytes past Length", pastLength, nil, ""},
		{"next 0 with a body", noPayloads, ErrMalformed, "120 bytes after the last payload"},
		{"length below header", shortLen, ErrMalformed, "less than the header length"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseV1Message(tc.b)
			if tc.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("err = %v, want %v containing %q", err, tc.want, tc.text)
			}
		})
	}
}

func TestV1MarshalErrors(t *testing.T) {
	for _, m := range []*V1Message{
		{Header: Header{MajorVersion: 1, Flags: V1FlagEncryption}, Payloads: []V1Payload{&V1Hash{}}},
		{Header: Header{MajorVersion: 1}, Encrypted: []byte{1}},
	} {
		if _, err := m.TryMarshal(); err == nil {
			t.Errorf("TryMarshal(%+v) succeeded", m)
		}
	}
}

func BenchmarkParseV1Message(b *testing.B) {
	raw := mainModeMsg1()
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		if _, err := ParseV1Message(raw); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkV1Marshal(b *testing.B) {
	m := mainModeMsg1Value()
	b.ReportAllocs()
	b.SetBytes(148)
	for b.Loop() {
		_ = m.Marshal()
	}
}
