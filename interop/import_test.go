package interop

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Round trips of `ikegate import` with the real daemons.
//
// Which end's configuration is imported: the one of the end ikegate
// replaces. A case is one Conn as the peer (left, strongSwan or
// Libreswan) sees it; its Mirror() is the same connection seen from the
// other end, the end ikegate takes over. The test renders the mirror in
// the source format, the way that end's daemon would have been
// configured (swanctl.conf and ipsec.conf with the lab's own renderers for
// strongSwan and Libreswan, ipsec.conf for strongSwan's stroke written
// here), imports it with the built binary, and runs ikegate with the
// result against the peer running the original Conn: nothing is swapped
// by hand, as in a real migration.
//
// The imported configuration is used as written, with two lab changes to
// [gateway] only: dataplane "none" instead of "xfrm" (this host has no
// kernel ESP) and a private control socket and debug logging.

// importConf runs `ikegate import --from format file --out ...` and
// returns the configuration adapted to the lab. The import must leave
// nothing out (exit 0).
func importConf(t *testing.T, format, file string) string {
	t.Helper()
	bin := IkegateBin(t)
	out := filepath.Join(filepath.Dir(file), "ikegate.toml")
	cmd := exec.Command(bin, "import", "--from", format, file, "--out", out)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	src, _ := os.ReadFile(file)
	t.Logf("%s:\n%s\nikegate import --from %s: %v\n%s%s", file, src, format, err, stdout.String(), stderr.String())
	if err != nil {
		t.Fatalf("ikegate import --from %s %s: %v (the report above says what)", format, file, err)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(out)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("%s: mode %v, want 0600 (it holds the PSK)", out, fi.Mode().Perm())
	}
	toml := string(data)
	if strings.Count(toml, "dataplane = \"xfrm\"\n") != 1 {
		t.Fatalf("imported configuration has no dataplane = \"xfrm\" to adapt:\n%s", toml)
	}
	return strings.Replace(toml, "dataplane = \"xfrm\"\n",
		"dataplane = \"none\"\ncontrol = \""+ControlPlaceholder+"\"\nlog_level = \"debug\"\n", 1)
}

// TestImportSwanctl: the swanctl.conf strongSwan would run on ikegate's
// end (IKEv2, PSK, subnets), imported; ikegate initiates against
// strongSwan running the peer's: `ikegate up --timeout` exits 0, both
// daemons show the same IKE SA and the CHILD SA installed.
func TestImportSwanctl(t *testing.T) {
	t.Parallel()
	lab := NewLab(t)
	pairs := addPairs(t, lab, 10, 1)
	addPeerSubnets(t, lab, 1)
	name := "imp-swanctl"
	peer := v2PSKConn(name, 0, pairs[0], "aes256-sha256-modp2048", "aes256gcm16")

	dir := t.TempDir()
	conf, err := swanSwanctlConf([]Conn{peer.Mirror()}, dir)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "swanctl.conf")
	writeFile(t, file, conf, 0o600)
	toml := importConf(t, "swanctl", file)

	swan := lab.StartStrongSwan(t, lab.Left, SwanConfig{Conns: []Conn{peer}, LibIPsec: true})
	g := lab.StartIkegate(t, lab.Right, toml)
	keepLogs(t, swan.LogPath, g.LogPath)

	t0 := time.Now()
	if out, err := g.UpWait(name, 15*time.Second); err != nil {
		t.Fatalf("ikegate up %s --timeout: %v\n%s", name, err, out)
	} else {
		t.Logf("ikegate up (%v):\n%s", time.Since(t0).Round(time.Millisecond), out)
	}
	gsa := waitGateSA(t, g, name, 5*time.Second, settled(1))
	ssa := waitSwanSA(t, swan, name, 1, 5*time.Second)
	checkSwanIKE(t, gsa, ssa)
	checkSwanChild(t, gsa, ssa, name, "AES_GCM_16_256/NO_ESN")
	if !gsa.Initiator {
		t.Errorf("ikegate is not the initiator")
	}
}

// ipsecConfFor renders c as strongSwan's ipsec.conf (stroke) and
// ipsec.secrets would have it, left being c's end.
func ipsecConfFor(c Conn) (conf, secrets string) {
	kx := map[int]string{1: "ikev1", 2: "ikev2"}[c.Version]
	var b strings.Builder
	fmt.Fprintf(&b, "# ipsec.conf - strongSwan IPsec configuration file\n\nconfig setup\n\tuniqueids=no\n\nconn %%default\n\tkeyexchange=%s\n\tauthby=secret\n\tdpdaction=clear\n\tdpddelay=30s\n\n", kx)
	fmt.Fprintf(&b, "conn %s\n\tleft=%s\n\tleftid=%s\n\tleftsubnet=%s\n\tright=%s\n\trightid=%s\n\trightsubnet=%s\n",
		c.Name, c.LocalAddr, c.LocalID, strings.Join(c.LocalTS, ","), c.RemoteAddr, c.RemoteID, strings.Join(c.RemoteTS, ","))
	fmt.Fprintf(&b, "\tike=%s!\n\tesp=%s!\n\tikelifetime=3h\n\tlifetime=1h\n\tauto=add\n", strings.Join(c.IKE, ","), strings.Join(c.ESP, ","))
	return b.String(), fmt.Sprintf("# ipsec.secrets\n%s %s : PSK \"%s\"\n", c.LocalID, c.RemoteID, c.PSK)
}

