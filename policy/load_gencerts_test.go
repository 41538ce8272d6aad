//go:build gencerts

package policy

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestGenerateConfigCerts writes the TEST-ONLY PKI under configs/certs that
// configs/site-to-site-cert.toml uses. It only runs when asked:
//
//	go test -tags gencerts ./policy/ -run TestGenerateConfigCerts
//
// The private keys it writes are public by being committed; never use them
// for anything but tests.
func TestGenerateConfigCerts(t *testing.T) {
	dir := filepath.Join("..", "configs", "certs")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	notBefore := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	notAfter := time.Date(2045, 1, 1, 0, 0, 0, 0, time.UTC)
	name := func(cn string) pkix.Name {
		return pkix.Name{Country: []string{"CH"}, Organization: []string{"ikegate test"}, CommonName: cn}
	}
	serial := int64(1)
	issue := func(tmpl *x509.Certificate, parent *x509.Certificate, pub crypto.PublicKey, signer crypto.Signer) *x509.Certificate {
		serial++
		tmpl.SerialNumber = big.NewInt(serial)
		tmpl.NotBefore, tmpl.NotAfter = notBefore, notAfter
		if parent == nil {
			parent = tmpl
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
		if err != nil {
			t.Fatal(err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	ca := func(cn string) *x509.Certificate {
		return &x509.Certificate{Subject: name(cn), IsCA: true, BasicConstraintsValid: true,
			KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	}
	leaf := func(cn string, ip string) *x509.Certificate {
		return &x509.Certificate{Subject: name(cn), DNSNames: []string{cn}, IPAddresses: []net.IP{net.ParseIP(ip)},
			KeyUsage: x509.KeyUsageDigitalSignature}
	}

	rootKey := genTestECDSA(t, elliptic.P256())
	root := issue(ca("ikegate test root CA"), nil, rootKey.Public(), rootKey)
	interKey := genTestECDSA(t, elliptic.P256())
	inter := issue(ca("ikegate test intermediate CA"), root, interKey.Public(), rootKey)

	// right: ECDSA P-256 leaf under the intermediate, PKCS#8 key, chain file.
	rightKey := genTestECDSA(t, elliptic.P256())
	right := issue(leaf("right.lab", "10.200.0.2"), inter, rightKey.Public(), interKey)
	// left: RSA leaf under the root, PKCS#1 key.
	leftKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	left := issue(leaf("left.lab", "10.200.0.1"), root, leftKey.Public(), rootKey)
	// ed: Ed25519 leaf under the root, PKCS#8 key (for loader tests).
	edPub, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ed := issue(leaf("ed.lab", "10.200.0.3"), root, edPub, rootKey)
	// ec: ECDSA P-384 leaf under the root, SEC 1 key.
	ecKey := genTestECDSA(t, elliptic.P384())
	ec := issue(leaf("ec.lab", "10.200.0.4"), root, ecKey.Public(), rootKey)

	genTestWritePEM(t, filepath.Join(dir, "ca.pem"), genTestCertBlock(root))
	genTestWritePEM(t, filepath.Join(dir, "right.crt.pem"), genTestCertBlock(right), genTestCertBlock(inter))
	genTestWritePEM(t, filepath.Join(dir, "right.key.pem"), genTestPKCS8(t, rightKey))
	genTestWritePEM(t, filepath.Join(dir, "left.crt.pem"), genTestCertBlock(left))
	genTestWritePEM(t, filepath.Join(dir, "left.key.pem"), &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(leftKey)})
	genTestWritePEM(t, filepath.Join(dir, "ed.crt.pem"), genTestCertBlock(ed))
	genTestWritePEM(t, filepath.Join(dir, "ed.key.pem"), genTestPKCS8(t, edKey))
	genTestWritePEM(t, filepath.Join(dir, "ec.crt.pem"), genTestCertBlock(ec))
	ecDER, err := x509.MarshalECPrivateKey(ecKey)
	if err != nil {
		t.Fatal(err)
	}
	genTestWritePEM(t, filepath.Join(dir, "ec.key.pem"), &pem.Block{Type: "EC PRIVATE KEY", Bytes: ecDER})
}

func genTestECDSA(t *testing.T, c elliptic.Curve) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func genTestCertBlock(c *x509.Certificate) *pem.Block {
	return &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}
}

func genTestPKCS8(t *testing.T, k any) *pem.Block {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return &pem.Block{Type: "PRIVATE KEY", Bytes: der}
}

func genTestWritePEM(t *testing.T, path string, blocks ...*pem.Block) {
	var out []byte
	for _, b := range blocks {
		out = append(out, pem.EncodeToMemory(b)...)
	}
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
}
