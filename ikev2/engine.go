// Package ikev2 is the IKEv2 engine (RFC 7296): a sans-I/O state machine for
// initiator and responder. It never touches sockets, goroutines or the wall
// clock: the runtime feeds it datagrams, timer ticks and admin commands with
// the current time, and sends the datagrams it returns.
//
// An exchange is handled in small named steps, one file per exchange:
// init.go (IKE_SA_INIT), auth.go (IKE_AUTH), child.go (CHILD SA proposals,
// traffic selectors and keys, shared by IKE_AUTH and CREATE_CHILD_SA),
// info.go (INFORMATIONAL), and message.go (encryption, message IDs,
// retransmission).
package ikev2

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"ikegate/dpd"
	"ikegate/internal/timerq"
	"ikegate/isakmp"
	"ikegate/natt"
	"ikegate/policy"
)

// Config configures an Engine.
type Config struct {
	DB        *policy.DB
	Installer policy.Installer
	Log       *zap.Logger
	Rand      io.Reader // crypto/rand.Reader in production

	IKEPort, NATTPort uint16 // ports peers are contacted on

	CookieThreshold int           // half-open SAs before COOKIEs are demanded
	RetransmitTries int           // sends of a request before giving up
	RetransmitBase  time.Duration // first retransmit timeout, doubled each try

	// SPIFilter, if set, must accept every IKE SPI the engine allocates for
	// itself. The runtime routes every message to the shard that the SPI
	// we chose hashes to, so the filter keeps each SA on its own shard.
	SPIFilter func(spi uint64) bool

	// ForceEncap makes us claim to be behind a NAT (a made-up NAT
	// detection hash, as strongSwan's encap=yes does) so that ESP is
	// UDP-encapsulated even without a NAT: the userspace dataplane needs it.
	ForceEncap bool
	// NATKeepalive is the interval of NAT keepalives while we are behind a
	// NAT (0: natt.DefaultKeepaliveInterval).
	NATKeepalive time.Duration
	// FragmentSize is the largest IKE message (from the IKE header on) we
	// send unfragmented to a peer that supports RFC 7383 (0: 1232, which
	// keeps an IPv4 packet with the non-ESP marker within 1280 bytes).
	FragmentSize int
	// KeyLog, if set, receives every IKE SA's keys: the explicit,
	// documented key export for Wireshark (gateway.key_export). Nothing
	// else sees keys.
	KeyLog func(policy.ExportedKeys)
}

// halfOpenTimeout is how long a responder keeps an IKE SA whose IKE_AUTH
// has not arrived.
const halfOpenTimeout = 30 * time.Second

// Counters are the engine's statistics.
type Counters struct {
	Dropped      uint64 // malformed, unexpected or unauthenticated messages
	UnknownSPI   uint64 // messages for IKE SAs we do not have
	CookiesSent  uint64
	Established  uint64
	AuthFailures uint64
}

// Engine runs the IKE SAs of one shard. It is not safe for concurrent use:
// one goroutine owns it.
type Engine struct {
	cfg Config
	log *zap.Logger

	sas       map[uint64]*ikeSA // by the SPI we allocated
	halfOpen  map[halfOpenKey]*ikeSA
	timers    timerq.Queue[*ikeSA]
	out       []isakmp.Datagram
	stats     Counters
	cookieKey [32]byte

	lastInvalidSPI time.Time
}

type halfOpenKey struct {
	peer netip.AddrPort
	spiI uint64
}

// reqIDs numbers CHILD SAs for the kernel; shared by all engines of the
// process so reqids never collide across shards.
var reqIDs atomic.Uint32

// NewEngine returns an engine with no SAs.
func NewEngine(cfg Config) *Engine {
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
	if cfg.FragmentSize <= 0 {
		cfg.FragmentSize = 1232
	}
	if cfg.CookieThreshold <= 0 {
		cfg.CookieThreshold = 100
	}
	e := &Engine{
		cfg:      cfg,
		log:      cfg.Log.With(zap.Int("version", 2)),
		sas:      make(map[uint64]*ikeSA),
		halfOpen: make(map[halfOpenKey]*ikeSA),
	}
	if _, err := io.ReadFull(cfg.Rand, e.cookieKey[:]); err != nil {
		panic(fmt.Sprintf("ikev2: cannot read randomness for the cookie secret: %v", err))
	}
	return e
}

