package isakmp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// ikeSAInitRequest is an IKE_SA_INIT request built by hand, byte by byte,
// from RFC 7296 sections 3.1-3.10 (and RFC 7383/7427 for the last two
// notifications), the way strongSwan or Libreswan lay out a first message:
// HDR, SAi1, KEi, Ni, N(NAT_DETECTION_SOURCE_IP),
// N(NAT_DETECTION_DESTINATION_IP), N(IKEV2_FRAGMENTATION_SUPPORTED),
// N(SIGNATURE_HASH_ALGORITHMS).
func ikeSAInitRequest() []byte {
	var b []byte
	b = append(b,
		0x8a, 0x1b, 0x3c, 0x4d, 0x5e, 0x6f, 0x70, 0x81, // SPIi
		0, 0, 0, 0, 0, 0, 0, 0, // SPIr
		0x21,       // next: SA
		0x20,       // version 2.0
		0x22,       // IKE_SA_INIT
		0x08,       // Initiator
		0, 0, 0, 0, // message ID 0
		0x00, 0x00, 0x01, 0xc6, // length 454
	)
	sa := append([]byte(nil), saAES256...) // next: KE (0x22) already
	b = append(b, sa...)
	// KE: next Nonce, length 8+256, group 14, reserved
	b = append(b, 0x28, 0x00, 0x01, 0x08, 0x00, 0x0e, 0x00, 0x00)
	b = append(b, seq(256, 0x11)...)
	// Nonce: next Notify, length 4+32
	b = append(b, 0x29, 0x00, 0x00, 0x24)
	b = append(b, seq(32, 0x90)...)
	// N(NAT_DETECTION_SOURCE_IP): next Notify, length 28, proto 0, SPI size 0, type 16388
	b = append(b, 0x29, 0x00, 0x00, 0x1c, 0x00, 0x00, 0x40, 0x04)
	b = append(b, seq(20, 0x30)...)
	// N(NAT_DETECTION_DESTINATION_IP): type 16389
	b = append(b, 0x29, 0x00, 0x00, 0x1c, 0x00, 0x00, 0x40, 0x05)
	b = append(b, seq(20, 0x50)...)
	// N(IKEV2_FRAGMENTATION_SUPPORTED): type 16430, no data
	b = append(b, 0x29, 0x00, 0x00, 0x08, 0x00, 0x00, 0x40, 0x2e)
	// N(SIGNATURE_HASH_ALGORITHMS): last, type 16431, SHA2-256/384/512
	b = append(b, 0x00, 0x00, 0x00, 0x0e, 0x00, 0x00, 0x40, 0x2f, 0x00, 0x02, 0x00, 0x03, 0x00, 0x04)
	return b
}

func ikeSAInitMessage() *Message {
	return &Message{
		Header: Header{
			SPIi: 0x8a1b3c4d5e6f7081, NextPayload: PayloadSA, MajorVersion: 2,
			Exchange: ExchangeIKESAInit, Flags: FlagInitiator, Length: 454,
		},
		Payloads: []Payload{
			saAES256Value(),
			&KE{Group: 14, Data: seq(256, 0x11)},
			&Nonce{Data: seq(32, 0x90)},
			&Notify{NotifyType: NotifyNATDetectionSourceIP, Data: seq(20, 0x30)},
			&Notify{NotifyType: NotifyNATDetectionDestinationIP, Data: seq(20, 0x50)},
			&Notify{NotifyType: NotifyIKEv2FragmentationSupported},
			&Notify{NotifyType: NotifySignatureHashAlgorithms, Data: []byte{0, 2, 0, 3, 0, 4}},
		},
	}
}

// ikeAuthMessage is an IKE_AUTH request: HDR, SK {...} with an opaque body.
func ikeAuthMessage() *Message {
	return &Message{
		Header: Header{
			SPIi: 0x8a1b3c4d5e6f7081, SPIr: 0x0102030405060708, MajorVersion: 2,
			Exchange: ExchangeIKEAuth, Flags: FlagInitiator, MessageID: 1,
		},
		Payloads: []Payload{&SK{NextPayload: PayloadIDi, Body: seq(80, 7)}},
	}
}

func TestParseIKESAInit(t *testing.T) {
	raw := ikeSAInitRequest()
	if len(raw) != 454 {
		t.Fatalf("hand-built message is %d bytes", len(raw))
	}
	m, err := ParseMessage(raw)
	if err != nil {
		t.Fatal(err)
	}
	want := ikeSAInitMessage()
	if !reflect.DeepEqual(m, want) {
		t.Fatalf("parsed\n%#v\nwant\n%#v", m, want)
	}
	if n := FindNotify(m.Payloads, NotifyNATDetectionDestinationIP); n == nil || n.Data[0] != 0x50 {
		t.Fatalf("FindNotify = %v", n)
	}
	if ke, _ := m.Find(PayloadKE).(*KE); ke == nil || ke.Group != 14 {
		t.Fatalf("Find(KE) = %v", ke)
	}
	// Marshal reproduces the bytes exactly.
	want.Header.NextPayload, want.Header.Length = 0, 0
	if got := want.Marshal(); !bytes.Equal(got, raw) {
		t.Fatalf("Marshal\n got %x\nwant %x", got, raw)
	}
	if want.Header.NextPayload != PayloadSA || want.Header.Length != 454 || want.SKOffset != 0 {
		t.Fatalf("Marshal did not fill the header: %+v, SKOffset %d", want.Header, want.SKOffset)
	}
}

