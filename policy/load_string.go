package policy

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"

	"ikegate/oakley"
)

// Connection holds secrets (PSK, Key). These methods make every way of
// printing one safe: fmt with any verb (String, GoString through Format),
// encoding/json (and so zap.Any, which encodes with encoding/json) print a
// summary in which the PSK and private key appear only as "[redacted]"
// markers, never their bytes, length or type parameters.

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
