package interop

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// v2CertConns returns a certificate-authenticated connection as the peer
// sees it and as ikegate sees it: leaves "peer-NAME" and "gate-NAME" of
// pki (key types peerKT and gateKT, the FQDN identity in the
// subjectAltName), both trusting pki's CA.
func v2CertConns(t *testing.T, pki *TestPKI, name string, i int, p v2Pair, peerKT, gateKT KeyType) (peer, gate Conn) {
	t.Helper()
	peer = v2PSKConn(name, i, p, "aes256-sha256-modp2048", "aes256-sha256")
	peer.PSK = ""
	pl := pki.Leaf(t, "peer-"+name, peerKT, []string{"peer-" + name + ".lab"}, []string{p.Peer})
	gl := pki.Leaf(t, "gate-"+name, gateKT, []string{"gate-" + name + ".lab"}, []string{p.Gate})
	pl.UseIn(&peer, pki)
	peer.RemoteKeyType = gateKT
	gate = peer.Mirror()
	gl.UseIn(&gate, pki)
	return peer, gate
}

var v2CertCases = []struct {
	Name           string
	IkegI          bool
	Gate, Peer     KeyType
	GateSig, PeerS string // words the peer's / ikegate's log use for the signature kind
}{
	{"cert-rsa-i", true, RSA2048, ECDSAP256, "RSA", "ECDSA"},
	{"cert-ecdsa-i", true, ECDSAP256, RSA2048, "ECDSA", "RSA"},
	{"cert-rsa-r", false, RSA2048, ECDSAP256, "RSA", "ECDSA"},
	{"cert-ecdsa-r", false, ECDSAP256, RSA2048, "ECDSA", "RSA"},
}

// TestIKEv2StrongSwanCert: certificate authentication against strongSwan
// with a CA the test generates, RSA-2048 and ECDSA P-256 leaves (each side
// the other kind), ikegate as initiator and as responder; CHILD SAs
// installed on both ends (kernel-libipsec).
func TestIKEv2StrongSwanCert(t *testing.T) {
	t.Parallel()
	lab := NewLab(t)
	pki := NewTestPKI(t, t.TempDir())
	pairs := addPairs(t, lab, 50, len(v2CertCases))
	addPeerSubnets(t, lab, len(pairs))
	var peers, gates []Conn
	for i, c := range v2CertCases {
		p, g := v2CertConns(t, pki, c.Name, i, pairs[i], c.Peer, c.Gate)
		peers, gates = append(peers, p), append(gates, g)
	}
	capt := lab.Capture(t, lab.Right, LabIface)
	swan := lab.StartStrongSwan(t, lab.Left, SwanConfig{Conns: peers, LibIPsec: true})
	g := lab.StartIkegate(t, lab.Right, IkegateTOML(IkegateGateway{Listen: gateAddrs(pairs)}, gates...))
	keepLogs(t, swan.LogPath, g.LogPath)

	ispis := make([]string, len(v2CertCases))
	for i, c := range v2CertCases {
		t.Run(c.Name, func(t *testing.T) {
			smark := markLog(swan.LogPath)
			gsa, ssa := upWithSwan(t, g, swan, c.Name, c.IkegI, pairs[i], "AES_CBC_256/HMAC_SHA2_256_128/NO_ESN")
			ispis[i], _ = spisOf(gsa)
			if gsa.RemoteID != "peer-"+c.Name+".lab" || ssa.RemoteID != "gate-"+c.Name+".lab" {
				t.Errorf("identities: ikegate sees %q, strongSwan sees %q", gsa.RemoteID, ssa.RemoteID)
			}
			// strongSwan verified ikegate's signature with ikegate's
			// certificate (e.g. "authentication of 'gate-x.lab' with
			// RSA_EMSA_PKCS1_SHA2_256 successful" / "ECDSA-256 signature").
			requireLine(t, "strongSwan", smark.since(), "authentication of 'gate-"+c.Name+".lab' with", c.GateSig, "successful")
			requireLine(t, "strongSwan", smark.since(), "authentication of 'peer-"+c.Name+".lab' (myself) with", c.PeerS)
		})
	}
	t.Run("certs", func(t *testing.T) { checkCertsCommand(t, g) })
	pkts := CheckDissection(t, capt.Stop())
	t.Run("wire", func(t *testing.T) {
		for i, c := range v2CertCases {
			if ispis[i] == "" {
				continue
			}
			ini, resp := pairs[i].Peer, pairs[i].Gate
			if c.IkegI {
				ini, resp = resp, ini
			}
			checkWire(t, pkts, ispis[i], ini, resp, 4500)
		}
	})
}

