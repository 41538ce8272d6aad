//go:build linux

package kernel

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	"golang.org/x/sys/unix"

	"ikegate/internal/netnstest"
	"ikegate/policy"
)

// TestRawESPThroughNamespaces runs the raw ESP transport over real raw
// sockets: two namespaces joined by a veth pair, a userspace dataplane
// with its raw transport in each, a CHILD SA without UDP encapsulation
// between their outer addresses (IPv4, then IPv6). UDP echoes between the
// protected hosts cross both TUN devices; an observer's own raw socket
// for protocol 50 in B's namespace sees A's ESP packets (SPI of the SA,
// outer source A) as IP protocol 50; the UDP sender is never used; the
// counters of both ends agree.
func TestRawESPThroughNamespaces(t *testing.T) {
	requireRoot(t)
	for _, c := range []struct {
		name         string
		outerA, outB string
		bits         int
	}{
		{"ipv4", "192.0.2.1", "192.0.2.2", 24},
		{"ipv6", "2001:db8:50::1", "2001:db8:50::2", 64},
	} {
		t.Run(c.name, func(t *testing.T) {
			outerA, outerB := netip.MustParseAddr(c.outerA), netip.MustParseAddr(c.outB)
			rawESPPair(t, outerA, outerB, c.bits)
		})
	}
}

