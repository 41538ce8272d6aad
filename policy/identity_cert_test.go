package policy

import (
	"bytes"
	"crypto"
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

// certTestTime is the "now" of the certificate tests; every certificate is
// valid from a day before to a year after it.
var certTestTime = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

type certTestKey struct {
	cert *x509.Certificate
	key  crypto.Signer
}

var certTestSerial int64

// certTestIssue makes a certificate from tmpl signed by parent (self-signed
// when parent is nil).
func certTestIssue(t *testing.T, tmpl *x509.Certificate, parent *certTestKey) *certTestKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	certTestSerial++
	tmpl.SerialNumber = big.NewInt(certTestSerial)
	if tmpl.NotBefore.IsZero() {
		tmpl.NotBefore = certTestTime.Add(-24 * time.Hour)
		tmpl.NotAfter = certTestTime.Add(365 * 24 * time.Hour)
	}
	issuer, signer := tmpl, crypto.Signer(key)
	if parent != nil {
		issuer, signer = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuer, key.Public(), signer)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &certTestKey{cert: c, key: key}
}

func certTestCA(t *testing.T, cn string, parent *certTestKey) *certTestKey {
	return certTestIssue(t, &x509.Certificate{
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"ikegate test"}},
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}, parent)
}

func certTestPool(cas ...*certTestKey) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range cas {
		p.AddCert(c.cert)
	}
	return p
}

func TestVerifyPeerCert(t *testing.T) {
	root := certTestCA(t, "Lab Root CA", nil)
	inter := certTestCA(t, "Lab Intermediate CA", root)
	other := certTestCA(t, "Other Root CA", nil)
	leaf := certTestIssue(t, &x509.Certificate{
		Subject:  pkix.Name{CommonName: "left.lab"},
		DNSNames: []string{"left.lab"},
		KeyUsage: x509.KeyUsageDigitalSignature,
		// An EKU no TLS verifier would accept for a server: IKE accepts any.
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
	}, inter)
	direct := certTestIssue(t, &x509.Certificate{
		Subject: pkix.Name{CommonName: "right.lab"}, DNSNames: []string{"right.lab"},
	}, root)
	expired := certTestIssue(t, &x509.Certificate{
		Subject:   pkix.Name{CommonName: "old.lab"},
		NotBefore: certTestTime.Add(-400 * 24 * time.Hour),
		NotAfter:  certTestTime.Add(-time.Hour),
	}, root)
	future := certTestIssue(t, &x509.Certificate{
		Subject:   pkix.Name{CommonName: "future.lab"},
		NotBefore: certTestTime.Add(time.Hour),
		NotAfter:  certTestTime.Add(400 * 24 * time.Hour),
	}, root)

	cases := []struct {
		name    string
		der     [][]byte
		roots   *x509.CertPool
		now     time.Time
		want    *x509.Certificate
		wantErr string
	}{
		{"leaf and intermediate", [][]byte{leaf.cert.Raw, inter.cert.Raw}, certTestPool(root), certTestTime, leaf.cert, ""},
		{"leaf directly under root", [][]byte{direct.cert.Raw}, certTestPool(root), certTestTime, direct.cert, ""},
		{"intermediate as anchor", [][]byte{leaf.cert.Raw}, certTestPool(inter), certTestTime, leaf.cert, ""},
		{"extra unrelated cert sent", [][]byte{direct.cert.Raw, other.cert.Raw}, certTestPool(root), certTestTime, direct.cert, ""},
		{"missing intermediate", [][]byte{leaf.cert.Raw}, certTestPool(root), certTestTime, nil,
			"peer certificate CN=left.lab (issuer CN=Lab Intermediate CA,O=ikegate test"},
		{"untrusted CA", [][]byte{leaf.cert.Raw, inter.cert.Raw}, certTestPool(other), certTestTime, nil,
			"signed by unknown authority"},
		{"expired", [][]byte{expired.cert.Raw}, certTestPool(root), certTestTime, nil, "expired"},
		{"not yet valid", [][]byte{future.cert.Raw}, certTestPool(root), certTestTime, nil, "not yet valid"},
		{"valid now, expired later", [][]byte{direct.cert.Raw}, certTestPool(root), certTestTime.Add(2 * 365 * 24 * time.Hour), nil, "expired"},
		{"no certificate", nil, certTestPool(root), certTestTime, nil, "peer sent no certificate"},
		{"no roots", [][]byte{direct.cert.Raw}, nil, certTestTime, nil, "no trust anchors"},
		{"garbage leaf", [][]byte{{0x30, 0x03, 0x02, 0x01, 0x01}}, certTestPool(root), certTestTime, nil, "peer certificate: x509:"},
		{"garbage intermediate", [][]byte{leaf.cert.Raw, {0x01}}, certTestPool(root), certTestTime, nil, "peer certificate 2 (intermediate)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := VerifyPeerCert(c.der, c.roots, c.now)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !got.Equal(c.want) {
				t.Fatalf("returned %s, want %s", got.Subject, c.want.Subject)
			}
		})
	}
}

