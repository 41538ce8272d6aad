package policy

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"
)

// Seed corpora for these targets are under testdata/fuzz/<FuzzName>/; run
// one with e.g.
//
//	go test -run=NONE -fuzz='^FuzzIdentityFromPeer$' -fuzztime=1m ./policy/

// idFuzzConfigured are the configured identities FuzzIdentityFromPeer
// checks peer identities against, as a config file would write them.
var idFuzzConfigured = []string{
	"%any",
	"@host.lab",
	"user@lab",
	"10.1.2.3",
	"2001:db8::1",
	"keyid:grp",
	"C=CH, O=Lab, CN=peer",
	"C=CH, O=Lab, CN=*",
	"*.lab",
	"*@lab",
}

// idFuzzDER is the DER of an RDN sequence with one attribute per RDN,
// values as encoding/asn1 encodes strings (PrintableString, else
// UTF8String).
func idFuzzDER(tb testing.TB, atvs ...pkix.AttributeTypeAndValue) []byte {
	tb.Helper()
	var seq pkix.RDNSequence
	for _, a := range atvs {
		seq = append(seq, pkix.RelativeDistinguishedNameSET{a})
	}
	der, err := asn1.Marshal(seq)
	if err != nil {
		tb.Fatal(err)
	}
	return der
}