// Stats returns the engine's counters.
func (e *Engine) Stats() Counters { return e.stats }

func (e *Engine) flush() []isakmp.Datagram {
	out := e.out
	e.out = nil
	return out
}

func (e *Engine) emit(local, remote netip.AddrPort, data []byte) {
	e.out = append(e.out, isakmp.Datagram{Local: local, Remote: remote, Data: data})
}

// HandleDatagram processes one received IKEv2 message and returns the
// datagrams to send in answer.
func (e *Engine) HandleDatagram(now time.Time, d isakmp.Datagram) []isakmp.Datagram {
	e.handle(now, d)
	return e.flush()
}

func (e *Engine) handle(now time.Time, d isakmp.Datagram) {
	msg, err := isakmp.ParseMessage(d.Data)
	if errors.Is(err, isakmp.ErrUnsupportedVersion) {
		e.drop("higher major version", d, err)
		e.invalidMajorVersion(now, d)
		return
	}
	if err != nil {
		e.drop("malformed message", d, err)
		return
	}
	h := &msg.Header
	if h.MajorVersion != 2 {
		e.drop("not IKEv2", d, nil)
		return
	}
	response := h.Flags&isakmp.FlagResponse != 0
	fromInitiator := h.Flags&isakmp.FlagInitiator != 0
	var sa *ikeSA
	if fromInitiator {
		if h.SPIr == 0 {
			if h.Exchange != isakmp.ExchangeIKESAInit || response || h.MessageID != 0 {
				e.drop("zero responder SPI outside IKE_SA_INIT request", d, nil)
				return
			}
			if sa := e.halfOpen[halfOpenKey{d.Remote, h.SPIi}]; sa != nil {
				// A retransmitted IKE_SA_INIT: answer with the same response.
				e.resendResponse(sa, d)
				return
			}
			e.respondInit(now, d, msg)
			return
		}
		sa = e.sas[h.SPIr]
		if sa != nil && (sa.initiator || sa.spiI != h.SPIi) {
			sa = nil
		}
	} else {
		sa = e.sas[h.SPIi]
		if sa != nil && !sa.initiator {
			sa = nil
		}
	}
	if sa == nil {
		e.unknownSPI(now, d, msg)
		return
	}
	if response {
		e.handleResponse(now, sa, d, msg)
	} else {
		e.handleRequest(now, sa, d, msg)
	}
	e.schedule(sa)
}

// unknownSPI handles a message for an IKE SA we do not have (RFC 7296
// 2.21.4): count it and, for a request, answer with an unprotected
// INVALID_IKE_SPI at most once a second.
func (e *Engine) unknownSPI(now time.Time, d isakmp.Datagram, msg *isakmp.Message) {
	e.stats.UnknownSPI++
	h := msg.Header
	e.log.Debug("message for unknown IKE SA", zap.Stringer("peer", d.Remote),
		zap.Stringer("exchange", h.Exchange), zap.Uint32("msgid", h.MessageID),
		zap.String("spi_i", spiHex(h.SPIi)), zap.String("spi_r", spiHex(h.SPIr)))
	if h.Flags&isakmp.FlagResponse != 0 || now.Sub(e.lastInvalidSPI) < time.Second {
		return
	}
	e.lastInvalidSPI = now
	resp := isakmp.Message{Header: isakmp.Header{
		SPIi: h.SPIi, SPIr: h.SPIr, MajorVersion: 2, Exchange: h.Exchange,
		Flags: isakmp.FlagResponse, MessageID: h.MessageID,
	}, Payloads: []isakmp.Payload{&isakmp.Notify{NotifyType: isakmp.NotifyInvalidIKESPI}}}
	e.emit(d.Local, d.Remote, resp.Marshal())
}

