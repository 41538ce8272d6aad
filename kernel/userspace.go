package kernel

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net/netip"
	"runtime"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"ikegate/kernel/esp"
	"ikegate/policy"
)

// The userspace dataplane: ESP (RFC 4303) in UDP (RFC 3948) over a TUN
// device, for hosts whose kernel lacks ESP.
//
//   - The TUN device is opened with IFF_VNET_HDR and the TCP offloads
//     (TUNSETOFFLOAD) where the kernel allows them, and driven through
//     golang.zx2c4.com/wireguard/tun: a read returns the segments of one
//     TSO super-packet (up to 64 KiB of a TCP flow, split to the MTU) as
//     a batch, and a write of a batch coalesces the segments of a flow
//     again (GRO), so the kernel's TCP stack handles a few large packets
//     instead of many small ones. Where the kernel refuses (or with
//     UserspaceConfig.NoOffload) the device is the plain one, one packet
//     per read and write.
//   - Queues: the device is opened with IFF_MULTI_QUEUE, one descriptor
//     per queue (UserspaceConfig.Queues; IKEGATE_USERSPACE_QUEUES), each
//     wrapped by the library and read by its own goroutine; where the
//     kernel refuses IFF_MULTI_QUEUE, one queue (logged at info). The
//     kernel chooses the queue of each packet it routes into the device
//     by flow: a flow it was last handed on some queue goes to that
//     queue, another by a hash of the flow. Inbound writes put each
//     packet on the queue of its flow (flowQueue: addresses, protocol
//     and ports, the same both ways), so one flow stays on one queue,
//     and one reader, in both directions and keeps its order, while
//     different flows, also of one SA, spread over the queues.
//   - Outbound: each queue's reader reads a batch from the TUN device,
//     finds each packet's outbound SA by destination (longest prefix
//     over the installed SAs' remote traffic selectors, then the source
//     against the local selectors; newest SA first so a rekeyed SA takes
//     over at once), encapsulates them and hands the whole batch to the
//     gateway's batch sender (SetBatchSender; policy.ESPBatcher), which
//     sends it on the NAT-T socket with one sendmmsg(2), runs of
//     equal-size datagrams to one peer as one UDP GSO send (UDP_SEGMENT),
//     so a 64 KiB TCP super-packet leaves in about one system call. The
//     one-datagram sender (SetSender) serves where no batch sender is
//     set.
//   - Inbound: the gateway's socket reader reads up to 16 datagrams per
//     recvmmsg(2), with UDP GRO on the NAT-T socket (a peer's run of
//     datagrams arrives as one, with its segment size; the gateway
//     splits it and classifies each segment), and hands the ESP ones of
//     one read to HandleESPBatch, which finds each SA by SPI, decrypts
//     straight from the gateway's buffers into its own, checks the inner
//     packets against the traffic selectors and writes them to the TUN
//     device with one batched write (coalesced, above). HandleESP takes a
//     single datagram the same way. The raw ESP transport (rawesp.go)
//     hands each of its recvmmsg(2) reads to HandleESPBatch too, and
//     sends a batch's raw datagrams with one sendmmsg(2).
//
// Concurrency: the SA tables are immutable snapshots swapped atomically on
// install and delete, so the packet path takes no lock. esp.SA is safe for
// concurrent use (atomic sequence counter; the replay window has its own
// mutex, held for a few word operations before and after the ICV check).
// An SA's fitness (deferred, retired) and endpoints (NAT mapping, MOBIKE)
// are atomic, the counters too, and each TUN reader has its own buffers,
// batch and job set, so several readers run at once.
// Two modes:
//   - inline (Workers < 0; the default on <= 2 CPUs): inbound crypto runs
//     on the gateway's socket reader that calls HandleESPBatch, outbound
//     on the TUN readers, so the two directions use at least two cores;
//     this is the batched path above. With several queues the readers
//     encrypt their own reads, different SAs' packets in parallel, but
//     one SA's in turn: a reader holds the SA's order lock (usSA.outMu)
//     from the first sequence number of its run of the SA's packets to
//     their send, so that they leave in sequence order. Without it two
//     readers interleaved one SA's numbers and one of them sent later:
//     in TestUserspaceMultiQueueTCP 0.5-0.8% of the packets went out
//     more than 32 behind the highest sent, which a peer with a replay
//     window of 32 (strongSwan's default replay_window) drops;
//   - workers (Workers > 0; the default on more CPUs): each SA direction
//     is pinned to one worker goroutine by a hash of its SPI; the readers
//     only copy and enqueue, so many SAs spread over the cores and one
//     SA's packets stay in order (no self-inflicted reordering that the
//     peer's replay window or TCP would see). The readers group a read's
//     packets (a TUN read's, a socket read's in HandleESPBatch) by worker
//     and queue one job per worker; a worker encapsulates its job's
//     packets and sends them with one batch send, or decrypts them and
//     writes them with one (coalescing) TUN write. A worker's queue holds
//     at most Queue packets: a job that does not fit is dropped whole and
//     its packets counted (QueueFull); an idle worker takes any job.
// On the 2-CPU test host the worker hop costs about 400 ns per 1400-byte
// packet handed over alone (~700 ns inline vs ~1100 ns with workers for
// AES-GCM-128 inbound, BenchmarkUserspaceInbound), hence the default;
// batched jobs spread that over a read (BenchmarkUserspaceInboundBatch,
// BenchmarkUserspaceOutboundBatch, workers=2).
// Two TUN queues against one on the 2-CPU test host
// (interop/bench-traffic.sh, 300 MB per transfer, median of 3,
// IKEGATE_USERSPACE_QUEUES=1 and 2 alternating in one session, load
// average 2.6-9 from other work; README, Benchmarks): four TCP connections
// at once were faster with two queues in 9 of 10 paired directions (-6%
// to +70%; 367-526 MB/s against 239-498), one connection slower in 7 of
// 8 (+4% to -24%; 318-392 against 307-473), CPU per GB alike; the cause
// of the one-connection loss was not found. Hence one queue by default
// on up to 2 CPUs (defaultQueues): no workload loses against before.
// Sorting a write's packets by flow queue costs about 10-18 ns per
// packet (BenchmarkUserspaceWriteTUN, 64-packet batches, against a
// device whose writes cost nothing).

// UserspaceConfig configures the userspace dataplane.
type UserspaceConfig struct {
	TUN     string // TUN device name (default "ikegate0")
	MTU     int    // TUN MTU (default 1400)
	Workers int    // crypto workers: 0 auto (inline on <= 2 CPUs, else one per CPU), < 0 inline on the readers
	Queue   int    // per-worker queue length (default 512)
	// NoOffload opens the TUN device without IFF_VNET_HDR: one packet
	// per read and write, no TSO/GRO (the fallback where the kernel
	// refuses offloads, forced).
	NoOffload bool
	// Queues is the number of TUN queues (IFF_MULTI_QUEUE), each with
	// its own reader goroutine: 0 auto (one on <= 2 CPUs, else one per
	// CPU up to MaxTUNQueues), 1 a single-queue device, at most
	// MaxTUNQueues.
	Queues int
}

// Userspace defaults.
const (
	DefaultTUN = "ikegate0"
	DefaultMTU = 1400

	defaultQueue = 512
	// MaxTUNQueues is the most TUN queues UserspaceConfig.Queues takes
	// (and the cap of the automatic count).
	MaxTUNQueues = 8
	// half is the size of each half of a packet buffer: the input packet
	// sits in the upper half and the output is written into the lower.
	// Packets up to smallHalf-128 bytes use small buffers, so that a
	// queued 1400-byte packet holds 4 KiB, not 20.
	half      = 10240
	smallHalf = 2048
	// maxInner is the largest inner packet taken from the TUN device:
	// room is left in the lower half for the ESP overhead.
	maxInner = half - 128
	// tunOffset is the headroom in front of every packet written to the
	// TUN device: with offloads the virtio-net header (10 bytes) goes
	// there.
	tunOffset = 16
	// tunBatch is the most packets one TUN read or write and one batch
	// send carry.
	tunBatch = policy.MaxESPBatch
	// groBufSize is the size of an inbound batch buffer: the TUN write
	// coalesces the TCP segments of a batch (GRO) into the first one's
	// buffer, up to 64 KiB.
	groBufSize = tunOffset + 65536
	// inBatchFree is how many inbound batch scratch areas (tunBatch
	// buffers of groBufSize each) are kept for reuse.
	inBatchFree = 4
)

