package interop

// IKEv2 remote access with RADIUS beyond EAP-MSCHAPv2:
//
//   - TestIKEv2RAEAPTLS: EAP-TLS passed through to FreeRADIUS (remote_auth
//     = "eap-radius"): the client proves itself with its certificate to
//     FreeRADIUS, inside EAP inside IKE_AUTH. EAP-TLS messages are large
//     (FreeRADIUS's certificate, fragment_size 1024): each is cut into
//     several EAP-Message attributes of an Access-Challenge (253 bytes
//     each, RFC 3579 3.1) that ikegate must join, and the IKE_AUTH
//     messages carrying them exceed the path's MTU (IKEv2 fragmentation,
//     RFC 7383, fragmentation = yes on the client).
//   - TestIKEv2RARadiusAttrs: FreeRADIUS's Access-Accept for alice carries
//     Framed-IP-Address (inside the pool), Class naming an ikegate
//     [[group]] with its own DNS server, and Session-Timeout = 20: the
//     client gets that address and the group's DNS, accounting Start
//     carries both, and ikegate disconnects the client 20 s later.
//
// Facts (strongSwan 5.9.8 eap-tls as the client):
//   - local { auth = eap-tls } sends the certificate of eap_id (here
//     "alice", a DNS subjectAltName of the client's certificate);
//   - the EAP server's certificate must chain to a trusted CA (remote {
//     cacerts }) and carry the gateway's IKE identity (vpn.lab): that is
//     the server identity eap-tls checks unless remote { aaa_id } names
//     another; but aaa_id in the remote round that authenticates the
//     gateway by its certificate fails the round's constraint check before
//     EAP has even started ("constraint check failed: EAP identity
//     'radius.lab' required", seen here). So FreeRADIUS's certificate has
//     both names, radius.lab and vpn.lab, as subjectAltNames.

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
	radTLSServer = "radius.lab" // FreeRADIUS's EAP-TLS certificate
	radGroupName = "grp"        // the [[group]] FreeRADIUS's Class names
	radGroupDNS  = "10.2.0.54"  // its DNS server (the pool's is raDNS)
	radSessionTO = 20           // Session-Timeout, seconds
	radTLSUser   = raUser       // EAP identity of the EAP-TLS client
	radPassword2 = "alice-radius-secret-43"
)

// radIKEv2Tail is the [radius] table of the IKEv2 RADIUS tests.
func radIKEv2Tail() string {
	return fmt.Sprintf(`
[radius]
servers = [%q]
secret = %q
accounting = true
timeout = "2s"
nas_identifier = %q
`, radServerAddr+":1812", radSecret, radNASID)
}