func (e *Engine) drop(reason string, d isakmp.Datagram, err error) {
	e.stats.Dropped++
	if ce := e.log.Check(zap.DebugLevel, "dropped message"); ce != nil {
		ce.Write(zap.String("reason", reason), zap.Stringer("peer", d.Remote), zap.Error(err))
	}
}

// randomSPI returns a fresh non-zero IKE SPI that the SPI filter accepts
// and that is not in use.
func (e *Engine) randomSPI() uint64 {
	var b [8]byte
	for {
		if _, err := io.ReadFull(e.cfg.Rand, b[:]); err != nil {
			panic(fmt.Sprintf("ikev2: randomness failed: %v", err))
		}
		spi := binary.BigEndian.Uint64(b[:])
		if spi == 0 || e.sas[spi] != nil {
			continue
		}
		if e.cfg.SPIFilter != nil && !e.cfg.SPIFilter(spi) {
			continue
		}
		return spi
	}
}

func (e *Engine) random(n int) []byte {
	b := make([]byte, n)
	if _, err := io.ReadFull(e.cfg.Rand, b); err != nil {
		panic(fmt.Sprintf("ikev2: randomness failed: %v", err))
	}
	return b
}

// Tick runs the timers that are due at now (retransmissions, timeouts,
// expiry) and returns the datagrams to send.
func (e *Engine) Tick(now time.Time) []isakmp.Datagram {
	for sa, ok := e.timers.PopDue(now); ok; sa, ok = e.timers.PopDue(now) {
		e.onTimer(now, sa)
		e.schedule(sa)
	}
	return e.flush()
}

// NextDeadline is when Tick next has work; the zero time means never.
func (e *Engine) NextDeadline() time.Time {
	_, when, _ := e.timers.Next()
	return when
}

// schedule (re)arms sa's timer for its next deadline.
func (e *Engine) schedule(sa *ikeSA) {
	if sa.state == stateGone {
		return
	}
	e.timers.Schedule(sa, sa.nextDeadline()) // zero: no deadline
}

func (e *Engine) onTimer(now time.Time, sa *ikeSA) {
	if r := sa.req; r != nil && !r.next.After(now) {
		if r.tries >= e.cfg.RetransmitTries {
			sa.log(e).Warn("peer did not answer; giving up the IKE SA",
				zap.Stringer("exchange", r.exchange), zap.Uint32("msgid", r.msgID), zap.Int("tries", r.tries))
			if r.onTimeout != nil {
				r.onTimeout(now)
			}
			e.peerDead(now, sa, "peer did not answer "+r.exchange.String())
			return
		}
		r.tries++
		r.next = now.Add(e.cfg.RetransmitBase << (r.tries - 1))
		for _, raw := range r.raw {
			e.emit(sa.local, sa.remote, raw)
		}
		sa.log(e).Debug("retransmit", zap.Stringer("exchange", r.exchange), zap.Uint32("msgid", r.msgID), zap.Int("try", r.tries))
	}
	if !sa.expires.IsZero() && !sa.expires.After(now) {
		sa.log(e).Info("half-open IKE SA expired without IKE_AUTH")
		e.destroy(sa, "half-open timeout")
		return
	}
	if sa.state != stateEstablished {
		return
	}
	if !sa.nextKeepalive.IsZero() && !sa.nextKeepalive.After(now) {
		e.emit(sa.local, sa.remote, natt.Keepalive)
		sa.nextKeepalive = now.Add(e.cfg.NATKeepalive)
	}
	if sa.dpd.Enabled() {
		e.checkLiveness(now, sa)
		if sa.state != stateEstablished {
			return
		}
	}
	e.rekeyDue(now, sa)
}

// checkLiveness runs the dead peer detection of an established SA: inbound
// ESP counts as life, silence gets an empty INFORMATIONAL (RFC 7296 2.4).
func (e *Engine) checkLiveness(now time.Time, sa *ikeSA) {
	sa.dpd.SeenTraffic(now, e.cfg.Installer, sa.installed())
	switch sa.dpd.Check(now) {
	case dpd.Probe:
		if sa.req == nil {
			if ce := e.log.Check(zap.DebugLevel, "liveness check"); ce != nil {
				ce.Write(zap.String("conn", sa.conn.Name), zap.Stringer("peer", sa.remote))
			}
			e.startRequest(now, sa, e.encryptedRequest(sa, isakmp.ExchangeInformational, nil, nil))
		}
	case dpd.Dead:
		e.peerDead(now, sa, fmt.Sprintf("no answer to liveness checks for dpd_timeout %s", sa.conn.DPDTimeout))
	}
}

