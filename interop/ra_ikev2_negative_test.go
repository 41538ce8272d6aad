package interop

// IKEv2 remote access, what must NOT work (TestIKEv2RANegative), each case
// in its own lab (raLab or radiusLab, ra_ikev1_test.go / ra_radius_test.go)
// with strongSwan 5.9.8 (kernel-libipsec) as the road warrior, as in
// ra_ikev2_test.go:
//
//   - radius-down: remote_auth = "eap-radius" and the only RADIUS server
//     does not answer (radiusLab's dead address, its packets dropped):
//     the EAP client is refused, ikegate says why naming the user, and
//     neither an IKE SA nor a lease is left.
//   - pool-exhausted: a pool of one address; the first client gets it, a
//     second (another identity, from a second client namespace) gets
//     INTERNAL_ADDRESS_FAILURE instead of its CHILD SA, no second lease,
//     and the first client's tunnel keeps working.
//   - address-claim: a second client that asks for no virtual IP but
//     proposes the first client's virtual IP as its TSi: its CHILD SA is
//     refused (ikegate's remote_ts for a client without a virtual IP is
//     its own address), no lease appears, and the first client's tunnel
//     keeps working.
//
// A wrong EAP password (local users) is TestIKEv2RAEAPLocal's.
//
// Second client (ra2AddClient): a namespace "c2" linked to the gateway's
// namespace on its own /24 (10.201.0.0/24, gateway 10.201.0.2), routed to
// ikegate's address RightAddr; ikegate answers from RightAddr over that
// link.

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const (
	ra2C2Addr   = "10.201.0.1" // the second client
	ra2C2GW     = "10.201.0.2" // the gateway's namespace on the second client's link
	ra2C2ID     = "@client2.lab"
	ra2OnlyAddr = "10.9.0.7" // the one address of pool-exhausted's pool
)

// ra2PSKSpec is the PSK road warrior id (against ikegate's raGateID).
func ra2PSKSpec(id string) ra2Spec {
	return ra2Spec{
		local:   "auth = psk\nid = " + id,
		remote:  "auth = psk\nid = " + raGateID,
		secrets: fmt.Sprintf("ike-rw {\n  id-1 = %s\n  id-2 = %s\n  secret = %q\n}", raGateID, id, ra2PSK),
	}
}

// ra2PSKGate is ikegate's PSK remote-access connection.
func ra2PSKGate() Conn {
	c := ra2GateConn(raGateID, "aes256-sha256-modp2048", "aes256-sha256")
	c.Auth, c.PSK = "psk", ra2PSK
	return c
}

// ra2AddClient adds the second client's namespace to lab (see above) and
// returns it.
func ra2AddClient(t *testing.T, lab *raLab) string {
	t.Helper()
	ns := lab.NewNamespace(t, "c2")
	lab.Link(t, lab.Right, "lab1", ra2C2GW+"/24", ns, LabIface, ra2C2Addr+"/24")
	MustRun(t, IPCmd, "-n", ns, "route", "add", RightAddr+"/32", "via", ra2C2GW)
	return ns
}

// ra2At rewrites an ra2Swanctl configuration for a client at addr (instead
// of LeftAddr); vip false drops the virtual IP request; localTS (if not
// "") is the child's local_ts.
func ra2At(t *testing.T, conf, addr string, vip bool, localTS string) string {
	t.Helper()
	edit := func(old, new string) {
		if !strings.Contains(conf, old) {
			t.Fatalf("harness: %q not in the swanctl.conf of ra2Swanctl:\n%s", old, conf)
		}
		conf = strings.Replace(conf, old, new, 1)
	}
	edit("local_addrs = "+LeftAddr+"\n", "local_addrs = "+addr+"\n")
	if !vip {
		edit("    vips = 0.0.0.0\n", "")
	}
	if localTS != "" {
		edit("        remote_ts = ", "        local_ts = "+localTS+"\n        remote_ts = ")
	}
	return conf
}

// ra2StartSwanIn is ra2StartSwan in namespace ns.
func ra2StartSwanIn(t *testing.T, lab *Lab, ns, swanctl string) *ra2Swan {
	t.Helper()
	dir := shortTempDir(t, "rw-dns-")
	resolv := filepath.Join(dir, "resolv.conf")
	writeFile(t, resolv, "", 0o644)
	swan := lab.StartStrongSwan(t, ns, SwanConfig{
		Swanctl: swanctl, LibIPsec: true, Plugins: ra2SwanPlugins(),
		Extra: fmt.Sprintf("plugins {\n  resolve {\n    file = %s\n  }\n}", resolv),
	})
	return &ra2Swan{Swan: swan, Resolv: resolv}
}

