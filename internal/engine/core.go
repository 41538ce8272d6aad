// Package engine is the shell that the IKEv1 and IKEv2 engines share: their
// configuration, the outbox of datagrams, randomness, counters, the timer
// glue over internal/timerq, retransmission, the CHILD SA with its typed
// states and its one install/remove path, liveness and peer-dead handling,
// rekey timing, and the versioned record that carries an established SA out
// of the process and back (Record). Each engine keeps only what its RFCs
// make different.
//
// Like the engines, it is sans-I/O: no sockets, goroutines or wall clock.
package engine

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"io"
	"net/netip"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"ikegate/internal/timerq"
	"ikegate/isakmp"
	"ikegate/natt"
	"ikegate/policy"
)

// Config configures either engine; the runtime builds one for both.
type Config struct {
	DB        *policy.DB
	Installer policy.Installer
	Log       *zap.Logger
	Rand      io.Reader // crypto/rand.Reader in production

	IKEPort, NATTPort uint16 // ports peers are contacted on

	RetransmitTries int           // sends of a request before giving up
	RetransmitBase  time.Duration // first retransmit timeout, doubled each try

	// SPIFilter, if set, must accept every IKE SPI (IKEv1: initiator
	// cookie) the engine allocates for itself. The gateway routes every
	// IKEv2 message to the shard that this SPI hashes to, so the filter
	// keeps each SA on its own shard; it routes IKEv1 by the peer's
	// address and sets none for the IKEv1 engine.
	SPIFilter func(spi uint64) bool

	// ForceEncap makes us claim to be behind a NAT (a made-up NAT
	// detection hash, as strongSwan's encap=yes does) so that ESP is
	// UDP-encapsulated even without a NAT: the userspace dataplane needs it.
	ForceEncap bool
	// NATKeepalive is the interval of NAT keepalives while we are behind a
	// NAT (0: natt.DefaultKeepaliveInterval).
	NATKeepalive time.Duration

	// CookieThreshold (IKEv2) is the number of half-open SAs before
	// COOKIEs are demanded (0: 100).
	CookieThreshold int
	// MaxHalfOpen (IKEv1) bounds the ISAKMP SAs a responder holds before
	// phase 1 completes (0: 10,000); first messages beyond it are dropped.
	MaxHalfOpen int
	// FragmentSize (IKEv2) is the largest IKE message (from the IKE header
	// on) we send unfragmented to a peer that supports RFC 7383 (0: 1232,
	// which keeps an IPv4 packet with the non-ESP marker within 1280 bytes).
	FragmentSize int
	// VendorIDs (IKEv2) are the Vendor ID payloads we add to IKE_SA_INIT,
	// e.g. vendorid.StrongSwan. None by default: a gateway that names its
	// product and version helps whoever scans for vulnerable ones.
	VendorIDs [][]byte

	// MIDSync (IKEv2) announces RFC 6311 message-ID synchronisation in
	// IKE_AUTH; an SA restored on another node (a cluster takeover) then
	// synchronises its message IDs with a peer that announced it too.
	MIDSync bool

	// Redirect (IKEv2), if set, is asked about each new IKE_SA_INIT
	// request from a peer that announced REDIRECT_SUPPORTED: a target
	// address makes the responder answer with REDIRECT (RFC 5685)
	// instead of creating an SA. It must not block (a cluster answers
	// from its cached view of the nodes' load).
	Redirect func(local, remote netip.Addr) (netip.Addr, bool)

	// KeyLog, if set, receives every IKE SA's keys: the explicit,
	// documented key export for Wireshark (gateway.key_export). Nothing
	// else sees keys.
	KeyLog func(policy.ExportedKeys)
}

// WithDefaults returns cfg with every unset field at its default.
func (cfg Config) WithDefaults() Config {
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	if cfg.IKEPort == 0 {
		cfg.IKEPort = 500
	}
	if cfg.NATTPort == 0 {
		cfg.NATTPort = 4500
	}
	if cfg.RetransmitTries <= 0 {
		cfg.RetransmitTries = 5
	}
	if cfg.RetransmitBase <= 0 {
		cfg.RetransmitBase = time.Second
	}
	if cfg.NATKeepalive <= 0 {
		cfg.NATKeepalive = natt.DefaultKeepaliveInterval
	}
	if cfg.CookieThreshold <= 0 {
		cfg.CookieThreshold = 100
	}
	if cfg.MaxHalfOpen <= 0 {
		cfg.MaxHalfOpen = 10000
	}
	if cfg.FragmentSize <= 0 {
		cfg.FragmentSize = 1232
	}
	return cfg
}

