//go:build linux

package kernel

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"go.uber.org/zap/zaptest"
	"golang.org/x/sys/unix"
)

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("SKIPPED: NOT ROOT — the userspace dataplane test needs root (CAP_NET_ADMIN) for network " +
			"namespaces and TUN devices; a skip means the real-TUN path did NOT run")
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		t.Skipf("SKIPPED: no /dev/net/tun (%v): the real-TUN path did NOT run", err)
	}
}

// TestUserspaceNew opens the backend through New in a fresh namespace:
// the TUN device exists, is up with MTU 1400, and goes away on Close.
func TestUserspaceNew(t *testing.T) {
	requireRoot(t)
	ns := testNetns(t)
	var b Backend
	inNetns(t, ns, func() error {
		var err error
		b, err = New("userspace", zaptest.NewLogger(t))
		return err
	})
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	link, err := h.LinkByName(DefaultTUN)
	if err != nil {
		b.Close()
		t.Fatal(err)
	}
	if link.Attrs().MTU != DefaultMTU || link.Attrs().Flags&net.FlagUp == 0 || link.Type() != "tuntap" {
		t.Errorf("link %s: mtu %d flags %v type %s", DefaultTUN, link.Attrs().MTU, link.Attrs().Flags, link.Type())
	}
	if b.Events() != nil {
		t.Error("Events not nil")
	}
	if _, ok := b.(interface {
		HandleESP(local, remote netip.AddrPort, pkt []byte)
		SetSender(func(local, remote netip.AddrPort, b []byte) error)
	}); !ok {
		t.Error("the userspace backend does not offer HandleESP/SetSender to the gateway")
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := h.LinkByName(DefaultTUN); err == nil {
		t.Error("TUN device left behind after Close")
	}
}

// TestUserspaceThroughTUN is the end-to-end test on real TUN devices: two
// namespaces, each with a userspace backend ("ikgA", "ikgB") and a host
// address inside its protected subnet on lo, and an in-process wire between
// the backends' senders. UDP and ICMP echo from A's subnet to B's cross
// both TUN devices encrypted; a replayed and a bit-flipped datagram are
// dropped and counted while traffic keeps flowing.
func TestUserspaceThroughTUN(t *testing.T) {
	requireRoot(t)
	nsA, nsB := testNetns(t), testNetns(t)
	hostA, hostB := netip.MustParseAddr("10.1.0.1"), netip.MustParseAddr("10.2.0.5")
	loAddr(t, nsA, hostA)
	loAddr(t, nsB, hostB)
	log := zaptest.NewLogger(t)
	a, err := newUserspaceAt(nsA, log.Named("A"), UserspaceConfig{TUN: "ikgA"})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := newUserspaceAt(nsB, log.Named("B"), UserspaceConfig{TUN: "ikgB", Workers: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	// The wire, with a tap that can hold back A->B datagrams.
	var mu sync.Mutex
	var hold bool
	held := make(chan []byte, 1)
	a.SetSender(func(l, r netip.AddrPort, p []byte) error {
		mu.Lock()
		h := hold
		hold = false
		mu.Unlock()
		if h {
			held <- bytes.Clone(p)
			return nil
		}
		b.HandleESP(r, l, p)
		return nil
	})
	b.SetSender(func(l, r netip.AddrPort, p []byte) error { a.HandleESP(r, l, p); return nil })

	saA, saB := mirrorSAs(gcm128, 0, 0x8000a, 0x8000b, 3)
	if err := a.AddChildSA(saA); err != nil {
		t.Fatal(err)
	}
	if err := b.AddChildSA(saB); err != nil {
		t.Fatal(err)
	}
	// The route on A goes through ikgA, with 10.1.0.1 as source hint.
	h, err := netlink.NewHandleAt(nsA, unix.NETLINK_ROUTE)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	routes, err := h.RouteGet(net.IP(hostB.AsSlice()))
	if err != nil || len(routes) == 0 {
		t.Fatalf("route to %v: %v %v", hostB, routes, err)
	}
	link, _ := h.LinkByName("ikgA")
	if routes[0].LinkIndex != link.Attrs().Index || !routes[0].Src.Equal(net.IP(hostA.AsSlice())) {
		t.Fatalf("route to %v: dev %d src %v, want dev %d (ikgA) src %v", hostB, routes[0].LinkIndex, routes[0].Src, link.Attrs().Index, hostA)
	}

	// A UDP echo server in B's namespace.
	udpEchoServer(t, nsB, netip.AddrPortFrom(hostB, 7777))
	var cli *net.UDPConn
	inNetns(t, nsA, func() error {
		var err error
		cli, err = net.DialUDP("udp4", nil, &net.UDPAddr{IP: hostB.AsSlice(), Port: 7777})
		return err
	})
	defer cli.Close()
	if la := cli.LocalAddr().(*net.UDPAddr); !la.IP.Equal(net.IP(hostA.AsSlice())) {
		t.Fatalf("client bound to %v: the route's source hint was not used", la)
	}
	echo := func(msg string) error {
		if _, err := cli.Write([]byte(msg)); err != nil {
			return err
		}
		cli.SetReadDeadline(time.Now().Add(3 * time.Second))
		buf := make([]byte, 2000)
		n, err := cli.Read(buf)
		if err != nil {
			return err
		}
		if string(buf[:n]) != msg {
			return fmt.Errorf("echo %q, want %q", buf[:n], msg)
		}
		return nil
	}
	for i := range 20 {
		if err := echo(fmt.Sprintf("hello %d %s", i, bytes.Repeat([]byte("x"), i*60))); err != nil {
			t.Fatalf("UDP echo %d through the tunnel: %v", i, err)
		}
	}

	// ICMP echo (the kernel in B answers).
	var icmp net.PacketConn
	inNetns(t, nsA, func() error {
		var err error
		icmp, err = net.ListenPacket("ip4:icmp", hostA.String())
		return err
	})
	defer icmp.Close()
	ping := func(seq uint16) error {
		req := []byte{8, 0, 0, 0, 0x12, 0x34, byte(seq >> 8), byte(seq), 'p', 'i', 'n', 'g'}
		binary.BigEndian.PutUint16(req[2:], icmpChecksum(req))
		if _, err := icmp.WriteTo(req, &net.IPAddr{IP: hostB.AsSlice()}); err != nil {
			return err
		}
		icmp.SetReadDeadline(time.Now().Add(3 * time.Second))
		buf := make([]byte, 1500)
		for {
			n, from, err := icmp.ReadFrom(buf)
			if err != nil {
				return err
			}
			if n >= 8 && buf[0] == 0 && binary.BigEndian.Uint16(buf[6:]) == seq && from.(*net.IPAddr).IP.Equal(net.IP(hostB.AsSlice())) {
				return nil
			}
		}
	}
	for i := range 3 {
		if err := ping(uint16(i + 1)); err != nil {
			t.Fatalf("ping %d through the tunnel: %v", i, err)
		}
	}

	// Hold back one A->B datagram; deliver a bit-flipped copy, then the
	// genuine one, then the genuine one again.
	mu.Lock()
	hold = true
	mu.Unlock()
	if _, err := cli.Write([]byte("held")); err != nil {
		t.Fatal(err)
	}
	var captured []byte
	select {
	case captured = <-held:
	case <-time.After(3 * time.Second):
		t.Fatal("nothing sent by A")
	}
	lb, la := netip.AddrPortFrom(gwB, 4500), netip.AddrPortFrom(gwA, 4500)
	flipped := bytes.Clone(captured)
	flipped[20] ^= 0x01
	b.HandleESP(lb, la, flipped)
	b.HandleESP(lb, la, captured)
	b.HandleESP(lb, la, captured)
	cli.SetReadDeadline(time.Now().Add(3 * time.Second))
	buf := make([]byte, 100)
	if n, err := cli.Read(buf); err != nil || string(buf[:n]) != "held" {
		t.Fatalf("held datagram: %q %v", buf[:n], err)
	}
	in, _, _, err := b.SACounters(saB)
	if err != nil {
		t.Fatal(err)
	}
	if in.ReplayDrops != 1 || in.AuthFailures != 1 {
		t.Fatalf("B inbound counters %+v: want 1 replay drop and 1 integrity failure", in)
	}
	// Traffic keeps flowing.
	if err := echo("still up"); err != nil {
		t.Fatal(err)
	}
	if err := ping(99); err != nil {
		t.Fatal(err)
	}
	ca, _ := a.Counters(saA.SPIIn)
	cb, _ := b.Counters(saB.SPIIn)
	t.Logf("A %+v; B %+v; A stats %+v; B stats %+v", ca, cb, a.Stats(), b.Stats())
	if ca.OutPackets != cb.InPackets || ca.InPackets != cb.OutPackets || ca.OutPackets < 25 {
		t.Fatalf("counters A %+v B %+v", ca, cb)
	}

	// Delete removes the route; Close removes the device.
	if err := a.DelChildSA(saA); err != nil {
		t.Fatal(err)
	}
	if routes, err := h.RouteGet(net.IP(hostB.AsSlice())); err == nil && len(routes) > 0 && routes[0].LinkIndex == link.Attrs().Index {
		t.Fatalf("route via ikgA left after DelChildSA: %+v", routes[0])
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := h.LinkByName("ikgA"); err == nil {
		t.Fatal("ikgA left after Close")
	} else if !errors.As(err, new(netlink.LinkNotFoundError)) {
		t.Logf("LinkByName after Close: %v", err)
	}
}

func icmpChecksum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

// TestUserspaceBypassRoute: a CHILD SA whose remote selectors cover the
// peer's own address (a road warrior tunnelling everything, 0.0.0.0/0)
// must not capture the peer's IKE and NAT-T packets: the peer keeps a
// host route via the physical path, the host's default route stays (the
// tunnel takes the two /1 halves), and everything is back as it was once
// the SA is gone.
func TestUserspaceBypassRoute(t *testing.T) {
	requireRoot(t)
	ns := testNetns(t)
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	// The uplink: a veth end with 192.0.2.1/24 and a default route via
	// 192.0.2.254; the peer, 198.51.100.7, is somewhere beyond it.
	up := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "up0"}, PeerName: "up1"}
	if err := h.LinkAdd(up); err != nil {
		t.Fatal(err)
	}
	upLink, err := h.LinkByName("up0")
	if err == nil {
		err = h.LinkSetUp(upLink)
	}
	if err == nil {
		var other netlink.Link
		if other, err = h.LinkByName("up1"); err == nil {
			err = h.LinkSetUp(other)
		}
	}
	if err == nil {
		err = h.AddrAdd(upLink, &netlink.Addr{IPNet: &net.IPNet{IP: net.IPv4(192, 0, 2, 1), Mask: net.CIDRMask(24, 32)}})
	}
	if err == nil {
		err = h.RouteAdd(&netlink.Route{LinkIndex: upLink.Attrs().Index, Gw: net.IPv4(192, 0, 2, 254)})
	}
	if err != nil {
		t.Fatal(err)
	}
	u, err := newUserspaceAt(ns, zaptest.NewLogger(t), UserspaceConfig{TUN: "ikgT"})
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	tun, err := h.LinkByName("ikgT")
	if err != nil {
		t.Fatal(err)
	}
	peer := netip.MustParseAddr("198.51.100.7")
	via := func(dst string) (link int, gw string) {
		t.Helper()
		rs, err := h.RouteGet(net.ParseIP(dst))
		if err != nil || len(rs) == 0 {
			t.Fatalf("route get %s: %v", dst, err)
		}
		return rs[0].LinkIndex, rs[0].Gw.String()
	}
	defaults := func() int {
		rs, err := h.RouteList(nil, netlink.FAMILY_V4)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, r := range rs {
			if r.Dst == nil || r.Dst.String() == "0.0.0.0/0" {
				n++
			}
		}
		return n
	}

	sa, _ := mirrorSAs(gcm128, 0, 0x7001, 0x7002, 9)
	sa.Local, sa.Remote = netip.MustParseAddr("192.0.2.1"), peer
	sa.LocalTS = []netip.Prefix{netip.MustParsePrefix("10.1.0.0/24")}
	sa.RemoteTS = []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}
	if err := u.AddChildSA(sa); err != nil {
		t.Fatal(err)
	}
	if link, gw := via(peer.String()); link != upLink.Attrs().Index || gw != "192.0.2.254" {
		t.Errorf("with the SA up, the peer %v is routed via link %d gw %s, want up0 via 192.0.2.254 (not the tunnel %d)",
			peer, link, gw, tun.Attrs().Index)
	}
	if link, _ := via("203.0.113.9"); link != tun.Attrs().Index {
		t.Errorf("with the SA up, other traffic goes via link %d, want the tunnel %d", link, tun.Attrs().Index)
	}
	if n := defaults(); n != 1 {
		t.Errorf("%d default routes with the SA up, want the host's one kept", n)
	}
	if err := u.DelChildSA(sa); err != nil {
		t.Fatal(err)
	}
	rs, err := h.RouteList(nil, netlink.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		if r.LinkIndex == tun.Attrs().Index && r.Dst != nil && r.Dst.IP.To4() != nil && !r.Dst.IP.IsLinkLocalUnicast() {
			t.Errorf("route left behind through the tunnel: %v", r.Dst)
		}
		if r.Protocol == bypassProto {
			t.Errorf("bypass route left behind: %v", r.Dst)
		}
	}
	if n := defaults(); n != 1 {
		t.Errorf("%d default routes after the SA is gone, want 1", n)
	}
	if link, _ := via("203.0.113.9"); link != upLink.Attrs().Index {
		t.Errorf("after the SA, traffic goes via link %d, want up0", link)
	}
}