// ErrNeedsUDPEncap is returned by the userspace backend for a CHILD SA
// that is not UDP-encapsulated when it was opened without its raw ESP
// transport (Options.RawESP; gateway esp_encap = "auto").
var ErrNeedsUDPEncap = errors.New(`kernel: the userspace dataplane was opened without raw ESP (IP protocol 50), so it needs UDP encapsulation (NAT-T, RFC 3948); set esp_encap = "auto" in [gateway] for raw ESP to peers not behind a NAT`)

// tunDevice is the packet device of the dataplane: a TUN device without
// packet information header (golang.zx2c4.com/wireguard/tun's, which
// with IFF_VNET_HDR splits the kernel's TSO super-packets on Read and
// coalesces TCP and UDP segments on Write), or a fake in tests. Read
// fills bufs[i][offset:] and sizes[i] for up to BatchSize packets and
// returns their number; Write writes the packets bufs[i][offset:], each
// with offset bytes of headroom in front (at least tunOffset), and may
// change the buffers.
type tunDevice interface {
	Read(bufs [][]byte, sizes []int, offset int) (int, error)
	Write(bufs [][]byte, offset int) (int, error)
	BatchSize() int
	Close() error
}

// tunQueue is one queue of the TUN device (one descriptor attached with
// IFF_MULTI_QUEUE, or the only one) and the packets its reader took
// from it.
type tunQueue struct {
	dev   tunDevice
	reads atomic.Uint64
}

// routeTable adds and removes the routes that steer traffic for the
// remote traffic selectors into the TUN device (nil: none, in tests), and
// the bypass routes that keep a peer's own address (its IKE, NAT-T and
// ESP-in-UDP packets) out of the tunnel when the selectors cover it.
type routeTable interface {
	addRoute(dst netip.Prefix, localTS []netip.Prefix) error
	delRoute(dst netip.Prefix) error
	addBypass(peer netip.Addr) error
	delBypass(peer netip.Addr) error
	close()
}

// Sender sends one ESP-in-UDP datagram (no non-ESP marker) from local to
// remote; b is only valid during the call.
type Sender func(local, remote netip.AddrPort, b []byte) error

// BatchSender sends a batch of ESP-in-UDP datagrams (valid only during
// the call) and returns how many it could not send.
type BatchSender func(ds []policy.ESPDatagram) (failed int)

type usStats struct {
	outNoSA, outNotIP, outTooBig, outNoSender, outSendErr, outEncap atomic.Uint64
	inUnknownSPI, inTooBig, inRejected, inOutsideTS, inTUNErr       atomic.Uint64
	queueFull, tunReadErr                                           atomic.Uint64
}

// usSA is one installed CHILD SA pair.
type usSA struct {
	// rec is the caller's record, kept as policy.Installer.AddChildSA
	// allows (a CHILD SA held once), and our own copy after a move (the
	// caller then changes the addresses of its own). The packet path
	// reads only fields that never change (ConnName); the keys are in the
	// ciphers of in and out, and the caller wipes the record's after
	// DelChildSA.
	rec atomic.Pointer[policy.ChildSA]
	seq uint64 // install order: newer SAs win outbound
	// fit is how fit the SA is for our packets (outActive, outDeferred,
	// outRetired): among the SAs that take a packet, the fittest newest
	// one sends it.
	fit            atomic.Int32
	in, out        *esp.SA
	local          atomic.Pointer[netip.AddrPort] // our UDP encapsulation endpoint; MOBIKE moves it
	remote         atomic.Pointer[netip.AddrPort] // the peer's; follows its NAT mapping
	localTS        []netip.Prefix                 // unmapped
	remoteTS       []netip.Prefix
	bypass         netip.Addr // the peer's address, routed around the tunnel (remoteTS covers it)
	inWkr, outWkr  int
	outsideTSDrops atomic.Uint64
	// outMu is held by a TUN reader (several queues, inline) from taking
	// the first outbound sequence number of a run of this SA's packets
	// until it has sent them: one SA's packets leave in sequence order.
	outMu sync.Mutex

	// For LastInbound: the inbound packet count when last asked, and when
	// it was last seen to grow (guarded by Userspace.mu).
	lastInCount  uint64
	lastInChange time.Time
}

// Outbound fitness of an SA (usSA.fit).
const (
	outRetired  = 0 // deleted after a rekey, kept for inbound stragglers only
	outDeferred = 1 // we answered its creation; the peer may not have it yet
	outActive   = 2
)

// pick returns the SA that sends a packet from src among list (newest
// first): the newest of the fittest that take src.
func pick(list []*usSA, src netip.Addr) *usSA {
	var best *usSA
	bestOut := int32(-1)
	for _, s := range list {
		if o := s.fit.Load(); o > bestOut && containsAny(s.localTS, src) {
			best, bestOut = s, o
			if o == outActive {
				break
			}
		}
	}
	return best
}

func containsAny(ps []netip.Prefix, a netip.Addr) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// The lookup tables are copy-on-write, read without a lock by the
// packet path. Each is split into tabShards pieces by key, and an install
// or removal copies only the pieces it changes (about N/tabShards
// entries), not the whole table: installing N SAs one by one costs
// O(N^2/tabShards), not O(N^2) (on 2 CPUs the full copy took 65% of the
// responder's CPU at 5,000 SAs).
const tabShards = 64

// inTable is the inbound table: SAs by inbound SPI.
type inTable [tabShards]atomic.Pointer[map[uint32]*usSA]

// get returns the SA with inbound SPI spi, nil if there is none.
func (t *inTable) get(spi uint32) *usSA {
	if m := t[spi%tabShards].Load(); m != nil {
		return (*m)[spi]
	}
	return nil
}

// set installs s under spi, or removes spi for a nil s (with
// Userspace.mu held: one writer at a time).
func (t *inTable) set(spi uint32, s *usSA) {
	p := &t[spi%tabShards]
	var m map[uint32]*usSA
	if old := p.Load(); old != nil {
		m = maps.Clone(*old)
	}
	if m == nil {
		m = map[uint32]*usSA{}
	}
	if s == nil {
		delete(m, spi)
	} else {
		m[spi] = s
	}
	p.Store(&m)
}

// outTable finds the outbound SA for a packet: per family, groups of
// prefixes of one length, longest first. An outTable is never changed
// once published: with returns a new one sharing what did not change.
type outTable struct {
	v4, v6 []lenGroup
}

type lenGroup struct {
	bits int
	n    int                                  // prefixes in m
	m    *[tabShards]map[netip.Prefix][]*usSA // by prefixShard; each list newest first
}

// prefixShard is the piece of a lenGroup that holds p.
func prefixShard(p netip.Prefix) int {
	var h uint32
	if a := p.Addr(); a.Is4() {
		b := a.As4()
		h = binary.BigEndian.Uint32(b[:])
	} else {
		b := a.As16()
		h = binary.BigEndian.Uint32(b[0:]) ^ binary.BigEndian.Uint32(b[4:]) ^ binary.BigEndian.Uint32(b[8:]) ^ binary.BigEndian.Uint32(b[12:])
	}
	return int((h * 0x9e3779b1) >> 26) // the top 6 bits: tabShards = 64
}

func (t *outTable) lookup(src, dst netip.Addr) *usSA {
	groups := t.v4
	if dst.Is6() {
		groups = t.v6
	}
	for i := range groups {
		g := &groups[i]
		p, err := dst.Prefix(g.bits)
		if err != nil {
			continue
		}
		if s := pick(g.m[prefixShard(p)][p], src); s != nil {
			return s
		}
	}
	return nil
}

