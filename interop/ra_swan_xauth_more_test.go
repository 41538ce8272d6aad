package interop

// More of strongSwan 5.9.8 (kernel-libipsec) as an IKEv1 XAUTH client of
// ikegate's remote-access connection, beside TestStrongSwanXAuthClient
// (group PSK, Mode Config pull, IPv4):
//
//   - rsa-cert: phase 1 with RSA certificates on both sides and XAUTH
//     (strongSwan local-1 auth = pubkey, local-2 auth = xauth: it proposes
//     XAUTHInitRSA, 65005; ikegate auth = "pubkey", xauth = "local").
//   - modecfg-push: ikegate modecfg = "push", strongSwan pull = no: the
//     address comes in ikegate's SET, strongSwan ACKs it.
//   - ipv6-vip: an IPv6 [[pool]] and strongSwan vips = ::, so it asks for
//     INTERNAL_IP6_ADDRESS; then a CHILD SA virtual IP/128 === an IPv6
//     network behind ikegate and an ICMPv6 echo through it.
//
// Every case has its own lab (raLab: client, gateway, host behind it) and
// runs in parallel with the others.

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

const (
	raV6Net    = "fd00:2::/64" // IPv6 network behind the gateway (ipv6-vip)
	raV6Inside = "fd00:2::1"
	raV6Host   = "fd00:2::10"
	raV6Pool   = "fd00:9::100-fd00:9::1ff"
	raGateFQDN = "vpn.lab"
	raCliFQDN  = "client.lab"
)

// raMoreGateTOML is ikegate's remote-access connection for these cases:
// conn as given, plus xauth = "local", pool = poolName, extra lines, the
// pool (an IPv4 one with raNet as its split-include network) and the users.
func raMoreGateTOML(c Conn, poolName, poolAddrs string, extra ...string) string {
	split := ""
	if !strings.Contains(poolAddrs, ":") {
		split = fmt.Sprintf("split_include = [%q]\n", raNet)
	}
	toml := IkegateTOML(userspaceGateway(RightAddr), c)
	lines := append([]string{`xauth = "local"`, fmt.Sprintf("pool = %q", poolName)}, extra...)
	toml = PatchIkegateTOML(toml, nil, c.Name, lines)
	return toml + fmt.Sprintf(`
[[pool]]
name = %q
addresses = [%q]
%s
[[user]]
name = %q
password = %q

[[user]]
name = "bob"
password = "bob-secret-not-used"
`, poolName, poolAddrs, split, raUser, raPassword)
}

// raSwanSpec is the strongSwan side: swanctl.conf parts that differ.
type raSwanSpec struct {
	vips     string // "0.0.0.0" or "::"
	pull     bool
	local1   string // body of local-1 { }
	remote   string // body of remote { }
	remoteTS string
	secrets  string // extra secrets entries
	ike, esp string // proposals ("": aes256-sha256-modp2048, aes256-sha256)
}

func raMoreSwanctl(s raSwanSpec) string {
	if s.ike == "" {
		s.ike, s.esp = "aes256-sha256-modp2048", "aes256-sha256"
	}
	pull := ""
	if !s.pull {
		pull = "    pull = no\n"
	}
	return fmt.Sprintf(`# written by ikegate interop harness
connections {
  %[1]s {
    version = 1
    local_addrs = %[2]s
    remote_addrs = %[3]s
    proposals = %[12]s
    vips = %[4]s
%[5]s    local-1 {
%[6]s
    }
    local-2 {
      auth = xauth
      xauth_id = %[7]s
    }
    remote {
%[8]s
    }
    children {
      %[1]s {
        remote_ts = %[9]s
        esp_proposals = %[13]s
      }
    }
  }
}
secrets {
  xauth-alice {
    id = %[7]s
    secret = %[10]q
  }
%[11]s
}
`, raConn, LeftAddr, RightAddr, s.vips, pull, indent(s.local1, "      "), raUser,
		indent(s.remote, "      "), s.remoteTS, raPassword, indent(s.secrets, "  "), s.ike, s.esp)
}

