package interop

// IKEv2 remote access after the connection is up: what an established
// road warrior (strongSwan 5.9.8, kernel-libipsec, EAP-MSCHAPv2 as alice
// against ikegate's local users, ikegate's certificate vpn.lab) does over
// its life, and what ikegate must make of it:
//
//   - client-rekeys: the client rekeys its CHILD SA (rekey_time 8s) and its
//     IKE SA (rekey_time 12s): new SPIs on both sides, the same virtual
//     IP, one lease, traffic still flows.
//   - windows-child-rekey: a Windows-like client (IKE aes256-sha256-
//     modp2048, ESP aes256-sha1 without PFS, remote_ts 0.0.0.0/0,
//     fragmentation) rekeys its CHILD SA with ESP weaker than its IKE SA.
//   - reauth: the client reauthenticates (reauth_time 12s, make-before-
//     break): a new IKE SA for alice with the same virtual IP, the old one
//     gone, one lease.
//   - dpd-both: both sides run liveness checks (3 s); then the client dies
//     (SIGKILL): ikegate declares it dead within dpd_delay + dpd_timeout
//     and releases the lease.
//   - initial-contact: the client's charon is killed (no DELETE) and
//     started again; it connects with INITIAL_CONTACT and ikegate replaces
//     the stale SA: one IKE SA for alice, the same virtual IP, one lease.
//
// Facts (strongSwan 5.9.8):
//   - swanctl.conf rekey_time / reauth_time / rand_time / over_time are
//     connection options (IKE SA), rekey_time / life_time / rand_time are
//     child options; make_before_break is not a swanctl.conf option but
//     charon.make_before_break in strongswan.conf (default no in 5.9).
//   - charon logs its own liveness checks as "sending DPD request".

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// ra2Tune adds lines to a swanctl.conf written by ra2Swanctl: ike lines
// into the connection (after "version = 2"), child lines into its child
// (after esp_proposals).
func ra2Tune(conf string, ike, child []string) string {
	if len(ike) > 0 {
		conf = strings.Replace(conf, "    version = 2\n", "    version = 2\n    "+strings.Join(ike, "\n    ")+"\n", 1)
	}
	if len(child) > 0 {
		re := regexp.MustCompile(`(?m)^(\s*esp_proposals = .*\n)`)
		conf = re.ReplaceAllString(conf, "${1}        "+strings.Join(child, "\n        ")+"\n")
	}
	return conf
}

// ra2StartSwanX is ra2StartSwan with more strongswan.conf (charon-systemd
// section) and more plugins.
func ra2StartSwanX(t *testing.T, lab *Lab, swanctl, extra string, plugins ...string) *ra2Swan {
	t.Helper()
	dir := shortTempDir(t, "rw-dns-")
	resolv := filepath.Join(dir, "resolv.conf")
	writeFile(t, resolv, "", 0o644)
	swan := lab.StartStrongSwan(t, lab.Left, SwanConfig{
		Swanctl: swanctl, LibIPsec: true, Plugins: append(ra2SwanPlugins(), plugins...),
		Extra: fmt.Sprintf("plugins {\n  resolve {\n    file = %s\n  }\n}\n%s", resolv, extra),
	})
	return &ra2Swan{Swan: swan, Resolv: resolv}
}

// ra2Snap is what both sides list of the road warrior's SAs at one time.
type ra2Snap struct {
	SwanI, SwanR    string // strongSwan's IKE SPIs
	SwanIn, SwanOut string // strongSwan's INSTALLED CHILD SA SPIs
	GateI, GateR    string // ikegate's IKE SPIs (initiator, responder)
	GateIn, GateOut string // ikegate's CHILD SA SPIs
	VIP             string // strongSwan's local-vips
	GateVIP, User   string
	GateIKEs        int // ikegate's IKE SAs of raConn
	SwanChild       SwanChildSA
}

func (s ra2Snap) String() string {
	return fmt.Sprintf("strongSwan IKE %s/%s CHILD in %s out %s vip %s | ikegate IKE %s/%s CHILD in %s out %s vip %s user %q (%d IKE SAs)",
		s.SwanI, s.SwanR, s.SwanIn, s.SwanOut, s.VIP, s.GateI, s.GateR, s.GateIn, s.GateOut, s.GateVIP, s.User, s.GateIKEs)
}

