package interop

// IKEv2 remote access ("road warriors"): strongSwan 5.9.8 (kernel-libipsec)
// as the client asking for a virtual IP with a configuration payload
// (CP(CFG_REQUEST) in IKE_AUTH), against ikegate's IKEv2 connection from
// %any with pool = "rw", unique = "replace" and remote_auth:
//
//   - TestIKEv2RAPSKConfig: PSK both ways.
//   - TestIKEv2RACertConfig: certificates both ways.
//   - TestIKEv2RAEAPLocal: ikegate authenticates with its certificate,
//     the client with EAP-MSCHAPv2 against ikegate's [[user]] list; then
//     a wrong password is refused.
//   - TestIKEv2RAEAPRadius: EAP-MSCHAPv2 passed through to FreeRADIUS
//     (remote_auth = "eap-radius"), accounting Start and Stop; then a
//     wrong password is refused by FreeRADIUS.
//   - TestIKEv2RAWindowsLike, TestIKEv2RAIOSLike: EAP-MSCHAPv2 with the
//     proposals and habits of the Windows and iOS/macOS built-in clients.
//
// Each checks what a road warrior must get (ra2Connect): an address of the
// pool (strongSwan's local-vips, installed on an interface of the client,
// ikegate's virtual_ip and lease), the pool's DNS server (strongSwan's
// resolve plugin writes it), the network behind the gateway as its CHILD
// SA's remote-ts, and a ping from the virtual IP to the host behind the
// gateway. Topology: raLab (ra_ikev1_test.go).

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// ra2LogWire logs the IKEv2 exchanges on the client's link.
func ra2LogWire(t *testing.T, pkts []IKEPacket) {
	t.Helper()
	count := map[int]int{}
	for _, p := range pkts {
		count[p.ExchangeType]++
	}
	t.Logf("wire (client's link), IKE messages: IKE_SA_INIT %d, IKE_AUTH %d, CREATE_CHILD_SA %d, INFORMATIONAL %d",
		count[34], count[35], count[36], count[37])
}

// TestIKEv2RAPSKConfig: PSK both ways (client @client.lab, gateway
// @vpn.lab), the client asks for an address (vips = 0.0.0.0) and the
// network behind the gateway (remote_ts = 10.2.0.0/24). It gets an address
// of the pool, the DNS server, its CHILD SA vip/32 === 10.2.0.0/24, and a
// ping through; terminated, both sides forget the SA and the lease goes.
func TestIKEv2RAPSKConfig(t *testing.T) {
	t.Parallel()
	t0 := time.Now()
	lab := newRALab(t)
	ra2RequirePlugins(t)
	capt := lab.CaptureFiltered(t, lab.Left, LabIface, TrafficCaptureFilter)
	c := ra2GateConn(raGateID, "aes256-sha256-modp2048", "aes256-sha256")
	c.Auth, c.PSK = "psk", ra2PSK
	g := lab.StartIkegate(t, lab.Right, ra2GateTOML(c, "", ""))
	swan := ra2StartSwan(t, lab.Lab, ra2Swanctl(ra2Spec{
		local:   "auth = psk\nid = " + ra2CliID,
		remote:  "auth = psk\nid = " + raGateID,
		secrets: fmt.Sprintf("ike-rw {\n  id-1 = %s\n  id-2 = %s\n  secret = %q\n}", raGateID, ra2CliID, ra2PSK),
	}))
	keepLogs(t, swan.LogPath, g.LogPath)

	up := ra2Connect(t, lab, swan, g, ra2Want{})
	if up.Gate != nil && !strings.Contains(up.Gate.RemoteID, "client.lab") {
		t.Errorf("ikegate: remote id %q, want client.lab", up.Gate.RemoteID)
	}
	ra2Disconnect(t, swan, g)

	raCheckSecrets(t, g, ra2PSK)
	ra2LogWire(t, CheckDissection(t, capt.Stop()))
	t.Logf("test took %v", time.Since(t0).Round(time.Millisecond))
}

