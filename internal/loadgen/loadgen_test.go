package loadgen

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"ikegate/gateway"
	"ikegate/kernel"
	"ikegate/oakley"
	"ikegate/policy"
)

// loopback is the responder's address in the tests; the clients come
// from another loopback address, so that the responder sees them as
// remote.
var (
	loopback = netip.MustParseAddr("127.0.0.1")
	clientIP = netip.MustParseAddr("127.0.0.2")
)

// testPKI is a CA with a gateway certificate (gw.test) and a client
// certificate (client.test), as PEM files and parsed.
type testPKI struct {
	caFile, gwCert, gwKey string
	ca                    *x509.Certificate
	client                *x509.Certificate
	clientKey             *rsa.PrivateKey
}

func newPKI(t testing.TB) *testPKI {
	t.Helper()
	dir := t.TempDir()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "loadgen test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	// RSA leaves: IKEv1 signatures are RSA only.
	leaf := func(serial int64, name string) (*x509.Certificate, *rsa.PrivateKey, []byte) {
		k, _ := rsa.GenerateKey(rand.Reader, 2048)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			DNSNames: []string{name}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		c, _ := x509.ParseCertificate(der)
		return c, k, der
	}
	p := &testPKI{ca: ca, caFile: filepath.Join(dir, "ca.pem"), gwCert: filepath.Join(dir, "gw.pem"), gwKey: filepath.Join(dir, "gw.key")}
	writePEM(t, p.caFile, "CERTIFICATE", caDER)
	_, gk, gder := leaf(2, "gw.test")
	writePEM(t, p.gwCert, "CERTIFICATE", gder)
	kder, _ := x509.MarshalPKCS8PrivateKey(gk)
	writePEM(t, p.gwKey, "PRIVATE KEY", kder)
	p.client, p.clientKey, _ = leaf(3, "client.test")
	return p
}

func writePEM(t testing.TB, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// responder runs an ikegate gateway (dataplane "none") on loopback with
// the connection conn (TOML lines) plus a pool and users user0... and
// returns it with its IKE port.
func responder(t testing.TB, conn string, users int) (*gateway.Gateway, uint16) {
	t.Helper()
	port := freePorts(t)
	var b strings.Builder
	fmt.Fprintf(&b, "[gateway]\nlisten = [%q]\nike_port = %d\nnatt_port = %d\ndataplane = \"none\"\nworkers = 2\n"+
		"cookie_threshold = 100000\n\n[[pool]]\nname = \"rw\"\naddresses = [\"10.9.0.0/20\"]\n\n", loopback, port, port+1)
	for i := range users {
		fmt.Fprintf(&b, "[[user]]\nname = \"user%d\"\npassword = \"pass-%d\"\n", i, i)
	}
	b.WriteString("\n[[connection]]\nname = \"rw\"\nlocal_addr = \"127.0.0.1\"\nremote_addr = \"%any\"\nlocal_ts = [\"0.0.0.0/0\"]\n" +
		"esp = [\"aes128gcm16\", \"aes128-sha256\"]\n")
	b.WriteString(conn)
	cfg, err := policy.Parse(filepath.Join(t.TempDir(), "responder.toml"), []byte(b.String()))
	if err != nil {
		t.Fatalf("responder config: %v\n%s", err, b.String())
	}
	cfg.Gateway.Control = ""
	kb, _ := kernel.New("none", nil)
	g, err := gateway.New(cfg, zap.NewNop(), gateway.WithBackend(kb))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { g.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	<-g.Ready()
	return g, port
}

// freePorts returns a port p with p and p+1 free on loopback.
func freePorts(t testing.TB) uint16 {
	t.Helper()
	for range 50 {
		c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loopback, 0)))
		if err != nil {
			t.Fatal(err)
		}
		p := uint16(c.LocalAddr().(*net.UDPAddr).Port)
		c2, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loopback, p+1)))
		c.Close()
		if err == nil {
			c2.Close()
			return p
		}
	}
	t.Fatal("no two free consecutive ports")
	return 0
}