// TestImportIPsecConf: the ipsec.conf (and the ipsec.secrets beside it)
// strongSwan's stroke would run on ikegate's end, IKEv1 Main Mode with a
// PSK and Quick Mode PFS, imported; strongSwan initiates and both daemons
// show the ISAKMP SA and the phase 2 SA installed.
func TestImportIPsecConf(t *testing.T) {
	t.Parallel()
	lab := NewLab(t)
	pairs := addPairs(t, lab, 10, 1)
	addPeerSubnets(t, lab, 1)
	name := "imp-ipsec"
	peer := v2PSKConn(name, 0, pairs[0], "aes256-sha256-modp2048", "aes256-sha256-modp2048")
	peer.Version = 1

	dir := t.TempDir()
	conf, secrets := ipsecConfFor(peer.Mirror())
	file := filepath.Join(dir, "ipsec.conf")
	writeFile(t, file, conf, 0o644)
	writeFile(t, filepath.Join(dir, "ipsec.secrets"), secrets, 0o600)
	toml := importConf(t, "strongswan-ipsec.conf", file)

	swan := lab.StartStrongSwan(t, lab.Left, SwanConfig{Conns: []Conn{peer}, LibIPsec: true})
	g := lab.StartIkegate(t, lab.Right, toml)
	keepLogs(t, swan.LogPath, g.LogPath)

	if out, err := swan.Initiate(name, 10); err != nil {
		t.Fatalf("swanctl --initiate --child %s: %v\n%s", name, err, out)
	}
	gsa := waitGateSA(t, g, name, 5*time.Second, settled(1))
	ssa := waitSwanSA(t, swan, name, 1, 5*time.Second)
	t.Logf("ikegate: %+v\nstrongSwan: %+v", *gsa, *ssa)
	if gsa.Version != 1 || ssa.Version != 1 || gsa.Initiator || !ssa.Initiator {
		t.Errorf("ikegate v%d initiator=%v, strongSwan v%d initiator=%v; want IKEv1 with strongSwan initiating", gsa.Version, gsa.Initiator, ssa.Version, ssa.Initiator)
	}
	if len(gsa.Children) != 1 || gsa.Children[0].State != "INSTALLED" || !strings.Contains(gsa.Children[0].ESPProposal, "MODP_2048") {
		t.Errorf("ikegate phase 2: %+v, want one INSTALLED with PFS (MODP_2048)", gsa.Children)
	}
}

// TestImportLibreswan: the ipsec.conf and ipsec.secrets Libreswan would
// run on ikegate's end (IKEv2, PSK, subnets; as the lab renders them for
// pluto), imported; Libreswan initiates. Libreswan cannot install ESP on
// this host (see TestIKEv2LibreswanPSK), so the IKE SA is checked on both
// sides and the CHILD SA on ikegate's.
func TestImportLibreswan(t *testing.T) {
	t.Parallel()
	lab := NewLab(t)
	pairs := addPairs(t, lab, 10, 1)
	name := "imp-lsw"
	peer := v2PSKConn(name, 0, pairs[0], "aes256-sha256-modp2048", "aes256-sha256")

	dir := t.TempDir()
	conf, secrets, err := libreswanConf(LibreswanConfig{Conns: []Conn{peer.Mirror()}}, dir)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "ipsec.conf")
	writeFile(t, file, conf, 0o644)
	writeFile(t, filepath.Join(dir, "ipsec.secrets"), secrets, 0o600)
	toml := importConf(t, "libreswan", file)

	lsw := lab.StartLibreswan(t, lab.Left, LibreswanConfig{Conns: []Conn{peer}, Debug: true})
	g := lab.StartIkegate(t, lab.Right, toml)
	keepLogs(t, lsw.LogPath, g.LogPath)

	lmark := markLog(lsw.LogPath)
	out, ok := lsw.Initiate(name)
	t.Logf("whack --initiate:\n%s", out)
	// After the failed ESP install Libreswan deletes the IKE SA and
	// revives the connection again and again; deleting it stops that.
	lsw.Whack("--delete", "--name", name)
	if !ok {
		t.Fatalf("whack --initiate %s did not establish the IKE SA", name)
	}
	requireLine(t, "Libreswan", lmark.since(), "initiator established IKE SA")
	gsa := waitGateSA(t, g, name, 5*time.Second, settled(1))
	if gsa.Initiator || gsa.Version != 2 || gsa.IKEProposal != "AES_CBC_256/PRF_HMAC_SHA2_256/HMAC_SHA2_256_128/MODP_2048" {
		t.Errorf("ikegate IKE SA %+v, want IKEv2 responder with AES_CBC_256/PRF_HMAC_SHA2_256/HMAC_SHA2_256_128/MODP_2048", *gsa)
	}
	if len(gsa.Children) != 1 || gsa.Children[0].State != "INSTALLED" || gsa.Children[0].ESPProposal != "AES_CBC_256/HMAC_SHA2_256_128/NO_ESN" {
		t.Errorf("ikegate CHILD SA %+v, want INSTALLED AES_CBC_256/HMAC_SHA2_256_128/NO_ESN", gsa.Children)
	}
}
