package gateway

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"

	"ikegate/oakley"
	"ikegate/policy"
)

func TestWiresharkLines(t *testing.T) {
	aes := func(id, bits uint16) oakley.Transform {
		return oakley.Transform{Type: oakley.TransformENCR, ID: id, KeyLen: bits}
	}
	tests := []struct {
		keys       policy.ExportedKeys
		line, file string
	}{
		{policy.ExportedKeys{Version: 2, SPIi: 0x0102030405060708, SPIr: 0x1112131415161718, Encr: aes(oakley.EncrAESCBC, 256),
			Integ: oakley.IntegHMACSHA2_256, EncI: []byte{1}, EncR: []byte{2}, IntegI: []byte{3}, IntegR: []byte{4}},
			`0102030405060708,1112131415161718,01,02,"AES-CBC-256 [RFC3602]",03,04,"HMAC_SHA2_256_128 [RFC4868]"`, "ikev2_decryption_table"},
		{policy.ExportedKeys{Version: 2, SPIi: 1, SPIr: 2, Encr: aes(oakley.EncrAESGCM16, 128), Integ: oakley.IntegNone,
			EncI: []byte{0xaa}, EncR: []byte{0xbb}},
			`0000000000000001,0000000000000002,aa,bb,"AES-GCM-128 with 16 octet ICV [RFC5282]",,,"NONE [RFC4306]"`, "ikev2_decryption_table"},
		{policy.ExportedKeys{Version: 1, SPIi: 0xfedcba9876543210, SPIr: 5, Encr: aes(oakley.EncrAESCBC, 128), EncI: []byte{0xde, 0xad}},
			`fedcba9876543210,dead`, "ikev1_decryption_table"},
	}
	for _, tt := range tests {
		line, file, err := wiresharkLine(tt.keys)
		if err != nil || line != tt.line || file != tt.file {
			t.Errorf("got %q %q %v, want %q %q", line, file, err, tt.line, tt.file)
		}
	}
	if _, _, err := wiresharkLine(policy.ExportedKeys{Version: 2, Encr: oakley.Transform{Type: oakley.TransformENCR, ID: oakley.EncrChaCha20Poly1305}}); err == nil {
		t.Error("ChaCha20-Poly1305 exported although Wireshark's table cannot hold it")
	}
}

func TestKeyExportWritesFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	ke, err := newKeyExport(dir, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	ke.record(policy.ExportedKeys{Version: 1, SPIi: 1, EncI: []byte{1, 2}})
	ke.record(policy.ExportedKeys{Version: 1, SPIi: 2, EncI: []byte{3, 4}})
	b, err := os.ReadFile(filepath.Join(dir, "ikev1_decryption_table"))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(string(b), "\n"); got != 2 {
		t.Fatalf("%d lines: %q", got, b)
	}
	if fi, _ := os.Stat(filepath.Join(dir, "ikev1_decryption_table")); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
}
