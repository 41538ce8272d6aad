package importer

import (
	"fmt"
	"strings"
)

// strongSwan's settings syntax, as swanctl.conf uses it:
//
//	name {            # a section; "name : a.b, c {" inherits from sections a.b and c
//	    key = value   # to the end of the line (or a "}"); "..." may span lines
//	    sub { ... }
//	}
//	include conf.d/*.conf
//
// Sections of the same name merge; a later key replaces an earlier one.
// Relative include patterns are relative to the including file.

// pos is where something was read: a file ("" is the input) and line.
type pos struct {
	file string
	line int
}

// setKV is one key = value.
type setKV struct {
	key, value string
	pos        pos
}

// setSection is one section of a settings file.
type setSection struct {
	name string
	refs []string
	pos  pos
	keys []*setKV
	subs []*setSection
}

// get returns the last key of that name in s (nil when absent).
func (s *setSection) get(key string) *setKV {
	if s == nil {
		return nil
	}
	for i := len(s.keys) - 1; i >= 0; i-- {
		if s.keys[i].key == key {
			return s.keys[i]
		}
	}
	return nil
}

// sub returns the subsection of that name (nil when absent).
func (s *setSection) sub(name string) *setSection {
	if s == nil {
		return nil
	}
	for _, c := range s.subs {
		if c.name == name {
			return c
		}
	}
	return nil
}

// effective returns s's keys with later duplicates replacing earlier ones,
// in the order they were first given.
func (s *setSection) effective() []*setKV {
	idx := map[string]int{}
	var out []*setKV
	for _, kv := range s.keys {
		if i, ok := idx[kv.key]; ok {
			out[i] = kv
			continue
		}
		idx[kv.key] = len(out)
		out = append(out, kv)
	}
	return out
}

// settingsParser reads settings files into one tree.
type settingsParser struct {
	files   Files
	r       *Result
	include int // nesting of includes
	depth   int // nesting of sections
	// displayed names of the files read, to refuse include loops
	open map[string]bool
}

// maxSectionDepth bounds nested sections (swanctl.conf needs 4).
const maxSectionDepth = 32

// maxIncludeDepth bounds nested includes (strongSwan allows 10).
const maxIncludeDepth = 10

// parseSettings reads src (from file, "" for the input) into root.
func (p *settingsParser) parseSettings(src []byte, file string, root *setSection) error {
	sc := &setScanner{src: src, line: 1, file: file}
	return p.body(sc, root, true)
}

// setScanner walks one file.
type setScanner struct {
	src  []byte
	i    int
	line int
	file string
}

func (sc *setScanner) errf(format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if sc.file != "" {
		return fmt.Errorf("%s: line %d: %s", sc.file, sc.line, msg)
	}
	return fmt.Errorf("line %d: %s", sc.line, msg)
}

func (sc *setScanner) eof() bool { return sc.i >= len(sc.src) }
func (sc *setScanner) peek() byte {
	if sc.eof() {
		return 0
	}
	return sc.src[sc.i]
}

// skip passes blanks, newlines and comments.
func (sc *setScanner) skip() {
	for !sc.eof() {
		switch c := sc.src[sc.i]; {
		case c == '\n':
			sc.line++
			sc.i++
		case c == ' ' || c == '\t' || c == '\r':
			sc.i++
		case c == '#':
			for !sc.eof() && sc.src[sc.i] != '\n' {
				sc.i++
			}
		default:
			return
		}
	}
}

// skipBlanks passes blanks on the current line.
func (sc *setScanner) skipBlanks() {
	for !sc.eof() && (sc.src[sc.i] == ' ' || sc.src[sc.i] == '\t' || sc.src[sc.i] == '\r') {
		sc.i++
	}
}

// name reads a key or section name.
func (sc *setScanner) name() string {
	start := sc.i
	for !sc.eof() {
		c := sc.src[sc.i]
		if c <= ' ' || c == '=' || c == '{' || c == '}' || c == '#' || c == ':' || c == '"' || c == ',' {
			break
		}
		sc.i++
	}
	return string(sc.src[start:sc.i])
}

// restOfLine reads up to the end of the line or a comment, trimmed.
func (sc *setScanner) restOfLine() string {
	start := sc.i
	for !sc.eof() && sc.src[sc.i] != '\n' && sc.src[sc.i] != '#' {
		sc.i++
	}
	return strings.TrimSpace(string(sc.src[start:sc.i]))
}

// value reads a value after "=": a quoted string (escapes, may span
// lines) or the rest of the line up to a comment or "}".
func (sc *setScanner) value() (string, error) {
	sc.skipBlanks()
	if sc.peek() != '"' {
		start := sc.i
		for !sc.eof() {
			c := sc.src[sc.i]
			if c == '\n' || c == '#' || c == '}' {
				break
			}
			sc.i++
		}
		return strings.TrimSpace(string(sc.src[start:sc.i])), nil
	}
	startLine := sc.line
	sc.i++
	var b strings.Builder
	for {
		if sc.eof() {
			sc.line = startLine
			return "", sc.errf("quoted value not closed")
		}
		c := sc.src[sc.i]
		sc.i++
		switch c {
		case '"':
			sc.skipBlanks()
			if c := sc.peek(); c != 0 && c != '\n' && c != '#' && c != '}' {
				return "", sc.errf("unexpected %q after a quoted value", c)
			}
			return b.String(), nil
		case '\n':
			sc.line++
			b.WriteByte(c)
		case '\\':
			if sc.eof() {
				continue
			}
			e := sc.src[sc.i]
			sc.i++
			switch e {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case 'r':
				b.WriteByte('\r')
			case '\n': // line continuation
				sc.line++
			default:
				b.WriteByte(e)
			}
		default:
			b.WriteByte(c)
		}
	}
}