// TestIKEv2RACertConfig: certificates both ways (the gateway RSA vpn.lab,
// the client ECDSA client.lab, both from the test CA, identities in the
// subjectAltNames) and a configuration payload, checked as
// TestIKEv2RAPSKConfig; strongSwan verified ikegate's signature and
// ikegate names the client by its certificate's identity.
func TestIKEv2RACertConfig(t *testing.T) {
	t.Parallel()
	t0 := time.Now()
	lab := newRALab(t)
	ra2RequirePlugins(t)
	pki := NewTestPKI(t, t.TempDir())
	gl := pki.Leaf(t, raGateFQDN, RSA2048, []string{raGateFQDN}, nil)
	cl := pki.Leaf(t, raCliFQDN, ECDSAP256, []string{raCliFQDN}, nil)
	capt := lab.CaptureFiltered(t, lab.Left, LabIface, TrafficCaptureFilter)
	c := ra2GateConn(raGateFQDN, "aes256-sha256-modp2048", "aes256-sha256")
	gl.UseIn(&c, pki)
	g := lab.StartIkegate(t, lab.Right, ra2GateTOML(c, "", ""))
	swan := ra2StartSwan(t, lab.Lab, ra2Swanctl(ra2Spec{
		local:  fmt.Sprintf("auth = pubkey\ncerts = %s\nid = %s", cl.Cert, raCliFQDN),
		remote: fmt.Sprintf("auth = pubkey\nid = %s\ncacerts = %s", raGateFQDN, pki.CACert),
	}))
	ra2LoadKey(t, swan, cl.Key)
	keepLogs(t, swan.LogPath, g.LogPath)
	smark := v1MarkLog(swan.LogPath)

	up := ra2Connect(t, lab, swan, g, ra2Want{})
	if up.Swan.LocalID != raCliFQDN || up.Swan.RemoteID != raGateFQDN {
		t.Errorf("strongSwan identities: local %q remote %q, want %q %q", up.Swan.LocalID, up.Swan.RemoteID, raCliFQDN, raGateFQDN)
	}
	v1WaitLine(t, "strongSwan", smark, time.Second, "authentication of '"+raGateFQDN+"' with", "successful")
	v1WaitLine(t, "strongSwan", smark, time.Second, "using trusted ca certificate", pki.CADN)
	if up.Gate != nil && up.Gate.RemoteID != raCliFQDN {
		t.Errorf("ikegate: remote id %q, want %q (from the client's certificate)", up.Gate.RemoteID, raCliFQDN)
	}
	ra2Disconnect(t, swan, g)

	raCheckSecrets(t, g, pemBodyLines(t, gl.Key, 3)...)
	ra2LogWire(t, CheckDissection(t, capt.Stop()))
	t.Logf("test took %v", time.Since(t0).Round(time.Millisecond))
}

// ra2EAPCase is the common part of the EAP tests: a raLab-like lab, the
// test CA, ikegate's certificate (vpn.lab, key type kt) in c, the client
// with EAP-MSCHAPv2 as alice (password pw, IKE identity id) trusting the
// CA for vpn.lab.
type ra2EAPCase struct {
	pki *TestPKI
	gl  *Leaf
}

func newRA2EAPCase(t *testing.T, kt KeyType) *ra2EAPCase {
	t.Helper()
	pki := NewTestPKI(t, t.TempDir())
	return &ra2EAPCase{pki: pki, gl: pki.Leaf(t, raGateFQDN, kt, []string{raGateFQDN}, nil)}
}

// gate is ikegate's connection: auth = "pubkey" with its certificate.
func (e *ra2EAPCase) gate(ike, esp string) Conn {
	c := ra2GateConn(raGateFQDN, ike, esp)
	e.gl.UseIn(&c, e.pki)
	return c
}

// spec is the client's swanctl.conf.
func (e *ra2EAPCase) spec(id, pw string, s ra2Spec) string {
	s.local = ra2EAPLocal(id, raUser)
	s.remote = fmt.Sprintf("auth = pubkey\nid = %s\ncacerts = %s", raGateFQDN, e.pki.CACert)
	s.secrets = ra2EAPSecret(raUser, pw)
	return ra2Swanctl(s)
}

// checkEAPUp: strongSwan verified ikegate's certificate signature (no
// EAP-only authentication: RFC 5998 allows it only for mutual,
// key-generating methods, which strongSwan does not count EAP-MSCHAPv2
// among) and finished EAP-MSCHAPv2 with an MSK (its AUTH then uses it);
// ikegate logged alice authenticated by method (remote_auth).
func (e *ra2EAPCase) checkEAPUp(t *testing.T, smark, gmark v1Mark, method string) {
	t.Helper()
	v1WaitLine(t, "strongSwan", smark, time.Second, "authentication of '"+raGateFQDN+"' with", "successful")
	v1WaitLine(t, "strongSwan", smark, time.Second, "EAP method EAP_MSCHAPV2 succeeded, MSK established")
	v1WaitLine(t, "ikegate", gmark, time.Second, "EAP: user authenticated", `"user": "`+raUser+`"`, `"method": "`+method+`"`)
	for _, l := range v1Lines(gmark.since(), raUser) {
		t.Logf("ikegate: %s", v1Short(l, 300))
	}
}

