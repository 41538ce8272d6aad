package loadgen

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.uber.org/zap"

	"ikegate/ikev1"
	"ikegate/ikev2"
	"ikegate/internal/engine"
	"ikegate/isakmp"
	"ikegate/policy"
)

// maxBatch is the most received datagrams a shard handles per lock.
const maxBatch = 64

// noKeepalive is the clients' NAT keepalive interval: longer than any
// run, so that it never fires.
const noKeepalive = 1000 * time.Hour

// initiator is what a shard needs of either engine.
type initiator interface {
	engine.Answerer
	HandleDatagram(now time.Time, d isakmp.Datagram) engine.Output
	Tick(now time.Time) engine.Output
	NextDeadline() time.Time
	SAs() []policy.IKESAInfo
	Failures(m map[string]string)
	ClearFailure(conn string)
	DeleteSA(now time.Time, key uint64, notify bool, why string) (engine.Output, bool)
}

// clientState is where a client stands.
type clientState uint8

const (
	waiting  clientState = iota // not started
	flying                      // handshake under way
	up                          // CHILD SA installed
	failed                      // gave up
	deleting                    // delete sent (Delete)
	deleted                     // its IKE SA is gone after the delete
)

// client is one handshake: its connection, socket and outcome.
type client struct {
	n     int // its number
	conn  *policy.Connection
	sock  *socket
	state clientState
	spi   uint64    // initiator SPI (IKEv1: cookie) of its IKE SA
	start time.Time // first message
	// deadline is when the handshake (or the delete) is given up.
	deadline time.Time
	ikeUp    time.Time // its IKE SA was established (zero: not yet)
	latency  time.Duration
	vip      netip.Addr
}

// socket is one source port; its reader feeds its shard.
type socket struct {
	conn  *net.UDPConn
	raw   syscall.RawConn
	buf   []byte     // receive buffer (not on Linux: recv_linux.go)
	addr  netip.Addr // its source address
	shard *shard
}

// outgoing is a datagram to send after the shard is unlocked.
type outgoing struct {
	conn *net.UDPConn
	to   netip.AddrPort
	data []byte
}

// shard is one engine and the clients whose SAs it holds. Its mutex
// guards everything in it and its clients' state.
type shard struct {
	r        *run
	mu       sync.Mutex
	eng      initiator
	initiate func(now time.Time, conn *policy.Connection) (engine.Output, error)
	dp       *installer
	byName   map[string]*client
	bySPI    map[uint64]*client
	flying   map[*client]struct{} // handshakes (and deletes) under way
	clients  []*client
	in       chan isakmp.Datagram // from the readers
	timer    *time.Timer          // the engine's next deadline
	armed    time.Time            // when timer fires (zero: not armed)
	now      time.Time            // of the step being executed (for observe)
	fails    map[string]string
	out      []outgoing
	observe  func(engine.Effect, error)
}

// run is one Run.
type run struct {
	cfg     Config
	shards  []*shard
	sockets []*socket
	clients []*client
	spis    atomic.Uint32 // ESP SPIs, unique across the run (installer)

	stop chan struct{} // closed when Run returns
	sem  chan struct{} // a slot per handshake (or delete) in flight
	left atomic.Int64  // handshakes (or deletes) not yet finished

	sent, received atomic.Int64 // IKE datagrams
	dropped        atomic.Int64 // Result.Dropped
	nDeleted       atomic.Int64 // Result.Deleted

	mu      sync.Mutex    // guards what follows
	done    chan struct{} // closed when left reaches zero
	fails   map[string]int
	errs    []ClientError
	readers sync.WaitGroup // readers and shards
}

