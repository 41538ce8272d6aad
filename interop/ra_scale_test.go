package interop

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"ikegate/ikev1"
	"ikegate/ikev2"
	"ikegate/internal/engine"
	"ikegate/isakmp"
	"ikegate/kernel"
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
// pool, and ikegate's leases match. The clients are ikegate's own IKEv1
// initiator engine as a remote-access client. Reports the time to bring
// them all up and ikegate's RSS per client.
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

	ike, err := oakley.ParseProposal("aes128-sha256-x25519", false)
	if err != nil {
		t.Fatal(err)
	}
	esp, _ := oakley.ParseProposal("aes128gcm16", true)
	gw := netip.MustParseAddr(RightAddr)
	elapsed := raScaleRun(t, lab, g, raScaleClients, netip.MustParsePrefix("10.9.0.0/23"), func(i int) *policy.Connection {
		return &policy.Connection{
			Name: "c" + strconv.Itoa(i), Version: policy.IKEv1, IKEv1Mode: "aggressive",
			LocalAddr: netip.MustParseAddr(LeftAddr), RemoteAddr: gw,
			LocalID:  policy.Identity{Type: policy.IDKeyID, Data: []byte("vpngroup")},
			RemoteID: policy.Identity{Any: true}, Auth: policy.AuthPSK, PSK: []byte("scale-group-secret-0123456789"),
			IKE: []oakley.Proposal{ike}, ESP: []oakley.Proposal{esp},
			RemoteTS: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")},
			XAuth:    policy.XAuthLocal, XAuthUser: "user" + strconv.Itoa(i), XAuthPassword: []byte("pass-" + strconv.Itoa(i)),
			VirtualIP: true,
		}
	}, func(v netip.Addr) string { return strings.Join(v1Lines(g.Log(), `"`+v.String()+`"`), "\n") })
	rssAfter := vmRSS(t, g.Proc.Pid())
	t.Logf("%d IKEv1 XAUTH road warriors up in %v (%.0f per second); ikegate RSS %d KiB -> %d KiB: %.1f KiB per client",
		raScaleClients, elapsed.Round(time.Millisecond), float64(raScaleClients)/elapsed.Seconds(), rssBefore, rssAfter,
		float64(rssAfter-rssBefore)/raScaleClients)
}

// raScaleRun brings up n remote-access clients at once, each its own
// engine and UDP port in the client namespace (conn(i) is client i's
// connection), and checks that all come up with distinct addresses of
// pool and that ikegate's leases list n of them. It returns how long
// bringing them up took. explain(v) says what ikegate logged about an
// address two clients got.
func raScaleRun(t *testing.T, lab *Lab, g *Ikegate, n int, pool netip.Prefix, conn func(i int) *policy.Connection,
	explain func(netip.Addr) string) time.Duration {
	t.Helper()
	start := time.Now()
	vips := make([]netip.Addr, n)
	errs := make(chan error, n)
	hold := make(chan struct{})
	defer close(hold)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			c := conn(i)
			var vip netip.Addr
			err := InNetns(lab.Left, func() error {
				var err error
				vip, err = raClient(c, 60*time.Second, hold)
				return err
			})
			vips[i] = vip
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	elapsed := time.Since(start)
	failed := 0
	for err := range errs {
		if err != nil {
			if failed < 5 {
				t.Errorf("client: %v", err)
			}
			failed++
		}
	}
	if failed > 0 {
		t.Fatalf("%d of %d clients failed", failed, n)
	}
	seen := map[netip.Addr]int{}
	for i, v := range vips {
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
	if got := strings.Count(out, `"address"`); got != n {
		t.Fatalf("ikegate leases lists %d leases, want %d", got, n)
	}
	return elapsed
}

// raEngine is an engine of either version as a remote-access client.
type raEngine interface {
	engine.Answerer
	Initiate(now time.Time, conn *policy.Connection) (engine.Output, error)
	HandleDatagram(now time.Time, d isakmp.Datagram) engine.Output
	Tick(now time.Time) engine.Output
	SAs() []policy.IKESAInfo
}

// raClient runs one remote-access client (its own engine of conn's
// version and its own UDP port) until its first CHILD SA (IKEv1: Quick
// Mode) is installed and returns its virtual IP.
func raClient(conn *policy.Connection, timeout time.Duration, hold <-chan struct{}) (netip.Addr, error) {
	sock, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(conn.LocalAddr, 0)))
	if err != nil {
		return netip.Addr{}, err
	}
	// The socket (its port) stays taken until hold closes: a client that
	// is done must not hand its port to one still starting, which the
	// gateway would take for the same device restarting (INITIAL_CONTACT
	// from the same address and port) and rightly replace.
	go func() { <-hold; sock.Close() }()
	dp, _ := kernel.New("none", nil)
	defer dp.Close()
	// The client's own account of a failure goes into the error; a burst
	// of a thousand first messages may lose some: retransmit longer than
	// a gateway would.
	var logBuf bytes.Buffer
	clientLog := zap.New(zapcore.NewCore(zapcore.NewConsoleEncoder(zap.NewDevelopmentEncoderConfig()),
		zapcore.Lock(zapcore.AddSync(&logBuf)), zap.InfoLevel))
	cfg := engine.Config{DB: policy.NewDB([]*policy.Connection{conn}), Installer: dp, Log: clientLog, RetransmitTries: 8}
	var eng raEngine = ikev1.NewEngine(cfg)
	if conn.Version == policy.IKEv2 {
		eng = ikev2.NewEngine(cfg)
	}
	natt := uint16(4500)
	send := func(out engine.Output) {
		for _, d := range engine.Execute(time.Now(), eng, dp, nil, out, nil, nil) {
			b := d.Data
			if d.Remote.Port() == natt && !isKeepalive(b) {
				b = append([]byte{0, 0, 0, 0}, b...) // non-ESP marker
			}
			sock.WriteToUDPAddrPort(b, d.Remote)
		}
	}
	out, err := eng.Initiate(time.Now(), conn)
	if err != nil {
		return netip.Addr{}, err
	}
	send(out)
	local := netip.AddrPortFrom(conn.LocalAddr, 500) // as the engine believes; the NAT-D hashes show the real port
	buf := make([]byte, 65536)
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		sas := eng.SAs()
		if len(sas) == 1 && len(sas[0].Children) == 1 && sas[0].Children[0].State == "INSTALLED" {
			p, err := netip.ParsePrefix(sas[0].Children[0].LocalTS[0]) // its virtual IP/32
			return p.Addr(), err
		}
		sock.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		n, from, err := sock.ReadFromUDPAddrPort(buf)
		if err == nil {
			b := buf[:n]
			if from.Port() == natt {
				if len(b) < 4 || isKeepalive(b) {
					continue
				}
				b = b[4:]
			}
			send(eng.HandleDatagram(time.Now(), isakmp.Datagram{Local: local, Remote: from, Data: append([]byte(nil), b...)}))
		}
		send(eng.Tick(time.Now()))
	}
	return netip.Addr{}, fmt.Errorf("%s (%s): not up within %v: %+v; its log:\n%s", conn.Name, conn.XAuthUser, timeout, eng.SAs(), logBuf.String())
}

func isKeepalive(b []byte) bool { return len(b) == 1 && b[0] == 0xff }

// vmRSS reads a process's resident set in KiB.
func vmRSS(t *testing.T, pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	t.Fatal("no VmRSS")
	return 0
}
