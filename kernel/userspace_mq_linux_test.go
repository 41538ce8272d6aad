//go:build linux

package kernel

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"
	"golang.org/x/sys/unix"

	"ikegate/policy"
)

// tcpExt returns a TcpExt counter of /proc/net/netstat in ns.
func tcpExt(t *testing.T, ns netns.NsHandle, name string) uint64 {
	t.Helper()
	var v uint64
	inNetns(t, ns, func() error {
		// thread-self: the namespace of this (locked) thread, not of
		// the process's main thread.
		b, err := os.ReadFile("/proc/thread-self/net/netstat")
		if err != nil {
			return err
		}
		lines := strings.Split(string(b), "\n")
		for i := 0; i+1 < len(lines); i += 2 {
			keys, vals := strings.Fields(lines[i]), strings.Fields(lines[i+1])
			if len(keys) == 0 || keys[0] != "TcpExt:" || len(vals) != len(keys) {
				continue
			}
			for j, k := range keys {
				if k == name {
					v, err = strconv.ParseUint(vals[j], 10, 64)
					return err
				}
			}
		}
		return fmt.Errorf("no TcpExt %s in /proc/net/netstat", name)
	})
	return v
}

// TestUserspaceMultiQueueTCP passes parallel TCP connections through two
// real two-queue TUN devices (IFF_MULTI_QUEUE) in their own namespaces,
// joined by the backends' batch senders and HandleESPBatch, inline and
// with workers, and checks every byte of every connection by hash. Both
// queues of both devices must have been read (the kernel spreads flows
// over the queues: 16 connections all on one of two queues would come
// with odds of 2^-15), nothing may be dropped, and the receivers' TCP
// must have seen no segment out of order (each flow stays on one queue,
// so one reader encrypts all of its packets, in order), nor may one SA's
// ESP packets have been sent out of sequence order (which a peer with a
// small replay window, such as strongSwan's default of 32, would drop).
func TestUserspaceMultiQueueTCP(t *testing.T) {
	requireRoot(t)
	for _, workers := range []int{-1, 2} {
		t.Run(fmt.Sprintf("workers=%d", workers), func(t *testing.T) {
			testMultiQueueTCP(t, workers)
		})
	}
}

