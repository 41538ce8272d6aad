//go:build linux

package kernel

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"ikegate/internal/netnstest"
	"ikegate/policy"
)

// fillRawRead puts pkts into rd as if one recvmmsg had read them (IPv4:
// each with its IP header); a nil entry stands for a truncated packet
// (MSG_TRUNC).
func fillRawRead(rd *rawReader, pkts [][]byte) int {
	for i, p := range pkts {
		h := &rd.hdrs[i]
		h.Hdr.Flags = 0
		if p == nil {
			h.Hdr.Flags = unix.MSG_TRUNC
			h.Len = rawBufSize
			continue
		}
		h.Len = uint32(copy(rd.bufs[i], p))
	}
	return len(pkts)
}

// TestRawReadBatch: one read of the raw IPv4 socket goes to the inbound
// path as one batch: its good packets, for raw and for several SAs,
// reach the TUN device in order with one write (inline) and each bad one
// (not protocol 50, truncated, replayed, tampered, for an SA installed
// with UDP encapsulation, unknown SPI) is dropped and counted without
// harming the others. With workers the same packets arrive, in order per
// SA. A raw packet from another address moves nothing.
func TestRawReadBatch(t *testing.T) {
	for _, workers := range []int{-1, 2} {
		t.Run(fmt.Sprintf("workers=%d", workers), func(t *testing.T) {
			tb := newFakeTUN()
			b := newUserspaceWith(zap.NewNop(), UserspaceConfig{Workers: workers}, tb, nil)
			defer b.Close()
			b.setRawESP(&rawESP{send: func(_, _ netip.AddrPort, _ []byte) error { return nil }})
			saA, saB := mirrorSAs(gcm128, 0, 0xa000a, 0xa000b, 7)
			saA.EncapLocalPort, saA.EncapRemotePort = 0, 0
			saB.EncapLocalPort, saB.EncapRemotePort = 0, 0
			udpA, udpB := mirrorSAs(gcm128, 0, 0xa100a, 0xa100b, 9) // UDP-encapsulated
			if err := b.AddChildSA(saB); err != nil {
				t.Fatal(err)
			}
			if err := b.AddChildSA(udpB); err != nil {
				t.Fatal(err)
			}
			encapA := *saA // the same keys; outboundOf's dataplane has no raw transport
			encapA.EncapLocalPort, encapA.EncapRemotePort = 4500, 4500
			out, outUDP := outboundOf(t, &encapA), outboundOf(t, udpA)
			seal := func(o interface {
				Encapsulate(dst, inner []byte) ([]byte, error)
			}, p []byte) []byte {
				c, err := o.Encapsulate(nil, p)
				if err != nil {
					t.Fatal(err)
				}
				return c
			}
			wrap := func(src string, esp []byte) []byte { return rawIPv4(src, "192.0.2.2", 20, 50, esp) }
			var want [][]byte
			var pkts [][]byte
			for i := range 5 {
				p := ipv4("10.1.0.1", "10.2.0.5", []byte(fmt.Sprintf("raw %d", i)))
				want = append(want, p)
				pkts = append(pkts, wrap("192.0.2.1", seal(out, p)))
			}
			tampered := seal(out, ipv4("10.1.0.1", "10.2.0.5", []byte("bad")))
			tampered[len(tampered)-1] ^= 1
			unknown := bytes.Clone(pkts[4][20:])
			unknown[0] ^= 0xff
			viaUDP := seal(outUDP, ipv4("10.1.0.1", "10.2.0.5", []byte("udp SA")))
			late := ipv4("10.1.0.1", "10.2.0.5", []byte("from elsewhere"))
			want = append(want, late)
			read := [][]byte{
				pkts[0], pkts[1],
				rawIPv4("192.0.2.1", "192.0.2.2", 20, 17, pkts[2][20:]), // not ESP: rejected
				pkts[2], nil, // truncated
				pkts[1],                     // replay
				wrap("192.0.2.1", tampered), // auth failure
				wrap("192.0.2.1", viaUDP),   // raw for a UDP SA: rejected
				wrap("192.0.2.1", unknown),  // unknown SPI
				pkts[3], pkts[4],
				wrap("198.51.100.7", seal(out, late)), // another source: taken, followed not
			}
			r := &rawSockets{u: b, log: zap.NewNop()}
			rd := newRawReader(nil, false)
			ds := r.handleBatch(rd, fillRawRead(rd, read), nil)
			if len(ds) != 0 {
				t.Fatalf("scratch returned with %d datagrams", len(ds))
			}
			for i, w := range want {
				if got := recv(t, tb); !bytes.Equal(got, w) {
					t.Fatalf("packet %d: got %x, want %x", i, got, w)
				}
			}
			noRecv(t, tb)
			if workers < 0 {
				if n := tb.writes.Load(); n != 1 {
					t.Errorf("%d TUN writes for one raw read, want 1", n)
				}
			}
			c, _ := b.Counters(saB.SPIIn)
			st := b.Stats()
			if c.InPackets != 6 || c.ReplayDrops != 1 || c.AuthFailures != 1 || st.InUnknownSPI != 1 || st.InTooBig != 1 || st.InRejected != 4 {
				t.Errorf("in %d replay %d auth %d unknown SPI %d too big %d rejected %d; want 6 1 1 1 1 4",
					c.InPackets, c.ReplayDrops, c.AuthFailures, st.InUnknownSPI, st.InTooBig, st.InRejected)
			}
			if got := *b.inTab.get(saB.SPIIn).remote.Load(); got != netip.AddrPortFrom(gwA, 0) {
				t.Errorf("raw SA's peer %v after a packet from elsewhere, want %v", got, netip.AddrPortFrom(gwA, 0))
			}
		})
	}
}

