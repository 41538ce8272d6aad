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

// v1Sample is one IKEv1 payload used by the table-driven tests.
type v1Sample struct {
	name string
	p    V1Payload
	// strict: every strict prefix of the body, with the generic length
	// fixed up to match, must be rejected.
	strict bool
}

func v1IPsecSA() *V1SA {
	return &V1SA{DOI: V1DOIIPsec, Situation: V1SitIdentityOnly, Proposals: []V1Proposal{
		{Num: 1, ProtocolID: ProtocolESP, SPI: []byte{0xc0, 0xff, 0xee, 0x01}, Transforms: []V1Transform{
			{Num: 1, ID: 12, Attrs: []Attribute{ // ESP_AES-CBC (oakley.V1ESPAES)
				V1AttrTV(V1IPsecAttrLifeType, V1LifeSeconds),
				{Type: V1IPsecAttrLifeDuration, Value: []byte{0, 0, 0x0e, 0x10}},
				V1AttrTV(V1IPsecAttrEncapsulationMode, V1EncapTunnel),
				V1AttrTV(V1IPsecAttrAuthAlg, 5), // HMAC-SHA2-256 (oakley.V1ESPAuthHMACSHA2256)
				V1AttrTV(V1IPsecAttrKeyLength, 256),
				V1AttrTV(V1IPsecAttrGroupDesc, 14),
			}},
			// ESP_3DES (3) with HMAC-SHA1 (2): oakley.V1ESP3DES, oakley.V1ESPAuthHMACSHA1
			{Num: 2, ID: 3, Attrs: []Attribute{V1AttrTV(V1IPsecAttrAuthAlg, 2)}},
		}},
		// IPCOMP_DEFLATE (2, oakley.V1IPCompDeflate)
		{Num: 1, ProtocolID: V1ProtocolIPComp, SPI: []byte{0x12, 0x34}, Transforms: []V1Transform{{Num: 1, ID: 2}}},
		// AH_SHA2-256 (5, oakley.V1AHSHA256)
		{Num: 2, ProtocolID: ProtocolAH, SPI: []byte{1, 2, 3, 4}, Transforms: []V1Transform{{Num: 1, ID: 5}}},
	}}
}

