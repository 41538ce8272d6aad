package kernel

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"ikegate/policy"
)

// TestDataplaneContract checks the parts of policy.Dataplane every
// backend without a kernel dependency has: Capabilities, the unsupported
// traps, Counters by inbound SPI, Installed, Events, Stats and the
// ESP-in-UDP hooks.
func TestDataplaneContract(t *testing.T) {
	for _, tc := range []struct {
		name string
		open func(t *testing.T) policy.Dataplane
		caps policy.Capabilities
	}{
		{
			name: "none",
			open: func(*testing.T) policy.Dataplane { return newNone(nil) },
			caps: policy.Capabilities{Move: true},
		},
		{
			name: "userspace",
			open: func(t *testing.T) policy.Dataplane {
				return newUserspaceWith(zaptest.NewLogger(t), UserspaceConfig{Workers: -1}, newFakeTUN(),
					&fakeRoutes{routes: map[netip.Prefix]int{}})
			},
			caps: policy.Capabilities{Counters: true, LastInbound: true, ESPInUDP: true, Drops: true, Move: true, Resume: true},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dp := tc.open(t)
			defer dp.Close()
			if got := dp.Capabilities(); got != tc.caps {
				t.Fatalf("Capabilities() = %+v, want %+v", got, tc.caps)
			}

			conn := &policy.Connection{Name: "trapped", LocalAddr: gwA, RemoteAddr: gwB, Start: policy.StartTrap}
			for op, err := range map[string]error{
				"InstallTrap": dp.InstallTrap(conn, dp.AllocReqID()),
				"RemoveTrap":  dp.RemoveTrap(conn),
			} {
				if !errors.Is(err, errors.ErrUnsupported) {
					t.Errorf("%s: %v, want errors.ErrUnsupported", op, err)
				}
				if err == nil || !strings.Contains(err.Error(), `start = "trap" needs dataplane = "xfrm"`) || !strings.Contains(err.Error(), `"trapped"`) {
					t.Errorf("%s: error %q does not say what is needed", op, err)
				}
			}
			if (dp.Events() != nil) != tc.caps.Events {
				t.Errorf("Events() = %v with Capabilities().Events %v", dp.Events(), tc.caps.Events)
			}
			if got := dp.Stats(); got != (policy.DataplaneStats{}) {
				t.Errorf("Stats() of a fresh dataplane = %+v", got)
			}

			// Two CHILD SAs, the later with the lower reqid: Installed
			// sorts by reqid, then inbound SPI.
			sa1, _ := mirrorSAs(gcm128, 0, 0x5000a, 0x5000b, 1)
			sa1.ReqID = 9
			sa2, _ := mirrorSAs(gcm128, 0, 0x6000a, 0x6000b, 2)
			sa2.ReqID = 3
			sa2.RemoteTS = []netip.Prefix{netip.MustParsePrefix("10.3.0.0/24")}
			for _, sa := range []*policy.ChildSA{sa1, sa2} {
				if err := dp.AddChildSA(sa); err != nil {
					t.Fatal(err)
				}
			}
			inst := dp.Installed()
			if len(inst) != 2 || inst[0].SPIIn != sa2.SPIIn || inst[1].SPIIn != sa1.SPIIn {
				t.Fatalf("Installed() = %+v, want the SAs with SPI in %#x then %#x", inst, sa2.SPIIn, sa1.SPIIn)
			}
			for _, sa := range inst {
				// No backend keeps the key bytes beside its ciphers.
				if sa.EncKeyIn != nil || sa.EncKeyOut != nil || sa.IntegKeyIn != nil || sa.IntegKeyOut != nil {
					t.Errorf("Installed() has keys: %+v", sa)
				}
			}
			inst[0].RemoteTS[0] = netip.MustParsePrefix("192.0.2.0/24")
			if dp.Installed()[0].RemoteTS[0] != sa2.RemoteTS[0] {
				t.Fatal("Installed() shares memory with the dataplane")
			}

			for _, c := range []struct {
				name  string
				spiIn uint32
				ok    bool
			}{
				{"installed", sa1.SPIIn, tc.caps.Counters},
				{"other installed", sa2.SPIIn, tc.caps.Counters},
				{"outbound SPI", sa1.SPIOut, false},
				{"unknown", 0xdead, false},
				{"zero", 0, false},
			} {
				got, ok := dp.Counters(c.spiIn)
				if ok != c.ok || got != (policy.ChildCounters{}) {
					t.Errorf("Counters(%s %#x) = %+v, %v; want no traffic, ok %v", c.name, c.spiIn, got, ok, c.ok)
				}
			}

			// Without ESPInUDP the hooks are no-ops; with it, ESP for an
			// unknown SPI is counted.
			dp.SetSender(func(netip.AddrPort, netip.AddrPort, []byte) error { return nil })
			dp.HandleESP(netip.AddrPortFrom(gwA, 4500), netip.AddrPortFrom(gwB, 4500), []byte{0, 0, 0xde, 0xad, 0, 0, 0, 1, 9, 9, 9, 9})
			dp.SetSender(nil)
			want := policy.DataplaneStats{}
			if tc.caps.ESPInUDP {
				want.InUnknownSPI = 1
			}
			if got := dp.Stats(); got != want {
				t.Errorf("Stats() after ESP for an unknown SPI = %+v, want %+v", got, want)
			}

			if err := dp.DelChildSA(sa1); err != nil {
				t.Fatal(err)
			}
			if _, ok := dp.Counters(sa1.SPIIn); ok {
				t.Error("Counters of a deleted SA")
			}
			if inst := dp.Installed(); len(inst) != 1 || inst[0].SPIIn != sa2.SPIIn {
				t.Fatalf("Installed() after DelChildSA = %+v", inst)
			}
			if err := dp.Close(); err != nil {
				t.Fatal(err)
			}
			if n := len(dp.Installed()); n != 0 {
				t.Fatalf("%d SAs installed after Close", n)
			}
		})
	}
}