func proposals(t testing.TB, esp bool, s ...string) []oakley.Proposal {
	t.Helper()
	var out []oakley.Proposal
	for _, x := range s {
		p, err := oakley.ParseProposal(x, esp)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

// TestRun runs small loads of every kind against an in-process ikegate
// and checks the counts, that every virtual IP is distinct and in the
// pool, and that the gateway holds what was asked for.
func TestRun(t *testing.T) {
	pki := newPKI(t)
	const psk = "loadgen-test-secret-0123456789"
	// The responder's versions and proposals.
	const (
		v2 = "version = \"ikev2\"\nike = [\"aes128gcm16-prfsha256-x25519\"]\n"
		v1 = "version = \"ikev1\"\nike = [\"aes128-sha256-modp2048\"]\n"
	)
	gwCert := fmt.Sprintf("local_id = \"@gw.test\"\nauth = \"pubkey\"\ncert = %q\nkey = %q\n", pki.gwCert, pki.gwKey)
	tests := []struct {
		name    string
		gate    string // the responder's connection
		users   int
		cfg     Config
		failed  string // the one failure reason expected for all ("": none)
		deleted bool
	}{
		{name: "ikev2-psk", gate: v2 + "auth = \"psk\"\npsk = \"" + psk + "\"\n",
			// One identity (the source address): the responder refuses
			// overlapping selectors of different identities.
			cfg: Config{Version: policy.IKEv2, PSK: []byte(psk), Count: 40}},
		{name: "ikev2-psk-vip-delete", gate: v2 + "auth = \"psk\"\npsk = \"" + psk + "\"\npool = \"rw\"\n",
			cfg: Config{Version: policy.IKEv2, PSK: []byte(psk), LocalID: "c%d.test", Count: 40, VirtualIP: true, Delete: true,
				Concurrency: 8}, deleted: true},
		{name: "ikev2-eap-mschapv2-vip", gate: v2 + "" + gwCert + "remote_auth = \"eap-mschapv2\"\npool = \"rw\"\n", users: 30,
			cfg: Config{Version: policy.IKEv2, CAs: []*x509.Certificate{pki.ca}, RemoteID: "@gw.test", LocalID: "c%d.test",
				User: "user%d", Password: "pass-%d", Count: 30, VirtualIP: true}},
		{name: "ikev2-cert", gate: v2 + "" + gwCert + fmt.Sprintf("ca = [%q]\n", pki.caFile),
			cfg: Config{Version: policy.IKEv2, Cert: pki.client, Key: pki.clientKey, CAs: []*x509.Certificate{pki.ca},
				RemoteID: "@gw.test", Count: 20}},
		{name: "ikev1-main-psk", gate: v1 + "auth = \"psk\"\npsk = \"" + psk + "\"\n",
			cfg: Config{Version: policy.IKEv1, PSK: []byte(psk), Count: 40, IKE: proposals(t, false, "aes128-sha256-modp2048"),
				ESP: proposals(t, true, "aes128-sha256")}},
		{name: "ikev1-main-psk-vip-delete", gate: v1 + "auth = \"psk\"\npsk = \"" + psk + "\"\npool = \"rw\"\n",
			cfg: Config{Version: policy.IKEv1, PSK: []byte(psk), LocalID: "c%d.test", Count: 30, VirtualIP: true, Delete: true,
				IKE: proposals(t, false, "aes128-sha256-modp2048")}, deleted: true},
		{name: "ikev1-aggressive-xauth-vip", users: 30,
			gate: v1 + "ikev1_mode = \"aggressive\"\nlocal_id = \"@gw.test\"\nremote_id = \"keyid:group\"\n" +
				"auth = \"psk\"\npsk = \"" + psk + "\"\nxauth = \"local\"\npool = \"rw\"\n",
			cfg: Config{Version: policy.IKEv1, IKEv1Mode: "aggressive", PSK: []byte(psk), LocalID: "keyid:group",
				User: "user%d", Password: "pass-%d", Count: 30, VirtualIP: true, IKE: proposals(t, false, "aes128-sha256-modp2048")}},
		{name: "ikev1-cert", gate: v1 + "" + gwCert + fmt.Sprintf("ca = [%q]\n", pki.caFile),
			cfg: Config{Version: policy.IKEv1, Cert: pki.client, Key: pki.clientKey, CAs: []*x509.Certificate{pki.ca},
				RemoteID: "@gw.test", Count: 10, IKE: proposals(t, false, "aes128-sha256-modp2048")}},
		{name: "ikev2-wrong-psk", gate: v2 + "auth = \"psk\"\npsk = \"" + psk + "\"\n",
			cfg:    Config{Version: policy.IKEv2, PSK: []byte("not the secret at all"), LocalID: "c%d.test", Count: 10},
			failed: "AUTHENTICATION_FAILED"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g, port := responder(t, tc.gate, tc.users)
			cfg := tc.cfg
			cfg.Target = netip.AddrPortFrom(loopback, port)
			cfg.NATTPort = port + 1
			cfg.From = []netip.Addr{clientIP}
			cfg.Timeout = 20 * time.Second
			res, err := Run(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%d of %d in %v (%.0f/s), p50 %v p99 %v, %d sockets, %d engines, CPU %v",
				res.Established, res.Count, res.Elapsed, res.Rate, res.Latency.P50, res.Latency.P99, res.Sockets, res.Engines, res.CPU)
			if tc.failed != "" {
				if res.Failed != cfg.Count || res.Established != 0 || len(res.Failures) != 1 {
					t.Fatalf("want all %d failed for one reason, got %d established, %d failed: %v", cfg.Count, res.Established, res.Failed, res.Failures)
				}
				for r := range res.Failures {
					if !strings.Contains(r, tc.failed) {
						t.Errorf("failure %q does not mention %s", r, tc.failed)
					}
				}
				if res.Err() == nil {
					t.Error("Err() is nil with failures")
				}
				return
			}
			if res.Established != cfg.Count || res.Failed != 0 || res.Err() != nil {
				t.Fatalf("%d of %d established: %v %v", res.Established, cfg.Count, res.Failures, res.Errors)
			}
			if res.Latency.P50 <= 0 || res.Latency.P50 > res.Latency.P99 || res.Latency.P99 > res.Latency.Max {
				t.Errorf("latency %+v", res.Latency)
			}
			if cfg.VirtualIP {
				pool := netip.MustParsePrefix("10.9.0.0/20")
				seen := map[netip.Addr]int{}
				for i, v := range res.VIPs {
					if !pool.Contains(v) {
						t.Fatalf("client %d got virtual IP %v, not from the pool", i, v)
					}
					if j, dup := seen[v]; dup {
						t.Fatalf("clients %d and %d both got %v", j, i, v)
					}
					seen[v] = i
				}
			}
			sas, err := g.SAs(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			want := cfg.Count
			if tc.deleted {
				want = 0
				if res.Deleted != cfg.Count {
					t.Errorf("deleted %d, want %d", res.Deleted, cfg.Count)
				}
			}
			// An IKEv1 delete is not answered: the gateway may still be
			// reading them. Only established SAs count: on a loaded host
			// a client's IKE_SA_INIT retransmission can reach the gateway
			// after its SA came up, and opens a half-open SA that times
			// out on its own (RFC 7296 2.1 leaves it to expire).
			deadline := time.Now().Add(5 * time.Second)
			for established(sas) != want && time.Now().Before(deadline) {
				time.Sleep(50 * time.Millisecond)
				sas, _ = g.SAs(context.Background())
			}
			if n := established(sas); n != want {
				t.Errorf("the gateway has %d established IKE SAs (%d in all), want %d", n, len(sas), want)
			}
		})
	}
}

// established counts the established SAs of sas.
func established(sas []policy.IKESAInfo) int {
	n := 0
	for _, sa := range sas {
		if sa.State == "ESTABLISHED" {
			n++
		}
	}
	return n
}

// TestRunRateAndSources: the rate bounds the start of handshakes; clients
// come from every source address in turn and share ports beyond Ports.
func TestRunRateAndSources(t *testing.T) {
	const psk = "loadgen-test-secret-0123456789"
	g, port := responder(t, "version = \"ikev2\"\nike = [\"aes128gcm16-prfsha256-x25519\"]\nauth = \"psk\"\npsk = \""+psk+"\"\npool = \"rw\"\n", 0)
	from := []netip.Addr{clientIP, netip.MustParseAddr("127.0.0.3")}
	res, err := Run(context.Background(), Config{Target: netip.AddrPortFrom(loopback, port), NATTPort: port + 1,
		PSK: []byte(psk), LocalID: "c%d.test", VirtualIP: true, Count: 24, First: 100, Rate: 200, From: from, Ports: 4,
		Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if res.Established != 24 || res.Sockets != 8 {
		t.Fatalf("%d established, %d sockets: %v", res.Established, res.Sockets, res.Failures)
	}
	// 24 starts at 200 per second: the last one 115 ms after the first.
	if res.Elapsed < 115*time.Millisecond {
		t.Errorf("24 handshakes at 200/s took %v", res.Elapsed)
	}
	sas, _ := g.SAs(context.Background())
	ports := map[netip.Addr]map[string]bool{}
	ids := map[string]bool{}
	for _, sa := range sas {
		ap := netip.MustParseAddrPort(sa.Remote)
		if ports[ap.Addr()] == nil {
			ports[ap.Addr()] = map[string]bool{}
		}
		ports[ap.Addr()][sa.Remote] = true
		ids[sa.RemoteID] = true
	}
	for _, a := range from {
		if len(ports[a]) != 4 {
			t.Errorf("clients from %v came from %d ports, want 4", a, len(ports[a]))
		}
	}
	if len(ids) != 24 || !ids["c100.test"] || !ids["c123.test"] {
		t.Errorf("identities %v, want c100.test ... c123.test", ids)
	}
}

// TestRunTimeout: a target that never answers fails every handshake
// after Timeout, with the reason counted once.
func TestRunTimeout(t *testing.T) {
	silent, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loopback, 0)))
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	start := time.Now()
	res, err := Run(context.Background(), Config{Target: silent.LocalAddr().(*net.UDPAddr).AddrPort(), From: []netip.Addr{clientIP},
		PSK: []byte("x"), Count: 5, Timeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if res.Failed != 5 || len(res.Failures) != 1 || len(res.Errors) != 5 {
		t.Fatalf("failed %d: %v", res.Failed, res.Failures)
	}
	for r := range res.Failures {
		if !strings.Contains(r, "no CHILD SA within 300ms") {
			t.Errorf("reason %q", r)
		}
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("took %v", d)
	}
}

// TestRunCancel: cancelling the context ends the run with what is done.
func TestRunCancel(t *testing.T) {
	silent, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loopback, 0)))
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	res, err := Run(ctx, Config{Target: silent.LocalAddr().(*net.UDPAddr).AddrPort(), From: []netip.Addr{clientIP},
		PSK: []byte("x"), Count: 50, Concurrency: 10})
	if err != context.DeadlineExceeded {
		t.Fatalf("err %v", err)
	}
	if res.Failed != 10 || res.NotStarted != 40 || res.Failures["cancelled"] != 10 {
		t.Errorf("failed %d, not started %d: %v", res.Failed, res.NotStarted, res.Failures)
	}
}

