package interop

// IKEv1 remote access ("Remote access part 1"): ikegate as the gateway of
// Cisco-style clients, XAUTH (user name and password after phase 1) and
// Mode Config pull (the client asks for an address, DNS, domain, banner,
// split networks), the client's Quick Mode for its virtual address, and
// traffic from that address to a host behind the gateway.
//
// Topology (raLab):
//
//	client (Left)            gateway (Right)                       host (h)
//	10.200.0.1 lab0 ---- lab0 10.200.0.2  in0 10.2.0.1/24 ---- lab0 10.2.0.10
//	virtual IP from          ikegate, dataplane "userspace",      default route
//	10.9.0.0/24              ip_forward = 1                       via 10.2.0.1

import (
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

const (
	raNet        = "10.2.0.0/24" // the network behind the gateway
	raGateInside = "10.2.0.1"
	raHost       = "10.2.0.10" // a host on it (its own namespace)
	raPool       = "10.9.0.0/24"
	raDNS        = "10.2.0.53"
	raNBNS       = "10.2.0.54"
	raDomain     = "corp.lab"
	raBanner     = "ikegate interop concentrator.\nAuthorised users only."
	raGroup      = "vpngroup"
	raGroupPSK   = "ra-group-secret-0123456789"
	raUser       = "alice"
	raPassword   = "alice-secret"
	raGateID     = "@vpn.lab"
	raConn       = "rw"
)

// raLab is the standard lab plus a host namespace behind ikegate.
type raLab struct {
	*Lab
	Host string
}

func newRALab(t *testing.T) *raLab {
	t.Helper()
	l := &raLab{Lab: NewLab(t)}
	l.Host = l.NewNamespace(t, "h")
	l.Link(t, l.Right, "in0", raGateInside+"/24", l.Host, LabIface, raHost+"/24")
	MustRun(t, IPCmd, "-n", l.Host, "route", "add", "default", "via", raGateInside)
	MustRun(t, IPCmd, "netns", "exec", l.Right, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	return l
}

// raGateTOML is ikegate's remote-access configuration: one IKEv1
// connection from %any with the group PSK, XAUTH against the local users,
// addresses and attributes from pool "rw". local_ts is 0.0.0.0/0: vpnc's
// Quick Mode proposes its virtual IP/32 === 0.0.0.0/0.
func raGateTOML(aggressive bool, remoteID string) string {
	c := Conn{Name: raConn, Version: 1, Aggressive: aggressive,
		LocalAddr: RightAddr, RemoteAddr: "%any",
		LocalID: raGateID, RemoteID: remoteID,
		Auth: "psk", PSK: raGroupPSK,
		IKE: []string{"aes256-sha1-modp2048"}, ESP: []string{"aes256-sha1"},
		LocalTS: []string{"0.0.0.0/0"},
	}
	toml := IkegateTOML(userspaceGateway(RightAddr), c)
	toml = PatchIkegateTOML(toml, nil, raConn, []string{`xauth = "local"`, `pool = "rw"`})
	return toml + fmt.Sprintf(`
[[pool]]
name = "rw"
addresses = [%q]
dns = [%q]
nbns = [%q]
domain = %q
split_dns = [%q]
split_include = [%q]
banner = %s

[[user]]
name = %q
password = %q

[[user]]
name = "bob"
password = "bob-secret-not-used"
`, raPool, raDNS, raNBNS, raDomain, raDomain, raNet, strconv.Quote(raBanner), raUser, raPassword)
}

// raCheckSecrets fails if a secret appears in ikegate's log.
func raCheckSecrets(t *testing.T, g *Ikegate, secrets ...string) {
	t.Helper()
	log := g.Log()
	for _, s := range secrets {
		if n := strings.Count(log, s); n > 0 {
			t.Errorf("ikegate's log contains the secret %q %d times, e.g.: %s", s, n, v1Short(strings.TrimSpace(lineWith(log, s)), 400))
		}
	}
}

func lineWith(log, sub string) string {
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, sub) {
			return l
		}
	}
	return ""
}

