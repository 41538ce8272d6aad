package interop

// vpnc behind a NAT: two Cisco-style IKEv1 remote-access clients (vpnc,
// group PSK Aggressive Mode + XAUTH + Mode Config) in two namespaces
// behind one masquerading NAT router, so both reach ikegate from the same
// public address and differ only in their (NAT-chosen) source ports.
//
// Topology (vnatLab):
//
//	c1 192.168.50.11 lab0 --+
//	                        br0 192.168.50.1  nat  lab0 10.200.0.254 ---- lab0 10.200.0.2  gw  in0 10.2.0.1 ---- lab0 10.2.0.10  h
//	c2 192.168.50.12 lab0 --+    (masquerade out of lab0)                  ikegate (userspace)                  default via 10.2.0.1
//
// The clients have a default route via the NAT; the gateway has no route
// to 192.168.50.0/24 at all, so every packet it answers must go to the
// NAT's public address.

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	vnatPublic   = "10.200.0.254" // the NAT's outside address
	vnatInside   = "192.168.50.1"
	vnatInNet    = "192.168.50.0/24"
	vnatC1       = "192.168.50.11"
	vnatC2       = "192.168.50.12"
	vnatUser2    = "carol"
	vnatPassword = "carol-behind-nat-secret-77"
)

// vnatLab is the NAT topology above.
type vnatLab struct {
	*Lab
	GW, NAT, C1, C2, Host string
}

