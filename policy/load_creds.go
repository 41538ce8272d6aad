package policy

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
	"unicode"
	"unicode/utf16"

	"golang.org/x/crypto/md4"
)

// cfgLoadCertChain reads a PEM file of one or more certificates: the first is
// the leaf, the rest intermediates sent after it.
func cfgLoadCertChain(path string) ([]*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	certs, err := cfgParseCertsPEM(path, data)
	if err != nil {
		return nil, err
	}
	return certs, nil
}

// cfgParseCertsPEM decodes every CERTIFICATE block of data; other blocks are
// an error (a private key in a certificate file is a mistake worth
// flagging, and its text never ends up in the message).
func cfgParseCertsPEM(path string, data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	rest := data
	for n := 1; ; n++ {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("%s: PEM block %d is %q, expected only CERTIFICATE blocks", path, n, block.Type)
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: certificate %d: %v", path, n, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("%s: no PEM CERTIFICATE block found", path)
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, fmt.Errorf("%s: trailing data after the last PEM block", path)
	}
	return certs, nil
}

// cfgLoadPrivateKey reads a PEM private key: PKCS#1 (RSA PRIVATE KEY), SEC 1
// (EC PRIVATE KEY) or PKCS#8 (PRIVATE KEY) holding an RSA, ECDSA or Ed25519
// key. Encrypted keys are not supported. Errors never include key bytes.
func cfgLoadPrivateKey(path string) (crypto.Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var block *pem.Block
	rest := data
	for {
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, fmt.Errorf("%s: no PEM private key block found", path)
		}
		if strings.HasSuffix(block.Type, "PRIVATE KEY") {
			break
		}
		if block.Type != "EC PARAMETERS" { // openssl ecparam -genkey writes these first
			return nil, fmt.Errorf("%s: PEM block %q is not a private key", path, block.Type)
		}
	}
	if block.Type == "ENCRYPTED PRIVATE KEY" || block.Headers["Proc-Type"] != "" {
		return nil, fmt.Errorf("%s: encrypted private keys are not supported (decrypt it, e.g. openssl pkey -in enc.pem -out key.pem)", path)
	}
	var key any
	switch block.Type {
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("%s: unsupported PEM block %q (want PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY)", path, block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: cannot parse %s: %v", path, block.Type, err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%s: %T keys cannot sign (want RSA, ECDSA or Ed25519)", path, key)
	}
	return signer, nil
}

// cfgKeyMatchesCert checks that key is the private half of cert's public key.
func cfgKeyMatchesCert(key crypto.Signer, cert *x509.Certificate) error {
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(cert.PublicKey) {
		return errors.New("private key does not match the certificate's public key (subject " + cert.Subject.String() + ")")
	}
	return nil
}

var validUserKeys = []string{"name", "password", "nt_hash"}

// users reads the [[user]] tables: the local user list of xauth = "local"
// and remote_auth = "eap-mschapv2". Each user has exactly one of password
// and nt_hash; NTHash is computed from a password. Errors never quote
// either.
func (l *cfgLoader) users(top *cfgTable, acc *cfgAccess) []*User {
	var out []*User
	names := map[string]int{}
	for i, m := range l.tableArray(top, "user") {
		acc.users = true
		t := &cfgTable{l: l, sec: fmt.Sprintf("user[%d]", i), loc: fmt.Sprintf("user#%d", i), m: m}
		u := &User{}
		before := len(l.errs)
		if name, ok := t.str("name"); ok {
			switch {
			case name == "":
				t.errf("name", "must not be empty")
			case len(name) > 253:
				t.errf("name", "longer than 253 bytes")
			case strings.ContainsFunc(name, unicode.IsControl):
				t.errf("name", "%q contains control characters", name)
			default:
				t.sec = fmt.Sprintf("user %q (%s)", name, t.sec)
				if first, dup := names[name]; dup {
					t.errf("name", "duplicate user name %q (also user[%d])", name, first)
				} else {
					names[name] = i
					u.Name = name
				}
			}
		} else if !t.has("name") {
			t.errf("name", "missing: every [[user]] needs a name")
		}

		switch {
		case t.has("password") && t.has("nt_hash"):
			t.take("password")
			t.take("nt_hash")
			t.errf("nt_hash", "give either password or nt_hash, not both")
		case t.has("password"):
			if s, ok := t.str("password"); ok {
				if s == "" {
					t.errf("password", "must not be empty")
				} else {
					u.Password = []byte(s)
					u.NTHash = NTPasswordHash(u.Password)
				}
			}
		case t.has("nt_hash"):
			if s, ok := t.str("nt_hash"); ok {
				h, err := hex.DecodeString(s)
				if err != nil || len(h) != 16 {
					t.errf("nt_hash", "must be 32 hex digits (MD4 of the UTF-16LE password, as MSCHAPv2 uses)")
				} else {
					u.NTHash = h
				}
			}
		default:
			t.errf("password", "missing: every [[user]] needs a password or an nt_hash")
		}
		t.unknown(validUserKeys)
		if len(l.errs) == before {
			out = append(out, u)
		}
	}
	return out
}

// NTPasswordHash is RFC 2759's NtPasswordHash: MD4 over the password in
// UTF-16 little-endian, the hash MSCHAPv2 works with. The password is
// UTF-8 (invalid bytes count as U+FFFD).
func NTPasswordHash(password []byte) []byte {
	u := utf16.Encode([]rune(string(password)))
	b := make([]byte, 2*len(u))
	for i, c := range u {
		b[2*i], b[2*i+1] = byte(c), byte(c>>8)
	}
	h := md4.New()
	h.Write(b)
	clear(b)
	return h.Sum(nil)
}
