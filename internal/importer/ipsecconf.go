package importer

import (
	"fmt"
	"strings"
)

// ipsec.conf, as strongSwan's starter/stroke (strongswan-ipsec.conf) and
// Libreswan's pluto (libreswan) read it: "config setup", "conn NAME" and
// (strongSwan) "ca NAME" sections at the left margin, indented key=value
// parameters, "%default" sections and also= inheritance, include lines.
// The two dialects share this reader; what the keys mean is in
// ipsecmap.go.
//
// Secrets: ipsec.secrets is read from the input's directory (Libreswan's
// secretsfile= in config setup names another file), and for an input
// other than ipsec.conf, NAME.secrets beside NAME.conf as well; include
// lines in secrets files are followed. Includes of ipsec.conf are
// followed too. Without access to the input's directory (standard input,
// tests, fuzzing) both are reported as omitted.

func init() {
	RegisterFiles(IPsecConf, func(name string, src []byte, files Files) (*Result, error) {
		return parseIPsecConf(name, src, files, dialectStrongSwan)
	})
	RegisterFiles(Libreswan, func(name string, src []byte, files Files) (*Result, error) {
		return parseIPsecConf(name, src, files, dialectLibreswan)
	})
}

// dialect is the daemon an ipsec.conf is for.
type dialect int

const (
	dialectStrongSwan dialect = iota
	dialectLibreswan
)

func (d dialect) String() string {
	if d == dialectLibreswan {
		return "Libreswan"
	}
	return "strongSwan"
}

// icSection is one section of an ipsec.conf.
type icSection struct {
	kind string // "config", "conn", "ca"
	name string
	pos  pos
	keys []*setKV // in order; also= kept as keys
}

// icReader reads ipsec.conf files into sections.
type icReader struct {
	files    Files
	r        *Result
	sections []*icSection
	open     map[string]bool
	depth    int
}

// read parses src (from file, "" for the input).
func (rd *icReader) read(src []byte, file string) error {
	lines := strings.Split(string(src), "\n")
	var cur *icSection
	errf := func(line int, format string, args ...any) error {
		if file != "" {
			return fmt.Errorf("%s: line %d: %s", file, line, fmt.Sprintf(format, args...))
		}
		return fmt.Errorf("line %d: %s", line, fmt.Sprintf(format, args...))
	}
	for i := 0; i < len(lines); i++ {
		ln := i + 1
		raw := strings.TrimRight(lines[i], "\r")
		text, err := stripComment(raw)
		if err != nil {
			// A quoted value continued on the next lines (strongSwan).
			for err != nil && strings.HasSuffix(strings.TrimRight(raw, " \t"), "\\") && i+1 < len(lines) {
				i++
				raw = strings.TrimSuffix(strings.TrimRight(raw, " \t"), "\\") + strings.TrimRight(lines[i], "\r")
				text, err = stripComment(raw)
			}
			if err != nil {
				return errf(ln, "%v", err)
			}
		}
		if strings.TrimSpace(text) == "" {
			continue
		}
		if text[0] != ' ' && text[0] != '\t' {
			f := strings.Fields(text)
			switch {
			case f[0] == "config" && len(f) == 2 && f[1] == "setup":
				cur = &icSection{kind: "config", name: "setup", pos: pos{file, ln}}
			case (f[0] == "conn" || f[0] == "ca") && len(f) == 2:
				cur = &icSection{kind: f[0], name: f[1], pos: pos{file, ln}}
			case f[0] == "conn" || f[0] == "ca":
				return errf(ln, "%q: a %s section needs one name", strings.TrimSpace(text), f[0])
			case f[0] == "include" && len(f) == 2:
				cur = nil
				if err := rd.include(file, ln, strings.Trim(f[1], `"`)); err != nil {
					return err
				}
				continue
			case f[0] == "version" && len(f) == 2:
				noter{rd.r, file}.note(ln, Translated, "version %s: the file format's version", f[1])
				continue
			default:
				return errf(ln, "%q: expected \"config setup\", \"conn NAME\", \"ca NAME\" or \"include FILE\" at the left margin (parameters are indented)", trimFor(text))
			}
			rd.sections = append(rd.sections, cur)
			continue
		}
		if cur == nil {
			return errf(ln, "%q: a parameter outside a section", trimFor(strings.TrimSpace(text)))
		}
		t := strings.TrimSpace(text)
		eq := strings.IndexByte(t, '=')
		if eq <= 0 {
			return errf(ln, "%q: expected key=value", trimFor(t))
		}
		key := strings.TrimSpace(t[:eq])
		if strings.ContainsAny(key, " \t\"") {
			return errf(ln, "%q: not a parameter name", trimFor(key))
		}
		val := strings.TrimSpace(t[eq+1:])
		if len(val) >= 2 && val[0] == '"' && val[len(val)-1] == '"' {
			val = val[1 : len(val)-1]
		}
		cur.keys = append(cur.keys, &setKV{key: key, value: val, pos: pos{file, ln}})
	}
	return nil
}

