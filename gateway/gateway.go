// Package gateway is the runtime: UDP sockets on both IKE ports, the version
// dispatcher, SA shards, timers and the control API. It executes what the
// sans-I/O engines ask for.
//
// Data flow: one reader goroutine per socket reads datagrams in batches
// (recvmmsg on Linux, batch.go) into buffers it reuses, classifies each
// (Classify), copies IKE messages out and hands them, without blocking,
// to their shard: IKEv2 by the SPI we chose (ShardOf), IKEv1 by the peer's
// IP address (shardOfPeer). Each shard is one goroutine
// owning one engine of each IKE version: it feeds them datagrams, control
// requests and timer ticks, queues what they send and sends it in batches
// (sendmmsg) once no other input is waiting, and re-arms its timer to the
// engines' next deadline. No lock is taken on that path; counters are
// atomics.
//
// Why IKEv1 goes by address. IKEv1 has no rekey exchange: an ISAKMP SA is
// renewed by a new Main or Aggressive Mode with new cookies, and when
// both ends renew at once (equal lifetimes, or an operator on each side)
// each holds two new ISAKMP SAs, the one it initiated and the one the peer
// did. The engine settles that (ikev1 resolveCrossing keeps one by a rule
// both ends share) but only among the SAs it holds. Routed by
// cookie, the SA the peer initiated landed on a random shard, and with
// two shards half of all crossings stayed unresolved until their
// lifetime. Routed by the peer's address, every ISAKMP SA with a peer,
// and every initiation towards it (Up, the engine's own renewals and
// retries), is on one shard, so the engine sees all of them; no message
// between shards, no lock across shards and no scan per packet is needed.
// The alternative, resolving in the runtime across shards when an SA
// comes up, would need the same decision split over two engines plus a
// protocol to move phase 2 SAs between them. The cost: one peer address
// is served by one shard, so many IKEv1 clients behind one NAT address
// (or a load generator from one source address) share one CPU; NAT-T's
// port float keeps the address and so the shard, but a peer whose address
// changes in the middle of an SA (IKEv1 has no MOBIKE) now reaches
// another shard, where its SA is unknown. IKEv2 keeps routing by
// SPI: its rekeys (and their collisions, RFC 7296 2.8.1) are exchanges
// inside one IKE SA and never span two.
package gateway

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.uber.org/zap"

	"ikegate/ikev1"
	"ikegate/ikev2"
	"ikegate/internal/engine"
	"ikegate/isakmp"
	"ikegate/kernel"
	"ikegate/policy"
)

// Option configures New.
type Option func(*options)

type options struct {
	backend  policy.Dataplane
	queueLen int
	level    *zap.AtomicLevel
	hub      *LogHub
}

// WithLogLevel lets `ikegate loglevel` change the level of the logger the
// gateway was given, which must have been built on level.
func WithLogLevel(level *zap.AtomicLevel) Option { return func(o *options) { o.level = level } }

// WithLogHub lets `ikegate log` and the waiting commands follow the log:
// the logger the gateway was given must be teed with hub.Core().
func WithLogHub(hub *LogHub) Option { return func(o *options) { o.hub = hub } }

// WithBackend makes the gateway use b instead of opening
// kernel.Open(cfg.Gateway.Dataplane, ...). The gateway owns b once New succeeds
// and closes it when Run returns (or on Close); if New fails, b is the
// caller's to close.
func WithBackend(b policy.Dataplane) Option { return func(o *options) { o.backend = b } }

// WithQueueLen sets the capacity of each shard's inbound queue (default
// 1024). Datagrams arriving at a full queue are dropped and counted.
func WithQueueLen(n int) Option { return func(o *options) { o.queueLen = n } }

// Default tuning.
const (
	defaultQueueLen = 1024
	recvBufSize     = 64 << 10 // a UDP datagram never exceeds this
	socketBufSize   = 4 << 20  // SO_RCVBUF / SO_SNDBUF: survive bursts
)

