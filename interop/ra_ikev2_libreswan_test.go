package interop

// Libreswan 4.10 as an IKEv2 remote-access client asking for an address
// with a configuration payload (leftmodecfgclient=yes), against ikegate's
// IKEv2 PSK remote-access connection (pool "rw", ra2GateTOML). Libreswan
// cannot install its CHILD SA on this host (no kernel ESP, see
// ra_libreswan_test.go): the address is checked on the wire (tshark with
// ikegate's exported IKEv2 keys decrypts ikegate's IKE_AUTH response) and
// in both logs, never with traffic.
//
// Facts (Libreswan 4.10 as an IKEv2 CP client, seen here):
//   - leftmodecfgclient=yes puts CP(CFG_REQUEST) in its IKE_AUTH request
//     (attributes 1, 3, 8, 10, 25: INTERNAL_IP4_ADDRESS, _DNS,
//     INTERNAL_IP6_ADDRESS, _DNS, INTERNAL_DNS_DOMAIN); whack --initiate
//     instantiates the conn ("rw"[1]).
//   - Without leftsubnet its TSi is its own address (10.200.0.1/32);
//     ikegate narrows a client with a virtual IP to vip/32 only, so it
//     answers TS_UNACCEPTABLE instead of the CHILD SA ("IKE_AUTH response
//     rejected Child SA with TS_UNACCEPTABLE"). With leftsubnet=0.0.0.0/0
//     (what strongSwan, Windows and iOS propose) ikegate narrows TSi to
//     vip/32 and Libreswan logs "received INTERNAL_IP4_ADDRESS 10.9.0.1",
//     "received INTERNAL_IP4_DNS 10.2.0.53".
//   - Adding the SA then fails ("netlink response for Add SA ...: Protocol
//     not supported", "CHILD SA encountered fatal error") and Libreswan
//     deletes its IKE SA without telling ikegate ("NOT sending
//     notification"): ikegate keeps its IKE SA, CHILD SA and lease until
//     its liveness checks give up.

import (
	"strings"
	"testing"
	"time"
)

