package interop

import (
	"strings"
	"testing"
	"time"
)

// TestShutdownDeletesSAs: SIGTERM to ikegate with an IKEv1 and an IKEv2
// SA to strongSwan: the capture shows a delete of each version leaving
// before ikegate exits, and strongSwan (which runs no DPD here) forgets
// both SAs at once instead of keeping tunnels that lead nowhere.
func TestShutdownDeletesSAs(t *testing.T) {
	t.Parallel()
	lab := NewLab(t)
	v1PeerSubnets(t, lab, lab.Left, 211, []int{72, 73})
	pair := v1Pair{LeftAddr, RightAddr}
	p1 := v1PSKConn("sd-v1", 72, pair, "aes256-sha256-modp2048", "aes256-sha256")
	p2 := v1PSKConn("sd-v2", 73, pair, "aes256-sha256-modp2048", "aes256-sha256")
	p2.Version = 2
	g := lab.StartIkegate(t, lab.Right, PatchIkegateTOML(v1GatewayTOML([]string{RightAddr}, p1.Mirror(), p2.Mirror()), []string{"workers = 2"}, "", nil))
	swan := lab.StartStrongSwan(t, lab.Left, SwanConfig{Conns: []Conn{p1, p2}, LibIPsec: true, Extra: v1SwanExtra})
	v1KeepLogs(t, g.LogPath, swan.LogPath)
	for _, c := range []Conn{p1, p2} {
		if out, err := swan.Initiate(c.Name, 10); err != nil {
			t.Fatalf("swanctl --initiate %s: %v\n%s", c.Name, err, out)
		}
	}
	if !WaitFor(t, 5*time.Second, func() bool { return swan.Established(p1.Name) && swan.Established(p2.Name) }) {
		t.Fatalf("strongSwan did not establish both SAs: %+v", swan.IKESA(p1.Name))
	}
	capt := lab.Capture(t, lab.Right, LabIface)
	time.Sleep(time.Second) // dumpcap captures from here on
	gmark := v1MarkLog(g.LogPath)
	t0 := time.Now()
	g.Proc.Stop() // SIGTERM
	took := time.Since(t0)
	if !WaitFor(t, 3*time.Second, func() bool {
		sas, err := swan.ListSAs()
		return err == nil && len(sas) == 0
	}) {
		sas, _ := swan.ListSAs()
		t.Errorf("strongSwan still lists IKE SAs 3 s after ikegate stopped: %+v", sas)
	}
	t.Logf("ikegate exited %v after SIGTERM", took.Round(time.Millisecond))
	v1WaitLine(t, "ikegate", gmark, time.Second, "stopping: deleted every IKE SA", `"ike_sas": 2`)
	pcap := capt.Stop()
	out, _ := runOut(Tshark, "-r", pcap, "-n", "-Y", "isakmp", "-T", "fields", "-e", "frame.time_relative", "-e", "ip.src",
		"-e", "isakmp.exchangetype", "-e", "isakmp.version")
	t.Logf("IKE on the wire after SIGTERM (time, source, exchange type, version):\n%s", out)
	var v1Info, v2Info bool
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) < 4 || f[1] != RightAddr {
			continue
		}
		switch {
		case f[2] == "5" && strings.HasPrefix(f[3], "0x10"): // IKEv1 Informational
			v1Info = true
		case f[2] == "37" && strings.HasPrefix(f[3], "0x20"): // IKEv2 INFORMATIONAL
			v2Info = true
		}
	}
	if !v1Info || !v2Info {
		t.Errorf("capture: ikegate sent an IKEv1 Informational %v, an IKEv2 INFORMATIONAL %v before exiting; want both", v1Info, v2Info)
	}
}