// Counters are an engine's statistics.
type Counters struct {
	Dropped      uint64 // malformed, unexpected or unauthenticated messages
	UnknownSPI   uint64 // messages for SAs we do not have
	CookiesSent  uint64 // IKEv2 COOKIE demands
	Established  uint64
	AuthFailures uint64
	HeldEarly    uint64 // IKEv1 Quick Mode held until phase 1 completed
	// Flood defence: responder SAs half-open now (a gauge), unproven ones
	// evicted to make room (IKEv1: also Main Mode messages 1 forgotten),
	// first messages refused because the table was full.
	HalfOpen        uint64
	HalfOpenEvicted uint64
	HalfOpenRefused uint64
	// IKEv1 DPD: R-U-THERE-ACKs answering an earlier probe of the same
	// probing (taken as life) and ACKs answering none (ignored).
	DPDAckEarlier uint64
	DPDAckStale   uint64
	// Redirected (IKEv2) counts IKE_SA_INIT requests answered with
	// REDIRECT (RFC 5685).
	Redirected uint64
}

// Add sums o into c (the counters of several engines, e.g. one per
// shard); HalfOpen, a gauge, sums too.
func (c *Counters) Add(o Counters) {
	c.Dropped += o.Dropped
	c.UnknownSPI += o.UnknownSPI
	c.CookiesSent += o.CookiesSent
	c.Established += o.Established
	c.AuthFailures += o.AuthFailures
	c.HeldEarly += o.HeldEarly
	c.HalfOpen += o.HalfOpen
	c.HalfOpenEvicted += o.HalfOpenEvicted
	c.HalfOpenRefused += o.HalfOpenRefused
	c.DPDAckEarlier += o.DPDAckEarlier
	c.DPDAckStale += o.DPDAckStale
	c.Redirected += o.Redirected
}

// SA is what the core needs of an engine's IKE SA: when its timer is due
// next (zero: never) and whether it has been removed.
type SA interface {
	comparable
	NextDeadline() time.Time
	Gone() bool
}

// Core is the shell of one engine over its IKE SA type S, CHILD SA type C
// and W, what an exchange keeps while it waits for the dataplane to
// install a CHILD SA (Await, Resume). The engine embeds it; one goroutine
// owns both.
type Core[S SA, C ChildSA, W any] struct {
	Cfg   Config
	Log   *zap.Logger // with the version field
	Count Counters    // the engine's statistics (its Stats method)

	timers timerq.Queue[S]
	out    Output
	lastID uint64 // of the latest install request
	hooks  Hooks[S, C]
	waits  map[uint64]W          // exchange steps waiting for an install answer, by install ID
	quiet  map[string]*quietKind // rate-limited log lines (quiet.go)
	// byPeer files the established IKE SAs (reported up with
	// EffectIKEUp) by a hash of the peer's address and port at that time
	// (peerHash), for InitialContact, which compares the addresses
	// themselves; peerAt is where each is filed. Unschedule (the SA is
	// removed) takes it out. A 64-bit hash instead of the 32-byte
	// netip.AddrPort keeps both maps' entries small: they hold every
	// established IKE SA.
	byPeer   map[uint64][]S
	peerAt   map[S]uint64
	peerSeed maphash.Seed
	// lastErr is the latest failure of each connection we initiate
	// (`ikegate up` waits for it or for success); keyed by configured
	// names, so bounded by the configuration.
	lastErr map[string]string
}

// NoteFailure records why an IKE SA of ours (initiator) of connection
// conn failed, for LastFailure.
func (c *Core[S, C, W]) NoteFailure(conn, why string) {
	if c.lastErr == nil {
		c.lastErr = map[string]string{}
	}
	c.lastErr[conn] = why
}

