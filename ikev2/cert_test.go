package ikev2

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"testing"
	"time"

	"ikegate/isakmp"
	"ikegate/policy"
)

type testCA struct {
	cert *x509.Certificate
	key  crypto.Signer
	pool *x509.CertPool
}

func newTestCA(t *testing.T, cn string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Unix(1600000000, 0), NotAfter: time.Unix(1900000000, 0),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

func (ca *testCA) leaf(t *testing.T, dns string, key crypto.Signer) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: dns},
		DNSNames:  []string{dns},
		NotBefore: time.Unix(1600000000, 0), NotAfter: time.Unix(1900000000, 0),
		KeyUsage: x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return cert
}

func fqdn(s string) policy.Identity { return policy.Identity{Type: policy.IDFQDN, Data: []byte(s)} }

// certPair sets up a and b with certificates from signerA and signerB, both
// trusting only trust.
func certPair(t *testing.T, keyA, keyB crypto.Signer, signerA, signerB, trust *testCA) *pair {
	p := newPair(t, []string{"aes128gcm16-prfsha256-x25519"}, []string{"aes128gcm16"})
	for _, side := range []struct {
		n        *node
		me, peer string
		key      crypto.Signer
		signer   *testCA
		trust    *testCA
	}{{p.a, "a.lab", "b.lab", keyA, signerA, trust}, {p.b, "b.lab", "a.lab", keyB, signerB, trust}} {
		c := side.n.conns[0]
		c.Auth, c.PSK = policy.AuthPubkey, nil
		c.LocalID, c.RemoteID = fqdn(side.me), fqdn(side.peer)
		c.Key = side.key
		c.Cert = side.signer.leaf(t, side.me, side.key)
		c.CAs, c.CACerts = side.trust.pool, []*x509.Certificate{side.trust.cert}
	}
	return p
}

func TestCertificateAuth(t *testing.T) {
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ec384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	ca := newTestCA(t, "Test CA")
	for _, tc := range []struct {
		name string
		a, b crypto.Signer
	}{
		{"rsa-rsa", rsaKey, rsaKey},
		{"ecdsa-rsa", ecKey, rsaKey},
		{"ecdsa384-ed25519", ec384, edKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := certPair(t, tc.a, tc.b, ca, ca, ca)
			p.initiate(p.a, p.a.conns[0])
			p.run(time.Minute)
			requireEstablished(t, p.a, p.b)
		})
	}
}

func TestCertificateAuthFailures(t *testing.T) {
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca, rogue := newTestCA(t, "Test CA"), newTestCA(t, "Rogue CA")
	t.Run("untrusted", func(t *testing.T) {
		p := certPair(t, ecKey, ecKey, rogue, ca, ca) // a's cert is signed by a CA b does not trust
		p.initiate(p.a, p.a.conns[0])
		p.run(time.Minute)
		if n := len(p.a.eng.SAs()) + len(p.b.eng.SAs()); n != 0 {
			t.Fatalf("%d SAs with an untrusted certificate", n)
		}
		if p.b.eng.Stats().AuthFailures != 1 {
			t.Fatalf("responder auth failures %d", p.b.eng.Stats().AuthFailures)
		}
	})
	t.Run("identity mismatch", func(t *testing.T) {
		p := certPair(t, ecKey, ecKey, ca, ca, ca)
		p.a.conns[0].RemoteID = fqdn("c.lab") // b proves b.lab
		p.b.conns[0].RemoteID = policy.Identity{Any: true}
		p.initiate(p.a, p.a.conns[0])
		p.run(time.Minute)
		if n := len(p.a.eng.SAs()) + len(p.b.eng.SAs()); n != 0 {
			t.Fatalf("%d SAs with a mismatched identity", n)
		}
	})
}

// TestFragmentation forces small fragments: the certificate IKE_AUTH
// messages go out as several SKF fragments each way and are reassembled.
func TestFragmentation(t *testing.T) {
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ca := newTestCA(t, "Test CA")
	p := certPair(t, rsaKey, rsaKey, ca, ca, ca)
	for _, n := range []*node{p.a, p.b} {
		n.eng.Cfg.FragmentSize = 300
	}
	frags := 0
	p.Filter = func(_ int, d isakmp.Datagram) []isakmp.Datagram {
		if len(d.Data) > 300 {
			t.Errorf("datagram of %d bytes exceeds the fragment size", len(d.Data))
		}
		if d.Data[16] == byte(isakmp.PayloadSKF) {
			frags++
		}
		return []isakmp.Datagram{d}
	}
	p.initiate(p.a, p.a.conns[0])
	p.run(time.Minute)
	requireEstablished(t, p.a, p.b)
	if frags < 6 {
		t.Errorf("only %d fragments sent", frags)
	}
}