// raGateChild waits for ikegate's IKEv1 SA of the remote-access connection
// with one settled CHILD SA and checks it: INSTALLED, remote_ts the
// client's virtual IP/32.
func raGateChild(t *testing.T, g *Ikegate, vip netip.Addr) (*v1GateSA, bool) {
	t.Helper()
	sa := v1WaitGate(t, g, raConn, 10*time.Second, v1Settled(1))
	t.Logf("ikegate: IKE SA %s v%d %s %s <-> %s, remote id %q, peer vendor %q, %d CHILD SA(s)",
		sa.Name, sa.Version, sa.State, sa.Local, sa.Remote, sa.RemoteID, sa.PeerVendor, len(sa.Children))
	ok := true
	if sa.Version != 1 {
		t.Errorf("ikegate: IKE SA version %d, want 1", sa.Version)
		ok = false
	}
	if len(sa.Children) != 1 {
		t.Errorf("ikegate: %d CHILD SAs, want 1: %+v", len(sa.Children), sa.Children)
		return sa, false
	}
	c := sa.Children[0]
	t.Logf("ikegate: CHILD SA %s %s %s local_ts %v remote_ts %v in %s out %s %s",
		c.Name, c.State, c.ESPProposal, c.LocalTS, c.RemoteTS, c.SPIIn, c.SPIOut, c.Error)
	if c.State != "INSTALLED" {
		t.Errorf("ikegate: CHILD SA state %s (%s), want INSTALLED", c.State, c.Error)
		ok = false
	}
	want := netip.PrefixFrom(vip, 32).String()
	if len(c.RemoteTS) != 1 || c.RemoteTS[0] != want {
		t.Errorf("ikegate: CHILD SA remote_ts %v, want [%s] (the client's virtual IP)", c.RemoteTS, want)
		ok = false
	}
	return sa, ok
}

// raPing pings the host behind the gateway from the client's virtual IP.
func raPing(t *testing.T, ns string, vip netip.Addr) {
	t.Helper()
	const n = 3
	t0 := time.Now()
	got, err := Ping(ns, vip.String(), raHost, n, 200*time.Millisecond, 3*time.Second)
	if err != nil || got != n {
		t.Errorf("ping %s -> %s through the tunnel: %d of %d replies (%v)", vip, raHost, got, n, err)
		return
	}
	t.Logf("ping %s -> %s through the tunnel: %d/%d replies in %v", vip, raHost, got, n, time.Since(t0).Round(time.Millisecond))
}