// ra2NoChild initiates the second client's raConn and waits for strongSwan
// to log one of signals (why it built no CHILD SA); it fails if strongSwan
// installed a CHILD SA anyway. It returns the signal's line.
func ra2NoChild(t *testing.T, swan *ra2Swan, signals ...string) string {
	t.Helper()
	smark := v1MarkLog(swan.LogPath)
	out, err := swan.Initiate(raConn, 10)
	t.Logf("second client: swanctl --initiate: %v\n%s", err, v1Short(tail(out, 6), 1500))
	ra2SwanExchanges(t, smark.since())
	var how string
	if !WaitFor(t, 3*time.Second, func() bool {
		for _, s := range signals {
			if l, ok := v1Line(smark.since(), s); ok {
				how = l
				return true
			}
		}
		return false
	}) {
		t.Errorf("second client: strongSwan logged none of %q; what it objected to:\n%s", signals, ra2SwanProblems(smark.since()))
	} else {
		t.Logf("second client: strongSwan: %s", v1Short(how, 300))
	}
	if err == nil {
		t.Errorf("second client: swanctl --initiate succeeded:\n%s", tail(out, 10))
	}
	if sa := swan.IKESA(raConn); sa != nil {
		t.Logf("second client: strongSwan IKE SA %s %s, local-vips %v, %d CHILD SA(s)", sa.Name, sa.State, sa.LocalVIPs, len(sa.Children))
		for _, c := range sa.Children {
			t.Errorf("second client: strongSwan has a CHILD SA %s %s local-ts %v remote-ts %v", c.Name, c.State, c.LocalTS, c.RemoteTS)
		}
		if len(sa.LocalVIPs) != 0 {
			t.Errorf("second client: strongSwan got virtual IP(s) %v", sa.LocalVIPs)
		}
	}
	return how
}

// ra2GateOthers checks ikegate's IKE SAs of raConn other than the first
// client's (firstVIP): none may have a virtual IP or a CHILD SA whose
// remote_ts covers firstVIP. It returns how many there are.
func ra2GateOthers(t *testing.T, g *Ikegate, firstVIP netip.Addr) int {
	t.Helper()
	sas, raw, err := raSAs(g)
	if err != nil {
		t.Errorf("%v", err)
		return 0
	}
	n := 0
	for _, sa := range sas {
		if sa.Name != raConn || sa.VirtualIP == firstVIP.String() {
			continue
		}
		n++
		t.Logf("ikegate: the second client's IKE SA: %s %s <-> %s, remote id %q, virtual IP %q, %d CHILD SA(s)",
			sa.State, sa.Local, sa.Remote, sa.RemoteID, sa.VirtualIP, len(sa.Children))
		if sa.VirtualIP != "" {
			t.Errorf("ikegate: the second client has virtual IP %s", sa.VirtualIP)
		}
		for _, c := range sa.Children {
			for _, ts := range c.RemoteTS {
				if p, err := netip.ParsePrefix(ts); err == nil && p.Contains(firstVIP) {
					t.Errorf("ikegate: the second client's CHILD SA %s (%s) has remote_ts %v covering the first client's virtual IP %s",
						c.Name, c.State, c.RemoteTS, firstVIP)
				}
			}
			if c.State == "INSTALLED" {
				t.Logf("ikegate: the second client's CHILD SA %s INSTALLED local_ts %v remote_ts %v", c.Name, c.LocalTS, c.RemoteTS)
			}
		}
	}
	if n == 0 {
		t.Logf("ikegate: no IKE SA of the second client left; sas --json:\n%s", v1Short(raw, 2000))
	}
	return n
}

// ra2OneLease: ikegate leases exactly vip (the first client's, identity
// containing id).
func ra2OneLease(t *testing.T, g *Ikegate, vip netip.Addr, id string) {
	t.Helper()
	ls := radLeases(t, g)
	if len(ls) != 1 || ls[0].Address != vip.String() || !strings.Contains(ls[0].Identity, id) {
		t.Errorf("ikegate leases: %+v, want exactly one: %s to %s", ls, vip, id)
		return
	}
	t.Logf("ikegate lease: %+v", ls[0])
}

