//go:build linux

package gateway

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"
	"unsafe"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"ikegate/policy"
)

// cmsg builds one control message as the kernel lays it out.
func cmsg(level, typ int32, data []byte) []byte {
	b := make([]byte, unix.CmsgSpace(len(data)))
	h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
	h.Level, h.Type = level, typ
	h.SetLen(unix.CmsgLen(len(data)))
	copy(b[unix.CmsgLen(0):], data)
	return b
}

func le32(v int32) []byte { return binary.NativeEndian.AppendUint32(nil, uint32(v)) }

// TestGROSegment: the UDP_GRO segment size is read from the control
// data, other messages skipped; anything malformed or unexpected is
// refused (the datagram is then dropped, not guessed at).
func TestGROSegment(t *testing.T) {
	gro := cmsg(unix.SOL_UDP, unix.UDP_GRO, le32(1438))
	other := cmsg(unix.SOL_SOCKET, unix.SO_TIMESTAMP, make([]byte, 16))
	for _, tc := range []struct {
		name string
		oob  []byte
		seg  int
		ok   bool
	}{
		{"none", nil, 0, true},
		{"gro", gro, 1438, true},
		{"other then gro", slices.Concat(other, gro), 1438, true},
		{"other only", other, 0, true},
		{"short header", gro[:unix.SizeofCmsghdr-1], 0, false},
		{"length past the buffer", gro[:unix.CmsgLen(4)-1], 0, false},
		{"length below the header", func() []byte { b := bytes.Clone(gro); b[0] = 3; return b }(), 0, false},
		{"no data", cmsg(unix.SOL_UDP, unix.UDP_GRO, nil), 0, false},
		{"zero size", cmsg(unix.SOL_UDP, unix.UDP_GRO, le32(0)), 0, false},
		{"negative size", cmsg(unix.SOL_UDP, unix.UDP_GRO, le32(-5)), 0, false},
		{"huge size", cmsg(unix.SOL_UDP, unix.UDP_GRO, le32(70000)), 0, false},
		{"garbage after", slices.Concat(gro, []byte{1, 2, 3}), 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			seg, ok := groSegment(tc.oob)
			if seg != tc.seg || ok != tc.ok {
				t.Fatalf("groSegment = %d, %v; want %d, %v", seg, ok, tc.seg, tc.ok)
			}
		})
	}
}

// FuzzGROSegment: whatever control data and payload come, reading the
// segment size never panics, and splitting by it gives back the payload
// in segments of that size (the last possibly shorter).
func FuzzGROSegment(f *testing.F) {
	f.Add(cmsg(unix.SOL_UDP, unix.UDP_GRO, le32(100)), bytes.Repeat([]byte{1}, 350))
	f.Add(slices.Concat(cmsg(unix.SOL_SOCKET, unix.SO_TIMESTAMP, make([]byte, 16)), cmsg(unix.SOL_UDP, unix.UDP_GRO, le32(3))), []byte("abcdefgh"))
	f.Add([]byte{}, []byte{0xFF})
	f.Add(cmsg(unix.SOL_UDP, unix.UDP_GRO, le32(0)), []byte{1})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x11, 0, 0, 0, 0x68, 0, 0, 0}, []byte{})
	f.Fuzz(func(t *testing.T, oob, payload []byte) {
		seg, ok := groSegment(oob)
		if !ok {
			return
		}
		if seg < 0 || seg > 65535 {
			t.Fatalf("segment size %d", seg)
		}
		var joined []byte
		var segs [][]byte
		for s := range groSegments(payload, seg) {
			joined = append(joined, s...)
			segs = append(segs, s)
		}
		if !bytes.Equal(joined, payload) {
			t.Fatal("segments do not add up to the payload")
		}
		if seg > 0 && len(payload) > seg {
			for i, s := range segs {
				if len(s) > seg || (i < len(segs)-1 && len(s) != seg) || len(s) == 0 {
					t.Fatalf("segment %d of %d bytes, size %d", i, len(s), seg)
				}
			}
		}
	})
}

