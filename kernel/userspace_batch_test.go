package kernel

import (
	"bytes"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"ikegate/kernel/esp"
	"ikegate/policy"
)

// outboundOf returns an outbound ESP SA that encrypts as the SA a would
// (A's side of mirrorSAs), for crafting what A's peer receives.
func outboundOf(t testing.TB, a *policy.ChildSA) *esp.SA {
	t.Helper()
	tmp := newUserspaceWith(nil, UserspaceConfig{Workers: -1}, newFakeTUN(), nil)
	defer tmp.Close()
	if err := tmp.AddChildSA(a); err != nil {
		t.Fatal(err)
	}
	return tmp.inTab.get(a.SPIIn).out
}

// swapped returns ds as the receiving side sees it (Local and Remote
// exchanged), reusing into.
func swapped(into, ds []policy.ESPDatagram) []policy.ESPDatagram {
	into = into[:0]
	for _, d := range ds {
		into = append(into, policy.ESPDatagram{Local: d.Remote, Remote: d.Local, B: d.B})
	}
	return into
}

// TestUserspaceBatchInbound: one HandleESPBatch with good, replayed,
// tampered, unknown, short and outside-selector datagrams delivers the
// good ones in order with one TUN write (inline) and drops and counts
// each bad one, without harming the others; with workers the same,
// as one job of the SA's worker.
func TestUserspaceBatchInbound(t *testing.T) {
	for _, workers := range []int{-1, 2} {
		t.Run(fmt.Sprintf("workers=%d", workers), func(t *testing.T) {
			saA, saB := mirrorSAs(gcm128, 0, 0x9000a, 0x9000b, 5)
			out := outboundOf(t, saA)
			tb := newFakeTUN()
			b := newUserspaceWith(nil, UserspaceConfig{Workers: workers}, tb, nil)
			defer b.Close()
			if err := b.AddChildSA(saB); err != nil {
				t.Fatal(err)
			}
			seal := func(p []byte) []byte {
				c, err := out.Encapsulate(nil, p)
				if err != nil {
					t.Fatal(err)
				}
				return c
			}
			in1 := ipv4("10.1.0.1", "10.2.0.5", []byte("one"))
			in2 := ipv4("10.1.0.1", "10.2.0.5", []byte("two"))
			good1 := seal(in1)
			tampered := seal(ipv4("10.1.0.1", "10.2.0.5", []byte("bad")))
			tampered[len(tampered)-1] ^= 1
			outside := seal(ipv4("10.9.0.1", "10.2.0.5", []byte("outside")))
			good2 := seal(in2)
			unknown := bytes.Clone(good2)
			unknown[0] ^= 0xff
			la, lb := netip.AddrPortFrom(gwA, 4500), netip.AddrPortFrom(gwB, 4500)
			var ds []policy.ESPDatagram
			for _, p := range [][]byte{good1, good1, tampered, unknown, {0, 0, 1}, outside, good2} {
				ds = append(ds, policy.ESPDatagram{Local: lb, Remote: la, B: p})
			}
			b.HandleESPBatch(ds)
			for i, want := range [][]byte{in1, in2} {
				if got := recv(t, tb); !bytes.Equal(got, want) {
					t.Fatalf("packet %d: got %x, want %x", i, got, want)
				}
			}
			noRecv(t, tb)
			if n := tb.writes.Load(); n != 1 {
				t.Errorf("%d TUN writes for one batch, want 1", n)
			}
			c, _ := b.Counters(saB.SPIIn)
			st := b.Stats()
			if c.ReplayDrops != 1 || c.AuthFailures != 1 || c.OutsideTSDrops != 1 || st.InUnknownSPI != 1 || st.InRejected != 3 {
				t.Errorf("replay %d auth %d outside-TS %d unknown SPI %d rejected %d; want 1 1 1 1 3",
					c.ReplayDrops, c.AuthFailures, c.OutsideTSDrops, st.InUnknownSPI, st.InRejected)
			}
		})
	}
}