func rawESPPair(t *testing.T, outerA, outerB netip.Addr, bits int) {
	nsA, nsB := testNetns(t), testNetns(t)
	hostA, hostB := netip.MustParseAddr("10.1.0.1"), netip.MustParseAddr("10.2.0.5")
	hA, err := netlink.NewHandleAt(nsA, unix.NETLINK_ROUTE)
	if err != nil {
		t.Fatal(err)
	}
	defer hA.Close()
	hB, err := netlink.NewHandleAt(nsB, unix.NETLINK_ROUTE)
	if err != nil {
		t.Fatal(err)
	}
	defer hB.Close()
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "rawA"}, PeerName: "rawB", PeerNamespace: netlink.NsFd(nsB)}
	if err := hA.LinkAdd(veth); err != nil {
		t.Fatalf("veth: %v", err)
	}
	for _, s := range []struct {
		h          *netlink.Handle
		dev        string
		outer, hst netip.Addr
	}{{hA, "rawA", outerA, hostA}, {hB, "rawB", outerB, hostB}} {
		lo, err := s.h.LinkByName("lo")
		if err == nil {
			err = s.h.LinkSetUp(lo)
		}
		if err == nil {
			err = s.h.AddrAdd(lo, &netlink.Addr{IPNet: ipNet(netip.PrefixFrom(s.hst, 32))})
		}
		var l netlink.Link
		if err == nil {
			l, err = s.h.LinkByName(s.dev)
		}
		if err == nil {
			err = s.h.AddrAdd(l, &netlink.Addr{IPNet: ipNet(netip.PrefixFrom(s.outer, bits)), Flags: unix.IFA_F_NODAD})
		}
		if err == nil {
			err = s.h.LinkSetUp(l)
		}
		if err != nil {
			t.Fatalf("set up %s: %v", s.dev, err)
		}
	}

	log := zaptest.NewLogger(t)
	a, err := newUserspaceAt(nsA, log.Named("A"), UserspaceConfig{TUN: "ikgA"})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := newUserspaceAt(nsB, log.Named("B"), UserspaceConfig{TUN: "ikgB"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for _, u := range []struct {
		u  *Userspace
		ns netns.NsHandle
	}{{a, nsA}, {b, nsB}} {
		if err := u.u.openRawESPAt(u.ns); err != nil {
			t.Fatal(err)
		}
	}
	udp := 0
	a.SetSender(func(netip.AddrPort, netip.AddrPort, []byte) error { udp++; return nil })
	b.SetSender(func(netip.AddrPort, netip.AddrPort, []byte) error { udp++; return nil })

	saA, saB := mirrorSAs(gcm128, 0, 0x9000a, 0x9000b, 7)
	saA.Local, saA.Remote, saB.Local, saB.Remote = outerA, outerB, outerB, outerA
	saA.EncapLocalPort, saA.EncapRemotePort, saB.EncapLocalPort, saB.EncapRemotePort = 0, 0, 0, 0
	if err := a.AddChildSA(saA); err != nil {
		t.Fatal(err)
	}
	if err := b.AddChildSA(saB); err != nil {
		t.Fatal(err)
	}

	// The observer: its own raw socket for protocol 50 in B's namespace
	// gets a copy of every ESP packet B receives.
	network := "ip4:50"
	if outerA.Is6() {
		network = "ip6:50"
	}
	var obs net.PacketConn
	inNetns(t, nsB, func() error {
		var err error
		obs, err = net.ListenPacket(network, "")
		return err
	})
	defer obs.Close()

	udpEchoServer(t, nsB, netip.AddrPortFrom(hostB, 7777))
	var cli *net.UDPConn
	inNetns(t, nsA, func() error {
		var err error
		cli, err = net.DialUDP("udp4", &net.UDPAddr{IP: hostA.AsSlice()}, &net.UDPAddr{IP: hostB.AsSlice(), Port: 7777})
		return err
	})
	defer cli.Close()
	const n = 20
	for i := range n {
		msg := fmt.Sprintf("raw echo %d %0*d", i, i*60, 0)
		if _, err := cli.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		cli.SetReadDeadline(time.Now().Add(3 * time.Second))
		buf := make([]byte, 2000)
		m, err := cli.Read(buf)
		if err != nil || string(buf[:m]) != msg {
			t.Fatalf("echo %d through the raw ESP tunnel: %q, %v (A %+v, B %+v)", i, buf[:m], err, a.Stats(), b.Stats())
		}
	}

	// What the observer saw: ESP of the SA, from A's outer address (the
	// IPv4 socket of Go's net strips the IPv4 header on ReadFrom).
	seen := 0
	buf := make([]byte, 4000)
	for {
		obs.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		m, from, err := obs.ReadFrom(buf)
		if err != nil {
			break
		}
		src, _ := netip.AddrFromSlice(from.(*net.IPAddr).IP)
		if m >= 8 && binary.BigEndian.Uint32(buf) == saB.SPIIn && src.Unmap() == outerA {
			seen++
		}
	}
	if seen < n {
		t.Errorf("observer saw %d ESP packets of SPI %#x from %v as IP protocol 50, want %d", seen, saB.SPIIn, outerA, n)
	}
	if udp != 0 {
		t.Errorf("the UDP sender was used %d times for raw SAs", udp)
	}
	ca, _ := a.Counters(saA.SPIIn)
	cb, _ := b.Counters(saB.SPIIn)
	t.Logf("A %+v; B %+v; observer saw %d", ca, cb, seen)
	if ca.OutPackets != n || cb.InPackets != n || cb.OutPackets != n || ca.InPackets != n {
		t.Errorf("counters A %+v, B %+v: want %d packets each way", ca, cb, n)
	}
	if st := b.Stats(); st.InRejected+st.InUnknownSPI+st.InTooBig != 0 {
		t.Errorf("B dropped inbound ESP: %+v", st)
	}
	if err := a.Close(); err != nil {
		t.Errorf("close with the raw transport: %v", err)
	}
}

// BenchmarkRawESPSend measures the raw transport's send path (one
// sendmsg with IP_PKTINFO per 1400-byte ESP packet, or one sendmmsg per
// 64 of them, over loopback in a
// namespace of its own, where the transport's own receive loop takes
// it back and counts an unknown SPI) against a plain UDP socket's send of
// the same size, which is what ESP-in-UDP costs at least.
func BenchmarkRawESPSend(b *testing.B) {
	requireRootB(b)
	ns := netnstest.New(b, "the raw ESP benchmark")
	netnstest.Run(b, ns, func() error {
		lo, err := netlink.LinkByName("lo")
		if err != nil {
			return err
		}
		return netlink.LinkSetUp(lo)
	})
	u := newUserspaceWith(zap.NewNop(), UserspaceConfig{Workers: -1}, newFakeTUN(), nil)
	defer u.Close()
	if err := u.openRawESPAt(ns); err != nil {
		b.Fatal(err)
	}
	pkt := make([]byte, 1400)
	pkt[3] = 1 // SPI 1: unknown to the receiver
	lo := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), 0)
	b.Run("raw", func(b *testing.B) {
		send := &u.raw.Load().send
		b.ReportAllocs()
		b.SetBytes(int64(len(pkt)))
		for b.Loop() {
			if err := (*send)(lo, lo, pkt); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("raw-batch64", func(b *testing.B) {
		// One sendmmsg of 64 packets per iteration; ns/pkt compares with
		// "raw".
		ds := make([]policy.ESPDatagram, 64)
		for i := range ds {
			ds[i] = policy.ESPDatagram{Local: lo, Remote: lo, B: pkt}
		}
		sendBatch := u.raw.Load().sendBatch
		b.ReportAllocs()
		b.SetBytes(int64(len(ds) * len(pkt)))
		for b.Loop() {
			if failed := sendBatch(ds); failed > 0 {
				b.Fatalf("%d failed", failed)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(ds)), "ns/pkt")
	})
	b.Run("udp", func(b *testing.B) {
		var c *net.UDPConn
		netnstest.Run(b, ns, func() error {
			var err error
			c, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			return err
		})
		defer c.Close()
		dst := netip.AddrPortFrom(lo.Addr(), 9) // discard: nobody listens, the kernel drops it
		b.ReportAllocs()
		b.SetBytes(int64(len(pkt)))
		for b.Loop() {
			c.WriteToUDPAddrPort(pkt, dst)
		}
	})
}

func requireRootB(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("SKIPPED: NOT ROOT — the raw ESP benchmark needs root for a namespace and raw sockets")
	}
}

// TestPktinfoDst: the destination address comes out of the
// IPV6_PKTINFO control message wherever it sits among others, and
// truncated or foreign control data yields none.
func TestPktinfoDst(t *testing.T) {
	want := netip.MustParseAddr("2001:db8::2")
	pi := unix.PktInfo6(&unix.Inet6Pktinfo{Addr: want.As16(), Ifindex: 3})
	other := unix.PktInfo4(&unix.Inet4Pktinfo{Ifindex: 1})
	for _, c := range []struct {
		name string
		oob  []byte
		ok   bool
	}{
		{"alone", pi, true},
		{"after another", append(bytes.Clone(other), pi...), true},
		{"other only", other, false},
		{"truncated", pi[:len(pi)-8], false},
		{"header only", pi[:unix.CmsgLen(0)], false},
		{"empty", nil, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, ok := pktinfoDst(aligned(c.oob))
			if ok != c.ok || (ok && got != want) {
				t.Fatalf("pktinfoDst = %v, %v; want %v, %v", got, ok, want, c.ok)
			}
		})
	}
}

