package interop

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// collisionRounds is how many collisions of each kind TestRekeyCollisions
// provokes.
const collisionRounds = 10

// TestRekeyCollisions: simultaneous rekeys (RFC 7296 2.8.1 and 2.8.2)
// against strongSwan (kernel-libipsec; ikegate with the userspace
// dataplane), provoked deliberately: ikegate's IKE messages to strongSwan
// are held back by an nftables rule while ikegate starts its rekey and
// strongSwan its own of the same SA, then the rule goes; the
// retransmissions cross, each side answering the other's request while
// its own is outstanding, and both complete both exchanges. Ten CHILD SA and ten IKE SA collisions; after each, both
// daemons hold exactly one IKE SA and one CHILD SA and agree on their
// SPIs. Over the whole run: strongSwan saw the collisions, ikegate logged
// no warning and no dead peer, and a continuous ping through the tunnel
// lost nothing during the IKE SA collisions and at most a few packets
// around each CHILD SA collision (see the bound below).
func TestRekeyCollisions(t *testing.T) {
	t.Parallel()
	lab := NewLab(t)
	lab.AddSubnet(t, lab.Left, "sn0", leftHost(0)+"/24")
	lab.AddSubnet(t, lab.Right, "gs0", rightHost(0)+"/24")
	const name = "col"
	peer := trafficConn(name, 2, 0, LeftAddr, RightAddr, "aes128gcm16-prfsha256-x25519", "aes128gcm16")
	gate := peer.Mirror()
	// Equal lifetimes far from the test's reach, no random jitter
	// (strongSwan rand_time = 0 with SwanRekeyIKE): only the deliberate
	// rekeys happen.
	peer.SwanRekeyIKE, peer.SwanRekeyChild = "2h", "1h"
	swan := lab.StartStrongSwan(t, lab.Left, SwanConfig{Conns: []Conn{peer}, LibIPsec: true,
		Extra: "retransmit_timeout = 1.0\nretransmit_base = 1.4"})
	g := lab.StartIkegate(t, lab.Right, IkegateTOML(userspaceGateway(RightAddr), gate))
	keepLogs(t, swan.LogPath, g.LogPath)
	if out, err := g.UpWait(name, 15*time.Second); err != nil {
		t.Fatalf("up: %v: %s", err, out)
	}
	gmark := markLog(g.LogPath)

	// A continuous ping through the tunnel for the whole run.
	ping := startPing(lab.Left, leftHost(0), rightHost(0))

	hold := holdIKE(t, lab.Left, RightAddr)
	lostBy := map[string]int64{}
	for _, kind := range []string{"child", "ike"} {
		lost0 := ping.sent.Load() - ping.replies.Load()
		for i := range collisionRounds {
			before := g.SA(name)
			if before == nil {
				t.Fatalf("%s round %d: no IKE SA before the collision", kind, i)
			}
			hold(true)
			swanArgs := []string{"--rekey", "--child", name}
			gateArgs := []string{"rekey", name, "--child", "--timeout", "20", "--quiet"}
			if kind == "ike" {
				swanArgs = []string{"--rekey", "--ike", name}
				gateArgs[2] = "--ike"
			}
			res := make(chan string, 1)
			go func() {
				out, err := g.ctl(gateArgs...)
				res <- fmt.Sprintf("%v %s", err, strings.TrimSpace(out))
			}()
			time.Sleep(150 * time.Millisecond) // ikegate's request is sent (and held back)
			if out, err := swan.Swanctl(swanArgs...); err != nil {
				t.Fatalf("swanctl %v: %v: %s", swanArgs, err, out)
			}
			time.Sleep(150 * time.Millisecond) // strongSwan's reached ikegate, the answer is held back
			hold(false)
			r := <-res
			colSettled(t, g, swan, name)
			t.Logf("%s collision %d: ikegate rekey: %s; ping lost so far %d of %d", kind, i+1, r, ping.sent.Load()-ping.replies.Load(), ping.sent.Load())
		}
		time.Sleep(time.Second) // the pings of the last round are answered
		lostBy[kind] = ping.sent.Load() - ping.replies.Load() - lost0
	}
	ping.stop()
	// The retired SAs are gone within their grace: one IKE SA each.
	if !WaitFor(t, 30*time.Second, func() bool {
		gs, err1 := g.SAs()
		ss, err2 := swan.ListSAs()
		return err1 == nil && err2 == nil && len(gs) == 1 && len(ss) == 1
	}) {
		out, _ := swan.Swanctl("--list-sas")
		gout, _ := g.ctl("sas")
		t.Errorf("retired SAs left after the collisions:\nikegate:\n%s\nstrongSwan:\n%s", gout, out)
	}

	slog := readFile(t, swan.LogPath)
	for _, want := range []string{"detected CHILD_REKEY collision", "detected IKE_REKEY collision"} {
		if n := strings.Count(slog, want); n < collisionRounds/2 {
			t.Errorf("strongSwan logged %q %d times in %d rounds: the collisions were not provoked", want, n, collisionRounds)
		} else {
			t.Logf("strongSwan logged %q %d times", want, n)
		}
	}
	for _, l := range strings.Split(gmark.since(), "\n") {
		if strings.Contains(l, "\tWARN\t") || strings.Contains(l, "peer is dead") || strings.Contains(l, "\tERROR\t") {
			t.Errorf("ikegate: %s", l)
		}
	}
	t.Logf("ping: %d of %d replies; lost %d during the CHILD SA collisions, %d during the IKE SA collisions",
		ping.replies.Load(), ping.sent.Load(), lostBy["child"], lostBy["ike"])
	// Nothing may be lost: IKE SA collisions move the CHILD SAs, and in
	// a CHILD SA collision ikegate sends on an SA it answered for only
	// once the peer uses it, and on none it deleted after the Delete.
	for _, kind := range []string{"child", "ike"} {
		if lostBy[kind] > 0 {
			t.Errorf("ping lost %d packets during the %s SA collisions", lostBy[kind], kind)
		}
	}
}