// TestRawSendBatch sends batches through the raw transport's sendmmsg
// path over loopback in a namespace of its own: every datagram of a
// batch leaves as IP protocol 50 with the source its Local names
// (IP_PKTINFO / IPV6_PKTINFO), in order, as an observer's raw socket
// sees; the transport's own receive loop takes each back (an unknown
// SPI, counted); a datagram whose source and destination families differ
// is refused and counted as failed without stopping the rest.
func TestRawSendBatch(t *testing.T) {
	ns := netnstest.New(t, "the raw ESP batch send test")
	netnstest.Run(t, ns, func() error {
		lo, err := netlink.LinkByName("lo")
		if err != nil {
			return err
		}
		return netlink.LinkSetUp(lo)
	})
	u := newUserspaceWith(zap.NewNop(), UserspaceConfig{Workers: -1}, newFakeTUN(), nil)
	defer u.Close()
	if err := u.openRawESPAt(ns); err != nil {
		t.Fatal(err)
	}
	var obs net.PacketConn
	netnstest.Run(t, ns, func() error {
		var err error
		obs, err = net.ListenPacket("ip4:50", "127.0.0.1")
		return err
	})
	defer obs.Close()
	for _, c := range []struct {
		name     string
		src, dst string
		n        int
	}{
		{"ipv4", "127.0.0.2", "127.0.0.1", 40},
		{"ipv4-full", "127.0.0.3", "127.0.0.1", policy.MaxESPBatch + 5},
		{"ipv6", "::1", "::1", 20},
	} {
		t.Run(c.name, func(t *testing.T) {
			src, dst := netip.AddrPortFrom(netip.MustParseAddr(c.src), 0), netip.AddrPortFrom(netip.MustParseAddr(c.dst), 0)
			var ds []policy.ESPDatagram
			for i := range c.n {
				p := make([]byte, 100+i)
				binary.BigEndian.PutUint32(p, 0xfff00000+uint32(i)) // unknown SPIs
				ds = append(ds, policy.ESPDatagram{Local: src, Remote: dst, B: p})
			}
			// One with the other family's source: refused.
			mixed := netip.AddrPortFrom(netip.MustParseAddr("::1"), 0)
			if dst.Addr().Is6() {
				mixed = netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), 0)
			}
			ds = slices.Insert(ds, 3, policy.ESPDatagram{Local: mixed, Remote: dst, B: make([]byte, 64)})
			before := u.Stats().InUnknownSPI
			if failed := u.raw.Load().sendBatch(ds); failed != 1 {
				t.Fatalf("%d failed, want 1 (the mixed-family one)", failed)
			}
			waitUntil(t, "the raw receive loop", func() bool { return u.Stats().InUnknownSPI-before == uint64(c.n) })
			if dst.Addr().Is6() {
				return
			}
			obs.SetReadDeadline(time.Now().Add(5 * time.Second))
			buf := make([]byte, 2048)
			for i := range c.n {
				n, from, err := obs.ReadFrom(buf)
				if err != nil {
					t.Fatalf("observer, packet %d: %v", i, err)
				}
				esp := buf[:n] // net.IPConn strips the IPv4 header
				if got := from.(*net.IPAddr).IP.String(); got != c.src {
					t.Errorf("packet %d from %s, want %s", i, got, c.src)
				}
				if len(esp) != 100+i || binary.BigEndian.Uint32(esp) != 0xfff00000+uint32(i) {
					t.Fatalf("packet %d: %d bytes SPI %#x, want %d bytes SPI %#x", i, len(esp), binary.BigEndian.Uint32(esp), 100+i, 0xfff00000+i)
				}
			}
		})
	}
}