// ra2Snapshot reads both sides (nil parts stay empty).
func ra2Snapshot(t *testing.T, swan *ra2Swan, g *Ikegate) ra2Snap {
	t.Helper()
	var s ra2Snap
	if ssa := swan.IKESA(raConn); ssa != nil {
		s.SwanI, s.SwanR = strings.ToLower(ssa.InitSPI), strings.ToLower(ssa.RespSPI)
		if len(ssa.LocalVIPs) > 0 {
			s.VIP = ssa.LocalVIPs[0]
		}
		for _, c := range ssa.Children {
			if c.State == "INSTALLED" {
				s.SwanIn, s.SwanOut, s.SwanChild = strings.ToLower(c.SPIIn), strings.ToLower(c.SPIOut), c
			}
		}
	}
	sas, _, _ := raSAs(g)
	for i := range sas {
		if sas[i].Name != raConn {
			continue
		}
		s.GateIKEs++
		if sas[i].State != "ESTABLISHED" {
			continue
		}
		gi, gr := spisOf(&sas[i].IkegateSA)
		s.GateI, s.GateR = strings.ToLower(gi), strings.ToLower(gr)
		s.GateVIP, s.User = sas[i].VirtualIP, sas[i].User
		for _, c := range sas[i].Children {
			if c.State == "INSTALLED" {
				s.GateIn, s.GateOut = strings.ToLower(c.SPIIn), strings.ToLower(c.SPIOut)
			}
		}
	}
	return s
}

// agree: both sides list the same IKE SA and the same CHILD SA (one's in
// is the other's out), one IKE SA on ikegate's side.
func (s ra2Snap) agree() bool {
	return s.SwanI != "" && s.GateIKEs == 1 && s.SwanI == s.GateI && s.SwanR == s.GateR &&
		s.SwanIn != "" && s.SwanIn == s.GateOut && s.SwanOut == s.GateIn
}

// ra2CheckOneLease: ikegate leases exactly vip, to user.
func ra2CheckOneLease(t *testing.T, g *Ikegate, vip netip.Addr, user string) {
	t.Helper()
	ls := radLeases(t, g)
	if len(ls) != 1 {
		t.Errorf("ikegate leases --json: %d leases, want exactly one (%s to %s): %+v", len(ls), vip, user, ls)
		return
	}
	ra2CheckLease(t, g, vip, user)
}

// ra2AfterCase is one subtest's lab: ikegate (certificate vpn.lab,
// remote_auth eap-mschapv2, conn lines extra) and the client.
type ra2AfterCase struct {
	lab  *raLab
	e    *ra2EAPCase
	g    *Ikegate
	swan *ra2Swan
	conf string // the client's swanctl.conf
	sext string // the client's extra strongswan.conf
}

func newRA2After(t *testing.T, gateESP []string, gateLines []string, spec ra2Spec, ike, child []string, swanExtra string) *ra2AfterCase {
	t.Helper()
	lab := newRALab(t)
	ra2RequirePlugins(t)
	e := newRA2EAPCase(t, RSA2048)
	c := e.gate("aes256-sha256-modp2048", "aes256-sha256")
	if gateESP != nil {
		c.ESP = gateESP
	}
	g := lab.StartIkegate(t, lab.Right, ra2GateTOML(c, "eap-mschapv2", "", gateLines...))
	conf := ra2Tune(e.spec("", raPassword, spec), ike, child)
	swan := ra2StartSwanX(t, lab.Lab, conf, swanExtra)
	keepLogs(t, swan.LogPath, g.LogPath)
	return &ra2AfterCase{lab: lab, e: e, g: g, swan: swan, conf: conf, sext: swanExtra}
}

// waitSnap polls both sides until cond holds for a snapshot.
func (a *ra2AfterCase) waitSnap(t *testing.T, timeout time.Duration, cond func(ra2Snap) bool) (ra2Snap, bool) {
	t.Helper()
	var s ra2Snap
	ok := WaitFor(t, timeout, func() bool {
		s = ra2Snapshot(t, a.swan, a.g)
		return cond(s)
	})
	return s, ok
}