func TestMessageRoundTrip(t *testing.T) {
	var all []Payload
	for _, s := range samples() {
		all = append(all, s.p)
	}
	tests := []struct {
		name string
		m    *Message
		sk   int
	}{
		{"IKE_SA_INIT", ikeSAInitMessage(), 0},
		{"IKE_AUTH SK", ikeAuthMessage(), HeaderLen},
		{"every payload", &Message{Header: Header{MajorVersion: 2, MinorVersion: 1, Exchange: ExchangeInformational, Flags: FlagResponse, MessageID: 9}, Payloads: all}, 0},
		{"every payload then SK", &Message{Header: Header{MajorVersion: 2, Exchange: ExchangeCreateChildSA},
			Payloads: append(append([]Payload(nil), all...), &SK{NextPayload: PayloadNonce, Body: seq(33, 1)})}, -1},
		{"SKF", &Message{Header: Header{MajorVersion: 2, Exchange: ExchangeIKEAuth},
			Payloads: []Payload{&SKF{NextPayload: PayloadIDi, FragmentNumber: 1, TotalFragments: 3, Body: seq(40, 2)}}}, HeaderLen},
		{"empty", &Message{Header: Header{MajorVersion: 2, Exchange: ExchangeInformational}}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			raw := tc.m.Marshal()
			if int(tc.m.Header.Length) != len(raw) {
				t.Fatalf("Header.Length %d, marshalled %d", tc.m.Header.Length, len(raw))
			}
			if tc.sk == -1 {
				tc.sk = len(raw) - 4 - 33
			}
			if tc.m.SKOffset != tc.sk {
				t.Fatalf("SKOffset %d, want %d", tc.m.SKOffset, tc.sk)
			}
			got, err := ParseMessage(raw)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.m) {
				t.Fatalf("round trip differs:\n got %#v\nwant %#v", got, tc.m)
			}
			// Every truncated prefix fails, with the header length kept or
			// fixed up to the prefix.
			for n := 0; n < len(raw); n++ {
				if _, err := ParseMessage(raw[:n]); !errors.Is(err, ErrTruncated) {
					t.Fatalf("prefix %d/%d: err = %v, want ErrTruncated", n, len(raw), err)
				}
				if n >= HeaderLen {
					c := append([]byte(nil), raw[:n]...)
					binary.BigEndian.PutUint32(c[24:], uint32(n))
					if _, err := ParseMessage(c); err == nil {
						t.Fatalf("prefix %d/%d with fixed length accepted", n, len(raw))
					}
				}
			}
			// Corrupt the first payload's length field.
			if len(tc.m.Payloads) > 0 {
				for _, delta := range []int{-1, 1, -4, 0x1000} {
					c := append([]byte(nil), raw...)
					n := int(binary.BigEndian.Uint16(c[HeaderLen+2:]))
					binary.BigEndian.PutUint16(c[HeaderLen+2:], uint16(n+delta))
					if _, err := ParseMessage(c); err == nil {
						t.Fatalf("payload length %d (real %d) accepted", n+delta, n)
					}
				}
			}
		})
	}
}

func TestMessageErrors(t *testing.T) {
	raw := ikeAuthMessage().Marshal()
	withSKTail := append(append([]byte(nil), raw...), 0x00, 0x00, 0x00, 0x04) // a payload after SK
	binary.BigEndian.PutUint32(withSKTail[24:], uint32(len(withSKTail)))
	v1 := append([]byte(nil), raw...)
	v1[17] = 0x10
	trailing := append(append([]byte(nil), raw...), 1, 2, 3) // past Length: ignored
	tests := []struct {
		name string
		b    []byte
		want error
		text string
	}{
		{"payload after SK", withSKTail, ErrMalformed, "SK payload must be last, but 4 bytes follow it"},
		{"IKEv1", v1, ErrUnsupportedVersion, "major version 1"},
		{"bytes past Length", trailing, nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseMessage(tc.b)
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

func TestMarshalAppendTo(t *testing.T) {
	m := ikeAuthMessage()
	prefix := []byte{0, 0, 0, 0} // a non-ESP marker
	b := m.AppendTo(prefix)
	if !bytes.Equal(b[4:], m.Marshal()) || m.SKOffset != HeaderLen {
		t.Fatalf("AppendTo with prefix: SKOffset %d", m.SKOffset)
	}
}

func BenchmarkParseMessage(b *testing.B) {
	raw := ikeSAInitRequest()
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		if _, err := ParseMessage(raw); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMarshal(b *testing.B) {
	m := ikeSAInitMessage()
	b.ReportAllocs()
	b.SetBytes(454)
	for b.Loop() {
		_ = m.Marshal()
	}
}

func BenchmarkAppendTo(b *testing.B) {
	m := ikeSAInitMessage()
	buf := make([]byte, 0, 2048)
	b.ReportAllocs()
	for b.Loop() {
		buf = m.AppendTo(buf[:0])
	}
}
