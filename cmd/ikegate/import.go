package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"ikegate/internal/importer"
	"ikegate/policy"
)

// cmdImport translates another product's configuration into ikegate's.
func cmdImport(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("import", stderr)
	from := fs.String("from", "", "the `FORMAT` of FILE: "+strings.Join(importer.Formats(), ", "))
	out := fs.String("out", "", "write the configuration to `FILE` (mode 0600; it holds the pre-shared keys)")
	force := fs.Bool("force", false, "overwrite --out if it exists")
	pos, code, ok := parseArgs(fs, args)
	if !ok {
		return code
	}
	if len(pos) != 1 || *from == "" {
		fs.Usage()
		return exitUsage
	}
	src, err := os.ReadFile(pos[0])
	if err != nil {
		fmt.Fprintf(stderr, "ikegate import: %v\n", err)
		return exitUsage
	}
	// The input's directory: ipsec.secrets beside ipsec.conf, includes.
	r, err := importer.ImportFiles(*from, filepath.Base(pos[0]), src, importer.Dir(filepath.Dir(pos[0])))
	if err != nil {
		fmt.Fprintf(stderr, "ikegate import: %s: %v\n", pos[0], err)
		return exitUsage
	}
	full := r.TOML(false)
	checkName := *out
	if checkName == "" {
		checkName = "imported.toml"
	}
	if _, err := policy.Parse(checkName, []byte(full)); err != nil {
		// Said, not hidden: the report shows what was carried over, and
		// the check's errors name the keys that still need a hand.
		r.Notes = append(r.Notes, importer.Note{Status: importer.Omitted,
			What: "the result does not pass `ikegate check` yet: " + err.Error()})
	}
	if *out == "" {
		fmt.Fprint(stdout, r.TOML(true))
		if strings.Contains(full, "psk = ") {
			fmt.Fprintln(stderr, "ikegate import: pre-shared keys are not printed; use --out FILE to write them (mode 0600)")
		}
	} else if err := writeNew(*out, full, *force); err != nil {
		fmt.Fprintf(stderr, "ikegate import: %v\n", err)
		return exitFailure
	} else {
		fmt.Fprintf(stderr, "ikegate import: wrote %s\n", *out)
	}
	fmt.Fprint(stderr, r.Report())
	if r.LeftOut() {
		return exitFailure
	}
	return exitOK
}

// writeNew writes data to path with mode 0600, refusing to replace an
// existing file unless force.
func writeNew(path, data string, force bool) error {
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if force {
		flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	f, err := os.OpenFile(path, flags, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s exists (use --force to overwrite it)", path)
	}
	if err != nil {
		return err
	}
	if _, err := f.WriteString(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
