package interop

import (
	"strings"
	"testing"
	"time"
)

// TestNATIKEv1MethodLibreswan: nat_ikev1_method against Libreswan's
// nat-ikev1-method, Main Mode: the NAT traversal both announce decides
// the one used, as ikegate's "phase 1 established" line names it (nat_t):
// the drafts when the initiator (ikegate or Libreswan) announces only
// those, none when ikegate accepts only RFC 3947 and Libreswan announces
// only the drafts. (Libreswan's setting shapes what it announces as
// initiator; as responder it answers what it is offered.)
func TestNATIKEv1MethodLibreswan(t *testing.T) {
	t.Parallel()
	lab := NewLab(t)
	cases := []struct {
		name, gate, lsw string
		lswInit         bool
		want            string
	}{
		{"nm-both", "", "both", false, "RFC 3947"},
		{"nm-lsw-drafts", "", "drafts", true, "draft-ietf-ipsec-nat-t-ike"},
		{"nm-gate-drafts", "drafts", "both", false, "draft-ietf-ipsec-nat-t-ike"},
		{"nm-disjoint", "rfc", "drafts", true, "none"},
	}
	pairs := v1AddPairs(t, lab.Left, lab.Right, 70, len(cases))
	var peers, gates []Conn
	per := map[string]string{}
	for i, c := range cases {
		p := v1PSKConn(c.name, i, pairs[i], "aes256-sha256-modp2048", "aes256-sha256")
		g := p.Mirror()
		if c.gate != "" {
			g.IkegateExtra = `nat_ikev1_method = "` + c.gate + `"`
		}
		per[c.name] = "nat-ikev1-method=" + c.lsw + "\npfs=no"
		peers, gates = append(peers, p), append(gates, g)
	}
	lsw := lab.StartLibreswan(t, lab.Left, LibreswanConfig{Conns: peers, PerConn: per,
		ConnExtra: "retransmit-timeout=3s\nkeyingtries=1"})
	g := lab.StartIkegate(t, lab.Right, v1GatewayTOML(v1GateAddrs(pairs), gates...))
	v1KeepLogs(t, lsw.LogPath, g.LogPath)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			mark := v1MarkLog(g.LogPath)
			if c.lswInit {
				if out, err := lsw.Whack("--initiate", "--asynchronous", "--name", c.name); err != nil {
					t.Fatalf("Libreswan initiate: %v: %s", err, out)
				}
			} else if out, err := g.Up(c.name); err != nil {
				t.Fatalf("up: %v: %s", err, out)
			}
			var line string
			if !WaitFor(t, 10*time.Second, func() bool {
				l, ok := v1Line(mark.since(), `"conn": "`+c.name+`"`, "IKEv1 phase 1 established")
				line = l
				return ok
			}) {
				t.Fatalf("no phase 1 with Libreswan; ikegate's lines:\n%s", strings.Join(v1Lines(mark.since(), c.name), "\n"))
			}
			if !strings.Contains(line, `"nat_t": "`+c.want+`"`) {
				t.Errorf("NAT traversal: want %q in %s", c.want, line)
			}
		})
	}
}