// TestUserspaceSendRawRuns: of a batch mixing raw and UDP datagrams,
// each run of raw ones goes to the raw transport's batch send in one call
// (a single one to its one-packet send), the UDP ones stay, in order, for
// the UDP sender; without a batch send every raw one goes one by one.
func TestUserspaceSendRawRuns(t *testing.T) {
	udp := netip.AddrPortFrom(gwB, 4500)
	raw := netip.AddrPortFrom(gwB, 0)
	for _, c := range []struct {
		name     string
		batch    bool
		remotes  []netip.AddrPort
		calls    []int // sizes of the raw transport's calls
		udpOrder []int // indices of the datagrams left for UDP
	}{
		{"all raw", true, []netip.AddrPort{raw, raw, raw}, []int{3}, nil},
		{"mixed", true, []netip.AddrPort{raw, raw, udp, raw, udp, raw, raw, raw}, []int{2, 1, 3}, []int{2, 4}},
		{"no batch send", false, []netip.AddrPort{raw, udp, raw, raw}, []int{1, 1, 1}, []int{1}},
	} {
		t.Run(c.name, func(t *testing.T) {
			u := newUserspaceWith(zap.NewNop(), UserspaceConfig{Workers: -1}, newFakeTUN(), nil)
			defer u.Close()
			var calls []int
			var order []byte
			r := &rawESP{send: func(_, _ netip.AddrPort, b []byte) error {
				calls, order = append(calls, 1), append(order, b[0])
				return nil
			}}
			if c.batch {
				r.sendBatch = func(ds []policy.ESPDatagram) int {
					calls = append(calls, len(ds))
					for _, d := range ds {
						order = append(order, d.B[0])
					}
					return 1 // counted as send errors
				}
			}
			u.setRawESP(r)
			var ds []policy.ESPDatagram
			var wantRaw []byte
			for i, rem := range c.remotes {
				ds = append(ds, policy.ESPDatagram{Local: netip.AddrPortFrom(gwA, rem.Port()), Remote: rem, B: []byte{byte(i)}})
				if rem.Port() == 0 {
					wantRaw = append(wantRaw, byte(i))
				}
			}
			rest := u.sendRaw(ds)
			if !slices.Equal(calls, c.calls) {
				t.Errorf("raw transport calls %v, want %v", calls, c.calls)
			}
			if !bytes.Equal(order, wantRaw) {
				t.Errorf("raw order %v, want %v", order, wantRaw)
			}
			var got []int
			for _, d := range rest {
				got = append(got, int(d.B[0]))
			}
			if !slices.Equal(got, c.udpOrder) {
				t.Errorf("left for UDP %v, want %v", got, c.udpOrder)
			}
			wantErr := 0
			for _, n := range c.calls {
				if c.batch && n > 1 {
					wantErr++
				}
			}
			if e := u.Stats().OutSendErrors; e != uint64(wantErr) {
				t.Errorf("%d send errors, want %d", e, wantErr)
			}
		})
	}
}