// idFuzzCert returns a self-signed ECDSA P-256 certificate with subject
// C=CH, O=Lab, CN=peer and the subjectAltNames DNS host.lab, email
// user@lab and IP 10.1.2.3 and 2001:db8::1: one name of each kind
// CertMatchesIdentity checks.
func idFuzzCert(tb testing.TB) *x509.Certificate {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:   big.NewInt(1),
		Subject:        pkix.Name{Country: []string{"CH"}, Organization: []string{"Lab"}, CommonName: "peer"},
		NotBefore:      time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:       time.Date(2045, 1, 1, 0, 0, 0, 0, time.UTC),
		DNSNames:       []string{"host.lab"},
		EmailAddresses: []string{"user@lab"},
		IPAddresses:    []net.IP{net.IPv4(10, 1, 2, 3), net.ParseIP("2001:db8::1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	return cert
}

// FuzzIdentityFromPeer feeds identities as a peer sends them in an
// IDi/IDr (IKEv2) or ID (IKEv1) payload, an ID type byte and the data,
// through everything that consumes a peer's identity: String (logs, `sas`
// output), Equal, Matches against configured identities, and
// CertMatchesIdentity against a certificate. None may panic, and:
//   - String of an identity with a type or data is not empty;
//   - Equal is reflexive and symmetric;
//   - a configured identity without wildcards matches exactly the identities
//     it is Equal to, and no configured identity but %any matches another
//     ID type;
//   - the wildcard DN "C=CH, O=Lab, CN=*" matches only DNs of three
//     single-attribute RDNs C=CH, O=Lab (ignoring case and white space runs),
//     CN=<anything>;
//   - a certificate never vouches for a KEY_ID or an unknown ID type.
func FuzzIdentityFromPeer(f *testing.F) {
	c, o, cn := asn1.ObjectIdentifier{2, 5, 4, 6}, asn1.ObjectIdentifier{2, 5, 4, 10}, asn1.ObjectIdentifier{2, 5, 4, 3}
	dn := idFuzzDER(f,
		pkix.AttributeTypeAndValue{Type: c, Value: "CH"},
		pkix.AttributeTypeAndValue{Type: o, Value: "Lab"},
		pkix.AttributeTypeAndValue{Type: cn, Value: "peer"})
	f.Add(IDFQDN, []byte("host.lab"))
	f.Add(IDFQDN, []byte("HOST.LAB."))
	f.Add(IDFQDN, []byte("*"))
	f.Add(IDRFC822, []byte("user@lab"))
	f.Add(IDRFC822, []byte("@"))
	f.Add(IDIPv4Addr, []byte{10, 1, 2, 3})
	f.Add(IDIPv4Addr, []byte{10, 1, 2})
	f.Add(IDIPv6Addr, []byte{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1})
	f.Add(IDIPv6Addr, []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 1, 2, 3})
	f.Add(IDKeyID, []byte("grp"))
	f.Add(IDKeyID, []byte{0, 0xff})
	f.Add(IDDERASN1DN, dn)
	f.Add(IDDERASN1DN, dn[:len(dn)-3])
	f.Add(IDDERASN1DN, idFuzzDER(f,
		pkix.AttributeTypeAndValue{Type: c, Value: "ch"},
		pkix.AttributeTypeAndValue{Type: o, Value: " lab "},
		pkix.AttributeTypeAndValue{Type: cn, Value: "anyone, really"}))
	f.Add(IDDERASN1DN, []byte{0x30, 0x00})
	f.Add(IDDERASN1DN, []byte{})
	f.Add(uint8(0), []byte{})
	f.Add(uint8(4), []byte{10, 0, 0, 0, 255, 0, 0, 0}) // ID_IPV4_ADDR_SUBNET
	f.Add(uint8(10), []byte{1})                        // ID_DER_ASN1_GN
	f.Add(uint8(255), []byte("x"))

	var configured []Identity
	for _, s := range idFuzzConfigured {
		id, err := ParseIdentity(s)
		if err != nil {
			f.Fatalf("ParseIdentity(%q): %v", s, err)
		}
		configured = append(configured, id)
	}
	wildDN, err := ParseIdentity("C=CH, O=Lab, CN=*")
	if err != nil {
		f.Fatal(err)
	}
	cert := idFuzzCert(f)
	if err := CertMatchesIdentity(cert, CertIdentity(cert)); err != nil {
		f.Fatalf("certificate does not match its own identity: %v", err)
	}

	f.Fuzz(func(t *testing.T, typ uint8, data []byte) {
		id := Identity{Type: typ, Data: data}

		s := id.String()
		if s == "" && (typ != 0 || len(data) != 0) {
			t.Errorf("String() of type %d, data %x is empty", typ, data)
		}
		if !id.Equal(id) {
			t.Errorf("%s (type %d, data %x) is not Equal to itself", s, typ, data)
		}

		for i, conf := range configured {
			if eq, rev := conf.Equal(id), id.Equal(conf); eq != rev {
				t.Errorf("Equal not symmetric: %q.Equal(%s) = %v, reverse %v", idFuzzConfigured[i], s, eq, rev)
			}
			m := conf.Matches(id)
			switch {
			case conf.Any:
				if !m {
					t.Errorf("%%any does not match %s", s)
				}
				continue
			case m && conf.Type != typ:
				t.Errorf("%q (type %d) matches %s of type %d", idFuzzConfigured[i], conf.Type, s, typ)
			}
			if !strings.Contains(idFuzzConfigured[i], "*") && m != conf.Equal(id) {
				t.Errorf("%q: Matches(%s) = %v but Equal = %v", idFuzzConfigured[i], s, m, !m)
			}
		}
		if wildDN.Matches(id) {
			seq, ok := idParseDN(data)
			if !ok || len(seq) != 3 || len(seq[0]) != 1 || len(seq[1]) != 1 ||
				!seq[0][0].Type.Equal(asn1.ObjectIdentifier{2, 5, 4, 6}) || !strings.EqualFold(idNormDNValue(idDNValue(seq[0][0].Value)), "CH") ||
				!seq[1][0].Type.Equal(asn1.ObjectIdentifier{2, 5, 4, 10}) || !strings.EqualFold(idNormDNValue(idDNValue(seq[1][0].Value)), "Lab") ||
				len(seq[2]) != 1 || !seq[2][0].Type.Equal(asn1.ObjectIdentifier{2, 5, 4, 3}) {
				t.Errorf("C=CH, O=Lab, CN=* matches %s (%x)", s, data)
			}
		}

		err := CertMatchesIdentity(cert, id)
		switch typ {
		case IDIPv4Addr, IDIPv6Addr, IDFQDN, IDRFC822, IDDERASN1DN:
		default:
			if err == nil {
				t.Errorf("certificate vouches for %s of type %d", s, typ)
			}
		}
		if err != nil && err.Error() == "" {
			t.Errorf("CertMatchesIdentity(%s): empty error message", s)
		}
	})
}

// FuzzParseIdentity feeds identity strings as a config file writes them
// (local_id, remote_id) to ParseIdentity. It must not panic, and an
// identity it accepts must survive String: ParseIdentity(id.String())
// succeeds and is Equal to id, so that what logs and `ikegate sas` print
// can be pasted back into a config.
func FuzzParseIdentity(f *testing.F) {
	for _, s := range []string{
		"%any", " %any ", "%other", "",
		"@host.lab", "host.lab", "host", "@10.1.2.3", "fqdn:host.lab", "FQDN:C=x",
		"user@lab", "email:user@lab", "email:a=b@lab", "@", "a@", "*@lab", "*.lab", "*",
		"10.1.2.3", "2001:db8::1", "::ffff:10.1.2.3", "fe80::1%eth0",
		"keyid:grp", "keyid:#0a1b", "keyid:#0a:1b", "keyid:#", "keyid:#zz", "keyid:", "keyid: x",
		"C=CH, O=Lab, CN=peer", "C=CH, O=Lab, CN=*", "/C=CH/O=Lab/CN=a,b", `CN=a\, b`, `CN=a\`,
		"CN=", "=x", "C=CH,,CN=x", "2.5.4.3=x", "1.2.3=x", "1.99=x", "0.9.2342.19200300.100.1.25=lab",
		"E=user@lab, DC=lab, UID=u", "emailAddress=ü@lab", "commonName=x, GN=y, serialNumber=1",
		"asn1dn:#3000", "asn1dn:#300f310d300b06035504030c0470656572", "asn1dn:#30", "asn1dn:CN=x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseIdentity(s)
		if err != nil {
			if err.Error() == "" {
				t.Errorf("ParseIdentity(%q): empty error message", s)
			}
			return
		}
		if !id.Any && id.Type == 0 {
			t.Fatalf("ParseIdentity(%q) = %+v: neither %%any nor a typed identity", s, id)
		}
		str := id.String()
		if (id.Type == IDFQDN || id.Type == IDRFC822) && !idPrintable(string(id.Data)) {
			// ParseIdentity accepts names with invalid UTF-8 or with
			// characters that are neither printable nor space nor control
			// (format characters such as U+00AD), but the syntax has no
			// escaped or hex form for an FQDN or user@fqdn, so String can
			// only print these as "ID_TYPE_<n>:#<hex>", which ParseIdentity
			// reads as an FQDN of that text: the round trip cannot hold.
			// (Were ParseIdentity to reject such names, as String's
			// idPrintable does, this branch would never run.) Still,
			// String must not be empty.
			if str == "" {
				t.Fatalf("ParseIdentity(%q) = type %d, data %x, whose String is empty", s, id.Type, id.Data)
			}
			return
		}
		back, err := ParseIdentity(str)
		if err != nil {
			t.Fatalf("ParseIdentity(%q) = %q (type %d, data %x), which does not parse back: %v", s, str, id.Type, id.Data, err)
		}
		if !back.Equal(id) || !id.Equal(back) {
			t.Fatalf("ParseIdentity(%q) = %q (type %d, data %x), which parses back as type %d, data %x: not Equal",
				s, str, id.Type, id.Data, back.Type, back.Data)
		}
	})
}
