package policy

import (
	"bytes"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"strings"
	"testing"
)

func idTestMust(t *testing.T, s string) Identity {
	t.Helper()
	id, err := ParseIdentity(s)
	if err != nil {
		t.Fatalf("ParseIdentity(%q): %v", s, err)
	}
	return id
}

// dnDER is the DER of an RDN sequence with one attribute per RDN, values as
// Go's encoding/asn1 encodes strings (PrintableString, else UTF8String).
func idTestDER(t *testing.T, atvs ...pkix.AttributeTypeAndValue) []byte {
	t.Helper()
	var seq pkix.RDNSequence
	for _, a := range atvs {
		seq = append(seq, pkix.RelativeDistinguishedNameSET{a})
	}
	der, err := asn1.Marshal(seq)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

var (
	idTestC  = asn1.ObjectIdentifier{2, 5, 4, 6}
	idTestO  = asn1.ObjectIdentifier{2, 5, 4, 10}
	idTestOU = asn1.ObjectIdentifier{2, 5, 4, 11}
	idTestCN = asn1.ObjectIdentifier{2, 5, 4, 3}
)

func TestParseIdentity(t *testing.T) {
	cases := []struct {
		in       string
		typ      uint8
		data     []byte
		any      bool
		asString string // String() of the result; "" means in itself
	}{
		{in: "%any", any: true},
		{in: " %any ", any: true, asString: "%any"},
		{in: "10.0.0.1", typ: IDIPv4Addr, data: []byte{10, 0, 0, 1}},
		{in: "2001:db8::1", typ: IDIPv6Addr, data: append(append([]byte{0x20, 0x01, 0x0d, 0xb8}, make([]byte, 11)...), 1)},
		{in: "::ffff:10.0.0.1", typ: IDIPv6Addr, data: append(append(make([]byte, 10), 0xff, 0xff), 10, 0, 0, 1)},
		{in: "@left.lab", typ: IDFQDN, data: []byte("left.lab"), asString: "left.lab"},
		{in: "left.lab", typ: IDFQDN, data: []byte("left.lab")},
		{in: "gateway", typ: IDFQDN, data: []byte("gateway")},
		{in: "@gateway", typ: IDFQDN, data: []byte("gateway"), asString: "gateway"},
		{in: "@10.0.0.1", typ: IDFQDN, data: []byte("10.0.0.1"), asString: "fqdn:10.0.0.1"},
		{in: "fqdn:10.0.0.1", typ: IDFQDN, data: []byte("10.0.0.1")},
		{in: "FQDN:vpn.lab", typ: IDFQDN, data: []byte("vpn.lab"), asString: "vpn.lab"},
		{in: "user@left.lab", typ: IDRFC822, data: []byte("user@left.lab")},
		{in: "email:alice@lab", typ: IDRFC822, data: []byte("alice@lab"), asString: "alice@lab"},
		{in: "*@lab", typ: IDRFC822, data: []byte("*@lab")},
		{in: "*.lab", typ: IDFQDN, data: []byte("*.lab")},
		{in: "keyid:gw-1", typ: IDKeyID, data: []byte("gw-1")},
		{in: "keyid:#0a1bff", typ: IDKeyID, data: []byte{0x0a, 0x1b, 0xff}, asString: "keyid:#0a1bff"},
		{in: "keyid:#0a:1b:ff", typ: IDKeyID, data: []byte{0x0a, 0x1b, 0xff}, asString: "keyid:#0a1bff"},
		{in: "keyid:#41", typ: IDKeyID, data: []byte("A"), asString: "keyid:A"},
		{in: "C=CH, O=Lab, CN=x", typ: IDDERASN1DN, data: idTestDER(t,
			pkix.AttributeTypeAndValue{Type: idTestC, Value: "CH"},
			pkix.AttributeTypeAndValue{Type: idTestO, Value: "Lab"},
			pkix.AttributeTypeAndValue{Type: idTestCN, Value: "x"})},
		{in: "C=CH,O=Lab,OU=VPN,CN=x", typ: IDDERASN1DN, data: idTestDER(t,
			pkix.AttributeTypeAndValue{Type: idTestC, Value: "CH"},
			pkix.AttributeTypeAndValue{Type: idTestO, Value: "Lab"},
			pkix.AttributeTypeAndValue{Type: idTestOU, Value: "VPN"},
			pkix.AttributeTypeAndValue{Type: idTestCN, Value: "x"}), asString: "C=CH, O=Lab, OU=VPN, CN=x"},
		{in: "/C=CH/O=Lab/CN=x", typ: IDDERASN1DN, data: idTestDER(t,
			pkix.AttributeTypeAndValue{Type: idTestC, Value: "CH"},
			pkix.AttributeTypeAndValue{Type: idTestO, Value: "Lab"},
			pkix.AttributeTypeAndValue{Type: idTestCN, Value: "x"}), asString: "C=CH, O=Lab, CN=x"},
		{in: `CN=Smith\, John, commonName=a`, typ: IDDERASN1DN, data: idTestDER(t,
			pkix.AttributeTypeAndValue{Type: idTestCN, Value: "Smith, John"},
			pkix.AttributeTypeAndValue{Type: idTestCN, Value: "a"}), asString: `CN=Smith\, John, CN=a`},
		{in: "2.5.4.3=x", typ: IDDERASN1DN, data: idTestDER(t,
			pkix.AttributeTypeAndValue{Type: idTestCN, Value: "x"}), asString: "CN=x"},
		{in: "1.2.3.4=x", typ: IDDERASN1DN, data: idTestDER(t,
			pkix.AttributeTypeAndValue{Type: asn1.ObjectIdentifier{1, 2, 3, 4}, Value: "x"})},
		{in: "CN=Zürich", typ: IDDERASN1DN, data: idTestDER(t,
			pkix.AttributeTypeAndValue{Type: idTestCN, Value: "Zürich"})},
		{in: "E=gw@lab, CN=x", typ: IDDERASN1DN, data: idTestDER(t,
			pkix.AttributeTypeAndValue{Type: oidEmailAddress, Value: asn1.RawValue{Tag: asn1.TagIA5String, Bytes: []byte("gw@lab")}},
			pkix.AttributeTypeAndValue{Type: idTestCN, Value: "x"})},
	}
	for _, c := range cases {
		id, err := ParseIdentity(c.in)
		if err != nil {
			t.Errorf("ParseIdentity(%q): %v", c.in, err)
			continue
		}
		if id.Any != c.any || id.Type != c.typ || !bytes.Equal(id.Data, c.data) {
			t.Errorf("ParseIdentity(%q) = {type %d, %x, any %v}, want {type %d, %x, any %v}",
				c.in, id.Type, id.Data, id.Any, c.typ, c.data, c.any)
		}
		want := c.asString
		if want == "" {
			want = c.in
		}
		if got := id.String(); got != want {
			t.Errorf("ParseIdentity(%q).String() = %q, want %q", c.in, got, want)
		}
		// String's output reads back as the same identity.
		back, err := ParseIdentity(id.String())
		if err != nil || !back.Equal(id) || back.Type != id.Type {
			t.Errorf("ParseIdentity(%q) does not round-trip through %q: %v %v", c.in, id.String(), back, err)
		}
	}
}

func TestParseIdentityErrors(t *testing.T) {
	cases := []struct{ in, want string }{
		{"", "empty identity"},
		{"   ", "empty identity"},
		{"%all", `unknown identity "%all"`},
		{"keyid:", "empty key ID"},
		{"keyid:#xyz", "keyid:# must be followed by hex bytes"},
		{"keyid:#", "keyid:# must be followed by hex bytes"},
		{"@", "empty name"},
		{"user@", "needs text on both sides"},
		{"left lab", "cannot contain spaces"},
		{"fqdn:a@b", `an FQDN cannot contain "@"`},
		{"fe80::1%eth0", "cannot have a zone"},
		{"C=CH, XX=y", `unknown DN attribute "XX"`},
		{"C=CH, CN=", "DN attribute CN has an empty value"},
		{"C=CH, foo", `DN part "foo" is not of the form NAME=value`},
		{"=x", `DN part "=x" is not of the form NAME=value`},
		{"asn1dn:#zz", "asn1dn:# must be followed by the DER in hex"},
		{"asn1dn:#0102", "not a DER distinguished name"},
	}
	for _, c := range cases {
		id, err := ParseIdentity(c.in)
		if err == nil {
			t.Errorf("ParseIdentity(%q) = %v, want error containing %q", c.in, id, c.want)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseIdentity(%q) error %q, want it to contain %q", c.in, err, c.want)
		}
	}
}

func TestIdentityStringOther(t *testing.T) {
	der := idTestDER(t, pkix.AttributeTypeAndValue{Type: idTestCN, Value: "x"})
	cases := []struct {
		id   Identity
		want string
	}{
		{Identity{}, ""},
		{Identity{Type: IDKeyID, Data: []byte{0, 1, 2}}, "keyid:#000102"},
		{Identity{Type: IDKeyID, Data: []byte("#x")}, "keyid:#2378"},
		{Identity{Type: IDFQDN, Data: []byte("a b")}, "ID_TYPE_2:#612062"},
		{Identity{Type: IDRFC822, Data: []byte("gw")}, "email:gw"},
		{Identity{Type: IDRFC822, Data: []byte("C=x@y")}, "email:C=x@y"},
		{Identity{Type: IDFQDN, Data: []byte("C=x")}, "fqdn:C=x"},
		{Identity{Type: IDIPv4Addr, Data: []byte{1, 2, 3}}, "ID_TYPE_1:#010203"},
		{Identity{Type: IDDERASN1DN, Data: []byte{1, 2}}, "asn1dn:#0102"},
		{Identity{Type: IDDERASN1DN, Data: der}, "CN=x"},
		{Identity{Type: 4, Data: []byte{1}}, "ID_TYPE_4:#01"},
	}
	for _, c := range cases {
		if got := c.id.String(); got != c.want {
			t.Errorf("%d/%x: String() = %q, want %q", c.id.Type, c.id.Data, got, c.want)
		}
	}
	// asn1dn:#hex reads back a DN.
	id := idTestMust(t, "asn1dn:#"+hex.EncodeToString(der))
	if id.Type != IDDERASN1DN || !bytes.Equal(id.Data, der) || id.String() != "CN=x" {
		t.Errorf("asn1dn:# gave %v", id)
	}
}

func TestIdentityEqual(t *testing.T) {
	// The same DN encoded with other string types and spacing.
	utf8DN := idTestDER(t,
		pkix.AttributeTypeAndValue{Type: idTestC, Value: asn1.RawValue{Tag: asn1.TagUTF8String, Bytes: []byte("ch")}},
		pkix.AttributeTypeAndValue{Type: idTestO, Value: asn1.RawValue{Tag: asn1.TagUTF8String, Bytes: []byte("  the   lab ")}},
		pkix.AttributeTypeAndValue{Type: idTestCN, Value: asn1.RawValue{Tag: asn1.TagIA5String, Bytes: []byte("X")}})
	cases := []struct {
		a, b Identity
		want bool
	}{
		{idTestMust(t, "C=CH, O=The Lab, CN=x"), Identity{Type: IDDERASN1DN, Data: utf8DN}, true},
		{idTestMust(t, "C=CH, O=Lab, CN=x"), idTestMust(t, "c=ch,o=lab,cn=x"), true},
		{idTestMust(t, "C=CH, O=Lab, CN=x"), idTestMust(t, "CN=x, O=Lab, C=CH"), false},
		{idTestMust(t, "C=CH, O=Lab, CN=x"), idTestMust(t, "C=CH, O=Lab"), false},
		{idTestMust(t, "C=CH, O=Lab, CN=x"), idTestMust(t, "C=CH, OU=Lab, CN=x"), false},
		{idTestMust(t, "C=CH, O=Lab, CN=x"), idTestMust(t, "C=CH, O=Lab, CN=*"), false},
		{idTestMust(t, "left.lab"), idTestMust(t, "@LEFT.lab"), true},
		{idTestMust(t, "left.lab"), idTestMust(t, "right.lab"), false},
		{idTestMust(t, "left.lab"), idTestMust(t, "keyid:left.lab"), false},
		{idTestMust(t, "a@lab"), idTestMust(t, "A@LAB"), true},
		{idTestMust(t, "10.0.0.1"), idTestMust(t, "10.0.0.1"), true},
		{idTestMust(t, "10.0.0.1"), idTestMust(t, "10.0.0.2"), false},
		{idTestMust(t, "10.0.0.1"), idTestMust(t, "::ffff:10.0.0.1"), false},
		{idTestMust(t, "keyid:a"), idTestMust(t, "keyid:#61"), true},
		{idTestMust(t, "keyid:a"), idTestMust(t, "keyid:A"), false},
		{idTestMust(t, "%any"), idTestMust(t, "%any"), true},
		{idTestMust(t, "%any"), idTestMust(t, "left.lab"), false},
		{Identity{Type: IDDERASN1DN, Data: []byte{1}}, Identity{Type: IDDERASN1DN, Data: []byte{1}}, true},
		{Identity{Type: IDDERASN1DN, Data: []byte{1}}, Identity{Type: IDDERASN1DN, Data: []byte{2}}, false},
	}
	for _, c := range cases {
		if got := c.a.Equal(c.b); got != c.want {
			t.Errorf("%v Equal %v = %v, want %v", c.a, c.b, got, c.want)
		}
		if got := c.b.Equal(c.a); got != c.want {
			t.Errorf("%v Equal %v = %v, want %v (symmetry)", c.b, c.a, got, c.want)
		}
	}
}

func TestIdentityMatches(t *testing.T) {
	cases := []struct {
		policy, peer string
		want         bool
	}{
		{"%any", "left.lab", true},
		{"%any", "10.0.0.1", true},
		{"%any", "C=CH, CN=x", true},
		{"%any", "%any", true},
		{"left.lab", "%any", false},
		{"left.lab", "left.lab", true},
		{"left.lab", "Left.Lab", true},
		{"left.lab", "right.lab", false},
		{"*.lab", "gw.lab", true},
		{"*.lab", "a.b.lab", true},
		{"*.lab", "lab", false},
		{"*.lab", "gw.lab.evil", false},
		{"*", "anything", true},
		{"*@lab", "alice@lab", true},
		{"*@lab", "alice@LAB", true},
		{"*@lab", "alice@evil.lab", false},
		{"*@lab", "lab", false}, // an FQDN, not user@fqdn
		{"C=CH, O=Lab, CN=*", "C=CH, O=Lab, CN=left.lab", true},
		{"C=CH, O=Lab, CN=*", "C=CH, O=Evil, CN=left.lab", false},
		{"C=CH, O=Lab, CN=*", "C=CH, O=Lab", false},
		{"C=CH, O=Lab, CN=*", "C=CH, O=Lab, OU=x, CN=y", false},
		{"C=CH, O=Lab, CN=x", "C=CH, O=lab, CN=X", true},
		{"10.0.0.1", "10.0.0.1", true},
		{"10.0.0.1", "fqdn:10.0.0.1", false},
		{"keyid:#01", "keyid:#01", true},
	}
	for _, c := range cases {
		if got := idTestMust(t, c.policy).Matches(idTestMust(t, c.peer)); got != c.want {
			t.Errorf("%q Matches %q = %v, want %v", c.policy, c.peer, got, c.want)
		}
	}
}

// The DN a config names matches the subject of a certificate made from the
// same names with crypto/x509 (Go's own string type choices).
func TestIdentityDNMatchesPkixName(t *testing.T) {
	name := pkix.Name{Country: []string{"CH"}, Organization: []string{"ikegate test"}, CommonName: "right.lab"}
	der, err := asn1.Marshal(name.ToRDNSequence())
	if err != nil {
		t.Fatal(err)
	}
	id := idTestMust(t, "C=CH, O=ikegate test, CN=right.lab")
	if !bytes.Equal(id.Data, der) {
		t.Errorf("DER differs from pkix.Name's:\n got %x\nwant %x", id.Data, der)
	}
}
