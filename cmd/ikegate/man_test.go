package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite packaging/ikegate.8 (and other generated files) instead of comparing")

// manPath is the man page, relative to this package.
var manPath = filepath.Join("..", "..", "packaging", "ikegate.8")

// roffText escapes one line of text for roff: backslashes, dashes that
// start an option (-h, --config), a leading dot or quote, and
// `code` spans (bold).
func roffText(s string) string {
	s = strings.ReplaceAll(s, `\`, `\e`)
	var b strings.Builder
	bold := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '`':
			if bold {
				b.WriteString(`\fR`)
			} else {
				b.WriteString(`\fB`)
			}
			bold = !bold
		case c == '-' && (i == 0 || strings.IndexByte(" ([|,\"`-", s[i-1]) >= 0):
			b.WriteString(`\-`)
		default:
			b.WriteByte(c)
		}
	}
	if bold {
		b.WriteString(`\fR`)
	}
	out := b.String()
	if strings.HasPrefix(out, ".") || strings.HasPrefix(out, "'") {
		out = `\&` + out
	}
	return out
}

// roffParagraphs writes text (paragraphs separated by blank lines; lines
// indented by two spaces are examples, kept as they are).
func roffParagraphs(b *bytes.Buffer, text string) {
	inExample := false
	for _, line := range strings.Split(text, "\n") {
		example := strings.HasPrefix(line, "  ")
		if example != inExample {
			if example {
				b.WriteString(".PP\n.RS\n.nf\n")
			} else {
				b.WriteString(".fi\n.RE\n")
			}
			inExample = example
		}
		switch {
		case line == "":
			b.WriteString(".PP\n")
		case example:
			b.WriteString(roffText(strings.TrimPrefix(line, "  ")) + "\n")
		default:
			b.WriteString(roffText(line) + "\n")
		}
	}
	if inExample {
		b.WriteString(".fi\n.RE\n")
	}
}

// roffTable writes lines "TAG  text" (two or more spaces apart) as a
// tagged list.
func roffTable(b *bytes.Buffer, text string) {
	for _, line := range strings.Split(text, "\n") {
		tag, desc, ok := strings.Cut(line, "  ")
		if !ok {
			b.WriteString(roffText(line) + "\n")
			continue
		}
		fmt.Fprintf(b, ".TP\n.B %s\n%s\n", roffText(tag), roffText(strings.TrimSpace(desc)))
	}
}

// manPage generates packaging/ikegate.8 from the command table, the
// commands' flags and doc.go.
func manPage() []byte {
	var b bytes.Buffer
	b.WriteString(`.\" Generated from cmd/ikegate (the command table, the commands' flags and
.\" doc.go) by TestManPage; do not edit. Regenerate with
.\"   go test ./cmd/ikegate -run TestManPage -update
.TH IKEGATE 8 "" "ikegate" "System Administration"
.nh
.ad l
.SH NAME
ikegate \- IKEv1 and IKEv2 VPN gateway daemon and its control tool
.SH SYNOPSIS
`)
	for i, c := range commands {
		if i > 0 {
			b.WriteString(".br\n")
		}
		fmt.Fprintf(&b, ".B ikegate %s\n%s\n", c.name, roffText(c.args))
	}
	b.WriteString(".SH DESCRIPTION\n")
	roffParagraphs(&b, description)
	b.WriteString(".PP\nFlags take one or two dashes (\\-json, \\-\\-json) and may follow the positional arguments.\n")
	b.WriteString(".SH COMMANDS\n")
	for _, c := range commands {
		fmt.Fprintf(&b, ".SS \"ikegate %s %s\"\n", c.name, roffText(c.args))
		b.WriteString(roffText(strings.ToUpper(c.help[:1])+c.help[1:]) + ".\n.PP\n")
		roffParagraphs(&b, c.long)
		for _, f := range commandFlags(c) {
			b.WriteString(".TP\n")
			if f.arg == "" {
				fmt.Fprintf(&b, ".B \\-\\-%s\n", f.name)
			} else {
				fmt.Fprintf(&b, ".BI \\-\\-%s \" %s\"\n", f.name, f.arg)
			}
			b.WriteString(roffText(f.usageWithDefault()) + "\n")
		}
	}
	for _, s := range manSections {
		fmt.Fprintf(&b, ".SH %s\n", s.title)
		roffTable(&b, s.text)
	}
	b.WriteString(`.SH SEE ALSO
.BR systemctl (1),
.BR systemd.exec (5),
.BR ip\-xfrm (8)
.PP
docs/install.md in the source tree: building, installing the unit, the
configuration's permissions, completions and this page.
`)
	return b.Bytes()
}

// TestManPage: packaging/ikegate.8 is what manPage generates (every
// command and flag), and it renders without warnings.
func TestManPage(t *testing.T) {
	want := manPage()
	if *update {
		if err := os.WriteFile(manPath, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(manPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is out of date: run `go test ./cmd/ikegate -run TestManPage -update`", manPath)
	}
	for _, c := range commands {
		if !bytes.Contains(got, []byte(".SS \"ikegate "+c.name+" ")) {
			t.Errorf("man page lacks command %s", c.name)
		}
		for _, f := range commandFlags(c) {
			if !bytes.Contains(got, []byte(`\-\-`+f.name)) {
				t.Errorf("man page lacks %s --%s", c.name, f.name)
			}
		}
	}

	groff, ok := lookTool(t, "groff", "the man page's rendering is NOT checked")
	if !ok {
		return
	}
	cmd := exec.Command(groff, "-man", "-Tutf8", "-ww", "-z", manPath)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil || stderr.Len() > 0 {
		t.Errorf("groff -man -ww %s: %v\n%s", manPath, err, stderr.String())
	}
}