// LastFailure is the latest failure NoteFailure recorded for conn ("":
// none); ClearFailure forgets it (a new initiation starts).
func (c *Core[S, C, W]) LastFailure(conn string) string { return c.lastErr[conn] }

// Failures copies the last failure of every connection that has one
// into m.
func (c *Core[S, C, W]) Failures(m map[string]string) {
	for k, v := range c.lastErr {
		m[k] = v
	}
}

// ClearFailure forgets conn's last failure.
func (c *Core[S, C, W]) ClearFailure(conn string) { delete(c.lastErr, conn) }

// Init sets up c for an engine of IKE version 1 or 2.
func (c *Core[S, C, W]) Init(cfg Config, version int) {
	c.Cfg = cfg.WithDefaults()
	c.waits = make(map[uint64]W)
	c.Log = c.Cfg.Log.With(zap.Int("version", version))
}

// Emit queues a datagram to send.
func (c *Core[S, C, W]) Emit(local, remote netip.AddrPort, data []byte) {
	c.out.Datagrams = append(c.out.Datagrams, isakmp.Datagram{Local: local, Remote: remote, Data: data})
}

// Ask queues an effect whose answer the engine waits for and returns the
// ID the answer will carry (Answerer.Answered).
func (c *Core[S, C, W]) Ask(ef Effect) uint64 {
	c.lastID++
	ef.ID = c.lastID
	c.Effect(ef)
	return ef.ID
}

// Await keeps w, the step that goes on when effect id is answered.
func (c *Core[S, C, W]) Await(id uint64, w W) { c.waits[id] = w }

// Resume returns (and forgets) the step waiting for the answer id.
func (c *Core[S, C, W]) Resume(id uint64) (W, bool) {
	w, ok := c.waits[id]
	delete(c.waits, id)
	return w, ok
}

// Answer hands the answer to effect id to the step that waits for it
// (cont) and returns what follows: an engine's Answered.
func (c *Core[S, C, W]) Answer(id uint64, cont func(W)) Output {
	if w, ok := c.Resume(id); ok {
		cont(w)
	}
	return c.Flush()
}

// Effect queues an effect for the runtime. An IKE SA reported up is
// filed by its peer's address (filePeer).
func (c *Core[S, C, W]) Effect(ef Effect) {
	if ef.Kind == EffectIKEUp && c.hooks.Lookup != nil {
		if sa, ok := c.hooks.Lookup(ef.Key); ok {
			c.filePeer(sa, ef.Remote)
		}
	}
	if c.out.Effects == nil {
		c.out.Effects = make([]Effect, 0, 4) // a handshake's step asks for two or three
	}
	c.out.Effects = append(c.out.Effects, ef)
}

// EmitAll queues several datagrams between the same endpoints.
func (c *Core[S, C, W]) EmitAll(local, remote netip.AddrPort, raw [][]byte) {
	for _, b := range raw {
		c.Emit(local, remote, b)
	}
}

// Flush returns what is queued for the runtime and empties the outbox.
func (c *Core[S, C, W]) Flush() Output {
	out := c.out
	c.out = Output{}
	return out
}

// Random returns n random bytes from the configured source.
func (c *Core[S, C, W]) Random(n int) []byte {
	b := make([]byte, n)
	if _, err := io.ReadFull(c.Cfg.Rand, b); err != nil {
		panic(fmt.Sprintf("engine: randomness failed: %v", err))
	}
	return b
}

// RandomSPI returns a random non-zero 64-bit SPI that the SPI filter
// accepts and that inUse does not claim.
func (c *Core[S, C, W]) RandomSPI(inUse func(uint64) bool) uint64 {
	for {
		spi := binary.BigEndian.Uint64(c.Random(8))
		if spi == 0 || inUse(spi) || (c.Cfg.SPIFilter != nil && !c.Cfg.SPIFilter(spi)) {
			continue
		}
		return spi
	}
}

// Drop counts a message that is not processed and logs why at debug.
func (c *Core[S, C, W]) Drop(reason string, d isakmp.Datagram, err error) {
	c.Count.Dropped++
	if ce := c.Log.Check(zap.DebugLevel, "dropped message"); ce != nil {
		ce.Write(zap.String("reason", reason), zap.Stringer("peer", d.Remote), zap.Error(err))
	}
}