// TestIKEv2RAEAPLocal: ikegate (certificate vpn.lab, remote_auth =
// "eap-mschapv2") against strongSwan with EAP-MSCHAPv2 as alice, checked
// against ikegate's [[user]] list; the client gets its address, DNS, the
// split network and a ping through, and ikegate lists the SA and the lease
// under alice. Then alice with a wrong password: strongSwan is refused
// (AUTHENTICATION_FAILED / EAP-Failure), ikegate logs why naming alice,
// no SA and no lease are left, and no password is in ikegate's log.
func TestIKEv2RAEAPLocal(t *testing.T) {
	t.Parallel()
	t0 := time.Now()
	lab := newRALab(t)
	ra2RequirePlugins(t)
	e := newRA2EAPCase(t, RSA2048)
	capt := lab.CaptureFiltered(t, lab.Left, LabIface, TrafficCaptureFilter)
	g := lab.StartIkegate(t, lab.Right, ra2GateTOML(e.gate("aes256-sha256-modp2048", "aes256-sha256"), "eap-mschapv2", ""))
	swan := ra2StartSwan(t, lab.Lab, e.spec("", raPassword, ra2Spec{}))
	keepLogs(t, swan.LogPath, g.LogPath)

	t.Run("connect", func(t *testing.T) {
		smark, gmark := v1MarkLog(swan.LogPath), v1MarkLog(g.LogPath)
		ra2Connect(t, lab, swan, g, ra2Want{User: raUser})
		e.checkEAPUp(t, smark, gmark, "eap-mschapv2")
		ra2Disconnect(t, swan, g)
	})
	t.Run("wrong-password", func(t *testing.T) {
		ra2Reload(t, swan, e.spec("", ra2Wrong, ra2Spec{}))
		ra2Refused(t, swan, g, raUser)
	})

	raCheckSecrets(t, g, raPassword, ra2Wrong, "bob-secret-not-used")
	ra2LogWire(t, CheckDissection(t, capt.Stop()))
	t.Logf("test took %v", time.Since(t0).Round(time.Millisecond))
}