// Gateway is one running IKE daemon: its sockets, shards and control API.
type Gateway struct {
	cfg      *policy.Config
	db       atomic.Pointer[policy.DB] // replaced by Reload (dbNow)
	reloadMu sync.Mutex                // one Reload at a time
	level    *zap.AtomicLevel          // the logger's level (nil: fixed)
	hub      *LogHub                   // the log's subscribers (nil: none possible)
	reloaded *policy.Config            // the configuration of the last Reload (guarded by reloadMu)
	log      *zap.Logger
	backend  policy.Dataplane
	sendErrs sendErrLog          // rate limit of send-failure warnings
	guard    *selectorGuard      // the backend as the engines' effects reach it
	caps     policy.Capabilities // the backend's, read once
	espBatch policy.ESPBatcher   // the backend's batched ESP-in-UDP, if it has it (set by Run)
	access   engine.Access       // users and pools (nil: no remote access)
	ra       *accessLayer        // the same, for listing leases

	peersMu sync.Mutex
	peers   map[string][]saRef // IKE SAs by connection and peer identity (unique.go)
	peerOf  map[saID]string    // the key of peers each IKE SA is filed under

	socks   []*socket
	byLocal map[netip.AddrPort]*socket // read-only after New
	shards  []*shard
	ctl     *controlServer // nil without a control socket
	cluster *clusterRun    // nil without [cluster]
	// metricsLn is the Prometheus endpoint's listener (nil without
	// metrics_listen), served by Run (metrics.go).
	metricsLn net.Listener

	stats counters
	rr    atomic.Uint32 // round-robin shard for initiations

	started   atomic.Bool
	ready     chan struct{} // closed when Run has started the shards
	done      chan struct{} // closed when Run stops serving
	closeOnce sync.Once
	closeErr  error
}

type socket struct {
	conn  *net.UDPConn
	rc    syscall.RawConn // conn's, for batched writes
	local netip.AddrPort
	natt  bool
	// gso: ESP batches are sent with UDP segmentation offload
	// (UDP_SEGMENT), set by Run where the kernel has it and cleared when
	// a send says the route cannot (batch_linux.go).
	gso atomic.Bool
}