// TestUserspaceBatchOutbound: a burst read from the TUN device at once
// (the segments of a TSO super-packet) is encapsulated and handed to the
// batch sender in one call (inline), packets without SA dropped and
// counted; the peer gets them all, in order, with one TUN write. With
// workers the same: one SA's packets are one job of its worker.
func TestUserspaceBatchOutbound(t *testing.T) {
	for _, workers := range []int{-1, 2} {
		t.Run(fmt.Sprintf("workers=%d", workers), func(t *testing.T) {
			ta, tb := newFakeTUN(), newFakeTUN()
			ta.batch = 64
			a := newUserspaceWith(nil, UserspaceConfig{Workers: workers}, ta, nil)
			b := newUserspaceWith(nil, UserspaceConfig{Workers: workers}, tb, nil)
			defer a.Close()
			defer b.Close()
			var calls, sent atomic.Int64
			var mu sync.Mutex
			var sw []policy.ESPDatagram
			a.SetBatchSender(func(ds []policy.ESPDatagram) int {
				calls.Add(1)
				sent.Add(int64(len(ds)))
				mu.Lock()
				defer mu.Unlock()
				sw = swapped(sw, ds)
				b.HandleESPBatch(sw)
				return 0
			})
			saA, saB := mirrorSAs(gcm128, 0, 0x9100a, 0x9100b, 7)
			if err := a.AddChildSA(saA); err != nil {
				t.Fatal(err)
			}
			if err := b.AddChildSA(saB); err != nil {
				t.Fatal(err)
			}
			var burst, want [][]byte
			for i := range 40 {
				p := ipv4("10.1.0.1", "10.2.0.5", bytes.Repeat([]byte{byte(i)}, 100+i*30))
				burst = append(burst, p)
				want = append(want, p)
				if i == 20 {
					burst = append(burst, ipv4("10.1.0.1", "10.7.0.1", []byte("no SA")))
				}
			}
			ta.bursts <- burst
			for i, w := range want {
				if got := recv(t, tb); !bytes.Equal(got, w) {
					t.Fatalf("packet %d: got %d bytes, want %d", i, len(got), len(w))
				}
			}
			waitUntil(t, "the drop count", func() bool { return a.Stats().OutNoSA == 1 })
			if sent.Load() != 40 {
				t.Errorf("%d datagrams sent, want 40", sent.Load())
			}
			if calls.Load() != 1 || tb.writes.Load() != 1 {
				t.Errorf("%d batch sends and %d TUN writes on the peer for one burst, want 1 and 1", calls.Load(), tb.writes.Load())
			}
			if c, _ := a.Counters(saA.SPIIn); c.OutPackets != 40 {
				t.Errorf("out packets %d, want 40", c.OutPackets)
			}
		})
	}
}

// TestUserspaceBatchSenderFallback: without a batch sender the batch
// goes through the one-datagram sender, datagram by datagram; with
// neither, packets are dropped as "no sender".
func TestUserspaceBatchSenderFallback(t *testing.T) {
	ta := newFakeTUN()
	ta.batch = 64
	a := newUserspaceWith(nil, UserspaceConfig{Workers: -1}, ta, nil)
	defer a.Close()
	saA, _ := mirrorSAs(gcm128, 0, 0x9200a, 0x9200b, 9)
	if err := a.AddChildSA(saA); err != nil {
		t.Fatal(err)
	}
	burst := make([][]byte, 8)
	for i := range burst {
		burst[i] = ipv4("10.1.0.1", "10.2.0.5", []byte{byte(i)})
	}
	ta.bursts <- burst
	waitUntil(t, "no-sender drops", func() bool { return a.Stats().OutNoSender == 8 })

	var single atomic.Int64
	a.SetSender(func(_, _ netip.AddrPort, _ []byte) error { single.Add(1); return nil })
	ta.bursts <- burst
	waitUntil(t, "single sends", func() bool { return single.Load() == 8 })

	a.SetBatchSender(func(ds []policy.ESPDatagram) int { return len(ds) }) // all fail
	ta.bursts <- burst
	waitUntil(t, "send errors", func() bool { return a.Stats().OutSendErrors == 8 })
	a.SetBatchSender(nil)
	ta.bursts <- burst
	waitUntil(t, "single sends again", func() bool { return single.Load() == 16 })
}

