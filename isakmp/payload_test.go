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

// sample is one payload used by the table-driven tests of every family.
type sample struct {
	name string
	p    Payload
	// strict: every strict prefix of the body, with the generic length
	// fixed up to match, must be rejected (false for payloads whose body is
	// opaque or a list that may legally end at any element boundary).
	strict bool
}

func seq(n int, start byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = start + byte(i)
	}
	return b
}

func samples() []sample {
	return []sample{
		{"SA/one-proposal", &SA{Proposals: []Proposal{{
			Num: 1, Protocol: ProtocolIKE,
			Transforms: []Transform{
				{Type: 1, ID: 12, Attrs: []Attribute{{Type: AttrKeyLength, TV: true, TVValue: 256}}},
				{Type: 2, ID: 5},
				{Type: 3, ID: 12},
				{Type: 4, ID: 14},
			},
		}}}, true},
		{"SA/two-proposals-spi-tlv", &SA{Proposals: []Proposal{
			{Num: 1, Protocol: ProtocolESP, SPI: []byte{1, 2, 3, 4}, Transforms: []Transform{
				{Type: 1, ID: 20, Attrs: []Attribute{{Type: AttrKeyLength, TV: true, TVValue: 128}, {Type: 99, Value: []byte{7, 8, 9}}, {Type: 100}}},
				{Type: 5, ID: 0},
			}},
			{Num: 2, Protocol: ProtocolAH, SPI: []byte{5, 6, 7, 8}, Transforms: []Transform{{Type: 3, ID: 2}}},
			{Num: 3, Protocol: ProtocolESP},
		}}, true},
		{"KE", &KE{Group: 14, Data: seq(256, 0)}, false},
		{"KE/empty", &KE{Group: 31}, false},
		{"IDi", &ID{PType: PayloadIDi, IDType: IDFQDN, Data: []byte("gw.example.net")}, false},
		{"IDr", &ID{PType: PayloadIDr, IDType: IDIPv4Addr, Data: []byte{192, 0, 2, 1}}, false},
		{"CERT", &Cert{Encoding: CertX509Signature, Data: seq(100, 3)}, false},
		{"CERTREQ", &CertReq{Encoding: CertX509Signature, Data: seq(40, 9)}, false},
		{"AUTH", &Auth{Method: AuthSharedKeyMIC, Data: seq(32, 1)}, false},
		{"Nonce", &Nonce{Data: seq(32, 0x40)}, false},
		{"Notify/status", &Notify{NotifyType: NotifyNATDetectionSourceIP, Data: seq(20, 0xa0)}, false},
		{"Notify/spi", &Notify{Protocol: ProtocolESP, SPI: []byte{0xde, 0xad, 0xbe, 0xef}, NotifyType: NotifyRekeySA}, true},
		{"Notify/bare", &Notify{NotifyType: NotifyIKEv2FragmentationSupported}, true},
		{"Delete/ike", &Delete{Protocol: ProtocolIKE}, true},
		{"Delete/esp", &Delete{Protocol: ProtocolESP, SPISize: 4, SPIs: [][]byte{{1, 2, 3, 4}, {5, 6, 7, 8}}}, true},
		{"VendorID", &VendorID{Data: []byte("ikegate test vendor")}, false},
		{"TSi", &TS{PType: PayloadTSi, Selectors: []TrafficSelector{
			{TSType: TSIPv4AddrRange, StartPort: 0, EndPort: 65535,
				StartAddr: netip.MustParseAddr("10.0.0.0"), EndAddr: netip.MustParseAddr("10.0.255.255")},
			{TSType: TSIPv6AddrRange, IPProtocol: 17, StartPort: 500, EndPort: 500,
				StartAddr: netip.MustParseAddr("2001:db8::"), EndAddr: netip.MustParseAddr("2001:db8::ffff")},
		}}, true},
		{"TSr/unknown-type", &TS{PType: PayloadTSr, Selectors: []TrafficSelector{
			{TSType: 16, Data: []byte("system_u:object_r:ipsec_spd_t:s0")},
			{TSType: TSIPv4AddrRange, IPProtocol: 6, StartPort: 80, EndPort: 80,
				StartAddr: netip.MustParseAddr("192.0.2.7"), EndAddr: netip.MustParseAddr("192.0.2.7")},
		}}, true},
		{"CP", &CP{CfgType: CfgRequest, Attrs: []CPAttribute{
			{Type: CPInternalIP4Address}, {Type: CPInternalIP4DNS}, {Type: CPInternalIP6Address, Value: seq(17, 0)},
		}}, false},
		{"EAP/request", &EAP{Code: EAPRequest, Identifier: 7, EAPType: 1, Data: []byte("hello")}, true},
		{"EAP/success", &EAP{Code: EAPSuccess, Identifier: 8}, true},
		{"Unknown/critical", &Unknown{PType: 49, Critical: true, Data: []byte{1, 2, 3}}, false},
		{"Unknown/plain", &Unknown{PType: 200}, false},
	}
}