// TestIKEv2RAEAPTLS: strongSwan with EAP-TLS (certificate alice from the
// test CA) against ikegate (certificate vpn.lab, remote_auth =
// "eap-radius"), FreeRADIUS 3.2 doing EAP-TLS with its certificate
// radius.lab. The client gets its virtual IP and a ping through,
// FreeRADIUS logs EAP-TLS success and Login OK, ikegate logs alice
// authenticated by eap-radius; the Access-Challenges carried several
// EAP-Message attributes each and the IKE_AUTH messages were fragmented.
func TestIKEv2RAEAPTLS(t *testing.T) {
	t.Parallel()
	t0 := time.Now()
	lab := newRadiusLab(t)
	ra2RequirePlugins(t)
	requirePlugin(t, "eap-tls")
	requireFreeRADIUS(t)
	e := newRA2EAPCase(t, RSA2048)
	// Big certificates (24 more subjectAltNames each, as certificates
	// with long name lists or policies are): TLS flights of ~2 KB, so
	// that EAP-TLS fragments of 1400 bytes make IKE_AUTH messages larger
	// than the IKE fragment threshold.
	var pad []string
	for i := 0; i < 24; i++ {
		pad = append(pad, fmt.Sprintf("alt-name-%02d.interop.ikegate.lab", i))
	}
	srv := e.pki.Leaf(t, radTLSServer, RSA2048, append([]string{radTLSServer, raGateFQDN}, pad...), nil)
	cli := e.pki.Leaf(t, "alice-tls", RSA2048, append([]string{radTLSUser}, pad...), nil)
	fr := lab.StartFreeRADIUS(t, lab.Radius, FreeRADIUSConfig{
		Addr:    radServerAddr,
		Clients: []RadiusClient{{Name: "ikegate", Addr: radGateAddr, Secret: radSecret}},
		// alice has a password too (PAP probe below); EAP-TLS does not use it.
		Users: []RadiusUser{{Name: radTLSUser, Password: radPassword2}},
		// fragment_size 1400 on both sides: EAP-TLS messages of up to
		// ~1400 bytes, larger than strongSwan's and ikegate's IKE
		// fragment threshold (1280-byte datagrams).
		EAPTLS: &RadiusEAPTLS{Cert: srv.Cert, Key: srv.Key, CA: e.pki.CACert, FragmentSize: 1400},
	})
	keepLogs(t, fr.LogPath)
	if rep, err := fr.Authenticate(radTLSUser, radPassword2); err != nil || rep.Code != "Access-Accept" {
		t.Fatalf("FreeRADIUS does not accept %s itself (PAP, radclient): %v\n%s", radTLSUser, err, rep.Out)
	}

	capt := lab.CaptureFiltered(t, lab.Left, LabIface, TrafficCaptureFilter)
	g := lab.StartIkegate(t, lab.Right, ra2GateTOML(e.gate("aes256-sha256-modp2048", "aes256-sha256"), "eap-radius", radIKEv2Tail()))
	conf := ra2Swanctl(ra2Spec{
		local:  fmt.Sprintf("auth = eap-tls\ncerts = %s\neap_id = %s", cli.Cert, radTLSUser),
		remote: fmt.Sprintf("auth = pubkey\nid = %s\ncacerts = %s", raGateFQDN, e.pki.CACert),
		frag:   "yes",
	})
	swan := ra2StartSwanX(t, lab.Lab, conf, "plugins {\n  eap-tls {\n    fragment_size = 1400\n  }\n}", "eap-tls")
	ra2LoadKey(t, swan, cli.Key)
	keepLogs(t, swan.LogPath, g.LogPath)

	smark, gmark, frmark := v1MarkLog(swan.LogPath), v1MarkLog(g.LogPath), v1MarkLog(fr.LogPath)
	up := ra2Connect(t, lab.raLab, swan, g, ra2Want{User: radTLSUser})

	v1WaitLine(t, "strongSwan", smark, time.Second, "authentication of '"+raGateFQDN+"' with", "successful")
	v1WaitLine(t, "strongSwan", smark, time.Second, "EAP method EAP_TLS succeeded, MSK established")
	v1WaitLine(t, "ikegate", gmark, time.Second, "EAP: user authenticated", `"user": "`+radTLSUser+`"`, `"method": "eap-radius"`)
	v1WaitLine(t, "FreeRADIUS", frmark, 2*time.Second, "Login OK", "["+radTLSUser)
	frlog := frmark.since()
	if l, ok := v1Line(frlog, "eap_tls", "Handshake state", "SSL negotiation finished successfully"); ok {
		t.Logf("FreeRADIUS: %s", l)
	} else if l, ok := v1Line(frlog, "eap_tls", "success"); ok {
		t.Logf("FreeRADIUS: %s", l)
	} else {
		t.Errorf("FreeRADIUS: no EAP-TLS success in its debug output; its eap_tls lines:\n%s",
			strings.Join(lastN(v1Lines(frlog, "eap_tls"), 20), "\n"))
	}
	if l, ok := v1Line(frlog, "Sending EAP Success"); ok {
		t.Logf("FreeRADIUS: %s", l)
	}
	radCheckEAPMessageSplit(t, frlog)

	// IKEv2 fragmentation: strongSwan sent and got IKE_AUTH fragments.
	slog := smark.since()
	sentFrags := v1Lines(slog, "generating IKE_AUTH request", "EF(")
	gotFrags := v1Lines(slog, "received fragment #")
	t.Logf("strongSwan: %d IKE_AUTH requests sent as fragments, %d fragments received", len(sentFrags), len(gotFrags))
	for _, l := range lastN(v1Lines(slog, "fragment"), 6) {
		t.Logf("strongSwan: %s", v1Short(l, 300))
	}
	if len(sentFrags) == 0 && len(v1Lines(slog, "splitting IKE message")) == 0 {
		t.Errorf("strongSwan fragmented no IKE_AUTH request: the EAP-TLS exchange did not exercise IKEv2 fragmentation")
	}
	// The other way: ikegate relays EAP with Framed-MTU 1100 in its
	// Access-Requests (access/eap_radius.go), so FreeRADIUS cuts its
	// EAP-TLS records to fit and ikegate's IKE_AUTH responses stay under
	// the fragment threshold; fragmented responses are not expected.
	if l, ok := v1Line(frlog, "Framed-MTU = "); ok {
		t.Logf("FreeRADIUS: %s", l)
	}
	if len(gotFrags) > 0 {
		t.Logf("strongSwan received %d IKE fragments from ikegate", len(gotFrags))
	}
	if l, ok := v1Line(slog, "parsed IKE_SA_INIT response"); ok && !strings.Contains(l, "N(FRAG_SUP)") {
		t.Errorf("ikegate did not answer IKEV2_FRAGMENTATION_SUPPORTED: %s", l)
	}
	if v1Lines(slog, "reassembled fragmented IKE message") == nil && len(gotFrags) > 0 {
		t.Errorf("strongSwan did not reassemble ikegate's fragments")
	}
	for _, l := range lastN(v1Lines(gmark.since(), "fragment"), 6) {
		t.Logf("ikegate: %s", v1Short(l, 300))
	}

	var starts []RadiusRecord
	WaitFor(t, 5*time.Second, func() bool { starts = fr.AccountingOf(radTLSUser, "Start"); return len(starts) > 0 })
	if len(starts) != 1 {
		t.Errorf("FreeRADIUS: %d Accounting Start records for %s, want 1: %v", len(starts), radTLSUser, radAll(fr))
	} else if got := starts[0].Get("Framed-IP-Address"); got != up.VIP.String() {
		t.Errorf("Accounting Start: Framed-IP-Address %q, want %s", got, up.VIP)
	}
	ra2Disconnect(t, swan, g)

	raCheckSecrets(t, g, radSecret, radPassword2)
	pkts := CheckDissection(t, capt.Stop())
	ra2LogWire(t, pkts)
	// On the wire: IKE_AUTH messages sent as several packets (RFC 7383
	// fragments share the message ID).
	frags := map[string]int{}
	for _, p := range pkts {
		if p.ExchangeType == 35 {
			frags[fmt.Sprintf("%s mid %d", p.Src, p.MessageID)]++
		}
	}
	for k, n := range frags {
		if n > 1 {
			t.Logf("wire: IKE_AUTH from %s: %d packets (fragments)", k, n)
		}
	}
	t.Logf("test took %v", time.Since(t0).Round(time.Millisecond))
}