// raMoreSwanChild waits for strongSwan's IKE SA with one INSTALLED CHILD SA
// and returns it, the CHILD SA and the virtual IP (its local-ts, which must
// be one host prefix inside pool).
func raMoreSwanChild(t *testing.T, swan *Swan, pool func(netip.Addr) bool, bits int, remoteTS string) (*SwanIKESA, netip.Addr) {
	t.Helper()
	ssa := waitSwanSA(t, swan, raConn, 1, 15*time.Second)
	t.Logf("strongSwan: IKE SA %s v%d %s %s <-> %s, local id %q, remote id %q, %s/%s/%s, %d CHILD SA(s)",
		ssa.Name, ssa.Version, ssa.State, ssa.LocalHost, ssa.RemoteHost, ssa.LocalID, ssa.RemoteID,
		ssa.EncrAlg, ssa.IntegAlg, ssa.DHGroup, len(ssa.Children))
	if ssa.Version != 1 {
		t.Errorf("strongSwan: IKE SA version %d, want 1", ssa.Version)
	}
	var sc *SwanChildSA
	for i := range ssa.Children {
		if ssa.Children[i].State == "INSTALLED" {
			sc = &ssa.Children[i]
		}
	}
	if sc == nil {
		t.Fatalf("strongSwan: no INSTALLED CHILD SA: %+v", ssa.Children)
	}
	t.Logf("strongSwan: CHILD SA %s %s local-ts %v remote-ts %v spi-in %s spi-out %s",
		sc.Name, sc.State, sc.LocalTS, sc.RemoteTS, sc.SPIIn, sc.SPIOut)
	if len(sc.LocalTS) != 1 {
		t.Fatalf("strongSwan: CHILD SA local-ts %v, want one virtual IP/%d", sc.LocalTS, bits)
	}
	vp, err := netip.ParsePrefix(sc.LocalTS[0])
	if err != nil || vp.Bits() != bits || !pool(vp.Addr()) {
		t.Fatalf("strongSwan: CHILD SA local-ts %v, want a /%d in the pool (the virtual IP)", sc.LocalTS, bits)
	}
	if len(sc.RemoteTS) != 1 || sc.RemoteTS[0] != remoteTS {
		t.Errorf("strongSwan: CHILD SA remote-ts %v, want [%s]", sc.RemoteTS, remoteTS)
	}
	return ssa, vp.Addr()
}

// raMoreGateSA waits for ikegate's ESTABLISHED IKE SA of raConn with a
// virtual IP and checks user, virtual IP and pool.
func raMoreGateSA(t *testing.T, g *Ikegate, vip netip.Addr, pool string) *raGateSA {
	t.Helper()
	gsa, raw := raWaitSA(t, g, 10*time.Second)
	if gsa == nil {
		t.Errorf("ikegate: no ESTABLISHED IKE SA of %q with a virtual IP within 10 s; sas --json:\n%s", raConn, raw)
		return nil
	}
	t.Logf("ikegate: IKE SA %s v%d %s %s <-> %s %s, remote id %q, peer vendor %q, user %q, virtual IP %s (pool %s), %d CHILD SA(s)",
		gsa.Name, gsa.Version, gsa.State, gsa.Local, gsa.Remote, gsa.IKEProposal, gsa.RemoteID, gsa.PeerVendor,
		gsa.User, gsa.VirtualIP, gsa.Pool, len(gsa.Children))
	if gsa.Version != 1 || gsa.Initiator {
		t.Errorf("ikegate: IKE SA v%d initiator=%v, want an IKEv1 responder", gsa.Version, gsa.Initiator)
	}
	if gsa.User != raUser || gsa.VirtualIP != vip.String() || gsa.Pool != pool {
		t.Errorf("ikegate: user %q virtual_ip %q pool %q, want %q %q %q", gsa.User, gsa.VirtualIP, gsa.Pool, raUser, vip, pool)
	}
	return gsa
}