// with returns t with s added (before every SA already there under its
// prefixes: s must be the newest) or removed.
func (t *outTable) with(s *usSA, add bool) *outTable {
	nt := &outTable{v4: slices.Clone(t.v4), v6: slices.Clone(t.v6)}
	for _, p := range s.remoteTS {
		groups := &nt.v4
		if !p.Addr().Is4() {
			groups = &nt.v6
		}
		i, found := slices.BinarySearchFunc(*groups, p.Bits(), func(g lenGroup, bits int) int { return bits - g.bits })
		if !found {
			if !add {
				continue
			}
			*groups = slices.Insert(*groups, i, lenGroup{bits: p.Bits(), m: new([tabShards]map[netip.Prefix][]*usSA)})
		}
		g := &(*groups)[i]
		shards := *g.m // a copy of the pieces' pointers
		k := prefixShard(p)
		m := maps.Clone(shards[k])
		if m == nil {
			m = map[netip.Prefix][]*usSA{}
		}
		list := m[p]
		if add {
			m[p] = append([]*usSA{s}, list...)
			if len(list) == 0 {
				g.n++
			}
		} else {
			rest := slices.DeleteFunc(slices.Clone(list), func(x *usSA) bool { return x == s })
			if len(rest) > 0 {
				m[p] = rest
			} else if len(list) > 0 {
				delete(m, p)
				g.n--
			}
		}
		shards[k] = m
		g.m = &shards
		if g.n == 0 {
			*groups = slices.Delete(*groups, i, i+1)
		}
	}
	return nt
}

// buildOutTable makes the outbound table of sas from scratch.
func buildOutTable(sas []*usSA) *outTable {
	sorted := append([]*usSA(nil), sas...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].seq < sorted[j].seq })
	t := &outTable{}
	for _, s := range sorted { // oldest first: each goes before those older
		t = t.with(s, true)
	}
	return t
}

// jobPkt is one packet of a job: its input is the n bytes at the start
// of the upper half of buf.
type jobPkt struct {
	sa   *usSA
	buf  *[]byte
	n    int
	from netip.AddrPort // inbound: where the datagram came from
}

// job is the work of one read for one worker: the packets of one
// direction, from one TUN read or one socket read, whose SAs are pinned
// to that worker, in the order they arrived.
type job struct {
	inbound bool
	pkts    []jobPkt
}

// worker is one crypto worker's queue: jobs, and how many packets they
// hold (bounded by UserspaceConfig.Queue).
type worker struct {
	ch     chan *job
	queued atomic.Int64
}

// jobSet gathers a read's packets per worker, one job each (reader
// scratch).
type jobSet struct {
	jobs []*job // by worker; nil: none yet
}

// Userspace is the userspace ESP dataplane backend. Of policy.Dataplane's
// optional parts it supports Counters (with LastInbound) and ESPInUDP,
// not traps or events.
type Userspace struct {
	ReqIDs
	log    *zap.Logger
	cfg    UserspaceConfig
	queues []*tunQueue // the TUN device's queues, one reader each
	routes routeTable

	sender  atomic.Pointer[Sender]
	bsender atomic.Pointer[BatchSender]
	raw     atomic.Pointer[rawESP] // the raw ESP transport (rawesp.go); nil: ESP-in-UDP only
	inFree  chan *inBatch          // inbound batch scratch areas for reuse
	inTab   inTable
	outTab  atomic.Pointer[outTable]
	workers []*worker
	jobs    sync.Pool // *job
	jobSets sync.Pool // *jobSet: HandleESPBatch's grouping
	one     sync.Pool // *oneBuf: inline HandleESP
	bufs    sync.Pool // *[]byte of 2*half
	small   sync.Pool // *[]byte of 2*smallHalf
	tunBig  bool      // MTU too large for small buffers

	blockOnFull bool // benchmarks only: wait for a full worker queue
	stats       usStats

	done chan struct{}
	wg   sync.WaitGroup

	mu        sync.Mutex // control path: install, delete, close
	closed    bool
	nextSeq   uint64
	allocated map[spiKey]netip.Addr
	installed map[saKey]*usSA
	routeRefs map[netip.Prefix]int
	bypasses  map[netip.Addr]int // bypass routes, by peer address: CHILD SAs needing each
}

// newUserspaceWith starts the dataplane over an opened single-queue
// device.
func newUserspaceWith(log *zap.Logger, cfg UserspaceConfig, tun tunDevice, routes routeTable) *Userspace {
	return newUserspaceQueues(log, cfg, []tunDevice{tun}, routes)
}

// newUserspaceQueues starts the dataplane over the opened queues of one
// TUN device (at least one), a reader on each.
func newUserspaceQueues(log *zap.Logger, cfg UserspaceConfig, tuns []tunDevice, routes routeTable) *Userspace {
	if log == nil {
		log = zap.NewNop()
	}
	if cfg.Workers == 0 {
		// Measured on 2 CPUs (BenchmarkUserspaceInbound): the hop to a
		// worker costs more than it spreads, so process inline there.
		cfg.Workers = -1
		if n := runtime.NumCPU(); n > 2 {
			cfg.Workers = n
		}
	}
	if cfg.Queue <= 0 {
		cfg.Queue = defaultQueue
	}
	u := &Userspace{
		log:       log,
		cfg:       cfg,
		routes:    routes,
		done:      make(chan struct{}),
		allocated: map[spiKey]netip.Addr{},
		installed: map[saKey]*usSA{},
		bypasses:  map[netip.Addr]int{},
		routeRefs: map[netip.Prefix]int{},
		inFree:    make(chan *inBatch, inBatchFree+max(cfg.Workers, 0)),
	}
	u.bufs.New = func() any { b := make([]byte, 2*half); return &b }
	u.one.New = func() any { return &oneBuf{b: make([]byte, tunOffset+half)} }
	u.small.New = func() any { b := make([]byte, 2*smallHalf); return &b }
	u.tunBig = cfg.MTU == 0 || cfg.MTU > smallHalf-128
	u.outTab.Store(&outTable{})
	u.jobs.New = func() any { return &job{pkts: make([]jobPkt, 0, tunBatch)} }
	for range max(cfg.Workers, 0) {
		// Every job holds at least one packet: a channel of Queue jobs
		// never fills before the packet bound does.
		w := &worker{ch: make(chan *job, cfg.Queue)}
		u.workers = append(u.workers, w)
		u.wg.Go(func() { u.work(w) })
	}
	u.jobSets.New = func() any { return &jobSet{jobs: make([]*job, len(u.workers))} }
	for _, d := range tuns {
		u.queues = append(u.queues, &tunQueue{dev: d})
	}
	for _, q := range u.queues {
		u.wg.Go(func() { u.readTUN(q) })
	}
	return u
}

// SetSender sets the function that sends ESP-in-UDP datagrams (the
// gateway's NAT-T socket). Until it is set, outbound packets are dropped.
func (u *Userspace) SetSender(f func(local, remote netip.AddrPort, b []byte) error) {
	if f == nil {
		u.sender.Store(nil)
		return
	}
	s := Sender(f)
	u.sender.Store(&s)
}

// SetBatchSender sets the function that sends a batch of ESP-in-UDP
// datagrams (policy.ESPBatcher); while set, it is used instead of the
// SetSender function.
func (u *Userspace) SetBatchSender(f func(ds []policy.ESPDatagram) (failed int)) {
	if f == nil {
		u.bsender.Store(nil)
		return
	}
	s := BatchSender(f)
	u.bsender.Store(&s)
}

// hasSender reports whether outbound datagrams can be sent now.
func (u *Userspace) hasSender() bool {
	return u.bsender.Load() != nil || u.sender.Load() != nil || u.raw.Load() != nil
}

// send sends ds with the batch sender, or one by one with the sender,
// and counts what failed.
func (u *Userspace) send(ds []policy.ESPDatagram) {
	ds = u.sendRaw(ds)
	if len(ds) == 0 {
		return
	}
	if bs := u.bsender.Load(); bs != nil {
		if failed := (*bs)(ds); failed > 0 {
			u.stats.outSendErr.Add(uint64(failed))
		}
		return
	}
	send := u.sender.Load()
	if send == nil {
		u.stats.outNoSender.Add(uint64(len(ds)))
		return
	}
	for _, d := range ds {
		if err := (*send)(d.Local, d.Remote, d.B); err != nil {
			u.stats.outSendErr.Add(1)
		}
	}
}

// sendRaw sends the datagrams of ds without UDP encapsulation (remote
// port 0) as raw ESP, each run of them with one batch send of the raw
// transport (one by one without one), and returns the others, moved to
// the front of ds. A run is sent before anything is moved over it.
func (u *Userspace) sendRaw(ds []policy.ESPDatagram) []policy.ESPDatagram {
	k := 0
	for i := 0; i < len(ds); {
		if ds[i].Remote.Port() != 0 {
			ds[k] = ds[i]
			k++
			i++
			continue
		}
		j := i + 1
		for j < len(ds) && ds[j].Remote.Port() == 0 {
			j++
		}
		u.sendRawRun(ds[i:j])
		i = j
	}
	return ds[:k]
}

