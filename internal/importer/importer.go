// Package importer translates the IPsec configurations people migrate
// from (Cisco IOS and ASA, Juniper Junos, strongSwan swanctl.conf and
// ipsec.conf, Libreswan ipsec.conf) into an ikegate configuration, and
// reports per source line what was translated, what was approximated
// (and how) and what was left out (and why).
//
// Each format has a parser that fills a Result: a neutral model of the
// gateway (listen addresses, connections) plus the Notes. Result.TOML
// renders the configuration with comments pointing back at the source
// lines; Result.Report renders the notes for people. Parsers never fail
// on what they do not understand: it becomes an "omitted" note with the
// line number. They return an error only for input that is not the
// format at all (an error naming the line).
package importer

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Format names, as `ikegate import --from` takes them.
const (
	CiscoIOS   = "cisco-ios"
	CiscoASA   = "cisco-asa"
	Junos      = "junos"
	Swanctl    = "swanctl"
	IPsecConf  = "strongswan-ipsec.conf"
	Libreswan  = "libreswan"
	secretMark = "(secret)"
)

// Status says what became of a source line.
type Status string

// Statuses.
const (
	Translated   Status = "translated"
	Approximated Status = "approximated" // carried over with a change, said how
	Omitted      Status = "omitted"      // left out, said why
)

// Note is one entry of the report.
type Note struct {
	File   string // source file ("" when there is one)
	Line   int    // 1-based; 0 when the note is about the whole input
	Status Status
	What   string // what happened, in the user's terms; never a secret
}

// Conn is one ikegate [[connection]] in the making; empty fields are left
// to ikegate's defaults. Values use ikegate's config syntax (strongSwan
// proposal keywords, durations like "8h").
type Conn struct {
	Name                  string
	Version               string // "ikev1", "ikev2", "any"
	IKEv1Mode             string // "main", "aggressive"
	LocalAddr, RemoteAddr string
	LocalID, RemoteID     string
	Auth                  string // "psk", "pubkey"
	PSK                   string // never printed except into the written config
	Cert, Key, CA         string // file paths
	IKE, ESP              []string
	LocalTS, RemoteTS     []string
	IKELifetime           string
	ChildLifetime         string
	ChildLifetimeBytes    uint64
	DPDDelay, DPDTimeout  string
	DPDAction             string
	Start                 string            // "none", "start", "trap"
	Mode                  string            // "tunnel", "transport"
	PFS                   string            // "lenient", "strict"
	Lines                 []int             // source lines it came from
	Extra                 map[string]string // further keys, values already in TOML syntax
	File                  string            // file of Lines when not the input itself (an included file)
}

// Result is an imported configuration.
type Result struct {
	Format string
	Source string // file name, for comments
	Listen []string
	Conns  []*Conn
	Notes  []Note

	// Gateway holds further [gateway] keys (e.g. natt_keepalive), values
	// already in TOML syntax.
	Gateway map[string]string
	// Tables are further top-level tables: [[pool]], [[group]], [[user]];
	// rendered after the connections, in order.
	Tables []*Table
}

// Table is one further top-level table of the configuration, rendered as
// [[Kind]] with its keys in order.
type Table struct {
	Kind  string // "pool", "group", "user"
	Lines []int  // source lines it came from
	Keys  []KV
	File  string // file of Lines when not the input itself (an included file)
}

// KV is one key of a Table. Value is in TOML syntax already; a Secret one
// (a user's password) is replaced by a placeholder when redacted.
type KV struct {
	Key, Value string
	Secret     bool
}

// Note records what became of line.
func (r *Result) Note(line int, st Status, format string, args ...any) {
	r.Notes = append(r.Notes, Note{Line: line, Status: st, What: fmt.Sprintf(format, args...)})
}

// LeftOut reports whether anything was omitted.
func (r *Result) LeftOut() bool {
	for _, n := range r.Notes {
		if n.Status == Omitted {
			return true
		}
	}
	return false
}

// Parser reads one format.
type Parser func(name string, src []byte) (*Result, error)

var parsers = map[string]Parser{}

// Register makes a format's parser known to Import (called from each
// format's init).
func Register(format string, p Parser) { parsers[format] = p }

// Formats lists the formats Import knows, sorted.
func Formats() []string {
	out := make([]string, 0, len(parsers))
	for f := range parsers {
		out = append(out, f)
	}
	sort.Strings(out)
	return out
}

// Import parses src (read from file name) as format.
func Import(format, name string, src []byte) (*Result, error) {
	p, ok := parsers[format]
	if !ok {
		return nil, fmt.Errorf("unknown format %q (want one of %s)", format, strings.Join(Formats(), ", "))
	}
	r, err := p(name, src)
	if err != nil {
		return nil, err
	}
	r.Format, r.Source = format, name
	sortNotes(r.Notes)
	return r, nil
}