// aligned copies b into a fresh (8-byte aligned) buffer, as the
// reader's control message buffers are.
func aligned(b []byte) []byte {
	out := make([]byte, len(b), len(b)+8)
	copy(out, b)
	return out
}

// FuzzPktinfoDst feeds pktinfoDst arbitrary control data: it never
// panics or reads past the data, and an address it finds is the one in
// an IPV6_PKTINFO message that lies within the data.
//
// Run it longer with
//
//	go test -run=NONE -fuzz='^FuzzPktinfoDst$' -fuzztime=5m ./kernel/
func FuzzPktinfoDst(f *testing.F) {
	pi := unix.PktInfo6(&unix.Inet6Pktinfo{Addr: netip.MustParseAddr("2001:db8::2").As16()})
	f.Add(pi)
	f.Add(append(unix.PktInfo4(&unix.Inet4Pktinfo{}), pi...))
	f.Add(pi[:20])
	f.Add([]byte{})
	f.Add(make([]byte, 16))
	f.Fuzz(func(t *testing.T, oob []byte) {
		a, ok := pktinfoDst(aligned(oob))
		if !ok {
			if a.IsValid() {
				t.Fatalf("no address found but %v returned", a)
			}
			return
		}
		if !a.Is6() || !bytes.Contains(oob, a.AsSlice()) {
			t.Fatalf("address %v is not in %x", a, oob)
		}
	})
}