// sendRawRun sends the raw ESP datagrams ds through the raw transport
// and counts what failed.
func (u *Userspace) sendRawRun(ds []policy.ESPDatagram) {
	r := u.raw.Load()
	if r == nil {
		u.stats.outNoSender.Add(uint64(len(ds)))
		return
	}
	if r.sendBatch != nil && len(ds) > 1 {
		if failed := r.sendBatch(ds); failed > 0 {
			u.stats.outSendErr.Add(uint64(failed))
		}
		return
	}
	for _, d := range ds {
		if err := r.send(d.Local, d.Remote, d.B); err != nil {
			u.stats.outSendErr.Add(1)
		}
	}
}

// TUNQueueReads returns the packets read from each queue of the TUN
// device so far (policy.TUNQueueCounter), one entry per queue.
func (u *Userspace) TUNQueueReads() []uint64 {
	out := make([]uint64, len(u.queues))
	for i, q := range u.queues {
		out[i] = q.reads.Load()
	}
	return out
}

// Stats returns the dataplane-wide drop counters.
func (u *Userspace) Stats() policy.DataplaneStats {
	s := &u.stats
	return policy.DataplaneStats{
		OutNoSA: s.outNoSA.Load(), OutNotIP: s.outNotIP.Load(), OutTooBig: s.outTooBig.Load(),
		OutNoSender: s.outNoSender.Load(), OutSendErrors: s.outSendErr.Load(), OutEncapError: s.outEncap.Load(),
		InUnknownSPI: s.inUnknownSPI.Load(), InTooBig: s.inTooBig.Load(), InRejected: s.inRejected.Load(),
		InOutsideTS: s.inOutsideTS.Load(), InTUNErrors: s.inTUNErr.Load(),
		QueueFull: s.queueFull.Load(), TUNReadErrors: s.tunReadErr.Load(),
	}
}

// getBuf returns a packet buffer for inputs of up to n bytes; its
// length is twice the half size.
func (u *Userspace) getBuf(n int) *[]byte {
	if n <= smallHalf-128 {
		return u.small.Get().(*[]byte)
	}
	return u.bufs.Get().(*[]byte)
}

func (u *Userspace) putBuf(b *[]byte) {
	if len(*b) == 2*smallHalf {
		u.small.Put(b)
	} else {
		u.bufs.Put(b)
	}
}

// HandleESP takes one ESP-in-UDP datagram (without non-ESP marker)
// received on local from remote. pkt is only read during the call. It is
// safe to call from several goroutines. Ports 0 mean the packet came as
// raw ESP (IP protocol 50; handleRawESP).
func (u *Userspace) HandleESP(local, remote netip.AddrPort, pkt []byte) {
	s := u.inSA(remote, pkt)
	if s == nil {
		return
	}
	if len(u.workers) == 0 {
		// Inline: decrypt straight from the caller's buffer.
		o := u.one.Get().(*oneBuf)
		if inner, ok := u.decap(s, o.b[:tunOffset], pkt, remote); ok {
			o.v[0] = o.b[:tunOffset+len(inner)]
			u.writeTUN(o.v[:], nil) // (one packet: one queue, no sorting)
			o.v[0] = nil
		}
		u.one.Put(o)
		return
	}
	j := u.newJob(true)
	u.addIn(j, s, remote, pkt)
	u.dispatch(j, s.inWkr)
}

// HandleESPBatch takes the ESP-in-UDP datagrams of one read of the
// gateway's socket (policy.ESPBatcher), or of the raw transport's (ports
// 0). Inline, they are decrypted into the buffers of one scratch area and
// the inner packets written to the TUN device with one batched write,
// which coalesces a TCP flow's segments (GRO) where the device has
// offloads; with workers they are copied and grouped by their SAs'
// workers, one job per worker, which does the same for its share.
func (u *Userspace) HandleESPBatch(ds []policy.ESPDatagram) {
	if len(u.workers) > 0 {
		js := u.jobSets.Get().(*jobSet)
		for _, d := range ds {
			s := u.inSA(d.Remote, d.B)
			if s == nil {
				continue
			}
			w := s.inWkr % len(u.workers)
			j := js.jobs[w]
			if j == nil {
				j = u.newJob(true)
				js.jobs[w] = j
			}
			u.addIn(j, s, d.Remote, d.B)
		}
		u.dispatchAll(js)
		u.jobSets.Put(js)
		return
	}
	sc := u.getInBatch()
	u.decapBatch(sc, ds)
	u.putInBatch(sc)
}

// newJob returns an empty job from the pool.
func (u *Userspace) newJob(inbound bool) *job {
	j := u.jobs.Get().(*job)
	j.inbound = inbound
	return j
}

// addIn adds a copy of the inbound ESP packet pkt of s, from from, to j.
func (u *Userspace) addIn(j *job, s *usSA, from netip.AddrPort, pkt []byte) {
	bp := u.getBuf(len(pkt))
	n := copy((*bp)[len(*bp)/2:], pkt)
	j.pkts = append(j.pkts, jobPkt{sa: s, buf: bp, n: n, from: from})
}

// dispatchAll hands each job of js to its worker and empties js.
func (u *Userspace) dispatchAll(js *jobSet) {
	for w, j := range js.jobs {
		if j != nil {
			u.dispatch(j, w)
			js.jobs[w] = nil
		}
	}
}

// putJob returns j's buffers and j to their pools.
func (u *Userspace) putJob(j *job) {
	for i := range j.pkts {
		u.putBuf(j.pkts[i].buf)
	}
	clear(j.pkts)
	j.pkts = j.pkts[:0]
	u.jobs.Put(j)
}

// inBatch is the scratch area of one inline inbound batch: tunBatch
// buffers of groBufSize (each made when first needed) and the packets
// ready for the TUN device.
type inBatch struct {
	bufs [][]byte
	out  [][]byte
	byQ  [MaxTUNQueues][][]byte // writeTUN's scratch
}

// oneBuf is the scratch of one inline HandleESP: a buffer for the inner
// packet and its one-packet batch.
type oneBuf struct {
	b []byte
	v [1][]byte
}

func (u *Userspace) getInBatch() *inBatch {
	select {
	case sc := <-u.inFree:
		return sc
	default:
	}
	return &inBatch{bufs: make([][]byte, tunBatch), out: make([][]byte, 0, tunBatch)}
}

func (u *Userspace) putInBatch(sc *inBatch) {
	select {
	case u.inFree <- sc:
	default: // enough kept: let it go
	}
}

// decapBatch decrypts ds into sc's buffers and writes the inner packets
// to the TUN device, tunBatch at a time.
func (u *Userspace) decapBatch(sc *inBatch, ds []policy.ESPDatagram) {
	sc.out = sc.out[:0]
	for _, d := range ds {
		if s := u.inSA(d.Remote, d.B); s != nil {
			u.decapInto(sc, s, d.B, d.Remote)
		}
	}
	u.flushIn(sc)
}

// decapInto decrypts pkt of s, received from from, into sc's next
// buffer and queues the inner packet for the TUN device, writing the
// batch once sc is full.
func (u *Userspace) decapInto(sc *inBatch, s *usSA, pkt []byte, from netip.AddrPort) {
	buf := sc.bufs[len(sc.out)]
	if buf == nil {
		buf = make([]byte, groBufSize)
		sc.bufs[len(sc.out)] = buf
	}
	inner, ok := u.decap(s, buf[:tunOffset], pkt, from)
	if !ok {
		return
	}
	sc.out = append(sc.out, buf[:tunOffset+len(inner)])
	if len(sc.out) == len(sc.bufs) {
		u.writeTUN(sc.out, &sc.byQ)
		sc.out = sc.out[:0]
	}
}

// flushIn writes the inner packets sc still holds to the TUN device and
// empties it.
func (u *Userspace) flushIn(sc *inBatch) {
	if len(sc.out) > 0 {
		u.writeTUN(sc.out, &sc.byQ)
	}
	clear(sc.out)
	sc.out = sc.out[:0]
}