// peerDead removes the SA of a peer that stopped answering and applies the
// connection's dpd_action.
func (e *Engine) peerDead(now time.Time, sa *ikeSA, why string) {
	conn := sa.conn
	action := dpd.Action(conn.DPDAction)
	if action == "" {
		action = dpd.Clear
	}
	established := sa.state == stateEstablished
	canInitiate := conn.Version != policy.Any && !conn.RemoteAny() && conn.LocalAddr.IsValid()
	var again bool
	if established {
		sa.log(e).Warn("peer is dead: "+why, zap.String("dpd_action", string(action)))
		again = action == dpd.Restart
	} else {
		// A connection that starts with the daemon keeps trying until the
		// peer answers (one try lasts the whole retransmission schedule).
		again = sa.initiator && conn.Start == policy.StartStart
		sa.log(e).Warn("IKE SA failed: "+why, zap.Bool("retrying", again && canInitiate))
	}
	e.destroy(sa, why)
	if again && canInitiate {
		if err := e.initiateIKE(now, conn); err != nil {
			e.log.Warn("initiating again failed", zap.String("conn", conn.Name), zap.Error(err))
		}
	}
}

// destroy removes sa and everything it installed.
func (e *Engine) destroy(sa *ikeSA, reason string) {
	if sa.state == stateGone {
		return
	}
	e.timers.Cancel(sa)
	// removeChild edits sa.children: iterate over a copy.
	for _, c := range append([]*childSA(nil), sa.children...) {
		e.removeChild(sa, c)
	}
	sa.children = nil
	if sa.initiator {
		delete(e.sas, sa.spiI)
	} else {
		delete(e.sas, sa.spiR)
	}
	if sa.halfOpen {
		delete(e.halfOpen, sa.halfOpenKey)
		sa.halfOpen = false
	}
	sa.state = stateGone
	sa.log(e).Debug("IKE SA removed", zap.String("reason", reason))
	sa.dh = nil
	sa.keys = nil
}

// SAs returns the status of every IKE SA in the engine.
func (e *Engine) SAs() []policy.IKESAInfo {
	out := make([]policy.IKESAInfo, 0, len(e.sas))
	for _, sa := range e.sas {
		out = append(out, sa.info())
	}
	return out
}

func spiHex(spi uint64) string { return fmt.Sprintf("%016x", spi) }

// installed lists the kernel SAs of the children that are installed.
func (sa *ikeSA) installed() []*policy.ChildSA {
	var out []*policy.ChildSA
	for _, c := range sa.children {
		if c.kernel != nil && c.state == "INSTALLED" {
			out = append(out, c.kernel)
		}
	}
	return out
}

// invalidMajorVersion answers a request of a higher IKE major version with
// an unprotected INVALID_MAJOR_VERSION carrying ours (RFC 7296 2.5), at
// most once a second.
func (e *Engine) invalidMajorVersion(now time.Time, d isakmp.Datagram) {
	h, err := isakmp.ParseHeader(d.Data)
	if err != nil || h.MajorVersion <= 2 || h.Flags&isakmp.FlagResponse != 0 || now.Sub(e.lastInvalidSPI) < time.Second {
		return
	}
	e.lastInvalidSPI = now
	resp := isakmp.Message{Header: isakmp.Header{
		SPIi: h.SPIi, SPIr: h.SPIr, MajorVersion: 2, Exchange: h.Exchange,
		Flags: isakmp.FlagResponse, MessageID: h.MessageID,
	}, Payloads: []isakmp.Payload{&isakmp.Notify{NotifyType: isakmp.NotifyInvalidMajorVersion}}}
	e.emit(d.Local, d.Remote, resp.Marshal())
}
