package interop

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// v1CrossRounds is how many crossing phase 1 renewals
// TestIKEv1CrossingRenewals provokes.
const v1CrossRounds = 10

// v1LoneReauths is how many reauthentications by strongSwan alone
// TestIKEv1CrossingRenewals adds after the crossings.
const v1LoneReauths = 2

// v1CrossDPD is ikegate's dpd_delay in TestIKEv1CrossingRenewals: each
// crossing must have settled within it.
const v1CrossDPD = 10 * time.Second

// TestIKEv1CrossingRenewals (issue 12 item 1, IKEv1): phase 1 renewals
// that cross, against strongSwan (kernel-libipsec; ikegate with the
// userspace dataplane and workers = 2, so that without routing by peer
// address the two new ISAKMP SAs would land on different shards half the
// time). Equal lifetimes far beyond the test (strongSwan rand_time = 0;
// ikegate renews at 90 %), so only the deliberate renewals happen: in
// each round `ikegate rekey NAME --ike` and `swanctl --rekey --ike NAME`
// (strongSwan's IKEv1 reauthentication: a new Main Mode and new Quick
// Modes for its CHILD SAs) start at the same instant. Within one DPD
// interval of each round both sides hold exactly one ISAKMP SA of the
// connection, with the same cookies, and exactly the one configured phase
// 2 SA with the same SPIs; the same after two reauthentications by
// strongSwan alone; over the whole run ikegate's DPD never
// declares the peer dead, ikegate logs no warning, and a continuous ping
// through the tunnel loses nothing.
func TestIKEv1CrossingRenewals(t *testing.T) {
	t.Parallel()
	lab := NewLab(t)
	lab.AddSubnet(t, lab.Left, "cr0", leftHost(3)+"/24")
	lab.AddSubnet(t, lab.Right, "cr0", rightHost(3)+"/24")
	const name = "v1cross"
	peer := trafficConn(name, 1, 3, LeftAddr, RightAddr, "aes128-sha256-modp2048", "aes128gcm16")
	gate := peer.Mirror()
	peer.SwanRekeyIKE, peer.SwanRekeyChild = "2h", "1h"
	gate.IkegateLifetimes = [2]string{"2h", "1h"}
	gate.IkegateExtra = fmt.Sprintf("dpd_delay = %q\ndpd_timeout = \"30s\"", v1CrossDPD)
	swan := lab.StartStrongSwan(t, lab.Left, SwanConfig{Conns: []Conn{peer}, LibIPsec: true,
		Extra: "retransmit_timeout = 1.0\nretransmit_base = 1.4"})
	toml := strings.Replace(IkegateTOML(userspaceGateway(RightAddr), gate), "[gateway]\n", "[gateway]\nworkers = 2\n", 1)
	g := lab.StartIkegate(t, lab.Right, toml)
	keepLogs(t, swan.LogPath, g.LogPath)
	if out, err := g.UpWait(name, 15*time.Second); err != nil {
		t.Fatalf("up: %v: %s", err, out)
	}
	if _, _, ok := v1CrossSettled(g, swan, name); !ok {
		if !WaitFor(t, 10*time.Second, func() bool { _, _, ok := v1CrossSettled(g, swan, name); return ok }) {
			t.Fatalf("not one ISAKMP SA with one phase 2 SA on both sides after up")
		}
	}
	gmark := markLog(g.LogPath)
	smark := markLog(swan.LogPath)

	ping := startPing(lab.Left, leftHost(3), rightHost(3))
	holds := []func(bool){holdIKE(t, lab.Left, RightAddr), holdIKE(t, lab.Right, LeftAddr)}
	seen := map[string]bool{}
	for i := range v1CrossRounds {
		before, sbefore, _ := v1CrossSettled(g, swan, name)
		if before == nil {
			t.Fatalf("round %d: not settled before the renewals: %s", i+1, v1CrossState(g, swan, name))
		}
		// Both renew the same ISAKMP SA at once: the IKE messages of one
		// side (ikegate's in odd rounds, strongSwan's in even ones, so that
		// either Main Mode may finish first) are held back while ikegate
		// starts its renewal and strongSwan its reauthentication of that SA
		// (by its unique id, as its rekey timer would: `--ike NAME` would
		// reauthenticate every SA of the name), then go through with the
		// retransmissions.
		rg, rs := markLog(g.LogPath), markLog(swan.LogPath)
		hold := holds[i%2]
		hold(true)
		var wg sync.WaitGroup
		var gout string
		var gerr error
		wg.Add(1)
		go func() {
			defer wg.Done()
			gout, gerr = g.ctl("rekey", name, "--ike", "--timeout", "20", "--quiet")
		}()
		time.Sleep(150 * time.Millisecond) // ikegate's Main Mode started (and held back)
		t0 := time.Now()
		sout, serr := swan.Swanctl("--rekey", "--ike-id", sbefore.UniqueID)
		if serr != nil {
			hold(false)
			t.Fatalf("round %d: swanctl --rekey --ike-id %s: %v: %s", i+1, sbefore.UniqueID, serr, sout)
		}
		time.Sleep(150 * time.Millisecond) // strongSwan's reached ikegate, the answer is held back
		hold(false)
		var gsa *v1GateSA
		var why string
		if !WaitFor(t, v1CrossDPD, func() bool {
			var ok bool
			gsa, _, ok = v1CrossSettled(g, swan, name)
			if !ok {
				why = v1CrossState(g, swan, name)
			}
			return ok && gsa.LocalSPI != before.LocalSPI
		}) {
			out, _ := swan.Swanctl("--list-sas")
			gsas, _ := g.ctl("sas")
			wg.Wait()
			t.Fatalf("round %d: not settled within one DPD interval (%v) after the crossing renewals (ikegate rekey: %v %s): %s\nikegate:\n%s\nstrongSwan:\n%s",
				i+1, v1CrossDPD, gerr, strings.TrimSpace(gout), why, gsas, out)
		}
		settled := time.Since(t0)
		wg.Wait()
		gi, gr := v1Cookies(gsa)
		seen[gi] = true
		// What each side did, for the record.
		for _, l := range v1Lines(rg.since(), "phase 1 renewals crossed") {
			t.Logf("round %d: ikegate: %s", i+1, v1Short(l[strings.Index(l, "phase 1"):], 200))
		}
		for _, l := range strings.Split(rs.since(), "\n") {
			for _, k := range []string{"ESTABLISHED => REKEYING", "adopting", "REKEYING => DESTROYING", "sending DELETE for IKE_SA", "not found, ignored"} {
				if strings.Contains(l, k) {
					t.Logf("round %d: strongSwan: %s", i+1, strings.TrimSpace(l))
				}
			}
		}
		t.Logf("round %d: settled after %v: ISAKMP SA %s/%s (initiated by %s), phase 2 %s/%s; ikegate rekey: %v; ping lost so far %d of %d",
			i+1, settled.Round(100*time.Millisecond), gi, gr, map[bool]string{true: "ikegate", false: "strongSwan"}[gsa.Initiator],
			gsa.Children[0].SPIIn, gsa.Children[0].SPIOut, gerr, ping.sent.Load()-ping.replies.Load(), ping.sent.Load())
	}
	// And strongSwan's reauthentication alone, twice (its rekey_time
	// would do the same): settled the same way, within one DPD interval,
	// before strongSwan deletes the old SA itself.
	for i := range v1LoneReauths {
		before, sbefore, _ := v1CrossSettled(g, swan, name)
		if before == nil {
			t.Fatalf("reauthentication %d: not settled before: %s", i+1, v1CrossState(g, swan, name))
		}
		t0 := time.Now()
		if out, err := swan.Swanctl("--rekey", "--ike-id", sbefore.UniqueID); err != nil {
			t.Fatalf("swanctl --rekey --ike-id %s: %v: %s", sbefore.UniqueID, err, out)
		}
		var gsa *v1GateSA
		if !WaitFor(t, v1CrossDPD, func() bool {
			var ok bool
			gsa, _, ok = v1CrossSettled(g, swan, name)
			return ok && gsa.LocalSPI != before.LocalSPI
		}) {
			t.Fatalf("reauthentication %d: not settled within one DPD interval: %s", i+1, v1CrossState(g, swan, name))
		}
		gi, gr := v1Cookies(gsa)
		t.Logf("reauthentication %d by strongSwan alone: settled after %v: ISAKMP SA %s/%s, phase 2 %s/%s; ping lost so far %d of %d",
			i+1, time.Since(t0).Round(100*time.Millisecond), gi, gr, gsa.Children[0].SPIIn, gsa.Children[0].SPIOut,
			ping.sent.Load()-ping.replies.Load(), ping.sent.Load())
	}
	time.Sleep(time.Second) // the last round's pings are answered
	ping.stop()

	// Both sides renewed in every round: the crossing happened.
	glog, slog := gmark.since(), smark.since()
	crossed := strings.Count(glog, "phase 1 renewals crossed: ") - strings.Count(glog, "moving a phase 2 SA to the surviving")
	reauths := strings.Count(slog, "ESTABLISHED => REKEYING")
	t.Logf("ikegate deleted %d crossing losers; strongSwan reauthenticated %d times; %d distinct surviving SAs",
		crossed, reauths, len(seen))
	if reauths < v1CrossRounds || crossed < v1CrossRounds {
		t.Errorf("not %d crossings: strongSwan reauthenticated %d times, ikegate resolved %d", v1CrossRounds, reauths, crossed)
	}
	if len(seen) != v1CrossRounds {
		t.Errorf("%d distinct surviving ISAKMP SAs in %d rounds", len(seen), v1CrossRounds)
	}
	if n := strings.Count(glog, "negotiating a new ISAKMP SA"); n < v1CrossRounds {
		t.Errorf("ikegate started %d phase 1 renewals in %d rounds", n, v1CrossRounds)
	}
	for _, l := range strings.Split(glog, "\n") {
		if strings.Contains(l, "\tWARN\t") || strings.Contains(l, "\tERROR\t") || strings.Contains(l, "peer is dead") || strings.Contains(l, "dead peer") {
			t.Errorf("ikegate: %s", l)
		}
	}
	lost := ping.sent.Load() - ping.replies.Load()
	t.Logf("ping: %d of %d replies over %d crossing renewals and %d reauthentications", ping.replies.Load(), ping.sent.Load(), v1CrossRounds, v1LoneReauths)
	if lost > 0 || ping.sent.Load() == 0 {
		t.Errorf("ping lost %d of %d packets", lost, ping.sent.Load())
	}
}

