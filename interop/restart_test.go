package interop

// A site-to-site peer that crashes and comes back (issue "hold across
// restarts", item 2: one SA per peer identity across workers). ikegate
// runs two workers (shards); its IKE SAs are sharded by SPI, so a peer's
// new IKE SA and its stale one land on the same shard or on different
// ones by chance, and INITIAL_CONTACT must clear the stale one either way:
// in the shard ("INITIAL_CONTACT from the peer: removing its stale IKE
// SA") or across shards through the runtime ("removing an IKE SA of a
// peer", reason INITIAL_CONTACT).

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// rsConn is one connection of the restart test and what ikegate and
// strongSwan list of it at one time.
type rsConn struct {
	peer Conn
	esp  string // ikegate's esp_proposal

	gate []v1GateSA  // ikegate's IKE SAs of the connection
	swan []SwanIKESA // strongSwan's
}

// rsOne returns ikegate's only IKE SA of c when it is ESTABLISHED with
// its CHILD SA INSTALLED and is not the stale one (initiator SPI stale).
func (c *rsConn) rsOne(stale string) *v1GateSA {
	if len(c.gate) != 1 {
		return nil
	}
	sa := &c.gate[0]
	if i, _ := v1Cookies(sa); i == stale || sa.State != "ESTABLISHED" || sa.Version != c.peer.Version ||
		len(sa.Children) != 1 || sa.Children[0].State != "INSTALLED" {
		return nil
	}
	return sa
}

// rsNew reports whether ikegate lists an ESTABLISHED IKE SA of c other
// than the stale one.
func (c *rsConn) rsNew(stale string) bool {
	for i := range c.gate {
		if ini, _ := v1Cookies(&c.gate[i]); ini != stale && c.gate[i].State == "ESTABLISHED" {
			return true
		}
	}
	return false
}

// rsListGate fills in ikegate's IKE SAs of each connection.
func rsListGate(g *Ikegate, conns []*rsConn) ([]v1GateSA, error) {
	sas, err := v1SAs(g)
	for _, c := range conns {
		c.gate = nil
		for _, sa := range sas {
			if sa.Name == c.peer.Name {
				c.gate = append(c.gate, sa)
			}
		}
	}
	return sas, err
}

// rsListSwan fills in strongSwan's IKE SAs of each connection.
func rsListSwan(s *Swan, conns []*rsConn) ([]SwanIKESA, error) {
	sas, err := s.ListSAs()
	for _, c := range conns {
		c.swan = nil
		for _, sa := range sas {
			if sa.Name == c.peer.Name {
				c.swan = append(c.swan, sa)
			}
		}
	}
	return sas, err
}

// rsDescribe is both sides' IKE SAs of every connection, for a failure.
func rsDescribe(conns []*rsConn) string {
	var b strings.Builder
	for _, c := range conns {
		fmt.Fprintf(&b, "%s (IKEv%d):\n", c.peer.Name, c.peer.Version)
		for _, sa := range c.gate {
			i, r := v1Cookies(&sa)
			fmt.Fprintf(&b, "  ikegate    v%d %s %s/%s %s<->%s initiator=%v children=%+v\n",
				sa.Version, sa.State, i, r, sa.Local, sa.Remote, sa.Initiator, sa.Children)
		}
		for _, sa := range c.swan {
			var ch []string
			for _, x := range sa.Children {
				ch = append(ch, fmt.Sprintf("%s %s in %s out %s", x.Name, x.State, x.SPIIn, x.SPIOut))
			}
			fmt.Fprintf(&b, "  strongSwan v%d %s %s/%s initiator=%v children=%v\n",
				sa.Version, sa.State, sa.InitSPI, sa.RespSPI, sa.Initiator, ch)
		}
	}
	return b.String()
}