// espGateway is a gateway with only the NAT-T socket s, for sending ESP
// batches.
func espGateway(s *socket) *Gateway {
	return &Gateway{log: zap.NewNop(), socks: []*socket{s}, byLocal: map[netip.AddrPort]*socket{s.local: s}}
}

// setGRO turns UDP_GRO on or off on s.
func setGRO(t testing.TB, s *socket, on bool) {
	t.Helper()
	v := 0
	if on {
		v = 1
	}
	var err error
	if cerr := s.rc.Control(func(fd uintptr) { err = unix.SetsockoptInt(int(fd), unix.SOL_UDP, unix.UDP_GRO, v) }); cerr != nil {
		err = cerr
	}
	if err != nil {
		t.Fatalf("UDP_GRO: %v", err)
	}
}

// readSegments reads n datagrams from s, splitting coalesced ones, and
// reports whether any came coalesced.
func readSegments(t testing.TB, s *socket, r *batchReader, n int) (got [][]byte, coalesced bool) {
	t.Helper()
	s.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for len(got) < n {
		msgs, err := r.read()
		if err != nil {
			t.Fatalf("read after %d of %d datagrams: %v", len(got), n, err)
		}
		for _, m := range msgs {
			if m.badGRO || m.truncated {
				t.Fatalf("bad datagram: %+v", m)
			}
			coalesced = coalesced || m.seg > 0
			for seg := range groSegments(m.b, m.seg) {
				got = append(got, bytes.Clone(seg))
			}
		}
	}
	return got, coalesced
}

// espBatch is a batch as the dataplane sends it: runs of equal-size
// datagrams (full-size ESP of TCP segments) with shorter ones between.
func espBatch(from, to netip.AddrPort) []policy.ESPDatagram {
	var ds []policy.ESPDatagram
	add := func(size int) {
		p := make([]byte, size)
		binary.BigEndian.PutUint32(p, uint32(len(ds)+1))
		for i := 4; i < size; i++ {
			p[i] = byte(len(ds))
		}
		ds = append(ds, policy.ESPDatagram{Local: from, Remote: to, B: p})
	}
	for range 70 { // more than one GSO send holds
		add(1438)
	}
	add(400)
	add(90)
	for range 20 {
		add(1438)
	}
	add(1438)
	return ds
}

// TestESPBatchSend: a batch sent with UDP GSO (or plain sendmmsg where
// it is off) arrives whole and in order, whether the receiver takes it
// coalesced (UDP GRO) or datagram by datagram; with both on the kernel
// really coalesces; a datagram for the wrong address family fails alone
// and is counted.
func TestESPBatchSend(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		for _, gso := range []bool{true, false} {
			for _, gro := range []bool{true, false} {
				t.Run(fmt.Sprintf("v6=%v/gso=%v/gro=%v", v6, gso, gro), func(t *testing.T) {
					from, to := udpPair(t, v6, true)
					g := espGateway(from)
					if gso {
						enableUDPOffloads(from, zap.NewNop())
						if !from.gso.Load() {
							t.Fatal("the kernel has no UDP GSO")
						}
					}
					setGRO(t, to, gro)
					r, err := newBatchReader(to.conn, recvBatch, recvBufSize)
					if err != nil {
						t.Fatal(err)
					}
					ds := espBatch(from.local, to.local)
					other := netip.MustParseAddrPort("[2001:db8::1]:4500")
					if v6 {
						other = netip.MustParseAddrPort("192.0.2.1:4500")
					}
					ds = slices.Insert(ds, 10, policy.ESPDatagram{Local: from.local, Remote: other, B: []byte{1, 2, 3, 4, 5, 6, 7, 8}})
					if failed := g.sendESPBatch(ds); failed != 1 {
						t.Fatalf("%d failed, want 1 (the wrong family)", failed)
					}
					want := slices.Delete(slices.Clone(ds), 10, 11)
					got, coalesced := readSegments(t, to, r, len(want))
					for i := range want {
						if !bytes.Equal(got[i], want[i].B) {
							t.Fatalf("datagram %d: got %d bytes starting %x, want %d starting %x",
								i, len(got[i]), got[i][:4], len(want[i].B), want[i].B[:4])
						}
					}
					if gso && gro && !coalesced {
						t.Error("GSO sent and GRO on, but nothing arrived coalesced")
					}
					if !gro && coalesced {
						t.Error("coalesced datagrams without UDP_GRO")
					}
					if n := g.stats.out[KindESP].Load(); n != uint64(len(want)) {
						t.Errorf("%d ESP datagrams counted sent, want %d", n, len(want))
					}
					if n := g.stats.drops[ReasonSendError].Load(); n != 1 {
						t.Errorf("%d send errors counted, want 1", n)
					}
				})
			}
		}
	}
}