// TestVPNCXAuthModeConfig: vpnc (Aggressive Mode, group "vpngroup" as
// ID_KEY_ID, group PSK, XAUTH alice) against ikegate's remote-access
// connection. vpnc connects; its script is handed the address from the
// pool, DNS, NBNS, the default domain, the banner and the split-include
// network; ikegate holds one IKEv1 SA whose one CHILD SA's remote selector
// is the virtual IP/32; a ping from the virtual IP reaches the host behind
// the gateway (vpnc does ESP itself, ikegate in userspace). Then vpnc is
// stopped (its SAs go on both sides), and a second vpnc with a wrong
// password is refused: vpnc reports the failure, ikegate logs an XAUTH
// failure naming the user, and no password or PSK is ever in ikegate's log.
func TestVPNCXAuthModeConfig(t *testing.T) {
	t.Parallel()
	t0 := time.Now()
	lab := newRALab(t)
	requireVPNC(t)
	capt := lab.CaptureFiltered(t, lab.Left, LabIface, TrafficCaptureFilter)
	g := lab.StartIkegate(t, lab.Right, raGateTOML(true, "keyid:"+raGroup))
	keepLogs(t, g.LogPath)
	wrong := "wrong-password-for-alice"

	t.Run("connect", func(t *testing.T) {
		v := lab.StartVPNC(t, lab.Left, VPNCConfig{
			Gateway: RightAddr, LocalAddr: LeftAddr,
			Group: raGroup, Secret: raGroupPSK, User: raUser, Password: raPassword,
		})
		keepLogs(t, v.LogPath)
		tUp := time.Now()
		if err := v.WaitConnected(25 * time.Second); err != nil {
			t.Fatal(err)
		}
		t.Logf("vpnc connected in %v", time.Since(tUp).Round(time.Millisecond))

		s, err := v.Session()
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("vpnc handed its script (reason=connect):\n%s", s)
		pool := netip.MustParsePrefix(raPool)
		if !s.Address.IsValid() || !pool.Contains(s.Address) ||
			s.Address == pool.Addr() || s.Address == netip.MustParseAddr("10.9.0.255") {
			t.Errorf("INTERNAL_IP4_ADDRESS=%v: want a host address of %s", s.Address, raPool)
		}
		if s.Netmask != "" && s.Netmask != "255.255.255.255" {
			t.Errorf("INTERNAL_IP4_NETMASK=%q, want 255.255.255.255 (or none)", s.Netmask)
		}
		if strings.Join(s.DNS, " ") != raDNS {
			t.Errorf("INTERNAL_IP4_DNS=%q, want %q", s.DNS, raDNS)
		}
		if strings.Join(s.NBNS, " ") != raNBNS {
			t.Errorf("INTERNAL_IP4_NBNS=%q, want %q", s.NBNS, raNBNS)
		}
		if s.DefDomain != raDomain {
			t.Errorf("CISCO_DEF_DOMAIN=%q, want %q", s.DefDomain, raDomain)
		}
		if s.SplitDNS != raDomain {
			t.Errorf("CISCO_SPLIT_DNS=%q, want %q", s.SplitDNS, raDomain)
		}
		if strings.TrimRight(s.Banner, "\n\x00") != raBanner {
			t.Errorf("CISCO_BANNER=%q, want %q", s.Banner, raBanner)
		}
		if len(s.SplitInclude) != 1 || s.SplitInclude[0].String() != raNet {
			t.Errorf("split include %v, want [%s]", s.SplitInclude, raNet)
		}
		if s.Gateway != RightAddr {
			t.Errorf("VPNGATEWAY=%q, want %s", s.Gateway, RightAddr)
		}
		if !s.Address.IsValid() {
			t.FailNow()
		}

		sa, _ := raGateChild(t, g, s.Address)
		if sa.RemoteID != "keyid:"+raGroup {
			t.Errorf("ikegate: remote id %q, want keyid:%s (the group name as ID_KEY_ID)", sa.RemoteID, raGroup)
		}
		v1WaitLine(t, "ikegate", v1Mark{path: g.LogPath}, 2*time.Second, "XAUTH", "authenticated", raUser)
		v1WaitLine(t, "ikegate", v1Mark{path: g.LogPath}, 2*time.Second, "virtual IP assigned", s.Address.String())
		raPing(t, lab.Left, s.Address)
		if c := gateChild(g, raConn); c != nil {
			t.Logf("ikegate CHILD SA counters: in %d packets, out %d packets, outside-TS drops %d, auth failures %d",
				c.InPackets, c.OutPackets, c.OutsideTSDrops, c.AuthFailures)
		}
		// Whatever else vpnc sent into the tunnel (it forwards all its TUN
		// device reads, IPv6 included), as ikegate's dataplane saw it.
		for _, l := range v1Lines(g.Log(), "outside the traffic selectors") {
			t.Logf("ikegate: %s", v1Short(l, 300))
		}
		for _, l := range v1Lines(g.Log(), "CHILD SA installed") {
			t.Logf("ikegate: %s", v1Short(l, 300))
		}
		for _, l := range v1Lines(g.Log(), "ESP for unknown SPI") {
			t.Logf("ikegate: %s", v1Short(l, 300))
		}

		// vpnc ends with DELETEs for its IPsec SA and its ISAKMP SA and
		// calls its script with reason=disconnect.
		v.Proc.Stop()
		if _, err := v.ScriptEnv("disconnect"); err != nil {
			t.Errorf("vpnc's script was not called with reason=disconnect: %v", err)
		}
		v1WaitNoGate(t, g, raConn, 5*time.Second)
	})

	t.Run("wrong-password", func(t *testing.T) {
		// A second client address: nothing of the first client's state
		// can answer for this one.
		const addr = "10.200.0.3"
		MustRun(t, IPCmd, "-n", lab.Left, "addr", "add", addr+"/24", "dev", LabIface)
		mark := v1MarkLog(g.LogPath)
		raWrongPassword(t, lab.Lab, g, lab.Left, addr, wrong, mark)
	})

	raCheckSecrets(t, g, raPassword, wrong, raGroupPSK)
	pkts := CheckDissection(t, capt.Stop())
	raLogExchanges(t, pkts)
	t.Logf("test took %v", time.Since(t0).Round(time.Millisecond))
}