// certTestDN encodes a DN whose values all have the given ASN.1 string tag.
func certTestDN(t *testing.T, tag int, attrs ...string) []byte {
	t.Helper()
	oids := map[string]asn1.ObjectIdentifier{
		"C": {2, 5, 4, 6}, "O": {2, 5, 4, 10}, "OU": {2, 5, 4, 11}, "CN": {2, 5, 4, 3},
	}
	var rdns []certRDNSET
	for _, a := range attrs {
		k, v, _ := strings.Cut(a, "=")
		rdns = append(rdns, certRDNSET{{Type: oids[k], Value: asn1.RawValue{Tag: tag, Bytes: []byte(v)}}})
	}
	der, err := asn1.Marshal(rdns)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestCertMatchesIdentity(t *testing.T) {
	ca := certTestCA(t, "Lab CA", nil)
	left := certTestIssue(t, &x509.Certificate{
		Subject:        pkix.Name{Country: []string{"CH"}, Organization: []string{"Lab"}, CommonName: "left.lab"},
		DNSNames:       []string{"left.lab", "vpn.Example.COM"},
		EmailAddresses: []string{"gw@left.lab"},
		IPAddresses:    []net.IP{net.ParseIP("192.0.2.1"), net.ParseIP("2001:db8::1")},
	}, ca).cert
	bare := certTestIssue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "bare.lab"}}, ca).cert

	v4 := func(s string) Identity { return Identity{Type: IDIPv4Addr, Data: net.ParseIP(s).To4()} }
	v6 := func(s string) Identity { return Identity{Type: IDIPv6Addr, Data: net.ParseIP(s).To16()} }
	fqdn := func(s string) Identity { return Identity{Type: IDFQDN, Data: []byte(s)} }
	mail := func(s string) Identity { return Identity{Type: IDRFC822, Data: []byte(s)} }
	dn := func(b []byte) Identity { return Identity{Type: IDDERASN1DN, Data: b} }
	const leftDesc = "certificate CN=left.lab,O=Lab,C=CH (DNS: left.lab, vpn.Example.COM; email: gw@left.lab; IP: 192.0.2.1, 2001:db8::1)"

	cases := []struct {
		name    string
		cert    *x509.Certificate
		id      Identity
		wantErr string // "" for a match
	}{
		{"IPv4 match", left, v4("192.0.2.1"), ""},
		{"IPv4 mismatch", left, v4("192.0.2.2"), leftDesc + " does not contain identity IPv4 192.0.2.2"},
		{"IPv4 as mapped IPv6 data is malformed", left, Identity{Type: IDIPv4Addr, Data: net.ParseIP("192.0.2.1").To16()},
			"identity IPv4 (malformed: 00000000000000000000ffffc0000201) is malformed: 16 octets of address"},
		{"IPv6 match", left, v6("2001:db8::1"), ""},
		{"IPv6 mismatch", left, v6("2001:db8::2"), leftDesc + " does not contain identity IPv6 2001:db8::2"},
		{"IPv6 identity of mapped IPv4 matches IPv4 SAN", left, v6("::ffff:192.0.2.1"), ""},
		{"FQDN match", left, fqdn("left.lab"), ""},
		{"FQDN match ignoring case", left, fqdn("VPN.example.com"), ""},
		{"FQDN match with final dot", left, fqdn("left.lab."), ""},
		{"FQDN mismatch", left, fqdn("right.lab"), leftDesc + " does not contain identity FQDN right.lab"},
		{"FQDN is not matched against the CN", bare, fqdn("bare.lab"),
			"certificate CN=bare.lab (no subjectAltName) does not contain identity FQDN bare.lab"},
		{"FQDN is not an email", left, fqdn("gw@left.lab"), "does not contain identity FQDN gw@left.lab"},
		{"RFC822 match", left, mail("gw@left.lab"), ""},
		{"RFC822 match ignoring case", left, mail("GW@Left.Lab"), ""},
		{"RFC822 mismatch", left, mail("admin@left.lab"), leftDesc + " does not contain identity RFC822 admin@left.lab"},
		{"RFC822 is not a DNS name", left, mail("left.lab"), "does not contain identity RFC822 left.lab"},
		{"DN exact bytes", left, dn(left.RawSubject), ""},
		{"DN as CertIdentity", left, CertIdentity(left), ""},
		{"DN re-encoded as UTF8String, other case and spacing", left,
			dn(certTestDN(t, asn1.TagUTF8String, "C=ch", "O=lab", "CN=LEFT.lab")), ""},
		{"DN with BMPString values", bare,
			dn(certTestDN(t, asn1.TagBMPString, "CN=\x00b\x00a\x00r\x00e\x00.\x00l\x00a\x00b")), ""},
		{"DN differing CN", left, dn(certTestDN(t, asn1.TagPrintableString, "C=CH", "O=Lab", "CN=right.lab")),
			leftDesc + " does not contain identity DN CN=right.lab,O=Lab,C=CH"},
		{"DN in another order", left, dn(certTestDN(t, asn1.TagPrintableString, "CN=left.lab", "O=Lab", "C=CH")),
			"does not contain identity DN C=CH,O=Lab,CN=left.lab"},
		{"DN prefix only", left, dn(certTestDN(t, asn1.TagPrintableString, "C=CH", "O=Lab")),
			"does not contain identity DN O=Lab,C=CH"},
		{"DN with an extra RDN", left, dn(certTestDN(t, asn1.TagPrintableString, "C=CH", "O=Lab", "OU=VPN", "CN=left.lab")),
			"does not contain identity DN CN=left.lab,OU=VPN,O=Lab,C=CH"},
		{"DN malformed", left, dn([]byte{0x30, 0x05, 0x31}), "does not contain identity DN (malformed, 3 octets)"},
		{"DN with trailing octets", left, dn(append(bytes.Clone(left.RawSubject), 0)), "does not contain identity DN (malformed"},
		{"KEY_ID refused", left, Identity{Type: IDKeyID, Data: []byte{0xde, 0xad}},
			"identity KEY_ID 0xdead is a KEY_ID, which a certificate cannot vouch for"},
		{"unknown type", left, Identity{Type: 4, Data: []byte{1}}, "identity ID type 4 (0x01): this ID type cannot be checked"},
		{"%any", left, Identity{Any: true}, ""},
		{"no certificate", nil, fqdn("left.lab"), "no certificate to match identity FQDN left.lab"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := CertMatchesIdentity(c.cert, c.id)
			if c.wantErr == "" {
				if err != nil {
					t.Fatalf("want a match, got: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("matched; want error containing %q", c.wantErr)
			}
			if !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("error\n %q\ndoes not contain\n %q", err, c.wantErr)
			}
		})
	}
}