// TestConfigErrors: Run refuses configurations it cannot carry out,
// before it opens a socket.
func TestConfigErrors(t *testing.T) {
	target := netip.MustParseAddrPort("127.0.0.1:500")
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no target", Config{PSK: []byte("x"), Count: 1}, "no target"},
		{"no count", Config{Target: target, PSK: []byte("x")}, "count"},
		{"no credentials", Config{Target: target, Count: 1}, "certificate"},
		{"psk auth without psk", Config{Target: target, Auth: policy.AuthPSK, Count: 1}, "without a PSK"},
		{"user without password", Config{Target: target, PSK: []byte("x"), User: "u", Count: 1}, "password"},
		{"bad version", Config{Target: target, PSK: []byte("x"), Version: "ikev3", Count: 1}, "version"},
		{"bad mode", Config{Target: target, PSK: []byte("x"), IKEv1Mode: "quick", Count: 1}, "mode"},
		{"same ports", Config{Target: target, NATTPort: 500, PSK: []byte("x"), Count: 1}, "differ"},
		{"bad identity", Config{Target: target, PSK: []byte("x"), LocalID: "%foo", Count: 1}, "local identity"},
		{"families", Config{Target: target, PSK: []byte("x"), From: []netip.Addr{netip.MustParseAddr("::1")}, Count: 1}, "families"},
		{"negative rate", Config{Target: target, PSK: []byte("x"), Rate: -1, Count: 1}, "rate"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Run(context.Background(), tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

func TestSummarize(t *testing.T) {
	ms := func(ns ...int) []time.Duration {
		var out []time.Duration
		for _, n := range ns {
			out = append(out, time.Duration(n)*time.Millisecond)
		}
		return out
	}
	var hundred []time.Duration
	for i := 100; i >= 1; i-- {
		hundred = append(hundred, time.Duration(i)*time.Millisecond)
	}
	tests := []struct {
		name string
		in   []time.Duration
		want Latency
	}{
		{"none", nil, Latency{}},
		{"one", ms(7), Latency{Min: 7e6, Mean: 7e6, P50: 7e6, P90: 7e6, P99: 7e6, Max: 7e6}},
		{"four", ms(4, 1, 3, 2), Latency{Min: 1e6, Mean: 2500e3, P50: 2e6, P90: 4e6, P99: 4e6, Max: 4e6}},
		{"hundred", hundred, Latency{Min: 1e6, Mean: 50500e3, P50: 50e6, P90: 90e6, P99: 99e6, Max: 100e6}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := summarize(tc.in); got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestGenericReason(t *testing.T) {
	r := &run{cfg: Config{LocalID: "c%d.test", User: "user%d"}}
	c := &client{n: 17}
	tests := []struct{ in, want string }{
		{`connection "bench17": no proposal`, `connection "bench%d": no proposal`},
		{"peer c17.test refused user17 after 17 tries", "peer c%d.test refused user%d after 17 tries"},
		{"timeout", "timeout"},
	}
	for _, tc := range tests {
		if got := r.generic(c, tc.in); got != tc.want {
			t.Errorf("generic(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestRunHold: the established SAs are held for Config.Hold (or until
// the context is cancelled, which is then no error) and are all still up
// at its end, on both sides; Holding is called once, before the hold, with
// the handshakes' result.
func TestRunHold(t *testing.T) {
	const psk = "loadgen-hold-secret-0123456789"
	for _, tc := range []struct {
		name   string
		hold   time.Duration
		cancel time.Duration // cancel the context this long after Holding (0: never)
	}{
		{"until the end", 300 * time.Millisecond, 0},
		{"until cancelled", time.Hour, 200 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, port := responder(t, "version = \"ikev2\"\nike = [\"aes128gcm16-prfsha256-x25519\"]\nauth = \"psk\"\npsk = \""+
				psk+"\"\npool = \"rw\"\n", 0)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			holding := 0
			res, err := Run(ctx, Config{Target: netip.AddrPortFrom(loopback, port), NATTPort: port + 1,
				From: []netip.Addr{clientIP}, PSK: []byte(psk), LocalID: "c%d.hold", VirtualIP: true, Count: 20,
				Hold: tc.hold, Holding: func(r *Result) {
					holding++
					if r.Established != 20 {
						t.Errorf("Holding: %d established, want 20", r.Established)
					}
					if tc.cancel > 0 {
						time.AfterFunc(tc.cancel, cancel)
					}
				}})
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if holding != 1 || res.Held != 20 {
				t.Errorf("Holding called %d times, %d SAs held at the end, want 1 and 20", holding, res.Held)
			}
			want := tc.hold
			if tc.cancel > 0 {
				want = tc.cancel
			}
			if res.HoldTime < want || res.HoldTime > want+10*time.Second {
				t.Errorf("held for %v, want %v (hold %v, cancelled after %v)", res.HoldTime, want, tc.hold, tc.cancel)
			}
			sas, err := g.SAs(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if len(sas) != 20 {
				t.Errorf("the responder holds %d IKE SAs, want 20", len(sas))
			}
		})
	}
}