func testMultiQueueTCP(t *testing.T, workers int) {
	nsA, nsB := testNetns(t), testNetns(t)
	hostA, hostB := netip.MustParseAddr("10.1.0.1"), netip.MustParseAddr("10.2.0.5")
	loAddr(t, nsA, hostA)
	loAddr(t, nsB, hostB)
	log := zaptest.NewLogger(t)
	a, err := newUserspaceAt(nsA, log.Named("A"), UserspaceConfig{TUN: "ikmA", Workers: workers, Queues: 2, Queue: 4096})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := newUserspaceAt(nsB, log.Named("B"), UserspaceConfig{TUN: "ikmB", Workers: workers, Queues: 2, Queue: 4096})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for name, u := range map[string]*Userspace{"A": a, "B": b} {
		if len(u.queues) != 2 || len(u.TUNQueueReads()) != 2 {
			t.Fatalf("%s has %d TUN queues, want 2", name, len(u.queues))
		}
		if u.queues[0].dev.BatchSize() <= 1 || u.queues[1].dev.BatchSize() <= 1 {
			t.Fatalf("%s: a queue without offloads", name)
		}
	}
	// The wire: two readers (or workers) send at once, each straight
	// into the other side's HandleESPBatch, as the gateway's socket
	// readers call it, concurrently.
	// Each side's sequence numbers are also counted in the order they
	// are handed to the wire (w), against a replay window of 32 packets
	// (strongSwan's default replay_window): how a peer with a small
	// window would see them.
	var wireAB, wireBA seqOrder
	a.SetBatchSender(wireTo(b, &wireAB))
	b.SetBatchSender(wireTo(a, &wireBA))
	saA, saB := mirrorSAs(gcm128, 0, 0x9600a, 0x9600b, 16)
	if err := a.AddChildSA(saA); err != nil {
		t.Fatal(err)
	}
	if err := b.AddChildSA(saB); err != nil {
		t.Fatal(err)
	}
	ofoB0, ofoA0 := tcpExt(t, nsB, "TCPOFOQueue"), tcpExt(t, nsA, "TCPOFOQueue")

	// flows connections at once: each sends up bytes A->B, B answers
	// with down bytes; each side checks the other's bytes by hash.
	const flows, up, down = 16, 1 << 20, 256 << 10
	var ln net.Listener
	inNetns(t, nsB, func() error {
		var err error
		ln, err = net.Listen("tcp4", netip.AddrPortFrom(hostB, 7780).String())
		return err
	})
	defer ln.Close()
	srvErr := make(chan error, flows)
	go func() {
		for range flows {
			c, err := ln.Accept()
			if err != nil {
				srvErr <- err
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(60 * time.Second))
				var seed [1]byte
				if _, err := io.ReadFull(c, seed[:]); err != nil {
					srvErr <- fmt.Errorf("server read seed: %w", err)
					return
				}
				h := sha256.New()
				if _, err := io.CopyN(h, c, up); err != nil {
					srvErr <- fmt.Errorf("server read %d: %w", seed[0], err)
					return
				}
				if [32]byte(h.Sum(nil)) != sumOf(stream(uint64(seed[0])), up) {
					srvErr <- fmt.Errorf("flow %d: B received other bytes than A sent", seed[0])
					return
				}
				_, err := io.CopyN(c, stream(100+uint64(seed[0])), down)
				srvErr <- err
			}()
		}
	}()
	start := time.Now()
	cliErr := make(chan error, flows)
	for i := range flows {
		go func() {
			var c net.Conn
			inNetns(t, nsA, func() error {
				var err error
				c, err = net.DialTimeout("tcp4", netip.AddrPortFrom(hostB, 7780).String(), 5*time.Second)
				return err
			})
			defer c.Close()
			c.SetDeadline(time.Now().Add(60 * time.Second))
			if _, err := c.Write([]byte{byte(i)}); err != nil {
				cliErr <- err
				return
			}
			if _, err := io.CopyN(c, stream(uint64(i)), up); err != nil {
				cliErr <- fmt.Errorf("client write %d: %w", i, err)
				return
			}
			h := sha256.New()
			if _, err := io.CopyN(h, c, down); err != nil {
				cliErr <- fmt.Errorf("client read %d: %w", i, err)
				return
			}
			if [32]byte(h.Sum(nil)) != sumOf(stream(100+uint64(i)), down) {
				cliErr <- fmt.Errorf("flow %d: A received other bytes than B sent", i)
				return
			}
			cliErr <- nil
		}()
	}
	for range flows {
		if err := <-cliErr; err != nil {
			t.Fatal(err)
		}
		if err := <-srvErr; err != nil {
			t.Fatal(err)
		}
	}
	elapsed := time.Since(start)
	ra, rb := a.TUNQueueReads(), b.TUNQueueReads()
	ofoB, ofoA := tcpExt(t, nsB, "TCPOFOQueue")-ofoB0, tcpExt(t, nsA, "TCPOFOQueue")-ofoA0
	t.Logf("workers=%d: %d connections, %d KiB A->B and %d KiB B->A each, in %v; packets read per queue: A %v, B %v; segments queued out of order: at B %d, at A %d",
		workers, flows, up>>10, down>>10, elapsed.Round(time.Millisecond), ra, rb, ofoB, ofoA)
	ab, ba := wireAB.snapshot(), wireBA.snapshot() // (a late packet may still pass)
	t.Logf("ESP sequence numbers handed to the wire out of order: A->B %d of %d (more than 32 behind the highest: %d), B->A %d of %d (%d)",
		ab.late, ab.n, ab.late32, ba.late, ba.n, ba.late32)
	if ab.late != 0 || ba.late != 0 {
		// One SA's packets leave in sequence order whatever queue they
		// were read from: inline, a reader holds the SA's order lock
		// from its first sequence number to the send; with workers the
		// SA is one worker's.
		t.Errorf("an SA's packets were sent out of sequence order")
	}
	for name, u := range map[string]*Userspace{"A": a, "B": b} {
		st := u.Stats()
		st.OutNoSA = 0 // (what the kernel routes into a device as it comes up, before any SA)
		if st != (policy.DataplaneStats{}) {
			t.Errorf("%s dropped packets: %+v", name, st)
		}
		for q, n := range u.TUNQueueReads() {
			if n == 0 {
				t.Errorf("%s: queue %d read no packet: the flows were not spread over the queues", name, q)
			}
		}
	}
	ca, _ := a.Counters(saA.SPIIn)
	// (Read after the SA's count: every packet sent was read before.)
	if ra := a.TUNQueueReads(); ra[0]+ra[1] < ca.OutPackets {
		got := ra[0] + ra[1]
		t.Errorf("A's queues read %d packets but A sent %d", got, ca.OutPackets)
	}
	if ofoA != 0 || ofoB != 0 {
		t.Errorf("TCP saw segments out of order (at B %d, at A %d): a flow's packets were split between queues", ofoB, ofoA)
	}
}

