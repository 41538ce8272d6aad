package interop

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The cluster lab: one LAN (a bridge in its own namespace) with an etcd
// cluster (three members on 10.200.0.10), three ikegate nodes (10.200.0.11-13)
// serving the service address 10.200.0.2, and two strongSwan peers with
// kernel-libipsec: an IKEv1 one (10.200.0.101, subnet 10.201.1.0/24) and an
// IKEv2 one (10.200.0.102, subnet 10.201.2.0/24). Each node has the
// protected subnet 10.202.0.1/24 (the same address on each, as servers
// behind a cluster's nodes are reached through whichever node serves).
const (
	clusterSvc    = "10.200.0.2"
	clusterEtcdIP = "10.200.0.10"
	clusterIface  = "lan0"
)

func clusterNodeAddr(i int) string { return fmt.Sprintf("10.200.0.%d", 11+i) }

type clusterLab struct {
	*Lab
	t      *testing.T
	sw     string // the switch namespace (bridge br0)
	etcd   *EtcdCluster
	nodeNS [3]string
	nodes  [3]*Ikegate
	key    string // state_key
	conns  []Conn // as ikegate sees them
}

// lanJoin connects namespace ns to the bridge with interface lan0 and addr.
func (c *clusterLab) lanJoin(ns, role, addr string) {
	t := c.t
	port := "v" + role
	MustRun(t, IPCmd, "link", "add", clusterIface, "netns", ns, "type", "veth", "peer", "name", port, "netns", c.sw)
	MustRun(t, IPCmd, "-n", c.sw, "link", "set", port, "master", "br0", "up")
	c.AddAddr(t, ns, clusterIface, addr)
	MustRun(t, IPCmd, "-n", ns, "link", "set", clusterIface, "up")
}

func newClusterLab(t *testing.T) *clusterLab {
	RequireLab(t)
	var b [3]byte
	rand.Read(b[:])
	c := &clusterLab{Lab: &Lab{ID: hex.EncodeToString(b[:])}, t: t}
	c.sw = c.NewNamespace(t, "sw")
	MustRun(t, IPCmd, "-n", c.sw, "link", "add", "br0", "type", "bridge")
	MustRun(t, IPCmd, "-n", c.sw, "link", "set", "br0", "up")
	ens := c.NewNamespace(t, "etcd")
	c.lanJoin(ens, "etcd", clusterEtcdIP+"/24")
	c.etcd = c.StartEtcd(t, ens, clusterEtcdIP, 3, true)
	for i := range c.nodeNS {
		role := fmt.Sprintf("n%d", i+1)
		c.nodeNS[i] = c.NewNamespace(t, role)
		c.lanJoin(c.nodeNS[i], role, clusterNodeAddr(i)+"/24")
		c.AddSubnet(t, c.nodeNS[i], "gs0", rightHost(0)+"/24")
	}
	var k [32]byte
	rand.Read(k[:])
	c.key = hex.EncodeToString(k[:])
	return c
}

// peerConn is the strongSwan side of the connection of peer i (1: IKEv1,
// 2: IKEv2).
func clusterPeerConn(version int) Conn {
	name := fmt.Sprintf("cl%d", version)
	ike, esp := swanTrafficSuite(version)
	return Conn{
		Name: name, Version: version,
		LocalAddr: fmt.Sprintf("10.200.0.%d", 100+version), RemoteAddr: clusterSvc,
		LocalID: "@peer-" + name + ".lab", RemoteID: "@cluster.lab",
		Auth: "psk", PSK: "cluster-" + name + "-0123456789abcdef",
		IKE: []string{ike}, ESP: []string{esp},
		LocalTS: []string{fmt.Sprintf("10.201.%d.0/24", version)}, RemoteTS: []string{rightSubnet(0)},
		// Liveness checks every 2 s, so that they reach the survivor.
		SwanExtra: "dpd_delay = 2s",
	}
}

// startNode starts ikegate node i (0-based) serving clusterSvc.
func (c *clusterLab) startNode(i int) *Ikegate {
	return c.startNodeWith(i, []string{clusterSvc + "/24"}, "")
}

