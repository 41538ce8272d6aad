package interop

// IKEv1 remote access with RADIUS: vpnc (group PSK + XAUTH) against
// ikegate with xauth = "radius", FreeRADIUS 3.2 as the server. The first
// RADIUS server ikegate is given is dead (its packets vanish: it times
// out), the second is FreeRADIUS; Framed-IP-Address from the
// Access-Accept becomes the client's virtual IP; accounting Start and Stop
// (with the dataplane's byte counts) land in FreeRADIUS's detail file.
//
// Topology (radiusLab = raLab plus a RADIUS namespace):
//
//	client (Left)          gateway (Right)                      host (h)
//	10.200.0.1 lab0 --- lab0 10.200.0.2  in0 10.2.0.1/24 --- lab0 10.2.0.10
//	                         rad0 10.3.0.1/24
//	                         10.3.0.100/32 (dead server: nftables drops
//	                         |              UDP 1812/1813 to it, silently)
//	                         |
//	                    lab0 10.3.0.2/24 FreeRADIUS (namespace s)

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

const (
	radGateAddr   = "10.3.0.1"   // ikegate on the RADIUS link
	radServerAddr = "10.3.0.2"   // FreeRADIUS
	radDeadAddr   = "10.3.0.100" // in ikegate's namespace; nothing listens, packets dropped
	radSecret     = "radius-shared-secret-0123456789"
	radFramedIP   = "10.9.0.77"
	radClass      = "group-a"
	radGroupDom   = "a.corp.lab" // group-a's domain, over the pool's
	radGroupBan   = "Group A: authorized use only"
	radNASID      = "ikegate-interop"
)

// radiusLab is the remote-access lab plus FreeRADIUS in its own
// namespace, linked to the gateway, and a dead server address in the
// gateway's namespace.
type radiusLab struct {
	*raLab
	Radius string // namespace of FreeRADIUS
}

func newRadiusLab(t *testing.T) *radiusLab {
	t.Helper()
	l := &radiusLab{raLab: newRALab(t)}
	l.Radius = l.NewNamespace(t, "s")
	l.Link(t, l.Right, "rad0", radGateAddr+"/24", l.Radius, LabIface, radServerAddr+"/24")
	// The dead server: an address of the gateway's own namespace where
	// nothing listens. Left alone, the kernel would answer port
	// unreachable at once (ECONNREFUSED on ikegate's socket); a dead
	// server behind a firewall answers nothing, so nftables drops the
	// RADIUS packets to it, and counts them.
	MustRun(t, IPCmd, "-n", l.Right, "addr", "add", radDeadAddr+"/32", "dev", "rad0")
	rules := fmt.Sprintf(`table inet ikgdead {
  chain input {
    type filter hook input priority 0; policy accept;
    ip daddr %s udp dport { 1812, 1813 } counter drop
  }
}
`, radDeadAddr)
	f := filepath.Join(t.TempDir(), "dead.nft")
	writeFile(t, f, rules, 0o644)
	MustRun(t, IPCmd, "netns", "exec", l.Right, "nft", "-f", f)
	return l
}

