package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"ikegate/kernel"
	"ikegate/oakley"
	"ikegate/policy"
)

const testPSK = "correct horse battery staple"

// freeUDPPorts returns n distinct UDP ports that were free on ip a moment
// ago.
func freeUDPPorts(t *testing.T, ip netip.Addr, n int) []int {
	t.Helper()
	var conns []*net.UDPConn
	var ports []int
	for range n {
		c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, 0)))
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		ports = append(ports, c.LocalAddr().(*net.UDPAddr).Port)
	}
	for _, c := range conns {
		c.Close()
	}
	return ports
}

func mustProposal(t *testing.T, s string, esp bool) oakley.Proposal {
	t.Helper()
	p, err := oakley.ParseProposal(s, esp)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func testConfig(t *testing.T) *policy.Config {
	t.Helper()
	lo := netip.MustParseAddr("127.0.0.1")
	ports := freeUDPPorts(t, lo, 2)
	dir, err := os.MkdirTemp("", "ikegw") // short: sun_path is 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return &policy.Config{
		File: "test.toml",
		Gateway: policy.Gateway{
			Listen:          []netip.Addr{lo},
			IKEPort:         ports[0],
			NATTPort:        ports[1],
			Dataplane:       "none",
			Control:         filepath.Join(dir, "sub", "ctl.sock"),
			CookieThreshold: 100,
			RetransmitTries: 3,
			RetransmitBase:  100 * time.Millisecond,
			Workers:         3,
		},
		Connections: []*policy.Connection{
			{
				Name:       "site-b",
				Version:    policy.IKEv2,
				LocalAddr:  lo,
				RemoteAddr: netip.MustParseAddr("192.0.2.1"),
				LocalID:    policy.Identity{Type: policy.IDFQDN, Data: []byte("a.example")},
				RemoteID:   policy.Identity{Type: policy.IDFQDN, Data: []byte("b.example")},
				Auth:       policy.AuthPSK,
				PSK:        []byte(testPSK),
				IKE:        []oakley.Proposal{mustProposal(t, "aes128gcm16-prfsha256-x25519", false)},
				ESP:        []oakley.Proposal{mustProposal(t, "aes128gcm16", true)},
				LocalTS:    []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")},
				RemoteTS:   []netip.Prefix{netip.MustParsePrefix("10.2.0.0/16")},
				Start:      policy.StartNone,
			},
			{
				Name:     "legacy",
				Version:  policy.IKEv1,
				RemoteID: policy.Identity{Any: true},
				LocalID:  policy.Identity{Type: policy.IDIPv4Addr, Data: lo.AsSlice()},
				Auth:     policy.AuthPSK,
				PSK:      []byte(testPSK),
				IKE:      []oakley.Proposal{mustProposal(t, "aes256-sha256-modp2048", false)},
				ESP:      []oakley.Proposal{mustProposal(t, "aes256-sha256", true)},
				Start:    policy.StartNone,
			},
		},
	}
}

