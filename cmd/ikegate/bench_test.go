package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"ikegate/gateway"
	"ikegate/kernel"
	"ikegate/policy"
)

// benchGateway runs an in-process IKEv2 responder (PSK, a pool) on
// 127.0.0.1 and returns its IKE and NAT-T ports.
func benchGateway(t *testing.T, psk string) (ike, natt int) {
	t.Helper()
	ports := freePorts(t, 2)
	toml := fmt.Sprintf(`[gateway]
listen = ["127.0.0.1"]
ike_port = %d
natt_port = %d
dataplane = "none"

[[pool]]
name = "rw"
addresses = ["10.9.0.0/24"]

[[connection]]
name = "rw"
version = "ikev2"
local_addr = "127.0.0.1"
remote_addr = "%%any"
auth = "psk"
psk = %q
pool = "rw"
ike = ["aes128gcm16-prfsha256-x25519"]
esp = ["aes128gcm16"]
local_ts = ["0.0.0.0/0"]
`, ports[0], ports[1], psk)
	cfg, err := policy.Parse(filepath.Join(t.TempDir(), "gw.toml"), []byte(toml))
	if err != nil {
		t.Fatal(err)
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
	return ports[0], ports[1]
}

// TestBench: `ikegate bench` against an in-process gateway, as a table
// and as JSON, and its refusals of bad command lines.
func TestBench(t *testing.T) {
	if c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2)}); err != nil {
		t.Skip("127.0.0.2 is not usable here:", err)
	} else {
		c.Close()
	}
	const psk = "bench-command-secret-0123456789"
	ike, natt := benchGateway(t, psk)
	target := "127.0.0.1:" + strconv.Itoa(ike)
	common := []string{"bench", target, "--natt-port", strconv.Itoa(natt), "--from", "127.0.0.2", "--id", "@c%d.test", "--vip"}
	pskFile := filepath.Join(t.TempDir(), "psk")
	if err := os.WriteFile(pskFile, []byte(psk+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	code, stdout, stderr := runCmd(t, append(common, "--psk-file", pskFile, "--count", "20", "--json")...)
	if code != exitOK {
		t.Fatalf("bench --json: exit %d\n%s\n%s", code, stdout, stderr)
	}
	var rep benchReport
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("bench --json: %v\n%s", err, stdout)
	}
	if rep.Established != 20 || rep.Deleted != 20 || rep.Version != 2 || !rep.VirtualIP || rep.LatencyMS.P99 <= 0 || rep.Rate <= 0 {
		t.Errorf("bench --json: %+v", rep)
	}

	code, stdout, _ = runCmd(t, append(common, "--psk", psk, "--count", "10", "--rate", "100", "--keep")...)
	if code != exitOK || !strings.Contains(stdout, "established  10 of 10 (failed 0)") ||
		!strings.Contains(stdout, "rate 100/s") || !strings.Contains(stdout, "deleted      0") {
		t.Errorf("bench: exit %d:\n%s", code, stdout)
	}

	code, stdout, _ = runCmd(t, append(common, "--psk", "not the secret", "--count", "5")...)
	if code != exitFailure || !strings.Contains(stdout, "established  0 of 5 (failed 5)") ||
		!strings.Contains(stdout, "AUTHENTICATION_FAILED") {
		t.Errorf("bench with a wrong PSK: exit %d:\n%s", code, stdout)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"bench", "--psk", "x"}, "usage: ikegate bench"},
		{[]string{"bench", target, "--psk", "x", "--version", "3"}, "--version 3"},
		{[]string{"bench", target, "--psk", "x", "--ike", "aes128-frob"}, "--ike"},
		{[]string{"bench", target, "--psk", "x", "--psk-file", pskFile}, "give one"},
		{[]string{"bench", target}, "certificate"},
		{[]string{"bench", target, "--psk", "x", "--count", "0"}, "count"},
		{[]string{"bench", target, "--psk", "x", "--from", "10.0.0.300"}, "--from"},
		{[]string{"bench", "no.such.host.invalid", "--psk", "x"}, "does not resolve"},
		{[]string{"bench", target, "--psk", "x", "--cert", "/nonexistent.pem"}, "--cert"},
	} {
		if code, _, stderr := runCmd(t, tc.args...); code != exitUsage || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d mentioning %q", tc.args, code, stderr, exitUsage, tc.want)
		}
	}
}

func TestBenchTarget(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"192.0.2.1", "192.0.2.1:500"},
		{"192.0.2.1:4500", "192.0.2.1:4500"},
		{"2001:db8::1", "[2001:db8::1]:500"},
		{"[2001:db8::1]:1500", "[2001:db8::1]:1500"},
		{"localhost:600", "127.0.0.1:600"},
	} {
		got, err := benchTarget(tc.in)
		if tc.in == "localhost:600" && err == nil && got.Addr().Is6() {
			continue // a host whose localhost is ::1 first
		}
		if err != nil || got.String() != tc.want {
			t.Errorf("benchTarget(%q) = %v, %v; want %s", tc.in, got, err, tc.want)
		}
	}
	if _, err := benchTarget("192.0.2.1:99999"); err == nil {
		t.Error("port 99999 accepted")
	}
}

// TestReadCertsAndKey: the PEM forms --cert, --key and --ca take.
func TestReadCertsAndKey(t *testing.T) {
	dir := t.TempDir()
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 1024)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "x"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &ecKey.PublicKey, ecKey)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, blocks ...*pem.Block) string {
		var b []byte
		for _, blk := range blocks {
			b = append(b, pem.EncodeToMemory(blk)...)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cert := &pem.Block{Type: "CERTIFICATE", Bytes: der}
	if certs, err := readCerts(write("chain.pem", cert, &pem.Block{Type: "COMMENT"}, cert)); err != nil || len(certs) != 2 {
		t.Errorf("readCerts(chain): %d certificates, %v", len(certs), err)
	}
	if _, err := readCerts(write("none.pem", &pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1}})); err == nil {
		t.Error("readCerts of a file without a certificate succeeded")
	}
	p8, _ := x509.MarshalPKCS8PrivateKey(ecKey)
	sec1, _ := x509.MarshalECPrivateKey(ecKey)
	for _, tc := range []struct {
		name string
		blk  *pem.Block
		ok   bool
	}{
		{"pkcs8", &pem.Block{Type: "PRIVATE KEY", Bytes: p8}, true},
		{"sec1", &pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1}, true},
		{"pkcs1", &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)}, true},
		{"encrypted", &pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte{1}}, false},
		{"garbage", &pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1, 2, 3}}, false},
		{"certificate only", cert, false},
	} {
		if _, err := readKey(write(tc.name+".pem", tc.blk)); (err == nil) != tc.ok {
			t.Errorf("readKey(%s): %v", tc.name, err)
		}
	}
}
