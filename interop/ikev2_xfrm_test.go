package interop

import (
	"strings"
	"testing"
	"time"
)

// TestIKEv2XFRM: ikegate with dataplane = "xfrm" (root in its namespace)
// against strongSwan (kernel-libipsec). This host's kernel has XFRM but no
// ESP and no GCM, so every CHILD SA ikegate negotiates is refused by the
// kernel: the IKE SA must come up on both sides anyway, ikegate must list
// the CHILD SA as INSTALL_FAILED with the kernel's reason, keep the IKE SA
// ESTABLISHED and keep answering; `ikegate down` must leave no XFRM state
// or policy behind, and neither may stopping the daemon.
func TestIKEv2XFRM(t *testing.T) {
	t.Parallel()
	lab := NewLab(t)
	cases := []struct {
		name, esp string
		wantErr   []string // substrings of the CHILD SA's error
	}{
		// ESP states: the kernel has no ESP (EPROTONOSUPPORT).
		{"xfrm-cbc", "aes128-sha256", []string{"protocol not supported", "kernel has no ESP support"}},
		// GCM: the kernel lacks rfc4106(gcm(aes)) (ENOSYS), checked first.
		{"xfrm-gcm", "aes128gcm16", []string{"function not implemented", "kernel lacks algorithm", "rfc4106(gcm(aes))"}},
	}
	pairs := addPairs(t, lab, 10, len(cases))
	addPeerSubnets(t, lab, len(cases))
	var peers, gates []Conn
	for i, c := range cases {
		p := v2PSKConn(c.name, i, pairs[i], "aes128gcm16-prfsha256-x25519", c.esp)
		peers, gates = append(peers, p), append(gates, p.Mirror())
	}
	capt := lab.Capture(t, lab.Right, LabIface)
	swan := lab.StartStrongSwan(t, lab.Left, SwanConfig{Conns: peers, LibIPsec: true})
	g := lab.StartIkegate(t, lab.Right, IkegateTOML(IkegateGateway{Listen: gateAddrs(pairs), Dataplane: "xfrm"}, gates...))
	keepLogs(t, swan.LogPath, g.LogPath)
	xfrm := func(what string) string {
		out, err := lab.Exec(lab.Right, IPCmd, "xfrm", what)
		if err != nil {
			t.Errorf("ip xfrm %s in %s: %v\n%s", what, lab.Right, err, out)
		}
		return strings.TrimSpace(out)
	}
	// ikegate's IKE sockets bypass IPsec with per-socket policies. Fact:
	// `ip xfrm policy` lists them ("src 0.0.0.0/0 dst 0.0.0.0/0 / socket in
	// priority 0 ptype main", one in and one out per socket); they belong
	// to the sockets and go with the process. nonSocket drops them.
	nonSocket := func(pol string) (rest string, sockets int) {
		var keep []string
		lines := strings.Split(pol, "\n")
		for i := 0; i < len(lines); i++ {
			if i+1 < len(lines) && strings.HasPrefix(strings.TrimSpace(lines[i+1]), "socket ") {
				sockets++
				i++
				continue
			}
			if strings.TrimSpace(lines[i]) != "" {
				keep = append(keep, lines[i])
			}
		}
		return strings.Join(keep, "\n"), sockets
	}
	clean := func(when string) {
		t.Helper()
		st := xfrm("state")
		pol, sockets := nonSocket(xfrm("policy"))
		t.Logf("XFRM %s: %d per-socket policies", when, sockets)
		if st != "" || pol != "" {
			t.Errorf("XFRM %s:\nstates:\n%s\npolicies (per-socket ones left out):\n%s", when, st, pol)
		}
	}
	clean("after ikegate started")

	ispis := make([]string, len(cases))
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t0 := time.Now()
			gmark := markLog(g.LogPath)
			if out, err := g.Up(c.name); err != nil {
				t.Fatalf("ikegate up %s: %v\n%s", c.name, err, out)
			}
			gsa := waitGateSA(t, g, c.name, 5*time.Second, settled(1))
			ssa := waitSwanSA(t, swan, c.name, 1, 5*time.Second)
			t.Logf("settled in %v", time.Since(t0).Round(time.Millisecond))
			checkSwanIKE(t, gsa, ssa)
			ispis[i], _ = spisOf(gsa)
			ch := gsa.Children[0]
			t.Logf("ikegate CHILD SA: %s in %s out %s: %s", ch.State, ch.SPIIn, ch.SPIOut, ch.Error)
			if ch.State != "INSTALL_FAILED" {
				t.Errorf("ikegate CHILD SA state %s, want INSTALL_FAILED", ch.State)
			}
			for _, w := range c.wantErr {
				if !strings.Contains(ch.Error, w) {
					t.Errorf("ikegate CHILD SA error %q lacks %q", ch.Error, w)
				}
			}
			requireLine(t, "ikegate", gmark.since(), "CHILD SA negotiated but the kernel refused it; the IKE SA stays up", c.wantErr[0])
			// strongSwan (userspace ESP) installed its half.
			if sc := ssa.Children[0]; sc.SPIIn != ch.SPIOut || sc.SPIOut != ch.SPIIn {
				t.Errorf("CHILD SA SPIs not crossed: ikegate in %s out %s, strongSwan in %s out %s", ch.SPIIn, ch.SPIOut, sc.SPIIn, sc.SPIOut)
			}
			// The refused SA left nothing in the kernel: the larval SA of
			// ALLOCSPI was removed with the rollback.
			clean("after the refused install")
			// Still up and answering a moment later.
			time.Sleep(300 * time.Millisecond)
			if g.Proc.Exited() {
				t.Fatalf("ikegate exited")
			}
			if sa := g.SA(c.name); sa == nil || sa.State != "ESTABLISHED" {
				t.Errorf("ikegate IKE SA after the refusal: %+v", sa)
			}
			if !swan.Established(c.name) {
				t.Errorf("strongSwan IKE SA not ESTABLISHED after the refusal")
			}

			if out, err := g.Down(c.name); err != nil {
				t.Errorf("ikegate down %s: %v\n%s", c.name, err, out)
			}
			waitNoGateSA(t, g, c.name, 3*time.Second)
			waitNoSwanSA(t, swan, c.name, 3*time.Second)
			clean("after ikegate down")
		})
	}

	t.Run("stop", func(t *testing.T) {
		if _, err := g.SAs(); err != nil {
			t.Errorf("ikegate sas after the refused CHILD SAs: %v", err)
		}
		g.Proc.Stop()
		if !g.Proc.Exited() {
			t.Fatal("ikegate did not exit")
		}
		// With the process gone, its sockets' policies are gone too:
		// nothing at all may remain.
		if s, p := xfrm("state"), xfrm("policy"); s != "" || p != "" {
			t.Errorf("XFRM after ikegate stopped:\nstates:\n%s\npolicies:\n%s", s, p)
		}
		t.Logf("ikegate exit: %v", g.Proc.waitErr)
	})

	pkts := CheckDissection(t, capt.Stop())
	t.Run("wire", func(t *testing.T) {
		for i := range cases {
			if ispis[i] == "" {
				continue
			}
			// IKE_SA_INIT, IKE_AUTH (CHILD SA negotiated), and the
			// INFORMATIONAL of ikegate down.
			checkWire(t, pkts, ispis[i], pairs[i].Gate, pairs[i].Peer, 4500, xInformational)
		}
	})
}