// encoded returns the payload with its generic header, as the only payload
// of a chain.
func encoded(p Payload) []byte { return AppendPayloads(nil, []Payload{p}) }

func TestPayloadRoundTrip(t *testing.T) {
	for _, s := range samples() {
		t.Run(s.name, func(t *testing.T) {
			b := encoded(s.p)
			if got := int(binary.BigEndian.Uint16(b[2:4])); got != len(b) {
				t.Fatalf("generic length %d, encoding is %d bytes", got, len(b))
			}
			ps, err := ParsePayloads(s.p.Type(), b)
			if err != nil {
				t.Fatalf("ParsePayloads: %v", err)
			}
			if len(ps) != 1 || !reflect.DeepEqual(ps[0], s.p) {
				t.Fatalf("round trip:\n got %#v\nwant %#v", ps, s.p)
			}
			// The parsed value must not alias the input.
			for i := range b {
				b[i] ^= 0xff
			}
			if !reflect.DeepEqual(ps[0], s.p) {
				t.Fatalf("parsed payload aliases the input buffer")
			}
		})
	}
}

func TestPayloadTruncatedPrefixes(t *testing.T) {
	for _, s := range samples() {
		t.Run(s.name, func(t *testing.T) {
			b := encoded(s.p)
			// Prefixes of the whole encoding: the generic length runs past
			// the data.
			for n := 0; n < len(b); n++ {
				_, err := ParsePayloads(s.p.Type(), b[:n])
				if !errors.Is(err, ErrTruncated) {
					t.Fatalf("prefix %d/%d: err = %v, want ErrTruncated", n, len(b), err)
				}
			}
			// Prefixes of the body with a consistent generic header.
			for n := 4; n < len(b); n++ {
				c := append([]byte(nil), b[:n]...)
				binary.BigEndian.PutUint16(c[2:4], uint16(n))
				ps, err := ParsePayloads(s.p.Type(), c)
				if s.strict && err == nil {
					t.Fatalf("body prefix %d/%d accepted: %#v", n-4, len(b)-4, ps[0])
				}
			}
		})
	}
}

func TestPayloadCorruptLength(t *testing.T) {
	for _, s := range samples() {
		t.Run(s.name, func(t *testing.T) {
			b := encoded(s.p)
			n := len(b)
			for _, bad := range []int{0, 1, 2, 3, n - 1, n + 1, 0xffff} {
				if bad == n || bad < 0 {
					continue
				}
				c := append([]byte(nil), b...)
				binary.BigEndian.PutUint16(c[2:4], uint16(bad))
				if _, err := ParsePayloads(s.p.Type(), c); err == nil {
					t.Errorf("length field %d (real %d) accepted", bad, n)
				}
			}
		})
	}
}

func TestAppendBodyMatchesChain(t *testing.T) {
	for _, s := range samples() {
		if got, want := AppendBody(nil, s.p), encoded(s.p)[4:]; !bytes.Equal(got, want) {
			t.Errorf("%s: AppendBody = %x, want %x", s.name, got, want)
		}
	}
}

func TestChainAllPayloads(t *testing.T) {
	var ps []Payload
	for _, s := range samples() {
		ps = append(ps, s.p)
	}
	b := AppendPayloads([]byte{0xee}, ps)[1:] // appends, keeping the prefix
	got, err := ParsePayloads(ps[0].Type(), b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, ps) {
		t.Fatalf("chain round trip differs")
	}
	for n := 0; n < len(b); n++ {
		if _, err := ParsePayloads(ps[0].Type(), b[:n]); !errors.Is(err, ErrTruncated) {
			t.Fatalf("chain prefix %d/%d: err = %v, want ErrTruncated", n, len(b), err)
		}
	}
	// Trailing bytes after the last payload.
	if _, err := ParsePayloads(ps[0].Type(), append(b[:len(b):len(b)], 0)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("trailing byte: err = %v, want ErrMalformed", err)
	}
}

func TestChainErrors(t *testing.T) {
	tests := []struct {
		name  string
		first PayloadType
		b     []byte
		want  error
		text  string
	}{
		{"empty chain with nothing", PayloadNone, nil, nil, ""},
		{"missing payload", PayloadNonce, nil, ErrTruncated, "Nonce payload: generic header: 0 bytes left"},
		{"short length", PayloadNonce, []byte{0, 0, 0, 3}, ErrMalformed, "length field 3 is less than 4"},
		{"long length", PayloadNonce, []byte{0, 0, 0, 9, 1}, ErrTruncated, "length 9 exceeds remaining 5"},
		{"next missing", PayloadNonce, []byte{byte(PayloadKE), 0, 0, 4}, ErrTruncated, "KE payload: generic header"},
		{"leftover", PayloadNone, []byte{1}, ErrMalformed, "1 bytes after the last payload"},
		{"SK inside", PayloadSK, []byte{0, 0, 0, 4}, ErrMalformed, "SK payload inside an encrypted payload"},
		{"SKF inside", PayloadSKF, []byte{0, 0, 0, 8, 0, 1, 0, 1}, ErrMalformed, "SKF payload inside"},
		{"body error", PayloadKE, []byte{0, 0, 0, 6, 0, 14}, ErrTruncated, "isakmp: KE payload: body of 2 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParsePayloads(tc.first, tc.b)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("err = %v, want %v containing %q", err, tc.want, tc.text)
			}
		})
	}
}