// ra2FirstStillUp: the first client's IKE and CHILD SA are still up on
// both sides and a ping still crosses its tunnel.
func ra2FirstStillUp(t *testing.T, lab *raLab, swan *ra2Swan, g *Ikegate, up *ra2Up) {
	t.Helper()
	sa := swan.IKESA(raConn)
	if sa == nil || sa.State != "ESTABLISHED" || len(sa.Children) == 0 || sa.Children[0].State != "INSTALLED" {
		t.Errorf("first client: strongSwan's IKE SA is no longer ESTABLISHED with an INSTALLED CHILD SA: %+v", sa)
	}
	found := false
	sas, raw, _ := raSAs(g)
	for _, s := range sas {
		if s.Name == raConn && s.VirtualIP == up.VIP.String() && s.State == "ESTABLISHED" && len(s.Children) == 1 &&
			s.Children[0].State == "INSTALLED" {
			found = true
		}
	}
	if !found {
		t.Errorf("ikegate: the first client's IKE SA (virtual IP %s) with its CHILD SA is gone:\n%s", up.VIP, raw)
	}
	raPing(t, lab.Left, up.VIP)
}

func TestIKEv2RANegative(t *testing.T) {
	t.Parallel()
	t.Run("radius-down", func(t *testing.T) {
		t.Parallel()
		ra2NegRadiusDown(t)
	})
	t.Run("pool-exhausted", func(t *testing.T) {
		t.Parallel()
		ra2NegPoolExhausted(t)
	})
	t.Run("address-claim", func(t *testing.T) {
		t.Parallel()
		ra2NegAddressClaim(t)
	})
}

// ra2NegRadiusDown: ikegate (certificate vpn.lab, remote_auth =
// "eap-radius") with one RADIUS server that never answers (timeout
// 500 ms); strongSwan with EAP-MSCHAPv2 as alice is refused, ikegate logs
// a line naming alice and saying no RADIUS server answered, the dead
// server swallowed ikegate's Access-Requests, and no IKE SA and no lease
// are left.
func ra2NegRadiusDown(t *testing.T) {
	t0 := time.Now()
	lab := newRadiusLab(t)
	ra2RequirePlugins(t)
	e := newRA2EAPCase(t, RSA2048)
	capt := lab.CaptureFiltered(t, lab.Left, LabIface, TrafficCaptureFilter)
	radius := fmt.Sprintf(`
[radius]
servers = [%q]
secret = %q
timeout = "500ms"
nas_identifier = %q
`, radDeadAddr+":1812", radSecret, radNASID)
	g := lab.StartIkegate(t, lab.Right, ra2GateTOML(e.gate("aes256-sha256-modp2048", "aes256-sha256"), "eap-radius", radius))
	swan := ra2StartSwan(t, lab.Lab, e.spec("", raPassword, ra2Spec{}))
	keepLogs(t, swan.LogPath, g.LogPath)

	gmark := v1MarkLog(g.LogPath)
	log := ra2Refused(t, swan, g, raUser)
	var why string
	if !WaitFor(t, 2*time.Second, func() bool {
		var ok bool
		why, ok = v1Line(gmark.since(), raUser, "no RADIUS server answered")
		return ok
	}) {
		t.Errorf("ikegate: no log line names %s and says no RADIUS server answered; its log of the attempt:\n%s", raUser, tail(log, 30))
	} else {
		t.Logf("ikegate: %s", v1Short(why, 500))
	}
	for _, l := range v1Lines(gmark.since(), "RADIUS server did not answer") {
		t.Logf("ikegate: %s", v1Short(l, 300))
	}
	if n := lab.deadPackets(t); n < 1 {
		t.Errorf("the dead RADIUS server got %d packets: ikegate never asked it", n)
	} else {
		t.Logf("the dead RADIUS server swallowed %d packet(s)", n)
	}
	if sas, raw, _ := raSAs(g); len(sas) != 0 {
		t.Errorf("ikegate sas after the refusal, want none:\n%s", raw)
	}
	if ls := radLeases(t, g); len(ls) != 0 {
		t.Errorf("ikegate leases after the refusal: %+v, want none", ls)
	}
	raCheckSecrets(t, g, raPassword, radSecret)
	ra2LogWire(t, CheckDissection(t, capt.Stop()))
	t.Logf("test took %v", time.Since(t0).Round(time.Millisecond))
}