// TestUserspaceMultiQueueFallback: where the kernel refuses
// IFF_MULTI_QUEUE (here: the device exists, persistent, without it, and
// TUNSETIFF with the flag fails with EINVAL) the dataplane comes up
// with one queue and says so at info; an explicit count out of range is
// refused.
func TestUserspaceMultiQueueFallback(t *testing.T) {
	requireRoot(t)
	ns := testNetns(t)
	inNetns(t, ns, func() error {
		fd, err := openTUNFD("ikfb0", true, false)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		return unix.IoctlSetInt(fd, unix.TUNSETPERSIST, 1)
	})
	// The kernel does refuse it (the premise of the test).
	inNetns(t, ns, func() error {
		fd, err := openTUNFD("ikfb0", true, true)
		if err == nil {
			unix.Close(fd)
			return fmt.Errorf("the kernel attached a multi-queue descriptor to a single-queue device")
		}
		if !strings.Contains(err.Error(), unix.EINVAL.Error()) {
			return fmt.Errorf("multi-queue attach to a single-queue device: %w, want EINVAL", err)
		}
		return nil
	})
	core, logs := observer.New(zap.InfoLevel)
	u, err := newUserspaceAt(ns, zap.New(core), UserspaceConfig{TUN: "ikfb0", Queues: 4})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(u.TUNQueueReads()); n != 1 {
		t.Errorf("%d queues after the fallback, want 1", n)
	}
	if got := logs.FilterMessage("TUN device: multi-queue refused, using one queue").All(); len(got) != 1 {
		t.Errorf("fallback logged %d times, want once: %v", len(got), logs.All())
	} else if got[0].Level != zap.InfoLevel || got[0].ContextMap()["queues_wanted"] != int64(4) {
		t.Errorf("fallback log entry %+v", got[0])
	}
	if up := logs.FilterMessage("userspace ESP dataplane up").All(); len(up) != 1 || up[0].ContextMap()["tun_queues"] != int64(1) {
		t.Errorf("start-up log: %v", up)
	}
	if err := u.Close(); err != nil {
		t.Fatal(err)
	}
	for _, q := range []int{-1, MaxTUNQueues + 1} {
		if u, err := newUserspaceAt(ns, zap.NewNop(), UserspaceConfig{TUN: "ikfb1", Queues: q}); err == nil {
			u.Close()
			t.Errorf("Queues %d accepted", q)
		}
	}
}

// TestUserspaceEnv: IKEGATE_USERSPACE_QUEUES and
// IKEGATE_USERSPACE_WORKERS fill in the automatic settings only; a value
// that is not a number is an error naming the variable.
func TestUserspaceEnv(t *testing.T) {
	t.Setenv(queuesEnv, "1")
	t.Setenv(workersEnv, "2")
	cfg, err := userspaceEnv(UserspaceConfig{})
	if err != nil || cfg.Queues != 1 || cfg.Workers != 2 {
		t.Fatalf("userspaceEnv: %+v, %v", cfg, err)
	}
	cfg, err = userspaceEnv(UserspaceConfig{Queues: 3, Workers: -1})
	if err != nil || cfg.Queues != 3 || cfg.Workers != -1 {
		t.Fatalf("userspaceEnv with explicit settings: %+v, %v", cfg, err)
	}
	t.Setenv(queuesEnv, "two")
	if _, err := userspaceEnv(UserspaceConfig{}); err == nil || !strings.Contains(err.Error(), queuesEnv) {
		t.Fatalf("userspaceEnv with %s=two: %v", queuesEnv, err)
	}
}

// seqOrder counts the ESP sequence numbers of one SA direction in the
// order they are sent: how many came below the highest sent before
// (late) and how many of those more than 32 below (what a replay window
// of 32 packets would drop).
type seqOrder struct {
	mu      sync.Mutex
	highest uint32
	seqCounts
}

type seqCounts struct{ n, late, late32 int }

func (w *seqOrder) snapshot() seqCounts {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.seqCounts
}

func (w *seqOrder) add(ds []policy.ESPDatagram) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, d := range ds {
		seq := binary.BigEndian.Uint32(d.B[4:8])
		w.n++
		switch {
		case seq > w.highest:
			w.highest = seq
		case w.highest-seq >= 32:
			w.late32++
			w.late++
		default:
			w.late++
		}
	}
}