// v1CrossSettled reports whether ikegate and strongSwan each hold
// exactly one IKE SA of name, in any state, ESTABLISHED with the same
// cookies, and exactly one phase 2 SA on it, installed on both with the
// same SPIs.
func v1CrossSettled(g *Ikegate, swan *Swan, name string) (*v1GateSA, *SwanIKESA, bool) {
	gs := v1GateNamed(g, name)
	ss, err := swan.ListSAs()
	if err != nil || len(gs) != 1 {
		return nil, nil, false
	}
	var ssa *SwanIKESA
	for i := range ss {
		if ss[i].Name == name {
			if ssa != nil {
				return nil, nil, false
			}
			ssa = &ss[i]
		}
	}
	gsa := &gs[0]
	if ssa == nil || gsa.State != "ESTABLISHED" || ssa.State != "ESTABLISHED" || len(gsa.Children) != 1 || len(ssa.Children) != 1 {
		return nil, nil, false
	}
	gc, sc := gsa.Children[0], ssa.Children[0]
	gi, gr := v1Cookies(gsa)
	ok := gc.State == "INSTALLED" && sc.State == "INSTALLED" && sc.SPIIn == gc.SPIOut && sc.SPIOut == gc.SPIIn &&
		ssa.InitSPI == gi && ssa.RespSPI == gr
	return gsa, ssa, ok
}

// v1CrossState describes both sides' SAs of name in one line, for the
// failure message.
func v1CrossState(g *Ikegate, swan *Swan, name string) string {
	var b strings.Builder
	b.WriteString("ikegate:")
	for _, sa := range v1GateNamed(g, name) {
		gi, gr := v1Cookies(&sa)
		fmt.Fprintf(&b, " [%s/%s %s init=%v", gi, gr, sa.State, sa.Initiator)
		for _, c := range sa.Children {
			fmt.Fprintf(&b, " %s %s/%s", c.State, c.SPIIn, c.SPIOut)
		}
		b.WriteString("]")
	}
	b.WriteString(" strongSwan:")
	ss, _ := swan.ListSAs()
	for _, sa := range ss {
		if sa.Name != name {
			continue
		}
		fmt.Fprintf(&b, " [%s/%s %s", sa.InitSPI, sa.RespSPI, sa.State)
		for _, c := range sa.Children {
			fmt.Fprintf(&b, " %s %s/%s", c.State, c.SPIIn, c.SPIOut)
		}
		b.WriteString("]")
	}
	return b.String()
}