// raLogExchanges logs the IKEv1 exchanges seen on the client's link.
func raLogExchanges(t *testing.T, pkts []IKEPacket) {
	t.Helper()
	var b strings.Builder
	count := map[int]int{}
	for _, p := range pkts {
		count[p.ExchangeType]++
	}
	for _, x := range []struct {
		n    int
		name string
	}{{v1XMain, "Main"}, {v1XAggressive, "Aggressive"}, {v1XInformational, "Informational"}, {6, "Transaction"}, {v1XQuick, "Quick"}} {
		fmt.Fprintf(&b, " %s %d", x.name, count[x.n])
	}
	t.Logf("wire (client's link), IKE messages by exchange:%s", b.String())
}

// raSwanPlugins: the default plugins plus the IKEv1 XAUTH client
// (xauth-generic) and Cisco Unity (split include, banner); kernel-libipsec
// is added by SwanConfig.LibIPsec.
func raSwanPlugins() []string {
	return append(append([]string(nil), DefaultSwanPlugins...), "xauth-generic", "unity")
}

// Facts (strongSwan 5.9.8 as an IKEv1 XAUTH client, seen here): it answers
// the gateway's XAUTH REQUEST (CPRQ X_TYPE X_USER X_PWD) from the secrets
// entry whose id is xauth_id, then pulls Mode Config with CPRQ(ADDR
// U_SPLITINC U_LOCALLAN) and puts the virtual IP on ipsec0 (kernel-libipsec).
// With the unity plugin and a peer that sent the Cisco Unity vendor ID, its
// Quick Mode proposes 0.0.0.0/0 as the gateway's side (what Cisco gateways
// expect) and it narrows its own CHILD SA to the split-include networks
// afterwards ("narrowed CHILD_SA to UNITY_SPLIT_INCLUDE 10.2.0.0/24"): so
// ikegate's CHILD SA has local_ts 0.0.0.0/0 while strongSwan's remote-ts is
// 10.2.0.0/24.

