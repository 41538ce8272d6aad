package policy

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"

	"ikegate/oakley"
)

// Connection holds secrets (PSK, Key), User passwords and NT hashes,
// Radius its shared secret. These methods make every way of printing one
// safe: fmt with any verb (String, GoString through Format), encoding/json
// (and so zap.Any, which encodes with encoding/json) print a summary in
// which the secrets appear only as "[redacted]" markers, never their
// bytes, length or type parameters.

// String summarises the connection, e.g.
// `site-b ikev2 10.200.0.2[right.lab] <-> 10.200.0.1[left.lab] auth=psk([redacted]) ike=[...] esp=[...] 10.2.0.0/24 <-> 10.1.0.0/24 start=none`.
func (c Connection) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", strOrDash(c.Name), strOrDash(string(c.Version)))
	if c.Version == IKEv1 && c.IKEv1Mode != "" {
		fmt.Fprintf(&b, "/%s", c.IKEv1Mode)
	}
	fmt.Fprintf(&b, " %s[%s] <-> %s[%s]", strAddrOrAny(c.LocalAddr), c.LocalID, strAddrOrAny(c.RemoteAddr), c.RemoteID)
	fmt.Fprintf(&b, " auth=%s", strOrDash(string(c.Auth)))
	switch {
	case c.Auth == AuthPSK && len(c.PSK) > 0:
		b.WriteString("([redacted])")
	case c.Cert != nil:
		fmt.Fprintf(&b, "(cert %q", c.Cert.Subject.String())
		if c.Key != nil {
			b.WriteString(", key [redacted]")
		}
		b.WriteString(")")
	}
	fmt.Fprintf(&b, " ike=%s esp=%s %s <-> %s start=%s",
		strProposalList(c.IKE), strProposalList(c.ESP), strPrefixList(c.LocalTS), strPrefixList(c.RemoteTS), strOrDash(string(c.Start)))
	if c.RemoteAuth != RemoteAuthSame {
		fmt.Fprintf(&b, " remote_auth=%s", c.RemoteAuth)
	}
	if c.XAuth != XAuthNone {
		fmt.Fprintf(&b, " xauth=%s", c.XAuth)
	}
	if c.Pool != "" {
		fmt.Fprintf(&b, " pool=%s", c.Pool)
	}
	if c.Unique != "" && c.Unique != UniqueNo {
		fmt.Fprintf(&b, " unique=%s", c.Unique)
	}
	if c.AggressivePSK {
		b.WriteString(" allow_aggressive_psk")
	}
	if c.StrictPFS {
		b.WriteString(" pfs=strict")
	}
	return b.String()
}

// GoString is like String, for %#v.
func (c Connection) GoString() string { return "policy.Connection{" + c.String() + "}" }

// Format prints String (GoString for %#v) whatever the verb, so that no
// verb (%d, %x, ...) can reach the secret fields.
func (c Connection) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		fmt.Fprint(f, c.GoString())
		return
	}
	fmt.Fprint(f, c.String())
}

// cfgConnectionJSON is the JSON form of a Connection.
type cfgConnectionJSON struct {
	Name        string   `json:"name"`
	Version     Version  `json:"version"`
	IKEv1Mode   string   `json:"ikev1_mode,omitempty"`
	LocalAddr   string   `json:"local_addr"`
	RemoteAddr  string   `json:"remote_addr"`
	LocalID     string   `json:"local_id"`
	RemoteID    string   `json:"remote_id"`
	Auth        string   `json:"auth"`
	PSK         string   `json:"psk,omitempty"`
	CertSubject string   `json:"cert_subject,omitempty"`
	Key         string   `json:"key,omitempty"`
	IKE         []string `json:"ike"`
	ESP         []string `json:"esp"`
	LocalTS     []string `json:"local_ts"`
	RemoteTS    []string `json:"remote_ts"`
	Start       Start    `json:"start"`

	RemoteAuth    RemoteAuth `json:"remote_auth,omitempty"`
	XAuth         XAuth      `json:"xauth,omitempty"`
	Pool          string     `json:"pool,omitempty"`
	Unique        Unique     `json:"unique,omitempty"`
	AggressivePSK bool       `json:"allow_aggressive_psk,omitempty"`
	PFS           string     `json:"pfs,omitempty"` // "strict", or omitted: lenient
}

