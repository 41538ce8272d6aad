package policy

import (
	"bytes"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ParseIdentity parses an identity written with strongSwan's conventions:
//
//	%any                       any identity (Identity.Any)
//	10.0.0.1, 2001:db8::1      ID_IPV4_ADDR / ID_IPV6_ADDR (4 / 16 bytes)
//	@left.lab                  ID_FQDN "left.lab" (the @ is stripped)
//	left.lab, left             ID_FQDN (anything not matched otherwise)
//	user@left.lab              ID_RFC822_ADDR
//	keyid:text, keyid:#0a1b    ID_KEY_ID (the text's bytes, or hex bytes)
//	C=CH, O=Lab, CN=x          ID_DER_ASN1_DN (any string containing "=")
//
// The explicit prefixes "fqdn:", "email:", "asn1dn:" (a DN, or "#" and the
// DER in hex) and "keyid:" force a type. DN attributes are written in DER
// order (C first), separated by "," (or "/" when the string starts with
// "/"); "\," escapes a comma. Known attribute names: C, ST, L, O, OU, CN,
// SN (surname), serialNumber, T (title), G (givenName), I (initials),
// E/emailAddress, DC, UID, or a numeric OID like 2.5.4.3.
//
// In a configured remote identity, "*" wildcards are allowed (see Matches):
// "*.lab", "*@lab", and "*" as a DN attribute value ("C=CH, O=Lab, CN=*").
func ParseIdentity(s string) (Identity, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return Identity{}, errors.New("empty identity")
	case s == "%any":
		return Identity{Any: true}, nil
	case strings.HasPrefix(s, "%"):
		return Identity{}, fmt.Errorf("unknown identity %q (the only %%-keyword is %%any)", s)
	}

	if rest, ok := idCutPrefixFold(s, "keyid:"); ok {
		if h, isHex := strings.CutPrefix(rest, "#"); isHex {
			b, err := hex.DecodeString(strings.ReplaceAll(h, ":", ""))
			if err != nil || len(b) == 0 {
				return Identity{}, fmt.Errorf("identity %q: keyid:# must be followed by hex bytes", s)
			}
			return Identity{Type: IDKeyID, Data: b}, nil
		}
		if rest == "" {
			return Identity{}, fmt.Errorf("identity %q: empty key ID", s)
		}
		return Identity{Type: IDKeyID, Data: []byte(rest)}, nil
	}
	if rest, ok := idCutPrefixFold(s, "fqdn:"); ok {
		return idName(s, IDFQDN, rest)
	}
	if rest, ok := idCutPrefixFold(s, "email:"); ok {
		return idName(s, IDRFC822, rest)
	}
	if rest, ok := idCutPrefixFold(s, "asn1dn:"); ok {
		if h, isHex := strings.CutPrefix(rest, "#"); isHex {
			der, err := hex.DecodeString(h)
			if err != nil {
				return Identity{}, fmt.Errorf("identity %q: asn1dn:# must be followed by the DER in hex", s)
			}
			var seq pkix.RDNSequence
			if rest, err := asn1.Unmarshal(der, &seq); err != nil || len(rest) != 0 {
				return Identity{}, fmt.Errorf("identity %q: not a DER distinguished name", s)
			}
			return Identity{Type: IDDERASN1DN, Data: der}, nil
		}
		return idDN(s, rest)
	}

	if strings.Contains(s, "=") {
		return idDN(s, s)
	}
	if a, err := netip.ParseAddr(s); err == nil {
		switch {
		case a.Zone() != "":
			return Identity{}, fmt.Errorf("identity %q: an IP identity cannot have a zone", s)
		case a.Is4():
			b := a.As4()
			return Identity{Type: IDIPv4Addr, Data: b[:]}, nil
		default:
			b := a.As16()
			return Identity{Type: IDIPv6Addr, Data: b[:]}, nil
		}
	}
	if rest, ok := strings.CutPrefix(s, "@"); ok {
		return idName(s, IDFQDN, rest)
	}
	if strings.Contains(s, "@") {
		return idName(s, IDRFC822, s)
	}
	return idName(s, IDFQDN, s)
}