// radCheckEAPMessageSplit: in FreeRADIUS's debug output some packet (an
// Access-Challenge it sent, or an Access-Request ikegate sent) carried an
// EAP message longer than one attribute holds, i.e. several EAP-Message
// attributes (FreeRADIUS prints the joined value once, in full).
//
// Fact: FreeRADIUS's debug output cuts long octets values (a 1024-byte
// EAP message shows as ~375 bytes of hex), so the length is read from the
// EAP header (code, identifier, length) at the start of the value.
func radCheckEAPMessageSplit(t *testing.T, frlog string) {
	t.Helper()
	re := regexp.MustCompile(`EAP-Message = 0x(0[1-4])[0-9a-fA-F]{2}([0-9a-fA-F]{4})`)
	longest := map[string]int{}
	count := map[string]int{}
	for _, m := range re.FindAllStringSubmatch(frlog, -1) {
		var l int
		fmt.Sscanf(m[2], "%x", &l)
		dir := "request (FreeRADIUS -> client)"
		if m[1] == "02" {
			dir = "response (client -> FreeRADIUS)"
		}
		if l > longest[dir] {
			longest[dir] = l
		}
		if l > 253 {
			count[dir]++
		}
	}
	for _, dir := range []string{"request (FreeRADIUS -> client)", "response (client -> FreeRADIUS)"} {
		t.Logf("FreeRADIUS: EAP %s: longest %d bytes, %d longer than one EAP-Message attribute (253 bytes)", dir, longest[dir], count[dir])
		if count[dir] == 0 {
			t.Errorf("FreeRADIUS: no EAP %s longer than 253 bytes: splitting EAP-Message across attributes was not exercised that way", dir)
		}
	}
}

