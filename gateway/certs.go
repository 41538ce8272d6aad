package gateway

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"sort"
	"time"
)

// CertInfo is one certificate of the configuration for `ikegate certs`:
// an own certificate, an intermediate sent with it, or a trust anchor.
// It never carries a private key.
type CertInfo struct {
	Role      string   `json:"role"` // "own", "intermediate" or "ca"
	Subject   string   `json:"subject"`
	Issuer    string   `json:"issuer"`
	Serial    string   `json:"serial"`
	NotBefore string   `json:"not_before"` // RFC 3339
	NotAfter  string   `json:"not_after"`
	SANs      []string `json:"sans,omitempty"`
	Key       string   `json:"key"`    // e.g. "ECDSA P-256", "RSA 3072"
	SHA256    string   `json:"sha256"` // fingerprint of the DER
	Conns     []string `json:"conns"`  // the connections that use it
}

// Certs lists the certificates of the loaded configuration, each once
// (by fingerprint and role), own certificates first, then intermediates
// and CAs, each group by expiry.
func (g *Gateway) Certs() []CertInfo {
	byKey := map[string]*CertInfo{}
	add := func(role string, c *x509.Certificate, conn string) {
		if c == nil {
			return
		}
		sum := sha256.Sum256(c.Raw)
		fp := hex.EncodeToString(sum[:])
		k := role + "/" + fp
		ci := byKey[k]
		if ci == nil {
			ci = &CertInfo{Role: role, Subject: c.Subject.String(), Issuer: c.Issuer.String(), Serial: c.SerialNumber.Text(16),
				NotBefore: c.NotBefore.UTC().Format(time.RFC3339), NotAfter: c.NotAfter.UTC().Format(time.RFC3339),
				SANs: sans(c), Key: keyDesc(c), SHA256: fp}
			byKey[k] = ci
		}
		if n := len(ci.Conns); n == 0 || ci.Conns[n-1] != conn {
			ci.Conns = append(ci.Conns, conn)
		}
	}
	for _, c := range g.dbNow().Connections() {
		add("own", c.Cert, c.Name)
		for _, ic := range c.CertChain {
			add("intermediate", ic, c.Name)
		}
		for _, ca := range c.CACerts {
			add("ca", ca, c.Name)
		}
	}
	out := make([]CertInfo, 0, len(byKey))
	for _, ci := range byKey {
		out = append(out, *ci)
	}
	rank := map[string]int{"own": 0, "intermediate": 1, "ca": 2}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Role != out[j].Role {
			return rank[out[i].Role] < rank[out[j].Role]
		}
		if out[i].NotAfter != out[j].NotAfter {
			return out[i].NotAfter < out[j].NotAfter
		}
		return out[i].SHA256 < out[j].SHA256
	})
	return out
}

func sans(c *x509.Certificate) []string {
	var out []string
	for _, d := range c.DNSNames {
		out = append(out, "DNS:"+d)
	}
	for _, ip := range c.IPAddresses {
		out = append(out, "IP:"+ip.String())
	}
	for _, e := range c.EmailAddresses {
		out = append(out, "email:"+e)
	}
	for _, u := range c.URIs {
		out = append(out, "URI:"+u.String())
	}
	return out
}

func keyDesc(c *x509.Certificate) string {
	switch k := c.PublicKey.(type) {
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA %d", k.N.BitLen())
	case *ecdsa.PublicKey:
		return "ECDSA " + k.Curve.Params().Name
	case ed25519.PublicKey:
		return "Ed25519"
	}
	return c.PublicKeyAlgorithm.String()
}
