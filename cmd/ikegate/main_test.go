package main

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"ikegate/gateway"
	"ikegate/kernel"
	"ikegate/policy"
)

func runCmd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	code = run(args, &o, &e)
	return code, o.String(), e.String()
}

func TestUsage(t *testing.T) {
	code, _, stderr := runCmd(t)
	if code != 2 {
		t.Errorf("no args: exit %d, want 2", code)
	}
	for _, c := range []string{"run", "check", "up", "down", "conns", "sas", "stats", "leases", "demo"} {
		if !strings.Contains(stderr, "  "+c+" ") {
			t.Errorf("usage does not list %q:\n%s", c, stderr)
		}
	}
	if code, _, stderr := runCmd(t, "frob"); code != 2 || !strings.Contains(stderr, `unknown command "frob"`) {
		t.Errorf("unknown command: exit %d, %q", code, stderr)
	}
	if code, _, _ := runCmd(t, "run"); code != 2 {
		t.Errorf("run without --config: exit %d, want 2", code)
	}
	if code, _, _ := runCmd(t, "up"); code != 2 {
		t.Errorf("up without NAME: exit %d, want 2", code)
	}
	if code, _, _ := runCmd(t, "sas", "--bogus"); code != 2 {
		t.Errorf("bad flag: exit %d, want 2", code)
	}
	if code, _, _ := runCmd(t, "sas", "-h"); code != 0 {
		t.Errorf("-h: exit %d, want 0", code)
	}
}

func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const goodConfig = `
[gateway]
listen = ["127.0.0.1"]
ike_port = 15900
natt_port = 15901
dataplane = "none"
control = "/tmp/ikegate-test-unused.sock"

[[connection]]
name = "site-b"
version = "ikev2"
local_addr = "127.0.0.1"
remote_addr = "192.0.2.1"
local_id = "a.example"
remote_id = "b.example"
auth = "psk"
psk = "test-only-secret"
ike = ["aes128gcm16-prfsha256-x25519"]
esp = ["aes128gcm16"]
local_ts = ["10.1.0.0/24"]
remote_ts = ["10.2.0.0/24"]
`

func TestRunBadConfig(t *testing.T) {
	bad := writeFile(t, "broken.toml", "[gateway\nlisten = 3\n")
	code, stdout, stderr := runCmd(t, "run", "--config", bad)
	if code != 2 {
		t.Errorf("exit %d, want 2", code)
	}
	if !strings.Contains(stderr, bad) {
		t.Errorf("stderr does not name %s: %q", bad, stderr)
	}
	if stdout != "" {
		t.Errorf("stdout = %q", stdout)
	}

	missing := filepath.Join(t.TempDir(), "missing.toml")
	code, _, stderr = runCmd(t, "run", "--config", missing)
	if code != 2 || !strings.Contains(stderr, missing) {
		t.Errorf("missing file: exit %d, stderr %q", code, stderr)
	}

	// A semantic error: unknown proposal keyword.
	sem := writeFile(t, "sem.toml", strings.Replace(goodConfig, "aes128gcm16-prfsha256-x25519", "aes128gcm16-prfsha256-x99999", 1))
	code, _, stderr = runCmd(t, "run", "--config", sem)
	if code != 2 || !strings.Contains(stderr, sem) {
		t.Errorf("semantic error: exit %d, stderr %q", code, stderr)
	}
}

