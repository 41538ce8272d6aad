package interop

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestIKEv2RACertPlusEAP: multiple authentication rounds (RFC 4739), as a
// managed laptop does: strongSwan authenticates first with its
// certificate (local-1: client.lab, from the test CA), then with
// EAP-MSCHAPv2 as alice (local-2), both in IKE_AUTH, announced with
// MULTIPLE_AUTH_SUPPORTED and ANOTHER_AUTH_FOLLOWS. ikegate (certificate
// vpn.lab, remote_auth = "eap-mschapv2", ca set) checks both: the SA is
// the certificate's identity, the lease and user are alice's, and traffic
// flows.
func TestIKEv2RACertPlusEAP(t *testing.T) {
	t.Parallel()
	lab := newRALab(t)
	ra2RequirePlugins(t)
	e := newRA2EAPCase(t, RSA2048)
	cl := e.pki.Leaf(t, raCliFQDN, ECDSAP256, []string{raCliFQDN}, nil)
	g := lab.StartIkegate(t, lab.Right, ra2GateTOML(e.gate("aes256-sha256-modp2048", "aes256-sha256"), "eap-mschapv2", ""))
	conf := ra2Swanctl(ra2Spec{
		local:   fmt.Sprintf("auth = pubkey\ncerts = %s\nid = %s", cl.Cert, raCliFQDN),
		remote:  fmt.Sprintf("auth = pubkey\nid = %s\ncacerts = %s", raGateFQDN, e.pki.CACert),
		secrets: ra2EAPSecret(raUser, raPassword),
	})
	// Rounds in the order written: the certificate first, then EAP.
	conf = strings.Replace(conf, "    remote {", "    local-2 {\n      auth = eap-mschapv2\n      eap_id = "+raUser+"\n    }\n    remote {", 1)
	conf = strings.Replace(conf, "    local {", "    local-1 {", 1)
	swan := ra2StartSwan(t, lab.Lab, conf)
	ra2LoadKey(t, swan, cl.Key)
	keepLogs(t, swan.LogPath, g.LogPath)
	smark, gmark := v1MarkLog(swan.LogPath), v1MarkLog(g.LogPath)

	up := ra2Connect(t, lab, swan, g, ra2Want{User: raUser})
	v1WaitLine(t, "ikegate", gmark, time.Second, "client authenticated with its certificate; EAP follows (RFC 4739)", raCliFQDN)
	v1WaitLine(t, "ikegate", gmark, time.Second, "EAP: user authenticated", `"user": "`+raUser+`"`)
	v1WaitLine(t, "strongSwan", smark, time.Second, "EAP method EAP_MSCHAPV2 succeeded, MSK established")
	for _, l := range v1Lines(smark.since(), "IKE_AUTH", "MULT_AUTH", "AUTH_FOLLOWS") {
		t.Logf("strongSwan: %s", v1Short(l, 200))
	}
	if up.Gate != nil && up.Gate.RemoteID != raCliFQDN {
		t.Errorf("ikegate: remote id %q, want the certificate's %q", up.Gate.RemoteID, raCliFQDN)
	}
	ra2Disconnect(t, swan, g)
}