// Run drives cfg.Count handshakes against cfg.Target and returns what came
// of them. The sockets are opened in the calling goroutine before
// anything else (a caller that entered a network namespace on a locked
// thread gets them there). When ctx is cancelled, handshakes not yet
// started are not started, those in flight fail, and Run returns the
// result so far with ctx's error.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	r := &run{cfg: cfg, fails: map[string]int{}, sem: make(chan struct{}, cfg.Concurrency),
		stop: make(chan struct{})}
	defer r.close()
	if err := r.open(); err != nil {
		return nil, err
	}
	for _, sh := range r.shards {
		r.readers.Add(1)
		go sh.work()
	}
	for _, s := range r.sockets {
		r.readers.Add(1)
		go r.read(s)
	}
	cpu0 := cpuTime()
	start := time.Now()
	done := r.expect(cfg.Count)
	sweepDone := make(chan struct{})
	go r.sweep(sweepDone)
	started := r.dispatch(ctx, start)
	r.finish(int64(cfg.Count - started))
	select {
	case <-done:
	case <-ctx.Done():
		r.abort("cancelled")
		<-done
	}
	end := time.Now()
	cpu := cpuTime() - cpu0
	res := r.result(started, end.Sub(start), cpu)
	res.PeakRSS = peakRSS()
	res.Sent, res.Received = int(r.sent.Load()), int(r.received.Load())
	if cfg.Hold > 0 && ctx.Err() == nil && res.Established > 0 {
		r.hold(ctx, res)
		if ctx.Err() != nil { // the hold was ended early: no failure, no delete
			close(sweepDone)
			res.Dropped = int(r.dropped.Load())
			return res, nil
		}
	}
	if cfg.Delete && ctx.Err() == nil {
		r.deleteAll(ctx)
	}
	close(sweepDone)
	res.Deleted, res.Dropped = int(r.nDeleted.Load()), int(r.dropped.Load())
	return res, ctx.Err()
}

// open creates the sockets, the shards and the clients.
func (r *run) open() error {
	cfg := &r.cfg
	r.spis.Store(0x1000 + uint32(time.Now().UnixNano()&0x3fffffff))
	for i := range cfg.Engines {
		sh := &shard{r: r, dp: &installer{spis: &r.spis}, byName: map[string]*client{}, bySPI: map[uint64]*client{},
			flying: map[*client]struct{}{}, fails: map[string]string{}}
		ecfg := engine.Config{DB: policy.NewDB(nil), Installer: sh.dp, Log: cfg.Log.With(zap.Int("shard", i)),
			IKEPort: cfg.Target.Port(), NATTPort: cfg.NATTPort, RetransmitTries: cfg.Retransmits,
			// No half-open limits of a responder apply to us.
			CookieThreshold: 1 << 30, MaxHalfOpen: 1 << 30,
			// No NAT keepalives: the "NAT" the responder detects is only
			// our choice of source ports, and route drops them anyway;
			// their timer would wake every engine for each SA every 20 s.
			NATKeepalive: noKeepalive}
		if cfg.Version == policy.IKEv1 {
			e := ikev1.NewEngine(ecfg)
			sh.eng, sh.initiate = e, e.Initiate
		} else {
			e := ikev2.NewEngine(ecfg)
			// InitiateNew: never a CHILD SA on another client's IKE SA.
			sh.eng, sh.initiate = e, e.InitiateNew
		}
		sh.observe = sh.effect
		sh.in = make(chan isakmp.Datagram, 256)
		sh.timer = time.NewTimer(time.Hour)
		sh.timer.Stop()
		r.shards = append(r.shards, sh)
	}
	for _, a := range cfg.From {
		for range cfg.Ports {
			c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(a, 0)))
			if err != nil {
				return fmt.Errorf("loadgen: socket %d on %s: %w", len(r.sockets)+1, a, err)
			}
			raw, err := c.SyscallConn()
			if err != nil {
				c.Close()
				return fmt.Errorf("loadgen: socket %d on %s: %w", len(r.sockets)+1, a, err)
			}
			r.sockets = append(r.sockets, &socket{conn: c, raw: raw, addr: a})
		}
	}
	// Interleave the addresses: client k takes socket k mod the count, so
	// that consecutive clients come from different addresses.
	nAddr := len(cfg.From)
	ordered := make([]*socket, 0, len(r.sockets))
	for p := range cfg.Ports {
		for a := range nAddr {
			ordered = append(ordered, r.sockets[a*cfg.Ports+p])
		}
	}
	r.sockets = ordered
	for i, s := range r.sockets {
		s.shard = r.shards[i%len(r.shards)]
	}
	r.clients = make([]*client, cfg.Count)
	for k := range cfg.Count {
		s := r.sockets[k%len(r.sockets)]
		conn, err := cfg.connection(cfg.First+k, s.addr)
		if err != nil {
			return err
		}
		c := &client{n: cfg.First + k, conn: conn, sock: s}
		r.clients[k] = c
		s.shard.byName[conn.Name] = c
		s.shard.clients = append(s.shard.clients, c)
	}
	return nil
}

