package gateway

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap"

	"ikegate/kernel"
	"ikegate/oakley"
	"ikegate/policy"
)

// FuzzControlRequest feeds what a client writes on the control socket
// (newline-separated JSON requests, any bytes) to the control server's
// connection handler, as one connection, against a running gateway with
// the "none" backend (one IKEv2 connection, "site-b", to an address where
// nothing answers). Nothing may panic or hang, and:
//   - every line written back is one JSON value (a result or an error);
//   - there is at most one answer per non-empty request line, plus one for
//     a line over the size limit;
//   - the connection handler returns once the client is done.
//
// Run it longer with
//
//	go test -run=NONE -fuzz='^FuzzControlRequest$' -fuzztime=5m ./gateway/
func FuzzControlRequest(f *testing.F) {
	for _, s := range []string{
		`{"cmd":"sas"}`, `{"cmd":"conns"}`, `{"cmd":"stats"}`, `{"cmd":"leases"}`,
		`{"cmd":"up","name":"site-b"}`, `{"cmd":"down","name":"site-b"}`, `{"cmd":"down","user":"alice"}`,
		`{"cmd":"up","name":"nope"}`, `{"cmd":"up"}`, `{"cmd":"down"}`, `{"cmd":""}`, `{}`, `{"cmd":"frobnicate"}`,
		"{\"cmd\":\"sas\"}\n{\"cmd\":\"stats\"}\n\n{\"cmd\":\"conns\"}\n", `{"cmd":"sas"`, `[1,2]`, `null`, `"sas"`,
		`{"cmd":"down","name":"site-b","user":""}`, `{"cmd":"up","name":"site-b","cmd":"sas"}`, "\xff\xfe", "",
	} {
		f.Add([]byte(s))
	}

	lo := netip.MustParseAddr("127.0.0.1")
	ports := make([]int, 0, 2)
	for range 2 {
		c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(lo, 0)))
		if err != nil {
			f.Fatal(err)
		}
		ports = append(ports, c.LocalAddr().(*net.UDPAddr).Port)
		c.Close()
	}
	dir, err := os.MkdirTemp("", "ikegw")
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { os.RemoveAll(dir) })
	prop := func(s string, esp bool) oakley.Proposal {
		p, err := oakley.ParseProposal(s, esp)
		if err != nil {
			f.Fatal(err)
		}
		return p
	}
	cfg := &policy.Config{
		File: "fuzz.toml",
		Gateway: policy.Gateway{
			Listen: []netip.Addr{lo}, IKEPort: ports[0], NATTPort: ports[1], Dataplane: "none",
			Control: filepath.Join(dir, "ctl.sock"), CookieThreshold: 100, RetransmitTries: 1,
			RetransmitBase: 100 * time.Millisecond, Workers: 2,
		},
		Connections: []*policy.Connection{{
			Name: "site-b", Version: policy.IKEv2, LocalAddr: lo, RemoteAddr: netip.MustParseAddr("127.0.0.2"),
			LocalID:  policy.Identity{Type: policy.IDFQDN, Data: []byte("a.example")},
			RemoteID: policy.Identity{Type: policy.IDFQDN, Data: []byte("b.example")},
			Auth:     policy.AuthPSK, PSK: []byte(testPSK),
			IKE:      []oakley.Proposal{prop("aes128gcm16-prfsha256-x25519", false)},
			ESP:      []oakley.Proposal{prop("aes128gcm16", true)},
			LocalTS:  []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")},
			RemoteTS: []netip.Prefix{netip.MustParsePrefix("10.2.0.0/16")},
			Start:    policy.StartNone,
		}},
	}
	kb, err := kernel.New("none", nil)
	if err != nil {
		f.Fatal(err)
	}
	g, err := New(cfg, zap.NewNop(), WithBackend(kb))
	if err != nil {
		kb.Close()
		f.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- g.Run(ctx) }()
	f.Cleanup(func() {
		cancel()
		select {
		case <-errc:
		case <-time.After(5 * time.Second):
			f.Error("Run did not return after cancel")
		}
	})
	s := &controlServer{g: g, log: zap.NewNop(), conns: map[net.Conn]struct{}{}}

	f.Fuzz(func(t *testing.T, in []byte) {
		c := &fuzzConn{in: bytes.NewReader(in)}
		done := make(chan struct{})
		go func() {
			defer close(done)
			s.handleConn(ctx, c)
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("handleConn did not return for %q", in)
		}
		out := &c.out
		requests := 0
		for _, l := range bytes.Split(in, []byte("\n")) {
			if len(l) > 0 {
				requests++
			}
		}
		answers := 0
		sc := bufio.NewScanner(out)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			answers++
			if !json.Valid(sc.Bytes()) {
				t.Errorf("answer is not JSON: %q", sc.Bytes())
			}
		}
		if answers > requests+1 {
			t.Errorf("%d answers to %d requests", answers, requests)
		}
	})
}

// fuzzConn is a control connection whose client wrote in and then closed
// its side: reads drain in, then EOF; writes collect in out.
type fuzzConn struct {
	net.Conn // nil: the methods handleConn does not use panic
	in       *bytes.Reader
	out      bytes.Buffer
}

func (c *fuzzConn) Read(b []byte) (int, error)  { return c.in.Read(b) }
func (c *fuzzConn) Write(b []byte) (int, error) { return c.out.Write(b) }
func (c *fuzzConn) Close() error                { return nil }
