package importer

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
)

// Files gives a parser the files its input refers to: strongSwan's and
// Libreswan's ipsec.secrets beside ipsec.conf, the files of include
// statements, the CA certificates of a directory. Paths are absolute or
// relative to Dir.
type Files interface {
	// Dir is the input's directory, absolute. Parsers also use it to
	// write credential paths (e.g. Dir/x509/gw.pem for swanctl.conf).
	Dir() string
	// ReadFile returns a file's contents.
	ReadFile(path string) ([]byte, error)
	// Glob returns the files matching pattern (filepath.Match syntax),
	// sorted; relative patterns give relative names.
	Glob(pattern string) ([]string, error)
}

// Dir returns the Files of the host's directory dir (the input's).
func Dir(dir string) Files {
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	return osFiles(dir)
}

type osFiles string

func (d osFiles) Dir() string { return string(d) }

func (d osFiles) path(p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(string(d), p)
}

func (d osFiles) ReadFile(p string) ([]byte, error) { return os.ReadFile(d.path(p)) }

func (d osFiles) Glob(pattern string) ([]string, error) {
	m, err := filepath.Glob(d.path(pattern))
	if err != nil || filepath.IsAbs(pattern) {
		return m, err
	}
	for i, p := range m {
		if rel, err := filepath.Rel(string(d), p); err == nil {
			m[i] = rel
		}
	}
	sort.Strings(m)
	return m, nil
}

// FileParser is a Parser that also reads the files its input refers to;
// files is nil when there are none to read (tests, fuzzing, standard
// input): references are then reported as omitted.
type FileParser func(name string, src []byte, files Files) (*Result, error)

var fileParsers = map[string]FileParser{}

// RegisterFiles makes a FileParser known to Import (without files) and to
// ImportFiles.
func RegisterFiles(format string, p FileParser) {
	fileParsers[format] = p
	Register(format, func(name string, src []byte) (*Result, error) { return p(name, src, nil) })
}

// ImportFiles is Import for an input that may refer to other files,
// read through files (e.g. Dir(filepath.Dir(path))). Formats that read
// no other files ignore it.
func ImportFiles(format, name string, src []byte, files Files) (*Result, error) {
	p, ok := fileParsers[format]
	if !ok || files == nil {
		return Import(format, name, src)
	}
	r, err := p(name, src, files)
	if err != nil {
		return nil, err
	}
	r.Format, r.Source = format, name
	sortNotes(r.Notes)
	return r, nil
}

// NoteIn records what became of line of file (a file the input refers
// to: ipsec.secrets, an included file; "" is the input itself).
func (r *Result) NoteIn(file string, line int, st Status, format string, args ...any) {
	r.Notes = append(r.Notes, Note{File: file, Line: line, Status: st, What: fmt.Sprintf(format, args...)})
}

// sortNotes orders notes by file (the input first, then the others in
// the order they were first noted) and by line within each file.
func sortNotes(notes []Note) {
	rank := map[string]int{"": 0}
	for _, n := range notes {
		if _, ok := rank[n.File]; !ok {
			rank[n.File] = len(rank)
		}
	}
	sort.SliceStable(notes, func(i, j int) bool {
		a, b := notes[i], notes[j]
		if rank[a.File] != rank[b.File] {
			return rank[a.File] < rank[b.File]
		}
		return a.Line < b.Line
	})
}

// sourceOf names the file of a connection's or table's lines in comments.
func (r *Result) sourceOf(file string) string {
	if file == "" {
		return r.Source
	}
	return file
}

// followInclude reads the files an include statement on line of n's file
// names (pat, relative to that file's directory), each with read; open
// holds the files being read (an include cycle is an error) and depth
// their nesting. noMatch is the note when no file matches.
func followInclude(n noter, files Files, open map[string]bool, depth *int, line int, pat, noMatch string, read func(data []byte, file string) error) error {
	from := n.file
	if files == nil {
		n.note(line, Omitted, "include %s: not followed (no access to the input's directory); import the included files separately", pat)
		return nil
	}
	if *depth >= maxIncludeDepth {
		return fmt.Errorf("%s: line %d: include %s: more than %d nested includes", fileLabel(from), line, pat, maxIncludeDepth)
	}
	if !path.IsAbs(pat) && from != "" {
		pat = path.Join(path.Dir(from), pat)
	}
	matches, err := files.Glob(pat)
	if err != nil {
		n.note(line, Omitted, "include %s: %v", pat, err)
		return nil
	}
	if len(matches) == 0 {
		n.note(line, Translated, "include %s: %s", pat, noMatch)
		return nil
	}
	for _, m := range matches {
		if open[m] {
			return fmt.Errorf("%s: line %d: include %s: %s includes itself", fileLabel(from), line, pat, m)
		}
		data, err := files.ReadFile(m)
		if err != nil {
			n.note(line, Omitted, "include %s: %v", m, err)
			continue
		}
		n.note(line, Translated, "include %s: read", m)
		open[m] = true
		*depth++
		err = read(data, m)
		*depth--
		delete(open, m)
		if err != nil {
			return err
		}
	}
	return nil
}