// holdTables names each holdIKE's nftables table apart.
var holdTables atomic.Int64

// holdIKE returns a switch that, on, drops IKE messages (UDP to 500, and
// to 4500 with the non-ESP marker) from address from arriving in
// namespace ns;
// ESP goes on. Off lets them through again; retransmissions then
// deliver what was held back.
func holdIKE(t *testing.T, ns, from string) func(on bool) {
	t.Helper()
	dir := t.TempDir()
	table := fmt.Sprintf("ikghold%d", holdTables.Add(1))
	rules := fmt.Sprintf(`table inet %s {
	chain in {
		type filter hook input priority -10; policy accept;
	}
}
`, table)
	path := filepath.Join(dir, "col.nft")
	if err := os.WriteFile(path, []byte(rules), 0o600); err != nil {
		t.Fatal(err)
	}
	MustRun(t, IPCmd, "netns", "exec", ns, "nft", "-f", path)
	t.Cleanup(func() { runOut(IPCmd, "netns", "exec", ns, "nft", "delete", "table", "inet", table) })
	return func(on bool) {
		if !on {
			MustRun(t, IPCmd, "netns", "exec", ns, "nft", "flush", "chain", "inet", table, "in")
			return
		}
		for _, r := range []string{
			fmt.Sprintf("ip saddr %s udp dport 500 drop", from),
			fmt.Sprintf("ip saddr %s udp dport 4500 @th,64,32 0 drop", from),
		} {
			MustRun(t, IPCmd, append([]string{"netns", "exec", ns, "nft", "add", "rule", "inet", table, "in"}, strings.Fields(r)...)...)
		}
	}
}

// bgPing is a continuous ping through a tunnel: 5 echoes 100 ms apart,
// again and again, counted, until stop.
type bgPing struct {
	sent, replies atomic.Int64
	cancel        context.CancelFunc
	done          chan struct{}
}

// startPing starts pinging dst from src in namespace ns.
func startPing(ns, src, dst string) *bgPing {
	ctx, cancel := context.WithCancel(context.Background())
	p := &bgPing{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		for ctx.Err() == nil {
			n, _ := Ping(ns, src, dst, 5, 100*time.Millisecond, time.Second)
			p.sent.Add(5)
			p.replies.Add(int64(n))
		}
	}()
	return p
}

// stop ends the pinging and waits for the echoes under way.
func (p *bgPing) stop() {
	p.cancel()
	<-p.done
}