func lastN(s []string, n int) []string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// TestIKEv2RARadiusAttrs: EAP-MSCHAPv2 through FreeRADIUS, whose
// Access-Accept for alice carries Framed-IP-Address 10.9.0.77 (inside
// pool 10.9.0.0/24), Class "grp" and Session-Timeout 20. The client gets
// 10.9.0.77 and group grp's DNS server (not the pool's); ikegate lists
// the lease; accounting Start carries Framed-IP-Address 10.9.0.77 and
// Class grp. About 20 s after the connect ikegate logs the session
// timeout, deletes the IKE SA (strongSwan forgets it), releases the lease
// and sends the Stop.
func TestIKEv2RARadiusAttrs(t *testing.T) {
	t.Parallel()
	t0 := time.Now()
	lab := newRadiusLab(t)
	ra2RequirePlugins(t)
	requireFreeRADIUS(t)
	fr := lab.StartFreeRADIUS(t, lab.Radius, FreeRADIUSConfig{
		Addr:    radServerAddr,
		Clients: []RadiusClient{{Name: "ikegate", Addr: radGateAddr, Secret: radSecret}},
		Users: []RadiusUser{{Name: raUser, Password: radPassword2, Reply: []string{
			"Framed-IP-Address = " + radFramedIP,
			fmt.Sprintf("Class = %q", radGroupName),
			fmt.Sprintf("Session-Timeout = %d", radSessionTO),
		}}},
	})
	keepLogs(t, fr.LogPath)
	if rep, err := fr.Authenticate(raUser, radPassword2); err != nil || rep.Code != "Access-Accept" {
		t.Fatalf("FreeRADIUS does not accept %s itself (PAP, radclient): %v\n%s", raUser, err, rep.Out)
	} else {
		t.Logf("FreeRADIUS answers radclient: %s %v", rep.Code, rep.Attrs)
	}

	e := newRA2EAPCase(t, RSA2048)
	gtail := radIKEv2Tail() + fmt.Sprintf(`
[[group]]
name = %q
dns = [%q]
`, radGroupName, radGroupDNS)
	g := lab.StartIkegate(t, lab.Right, ra2GateTOML(e.gate("aes256-sha256-modp2048", "aes256-sha256"), "eap-radius", gtail))
	swan := ra2StartSwan(t, lab.Lab, e.spec("", radPassword2, ra2Spec{}))
	keepLogs(t, swan.LogPath, g.LogPath)

	smark, gmark := v1MarkLog(swan.LogPath), v1MarkLog(g.LogPath)
	if out, err := swan.Initiate(raConn, ra2Timeout); err != nil {
		t.Errorf("swanctl --initiate --child %s: %v\n%s", raConn, err, v1Short(tail(out, 15), 3000))
	}
	tUp := time.Now()
	ssa, vip := ra2SwanChild(t, swan, ra2Want{User: raUser, RemoteTS: raNet})
	t.Logf("strongSwan: IKE SA %s, virtual IP %s", ssa.InitSPI, vip)
	if want := netip.MustParseAddr(radFramedIP); vip != want {
		t.Errorf("virtual IP %s, want %s (FreeRADIUS's Framed-IP-Address)", vip, want)
	}
	e.checkEAPUp(t, smark, gmark, "eap-radius")
	ra2CheckVIPInstalled(t, lab.Left, vip, smark)
	// DNS: the group's server, not the pool's.
	v1WaitLine(t, "strongSwan", smark, 2*time.Second, "installing DNS server "+radGroupDNS)
	if l, ok := v1Line(smark.since(), "installing DNS server "+raDNS); ok {
		t.Errorf("strongSwan installed the pool's DNS server too (group %q's dns should replace it): %s", radGroupName, l)
	}
	if b, _ := os.ReadFile(swan.Resolv); !strings.Contains(string(b), radGroupDNS) {
		t.Errorf("strongSwan's resolv.conf %s: %q, want nameserver %s", swan.Resolv, b, radGroupDNS)
	}
	if l, ok := v1Line(gmark.since(), "virtual IP assigned"); ok {
		t.Logf("ikegate: %s", v1Short(l, 400))
		if !strings.Contains(l, `"group": "`+radGroupName+`"`) {
			t.Errorf("ikegate: the lease is not in group %q (RADIUS Class): %s", radGroupName, l)
		}
	}
	ra2GateSA(t, g, vip, raUser)
	ra2GateChild(t, g, vip)
	ra2CheckOneLease(t, g, vip, raUser)
	raPing(t, lab.Left, vip)

	var starts []RadiusRecord
	WaitFor(t, 5*time.Second, func() bool { starts = fr.AccountingOf(raUser, "Start"); return len(starts) > 0 })
	if len(starts) != 1 {
		t.Errorf("FreeRADIUS: %d Accounting Start records for %s, want 1: %v", len(starts), raUser, radAll(fr))
	} else {
		t.Logf("FreeRADIUS detail: %s", starts[0])
		if got := starts[0].Get("Framed-IP-Address"); got != radFramedIP {
			t.Errorf("Accounting Start: Framed-IP-Address %q, want %s", got, radFramedIP)
		}
		if got := starts[0].Octets("Class"); got != radGroupName {
			t.Errorf("Accounting Start: Class %q, want %q (from the Access-Accept)", got, radGroupName)
		}
	}

	// Session-Timeout: ikegate disconnects the client about 20 s after
	// the Access-Accept.
	line := v1WaitLine(t, "ikegate", gmark, time.Duration(radSessionTO+6)*time.Second-time.Since(tUp),
		"session timeout (RADIUS Session-Timeout): disconnecting the client")
	took := time.Since(tUp)
	if line != "" {
		t.Logf("ikegate disconnected the client %v after it was up (Session-Timeout %d s)", took.Round(time.Millisecond), radSessionTO)
		if took < time.Duration(radSessionTO-2)*time.Second || took > time.Duration(radSessionTO+3)*time.Second {
			t.Errorf("session timeout after %v, want about %d s", took.Round(time.Millisecond), radSessionTO)
		}
		if !strings.Contains(line, raUser) {
			t.Errorf("ikegate's session timeout line does not name %s: %s", raUser, line)
		}
	}
	waitNoSwanSA(t, swan.Swan, raConn, 5*time.Second)
	if l, ok := v1Line(smark.since(), "received DELETE for IKE_SA"); ok {
		t.Logf("strongSwan: %s", l)
	}
	waitNoGateSA(t, g, raConn, 5*time.Second)
	if !WaitFor(t, 3*time.Second, func() bool { return len(radLeases(t, g)) == 0 }) {
		t.Errorf("ikegate leases after the session timeout: %+v, want none", radLeases(t, g))
	}
	var stops []RadiusRecord
	WaitFor(t, 5*time.Second, func() bool { stops = fr.AccountingOf(raUser, "Stop"); return len(stops) > 0 })
	if len(stops) != 1 {
		t.Errorf("FreeRADIUS: %d Accounting Stop records after the session timeout, want 1", len(stops))
	} else {
		t.Logf("FreeRADIUS detail: %s", stops[0])
		// Acct-Terminate-Cause is optional (RFC 2866 5.10); Session-Timeout
		// is the fitting value.
		switch c := stops[0].Get("Acct-Terminate-Cause"); c {
		case "Session-Timeout":
		case "":
			t.Logf("note: the Stop carries no Acct-Terminate-Cause")
		default:
			t.Logf("note: Stop's Acct-Terminate-Cause %q (RFC 2866: Session-Timeout fits)", c)
		}
	}

	raCheckSecrets(t, g, radPassword2, radSecret)
	t.Logf("test took %v", time.Since(t0).Round(time.Millisecond))
}