func v1Samples() []v1Sample {
	subnet := NewV1IDSubnet(netip.MustParsePrefix("10.1.0.0/16"), 0, 0)
	subnet6 := NewV1IDSubnet(netip.MustParsePrefix("2001:db8::/48"), 17, 500)
	rng, _ := NewV1IDRange(netip.MustParseAddr("192.0.2.10"), netip.MustParseAddr("192.0.2.20"), 6, 80)
	addr := NewV1IDAddr(netip.MustParseAddr("198.51.100.1"), 17, 500)
	return []v1Sample{
		{"SA/main-mode", mainModeSAValue(), true},
		{"SA/quick-mode-bundle", v1IPsecSA(), true},
		{"KE", &V1KE{Data: seq(256, 0)}, false},
		{"ID/ipv4-addr", &addr, true},
		{"ID/ipv4-subnet", &subnet, true},
		{"ID/ipv6-subnet", &subnet6, true},
		{"ID/ipv4-range", &rng, true},
		{"ID/fqdn", &V1ID{IDType: V1IDFQDN, Data: []byte("gw.example.net")}, false},
		{"ID/unknown-type", &V1ID{IDType: 200, Data: []byte{1}}, false},
		{"CERT", &V1Cert{Encoding: CertX509Signature, Data: seq(100, 3)}, false},
		{"CR/any", &V1CertReq{Encoding: CertX509Signature}, true},
		{"CR/dn", &V1CertReq{Encoding: CertX509Signature, Data: seq(30, 9)}, false},
		{"HASH", &V1Hash{Data: seq(32, 1)}, false},
		{"SIG", &V1Sig{Data: seq(256, 2)}, false},
		{"NONCE", &V1Nonce{Data: seq(32, 0x40)}, false},
		{"N/initial-contact", &V1Notify{DOI: V1DOIIPsec, ProtocolID: V1ProtocolISAKMP, SPI: seq(16, 0x80), Type: V1NotifyInitialContact}, true},
		{"N/r-u-there", &V1Notify{DOI: V1DOIIPsec, ProtocolID: V1ProtocolISAKMP, SPI: seq(16, 0x80), Type: V1NotifyRUThere, Data: []byte{0, 0, 0x12, 0x34}}, false},
		{"N/bare", &V1Notify{Type: V1NotifyNoProposalChosen}, true},
		{"D/isakmp", &V1Delete{DOI: V1DOIIPsec, ProtocolID: V1ProtocolISAKMP, SPISize: 16, SPIs: [][]byte{seq(16, 0x80)}}, true},
		{"D/esp", &V1Delete{DOI: V1DOIIPsec, ProtocolID: ProtocolESP, SPISize: 4, SPIs: [][]byte{{1, 2, 3, 4}, {5, 6, 7, 8}}}, true},
		{"D/none", &V1Delete{DOI: V1DOIIPsec, ProtocolID: ProtocolESP, SPISize: 4}, true},
		{"VID", &V1VendorID{Data: vidRFC3947}, false},
		{"ATTR/request", &V1Attr{Type: CfgRequest, Identifier: 0x1234, Attrs: []Attribute{
			{Type: CPInternalIP4Address}, {Type: CPInternalIP4DNS}}}, false},
		{"ATTR/xauth-reply", &V1Attr{Type: CfgReply, Identifier: 7, Attrs: []Attribute{
			V1AttrTV(V1XAuthType, 0), {Type: V1XAuthUserName, Value: []byte("alice")}, {Type: V1XAuthPassword, Value: []byte("secret")}}}, false},
		{"ATTR/empty", &V1Attr{Type: CfgAck}, true},
		{"NAT-D", &V1NATD{Hash: seq(20, 0xa0)}, false},
		{"NAT-D/draft", &V1NATD{Draft: true, Hash: seq(16, 0xb0)}, false},
		{"NAT-OA/v4", &V1NATOA{IDType: V1IDIPv4Addr, Addr: netip.MustParseAddr("192.168.1.2")}, true},
		{"NAT-OA/v6-draft", &V1NATOA{Draft: true, IDType: V1IDIPv6Addr, Addr: netip.MustParseAddr("2001:db8::7")}, true},
		{"FRAG/first", &V1Frag{ID: 0x0102, Num: 1, Data: seq(100, 0)}, false},
		{"FRAG/last", &V1Frag{ID: 0x0102, Num: 3, Last: true, Data: seq(10, 0)}, false},
		{"Unknown", &V1Unknown{PType: 99, Data: []byte{1, 2, 3}}, false},
		{"Unknown/empty", &V1Unknown{PType: 200}, false},
	}
}

// Vendor IDs announced by the Main Mode message 1 of the tests (MD5 hashes
// of the extension names; the values only matter as opaque data here).
var (
	vidRFC3947 = []byte{0x4a, 0x13, 0x1c, 0x81, 0x07, 0x03, 0x58, 0x45, 0x5c, 0x57, 0x28, 0xf2, 0x0e, 0x95, 0x45, 0x2f}
	vidDPD     = []byte{0xaf, 0xca, 0xd7, 0x13, 0x68, 0xa1, 0xf1, 0xc9, 0x6b, 0x86, 0x96, 0xfc, 0x77, 0x57, 0x01, 0x00}
	vidFrag    = []byte{0x40, 0x48, 0xb7, 0xd5, 0x6e, 0xbc, 0xe8, 0x85, 0x25, 0xe7, 0xde, 0x7f, 0x00, 0xd6, 0xc2, 0xd3}
)

func v1Encoded(p V1Payload) []byte { return AppendV1Payloads(nil, []V1Payload{p}) }

func TestV1PayloadRoundTrip(t *testing.T) {
	for _, s := range v1Samples() {
		t.Run(s.name, func(t *testing.T) {
			b := v1Encoded(s.p)
			if got := int(binary.BigEndian.Uint16(b[2:4])); got != len(b) {
				t.Fatalf("generic length %d, encoding is %d bytes", got, len(b))
			}
			if b[0] != 0 || b[1] != 0 {
				t.Fatalf("next/reserved = %x", b[:2])
			}
			ps, err := ParseV1Payloads(s.p.V1Type(), b)
			if err != nil {
				t.Fatalf("ParseV1Payloads: %v", err)
			}
			if len(ps) != 1 || !reflect.DeepEqual(ps[0], s.p) {
				t.Fatalf("round trip:\n got %#v\nwant %#v", ps, s.p)
			}
			for i := range b {
				b[i] ^= 0xff
			}
			if !reflect.DeepEqual(ps[0], s.p) {
				t.Fatalf("parsed payload aliases the input buffer")
			}
			// Body decoder directly, and AppendV1Body.
			body := AppendV1Body(nil, s.p)
			p, err := decodeV1Payload(s.p.V1Type(), body)
			if err != nil || !reflect.DeepEqual(p, s.p) {
				t.Fatalf("decodeV1Payload = %#v, %v", p, err)
			}
		})
	}
}

