//go:build unix

package gateway

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
	"golang.org/x/sys/unix"

	"ikegate/oakley"
	"ikegate/policy"
)

func unixMkfifo(path string) error { return unix.Mkfifo(path, 0o600) }

// TestKeyExportRefusesUnsafePaths plants each unsafe thing in the key
// export directory, once before newKeyExport (which must fail, naming the
// path and the problem) and once after it, before an IKE SA is recorded
// (record must write nothing and log why). A planted link's target is
// never touched.
func TestKeyExportRefusesUnsafePaths(t *testing.T) {
	const v1 = "ikev1_decryption_table"
	victim := func(t *testing.T) string {
		p := filepath.Join(t.TempDir(), "victim")
		if err := os.WriteFile(p, []byte("precious\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	must := func(t *testing.T, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	root := os.Geteuid() == 0
	tests := []struct {
		name     string
		rootOnly bool
		// plant prepares dir (an existing private directory) and returns a
		// file outside it that must stay as it is ("" for none) and the
		// path the error must name.
		plant func(t *testing.T, dir string) (victim, names string)
		want  string
	}{
		{"symlink to a file", false, func(t *testing.T, dir string) (string, string) {
			v := victim(t)
			must(t, os.Symlink(v, filepath.Join(dir, v1)))
			return v, filepath.Join(dir, v1)
		}, "is a symbolic link: refusing to write keys through it"},
		{"dangling symlink", false, func(t *testing.T, dir string) (string, string) {
			v := filepath.Join(t.TempDir(), "not-yet")
			must(t, os.Symlink(v, filepath.Join(dir, v1)))
			return v, filepath.Join(dir, v1)
		}, "is a symbolic link"},
		{"hard link", false, func(t *testing.T, dir string) (string, string) {
			v := filepath.Join(t.TempDir(), "victim")
			must(t, os.WriteFile(v, []byte("precious\n"), 0o600))
			must(t, os.Link(v, filepath.Join(dir, v1)))
			return v, filepath.Join(dir, v1)
		}, "has 2 hard links"},
		{"directory in place of the file", false, func(t *testing.T, dir string) (string, string) {
			must(t, os.Mkdir(filepath.Join(dir, v1), 0o700))
			return "", filepath.Join(dir, v1)
		}, "exists and is not a regular file (a directory)"},
		{"FIFO in place of the file", false, func(t *testing.T, dir string) (string, string) {
			must(t, unixMkfifo(filepath.Join(dir, v1)))
			return "", filepath.Join(dir, v1)
		}, "exists and is not a regular file (a FIFO)"},
		{"file readable by others", false, func(t *testing.T, dir string) (string, string) {
			must(t, os.WriteFile(filepath.Join(dir, v1), nil, 0o600))
			must(t, os.Chmod(filepath.Join(dir, v1), 0o644))
			return "", filepath.Join(dir, v1)
		}, "is accessible by group or others (mode 0644): chmod 600 it"},
		{"file owned by another user", true, func(t *testing.T, dir string) (string, string) {
			must(t, os.WriteFile(filepath.Join(dir, v1), nil, 0o600))
			must(t, os.Chown(filepath.Join(dir, v1), 65534, 65534))
			return "", filepath.Join(dir, v1)
		}, "is owned by uid 65534, not us"},
		{"directory writable by others", false, func(t *testing.T, dir string) (string, string) {
			must(t, os.Chmod(dir, 0o777))
			return "", dir
		}, "is writable by group and others (mode 0777)"},
		{"directory writable by group", false, func(t *testing.T, dir string) (string, string) {
			must(t, os.Chmod(dir, 0o770))
			return "", dir
		}, "is writable by group (mode 0770)"},
		{"sticky shared directory", false, func(t *testing.T, dir string) (string, string) {
			must(t, os.Chmod(dir, 0o777|os.ModeSticky))
			return "", dir
		}, "is writable by group and others (mode 0777)"},
		{"directory owned by another user", true, func(t *testing.T, dir string) (string, string) {
			must(t, os.Chown(dir, 65534, 65534))
			return "", dir
		}, "is owned by uid 65534, neither root nor us"},
		{"directory is a symlink", false, func(t *testing.T, dir string) (string, string) {
			real := filepath.Join(t.TempDir(), "real")
			must(t, os.Mkdir(real, 0o700))
			must(t, os.RemoveAll(dir))
			must(t, os.Symlink(real, dir))
			return "", dir
		}, "is a symbolic link: give the real directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.rootOnly && !root {
				t.Skip("needs root to chown")
			}
			check := func(t *testing.T, v string, before []byte, existed bool) {
				t.Helper()
				if v == "" {
					return
				}
				after, err := os.ReadFile(v)
				switch {
				case !existed && err == nil:
					t.Errorf("the link's target %s was created", v)
				case existed && string(after) != string(before):
					t.Errorf("the link's target %s changed: %q", v, after)
				}
			}
			read := func(v string) ([]byte, bool) {
				if v == "" {
					return nil, false
				}
				b, err := os.ReadFile(v)
				return b, err == nil
			}
			keys := policy.ExportedKeys{Version: 1, SPIi: 7, EncI: []byte{1, 2, 3}}

			t.Run("at startup", func(t *testing.T) {
				dir := filepath.Join(t.TempDir(), "keys")
				must(t, os.Mkdir(dir, 0o700))
				v, names := tt.plant(t, dir)
				before, existed := read(v)
				_, err := newKeyExport(dir, zap.NewNop())
				if err == nil {
					t.Fatal("newKeyExport accepted it")
				}
				if !strings.Contains(err.Error(), names+" ") || !strings.Contains(err.Error(), tt.want) {
					t.Errorf("error %q\nwant it to name %s and say %q", err, names, tt.want)
				}
				check(t, v, before, existed)
			})
			t.Run("at record", func(t *testing.T) {
				dir := filepath.Join(t.TempDir(), "keys")
				core, logs := observer.New(zapcore.InfoLevel)
				ke, err := newKeyExport(dir, zap.New(core))
				must(t, err)
				v, names := tt.plant(t, dir)
				before, existed := read(v)
				ke.record(keys)
				check(t, v, before, existed)
				refused := logs.FilterMessage("key export refused").All()
				if len(refused) != 1 {
					t.Fatalf("%d refusals logged, want 1", len(refused))
				}
				msg := refused[0].ContextMap()["error"].(string)
				if !strings.Contains(msg, names+" ") || !strings.Contains(msg, tt.want) {
					t.Errorf("logged %q\nwant it to name %s and say %q", msg, names, tt.want)
				}
			})
		})
	}
}

// TestKeyExportAppendsToOwnFile: a table left by an earlier run (ours,
// mode 0600) is appended to; a fresh one is created with mode 0600 even
// under a lax umask.
func TestKeyExportAppendsToOwnFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	v1 := filepath.Join(dir, "ikev1_decryption_table")
	if err := os.WriteFile(v1, []byte("0000000000000001,aa\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ke, err := newKeyExport(dir, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	ke.record(policy.ExportedKeys{Version: 1, SPIi: 2, EncI: []byte{0xbb}})
	if b, _ := os.ReadFile(v1); string(b) != "0000000000000001,aa\n0000000000000002,bb\n" {
		t.Errorf("ikev1 table %q", b)
	}
	ke.record(policy.ExportedKeys{Version: 2, SPIi: 1, SPIr: 2, Encr: oakley.Transform{Type: oakley.TransformENCR, ID: oakley.EncrAESGCM16, KeyLen: 128},
		Integ: oakley.IntegNone, EncI: []byte{1}, EncR: []byte{2}})
	fi, err := os.Lstat(filepath.Join(dir, "ikev2_decryption_table"))
	if err != nil || fi.Mode() != 0o600 {
		t.Errorf("ikev2 table: %v, mode %v; want a regular file, 0600", err, fi.Mode())
	}
}