// TestESPBatchGSORefused: where the kernel refuses a GSO send (here
// because the socket sends without UDP checksums, SO_NO_CHECK: EINVAL),
// the socket drops GSO and the batch goes out datagram by datagram,
// nothing lost.
func TestESPBatchGSORefused(t *testing.T) {
	from, to := udpPair(t, false, true)
	var err error
	if cerr := from.rc.Control(func(fd uintptr) { err = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_NO_CHECK, 1) }); cerr != nil {
		err = cerr
	}
	if err != nil {
		t.Fatalf("SO_NO_CHECK: %v", err)
	}
	g := espGateway(from)
	enableUDPOffloads(from, zap.NewNop())
	if !from.gso.Load() {
		t.Fatal("the kernel has no UDP GSO")
	}
	setGRO(t, to, true)
	r, err := newBatchReader(to.conn, recvBatch, recvBufSize)
	if err != nil {
		t.Fatal(err)
	}
	ds := espBatch(from.local, to.local)
	if failed := g.sendESPBatch(ds); failed != 0 {
		t.Fatalf("%d failed", failed)
	}
	if from.gso.Load() {
		t.Error("GSO still on after the kernel refused it")
	}
	got, _ := readSegments(t, to, r, len(ds))
	for i := range ds {
		if !bytes.Equal(got[i], ds[i].B) {
			t.Fatalf("datagram %d differs", i)
		}
	}
	if n := g.stats.out[KindESP].Load(); n != uint64(len(ds)) {
		t.Errorf("%d ESP datagrams counted sent, want %d", n, len(ds))
	}
}

// BenchmarkESPBatchSend: a batch of 64 full-size ESP datagrams (1438
// bytes: a 1400-byte inner packet in AES-GCM-128 ESP) sent to one peer
// and read back, with UDP GSO and GRO versus plain sendmmsg/recvmmsg.
func BenchmarkESPBatchSend(b *testing.B) {
	for _, off := range []bool{true, false} {
		b.Run(fmt.Sprintf("gso+gro=%v", off), func(b *testing.B) {
			from, to := udpPair(b, false, true)
			g := espGateway(from)
			if off {
				enableUDPOffloads(from, zap.NewNop())
			}
			setGRO(b, to, off)
			r, err := newBatchReader(to.conn, recvBatch, recvBufSize)
			if err != nil {
				b.Fatal(err)
			}
			ds := make([]policy.ESPDatagram, 64)
			for i := range ds {
				ds[i] = policy.ESPDatagram{Local: from.local, Remote: to.local, B: bytes.Repeat([]byte{byte(i + 1)}, 1438)}
			}
			b.SetBytes(int64(64 * 1438))
			b.ReportAllocs()
			for b.Loop() {
				if failed := g.sendESPBatch(ds); failed != 0 {
					b.Fatalf("%d failed", failed)
				}
				for n := 0; n < len(ds); {
					msgs, err := r.read()
					if err != nil {
						b.Fatal(err)
					}
					for _, m := range msgs {
						for range groSegments(m.b, m.seg) {
							n++
						}
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(ds)), "ns/datagram")
		})
	}
}
