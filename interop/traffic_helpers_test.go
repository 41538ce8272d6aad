package interop

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Protected subnets of the traffic tests: the peer (left) side and
// ikegate's (right) side. Host i of a lab with several tunnels uses
// 10.201.<i>.1 and 10.202.<i>.1.
func leftSubnet(i int) string  { return fmt.Sprintf("10.201.%d.0/24", i) }
func rightSubnet(i int) string { return fmt.Sprintf("10.202.%d.0/24", i) }
func leftHost(i int) string    { return fmt.Sprintf("10.201.%d.1", i) }
func rightHost(i int) string   { return fmt.Sprintf("10.202.%d.1", i) }

// trafficMB is the size of each bulk transfer of case 1 (per direction).
const trafficMB = 50

// trafficConn is a PSK connection as the left end sees it, protecting
// 10.201.<i>.0/24 (left) === 10.202.<i>.0/24 (right).
func trafficConn(name string, version, i int, local, remote string, ike, esp string) Conn {
	return Conn{
		Name: name, Version: version,
		LocalAddr: local, RemoteAddr: remote,
		LocalID: "@left-" + name + ".lab", RemoteID: "@right-" + name + ".lab",
		Auth: "psk", PSK: "traffic-" + name + "-0123456789abcdef",
		IKE: []string{ike}, ESP: []string{esp},
		LocalTS: []string{leftSubnet(i)}, RemoteTS: []string{rightSubnet(i)},
	}
}

// userspaceGateway is the [gateway] of an ikegate with the userspace
// dataplane; extra lines (e.g. natt_keepalive) are added by the caller.
func userspaceGateway(listen ...string) IkegateGateway {
	return IkegateGateway{Listen: listen, Dataplane: "userspace"}
}

// gateChild returns ikegate's CHILD SA called name (nil if none).
func gateChild(g *Ikegate, name string) *IkegateTrafficChild {
	cs, err := g.TrafficChildren()
	if err != nil {
		return nil
	}
	for i := range cs {
		if cs[i].Name == name && cs[i].State == "INSTALLED" {
			return &cs[i]
		}
	}
	return nil
}

// checkPing pings both ways between the protected hosts and fails the
// test unless every echo is answered.
func checkPing(t *testing.T, leftNS, rightNS string, i int) {
	t.Helper()
	const n = 3
	for _, d := range []struct{ ns, src, dst string }{
		{leftNS, leftHost(i), rightHost(i)},
		{rightNS, rightHost(i), leftHost(i)},
	} {
		t0 := time.Now()
		got, err := Ping(d.ns, d.src, d.dst, n, 100*time.Millisecond, 2*time.Second)
		if err != nil || got != n {
			t.Errorf("ping %s -> %s: %d of %d replies (%v)", d.src, d.dst, got, n, err)
			continue
		}
		t.Logf("ping %s -> %s: %d/%d replies in %v", d.src, d.dst, got, n, time.Since(t0).Round(time.Millisecond))
	}
}

// checkBulk sends mb MB each way between the protected hosts and compares
// the sha256 of what was sent with what arrived. It returns the results
// (left->right, right->left).
func checkBulk(t *testing.T, leftNS, rightNS string, i, mb int) []TransferResult {
	t.Helper()
	var out []TransferResult
	for _, d := range []struct{ sNS, src, dNS, dst string }{
		{leftNS, leftHost(i), rightNS, rightHost(i)},
		{rightNS, rightHost(i), leftNS, leftHost(i)},
	} {
		r, err := Transfer(d.sNS, d.src, d.dNS, d.dst, int64(mb)<<20, true, 60*time.Second)
		if err != nil {
			t.Errorf("bulk %s -> %s: %v (%s)", d.src, d.dst, err, r)
			continue
		}
		if r.Bytes != int64(mb)<<20 || r.SentSHA != r.RecvSHA {
			t.Errorf("bulk %s -> %s: received %d of %d bytes, sha256 sent %s received %s", d.src, d.dst, r.Bytes, int64(mb)<<20, r.SentSHA, r.RecvSHA)
			continue
		}
		t.Logf("bulk %s -> %s: %s, sha256 %s on both ends", d.src, d.dst, r, r.SentSHA[:16])
		out = append(out, r)
	}
	return out
}

// spiOf parses an SPI as ikegate prints it.
func spiOf(t *testing.T, s string) uint32 {
	t.Helper()
	v, err := strconv.ParseUint(s, 16, 32)
	if err != nil {
		t.Fatalf("SPI %q: %v", s, err)
	}
	return uint32(v)
}

// waitLog waits until the log (from mark) has a line with every one of
// subs, and returns when it was first seen.
func waitLog(t *testing.T, m logMark, timeout time.Duration, subs ...string) (string, bool) {
	t.Helper()
	var line string
	ok := WaitFor(t, timeout, func() bool {
		for _, l := range strings.Split(m.since(), "\n") {
			all := true
			for _, s := range subs {
				if !strings.Contains(l, s) {
					all = false
					break
				}
			}
			if all {
				line = l
				return true
			}
		}
		return false
	})
	return line, ok
}