// TOML renders the configuration. With redact, PSKs and Secret table
// values are replaced by a placeholder (for printing); otherwise they are
// written as they are (for the 0600 file).
func (r *Result) TOML(redact bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Imported by `ikegate import --from %s` from %s.\n", r.Format, r.Source)
	b.WriteString("# Comments name the source lines; see the import report for what was\n# approximated or left out. Check with `ikegate check FILE`.\n\n[gateway]\n")
	if len(r.Listen) > 0 {
		fmt.Fprintf(&b, "listen = %s\n", tomlList(r.Listen))
	}
	gkeys := make([]string, 0, len(r.Gateway))
	for k := range r.Gateway {
		gkeys = append(gkeys, k)
	}
	sort.Strings(gkeys)
	for _, k := range gkeys {
		fmt.Fprintf(&b, "%s = %s\n", k, r.Gateway[k]) // already TOML values
	}
	for _, c := range r.Conns {
		b.WriteString("\n")
		if len(c.Lines) > 0 {
			fmt.Fprintf(&b, "# from %s line%s %s\n", r.sourceOf(c.File), plural(len(c.Lines)), joinInts(c.Lines))
		}
		b.WriteString("[[connection]]\n")
		kv := func(k, v string) {
			if v != "" {
				fmt.Fprintf(&b, "%s = %s\n", k, strconv.Quote(v))
			}
		}
		list := func(k string, v []string) {
			if len(v) > 0 {
				fmt.Fprintf(&b, "%s = %s\n", k, tomlList(v))
			}
		}
		kv("name", c.Name)
		kv("version", c.Version)
		kv("ikev1_mode", c.IKEv1Mode)
		kv("local_addr", c.LocalAddr)
		kv("remote_addr", c.RemoteAddr)
		kv("local_id", c.LocalID)
		kv("remote_id", c.RemoteID)
		kv("auth", c.Auth)
		if c.PSK != "" {
			psk := c.PSK
			if redact {
				psk = secretMark
			}
			kv("psk", psk)
		}
		kv("cert", c.Cert)
		kv("key", c.Key)
		kv("ca", c.CA)
		list("ike", c.IKE)
		list("esp", c.ESP)
		list("local_ts", c.LocalTS)
		list("remote_ts", c.RemoteTS)
		kv("ike_lifetime", c.IKELifetime)
		kv("child_lifetime", c.ChildLifetime)
		if c.ChildLifetimeBytes > 0 {
			fmt.Fprintf(&b, "child_lifetime_bytes = %d\n", c.ChildLifetimeBytes)
		}
		kv("dpd_delay", c.DPDDelay)
		kv("dpd_timeout", c.DPDTimeout)
		kv("dpd_action", c.DPDAction)
		kv("mode", c.Mode)
		kv("pfs", c.PFS)
		kv("start", c.Start)
		keys := make([]string, 0, len(c.Extra))
		for k := range c.Extra {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(&b, "%s = %s\n", k, c.Extra[k]) // already TOML values
		}
	}
	for _, t := range r.Tables {
		b.WriteString("\n")
		if len(t.Lines) > 0 {
			fmt.Fprintf(&b, "# from %s line%s %s\n", r.sourceOf(t.File), plural(len(t.Lines)), joinInts(t.Lines))
		}
		fmt.Fprintf(&b, "[[%s]]\n", t.Kind)
		for _, kv := range t.Keys {
			v := kv.Value
			if kv.Secret && redact {
				v = strconv.Quote(secretMark)
			}
			fmt.Fprintf(&b, "%s = %s\n", kv.Key, v)
		}
	}
	return b.String()
}

// Report renders the notes for people: one line each, by source line.
func (r *Result) Report() string {
	var b strings.Builder
	counts := map[Status]int{}
	for _, n := range r.Notes {
		counts[n.Status]++
		loc := "-"
		if n.Line > 0 {
			loc = fmt.Sprintf("line %d", n.Line)
			if n.File != "" {
				loc = fmt.Sprintf("%s:%d", n.File, n.Line)
			}
		}
		fmt.Fprintf(&b, "%-9s %-12s %s\n", loc, n.Status, n.What)
	}
	fmt.Fprintf(&b, "%d connection%s; %d translated, %d approximated, %d omitted\n", len(r.Conns), plural(len(r.Conns)),
		counts[Translated], counts[Approximated], counts[Omitted])
	return b.String()
}

func tomlList(v []string) string {
	q := make([]string, len(v))
	for i, s := range v {
		q[i] = strconv.Quote(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ", ")
}
