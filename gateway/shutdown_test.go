package gateway

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"ikegate/internal/engine"
	"ikegate/isakmp"
	"ikegate/kernel"
	"ikegate/policy"
)

// TestShutdownDeletes: a gateway that stops deletes its IKE SAs, telling
// the peers: the peer (an IKEv2 engine over UDP) receives the delete
// before Run returns and forgets its SA.
func TestShutdownDeletes(t *testing.T) {
	gw, peer := netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.5")
	port := freePortTB(t, gw, peer)
	ike, _ := ikev2ProposalTB("aes128gcm16-prfsha256-x25519")
	esp, _ := espProposalTB("aes128gcm16")
	psk := []byte("shutdown test secret")
	cfg := &policy.Config{File: "shutdown", Gateway: policy.Gateway{
		Listen: []netip.Addr{gw}, IKEPort: port, NATTPort: port + 1, Dataplane: "none", Workers: 2,
		CookieThreshold: 1000, RetransmitTries: 3, RetransmitBase: time.Second,
	}, Connections: []*policy.Connection{{
		Name: "rw", Version: policy.IKEv2, LocalAddr: gw, Auth: policy.AuthPSK, PSK: psk,
		LocalID:  policy.Identity{Type: policy.IDIPv4Addr, Data: gw.AsSlice()},
		RemoteID: policy.Identity{Any: true}, IKE: ike, ESP: esp,
		LocalTS: []netip.Prefix{netip.PrefixFrom(gw, 32)},
	}}}
	kb, _ := kernel.New("none", nil)
	g, err := New(cfg, zaptest.NewLogger(t, zaptest.Level(zap.InfoLevel)), WithBackend(kb))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- g.Run(ctx) }()
	<-g.Ready()

	u := newUDPInitiator(t, peer, gw, port, psk)
	u.connect()
	if n := len(u.eng.SAs()); n != 1 {
		t.Fatalf("peer has %d IKE SAs, want 1", n)
	}
	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return")
	}
	// The delete was sent before Run returned: it is waiting on the
	// peer's socket.
	buf := make([]byte, 65536)
	u.sock.SetReadDeadline(time.Now().Add(time.Second))
	n, from, err := u.sock.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatalf("peer received nothing from the stopping gateway: %v", err)
	}
	local := netip.AddrPortFrom(peer, uint16(u.sock.LocalAddr().(*net.UDPAddr).Port))
	engine.Execute(time.Now(), u.eng, u.dp, nil, u.eng.HandleDatagram(time.Now(),
		isakmp.Datagram{Local: local, Remote: from, Data: append([]byte(nil), buf[:n]...)}), nil, nil)
	if n := len(u.eng.SAs()); n != 0 {
		t.Fatalf("peer still has %d IKE SAs after the gateway's delete: %+v", n, u.eng.SAs())
	}
}

// TestUpTwice: `up` on a connection that is being negotiated initiates
// nothing new and says so (ErrAlreadyUp): one IKE SA, not two.
func TestUpTwice(t *testing.T) {
	gw, peer := netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.6") // nobody answers there
	port := freePortTB(t, gw, peer)
	ike, _ := ikev2ProposalTB("aes128gcm16-prfsha256-x25519")
	esp, _ := espProposalTB("aes128gcm16")
	cfg := &policy.Config{File: "up", Gateway: policy.Gateway{
		Listen: []netip.Addr{gw}, IKEPort: port, NATTPort: port + 1, Dataplane: "none", Workers: 2,
		CookieThreshold: 1000, RetransmitTries: 3, RetransmitBase: time.Second,
	}, Connections: []*policy.Connection{{
		Name: "site", Version: policy.IKEv2, LocalAddr: gw, RemoteAddr: peer, Auth: policy.AuthPSK, PSK: []byte("up twice"),
		LocalID:  policy.Identity{Type: policy.IDIPv4Addr, Data: gw.AsSlice()},
		RemoteID: policy.Identity{Type: policy.IDIPv4Addr, Data: peer.AsSlice()}, IKE: ike, ESP: esp,
		LocalTS: []netip.Prefix{netip.PrefixFrom(gw, 32)}, RemoteTS: []netip.Prefix{netip.PrefixFrom(peer, 32)},
	}}}
	kb, _ := kernel.New("none", nil)
	g := runGateway(t, cfg, zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)), kb)
	ctx := context.Background()
	if err := g.Up(ctx, "site"); err != nil {
		t.Fatalf("first up: %v", err)
	}
	for range 3 {
		if err := g.Up(ctx, "site"); !errors.Is(err, ErrAlreadyUp) {
			t.Fatalf("up while negotiating: %v, want ErrAlreadyUp", err)
		}
	}
	sas, err := g.SAs(ctx)
	if err != nil || len(sas) != 1 {
		t.Fatalf("%d IKE SAs after repeated up (%v), want 1", len(sas), err)
	}
}

// TestUnknownConnectionSuggests: up and down of a name the configuration
// lacks say which one is close.
func TestUnknownConnectionSuggests(t *testing.T) {
	cfg := testConfig(t)
	g, _ := startGateway(t, cfg)
	name := cfg.Connections[0].Name
	typo := name[:len(name)-1] + "x"
	if err := g.Up(context.Background(), typo); err == nil || !strings.Contains(err.Error(), "did you mean "+strconv.Quote(name)) {
		t.Errorf("up %q: %v, want a suggestion of %q", typo, err, name)
	}
	if _, err := g.Down(context.Background(), typo); err == nil || !strings.Contains(err.Error(), "did you mean") {
		t.Errorf("down %q: %v, want a suggestion", typo, err)
	}
}

// TestUnreachablePermission: a control socket the caller may not use is
// reported as a permission problem, not as a daemon that is not running.
func TestUnreachablePermission(t *testing.T) {
	e := &UnreachableError{Path: "/run/ikegate/ikegate.sock", Err: &os.PathError{Op: "dial", Path: "x", Err: syscall.EACCES}}
	if !strings.Contains(e.Error(), "permission denied") || strings.Contains(e.Error(), "running?") {
		t.Errorf("%v", e)
	}
	e = &UnreachableError{Path: "/run/ikegate/ikegate.sock", Err: syscall.ECONNREFUSED}
	if !strings.Contains(e.Error(), "running?") {
		t.Errorf("%v", e)
	}
}
