//go:build linux

package gateway

import (
	"context"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"ikegate/policy"
)

// otherGroup returns a group this process may chgrp to, preferably not
// its primary one (root may use any group; others only their own).
func otherGroup(t *testing.T) *user.Group {
	t.Helper()
	if os.Geteuid() == 0 {
		for _, name := range []string{"nogroup", "daemon", "users", "adm"} {
			if g, err := user.LookupGroup(name); err == nil {
				return g
			}
		}
	}
	gids, _ := os.Getgroups()
	for _, id := range gids {
		if id != os.Getegid() {
			if g, err := user.LookupGroupId(strconv.Itoa(id)); err == nil {
				return g
			}
		}
	}
	g, err := user.LookupGroupId(strconv.Itoa(os.Getegid()))
	if err != nil {
		t.Skipf("no group to test with: %v", err)
	}
	return g
}

// TestListenControlMode: without control_group the socket is 0600 (as
// before); with it 0660 and the group's, given by name or ID, and a
// directory created for it belongs to the group too. An unknown group
// is refused. The umask is back as it was afterwards.
func TestListenControlMode(t *testing.T) {
	grp := otherGroup(t)
	gid, _ := strconv.Atoi(grp.Gid)
	tests := []struct {
		name    string
		group   string
		dirMode os.FileMode // the socket's directory exists already with this mode (0: created)
		mode    os.FileMode
		gid     int // -1: whatever a new file gets
		warn    bool
		wantErr string
	}{
		{"default root only", "", 0, 0o600, -1, false, ""},
		{"group by name", grp.Name, 0, 0o660, gid, false, ""},
		{"group by ID", grp.Gid, 0, 0o660, gid, false, ""},
		{"group, directory open to others", grp.Name, 0o755, 0o660, gid, false, ""},
		{"group, directory closed to it", grp.Name, 0o700, 0o660, gid, true, ""},
		{"unknown group", "ikegate-no-such-group", 0, 0, 0, false, `control_group "ikegate-no-such-group": no such group`},
		{"unknown ID", "4000000000", 0, 0, 0, false, `control_group "4000000000": no such group (name or ID)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, err := os.MkdirTemp("", "ikgctl") // short: sun_path is 108 bytes
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.RemoveAll(dir) })
			path := filepath.Join(dir, "run", "sub", "ctl.sock")
			if tt.dirMode != 0 {
				if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
					t.Fatal(err)
				}
				os.Chmod(filepath.Dir(path), tt.dirMode)
			}
			g := &Gateway{cfg: &policy.Config{Gateway: policy.Gateway{ControlGroup: tt.group}}}
			core, logs := observer.New(zapcore.WarnLevel)
			umask := syscall.Umask(0o022)
			syscall.Umask(umask)
			s, err := listenControl(path, g, zap.New(core))
			if now := syscall.Umask(umask); now != umask {
				t.Errorf("umask %04o after listenControl, was %04o", now, umask)
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), path) {
					t.Fatalf("error %v, want one naming %s and saying %q", err, path, tt.wantErr)
				}
				if _, err := os.Lstat(path); err == nil {
					t.Error("socket created anyway")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer s.close()
			fi, err := os.Lstat(path)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != tt.mode {
				t.Errorf("socket mode %v, want socket %04o", fi.Mode(), tt.mode)
			}
			st := fi.Sys().(*syscall.Stat_t)
			if tt.gid >= 0 && int(st.Gid) != tt.gid {
				t.Errorf("socket group %d, want %d", st.Gid, tt.gid)
			}
			if tt.gid >= 0 && tt.dirMode == 0 {
				for _, d := range []string{filepath.Dir(path), filepath.Dir(filepath.Dir(path))} {
					di, _ := os.Stat(d)
					if dg := int(di.Sys().(*syscall.Stat_t).Gid); dg != tt.gid {
						t.Errorf("created directory %s's group %d, want %d (the group must reach the socket)", d, dg, tt.gid)
					}
				}
			}
			warned := logs.FilterMessageSnippet("control_group cannot reach").Len() > 0
			if warned != tt.warn {
				t.Errorf("warned that the group cannot reach the socket: %v, want %v", warned, tt.warn)
			}
		})
	}
}

// TestListenControlUmaskWide: even under umask 0, the socket is never
// wider than its mode.
func TestListenControlUmaskWide(t *testing.T) {
	dir, err := os.MkdirTemp("", "ikgctl")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	s, err := listenControl(filepath.Join(dir, "ctl.sock"), nil, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	if fi, _ := os.Lstat(filepath.Join(dir, "ctl.sock")); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v under umask 0, want 0600", fi.Mode().Perm())
	}
}

// TestControlLogsStateChanges: up and down (also refused ones) are logged
// at Info with the caller's uid and pid; read-only commands are not.
func TestControlLogsStateChanges(t *testing.T) {
	cfg := testConfig(t)
	g, _ := startGateway(t, cfg)
	core, logs := observer.New(zapcore.InfoLevel)
	path := filepath.Join(filepath.Dir(cfg.Gateway.Control), "audit.sock")
	s, err := listenControl(path, g, zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.serve(ctx) }()
	t.Cleanup(func() { s.close(); cancel(); <-done })
	c := &Client{Path: path, Timeout: 5 * time.Second}

	tests := []struct {
		req    Request
		logged bool
		key    string // the field naming the target
	}{
		{Request{Cmd: "down", Name: "site-b"}, true, "conn"},
		{Request{Cmd: "down", User: "alice"}, true, "user"},
		{Request{Cmd: "up", Name: "no-such-conn"}, true, "conn"},
		{Request{Cmd: "sas"}, false, ""},
		{Request{Cmd: "conns"}, false, ""},
		{Request{Cmd: "stats"}, false, ""},
		{Request{Cmd: "leases"}, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.req.Cmd+" "+tt.req.Name+tt.req.User, func(t *testing.T) {
			logs.TakeAll()
			c.Call(context.Background(), tt.req) // answers (and errors) do not matter here
			entries := logs.FilterMessage("state-changing request").All()
			if !tt.logged {
				if len(entries) != 0 {
					t.Errorf("read-only %q logged at Info: %v", tt.req.Cmd, entries)
				}
				return
			}
			if len(entries) != 1 {
				t.Fatalf("%d log entries, want 1", len(entries))
			}
			m := entries[0].ContextMap()
			if m["cmd"] != tt.req.Cmd || m[tt.key] != tt.req.Name+tt.req.User {
				t.Errorf("logged %v, want cmd %q %s %q", m, tt.req.Cmd, tt.key, tt.req.Name+tt.req.User)
			}
			if m["uid"] != int64(os.Getuid()) || m["pid"] != int64(os.Getpid()) {
				t.Errorf("logged uid %v pid %v, want %d %d", m["uid"], m["pid"], os.Getuid(), os.Getpid())
			}
		})
	}
}