// BenchmarkUserspaceInboundBatch: inbound of 1400-byte AES-GCM-128
// packets, one HandleESP per datagram (one TUN write each) versus
// HandleESPBatch of a socket read's datagrams (one TUN write per batch),
// inline and (workers=2/...) through the SA's worker, timed until the
// last packet is written.
func BenchmarkUserspaceInboundBatch(b *testing.B) {
	for _, workers := range []int{-1, 2} {
		for _, batch := range []int{1, 16, 64} {
			name := fmt.Sprintf("batch=%d", batch)
			if workers > 0 {
				name = fmt.Sprintf("workers=%d/%s", workers, name)
			}
			b.Run(name, func(b *testing.B) { benchInboundBatch(b, workers, batch) })
		}
	}
}

func benchInboundBatch(b *testing.B, workers, batch int) {
	{
		{
			saA, saB := mirrorSAs(gcm128, 0, 0x9300a, 0x9300b, 11)
			out := outboundOf(b, saA)
			tun := newFakeTUN()
			tun.out = nil // discard
			u := newUserspaceWith(nil, UserspaceConfig{Workers: workers}, tun, nil)
			u.blockOnFull = true // measure throughput, not the drop policy
			defer u.Close()
			if err := u.AddChildSA(saB); err != nil {
				b.Fatal(err)
			}
			const n = 1 << 15
			inner := ipv4("10.1.0.1", "10.2.0.5", make([]byte, 1400-28))
			pkts := make([]policy.ESPDatagram, n)
			la, lb := netip.AddrPortFrom(gwA, 4500), netip.AddrPortFrom(gwB, 4500)
			for i := range pkts {
				p, _ := out.Encapsulate(make([]byte, 0, 1500), inner)
				pkts[i] = policy.ESPDatagram{Local: lb, Remote: la, B: p}
			}
			b.SetBytes(1400)
			b.ReportAllocs()
			b.ResetTimer()
			i, done := 0, 0
			for range b.N {
				if i == n {
					// Out of fresh sequence numbers: start over on a new SA
					// (not timed).
					b.StopTimer()
					for deadline := time.Now().Add(10 * time.Second); tun.written.Load() < int64(done) && time.Now().Before(deadline); {
						time.Sleep(10 * time.Microsecond) // the workers' backlog
					}
					u.DelChildSA(saB)
					if err := u.AddChildSA(saB); err != nil {
						b.Fatal(err)
					}
					i = 0
					b.StartTimer()
				}
				done++
				if batch == 1 {
					u.HandleESP(lb, la, pkts[i].B)
					i++
					continue
				}
				if i%batch == 0 {
					u.HandleESPBatch(pkts[i:min(i+batch, n)])
				}
				i++
			}
			for deadline := time.Now().Add(30 * time.Second); tun.written.Load() < int64(b.N) && time.Now().Before(deadline); {
				time.Sleep(10 * time.Microsecond)
			}
			b.StopTimer()
			if c, _ := u.Counters(saB.SPIIn); c.InPackets == 0 {
				b.Fatal("nothing decrypted")
			}
		}
	}
}

// BenchmarkUserspaceOutboundBatch: the outbound pipeline from TUN read to
// send for 1400-byte packets, one packet per read and send versus a
// burst of 64 per read (a TSO super-packet's segments) sent as one
// batch, inline and (workers=2/...) through the SA's worker.
func BenchmarkUserspaceOutboundBatch(b *testing.B) {
	for _, workers := range []int{-1, 2} {
		for _, burst := range []int{1, 64} {
			name := fmt.Sprintf("burst=%d", burst)
			if workers > 0 {
				name = fmt.Sprintf("workers=%d/%s", workers, name)
			}
			b.Run(name, func(b *testing.B) { benchOutboundBatch(b, workers, burst) })
		}
	}
}