func idCutPrefixFold(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) {
		return s[len(prefix):], true
	}
	return s, false
}

// idName builds an FQDN or RFC822 identity from name.
func idName(orig string, typ uint8, name string) (Identity, error) {
	what := "an FQDN"
	if typ == IDRFC822 {
		what = "a user@fqdn"
	}
	switch {
	case name == "":
		return Identity{}, fmt.Errorf("identity %q: empty name", orig)
	case strings.IndexFunc(name, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0:
		return Identity{}, fmt.Errorf("identity %q: %s identity cannot contain spaces or control characters", orig, what)
	case typ == IDFQDN && strings.Contains(name, "@"):
		return Identity{}, fmt.Errorf("identity %q: an FQDN cannot contain \"@\"", orig)
	case typ == IDRFC822 && (strings.HasPrefix(name, "@") || strings.HasSuffix(name, "@")):
		return Identity{}, fmt.Errorf("identity %q: %s identity needs text on both sides of \"@\"", orig, what)
	}
	return Identity{Type: typ, Data: []byte(name)}, nil
}

var (
	oidEmailAddress    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}
	oidDomainComponent = asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 25}
)

// idDNAttrs are the DN attribute names, in the form String prints them.
var idDNAttrs = []struct {
	name string
	oid  asn1.ObjectIdentifier
}{
	{"C", asn1.ObjectIdentifier{2, 5, 4, 6}},
	{"ST", asn1.ObjectIdentifier{2, 5, 4, 8}},
	{"L", asn1.ObjectIdentifier{2, 5, 4, 7}},
	{"O", asn1.ObjectIdentifier{2, 5, 4, 10}},
	{"OU", asn1.ObjectIdentifier{2, 5, 4, 11}},
	{"CN", asn1.ObjectIdentifier{2, 5, 4, 3}},
	{"SN", asn1.ObjectIdentifier{2, 5, 4, 4}},
	{"serialNumber", asn1.ObjectIdentifier{2, 5, 4, 5}},
	{"T", asn1.ObjectIdentifier{2, 5, 4, 12}},
	{"G", asn1.ObjectIdentifier{2, 5, 4, 42}},
	{"I", asn1.ObjectIdentifier{2, 5, 4, 43}},
	{"E", oidEmailAddress},
	{"DC", oidDomainComponent},
	{"UID", asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 1}},
}

// idDNAliases are further accepted spellings (matched case-insensitively).
var idDNAliases = map[string]string{
	"s": "ST", "stateorprovincename": "ST", "countryname": "C", "localityname": "L",
	"organizationname": "O", "organizationalunitname": "OU", "commonname": "CN",
	"surname": "SN", "title": "T", "givenname": "G", "gn": "G", "initials": "I",
	"email": "E", "emailaddress": "E", "domaincomponent": "DC", "userid": "UID",
}

func idDNOID(name string) (asn1.ObjectIdentifier, bool) {
	if a, ok := idDNAliases[strings.ToLower(name)]; ok {
		name = a
	}
	for _, a := range idDNAttrs {
		if strings.EqualFold(a.name, name) {
			return a.oid, true
		}
	}
	// A numeric OID.
	parts := strings.Split(name, ".")
	if len(parts) < 2 {
		return nil, false
	}
	oid := make(asn1.ObjectIdentifier, len(parts))
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return nil, false
		}
		oid[i] = n
	}
	return oid, true
}

func idDNName(oid asn1.ObjectIdentifier) string {
	for _, a := range idDNAttrs {
		if a.oid.Equal(oid) {
			return a.name
		}
	}
	return oid.String()
}

