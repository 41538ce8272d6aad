package kernel

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sync"
	"testing"
	"time"

	"ikegate/policy"
)

// udp4 is an IPv4 UDP packet from src:sport to dst:dport.
func udp4(src, dst string, sport, dport uint16, payload []byte) []byte {
	p := ipv4(src, dst, append(make([]byte, 0, len(payload)), payload...))
	binary.BigEndian.PutUint16(p[20:], sport)
	binary.BigEndian.PutUint16(p[22:], dport)
	return p
}

// TestFlowQueue: a flow's packets, either way, always get the same
// queue; different flows of one host pair spread over the queues; a
// fragment (no ports) goes by its addresses; what is not IP, or is
// truncated, goes to queue 0 without a panic.
func TestFlowQueue(t *testing.T) {
	for _, n := range []int{2, 3, 8} {
		seen := map[int]bool{}
		for port := range uint16(64) {
			q := flowQueue(udp4("10.1.0.1", "10.2.0.5", 40000+port, 443, []byte("x")), n)
			if q < 0 || q >= n {
				t.Fatalf("n=%d: queue %d", n, q)
			}
			if r := flowQueue(udp4("10.2.0.5", "10.1.0.1", 443, 40000+port, []byte("yy")), n); r != q {
				t.Errorf("n=%d port %d: queue %d one way, %d the other", n, port, q, r)
			}
			if r := flowQueue(udp4("10.1.0.1", "10.2.0.5", 40000+port, 443, make([]byte, 1000)), n); r != q {
				t.Errorf("n=%d port %d: queue %d, then %d for a longer packet", n, port, q, r)
			}
			seen[q] = true
		}
		if len(seen) != n {
			t.Errorf("n=%d: 64 flows of one host pair used queues %v", n, seen)
		}
	}
	// A later fragment has no ports: it goes by addresses (and protocol)
	// like the first fragment with zero ports would.
	frag := udp4("10.1.0.1", "10.2.0.5", 1, 2, []byte("x"))
	binary.BigEndian.PutUint16(frag[6:], 100) // fragment offset
	noPorts := udp4("10.1.0.1", "10.2.0.5", 0, 0, []byte("x"))
	if flowQueue(frag, 8) != flowQueue(noPorts, 8) {
		t.Error("a fragment's queue depends on bytes that are not ports")
	}
	// IPv6: ports count too.
	v6 := func(sport uint16) []byte {
		p := make([]byte, 48)
		p[0], p[6] = 0x60, 6
		copy(p[8:], netip.MustParseAddr("2001:db8::1").AsSlice())
		copy(p[24:], netip.MustParseAddr("2001:db8::2").AsSlice())
		binary.BigEndian.PutUint16(p[40:], sport)
		return p
	}
	seen := map[int]bool{}
	for port := range uint16(32) {
		seen[flowQueue(v6(1000+port), 2)] = true
	}
	if len(seen) != 2 {
		t.Errorf("32 IPv6 flows used queues %v", seen)
	}
	for _, p := range [][]byte{nil, {0x45}, {0x60, 0}, make([]byte, 19), {0x10, 0, 0, 0}} {
		if q := flowQueue(p, 4); q != 0 {
			t.Errorf("flowQueue(%x) = %d, want 0", p, q)
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 10000 {
		p := make([]byte, r.IntN(60))
		for i := range p {
			p[i] = byte(r.Uint32())
		}
		if len(p) > 0 {
			p[0] = p[0]&0x0f | []byte{0x40, 0x60}[r.IntN(2)]
		}
		if q := flowQueue(p, 3); q < 0 || q >= 3 {
			t.Fatalf("flowQueue(%x) = %d", p, q)
		}
	}
}

// TestUserspaceQueues drives a dataplane over two (fake) TUN queues:
// both readers take packets of one SA at once (inline and with workers)
// and every packet leaves once with its own sequence number, in
// sequence order, each queue's reads counted; an inbound batch of several flows is written per flow
// to the flow's queue, each flow's packets in order; Close closes both
// queues.
func TestUserspaceQueues(t *testing.T) {
	for _, workers := range []int{-1, 2} {
		t.Run(fmt.Sprintf("workers=%d", workers), func(t *testing.T) {
			q0, q1 := newFakeTUN(), newFakeTUN()
			q0.batch, q1.batch = 8, 8
			u := newUserspaceQueues(nil, UserspaceConfig{Workers: workers, Queue: 4096}, []tunDevice{q0, q1}, nil)
			defer u.Close()
			sa, _ := mirrorSAs(gcm128, 0, 0x9700a, 0x9700b, 17)
			if err := u.AddChildSA(sa); err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			seqs := map[uint32]int{}
			var highest uint32
			late := 0
			u.SetBatchSender(func(ds []policy.ESPDatagram) int {
				mu.Lock()
				defer mu.Unlock()
				for _, d := range ds {
					seq := binary.BigEndian.Uint32(d.B[4:8])
					seqs[seq]++
					if seq < highest {
						late++
					}
					highest = max(highest, seq)
				}
				return 0
			})
			const per = 2000
			var wg sync.WaitGroup
			for k, q := range []*fakeTUN{q0, q1} {
				wg.Go(func() {
					for i := range per {
						q.in <- udp4("10.1.0.1", "10.2.0.5", uint16(1000*k+i%7), 80, []byte("payload"))
					}
				})
			}
			wg.Wait()
			waitUntil(t, "all packets sent", func() bool {
				mu.Lock()
				defer mu.Unlock()
				return len(seqs) >= 2*per
			})
			mu.Lock()
			for seq := uint32(1); seq <= 2*per; seq++ {
				if seqs[seq] != 1 {
					t.Errorf("sequence number %d used %d times", seq, seqs[seq])
				}
			}
			if len(seqs) != 2*per {
				t.Errorf("%d sequence numbers for %d packets", len(seqs), 2*per)
			}
			if late != 0 {
				t.Errorf("%d packets sent after one with a higher sequence number", late)
			}
			mu.Unlock()
			if r := u.TUNQueueReads(); len(r) != 2 || r[0] != per || r[1] != per {
				t.Errorf("queue reads %v, want [%d %d]", r, per, per)
			}

			// Inbound: 8 flows interleaved in one batch.
			peer, saB := mirrorSAs(gcm128, 0, 0x9800a, 0x9800b, 18)
			out := outboundOf(t, peer)
			if err := u.AddChildSA(saB); err != nil {
				t.Fatal(err)
			}
			const flows, rounds = 8, 6
			var ds []policy.ESPDatagram
			want := map[uint16][]byte{} // flow (source port) -> its packets' round numbers
			for r := range rounds {
				for f := range uint16(flows) {
					inner := udp4("10.1.0.1", "10.2.0.5", 5000+f, 22, []byte{byte(r)})
					p, err := out.Encapsulate(nil, inner)
					if err != nil {
						t.Fatal(err)
					}
					ds = append(ds, policy.ESPDatagram{Local: netip.AddrPortFrom(gwB, 4500), Remote: netip.AddrPortFrom(gwA, 4500), B: p})
					want[5000+f] = append(want[5000+f], byte(r))
				}
			}
			u.HandleESPBatch(ds)
			got := map[uint16][]byte{}
			queueOf := map[uint16]int{}
			deadline := time.After(5 * time.Second)
			for n := 0; n < flows*rounds; n++ {
				var p []byte
				k := 0
				select {
				case p = <-q0.out:
				case p = <-q1.out:
					k = 1
				case <-deadline:
					t.Fatalf("%d of %d inner packets written", n, flows*rounds)
				}
				port := binary.BigEndian.Uint16(p[20:])
				if q, ok := queueOf[port]; ok && q != k {
					t.Errorf("flow %d written to queues %d and %d", port, q, k)
				}
				queueOf[port] = k
				if want := flowQueue(p, 2); want != k {
					t.Errorf("flow %d written to queue %d, its flow queue is %d", port, k, want)
				}
				got[port] = append(got[port], p[28])
			}
			for f, w := range want {
				if string(got[f]) != string(w) {
					t.Errorf("flow %d: rounds %v, want %v (in order)", f, got[f], w)
				}
			}
			used := map[int]bool{}
			for _, q := range queueOf {
				used[q] = true
			}
			if len(used) != 2 {
				t.Errorf("8 flows written to queues %v only", used)
			}
			if err := u.Close(); err != nil {
				t.Fatal(err)
			}
			for k, q := range []*fakeTUN{q0, q1} {
				select {
				case <-q.done:
				default:
					t.Errorf("queue %d not closed", k)
				}
			}
		})
	}
}

// BenchmarkUserspaceWriteTUN: the cost of writing a decrypted batch of
// 64 packets to the TUN device with one queue and with two (each packet
// to its flow's queue), for one flow (no sorting) and for 8 flows
// interleaved (sorted into a batch per queue).
func BenchmarkUserspaceWriteTUN(b *testing.B) {
	for _, queues := range []int{1, 2} {
		for _, flows := range []int{1, 8} {
			b.Run(fmt.Sprintf("queues=%d/flows=%d", queues, flows), func(b *testing.B) {
				var tuns []tunDevice
				for range queues {
					f := newFakeTUN()
					f.out = nil
					tuns = append(tuns, f)
				}
				u := newUserspaceQueues(nil, UserspaceConfig{Workers: -1}, tuns, nil)
				defer u.Close()
				pkts := make([][]byte, 64)
				for i := range pkts {
					p := udp4("10.2.0.5", "10.1.0.1", uint16(5000+i%flows), 22, make([]byte, 1372))
					pkts[i] = append(make([]byte, tunOffset), p...)
				}
				var sc inBatch
				b.SetBytes(64 * 1400)
				b.ReportAllocs()
				for b.Loop() {
					u.writeTUN(pkts, &sc.byQ)
				}
			})
		}
	}
}