// raSwanLines logs strongSwan's transaction exchanges and virtual IP lines.
func raSwanLines(t *testing.T, swan *Swan) {
	t.Helper()
	for _, l := range v1Lines(swan.Log(), "TRANSACTION") {
		t.Logf("strongSwan: %s", v1Short(l, 300))
	}
	for _, l := range v1Lines(swan.Log(), "virtual IP") {
		t.Logf("strongSwan: %s", v1Short(l, 300))
	}
}

// pemBodyLines returns the first n base64 lines of a PEM file (to check
// that a private key never reaches a log).
func pemBodyLines(t *testing.T, path string, n int) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if l == "" || strings.HasPrefix(l, "-----") {
			continue
		}
		if out = append(out, l); len(out) == n {
			break
		}
	}
	return out
}

// TestStrongSwanXAuthMore: see the file comment.
func TestStrongSwanXAuthMore(t *testing.T) {
	t.Parallel()
	t.Run("rsa-cert", func(t *testing.T) { t.Parallel(); raSwanRSACase(t) })
	t.Run("modecfg-push", func(t *testing.T) { t.Parallel(); raSwanPushCase(t) })
	t.Run("ipv6-vip", func(t *testing.T) { t.Parallel(); raSwanV6Case(t) })
}

func raRequireSwanPlugins(t *testing.T) {
	t.Helper()
	for _, p := range []string{"xauth-generic", "unity", "kernel-libipsec"} {
		requirePlugin(t, p)
	}
}

