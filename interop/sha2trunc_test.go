package interop

import (
	"fmt"
	"testing"
	"time"
)

// TestSHA2TruncBug: sha2_truncbug between two ikegates with the userspace
// dataplane (the peer with the old 96-bit HMAC-SHA2-256 truncation is
// emulated by the other ikegate: strongSwan's libipsec has no such
// switch), IKEv2 and IKEv1 with aes128-sha256: both ends set → pings
// pass; only one end set → the ICVs differ, pings fail and the receiving
// end refuses the packets (authentication failures or malformed).
func TestSHA2TruncBug(t *testing.T) {
	t.Parallel()
	lab := NewLab(t)
	cases := []struct {
		name          string
		version       int
		left, right   bool
		wantTrafficOK bool
	}{
		{"tb2-both", 2, true, true, true},
		{"tb2-one", 2, true, false, false},
		{"tb1-both", 1, true, true, true},
	}
	pairs := addPairs(t, lab, 90, len(cases))
	var laddrs []string
	var lc, rc []Conn
	for i, c := range cases {
		ike := "aes128-sha256-modp2048"
		l := trafficConn(c.name, c.version, i, pairs[i].Peer, pairs[i].Gate, ike, "aes128-sha256")
		r := l.Mirror()
		if c.left {
			l.IkegateExtra = "sha2_truncbug = true"
		}
		if c.right {
			r.IkegateExtra = "sha2_truncbug = true"
		}
		lc, rc = append(lc, l), append(rc, r)
		laddrs = append(laddrs, pairs[i].Peer)
		lab.AddSubnet(t, lab.Left, fmt.Sprintf("sn%d", i), leftHost(i)+"/24")
		lab.AddSubnet(t, lab.Right, fmt.Sprintf("gs%d", i), rightHost(i)+"/24")
	}
	left := lab.StartIkegate(t, lab.Left, IkegateTOML(userspaceGateway(laddrs...), lc...))
	right := lab.StartIkegate(t, lab.Right, IkegateTOML(userspaceGateway(gateAddrs(pairs)...), rc...))
	keepLogs(t, left.LogPath, right.LogPath)
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if out, err := left.UpWait(c.name, 15*time.Second); err != nil {
				t.Fatalf("up: %v: %s", err, out)
			}
			got, err := Ping(lab.Left, leftHost(i), rightHost(i), 3, 100*time.Millisecond, 2*time.Second)
			t.Logf("ping: %d/3 replies (%v)", got, err)
			if ok := got == 3; ok != c.wantTrafficOK {
				t.Errorf("pings passed: %v, want %v", ok, c.wantTrafficOK)
			}
			r := gateChild(right, c.name)
			if r == nil {
				t.Fatal("no CHILD SA on the right")
			}
			// A 12-byte ICV read as a 16-byte one fails the check, or
			// leaves a ciphertext that is no whole number of blocks.
			bad := r.AuthFailures + r.Malformed
			t.Logf("right end: %d authentication failures, %d malformed", r.AuthFailures, r.Malformed)
			if (bad > 0) == c.wantTrafficOK {
				t.Errorf("right end: %d ESP packets refused; want some exactly when the truncations differ", bad)
			}
		})
	}
}