// TestIKEv2RALibreswanCP: Libreswan (PSK @client.lab, ikev2, CP request)
// initiates; ikegate's IKE_AUTH response carries CFG_REPLY with
// INTERNAL_IP4_ADDRESS 10.9.0.1 (the pool's first address), seen
// decrypted on the wire; Libreswan reports the IKE SA established and the
// address received; ikegate lists the SA with that virtual IP and leases
// it to client.lab.
func TestIKEv2RALibreswanCP(t *testing.T) {
	t.Parallel()
	t0 := time.Now()
	lab := newRALab(t)
	const wantVIP = "10.9.0.1" // the first address of raPool
	keys := shortTempDir(t, "ikgkeys-")
	capt := lab.Capture(t, lab.Left, LabIface)

	toml := ra2GateTOML(ra2PSKGate(), "", "")
	toml = PatchIkegateTOML(toml, []string{`key_export = "` + keys + `"`}, "", nil)
	g := lab.StartIkegate(t, lab.Right, toml)

	peer := Conn{Name: raConn, Version: 2,
		LocalAddr: LeftAddr, RemoteAddr: RightAddr,
		LocalID: ra2CliID, RemoteID: raGateID,
		Auth: "psk", PSK: ra2PSK,
		IKE: []string{"aes256-sha256-modp2048"}, ESP: []string{"aes256-sha256"},
		LocalTS: []string{"0.0.0.0/0"}, RemoteTS: []string{raNet},
	}
	lsw := lab.StartLibreswan(t, lab.Left, LibreswanConfig{
		Conns: []Conn{peer},
		PerConn: map[string]string{raConn: strings.Join([]string{
			"leftmodecfgclient=yes", "narrowing=yes", "rekey=no",
		}, "\n")},
	})
	keepLogs(t, lsw.LogPath, g.LogPath)
	gmark, lmark := v1MarkLog(g.LogPath), v1MarkLog(lsw.LogPath)

	out, err := lsw.Whack("--initiate", "--asynchronous", "--name", raConn)
	t.Logf("whack --initiate --asynchronous: %v %s", err, strings.TrimSpace(out))

	// ikegate: the IKE SA with the virtual IP, and the lease.
	gsa, raw := raWaitSA(t, g, 10*time.Second)
	if gsa == nil {
		t.Fatalf("ikegate: no ESTABLISHED IKE SA of %q with a virtual IP within 10 s; sas --json:\n%s\nLibreswan:\n%s",
			raConn, raw, lswPlain(lmark.since()))
	}
	t.Logf("ikegate: IKE SA %s v%d %s %s <-> %s %s, remote id %q, peer vendor %q, virtual IP %s (pool %s), %d CHILD SA(s)",
		gsa.Name, gsa.Version, gsa.State, gsa.Local, gsa.Remote, gsa.IKEProposal, gsa.RemoteID, gsa.PeerVendor,
		gsa.VirtualIP, gsa.Pool, len(gsa.Children))
	if gsa.Version != 2 || gsa.Initiator || gsa.VirtualIP != wantVIP || gsa.Pool != "rw" {
		t.Errorf("ikegate: IKE SA v%d initiator=%v virtual_ip %q pool %q, want an IKEv2 responder with %s from rw",
			gsa.Version, gsa.Initiator, gsa.VirtualIP, gsa.Pool, wantVIP)
	}
	v1WaitLine(t, "ikegate", gmark, 2*time.Second, "configuration payload: virtual IP assigned", `"vip": "`+wantVIP+`"`)
	if ls := raLeases(t, g); len(ls) != 1 || ls[0].Address != wantVIP || ls[0].Pool != "rw" || !strings.Contains(ls[0].Identity, "client.lab") {
		t.Errorf("ikegate leases: %+v, want one: %s to client.lab from pool rw", ls, wantVIP)
	} else {
		t.Logf("ikegate lease: %+v", ls[0])
	}
	for _, l := range v1Lines(gmark.since(), "CHILD SA") {
		t.Logf("ikegate: %s", v1Short(l, 400))
	}

	// Libreswan: the IKE SA established, the address received.
	v1WaitLine(t, "Libreswan", lmark, 5*time.Second, `"`+raConn+`"`, "established IKE SA")
	v1WaitLine(t, "Libreswan", lmark, 3*time.Second, `"`+raConn+`"`, "received INTERNAL_IP4_ADDRESS "+wantVIP)
	v1WaitLine(t, "Libreswan", lmark, time.Second, `"`+raConn+`"`, "received INTERNAL_IP4_DNS "+raDNS)
	// ikegate narrowed Libreswan's TSi 0.0.0.0/0 to the virtual IP and
	// installed its side of the CHILD SA.
	v1WaitLine(t, "ikegate", gmark, 2*time.Second, "CHILD SA established", `"remote_ts": "`+wantVIP+`/32"`, `"local_ts": "`+raNet+`"`)
	time.Sleep(500 * time.Millisecond) // what Libreswan does with the CHILD SA, for the log
	t.Logf("Libreswan's log:\n  %s", strings.ReplaceAll(lswPlain(lmark.since()), "\n", "\n  "))
	if l, ok := v1Line(lsw.Status(), `"`+raConn+`":`, wantVIP); ok {
		t.Logf("Libreswan: %s", l)
	}

	// The wire: ikegate's IKE_AUTH response carries CFG_REPLY with the
	// address (decrypted with ikegate's exported keys).
	pcap := capt.Stop()
	ra2LogWire(t, CheckDissection(t, pcap))
	ra2LswCFGReply(t, pcap, keys, wantVIP)
	raCheckSecrets(t, g, ra2PSK)
	t.Logf("test took %v", time.Since(t0).Round(time.Millisecond))
}

// ra2LswCFGReply reads pcap with ikegate's exported IKEv2 keys: every
// packet dissects cleanly, Libreswan's IKE_AUTH request has a CFG_REQUEST
// and ikegate's IKE_AUTH response a CFG_REPLY with INTERNAL_IP4_ADDRESS
// vip.
func ra2LswCFGReply(t *testing.T, pcap, keys, vip string) {
	t.Helper()
	outb, ok := tsharkWithKeys(t, pcap, keys, "ikev2_decryption_table",
		"frame.number", "_ws.malformed", "_ws.expert.severity", "_ws.expert.message",
		"ip.src", "isakmp.exchangetype", "isakmp.flags", "isakmp.cfg.type",
		"isakmp.cfg.attr.internal_ip4_address", "isakmp.cfg.attr.type")
	if !ok {
		return
	}
	var request, reply bool
	for _, line := range meaningful(string(outb)) {
		f := strings.Split(line, "|")
		if len(f) != 10 {
			continue
		}
		t.Logf("tshark (decrypted): frame %s from %s xchg %s flags %s cfg type %q ip4 %q attr types %q",
			f[0], f[4], f[5], f[6], f[7], f[8], f[9])
		if f[1] != "" || strings.Contains(f[2], expertError) {
			t.Errorf("tshark (decrypted): frame %s malformed or expert error: %s", f[0], f[3])
		}
		if f[5] != "35" { // IKE_AUTH
			continue
		}
		switch {
		case f[4] == LeftAddr && f[7] == "1": // CFG_REQUEST
			request = true
		case f[4] == RightAddr && f[7] == "2" && strings.Contains(";"+f[8]+";", ";"+vip+";"): // CFG_REPLY
			reply = true
		}
	}
	if !request || !reply {
		t.Errorf("tshark with ikegate's keys: CFG_REQUEST in Libreswan's IKE_AUTH request %v, CFG_REPLY with INTERNAL_IP4_ADDRESS %s in ikegate's IKE_AUTH response %v",
			request, vip, reply)
	}
}