// Schedule (re)arms sa's timer for its next deadline.
func (c *Core[S, C, W]) Schedule(sa S) {
	if sa.Gone() {
		return
	}
	c.timers.Schedule(sa, sa.NextDeadline()) // zero: no deadline
}

// Unschedule cancels sa's timer (the SA is being removed) and takes it
// out of the peer index.
func (c *Core[S, C, W]) Unschedule(sa S) {
	c.timers.Cancel(sa)
	c.unfilePeer(sa)
}

// filePeer files sa under the peer address addr (once; a second report
// moves it).
func (c *Core[S, C, W]) filePeer(sa S, addr netip.AddrPort) {
	if c.byPeer == nil {
		c.byPeer, c.peerAt = make(map[uint64][]S), make(map[S]uint64)
		c.peerSeed = maphash.MakeSeed()
	}
	h := c.peerHash(addr)
	if at, ok := c.peerAt[sa]; ok {
		if at == h {
			return
		}
		c.unfilePeer(sa)
	}
	c.byPeer[h] = append(c.byPeer[h], sa)
	c.peerAt[sa] = h
}

// peerHash is where byPeer files the SAs of peer address addr (valid
// once byPeer is made).
func (c *Core[S, C, W]) peerHash(addr netip.AddrPort) uint64 {
	return maphash.Comparable(c.peerSeed, addr)
}

// unfilePeer takes sa out of the peer index.
func (c *Core[S, C, W]) unfilePeer(sa S) {
	addr, ok := c.peerAt[sa]
	if !ok {
		return
	}
	delete(c.peerAt, sa)
	list := c.byPeer[addr]
	for i, o := range list {
		if o == sa {
			list = append(list[:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(c.byPeer, addr)
	} else {
		c.byPeer[addr] = list
	}
}

// RunTimers calls fire for every SA whose deadline is at or before now,
// then re-arms it, and returns what to send.
func (c *Core[S, C, W]) RunTimers(now time.Time, fire func(now time.Time, sa S)) Output {
	for sa, ok := c.timers.PopDue(now); ok; sa, ok = c.timers.PopDue(now) {
		fire(now, sa)
		c.Schedule(sa)
	}
	c.flushQuiet(now)
	return c.Flush()
}

// NextDeadline is when the engine's Tick next has work; zero means never.
func (c *Core[S, C, W]) NextDeadline() time.Time {
	_, when, _ := c.timers.Next()
	return when
}

// RekeyDelay is when, after creation, our side replaces an SA of the given
// (negotiated) lifetime: see policy.RekeyAfter.
func (c *Core[S, C, W]) RekeyDelay(initiator bool, lifetime, def time.Duration) time.Duration {
	return policy.RekeyAfter(lifetime, def, initiator, binary.BigEndian.Uint16(c.Random(2)))
}

// Deadline collects the earliest of several optional times.
type Deadline struct{ when time.Time }

// Consider takes t into account; the zero time is ignored.
func (d *Deadline) Consider(t time.Time) {
	if !t.IsZero() && (d.when.IsZero() || t.Before(d.when)) {
		d.when = t
	}
}

// When is the earliest time considered (zero: none).
func (d Deadline) When() time.Time { return d.when }

// Due reports whether the optional time t has come.
func Due(t, now time.Time) bool { return !t.IsZero() && !t.After(now) }

// SPIHex formats a 64-bit SPI or cookie as both engines log it.
func SPIHex(spi uint64) string { return fmt.Sprintf("%016x", spi) }

// LogWith returns log with fields added lazily: they are encoded only
// when a line is written through it (zap's WithLazy), so the logger an
// engine makes per SA or exchange costs little when nothing at its level
// is logged. A logger that writes nothing at any level (zap.NewNop) is
// returned as it is.
func LogWith(log *zap.Logger, fields ...zap.Field) *zap.Logger {
	if !log.Core().Enabled(zapcore.FatalLevel) {
		return log
	}
	return log.WithLazy(fields...)
}
