package interop

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// DPD settings of the traffic tests: short, so a dead peer is noticed in
// seconds.
const (
	dpdDelay   = 3 * time.Second
	dpdTimeout = 9 * time.Second
)

// TestTrafficDPD (case 3): ikegate (userspace dataplane, dpd_delay 3s,
// dpd_timeout 9s) has a tunnel with traffic to strongSwan (libipsec);
// strongSwan is killed with SIGKILL (no DELETE). ikegate must log "peer is
// dead" no earlier than dpd_timeout and no later than dpd_delay +
// dpd_timeout + one probe interval after the kill, drop the SA from
// `sas --json`, and apply dpd_action: "restart" initiates again, and once
// strongSwan is started again the tunnel comes back and carries traffic
// without any command; "clear" leaves nothing behind and does not
// initiate. IKEv2 (empty INFORMATIONAL liveness checks) and IKEv1 (RFC
// 3706 R-U-THERE; strongSwan announces DPD in its vendor IDs).
func TestTrafficDPD(t *testing.T) {
	t.Parallel()
	for _, v := range []int{2, 1} {
		for _, action := range []string{"restart", "clear"} {
			t.Run(fmt.Sprintf("ikev%d-%s", v, action), func(t *testing.T) {
				t.Parallel()
				dpdCase(t, v, action)
			})
		}
	}
}

func dpdCase(t *testing.T, version int, action string) {
	t0 := time.Now()
	lab := NewLab(t)
	lab.AddSubnet(t, lab.Left, "sn0", leftHost(0)+"/24")
	lab.AddSubnet(t, lab.Right, "gs0", rightHost(0)+"/24")
	ike, esp := swanTrafficSuite(version)
	name := fmt.Sprintf("dpd%d", version)
	peer := trafficConn(name, version, 0, LeftAddr, RightAddr, ike, esp)
	swanCfg := SwanConfig{Conns: []Conn{peer}, LibIPsec: true}
	swan := lab.StartStrongSwan(t, lab.Left, swanCfg)
	toml := PatchIkegateTOML(IkegateTOML(userspaceGateway(RightAddr), peer.Mirror()), nil, name, []string{
		fmt.Sprintf("dpd_delay = %q", dpdDelay.String()),
		fmt.Sprintf("dpd_timeout = %q", dpdTimeout.String()),
		fmt.Sprintf("dpd_action = %q", action),
	})
	g := lab.StartIkegate(t, lab.Right, toml)
	keepLogs(t, swan.LogPath, g.LogPath)

	if out, err := g.Up(name); err != nil {
		t.Fatalf("ikegate up %s: %v\n%s", name, err, out)
	}
	old := waitGateSA(t, g, name, 10*time.Second, settled(1))
	waitSwanSA(t, swan, name, 1, 10*time.Second)
	checkPing(t, lab.Left, lab.Right, 0)

	// Idle past dpd_delay with the peer alive: the probe is answered and
	// the SA stays.
	m := markLog(g.LogPath)
	time.Sleep(dpdDelay + time.Second)
	if sa := g.SA(name); sa == nil || sa.State != "ESTABLISHED" || sa.LocalSPI != old.LocalSPI {
		t.Fatalf("SA changed while the peer was alive: %+v", sa)
	}
	if strings.Contains(m.since(), "peer is dead") {
		t.Fatalf("peer declared dead while alive:\n%s", tail(m.since(), 20))
	}

	m = markLog(g.LogPath)
	swan.Proc.Kill()
	tKill := time.Now()
	t.Logf("killed charon (pid %d) at +%v", swan.Proc.Pid(), tKill.Sub(t0).Round(time.Millisecond))
	limit := dpdDelay + dpdTimeout + dpdDelay
	line, ok := waitLog(t, m, limit+5*time.Second, "peer is dead")
	dt := time.Since(tKill)
	if !ok {
		t.Fatalf("no \"peer is dead\" within %v of the kill; ikegate log since:\n%s", limit+5*time.Second, tail(m.since(), 40))
	}
	t.Logf("dead after %v (dpd_delay %v + dpd_timeout %v + probe interval = %v): %s", dt.Round(time.Millisecond), dpdDelay, dpdTimeout, limit, line)
	if dt > limit+time.Second || dt < dpdTimeout-time.Second {
		t.Errorf("peer declared dead %v after the kill; want between dpd_timeout %v and %v", dt.Round(time.Millisecond), dpdTimeout, limit)
	}
	if !strings.Contains(line, `"dpd_action": "`+action+`"`) && !strings.Contains(line, "dpd_action="+action) && !strings.Contains(line, action) {
		t.Errorf("dead line does not name dpd_action %s: %s", action, line)
	}
	probes := grepLines(m.since(), "liveness check", "R-U-THERE", "R_U_THERE")
	t.Logf("probes logged after the kill: %d", len(probes))
	if len(probes) == 0 {
		t.Logf("note: no probe lines at debug level; log since kill:\n%s", tail(m.since(), 30))
	}
	for _, sa := range mustSAs(t, g) {
		if sa.Name == name && (sa.LocalSPI == old.LocalSPI || sa.State == "ESTABLISHED") {
			t.Errorf("after death: ikegate still lists %+v", sa)
		}
	}

	if action == "clear" {
		time.Sleep(2 * time.Second)
		if sas := mustSAs(t, g); len(sas) != 0 {
			t.Errorf("dpd_action clear: ikegate lists %+v", sas)
		}
		if got, _ := Ping(lab.Right, rightHost(0), leftHost(0), 1, 0, 500*time.Millisecond); got != 0 {
			t.Errorf("dpd_action clear: ping still answered")
		}
		t.Logf("case took %v", time.Since(t0).Round(time.Millisecond))
		return
	}

	// restart: ikegate is already initiating; bring the peer back.
	tRestart := time.Now()
	swan2 := lab.StartStrongSwan(t, lab.Left, swanCfg)
	keepLogs(t, swan2.LogPath)
	nsa := waitGateSA(t, g, name, 30*time.Second, func(sa *IkegateSA) bool {
		return settled(1)(sa) && sa.LocalSPI != old.LocalSPI && sa.Children[0].State == "INSTALLED"
	})
	waitSwanSA(t, swan2, name, 1, 10*time.Second)
	t.Logf("tunnel back %v after strongSwan restarted: %s/%s, CHILD %s", time.Since(tRestart).Round(time.Millisecond),
		nsa.LocalSPI, nsa.RemoteSPI, nsa.Children[0].SPIIn)
	if !nsa.Initiator {
		t.Errorf("the new IKE SA was not initiated by ikegate")
	}
	checkPing(t, lab.Left, lab.Right, 0)
	checkBulk(t, lab.Left, lab.Right, 0, 5)
	t.Logf("case took %v", time.Since(t0).Round(time.Millisecond))
}

func mustSAs(t *testing.T, g *Ikegate) []IkegateSA {
	t.Helper()
	sas, err := g.SAs()
	if err != nil {
		t.Fatal(err)
	}
	return sas
}
