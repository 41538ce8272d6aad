package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"ikegate/gateway"
)

var unitPath = filepath.Join("..", "..", "packaging", "ikegate.service")

// unitSettings returns the unit's settings (Key=Value lines), a key that
// repeats joined by " ".
func unitSettings(t *testing.T) (map[string]string, string) {
	t.Helper()
	b, err := os.ReadFile(unitPath)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' || line[0] == '[' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Errorf("%s: not a setting: %q", unitPath, line)
			continue
		}
		if m[k] != "" {
			v = m[k] + " " + v
		}
		m[k] = v
	}
	return m, string(b)
}

// TestUnitFile: the unit's contract (paths, hardening, no ExecReload
// while SIGHUP is not a reload), and `systemd-analyze verify` accepts it.
func TestUnitFile(t *testing.T) {
	m, text := unitSettings(t)
	for k, want := range map[string]string{
		"Type":                  "simple",
		"ExecStart":             "/usr/local/bin/ikegate run --config /etc/ikegate/ikegate.toml",
		"Restart":               "on-failure",
		"NoNewPrivileges":       "yes",
		"ProtectSystem":         "strict",
		"ReadWritePaths":        "/run/ikegate",
		"ProtectHome":           "yes",
		"PrivateTmp":            "yes",
		"RuntimeDirectory":      "ikegate",
		"CapabilityBoundingSet": "CAP_NET_ADMIN CAP_NET_BIND_SERVICE CAP_CHOWN",
		"AmbientCapabilities":   "CAP_NET_ADMIN CAP_NET_BIND_SERVICE CAP_CHOWN",
	} {
		if m[k] != want {
			t.Errorf("%s: %s=%q, want %q", unitPath, k, m[k], want)
		}
	}
	// `systemctl reload` sends SIGHUP, on which the daemon reloads.
	if r := m["ExecReload"]; !strings.Contains(r, "-HUP $MAINPID") {
		t.Errorf("%s: ExecReload %q, want the SIGHUP the daemon reloads on", unitPath, r)
	}
	if strings.Contains(m["CapabilityBoundingSet"], "CAP_NET_RAW") {
		t.Errorf("%s grants CAP_NET_RAW, which nothing uses", unitPath)
	}
	if dir := filepath.Dir(gateway.DefaultControl); m["ReadWritePaths"] != dir || "/run/"+m["RuntimeDirectory"] != dir {
		t.Errorf("ReadWritePaths %q and RuntimeDirectory %q are not the default control socket's directory %s",
			m["ReadWritePaths"], m["RuntimeDirectory"], dir)
	}

	sa, ok := lookTool(t, "systemd-analyze", "the unit is NOT verified")
	if !ok {
		t.Skip("systemd-analyze not found")
	}
	// verify checks that ExecStart's binary exists and that
	// Documentation=man:ikegate(8) resolves: point both at copies here.
	dir := t.TempDir()
	bin := filepath.Join(dir, "ikegate")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	man8 := filepath.Join(dir, "man", "man8")
	if err := os.MkdirAll(man8, 0o755); err != nil {
		t.Fatal(err)
	}
	page, err := os.ReadFile(manPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(man8, "ikegate.8"), page, 0o644); err != nil {
		t.Fatal(err)
	}
	unit := filepath.Join(dir, "ikegate.service")
	if err := os.WriteFile(unit, []byte(strings.ReplaceAll(text, "/usr/local/bin/ikegate", bin)), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(sa, "verify", unit)
	cmd.Env = append(os.Environ(), "MANPATH="+filepath.Join(dir, "man"), "SYSTEMD_LOG_LEVEL=info")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	// verify also reports on other units of this host: only ours count,
	// but every message about ours does (unknown keys are only warned
	// about, with exit status 0).
	var ours []string
	for _, line := range strings.Split(out.String(), "\n") {
		if strings.Contains(line, "ikegate") {
			ours = append(ours, line)
		}
	}
	if err != nil || len(ours) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, strings.Join(ours, "\n"))
		t.Logf("full output:\n%s", out.String())
	}
}

// lookTool finds an external program a test checks its output with. When
// it is missing, the test fails where the full test run installed it
// (IKEGATE_REQUIRE_TOOLS, set by interop/test-all.sh as root after
// interop/install.sh), and elsewhere says loudly what is not checked.
func lookTool(t *testing.T, name, unchecked string) (string, bool) {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p, true
	}
	if os.Getenv("IKEGATE_REQUIRE_TOOLS") != "" {
		t.Fatalf("%s is not installed, but interop/install.sh installs it: %v", name, err)
	}
	t.Logf("*** %s is not installed: %s ***", name, unchecked)
	return "", false
}
