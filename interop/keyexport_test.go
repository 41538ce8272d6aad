package interop

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestKeyExportDecryptsInWireshark: two ikegates with gateway.key_export
// negotiate an IKEv2 and an IKEv1 SA; tshark, given one side's exported
// files as its profile's decryption tables, decrypts the encrypted
// exchanges (the identities inside IKE_AUTH and Main Mode 5/6 become
// visible), and without them it cannot.
func TestKeyExportDecryptsInWireshark(t *testing.T) {
	t.Parallel()
	lab := NewLab(t)
	keys := shortTempDir(t, "ikgkeys-")
	conns := []Conn{
		trafficConn("kx2", 2, 0, LeftAddr, RightAddr, "aes128gcm16-prfsha256-x25519", "aes128gcm16"),
		trafficConn("kx1", 1, 1, LeftAddr, RightAddr, "aes256-sha256-modp2048", "aes256-sha256"),
	}
	capt := lab.Capture(t, lab.Right, LabIface)
	lcfg := PatchIkegateTOML(IkegateTOML(IkegateGateway{Listen: []string{LeftAddr}}, conns...),
		[]string{`key_export = "` + keys + `"`}, "", nil)
	left := lab.StartIkegate(t, lab.Left, lcfg)
	right := lab.StartIkegate(t, lab.Right, IkegateTOML(IkegateGateway{Listen: []string{RightAddr}}, conns[0].Mirror(), conns[1].Mirror()))
	keepLogs(t, left.LogPath, right.LogPath)
	for _, c := range conns {
		if out, err := left.Up(c.Name); err != nil {
			t.Fatalf("up %s: %v\n%s", c.Name, err, out)
		}
		waitGateSA(t, left, c.Name, 10*time.Second, settled(1))
		waitGateSA(t, right, c.Name, 10*time.Second, settled(1))
	}
	pcap := capt.Stop()
	CheckDissection(t, pcap)
	requireLine(t, "ikegate", readFile(t, left.LogPath), "key export is ON")

	// The exported files are Wireshark UAT files: drop them in a profile.
	home := shortTempDir(t, "ikgws-")
	prof := filepath.Join(home, "wireshark")
	if err := os.MkdirAll(prof, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"ikev2_decryption_table", "ikev1_decryption_table"} {
		b, err := os.ReadFile(filepath.Join(keys, f))
		if err != nil {
			t.Fatalf("exported %s: %v", f, err)
		}
		t.Logf("%s: %d line(s)", f, strings.Count(string(b), "\n"))
		writeFile(t, filepath.Join(prof, f), string(b), 0o600)
	}
	ids := func(configHome string) string {
		cmd := exec.Command("tshark", "-r", pcap, "-Y", "isakmp.id.type", "-T", "fields", "-e", "isakmp.ispi", "-e", "isakmp.id.type")
		cmd.Env = append(os.Environ(), "XDG_CONFIG_HOME="+configHome, "HOME="+configHome)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("tshark: %v\n%s", err, out)
		}
		return string(out)
	}
	without := ids(shortTempDir(t, "ikgnokeys-"))
	with := ids(home)
	// Without keys only Aggressive Mode would show IDs in the clear; here
	// every ID travels encrypted.
	if strings.TrimSpace(without) != "" {
		t.Fatalf("identities visible without keys:\n%s", without)
	}
	for _, c := range conns {
		sa := waitGateSA(t, left, c.Name, time.Second, settled(1))
		if !strings.Contains(with, sa.LocalSPI) {
			t.Errorf("%s (IKEv%d, SPI %s): tshark did not decrypt it with the exported keys; decrypted IDs:\n%s",
				c.Name, c.Version, sa.LocalSPI, with)
		}
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
