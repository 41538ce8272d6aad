package gateway

import (
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"

	"go.uber.org/zap"
)

// TestListenUDPError: a bind failure is a *ListenError naming the address
// (so the command line can point at the listen key), and NotLocal tells
// an address that is not on this host from other failures.
func TestListenUDPError(t *testing.T) {
	busy, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	busyAP := busy.LocalAddr().(*net.UDPAddr).AddrPort()
	tests := []struct {
		name     string
		ap       netip.AddrPort
		notLocal bool
	}{
		{"not on this host", netip.MustParseAddrPort("192.0.2.77:0"), true},
		{"port in use", netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), busyAP.Port()), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := listenUDP(tt.ap, false, zap.NewNop())
			if err == nil {
				s.conn.Close()
				t.Skipf("%s could be bound here", tt.ap)
			}
			var le *ListenError
			if !errors.As(err, &le) {
				t.Fatalf("%T %v, want *ListenError", err, err)
			}
			if le.Addr != tt.ap || le.NotLocal() != tt.notLocal || !strings.HasPrefix(err.Error(), "listen "+tt.ap.String()+": ") {
				t.Errorf("%v: addr %v, NotLocal %v; want %v, %v", err, le.Addr, le.NotLocal(), tt.ap, tt.notLocal)
			}
		})
	}
}