// raSwanRSACase: Main Mode with RSA certificates (a test CA trusted by
// both; identities vpn.lab and client.lab in the subjectAltNames), XAUTH
// as alice, Mode Config pull. strongSwan proposes XAUTHInitRSA (65005)
// and ikegate accepts it; strongSwan verifies ikegate's RSA signature and
// certificate; XAUTH, virtual IP, CHILD SA and ping as in
// TestStrongSwanXAuthClient. Neither the password nor ikegate's private
// key appears in its log.
func raSwanRSACase(t *testing.T) {
	t0 := time.Now()
	lab := newRALab(t)
	raRequireSwanPlugins(t)
	pki := NewTestPKI(t, t.TempDir())
	gl := pki.Leaf(t, raGateFQDN, RSA2048, []string{raGateFQDN}, nil)
	cl := pki.Leaf(t, raCliFQDN, RSA2048, []string{raCliFQDN}, nil)
	capt := lab.CaptureFiltered(t, lab.Left, LabIface, TrafficCaptureFilter)

	c := Conn{Name: raConn, Version: 1, LocalAddr: RightAddr, RemoteAddr: "%any",
		LocalID: raGateFQDN, RemoteID: "%any",
		IKE: []string{"aes256-sha256-modp2048"}, ESP: []string{"aes256-sha256"},
		LocalTS: []string{"0.0.0.0/0"}}
	gl.UseIn(&c, pki)
	g := lab.StartIkegate(t, lab.Right, raMoreGateTOML(c, "rw", raPool))

	swan := lab.StartStrongSwan(t, lab.Left, SwanConfig{
		Swanctl: raMoreSwanctl(raSwanSpec{vips: "0.0.0.0", pull: true, remoteTS: raNet,
			local1: fmt.Sprintf("auth = pubkey\ncerts = %s\nid = %s", cl.Cert, raCliFQDN),
			remote: fmt.Sprintf("auth = pubkey\nid = %s\ncacerts = %s", raGateFQDN, pki.CACert)}),
		LibIPsec: true, Plugins: raSwanPlugins(), Extra: v1SwanExtra,
	})
	keepLogs(t, swan.LogPath, g.LogPath)
	// The client's private key: into swanctl/private, then load it.
	if err := copyFile(cl.Key, filepath.Join(swan.ConfDir, "private", raCliFQDN+".key")); err != nil {
		t.Fatal(err)
	}
	if out, err := swan.Swanctl("--load-creds", "--noprompt"); err != nil {
		t.Fatalf("swanctl --load-creds: %v\n%s", err, out)
	} else {
		t.Logf("swanctl --load-creds:\n%s", strings.TrimSpace(out))
	}
	gmark, smark := v1MarkLog(g.LogPath), v1MarkLog(swan.LogPath)

	tUp := time.Now()
	if out, err := swan.Initiate(raConn, 20); err != nil {
		t.Errorf("swanctl --initiate --child %s: %v\n%s", raConn, err, out)
	}
	pool := netip.MustParsePrefix(raPool)
	ssa, vip := raMoreSwanChild(t, swan, pool.Contains, 32, raNet)
	t.Logf("up in %v", time.Since(tUp).Round(time.Millisecond))
	if ssa.LocalID != raCliFQDN || ssa.RemoteID != raGateFQDN {
		t.Errorf("strongSwan identities: local %q remote %q, want %q %q", ssa.LocalID, ssa.RemoteID, raCliFQDN, raGateFQDN)
	}
	// strongSwan checked ikegate's certificate and RSA signature, and
	// did XAUTH as alice.
	v1WaitLine(t, "strongSwan", smark, time.Second, "authentication of '"+raGateFQDN+"' with RSA", "successful")
	v1WaitLine(t, "strongSwan", smark, time.Second, "using trusted ca certificate", pki.CADN)
	v1WaitLine(t, "strongSwan", smark, time.Second, "XAuth authentication of '"+raUser+"' (myself) successful")
	v1WaitLine(t, "strongSwan", smark, time.Second, "installing new virtual IP "+vip.String())
	raSwanLines(t, swan)

	gsa := raMoreGateSA(t, g, vip, "rw")
	if gsa != nil && gsa.RemoteID != raCliFQDN {
		t.Errorf("ikegate: remote id %q, want %q (from strongSwan's certificate)", gsa.RemoteID, raCliFQDN)
	}
	if gsa != nil {
		if gi, gr := v1Cookies(&gsa.v1GateSA); !strings.EqualFold(gi, ssa.InitSPI) || !strings.EqualFold(gr, ssa.RespSPI) {
			t.Errorf("cookies differ: ikegate %s/%s, strongSwan %s/%s", gi, gr, ssa.InitSPI, ssa.RespSPI)
		}
	}
	v1WaitLine(t, "ikegate", gmark, 2*time.Second, "IKEv1 phase 1 established", `"remote_id": "`+raCliFQDN+`"`)
	v1WaitLine(t, "ikegate", gmark, 2*time.Second, "XAUTH: user authenticated", `"user": "`+raUser+`"`)
	v1WaitLine(t, "ikegate", gmark, 2*time.Second, "Mode Config: virtual IP assigned", `"vip": "`+vip.String()+`"`)
	raGateChild(t, g, vip)
	raPing(t, lab.Left, vip)

	raCheckSecrets(t, g, append([]string{raPassword}, pemBodyLines(t, gl.Key, 3)...)...)
	pcap := capt.Stop()
	pkts := CheckDissection(t, pcap)
	raLogExchanges(t, pkts)
	// On the wire: strongSwan's MM1 offers XAUTHInitRSA only, ikegate's
	// MM2 accepts it.
	mm := v1MainModeWire(t, pcap)
	var offered, accepted []int
	for _, p := range mm {
		if !p.has(v1PayloadSA) {
			continue
		}
		switch {
		case strings.HasPrefix(p.Src, LeftAddr+":"):
			offered = append(offered, p.AuthMethods...)
		case strings.HasPrefix(p.Src, RightAddr+":"):
			accepted = append(accepted, p.AuthMethods...)
		}
	}
	t.Logf("wire: MM1 authentication methods %v, MM2 %v", offered, accepted)
	const xauthInitRSA = 65005
	if len(offered) == 0 || len(accepted) != 1 || accepted[0] != xauthInitRSA {
		t.Errorf("wire: MM1 offers authentication methods %v, MM2 accepts %v; want MM2 [%d] (XAUTHInitRSA)", offered, accepted, xauthInitRSA)
	}
	for _, a := range offered {
		if a != xauthInitRSA {
			t.Errorf("wire: strongSwan's MM1 offers authentication method %d, want only %d (XAUTHInitRSA)", a, xauthInitRSA)
		}
	}
	t.Logf("case took %v", time.Since(t0).Round(time.Millisecond))
}