// MarshalJSON encodes the connection without its secrets (they appear as
// "[redacted]" when set).
func (c Connection) MarshalJSON() ([]byte, error) {
	j := cfgConnectionJSON{
		Name: c.Name, Version: c.Version, IKEv1Mode: c.IKEv1Mode,
		LocalAddr: strAddrOrAny(c.LocalAddr), RemoteAddr: strAddrOrAny(c.RemoteAddr),
		LocalID: c.LocalID.String(), RemoteID: c.RemoteID.String(),
		Auth: string(c.Auth), Start: c.Start,
		IKE: strProposals(c.IKE), ESP: strProposals(c.ESP),
		LocalTS: strPrefixes(c.LocalTS), RemoteTS: strPrefixes(c.RemoteTS),
		RemoteAuth: c.RemoteAuth, XAuth: c.XAuth, Pool: c.Pool, Unique: c.Unique, AggressivePSK: c.AggressivePSK,
	}
	if c.StrictPFS {
		j.PFS = "strict"
	}
	if len(c.PSK) > 0 {
		j.PSK = "[redacted]"
	}
	if c.Cert != nil {
		j.CertSubject = c.Cert.Subject.String()
	}
	if c.Key != nil {
		j.Key = "[redacted]"
	}
	return json.Marshal(j)
}

// String summarises the user without its secrets, e.g.
// `alice password=[redacted] nt_hash=[redacted]`.
func (u User) String() string {
	var b strings.Builder
	b.WriteString(strOrDash(u.Name))
	if u.Password != nil {
		b.WriteString(" password=[redacted]")
	}
	if u.NTHash != nil {
		b.WriteString(" nt_hash=[redacted]")
	}
	return b.String()
}

// GoString is like String, for %#v.
func (u User) GoString() string { return "policy.User{" + u.String() + "}" }

// Format prints String (GoString for %#v) whatever the verb.
func (u User) Format(f fmt.State, verb rune) { strFormat(f, verb, u.String(), u.GoString()) }

// MarshalJSON encodes the user with its secrets as "[redacted]" markers.
func (u User) MarshalJSON() ([]byte, error) {
	j := struct {
		Name     string `json:"name"`
		Password string `json:"password,omitempty"`
		NTHash   string `json:"nt_hash,omitempty"`
	}{Name: u.Name}
	if u.Password != nil {
		j.Password = "[redacted]"
	}
	if u.NTHash != nil {
		j.NTHash = "[redacted]"
	}
	return json.Marshal(j)
}

// String summarises the RADIUS settings without the secret, e.g.
// `servers=[10.200.0.2:1812] secret=[redacted] accounting=true timeout=3s nas_identifier=-`.
func (r Radius) String() string {
	secret := "-"
	if len(r.Secret) > 0 {
		secret = "[redacted]"
	}
	return fmt.Sprintf("servers=[%s] secret=%s accounting=%t timeout=%s nas_identifier=%s",
		strings.Join(r.Servers, ", "), secret, r.Accounting, r.Timeout, strOrDash(r.NASIdentifier))
}

// GoString is like String, for %#v.
func (r Radius) GoString() string { return "policy.Radius{" + r.String() + "}" }

// Format prints String (GoString for %#v) whatever the verb.
func (r Radius) Format(f fmt.State, verb rune) { strFormat(f, verb, r.String(), r.GoString()) }

// MarshalJSON encodes the RADIUS settings with the secret as "[redacted]".
func (r Radius) MarshalJSON() ([]byte, error) {
	j := struct {
		Servers       []string `json:"servers"`
		Secret        string   `json:"secret,omitempty"`
		Accounting    bool     `json:"accounting"`
		Timeout       string   `json:"timeout"`
		NASIdentifier string   `json:"nas_identifier,omitempty"`
	}{Servers: r.Servers, Accounting: r.Accounting, Timeout: r.Timeout.String(), NASIdentifier: r.NASIdentifier}
	if j.Servers == nil {
		j.Servers = []string{}
	}
	if len(r.Secret) > 0 {
		j.Secret = "[redacted]"
	}
	return json.Marshal(j)
}

// strFormat writes s, or gs for %#v.
func strFormat(f fmt.State, verb rune, s, gs string) {
	if verb == 'v' && f.Flag('#') {
		fmt.Fprint(f, gs)
		return
	}
	fmt.Fprint(f, s)
}

func strOrDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func strAddrOrAny(a netip.Addr) string {
	if !a.IsValid() {
		return "%any"
	}
	return a.String()
}

func strProposals(ps []oakley.Proposal) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}

func strProposalList(ps []oakley.Proposal) string {
	return "[" + strings.Join(strProposals(ps), ", ") + "]"
}

func strPrefixes(ps []netip.Prefix) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}

func strPrefixList(ps []netip.Prefix) string {
	if len(ps) == 0 {
		return "dynamic"
	}
	return strings.Join(strPrefixes(ps), ",")
}
