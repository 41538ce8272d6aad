package interop

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"ikegate/internal/loadgen"
	"ikegate/oakley"
	"ikegate/policy"
)

// raScaleClients is how many IKEv1 XAUTH road warriors TestIKEv1XAuthScale
// brings up.
const raScaleClients = 200

// TestIKEv1XAuthScale: 200 concurrent IKEv1 road warriors (group PSK
// Aggressive Mode + XAUTH + Mode Config pull + Quick Mode, each its own
// UDP port, as clients behind one NAT) against one ikegate (two workers,
// dataplane "none"): every client gets a distinct virtual IP from the
// pool, and ikegate's leases match. The clients are the load generator
// (internal/loadgen, ikegate's own IKEv1 initiator engine as a
// remote-access client). Reports the time to bring them all up, the
// latencies and ikegate's RSS per client.
func TestIKEv1XAuthScale(t *testing.T) {
	lab := NewLab(t)
	var users strings.Builder
	for i := range raScaleClients {
		fmt.Fprintf(&users, "[[user]]\nname = \"user%d\"\npassword = \"pass-%d\"\n", i, i)
	}
	g := lab.StartIkegate(t, lab.Right, fmt.Sprintf(`[gateway]
listen = [%q]
dataplane = "none"
workers = 2
log_level = "info"
control = %q

[[pool]]
name = "rw"
addresses = ["10.9.0.0/23"]
dns = ["10.2.0.53"]

%s
[[connection]]
name = "rw"
version = "ikev1"
ikev1_mode = "aggressive"
remote_addr = "%%any"
local_id = "@gw.lab"
remote_id = "keyid:vpngroup"
auth = "psk"
psk = "scale-group-secret-0123456789"
xauth = "local"
pool = "rw"
ike = ["aes128-sha256-x25519"]
esp = ["aes128gcm16"]
local_ts = ["0.0.0.0/0"]
`, RightAddr, ControlPlaceholder, users.String()))
	rssBefore := vmRSS(t, g.Proc.Pid())
	elapsed := raScaleRun(t, lab, g, netip.MustParsePrefix("10.9.0.0/23"), loadgen.Config{
		Version: policy.IKEv1, IKEv1Mode: "aggressive",
		LocalID: "keyid:vpngroup", PSK: []byte("scale-group-secret-0123456789"),
		User: "user%d", Password: "pass-%d", VirtualIP: true,
		IKE: raScaleProposals(t, false, "aes128-sha256-x25519"), ESP: raScaleProposals(t, true, "aes128gcm16"),
		Count: raScaleClients,
	}, func(v netip.Addr) string { return strings.Join(v1Lines(g.Log(), `"`+v.String()+`"`), "\n") })
	rssAfter := vmRSS(t, g.Proc.Pid())
	t.Logf("%d IKEv1 XAUTH road warriors up in %v (%.0f per second); ikegate RSS %d KiB -> %d KiB: %.1f KiB per client",
		raScaleClients, elapsed.Round(time.Millisecond), float64(raScaleClients)/elapsed.Seconds(), rssBefore, rssAfter,
		float64(rssAfter-rssBefore)/raScaleClients)
}

// raScaleRun brings up cfg.Count remote-access clients at once with the
// load generator (internal/loadgen: ikegate's own initiator engines, each
// client its own UDP port, as clients behind one NAT) in the client
// namespace, and checks that all come up with distinct addresses of pool
// and that ikegate's leases list them all. It logs the latencies and
// returns how long bringing them up took. explain(v) says what ikegate
// logged about an address two clients got.
func raScaleRun(t *testing.T, lab *Lab, g *Ikegate, pool netip.Prefix, cfg loadgen.Config,
	explain func(netip.Addr) string) time.Duration {
	t.Helper()
	cfg.Target = netip.AddrPortFrom(netip.MustParseAddr(RightAddr), 500)
	cfg.From = []netip.Addr{netip.MustParseAddr(LeftAddr)}
	cfg.Concurrency = cfg.Count // all at once
	// A burst of a thousand first messages may lose some: retransmit
	// longer than a gateway would.
	cfg.Timeout, cfg.Retransmits = 60*time.Second, 8
	// The clients' own account of a failure goes into the error.
	var logBuf bytes.Buffer
	cfg.Log = zap.New(zapcore.NewCore(zapcore.NewConsoleEncoder(zap.NewDevelopmentEncoderConfig()),
		zapcore.Lock(zapcore.AddSync(&logBuf)), zap.WarnLevel))
	var res *loadgen.Result
	// The sockets are opened in the namespace (Run opens them before
	// anything else, on the calling thread).
	if err := InNetns(lab.Left, func() error {
		var err error
		res, err = loadgen.Run(context.Background(), cfg)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if res.Established != cfg.Count {
		for _, e := range res.Errors[:min(5, len(res.Errors))] {
			t.Errorf("%v", e)
		}
		t.Fatalf("%d of %d clients failed: %v; the clients' log:\n%s", cfg.Count-res.Established, cfg.Count,
			res.Failures, tail(logBuf.String(), 100))
	}
	seen := map[netip.Addr]int{}
	for i, v := range res.VIPs {
		if !pool.Contains(v) {
			t.Fatalf("client %d got %v, outside the pool", i, v)
		}
		if j, dup := seen[v]; dup {
			t.Fatalf("clients %d and %d both got %v; ikegate's lines about it:\n%s", j, i, v, explain(v))
		}
		seen[v] = i
	}
	out, err := g.ctl("leases", "--json")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(out, `"address"`); got != cfg.Count {
		t.Fatalf("ikegate leases lists %d leases, want %d", got, cfg.Count)
	}
	l := res.Latency
	t.Logf("latency p50 %v, p90 %v, p99 %v, max %v; generator CPU %v (%d sockets, %d engines)",
		l.P50.Round(time.Millisecond), l.P90.Round(time.Millisecond), l.P99.Round(time.Millisecond),
		l.Max.Round(time.Millisecond), res.CPU.Round(time.Millisecond), res.Sockets, res.Engines)
	return res.Elapsed
}

// raScaleProposals parses proposals or fails the test.
func raScaleProposals(t *testing.T, esp bool, ss ...string) []oakley.Proposal {
	t.Helper()
	var out []oakley.Proposal
	for _, s := range ss {
		p, err := oakley.ParseProposal(s, esp)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

// vmRSS reads a process's resident set in KiB.
func vmRSS(t *testing.T, pid int) int {
	t.Helper()
	kib, err := procRSS(pid)
	if err != nil {
		t.Fatal(err)
	}
	return kib
}
