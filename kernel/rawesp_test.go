package kernel

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"sync"
	"testing"
)

// rawIPv4 builds an IPv4 header of protocol proto with hl bytes of header
// (options zero) in front of payload, as a raw socket delivers it.
func rawIPv4(src, dst string, hl int, proto byte, payload []byte) []byte {
	p := make([]byte, hl+len(payload))
	p[0] = 0x40 | byte(hl/4)
	binary.BigEndian.PutUint16(p[2:], uint16(len(p)))
	p[8], p[9] = 64, proto
	s, d := netip.MustParseAddr(src).As4(), netip.MustParseAddr(dst).As4()
	copy(p[12:], s[:])
	copy(p[16:], d[:])
	copy(p[hl:], payload)
	return p
}

// TestParseRawIPv4: the parser of what a raw IPv4 socket delivers
// strips the header (options included) and takes the addresses of whole
// protocol-50 packets only; trailing bytes past the total length (a
// link's padding) are not part of the ESP packet.
func TestParseRawIPv4(t *testing.T) {
	esp := []byte{0, 0, 0x10, 0x0a, 0, 0, 0, 1, 'p', 'a', 'y'}
	good := rawIPv4("192.0.2.1", "192.0.2.2", 20, 50, esp)
	withOpts := rawIPv4("192.0.2.1", "192.0.2.2", 24, 50, esp)
	set := func(p []byte, off int, v ...byte) []byte {
		q := bytes.Clone(p)
		copy(q[off:], v)
		return q
	}
	for _, c := range []struct {
		name string
		pkt  []byte
		want []byte // nil: refused
	}{
		{"plain", good, esp},
		{"options", withOpts, esp},
		{"padding after the packet", append(bytes.Clone(good), 0, 0, 0), esp},
		{"empty ESP", rawIPv4("192.0.2.1", "192.0.2.2", 20, 50, nil), []byte{}},
		{"short", good[:19], nil},
		{"empty", nil, nil},
		{"IPv6", set(good, 0, 0x65), nil},
		{"header length below 20", set(good, 0, 0x44), nil},
		{"header longer than the packet", set(rawIPv4("192.0.2.1", "192.0.2.2", 20, 50, nil), 0, 0x46), nil},
		{"total length beyond what was read", set(good, 2, 0x01, 0x00), nil},
		{"total length below the header", set(good, 2, 0, 19), nil},
		{"fragment: more fragments", set(good, 6, 0x20, 0), nil},
		{"fragment: offset", set(good, 6, 0, 8), nil},
		{"don't fragment is fine", set(good, 6, 0x40, 0), esp},
		{"UDP", rawIPv4("192.0.2.1", "192.0.2.2", 20, 17, esp), nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			src, dst, pl, err := parseRawIPv4(c.pkt)
			if c.want == nil {
				if err == nil || !errors.Is(err, errRawIPv4) {
					t.Fatalf("accepted (%v %v %x) or wrong error: %v", src, dst, pl, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(pl, c.want) || src != netip.MustParseAddr("192.0.2.1") || dst != netip.MustParseAddr("192.0.2.2") {
				t.Fatalf("got %v -> %v %x, want 192.0.2.1 -> 192.0.2.2 %x", src, dst, pl, c.want)
			}
		})
	}
}

// FuzzParseRawIPv4 feeds parseRawIPv4 arbitrary bytes: it never panics,
// and what it accepts is a version-4 protocol-50 unfragmented packet
// whose payload lies within the input at the header length and ends at
// the total length, with the addresses at offsets 12 and 16.
//
// Run it longer with
//
//	go test -run=NONE -fuzz='^FuzzParseRawIPv4$' -fuzztime=5m ./kernel/
func FuzzParseRawIPv4(f *testing.F) {
	esp := []byte{0, 0, 0x10, 0x0a, 0, 0, 0, 1, 'p', 'a', 'y'}
	f.Add(rawIPv4("192.0.2.1", "192.0.2.2", 20, 50, esp))
	f.Add(rawIPv4("192.0.2.1", "192.0.2.2", 60, 50, esp))
	f.Add(rawIPv4("10.0.0.1", "10.0.0.2", 20, 17, esp))
	f.Add(rawIPv4("10.0.0.1", "10.0.0.2", 20, 50, nil)[:19])
	f.Add([]byte{0x4f, 0, 0, 20})
	f.Add([]byte{0x45, 0, 0xff, 0xff, 0, 0, 0x20, 0, 64, 50, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, p []byte) {
		src, dst, pl, err := parseRawIPv4(p)
		if err != nil {
			if pl != nil || src.IsValid() || dst.IsValid() {
				t.Fatalf("refused %x but returned %v %v %x", p, src, dst, pl)
			}
			return
		}
		hl := int(p[0]&0x0f) * 4
		total := int(binary.BigEndian.Uint16(p[2:]))
		if p[0]>>4 != 4 || hl < 20 || p[9] != 50 || binary.BigEndian.Uint16(p[6:])&0x3fff != 0 || total > len(p) || total < hl {
			t.Fatalf("accepted %x", p)
		}
		if !bytes.Equal(pl, p[hl:total]) {
			t.Fatalf("payload %x of %x, want %x", pl, p, p[hl:total])
		}
		if src != netip.AddrFrom4([4]byte(p[12:16])) || dst != netip.AddrFrom4([4]byte(p[16:20])) {
			t.Fatalf("addresses %v %v of %x", src, dst, p)
		}
	})
}

// rawWire is a fake raw ESP transport between two dataplanes: what one
// sends raw arrives at the other through handleRawESP, and each send is
// recorded.
type rawWire struct {
	mu    sync.Mutex
	sends []netip.AddrPort // the remote of each raw send
	from  netip.Addr       // if valid: the source address the receiver sees
	drop  bool
}

func (rw *rawWire) attach(u, peer *Userspace) {
	u.setRawESP(&rawESP{send: func(l, r netip.AddrPort, p []byte) error {
		rw.mu.Lock()
		rw.sends = append(rw.sends, r)
		src, drop := l.Addr(), rw.drop
		if rw.from.IsValid() {
			src = rw.from
		}
		rw.mu.Unlock()
		if !drop {
			peer.handleRawESP(r.Addr(), src, p)
		}
		return nil
	}})
}

func (rw *rawWire) count() int {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	return len(rw.sends)
}

// TestUserspaceRawESP: an SA without encapsulation ports is refused
// without the raw transport (ErrNeedsUDPEncap) and accepted with it; its
// packets go through the raw transport, not the UDP sender, both ways;
// ESP in the other form than its SA's (UDP for a raw SA, raw for a UDP
// one), short packets and unknown SPIs are dropped and counted; a raw SA
// follows no source address; MOBIKE moves switch an SA between raw and
// UDP with its sequence numbers.
func TestUserspaceRawESP(t *testing.T) {
	a, b, ta, tb, _, w := newTestPair(t, -1)
	saA, saB := mirrorSAs(gcm128, 0, 0x7000a, 0x7000b, 5)
	saA.EncapLocalPort, saA.EncapRemotePort = 0, 0
	saB.EncapLocalPort, saB.EncapRemotePort = 0, 0

	if a.Capabilities().RawESP {
		t.Fatal("RawESP capability without the transport")
	}
	if err := a.AddChildSA(saA); !errors.Is(err, ErrNeedsUDPEncap) {
		t.Fatalf("raw SA without the transport: %v", err)
	}
	if err := a.MoveChildSA(saA, netip.AddrPortFrom(gwA, 0), netip.AddrPortFrom(gwB, 0)); !errors.Is(err, ErrNeedsUDPEncap) {
		t.Fatalf("move to raw without the transport: %v", err)
	}
	var ab, ba rawWire
	ab.attach(a, b)
	ba.attach(b, a)
	if !a.Capabilities().RawESP {
		t.Fatal("no RawESP capability with the transport")
	}
	half := *saA
	half.EncapRemotePort = 4500
	if err := a.AddChildSA(&half); err == nil {
		t.Fatal("an SA with one encapsulation port accepted")
	}
	if err := a.AddChildSA(saA); err != nil {
		t.Fatal(err)
	}
	if err := b.AddChildSA(saB); err != nil {
		t.Fatal(err)
	}
	udpSends := 0
	w.hook = func(bool, []byte) []byte { udpSends++; return nil }

	ta.in <- ipv4("10.1.0.1", "10.2.0.5", []byte("raw a->b"))
	if got := recv(t, tb); !bytes.Contains(got, []byte("raw a->b")) {
		t.Fatalf("B got %x", got)
	}
	tb.in <- ipv4("10.2.0.5", "10.1.0.1", []byte("raw b->a"))
	if got := recv(t, ta); !bytes.Contains(got, []byte("raw b->a")) {
		t.Fatalf("A got %x", got)
	}
	if ab.count() != 1 || ba.count() != 1 || udpSends != 0 {
		t.Fatalf("raw sends %d/%d, UDP sends %d; want 1/1/0", ab.count(), ba.count(), udpSends)
	}
	if ab.sends[0] != netip.AddrPortFrom(gwB, 0) {
		t.Fatalf("raw send to %v, want %v port 0", ab.sends[0], gwB)
	}

	// Capture one genuine packet of A's, then offer it in UDP: refused.
	ab.drop = true
	ta.in <- ipv4("10.1.0.1", "10.2.0.5", []byte("captured"))
	waitUntil(t, "A's raw send", func() bool { return ab.count() == 2 })
	capc := make(chan []byte, 1)
	a.setRawESP(&rawESP{send: func(_, _ netip.AddrPort, p []byte) error { capc <- bytes.Clone(p); return nil }})
	ta.in <- ipv4("10.1.0.1", "10.2.0.5", []byte("captured"))
	captured := <-capc
	before := b.Stats()
	b.HandleESP(netip.AddrPortFrom(gwB, 4500), netip.AddrPortFrom(gwA, 4500), captured)
	noRecv(t, tb)
	if got := b.Stats().InRejected - before.InRejected; got != 1 {
		t.Fatalf("ESP-in-UDP for a raw SA: %d rejected, want 1", got)
	}
	// The same packet raw from another address: taken, and B still sends
	// to A's installed address (no following).
	b.handleRawESP(gwB, netip.MustParseAddr("198.51.100.9"), captured)
	recv(t, tb)
	ab = rawWire{}
	ab.attach(a, b)
	tb.in <- ipv4("10.2.0.5", "10.1.0.1", []byte("still to A"))
	recv(t, ta)
	if last := ba.sends[len(ba.sends)-1]; last != netip.AddrPortFrom(gwA, 0) {
		t.Fatalf("B sent to %v after a raw packet from elsewhere, want %v", last, gwA)
	}

	// Drops of the raw path, counted like the UDP path's.
	before = b.Stats()
	b.handleRawESP(gwB, gwA, []byte{1, 2, 3})
	b.handleRawESP(gwB, gwA, []byte{0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 1, 0, 0, 0, 0})
	st := b.Stats()
	if st.InRejected-before.InRejected != 1 || st.InUnknownSPI-before.InUnknownSPI != 1 {
		t.Fatalf("short and unknown-SPI raw packets: rejected +%d, unknown SPI +%d; want 1 and 1",
			st.InRejected-before.InRejected, st.InUnknownSPI-before.InUnknownSPI)
	}

	// MOBIKE: both ends move to UDP (a NAT appeared), then back to raw.
	udpA, udpB := netip.AddrPortFrom(gwA, 4500), netip.AddrPortFrom(gwB, 4500)
	if err := a.MoveChildSA(saA, udpA, udpB); err != nil {
		t.Fatal(err)
	}
	if err := b.MoveChildSA(saB, udpB, udpA); err != nil {
		t.Fatal(err)
	}
	saA.Move(udpA, udpB)
	saB.Move(udpB, udpA)
	w.mu.Lock()
	w.hook = func(_ bool, p []byte) []byte { udpSends++; return p }
	w.mu.Unlock()
	// A raw packet for the now encapsulated SA is refused.
	before = b.Stats()
	b.handleRawESP(gwB, gwA, captured)
	if b.Stats().InRejected-before.InRejected != 1 {
		t.Fatal("raw ESP for a UDP-encapsulated SA not refused")
	}
	rawBefore := ab.count()
	ta.in <- ipv4("10.1.0.1", "10.2.0.5", []byte("udp a->b"))
	recv(t, tb)
	tb.in <- ipv4("10.2.0.5", "10.1.0.1", []byte("udp b->a"))
	recv(t, ta)
	if udpSends != 2 || ab.count() != rawBefore {
		t.Fatalf("after the move to UDP: %d UDP sends, %d raw; want 2, 0", udpSends, ab.count()-rawBefore)
	}
	rawA, rawB := netip.AddrPortFrom(gwA, 0), netip.AddrPortFrom(gwB, 0)
	if err := a.MoveChildSA(saA, rawA, netip.AddrPortFrom(gwB, 4500)); err == nil {
		t.Fatal("a move with one encapsulation port accepted")
	}
	if err := a.MoveChildSA(saA, rawA, rawB); err != nil {
		t.Fatal(err)
	}
	if err := b.MoveChildSA(saB, rawB, rawA); err != nil {
		t.Fatal(err)
	}
	ta.in <- ipv4("10.1.0.1", "10.2.0.5", []byte("raw again"))
	recv(t, tb)
	if ab.count() != rawBefore+1 || udpSends != 2 {
		t.Fatalf("after the move back to raw: %d raw sends, %d UDP", ab.count()-rawBefore, udpSends-2)
	}
	in, _, _, _ := b.SACounters(saB)
	if in.ReplayDrops+in.AuthFailures != 0 {
		t.Fatalf("drops on genuine packets across the moves: %+v", in)
	}
}