// TestUserspaceMultiQueueClose opens the backend through NewUserspace
// with IKEGATE_USERSPACE_QUEUES=3 in a fresh namespace: the kernel
// reports a multi-queue TUN device with three queues attached (netlink
// IFLA_TUN_MULTI_QUEUE, IFLA_TUN_NUM_QUEUES), and Close detaches them
// all: the device goes away with the last one.
func TestUserspaceMultiQueueClose(t *testing.T) {
	requireRoot(t)
	t.Setenv(queuesEnv, "3")
	ns := testNetns(t)
	var u *Userspace
	inNetns(t, ns, func() error {
		var err error
		u, err = NewUserspace(zaptest.NewLogger(t), UserspaceConfig{TUN: "ikmq0"})
		return err
	})
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		u.Close()
		t.Fatal(err)
	}
	defer h.Close()
	link, err := h.LinkByName("ikmq0")
	if err != nil {
		u.Close()
		t.Fatal(err)
	}
	tt, ok := link.(*netlink.Tuntap)
	if !ok || tt.Flags&netlink.TUNTAP_MULTI_QUEUE == 0 || tt.Queues != 3 {
		t.Errorf("link %T %+v: want a multi-queue TUN device with 3 queues", link, link)
	}
	if n := len(u.TUNQueueReads()); n != 3 {
		t.Errorf("%d queues read, want 3", n)
	}
	if err := u.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := h.LinkByName("ikmq0"); err == nil {
		t.Error("TUN device left behind after Close")
	}
}

// BenchmarkUserspaceTCPQueues (root): TCP from namespace A to B through
// two real TUN devices of 1 or 2 queues, inline, joined in memory by the
// batch senders and HandleESPBatch: 32 MiB per operation over 1 or 4
// connections at once. It isolates the dataplane and the TUN devices
// from the sockets and the other daemon of interop/bench-traffic.sh.
func BenchmarkUserspaceTCPQueues(b *testing.B) {
	requireRootB(b)
	for _, queues := range []int{1, 2} {
		for _, flows := range []int{1, 4} {
			b.Run(fmt.Sprintf("queues=%d/flows=%d", queues, flows), func(b *testing.B) {
				benchTCPQueues(b, queues, flows)
			})
		}
	}
}

func benchTCPQueues(b *testing.B, queues, flows int) {
	nsA, nsB := testNetns(b), testNetns(b)
	hostA, hostB := netip.MustParseAddr("10.1.0.1"), netip.MustParseAddr("10.2.0.5")
	loAddr(b, nsA, hostA)
	loAddr(b, nsB, hostB)
	a, err := newUserspaceAt(nsA, nil, UserspaceConfig{TUN: "ikbA", Workers: -1, Queues: queues})
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	bb, err := newUserspaceAt(nsB, nil, UserspaceConfig{TUN: "ikbB", Workers: -1, Queues: queues})
	if err != nil {
		b.Fatal(err)
	}
	defer bb.Close()
	a.SetBatchSender(wireTo(bb, nil))
	bb.SetBatchSender(wireTo(a, nil))
	saA, saB := mirrorSAs(gcm128, 0, 0x9900a, 0x9900b, 19)
	if err := a.AddChildSA(saA); err != nil {
		b.Fatal(err)
	}
	if err := bb.AddChildSA(saB); err != nil {
		b.Fatal(err)
	}
	var ln net.Listener
	inNetns(b, nsB, func() error {
		var err error
		ln, err = net.Listen("tcp4", netip.AddrPortFrom(hostB, 7781).String())
		return err
	})
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(io.Discard, c)
			}()
		}
	}()
	const per = 32 << 20
	buf := make([]byte, 256<<10)
	b.SetBytes(per)
	b.ResetTimer()
	for range b.N {
		errs := make(chan error, flows)
		for range flows {
			go func() {
				var c net.Conn
				inNetns(b, nsA, func() error {
					var err error
					c, err = net.DialTimeout("tcp4", netip.AddrPortFrom(hostB, 7781).String(), 5*time.Second)
					return err
				})
				defer c.Close()
				c.SetDeadline(time.Now().Add(60 * time.Second))
				for sent := 0; sent < per/flows; sent += len(buf) {
					if _, err := c.Write(buf); err != nil {
						errs <- err
						return
					}
				}
				// Until the receiver has read it all (and closed).
				c.(*net.TCPConn).CloseWrite()
				_, err := io.Copy(io.Discard, c)
				errs <- err
			}()
		}
		for range flows {
			if err := <-errs; err != nil {
				b.Fatal(err)
			}
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(a.Stats().OutSendErrors+bb.Stats().InRejected), "drops")
}

// wireTo is a batch sender that hands each batch to the dataplane to as
// its peer received it (addresses swapped), after counting its sequence
// numbers in w (nil: not counted).
func wireTo(to *Userspace, w *seqOrder) func([]policy.ESPDatagram) int {
	var pool sync.Pool
	return func(ds []policy.ESPDatagram) int {
		if w != nil {
			w.add(ds)
		}
		sw, _ := pool.Get().(*[]policy.ESPDatagram)
		if sw == nil {
			sw = new([]policy.ESPDatagram)
		}
		*sw = swapped(*sw, ds)
		to.HandleESPBatch(*sw)
		clear(*sw)
		pool.Put(sw)
		return 0
	}
}