func benchOutboundBatch(b *testing.B, workers, burst int) {
	{
		{
			tun := newFakeTUN()
			tun.batch = burst
			u := newUserspaceWith(nil, UserspaceConfig{Workers: workers, Queue: 4096}, tun, nil)
			u.blockOnFull = true
			defer u.Close()
			var sent atomic.Int64
			done := make(chan struct{}, 1)
			var target atomic.Int64
			u.SetBatchSender(func(ds []policy.ESPDatagram) int {
				if sent.Add(int64(len(ds))) >= target.Load() {
					select {
					case done <- struct{}{}:
					default:
					}
				}
				return 0
			})
			saA, _ := mirrorSAs(gcm128, 0, 0x9400a, 0x9400b, 13)
			if err := u.AddChildSA(saA); err != nil {
				b.Fatal(err)
			}
			p := ipv4("10.1.0.1", "10.2.0.5", make([]byte, 1400-28))
			pkts := make([][]byte, burst)
			for i := range pkts {
				pkts[i] = p
			}
			target.Store(int64(b.N))
			b.SetBytes(1400)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i += burst {
				tun.bursts <- pkts[:min(burst, b.N-i)]
			}
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				b.Fatalf("sent %d of %d", sent.Load(), b.N)
			}
		}
	}
}

// spreadSAs returns n mirrored SA pairs, SA k protecting 10.1.0.0/24 <->
// 10.2.k.0/24, with SPIs chosen so that their directions spread over both
// of two workers.
func spreadSAs(t testing.TB, n int) (as, bs []*policy.ChildSA) {
	t.Helper()
	seen := map[[2]int]bool{}
	for spi := uint32(0xb0000); len(as) < n; spi += 2 {
		a, b := mirrorSAs(gcm128, 0, spi, spi+1, byte(len(as)))
		k := len(as)
		p := netip.MustParsePrefix(fmt.Sprintf("10.2.%d.0/24", k))
		a.RemoteTS, b.LocalTS = []netip.Prefix{p}, []netip.Prefix{p}
		as, bs = append(as, a), append(bs, b)
		seen[[2]int{0, spiHash(a.SPIOut, 2)}] = true
		seen[[2]int{1, spiHash(b.SPIIn, 2)}] = true
	}
	if len(seen) != 4 {
		t.Fatalf("SAs on workers %v: not spread over both", seen)
	}
	return as, bs
}

// TestUserspaceWorkersBatch: with two workers, a TUN burst interleaving
// four SAs' packets leaves as one batch send per worker (not one per
// packet), and the peer, given the whole exchange as one socket read,
// writes it to its TUN device with one write per worker; every SA's
// packets arrive in their order (one SA direction on one worker).
func TestUserspaceWorkersBatch(t *testing.T) {
	ta, tb := newFakeTUN(), newFakeTUN()
	ta.batch = 64
	a := newUserspaceWith(nil, UserspaceConfig{Workers: 2}, ta, nil)
	b := newUserspaceWith(nil, UserspaceConfig{Workers: 2}, tb, nil)
	defer a.Close()
	defer b.Close()
	var mu sync.Mutex
	var sends int
	var wire []policy.ESPDatagram // as B receives them
	a.SetBatchSender(func(ds []policy.ESPDatagram) int {
		mu.Lock()
		defer mu.Unlock()
		sends++
		for _, d := range ds {
			wire = append(wire, policy.ESPDatagram{Local: d.Remote, Remote: d.Local, B: bytes.Clone(d.B)})
		}
		return 0
	})
	as, bs := spreadSAs(t, 4)
	for k := range as {
		if err := a.AddChildSA(as[k]); err != nil {
			t.Fatal(err)
		}
		if err := b.AddChildSA(bs[k]); err != nil {
			t.Fatal(err)
		}
	}
	const n = 64
	var burst [][]byte
	for i := range n {
		burst = append(burst, ipv4("10.1.0.1", fmt.Sprintf("10.2.%d.5", i%4), []byte{byte(i % 4), byte(i / 4)}))
	}
	ta.bursts <- burst
	waitUntil(t, "A's sends", func() bool { mu.Lock(); defer mu.Unlock(); return len(wire) == n })
	if sends != 2 {
		t.Errorf("%d batch sends for one burst over two workers, want 2", sends)
	}
	b.HandleESPBatch(wire)
	next := make([]byte, 4)
	for range n {
		p := recv(t, tb)
		sa, seq := p[28], p[29]
		if seq != next[sa] {
			t.Fatalf("SA %d: packet %d arrived, want %d", sa, seq, next[sa])
		}
		next[sa]++
	}
	noRecv(t, tb)
	if w := tb.writes.Load(); w != 2 {
		t.Errorf("%d TUN writes for one socket read over two workers, want 2", w)
	}
	if st := a.Stats(); st.QueueFull != 0 || b.Stats().QueueFull != 0 {
		t.Errorf("queue full drops %d/%d", st.QueueFull, b.Stats().QueueFull)
	}
}