// close stops the shards and closes the sockets; the readers end.
func (r *run) close() {
	close(r.stop)
	for _, s := range r.sockets {
		s.conn.Close()
	}
	r.readers.Wait()
}

// dispatch starts the handshakes at the configured rate while fewer than
// Concurrency are in flight and returns how many it started.
func (r *run) dispatch(ctx context.Context, start time.Time) int {
	var wait *time.Timer
	for k, c := range r.clients {
		select {
		case r.sem <- struct{}{}:
		case <-ctx.Done():
			return k
		}
		if r.cfg.Rate > 0 {
			at := start.Add(time.Duration(float64(k) / r.cfg.Rate * float64(time.Second)))
			if d := time.Until(at); d > 0 {
				if wait == nil {
					wait = time.NewTimer(d)
				} else {
					wait.Reset(d)
				}
				select {
				case <-wait.C:
				case <-ctx.Done():
					<-r.sem
					return k
				}
			}
		}
		c.sock.shard.start(c)
	}
	return len(r.clients)
}

// finish counts n handshakes (or deletes) as over.
func (r *run) finish(n int64) {
	if n > 0 && r.left.Add(-n) == 0 {
		r.mu.Lock()
		close(r.done)
		r.mu.Unlock()
	}
}

// expect starts a phase of n handshakes (or deletes) and returns the
// channel closed when they are all over.
func (r *run) expect(n int) <-chan struct{} {
	done := make(chan struct{})
	r.mu.Lock()
	r.done = done
	r.mu.Unlock()
	r.left.Store(int64(n))
	return done
}

// abort fails every handshake in flight with reason.
func (r *run) abort(reason string) {
	for _, sh := range r.shards {
		sh.mu.Lock()
		for c := range sh.flying {
			sh.fail(c, reason)
		}
		sh.mu.Unlock()
	}
}

// read is socket s's reader: every IKE datagram goes to its shard.
func (r *run) read(s *socket) {
	defer r.readers.Done()
	ikePort, natt := r.cfg.Target.Port(), r.cfg.NATTPort
	for {
		b, from, truncated, err := s.recv()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			r.drop()
			time.Sleep(time.Millisecond) // not to spin on an error that stays
			continue
		}
		local := netip.AddrPortFrom(s.addr, ikePort) // as the engine believes
		if from.Port() == natt {
			if len(b) == 1 && b[0] == 0xff {
				continue // NAT keepalive
			}
			if len(b) < 4 || binary.BigEndian.Uint32(b) != 0 {
				r.drop() // ESP (there is none to receive) or garbage
				continue
			}
			b, local = b[4:], netip.AddrPortFrom(s.addr, natt)
		}
		if truncated || len(b) < isakmp.HeaderLen {
			r.drop()
			continue
		}
		r.received.Add(1)
		select {
		case s.shard.in <- isakmp.Datagram{Local: local, Remote: from, Data: b}:
		case <-r.stop:
			return
		}
	}
}

