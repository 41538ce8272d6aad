package interop

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestTransportMode: ikegate (dataplane none) and strongSwan
// (kernel-libipsec) both configured for transport mode (ikegate mode =
// "transport", strongSwan mode = transport in the child), host-to-host on
// the IKE addresses, ikegate initiating, IKEv2 and IKEv1.
//
// Fact: kernel-libipsec supports tunnel mode only. strongSwan negotiates
// transport mode and then fails to install it ("IPsec SA: unsupported
// mode / failed to create SAD entry"):
//   - IKEv2 (strongSwan responder): it answers IKE_AUTH with N(NO_PROP) and
//     keeps the IKE SA; ikegate lists the CHILD SA FAILED.
//   - IKEv1 (strongSwan Quick Mode responder): QM2 accepts
//     UDP-Encapsulated-Transport (with NAT-OA payloads), the install after
//     QM3 fails and strongSwan sends a DELETE for the ESP SA; ikegate
//     installed its half (dataplane none) and removes it on that DELETE.
//
// So the test checks the negotiation (strongSwan's decode of ikegate's
// messages, and for IKEv1 the decrypted Quick Mode on the wire) and what
// each side does after strongSwan's refusal; no transport-mode SA survives.
func TestTransportMode(t *testing.T) {
	t.Parallel()
	lab := NewLab(t)
	pairs := addPairs(t, lab, 10, 2)
	v2 := Conn{Name: "tr-v2", Version: 2, LocalAddr: pairs[0].Peer, RemoteAddr: pairs[0].Gate,
		LocalID: "@peer-tr-v2.lab", RemoteID: "@gate-tr-v2.lab", Auth: "psk", PSK: "transport-v2-0123456789",
		IKE: []string{"aes128gcm16-prfsha256-x25519"}, ESP: []string{"aes128gcm16"}, Mode: "transport"}
	v1 := Conn{Name: "tr-v1", Version: 1, LocalAddr: pairs[1].Peer, RemoteAddr: pairs[1].Gate,
		LocalID: "@peer-tr-v1.lab", RemoteID: "@gate-tr-v1.lab", Auth: "psk", PSK: "transport-v1-0123456789",
		IKE: []string{"aes256-sha256-modp2048"}, ESP: []string{"aes256-sha256"}, Mode: "transport"}
	capt := lab.Capture(t, lab.Right, LabIface)
	// ike = 4 makes charon log the IKEv1 encryption key (Ka), which lets
	// tshark decrypt Quick Mode. (It logs the test PSKs too.)
	swan := lab.StartStrongSwan(t, lab.Left, SwanConfig{Conns: []Conn{v2, v1}, LibIPsec: true, Extra: v1SwanExtra,
		LogLevels: "default = 1\nike = 4\ncfg = 2\nknl = 2\nnet = 1\nenc = 1\nesp = 2\nchd = 2"})
	g := lab.StartIkegate(t, lab.Right, v1GatewayTOML(gateAddrs(pairs), v2.Mirror(), v1.Mirror()))
	keepLogs(t, swan.LogPath, g.LogPath)
	took := map[string]time.Duration{}

	var ispiV2 string
	t.Run("ikev2", func(t *testing.T) {
		t0 := time.Now()
		gmark, smark := markLog(g.LogPath), markLog(swan.LogPath)
		if out, err := g.Up(v2.Name); err != nil {
			t.Fatalf("ikegate up: %v\n%s", err, out)
		}
		gsa := waitGateSA(t, g, v2.Name, 5*time.Second, settled(1))
		took["ikev2"] = time.Since(t0)
		ispiV2, _ = spisOf(gsa)
		ssa := swan.IKESA(v2.Name)
		if ssa == nil {
			t.Fatalf("strongSwan lists no IKE SA %s", v2.Name)
		}
		checkSwanIKE(t, gsa, ssa)
		// ikegate asked for transport mode in IKE_AUTH (strongSwan's
		// decode of the message on the wire) ...
		requireLine(t, "strongSwan", smark.since(), "parsed IKE_AUTH request 1 [", "N(USE_TRANSP)", "SA TSi TSr")
		// ... strongSwan chose the transport-mode child and could not
		// install it, and refused the CHILD SA keeping the IKE SA.
		requireLine(t, "strongSwan", smark.since(), "IPsec SA: unsupported mode")
		requireLine(t, "strongSwan", smark.since(), "failed to establish CHILD_SA, keeping IKE_SA")
		requireLine(t, "strongSwan", smark.since(), "generating IKE_AUTH response 1 [", "N(NO_PROP)")
		if len(ssa.Children) != 0 {
			t.Errorf("strongSwan lists CHILD SAs: %+v", ssa.Children)
		}
		ch := gsa.Children[0]
		t.Logf("ikegate CHILD SA: %s mode %q: %s", ch.State, ch.Mode, ch.Error)
		if ch.State != "FAILED" || !strings.Contains(ch.Error, "NO_PROPOSAL_CHOSEN") {
			t.Errorf("ikegate CHILD SA %s %q, want FAILED with the peer's NO_PROPOSAL_CHOSEN", ch.State, ch.Error)
		}
		requireLine(t, "ikegate", gmark.since(), "CHILD SA failed", "NO_PROPOSAL_CHOSEN")
		if out, err := g.Down(v2.Name); err != nil {
			t.Errorf("ikegate down: %v\n%s", err, out)
		}
		waitNoGateSA(t, g, v2.Name, 3*time.Second)
		waitNoSwanSA(t, swan, v2.Name, 3*time.Second)
	})

	var ickyV1 string
	var spiIn string
	t.Run("ikev1", func(t *testing.T) {
		t0 := time.Now()
		gmark, smark := v1MarkLog(g.LogPath), v1MarkLog(swan.LogPath)
		if out, err := g.Up(v1.Name); err != nil {
			t.Fatalf("ikegate up: %v\n%s", err, out)
		}
		gsa := v1WaitGate(t, g, v1.Name, 5*time.Second, func(sa *v1GateSA) bool { return sa.State == "ESTABLISHED" })
		ickyV1, _ = v1Cookies(gsa)
		// ikegate completes Quick Mode and installs its half ...
		line := v1WaitLine(t, "ikegate", gmark, 3*time.Second, "IKEv1 phase 2 SA established", v1.Name)
		if m := regexp.MustCompile(`"spi_in": "([0-9a-f]+)", "spi_out": "([0-9a-f]+)"`).FindStringSubmatch(line); m != nil {
			spiIn = m[1]
		}
		// ... strongSwan accepted transport mode in QM2 (with NAT-OA, which
		// only transport mode carries), failed to install it and deleted
		// the ESP SA.
		v1WaitLine(t, "strongSwan", smark, time.Second, "generating QUICK_MODE response", "NAT-OA")
		v1WaitLine(t, "strongSwan", smark, time.Second, "IPsec SA: unsupported mode")
		v1WaitLine(t, "strongSwan", smark, time.Second, "sending DELETE for ESP CHILD_SA with SPI "+spiIn)
		took["ikev1"] = time.Since(t0)
		// ikegate removes its phase 2 SA on that DELETE; the ISAKMP SA
		// stays up on both sides.
		v1WaitLine(t, "ikegate", gmark, 3*time.Second, "peer deleted phase 2 SA", v1.Name)
		if !WaitFor(t, 3*time.Second, func() bool {
			sas := v1GateNamed(g, v1.Name)
			return len(sas) == 1 && len(sas[0].Children) == 0
		}) {
			t.Errorf("ikegate after strongSwan's DELETE: %+v", v1GateNamed(g, v1.Name))
		}
		if ssa := swan.IKESA(v1.Name); ssa == nil || ssa.State != "ESTABLISHED" || len(ssa.Children) != 0 {
			t.Errorf("strongSwan after the failed install: %+v", ssa)
		}
		if out, err := g.Down(v1.Name); err != nil {
			t.Errorf("ikegate down: %v\n%s", err, out)
		}
		v1WaitNoGate(t, g, v1.Name, 3*time.Second)
		v1WaitNoSwan(t, swan, v1.Name, 3*time.Second)
	})

	pcap := capt.Stop()
	pkts := CheckDissection(t, pcap)
	t.Run("wire", func(t *testing.T) {
		if ispiV2 != "" {
			checkWire(t, pkts, ispiV2, pairs[0].Gate, pairs[0].Peer, 4500, xInformational)
		}
		if ickyV1 == "" {
			return
		}
		// Decrypt IKEv1 with strongSwan's Ka and read the Encapsulation
		// Mode of ikegate's QM1 and strongSwan's QM2: 4 is
		// UDP-Encapsulated-Transport (RFC 3947; NAT-T is on, libipsec
		// fakes a NAT).
		ka := swanKeyDump(swan.Log(), "encryption key Ka")
		if ka == "" {
			t.Fatalf("no 'encryption key Ka' in charon's log (ike = 4)")
		}
		out, err := runOut(Tshark, "-r", pcap, "-n", "-o", "uat:ikev1_decryption_table:"+ickyV1+","+ka,
			"-Y", "isakmp.exchangetype == 32", "-T", "fields", "-E", "separator=|", "-E", "occurrence=a", "-E", "aggregator=,",
			"-e", "ip.src", "-e", "isakmp.ispi", "-e", "isakmp.ipsec.attr.encap_mode", "-e", "isakmp.spi")
		if err != nil {
			t.Fatalf("tshark: %v\n%s", err, out)
		}
		modes := map[string][]string{}
		for _, l := range meaningful(out) {
			f := strings.Split(l, "|")
			if len(f) != 4 || f[1] != ickyV1 || f[2] == "" {
				continue
			}
			modes[f[0]] = append(modes[f[0]], f[2])
			t.Logf("Quick Mode from %s: encapsulation mode %s, SPI %s", f[0], f[2], f[3])
		}
		for _, who := range []string{pairs[1].Gate, pairs[1].Peer} {
			ms := modes[who]
			if len(ms) == 0 {
				t.Errorf("no decrypted Quick Mode SA from %s; tshark:\n%s", who, out)
			}
			for _, m := range ms {
				if n, _ := strconv.Atoi(m); n != 4 {
					t.Errorf("Quick Mode from %s: encapsulation mode %s, want 4 (UDP-Encapsulated-Transport)", who, m)
				}
			}
		}
	})
	t.Logf("durations: IKEv2 up to settled %v, IKEv1 up to strongSwan's DELETE %v", took["ikev2"].Round(time.Millisecond), took["ikev1"].Round(time.Millisecond))
}

// swanKeyDump returns, as hex, the first chunk charon logged at level 4 as
// "LABEL => N bytes @ 0x..." followed by its hex dump lines
// ("   0: 02 00 ...  ascii").
func swanKeyDump(log, label string) string {
	lines := strings.Split(log, "\n")
	dump := regexp.MustCompile(`>\s+\d+: ((?:[0-9A-F]{2} )+)`)
	for i, l := range lines {
		if !strings.Contains(l, label+" => ") {
			continue
		}
		var n int
		if m := regexp.MustCompile(`=> (\d+) bytes`).FindStringSubmatch(l); m != nil {
			n, _ = strconv.Atoi(m[1])
		}
		var hex strings.Builder
		for _, d := range lines[i+1:] {
			m := dump.FindStringSubmatch(d)
			if m == nil {
				break
			}
			hex.WriteString(strings.ToLower(strings.ReplaceAll(m[1], " ", "")))
		}
		if s := hex.String(); len(s) >= 2*n {
			return s[:2*n]
		}
	}
	return ""
}