// TestUserspaceWorkersQueueFull: a worker's queue is bounded in packets:
// a job that would take it past Queue is dropped whole and its packets
// counted (QueueFull), a later one that fits is taken, and an idle
// worker takes a job larger than Queue; the packets taken are sent, in
// order.
func TestUserspaceWorkersQueueFull(t *testing.T) {
	ta := newFakeTUN()
	ta.batch = 64
	a := newUserspaceWith(nil, UserspaceConfig{Workers: 1, Queue: 8}, ta, nil)
	defer a.Close()
	release := make(chan struct{})
	var mu sync.Mutex
	var got []byte // the first payload byte of each packet sent, decrypted
	var sends atomic.Int64
	saA, saB := mirrorSAs(gcm128, 0, 0xc000a, 0xc000b, 3)
	if err := a.AddChildSA(saA); err != nil {
		t.Fatal(err)
	}
	tb := newFakeTUN()
	b := newUserspaceWith(nil, UserspaceConfig{Workers: -1}, tb, nil)
	defer b.Close()
	if err := b.AddChildSA(saB); err != nil {
		t.Fatal(err)
	}
	var sw []policy.ESPDatagram
	a.SetBatchSender(func(ds []policy.ESPDatagram) int {
		if sends.Add(1) == 1 {
			<-release // the worker is busy with the first job
		}
		mu.Lock()
		defer mu.Unlock()
		sw = swapped(sw, ds)
		b.HandleESPBatch(sw)
		for range ds {
			select { // (not recv: no t.Fatal off the test goroutine)
			case p := <-tb.out:
				got = append(got, p[28])
			case <-time.After(5 * time.Second):
				got = append(got, 0xff) // lost: fails the comparison below
			}
		}
		return 0
	})
	burst := func(from, n int) [][]byte {
		var ps [][]byte
		for i := range n {
			ps = append(ps, ipv4("10.1.0.1", "10.2.0.5", []byte{byte(from + i)}))
		}
		return ps
	}
	queued := func() int64 { return a.workers[0].queued.Load() }
	ta.bursts <- burst(0, 20) // larger than Queue, to an idle worker: taken
	waitUntil(t, "the first job", func() bool { return sends.Load() == 1 })
	ta.bursts <- burst(20, 6) // 6 of 8
	waitUntil(t, "the second job queued", func() bool { return queued() == 6 })
	ta.bursts <- burst(26, 3) // 9 of 8: dropped
	waitUntil(t, "the drop", func() bool { return a.Stats().QueueFull == 3 })
	ta.bursts <- burst(29, 2) // 8 of 8
	waitUntil(t, "the fourth job queued", func() bool { return queued() == 8 })
	close(release)
	waitUntil(t, "the sends", func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == 28 })
	var want []byte
	for i := range 31 {
		if i < 26 || i >= 29 {
			want = append(want, byte(i))
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if !bytes.Equal(got, want) {
		t.Errorf("sent %v, want %v", got, want)
	}
	if st := a.Stats(); st.QueueFull != 3 || queued() != 0 {
		t.Errorf("queue full %d, queued %d; want 3, 0", st.QueueFull, queued())
	}
}
