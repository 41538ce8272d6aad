package interop

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// KeyType is the key algorithm of a test certificate.
type KeyType string

// Key types.
const (
	RSA2048   KeyType = "rsa2048"
	RSA3072   KeyType = "rsa3072" // large enough that an IKE_AUTH with it exceeds 1280 bytes
	ECDSAP256 KeyType = "ecdsa-p256"
)

// TestPKI is a throwaway CA that issues leaf certificates for a test, all
// written as PEM (certificates; private keys as PKCS#8 "PRIVATE KEY") and,
// for Libreswan, as PKCS#12 (made with openssl, empty password).
type TestPKI struct {
	Dir    string
	CACert string // PEM path
	CAKey  string
	CADN   string
	Leaves []*Leaf

	ca    *x509.Certificate
	caKey crypto.Signer
	mu    sync.Mutex
	n     int64
}

// Leaf is one issued certificate.
type Leaf struct {
	Name string // also its NSS nickname
	Type KeyType
	Cert string // PEM certificate path
	Key  string // PEM PKCS#8 private key path
	P12  string // PKCS#12 (cert + key + CA) path, password ""
	DN   string // subject DN, strongSwan/RFC 4514 syntax
	X509 *x509.Certificate
}

// NewTestPKI creates an ECDSA P-256 CA in dir ("CN=ikegate interop CA").
func NewTestPKI(t testing.TB, dir string) *TestPKI {
	t.Helper()
	return NewTestPKICN(t, dir, "ikegate interop CA")
}

// NewTestPKICN is NewTestPKI with the CA's common name cn: a second CA
// with its own subject, so that NSS (which keys certificates by issuer and
// serial) can hold leaves of both CAs in one database.
func NewTestPKICN(t testing.TB, dir, cn string) *TestPKI {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{Country: []string{"CH"}, Organization: []string{"ikegate"}, CommonName: cn},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(der)
	p := &TestPKI{Dir: dir, ca: ca, caKey: key, n: 1,
		CACert: filepath.Join(dir, "ca.pem"), CAKey: filepath.Join(dir, "ca.key"),
		CADN: "C=CH, O=ikegate, CN=" + cn}
	writePEM(t, p.CACert, "CERTIFICATE", der)
	writeKey(t, p.CAKey, key)
	return p
}

// Leaf issues a certificate for name (CN=name, O=ikegate, C=CH) with the
// given DNS and IP subjectAltNames, usable for IKE (serverAuth, clientAuth
// and digitalSignature).
func (p *TestPKI) Leaf(t testing.TB, name string, kt KeyType, dnsNames []string, ips []string) *Leaf {
	t.Helper()
	var key crypto.Signer
	var err error
	switch kt {
	case RSA2048:
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	case RSA3072:
		key, err = rsa.GenerateKey(rand.Reader, 3072)
	case ECDSAP256:
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	default:
		t.Fatalf("key type %q", kt)
	}
	if err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	p.n++
	serial := p.n
	p.mu.Unlock()
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{Country: []string{"CH"}, Organization: []string{"ikegate"}, CommonName: name},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:     dnsNames,
	}
	for _, s := range ips {
		ip := net.ParseIP(s)
		if ip == nil {
			t.Fatalf("leaf %s: bad IP %q", name, s)
		}
		tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, key.Public(), p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	l := &Leaf{Name: name, Type: kt, X509: c,
		Cert: filepath.Join(p.Dir, name+".pem"),
		Key:  filepath.Join(p.Dir, name+".key"),
		P12:  filepath.Join(p.Dir, name+".p12"),
		DN:   fmt.Sprintf("C=CH, O=ikegate, CN=%s", name)}
	writePEM(t, l.Cert, "CERTIFICATE", der)
	writeKey(t, l.Key, key)
	// PKCS#12 for NSS. Fact: pk12util (NSS 3.87) imports openssl 3's
	// default PKCS#12 (AES-256-CBC, PBKDF2) with an empty password.
	MustRun(t, Openssl, "pkcs12", "-export", "-in", l.Cert, "-inkey", l.Key, "-certfile", p.CACert,
		"-name", name, "-passout", "pass:", "-out", l.P12)
	p.mu.Lock()
	p.Leaves = append(p.Leaves, l)
	p.mu.Unlock()
	return l
}

// SubCA creates an intermediate CA (CN=cn) signed by p, in its own
// directory; its leaves chain to p's root. Chain appends the intermediate
// to a leaf's certificate file, as a gateway sends them.
func (p *TestPKI) SubCA(t testing.TB, cn string) *TestPKI {
	t.Helper()
	dir := filepath.Join(p.Dir, cn)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	p.n++
	serial := p.n
	p.mu.Unlock()
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serial),
		Subject:               pkix.Name{Country: []string{"CH"}, Organization: []string{"ikegate"}, CommonName: cn},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, key.Public(), p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(der)
	sub := &TestPKI{Dir: dir, ca: ca, caKey: key, n: serial * 1000,
		CACert: filepath.Join(dir, "ca.pem"), CAKey: filepath.Join(dir, "ca.key"),
		CADN: "C=CH, O=ikegate, CN=" + cn}
	writePEM(t, sub.CACert, "CERTIFICATE", der)
	writeKey(t, sub.CAKey, key)
	return sub
}

// Chain writes the leaf followed by the intermediate CA sub to a new
// file and returns its path.
func (l *Leaf) Chain(t testing.TB, sub *TestPKI) string {
	t.Helper()
	a, err := os.ReadFile(l.Cert)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(sub.CACert)
	if err != nil {
		t.Fatal(err)
	}
	path := strings.TrimSuffix(l.Cert, ".pem") + "-chain.pem"
	if err := os.WriteFile(path, append(a, b...), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// UseIn fills a Conn's pubkey fields with this leaf and the CA.
func (l *Leaf) UseIn(c *Conn, p *TestPKI) {
	c.Auth = "pubkey"
	c.Cert, c.Key, c.CertNick = l.Cert, l.Key, l.Name
	c.CAs = []string{p.CACert}
}

// ImportNSS imports the CA (trusted for peers: CT,,) and every leaf with its
// key (pk12util) into the NSS database nssDir (sql: format, empty password).
func (p *TestPKI) ImportNSS(t testing.TB, nssDir string) {
	t.Helper()
	db := "sql:" + nssDir
	MustRun(t, Certutil, "-A", "-d", db, "-n", "ikegate-interop-ca", "-t", "CT,,", "-a", "-i", p.CACert)
	p.mu.Lock()
	leaves := append([]*Leaf(nil), p.Leaves...)
	p.mu.Unlock()
	for _, l := range leaves {
		MustRun(t, Pk12util, "-i", l.P12, "-d", db, "-W", "")
	}
}

func writePEM(t testing.TB, path, typ string, der []byte) {
	t.Helper()
	writeFile(t, path, string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})), 0o600)
}

func writeKey(t testing.TB, path string, key crypto.Signer) {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, path, "PRIVATE KEY", der)
}