// raSwanPushCase: group PSK + XAUTH as TestStrongSwanXAuthClient, with
// ikegate's modecfg = "push" and strongSwan's pull = no. strongSwan waits
// for the gateway's SET after XAUTH, installs the address in it and ACKs;
// it never sends a Mode Config REQUEST. ikegate logs the ACK and keeps the
// ISAKMP SA; the CHILD SA from the pushed address carries a ping.
func raSwanPushCase(t *testing.T) {
	t0 := time.Now()
	lab := newRALab(t)
	raRequireSwanPlugins(t)
	capt := lab.CaptureFiltered(t, lab.Left, LabIface, TrafficCaptureFilter)
	c := Conn{Name: raConn, Version: 1, LocalAddr: RightAddr, RemoteAddr: "%any",
		LocalID: raGateID, RemoteID: "%any", Auth: "psk", PSK: raGroupPSK,
		IKE: []string{"aes256-sha256-modp2048"}, ESP: []string{"aes256-sha256"},
		LocalTS: []string{"0.0.0.0/0"}}
	g := lab.StartIkegate(t, lab.Right, raMoreGateTOML(c, "rw", raPool, `modecfg = "push"`))
	swan := lab.StartStrongSwan(t, lab.Left, SwanConfig{
		Swanctl: raMoreSwanctl(raSwanSpec{vips: "0.0.0.0", pull: false, remoteTS: raNet,
			local1:  "auth = psk\nid = @client.lab",
			remote:  "auth = psk\nid = " + raGateID,
			secrets: fmt.Sprintf("ike-group {\n  id-1 = %s\n  secret = %q\n}", raGateID, raGroupPSK)}),
		LibIPsec: true, Plugins: raSwanPlugins(), Extra: v1SwanExtra,
	})
	keepLogs(t, swan.LogPath, g.LogPath)
	gmark, smark := v1MarkLog(g.LogPath), v1MarkLog(swan.LogPath)

	tUp := time.Now()
	if out, err := swan.Initiate(raConn, 20); err != nil {
		t.Errorf("swanctl --initiate --child %s: %v\n%s", raConn, err, out)
	}
	pool := netip.MustParsePrefix(raPool)
	_, vip := raMoreSwanChild(t, swan, pool.Contains, 32, raNet)
	t.Logf("up in %v", time.Since(tUp).Round(time.Millisecond))
	raSwanLines(t, swan)
	v1WaitLine(t, "strongSwan", smark, time.Second, "XAuth authentication of '"+raUser+"' (myself) successful")
	// The address came in a SET (CPS) that strongSwan answered with an
	// ACK (CPA); strongSwan never asked (no CPRQ with ADDR).
	v1WaitLine(t, "strongSwan", smark, time.Second, "parsed TRANSACTION request", "CPS(", "ADDR")
	v1WaitLine(t, "strongSwan", smark, time.Second, "generating TRANSACTION response", "CPA(")
	if l, ok := v1Line(swan.Log(), "generating TRANSACTION request", "CPRQ(", "ADDR"); ok {
		t.Errorf("strongSwan (pull = no) sent a Mode Config REQUEST: %s", l)
	}
	v1WaitLine(t, "strongSwan", smark, time.Second, "installing new virtual IP "+vip.String())

	raMoreGateSA(t, g, vip, "rw")
	v1WaitLine(t, "ikegate", gmark, 2*time.Second, "XAUTH: user authenticated", `"user": "`+raUser+`"`)
	v1WaitLine(t, "ikegate", gmark, 2*time.Second, "Mode Config: virtual IP assigned", `"vip": "`+vip.String()+`"`)
	v1WaitLine(t, "ikegate", gmark, 2*time.Second, "Mode Config: client acknowledged")
	if l, ok := v1Line(gmark.since(), "the client asked while our SET was out"); ok {
		t.Errorf("ikegate answered a Mode Config REQUEST in push mode: %s", l)
	}
	raGateChild(t, g, vip)
	raPing(t, lab.Left, vip)

	// The SA stays (no unanswered SET, no DPD removal) a little later.
	time.Sleep(2 * time.Second)
	if !g.Established(raConn) {
		t.Errorf("ikegate: IKE SA of %s gone 2 s after the ping; log:\n%s", raConn, tail(gmark.since(), 30))
	}
	if l, ok := v1Line(gmark.since(), "peer is dead"); ok {
		t.Errorf("ikegate: %s", l)
	}

	raCheckSecrets(t, g, raPassword, raGroupPSK)
	pkts := CheckDissection(t, capt.Stop())
	raLogExchanges(t, pkts)
	t.Logf("case took %v", time.Since(t0).Round(time.Millisecond))
}