// writeTUN writes packets (each with tunOffset bytes of headroom) to the
// TUN device and counts the failures; byQ is the caller's scratch for
// sorting them by queue (needed for several packets on several queues
// only).
//
// Each packet goes to the queue of its flow (flowQueue). This matters
// beyond spreading the writers: a multi-queue TUN device records, for
// each flow it is handed on a queue, that queue, and sends the flow's
// outbound packets to the reader of that same queue (the kernel's
// automatic queue selection, made for a guest that reads and writes a
// flow on one vCPU). Writing a flow's packets to varying queues would
// move its outbound side between readers and reorder it (seen as
// out-of-order segments in TestUserspaceMultiQueueTCP with the queues
// taken in turn); one queue per flow keeps each flow on one reader in
// both directions, and different flows spread over the queues.
// Concurrent writes to one queue are safe: the library's NativeTun.Write
// holds a per-descriptor mutex over its GRO tables and write list.
func (u *Userspace) writeTUN(pkts [][]byte, byQ *[MaxTUNQueues][][]byte) {
	n := len(u.queues)
	if n == 1 {
		u.writeQueue(u.queues[0], pkts)
		return
	}
	first := flowQueue(pkts[0][tunOffset:], n)
	i := 1
	for i < len(pkts) && flowQueue(pkts[i][tunOffset:], n) == first {
		i++
	}
	if i == len(pkts) { // one queue (one flow, typically): no sorting
		u.writeQueue(u.queues[first], pkts)
		return
	}
	for k := range n {
		byQ[k] = byQ[k][:0]
	}
	byQ[first] = append(byQ[first], pkts[:i]...)
	for _, p := range pkts[i:] {
		k := flowQueue(p[tunOffset:], n)
		byQ[k] = append(byQ[k], p)
	}
	for k := range n {
		if len(byQ[k]) > 0 {
			u.writeQueue(u.queues[k], byQ[k])
			clear(byQ[k])
		}
	}
}

// writeQueue writes packets to queue q and counts the failures.
func (u *Userspace) writeQueue(q *tunQueue, pkts [][]byte) {
	if _, err := q.dev.Write(pkts, tunOffset); err != nil {
		n := 1
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			n = max(len(j.Unwrap()), 1)
		}
		u.stats.inTUNErr.Add(uint64(n))
	}
}

// flowQueue returns the queue (of n > 1) for the IP packet p: a hash of
// its addresses, protocol and, for TCP, UDP, SCTP and UDP-Lite in an
// unfragmented IPv4 packet or directly after the IPv6 header, ports;
// symmetric (both directions of a flow hash alike). Anything it cannot
// parse goes to queue 0.
func flowQueue(p []byte, n int) int {
	var h uint32
	var proto byte
	var l4 []byte
	switch {
	case len(p) >= 20 && p[0]>>4 == 4:
		h = binary.BigEndian.Uint32(p[12:16]) ^ binary.BigEndian.Uint32(p[16:20])
		proto = p[9]
		if ihl := int(p[0]&0xf) * 4; ihl >= 20 && binary.BigEndian.Uint16(p[6:8])&0x3fff == 0 && len(p) >= ihl+4 {
			l4 = p[ihl:]
		}
	case len(p) >= 40 && p[0]>>4 == 6:
		for o := 8; o < 40; o += 4 {
			h ^= binary.BigEndian.Uint32(p[o : o+4])
		}
		proto = p[6]
		if len(p) >= 44 {
			l4 = p[40:]
		}
	default:
		return 0
	}
	switch proto {
	case 6, 17, 132, 136: // TCP, UDP, SCTP, UDP-Lite
		if l4 != nil {
			h ^= uint32(binary.BigEndian.Uint16(l4[0:2]) ^ binary.BigEndian.Uint16(l4[2:4]))
		}
	}
	h ^= uint32(proto) << 16
	// Mix (the multiplier of a Fibonacci hash, then the high bits), and
	// scale to n without a division.
	h ^= h >> 16
	h *= 0x9e3779b1
	h ^= h >> 15
	return int(uint64(h) * uint64(n) >> 32)
}

// inSA returns the SA of an inbound ESP datagram, nil (counted) if it is
// too short, too long or for an unknown SPI.
func (u *Userspace) inSA(remote netip.AddrPort, pkt []byte) *usSA {
	if len(pkt) < 8 {
		u.stats.inRejected.Add(1)
		return nil
	}
	spi := uint32(pkt[0])<<24 | uint32(pkt[1])<<16 | uint32(pkt[2])<<8 | uint32(pkt[3])
	s := u.inTab.get(spi)
	if s == nil {
		u.stats.inUnknownSPI.Add(1)
		if ce := u.log.Check(zap.DebugLevel, "ESP for unknown SPI"); ce != nil {
			ce.Write(zap.String("spi", fmt.Sprintf("%08x", spi)), zap.Stringer("peer", remote))
		}
		return nil
	}
	if len(pkt) > half {
		u.stats.inTooBig.Add(1)
		return nil
	}
	// ESP must come the way its SA was installed: raw (port 0) or in
	// UDP.
	if (remote.Port() == 0) != (s.remote.Load().Port() == 0) {
		u.stats.inRejected.Add(1)
		return nil
	}
	return s
}

// dispatch queues j on worker w, or drops its packets and counts them
// (QueueFull) when they would make the worker hold more than Queue
// packets (a job is taken whole or not at all; an idle worker takes any).
func (u *Userspace) dispatch(j *job, w int) {
	wk := u.workers[w%len(u.workers)]
	n := int64(len(j.pkts))
	if u.blockOnFull {
		wk.queued.Add(n)
		wk.ch <- j
		return
	}
	if q := wk.queued.Add(n); q > int64(u.cfg.Queue) && q != n { // (a job larger than the queue goes in alone)
		wk.queued.Add(-n)
		u.stats.queueFull.Add(uint64(n))
		u.putJob(j)
		return
	}
	select {
	case wk.ch <- j:
	default: // (cannot happen: every queued job holds a packet)
		wk.queued.Add(-n)
		u.stats.queueFull.Add(uint64(n))
		u.putJob(j)
	}
}

func (u *Userspace) work(w *worker) {
	var out []policy.ESPDatagram
	for {
		select {
		case j := <-w.ch:
			w.queued.Add(-int64(len(j.pkts)))
			if j.inbound {
				u.processIn(j)
			} else {
				out = u.processOut(j, out)
			}
			u.putJob(j)
		case <-u.done:
			return
		}
	}
}

// processIn decrypts the packets of an inbound job into a scratch area
// and writes the inner ones to the TUN device with one batched write
// (coalescing, as the inline path).
func (u *Userspace) processIn(j *job) {
	sc := u.getInBatch()
	sc.out = sc.out[:0]
	for _, p := range j.pkts {
		b := *p.buf
		h := len(b) / 2
		u.decapInto(sc, p.sa, b[h:h+p.n], p.from)
	}
	u.flushIn(sc)
	u.putInBatch(sc)
}

// processOut encapsulates the packets of an outbound job, each into the
// lower half of its buffer, and sends them with one batch send; out is
// scratch, returned emptied.
func (u *Userspace) processOut(j *job, out []policy.ESPDatagram) []policy.ESPDatagram {
	if !u.hasSender() {
		u.stats.outNoSender.Add(uint64(len(j.pkts)))
		return out
	}
	for _, p := range j.pkts {
		b := *p.buf
		h := len(b) / 2
		if d, ok := u.encap(p.sa, b[:0:h], b[h:h+p.n]); ok {
			out = append(out, d)
		}
	}
	for i := 0; i < len(out); i += tunBatch { // (a batch send takes at most tunBatch)
		u.send(out[i:min(i+tunBatch, len(out))])
	}
	clear(out)
	return out[:0]
}