// work is shard sh's goroutine: it hands received datagrams to the
// engine, a batch per lock, and runs the engine's timers. (The readers
// only read: the engines' work on their thousands of goroutines would
// grow and shrink their stacks over and over.)
func (sh *shard) work() {
	defer sh.r.readers.Done()
	for {
		select {
		case d := <-sh.in:
			sh.mu.Lock()
			now := time.Now()
			sh.step(now, sh.eng.HandleDatagram(now, d))
			for range maxBatch - 1 { // what else is there, while locked
				select {
				case d := <-sh.in:
					now = time.Now()
					sh.step(now, sh.eng.HandleDatagram(now, d))
					continue
				default:
				}
				break
			}
			out := sh.take()
			sh.mu.Unlock()
			sh.r.send(out)
		case <-sh.timer.C:
			sh.mu.Lock()
			sh.armed = time.Time{}
			now := time.Now()
			sh.step(now, sh.eng.Tick(now))
			out := sh.take()
			sh.mu.Unlock()
			sh.r.send(out)
		case <-sh.r.stop:
			return
		}
	}
}

func (r *run) drop() { r.dropped.Add(1) }

// send writes datagrams (outside any shard's lock).
func (r *run) send(out []outgoing) {
	for _, o := range out {
		if _, err := o.conn.WriteToUDPAddrPort(o.data, o.to); err != nil {
			r.drop() // the engine retransmits
			continue
		}
		r.sent.Add(1)
	}
}

// sweep gives up on handshakes past their deadline, every tenth of the
// timeout (at most every 100 ms), until stop closes.
func (r *run) sweep(stop <-chan struct{}) {
	every := min(100*time.Millisecond, r.cfg.Timeout/10)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case now := <-t.C:
			for _, sh := range r.shards {
				sh.mu.Lock()
				sh.sweep(now)
				out := sh.take()
				sh.mu.Unlock()
				r.send(out)
			}
		}
	}
}

// hold keeps the established SAs for cfg.Hold or until ctx is done, and
// records in res what that cost and how many SAs are still up.
func (r *run) hold(ctx context.Context, res *Result) {
	if r.cfg.Holding != nil {
		r.cfg.Holding(res)
	}
	cpu0, sent0, recv0 := cpuTime(), r.sent.Load(), r.received.Load()
	start := time.Now()
	t := time.NewTimer(r.cfg.Hold)
	select {
	case <-t.C:
	case <-ctx.Done():
		t.Stop()
	}
	res.HoldTime, res.HoldCPU = time.Since(start), cpuTime()-cpu0
	res.HoldSent, res.HoldReceived = int(r.sent.Load()-sent0), int(r.received.Load()-recv0)
	res.Held = r.holding()
}

// holding counts the clients that have an established IKE SA with an
// installed CHILD SA.
func (r *run) holding() int {
	n := 0
	for _, sh := range r.shards {
		sh.mu.Lock()
		for _, i := range sh.eng.SAs() {
			if c := sh.byName[i.Name]; c == nil || c.state != up || i.State != "ESTABLISHED" {
				continue
			}
			for _, ch := range i.Children {
				if ch.State == engine.ChildInstalled.String() {
					n++
					break
				}
			}
		}
		sh.mu.Unlock()
	}
	return n
}