// sealGCM builds an ESP packet for an AES-GCM-16 SA (key with 4-byte salt)
// whose ICV is valid and whose plaintext is exactly plain, so that tests
// can send what Encapsulate never would.
func sealGCM(t *testing.T, key []byte, spi, seq uint32, plain []byte) []byte {
	t.Helper()
	block, err := aes.NewCipher(key[:len(key)-4])
	if err != nil {
		t.Fatal(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	pkt := binary.BigEndian.AppendUint32(nil, spi)
	pkt = binary.BigEndian.AppendUint32(pkt, seq)
	iv := binary.BigEndian.AppendUint64(nil, uint64(seq))
	nonce := append(append([]byte(nil), key[len(key)-4:]...), iv...)
	aad := bytes.Clone(pkt)
	pkt = append(pkt, iv...)
	return aead.Seal(pkt, nonce, plain, aad)
}

// TestUserspaceDataplaneCounters: Counters(spiIn) of the userspace
// dataplane follows traffic and drops step by step, per inbound SPI, and
// LastInbound moves only with inbound traffic.
func TestUserspaceDataplaneCounters(t *testing.T) {
	a, b, ta, tb, _, w := newTestPair(t, -1)
	saA, saB := mirrorSAs(gcm128, 0, 0x7000a, 0x7000b, 5)
	// B may send from all of 10/8; A accepts only from 10.2.0.0/24.
	saB.LocalTS = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	if err := a.AddChildSA(saA); err != nil {
		t.Fatal(err)
	}
	if err := b.AddChildSA(saB); err != nil {
		t.Fatal(err)
	}
	la, lb := netip.AddrPortFrom(gwA, 4500), netip.AddrPortFrom(gwB, 4500)

	p := ipv4("10.1.0.1", "10.2.0.5", []byte("hello"))
	r := ipv4("10.2.0.5", "10.1.0.1", []byte("world!"))
	outside := ipv4("10.7.0.1", "10.1.0.1", []byte("outside"))
	lp, lr, lo := uint64(len(p)), uint64(len(r)), uint64(len(outside))

	start := time.Now()
	for _, s := range []struct {
		name         string
		do           func(t *testing.T)
		wantA, wantB policy.ChildCounters // LastInbound: zero, or any time since start
	}{
		{
			name: "A to B",
			do: func(t *testing.T) {
				ta.in <- p
				recv(t, tb)
			},
			wantA: policy.ChildCounters{OutPackets: 1, OutBytes: lp},
			wantB: policy.ChildCounters{InPackets: 1, InBytes: lp, LastInbound: start},
		},
		{
			name: "B to A",
			do: func(t *testing.T) {
				tb.in <- r
				recv(t, ta)
			},
			wantA: policy.ChildCounters{OutPackets: 1, OutBytes: lp, InPackets: 1, InBytes: lr, LastInbound: start},
			wantB: policy.ChildCounters{InPackets: 1, InBytes: lp, OutPackets: 1, OutBytes: lr, LastInbound: start},
		},
		{
			// Hold back an A->B datagram; B gets a corrupted copy
			// (integrity failure), the genuine one, then it again (replay).
			name: "corrupted, genuine, replayed",
			do: func(t *testing.T) {
				held := make(chan []byte, 1)
				w.mu.Lock()
				w.hook = func(fromA bool, d []byte) []byte {
					if fromA {
						held <- d
						return nil
					}
					return d
				}
				w.mu.Unlock()
				ta.in <- p
				var d []byte
				select {
				case d = <-held:
				case <-time.After(5 * time.Second):
					t.Fatal("A sent nothing")
				}
				w.mu.Lock()
				w.hook = nil
				w.mu.Unlock()
				bad := bytes.Clone(d)
				bad[len(bad)-1] ^= 1
				b.HandleESP(lb, la, bad)
				b.HandleESP(lb, la, d)
				recv(t, tb)
				b.HandleESP(lb, la, d)
			},
			wantA: policy.ChildCounters{OutPackets: 2, OutBytes: 2 * lp, InPackets: 1, InBytes: lr, LastInbound: start},
			wantB: policy.ChildCounters{InPackets: 2, InBytes: 2 * lp, OutPackets: 1, OutBytes: lr, LastInbound: start,
				ReplayDrops: 1, AuthFailures: 1},
		},
		{
			// Decrypted (so counted as received) but outside A's selectors.
			name: "B to A outside the selectors",
			do:   func(*testing.T) { tb.in <- outside },
			wantA: policy.ChildCounters{OutPackets: 2, OutBytes: 2 * lp, InPackets: 2, InBytes: lr + lo, LastInbound: start,
				OutsideTSDrops: 1},
			wantB: policy.ChildCounters{InPackets: 2, InBytes: 2 * lp, OutPackets: 2, OutBytes: lr + lo, LastInbound: start,
				ReplayDrops: 1, AuthFailures: 1},
		},
		{
			// Two truncated, one authentic with bad padding.
			name: "malformed and bad padding",
			do: func(t *testing.T) {
				short := binary.BigEndian.AppendUint32(nil, saB.SPIIn)
				short = append(short, make([]byte, 12)...)
				b.HandleESP(lb, la, short)
				b.HandleESP(lb, la, short[:len(short)-1])
				b.HandleESP(lb, la, sealGCM(t, saA.EncKeyOut, saB.SPIIn, 10, []byte{0, 0, 0, 0, 2, 255}))
			},
			wantA: policy.ChildCounters{OutPackets: 2, OutBytes: 2 * lp, InPackets: 2, InBytes: lr + lo, LastInbound: start,
				OutsideTSDrops: 1},
			wantB: policy.ChildCounters{InPackets: 2, InBytes: 2 * lp, OutPackets: 2, OutBytes: lr + lo, LastInbound: start,
				ReplayDrops: 1, AuthFailures: 1, Malformed: 2, PadErrors: 1},
		},
	} {
		t.Run(s.name, func(t *testing.T) {
			s.do(t)
			for _, side := range []struct {
				name  string
				u     *Userspace
				spiIn uint32
				want  policy.ChildCounters
			}{
				{"A", a, saA.SPIIn, s.wantA},
				{"B", b, saB.SPIIn, s.wantB},
			} {
				var got policy.ChildCounters
				var ok bool
				match := func() bool {
					got, ok = side.u.Counters(side.spiIn)
					g, w := got, side.want
					g.LastInbound, w.LastInbound = time.Time{}, time.Time{}
					g.SeqOut, g.SeqIn = 0, 0 // checked below
					return ok && g == w
				}
				deadline := time.Now().Add(5 * time.Second)
				for !match() && time.Now().Before(deadline) {
					time.Sleep(2 * time.Millisecond)
				}
				if !ok || !match() {
					t.Fatalf("%s: Counters(%#x) = %+v, %v; want %+v", side.name, side.spiIn, got, ok, side.want)
				}
				// Every packet sent took a sequence number; every one
				// accepted moved the replay window (so did those that
				// failed after the integrity check).
				if uint64(got.SeqOut) != got.OutPackets || uint64(got.SeqIn) < got.InPackets {
					t.Fatalf("%s: sequence numbers out %d in %d for %d packets out, %d in", side.name, got.SeqOut, got.SeqIn, got.OutPackets, got.InPackets)
				}
				if side.want.LastInbound.IsZero() != got.LastInbound.IsZero() ||
					(!got.LastInbound.IsZero() && (got.LastInbound.Before(start) || got.LastInbound.After(time.Now()))) {
					t.Fatalf("%s: LastInbound %v, want %v (zero: never; else since the test started)", side.name, got.LastInbound, side.want.LastInbound)
				}
			}
		})
	}

	// LastInbound stands still without inbound traffic (and matches the
	// older LastInbound(sa)).
	c1, _ := b.Counters(saB.SPIIn)
	time.Sleep(5 * time.Millisecond)
	c2, _ := b.Counters(saB.SPIIn)
	if !c1.LastInbound.Equal(c2.LastInbound) || !b.LastInbound(saB).Equal(c2.LastInbound) {
		t.Fatalf("LastInbound moved without traffic: %v, %v, %v", c1.LastInbound, c2.LastInbound, b.LastInbound(saB))
	}
	// Counters go by inbound SPI: A's inbound SPI is unknown to B.
	if got, ok := b.Counters(saA.SPIIn); ok {
		t.Fatalf("B: Counters(A's inbound SPI) = %+v", got)
	}
	if err := b.DelChildSA(saB); err != nil {
		t.Fatal(err)
	}
	if _, ok := b.Counters(saB.SPIIn); ok {
		t.Fatal("Counters of a deleted SA")
	}
}