// decap decrypts the ESP packet pkt of s, received from from, appending
// the inner packet to dst, and checks it: the inner packet, ok if it may
// go to the TUN device (otherwise it was counted).
func (u *Userspace) decap(s *usSA, dst, pkt []byte, from netip.AddrPort) (_ []byte, ok bool) {
	inner, nh, err := s.in.Decapsulate(dst, pkt)
	if err != nil {
		u.stats.inRejected.Add(1)
		if ce := u.log.Check(zap.DebugLevel, "inbound ESP dropped"); ce != nil {
			ce.Write(zap.String("conn", s.rec.Load().ConnName), zap.String("spi", fmt.Sprintf("%08x", s.in.SPI())), zap.Error(err))
		}
		return nil, false
	}
	// A packet on an SA we answered for: the peer has it, so ours may go
	// on it too.
	if s.fit.Load() == outDeferred && s.fit.CompareAndSwap(outDeferred, outActive) {
		if ce := u.log.Check(zap.DebugLevel, "the peer uses the new CHILD SA: sending on it"); ce != nil {
			ce.Write(zap.String("conn", s.rec.Load().ConnName), zap.String("spi_in", fmt.Sprintf("%08x", s.in.SPI())))
		}
	}
	src, dst2, ok := ipAddrs(inner)
	if !ok || (nh == esp.NextHeaderIPv4) != src.Is4() || !containsAny(s.remoteTS, src) || !containsAny(s.localTS, dst2) {
		u.stats.inOutsideTS.Add(1)
		s.outsideTSDrops.Add(1)
		if ce := u.log.Check(zap.DebugLevel, "decrypted packet outside the traffic selectors"); ce != nil {
			ce.Write(zap.String("conn", s.rec.Load().ConnName), zap.Stringer("src", src), zap.Stringer("dst", dst2))
		}
		return nil, false
	}
	// An authenticated packet from a new address or port means the peer's
	// NAT mapping changed: follow it without renegotiation (RFC 3948 and
	// RFC 7296 2.23 for IKE, which the engines do on their side).
	if from.IsValid() && from.Port() != 0 { // (raw ESP, port 0, follows nothing)
		if cur := s.remote.Load(); *cur != from {
			moved := from // only this path allocates
			s.remote.Store(&moved)
			u.log.Info("peer's NAT mapping changed; ESP follows it", zap.String("conn", s.rec.Load().ConnName),
				zap.Stringer("old", *cur), zap.Stringer("new", from))
		}
	}
	return inner, true
}

// encap encapsulates inner on s into dst: the datagram to send, ok
// unless it failed (counted).
func (u *Userspace) encap(s *usSA, dst, inner []byte) (_ policy.ESPDatagram, ok bool) {
	pkt, err := s.out.Encapsulate(dst, inner)
	if err != nil {
		u.stats.outEncap.Add(1)
		if ce := u.log.Check(zap.DebugLevel, "outbound ESP failed"); ce != nil {
			ce.Write(zap.String("conn", s.rec.Load().ConnName), zap.Error(err))
		}
		return policy.ESPDatagram{}, false
	}
	return policy.ESPDatagram{Local: *s.local.Load(), Remote: *s.remote.Load(), B: pkt}, true
}

// ipAddrs returns the source and destination of an IPv4 or IPv6 packet.
func ipAddrs(p []byte) (src, dst netip.Addr, ok bool) {
	if len(p) == 0 {
		return
	}
	switch p[0] >> 4 {
	case 4:
		if len(p) < 20 {
			return
		}
		return netip.AddrFrom4([4]byte(p[12:16])), netip.AddrFrom4([4]byte(p[16:20])), true
	case 6:
		if len(p) < 40 {
			return
		}
		return netip.AddrFrom16([16]byte(p[8:24])), netip.AddrFrom16([16]byte(p[24:40])), true
	}
	return
}

// readTUN is the outbound reader of queue q: it reads up to a batch of
// packets from it (with offloads, the segments of one TSO super-packet),
// finds each one's SA, and either encapsulates them all and sends them
// with one batch send (inline), or hands each to its SA's worker. With
// several queues several readers run at once: everything here is the
// reader's own (buffers, batch, job set) or safe for concurrent use (the
// atomically swapped tables, the SA's atomic sequence number and fitness,
// its atomically replaced endpoints, the atomic counters, the senders).
func (u *Userspace) readTUN(q *tunQueue) {
	batch := min(max(q.dev.BatchSize(), 1), tunBatch)
	size := smallHalf - 128
	if u.tunBig {
		size = maxInner
	}
	bps := make([]*[]byte, batch)
	rbufs := make([][]byte, batch)
	sizes := make([]int, batch)
	out := make([]policy.ESPDatagram, 0, batch)
	js := &jobSet{jobs: make([]*job, len(u.workers))}
	// With several queues, inline, a reader holds an SA's order lock
	// from the first sequence number of its run of the SA's packets to
	// their send (held), so that one SA's packets leave in sequence
	// order (see the comment at the top).
	ordered := len(u.queues) > 1 && len(u.workers) == 0
	var held *usSA
	defer func() {
		for _, bp := range bps {
			if bp != nil {
				u.putBuf(bp)
			}
		}
	}()
	for {
		for i, bp := range bps {
			if bp == nil {
				bp = u.getBuf(size)
				bps[i] = bp
			}
			h := len(*bp) / 2
			rbufs[i] = (*bp)[h : h+size]
		}
		n, err := q.dev.Read(rbufs, sizes, 0)
		if n > 0 {
			q.reads.Add(uint64(min(n, batch)))
		}
		if err != nil {
			select {
			case <-u.done:
				return
			default:
			}
			if errors.Is(err, fs.ErrClosed) {
				return
			}
			u.stats.tunReadErr.Add(1)
			u.log.Debug("TUN read failed", zap.Error(err))
			if n == 0 {
				time.Sleep(time.Millisecond) // do not spin on a persistent error
				continue
			}
		}
		canSend := u.hasSender() // inline: checked once per read, not per packet
		for i := range min(n, batch) {
			m := sizes[i]
			if m >= size || m < 0 {
				u.stats.outTooBig.Add(1) // possibly truncated
				continue
			}
			pkt := rbufs[i][:m]
			src, dst, ok := ipAddrs(pkt)
			if !ok {
				u.stats.outNotIP.Add(1)
				continue
			}
			s := u.outTab.Load().lookup(src, dst)
			if s == nil {
				u.stats.outNoSA.Add(1)
				continue
			}
			if len(u.workers) > 0 {
				w := s.outWkr % len(u.workers)
				j := js.jobs[w]
				if j == nil {
					j = u.newJob(false)
					js.jobs[w] = j
				}
				j.pkts = append(j.pkts, jobPkt{sa: s, buf: bps[i], n: m})
				bps[i] = nil
				continue
			}
			if !canSend {
				u.stats.outNoSender.Add(1)
				continue
			}
			if ordered && s != held {
				// Another SA's run: send the last one's and release it.
				out = u.sendHeld(held, out)
				s.outMu.Lock()
				held = s
			}
			h := len(*bps[i]) / 2
			if d, ok := u.encap(s, (*bps[i])[:0:h], pkt); ok {
				out = append(out, d)
			}
		}
		if len(u.workers) > 0 {
			u.dispatchAll(js)
			continue
		}
		out = u.sendHeld(held, out)
		held = nil
	}
}

// sendHeld sends out and releases held's order lock (if held is not
// nil: readTUN with several queues); out is returned emptied.
func (u *Userspace) sendHeld(held *usSA, out []policy.ESPDatagram) []policy.ESPDatagram {
	if len(out) > 0 {
		u.send(out)
		clear(out)
	}
	if held != nil {
		held.outMu.Unlock()
	}
	return out[:0]
}

// AllocSPI reserves an inbound SPI. SPIs are unique across the backend
// (inbound ESP is looked up by SPI alone).
func (u *Userspace) AllocSPI(local, remote netip.Addr) (uint32, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.closed {
		return 0, errClosed
	}
	for range 1000 {
		spi, err := randomSPI()
		if err != nil {
			return 0, err
		}
		if u.spiInUse(spi) {
			continue
		}
		u.allocated[spiKey{local.Unmap(), spi}] = remote.Unmap()
		return spi, nil
	}
	return 0, fmt.Errorf("kernel: no free SPI for %v after 1000 tries", local)
}

func (u *Userspace) spiInUse(spi uint32) bool {
	for k := range u.allocated {
		if k.spi == spi {
			return true
		}
	}
	return u.inTab.get(spi) != nil
}