func TestUnknownCriticalBit(t *testing.T) {
	b := encoded(&Unknown{PType: 49, Critical: true, Data: []byte{9}})
	if b[1] != 0x80 {
		t.Fatalf("critical flag byte = %#x", b[1])
	}
	// A known payload with the critical bit set is decoded normally.
	b = encoded(&Nonce{Data: []byte{1, 2}})
	b[1] = 0xff
	ps, err := ParsePayloads(PayloadNonce, b)
	if err != nil || !reflect.DeepEqual(ps[0], &Nonce{Data: []byte{1, 2}}) {
		t.Fatalf("got %#v, %v", ps, err)
	}
}

func TestEncodeErrors(t *testing.T) {
	tests := []struct {
		name string
		ps   []Payload
		text string
	}{
		{"nil payload", []Payload{nil}, "payload 1 is nil"},
		{"SK not last", []Payload{&SK{}, &Nonce{}}, "SK payload 1 of 2 is not last"},
		{"SKF not last", []Payload{&SKF{FragmentNumber: 1, TotalFragments: 1}, &Nonce{}}, "SKF payload 1 of 2 is not last"},
		{"type 0", []Payload{&Unknown{}}, "has type 0"},
		{"ID type", []Payload{&ID{PType: PayloadTSi}}, "ID payload with type TSi"},
		{"TS type", []Payload{&TS{PType: PayloadIDi}}, "TS payload with type IDi"},
		{"TS v4 addr", []Payload{&TS{PType: PayloadTSi, Selectors: []TrafficSelector{{TSType: TSIPv4AddrRange}}}}, "IPv4 range"},
		{"TS v6 addr", []Payload{&TS{PType: PayloadTSi, Selectors: []TrafficSelector{{TSType: TSIPv6AddrRange,
			StartAddr: netip.MustParseAddr("1.2.3.4"), EndAddr: netip.MustParseAddr("1.2.3.4")}}}}, "IPv6 range"},
		{"payload too long", []Payload{&Nonce{Data: make([]byte, 65532)}}, "Nonce payload length 65536"},
		{"SPI too long", []Payload{&SA{Proposals: []Proposal{{SPI: make([]byte, 256)}}}}, "SPI of 256 bytes"},
		{"attr type", []Payload{&SA{Proposals: []Proposal{{Transforms: []Transform{{Attrs: []Attribute{{Type: 0x8000}}}}}}}}, "exceeds 15 bits"},
		{"delete spi size", []Payload{&Delete{Protocol: 3, SPISize: 4, SPIs: [][]byte{{1}}}}, "SPI 1 has 1 bytes"},
		{"notify spi", []Payload{&Notify{SPI: make([]byte, 300)}}, "SPI of 300 bytes"},
		{"cp attr type", []Payload{&CP{Attrs: []CPAttribute{{Type: 0x8001}}}}, "exceeds 15 bits"},
		{"eap success data", []Payload{&EAP{Code: EAPSuccess, Data: []byte{1}}}, "carries no type"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := TryAppendPayloads(nil, tc.ps)
			if err == nil || !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("err = %v, want one containing %q", err, tc.text)
			}
			m := &Message{Header: Header{MajorVersion: 2}, Payloads: tc.ps}
			if _, err := m.TryMarshal(); err == nil {
				t.Fatalf("TryMarshal succeeded")
			}
			defer func() {
				if recover() == nil {
					t.Fatalf("AppendPayloads did not panic")
				}
			}()
			AppendPayloads(nil, tc.ps)
		})
	}
}

func TestFindNotify(t *testing.T) {
	a := &Notify{NotifyType: NotifyCookie, Data: []byte{1}}
	b := &Notify{NotifyType: NotifyCookie, Data: []byte{2}}
	ps := []Payload{&Nonce{}, a, b}
	if got := FindNotify(ps, NotifyCookie); got != a {
		t.Fatalf("FindNotify = %v", got)
	}
	if got := FindNotify(ps, NotifyInitialContact); got != nil {
		t.Fatalf("FindNotify = %v", got)
	}
	m := &Message{Payloads: ps}
	if got := m.Find(PayloadNotify); got != a {
		t.Fatalf("Find = %v", got)
	}
	if got := m.Find(PayloadSA); got != nil {
		t.Fatalf("Find = %v", got)
	}
}

func TestPayloadTypeString(t *testing.T) {
	for _, tc := range []struct {
		t    PayloadType
		want string
	}{{PayloadSA, "SA"}, {PayloadSKF, "SKF"}, {PayloadNonce, "Nonce"}, {PayloadType(49), "PayloadType(49)"}} {
		if got := tc.t.String(); got != tc.want {
			t.Errorf("%d: %q, want %q", uint8(tc.t), got, tc.want)
		}
	}
}
