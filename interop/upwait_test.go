package interop

import (
	"strings"
	"testing"
	"time"
)

// TestUpWaits: `ikegate up NAME` waits for the outcome (contract: exit 0
// only when the tunnel is up, --timeout): against strongSwan, a good
// connection of each version answers "up" with its SPIs, a second `up`
// creates nothing new, and one whose PSK differs exits non-zero within
// the timeout with the explanation (the PSKs probably differ).
func TestUpWaits(t *testing.T) {
	t.Parallel()
	lab := NewLab(t)
	v1PeerSubnets(t, lab, lab.Left, 211, []int{77, 78, 79, 80})
	pair := v1Pair{LeftAddr, RightAddr}
	good2 := v1PSKConn("uw-good2", 77, pair, "aes256-sha256-modp2048", "aes256-sha256")
	bad2 := v1PSKConn("uw-bad2", 78, pair, "aes256-sha256-modp2048", "aes256-sha256")
	good1 := v1PSKConn("uw-good1", 79, pair, "aes256-sha256-modp2048", "aes256-sha256")
	bad1 := v1PSKConn("uw-bad1", 80, pair, "aes256-sha256-modp2048", "aes256-sha256")
	good2.Version, bad2.Version = 2, 2
	gates := []Conn{good2.Mirror(), bad2.Mirror(), good1.Mirror(), bad1.Mirror()}
	gates[1].PSK, gates[3].PSK = "not-the-peers-psk-0123456789", "not-the-peers-psk-0123456789"
	g := lab.StartIkegate(t, lab.Right, v1GatewayTOML([]string{RightAddr}, gates...))
	swan := lab.StartStrongSwan(t, lab.Left, SwanConfig{Conns: []Conn{good2, bad2, good1, bad1}, LibIPsec: true, Extra: v1SwanExtra})
	v1KeepLogs(t, g.LogPath, swan.LogPath)

	for _, c := range []Conn{good2, good1} {
		t0 := time.Now()
		out, err := g.UpWait(c.Name, 15*time.Second)
		if err != nil || !strings.Contains(out, "up: IKEv") {
			t.Errorf("up %s: %v: %s", c.Name, err, out)
			continue
		}
		t.Logf("up %s (%v): %s", c.Name, time.Since(t0).Round(time.Millisecond), strings.TrimSpace(out))
		if out, err := g.UpWait(c.Name, 5*time.Second); err != nil {
			t.Errorf("second up %s: %v: %s", c.Name, err, out)
		}
		sas, err := v1SAs(g)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, sa := range sas {
			if sa.Name == c.Name {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%d IKE SAs of %s after two `up`s, want 1", n, c.Name)
		}
	}
	for _, c := range []Conn{bad2, bad1} {
		t0 := time.Now()
		out, err := g.UpWait(c.Name, 15*time.Second)
		took := time.Since(t0)
		if err == nil {
			t.Errorf("up %s with a wrong PSK exited 0: %s", c.Name, out)
			continue
		}
		t.Logf("up %s refused after %v: %s", c.Name, took.Round(time.Millisecond), strings.TrimSpace(out))
		if !strings.Contains(strings.ToLower(out), "psk") && !strings.Contains(out, "pre-shared") {
			t.Errorf("up %s: the explanation does not point at the PSK: %s", c.Name, out)
		}
		if took > 14*time.Second {
			t.Errorf("up %s took %v: it should end when the peer refuses, not at the timeout", c.Name, took)
		}
	}
}

// TestUpWaitsLibreswan: the same contract against Libreswan, ikegate
// initiating with a PSK that differs from Libreswan's, IKEv2 and IKEv1
// Main Mode (where Libreswan, unable to decrypt message 5, stays silent):
// `up` exits non-zero before the timeout and its closing line points at
// the PSK. (Libreswan cannot install CHILD SAs on these hosts, so the
// good case is TestIKEv1LibreswanPSK's, not an `up` here.)
func TestUpWaitsLibreswan(t *testing.T) {
	t.Parallel()
	lab := NewLab(t)
	pairs := v1AddPairs(t, lab.Left, lab.Right, 60, 2)
	bad2 := v1PSKConn("ul-bad2", 0, pairs[0], "aes256-sha256-modp2048", "aes256-sha256")
	bad1 := v1PSKConn("ul-bad1", 1, pairs[1], "aes256-sha256-modp2048", "aes256-sha256")
	bad2.Version = 2
	gates := []Conn{bad2.Mirror(), bad1.Mirror()}
	for i := range gates {
		gates[i].PSK = "not-the-peers-psk-0123456789"
	}
	g := lab.StartIkegate(t, lab.Right, v1GatewayTOML(v1GateAddrs(pairs), gates...))
	lsw := lab.StartLibreswan(t, lab.Left, LibreswanConfig{Conns: []Conn{bad2, bad1},
		ConnExtra: "retransmit-timeout=3s\nkeyingtries=1"})
	v1KeepLogs(t, g.LogPath, lsw.LogPath)

	for _, c := range []Conn{bad2, bad1} {
		t0 := time.Now()
		out, err := g.UpWait(c.Name, 20*time.Second)
		took := time.Since(t0)
		if err == nil {
			t.Errorf("up %s with a wrong PSK exited 0: %s", c.Name, out)
			continue
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		last := lines[len(lines)-1]
		t.Logf("up %s refused after %v: %s", c.Name, took.Round(time.Millisecond), last)
		if !strings.Contains(strings.ToLower(last), "psk") && !strings.Contains(last, "pre-shared") {
			t.Errorf("up %s: the closing explanation does not point at the PSK:\n%s", c.Name, out)
		}
		if took > 19*time.Second {
			t.Errorf("up %s took %v: it should end when the peer refuses, not at the timeout", c.Name, took)
		}
	}
}