// idDN parses a DN string into the DER of its RDN sequence, one
// attribute per RDN, in the order written.
func idDN(orig, s string) (Identity, error) {
	sep := ','
	if strings.HasPrefix(s, "/") {
		sep = '/'
		s = s[1:]
	}
	var parts []string
	var cur strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s):
			cur.WriteByte(c)
			cur.WriteByte(s[i+1])
			i++
		case rune(c) == sep:
			parts = append(parts, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(c)
		}
	}
	parts = append(parts, cur.String())

	var seq pkix.RDNSequence
	for _, p := range parts {
		k, v, ok := strings.Cut(p, "=")
		k = strings.TrimSpace(k)
		v = idUnescapeDN(strings.TrimSpace(v))
		if !ok || k == "" {
			return Identity{}, fmt.Errorf("identity %q: DN part %q is not of the form NAME=value", orig, strings.TrimSpace(p))
		}
		if v == "" {
			return Identity{}, fmt.Errorf("identity %q: DN attribute %s has an empty value", orig, k)
		}
		if !utf8.ValidString(v) {
			return Identity{}, fmt.Errorf("identity %q: DN attribute %s is not valid UTF-8", orig, k)
		}
		oid, ok := idDNOID(k)
		if !ok {
			return Identity{}, fmt.Errorf("identity %q: unknown DN attribute %q (known: C, ST, L, O, OU, CN, SN, serialNumber, T, G, I, E, DC, UID, or a numeric OID)", orig, k)
		}
		var val any = v
		if (oid.Equal(oidEmailAddress) || oid.Equal(oidDomainComponent)) && idIsASCII(v) {
			// emailAddress and domainComponent are IA5Strings.
			val = asn1.RawValue{Tag: asn1.TagIA5String, Bytes: []byte(v)}
		}
		seq = append(seq, pkix.RelativeDistinguishedNameSET{{Type: oid, Value: val}})
	}
	der, err := asn1.Marshal(seq)
	if err != nil {
		return Identity{}, fmt.Errorf("identity %q: encoding DN: %v", orig, err)
	}
	if _, ok := idParseDN(der); !ok {
		// encoding/asn1 writes OID arcs it cannot read back (2^31 and up).
		return Identity{}, fmt.Errorf("identity %q: OID arcs must be below 2^31", orig)
	}
	return Identity{Type: IDDERASN1DN, Data: der}, nil
}