// startGateway runs a gateway with the "none" backend and returns it with a
// client for its control socket. The gateway stops at the end of the test.
func startGateway(t *testing.T, cfg *policy.Config) (*Gateway, *Client) {
	t.Helper()
	kb, err := kernel.New("none", nil)
	if err != nil {
		t.Fatal(err)
	}
	g, err := New(cfg, zaptest.NewLogger(t, zaptest.Level(zap.InfoLevel)), WithBackend(kb))
	if err != nil {
		kb.Close()
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- g.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-errc:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Run did not return after cancel")
		}
		if _, err := os.Lstat(cfg.Gateway.Control); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("control socket left behind: %v", err)
		}
	})
	c := &Client{Path: cfg.Gateway.Control, Timeout: 5 * time.Second}
	waitFor(t, "control socket", func() bool {
		_, err := c.Stats(context.Background())
		return err == nil
	})
	return g, c
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestControlRoundTrip(t *testing.T) {
	cfg := testConfig(t)
	_, c := startGateway(t, cfg)
	ctx := context.Background()

	fi, err := os.Stat(cfg.Gateway.Control)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("control socket mode %v, want 0600", perm)
	}

	// sas of an idle gateway: exactly [].
	raw, err := c.Call(ctx, Request{Cmd: "sas"})
	if err != nil {
		t.Fatal(err)
	}
	if string(raw) != "[]" {
		t.Errorf("sas of idle gateway = %s, want []", raw)
	}
	sas, err := c.SAs(ctx)
	if err != nil || sas == nil || len(sas) != 0 {
		t.Errorf("SAs() = %#v, %v; want empty non-nil", sas, err)
	}

	// conns: names, proposals as strings, never the PSK.
	raw, err = c.Call(ctx, Request{Cmd: "conns"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), testPSK) || strings.Contains(strings.ToLower(string(raw)), "psk\":") {
		t.Errorf("conns leaks the PSK: %s", raw)
	}
	var generic []map[string]any
	if err := json.Unmarshal(raw, &generic); err != nil {
		t.Fatalf("conns is not a JSON array of objects: %v: %s", err, raw)
	}
	conns, err := c.Conns(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(conns) != 2 {
		t.Fatalf("got %d conns, want 2", len(conns))
	}
	b := conns[0]
	if b.Name != "site-b" || b.Version != "ikev2" || b.LocalAddr != "127.0.0.1" || b.RemoteAddr != "192.0.2.1" ||
		b.LocalID != "a.example" || b.RemoteID != "b.example" || b.Auth != "psk" {
		t.Errorf("conn site-b = %+v", b)
	}
	if len(b.IKE) != 1 || !strings.Contains(b.IKE[0], "AES_GCM_16_128") || !strings.Contains(b.IKE[0], "CURVE_25519") {
		t.Errorf("site-b IKE proposals = %q", b.IKE)
	}
	if len(b.LocalTS) != 1 || b.LocalTS[0] != "10.1.0.0/16" {
		t.Errorf("site-b local_ts = %q", b.LocalTS)
	}
	if l := conns[1]; l.Name != "legacy" || l.RemoteAddr != "%any" || l.RemoteID != "%any" || l.LocalID != "127.0.0.1" {
		t.Errorf("conn legacy = %+v", l)
	}

	// stats: stable shape.
	raw, err = c.Call(ctx, Request{Cmd: "stats"})
	if err != nil {
		t.Fatal(err)
	}
	var st map[string]json.RawMessage
	if err := json.Unmarshal(raw, &st); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"workers", "packets_in", "packets_out", "drops", "ikev2"} {
		if _, ok := st[k]; !ok {
			t.Errorf("stats lacks %q: %s", k, raw)
		}
	}
	s, err := c.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if s.Workers != 3 {
		t.Errorf("workers = %d, want 3", s.Workers)
	}
	for _, k := range []string{"ikev2", "ikev1", "natt_keepalive", "esp", "invalid"} {
		if _, ok := s.PacketsIn[k]; !ok {
			t.Errorf("packets_in lacks %q", k)
		}
	}
	if _, ok := s.Drops["queue_full"]; !ok {
		t.Errorf("drops lacks queue_full: %v", s.Drops)
	}

	// Errors come back as {"error": ...}.
	var re *RemoteError
	if _, err := c.Up(ctx, "nope"); !errors.As(err, &re) || !strings.Contains(re.Msg, "nope") {
		t.Errorf("up nope: %v", err)
	}
	if _, err := c.Up(ctx, "legacy"); !errors.As(err, &re) || !strings.Contains(re.Msg, "%any") {
		t.Errorf("up legacy: %v", err)
	}
	if _, err := c.Down(ctx, "nope"); !errors.As(err, &re) {
		t.Errorf("down nope: %v", err)
	}
	if r, err := c.Down(ctx, "site-b"); err != nil || !r.OK || r.Terminated == nil || *r.Terminated {
		t.Errorf("down site-b (no SA) = %+v, %v", r, err)
	}
	if _, err := c.Call(ctx, Request{Cmd: "frobnicate"}); !errors.As(err, &re) || !strings.Contains(re.Msg, "unknown command") {
		t.Errorf("unknown command: %v", err)
	}

	// Several requests on one connection, and a malformed line.
	conn, err := net.Dial("unix", cfg.Gateway.Control)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Write([]byte("{not json\n{\"cmd\":\"sas\"}\n")); err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(conn)
	var e1 map[string]string
	if err := dec.Decode(&e1); err != nil || !strings.HasPrefix(e1["error"], "bad request") {
		t.Errorf("malformed line answer = %v, %v", e1, err)
	}
	var a2 []any
	if err := dec.Decode(&a2); err != nil || a2 == nil || len(a2) != 0 {
		t.Errorf("second answer = %v, %v", a2, err)
	}
}

func TestClientUnreachable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "none.sock")
	c := &Client{Path: path}
	_, err := c.SAs(context.Background())
	var ue *UnreachableError
	if !errors.As(err, &ue) {
		t.Fatalf("err = %v, want *UnreachableError", err)
	}
	if !strings.Contains(err.Error(), "cannot reach ikegate at "+path+": is `ikegate run` running?") {
		t.Errorf("message = %q", err)
	}
}