// raSwanV6Case: group PSK + XAUTH, an IPv6 pool, strongSwan vips = ::
// (Mode Config pull of INTERNAL_IP6_ADDRESS). strongSwan must get an
// address of the IPv6 pool; then its CHILD SA vip/128 === fd00:2::/64
// must be installed on both sides and carry an ICMPv6 echo to a host
// behind ikegate.
func raSwanV6Case(t *testing.T) {
	t0 := time.Now()
	lab := newRALab(t)
	raRequireSwanPlugins(t)
	// IPv6 behind the gateway (nodad: usable at once).
	MustRun(t, IPCmd, "-n", lab.Right, "addr", "add", raV6Inside+"/64", "dev", "in0", "nodad")
	MustRun(t, IPCmd, "-n", lab.Host, "addr", "add", raV6Host+"/64", "dev", LabIface, "nodad")
	MustRun(t, IPCmd, "-n", lab.Host, "-6", "route", "add", "default", "via", raV6Inside)
	MustRun(t, IPCmd, "netns", "exec", lab.Right, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1")
	capt := lab.CaptureFiltered(t, lab.Left, LabIface, TrafficCaptureFilter)

	c := Conn{Name: raConn, Version: 1, LocalAddr: RightAddr, RemoteAddr: "%any",
		LocalID: raGateID, RemoteID: "%any", Auth: "psk", PSK: raGroupPSK,
		IKE: []string{"aes256-sha256-modp2048"}, ESP: []string{"aes256-sha256"},
		LocalTS: []string{"::/0"}}
	g := lab.StartIkegate(t, lab.Right, raMoreGateTOML(c, "rw6", raV6Pool))
	swan := lab.StartStrongSwan(t, lab.Left, SwanConfig{
		Swanctl: raMoreSwanctl(raSwanSpec{vips: "::", pull: true, remoteTS: raV6Net,
			local1:  "auth = psk\nid = @client.lab",
			remote:  "auth = psk\nid = " + raGateID,
			secrets: fmt.Sprintf("ike-group {\n  id-1 = %s\n  secret = %q\n}", raGateID, raGroupPSK)}),
		// Without unity: with it (and ikegate's Cisco Unity vendor ID)
		// strongSwan's Quick Mode proposes 0.0.0.0/0 as the gateway's
		// side whatever the family of its virtual IP (seen: IDs
		// fd00:9::100/128 === 0.0.0.0/0, refused by ikegate with
		// INVALID_ID_INFORMATION).
		LibIPsec: true, Plugins: append(append([]string(nil), DefaultSwanPlugins...), "xauth-generic"), Extra: v1SwanExtra,
	})
	keepLogs(t, swan.LogPath, g.LogPath)
	gmark, smark := v1MarkLog(g.LogPath), v1MarkLog(swan.LogPath)
	first, last := netip.MustParseAddr("fd00:9::100"), netip.MustParseAddr("fd00:9::1ff")
	inPool := func(a netip.Addr) bool { return a.Is6() && first.Compare(a) <= 0 && a.Compare(last) <= 0 }

	tUp := time.Now()
	out, err := swan.Initiate(raConn, 20)
	t.Logf("swanctl --initiate --child %s (%v, %v): %v\n%s", raConn, time.Since(tUp).Round(time.Millisecond), err, err, v1Short(out, 2000))
	raSwanLines(t, swan)

	// 1. The address: strongSwan asked for INTERNAL_IP6_ADDRESS and
	// installed one of the IPv6 pool.
	var vip netip.Addr
	t.Run("address", func(t *testing.T) {
		v1WaitLine(t, "strongSwan", smark, 5*time.Second, "generating TRANSACTION request", "CPRQ(ADDR6")
		re := regexp.MustCompile(`installing new virtual IP (\S+)`)
		var got string
		WaitFor(t, 5*time.Second, func() bool {
			m := re.FindStringSubmatch(smark.since())
			if m != nil {
				got = m[1]
			}
			return m != nil
		})
		a, err := netip.ParseAddr(got)
		if err != nil || !inPool(a) {
			t.Errorf("strongSwan installed virtual IP %q, want an address of the IPv6 pool %s; its log:\n%s", got, raV6Pool,
				strings.Join(v1Lines(smark.since(), "TRANSACTION"), "\n")+"\n"+strings.Join(v1Lines(smark.since(), "virtual IP"), "\n")+
					"\n"+strings.Join(v1Lines(smark.since(), "ADDR"), "\n"))
			for _, l := range v1Lines(gmark.since(), "Mode Config") {
				t.Logf("ikegate: %s", v1Short(l, 400))
			}
			return
		}
		vip = a
		t.Logf("strongSwan's virtual IP: %s", vip)
		raMoreGateSA(t, g, vip, "rw6")
		v1WaitLine(t, "ikegate", gmark, 2*time.Second, "Mode Config: virtual IP assigned", `"vip": "`+vip.String()+`"`)
	})
	if !vip.IsValid() {
		raCheckSecrets(t, g, raPassword, raGroupPSK)
		CheckDissection(t, capt.Stop())
		return
	}

	// 2. The CHILD SA vip/128 === fd00:2::/64 on both sides.
	t.Run("child", func(t *testing.T) {
		defer func() {
			if t.Failed() {
				for _, l := range v1Lines(gmark.since(), "Quick Mode") {
					t.Logf("ikegate: %s", v1Short(l, 400))
				}
				for _, l := range v1Lines(smark.since(), "QUICK_MODE") {
					t.Logf("strongSwan: %s", v1Short(l, 300))
				}
			}
		}()
		raMoreSwanChild(t, swan, func(a netip.Addr) bool { return a == vip }, 128, raV6Net)
		sa := v1WaitGate(t, g, raConn, 10*time.Second, v1Settled(1))
		if len(sa.Children) != 1 {
			t.Fatalf("ikegate: %d CHILD SAs, want 1: %+v", len(sa.Children), sa.Children)
		}
		ch := sa.Children[0]
		t.Logf("ikegate: CHILD SA %s %s %s local_ts %v remote_ts %v", ch.Name, ch.State, ch.ESPProposal, ch.LocalTS, ch.RemoteTS)
		want := netip.PrefixFrom(vip, 128).String()
		if ch.State != "INSTALLED" || len(ch.RemoteTS) != 1 || ch.RemoteTS[0] != want {
			t.Errorf("ikegate: CHILD SA %s remote_ts %v, want INSTALLED [%s]", ch.State, ch.RemoteTS, want)
		}
	})

	// 3. ICMPv6 echo from the virtual IP to the host behind ikegate.
	t.Run("ping6", func(t *testing.T) {
		const n = 3
		got, err := Ping(lab.Left, vip.String(), raV6Host, n, 200*time.Millisecond, 3*time.Second)
		if err != nil || got != n {
			t.Errorf("ping6 %s -> %s through the tunnel: %d of %d replies (%v)", vip, raV6Host, got, n, err)
		} else {
			t.Logf("ping6 %s -> %s through the tunnel: %d/%d replies", vip, raV6Host, got, n)
		}
		if ch := gateChild(g, raConn); ch != nil {
			t.Logf("ikegate CHILD SA counters: in %d packets, out %d packets, outside-TS drops %d",
				ch.InPackets, ch.OutPackets, ch.OutsideTSDrops)
		}
	})

	raCheckSecrets(t, g, raPassword, raGroupPSK)
	pkts := CheckDissection(t, capt.Stop())
	raLogExchanges(t, pkts)
	t.Logf("case took %v", time.Since(t0).Round(time.Millisecond))
}