// startNodeWith starts ikegate node i with service addresses svc and
// extra lines for [cluster].
func (c *clusterLab) startNodeWith(i int, svc []string, extra string) *Ikegate {
	gw := userspaceGateway(clusterNodeAddr(i))
	toml := IkegateTOML(gw, c.conns...)
	ca, _, _, cert, key := EtcdCerts(c.t)
	toml += fmt.Sprintf(`
[cluster]
node = "n%d"
etcd = [%s]
etcd_ca = %q
etcd_cert = %q
etcd_key = %q
service_addresses = ["%s"]
service_interface = %q
state_key = %q
lease_ttl = "2s"
%s

[[pool]]
name = "rapool"
addresses = ["10.99.0.0/24"]

[[user]]
name = "alice"
password = "alice-cluster-pw"
`, i+1, `"`+strings.Join(c.etcd.Endpoints, `", "`)+`"`, ca, cert, key, strings.Join(svc, `", "`), clusterIface, c.key, extra)
	g := c.StartIkegate(c.t, c.nodeNS[i], toml)
	c.nodes[i] = g
	return g
}

// clusterNode is one entry of `ikegate cluster --json`.
type clusterNode struct {
	Node      string   `json:"node"`
	Addresses []string `json:"addresses"`
	SAs       int      `json:"sas"`
	Lease     string   `json:"lease"`
	Self      bool     `json:"self"`
}

func clusterStatus(g *Ikegate) ([]clusterNode, error) {
	out, err := g.ctl("cluster", "--json")
	if err != nil {
		return nil, fmt.Errorf("ikegate cluster --json: %v: %s", err, out)
	}
	var ns []clusterNode
	if err := json.Unmarshal([]byte(out), &ns); err != nil {
		return nil, fmt.Errorf("ikegate cluster --json: %v: %q", err, out)
	}
	return ns, nil
}

// owner returns the node that owns the service address as g sees it.
func owner(g *Ikegate) string {
	ns, err := clusterStatus(g)
	if err != nil {
		return ""
	}
	for _, n := range ns {
		if slices.Contains(n.Addresses, clusterSvc+"/24") {
			return n.Node
		}
	}
	return ""
}

// macOf returns the MAC address of lan0 in ns.
func macOf(t *testing.T, ns string) string {
	out := MustRun(t, IPCmd, "-n", ns, "-o", "link", "show", clusterIface)
	m := regexp.MustCompile(`link/ether ([0-9a-f:]{17})`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no MAC in %q", out)
	}
	return m[1]
}

// peerLabel names peer v of TestClusterFailover.
func peerLabel(v int) string {
	switch v {
	case 3:
		return "IKEv2 remote-access client"
	case 4:
		return "IKEv1 XAUTH client"
	}
	return fmt.Sprintf("IKEv%d peer", v)
}

// swanSPIs is a peer's view: the IKE SA's SPIs and the installed CHILD
// SA's (strongSwan keeps an IKEv1 CHILD SA it rekeyed, REKEYED, until it
// expires).
func swanSPIs(s *Swan, name string) string {
	sa := s.IKESA(name)
	if sa == nil || sa.State != "ESTABLISHED" {
		return ""
	}
	var inst []SwanChildSA
	for _, c := range sa.Children {
		if c.State == "INSTALLED" {
			inst = append(inst, c)
		}
	}
	if len(inst) != 1 {
		return ""
	}
	return fmt.Sprintf("IKE %s/%s CHILD %s/%s", sa.InitSPI, sa.RespSPI, inst[0].SPIIn, inst[0].SPIOut)
}