// TestIKEv2LibreswanCert: certificate authentication against Libreswan
// (certificates imported into its NSS database), ikegate RSA and Libreswan
// ECDSA with ikegate initiating, the other way round with Libreswan
// initiating. CHILD SAs cannot be installed by Libreswan here (see
// TestIKEv2LibreswanPSK); the IKE SA and authentication are checked.
func TestIKEv2LibreswanCert(t *testing.T) {
	t.Parallel()
	lab := NewLab(t)
	pki := NewTestPKI(t, t.TempDir())
	cases := []struct {
		Name       string
		IkegI      bool
		Gate, Peer KeyType
	}{
		{"lsw-cert-i", true, RSA2048, ECDSAP256},
		{"lsw-cert-r", false, ECDSAP256, RSA2048},
	}
	pairs := addPairs(t, lab, 60, len(cases))
	var peers, gates []Conn
	for i, c := range cases {
		p, g := v2CertConns(t, pki, c.Name, i, pairs[i], c.Peer, c.Gate)
		peers, gates = append(peers, p), append(gates, g)
	}
	capt := lab.Capture(t, lab.Right, LabIface)
	lsw := lab.StartLibreswan(t, lab.Left, LibreswanConfig{Conns: peers, PKI: pki, Debug: true})
	g := lab.StartIkegate(t, lab.Right, IkegateTOML(IkegateGateway{Listen: gateAddrs(pairs)}, gates...))
	keepLogs(t, lsw.LogPath, g.LogPath)

	ispis := make([]string, len(cases))
	for i, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			lmark := markLog(lsw.LogPath)
			if c.IkegI {
				if out, err := g.Up(c.Name); err != nil {
					t.Fatalf("ikegate up: %v %s", err, out)
				}
				if !WaitFor(t, 5*time.Second, func() bool { return lsw.IKEEstablished(c.Name) }) {
					t.Errorf("Libreswan: no established IKE SA for %s", c.Name)
				}
			} else {
				out, ok := lsw.Initiate(c.Name)
				lsw.Whack("--delete", "--name", c.Name) // no revivals (see TestIKEv2LibreswanPSK)
				if !ok {
					t.Fatalf("whack --initiate:\n%s", out)
				}
			}
			gsa := waitGateSA(t, g, c.Name, 5*time.Second, settled(1))
			gi, gr := spisOf(gsa)
			ispis[i] = gi
			if !lswIKESPIs(lmark.since())[[2]string{gi, gr}] {
				t.Errorf("pluto's debug log has no IKE message with SPIs %s/%s (ikegate's view)", gi, gr)
			}
			if gsa.RemoteID != "peer-"+c.Name+".lab" {
				t.Errorf("ikegate sees remote id %q", gsa.RemoteID)
			}
			role := "responder"
			if !c.IkegI {
				role = "initiator"
			}
			// e.g. "responder established IKE SA; authenticated peer using
			// authby=rsasig and ID_FQDN '@gate-lsw-cert-i.lab'"
			requireLine(t, "Libreswan", lmark.since(), role+" established IKE SA; authenticated peer", "'@gate-"+c.Name+".lab'")
			if c.IkegI && (len(gsa.Children) != 1 || !strings.Contains(gsa.Children[0].Error, "TS_UNACCEPTABLE")) {
				t.Errorf("ikegate CHILD SA %+v, want FAILED with the peer's TS_UNACCEPTABLE", gsa.Children)
			}
		})
	}
	pkts := CheckDissection(t, capt.Stop())
	t.Run("wire", func(t *testing.T) {
		for i, c := range cases {
			if ispis[i] == "" {
				continue
			}
			ini, resp := pairs[i].Peer, pairs[i].Gate
			if c.IkegI {
				ini, resp = resp, ini
			}
			checkWire(t, pkts, ispis[i], ini, resp, 500)
		}
	})
}

// checkCertsCommand: `ikegate certs --json` lists each own leaf of
// v2CertCases once, with its connection, key type and a future expiry,
// and the test CA as a trust anchor; the text view says when each
// expires and shows no private key.
func checkCertsCommand(t *testing.T, g *Ikegate) {
	out, err := g.ctl("certs", "--json")
	if err != nil {
		t.Fatalf("ikegate certs --json: %v: %s", err, out)
	}
	var certs []struct {
		Role, Subject, Key, SHA256 string
		NotAfter                   string `json:"not_after"`
		Conns                      []string
	}
	if err := json.Unmarshal([]byte(out), &certs); err != nil {
		t.Fatalf("ikegate certs --json: %v: %s", err, out)
	}
	own, cas := map[string]int{}, 0
	for _, c := range certs {
		switch c.Role {
		case "own":
			for _, conn := range c.Conns {
				own[conn]++
				for _, tc := range v2CertCases {
					want := map[KeyType]string{RSA2048: "RSA 2048", ECDSAP256: "ECDSA P-256"}[tc.Gate]
					if tc.Name == conn && c.Key != want {
						t.Errorf("%s: key %q, want %q", conn, c.Key, want)
					}
				}
			}
			if na, err := time.Parse(time.RFC3339, c.NotAfter); err != nil || !na.After(time.Now()) {
				t.Errorf("own certificate %s: not_after %q", c.Subject, c.NotAfter)
			}
			if len(c.SHA256) != 64 {
				t.Errorf("own certificate %s: fingerprint %q", c.Subject, c.SHA256)
			}
		case "ca":
			cas++
		}
	}
	for _, tc := range v2CertCases {
		if own[tc.Name] != 1 {
			t.Errorf("connection %s has %d own certificates in `ikegate certs`, want 1", tc.Name, own[tc.Name])
		}
	}
	if cas != 1 {
		t.Errorf("`ikegate certs` lists %d CAs, want the test CA", cas)
	}
	text, err := g.ctl("certs")
	if err != nil || !strings.Contains(text, "expires in") || strings.Contains(text, "PRIVATE") {
		t.Errorf("ikegate certs: %v:\n%s", err, text)
	}
}
