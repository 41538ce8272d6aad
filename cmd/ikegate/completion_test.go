package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func completionScript(t *testing.T, shell string) string {
	t.Helper()
	code, stdout, stderr := runCmd(t, "completion", shell)
	if code != 0 || stderr != "" {
		t.Fatalf("completion %s: exit %d, stderr %q", shell, code, stderr)
	}
	for _, c := range commands {
		if !strings.Contains(stdout, c.name) {
			t.Errorf("%s script lacks command %s", shell, c.name)
		}
	}
	return stdout
}

func TestCompletionUsage(t *testing.T) {
	if code, _, stderr := runCmd(t, "completion", "fish"); code != exitUsage || !strings.Contains(stderr, `unknown shell "fish"`) {
		t.Errorf("completion fish: exit %d, stderr %q", code, stderr)
	}
	if code, _, _ := runCmd(t, "completion"); code != exitUsage {
		t.Errorf("completion: exit %d, want %d", code, exitUsage)
	}
}

// TestBashCompletion: the script parses (bash -n) and completes commands,
// flags, flag values and connection names (from a stand-in `ikegate
// conns --names`).
func TestBashCompletion(t *testing.T) {
	script := completionScript(t, "bash")
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	path := filepath.Join(t.TempDir(), "ikegate.bash")
	if err := os.WriteFile(path, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bash, "-n", path).CombinedOutput(); err != nil {
		t.Fatalf("bash -n: %v\n%s", err, out)
	}

	// complete runs _ikegate on the command line words (the last one is
	// the word being completed) and returns COMPREPLY.
	complete := func(words ...string) []string {
		t.Helper()
		var quoted []string
		for _, w := range words {
			quoted = append(quoted, "'"+w+"'")
		}
		prog := `set -e
. '` + path + `'
# A stand-in for the daemon: the names, and the control socket it was asked.
ikegate() { echo site-a; echo site-b; [ "$3" = --control ] && echo "via-$4"; return 0; }
COMP_WORDS=(ikegate ` + strings.Join(quoted, " ") + `)
COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
_ikegate
printf '%s\n' "${COMPREPLY[@]}"
`
		out, err := exec.Command(bash, "-c", prog).CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %v\n%s", words, err, out)
		}
		s := strings.TrimSpace(string(out))
		if s == "" {
			return nil
		}
		return strings.Split(s, "\n")
	}
	for _, tt := range []struct {
		words []string
		want  string
	}{
		{[]string{"ver"}, "version"},
		{[]string{"c"}, "check conns certs cluster completion"},
		{[]string{"up", ""}, "site-a site-b"},
		{[]string{"down", "--control", "/x.sock", "site-"}, "site-a site-b"},
		{[]string{"down", "--control", "/x.sock", "via"}, "via-/x.sock"},
		{[]string{"conns", "--"}, "--control --json --names --help"},
		{[]string{"demo", "--log-level", "w"}, "warn"},
		{[]string{"demo", "--log-level", "=", "e"}, "error"},
		{[]string{"demo", "--timeout", ""}, ""},
		{[]string{"completion", ""}, "bash zsh"},
		{[]string{"help", "st"}, "stats"},
		{[]string{"sas", ""}, ""},
	} {
		got := strings.Join(complete(tt.words...), " ")
		if got != tt.want {
			t.Errorf("ikegate %s<TAB>: %q, want %q", strings.Join(tt.words, " "), got, tt.want)
		}
	}

	// File names for --config and for check's argument.
	dir := t.TempDir()
	for _, f := range []string{"gw.toml", "gw2.toml", "other.txt"} {
		if err := os.WriteFile(filepath.Join(dir, f), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	want := dir + "/gw.toml " + dir + "/gw2.toml"
	for _, words := range [][]string{{"run", "--config", dir + "/gw"}, {"check", "--config", "=", dir + "/gw"}, {"check", dir + "/gw"}} {
		if got := strings.Join(complete(words...), " "); got != want {
			t.Errorf("ikegate %s<TAB>: %q, want %q", strings.Join(words, " "), got, want)
		}
	}
}

// TestZshCompletion: the script parses (zsh -n) when zsh is installed.
func TestZshCompletion(t *testing.T) {
	script := completionScript(t, "zsh")
	if !strings.HasPrefix(script, "#compdef ikegate\n") {
		t.Errorf("zsh script does not start with #compdef")
	}
	if !strings.Contains(script, "'--control=[control SOCKET of the running daemon]:SOCKET:_files'") {
		t.Errorf("zsh script lacks the --control spec")
	}
	zsh, ok := lookTool(t, "zsh", "the zsh script is NOT syntax-checked")
	if !ok {
		return
	}
	path := filepath.Join(t.TempDir(), "_ikegate")
	if err := os.WriteFile(path, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(zsh, "-n", path).CombinedOutput(); err != nil {
		t.Fatalf("zsh -n: %v\n%s", err, out)
	}
	// Sourcing it after compinit registers the completion.
	prog := `autoload -Uz compinit && compinit -u -D && . '` + path + `' && print -r -- ${_comps[ikegate]}`
	out, err := exec.Command(zsh, "-f", "-c", prog).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "_ikegate" {
		t.Errorf("zsh: sourcing the script: %v\n%s", err, out)
	}
}