// deleteAll deletes the established SAs, Concurrency at a time, and waits
// for them to be gone (IKEv2: the responder's answer).
func (r *run) deleteAll(ctx context.Context) {
	var ups []*client
	for _, sh := range r.shards {
		sh.mu.Lock()
		for _, c := range sh.clients {
			if c.state == up {
				ups = append(ups, c)
			}
		}
		sh.mu.Unlock()
	}
	if len(ups) == 0 {
		return
	}
	done := r.expect(len(ups))
	for i, c := range ups {
		select {
		case r.sem <- struct{}{}:
		case <-ctx.Done():
			r.finish(int64(len(ups) - i))
			return
		}
		sh := c.sock.shard
		sh.mu.Lock()
		now := time.Now()
		c.state, c.deadline = deleting, now.Add(r.cfg.Timeout)
		sh.flying[c] = struct{}{}
		out, ok := sh.eng.DeleteSA(now, c.spi, true, "load test finished")
		if !ok { // gone already (the responder deleted it)
			sh.deleted(c)
		}
		sh.step(now, out)
		o := sh.take()
		sh.mu.Unlock()
		r.send(o)
	}
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// result assembles the outcome of the handshakes.
func (r *run) result(started int, elapsed, cpu time.Duration) *Result {
	res := &Result{Count: r.cfg.Count, NotStarted: r.cfg.Count - started, Elapsed: elapsed, CPU: cpu,
		Sockets: len(r.sockets), Engines: len(r.shards), Failures: map[string]int{}}
	var lat []time.Duration
	if r.cfg.VirtualIP {
		res.VIPs = make([]netip.Addr, len(r.clients))
	}
	for _, sh := range r.shards {
		sh.mu.Lock()
		for _, c := range sh.clients {
			switch c.state {
			case up:
				res.Established++
				lat = append(lat, c.latency)
				if res.VIPs != nil {
					res.VIPs[c.n-r.cfg.First] = c.vip
				}
			case failed:
				res.Failed++
			}
		}
		sh.mu.Unlock()
	}
	res.Latency = summarize(lat)
	if elapsed > 0 {
		res.Rate = float64(res.Established) / elapsed.Seconds()
	}
	r.mu.Lock()
	for k, v := range r.fails {
		res.Failures[k] = v
	}
	res.Errors = append(res.Errors, r.errs...)
	r.mu.Unlock()
	return res
}

// start begins client c's handshake.
func (sh *shard) start(c *client) {
	sh.mu.Lock()
	now := time.Now()
	c.state, c.start, c.deadline = flying, now, now.Add(sh.r.cfg.Timeout)
	sh.flying[c] = struct{}{}
	out, err := sh.initiate(now, c.conn)
	if err != nil {
		sh.fail(c, err.Error())
	} else if len(out.Datagrams) > 0 && len(out.Datagrams[0].Data) >= 8 {
		c.spi = binary.BigEndian.Uint64(out.Datagrams[0].Data)
		sh.bySPI[c.spi] = c
	}
	sh.step(now, out)
	o := sh.take()
	sh.mu.Unlock()
	sh.r.send(o)
}

// step carries out an engine's output (under the lock): effects through
// Execute, datagrams queued for their clients' sockets, failures the
// engine noted, and the timer armed for the engine's next deadline.
func (sh *shard) step(now time.Time, out engine.Output) {
	sh.now = now
	for _, d := range engine.Execute(now, sh.eng, sh.dp, nil, out, sh.observe, nil) {
		sh.route(d)
	}
	sh.eng.Failures(sh.fails)
	for name, why := range sh.fails {
		if c := sh.byName[name]; c != nil && c.state == flying {
			sh.fail(c, why)
		}
		sh.eng.ClearFailure(name)
		delete(sh.fails, name)
	}
	if next := sh.eng.NextDeadline(); !next.IsZero() && (sh.armed.IsZero() || next.Before(sh.armed)) {
		sh.armed = next
		sh.timer.Reset(max(0, next.Sub(now)))
	}
}

// take hands over the datagrams to send.
func (sh *shard) take() []outgoing {
	out := sh.out
	sh.out = nil
	return out
}

// route queues datagram d for the socket of the client whose SA sent it,
// with the non-ESP marker on the NAT-T port.
func (sh *shard) route(d isakmp.Datagram) {
	if len(d.Data) < 8 {
		return // a NAT keepalive: there is no NAT to keep open
	}
	c := sh.bySPI[binary.BigEndian.Uint64(d.Data)]
	if c == nil {
		sh.r.drop()
		return
	}
	b := d.Data
	if d.Remote.Port() == sh.r.cfg.NATTPort {
		b = append(make([]byte, 4, 4+len(b)), b...)
	}
	sh.out = append(sh.out, outgoing{conn: c.sock.conn, to: d.Remote, data: b})
}

// effect observes what the engine asked of the runtime: the first CHILD
// SA installed completes a client's handshake; an IKE SA gone ends it.
func (sh *shard) effect(ef engine.Effect, err error) {
	switch ef.Kind {
	case engine.EffectInstall:
		c := sh.byName[ef.Child.ConnName]
		if c == nil || c.state != flying {
			return
		}
		if err != nil {
			sh.fail(c, "CHILD SA not installed: "+err.Error())
			return
		}
		c.state, c.latency = up, sh.now.Sub(c.start)
		if sh.r.cfg.VirtualIP && len(ef.Child.LocalTS) > 0 {
			c.vip = ef.Child.LocalTS[0].Addr()
		}
		sh.over(c)
	case engine.EffectIKEUp:
		if c := sh.byName[ef.Conn]; c != nil && c.state == flying {
			c.ikeUp = sh.now
		}
	case engine.EffectIKEDown:
		c := sh.byName[ef.Conn]
		switch {
		case c == nil:
		case c.state == flying:
			sh.fail(c, "IKE SA deleted before its CHILD SA was installed")
		case c.state == deleting:
			sh.deleted(c)
		}
	}
}

// over ends client c's handshake or delete.
func (sh *shard) over(c *client) {
	delete(sh.flying, c)
	<-sh.r.sem
	sh.r.finish(1)
}

// deleted records that c's IKE SA is gone after our delete.
func (sh *shard) deleted(c *client) {
	if c.state != deleting {
		return
	}
	c.state = deleted
	sh.r.nDeleted.Add(1)
	sh.over(c)
}

// fail ends client c's handshake with reason.
func (sh *shard) fail(c *client, reason string) {
	if c.state == deleting { // not answered in time
		c.state = deleted
		sh.over(c)
		return
	}
	if c.state != flying {
		return
	}
	c.state = failed
	sh.r.failed(c, reason)
	sh.over(c)
}

// failed records client c's failure.
func (r *run) failed(c *client, reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.errs) < maxErrors {
		r.errs = append(r.errs, ClientError{Client: c.n, Reason: reason})
	}
	r.fails[r.generic(c, reason)]++
}