// body reads keys, sections and includes into sec until its "}" (or the
// end of the file for a file's top level).
func (p *settingsParser) body(sc *setScanner, sec *setSection, top bool) error {
	for {
		sc.skip()
		if sc.eof() {
			if !top {
				return fmt.Errorf("%s: section %q (line %d) is not closed", fileLabel(sc.file), sec.name, sec.pos.line)
			}
			return nil
		}
		if sc.peek() == '}' {
			if top {
				return sc.errf("\"}\" closes no section")
			}
			sc.i++
			return nil
		}
		line := sc.line
		name := sc.name()
		if name == "" {
			return sc.errf("unexpected %q (expected a key, a section or include)", sc.peek())
		}
		sc.skipBlanks()
		if name == "include" {
			if c := sc.peek(); c != '=' && c != '{' && c != ':' {
				pat := strings.Trim(sc.restOfLine(), `"`)
				if err := p.includeFiles(sc.file, line, pat, sec); err != nil {
					return err
				}
				continue
			}
		}
		// A section's "{" may be on the next line.
		if c := sc.peek(); c == '\n' || c == '#' || c == '\r' {
			sc.skip()
		}
		switch sc.peek() {
		case '=':
			sc.i++
			v, err := sc.value()
			if err != nil {
				return err
			}
			sec.keys = append(sec.keys, &setKV{key: name, value: v, pos: pos{sc.file, line}})
		case ':', '{':
			var refs []string
			if sc.peek() == ':' {
				sc.i++
				start := sc.i
				for !sc.eof() && sc.src[sc.i] != '{' && sc.src[sc.i] != '\n' {
					sc.i++
				}
				if sc.peek() != '{' {
					return sc.errf("section %q: expected \"{\" after its references", name)
				}
				for _, r := range strings.Split(string(sc.src[start:sc.i]), ",") {
					if r = strings.TrimSpace(r); r != "" {
						refs = append(refs, r)
					}
				}
			}
			sc.i++ // "{"
			sub := sec.sub(name)
			if sub == nil {
				sub = &setSection{name: name, pos: pos{sc.file, line}}
				sec.subs = append(sec.subs, sub)
			}
			sub.refs = append(sub.refs, refs...)
			if p.depth++; p.depth > maxSectionDepth {
				return sc.errf("sections nested more than %d deep", maxSectionDepth)
			}
			err := p.body(sc, sub, false)
			p.depth--
			if err != nil {
				return err
			}
		default:
			if sc.eof() {
				return sc.errf("%q: expected \"=\" or \"{\" after it, found the end of the file", name)
			}
			return sc.errf("%q: expected \"=\" or \"{\" after it, found %q", name, sc.peek())
		}
	}
}

func fileLabel(file string) string {
	if file == "" {
		return "input"
	}
	return file
}

// includeFiles reads the files matching pat into sec.
func (p *settingsParser) includeFiles(from string, line int, pat string, sec *setSection) error {
	n := noter{p.r, from}
	if pat == "" {
		n.note(line, Omitted, "include without a file name")
		return nil
	}
	return followInclude(n, p.files, p.open, &p.include, line, pat,
		"no file matches (as strongSwan, nothing is included)",
		func(data []byte, file string) error { return p.parseSettings(data, file, sec) })
}

// resolveRefs applies section references ("name : ref {"): a referenced
// section's keys and subsections are defaults for the referencing one.
// References name a section by its full path from the top ("connections.base")
// or a sibling ("base").
func resolveRefs(root *setSection) error {
	var walk func(parent, s *setSection, stack []*setSection) error
	walk = func(parent, s *setSection, stack []*setSection) error {
		for _, x := range stack {
			if x == s {
				return fmt.Errorf("%s: line %d: section %q references itself (a loop of references)", fileLabel(s.pos.file), s.pos.line, s.name)
			}
		}
		stack = append(stack, s)
		refs := s.refs
		s.refs = nil
		for _, ref := range refs {
			tp, t := lookupSection(root, ref)
			if t == nil && parent != nil {
				tp, t = parent, parent.sub(ref)
			}
			if t == nil {
				return fmt.Errorf("%s: line %d: section %q references %q, which does not exist", fileLabel(s.pos.file), s.pos.line, s.name, ref)
			}
			if err := walk(tp, t, stack); err != nil {
				return err
			}
			inherit(s, t)
		}
		for _, c := range s.subs {
			if err := walk(s, c, stack); err != nil {
				return err
			}
		}
		return nil
	}
	return walk(nil, root, nil)
}

// lookupSection finds a section by its dotted path from root, and its
// parent.
func lookupSection(root *setSection, p string) (parent, s *setSection) {
	s = root
	for _, part := range strings.Split(p, ".") {
		parent = s
		if s = s.sub(part); s == nil {
			return nil, nil
		}
	}
	return parent, s
}

// inherit copies from t what s does not set.
func inherit(s, t *setSection) {
	var keys []*setKV
	for _, kv := range t.effective() {
		if s.get(kv.key) == nil {
			keys = append(keys, kv)
		}
	}
	s.keys = append(keys, s.keys...)
	for _, ts := range t.subs {
		if ss := s.sub(ts.name); ss != nil {
			inherit(ss, ts)
			continue
		}
		cp := copySection(ts)
		s.subs = append(s.subs, cp)
	}
}

func copySection(t *setSection) *setSection {
	c := &setSection{name: t.name, pos: t.pos, keys: append([]*setKV(nil), t.keys...)}
	for _, s := range t.subs {
		c.subs = append(c.subs, copySection(s))
	}
	return c
}
