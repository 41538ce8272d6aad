package interop

import (
	"bytes"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestRekeyDownCommands: the waiting commands of the operations contract
// against strongSwan, IKEv2 and IKEv1 (ikegate initiating): `ikegate
// rekey NAME` gives the CHILD SA new SPIs and `rekey NAME --ike` the IKE
// SA a new SPI, both exiting 0 only once strongSwan has the same new SAs;
// `down NAME` exits 0 once the SAs are gone on both sides; the commands
// show the connection's log lines while they wait, and `ikegate log
// --level debug` follows the log at debug whatever the daemon's level.
func TestRekeyDownCommands(t *testing.T) {
	t.Parallel()
	lab := NewLab(t)
	v1PeerSubnets(t, lab, lab.Left, 211, []int{81, 82})
	pair := v1Pair{LeftAddr, RightAddr}
	v2 := v1PSKConn("rk-v2", 81, pair, "aes256-sha256-modp2048", "aes256-sha256")
	v1 := v1PSKConn("rk-v1", 82, pair, "aes256-sha256-modp2048", "aes256-sha256")
	v2.Version = 2
	g := lab.StartIkegate(t, lab.Right, v1GatewayTOML([]string{RightAddr}, v2.Mirror(), v1.Mirror()))
	swan := lab.StartStrongSwan(t, lab.Left, SwanConfig{Conns: []Conn{v2, v1}, LibIPsec: true, Extra: v1SwanExtra})
	v1KeepLogs(t, g.LogPath, swan.LogPath)

	// A follower of the whole log at debug level (the daemon logs at info).
	var followed syncBuffer
	follow := exec.Command(IPCmd, "netns", "exec", g.NS, g.Bin, "log", "--level", "debug", "--control", g.Control)
	follow.Stdout, follow.Stderr = &followed, &followed
	if err := follow.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { follow.Process.Kill(); follow.Wait() })

	for _, c := range []Conn{v2, v1} {
		t.Run(c.Name, func(t *testing.T) {
			if out, err := g.UpWait(c.Name, 20*time.Second); err != nil {
				t.Fatalf("up: %v: %s", err, out)
			}
			before := g.SA(c.Name)
			if before == nil || len(before.Children) == 0 {
				t.Fatalf("no SA after up: %+v", before)
			}
			oldChild := before.Children[0].SPIIn

			out, err := g.ctl("rekey", c.Name, "--timeout", "20")
			t.Logf("rekey %s: %s", c.Name, out)
			if err != nil || !strings.Contains(out, "rekeyed: new CHILD SA") {
				t.Fatalf("rekey: %v: %s", err, out)
			}
			if !strings.Contains(out, "INFO") { // the streamed log lines
				t.Errorf("rekey showed no log lines of the connection while waiting:\n%s", out)
			}
			newChild := childSPIAfter(t, g, c.Name, oldChild)
			if !WaitFor(t, 10*time.Second, func() bool { return swanHasChild(swan, c.Name, newChild) }) {
				t.Errorf("strongSwan does not have the new CHILD SA %s (ikegate's inbound SPI as its outbound)", newChild)
			}

			out, err = g.ctl("rekey", c.Name, "--ike", "--timeout", "20")
			t.Logf("rekey --ike %s: %s", c.Name, out)
			if err != nil || !strings.Contains(out, "rekeyed: new IKE SA") {
				t.Fatalf("rekey --ike: %v: %s", err, out)
			}
			// IKEv1 deletes the old ISAKMP SA a second after the new one
			// carries its phase 2 SA (the peer may still send on the old).
			var after *IkegateSA
			if !WaitFor(t, 5*time.Second, func() bool {
				after = g.SA(c.Name)
				return after != nil && after.LocalSPI != before.LocalSPI
			}) {
				t.Fatalf("IKE SA after rekey --ike: %+v (was %s)", after, before.LocalSPI)
			}
			// strongSwan ends with exactly one IKE SA of the connection, the new one.
			if !WaitFor(t, 15*time.Second, func() bool {
				sas, err := swan.ListSAs()
				if err != nil {
					return false
				}
				n, match := 0, false
				for _, s := range sas {
					if s.Name == c.Name {
						n++
						match = match || s.InitSPI == after.LocalSPI || s.RespSPI == after.LocalSPI
					}
				}
				return n == 1 && match
			}) {
				out, _ := swan.Swanctl("--list-sas")
				t.Errorf("strongSwan does not hold exactly the new IKE SA %s:\n%s", after.LocalSPI, out)
			}

			out, err = g.ctl("down", c.Name, "--timeout", "20")
			if err != nil {
				t.Fatalf("down: %v: %s", err, out)
			}
			if g.SA(c.Name) != nil {
				t.Errorf("down exited 0 but ikegate still lists an SA of %s", c.Name)
			}
			if !WaitFor(t, 10*time.Second, func() bool { return swan.IKESA(c.Name) == nil }) {
				t.Errorf("strongSwan still has an IKE SA of %s after down", c.Name)
			}
		})
	}

	out, err := g.ctl("rekey", v2.Name)
	if err == nil || !strings.Contains(out, "no established SA") {
		t.Errorf("rekey of a connection that is down: %v: %s", err, out)
	}
	if out, err := g.ctl("rekey", "rk-v3"); err == nil || !strings.Contains(out, `did you mean`) {
		t.Errorf("rekey of an unknown connection: %v: %s", err, out)
	}
	if !WaitFor(t, 5*time.Second, func() bool { return strings.Contains(followed.String(), "DEBUG") }) {
		t.Errorf("`ikegate log --level debug` showed no debug line:\n%s", followed.String())
	}
	for _, want := range []string{"rekeying CHILD SA", "rk-v1"} {
		if !strings.Contains(followed.String(), want) {
			t.Errorf("`ikegate log` lacks %q", want)
		}
	}
}

// childSPIAfter is the inbound SPI of connection name's installed CHILD
// SA other than old.
func childSPIAfter(t *testing.T, g *Ikegate, name, old string) string {
	t.Helper()
	sa := g.SA(name)
	if sa != nil {
		for _, ch := range sa.Children {
			if ch.State == "INSTALLED" && ch.SPIIn != old {
				return ch.SPIIn
			}
		}
	}
	t.Fatalf("no new CHILD SA of %s after rekey: %+v", name, sa)
	return ""
}

// swanHasChild reports whether strongSwan has an installed CHILD SA of
// IKE SA name whose outbound SPI is spi.
func swanHasChild(s *Swan, name, spi string) bool {
	sa := s.IKESA(name)
	if sa == nil {
		return false
	}
	for _, ch := range sa.Children {
		if ch.State == "INSTALLED" && strings.TrimLeft(ch.SPIOut, "0") == strings.TrimLeft(spi, "0") {
			return true
		}
	}
	return false
}

// syncBuffer is a bytes.Buffer safe for a writing process and a reading
// test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
