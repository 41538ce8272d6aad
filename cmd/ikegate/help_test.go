package main

import (
	"strings"
	"testing"
)

// TestHelp: `ikegate help` covers what the man page does, and `help
// COMMAND` every flag of the command, as `COMMAND -h` does.
func TestHelp(t *testing.T) {
	code, stdout, _ := runCmd(t, "help")
	if code != 0 {
		t.Errorf("help: exit %d", code)
	}
	for _, want := range []string{"exit status:", "signals:", "files:", "SIGHUP", "/run/ikegate/ikegate.sock"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("help lacks %q:\n%s", want, stdout)
		}
	}
	if code, stdout2, _ := runCmd(t, "--help"); code != 0 || stdout2 != stdout {
		t.Errorf("--help differs from help")
	}
	for _, c := range commands {
		if !strings.Contains(stdout, "  "+c.name+" ") {
			t.Errorf("help lacks command %s", c.name)
		}
		code, out, _ := runCmd(t, "help", c.name)
		if code != 0 || !strings.HasPrefix(out, "usage: ikegate "+c.name+" ") {
			t.Errorf("help %s: exit %d:\n%s", c.name, code, out)
		}
		for _, f := range commandFlags(c) {
			if !strings.Contains(out, "  "+f.synopsis()+"\n") {
				t.Errorf("help %s lacks --%s:\n%s", c.name, f.name, out)
			}
		}
		if c.name != "help" {
			if code, _, stderr := runCmd(t, c.name, "-h"); code != 0 || stderr != out {
				t.Errorf("%s -h: exit %d, differs from help %s:\n%s", c.name, code, c.name, stderr)
			}
		}
	}
	if code, _, stderr := runCmd(t, "help", "frob"); code != exitUsage || !strings.Contains(stderr, `unknown command "frob"`) {
		t.Errorf("help frob: exit %d, %q", code, stderr)
	}
	if code, _, _ := runCmd(t, "conns", "--json", "--names"); code != exitUsage {
		t.Errorf("conns --json --names: exit %d, want %d", code, exitUsage)
	}
}