func idUnescapeDN(v string) string {
	if !strings.Contains(v, `\`) {
		return v
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] == '\\' && i+1 < len(v) {
			i++
		}
		b.WriteByte(v[i])
	}
	return b.String()
}

func idIsASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// idParseDN decodes a DER_ASN1_DN identity's data.
func idParseDN(der []byte) (pkix.RDNSequence, bool) {
	var seq pkix.RDNSequence
	rest, err := asn1.Unmarshal(der, &seq)
	return seq, err == nil && len(rest) == 0
}

// idDNValue renders an attribute value as text.
func idDNValue(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case []byte:
		return "#" + hex.EncodeToString(v)
	}
	return fmt.Sprint(v)
}

// String returns the identity in the form ParseIdentity reads: "%any",
// "10.0.0.1", "left.lab", "user@left.lab", "keyid:text" (or "keyid:#hex"
// when not printable), or a DN like "C=CH, O=Lab, CN=x" (DER order).
// Text that ParseIdentity would read as another type gets a type prefix
// ("fqdn:", "email:"); an unknown type prints as "ID_TYPE_<n>:#<hex>".
func (id Identity) String() string {
	if id.Any {
		return "%any"
	}
	switch id.Type {
	case 0:
		if len(id.Data) == 0 {
			return ""
		}
	case IDIPv4Addr, IDIPv6Addr:
		if (id.Type == IDIPv4Addr && len(id.Data) == 4) || (id.Type == IDIPv6Addr && len(id.Data) == 16) {
			a, _ := netip.AddrFromSlice(id.Data)
			return a.String()
		}
	case IDFQDN, IDRFC822:
		s := string(id.Data)
		if idPrintable(s) {
			if back, err := ParseIdentity(s); err == nil && back.Type == id.Type && bytes.Equal(back.Data, id.Data) {
				return s
			}
			if id.Type == IDFQDN && !strings.Contains(s, "@") {
				return "fqdn:" + s
			}
			if id.Type == IDRFC822 && !strings.HasPrefix(s, "@") && !strings.HasSuffix(s, "@") {
				return "email:" + s
			}
		}
	case IDKeyID:
		s := string(id.Data)
		if idPrintable(s) && !strings.HasPrefix(s, "#") {
			return "keyid:" + s
		}
		return "keyid:#" + hex.EncodeToString(id.Data)
	case IDDERASN1DN:
		if seq, ok := idParseDN(id.Data); ok && len(seq) > 0 {
			var parts []string
			for _, rdn := range seq {
				for _, atv := range rdn {
					v := strings.NewReplacer(`\`, `\\`, ",", `\,`).Replace(idDNValue(atv.Value))
					parts = append(parts, idDNName(atv.Type)+"="+v)
				}
			}
			// Print the text only if it reads back as this DN: it cannot
			// show multi-valued RDNs, empty RDNs or empty values.
			text := strings.Join(parts, ", ")
			if back, err := ParseIdentity(text); err == nil && back.Equal(id) {
				return text
			}
		}
		return "asn1dn:#" + hex.EncodeToString(id.Data)
	}
	return fmt.Sprintf("ID_TYPE_%d:#%s", id.Type, hex.EncodeToString(id.Data))
}

func idPrintable(s string) bool {
	if s == "" || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// Equal reports whether id and o are the same identity. FQDN and
// user@fqdn identities compare case-insensitively; DNs compare
// semantically: same attributes in the same order, values equal ignoring
// case, the ASN.1 string type and surrounding/repeated white space. Two %any
// identities are equal; %any equals nothing else.
func (id Identity) Equal(o Identity) bool {
	if id.Any || o.Any {
		return id.Any == o.Any
	}
	if id.Type != o.Type {
		return false
	}
	switch id.Type {
	case IDFQDN, IDRFC822:
		return strings.EqualFold(string(id.Data), string(o.Data))
	case IDDERASN1DN:
		return idDNMatch(id.Data, o.Data, false)
	}
	return bytes.Equal(id.Data, o.Data)
}

// Matches reports whether a peer presenting identity peer satisfies id, a
// configured identity: %any matches every identity; otherwise the identity
// must be Equal, except that id may use wildcards: an FQDN or user@fqdn
// starting with "*" matches any name ending with the rest ("*.lab" matches
// "gw.lab", "*@lab" matches "alice@lab"; "*" alone matches any name of that
// type), and a DN attribute whose value is "*" matches any value of that
// attribute in that position. A peer's %any matches only a %any policy.
func (id Identity) Matches(peer Identity) bool {
	if id.Any {
		return true
	}
	if peer.Any || id.Type != peer.Type {
		return false
	}
	switch id.Type {
	case IDFQDN, IDRFC822:
		pat := string(id.Data)
		if suffix, ok := strings.CutPrefix(pat, "*"); ok {
			name := string(peer.Data)
			return len(name) >= len(suffix) && strings.EqualFold(name[len(name)-len(suffix):], suffix)
		}
	case IDDERASN1DN:
		return idDNMatch(id.Data, peer.Data, true)
	}
	return id.Equal(peer)
}

// idDNMatch compares two DER DNs attribute by attribute; with wildcards, a
// "*" value in a matches any value.
func idDNMatch(a, b []byte, wildcards bool) bool {
	sa, okA := idParseDN(a)
	sb, okB := idParseDN(b)
	if !okA || !okB {
		return bytes.Equal(a, b)
	}
	if len(sa) != len(sb) {
		return false
	}
	for i := range sa {
		if len(sa[i]) != len(sb[i]) {
			return false
		}
		for j := range sa[i] {
			x, y := sa[i][j], sb[i][j]
			if !x.Type.Equal(y.Type) {
				return false
			}
			vx, vy := idNormDNValue(idDNValue(x.Value)), idNormDNValue(idDNValue(y.Value))
			if wildcards && vx == "*" {
				continue
			}
			if !strings.EqualFold(vx, vy) {
				return false
			}
		}
	}
	return true
}

func idNormDNValue(s string) string { return strings.Join(strings.Fields(s), " ") }
