package interop

import (
	"os"
	"strings"
	"testing"
	"time"
)

// TestReload: ikegate holds IKEv2 SAs of two connections with strongSwan
// (keep and drop); its configuration is rewritten with keep unchanged,
// drop removed and a third connection (add) added, and `ikegate reload`
// applies it: keep's IKE SA has the same SPIs on both sides, drop's is
// deleted on strongSwan's side (ikegate told it), and add comes up. A
// configuration that does not load changes nothing and `reload` exits
// non-zero with the reason.
func TestReload(t *testing.T) {
	t.Parallel()
	lab := NewLab(t)
	v1PeerSubnets(t, lab, lab.Left, 211, []int{74, 75, 76})
	pair := v1Pair{LeftAddr, RightAddr}
	keep := v1PSKConn("rl-keep", 74, pair, "aes256-sha256-modp2048", "aes256-sha256")
	drop := v1PSKConn("rl-drop", 75, pair, "aes256-sha256-modp2048", "aes256-sha256")
	add := v1PSKConn("rl-add", 76, pair, "aes256-sha256-modp2048", "aes256-sha256")
	for _, c := range []*Conn{&keep, &drop, &add} {
		c.Version = 2
	}
	g := lab.StartIkegate(t, lab.Right, v1GatewayTOML([]string{RightAddr}, keep.Mirror(), drop.Mirror()))
	swan := lab.StartStrongSwan(t, lab.Left, SwanConfig{Conns: []Conn{keep, drop, add}, LibIPsec: true, Extra: v1SwanExtra})
	v1KeepLogs(t, g.LogPath, swan.LogPath)
	for _, c := range []Conn{keep, drop} {
		if out, err := swan.Initiate(c.Name, 10); err != nil {
			t.Fatalf("swanctl --initiate %s: %v\n%s", c.Name, err, out)
		}
	}
	before := swan.IKESA(keep.Name)
	if before == nil || !swan.Established(drop.Name) {
		t.Fatalf("strongSwan: %s %+v, %s up %v", keep.Name, before, drop.Name, swan.Established(drop.Name))
	}

	// A configuration that does not load: nothing changes.
	good, err := os.ReadFile(g.Config)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, g.Config, string(good)+"\n[[connection]]\nname = \"broken\"\nbogus_key = 1\n", 0o600)
	if out, err := g.ctl("reload"); err == nil {
		t.Errorf("reload of a broken configuration succeeded: %s", out)
	} else {
		t.Logf("reload of a broken configuration refused: %s", out)
	}
	if !swan.Established(keep.Name) || !swan.Established(drop.Name) {
		t.Fatal("a refused reload took SAs down")
	}

	// keep unchanged, drop removed, add added.
	writeFile(t, g.Config, strings.ReplaceAll(v1GatewayTOML([]string{RightAddr}, keep.Mirror(), add.Mirror()), ControlPlaceholder, g.Control), 0o600)
	out, err := g.ctl("reload")
	if err != nil {
		t.Fatalf("ikegate reload: %v: %s", err, out)
	}
	t.Logf("ikegate reload: %s", out)
	if !WaitFor(t, 5*time.Second, func() bool { return !swan.Established(drop.Name) }) {
		t.Errorf("strongSwan still has %s's IKE SA after the reload removed the connection", drop.Name)
	}
	after := swan.IKESA(keep.Name)
	if after == nil || after.InitSPI != before.InitSPI || after.RespSPI != before.RespSPI {
		t.Errorf("%s's IKE SA changed over the reload: %+v -> %+v", keep.Name, before, after)
	}
	gsas, err := v1SAs(g)
	if err != nil {
		t.Fatal(err)
	}
	for _, sa := range gsas {
		if sa.Name == keep.Name && (sa.LocalSPI != before.RespSPI || sa.State != "ESTABLISHED") {
			t.Errorf("ikegate's %s IKE SA after the reload: %+v (strongSwan's SPIs %s/%s)", keep.Name, sa.IkegateSA, before.InitSPI, before.RespSPI)
		}
	}
	if out, err := swan.Initiate(add.Name, 10); err != nil {
		t.Errorf("the added connection does not come up: %v\n%s", err, out)
	}
}
