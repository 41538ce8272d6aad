package interop

import (
	"strings"
	"testing"
	"time"
)

// vendorCase is one connection of the peer_vendor tests: who initiates
// and what `ikegate sas --json` must name the peer.
type vendorCase struct {
	name  string
	ikegI bool
	pair  v2Pair
	peer  Conn
}

// vendorCases makes an initiator and a responder case for ikegate on two
// fresh address pairs.
func vendorCases(t *testing.T, lab *Lab, prefix string, base, version int) []vendorCase {
	pairs := addPairs(t, lab, base, 2)
	var cs []vendorCase
	for i, ikegI := range []bool{true, false} {
		name := prefix + "-" + map[bool]string{true: "i", false: "r"}[ikegI]
		c := v2PSKConn(name, i, pairs[i], "aes256-sha256-modp2048", "aes256-sha256")
		c.Version = version
		cs = append(cs, vendorCase{name: name, ikegI: ikegI, pair: pairs[i], peer: c})
	}
	return cs
}

// waitPeerVendor waits for ikegate's established IKE SA of name and
// checks the product it names.
func waitPeerVendor(t *testing.T, g *Ikegate, name string, version int, want string) {
	t.Helper()
	gsa := v1WaitGate(t, g, name, 10*time.Second, func(sa *v1GateSA) bool {
		return sa.State == "ESTABLISHED" && sa.Version == version
	})
	t.Logf("ikegate: IKEv%d %s initiator=%v peer_vendor %q", gsa.Version, gsa.Name, gsa.Initiator, gsa.PeerVendor)
	if gsa.PeerVendor != want {
		t.Errorf("ikegate sas --json: %s peer_vendor %q, want %q", name, gsa.PeerVendor, want)
	}
}

// TestVendorStrongSwanIKEv2: `ikegate sas --json` names a strongSwan
// 5.9.8 IKEv2 peer, as initiator and as responder: "strongSwan" from its
// vendor ID when charon sends it (send_vendor_id = yes), "strongSwan
// (probably)" from the order of its IKE_SA_INIT notifications when it
// does not (the default).
//
// Fact (capture): strongSwan puts no vendor ID in IKE_SA_INIT unless
// send_vendor_id = yes, then MD5("strongSwan") as the last payload.
func TestVendorStrongSwanIKEv2(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		sendVID bool
		want    string
	}{
		{"default", false, "strongSwan (probably)"},
		{"send_vendor_id", true, "strongSwan"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lab := NewLab(t)
			cases := vendorCases(t, lab, "vid-swan-"+map[bool]string{true: "v", false: "n"}[tc.sendVID], 10, 2)
			addPeerSubnets(t, lab, len(cases))
			var peers, gates []Conn
			for _, c := range cases {
				peers = append(peers, c.peer)
				gates = append(gates, c.peer.Mirror())
			}
			extra := ""
			if tc.sendVID {
				extra = "send_vendor_id = yes"
			}
			swan := lab.StartStrongSwan(t, lab.Left, SwanConfig{Conns: peers, LibIPsec: true, Extra: extra})
			g := lab.StartIkegate(t, lab.Right, IkegateTOML(IkegateGateway{Listen: gateAddrs([]v2Pair{cases[0].pair, cases[1].pair})}, gates...))
			keepLogs(t, swan.LogPath, g.LogPath)
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					upWithSwan(t, g, swan, c.name, c.ikegI, c.pair, "AES_CBC_256/HMAC_SHA2_256_128/NO_ESN")
					waitPeerVendor(t, g, c.name, 2, tc.want)
				})
			}
		})
	}
}

// TestVendorLibreswan: `ikegate sas --json` names a Libreswan 4.10 peer,
// IKEv2 and IKEv1, as initiator and as responder: "Libreswan" from its
// OE-Libreswan-4.10 vendor ID (send-vendorid=yes); without it (the
// default), "Libreswan (probably)" in IKEv2 from the order of its
// IKE_SA_INIT notifications (fragmentation first, NAT detection last),
// and "Libreswan" in IKEv1 from its default vendor ID set (bare
// FRAGMENTATION with DPD), which the IKEv1 engine has always named so.
//
// Without kernel ESP Libreswan installs no CHILD SA; only the IKE SA
// matters here.
func TestVendorLibreswan(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		version int
		sendVID bool
		want    string
	}{
		{"ikev2-default", 2, false, "Libreswan (probably)"},
		{"ikev2-send-vendorid", 2, true, "Libreswan"},
		{"ikev1-default", 1, false, "Libreswan"},
		{"ikev1-send-vendorid", 1, true, "Libreswan"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lab := NewLab(t)
			cases := vendorCases(t, lab, "vid-"+tc.name, 30, tc.version)
			var peers, gates []Conn
			perConn := map[string]string{}
			for _, c := range cases {
				peers = append(peers, c.peer)
				gates = append(gates, c.peer.Mirror())
				perConn[c.name] = "pfs=no"
			}
			extra := ""
			if tc.sendVID {
				extra = "send-vendorid=yes"
			}
			lsw := lab.StartLibreswan(t, lab.Left, LibreswanConfig{Conns: peers, ConnExtra: extra, PerConn: perConn})
			g := lab.StartIkegate(t, lab.Right, v1GatewayTOML(gateAddrs([]v2Pair{cases[0].pair, cases[1].pair}), gates...))
			keepLogs(t, lsw.LogPath, g.LogPath)
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					if c.ikegI {
						if out, err := g.Up(c.name); err != nil {
							t.Fatalf("ikegate up %s: %v\n%s", c.name, err, out)
						}
					} else {
						// --asynchronous: whack --initiate otherwise blocks
						// until Libreswan gives up on its CHILD SA.
						out, err := lsw.Whack("--initiate", "--asynchronous", "--name", c.name)
						t.Logf("whack --initiate --asynchronous: %v %s", err, strings.TrimSpace(out))
					}
					waitPeerVendor(t, g, c.name, tc.version, tc.want)
				})
			}
		})
	}
}