// deadPackets is how many RADIUS packets the dead server swallowed.
func (l *radiusLab) deadPackets(t *testing.T) int {
	t.Helper()
	out := MustRun(t, IPCmd, "netns", "exec", l.Right, "nft", "list", "chain", "inet", "ikgdead", "input")
	m := regexp.MustCompile(`counter packets (\d+)`).FindStringSubmatch(out)
	if m == nil {
		t.Errorf("nft: no counter in %q", out)
		return -1
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// radGateTOML is raGateTOML with xauth = "radius": the same pool (its
// attributes, DNS and so on, still come from it; the address from RADIUS),
// a [[group]] group-a that FreeRADIUS's Class selects (its domain and
// banner over the pool's), and a [radius] table listing the dead server
// first.
func radGateTOML(servers []string, pool string) string {
	c := Conn{Name: raConn, Version: 1, Aggressive: true,
		LocalAddr: RightAddr, RemoteAddr: "%any",
		LocalID: raGateID, RemoteID: "keyid:" + raGroup,
		Auth: "psk", PSK: raGroupPSK,
		IKE: []string{"aes256-sha1-modp2048"}, ESP: []string{"aes256-sha1"},
		LocalTS: []string{"0.0.0.0/0"},
	}
	toml := IkegateTOML(userspaceGateway(RightAddr), c)
	toml = PatchIkegateTOML(toml, nil, raConn, []string{`xauth = "radius"`, `pool = "rw"`})
	return toml + fmt.Sprintf(`
[[pool]]
name = "rw"
addresses = [%q]
dns = [%q]
domain = %q
split_include = [%q]

[[group]]
name = %q
domain = %q
banner = %q

[radius]
servers = %s
secret = %q
accounting = true
interim_interval = "1s"
timeout = "1s"
nas_identifier = %q
`, pool, raDNS, raDomain, raNet, radClass, radGroupDom, radGroupBan, tomlStrings(servers), radSecret, radNASID)
}

// radLease mirrors access.Lease, the JSON of `ikegate leases --json`.
type radLease struct {
	Pool     string `json:"pool"`
	Address  string `json:"address"`
	Identity string `json:"identity"`
	Since    string `json:"since"`
}

// radLeases returns `ikegate leases --json`.
func radLeases(t *testing.T, g *Ikegate) []radLease {
	t.Helper()
	out, err := g.ctl("leases", "--json")
	if err != nil {
		t.Errorf("ikegate leases --json: %v: %s", err, out)
		return nil
	}
	var ls []radLease
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &ls); err != nil {
		t.Errorf("ikegate leases --json: %v: %q", err, out)
	}
	return ls
}

// TestVPNCXAuthRadius: vpnc (Aggressive Mode, group PSK, XAUTH alice)
// against ikegate with xauth = "radius" and accounting, servers = [a dead
// server, FreeRADIUS], timeout 1 s. vpnc connects after ikegate failed
// over to FreeRADIUS; its virtual IP is the Framed-IP-Address FreeRADIUS
// sent (10.9.0.77); 20 pings cross the tunnel; when vpnc disconnects,
// FreeRADIUS's detail file holds an Accounting Start and Stop for alice
// with one Acct-Session-Id, Framed-IP-Address 10.9.0.77, Class group-a
// and, in the Stop, the octets ikegate's dataplane counted. ikegate's log
// shows the failover and never the password or the RADIUS secret. Then a
// wrong password is refused by FreeRADIUS: vpnc fails, ikegate logs the
// XAUTH failure naming alice, no lease and no accounting follow.
func TestVPNCXAuthRadius(t *testing.T) {
	t.Parallel()
	t0 := time.Now()
	lab := newRadiusLab(t)
	requireVPNC(t)
	requireFreeRADIUS(t)
	fr := lab.StartFreeRADIUS(t, lab.Radius, FreeRADIUSConfig{
		Addr:    radServerAddr,
		Clients: []RadiusClient{{Name: "ikegate", Addr: radGateAddr, Secret: radSecret}},
		Users: []RadiusUser{{Name: raUser, Password: raPassword,
			Reply: []string{"Framed-IP-Address = " + radFramedIP, fmt.Sprintf("Class = %q", radClass)}}},
	})
	keepLogs(t, fr.LogPath)
	// The server alone first (radclient in its namespace): a failure here
	// is the harness's, not ikegate's.
	if rep, err := fr.Authenticate(raUser, raPassword); err != nil || rep.Code != "Access-Accept" {
		t.Fatalf("FreeRADIUS does not accept %s itself: %v\n%s", raUser, err, rep.Out)
	} else {
		t.Logf("FreeRADIUS answers radclient: %s %v", rep.Code, rep.Attrs)
	}

	dead, live := radDeadAddr+":1812", radServerAddr+":1812"
	capt := lab.CaptureFiltered(t, lab.Left, LabIface, TrafficCaptureFilter)
	g := lab.StartIkegate(t, lab.Right, radGateTOML([]string{dead, live}, raPool))
	keepLogs(t, g.LogPath)
	wrong := "wrong-password-for-alice"
	vip := netip.MustParseAddr(radFramedIP)

	t.Run("connect", func(t *testing.T) {
		mark := v1MarkLog(g.LogPath)
		v := lab.StartVPNC(t, lab.Left, VPNCConfig{
			Gateway: RightAddr, LocalAddr: LeftAddr,
			Group: raGroup, Secret: raGroupPSK, User: raUser, Password: raPassword,
		})
		keepLogs(t, v.LogPath)
		tUp := time.Now()
		if err := v.WaitConnected(25 * time.Second); err != nil {
			t.Fatal(err)
		}
		t.Logf("vpnc connected in %v (through a 1 s RADIUS timeout)", time.Since(tUp).Round(time.Millisecond))
		s, err := v.Session()
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("vpnc handed its script (reason=connect):\n%s", s)
		if s.Address != vip {
			t.Fatalf("INTERNAL_IP4_ADDRESS=%v, want %s (FreeRADIUS's Framed-IP-Address)", s.Address, vip)
		}
		if strings.Join(s.DNS, " ") != raDNS {
			t.Errorf("INTERNAL_IP4_DNS=%q, want %q (from the pool)", s.DNS, raDNS)
		}
		if s.DefDomain != radGroupDom || s.Banner != radGroupBan {
			t.Errorf("CISCO_DEF_DOMAIN=%q CISCO_BANNER=%q, want %q and %q: the [[group]] FreeRADIUS's Class %q selects",
				s.DefDomain, s.Banner, radGroupDom, radGroupBan, radClass)
		}

		// The failover, as ikegate tells it and as the wire shows it.
		acc := v1WaitLine(t, "ikegate", mark, 2*time.Second, "RADIUS accepted the user", raUser)
		if acc != "" && !strings.Contains(acc, live) {
			t.Errorf("ikegate: RADIUS accepted %s, but not from %s (the second, live server): %s", raUser, live, acc)
		}
		if n := lab.deadPackets(t); n < 1 {
			t.Errorf("the dead server %s got %d packets: ikegate did not try it first", dead, n)
		} else {
			t.Logf("the dead server %s swallowed %d RADIUS packet(s) (ikegate's retries within its 1 s timeout)", dead, n)
		}
		radCheckFailoverLogged(t, mark.since(), dead)

		sa, _ := raGateChild(t, g, vip)
		if sa != nil && sa.RemoteID != "keyid:"+raGroup {
			t.Errorf("ikegate: remote id %q, want keyid:%s", sa.RemoteID, raGroup)
		}
		v1WaitLine(t, "ikegate", mark, 2*time.Second, "XAUTH", "authenticated", raUser)
		v1WaitLine(t, "ikegate", mark, 2*time.Second, "virtual IP assigned", radFramedIP)
		// FreeRADIUS's view of the Access-Request ikegate sent (auth log).
		v1WaitLine(t, "FreeRADIUS", v1Mark{path: fr.LogPath}, 2*time.Second, "Login OK", "["+raUser+"]", "cli "+LeftAddr)
		radCheckRequestAttrs(t, fr)

		// The Start, sent at the lease (after the dead server's timeout).
		var starts []RadiusRecord
		WaitFor(t, 5*time.Second, func() bool { starts = fr.AccountingOf(raUser, "Start"); return len(starts) > 0 })
		if len(starts) != 1 {
			t.Fatalf("FreeRADIUS: %d Accounting Start records for %s, want 1: %v", len(starts), raUser, starts)
		}
		t.Logf("FreeRADIUS detail: %s", starts[0])

		t.Logf("ikegate leases --json while %s holds %s from RADIUS: %+v", raUser, radFramedIP, radLeases(t, g))

		const n = 20
		tPing := time.Now()
		got, err := Ping(lab.Left, vip.String(), raHost, n, 50*time.Millisecond, 5*time.Second)
		if err != nil || got != n {
			t.Errorf("ping %s -> %s through the tunnel: %d of %d replies (%v)", vip, raHost, got, n, err)
		} else {
			t.Logf("ping %s -> %s through the tunnel: %d/%d replies in %v", vip, raHost, got, n, time.Since(tPing).Round(time.Millisecond))
		}
		c := gateChild(g, raConn)
		if c == nil {
			t.Fatalf("ikegate: no INSTALLED CHILD SA %s after the pings", raConn)
		}
		t.Logf("ikegate CHILD SA counters before the disconnect: in %d bytes/%d packets, out %d bytes/%d packets",
			c.InBytes, c.InPackets, c.OutBytes, c.OutPackets)

		// interim_interval = "1s": an Interim-Update of the same session
		// with the traffic so far arrives while the tunnel is up.
		var interim *RadiusRecord
		WaitFor(t, 4*time.Second, func() bool {
			for _, r := range fr.AccountingOf(raUser, "Interim-Update") {
				if r.Get("Acct-Session-Id") == starts[0].Get("Acct-Session-Id") && r.Uint("Acct-Output-Octets") > 0 && r.Uint("Acct-Input-Octets") > 0 {
					interim = &r
					return true
				}
			}
			return false
		})
		if interim == nil {
			t.Errorf("FreeRADIUS: no Interim-Update of session %s with traffic within 4 s (interim_interval 1s); records: %v",
				starts[0].Get("Acct-Session-Id"), fr.AccountingOf(raUser, ""))
		} else {
			t.Logf("FreeRADIUS detail, Interim-Update: %s", *interim)
		}

		tDown := time.Now()
		v.Proc.Stop()
		if _, err := v.ScriptEnv("disconnect"); err != nil {
			t.Errorf("vpnc's script was not called with reason=disconnect: %v", err)
		}
		v1WaitNoGate(t, g, raConn, 5*time.Second)
		var stops []RadiusRecord
		WaitFor(t, 10*time.Second, func() bool { stops = fr.AccountingOf(raUser, "Stop"); return len(stops) > 0 })
		if len(stops) != 1 {
			t.Fatalf("FreeRADIUS: %d Accounting Stop records for %s within 10 s of the disconnect, want 1; all records: %v",
				len(stops), raUser, fr.AccountingOf(raUser, ""))
		}
		t.Logf("FreeRADIUS detail (%v after vpnc was stopped): %s", time.Since(tDown).Round(time.Millisecond), stops[0])
		radCheckAccounting(t, starts[0], stops[0], c, n)
	})

	t.Run("wrong-password", func(t *testing.T) {
		const addr = "10.200.0.3"
		MustRun(t, IPCmd, "-n", lab.Left, "addr", "add", addr+"/24", "dev", LabIface)
		mark := v1MarkLog(g.LogPath)
		frMark := v1MarkLog(fr.LogPath)
		startsBefore := len(fr.AccountingOf(raUser, "Start"))
		raWrongPassword(t, lab.Lab, g, lab.Left, addr, wrong, mark)
		v1WaitLine(t, "FreeRADIUS", frMark, 2*time.Second, "Login incorrect", "["+raUser+"]", "cli "+addr)
		if ls := radLeases(t, g); len(ls) != 0 {
			t.Errorf("ikegate leases after a refused XAUTH: %+v, want none", ls)
		}
		// Give a stray Start time to arrive (the dead server costs 1 s).
		time.Sleep(1500 * time.Millisecond)
		if n := len(fr.AccountingOf(raUser, "Start")); n != startsBefore {
			t.Errorf("FreeRADIUS: %d Accounting Start records for %s after a refused XAUTH, want %d", n, raUser, startsBefore)
		}
	})

	raCheckSecrets(t, g, raPassword, wrong, raGroupPSK, radSecret)
	pkts := CheckDissection(t, capt.Stop())
	raLogExchanges(t, pkts)
	t.Logf("test took %v", time.Since(t0).Round(time.Millisecond))
}

// radCheckFailoverLogged asserts that ikegate's log (since the client
// connected) says that the dead server did not answer.
func radCheckFailoverLogged(t *testing.T, log, dead string) {
	t.Helper()
	for _, l := range v1Lines(log, dead) {
		low := strings.ToLower(l)
		if strings.Contains(low, "timeout") || strings.Contains(low, "timed out") || strings.Contains(low, "deadline") ||
			strings.Contains(low, "did not answer") || strings.Contains(low, "no answer") {
			t.Logf("ikegate: %s", v1Short(l, 400))
			return
		}
	}
	t.Errorf("ikegate's log does not say that RADIUS server %s timed out before it failed over; its RADIUS lines:\n%s",
		dead, strings.Join(v1Lines(log, "RADIUS"), "\n"))
}

// radCheckRequestAttrs checks what FreeRADIUS's debug output shows of
// ikegate's Access-Request.
func radCheckRequestAttrs(t *testing.T, fr *FreeRADIUS) {
	t.Helper()
	log := fr.Log()
	for _, want := range []string{
		`User-Name = "` + raUser + `"`,
		`NAS-Identifier = "` + radNASID + `"`,
		`NAS-IP-Address = ` + RightAddr,
		`Calling-Station-Id = "` + LeftAddr + `"`,
		`Message-Authenticator = 0x`,
	} {
		if _, ok := v1Line(log, want); !ok {
			t.Errorf("FreeRADIUS: no request attribute %s in its debug output", want)
		}
	}
}

// radCheckAccounting checks the Start and Stop records of one session
// against each other, the configuration and ikegate's counters read
// before the disconnect (c; the Stop counts at least that much).
func radCheckAccounting(t *testing.T, start, stop RadiusRecord, c *IkegateTrafficChild, pings int) {
	t.Helper()
	id := start.Get("Acct-Session-Id")
	if id == "" || stop.Get("Acct-Session-Id") != id {
		t.Errorf("Acct-Session-Id: Start %q, Stop %q: want the same, non-empty", id, stop.Get("Acct-Session-Id"))
	}
	for _, r := range []RadiusRecord{start, stop} {
		what := r.Get("Acct-Status-Type")
		if r.Client != radGateAddr {
			t.Errorf("%s: from %s, want %s (ikegate on the RADIUS link)", what, r.Client, radGateAddr)
		}
		checks := []struct{ attr, got, want string }{
			{"Framed-IP-Address", r.Get("Framed-IP-Address"), radFramedIP},
			{"Class", r.Octets("Class"), radClass},
			{"NAS-Identifier", r.Get("NAS-Identifier"), radNASID},
			{"NAS-IP-Address", r.Get("NAS-IP-Address"), RightAddr},
			{"Calling-Station-Id", r.Get("Calling-Station-Id"), LeftAddr},
		}
		for _, x := range checks {
			if x.got != x.want {
				t.Errorf("%s: %s = %q, want %q", what, x.attr, x.got, x.want)
			}
		}
	}
	in, out := stop.Uint("Acct-Input-Octets"), stop.Uint("Acct-Output-Octets")
	inP, outP := stop.Uint("Acct-Input-Packets"), stop.Uint("Acct-Output-Packets")
	t.Logf("Stop: Acct-Input-Octets %d, Acct-Output-Octets %d, Acct-Input-Packets %d, Acct-Output-Packets %d, Acct-Session-Time %d",
		in, out, inP, outP, stop.Uint("Acct-Session-Time"))
	if in <= 0 || out <= 0 {
		t.Errorf("Stop: Acct-Input-Octets %d, Acct-Output-Octets %d: want both > 0 after %d pings", in, out, pings)
	}
	if c != nil && (in < int64(c.InBytes) || out < int64(c.OutBytes)) {
		t.Errorf("Stop: Acct-Input-Octets %d / Acct-Output-Octets %d, less than ikegate's CHILD SA counted before the disconnect (in %d, out %d)",
			in, out, c.InBytes, c.OutBytes)
	}
	if inP < int64(pings) || outP < int64(pings) {
		t.Errorf("Stop: Acct-Input-Packets %d, Acct-Output-Packets %d: want at least %d each", inP, outP, pings)
	}
	if stop.Uint("Acct-Session-Time") < 0 {
		t.Errorf("Stop: no Acct-Session-Time")
	}
}

// TestVPNCRadiusFramedIPInPool: RADIUS names alice's address
// (Framed-IP-Address 10.9.0.77), which lies inside the connection's pool
// (10.9.0.77-10.9.0.78); bob gets no Framed-IP-Address, so his address
// comes from the pool. With alice connected, bob must get another address
// than hers, `leases` lists both (hers as held in the pool), and both must
// reach the host behind the gateway.
func TestVPNCRadiusFramedIPInPool(t *testing.T) {
	t.Parallel()
	t0 := time.Now()
	lab := newRadiusLab(t)
	requireVPNC(t)
	const bob, bobPassword = "bob", "bob-secret-0123"
	fr := lab.StartFreeRADIUS(t, lab.Radius, FreeRADIUSConfig{
		Addr:    radServerAddr,
		Clients: []RadiusClient{{Name: "ikegate", Addr: radGateAddr, Secret: radSecret}},
		Users: []RadiusUser{
			{Name: raUser, Password: raPassword, Reply: []string{"Framed-IP-Address = " + radFramedIP}},
			{Name: bob, Password: bobPassword},
		},
	})
	keepLogs(t, fr.LogPath)
	g := lab.StartIkegate(t, lab.Right, radGateTOML([]string{radServerAddr + ":1812"}, "10.9.0.77-10.9.0.78"))
	keepLogs(t, g.LogPath)
	// bob's client gets a namespace of its own: two vpnc in one namespace
	// would route the protected network through each other's TUN device.
	const bobAddr, bobGate = "10.201.0.1", "10.201.0.2"
	bobNS := lab.NewNamespace(t, "b")
	lab.Link(t, lab.Right, "lab1", bobGate+"/24", bobNS, LabIface, bobAddr+"/24")
	MustRun(t, IPCmd, "-n", bobNS, "route", "add", "default", "via", bobGate)

	connect := func(ns, user, password, from string) (*VPNC, netip.Addr) {
		v := lab.StartVPNC(t, ns, VPNCConfig{
			Gateway: RightAddr, LocalAddr: from,
			Group: raGroup, Secret: raGroupPSK, User: user, Password: password,
		})
		keepLogs(t, v.LogPath)
		if err := v.WaitConnected(25 * time.Second); err != nil {
			t.Fatalf("%s: %v", user, err)
		}
		s, err := v.Session()
		if err != nil || !s.Address.IsValid() {
			t.Fatalf("%s: %v (session %+v)", user, err, s)
		}
		t.Logf("%s connected from %s: virtual IP %s", user, from, s.Address)
		if s.DefDomain != raDomain || s.Banner == radGroupBan {
			t.Errorf("%s: CISCO_DEF_DOMAIN=%q CISCO_BANNER=%q: without a Class the pool's attributes apply (domain %q), not group %q's",
				user, s.DefDomain, s.Banner, raDomain, radClass)
		}
		return v, s.Address
	}
	_, aliceIP := connect(lab.Left, raUser, raPassword, LeftAddr)
	if aliceIP.String() != radFramedIP {
		t.Fatalf("alice's virtual IP %s, want %s (Framed-IP-Address)", aliceIP, radFramedIP)
	}
	_, bobIP := connect(bobNS, bob, bobPassword, bobAddr)
	leases := radLeases(t, g)
	t.Logf("ikegate leases --json: %+v", leases)
	if bobIP == aliceIP {
		t.Errorf("bob got %s from the pool, the address RADIUS gave alice (still connected): the pool does not know about Framed-IP-Address", bobIP)
		for _, l := range v1Lines(g.Log(), "overlaps") {
			t.Logf("ikegate: %s", v1Short(l, 400))
		}
	} else if len(leases) != 2 || leases[0].Identity != raUser || leases[0].Address != aliceIP.String() ||
		leases[1].Identity != bob || leases[1].Address != bobIP.String() {
		t.Errorf("ikegate leases --json: %+v, want %s (RADIUS's Framed-IP-Address, held in the pool) to %s, then %s to %s",
			leases, aliceIP, raUser, bobIP, bob)
	}
	for _, c := range []struct {
		who, ns string
		ip      netip.Addr
	}{{raUser, lab.Left, aliceIP}, {bob, bobNS, bobIP}} {
		got, err := Ping(c.ns, c.ip.String(), raHost, 3, 100*time.Millisecond, 3*time.Second)
		if err != nil || got != 3 {
			t.Errorf("%s: ping %s -> %s through the tunnel: %d of 3 replies (%v)", c.who, c.ip, raHost, got, err)
		} else {
			t.Logf("%s: ping %s -> %s through the tunnel: 3/3 replies", c.who, c.ip, raHost)
		}
	}
	raCheckSecrets(t, g, raPassword, bobPassword, raGroupPSK, radSecret)
	t.Logf("test took %v", time.Since(t0).Round(time.Millisecond))
}