// IKEv1 (no engine yet), garbage, keepalives and ESP are counted and
// dropped; the gateway keeps serving.
func TestDropsCounted(t *testing.T) {
	cfg := testConfig(t)
	g, c := startGateway(t, cfg)
	ctx := context.Background()

	lo := netip.MustParseAddr("127.0.0.1")
	send := func(port int, b []byte) {
		t.Helper()
		conn, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(lo, uint16(port))))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := conn.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	ike, natt := cfg.Gateway.IKEPort, cfg.Gateway.NATTPort
	v1 := ikeMsg(1, 0xC0FFEE, 0, 0, 60)
	send(ike, v1)                            // ikev1: no Main/Aggressive Mode: the engine drops it
	send(natt, withMarker(v1))               // ikev1 over NAT-T
	send(ike, []byte("GET / HTTP/1.0\r\n"))  // garbage, short
	send(ike, ikeMsg(2, 1, 0, 0, 28)[:28-1]) // short
	bad := ikeMsg(2, 7, 0, 0, 40)
	bad[27]++
	send(ike, bad)                          // length mismatch
	send(ike, ikeMsg(0, 1, 0, 0, 28))       // bad version
	send(natt, []byte{0xFF})                // keepalive
	send(natt, []byte{1, 2, 3, 4, 5, 6, 7}) // runt
	send(natt, []byte{0, 0, 1, 0, 0, 0, 0, 1, 9, 9, 9, 9})
	send(ike, nil) // empty datagram

	want := map[string]uint64{
		"ike_too_short":       3,
		"ike_length_mismatch": 1,
		"ike_bad_version":     1,
		"natt_runt":           1,
		"esp_no_dataplane":    1,
	}
	var last Stats
	waitFor(t, "drop counters", func() bool {
		last, _ = c.Stats(ctx)
		for k, v := range want {
			if last.Drops[k] != v {
				return false
			}
		}
		return last.PacketsIn["natt_keepalive"] == 1 && last.IKEv1["dropped"] == 2 // both IKEv1 messages reached the engine
	})
	if last.PacketsIn["ikev1"] != 2 || last.PacketsIn["esp"] != 1 || last.PacketsIn["invalid"] != 6 {
		t.Errorf("packets_in = %v", last.PacketsIn)
	}
	if last.PacketsIn["ikev2"] != 0 || last.Drops["queue_full"] != 0 {
		t.Errorf("unexpected counts: in %v drops %v", last.PacketsIn, last.Drops)
	}
	if sas, err := g.SAs(ctx); err != nil || len(sas) != 0 {
		t.Errorf("SAs after garbage = %v, %v", sas, err)
	}
}

// A well-formed IKEv2 message reaches a shard (the engine decides what to
// do with it).
func TestIKEv2Delivered(t *testing.T) {
	cfg := testConfig(t)
	_, c := startGateway(t, cfg)
	conn, err := net.DialUDP("udp", nil, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: cfg.Gateway.IKEPort})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.Write(ikeMsg(2, 0xABCDEF, 0, 0x08, 28))
	conn.Write(withMarker(ikeMsg(2, 0xABCDEF, 0, 0x08, 28))) // to port 500: not stripped
	waitFor(t, "ikev2 counter", func() bool {
		s, _ := c.Stats(context.Background())
		return s.PacketsIn["ikev2"] == 1 && s.Drops["ike_length_mismatch"] == 1
	})
}

func TestStaleSocketRemoved(t *testing.T) {
	cfg := testConfig(t)
	os.MkdirAll(filepath.Dir(cfg.Gateway.Control), 0o700)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: cfg.Gateway.Control, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close() // leaves a socket file nobody accepts on
	_, c := startGateway(t, cfg)
	if _, err := c.Conns(context.Background()); err != nil {
		t.Fatal(err)
	}

	// A second gateway on the same control socket must refuse to start.
	cfg2 := *cfg
	cfg2.Gateway.IKEPort, cfg2.Gateway.NATTPort = 0, 0
	ports := freeUDPPorts(t, netip.MustParseAddr("127.0.0.1"), 2)
	cfg2.Gateway.IKEPort, cfg2.Gateway.NATTPort = ports[0], ports[1]
	kb, _ := kernel.New("none", nil)
	defer kb.Close()
	if g2, err := New(&cfg2, nil, WithBackend(kb)); err == nil {
		g2.Close()
		t.Fatal("second gateway on a live control socket started")
	} else if !strings.Contains(err.Error(), "another ikegate") {
		t.Errorf("err = %v", err)
	}
}

func TestNewErrors(t *testing.T) {
	cfg := testConfig(t)
	kb, _ := kernel.New("none", nil)
	defer kb.Close()

	// Port in use.
	lo := netip.MustParseAddr("127.0.0.1")
	busy, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(lo, uint16(cfg.Gateway.NATTPort))))
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	if g, err := New(cfg, nil, WithBackend(kb)); err == nil {
		g.Close()
		t.Fatal("New succeeded with the NAT-T port in use")
	}
	// The IKE port socket opened before the failure was released.
	if c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(lo, uint16(cfg.Gateway.IKEPort)))); err != nil {
		t.Errorf("IKE port still held after failed New: %v", err)
	} else {
		c.Close()
	}

	empty := *cfg
	empty.Gateway.Listen = nil
	if _, err := New(&empty, nil, WithBackend(kb)); err == nil {
		t.Error("New accepted an empty listen list")
	}
}
