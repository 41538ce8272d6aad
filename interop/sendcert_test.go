package interop

import (
	"strings"
	"testing"
	"time"
)

// TestSendCert: the certificate-sending quirks against strongSwan
// (kernel-libipsec), IKEv2 and IKEv1:
//   - sc-chain: ikegate's leaf is issued by an intermediate CA that
//     strongSwan does not have (it trusts only the root): the intermediate
//     sent after the leaf lets strongSwan build the chain;
//   - send_cert = "never": strongSwan holds ikegate's certificate
//     (remote certs) and receives none;
//   - send_cert = "ifasked": no certificate to a peer that sent no
//     certificate request (strongSwan send_certreq = no, as Apple clients
//     do), the certificate to one that did.
func TestSendCert(t *testing.T) {
	t.Parallel()
	lab := NewLab(t)
	pki := NewTestPKI(t, t.TempDir())
	sub := pki.SubCA(t, "ikegate interop intermediate")
	cases := []struct {
		name      string
		version   int
		ikegI     bool
		sendCert  string // ikegate's send_cert ("": default)
		noCertReq bool   // strongSwan send_certreq = no
		preload   bool   // strongSwan holds ikegate's certificate
		chain     bool   // ikegate's leaf from the intermediate
		wantCert  bool   // strongSwan receives ikegate's certificate
	}{
		{name: "sc-chain", version: 2, ikegI: true, chain: true, wantCert: true},
		{name: "sc-never", version: 2, ikegI: true, sendCert: "never", preload: true},
		{name: "sc-ifasked-no", version: 2, sendCert: "ifasked", noCertReq: true, preload: true},
		{name: "sc-ifasked-yes", version: 2, sendCert: "ifasked", wantCert: true},
		{name: "sc1-never", version: 1, ikegI: true, sendCert: "never", preload: true},
		{name: "sc1-ifasked-no", version: 1, ikegI: true, sendCert: "ifasked", noCertReq: true, preload: true},
	}
	pairs := addPairs(t, lab, 60, len(cases))
	addPeerSubnets(t, lab, len(pairs))
	var peers, gates []Conn
	for i, c := range cases {
		peer := v2PSKConn(c.name, i, pairs[i], "aes256-sha256-modp2048", "aes256-sha256")
		peer.Version, peer.PSK = c.version, ""
		issuer := pki
		if c.chain {
			issuer = sub
		}
		peerKT := ECDSAP256
		if c.version == 1 {
			peerKT = RSA2048 // ikegate's IKEv1 verifies RSA signatures only
		}
		pl := pki.Leaf(t, "peer-"+c.name, peerKT, []string{"peer-" + c.name + ".lab"}, []string{pairs[i].Peer})
		gl := issuer.Leaf(t, "gate-"+c.name, RSA2048, []string{"gate-" + c.name + ".lab"}, []string{pairs[i].Gate})
		pl.UseIn(&peer, pki)
		peer.RemoteKeyType = RSA2048
		gate := peer.Mirror()
		gl.UseIn(&gate, pki)
		if c.chain {
			gate.Cert = gl.Chain(t, sub)
		}
		if c.sendCert != "" {
			gate.IkegateExtra = `send_cert = "` + c.sendCert + `"`
		}
		if c.noCertReq {
			peer.SwanExtra = "send_certreq = no"
		}
		if c.preload {
			peer.SwanRemoteCert = gl.Cert
		}
		peers, gates = append(peers, peer), append(gates, gate)
	}
	swan := lab.StartStrongSwan(t, lab.Left, SwanConfig{Conns: peers, LibIPsec: true, Extra: v1SwanExtra})
	g := lab.StartIkegate(t, lab.Right, IkegateTOML(IkegateGateway{Listen: gateAddrs(pairs)}, gates...))
	keepLogs(t, swan.LogPath, g.LogPath)

	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			smark := markLog(swan.LogPath)
			var err error
			var out string
			if c.ikegI {
				out, err = g.UpWait(c.name, 15*time.Second)
			} else {
				out, err = swan.Initiate(c.name, 10)
			}
			if err != nil {
				t.Fatalf("initiating %s: %v\n%s", c.name, err, out)
			}
			if !WaitFor(t, 10*time.Second, func() bool { return g.Established(c.name) && swan.Established(c.name) }) {
				t.Fatalf("no IKE SA of %s on both sides; strongSwan:\n%s", c.name, tail(smark.since(), 30))
			}
			got := false
			for _, l := range strings.Split(smark.since(), "\n") {
				if strings.Contains(l, "received end entity cert") && strings.Contains(l, "CN=gate-"+c.name) {
					got = true
				}
			}
			if got != c.wantCert {
				t.Errorf("strongSwan received ikegate's certificate: %v, want %v; its log:\n%s", got, c.wantCert, tail(smark.since(), 30))
			}
			if c.chain {
				requireLine(t, "strongSwan", smark.since(), "received issuer cert", "CN=ikegate interop intermediate")
			}
		})
	}
}