// trimFor shortens text for an error message.
func trimFor(s string) string {
	if len(s) > 60 {
		return s[:60] + "..."
	}
	return s
}

// stripComment removes a comment ("#" outside double quotes); an error
// when a quote is not closed on the line.
func stripComment(s string) (string, error) {
	in := false
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if in {
				i++
			}
		case '"':
			in = !in
		case '#':
			// A comment starts at the margin or after a blank: "@#hex"
			// (a KEY_ID) is a value.
			if !in && (i == 0 || s[i-1] == ' ' || s[i-1] == '\t') {
				return s[:i], nil
			}
		}
	}
	if in {
		return s, fmt.Errorf("quoted value not closed")
	}
	return s, nil
}

// include reads the files an include line names.
func (rd *icReader) include(from string, line int, pat string) error {
	return followInclude(noter{rd.r, from}, rd.files, rd.open, &rd.depth, line, pat,
		"no file matches (nothing included, as the daemon)",
		func(data []byte, file string) error { return rd.read(data, file) })
}

// resolve returns the parameters of conn s with also= and %default
// applied: its own override the also= sections' (later ones over earlier
// ones), which override %default's. Each keeps the position it was read
// at.
func resolveConn(s *icSection, conns map[string]*icSection, def *icSection, r *Result, stack []string) ([]*setKV, error) {
	for _, x := range stack {
		if x == s.name {
			return nil, fmt.Errorf("%s: line %d: conn %s: also= references form a loop (%s)", fileLabel(s.pos.file), s.pos.line, s.name, strings.Join(append(stack, s.name), " → "))
		}
	}
	stack = append(stack, s.name)
	out := map[string]*setKV{}
	var order []string
	set := func(kv *setKV) {
		if _, ok := out[kv.key]; !ok {
			order = append(order, kv.key)
		}
		out[kv.key] = kv
	}
	if def != nil && len(stack) == 1 {
		for _, kv := range def.keys {
			if kv.key != "also" {
				set(kv)
			}
		}
	}
	for _, kv := range s.keys {
		if kv.key != "also" {
			continue
		}
		t := conns[kv.value]
		if t == nil {
			r.NoteIn(kv.pos.file, kv.pos.line, Omitted, "conn %s: also=%s: there is no conn %s (its parameters are missing)", s.name, kv.value, kv.value)
			continue
		}
		inherited, err := resolveConn(t, conns, def, r, stack)
		if err != nil {
			return nil, err
		}
		for _, ikv := range inherited {
			set(ikv)
		}
	}
	for _, kv := range s.keys {
		if kv.key != "also" {
			set(kv)
		}
	}
	res := make([]*setKV, 0, len(order))
	for _, k := range order {
		res = append(res, out[k])
	}
	return res, nil
}