// New validates cfg, opens the kernel backend (unless one is given with
// WithBackend), creates one engine per shard, and binds the UDP sockets
// and the control socket, so that address and permission problems are
// reported here, before Run. Call Run to serve, or Close to release
// everything without serving.
func New(cfg *policy.Config, log *zap.Logger, opts ...Option) (_ *Gateway, err error) {
	if cfg == nil {
		return nil, errors.New("gateway: nil config")
	}
	if log == nil {
		log = zap.NewNop()
	}
	o := options{queueLen: defaultQueueLen}
	for _, opt := range opts {
		opt(&o)
	}
	gw := cfg.Gateway
	if len(gw.Listen) == 0 {
		return nil, errors.New("gateway: no listen address configured")
	}
	ikePort, nattPort := gw.IKEPort, gw.NATTPort
	if ikePort == 0 {
		ikePort = 500
	}
	if nattPort == 0 {
		nattPort = 4500
	}
	if ikePort < 0 || ikePort > 65535 || nattPort < 0 || nattPort > 65535 || ikePort == nattPort {
		return nil, fmt.Errorf("gateway: bad ports: ike_port %d, natt_port %d", ikePort, nattPort)
	}
	workers := gw.Workers
	if workers <= 0 {
		workers = runtime.NumCPU()
	}

	g := &Gateway{
		cfg:     cfg,
		log:     log,
		byLocal: make(map[netip.AddrPort]*socket),
		ready:   make(chan struct{}),
		peers:   make(map[string][]saRef),
		peerOf:  make(map[saID]string),
		done:    make(chan struct{}),
	}
	g.db.Store(policy.NewDB(cfg.Connections, cfg.Pools...))

	ownBackend := false
	g.level = o.level
	g.hub = o.hub
	if o.backend != nil {
		g.backend = o.backend
	} else {
		// esp_encap = "auto": the userspace dataplane opens its raw ESP
		// transport for the SAs without UDP encapsulation.
		kb, err := kernel.Open(gw.Dataplane, log, kernel.Options{RawESP: !gw.ForceEncap()})
		if err != nil {
			return nil, fmt.Errorf("gateway: dataplane: %w", err)
		}
		g.backend = kb
		ownBackend = true
	}
	g.caps = g.backend.Capabilities()
	if gw.Dataplane == "userspace" && !gw.ForceEncap() && !g.caps.RawESP {
		err := fmt.Errorf(`gateway: esp_encap = %q, but the %s dataplane carries ESP-in-UDP only (its raw ESP transport is not open): peers not behind a NAT could not be served; use esp_encap = "force"`, gw.ESPEncapMode(), gw.Dataplane)
		if ownBackend {
			g.backend.Close()
		}
		return nil, err
	}
	g.guard = newSelectorGuard(g.backend)
	ra, err := newAccessLayer(cfg, g.guard, log)
	if err != nil {
		if ownBackend {
			g.backend.Close()
		}
		return nil, err
	}
	if ra != nil {
		g.ra, g.access = ra, ra
	}
	defer func() {
		if err != nil {
			g.closeSockets()
			if ownBackend {
				g.backend.Close()
			}
		}
	}()

	cookies := gw.CookieThreshold / workers
	if cookies < 1 {
		cookies = 1
	}
	var keyLog func(policy.ExportedKeys)
	if gw.KeyExport != "" {
		ke, err := newKeyExport(gw.KeyExport, log)
		if err != nil {
			return nil, err
		}
		keyLog = ke.record
	}
	for k := range workers {
		slog := log.With(zap.Int("shard", k))
		ecfg := ikev2.Config{ // = ikev1.Config: the engines share it
			DB:              g.dbNow(),
			Installer:       g.backend,
			Log:             slog,
			Rand:            rand.Reader,
			IKEPort:         uint16(ikePort),
			NATTPort:        uint16(nattPort),
			CookieThreshold: cookies,
			RetransmitTries: gw.RetransmitTries,
			RetransmitBase:  gw.RetransmitBase,
			SPIFilter:       spiFilter(k, workers),
			// esp_encap = "force" (the userspace dataplane's default):
			// every peer uses ESP-in-UDP.
			ForceEncap:   gw.ForceEncap(),
			NATKeepalive: gw.NATKeepalive,
			KeyLog:       keyLog,
		}
		if cfg.Cluster != nil {
			// SAs may move to another node: announce RFC 6311.
			ecfg.MIDSync = true
			if len(cfg.Cluster.RedirectFrom) > 0 {
				ecfg.Redirect = g.redirect
			}
		}
		// IKEv1 is routed by the peer's address, not by a cookie: its
		// engine may pick any cookie.
		v1cfg := ecfg
		v1cfg.SPIFilter = nil
		g.shards = append(g.shards, &shard{
			id: k,
			g:  g,
			// One configuration for both engines.
			engines: [2]ikeEngine{v1: ikev1.NewEngine(v1cfg), v2: ikev2.NewEngine(ecfg)},
			in:      make(chan inbound, o.queueLen),
			ctl:     make(chan ctlReq),
			tx:      newTxQueue(),
			log:     slog,
		})
	}

	// Both IKE ports on each listen address, and on each cluster service
	// address wherever it lives now (IP_FREEBIND: the node that owns one
	// has it on its interface).
	bind := func(ip netip.Addr, listen func(netip.AddrPort, bool, *zap.Logger) (*socket, error)) error {
		for _, p := range []struct {
			port int
			natt bool
		}{{ikePort, false}, {nattPort, true}} {
			ap := netip.AddrPortFrom(ip.Unmap(), uint16(p.port))
			if g.byLocal[ap] != nil {
				continue // a service address also in listen
			}
			s, err := listen(ap, p.natt, log)
			if err != nil {
				return err
			}
			g.socks = append(g.socks, s)
			g.byLocal[s.local] = s
		}
		return nil
	}
	for _, ip := range gw.Listen {
		if err := bind(ip, listenUDP); err != nil {
			return nil, err
		}
	}
	if cfg.Cluster != nil {
		for _, p := range cfg.Cluster.ServiceAddresses {
			if err := bind(p.Addr(), listenUDPFree); err != nil {
				return nil, fmt.Errorf("cluster service address: %w", err)
			}
		}
		if g.cluster, err = newClusterRun(g, cfg.Cluster); err != nil {
			return nil, err
		}
	}
	if gw.Dataplane == "xfrm" {
		if err := g.prepareXfrmSockets(); err != nil {
			return nil, err
		}
	}

	if gw.Control != "" {
		ctl, err := listenControl(gw.Control, g, log)
		if err != nil {
			return nil, err
		}
		g.ctl = ctl
	}
	if gw.MetricsListen != "" {
		ln, err := listenMetrics(gw.MetricsListen)
		if err != nil {
			return nil, fmt.Errorf("gateway: metrics_listen: %w", err)
		}
		g.metricsLn = ln
	}
	return g, nil
}