// TestIKEv2RAEAPRadius: as TestIKEv2RAEAPLocal with remote_auth =
// "eap-radius": ikegate passes the EAP conversation to FreeRADIUS 3.2
// (EAP-Message / State in Access-Request and Access-Challenge, the MSK
// from MS-MPPE-*-Key of the Access-Accept). FreeRADIUS knows alice with
// another password than ikegate's local [[user]] alice, so only RADIUS can
// let her in. FreeRADIUS logs "Login OK" for alice; its detail file gets
// an Accounting Start with the virtual IP, and a Stop when the client
// leaves. Then the local password (wrong for RADIUS) is refused by
// FreeRADIUS ("Login incorrect"), with no lease and no new Start.
func TestIKEv2RAEAPRadius(t *testing.T) {
	t.Parallel()
	t0 := time.Now()
	lab := newRadiusLab(t)
	ra2RequirePlugins(t)
	requireFreeRADIUS(t)
	const radPassword = "alice-radius-secret-42"
	fr := lab.StartFreeRADIUS(t, lab.Radius, FreeRADIUSConfig{
		Addr:    radServerAddr,
		Clients: []RadiusClient{{Name: "ikegate", Addr: radGateAddr, Secret: radSecret}},
		Users:   []RadiusUser{{Name: raUser, Password: radPassword}},
	})
	keepLogs(t, fr.LogPath)
	if rep, err := fr.Authenticate(raUser, radPassword); err != nil || rep.Code != "Access-Accept" {
		t.Fatalf("FreeRADIUS does not accept %s itself (PAP, radclient): %v\n%s", raUser, err, rep.Out)
	}

	e := newRA2EAPCase(t, RSA2048)
	capt := lab.CaptureFiltered(t, lab.Left, LabIface, TrafficCaptureFilter)
	radius := fmt.Sprintf(`
[radius]
servers = [%q]
secret = %q
accounting = true
timeout = "2s"
nas_identifier = %q
`, radServerAddr+":1812", radSecret, radNASID)
	g := lab.StartIkegate(t, lab.Right, ra2GateTOML(e.gate("aes256-sha256-modp2048", "aes256-sha256"), "eap-radius", radius))
	swan := ra2StartSwan(t, lab.Lab, e.spec("", radPassword, ra2Spec{}))
	keepLogs(t, swan.LogPath, g.LogPath)

	t.Run("connect", func(t *testing.T) {
		smark, gmark, frmark := v1MarkLog(swan.LogPath), v1MarkLog(g.LogPath), v1MarkLog(fr.LogPath)
		up := ra2Connect(t, lab.raLab, swan, g, ra2Want{User: raUser})
		e.checkEAPUp(t, smark, gmark, "eap-radius")
		v1WaitLine(t, "FreeRADIUS", frmark, 2*time.Second, "Login OK", "["+raUser)
		if _, ok := v1Line(frmark.since(), "EAP-Message"); !ok {
			t.Errorf("FreeRADIUS: no EAP-Message in the requests it got: ikegate did not pass EAP through")
		}
		var starts []RadiusRecord
		WaitFor(t, 5*time.Second, func() bool { starts = fr.AccountingOf(raUser, "Start"); return len(starts) > 0 })
		if len(starts) != 1 {
			t.Errorf("FreeRADIUS: %d Accounting Start records for %s, want 1; all records: %v", len(starts), raUser, radAll(fr))
		} else {
			t.Logf("FreeRADIUS detail: %s", starts[0])
			if got := starts[0].Get("Framed-IP-Address"); got != up.VIP.String() {
				t.Errorf("Accounting Start: Framed-IP-Address %q, want %s (the client's virtual IP)", got, up.VIP)
			}
			if starts[0].Get("Acct-Session-Id") == "" {
				t.Errorf("Accounting Start without Acct-Session-Id: %s", starts[0])
			}
		}
		ra2Disconnect(t, swan, g)
		var stops []RadiusRecord
		WaitFor(t, 5*time.Second, func() bool { stops = fr.AccountingOf(raUser, "Stop"); return len(stops) > 0 })
		if len(stops) != 1 {
			t.Errorf("FreeRADIUS: %d Accounting Stop records for %s after the disconnect, want 1", len(stops), raUser)
		} else {
			t.Logf("FreeRADIUS detail: %s", stops[0])
			if len(starts) == 1 && stops[0].Get("Acct-Session-Id") != starts[0].Get("Acct-Session-Id") {
				t.Errorf("Acct-Session-Id: Start %q, Stop %q, want the same", starts[0].Get("Acct-Session-Id"), stops[0].Get("Acct-Session-Id"))
			}
		}
	})
	t.Run("wrong-password", func(t *testing.T) {
		frmark := v1MarkLog(fr.LogPath)
		startsBefore := len(fr.AccountingOf(raUser, "Start"))
		ra2Reload(t, swan, e.spec("", raPassword, ra2Spec{})) // the local user's password: wrong for RADIUS
		ra2Refused(t, swan, g, raUser)
		v1WaitLine(t, "FreeRADIUS", frmark, 2*time.Second, "Login incorrect", "["+raUser)
		time.Sleep(time.Second)
		if n := len(fr.AccountingOf(raUser, "Start")); n != startsBefore {
			t.Errorf("FreeRADIUS: %d Accounting Start records for %s after a refused login, want %d", n, raUser, startsBefore)
		}
	})

	raCheckSecrets(t, g, radPassword, raPassword, radSecret)
	ra2LogWire(t, CheckDissection(t, capt.Stop()))
	t.Logf("test took %v", time.Since(t0).Round(time.Millisecond))
}