func TestCheck(t *testing.T) {
	good := writeFile(t, "good.toml", goodConfig)
	code, stdout, stderr := runCmd(t, "check", "--config", good)
	if code != 0 || stdout != good+": OK (1 connection)\n" {
		t.Errorf("check good: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	bad := writeFile(t, "bad.toml", "[gateway]\nlisten = [\"not-an-ip\"]\n")
	code, stdout, stderr = runCmd(t, "check", "--config", bad)
	if code != 2 || stdout != "" || !strings.Contains(stderr, bad) {
		t.Errorf("check bad: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

func TestCtlUnreachable(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "nobody.sock")
	for _, args := range [][]string{{"sas"}, {"sas", "--json"}, {"conns"}, {"stats"}, {"up", "x"}, {"down", "x"}} {
		code, _, stderr := runCmd(t, append(args, "--control", sock)...)
		want := "cannot reach ikegate at " + sock + ": is `ikegate run` running?"
		if code == 0 || !strings.Contains(stderr, want) {
			t.Errorf("%v: exit %d, stderr %q", args, code, stderr)
		}
	}
}

func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	var ls []*net.UDPConn
	for range n {
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, c)
		ports = append(ports, c.LocalAddr().(*net.UDPAddr).Port)
	}
	for _, c := range ls {
		c.Close()
	}
	return ports
}

// The control commands against a live gateway.
func TestCtlCommands(t *testing.T) {
	ports := freePorts(t, 2)
	dir, err := os.MkdirTemp("", "ikecmd")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "ctl.sock")
	text := strings.NewReplacer("15900", strconv.Itoa(ports[0]), "15901", strconv.Itoa(ports[1]),
		"/tmp/ikegate-test-unused.sock", sock).Replace(goodConfig)
	cfg, err := policy.Parse("test.toml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := kernel.New("none", nil)
	g, err := gateway.New(cfg, nil, gateway.WithBackend(kb))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- g.Run(ctx) }()
	defer func() { cancel(); <-done }()
	<-g.Ready()

	code, stdout, stderr := runCmd(t, "sas", "--json", "--control", sock)
	if code != 0 || stdout != "[]\n" {
		t.Errorf("sas --json: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	code, stdout, _ = runCmd(t, "sas", "--control", sock)
	if code != 0 || stdout != "no IKE SAs\n" {
		t.Errorf("sas: exit %d, stdout %q", code, stdout)
	}
	code, stdout, _ = runCmd(t, "conns", "--control", sock)
	if code != 0 || !strings.Contains(stdout, "site-b: ikev2, 127.0.0.1[a.example] <-> 192.0.2.1[b.example], auth psk") ||
		strings.Contains(stdout, "test-only-secret") {
		t.Errorf("conns: exit %d, stdout %q", code, stdout)
	}
	code, stdout, _ = runCmd(t, "conns", "--json", "--control", sock)
	if code != 0 || !strings.Contains(stdout, `"name": "site-b"`) || strings.Contains(stdout, "test-only-secret") {
		t.Errorf("conns --json: exit %d, stdout %q", code, stdout)
	}
	code, stdout, _ = runCmd(t, "stats", "--control", sock)
	if code != 0 || !strings.Contains(stdout, "drops:") || !strings.Contains(stdout, "ikev1 engine:") {
		t.Errorf("stats: exit %d, stdout %q", code, stdout)
	}
	code, _, stderr = runCmd(t, "up", "nope", "--control", sock)
	if code != 1 || !strings.Contains(stderr, `no connection named "nope"`) {
		t.Errorf("up nope: exit %d, stderr %q", code, stderr)
	}
	code, stdout, _ = runCmd(t, "down", "--control", sock, "site-b")
	if code != 1 || !strings.Contains(stdout, "no IKE SA") {
		t.Errorf("down site-b without SA: exit %d, stdout %q", code, stdout)
	}
}

func TestWriteSAs(t *testing.T) {
	var b bytes.Buffer
	writeSAs(&b, []policy.IKESAInfo{{
		Name: "site-b", Version: 2, State: "ESTABLISHED", Local: "10.0.0.1", Remote: "10.0.0.2",
		LocalSPI: "0011223344556677", RemoteSPI: "8899aabbccddeeff", Initiator: true,
		IKEProposal: "AES_GCM_16_128/PRF_HMAC_SHA2_256/CURVE_25519", LocalID: "a", RemoteID: "b",
		Children: []policy.ChildSAInfo{{Name: "site-b", State: "INSTALLED", SPIIn: "c0000001", SPIOut: "c0000002",
			ESPProposal: "AES_GCM_16_128/NO_ESN", LocalTS: []string{"10.1.0.0/24"}, RemoteTS: []string{"10.2.0.0/24"}}},
	}})
	want := `site-b: IKEv2 ESTABLISHED, 10.0.0.1[a] <-> 10.0.0.2[b], initiator
  IKE SPIs: 0011223344556677 (local) 8899aabbccddeeff (remote)
  IKE proposal: AES_GCM_16_128/PRF_HMAC_SHA2_256/CURVE_25519
  child site-b: INSTALLED, ESP SPIs: c0000001 (in) c0000002 (out)
    proposal: AES_GCM_16_128/NO_ESN
    10.1.0.0/24 === 10.2.0.0/24
`
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
}

// The demo negotiates a real IKEv2 tunnel between two in-process gateways.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("negotiates a tunnel")
	}
	if c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2)}); err != nil {
		t.Skip("127.0.0.2 is not usable here:", err)
	} else {
		c.Close()
	}
	var ports []int
	for len(ports) < 2 {
		p := freePorts(t, 1)[0]
		if c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr("127.0.0.2"), uint16(p)))); err == nil {
			c.Close()
			ports = append(ports, p)
		}
	}
	start := time.Now()
	code, stdout, stderr := runCmd(t, "demo", "--ike-port", strconv.Itoa(ports[0]), "--natt-port", strconv.Itoa(ports[1]))
	if code != 0 {
		t.Fatalf("demo: exit %d after %v\nstdout:\n%s\nstderr:\n%s", code, time.Since(start), stdout, stderr)
	}
	if strings.Count(stdout, "demo-ikev2: IKEv2 ESTABLISHED") != 2 {
		t.Errorf("demo output lacks two ESTABLISHED SAs:\n%s", stdout)
	}
}