// spiFilter accepts the IKEv2 SPIs that route to shard k of n.
func spiFilter(k, n int) func(uint64) bool {
	if n <= 1 {
		return nil
	}
	return func(spi uint64) bool { return ShardOf(spi, n) == k }
}

// Workers returns the number of SA shards.
func (g *Gateway) Workers() int { return len(g.shards) }

// LocalAddrs returns the bound UDP addresses (IKE and NAT-T port for each
// listen address).
func (g *Gateway) LocalAddrs() []netip.AddrPort {
	out := make([]netip.AddrPort, len(g.socks))
	for i, s := range g.socks {
		out[i] = s.local
	}
	return out
}

// Run serves until ctx is done, then closes the sockets, the control
// socket and the kernel backend. Connections with start = "start" are
// initiated once the shards are running; those with start = "trap" get
// their trap policies then and are initiated when traffic hits them
// (trap.go). Run may be called once.
func (g *Gateway) Run(ctx context.Context) error {
	if !g.started.CompareAndSwap(false, true) {
		return errors.New("gateway: Run called twice")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	if g.caps.ESPInUDP {
		g.backend.SetSender(g.sendESP)
		if b, ok := g.backend.(policy.ESPBatcher); ok {
			// Batched ESP: UDP GSO for sending and UDP GRO for receiving
			// on the NAT-T sockets where the kernel has them.
			for _, s := range g.socks {
				if s.natt {
					enableUDPOffloads(s, g.log)
				}
			}
			g.espBatch = b
			b.SetBatchSender(g.sendESPBatch)
		}
	}
	var wg sync.WaitGroup
	// The shards outlive ctx by the shutdown below: they send the deletes.
	shardCtx, stopShards := context.WithCancel(context.Background())
	defer stopShards()
	for _, sh := range g.shards {
		wg.Go(func() { sh.run(shardCtx) })
	}
	for _, s := range g.socks {
		wg.Go(func() { g.readLoop(s) })
	}
	if g.ctl != nil {
		wg.Go(func() { g.ctl.serve(ctx) })
	}
	g.serveMetrics(ctx, &wg) // with metrics_listen
	g.startKernel(ctx, &wg)  // traps and kernel events (trap.go)
	// The cluster membership stops before the shards: leaving hands the
	// service addresses' SAs to the survivors, and only the SAs left are
	// then deleted by shutdown.
	clusterDone := make(chan struct{})
	clusterCtx, stopCluster := context.WithCancel(context.Background())
	defer stopCluster()
	if g.cluster != nil {
		go func() {
			defer close(clusterDone)
			g.cluster.run(clusterCtx)
		}()
	} else {
		close(clusterDone)
	}
	close(g.ready)
	g.log.Info("ikegate running",
		zap.Stringers("listen", g.LocalAddrs()),
		zap.Int("workers", len(g.shards)),
		zap.Int("connections", len(g.dbNow().Connections())),
		zap.String("control", g.cfg.Gateway.Control))

	for _, c := range g.dbNow().Connections() {
		if c.Start != policy.StartStart {
			continue
		}
		if err := g.Up(ctx, c.Name); err != nil {
			g.log.Warn("initiation at startup failed", zap.String("conn", c.Name), zap.Error(err))
		}
	}

	<-ctx.Done()
	g.log.Info("ikegate stopping")
	stopCluster()
	<-clusterDone
	g.shutdown()
	close(g.done)
	stopShards()
	err := g.Close()
	wg.Wait()
	return err
}

// shutdownTimeout bounds how long stopping waits for the shards to send
// their deletes.
const shutdownTimeout = 2 * time.Second

// shutdown deletes every IKE SA of both versions, telling the peers, on
// every shard (bounded by shutdownTimeout): peers without dead peer
// detection would otherwise keep SAs that lead nowhere.
func (g *Gateway) shutdown() {
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	var mu sync.Mutex
	deleted := 0
	err := g.runOnAll(ctx, func(_ int, sh *shard, now time.Time) {
		for i, e := range sh.engines {
			out, n := e.Shutdown(now)
			sh.exec(i, out)
			mu.Lock()
			deleted += n
			mu.Unlock()
		}
	})
	mu.Lock()
	defer mu.Unlock()
	if err != nil {
		g.log.Warn("stopping: not every worker sent its deletes in time", zap.Error(err), zap.Int("deleted", deleted))
		return
	}
	g.log.Info("stopping: deleted every IKE SA, telling the peers", zap.Int("ike_sas", deleted))
}

// Close releases the sockets, the control socket and the kernel backend.
// Run calls it on exit; call it directly only for a Gateway that is not
// run. It is idempotent.
func (g *Gateway) Close() error {
	g.closeOnce.Do(func() {
		g.closeSockets()
		if g.ra != nil {
			g.ra.close()
		}
		if g.backend != nil {
			g.closeErr = g.backend.Close()
		}
	})
	return g.closeErr
}

func (g *Gateway) closeSockets() {
	if g.ctl != nil {
		g.ctl.close()
	}
	if g.metricsLn != nil {
		g.metricsLn.Close()
	}
	for _, s := range g.socks {
		s.conn.Close()
	}
}

// Ready is closed once Run serves: control requests (Up, Down, SAs, ...)
// fail with "gateway is not running" before.
func (g *Gateway) Ready() <-chan struct{} { return g.ready }

// running reports whether the shards are serving.
func (g *Gateway) running() bool {
	if !g.started.Load() {
		return false
	}
	select {
	case <-g.done:
		return false
	default:
		return true
	}
}

func (g *Gateway) drop(r Reason) { g.stats.drops[r].Add(1) }

// sendESP sends one ESP-in-UDP datagram (no non-ESP marker) for the
// userspace dataplane from the socket bound to local (or, for an unset
// local address, the first socket of remote's family on local's port).
func (g *Gateway) sendESP(local, remote netip.AddrPort, b []byte) error {
	s := g.socketFor(isakmp.Datagram{Local: local, Remote: remote})
	if s == nil || !s.natt {
		g.drop(ReasonNoSocket)
		return fmt.Errorf("gateway: no NAT-T socket for ESP from %v", local)
	}
	if _, err := s.conn.WriteToUDPAddrPort(b, unmapAP(remote)); err != nil {
		g.drop(ReasonSendError)
		return err
	}
	g.stats.out[KindESP].Add(1)
	return nil
}

// socketFor finds the socket for d.Local. An engine that does not know its
// local address (unset IP) gets the first socket of the remote's address
// family on the requested port (the IKE port if none).
func (g *Gateway) socketFor(d isakmp.Datagram) *socket {
	local := unmapAP(d.Local)
	if s := g.byLocal[local]; s != nil {
		return s
	}
	if local.Addr().IsValid() && !local.Addr().IsUnspecified() {
		return nil
	}
	port := local.Port()
	if port == 0 {
		port = g.socks[0].local.Port() // sockets come in (IKE, NAT-T) pairs
	}
	v4 := d.Remote.Addr().Unmap().Is4()
	for _, s := range g.socks {
		if s.local.Port() == port && s.local.Addr().Is4() == v4 {
			return s
		}
	}
	return nil
}

func unmapAP(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// readLoop is the reader goroutine of one socket: it takes the datagrams
// that are there, up to recvBatch per system call (batch.go), and
// dispatches each.
func (g *Gateway) readLoop(s *socket) {
	log := g.log.With(zap.Stringer("socket", s.local))
	r, err := newBatchReader(s.conn, recvBatch, recvBufSize)
	if err != nil {
		log.Error("cannot read from the socket", zap.Error(err))
		return
	}
	// The ESP datagrams of one read go to a batched dataplane together.
	var espq *[]policy.ESPDatagram
	if s.natt && g.espBatch != nil {
		q := make([]policy.ESPDatagram, 0, recvBatch)
		espq = &q
	}
	for {
		msgs, err := r.read()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			g.drop(ReasonReadError)
			log.Debug("read failed", zap.Error(err))
			time.Sleep(time.Millisecond) // do not spin on a persistent error
			continue
		}
		g.handleRead(s, msgs, log, espq)
	}
}

// handleRead dispatches the datagrams of one read of socket s: a
// datagram that UDP GRO coalesced is split into its segments, each
// classified as if it had come alone, and the ESP datagrams of the read
// go to a batched dataplane at once (with espq, its scratch).
func (g *Gateway) handleRead(s *socket, msgs []rxMsg, log *zap.Logger, espq *[]policy.ESPDatagram) {
	for _, m := range msgs {
		switch {
		case m.truncated:
			g.stats.in[KindInvalid].Add(1)
			g.drop(ReasonTooLong)
		case m.badGRO:
			g.stats.in[KindInvalid].Add(1)
			g.drop(ReasonBadGRO)
		case !m.from.IsValid():
			g.drop(ReasonReadError) // a source address of no IP family: never seen on UDP
		case m.seg > 0:
			for seg := range groSegments(m.b, m.seg) {
				g.dispatchTo(s, m.from, seg, log, espq)
			}
		default:
			g.dispatchTo(s, m.from, m.b, log, espq)
		}
	}
	if espq != nil && len(*espq) > 0 {
		g.espBatch.HandleESPBatch(*espq)
		clear(*espq)
		*espq = (*espq)[:0]
	}
}

// dispatch classifies one datagram and hands it on; b is only valid during
// the call.
func (g *Gateway) dispatch(s *socket, from netip.AddrPort, b []byte, log *zap.Logger) {
	g.dispatchTo(s, from, b, log, nil)
}

// dispatchTo is dispatch that, with espq, queues an ESP-in-UDP datagram
// there for the batched dataplane instead of handing it over alone (b
// must then stay valid until the queue is handed over).
func (g *Gateway) dispatchTo(s *socket, from netip.AddrPort, b []byte, log *zap.Logger, espq *[]policy.ESPDatagram) {
	kind, reason, msg := Classify(b, s.natt)
	g.stats.in[kind].Add(1)
	switch kind {
	case KindInvalid:
		g.drop(reason)
		if ce := log.Check(zap.DebugLevel, "dropped malformed datagram"); ce != nil {
			ce.Write(zap.Stringer("peer", from), zap.String("reason", reason.String()), zap.Int("len", len(b)))
		}
		return
	case KindKeepalive:
		return
	case KindESP:
		if g.caps.ESPInUDP {
			if espq != nil {
				*espq = append(*espq, policy.ESPDatagram{Local: s.local, Remote: from, B: msg})
				return
			}
			g.backend.HandleESP(s.local, from, msg)
			return
		}
		g.drop(ReasonNoDataplane)
		if ce := log.Check(zap.DebugLevel, "dropped ESP-in-UDP: no userspace dataplane"); ce != nil {
			ce.Write(zap.Stringer("peer", from), zap.Int("len", len(b)))
		}
		return
	}

	h := peekHeader(msg)
	d := isakmp.Datagram{Local: s.local, Remote: from, Data: append([]byte(nil), msg...)}
	// IKEv1 SAs live on the shard of the peer's address (shardOfPeer),
	// IKEv2 SAs on the shard of the SPI we chose (routeSPI).
	var sh *shard
	ver := v2
	if kind == KindIKEv1 {
		ver, sh = v1, g.shards[shardOfPeer(from.Addr(), len(g.shards))]
	} else {
		sh = g.shards[ShardOf(routeSPI(h), len(g.shards))]
	}
	select {
	case sh.in <- inbound{d: d, ver: ver}:
	default:
		g.drop(ReasonQueueFull)
		if ce := log.Check(zap.DebugLevel, "dropped IKE message: shard queue full"); ce != nil {
			ce.Write(append(h.fields(ver+1), zap.Stringer("peer", from), zap.Int("shard", sh.id))...)
		}
	}
}

// fields are the log fields of an IKE header, named as the engines name
// them; never anything from the body.
func (h headerInfo) fields(version int) []zap.Field {
	return []zap.Field{
		zap.Int("version", version),
		zap.Stringer("exchange", h.exchange),
		zap.Uint32("msgid", h.msgID),
		zap.String("spi_i", fmt.Sprintf("%016x", h.spii)),
		zap.String("spi_r", fmt.Sprintf("%016x", h.spir)),
	}
}

// sendErrLog says whether a failed send to a peer is worth a warning:
// once per peer per sendErrEvery, so that a route that is gone is named
// in the log without a line per retransmission.
type sendErrLog struct {
	mu   sync.Mutex
	last map[netip.Addr]time.Time
}

const sendErrEvery = 30 * time.Second

func (l *sendErrLog) due(peer netip.Addr, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if t, ok := l.last[peer]; ok && now.Sub(t) < sendErrEvery {
		return false
	}
	if l.last == nil || len(l.last) > 4096 {
		l.last = map[netip.Addr]time.Time{} // bounded: forget and start over
	}
	l.last[peer] = now
	return true
}

// dbNow is the policy database in force (Reload replaces it).
func (g *Gateway) dbNow() *policy.DB { return g.db.Load() }