// TestPeerRestartOneSA: ikegate (workers = 2) and one strongSwan 5.9.8
// peer (kernel-libipsec) with two site-to-site connections on the same
// address pair, one IKEv1 (Main Mode, PSK) and one IKEv2 (PSK), each with
// a CHILD SA, both initiated by strongSwan. Ten times charon is killed
// (SIGKILL: no DELETE), what it left in its namespace is cleaned, and a
// fresh charon with the same configuration initiates both again, sending
// INITIAL_CONTACT. Within a few seconds of each restart (not after DPD:
// none is configured) ikegate must list exactly one ESTABLISHED IKE SA
// per connection, the new one, with its CHILD SA INSTALLED, and
// strongSwan the same one (same SPIs / cookies, crossed CHILD SA SPIs).
func TestPeerRestartOneSA(t *testing.T) {
	t.Parallel()
	const rounds = 10
	const settle = 5 * time.Second // per round: initiate to one SA per connection
	lab := NewLab(t)
	v1PeerSubnets(t, lab, lab.Left, 211, []int{70, 71})
	pair := v1Pair{LeftAddr, RightAddr} // one peer: both connections on the same addresses
	p1 := v1PSKConn("rs-v1", 70, pair, "aes256-sha256-modp2048", "aes256-sha256")
	p2 := v1PSKConn("rs-v2", 71, pair, "aes256-sha256-modp2048", "aes256-sha256")
	p2.Version = 2
	conns := []*rsConn{
		{peer: p1, esp: "AES_CBC_256/HMAC_SHA2_256_128"},
		{peer: p2, esp: "AES_CBC_256/HMAC_SHA2_256_128/NO_ESN"},
	}
	cfg := SwanConfig{Conns: []Conn{p1, p2}, LibIPsec: true, Extra: v1SwanExtra}
	toml := PatchIkegateTOML(v1GatewayTOML([]string{RightAddr}, p1.Mirror(), p2.Mirror()), []string{"workers = 2"}, "", nil)
	g := lab.StartIkegate(t, lab.Right, toml)
	swan := lab.StartStrongSwan(t, lab.Left, cfg)
	v1KeepLogs(t, g.LogPath)

	// up initiates both connections from strongSwan at once and waits
	// until ikegate lists exactly one IKE SA per connection, the new one
	// (initiator SPI not stale[name]), ESTABLISHED with its CHILD SA
	// INSTALLED; then it checks strongSwan agrees. It returns the new
	// initiator SPIs and how long after the initiation ikegate first
	// listed the new SA and was down to one, per connection.
	type timing struct {
		newAt, oneAt time.Duration
		polls, two   int // ikegate listings before oneAt; of them, listings of two ESTABLISHED IKE SAs
	}
	up := func(t *testing.T, s *Swan, stale map[string]string) (map[string]string, map[string]timing, bool) {
		t.Helper()
		t0 := time.Now()
		errs := make(chan string, len(conns))
		for _, c := range conns {
			go func(name string) {
				out, err := s.Initiate(name, 5)
				if err != nil {
					errs <- fmt.Sprintf("swanctl --initiate --child %s: %v\n%s", name, err, out)
					return
				}
				errs <- ""
			}(c.peer.Name)
		}
		times := map[string]timing{}
		ok := WaitFor(t, settle, func() bool {
			if _, err := rsListGate(g, conns); err != nil {
				return false
			}
			done := true
			for _, c := range conns {
				tm := times[c.peer.Name]
				if tm.oneAt == 0 {
					tm.polls++
					n := 0
					for _, sa := range c.gate {
						if sa.State == "ESTABLISHED" {
							n++
						}
					}
					if n > 1 {
						tm.two++
					}
				}
				if tm.newAt == 0 && c.rsNew(stale[c.peer.Name]) {
					tm.newAt = time.Since(t0)
				}
				if tm.oneAt == 0 && c.rsOne(stale[c.peer.Name]) != nil {
					tm.oneAt = time.Since(t0)
				}
				times[c.peer.Name] = tm
				done = done && tm.oneAt != 0
			}
			return done
		})
		for range conns {
			if e := <-errs; e != "" {
				t.Errorf("%s", e)
			}
		}
		if !ok {
			t.Errorf("ikegate: not exactly one ESTABLISHED IKE SA (the new one, CHILD SA INSTALLED) per connection within %v of the initiation:\n%s",
				settle, rsDescribe(conns))
			return nil, times, false
		}
		// strongSwan: one IKE SA per connection, ESTABLISHED, its CHILD SA
		// INSTALLED (swanctl --initiate has returned, so it is settled).
		if !WaitFor(t, 2*time.Second, func() bool {
			if _, err := rsListSwan(s, conns); err != nil {
				return false
			}
			for _, c := range conns {
				if len(c.swan) != 1 || c.swan[0].State != "ESTABLISHED" || len(c.swan[0].Children) != 1 ||
					c.swan[0].Children[0].State != "INSTALLED" {
					return false
				}
			}
			return true
		}) {
			t.Errorf("strongSwan: not exactly one ESTABLISHED IKE SA with its CHILD SA INSTALLED per connection:\n%s", rsDescribe(conns))
			return nil, times, false
		}
		// Both sides once more, ikegate last: still one each, the same.
		if _, err := rsListGate(g, conns); err != nil {
			t.Errorf("%v", err)
			return nil, times, false
		}
		spis := map[string]string{}
		good := true
		for _, c := range conns {
			gsa := c.rsOne(stale[c.peer.Name])
			if gsa == nil {
				t.Errorf("%s: ikegate no longer lists exactly one new ESTABLISHED IKE SA:\n%s", c.peer.Name, rsDescribe(conns))
				good = false
				continue
			}
			ssa := &c.swan[0]
			gi, gr := v1Cookies(gsa)
			if ssa.InitSPI != gi || ssa.RespSPI != gr || !ssa.Initiator || gsa.Initiator || ssa.Version != c.peer.Version {
				t.Errorf("%s: ikegate v%d %s/%s initiator=%v, strongSwan v%d %s/%s initiator=%v: want the same IKEv%d SA, strongSwan initiating",
					c.peer.Name, gsa.Version, gi, gr, gsa.Initiator, ssa.Version, ssa.InitSPI, ssa.RespSPI, ssa.Initiator, c.peer.Version)
				good = false
			}
			checkSwanChild(t, &gsa.IkegateSA, ssa, c.peer.Name, c.esp)
			spis[c.peer.Name] = gi
		}
		return spis, times, good && !t.Failed()
	}

	spis, times, ok := up(t, swan, nil)
	if !ok {
		t.Fatalf("the first connection failed")
	}
	for _, c := range conns {
		t.Logf("up: %s (IKEv%d) %s, ikegate listed it %v after the initiation",
			c.peer.Name, c.peer.Version, spis[c.peer.Name], times[c.peer.Name].oneAt.Round(time.Millisecond))
	}

	tStart := time.Now()
	paths := map[string]int{}
	for r := 1; r <= rounds; r++ {
		// Each round is a subtest (its own pass/fail); the daemons belong
		// to the test. The first failed round ends the test.
		if !t.Run(fmt.Sprintf("round-%02d", r), func(rt *testing.T) {
			stale := spis
			swan.Proc.Kill()
			// What the killed charon (kernel-libipsec) left: the rule to
			// its route table 220 (ipsec0 and its routes went with the
			// process). A site-to-site peer has no virtual IP.
			ra2CleanClient(rt, lab.Left, netip.Addr{})
			if _, err := rsListGate(g, conns); err == nil {
				for _, c := range conns {
					if len(c.gate) != 1 {
						rt.Errorf("ikegate lists %d IKE SAs of %s right after the kill, want the stale one:\n%s",
							len(c.gate), c.peer.Name, rsDescribe(conns))
					}
				}
			}
			gmark := v1MarkLog(g.LogPath)
			swan = lab.StartStrongSwan(t, lab.Left, cfg)
			spis, times, ok = up(rt, swan, stale)

			ic := v1Lines(gmark.since(), "INITIAL_CONTACT")
			local, cross := len(v1Lines(gmark.since(), "INITIAL_CONTACT from the peer: removing its stale IKE SA")),
				len(v1Lines(gmark.since(), "removing an IKE SA of a peer", "INITIAL_CONTACT"))
			paths["in-shard"] += local
			paths["cross-shard"] += cross
			var line []string
			for _, c := range conns {
				tm := times[c.peer.Name]
				line = append(line, fmt.Sprintf("%s new SA listed %v, down to one %v (%d of %d listings had two ESTABLISHED)", c.peer.Name,
					tm.newAt.Round(time.Millisecond), tm.oneAt.Round(time.Millisecond), tm.two, tm.polls))
			}
			rt.Logf("%s (stale SA removed in its shard %d, across shards %d)", strings.Join(line, "; "), local, cross)
			slog := swan.Log()
			if !ok {
				sas, _ := rsListGate(g, conns)
				rt.Logf("ikegate's INITIAL_CONTACT lines:\n%s", strings.Join(ic, "\n"))
				rt.Logf("ikegate sas --json: %+v", sas)
				rt.Logf("strongSwan's INITIAL_CONTACT lines:\n%s", strings.Join(v1Lines(slog, "CONTACT"), "\n"))
				rt.Fatalf("stale SAs %v", stale)
			}
			// strongSwan did send INITIAL_CONTACT in both versions: IKEv1
			// N(INITIAL_CONTACT) in Main Mode, IKEv2 N(INIT_CONTACT) in
			// IKE_AUTH.
			if _, ok := v1Line(slog, "<rs-v1|", "ID_PROT request", "N(INITIAL_CONTACT)"); !ok {
				rt.Errorf("strongSwan's log has no Main Mode request with N(INITIAL_CONTACT) for rs-v1")
			}
			if _, ok := v1Line(slog, "<rs-v2|", "IKE_AUTH request", "N(INIT_CONTACT)"); !ok {
				rt.Errorf("strongSwan's log has no IKE_AUTH request with N(INIT_CONTACT) for rs-v2")
			}
			if r == 1 || rt.Failed() {
				for _, l := range ic {
					rt.Logf("ikegate: %s", v1Short(l, 300))
				}
				for _, l := range v1Lines(slog, "CONTACT") {
					rt.Logf("strongSwan: %s", v1Short(l, 300))
				}
			}
			if local+cross < len(conns) {
				rt.Errorf("ikegate logged %d removals of a stale IKE SA for INITIAL_CONTACT, want one per connection (%d):\n%s",
					local+cross, len(conns), strings.Join(ic, "\n"))
			}
		}) {
			t.Fatalf("round %d failed", r)
		}
	}
	t.Logf("%d restarts in %v; stale SAs removed in their shard %d times, across shards %d times",
		rounds, time.Since(tStart).Round(time.Millisecond), paths["in-shard"], paths["cross-shard"])

	// Nothing comes back late: one SA per connection a second later.
	time.Sleep(time.Second)
	if _, err := rsListGate(g, conns); err != nil {
		t.Fatal(err)
	}
	for _, c := range conns {
		if c.rsOne("") == nil || func() bool { i, _ := v1Cookies(&c.gate[0]); return i != spis[c.peer.Name] }() {
			t.Errorf("%s: a second after the last round ikegate should list only the IKE SA %s; it lists:\n%s", c.peer.Name, spis[c.peer.Name], rsDescribe(conns))
		}
	}
}