// unmapTS returns ps with IPv4-mapped IPv6 prefixes as IPv4 and every
// prefix masked: ps itself where nothing changes.
func unmapTS(ps []netip.Prefix) []netip.Prefix {
	if !slices.ContainsFunc(ps, func(p netip.Prefix) bool { return p.Addr().Is4In6() || p != p.Masked() }) {
		return ps // the caller's, unchanged while installed (policy.Installer)
	}
	out := make([]netip.Prefix, 0, len(ps))
	for _, p := range ps {
		a := p.Addr()
		bits := p.Bits()
		if a.Is4In6() {
			a = a.Unmap()
			bits = max(bits-96, 0)
		}
		out = append(out, netip.PrefixFrom(a, bits).Masked())
	}
	return out
}

// spiHash spreads SPIs over workers (splitmix64 finalizer: a peer picks
// our outbound SPIs).
func spiHash(spi uint32, n int) int {
	if n <= 1 {
		return 0
	}
	z := uint64(spi)
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	z ^= z >> 31
	return int(z % uint64(n))
}

// AddChildSA installs both directions of sa, its routes and its table
// entries.
func (u *Userspace) AddChildSA(sa *policy.ChildSA) error {
	if err := validateChildSA(sa); err != nil {
		return err
	}
	if !sa.Tunnel {
		return fmt.Errorf("kernel: CHILD SA %q: the userspace dataplane supports tunnel mode only", sa.ConnName)
	}
	// [rawesp] without encapsulation ports: raw ESP, if the transport is open
	if (sa.EncapLocalPort == 0) != (sa.EncapRemotePort == 0) {
		return fmt.Errorf("kernel: CHILD SA %q: UDP encapsulation ports %d/%d: both or neither must be set", sa.ConnName, sa.EncapLocalPort, sa.EncapRemotePort)
	}
	if sa.EncapLocalPort == 0 && u.raw.Load() == nil {
		return fmt.Errorf("CHILD SA %q: %w", sa.ConnName, ErrNeedsUDPEncap)
	}
	if len(sa.LocalTS) == 0 || len(sa.RemoteTS) == 0 {
		return fmt.Errorf("kernel: CHILD SA %q: no traffic selectors", sa.ConnName)
	}
	integ := sa.Integ.ID
	if sa.SHA256Trunc96 {
		integ = esp.IntegSHA256Trunc96
	}
	in, err := esp.NewInbound(sa.SPIIn, sa.Encr, integ, sa.EncKeyIn, sa.IntegKeyIn)
	if err != nil {
		return fmt.Errorf("kernel: CHILD SA %q inbound: %w", sa.ConnName, err)
	}
	out, err := esp.NewOutbound(sa.SPIOut, sa.Encr, integ, sa.EncKeyOut, sa.IntegKeyOut)
	if err != nil {
		return fmt.Errorf("kernel: CHILD SA %q outbound: %w", sa.ConnName, err)
	}
	in.Resume(sa.ResumeSeqIn)
	out.Resume(sa.ResumeSeqOut)
	s := &usSA{
		in:       in,
		out:      out,
		localTS:  unmapTS(sa.LocalTS),
		remoteTS: unmapTS(sa.RemoteTS),
		inWkr:    spiHash(sa.SPIIn, len(u.workers)),
		outWkr:   spiHash(sa.SPIOut, len(u.workers)),
	}
	s.rec.Store(sa)
	local := netip.AddrPortFrom(sa.Local.Unmap(), sa.EncapLocalPort)
	s.local.Store(&local)
	remote := netip.AddrPortFrom(sa.Remote.Unmap(), sa.EncapRemotePort)
	s.remote.Store(&remote)

	u.mu.Lock()
	defer u.mu.Unlock()
	if u.closed {
		return errClosed
	}
	k := keyOf(sa)
	if u.inTab.get(sa.SPIIn) != nil {
		return fmt.Errorf("kernel: add inbound ESP SA spi %#08x %v->%v: already installed", sa.SPIIn, k.remote, k.local)
	}
	// The peer's own packets must never be routed into the tunnel whose
	// selectors cover its address (a road warrior's remote_ts unset, a
	// 0.0.0.0/0 tunnel): its host route, via the path it has now, goes in
	// first.
	if containsAny(s.remoteTS, remote.Addr()) {
		if err := u.refBypassLocked(remote.Addr()); err != nil {
			return fmt.Errorf("kernel: CHILD SA %q: keeping the peer %v out of its own tunnel: %w", sa.ConnName, remote.Addr(), err)
		}
		s.bypass = remote.Addr()
	}
	var added []netip.Prefix
	for _, p := range s.remoteTS {
		if err := u.refRouteLocked(p, s.localTS); err != nil {
			for _, a := range added {
				u.unrefRouteLocked(a)
			}
			u.unrefBypassLocked(s.bypass)
			return fmt.Errorf("kernel: CHILD SA %q: route %v: %w", sa.ConnName, p, err)
		}
		added = append(added, p)
	}
	u.nextSeq++
	s.seq = u.nextSeq
	s.fit.Store(outActive)
	if sa.DeferOutbound {
		s.fit.Store(outDeferred)
	}
	delete(u.allocated, spiKey{k.local, sa.SPIIn})
	u.installed[k] = s
	u.inTab.set(sa.SPIIn, s)
	u.outTab.Store(u.outTab.Load().with(s, true))
	// Debug: the engine's "CHILD SA established" says it at info, which
	// keeps to the fewest lines per SA.
	if ce := u.log.Check(zap.DebugLevel, "CHILD SA installed in the userspace dataplane"); ce != nil {
		ce.Write(zap.String("conn", sa.ConnName),
			zap.String("spi_in", fmt.Sprintf("%08x", sa.SPIIn)), zap.String("spi_out", fmt.Sprintf("%08x", sa.SPIOut)),
			zap.String("suite", in.Suite()), zap.Stringers("local_ts", s.localTS), zap.Stringers("remote_ts", s.remoteTS),
			zap.Stringer("encap_local", *s.local.Load()), zap.Stringer("encap_remote", *s.remote.Load()))
	}
	return nil
}

func (u *Userspace) refRouteLocked(p netip.Prefix, localTS []netip.Prefix) error {
	if u.routeRefs[p] == 0 && u.routes != nil {
		if err := u.routes.addRoute(p, localTS); err != nil {
			return err
		}
	}
	u.routeRefs[p]++
	return nil
}

func (u *Userspace) refBypassLocked(peer netip.Addr) error {
	if u.bypasses[peer] == 0 && u.routes != nil {
		if err := u.routes.addBypass(peer); err != nil {
			return err
		}
	}
	u.bypasses[peer]++
	return nil
}

// unrefBypassLocked drops one reference to peer's bypass route (none for
// the zero address).
func (u *Userspace) unrefBypassLocked(peer netip.Addr) {
	if !peer.IsValid() {
		return
	}
	if u.bypasses[peer]--; u.bypasses[peer] > 0 {
		return
	}
	delete(u.bypasses, peer)
	if u.routes != nil {
		if err := u.routes.delBypass(peer); err != nil {
			u.log.Warn("cannot remove bypass route", zap.Stringer("peer", peer), zap.Error(err))
		}
	}
}

func (u *Userspace) unrefRouteLocked(p netip.Prefix) {
	u.routeRefs[p]--
	if u.routeRefs[p] > 0 {
		return
	}
	delete(u.routeRefs, p)
	if u.routes != nil {
		if err := u.routes.delRoute(p); err != nil {
			u.log.Warn("cannot remove route", zap.Stringer("dst", p), zap.Error(err))
		}
	}
}

// publishLocked swaps in lookup tables made from scratch (a move, the
// close; an install or removal changes the tables in place).
func (u *Userspace) publishLocked() {
	var in [tabShards]map[uint32]*usSA
	all := make([]*usSA, 0, len(u.installed))
	for _, s := range u.installed {
		k := s.in.SPI() % tabShards
		if in[k] == nil {
			in[k] = map[uint32]*usSA{}
		}
		in[k][s.in.SPI()] = s
		all = append(all, s)
	}
	for k := range in {
		if in[k] == nil {
			u.inTab[k].Store(nil)
		} else {
			u.inTab[k].Store(&in[k])
		}
	}
	u.outTab.Store(buildOutTable(all))
}

