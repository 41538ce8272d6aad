package importer

import (
	"path"
	"strings"
	"unicode"
)

// ipsec.secrets, as strongSwan (ipsec.secrets(5)) and Libreswan read it:
//
//	[SELECTOR ...] : TYPE SECRET
//	include FILE-PATTERN
//
// An entry starts at the left margin; indented lines continue it. TYPE is
// PSK, EAP, XAUTH, NTLM, RSA, ECDSA, ... ; a PSK is "quoted text", 0x +
// hex or 0s + base64. Only PSKs, EAP/XAUTH passwords and (strongSwan) key
// file names are used; nothing of a secret's value is ever noted.

// readSecretsFile parses one secrets file (display name file) into out,
// following includes (relative to the file).
func readSecretsFile(files Files, r *Result, file string, data []byte, depth int, open map[string]bool, out *[]secret) {
	n := noter{r, file}
	lines := strings.Split(string(data), "\n")
	type entry struct {
		text string
		line int
	}
	var entries []entry
	for i, raw := range lines {
		raw = strings.TrimRight(raw, "\r")
		text, err := stripComment(raw)
		if err != nil {
			text = raw // a "#" inside an open quote: keep the line, the entry check reports it
		}
		if strings.TrimSpace(text) == "" {
			continue
		}
		if text[0] == ' ' || text[0] == '\t' {
			if len(entries) == 0 {
				n.note(i+1, Omitted, "an indented line that continues no entry")
				continue
			}
			entries[len(entries)-1].text += " " + strings.TrimSpace(text)
			continue
		}
		entries = append(entries, entry{strings.TrimSpace(text), i + 1})
	}
	for _, e := range entries {
		f := strings.Fields(e.text)
		if f[0] == "include" && len(f) == 2 {
			includeSecrets(files, r, file, e.line, strings.Trim(f[1], `"`), depth, open, out)
			continue
		}
		sel, rest, ok := splitSecret(e.text)
		if !ok {
			n.note(e.line, Omitted, "not a secret entry (SELECTORS : TYPE SECRET)")
			continue
		}
		typ, val := rest, ""
		if i := strings.IndexFunc(rest, unicode.IsSpace); i >= 0 {
			typ, val = rest[:i], strings.TrimSpace(rest[i:])
		}
		typ = strings.ToUpper(typ)
		quoted := len(val) >= 2 && (val[0] == '"' && val[len(val)-1] == '"' || val[0] == '\'' && val[len(val)-1] == '\'')
		if quoted {
			val = val[1 : len(val)-1]
		}
		s := secret{ids: sel, kind: typ, file: file, line: e.line}
		switch typ {
		case "PSK", "EAP", "XAUTH", "NTLM":
			if val == "" {
				n.note(e.line, Omitted, "%s entry without a secret", typ)
				continue
			}
			s.value = val
			if typ == "PSK" {
				s.value = pskValue(val, quoted)
			}
			*out = append(*out, s)
		case "RSA", "ECDSA", "PKCS8", "PRIVATE", "BLISS":
			if val == "" || strings.HasPrefix(val, "{") {
				n.note(e.line, Translated, "%s key entry: the key is in the NSS database (Libreswan) or given by the certificate's file", typ)
				continue
			}
			if fs := strings.Fields(val); len(fs) > 1 {
				n.note(e.line, Approximated, "%s key %s is encrypted: ikegate reads unencrypted keys only (decrypt it, e.g. `openssl pkey -in FILE -out KEY.pem`)", typ, strings.Trim(fs[0], `"`))
				val = fs[0]
			}
			s.kind, s.value = "KEY", strings.Trim(val, `"`)
			*out = append(*out, s)
		case "PPKS", "P12", "PIN":
			n.note(e.line, Omitted, "%s secrets are not supported by ikegate", typ)
		default:
			n.note(e.line, Omitted, "unknown secret type %s", typ)
		}
	}
}

// splitSecret splits an entry at its ":" (the one after the selectors,
// followed by a blank or the end; IPv6 selectors have colons too).
func splitSecret(s string) (selectors []string, rest string, ok bool) {
	best := -1
	in := false
	for i := 0; i < len(s); i++ {
		if s[i] == '"' {
			in = !in
		}
		if in || s[i] != ':' || (i+1 < len(s) && s[i+1] != ' ' && s[i+1] != '\t') {
			continue
		}
		if i == 0 || s[i-1] == ' ' || s[i-1] == '\t' {
			best = i
			break
		}
		if best < 0 {
			best = i
		}
	}
	if best < 0 {
		return nil, "", false
	}
	rest = strings.TrimSpace(s[best+1:])
	if rest == "" {
		return nil, "", false
	}
	var sel []string
	for _, f := range strings.Fields(s[:best]) {
		sel = append(sel, strings.Trim(f, `"`))
	}
	return sel, rest, true
}

// includeSecrets follows an include line of a secrets file.
func includeSecrets(files Files, r *Result, from string, line int, pat string, depth int, open map[string]bool, out *[]secret) {
	n := noter{r, from}
	if files == nil {
		n.note(line, Omitted, "include %s: not followed (no access to the directory)", pat)
		return
	}
	if depth >= maxIncludeDepth {
		n.note(line, Omitted, "include %s: more than %d nested includes", pat, maxIncludeDepth)
		return
	}
	if !path.IsAbs(pat) {
		pat = path.Join(path.Dir(from), pat)
	}
	matches, err := files.Glob(pat)
	if err != nil {
		n.note(line, Omitted, "include %s: %v", pat, err)
		return
	}
	if len(matches) == 0 {
		n.note(line, Translated, "include %s: no file matches", pat)
		return
	}
	for _, m := range matches {
		if open[m] {
			n.note(line, Omitted, "include %s: %s includes itself", pat, m)
			continue
		}
		data, err := files.ReadFile(m)
		if err != nil {
			n.note(line, Omitted, "include %s: %v", m, err)
			continue
		}
		n.note(line, Translated, "include %s: read", m)
		open[m] = true
		readSecretsFile(files, r, m, data, depth+1, open, out)
		delete(open, m)
	}
}