// generic makes reason the same for every client: their identity, user
// and name become the patterns they came from.
func (r *run) generic(c *client, reason string) string {
	num := strconv.Itoa(c.n)
	for _, p := range []string{r.cfg.LocalID, r.cfg.User} {
		if strings.Contains(p, "%d") {
			reason = strings.ReplaceAll(reason, expand(p, c.n), p)
		}
	}
	return strings.ReplaceAll(reason, `"bench`+num+`"`, `"bench%d"`)
}

// sweep gives up on handshakes and deletes past their deadline, and on
// handshakes whose IKE SA is up for a second without their CHILD SA when
// the engine says the CHILD SA failed.
func (sh *shard) sweep(now time.Time) {
	var infos map[string]policy.IKESAInfo
	info := func(c *client) (policy.IKESAInfo, bool) {
		if infos == nil {
			infos = map[string]policy.IKESAInfo{}
			for _, i := range sh.eng.SAs() {
				if o := sh.byName[i.Name]; o != nil && o.spi != 0 {
					infos[i.Name] = i
				}
			}
		}
		i, ok := infos[c.conn.Name]
		return i, ok
	}
	for c := range sh.flying {
		late := now.After(c.deadline)
		if c.state == deleting {
			if late {
				sh.fail(c, "")
			}
			continue
		}
		stuck := !c.ikeUp.IsZero() && now.Sub(c.ikeUp) > time.Second
		if !late && !stuck {
			continue
		}
		i, ok := info(c)
		reason := ""
		if ok {
			for _, ch := range i.Children {
				if ch.State == engine.ChildFailed.String() || ch.State == engine.ChildInstallFailed.String() {
					reason = "CHILD SA failed: " + ch.Error
				}
			}
		}
		if reason == "" && !late {
			continue
		}
		if reason == "" {
			reason = fmt.Sprintf("no CHILD SA within %v", sh.r.cfg.Timeout)
			if ok {
				reason += " (IKE SA " + i.State + ")"
			}
		}
		out, _ := sh.eng.DeleteSA(now, c.spi, !c.ikeUp.IsZero(), reason)
		sh.fail(c, reason)
		sh.step(now, out)
	}
}