func newVNATLab(t *testing.T) *vnatLab {
	t.Helper()
	RequireLab(t)
	var b [3]byte
	r := time.Now().UnixNano()
	b[0], b[1], b[2] = byte(r), byte(r>>8), byte(r>>16)
	l := &vnatLab{Lab: &Lab{ID: fmt.Sprintf("%x", b[:])}}
	l.GW = l.NewNamespace(t, "gw")
	l.NAT = l.NewNamespace(t, "nat")
	l.C1 = l.NewNamespace(t, "c1")
	l.C2 = l.NewNamespace(t, "c2")
	l.Host = l.NewNamespace(t, "h")
	l.Right, l.Left = l.GW, l.NAT // for helpers that look at them

	// Public link: NAT outside <-> ikegate.
	l.Link(t, l.NAT, LabIface, vnatPublic+"/24", l.GW, LabIface, RightAddr+"/24")
	// Behind ikegate: the protected host.
	l.Link(t, l.GW, "in0", raGateInside+"/24", l.Host, LabIface, raHost+"/24")
	MustRun(t, IPCmd, "-n", l.Host, "route", "add", "default", "via", raGateInside)
	MustRun(t, IPCmd, "netns", "exec", l.GW, "sysctl", "-qw", "net.ipv4.ip_forward=1")

	// Inside: a bridge in the NAT namespace, one veth per client.
	MustRun(t, IPCmd, "-n", l.NAT, "link", "add", "br0", "type", "bridge")
	MustRun(t, IPCmd, "-n", l.NAT, "addr", "add", vnatInside+"/24", "dev", "br0")
	MustRun(t, IPCmd, "-n", l.NAT, "link", "set", "br0", "up")
	for _, c := range []struct{ ns, addr, port string }{{l.C1, vnatC1, "p1"}, {l.C2, vnatC2, "p2"}} {
		l.Link(t, c.ns, LabIface, c.addr+"/24", l.NAT, c.port, "")
		MustRun(t, IPCmd, "-n", l.NAT, "link", "set", c.port, "master", "br0")
		MustRun(t, IPCmd, "-n", c.ns, "route", "add", "default", "via", vnatInside)
	}
	MustRun(t, IPCmd, "netns", "exec", l.NAT, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	rules := fmt.Sprintf(`table ip nat {
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    oifname "%s" ip saddr %s masquerade
  }
}
`, LabIface, vnatInNet)
	f := filepath.Join(t.TempDir(), "nat.nft")
	writeFile(t, f, rules, 0o644)
	MustRun(t, IPCmd, "netns", "exec", l.NAT, "nft", "-f", f)
	return l
}

// vnatGateTOML is raGateTOML (Aggressive Mode, group as ID_KEY_ID) plus a
// second XAUTH user for the second client.
func vnatGateTOML() string {
	return raGateTOML(true, "keyid:"+raGroup) + fmt.Sprintf(`
[[user]]
name = %q
password = %q
`, vnatUser2, vnatPassword)
}

// vnatSA is one IKE SA of `ikegate sas --json` with the remote-access fields.
type vnatSA struct {
	Name      string         `json:"name"`
	Version   int            `json:"version"`
	State     string         `json:"state"`
	Local     string         `json:"local"`
	Remote    string         `json:"remote"`
	RemoteID  string         `json:"remote_id"`
	User      string         `json:"user"`
	VirtualIP string         `json:"virtual_ip"`
	Pool      string         `json:"pool"`
	Children  []IkegateChild `json:"children"`
}

func vnatSAs(g *Ikegate) ([]vnatSA, error) {
	out, err := g.ctl("sas", "--json")
	if err != nil {
		return nil, fmt.Errorf("ikegate sas --json: %v: %s", err, out)
	}
	s := strings.TrimSpace(out)
	if s == "" || s == "null" {
		return nil, nil
	}
	var sas []vnatSA
	if err := json.Unmarshal([]byte(s), &sas); err != nil {
		return nil, fmt.Errorf("ikegate sas --json: %v: %q", err, s)
	}
	return sas, nil
}

// vnatSettled: the IKEv1 SAs of the remote-access connection that are
// ESTABLISHED with one INSTALLED CHILD SA.
func vnatSettled(sas []vnatSA) []vnatSA {
	var out []vnatSA
	for _, sa := range sas {
		if sa.Name != raConn || sa.Version != 1 || sa.State != "ESTABLISHED" || len(sa.Children) != 1 ||
			sa.Children[0].State != "INSTALLED" {
			continue
		}
		out = append(out, sa)
	}
	return out
}

// vnatClient is one vpnc behind the NAT.
type vnatClient struct {
	name, ns, addr, user, password string
	v                              *VPNC
	connectTime                    time.Duration
	connErr                        error
	session                        *VPNCSession
}

// vnatPing sends n pings from the client's virtual IP to the host behind
// ikegate and returns an error unless all are answered.
func vnatPing(c *vnatClient, n int) (time.Duration, error) {
	t0 := time.Now()
	got, err := Ping(c.ns, c.session.Address.String(), raHost, n, 100*time.Millisecond, 3*time.Second)
	if err != nil || got != n {
		return time.Since(t0), fmt.Errorf("%s: ping %s -> %s through the tunnel: %d of %d replies (%v)",
			c.name, c.session.Address, raHost, got, n, err)
	}
	return time.Since(t0), nil
}

// TestVPNCBehindNAT: two vpnc clients (alice in c1, carol in c2) behind
// one masquerading NAT connect at the same time to ikegate's IKEv1
// remote-access connection. Both connect, get distinct virtual IPs, and
// ikegate holds two IKEv1 SAs from the NAT's public address with different
// ports on its NAT-T port 4500 (the wire shows IKE and ESP in UDP from
// both mappings); each client's 10 pings to the host behind ikegate are
// answered (concurrently); `ikegate leases` lists both users. Then c1's
// vpnc is stopped: its lease and SA go within 5 s (vpnc sends a DELETE)
// and c2's tunnel still carries traffic. No secret is in ikegate's log.
//
// It runs twice: "random-ports" (each vpnc binds a random local port, the
// harness default) and "port-500" (both bind UDP 500 and float to 4500, as
// a Cisco client does: the NAT must rewrite the second client's source
// port, so only the port tells the two apart at ikegate).
func TestVPNCBehindNAT(t *testing.T) {
	t.Parallel()
	t.Run("random-ports", func(t *testing.T) { vnatRun(t, 0, false) })
	t.Run("port-500", func(t *testing.T) { vnatRun(t, 500, false) })
	// One user on two devices (unique = "no", the default): each device
	// gets an address of its own, and both carry traffic.
	t.Run("same-user", func(t *testing.T) { vnatRun(t, 0, true) })
}

func vnatRun(t *testing.T, localPort int, sameUser bool) {
	t0 := time.Now()
	lab := newVNATLab(t)
	requireVPNC(t)
	capt := lab.Capture(t, lab.GW, LabIface) // public side: IKE and ESP-in-UDP
	g := lab.StartIkegate(t, lab.GW, vnatGateTOML())
	keepLogs(t, g.LogPath)

	clients := []*vnatClient{
		{name: "c1", ns: lab.C1, addr: vnatC1, user: raUser, password: raPassword},
		{name: "c2", ns: lab.C2, addr: vnatC2, user: vnatUser2, password: vnatPassword},
	}
	if sameUser {
		clients[1].user, clients[1].password = raUser, raPassword
	}
	// Start both at once; measure each one's connect time.
	var wg sync.WaitGroup
	for _, c := range clients {
		c.v = lab.StartVPNC(t, c.ns, VPNCConfig{
			Gateway: RightAddr, LocalAddr: c.addr, LocalPort: localPort,
			Group: raGroup, Secret: raGroupPSK, User: c.user, Password: c.password,
		})
		keepLogs(t, c.v.LogPath)
	}
	tStart := time.Now()
	for _, c := range clients {
		wg.Add(1)
		go func(c *vnatClient) {
			defer wg.Done()
			c.connErr = c.v.WaitConnected(30 * time.Second)
			c.connectTime = time.Since(tStart)
		}(c)
	}
	wg.Wait()

	// 1. Both connected, with distinct virtual IPs from the pool.
	pool := netip.MustParsePrefix(raPool)
	for _, c := range clients {
		if c.connErr != nil {
			t.Errorf("%s (%s, user %s): %v", c.name, c.addr, c.user, c.connErr)
			continue
		}
		t.Logf("%s (%s, user %s): vpnc connected in %v (started together)", c.name, c.addr, c.user, c.connectTime.Round(time.Millisecond))
		s, err := c.v.Session()
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if !s.Address.IsValid() || !pool.Contains(s.Address) || s.Address == pool.Addr() {
			t.Errorf("%s: INTERNAL_IP4_ADDRESS=%v, want a host address of %s", c.name, s.Address, raPool)
			continue
		}
		c.session = s
		t.Logf("%s: virtual IP %s, split include %v", c.name, s.Address, s.SplitInclude)
		if l, ok := v1Line(c.v.Log(), "NAT status"); ok {
			t.Logf("%s vpnc: %s", c.name, strings.TrimSpace(l))
		}
	}
	if clients[0].session == nil || clients[1].session == nil {
		t.Fatalf("not both clients are up with a virtual IP")
	}
	if clients[0].session.Address == clients[1].session.Address {
		t.Errorf("both clients got the same virtual IP %s", clients[0].session.Address)
	}

	// ikegate: two IKEv1 SAs from the NAT's public address, different
	// ports, on ikegate's NAT-T port.
	var settled []vnatSA
	var last []vnatSA
	if !WaitFor(t, 10*time.Second, func() bool {
		sas, err := vnatSAs(g)
		if err != nil {
			return false
		}
		last = sas
		settled = vnatSettled(sas)
		return len(settled) >= 2
	}) {
		t.Errorf("ikegate: %d settled IKEv1 SAs of %q within 10 s, want 2; sas: %+v", len(settled), raConn, last)
	}
	byVIP := map[string]vnatSA{} // by virtual IP: one user may have two devices
	ports := map[uint16]string{}
	for _, sa := range settled {
		c := sa.Children[0]
		t.Logf("ikegate: IKE SA v%d %s %s <-> %s, remote id %q, user %q, virtual IP %s; CHILD SA %s %s local_ts %v remote_ts %v",
			sa.Version, sa.State, sa.Local, sa.Remote, sa.RemoteID, sa.User, sa.VirtualIP, c.Name, c.State, c.LocalTS, c.RemoteTS)
		byVIP[sa.VirtualIP] = sa
		local, err1 := netip.ParseAddrPort(sa.Local)
		remote, err2 := netip.ParseAddrPort(sa.Remote)
		if err1 != nil || err2 != nil {
			t.Errorf("ikegate: IKE SA addresses %q <-> %q: %v %v", sa.Local, sa.Remote, err1, err2)
			continue
		}
		if remote.Addr().String() != vnatPublic {
			t.Errorf("ikegate: IKE SA of %q: peer %s, want the NAT's public address %s", sa.User, remote, vnatPublic)
		}
		if local.Port() != 4500 {
			t.Errorf("ikegate: IKE SA of %q: local %s, want port 4500 (NAT-T after NAT detection)", sa.User, local)
		}
		if remote.Port() == 500 {
			t.Errorf("ikegate: IKE SA of %q: peer %s still on port 500 (no float to NAT-T)", sa.User, remote)
		}
		if other, dup := ports[remote.Port()]; dup {
			t.Errorf("ikegate: IKE SAs of %q and %q share the peer port %d: two clients behind one NAT must differ by port",
				other, sa.User, remote.Port())
		}
		ports[remote.Port()] = sa.User
		if sa.RemoteID != "keyid:"+raGroup {
			t.Errorf("ikegate: IKE SA of %q: remote id %q, want keyid:%s", sa.User, sa.RemoteID, raGroup)
		}
	}
	for _, c := range clients {
		sa, ok := byVIP[c.session.Address.String()]
		if !ok {
			t.Errorf("ikegate: no settled IKE SA with %s's virtual IP %s; settled: %+v", c.name, c.session.Address, settled)
			continue
		}
		if sa.User != c.user {
			t.Errorf("ikegate: IKE SA with virtual IP %s: user %q, want %q", c.session.Address, sa.User, c.user)
		}
		want := netip.PrefixFrom(c.session.Address, 32).String()
		if rts := sa.Children[0].RemoteTS; len(rts) != 1 || rts[0] != want {
			t.Errorf("ikegate: CHILD SA of %q: remote_ts %v, want [%s]", c.user, rts, want)
		}
	}

	// 2. Both tunnels carry traffic at the same time: 10 pings each.
	var pwg sync.WaitGroup
	perr := make([]error, len(clients))
	ptime := make([]time.Duration, len(clients))
	for i, c := range clients {
		pwg.Add(1)
		go func(i int, c *vnatClient) {
			defer pwg.Done()
			ptime[i], perr[i] = vnatPing(c, 10)
		}(i, c)
	}
	pwg.Wait()
	for i, c := range clients {
		if perr[i] != nil {
			t.Error(perr[i])
		} else {
			t.Logf("%s: ping %s -> %s through the tunnel (concurrently with the other client): 10/10 replies in %v",
				c.name, c.session.Address, raHost, ptime[i].Round(time.Millisecond))
		}
	}
	if cs, err := g.TrafficChildren(); err == nil {
		for _, c := range cs {
			t.Logf("ikegate CHILD SA %s %s remote_ts %v: in %d packets, out %d packets, outside-TS drops %d, auth failures %d",
				c.Name, c.State, c.RemoteTS, c.InPackets, c.OutPackets, c.OutsideTSDrops, c.AuthFailures)
		}
	}

	// 3. ikegate leases lists both users with their addresses.
	leases := raLeases(t, g)
	t.Logf("ikegate leases --json: %+v", leases)
	for _, c := range clients {
		found := false
		for _, l := range leases {
			if l.Identity == c.user && l.Address == c.session.Address.String() {
				found = true
				if l.Pool != "rw" {
					t.Errorf("ikegate lease of %q: %+v, want %s from pool rw", c.user, l, c.session.Address)
				}
			}
		}
		if !found {
			t.Errorf("ikegate leases: no lease of %s for %q: %+v", c.session.Address, c.user, leases)
		}
	}
	if len(leases) != 2 {
		t.Errorf("ikegate leases: %d, want 2: %+v", len(leases), leases)
	}

	// 4. c1 disconnects (vpnc sends DELETEs on SIGTERM): its lease and SA
	// go within 5 s; c2's tunnel keeps working.
	c1, c2 := clients[0], clients[1]
	tStop := time.Now()
	c1.v.Proc.Stop()
	stopTook := time.Since(tStop)
	if _, err := c1.v.ScriptEnv("disconnect"); err != nil {
		t.Errorf("c1: vpnc's script was not called with reason=disconnect: %v", err)
	}
	var after []raLease
	released := WaitFor(t, 5*time.Second, func() bool {
		out, err := g.ctl("leases", "--json")
		if err != nil {
			return false
		}
		after = nil
		if s := strings.TrimSpace(out); s != "" && s != "null" {
			if json.Unmarshal([]byte(s), &after) != nil {
				return false
			}
		}
		for _, l := range after {
			if l.Identity == c1.user && l.Address == c1.session.Address.String() {
				return false
			}
		}
		return true
	})
	if released {
		t.Logf("c1: vpnc stopped in %v; %s's lease released %v after the stop began",
			stopTook.Round(time.Millisecond), c1.user, time.Since(tStop).Round(time.Millisecond))
	} else {
		t.Errorf("ikegate still leases to %q 5 s after its vpnc was stopped: %+v", c1.user, after)
	}
	var left []string
	if !WaitFor(t, 5*time.Second, func() bool {
		sas, err := vnatSAs(g)
		if err != nil {
			return false
		}
		left = nil
		for _, sa := range sas {
			if sa.Name == raConn {
				left = append(left, fmt.Sprintf("%s(%s %s)", sa.User, sa.Remote, sa.State))
			}
		}
		sort.Strings(left)
		return len(left) == 1 && strings.HasPrefix(left[0], c2.user+"(")
	}) {
		t.Errorf("ikegate: IKE SAs of %q 5 s after c1's vpnc stopped: %v, want only %s's", raConn, left, c2.user)
	}
	if l := after; released {
		if len(l) != 1 || l[0].Identity != c2.user || l[0].Address != c2.session.Address.String() {
			t.Errorf("ikegate leases after c1 left: %+v, want only %s's %s", l, c2.user, c2.session.Address)
		}
	}
	if d, err := vnatPing(c2, 10); err != nil {
		t.Errorf("after c1 disconnected: %v", err)
	} else {
		t.Logf("c2: after c1 disconnected, ping %s -> %s: 10/10 replies in %v", c2.session.Address, raHost, d.Round(time.Millisecond))
	}
	for _, l := range v1Lines(g.Log(), "delete") {
		t.Logf("ikegate: %s", v1Short(l, 300))
	}

	// The public wire: IKE and ESP from the NAT's address on two source
	// ports to ikegate's 4500.
	pkts, err := WirePackets(capt.Stop())
	if err != nil {
		t.Errorf("capture: %v", err)
	}
	type flow struct{ ike500, ike4500, esp, keepalive int }
	flows := map[string]*flow{}
	for _, p := range pkts {
		src, dst := p.Src, p.Dst
		if !strings.HasPrefix(src, vnatPublic+":") || !strings.HasPrefix(dst, RightAddr+":") {
			continue
		}
		f := flows[src]
		if f == nil {
			f = &flow{}
			flows[src] = f
		}
		switch {
		case dst == RightAddr+":500":
			f.ike500++
		case p.Keepalive:
			f.keepalive++
		case dst == RightAddr+":4500" && p.IKE:
			f.ike4500++
		case dst == RightAddr+":4500":
			f.esp++
		}
	}
	var espSources []string
	for src, f := range flows {
		t.Logf("wire (public side) %s -> ikegate: IKE/500 %d, IKE/4500 %d, ESP-in-UDP %d, keepalives %d", src, f.ike500, f.ike4500, f.esp, f.keepalive)
		if f.esp > 0 {
			espSources = append(espSources, src)
		}
	}
	if len(espSources) != 2 {
		t.Errorf("wire: ESP in UDP to %s:4500 from %d source(s) %v, want 2 (one NAT mapping per client)", RightAddr, len(espSources), espSources)
	}
	for _, p := range pkts {
		if strings.HasPrefix(p.Src, "192.168.") || strings.HasPrefix(p.Dst, "192.168.") {
			t.Errorf("wire (public side): a private address leaked past the NAT: %s -> %s", p.Src, p.Dst)
			break
		}
	}

	// 5. No secret in ikegate's log.
	raCheckSecrets(t, g, raGroupPSK, raPassword, vnatPassword)
	t.Logf("test took %v", time.Since(t0).Round(time.Millisecond))
}

// vnatConnect starts vpnc for c (from namespace c.ns, address c.addr),
// waits until it is connected and records its session; pfs is vpnc's
// "Perfect Forward Secrecy" ("": its default).
func vnatConnect(t *testing.T, lab *vnatLab, c *vnatClient, pfs string) {
	t.Helper()
	c.v = lab.StartVPNC(t, c.ns, VPNCConfig{Gateway: RightAddr, LocalAddr: c.addr, PFS: pfs,
		Group: raGroup, Secret: raGroupPSK, User: c.user, Password: c.password})
	keepLogs(t, c.v.LogPath)
	if err := c.v.WaitConnected(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	var err error
	if c.session, err = c.v.Session(); err != nil {
		t.Fatalf("%s: %v", c.name, err)
	}
}

// TestVPNCPoolExhausted: a pool of one address. The first vpnc client gets
// it; the second one (another user) is refused an address: vpnc does not
// come up, ikegate's log names the pool and says it is exhausted, no
// address is handed out twice, and the first client's tunnel keeps
// working.
func TestVPNCPoolExhausted(t *testing.T) {
	t.Parallel()
	lab := newVNATLab(t)
	requireVPNC(t)
	const only = "10.9.0.7"
	toml := strings.Replace(vnatGateTOML(), fmt.Sprintf("addresses = [%q]", raPool), fmt.Sprintf("addresses = [%q]", only), 1)
	if !strings.Contains(toml, only) {
		t.Fatal("harness: could not shrink the pool")
	}
	g := lab.StartIkegate(t, lab.GW, toml)
	keepLogs(t, g.LogPath)
	first := &vnatClient{name: "c1", ns: lab.C1, addr: vnatC1, user: raUser, password: raPassword}
	vnatConnect(t, lab, first, "")
	if first.session.Address.String() != only {
		t.Fatalf("c1: address %v; want the pool's only address %s", first.session.Address, only)
	}
	mark := v1MarkLog(g.LogPath)
	second := lab.StartVPNC(t, lab.C2, VPNCConfig{Gateway: RightAddr, LocalAddr: vnatC2,
		Group: raGroup, Secret: raGroupPSK, User: vnatUser2, Password: vnatPassword})
	keepLogs(t, second.LogPath)
	if err := second.WaitConnected(15 * time.Second); err == nil {
		env, _ := second.ScriptEnv("connect")
		t.Fatalf("c2 came up with the one-address pool taken: %v", env)
	}
	line := v1WaitLine(t, "ikegate", mark, 5*time.Second, "no address for the client", vnatUser2)
	if !strings.Contains(line, `"rw"`) || !strings.Contains(line, "exhausted") {
		t.Errorf("ikegate's line for the refused client does not name the pool and say it is exhausted: %s", line)
	} else {
		t.Logf("ikegate: %s", v1Short(line, 400))
	}
	leases := raLeases(t, g)
	if len(leases) != 1 || leases[0].Identity != raUser || leases[0].Address != only {
		t.Errorf("ikegate leases: %+v, want only %s's %s", leases, raUser, only)
	}
	if d, err := vnatPing(first, 5); err != nil {
		t.Errorf("c1 after c2 was refused: %v", err)
	} else {
		t.Logf("c1: ping through the tunnel after c2 was refused: 5/5 in %v", d.Round(time.Millisecond))
	}
}

// TestVPNCPFSGroup: with pfs_group on the pool, ikegate tells vpnc to use
// PFS (Cisco Unity's PFS attribute) and accepts only Quick Modes with that
// DH group. Fact: vpnc's default ("Perfect Forward Secrecy server") then
// uses MODP-1024 whatever the IKE group; ikegate refuses it with a line
// naming the group it requires, and vpnc set to dh14 gets its phase 2 SA
// with MODP-2048, which carries traffic.
func TestVPNCPFSGroup(t *testing.T) {
	t.Parallel()
	lab := newVNATLab(t)
	requireVPNC(t)
	toml := vnatGateTOML()
	for _, r := range [][2]string{
		{`esp = ["aes256-sha1"]`, `esp = ["aes256-sha1-modp2048", "aes256-sha1"]`},
		{"[[pool]]\nname = \"rw\"\n", "[[pool]]\nname = \"rw\"\npfs_group = \"modp2048\"\n"},
	} {
		if !strings.Contains(toml, r[0]) {
			t.Fatalf("harness: %q not in the config", r[0])
		}
		toml = strings.Replace(toml, r[0], r[1], 1)
	}
	g := lab.StartIkegate(t, lab.GW, toml)
	keepLogs(t, g.LogPath)
	// vpnc's default follows the server's PFS flag with MODP-1024: refused.
	mark := v1MarkLog(g.LogPath)
	def := lab.StartVPNC(t, lab.C2, VPNCConfig{Gateway: RightAddr, LocalAddr: vnatC2,
		Group: raGroup, Secret: raGroupPSK, User: vnatUser2, Password: vnatPassword})
	keepLogs(t, def.LogPath)
	if err := def.WaitConnected(10 * time.Second); err == nil {
		t.Error("vpnc with PFS MODP-1024 came up although pfs_group is modp2048")
	}
	if l := v1WaitLine(t, "ikegate", mark, 5*time.Second, "requires PFS with MODP_2048"); l != "" {
		t.Logf("ikegate: %s", v1Short(l, 300))
	}
	def.Proc.Stop()

	c := &vnatClient{name: "c1", ns: lab.C1, addr: vnatC1, user: raUser, password: raPassword}
	vnatConnect(t, lab, c, "dh14")
	cs, err := g.TrafficChildren()
	if err != nil || len(cs) != 1 {
		t.Fatalf("ikegate CHILD SAs: %+v, %v; want one", cs, err)
	}
	if !strings.Contains(cs[0].ESPProposal, "MODP_2048") {
		t.Errorf("vpnc's phase 2 SA: %s, want PFS with MODP_2048 (pfs_group)", cs[0].ESPProposal)
	} else {
		t.Logf("vpnc's phase 2 SA: %s", cs[0].ESPProposal)
	}
	if d, err := vnatPing(c, 5); err != nil {
		t.Error(err)
	} else {
		t.Logf("ping through the tunnel: 5/5 in %v", d.Round(time.Millisecond))
	}
}

// TestVPNCIdleTimeout: idle_timeout = "1m" on the pool. vpnc connects and
// pings; then its tunnel carries nothing, and within the timeout plus a
// tenth ikegate disconnects it (log line naming the user) and releases its
// address.
func TestVPNCIdleTimeout(t *testing.T) {
	t.Parallel()
	lab := newVNATLab(t)
	requireVPNC(t)
	toml := strings.Replace(vnatGateTOML(), "[[pool]]\nname = \"rw\"\n", "[[pool]]\nname = \"rw\"\nidle_timeout = \"1m\"\n", 1)
	if !strings.Contains(toml, "idle_timeout") {
		t.Fatal("harness: could not set idle_timeout")
	}
	g := lab.StartIkegate(t, lab.GW, toml)
	keepLogs(t, g.LogPath)
	c := &vnatClient{name: "c1", ns: lab.C1, addr: vnatC1, user: raUser, password: raPassword}
	vnatConnect(t, lab, c, "")
	mark := v1MarkLog(g.LogPath)
	if _, err := vnatPing(c, 3); err != nil {
		t.Fatal(err)
	}
	quiet := time.Now()
	stop := make(chan struct{})
	defer close(stop)
	go func() { // what the tunnel carries meanwhile, for the record
		for {
			select {
			case <-stop:
				return
			case <-time.After(15 * time.Second):
			}
			if cs, err := g.TrafficChildren(); err == nil {
				for _, ch := range cs {
					t.Logf("+%v: CHILD SA in %d packets, out %d, outside-TS drops %d", time.Since(quiet).Round(time.Second),
						ch.InPackets, ch.OutPackets, ch.OutsideTSDrops)
				}
			}
		}
	}()
	line := v1WaitLine(t, "ikegate", mark, 80*time.Second, "remote-access client idle: disconnecting", raUser)
	took := time.Since(quiet)
	if line == "" {
		t.Fatalf("no idle disconnect within 80 s of the last ping (idle_timeout 1m)")
	}
	if took < 55*time.Second || took > 75*time.Second {
		t.Errorf("disconnected %v after the last ping; want the 1m idle_timeout (plus up to a tenth)", took.Round(time.Second))
	}
	t.Logf("ikegate, %v after the last ping: %s", took.Round(time.Second), v1Short(line, 300))
	if !WaitFor(t, 5*time.Second, func() bool { return len(raLeases(t, g)) == 0 }) {
		t.Errorf("lease still held after the idle disconnect: %+v", raLeases(t, g))
	}
}