func TestV1PayloadTruncatedPrefixes(t *testing.T) {
	for _, s := range v1Samples() {
		t.Run(s.name, func(t *testing.T) {
			b := v1Encoded(s.p)
			for n := 0; n < len(b); n++ {
				_, err := ParseV1Payloads(s.p.V1Type(), b[:n])
				if !errors.Is(err, ErrTruncated) {
					t.Fatalf("prefix %d/%d: err = %v, want ErrTruncated", n, len(b), err)
				}
			}
			for n := 4; n < len(b); n++ {
				c := append([]byte(nil), b[:n]...)
				binary.BigEndian.PutUint16(c[2:4], uint16(n))
				ps, err := ParseV1Payloads(s.p.V1Type(), c)
				if s.strict && err == nil {
					t.Fatalf("body prefix %d/%d accepted: %#v", n-4, len(b)-4, ps[0])
				}
				if err != nil && !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrMalformed) {
					t.Fatalf("body prefix %d: error %v wraps no sentinel", n-4, err)
				}
			}
		})
	}
}

// TestV1PayloadCorruptLength corrupts the generic length of the only
// payload of a plaintext message, which must end exactly at the header's
// length.
func TestV1PayloadCorruptLength(t *testing.T) {
	for _, s := range v1Samples() {
		t.Run(s.name, func(t *testing.T) {
			m := &V1Message{Header: Header{MajorVersion: 1, Exchange: ExchangeV1Informational}, Payloads: []V1Payload{s.p}}
			raw := m.Marshal()
			n := len(raw) - HeaderLen
			for _, bad := range []int{0, 1, 2, 3, n - 1, n + 1, n + 4, 0xffff} {
				if bad == n {
					continue
				}
				c := append([]byte(nil), raw...)
				binary.BigEndian.PutUint16(c[HeaderLen+2:], uint16(bad))
				if _, err := ParseV1Message(c); err == nil {
					t.Errorf("length field %d (real %d) accepted", bad, n)
				}
			}
		})
	}
}

func TestV1ChainAllPayloads(t *testing.T) {
	var ps []V1Payload
	for _, s := range v1Samples() {
		ps = append(ps, s.p)
	}
	b := AppendV1Payloads([]byte{0xee}, ps)[1:]
	got, n, err := ParseV1PayloadsLen(ps[0].V1Type(), b)
	if err != nil {
		t.Fatal(err)
	}
	if n != len(b) || !reflect.DeepEqual(got, ps) {
		t.Fatalf("chain round trip differs (n %d of %d)", n, len(b))
	}
	for i := 0; i < len(b); i++ {
		if _, err := ParseV1Payloads(ps[0].V1Type(), b[:i]); !errors.Is(err, ErrTruncated) {
			t.Fatalf("chain prefix %d/%d: err = %v, want ErrTruncated", i, len(b), err)
		}
	}
	// Padding after the last payload is ignored and measured.
	for _, pad := range [][]byte{{0}, {0, 0, 0, 3}, seq(15, 1), bytes.Repeat([]byte{0xff}, 255)} {
		padded := append(b[:len(b):len(b)], pad...)
		got, n, err := ParseV1PayloadsLen(ps[0].V1Type(), padded)
		if err != nil || n != len(b) || !reflect.DeepEqual(got, ps) {
			t.Fatalf("padding %x: n %d, err %v", pad, n, err)
		}
	}
}

