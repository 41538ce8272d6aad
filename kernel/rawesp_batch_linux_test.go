//go:build linux

package kernel

import (
	"bytes"
	"fmt"
	"net/netip"
	"testing"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"
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
