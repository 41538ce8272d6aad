//go:build linux

package kernel

import (
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"go.uber.org/zap/zaptest"
	"golang.org/x/sys/unix"

	"ikegate/policy"
)

// TestUserspaceOffloadTCP passes real TCP through two real TUN devices in
// their own namespaces, joined by the backends' batch senders and
// HandleESPBatch (as the gateway joins them over its NAT-T sockets), in
// both directions, and checks every byte. With offloads (the default)
// the devices batch: the sender's TCP super-packets come out of one TUN
// read as many segments, sent as one batch, and the receiving TUN device
// counts fewer packets than were decrypted (its writes coalesced them,
// GRO). Without (NoOffload, the fallback where the kernel refuses
// IFF_VNET_HDR) the same traffic goes one packet per read and write.
func TestUserspaceOffloadTCP(t *testing.T) {
	requireRoot(t)
	for _, offload := range []bool{true, false} {
		t.Run(fmt.Sprintf("offload=%v", offload), func(t *testing.T) {
			testOffloadTCP(t, offload)
		})
	}
}

func testOffloadTCP(t *testing.T, offload bool) {
	nsA, nsB := testNetns(t), testNetns(t)
	hostA, hostB := netip.MustParseAddr("10.1.0.1"), netip.MustParseAddr("10.2.0.5")
	loAddr(t, nsA, hostA)
	loAddr(t, nsB, hostB)
	log := zaptest.NewLogger(t)
	a, err := newUserspaceAt(nsA, log.Named("A"), UserspaceConfig{TUN: "ikoA", Workers: -1, NoOffload: !offload})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := newUserspaceAt(nsB, log.Named("B"), UserspaceConfig{TUN: "ikoB", Workers: -1, NoOffload: !offload})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if got := a.queues[0].dev.BatchSize() > 1; got != offload {
		t.Fatalf("TUN batch size %d with offload=%v", a.queues[0].dev.BatchSize(), offload)
	}

	// The wire: each side's batches go to the other whole. Each sender
	// is called by one TUN reader only, so its scratch is its own.
	var maxAB atomic.Int64
	join := func(to *Userspace, maxBatch *atomic.Int64) func([]policy.ESPDatagram) int {
		var mu sync.Mutex
		var sw []policy.ESPDatagram
		return func(ds []policy.ESPDatagram) int {
			if maxBatch != nil && int64(len(ds)) > maxBatch.Load() {
				maxBatch.Store(int64(len(ds)))
			}
			mu.Lock()
			defer mu.Unlock()
			sw = swapped(sw, ds)
			to.HandleESPBatch(sw)
			return 0
		}
	}
	a.SetBatchSender(join(b, &maxAB))
	b.SetBatchSender(join(a, nil))
	saA, saB := mirrorSAs(gcm128, 0, 0x9500a, 0x9500b, 15)
	if err := a.AddChildSA(saA); err != nil {
		t.Fatal(err)
	}
	if err := b.AddChildSA(saB); err != nil {
		t.Fatal(err)
	}

	// A sends 16 MiB to B, B answers with 4 MiB; each side checks the
	// other's bytes by hash.
	const up, down = 16 << 20, 4 << 20
	var ln net.Listener
	inNetns(t, nsB, func() error {
		var err error
		ln, err = net.Listen("tcp4", netip.AddrPortFrom(hostB, 7779).String())
		return err
	})
	defer ln.Close()
	type result struct {
		sum [32]byte
		err error
	}
	srv := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			srv <- result{err: err}
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(60 * time.Second))
		h := sha256.New()
		if _, err := io.CopyN(h, c, up); err != nil {
			srv <- result{err: fmt.Errorf("server read: %w", err)}
			return
		}
		if _, err := io.CopyN(c, stream(2), down); err != nil {
			srv <- result{err: fmt.Errorf("server write: %w", err)}
			return
		}
		srv <- result{sum: [32]byte(h.Sum(nil))}
	}()
	var c net.Conn
	inNetns(t, nsA, func() error {
		var err error
		c, err = net.DialTimeout("tcp4", netip.AddrPortFrom(hostB, 7779).String(), 5*time.Second)
		return err
	})
	defer c.Close()
	c.SetDeadline(time.Now().Add(60 * time.Second))
	start := time.Now()
	if _, err := io.CopyN(c, stream(1), up); err != nil {
		t.Fatalf("client write: %v", err)
	}
	h := sha256.New()
	if _, err := io.CopyN(h, c, down); err != nil {
		t.Fatalf("client read: %v", err)
	}
	r := <-srv
	if r.err != nil {
		t.Fatal(r.err)
	}
	t.Logf("offload=%v: %d MiB A->B and %d MiB B->A through the tunnel in %v; largest A->B batch %d datagrams",
		offload, up>>20, down>>20, time.Since(start).Round(time.Millisecond), maxAB.Load())
	if want := sumOf(stream(1), up); r.sum != want {
		t.Fatal("B received other bytes than A sent")
	}
	if want := sumOf(stream(2), down); [32]byte(h.Sum(nil)) != want {
		t.Fatal("A received other bytes than B sent")
	}

	// Nothing dropped on the way (what the kernel routes into a device
	// as it comes up, before any SA, aside).
	for name, u := range map[string]*Userspace{"A": a, "B": b} {
		st := u.Stats()
		st.OutNoSA = 0
		if st != (policy.DataplaneStats{}) {
			t.Errorf("%s dropped packets: %+v", name, st)
		}
	}
	cb, _ := b.Counters(saB.SPIIn)
	hb, err := netlink.NewHandleAt(nsB, unix.NETLINK_ROUTE)
	if err != nil {
		t.Fatal(err)
	}
	defer hb.Close()
	link, err := hb.LinkByName("ikoB")
	if err != nil {
		t.Fatal(err)
	}
	rx := link.Attrs().Statistics.RxPackets
	t.Logf("B decrypted %d packets; its TUN device received %d", cb.InPackets, rx)
	if offload {
		if maxAB.Load() < 2 {
			t.Errorf("A's TUN reads never gave more than one packet: no TSO super-packets split")
		}
		if rx*2 > cb.InPackets {
			t.Errorf("B's TUN device received %d packets for %d decrypted: its writes did not coalesce (GRO)", rx, cb.InPackets)
		}
	} else if maxAB.Load() != 1 {
		t.Errorf("without offloads a batch of %d datagrams", maxAB.Load())
	}
}

// stream is a reproducible byte stream.
func stream(seed uint64) io.Reader { return &prngReader{r: rand.NewPCG(seed, seed)} }

type prngReader struct{ r *rand.PCG }

func (p *prngReader) Read(b []byte) (int, error) {
	for i := range b {
		b[i] = byte(p.r.Uint64())
	}
	return len(b), nil
}

func sumOf(r io.Reader, n int64) [32]byte {
	h := sha256.New()
	io.CopyN(h, r, n)
	return [32]byte(h.Sum(nil))
}