func TestV1ChainErrors(t *testing.T) {
	tests := []struct {
		name  string
		first V1PayloadType
		b     []byte
		want  error
		text  string
	}{
		{"empty chain", V1PayloadNone, nil, nil, ""},
		{"empty chain, padding", V1PayloadNone, []byte{0, 0, 0}, nil, ""},
		{"missing payload", V1PayloadNonce, nil, ErrTruncated, "NONCE payload: generic header: 0 bytes left"},
		{"short length", V1PayloadNonce, []byte{0, 0, 0, 3}, ErrMalformed, "length field 3 is less than 4"},
		{"long length", V1PayloadNonce, []byte{0, 0, 0, 9, 1}, ErrTruncated, "length 9 exceeds remaining 5"},
		{"next missing", V1PayloadNonce, []byte{byte(V1PayloadKE), 0, 0, 4}, ErrTruncated, "KE payload: generic header"},
		{"proposal outside SA", V1PayloadProposal, []byte{0, 0, 0, 12, 1, 1, 0, 0, 0, 0, 0, 0}, ErrMalformed, "Proposal payload: outside an SA payload"},
		{"transform outside SA", V1PayloadTransform, []byte{0, 0, 0, 8, 1, 1, 0, 0}, ErrMalformed, "Transform payload: outside"},
		{"body error", V1PayloadN, []byte{0, 0, 0, 6, 0, 1}, ErrTruncated, "isakmp: N payload: body of 2 bytes"},
		{"ID v4 short", V1PayloadID, []byte{0, 0, 0, 11, 1, 0, 0, 0, 10, 0, 0}, ErrTruncated, "IPV4_ADDR: 3 bytes of data, need 4"},
		{"ID v4 long", V1PayloadID, []byte{0, 0, 0, 13, 1, 0, 0, 0, 10, 0, 0, 1, 2}, ErrMalformed, "IPV4_ADDR: 5 bytes of data, want 4"},
		{"NAT-OA type", V1PayloadNATOA, []byte{0, 0, 0, 12, 2, 0, 0, 0, 1, 2, 3, 4}, ErrMalformed, "ID type FQDN"},
		{"NAT-OA long", V1PayloadNATOA, []byte{0, 0, 0, 13, 1, 0, 0, 0, 1, 2, 3, 4, 5}, ErrMalformed, "5 bytes of address"},
		{"FRAG num 0", V1PayloadFRAG, []byte{0, 0, 0, 9, 0, 1, 0, 1, 0xaa}, ErrMalformed, "fragment number 0"},
		{"D size 0", V1PayloadD, []byte{0, 0, 0, 12, 0, 0, 0, 1, 3, 0, 0, 1}, ErrMalformed, "1 SPIs of size 0"},
		{"D extra", V1PayloadD, []byte{0, 0, 0, 17, 0, 0, 0, 1, 3, 4, 0, 1, 1, 2, 3, 4, 5}, ErrMalformed, "need 4, have 5"},
		{"ATTR attr", V1PayloadATTR, []byte{0, 0, 0, 10, 1, 0, 0, 1, 0, 1}, ErrTruncated, "attribute 1: header: 2 bytes left"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseV1Payloads(tc.first, tc.b)
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

func TestV1ReservedIgnored(t *testing.T) {
	b := v1Encoded(&V1Nonce{Data: []byte{1, 2}})
	b[1] = 0xff
	ps, err := ParseV1Payloads(V1PayloadNonce, b)
	if err != nil || !reflect.DeepEqual(ps[0], &V1Nonce{Data: []byte{1, 2}}) {
		t.Fatalf("got %#v, %v", ps, err)
	}
	// FRAG flag bits other than "last" are ignored.
	b = v1Encoded(&V1Frag{ID: 1, Num: 1})
	b[7] = 0xfe
	ps, err = ParseV1Payloads(V1PayloadFRAG, b)
	if err != nil || ps[0].(*V1Frag).Last {
		t.Fatalf("got %#v, %v", ps, err)
	}
}

func TestV1EncodeErrors(t *testing.T) {
	tests := []struct {
		name string
		ps   []V1Payload
		text string
	}{
		{"nil payload", []V1Payload{nil}, "payload 1 is nil"},
		{"type 0", []V1Payload{&V1Unknown{}}, "has type 0"},
		{"payload too long", []V1Payload{&V1Nonce{Data: make([]byte, 65532)}}, "NONCE payload length 65536"},
		{"SPI too long", []V1Payload{&V1SA{Proposals: []V1Proposal{{SPI: make([]byte, 256)}}}}, "SPI of 256 bytes"},
		{"too many transforms", []V1Payload{&V1SA{Proposals: []V1Proposal{{Transforms: make([]V1Transform, 256)}}}}, "256 transforms"},
		{"attr type", []V1Payload{&V1SA{Proposals: []V1Proposal{{Transforms: []V1Transform{{Attrs: []Attribute{{Type: 0x8000}}}}}}}}, "exceeds 15 bits"},
		{"attr value", []V1Payload{&V1Attr{Attrs: []Attribute{{Type: 1, Value: make([]byte, 0x10000)}}}}, "value of 65536 bytes"},
		{"delete spi size", []V1Payload{&V1Delete{ProtocolID: 3, SPISize: 4, SPIs: [][]byte{{1}}}}, "SPI 1 has 1 bytes"},
		{"notify spi", []V1Payload{&V1Notify{SPI: make([]byte, 300)}}, "SPI of 300 bytes"},
		{"ID v4 length", []V1Payload{&V1ID{IDType: V1IDIPv4AddrSubnet, Data: []byte{1, 2, 3, 4}}}, "IPV4_ADDR_SUBNET: 4 bytes of data, want 8"},
		{"NAT-OA no addr", []V1Payload{&V1NATOA{}}, "no address"},
		{"NAT-OA type", []V1Payload{&V1NATOA{IDType: V1IDIPv6Addr, Addr: netip.MustParseAddr("10.0.0.1")}}, "ID type IPV6_ADDR with address 10.0.0.1"},
		{"NAT-OA other type", []V1Payload{&V1NATOA{IDType: V1IDFQDN, Addr: netip.MustParseAddr("10.0.0.1")}}, "ID type FQDN"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := TryAppendV1Payloads(nil, tc.ps)
			if err == nil || !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("err = %v, want one containing %q", err, tc.text)
			}
			m := &V1Message{Header: Header{MajorVersion: 1}, Payloads: tc.ps}
			if _, err := m.TryMarshal(); err == nil {
				t.Fatalf("TryMarshal succeeded")
			}
			defer func() {
				if recover() == nil {
					t.Fatalf("AppendV1Payloads did not panic")
				}
			}()
			AppendV1Payloads(nil, tc.ps)
		})
	}
}

func TestV1NATOAFromAddr(t *testing.T) {
	for _, a := range []string{"10.0.0.1", "2001:db8::1"} {
		n := &V1NATOA{Addr: netip.MustParseAddr(a)}
		ps, err := ParseV1Payloads(V1PayloadNATOA, v1Encoded(n))
		if err != nil {
			t.Fatal(err)
		}
		got := ps[0].(*V1NATOA)
		if got.Addr != n.Addr || (got.IDType == V1IDIPv4Addr) != n.Addr.Is4() {
			t.Fatalf("%s: got %+v", a, got)
		}
	}
}

func TestV1Find(t *testing.T) {
	a := &V1Notify{Type: V1NotifyInitialContact, Data: []byte{1}}
	b := &V1Notify{Type: V1NotifyInitialContact, Data: []byte{2}}
	ps := []V1Payload{&V1Hash{}, a, b}
	if got := FindV1Notify(ps, V1NotifyInitialContact); got != a {
		t.Fatalf("FindV1Notify = %v", got)
	}
	if got := FindV1Notify(ps, V1NotifyRUThere); got != nil {
		t.Fatalf("FindV1Notify = %v", got)
	}
	m := &V1Message{Payloads: ps}
	if got := m.Find(V1PayloadN); got != a {
		t.Fatalf("Find = %v", got)
	}
	if got := m.Find(V1PayloadSA); got != nil {
		t.Fatalf("Find = %v", got)
	}
}

func TestV1Names(t *testing.T) {
	for _, tc := range []struct {
		got, want string
	}{
		{V1PayloadSA.String(), "SA"},
		{V1PayloadNATDDraft.String(), "NAT-D(draft)"},
		{V1PayloadFRAG.String(), "FRAG"},
		{V1PayloadType(50).String(), "V1PayloadType(50)"},
		{V1PayloadType(255).String(), "V1PayloadType(255)"},
		{V1NotifyInvalidPayloadType.String(), "INVALID_PAYLOAD_TYPE"},
		{V1NotifySALifetime.String(), "NOTIFY_SA_LIFETIME"},
		{V1NotifyUnequalPayloadLengths.String(), "UNEQUAL_PAYLOAD_LENGTHS"},
		{V1NotifyConnected.String(), "CONNECTED"},
		{V1NotifyResponderLifetime.String(), "RESPONDER_LIFETIME"},
		{V1NotifyInitialContact.String(), "INITIAL_CONTACT"},
		{V1NotifyRUThereAck.String(), "R_U_THERE_ACK"},
		{V1NotifyType(31).String(), "V1NotifyType(31)"},
		{V1IDTypeName(V1IDIPv6AddrRange), "IPV6_ADDR_RANGE"},
		{V1IDTypeName(12), "ID_TYPE(12)"},
		{ExchangeV1Quick.String(), "QUICK_MODE"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
	for typ := V1NotifyInvalidPayloadType; typ <= V1NotifyUnequalPayloadLengths; typ++ {
		if strings.HasPrefix(typ.String(), "V1NotifyType(") || !typ.IsError() {
			t.Errorf("error type %d: %q, IsError %v", uint16(typ), typ, typ.IsError())
		}
	}
	for _, typ := range []V1NotifyType{V1NotifyConnected, V1NotifyReplayStatus, V1NotifyRUThere} {
		if typ.IsError() {
			t.Errorf("%s is an error", typ)
		}
	}
	if V1FlagEncryption != 1 || V1FlagCommit != 2 || V1FlagAuthOnly != 4 {
		t.Errorf("flags")
	}
}

func TestSplitV1Payloads(t *testing.T) {
	ps := quickModePayloads()
	body := AppendV1Payloads(nil, ps)
	body[4+32+1] = 0x55 // a non-zero reserved byte in the SA's generic header
	padded := append(append([]byte(nil), body...), 0, 0, 3)
	raws, n, err := SplitV1Payloads(V1PayloadHASH, padded)
	if err != nil || n != len(body) || len(raws) != len(ps) {
		t.Fatalf("SplitV1Payloads: %d payloads, n %d, %v", len(raws), n, err)
	}
	off := 0
	for i, r := range raws {
		if r.Type != ps[i].V1Type() || !bytes.Equal(r.Raw, body[off:off+len(r.Raw)]) {
			t.Fatalf("payload %d: %s %x", i, r.Type, r.Raw)
		}
		if i > 0 && !bytes.Equal(r.Raw[4:], AppendV1Body(nil, ps[i])) {
			t.Fatalf("payload %d body differs", i)
		}
		off += len(r.Raw)
	}
	if raws[1].Raw[1] != 0x55 {
		t.Fatalf("raw SA payload not as received")
	}
	// HASH(1) input after M-ID: everything after the HASH payload.
	if got := padded[len(raws[0].Raw):n]; !bytes.Equal(got[4:], body[len(raws[0].Raw)+4:]) {
		t.Fatalf("HASH(1) input")
	}
	if _, _, err := SplitV1Payloads(V1PayloadHASH, body[:10]); !errors.Is(err, ErrTruncated) {
		t.Fatalf("truncated: %v", err)
	}
	if raws, n, err := SplitV1Payloads(V1PayloadNone, body); raws != nil || n != 0 || err != nil {
		t.Fatalf("empty chain: %v %d %v", raws, n, err)
	}
}

// TestV1AttrTrailingPadding: up to 3 zero bytes after the last attribute
// (Libreswan's Mode Config ACK with a split include) are accepted; other
// leftovers are still errors.
func TestV1AttrTrailingPadding(t *testing.T) {
	split := make([]byte, 14) // a UNITY_SPLIT_INCLUDE entry: address, mask, 6 more bytes
	base := (&V1Attr{Type: CfgAck, Identifier: 9, Attrs: []Attribute{
		{Type: 1, Value: []byte{10, 2, 0, 0}}, {Type: 28676, Value: split}}}).appendV1Body(nil)
	cases := []struct {
		name  string
		tail  []byte
		attrs int
		ok    bool
	}{
		{"none", nil, 2, true},
		{"two zeros", []byte{0, 0}, 2, true},
		{"three zeros", []byte{0, 0, 0}, 2, true},
		{"nonzero", []byte{0, 1}, 0, false},
		{"four zeros is an attribute", []byte{0, 0, 0, 0}, 3, true},
		{"five zeros", []byte{0, 0, 0, 0, 0}, 3, true},
		{"truncated header", []byte{0x80}, 0, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a, err := parseV1Attr(append(append([]byte(nil), base...), c.tail...))
			if (err == nil) != c.ok {
				t.Fatalf("err = %v, want ok=%v", err, c.ok)
			}
			if err == nil && len(a.Attrs) != c.attrs {
				t.Fatalf("%d attributes, want %d", len(a.Attrs), c.attrs)
			}
		})
	}
}
