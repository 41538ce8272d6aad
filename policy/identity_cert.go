package policy

// Certificates as credentials: verifying the chain a peer sends in its CERT
// payloads (RFC 7296 3.6) and checking that the verified certificate is
// entitled to the identity the peer claims in IDi/IDr (RFC 7296 2.15, RFC
// 4945 3.1: the identity must be in the certificate's subject or
// subjectAltName).

import (
	"bytes"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"
	"unicode/utf16"
)

// VerifyPeerCert parses the peer's certificates (DER, leaf first, then any
// intermediates in any order), verifies the chain to one of roots at time
// now and returns the leaf. Extended key usage is not restricted (any EKU,
// or none, is accepted), since IKE peers' certificates carry all sorts. A
// nil roots is an error, never "the system roots". A zero now means the
// current time (crypto/x509's rule); engines should pass their clock.
func VerifyPeerCert(der [][]byte, roots *x509.CertPool, now time.Time) (*x509.Certificate, error) {
	if len(der) == 0 {
		return nil, errors.New("peer sent no certificate")
	}
	if roots == nil {
		return nil, errors.New("no trust anchors (CAs) configured to verify the peer's certificate")
	}
	leaf, err := x509.ParseCertificate(der[0])
	if err != nil {
		return nil, fmt.Errorf("peer certificate: %w", err)
	}
	inter := x509.NewCertPool()
	for i, d := range der[1:] {
		c, err := x509.ParseCertificate(d)
		if err != nil {
			return nil, fmt.Errorf("peer certificate %d (intermediate): %w", i+2, err)
		}
		inter.AddCert(c)
	}
	_, err = leaf.Verify(x509.VerifyOptions{
		Roots:         roots,
		Intermediates: inter,
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	if err != nil {
		return nil, fmt.Errorf("peer certificate %s (issuer %s, valid %s to %s, %d intermediate(s) sent) does not verify: %w",
			certRawDNText(leaf.RawSubject), certRawDNText(leaf.RawIssuer),
			leaf.NotBefore.UTC().Format(time.RFC3339), leaf.NotAfter.UTC().Format(time.RFC3339), len(der)-1, err)
	}
	return leaf, nil
}

// CertMatchesIdentity checks that cert is entitled to identity id:
//   - IPv4/IPv6 address: an IP address subjectAltName equal to it;
//   - FQDN: a DNS subjectAltName equal to it, ignoring case and a final dot;
//   - RFC822 (user@fqdn): an email subjectAltName equal to it, ignoring case;
//   - DER_ASN1_DN: the certificate's subject, byte for byte or semantically
//     (same attributes in the same order; string values compared ignoring
//     case and runs of white space, whatever their ASN.1 string type);
//   - KEY_ID: never (an error: a certificate cannot vouch for a key ID).
//
// The "%any" identity (id.Any) matches any certificate. A mismatch error
// names the identity and what the certificate holds, e.g. "certificate
// CN=left.lab (DNS: left.lab) does not contain identity FQDN right.lab".
func CertMatchesIdentity(cert *x509.Certificate, id Identity) error {
	if cert == nil {
		return errors.New("no certificate to match identity " + certIDText(id))
	}
	if id.Any {
		return nil
	}
	switch id.Type {
	case IDIPv4Addr, IDIPv6Addr:
		want, ok := certIDAddr(id)
		if !ok {
			return fmt.Errorf("identity %s is malformed: %d octets of address", certIDText(id), len(id.Data))
		}
		for _, ip := range cert.IPAddresses {
			if a, ok := netip.AddrFromSlice(ip); ok && a.Unmap() == want {
				return nil
			}
		}
	case IDFQDN:
		want := strings.TrimSuffix(string(id.Data), ".")
		for _, n := range cert.DNSNames {
			if strings.EqualFold(strings.TrimSuffix(n, "."), want) {
				return nil
			}
		}
	case IDRFC822:
		for _, e := range cert.EmailAddresses {
			if strings.EqualFold(e, string(id.Data)) {
				return nil
			}
		}
	case IDDERASN1DN:
		if bytes.Equal(cert.RawSubject, id.Data) || certDNEqual(cert.RawSubject, id.Data) {
			return nil
		}
	case IDKeyID:
		return fmt.Errorf("identity %s is a KEY_ID, which a certificate cannot vouch for; "+
			"use the certificate's DN, or a DNS, email or IP address subjectAltName, as the identity", certIDText(id))
	default:
		return fmt.Errorf("identity %s: this ID type cannot be checked against a certificate", certIDText(id))
	}
	return fmt.Errorf("certificate %s does not contain identity %s", certSummary(cert), certIDText(id))
}

// CertIdentity returns the identity to send for cert when the config names
// none: its subject DN. A certificate with an empty subject (all names in
// subjectAltName, RFC 5280 4.1.2.6) gives its first DNS name, else email,
// else IP address.
func CertIdentity(cert *x509.Certificate) Identity {
	if len(cert.Subject.Names) == 0 {
		switch {
		case len(cert.DNSNames) > 0:
			return Identity{Type: IDFQDN, Data: []byte(cert.DNSNames[0])}
		case len(cert.EmailAddresses) > 0:
			return Identity{Type: IDRFC822, Data: []byte(cert.EmailAddresses[0])}
		case len(cert.IPAddresses) > 0:
			if a, ok := netip.AddrFromSlice(cert.IPAddresses[0]); ok {
				a = a.Unmap()
				typ := IDIPv6Addr
				if a.Is4() {
					typ = IDIPv4Addr
				}
				return Identity{Type: typ, Data: a.AsSlice()}
			}
		}
	}
	return Identity{Type: IDDERASN1DN, Data: bytes.Clone(cert.RawSubject)}
}

// certIDAddr returns the address of an IPv4/IPv6 identity.
func certIDAddr(id Identity) (netip.Addr, bool) {
	if (id.Type == IDIPv4Addr && len(id.Data) != 4) || (id.Type == IDIPv6Addr && len(id.Data) != 16) {
		return netip.Addr{}, false
	}
	a, ok := netip.AddrFromSlice(id.Data)
	return a.Unmap(), ok
}

// certIDText names an identity for error messages ("FQDN right.lab",
// "DN CN=right.lab,O=Lab"). It is private so as not to depend on
// Identity.String.
func certIDText(id Identity) string {
	if id.Any {
		return "%any"
	}
	switch id.Type {
	case IDIPv4Addr, IDIPv6Addr:
		kind := "IPv4"
		if id.Type == IDIPv6Addr {
			kind = "IPv6"
		}
		if a, ok := certIDAddr(id); ok {
			return kind + " " + a.String()
		}
		return fmt.Sprintf("%s (malformed: %x)", kind, id.Data)
	case IDFQDN:
		return "FQDN " + string(id.Data)
	case IDRFC822:
		return "RFC822 " + string(id.Data)
	case IDDERASN1DN:
		return "DN " + certRawDNText(id.Data)
	case IDKeyID:
		return "KEY_ID 0x" + hex.EncodeToString(id.Data)
	}
	return fmt.Sprintf("ID type %d (0x%x)", id.Type, id.Data)
}

// certRawDNText renders a DER DN in RFC 4514 form, keeping the order of its
// RDNs (pkix.Name would regroup them).
func certRawDNText(der []byte) string {
	var rdns pkix.RDNSequence
	if rest, err := asn1.Unmarshal(der, &rdns); err != nil || len(rest) != 0 {
		return fmt.Sprintf("(malformed, %d octets)", len(der))
	}
	if s := rdns.String(); s != "" {
		return s
	}
	return "(empty DN)"
}

// certSummary describes a certificate by subject and subjectAltNames:
// "CN=left.lab (DNS: left.lab; IP: 192.0.2.1)".
func certSummary(c *x509.Certificate) string {
	var sans []string
	if len(c.DNSNames) > 0 {
		sans = append(sans, "DNS: "+strings.Join(c.DNSNames, ", "))
	}
	if len(c.EmailAddresses) > 0 {
		sans = append(sans, "email: "+strings.Join(c.EmailAddresses, ", "))
	}
	if len(c.IPAddresses) > 0 {
		ips := make([]string, len(c.IPAddresses))
		for i, ip := range c.IPAddresses {
			ips[i] = ip.String()
		}
		sans = append(sans, "IP: "+strings.Join(ips, ", "))
	}
	if len(c.URIs) > 0 {
		uris := make([]string, len(c.URIs))
		for i, u := range c.URIs {
			uris[i] = u.String()
		}
		sans = append(sans, "URI: "+strings.Join(uris, ", "))
	}
	if len(sans) == 0 {
		return certRawDNText(c.RawSubject) + " (no subjectAltName)"
	}
	return certRawDNText(c.RawSubject) + " (" + strings.Join(sans, "; ") + ")"
}

// certATV and certRDNSET parse a DN keeping each value's raw encoding, so
// that values of types encoding/asn1 cannot decode are compared byte for
// byte rather than all looking alike.
type certATV struct {
	Type  asn1.ObjectIdentifier
	Value asn1.RawValue
}

type certRDNSET []certATV // the "SET" suffix makes encoding/asn1 expect a SET

// certDNEqual reports whether two DER DNs are semantically equal: the same
// RDNs in the same order, each with the same attributes (in any order
// within the RDN), string values equal ignoring case and white space runs.
func certDNEqual(a, b []byte) bool {
	var ra, rb []certRDNSET
	if rest, err := asn1.Unmarshal(a, &ra); err != nil || len(rest) != 0 {
		return false
	}
	if rest, err := asn1.Unmarshal(b, &rb); err != nil || len(rest) != 0 {
		return false
	}
	if len(ra) != len(rb) {
		return false
	}
	for i := range ra {
		if len(ra[i]) != len(rb[i]) {
			return false
		}
		used := make([]bool, len(rb[i]))
	next:
		for _, x := range ra[i] {
			for j, y := range rb[i] {
				if !used[j] && x.Type.Equal(y.Type) && certValueEqual(x.Value, y.Value) {
					used[j] = true
					continue next
				}
			}
			return false
		}
	}
	return true
}

func certValueEqual(x, y asn1.RawValue) bool {
	sx, okx := certDNString(x)
	sy, oky := certDNString(y)
	if okx && oky {
		return strings.EqualFold(strings.Join(strings.Fields(sx), " "), strings.Join(strings.Fields(sy), " "))
	}
	return bytes.Equal(x.FullBytes, y.FullBytes)
}

// certDNString decodes a DirectoryString-like value.
func certDNString(v asn1.RawValue) (string, bool) {
	if v.Class != asn1.ClassUniversal || v.IsCompound {
		return "", false
	}
	switch v.Tag {
	case asn1.TagUTF8String, asn1.TagPrintableString, asn1.TagIA5String, asn1.TagT61String, asn1.TagNumericString:
		return string(v.Bytes), true
	case asn1.TagBMPString:
		if len(v.Bytes)%2 != 0 {
			return "", false
		}
		u := make([]uint16, len(v.Bytes)/2)
		for i := range u {
			u[i] = uint16(v.Bytes[2*i])<<8 | uint16(v.Bytes[2*i+1])
		}
		return string(utf16.Decode(u)), true
	}
	return "", false
}