// TestIKEv2RAAfter: the life of an established IKEv2 road warrior (see
// the file comment).
func TestIKEv2RAAfter(t *testing.T) {
	t.Parallel()

	t.Run("client-rekeys", func(t *testing.T) {
		t.Parallel()
		t0 := time.Now()
		a := newRA2After(t, nil, nil, ra2Spec{},
			[]string{"rekey_time = 12s", "reauth_time = 0", "rand_time = 0", "over_time = 5s"},
			[]string{"rekey_time = 8s", "life_time = 30s", "rand_time = 0"}, "")
		smark, gmark := v1MarkLog(a.swan.LogPath), v1MarkLog(a.g.LogPath)
		up := ra2Connect(t, a.lab, a.swan, a.g, ra2Want{User: raUser})
		before, ok := a.waitSnap(t, 3*time.Second, ra2Snap.agree)
		t.Logf("before: %s", before)
		if !ok {
			t.Fatalf("the two sides do not agree on the SAs before any rekey: %s", before)
		}
		// Both rekeys: the IKE SPIs and the CHILD SPIs all new, and the
		// sides agree again.
		after, ok := a.waitSnap(t, 22*time.Second, func(s ra2Snap) bool {
			return s.agree() && s.SwanI != before.SwanI && s.SwanR != before.SwanR &&
				s.SwanIn != before.SwanIn && s.SwanOut != before.SwanOut
		})
		t.Logf("after:  %s (%v after the connect)", after, time.Since(t0).Round(time.Millisecond))
		for _, l := range v1Lines(smark.since(), "rekey") {
			t.Logf("strongSwan: %s", v1Short(l, 300))
		}
		for _, l := range v1Lines(gmark.since(), "rekey") {
			t.Logf("ikegate: %s", v1Short(l, 300))
		}
		if !ok {
			t.Errorf("no new IKE SA and CHILD SA agreed on by both sides within 22 s (rekey_time 12s / 8s); strongSwan's problems:\n%s\nikegate's warnings:\n%s",
				ra2SwanProblems(smark.since()), strings.Join(v1Lines(gmark.since(), "\tWARN\t"), "\n"))
		}
		v1WaitLine(t, "strongSwan", smark, time.Second, "IKE_SA "+raConn+"[", "rekeyed between")
		if after.VIP != up.VIP.String() || after.GateVIP != up.VIP.String() {
			t.Errorf("virtual IP after the rekeys: strongSwan %q, ikegate %q, want %s (unchanged)", after.VIP, after.GateVIP, up.VIP)
		}
		if after.User != raUser {
			t.Errorf("ikegate: user of the rekeyed IKE SA %q, want %q", after.User, raUser)
		}
		ra2CheckOneLease(t, a.g, up.VIP, raUser)
		raPing(t, a.lab.Left, up.VIP)
		ra2Disconnect(t, a.swan, a.g)
		raCheckSecrets(t, a.g, raPassword)
	})

	t.Run("windows-child-rekey", func(t *testing.T) {
		t.Parallel()
		a := newRA2After(t, []string{"aes256-sha1", "aes256-sha256"}, nil,
			ra2Spec{ike: "aes256-sha256-modp2048", esp: "aes256-sha1", frag: "yes", remoteTS: "0.0.0.0/0"},
			[]string{"rand_time = 0"}, []string{"rekey_time = 8s", "life_time = 30s", "rand_time = 0"}, "")
		smark := v1MarkLog(a.swan.LogPath)
		want := ra2Want{User: raUser, RemoteTS: raNet,
			EncrAlg: "AES_CBC", EncrKeysize: "256", IntegAlg: "HMAC_SHA2_256_128", DHGroup: "MODP_2048",
			ChildEncrAlg: "AES_CBC", ChildIntegAlg: "HMAC_SHA1_96"}
		up := ra2Connect(t, a.lab, a.swan, a.g, want)
		before, ok := a.waitSnap(t, 3*time.Second, ra2Snap.agree)
		t.Logf("before: %s", before)
		if !ok {
			t.Fatalf("the two sides do not agree on the SAs before the rekey: %s", before)
		}
		after, ok := a.waitSnap(t, 14*time.Second, func(s ra2Snap) bool {
			return s.agree() && s.SwanIn != before.SwanIn && s.SwanOut != before.SwanOut
		})
		t.Logf("after:  %s", after)
		for _, l := range v1Lines(smark.since(), "CREATE_CHILD_SA") {
			t.Logf("strongSwan: %s", v1Short(l, 300))
		}
		if !ok {
			t.Fatalf("no rekeyed CHILD SA agreed on by both sides within 14 s (rekey_time 8s); strongSwan's problems:\n%s",
				ra2SwanProblems(smark.since()))
		}
		if after.SwanI != before.SwanI {
			t.Errorf("the IKE SA changed (%s -> %s): only the CHILD SA was to be rekeyed", before.SwanI, after.SwanI)
		}
		if c := after.SwanChild; c.EncrAlg != "AES_CBC" || c.IntegAlg != "HMAC_SHA1_96" {
			t.Errorf("strongSwan: rekeyed CHILD SA %s/%s, want AES_CBC/HMAC_SHA1_96", c.EncrAlg, c.IntegAlg)
		}
		if gc := gateChild(a.g, raConn); gc == nil {
			t.Errorf("ikegate: no INSTALLED CHILD SA after the rekey")
		} else {
			t.Logf("ikegate: rekeyed CHILD SA %s in %s out %s", gc.ESPProposal, gc.SPIIn, gc.SPIOut)
			if p := strings.ToLower(gc.ESPProposal); !strings.Contains(p, "sha1") && !strings.Contains(p, "sha_1") && !strings.Contains(p, "sha-1") {
				t.Errorf("ikegate: rekeyed CHILD SA proposal %q, want aes256-sha1", gc.ESPProposal)
			}
		}
		if after.VIP != up.VIP.String() {
			t.Errorf("virtual IP after the CHILD rekey %q, want %s", after.VIP, up.VIP)
		}
		ra2CheckOneLease(t, a.g, up.VIP, raUser)
		raPing(t, a.lab.Left, up.VIP)
		ra2Disconnect(t, a.swan, a.g)
	})

	t.Run("reauth", func(t *testing.T) {
		t.Parallel()
		a := newRA2After(t, nil, nil, ra2Spec{},
			[]string{"rekey_time = 0", "reauth_time = 12s", "rand_time = 0", "over_time = 10s"}, nil,
			"make_before_break = yes")
		smark, gmark := v1MarkLog(a.swan.LogPath), v1MarkLog(a.g.LogPath)
		up := ra2Connect(t, a.lab, a.swan, a.g, ra2Want{User: raUser})
		before, ok := a.waitSnap(t, 3*time.Second, ra2Snap.agree)
		t.Logf("before: %s", before)
		if !ok {
			t.Fatalf("the two sides do not agree on the SAs before the reauthentication: %s", before)
		}
		after, ok := a.waitSnap(t, 20*time.Second, func(s ra2Snap) bool {
			return s.agree() && s.SwanI != before.SwanI && s.SwanR != before.SwanR
		})
		t.Logf("after:  %s", after)
		for _, l := range v1Lines(smark.since(), "reauth") {
			t.Logf("strongSwan: %s", v1Short(l, 300))
		}
		for _, l := range v1Lines(gmark.since(), "\tINFO\t") {
			t.Logf("ikegate: %s", v1Short(l, 300))
		}
		if !ok {
			raw, _ := a.swan.Swanctl("--list-sas")
			gsas, out, _ := raSAs(a.g)
			t.Fatalf("no new IKE SA agreed on by both sides within 20 s (reauth_time 12s); strongSwan's problems:\n%s\nswanctl --list-sas:\n%s\nikegate (%d SAs): %s",
				ra2SwanProblems(smark.since()), raw, len(gsas), out)
		}
		v1WaitLine(t, "strongSwan", smark, time.Second, "reauthenticating IKE_SA")
		if after.VIP != up.VIP.String() || after.GateVIP != up.VIP.String() {
			t.Errorf("virtual IP after the reauthentication: strongSwan %q, ikegate %q, want %s (the same)", after.VIP, after.GateVIP, up.VIP)
		}
		if after.User != raUser {
			t.Errorf("ikegate: user of the new IKE SA %q, want %q", after.User, raUser)
		}
		// The old IKE SA: gone on both sides.
		time.Sleep(time.Second)
		if sas, _ := a.swan.ListSAs(); len(sas) != 1 {
			t.Errorf("strongSwan: %d IKE SAs after the reauthentication, want 1: %+v", len(sas), sas)
		}
		if s := ra2Snapshot(t, a.swan, a.g); s.GateIKEs != 1 || !s.agree() {
			t.Errorf("after the reauthentication settled: %s, want one IKE SA both sides agree on", s)
		}
		v1WaitLine(t, "ikegate", gmark, time.Second, "EAP: user authenticated", `"user": "`+raUser+`"`)
		if n := len(v1Lines(gmark.since(), "EAP: user authenticated")); n != 2 {
			t.Errorf("ikegate: %d \"EAP: user authenticated\" lines, want 2 (the connect and the reauthentication)", n)
		}
		ra2CheckOneLease(t, a.g, up.VIP, raUser)
		raPing(t, a.lab.Left, up.VIP)
		ra2Disconnect(t, a.swan, a.g)
	})

	t.Run("dpd-both", func(t *testing.T) {
		t.Parallel()
		const delay, timeout = 3 * time.Second, 9 * time.Second
		a := newRA2After(t, nil, []string{`dpd_delay = "3s"`, `dpd_timeout = "9s"`, `dpd_action = "clear"`}, ra2Spec{},
			[]string{"dpd_delay = 3s"}, nil, "")
		up := ra2Connect(t, a.lab, a.swan, a.g, ra2Want{User: raUser})
		smark, gmark := v1MarkLog(a.swan.LogPath), v1MarkLog(a.g.LogPath)
		// A silent tunnel: liveness checks both ways.
		time.Sleep(3*delay + delay/2)
		gChecks := v1Lines(gmark.since(), "liveness check")
		sChecks := v1Lines(smark.since(), "sending DPD request")
		sAnswers := v1Lines(smark.since(), "parsed INFORMATIONAL request", "[ ]")
		t.Logf("in %v of silence: ikegate sent %d liveness checks (strongSwan parsed %d empty INFORMATIONAL requests), strongSwan sent %d DPD requests",
			3*delay+delay/2, len(gChecks), len(sAnswers), len(sChecks))
		for _, l := range append(gChecks, sChecks...) {
			t.Logf("  %s", v1Short(l, 250))
		}
		if out, err := a.g.ctl("stats"); err == nil {
			t.Logf("ikegate stats:\n%s", out)
		}
		// Each side's probe counts as life for the other (an inbound IKE
		// request resets both ikegate's and charon's timer), so with the
		// same delay they take turns.
		if len(gChecks) == 0 || len(sAnswers) == 0 {
			t.Errorf("ikegate: %d liveness checks logged, strongSwan parsed %d empty INFORMATIONAL requests in %v (dpd_delay 3s, silent tunnel): want both > 0",
				len(gChecks), len(sAnswers), 3*delay+delay/2)
		}
		if len(sChecks) == 0 {
			// Not a failure: each side's check is due only after dpd_delay
			// without hearing from the other, and ikegate's checks (same
			// delay) can keep resetting strongSwan's timer. That ikegate
			// answers a client's DPD is shown by the runs where strongSwan's
			// timer fires first, and by the IKEv2 DPD tests.
			t.Logf("strongSwan sent no DPD request in %v: ikegate's liveness checks kept it from being due", 3*delay+delay/2)
		}
		if s := ra2Snapshot(t, a.swan, a.g); !s.agree() {
			t.Errorf("the tunnel did not survive the liveness checks: %s", s)
		}
		raPing(t, a.lab.Left, up.VIP)

		// The client dies without a word.
		gmark = v1MarkLog(a.g.LogPath)
		a.swan.Proc.Kill()
		tKill := time.Now()
		gone := WaitFor(t, delay+timeout+5*time.Second, func() bool {
			sas, _, err := raSAs(a.g)
			return err == nil && len(sas) == 0
		})
		took := time.Since(tKill)
		for _, l := range v1Lines(gmark.since(), "\tWARN\t") {
			t.Logf("ikegate: %s", v1Short(l, 300))
		}
		if !gone {
			t.Fatalf("ikegate still has the dead client's IKE SA %v after it was killed (dpd_delay %v + dpd_timeout %v)", took.Round(time.Millisecond), delay, timeout)
		}
		t.Logf("ikegate removed the dead client's IKE SA %v after the kill (dpd_delay %v + dpd_timeout %v)", took.Round(time.Millisecond), delay, timeout)
		if took > delay+timeout+2*time.Second {
			t.Errorf("ikegate took %v to declare the client dead, want within dpd_delay+dpd_timeout = %v", took.Round(time.Millisecond), delay+timeout)
		}
		v1WaitLine(t, "ikegate", gmark, time.Second, "peer is dead")
		if !WaitFor(t, 2*time.Second, func() bool { return len(radLeases(t, a.g)) == 0 }) {
			t.Errorf("ikegate leases after the client was declared dead: %+v, want none", radLeases(t, a.g))
		}
	})

	t.Run("initial-contact", func(t *testing.T) {
		t.Parallel()
		a := newRA2After(t, nil, nil, ra2Spec{}, nil, nil, "")
		up := ra2Connect(t, a.lab, a.swan, a.g, ra2Want{User: raUser})
		before := ra2Snapshot(t, a.swan, a.g)
		t.Logf("before: %s", before)
		a.swan.Proc.Kill()
		// What the killed charon left in the namespace: the virtual IP on
		// an interface, routes of table 220 and the rule that selects it.
		ra2CleanClient(t, a.lab.Left, up.VIP)
		time.Sleep(500 * time.Millisecond)
		if sas, _, _ := raSAs(a.g); len(sas) != 1 {
			t.Errorf("ikegate: %d IKE SAs right after the client died, want its stale one: %+v", len(sas), sas)
		}

		gmark := v1MarkLog(a.g.LogPath)
		swan2 := ra2StartSwanX(t, a.lab.Lab, a.conf, a.sext)
		keepLogs(t, swan2.LogPath)
		smark := v1MarkLog(swan2.LogPath)
		up2 := ra2Connect(t, a.lab, swan2, a.g, ra2Want{User: raUser})
		if l, ok := v1Line(smark.since(), "generating IKE_AUTH request"); ok {
			t.Logf("strongSwan: %s", v1Short(l, 300))
			if !strings.Contains(l, "N(INIT_CONTACT)") {
				t.Errorf("strongSwan's IKE_AUTH request has no N(INIT_CONTACT): %s", l)
			}
		}
		// ikegate's words: "INITIAL_CONTACT from the peer: removing its
		// stale IKE SA" when the stale SA is in the same shard, else the
		// runtime's "removing an IKE SA of a peer" (reason INITIAL_CONTACT)
		// and the shard's "deleting IKE SA: INITIAL_CONTACT: ...".
		v1WaitLine(t, "ikegate", gmark, 2*time.Second, "INITIAL_CONTACT", before.GateI)
		if !WaitFor(t, 2*time.Second, func() bool {
			for _, l := range v1Lines(gmark.since(), "INITIAL_CONTACT") {
				if strings.Contains(l, "removing") || strings.Contains(l, "deleting") {
					return true
				}
			}
			return false
		}) {
			t.Errorf("ikegate logged no removal of the stale IKE SA for INITIAL_CONTACT; its INFO lines:\n%s",
				strings.Join(v1Lines(gmark.since(), "\tINFO\t"), "\n"))
		}
		for _, l := range v1Lines(gmark.since(), "INITIAL_CONTACT") {
			t.Logf("ikegate: %s", v1Short(l, 300))
		}
		after, ok := func() (ra2Snap, bool) {
			var s ra2Snap
			ok := WaitFor(t, 3*time.Second, func() bool { s = ra2Snapshot(t, swan2, a.g); return s.agree() })
			return s, ok
		}()
		t.Logf("after:  %s", after)
		if !ok {
			sas, out, _ := raSAs(a.g)
			t.Errorf("ikegate has %d IKE SAs for the restarted client, want one, the new one: %s", len(sas), out)
		}
		if after.GateI == before.GateI {
			t.Errorf("ikegate still lists the stale IKE SA %s", before.GateI)
		}
		if up2.VIP != up.VIP {
			t.Errorf("virtual IP after the restart %s, want %s (the same: alice's lease)", up2.VIP, up.VIP)
		}
		ra2CheckOneLease(t, a.g, up2.VIP, raUser)
		ra2Disconnect(t, swan2, a.g)
	})
}

// ra2CleanClient removes what a killed charon (kernel-libipsec) left in
// namespace ns: vip on any interface, table 220 and its rule.
func ra2CleanClient(t *testing.T, ns string, vip netip.Addr) {
	t.Helper()
	out, _ := runOut(IPCmd, "-n", ns, "-o", "addr", "show")
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, " inet "+vip.String()+"/") {
			f := strings.Fields(l)
			t.Logf("client: the killed charon left %s on %s: removing it", vip, f[1])
			_, _ = runOut(IPCmd, "-n", ns, "addr", "del", vip.String()+"/32", "dev", f[1])
		}
	}
	_, _ = runOut(IPCmd, "-n", ns, "route", "flush", "table", "220")
	for i := 0; i < 4; i++ {
		if _, err := runOut(IPCmd, "-n", ns, "rule", "del", "table", "220"); err != nil {
			break
		}
	}
}