// TestClusterFailover (issue 15): a strongSwan IKEv2 peer, an IKEv1 peer
// and an IKEv2 remote-access client (virtual IP from the cluster's pool)
// have tunnels to the service address, served by node 1 of three; etcd
// with TLS client certificates. Continuous pings through all three.
//
//   - kill -9 node 1: a survivor owns the address within a few seconds; the
//     peers keep their IKE and CHILD SAs with the same SPIs (their own
//     view), start no new negotiation, their liveness checks keep
//     succeeding, and a CHILD SA and IKE SA rekey afterwards succeeds
//     against the survivor; the ping gap and losses are reported;
//   - restart node 1: it joins without taking the address back;
//   - partition the owner from etcd: it stops serving before the next
//     owner starts (asserted from a capture on the LAN: no frame from
//     the service address by the old owner's MAC after the new owner's
//     first), and the tunnels live on.
func TestClusterFailover(t *testing.T) {
	t0 := time.Now()
	c := newClusterLab(t)
	peers := map[int]*Swan{}
	var pingers = map[int]*Pinger{}
	for _, v := range []int{2, 1} {
		pc := clusterPeerConn(v)
		gate := pc.Mirror()
		gate.LocalAddr = clusterSvc
		c.conns = append(c.conns, gate)
		ns := c.NewNamespace(t, fmt.Sprintf("p%d", v))
		c.lanJoin(ns, fmt.Sprintf("p%d", v), pc.LocalAddr+"/24")
		c.AddSubnet(t, ns, "sn0", fmt.Sprintf("10.201.%d.1/24", v))
		extra := ""
		if v == 1 {
			extra = v1SwanExtra
		}
		peers[v] = c.StartStrongSwan(t, ns, SwanConfig{Conns: []Conn{pc}, LibIPsec: true, Extra: extra})
	}
	// Peer 3: an IKEv2 remote-access client with a virtual IP from the
	// cluster's pool.
	{
		pc := clusterPeerConn(2)
		pc.Name, pc.LocalAddr, pc.LocalID, pc.LocalTS = "cl3", "10.200.0.103", "@peer-cl3.lab", nil
		pc.SwanExtra += "\nvips = 0.0.0.0"
		gate := pc.Mirror()
		gate.LocalAddr, gate.IkegateExtra = clusterSvc, `pool = "rapool"`
		c.conns = append(c.conns, gate)
		ns := c.NewNamespace(t, "p3")
		c.lanJoin(ns, "p3", pc.LocalAddr+"/24")
		peers[3] = c.StartStrongSwan(t, ns, SwanConfig{Conns: []Conn{pc}, LibIPsec: true})
	}
	// Peer 4: an IKEv1 remote-access client (Main Mode PSK + XAUTH, Mode
	// Config address from the pool), as a Cisco-style concentrator serves.
	{
		gate := Conn{Name: "cl4", Version: 1, LocalAddr: clusterSvc, RemoteAddr: "10.200.0.104",
			LocalID: "@cluster.lab", RemoteID: "@peer-cl4.lab", Auth: "psk", PSK: "cluster-cl4-0123456789abcdef",
			IKE: []string{"aes128-sha256-modp2048"}, ESP: []string{"aes128gcm16"}, LocalTS: []string{rightSubnet(0)},
			IkegateExtra: "xauth = \"local\"\npool = \"rapool\""}
		c.conns = append(c.conns, gate)
		ns := c.NewNamespace(t, "p4")
		c.lanJoin(ns, "p4", gate.RemoteAddr+"/24")
		swanctl := fmt.Sprintf(`connections {
  cl4 {
    version = 1
    local_addrs = %s
    remote_addrs = %s
    proposals = aes128-sha256-modp2048
    vips = 0.0.0.0
    dpd_delay = 2s
    local-1 {
      auth = psk
      id = @peer-cl4.lab
    }
    local-2 {
      auth = xauth
      xauth_id = alice
    }
    remote {
      auth = psk
      id = @cluster.lab
    }
    children {
      cl4 {
        remote_ts = %s
        esp_proposals = aes128gcm16
      }
    }
  }
}
secrets {
  ike-cl4 {
    id-1 = @peer-cl4.lab
    id-2 = @cluster.lab
    secret = %q
  }
  xauth-alice {
    id = alice
    secret = "alice-cluster-pw"
  }
}
`, gate.RemoteAddr, clusterSvc, rightSubnet(0), gate.PSK)
		peers[4] = c.StartStrongSwan(t, ns, SwanConfig{Swanctl: swanctl, LibIPsec: true, Plugins: raSwanPlugins(), Extra: v1SwanExtra})
	}
	vips := map[int]string{}

	// Node 1 first, so that it owns the address; then the others.
	c.startNode(0)
	if !WaitFor(t, 15*time.Second, func() bool { return owner(c.nodes[0]) == "n1" }) {
		out, _ := c.nodes[0].ctl("cluster")
		t.Fatalf("node 1 does not own %s: %s", clusterSvc, out)
	}
	c.startNode(1)
	c.startNode(2)
	logs := []string{peers[1].LogPath, peers[2].LogPath, peers[3].LogPath, peers[4].LogPath}
	for _, g := range c.nodes {
		logs = append(logs, g.LogPath)
	}
	keepLogs(t, logs...)

	spis := map[int]string{}
	for v, s := range peers {
		name := fmt.Sprintf("cl%d", v)
		if out, err := s.Initiate(name, 15); err != nil {
			t.Fatalf("swanctl --initiate %s: %v\n%s", name, err, out)
		}
		sa := waitSwanSA(t, s, name, 1, 10*time.Second)
		spis[v] = swanSPIs(s, name)
		src := fmt.Sprintf("10.201.%d.1", v)
		if v >= 3 {
			if len(sa.LocalVIPs) != 1 {
				t.Fatalf("%s: virtual IPs %v", peerLabel(v), sa.LocalVIPs)
			}
			src, vips[v] = sa.LocalVIPs[0], sa.LocalVIPs[0]
			spis[v] += " VIP " + vips[v]
		}
		pingers[v] = StartPinger(t, s.NS, src, rightHost(0), 100*time.Millisecond)
		t.Logf("peer %d: %s", v, spis[v])
	}
	time.Sleep(3 * time.Second) // pings flow; liveness checks answered by node 1
	for v, p := range pingers {
		if sent, got := p.Counts(); got < sent-5 {
			t.Fatalf("IKEv%d tunnel: %d of %d pings answered before the failover", v, got, sent)
		}
	}
	if n, _ := clusterStatus(c.nodes[1]); len(n) != 3 {
		t.Errorf("cluster --json lists %d nodes, want 3: %+v", len(n), n)
	}
	swanMark := map[int]logMark{}
	for v, s := range peers {
		swanMark[v] = markLog(s.LogPath)
	}

	// kill -9 node 1.
	tKill := time.Now()
	syscall.Kill(-c.nodes[0].Proc.Cmd.Process.Pid, syscall.SIGKILL)
	var survivor *Ikegate
	var took time.Duration
	if !WaitFor(t, 15*time.Second, func() bool {
		for _, i := range []int{1, 2} {
			if o := owner(c.nodes[i]); o == fmt.Sprintf("n%d", i+1) {
				survivor, took = c.nodes[i], time.Since(tKill)
				return true
			}
		}
		return false
	}) {
		t.Fatalf("no survivor owns %s 15 s after node 1 was killed", clusterSvc)
	}
	t.Logf("node 1 killed; %s owns %s after %v", survivor.NS, clusterSvc, took.Round(time.Millisecond))
	time.Sleep(8 * time.Second) // several liveness checks against the survivor
	tCheck := time.Now()
	for _, v := range []int{2, 1, 3, 4} {
		name := fmt.Sprintf("cl%d", v)
		view := swanSPIs(peers[v], name)
		if sa := peers[v].IKESA(name); v >= 3 && sa != nil && len(sa.LocalVIPs) == 1 {
			view += " VIP " + sa.LocalVIPs[0]
		}
		if view != spis[v] {
			out, _ := peers[v].Swanctl("--list-sas")
			t.Errorf("peer %d after the failover: %q, want the same SAs %q\n%s", v, view, spis[v], out)
		}
		since := swanMark[v].since()
		// A liveness check that met the outage is retransmitted (IKEv2)
		// and answered by the survivor; nothing starts again.
		for _, bad := range []string{"initiating IKE_SA", "initiating Main Mode", "deleting IKE_SA", "giving up after"} {
			if strings.Contains(since, bad) {
				t.Errorf("IKEv%d peer logged %q after the failover", v, bad)
			}
		}
		gap := pingers[v].MaxGap(tKill, tCheck)
		sent, got := pingers[v].Counts()
		t.Logf("%s: ping gap %v at the failover; %d of %d pings answered so far", peerLabel(v), gap.Round(time.Millisecond), got, sent)
		if gap > 6*time.Second {
			t.Errorf("%s: no ping answered for %v", peerLabel(v), gap)
		}
		gsa := survivor.SA(name)
		if gsa == nil || gsa.State != "ESTABLISHED" || len(gsa.Children) != 1 {
			t.Errorf("survivor %s has no established %s: %+v", survivor.NS, name, gsa)
		}
		// IKEv2: the survivor synchronised the message IDs (RFC 6311),
		// which strongSwan announced and answered.
		if (v == 2 || v == 3) && !strings.Contains(since, "responder requested MID sync") {
			t.Errorf("%s: strongSwan logged no RFC 6311 message-ID synchronisation", peerLabel(v))
		}
	}
	// The remote-access clients' addresses moved with them: the
	// survivor's pool holds them for the clients.
	for v, who := range map[int]string{3: "peer-cl3.lab", 4: "alice"} {
		if out, err := survivor.ctl("leases"); err != nil || !strings.Contains(out, vips[v]) || !strings.Contains(out, who) {
			t.Errorf("survivor's leases do not hold %s for %s: %v\n%s", vips[v], who, err, out)
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	// Rekeys against the survivor: CHILD SAs of both, the IKEv2 IKE SA.
	for _, r := range []struct {
		v    int
		args []string
	}{{2, []string{"--rekey", "--child", "cl2"}}, {2, []string{"--rekey", "--ike", "cl2"}}, {1, []string{"--rekey", "--child", "cl1"}}} {
		before := swanSPIs(peers[r.v], fmt.Sprintf("cl%d", r.v))
		if out, err := peers[r.v].Swanctl(r.args...); err != nil {
			t.Fatalf("swanctl %v: %v\n%s", r.args, err, out)
		}
		var now string
		if !WaitFor(t, 15*time.Second, func() bool {
			now = swanSPIs(peers[r.v], fmt.Sprintf("cl%d", r.v))
			return now != "" && now != before
		}) {
			out, _ := peers[r.v].Swanctl("--list-sas")
			t.Fatalf("swanctl %v against the survivor: SAs %q (were %q)\n%s", r.args, now, before, out)
		}
		t.Logf("swanctl %v: %s -> %s", r.args, before, now)
	}
	time.Sleep(2 * time.Second)
	for v, p := range pingers {
		if gap := p.MaxGap(tCheck, time.Now()); gap > 2*time.Second {
			t.Errorf("IKEv%d tunnel: ping gap %v during the rekeys", v, gap)
		}
	}

	// Node 1 comes back: it joins, the address stays where it is.
	c.nodes[0].Proc.Stop()
	c.startNode(0)
	survivorName := owner(survivor)
	time.Sleep(4 * time.Second)
	if o := owner(c.nodes[0]); o != survivorName {
		t.Errorf("after node 1 rejoined, %s is owned by %q (was %q)", clusterSvc, o, survivorName)
	}
	if n, _ := clusterStatus(c.nodes[0]); len(n) != 3 {
		t.Errorf("rejoined node 1 sees %d nodes: %+v", len(n), n)
	}

	// Partition the owner from etcd, with a capture on the LAN.
	oldOwner := survivor
	oldMAC := macOf(t, oldOwner.NS)
	// On the IKEv2 peer's switch port (a capture on the bridge itself
	// sees only what is flooded).
	capt := c.CaptureFiltered(t, c.sw, "vp2", "src host "+clusterSvc)
	tPart := time.Now()
	MustRun(t, IPCmd, "netns", "exec", oldOwner.NS, "nft", "add table inet clpart; add chain inet clpart out { type filter hook output priority 0; }; add rule inet clpart out ip daddr "+clusterEtcdIP+" drop")
	var next *Ikegate
	if !WaitFor(t, 20*time.Second, func() bool {
		for _, g := range c.nodes {
			if g == oldOwner {
				continue // cut off from etcd: it cannot say
			}
			if o := owner(g); o != "" && o != survivorName {
				var i int
				fmt.Sscanf(o, "n%d", &i)
				next = c.nodes[i-1]
				return true
			}
		}
		return false
	}) {
		t.Fatalf("nobody took %s over from the partitioned %s", clusterSvc, oldOwner.NS)
	}
	t.Logf("partitioned %s; %s owns %s after %v", oldOwner.NS, next.NS, clusterSvc, time.Since(tPart).Round(time.Millisecond))
	time.Sleep(6 * time.Second)
	pcap := capt.Stop()
	newMAC := macOf(t, next.NS)
	out, err := exec.Command(Tshark, "-r", pcap, "-T", "fields", "-e", "frame.number", "-e", "eth.src").CombinedOutput()
	if err != nil {
		t.Fatalf("tshark: %v: %s", err, out)
	}
	lastOld, firstNew, nOld, nNew := 0, 0, 0, 0
	byMAC := map[string]int{}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(l)
		if len(f) != 2 {
			continue
		}
		frame, mac := 0, f[1]
		fmt.Sscan(f[0], &frame)
		byMAC[mac]++
		switch mac {
		case oldMAC:
			lastOld, nOld = frame, nOld+1
		case newMAC:
			if firstNew == 0 {
				firstNew = frame
			}
			nNew++
		}
	}
	t.Logf("capture: %d frames from %s by the old owner %s (last #%d), %d by the new %s (first #%d); by MAC %v",
		nOld, clusterSvc, oldMAC, lastOld, nNew, newMAC, firstNew, byMAC)
	if nNew == 0 {
		t.Errorf("the new owner sent nothing from %s", clusterSvc)
	}
	if firstNew != 0 && lastOld > firstNew {
		t.Errorf("two owners answered: the old owner sent frame #%d after the new owner's first #%d", lastOld, firstNew)
	}
	if !strings.Contains(readFile(t, oldOwner.LogPath), "stopped serving") {
		t.Errorf("the partitioned node did not log that it stopped serving")
	}
	for _, v := range []int{2, 1} {
		name := fmt.Sprintf("cl%d", v)
		if swanSPIs(peers[v], name) == "" {
			t.Errorf("IKEv%d peer lost its SAs after the partition", v)
		}
		gap := pingers[v].MaxGap(tPart, time.Now())
		sent, got := pingers[v].Counts()
		t.Logf("IKEv%d tunnel: ping gap %v at the partition; %d of %d pings answered in all", v, gap.Round(time.Millisecond), got, sent)
		if gap > 8*time.Second {
			t.Errorf("IKEv%d tunnel: no ping answered for %v after the partition", v, gap)
		}
	}

	// A graceful stop of the owner (SIGTERM): it writes its last state,
	// gives the address up and revokes its lease, so the last node takes
	// over at once, and the peers keep their SAs.
	var last *Ikegate
	for _, g := range c.nodes {
		if g != oldOwner && g != next {
			last = g
		}
	}
	spisNow := map[int]string{1: swanSPIs(peers[1], "cl1"), 2: swanSPIs(peers[2], "cl2")}
	tStop := time.Now()
	next.Proc.Stop()
	stopped := time.Since(tStop)
	lastName := ""
	if !WaitFor(t, 10*time.Second, func() bool {
		lastName = owner(last)
		return lastName != "" && c.nodes[int(lastName[1]-'1')] == last
	}) {
		t.Fatalf("%s did not take over after %s stopped", last.NS, next.NS)
	}
	t.Logf("%s stopped in %v; %s owns %s %v after the stop began", next.NS, stopped.Round(time.Millisecond), last.NS, clusterSvc, time.Since(tStop).Round(time.Millisecond))
	time.Sleep(3 * time.Second)
	for _, v := range []int{2, 1} {
		if got := swanSPIs(peers[v], fmt.Sprintf("cl%d", v)); got != spisNow[v] {
			t.Errorf("IKEv%d peer after the graceful stop: %q, want %q", v, got, spisNow[v])
		}
		gap := pingers[v].MaxGap(tStop, time.Now())
		t.Logf("IKEv%d tunnel: ping gap %v at the graceful stop", v, gap.Round(time.Millisecond))
		if gap > 2*time.Second {
			t.Errorf("IKEv%d tunnel: no ping answered for %v at a graceful stop", v, gap)
		}
	}

	// Liveness checks against the last owner: strongSwan sends them when
	// the tunnel is idle, so the pings stop.
	for _, p := range pingers {
		p.Stop()
	}
	marks := map[int]logMark{1: markLog(peers[1].LogPath), 2: markLog(peers[2].LogPath)}
	time.Sleep(7 * time.Second)
	for v, want := range map[int]string{2: "parsed INFORMATIONAL response", 1: "N(DPD_ACK)"} {
		n := strings.Count(marks[v].since(), want)
		t.Logf("IKEv%d peer: %d liveness checks answered (%q) in 7 idle seconds", v, n, want)
		if n == 0 {
			t.Errorf("IKEv%d peer: no liveness check answered by the new owner", v)
		}
		if swanSPIs(peers[v], fmt.Sprintf("cl%d", v)) == "" {
			t.Errorf("IKEv%d peer: SAs gone", v)
		}
	}
	t.Logf("case took %v", time.Since(t0).Round(time.Millisecond))
}

// TestClusterRedirect (issue 15, spreading load): node 1 serves the entry
// address 10.200.0.2 with redirect_from, node 2 serves 10.200.0.3. Two
// strongSwan IKEv2 clients dial the entry address: the first is
// redirected (RFC 5685) to node 2, which has no more SAs than node 1, and
// comes up there; the second, right after and before node 2 publishes its
// new load, stays on node 1, which now has fewer.
func TestClusterRedirect(t *testing.T) {
	c := newClusterLab(t)
	const entry, other = clusterSvc, "10.200.0.3"
	svc := []string{entry + "/24", other + "/24"}
	peers := map[int]*Swan{}
	for _, v := range []int{1, 2} {
		pc := clusterPeerConn(2)
		pc.Name = fmt.Sprintf("rd%d", v)
		pc.LocalAddr = fmt.Sprintf("10.200.0.%d", 110+v)
		pc.LocalID = fmt.Sprintf("@rd%d.lab", v)
		pc.LocalTS = nil // its virtual IP
		pc.SwanExtra += "\nvips = 0.0.0.0"
		gate := pc.Mirror()
		gate.LocalAddr = "" // either service address
		gate.IkegateExtra = `pool = "rapool"`
		c.conns = append(c.conns, gate)
		ns := c.NewNamespace(t, fmt.Sprintf("rd%d", v))
		c.lanJoin(ns, fmt.Sprintf("rd%d", v), pc.LocalAddr+"/24")
		peers[v] = c.StartStrongSwan(t, ns, SwanConfig{Conns: []Conn{pc}, LibIPsec: true})
	}
	n1 := c.startNodeWith(0, svc, fmt.Sprintf("prefer = [%q]\nredirect_from = [%q]", entry, entry))
	n2 := c.startNodeWith(1, svc, fmt.Sprintf("prefer = [%q]", other))
	keepLogs(t, peers[1].LogPath, peers[2].LogPath, n1.LogPath, n2.LogPath)
	if !WaitFor(t, 15*time.Second, func() bool {
		ns, err := clusterStatus(n1)
		if err != nil {
			return false
		}
		owners := map[string]string{}
		for _, n := range ns {
			for _, a := range n.Addresses {
				owners[a] = n.Node
			}
		}
		return owners[entry+"/24"] == "n1" && owners[other+"/24"] == "n2"
	}) {
		out, _ := n1.ctl("cluster")
		t.Fatalf("want n1 serving %s and n2 serving %s: %s", entry, other, out)
	}
	time.Sleep(2500 * time.Millisecond) // n1's view of the load includes n2

	var vips []string
	for v, want := range []struct {
		gw     *Ikegate
		remote string
	}{{n2, other}, {n1, entry}} {
		v++ // clients 1 and 2, in order
		name := fmt.Sprintf("rd%d", v)
		if out, err := peers[v].Initiate(name, 15); err != nil {
			t.Fatalf("swanctl --initiate %s: %v\n%s", name, err, out)
		}
		sa := waitSwanSA(t, peers[v], name, 1, 10*time.Second)
		if sa.RemoteHost != want.remote {
			t.Errorf("client %d: IKE SA with %s, want %s", v, sa.RemoteHost, want.remote)
		}
		// Both nodes lease from the same pool, reserved in etcd: the
		// clients must get different addresses.
		if len(sa.LocalVIPs) != 1 {
			t.Fatalf("client %d: virtual IPs %v", v, sa.LocalVIPs)
		}
		for _, o := range vips {
			if o == sa.LocalVIPs[0] {
				t.Errorf("client %d got %s, which another node already gave to another client", v, o)
			}
		}
		vips = append(vips, sa.LocalVIPs[0])
		if g := want.gw.SA(name); g == nil || g.State != "ESTABLISHED" {
			t.Errorf("client %d: no established IKE SA on %s", v, want.gw.NS)
		}
		redirected := strings.Contains(readFile(t, peers[v].LogPath), "redirect")
		t.Logf("client %d: IKE SA with %s (strongSwan logged a redirect: %v)", v, sa.RemoteHost, redirected)
		if redirected != (v == 1) {
			t.Errorf("client %d: strongSwan redirect in its log: %v", v, redirected)
		}
	}
	st, err := n1.StatsJSON()
	if err != nil {
		t.Fatal(err)
	}
	if r := st["ikev2"].(map[string]any)["redirected"]; r != 1.0 {
		t.Errorf("n1 stats: redirected %v, want 1", r)
	}
	if n1.SA("rd1") != nil {
		t.Errorf("the redirected client has an SA on the entry node too")
	}
	t.Logf("virtual IPs: %v", vips)
	if out, err := n1.ctl("leases"); err != nil || !strings.Contains(out, "another cluster node") {
		t.Errorf("n1's leases do not show the address n2 holds: %v\n%s", err, out)
	}
}
