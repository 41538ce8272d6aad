package gateway

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"ikegate/kernel"
	"ikegate/policy"
)

// espBackend is a "none" backend that also takes ESP, as the userspace
// dataplane does: the gateway must see that in its capabilities.
type espBackend struct {
	kernel.Backend
	got chan espDatagram

	mu   sync.Mutex
	send func(local, remote netip.AddrPort, b []byte) error
}

type espDatagram struct {
	local, remote netip.AddrPort
	pkt           []byte
}

func (b *espBackend) HandleESP(local, remote netip.AddrPort, pkt []byte) {
	b.got <- espDatagram{local, remote, bytes.Clone(pkt)}
}

func (b *espBackend) Capabilities() policy.Capabilities { return policy.Capabilities{ESPInUDP: true} }

func (b *espBackend) SetSender(f func(local, remote netip.AddrPort, b []byte) error) {
	b.mu.Lock()
	b.send = f
	b.mu.Unlock()
}

func TestESPHandedToDataplane(t *testing.T) {
	cfg := testConfig(t)
	kb, err := kernel.New("none", nil)
	if err != nil {
		t.Fatal(err)
	}
	eb := &espBackend{Backend: kb, got: make(chan espDatagram, 4)}
	g, err := New(cfg, zaptest.NewLogger(t, zaptest.Level(zap.InfoLevel)), WithBackend(eb))
	if err != nil {
		kb.Close()
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- g.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-errc; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	<-g.Ready()

	lo := netip.MustParseAddr("127.0.0.1")
	natt := netip.AddrPortFrom(lo, uint16(cfg.Gateway.NATTPort))
	conn, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(lo, 0)))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	peer := conn.LocalAddr().(*net.UDPAddr).AddrPort()

	esp := []byte{0xc0, 0xff, 0xee, 0x01, 0, 0, 0, 1, 0xaa, 0xbb, 0xcc, 0xdd}
	if _, err := conn.WriteToUDPAddrPort(esp, natt); err != nil {
		t.Fatal(err)
	}
	select {
	case d := <-eb.got:
		if d.local != natt || d.remote != peer || !bytes.Equal(d.pkt, esp) {
			t.Fatalf("HandleESP(%v, %v, %x), want (%v, %v, %x)", d.local, d.remote, d.pkt, natt, peer, esp)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ESP datagram not handed to the dataplane")
	}

	eb.mu.Lock()
	send := eb.send
	eb.mu.Unlock()
	if send == nil {
		t.Fatal("SetSender was not called")
	}
	out := []byte{0, 0, 0, 9, 0, 0, 0, 1, 1, 2, 3, 4}
	if err := send(natt, peer, out); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 100)
	n, from, err := conn.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatal(err)
	}
	if from != natt || !bytes.Equal(buf[:n], out) {
		t.Fatalf("got %x from %v, want %x (no non-ESP marker) from %v", buf[:n], from, out, natt)
	}
	if err := send(netip.MustParseAddrPort("192.0.2.1:4500"), peer, out); err == nil {
		t.Fatal("send from an address without socket succeeded")
	}
	s := g.stats.snapshot(g.Workers())
	if s.PacketsIn["esp"] != 1 || s.PacketsOut["esp"] != 1 || s.Drops["esp_no_dataplane"] != 0 || s.Drops["no_socket"] != 1 {
		t.Fatalf("stats: in %v out %v drops %v", s.PacketsIn, s.PacketsOut, s.Drops)
	}
}