// TestIKEv2RAWindowsLike: the Windows built-in IKEv2 client's habits:
// IKE aes256-sha1-modp1024, ESP aes256-sha1 (no PFS), IKE fragmentation,
// no IKE identity configured (its address), EAP-MSCHAPv2, the gateway's
// RSA certificate checked for vpn.lab, and the whole IPv4 space asked for
// (remote_ts 0.0.0.0/0) which ikegate narrows to the network behind it.
func TestIKEv2RAWindowsLike(t *testing.T) {
	t.Parallel()
	t0 := time.Now()
	lab := newRALab(t)
	ra2RequirePlugins(t)
	e := newRA2EAPCase(t, RSA2048)
	capt := lab.CaptureFiltered(t, lab.Left, LabIface, TrafficCaptureFilter)
	g := lab.StartIkegate(t, lab.Right, ra2GateTOML(e.gate("aes256-sha1-modp1024", "aes256-sha1"), "eap-mschapv2", ""))
	swan := ra2StartSwan(t, lab.Lab, e.spec("", raPassword, ra2Spec{
		ike: "aes256-sha1-modp1024", esp: "aes256-sha1", frag: "yes", remoteTS: "0.0.0.0/0"}))
	keepLogs(t, swan.LogPath, g.LogPath)
	smark, gmark := v1MarkLog(swan.LogPath), v1MarkLog(g.LogPath)

	up := ra2Connect(t, lab, swan, g, ra2Want{User: raUser, RemoteTS: raNet,
		EncrAlg: "AES_CBC", EncrKeysize: "256", IntegAlg: "HMAC_SHA1_96", DHGroup: "MODP_1024",
		ChildEncrAlg: "AES_CBC", ChildIntegAlg: "HMAC_SHA1_96"})
	e.checkEAPUp(t, smark, gmark, "eap-mschapv2")
	if up.Swan.LocalID != LeftAddr {
		t.Errorf("strongSwan: local id %q, want %s (no identity configured, as Windows)", up.Swan.LocalID, LeftAddr)
	}
	if l, ok := v1Line(smark.since(), "parsed IKE_SA_INIT response"); ok {
		t.Logf("strongSwan: %s", l)
		if !strings.Contains(l, "N(FRAG_SUP)") {
			t.Logf("note: ikegate did not answer IKEV2_FRAGMENTATION_SUPPORTED (the client offered it)")
		}
	}
	ra2Disconnect(t, swan, g)

	raCheckSecrets(t, g, raPassword)
	ra2LogWire(t, CheckDissection(t, capt.Stop()))
	t.Logf("test took %v", time.Since(t0).Round(time.Millisecond))
}

// TestIKEv2RAIOSLike: the iOS/macOS built-in client's habits: IKE
// aes256-sha256-ecp256, ESP aes256-sha256, an RFC 822 identity
// (alice@corp.lab) beside the EAP identity alice, EAP-MSCHAPv2, the
// gateway's ECDSA certificate (remote auth = pubkey).
func TestIKEv2RAIOSLike(t *testing.T) {
	t.Parallel()
	t0 := time.Now()
	lab := newRALab(t)
	ra2RequirePlugins(t)
	e := newRA2EAPCase(t, ECDSAP256)
	capt := lab.CaptureFiltered(t, lab.Left, LabIface, TrafficCaptureFilter)
	g := lab.StartIkegate(t, lab.Right, ra2GateTOML(e.gate("aes256-sha256-ecp256", "aes256-sha256"), "eap-mschapv2", ""))
	const iosID = "alice@corp.lab"
	swan := ra2StartSwan(t, lab.Lab, e.spec(iosID, raPassword, ra2Spec{ike: "aes256-sha256-ecp256", esp: "aes256-sha256"}))
	keepLogs(t, swan.LogPath, g.LogPath)
	smark, gmark := v1MarkLog(swan.LogPath), v1MarkLog(g.LogPath)

	up := ra2Connect(t, lab, swan, g, ra2Want{User: raUser,
		EncrAlg: "AES_CBC", EncrKeysize: "256", IntegAlg: "HMAC_SHA2_256_128", DHGroup: "ECP_256",
		ChildEncrAlg: "AES_CBC", ChildIntegAlg: "HMAC_SHA2_256_128"})
	e.checkEAPUp(t, smark, gmark, "eap-mschapv2")
	if up.Swan.LocalID != iosID {
		t.Errorf("strongSwan: local id %q, want %q", up.Swan.LocalID, iosID)
	}
	if up.Gate != nil && !strings.Contains(up.Gate.RemoteID, iosID) {
		t.Errorf("ikegate: remote id %q, want %q (the client's IKE identity; its user is the EAP identity)", up.Gate.RemoteID, iosID)
	}
	ra2Disconnect(t, swan, g)

	raCheckSecrets(t, g, raPassword)
	ra2LogWire(t, CheckDissection(t, capt.Stop()))
	t.Logf("test took %v", time.Since(t0).Round(time.Millisecond))
}