// TestStrongSwanXAuthClient: strongSwan 5.9.8 (kernel-libipsec) as an
// IKEv1 Main Mode client with the group PSK and XAUTH as alice, asking for
// a virtual IP (vips = 0.0.0.0, Mode Config pull), with remote_ts the
// network behind ikegate. The IKE SA is ESTABLISHED, the CHILD SA
// INSTALLED with local_ts the virtual IP/32 on strongSwan's side and
// remote_ts the same on ikegate's, and a ping from the virtual IP reaches
// the host behind the gateway.
func TestStrongSwanXAuthClient(t *testing.T) {
	t.Parallel()
	t0 := time.Now()
	lab := newRALab(t)
	for _, p := range []string{"xauth-generic", "unity", "kernel-libipsec"} {
		requirePlugin(t, p)
	}
	capt := lab.CaptureFiltered(t, lab.Left, LabIface, TrafficCaptureFilter)
	g := lab.StartIkegate(t, lab.Right, raGateTOML(false, "%any"))
	swanctl := raMoreSwanctl(raSwanSpec{vips: "0.0.0.0", pull: true, remoteTS: raNet,
		ike: "aes256-sha1-modp2048", esp: "aes256-sha1",
		local1:  "auth = psk\nid = @client.lab",
		remote:  "auth = psk\nid = " + raGateID,
		secrets: fmt.Sprintf("ike-group {\n  id-1 = %s\n  secret = %q\n}", raGateID, raGroupPSK)})
	swan := lab.StartStrongSwan(t, lab.Left, SwanConfig{
		Swanctl: swanctl, LibIPsec: true, Plugins: raSwanPlugins(), Extra: v1SwanExtra,
	})
	keepLogs(t, swan.LogPath, g.LogPath)

	tUp := time.Now()
	if out, err := swan.Initiate(raConn, 20); err != nil {
		t.Errorf("swanctl --initiate --child %s: %v\n%s", raConn, err, out)
	}
	pool := netip.MustParsePrefix(raPool)
	ssa, vip := raMoreSwanChild(t, swan, pool.Contains, 32, raNet)
	t.Logf("strongSwan up in %v", time.Since(tUp).Round(time.Millisecond))
	if l, ok := v1Line(swan.Log(), "installing new virtual IP"); ok {
		t.Logf("strongSwan: %s", l)
	}
	if l, ok := v1Line(swan.Log(), "XAuth authentication of"); ok {
		t.Logf("strongSwan: %s", l)
	}

	gsa, _ := raGateChild(t, g, vip)
	if gi, gr := v1Cookies(gsa); !strings.EqualFold(gi, ssa.InitSPI) || !strings.EqualFold(gr, ssa.RespSPI) {
		t.Errorf("cookies differ: ikegate %s/%s, strongSwan %s/%s", gi, gr, ssa.InitSPI, ssa.RespSPI)
	}
	v1WaitLine(t, "ikegate", v1Mark{path: g.LogPath}, 2*time.Second, "XAUTH", "authenticated", raUser)
	raPing(t, lab.Left, vip)

	raCheckSecrets(t, g, raPassword, raGroupPSK)
	pkts := CheckDissection(t, capt.Stop())
	raLogExchanges(t, pkts)
	t.Logf("test took %v", time.Since(t0).Round(time.Millisecond))
}

// raWrongPassword runs vpnc from addr in ns with a wrong XAUTH password
// and checks that it is refused: vpnc does not connect (nor call its
// script with reason=connect), ikegate logs the XAUTH failure naming the
// user (after mark), and no CHILD SA of raConn exists for it.
func raWrongPassword(t *testing.T, lab *Lab, g *Ikegate, ns, addr, wrong string, mark v1Mark) {
	t.Helper()
	v := lab.StartVPNC(t, ns, VPNCConfig{
		Gateway: RightAddr, LocalAddr: addr,
		Group: raGroup, Secret: raGroupPSK, User: raUser, Password: wrong,
	})
	keepLogs(t, v.LogPath)
	tStart := time.Now()
	failed := WaitFor(t, 35*time.Second, func() bool {
		return v.Proc.Exited() || v.XAuthRefused() || v.Connected()
	})
	v.Proc.Stop()
	vlog := v.Log()
	switch {
	case strings.Contains(vlog, vpncConnected):
		t.Errorf("vpnc connected with a wrong XAUTH password:\n%s", vlog)
	case !failed:
		t.Errorf("vpnc neither failed nor connected within 35 s:\n%s", vlog)
	default:
		t.Logf("vpnc gave up after %v (exit: %v): %s", time.Since(tStart).Round(time.Millisecond), v.ExitErr(),
			tail(strings.TrimSpace(vlog), 4))
	}
	v1WaitLine(t, "ikegate", mark, 5*time.Second, "XAUTH", "fail", raUser)
	if _, err := v.ScriptEnv("connect"); err == nil {
		t.Errorf("vpnc's script was called with reason=connect after a refused XAUTH")
	}
	for _, sa := range v1GateNamed(g, raConn) {
		for _, c := range sa.Children {
			t.Errorf("ikegate: CHILD SA %s (%s) for a client whose XAUTH failed: %+v", c.Name, c.State, c)
		}
	}
}

// requirePlugin fails the test when a strongSwan plugin is not installed.
func requirePlugin(t *testing.T, name string) {
	t.Helper()
	p := "/usr/lib/ipsec/plugins/libstrongswan-" + name + ".so"
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("IKEGATE_INTEROP=1 but strongSwan's %s plugin is missing: %v (run interop/install.sh)", name, err)
	}
}
