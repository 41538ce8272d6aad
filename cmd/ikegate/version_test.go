package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
)

func TestVersionFrom(t *testing.T) {
	full := &debug.BuildInfo{
		GoVersion: "go1.26.8",
		Main:      debug.Module{Path: "ikegate", Version: "v1.2.3"},
		Settings: []debug.BuildSetting{
			{Key: "GOOS", Value: "linux"}, {Key: "GOARCH", Value: "arm64"},
			{Key: "vcs", Value: "git"},
			{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"},
			{Key: "vcs.time", Value: "2025-01-02T03:04:05Z"},
			{Key: "vcs.modified", Value: "true"},
		},
	}
	tests := []struct {
		name  string
		bi    *debug.BuildInfo
		built string
		want  string
	}{
		{"vcs, dirty", full, "", `ikegate v1.2.3
commit:      0123456789abcdef0123456789abcdef01234567 (dirty)
commit time: 2025-01-02T03:04:05Z
go:          go1.26.8 linux/arm64
`},
		{"vcs, clean, build time", func() *debug.BuildInfo {
			bi := *full
			bi.Settings = append([]debug.BuildSetting(nil), full.Settings...)
			bi.Settings[5].Value = "false"
			return &bi
		}(), "2025-02-03T04:05:06Z", `ikegate v1.2.3
commit:      0123456789abcdef0123456789abcdef01234567
commit time: 2025-01-02T03:04:05Z
build time:  2025-02-03T04:05:06Z
go:          go1.26.8 linux/arm64
`},
		{"no vcs (-buildvcs=false, go test)", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "ikegate", Version: "(devel)"}}, "", `ikegate (devel)
commit:      unknown (built without VCS information)
go:          go1.26.8 ` + runtime.GOOS + "/" + runtime.GOARCH + `
`},
		{"no build info", nil, "", `ikegate (devel)
commit:      unknown (built without VCS information)
go:          ` + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH + `
`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			versionFrom(tt.bi, tt.built).write(&b)
			if b.String() != tt.want {
				t.Errorf("got:\n%s\nwant:\n%s", b.String(), tt.want)
			}
		})
	}
}

func TestVersionCommand(t *testing.T) {
	code, stdout, stderr := runCmd(t, "version")
	if code != 0 || !strings.HasPrefix(stdout, "ikegate ") || !strings.Contains(stdout, "go:          "+runtime.Version()) {
		t.Errorf("version: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if code, stdout2, _ := runCmd(t, "--version"); code != 0 || stdout2 != stdout {
		t.Errorf("--version: exit %d, stdout %q, want %q", code, stdout2, stdout)
	}
	code, stdout, _ = runCmd(t, "version", "--json")
	var v versionInfo
	if err := json.Unmarshal([]byte(stdout), &v); code != 0 || err != nil || v.Go != runtime.Version() || v.Module == "" {
		t.Errorf("version --json: exit %d, %v, %q", code, err, stdout)
	}
	if code, _, _ := runCmd(t, "version", "extra"); code != exitUsage {
		t.Errorf("version extra: exit %d, want %d", code, exitUsage)
	}
}

// TestVersionBinary builds ikegate with and without VCS stamping and
// checks what `ikegate version` says: the commit of HEAD, and the
// fallback.
func TestVersionBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(gobin); err != nil {
		t.Skip("no go command:", err)
	}
	dir := t.TempDir()
	build := func(name string, flags ...string) string {
		out := filepath.Join(dir, name)
		args := append([]string{"build", "-o", out}, flags...)
		cmd := exec.Command(gobin, append(args, ".")...)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go %v: %v\n%s", args, err, b)
		}
		return out
	}
	versionOf := func(bin string) versionInfo {
		out, err := exec.Command(bin, "version", "--json").Output()
		if err != nil {
			t.Fatalf("%s version: %v", bin, err)
		}
		var v versionInfo
		if err := json.Unmarshal(out, &v); err != nil {
			t.Fatalf("%s version --json: %v\n%s", bin, err, out)
		}
		return v
	}

	v := versionOf(build("novcs", "-buildvcs=false"))
	if v.Commit != "" || v.Module != "ikegate" || v.Go != runtime.Version() {
		t.Errorf("-buildvcs=false: %+v", v)
	}

	head, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		t.Skip("not in a git checkout (or no git): VCS stamping not checked:", err)
	}
	bin := build("vcs", "-buildvcs=true", "-ldflags=-X main.buildTime=2025-02-03T04:05:06Z")
	v = versionOf(bin)
	// Others may commit while this builds: HEAD before or after will do.
	headAfter, _ := exec.Command("git", "rev-parse", "HEAD").Output()
	if (v.Commit != strings.TrimSpace(string(head)) && v.Commit != strings.TrimSpace(string(headAfter))) || v.VCS != "git" || v.CommitTime == "" || v.BuildTime != "2025-02-03T04:05:06Z" {
		t.Errorf("-buildvcs=true: %+v, want commit %s", v, head)
	}
	out, _ := exec.Command(bin, "version").Output()
	if v.Dirty != strings.Contains(string(out), " (dirty)") {
		t.Errorf("dirty %v but text says:\n%s", v.Dirty, out)
	}
	t.Logf("%s", out)
}

// TestLogFormatJSON: log_format = "json" writes one JSON object per line
// with the same field names as the console format.
func TestLogFormatJSON(t *testing.T) {
	var buf bytes.Buffer
	log, err := newLoggerFormat("info", "json", &buf)
	if err != nil {
		t.Fatal(err)
	}
	log.Info("IKE SA established", zap.Int("version", 2), zap.String("spi_i", "00112233"))
	var m map[string]any
	if err := json.Unmarshal(bytes.TrimSpace(buf.Bytes()), &m); err != nil {
		t.Fatalf("not JSON: %v: %s", err, buf.Bytes())
	}
	if m["msg"] != "IKE SA established" || m["version"] != float64(2) || m["spi_i"] != "00112233" || m["level"] != "INFO" {
		t.Errorf("fields %v", m)
	}
}

// TestAges: `sas` shows how long an SA has been up and when it is rekeyed.
func TestAges(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct{ since, rekey, want string }{
		{"2026-12-07T11:55:00Z", "2026-12-07T12:43:10Z", ", up 5m0s, rekey in 43m10s"},
		{"2026-12-07T11:00:00Z", "2026-12-07T11:59:00Z", ", up 1h0m0s, rekey due"},
		{"", "", ""},
	} {
		if got := ages(tc.since, tc.rekey, now); got != tc.want {
			t.Errorf("ages(%q, %q) = %q, want %q", tc.since, tc.rekey, got, tc.want)
		}
	}
}

// TestAlgs: `ikegate algs` lists the keywords with their meanings.
func TestAlgs(t *testing.T) {
	code, stdout, _ := runCmd(t, "algs")
	if code != 0 || !strings.Contains(stdout, "aes256gcm16") || !strings.Contains(stdout, "AES_GCM_16_256") || !strings.Contains(stdout, "modp2048") {
		t.Fatalf("exit %d:\n%s", code, stdout)
	}
}
