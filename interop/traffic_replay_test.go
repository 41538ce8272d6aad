package interop

import (
	"fmt"
	"testing"
	"time"
)

// TestTrafficReplayTamper (case 4): with a tunnel from strongSwan
// (libipsec) to ikegate (userspace dataplane), one real ESP-in-UDP packet
// from strongSwan to ikegate is captured on the peer's link (AF_PACKET) and
// sent again from there, unchanged (a replay) and with flipped bits (one in
// the ciphertext, one in the sequence number, each with a sequence number
// ahead of the replay window so that only the integrity check can reject
// it). ikegate must drop all of them and count them in `sas --json`
// (replay_drops, auth_failures) and `stats --json` (dataplane
// in_rejected), and the tunnel must keep working: a forged sequence number
// far ahead must not have moved the replay window.
func TestTrafficReplayTamper(t *testing.T) {
	t.Parallel()
	for _, v := range []int{2, 1} {
		t.Run(fmt.Sprintf("ikev%d", v), func(t *testing.T) { replayCase(t, v) })
	}
}

func replayCase(t *testing.T, version int) {
	t0 := time.Now()
	lab := NewLab(t)
	lab.AddSubnet(t, lab.Left, "sn0", leftHost(0)+"/24")
	lab.AddSubnet(t, lab.Right, "gs0", rightHost(0)+"/24")
	ike, esp := swanTrafficSuite(version)
	name := fmt.Sprintf("rp%d", version)
	peer := trafficConn(name, version, 0, LeftAddr, RightAddr, ike, esp)
	swan := lab.StartStrongSwan(t, lab.Left, SwanConfig{Conns: []Conn{peer}, LibIPsec: true})
	g := lab.StartIkegate(t, lab.Right, IkegateTOML(userspaceGateway(RightAddr), peer.Mirror()))
	keepLogs(t, swan.LogPath, g.LogPath)
	if out, err := swan.Initiate(name, 10); err != nil {
		t.Errorf("swanctl --initiate: %v\n%s", err, out)
	}
	gsa := waitGateSA(t, g, name, 10*time.Second, settled(1))
	waitSwanSA(t, swan, name, 1, 10*time.Second)
	spi := spiOf(t, gsa.Children[0].SPIIn)

	ps, err := OpenPacketSocket(lab.Left, LabIface)
	if err != nil {
		t.Fatal(err)
	}
	defer ps.Close()
	type capRes struct {
		f   *ESPFrame
		err error
	}
	cc := make(chan capRes, 1)
	go func() {
		f, err := ps.CaptureESP(RightAddr, 4500, spi, 5*time.Second)
		cc <- capRes{f, err}
	}()
	time.Sleep(50 * time.Millisecond)
	if got, err := Ping(lab.Left, leftHost(0), rightHost(0), 1, 0, 2*time.Second); got != 1 {
		t.Fatalf("ping before the injection: %d replies (%v)", got, err)
	}
	cr := <-cc
	if cr.err != nil {
		t.Fatal(cr.err)
	}
	orig := cr.f
	t.Logf("captured ESP from strongSwan: SPI %08x seq %d, %d bytes of ESP", orig.SPI, orig.Seq, orig.ESPLen())

	before := gateChild(g, name)
	if before == nil {
		t.Fatal("no CHILD SA")
	}
	stBefore := dataplaneStat(t, g, "in_rejected")

	// 1. Replay: the same packet again (UDP checksum zeroed: a captured
	// outgoing frame may carry a partial, offloaded checksum).
	replay := orig.Clone()
	replay.NoUDPChecksum()
	// 2. A bit flipped in the ciphertext, sequence number ahead.
	ct := orig.Clone()
	ct.FlipBit(ct.ESPLen()-20, 0x01)
	ct.SetSeq(orig.Seq + 1000)
	// 3. The sequence number far ahead (a flipped high bit): covered by the
	// ICV, so an integrity failure, and the window must not move.
	seqFlip := orig.Clone()
	seqFlip.SetSeq(orig.Seq ^ 1<<30)
	for _, f := range []*ESPFrame{replay, ct, seqFlip} {
		if err := ps.Send(f.Frame); err != nil {
			t.Fatalf("inject: %v", err)
		}
	}
	var after *IkegateTrafficChild
	if !WaitFor(t, 5*time.Second, func() bool {
		after = gateChild(g, name)
		return after != nil && after.ReplayDrops >= before.ReplayDrops+1 && after.AuthFailures >= before.AuthFailures+2
	}) {
		t.Fatalf("drops not counted: before %+v after %+v", before, after)
	}
	t.Logf("ikegate CHILD SA %s: replay_drops %d -> %d, auth_failures %d -> %d, in_packets %d -> %d",
		name, before.ReplayDrops, after.ReplayDrops, before.AuthFailures, after.AuthFailures, before.InPackets, after.InPackets)
	if after.ReplayDrops != before.ReplayDrops+1 || after.AuthFailures != before.AuthFailures+2 {
		t.Errorf("want exactly 1 replay drop and 2 auth failures more: before %+v after %+v", before, after)
	}
	if after.InPackets != before.InPackets {
		t.Errorf("an injected packet was accepted: in_packets %d -> %d", before.InPackets, after.InPackets)
	}
	if st := dataplaneStat(t, g, "in_rejected"); st < stBefore+3 {
		t.Errorf("stats --json dataplane in_rejected %d -> %d, want +3", stBefore, st)
	}
	requireLine(t, "ikegate", g.Log(), "inbound ESP dropped", "replayed")
	requireLine(t, "ikegate", g.Log(), "inbound ESP dropped", "integrity check failed")

	// The tunnel still works, both ways, and genuine packets are not
	// taken for replays.
	checkPing(t, lab.Left, lab.Right, 0)
	checkBulk(t, lab.Left, lab.Right, 0, 5)
	if c := gateChild(g, name); c == nil || c.ReplayDrops != after.ReplayDrops || c.AuthFailures != after.AuthFailures {
		t.Errorf("genuine traffic dropped after the injection: %+v", c)
	}
	t.Logf("case took %v", time.Since(t0).Round(time.Millisecond))
}

// dataplaneStat returns one counter of `stats --json` "dataplane".
func dataplaneStat(t *testing.T, g *Ikegate, key string) uint64 {
	t.Helper()
	st, err := g.StatsJSON()
	if err != nil {
		t.Fatal(err)
	}
	dp, ok := st["dataplane"].(map[string]any)
	if !ok {
		t.Fatalf("stats --json has no dataplane counters: %v", st)
	}
	v, _ := dp[key].(float64)
	return uint64(v)
}
