package ikev1

import (
	"crypto"
	"crypto/ecdsa"
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

// issue makes a certificate for cn signed by parent (self-signed CA when
// parent is nil).
func issue(t *testing.T, cn string, key crypto.Signer, parent *x509.Certificate, parentKey crypto.Signer) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Unix(1600000000, 0), NotAfter: time.Unix(1900000000, 0),
	}
	if parent == nil {
		tmpl.IsCA, tmpl.BasicConstraintsValid, tmpl.KeyUsage = true, true, x509.KeyUsageCertSign
		parent, parentKey = tmpl, key
	} else {
		tmpl.DNSNames = []string{cn}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c
}

func TestMainModeRSASignatures(t *testing.T) {
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca := issue(t, "v1 test CA", caKey, nil, nil)
	rogueKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rogue := issue(t, "rogue CA", rogueKey, nil, nil)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	for _, tc := range []struct {
		name      string
		signerA   *x509.Certificate
		signerKey crypto.Signer
		ok        bool
	}{
		{"trusted", ca, caKey, true},
		{"untrusted", rogue, rogueKey, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPair(t, "main", []string{"aes256-sha256-modp2048"}, []string{"aes256-sha256"})
			for _, n := range []*node{p.a, p.b} {
				c := n.conns[0]
				c.Auth, c.PSK, c.Key = policy.AuthPubkey, nil, rsaKey
				c.CAs, c.CACerts = pool, []*x509.Certificate{ca}
				signer, signerKey := ca, crypto.Signer(caKey)
				if n == p.a {
					signer, signerKey = tc.signerA, tc.signerKey
				}
				c.Cert = issue(t, n.name+".lab", rsaKey, signer, signerKey)
			}
			p.initiate(p.a, p.a.conns[0])
			p.run(time.Minute)
			if tc.ok {
				requireUp(t, p.a, p.b, 1)
				return
			}
			if n := len(p.b.eng.SAs()); n != 0 || p.b.eng.Stats().AuthFailures != 1 {
				t.Fatalf("responder: %d SAs, %d auth failures with an untrusted certificate", n, p.b.eng.Stats().AuthFailures)
			}
		})
	}
}

// TestFragmentedMainMode: a certificate Main Mode between peers that both
// announce IKE fragmentation completes over a path that drops every
// datagram above 576 bytes (as paths that drop IP fragments do), with the
// large messages sent as FRAG fragments, also when fragments are lost,
// duplicated and reordered.
func TestFragmentedMainMode(t *testing.T) {
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca := issue(t, "v1 test CA", caKey, nil, nil)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	for _, lossy := range []bool{false, true} {
		p := newPair(t, "main", []string{"aes256-sha256-modp2048"}, []string{"aes256-sha256"})
		for _, n := range []*node{p.a, p.b} {
			c := n.conns[0]
			c.Auth, c.PSK, c.Key = policy.AuthPubkey, nil, rsaKey
			c.CAs, c.CACerts = pool, []*x509.Certificate{ca}
			c.Cert = issue(t, n.name+".lab", rsaKey, ca, caKey)
			n.eng.Cfg.FragmentSize = 500
		}
		frags, tooBig := 0, 0
		var held []isakmp.Datagram
		p.Filter = func(i int, d isakmp.Datagram) []isakmp.Datagram {
			if len(d.Data) > 576 {
				tooBig++
				return nil
			}
			if h, err := isakmp.ParseHeader(d.Data); err == nil && h.NextPayload == isakmp.PayloadType(isakmp.V1PayloadFRAG) {
				frags++
				if lossy {
					switch frags % 4 {
					case 1:
						return nil // lost
					case 2:
						held = append(held, d) // late
						return nil
					case 3:
						out := append([]isakmp.Datagram{d, d}, held...) // duplicated, reordered
						held = nil
						return out
					}
				}
			}
			return []isakmp.Datagram{d}
		}
		p.initiate(p.a, p.a.conns[0])
		p.run(2 * time.Minute)
		requireUp(t, p.a, p.b, 1)
		if frags < 4 || tooBig != 0 {
			t.Fatalf("lossy %v: %d fragments sent, %d datagrams over 576 bytes", lossy, frags, tooBig)
		}
	}
}