// MoveChildSA gives an installed SA new outer addresses and UDP ports
// (MOBIKE); sequence numbers and replay windows stay.
func (u *Userspace) MoveChildSA(sa *policy.ChildSA, local, remote netip.AddrPort) error {
	// [rawesp] ports zero: raw ESP from now on, if the transport is open
	if (local.Port() == 0) != (remote.Port() == 0) {
		return fmt.Errorf("kernel: move CHILD SA spi %#08x: UDP encapsulation ports %d/%d: both or neither must be set", sa.SPIIn, local.Port(), remote.Port())
	}
	if local.Port() == 0 && u.raw.Load() == nil {
		return fmt.Errorf("kernel: move CHILD SA spi %#08x: %w: %w", sa.SPIIn, ErrNeedsUDPEncap, errors.ErrUnsupported)
	}
	local, remote = netip.AddrPortFrom(local.Addr().Unmap(), local.Port()), netip.AddrPortFrom(remote.Addr().Unmap(), remote.Port())
	u.mu.Lock()
	defer u.mu.Unlock()
	k := keyOf(sa)
	s := u.installed[k]
	if s == nil {
		return fmt.Errorf("kernel: move CHILD SA spi %#08x: not installed", sa.SPIIn)
	}
	old := *s.remote.Load()
	delete(u.installed, k)
	// Our own copy from now on: the caller moves its ChildSA after this
	// returns, outside u.mu, while Installed may read the record.
	c := recordOf(s.rec.Load())
	c.Move(local, remote)
	s.rec.Store(&c)
	s.local.Store(&local)
	s.remote.Store(&remote)
	u.installed[keyOf(&c)] = s
	u.publishLocked()
	u.log.Info("CHILD SA moved to new addresses", zap.String("conn", s.rec.Load().ConnName),
		zap.String("spi_in", fmt.Sprintf("%08x", c.SPIIn)), zap.Stringer("old", old), zap.Stringer("new", remote))
	return nil
}

// RetireOutbound stops sending on the installed CHILD SA sa; its inbound
// side works until DelChildSA (policy.OutboundRetirer).
func (u *Userspace) RetireOutbound(sa *policy.ChildSA) error {
	s := u.inTab.get(sa.SPIIn)
	if s == nil {
		return fmt.Errorf("kernel: retire CHILD SA %q spi %#08x: not installed", sa.ConnName, sa.SPIIn)
	}
	s.fit.Store(outRetired)
	return nil
}

// DelChildSA removes what AddChildSA installed.
func (u *Userspace) DelChildSA(sa *policy.ChildSA) error {
	if sa == nil {
		return nil
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	k := keyOf(sa)
	delete(u.allocated, spiKey{k.local, k.spiIn})
	s := u.installed[k]
	if s == nil {
		return nil
	}
	delete(u.installed, k)
	u.inTab.set(s.in.SPI(), nil)
	u.outTab.Store(u.outTab.Load().with(s, false))
	for _, p := range s.remoteTS {
		u.unrefRouteLocked(p)
	}
	u.unrefBypassLocked(s.bypass)
	return nil
}

func (u *Userspace) find(sa *policy.ChildSA) *usSA {
	if sa == nil {
		return nil
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.installed[keyOf(sa)]
}

// LastInbound reports when sa was last seen to receive valid packets, so
// that dead peer detection probes only silent tunnels. It compares packet
// counts between calls instead of reading the clock per packet.
func (u *Userspace) LastInbound(sa *policy.ChildSA) time.Time {
	s := u.find(sa)
	if s == nil {
		return time.Time{}
	}
	return u.lastInbound(s)
}

// lastInbound is when s was last seen to receive packets: now, if its
// inbound packet count grew since the last call (zero: never).
func (u *Userspace) lastInbound(s *usSA) time.Time {
	n := s.in.Counters().Packets
	u.mu.Lock()
	defer u.mu.Unlock()
	if n > s.lastInCount {
		s.lastInCount, s.lastInChange = n, time.Now()
	}
	return s.lastInChange
}

// SACounters returns the full ESP counters of both directions of sa,
// including replay, integrity and padding drops, and the number of
// decrypted packets dropped for being outside the traffic selectors.
func (u *Userspace) SACounters(sa *policy.ChildSA) (in, out esp.Counters, outsideTS uint64, err error) {
	s := u.find(sa)
	if s == nil {
		return in, out, 0, fmt.Errorf("kernel: CHILD SA spi in %#08x: not installed", sa.SPIIn)
	}
	return s.in.Counters(), s.out.Counters(), s.outsideTSDrops.Load(), nil
}

// CountersBySPI returns the ESP counters of both directions of the
// installed CHILD SA whose inbound SPI is spiIn (inbound SPIs are unique
// in this backend), for the control API; ok is false if there is none.
func (u *Userspace) CountersBySPI(spiIn uint32) (in, out esp.Counters, outsideTS uint64, ok bool) {
	s := u.inTab.get(spiIn)
	if s == nil {
		return in, out, 0, false
	}
	return s.in.Counters(), s.out.Counters(), s.outsideTSDrops.Load(), true
}

// Counters returns the counters of the installed CHILD SA whose inbound
// SPI is spiIn (inbound SPIs are unique in this backend): inner bytes and
// packets of both directions, the inbound drops, and LastInbound, which
// advances when the inbound packet count has grown since the last call
// (of Counters or LastInbound). ok is false if there is no such SA.
func (u *Userspace) Counters(spiIn uint32) (policy.ChildCounters, bool) {
	s := u.inTab.get(spiIn)
	if s == nil {
		return policy.ChildCounters{}, false
	}
	in, out := s.in.Counters(), s.out.Counters()
	return policy.ChildCounters{
		InBytes: in.Bytes, InPackets: in.Packets,
		OutBytes: out.Bytes, OutPackets: out.Packets,
		LastInbound:  u.lastInbound(s),
		ReplayDrops:  in.ReplayDrops,
		AuthFailures: in.AuthFailures,
		PadErrors:    in.PadErrors,
		Malformed:    in.Malformed,

		OutsideTSDrops: s.outsideTSDrops.Load(),
		SeqOut:         s.out.Seq(),
		SeqIn:          s.in.Highest(),
	}, true
}

// Capabilities reports per-SA counters with LastInbound, ESP-in-UDP
// from the gateway's NAT-T sockets, and raw ESP when its transport is
// open; no traps, no events.
func (u *Userspace) Capabilities() policy.Capabilities {
	return policy.Capabilities{Counters: true, LastInbound: true, ESPInUDP: true, Drops: true, Move: true, Resume: true,
		RawESP: u.raw.Load() != nil} // [rawesp]
}

// InstallTrap is unsupported (errors.ErrUnsupported): the userspace
// dataplane has no policy layer that could raise an acquire.
func (u *Userspace) InstallTrap(conn *policy.Connection, _ uint32) error {
	return trapsUnsupported(conn)
}

// RemoveTrap is unsupported (errors.ErrUnsupported).
func (u *Userspace) RemoveTrap(conn *policy.Connection) error { return trapsUnsupported(conn) }

// Events returns nil: the userspace dataplane has no expire or acquire
// events yet.
func (u *Userspace) Events() <-chan Event { return nil }

// Installed lists the installed CHILD SAs.
func (u *Userspace) Installed() []policy.ChildSA {
	u.mu.Lock()
	defer u.mu.Unlock()
	out := make([]policy.ChildSA, 0, len(u.installed))
	for _, s := range u.installed {
		out = append(out, recordOf(s.rec.Load()))
	}
	sortChildSAs(out)
	return out
}

// Close stops the dataplane, removes its routes and the TUN device.
func (u *Userspace) Close() error {
	u.mu.Lock()
	if u.closed {
		u.mu.Unlock()
		return nil
	}
	u.closed = true
	for p := range u.routeRefs {
		u.routeRefs[p] = 1
		u.unrefRouteLocked(p)
	}
	for peer := range u.bypasses {
		u.bypasses[peer] = 1
		u.unrefBypassLocked(peer)
	}
	clear(u.installed)
	clear(u.allocated)
	u.publishLocked()
	u.mu.Unlock()

	close(u.done)
	var errs []error
	for _, q := range u.queues { // the device goes with the last queue
		errs = append(errs, q.dev.Close())
	}
	err := errors.Join(append(errs, u.closeRawESP())...) // [rawesp]
	u.wg.Wait()
	if u.routes != nil {
		u.routes.close()
	}
	return err
}

var _ policy.Dataplane = (*Userspace)(nil)