// Values of a string type encoding/asn1 cannot decode must not all look
// alike: two DNs differing only in such a value differ.
func TestCertDNEqualUnknownValueTypes(t *testing.T) {
	universal := func(v string) []byte { return certTestDN(t, 28, "CN="+v) } // UniversalString
	if !certDNEqual(universal("\x00\x00\x00a"), universal("\x00\x00\x00a")) {
		t.Error("identical DNs differ")
	}
	if certDNEqual(universal("\x00\x00\x00a"), universal("\x00\x00\x00b")) {
		t.Error("DNs with different UniversalString values are equal")
	}
}

func TestCertIdentity(t *testing.T) {
	ca := certTestCA(t, "Lab CA", nil)
	withDN := certTestIssue(t, &x509.Certificate{
		Subject: pkix.Name{CommonName: "left.lab"}, DNSNames: []string{"left.lab"},
	}, ca).cert
	id := CertIdentity(withDN)
	if id.Type != IDDERASN1DN || !bytes.Equal(id.Data, withDN.RawSubject) || id.Any {
		t.Fatalf("CertIdentity = %+v, want the subject DN", id)
	}
	if err := CertMatchesIdentity(withDN, id); err != nil {
		t.Fatal(err)
	}
	if got := certIDText(id); got != "DN CN=left.lab" {
		t.Errorf("certIDText = %q", got)
	}

	for _, c := range []struct {
		tmpl *x509.Certificate
		want Identity
	}{
		{&x509.Certificate{DNSNames: []string{"sanonly.lab"}, EmailAddresses: []string{"a@b"}},
			Identity{Type: IDFQDN, Data: []byte("sanonly.lab")}},
		{&x509.Certificate{EmailAddresses: []string{"a@b"}}, Identity{Type: IDRFC822, Data: []byte("a@b")}},
		{&x509.Certificate{IPAddresses: []net.IP{net.ParseIP("192.0.2.7")}},
			Identity{Type: IDIPv4Addr, Data: []byte{192, 0, 2, 7}}},
	} {
		cert := certTestIssue(t, c.tmpl, ca).cert
		got := CertIdentity(cert)
		if got.Type != c.want.Type || !bytes.Equal(got.Data, c.want.Data) {
			t.Errorf("empty-subject cert: CertIdentity = %+v, want %+v", got, c.want)
		}
		if err := CertMatchesIdentity(cert, got); err != nil {
			t.Errorf("empty-subject cert does not match its own identity: %v", err)
		}
	}
}