// TestIKEv2RAEAPOnly: EAP-only authentication (RFC 5998) with EAP-TLS
// through FreeRADIUS: ikegate's connection says eap_only = true, and
// strongSwan, which offers EAP_ONLY_AUTHENTICATION, expects the server to
// be authenticated by the EAP method (remote auth = eap-tls): ikegate's
// first IKE_AUTH response carries no CERT and no AUTH, strongSwan
// verifies FreeRADIUS's TLS certificate instead, both final AUTHs use the
// MSK, and the client gets its address.
func TestIKEv2RAEAPOnly(t *testing.T) {
	t.Parallel()
	lab := newRadiusLab(t)
	ra2RequirePlugins(t)
	requirePlugin(t, "eap-tls")
	requireFreeRADIUS(t)
	e := newRA2EAPCase(t, RSA2048)
	srv := e.pki.Leaf(t, radTLSServer, RSA2048, []string{radTLSServer, raGateFQDN}, nil)
	cli := e.pki.Leaf(t, "alice-tls", RSA2048, []string{radTLSUser}, nil)
	fr := lab.StartFreeRADIUS(t, lab.Radius, FreeRADIUSConfig{
		Addr:    radServerAddr,
		Clients: []RadiusClient{{Name: "ikegate", Addr: radGateAddr, Secret: radSecret}},
		Users:   []RadiusUser{{Name: radTLSUser, Password: radPassword2}},
		EAPTLS:  &RadiusEAPTLS{Cert: srv.Cert, Key: srv.Key, CA: e.pki.CACert},
	})
	keepLogs(t, fr.LogPath)
	g := lab.StartIkegate(t, lab.Right, ra2GateTOML(e.gate("aes256-sha256-modp2048", "aes256-sha256"), "eap-radius", radIKEv2Tail(), "eap_only = true"))
	conf := ra2Swanctl(ra2Spec{
		local: fmt.Sprintf("auth = eap-tls\ncerts = %s\neap_id = %s", cli.Cert, radTLSUser),
		// No cacerts constraint: no certificate of ikegate's comes; the
		// CA (loaded as a trusted one) checks FreeRADIUS's TLS certificate.
		remote: fmt.Sprintf("auth = eap-tls\nid = %s", raGateFQDN),
	})
	swan := ra2StartSwanX(t, lab.Lab, conf, "", "eap-tls")
	if err := copyFile(e.pki.CACert, filepath.Join(swan.ConfDir, "x509ca", "ca.pem")); err != nil {
		t.Fatal(err)
	}
	ra2LoadKey(t, swan, cli.Key) // loads the credentials, the CA too
	keepLogs(t, swan.LogPath, g.LogPath)
	smark, gmark := v1MarkLog(swan.LogPath), v1MarkLog(g.LogPath)
	ra2Connect(t, lab.raLab, swan, g, ra2Want{User: radTLSUser})
	v1WaitLine(t, "ikegate", gmark, time.Second, "client authenticates with EAP", `"eap_only": true`)
	v1WaitLine(t, "strongSwan", smark, time.Second, "EAP method EAP_TLS succeeded, MSK established")
	resp, ok := v1Line(smark.since(), "parsed IKE_AUTH response 1 [")
	_, payloads, _ := strings.Cut(resp, "[")
	if !ok || strings.Contains(payloads, " AUTH ") || strings.Contains(payloads, "CERT") {
		t.Errorf("ikegate's first IKE_AUTH response should carry neither CERT nor AUTH with EAP-only: %q", resp)
	}
	ra2Disconnect(t, swan, g)
}
