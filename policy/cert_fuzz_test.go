package policy

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"testing"
	"time"
)

// certFuzzIssue makes a certificate from tmpl signed by parent (self-signed
// when parent is nil), valid around certTestTime.
func certFuzzIssue(tb testing.TB, serial int64, tmpl *x509.Certificate, parent *certTestKey) *certTestKey {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl.SerialNumber = big.NewInt(serial)
	tmpl.NotBefore, tmpl.NotAfter = certTestTime.Add(-24*time.Hour), certTestTime.Add(365*24*time.Hour)
	issuer, signer := tmpl, crypto.Signer(key)
	if parent != nil {
		issuer, signer = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuer, key.Public(), signer)
	if err != nil {
		tb.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	return &certTestKey{cert: c, key: key}
}

// FuzzVerifyPeerCert feeds a peer's certificate chain as it arrives in
// CERT payloads (a leaf and an intermediate, DER, any bytes) to
// VerifyPeerCert against a fixed root, then checks the leaf, whether or
// not it verified, against identities with CertMatchesIdentity and
// CertIdentity (FuzzIdentityFromPeer fuzzes the identity side against a
// fixed certificate; this fuzzes the certificate side). Nothing may panic,
// and:
//   - a chain that verifies returns the leaf sent, and the leaf chains to
//     the root;
//   - an error is never empty;
//   - every certificate matches the identity CertIdentity derives from it,
//     and KEY_ID never matches.
//
// Run it longer with
//
//	go test -run=NONE -fuzz='^FuzzVerifyPeerCert$' -fuzztime=5m ./policy/
func FuzzVerifyPeerCert(f *testing.F) {
	caTmpl := func(cn string) *x509.Certificate {
		return &x509.Certificate{Subject: pkix.Name{CommonName: cn, Organization: []string{"ikegate test"}},
			IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	}
	root := certFuzzIssue(f, 1, caTmpl("Lab Root CA"), nil)
	inter := certFuzzIssue(f, 2, caTmpl("Lab Intermediate CA"), root)
	other := certFuzzIssue(f, 3, caTmpl("Other Root CA"), nil)
	leaf := certFuzzIssue(f, 4, &x509.Certificate{
		Subject:        pkix.Name{Country: []string{"CH"}, Organization: []string{"Lab"}, CommonName: "peer"},
		DNSNames:       []string{"host.lab"},
		EmailAddresses: []string{"user@lab"},
		IPAddresses:    []net.IP{net.IPv4(10, 1, 2, 3), net.ParseIP("2001:db8::1")},
	}, inter)
	direct := certFuzzIssue(f, 5, &x509.Certificate{DNSNames: []string{"only.dns."}}, root)
	ipOnly := certFuzzIssue(f, 6, &x509.Certificate{IPAddresses: []net.IP{net.IPv4(192, 0, 2, 7)}}, root)
	stranger := certFuzzIssue(f, 7, &x509.Certificate{Subject: pkix.Name{CommonName: "stranger"}}, other)
	roots := certTestPool(root)

	f.Add(leaf.cert.Raw, inter.cert.Raw, IDFQDN, []byte("host.lab"))
	f.Add(leaf.cert.Raw, []byte{}, IDDERASN1DN, leaf.cert.RawSubject)
	f.Add(leaf.cert.Raw, root.cert.Raw, IDIPv4Addr, []byte{10, 1, 2, 3})
	f.Add(direct.cert.Raw, []byte{}, IDFQDN, []byte("ONLY.dns"))
	f.Add(ipOnly.cert.Raw, inter.cert.Raw, IDIPv6Addr, []byte(net.ParseIP("192.0.2.7").To16()))
	f.Add(stranger.cert.Raw, other.cert.Raw, IDRFC822, []byte("user@lab"))
	f.Add(inter.cert.Raw, leaf.cert.Raw, IDKeyID, []byte("grp"))
	f.Add(leaf.cert.Raw[:len(leaf.cert.Raw)/2], inter.cert.Raw, IDFQDN, []byte{})
	f.Add([]byte{0x30, 0x00}, []byte{0x30, 0x80}, uint8(0), []byte{})

	f.Fuzz(func(t *testing.T, leafDER, interDER []byte, typ uint8, idData []byte) {
		chain := [][]byte{leafDER}
		if len(interDER) > 0 {
			chain = append(chain, interDER)
		}
		got, err := VerifyPeerCert(chain, roots, certTestTime)
		if err != nil {
			if got != nil {
				t.Errorf("VerifyPeerCert failed (%v) but returned a certificate", err)
			}
			if err.Error() == "" {
				t.Error("VerifyPeerCert: empty error")
			}
		} else {
			if got == nil || !bytes.Equal(got.Raw, leafDER) {
				t.Fatalf("VerifyPeerCert returned %v, not the leaf sent", got)
			}
			opts := x509.VerifyOptions{Roots: roots, Intermediates: x509.NewCertPool(), CurrentTime: certTestTime,
				KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}
			if c, err := x509.ParseCertificate(interDER); err == nil {
				opts.Intermediates.AddCert(c)
			}
			if _, err := got.Verify(opts); err != nil {
				t.Errorf("verified leaf does not chain to the root: %v", err)
			}
		}
		cert, err := x509.ParseCertificate(leafDER)
		if err != nil {
			return
		}
		own := CertIdentity(cert)
		if err := CertMatchesIdentity(cert, own); err != nil {
			t.Errorf("certificate does not match its own identity %v: %v", own, err)
		}
		if err := CertMatchesIdentity(cert, Identity{Type: IDKeyID, Data: idData}); err == nil {
			t.Error("certificate vouches for a KEY_ID")
		}
		if err := CertMatchesIdentity(cert, Identity{Type: typ, Data: idData}); err != nil && err.Error() == "" {
			t.Error("CertMatchesIdentity: empty error")
		}
		for _, s := range idFuzzConfigured {
			if id, err := ParseIdentity(s); err == nil {
				_ = CertMatchesIdentity(cert, id)
			}
		}
	})
}