// ra2NegPoolExhausted: pool "rw" has one address (10.9.0.7). The first
// PSK client (@client.lab) gets it; the second (@client2.lab, from the
// second client namespace) asks for an address too: ikegate answers its
// IKE_AUTH with INTERNAL_ADDRESS_FAILURE instead of the CHILD SA and logs
// that pool "rw" is exhausted; one lease only (the first client's), and
// the first client's ping still crosses.
func ra2NegPoolExhausted(t *testing.T) {
	t0 := time.Now()
	lab := newRALab(t)
	ra2RequirePlugins(t)
	ns2 := ra2AddClient(t, lab)
	toml := ra2GateTOML(ra2PSKGate(), "", "")
	old := fmt.Sprintf("addresses = [%q]", raPool)
	if !strings.Contains(toml, old) {
		t.Fatal("harness: could not shrink the pool")
	}
	toml = strings.Replace(toml, old, fmt.Sprintf("addresses = [%q]", ra2OnlyAddr+"-"+ra2OnlyAddr), 1)
	g := lab.StartIkegate(t, lab.Right, toml)
	swan := ra2StartSwan(t, lab.Lab, ra2Swanctl(ra2PSKSpec(ra2CliID)))
	swan2 := ra2StartSwanIn(t, lab.Lab, ns2, ra2At(t, ra2Swanctl(ra2PSKSpec(ra2C2ID)), ra2C2Addr, true, ""))
	keepLogs(t, swan.LogPath, swan2.LogPath, g.LogPath)

	up := ra2Connect(t, lab, swan, g, ra2Want{})
	if up.VIP.String() != ra2OnlyAddr {
		t.Fatalf("first client: virtual IP %s, want the pool's only address %s", up.VIP, ra2OnlyAddr)
	}

	gmark := v1MarkLog(g.LogPath)
	ra2NoChild(t, swan2, "received INTERNAL_ADDRESS_FAILURE notify")
	line := v1WaitLine(t, "ikegate", gmark, 3*time.Second, "no address for the client", "client2.lab")
	if line != "" && (!strings.Contains(line, `"rw"`) || !strings.Contains(line, "exhausted")) {
		t.Errorf("ikegate's line for the refused client does not name pool \"rw\" and say it is exhausted: %s", line)
	}
	ra2GateOthers(t, g, up.VIP)
	ra2OneLease(t, g, up.VIP, "client.lab")
	ra2FirstStillUp(t, lab, swan, g, up)
	t.Logf("test took %v", time.Since(t0).Round(time.Millisecond))
}

// ra2NegAddressClaim: the first PSK client (@client.lab) has its virtual
// IP; a second PSK client (@client2.lab) asks for no virtual IP and
// proposes the first client's virtual IP as its TSi (local_ts = vip/32).
// ikegate's remote_ts for a client without a virtual IP is its own
// address (the connection has no remote_ts): the second client's CHILD SA
// is refused with TS_UNACCEPTABLE, no CHILD SA of it covers the first
// client's address, no second lease appears, and the first client's ping
// still crosses.
func ra2NegAddressClaim(t *testing.T) {
	t0 := time.Now()
	lab := newRALab(t)
	ra2RequirePlugins(t)
	ns2 := ra2AddClient(t, lab)
	g := lab.StartIkegate(t, lab.Right, ra2GateTOML(ra2PSKGate(), "", ""))
	swan := ra2StartSwan(t, lab.Lab, ra2Swanctl(ra2PSKSpec(ra2CliID)))
	keepLogs(t, swan.LogPath, g.LogPath)

	up := ra2Connect(t, lab, swan, g, ra2Want{})
	swan2 := ra2StartSwanIn(t, lab.Lab, ns2, ra2At(t, ra2Swanctl(ra2PSKSpec(ra2C2ID)), ra2C2Addr, false, up.VIP.String()+"/32"))
	keepLogs(t, swan2.LogPath)

	gmark := v1MarkLog(g.LogPath)
	ra2NoChild(t, swan2, "received TS_UNACCEPTABLE notify")
	line := v1WaitLine(t, "ikegate", gmark, 3*time.Second, "CHILD SA: traffic selectors unacceptable", up.VIP.String())
	if line != "" && !strings.Contains(line, ra2C2Addr) {
		t.Logf("note: ikegate's refusal does not name the second client's address %s", ra2C2Addr)
	}
	if n := ra2GateOthers(t, g, up.VIP); n != 1 {
		t.Logf("note: ikegate lists %d IKE SA(s) of the second client (its IKE SA may stay without a CHILD SA)", n)
	}
	ra2OneLease(t, g, up.VIP, "client.lab")
	ra2FirstStillUp(t, lab, swan, g, up)
	t.Logf("test took %v", time.Since(t0).Round(time.Millisecond))
}
