package ikev1

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"net/netip"
	"time"

	"go.uber.org/zap"

	"ikegate/internal/timerq"
	"ikegate/isakmp"
	"ikegate/natt"
	"ikegate/policy"
)

// Config configures an Engine. It has the same fields as the IKEv2
// engine's, so the runtime builds both from one place.
type Config struct {
	DB        *policy.DB
	Installer policy.Installer
	Log       *zap.Logger
	Rand      io.Reader

	IKEPort, NATTPort uint16

	RetransmitTries int
	RetransmitBase  time.Duration

	// SPIFilter, if set, must accept every initiator cookie the engine
	// picks: the runtime routes IKEv1 messages by the initiator cookie.
	SPIFilter func(spi uint64) bool

	// ForceEncap makes us claim to be behind a NAT (a made-up NAT
	// detection hash, as strongSwan's encap=yes does) so that ESP is
	// UDP-encapsulated even without a NAT: the userspace dataplane needs it.
	ForceEncap bool
	// NATKeepalive is the interval of NAT keepalives while we are behind a
	// NAT (0: natt.DefaultKeepaliveInterval).
	NATKeepalive time.Duration
	// MaxHalfOpen bounds the ISAKMP SAs a responder holds before phase 1
	// completes (0: 10,000); first messages beyond it are dropped.
	MaxHalfOpen int

	// KeyLog, if set, receives every IKE SA's keys: the explicit,
	// documented key export for Wireshark (gateway.key_export). Nothing
	// else sees keys.
	KeyLog func(policy.ExportedKeys)
}

// Counters are the engine's statistics.
type Counters struct {
	Dropped      uint64
	UnknownSPI   uint64
	Established  uint64
	AuthFailures uint64
	HeldEarly    uint64 // Quick Mode messages held until phase 1 completed
}

// Engine runs the IKEv1 SAs of one shard. One goroutine owns it.
type Engine struct {
	cfg    Config
	log    *zap.Logger
	sas    map[uint64]*p1SA // by initiator cookie
	timers timerq.Queue[*p1SA]
	out    []isakmp.Datagram
	stats  Counters

	halfOpen int // responder SAs before phase 1 completed
}

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
	if cfg.MaxHalfOpen <= 0 {
		cfg.MaxHalfOpen = 10000
	}
	if cfg.NATKeepalive <= 0 {
		cfg.NATKeepalive = natt.DefaultKeepaliveInterval
	}
	return &Engine{cfg: cfg, log: cfg.Log.With(zap.Int("version", 1)), sas: make(map[uint64]*p1SA)}
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

func (e *Engine) random(n int) []byte {
	b := make([]byte, n)
	if _, err := io.ReadFull(e.cfg.Rand, b); err != nil {
		panic(fmt.Sprintf("ikev1: randomness failed: %v", err))
	}
	return b
}

func (e *Engine) cookie(initiator bool) uint64 {
	for {
		c := binary.BigEndian.Uint64(e.random(8))
		if c == 0 || (initiator && e.sas[c] != nil) {
			continue
		}
		if initiator && e.cfg.SPIFilter != nil && !e.cfg.SPIFilter(c) {
			continue
		}
		return c
	}
}

func (e *Engine) drop(reason string, d isakmp.Datagram, err error) {
	e.stats.Dropped++
	if ce := e.log.Check(zap.DebugLevel, "dropped message"); ce != nil {
		ce.Write(zap.String("reason", reason), zap.Stringer("peer", d.Remote), zap.Error(err))
	}
}

// HandleDatagram processes one received IKEv1 message and returns the
// datagrams to send in answer.
func (e *Engine) HandleDatagram(now time.Time, d isakmp.Datagram) []isakmp.Datagram {
	e.handle(now, d)
	return e.flush()
}

func (e *Engine) handle(now time.Time, d isakmp.Datagram) {
	msg, err := isakmp.ParseV1Message(d.Data)
	if err != nil {
		if msg = parsePadded(d.Data); msg == nil {
			e.drop("malformed message", d, err)
			return
		}
	}
	h := msg.Header
	sa := e.sas[h.SPIi]
	if sa == nil {
		if h.SPIr != 0 {
			e.stats.UnknownSPI++
			e.drop("unknown cookies", d, nil)
			return
		}
		switch h.Exchange {
		case isakmp.ExchangeV1Main, isakmp.ExchangeV1Aggressive:
			e.respondPhase1(now, d, msg)
		default:
			e.drop("new exchange is not Main or Aggressive Mode", d, nil)
		}
		return
	}
	// A retransmission of the peer's last message means our answer was
	// lost: resend it, unless our own retransmission timer already does.
	sum := sha256.Sum256(d.Data)
	if sum == sa.lastRecv {
		if sa.rtx == nil && sa.lastSentFor == sum {
			for _, raw := range sa.lastSent {
				e.emit(d.Local, d.Remote, raw)
			}
		}
		return
	}
	if h.SPIr != sa.ckyR && !(sa.initiator && sa.ckyR == 0) {
		e.stats.UnknownSPI++
		e.drop("responder cookie mismatch", d, nil)
		return
	}
	switch h.Exchange {
	case isakmp.ExchangeV1Main, isakmp.ExchangeV1Aggressive:
		if h.MessageID != 0 {
			e.drop("phase 1 message with a message ID", d, nil)
			return
		}
		e.phase1Message(now, sa, d, msg, sum)
	case isakmp.ExchangeV1Quick:
		if sa.state != stateEstablished {
			// strongSwan's Aggressive Mode initiator sends Quick Mode right
			// after message 3; hold it until phase 1 completes.
			if len(sa.held) < 4 {
				sa.held = append(sa.held, d)
				e.stats.HeldEarly++
			}
			return
		}
		e.quickMode(now, sa, d, msg)
	case isakmp.ExchangeV1Informational:
		e.informational(now, sa, d, msg)
	default:
		e.drop("unsupported exchange "+h.Exchange.String(), d, nil)
	}
	e.schedule(sa)
}

// parsePadded accepts an unencrypted message whose payload chain ends up
// to 3 zero bytes before the header's Length: Libreswan pads every IKEv1
// message to a multiple of 4 bytes, so its Aggressive Mode messages with
// an ID of odd length (e.g. "@peer.lab") carry 1-3 bytes after the last
// payload. strongSwan accepts them; RFC 2408 does not forbid them. It
// returns nil for anything else.
func parsePadded(b []byte) *isakmp.V1Message {
	h, err := isakmp.ParseHeader(b)
	if err != nil || h.MajorVersion != 1 || h.Flags&isakmp.V1FlagEncryption != 0 {
		return nil
	}
	body := b[isakmp.HeaderLen:h.Length]
	ps, n, err := isakmp.ParseV1PayloadsLen(isakmp.V1PayloadType(h.NextPayload), body)
	if err != nil || n == 0 || len(body)-n > 3 {
		return nil
	}
	for _, c := range body[n:] {
		if c != 0 {
			return nil
		}
	}
	return &isakmp.V1Message{Header: h, Payloads: ps}
}

// Tick runs the timers due at now.
func (e *Engine) Tick(now time.Time) []isakmp.Datagram {
	for sa, ok := e.timers.PopDue(now); ok; sa, ok = e.timers.PopDue(now) {
		e.onTimer(now, sa)
		e.schedule(sa)
	}
	return e.flush()
}

// NextDeadline is when Tick next has work; zero means never.
func (e *Engine) NextDeadline() time.Time {
	_, when, _ := e.timers.Next()
	return when
}

// schedule (re)arms sa's timer for its next deadline.
func (e *Engine) schedule(sa *p1SA) {
	if sa.state == stateGone {
		return
	}
	e.timers.Schedule(sa, sa.nextDeadline()) // zero: no deadline
}

func (e *Engine) onTimer(now time.Time, sa *p1SA) {
	if r := sa.rtx; r != nil && !r.next.After(now) {
		if r.tries >= e.cfg.RetransmitTries {
			e.fail(sa, fmt.Sprintf("peer did not answer after %d tries", r.tries))
			// A connection that starts with the daemon keeps trying until
			// the peer answers.
			if sa.initiator && sa.conn.Start == policy.StartStart && canInitiate(sa.conn) {
				sa.log(e).Info("initiating again (start = \"start\")")
				if err := e.initiatePhase1(now, sa.conn); err != nil {
					sa.log(e).Warn("initiating again failed", zap.Error(err))
				}
			}
			return
		}
		r.tries++
		r.next = now.Add(e.cfg.RetransmitBase << (r.tries - 1))
		for _, raw := range r.raw {
			e.emit(sa.local, sa.remote, raw)
		}
	}
	for id, q := range sa.quick {
		if r := q.rtx; r != nil && !r.next.After(now) {
			if r.tries >= e.cfg.RetransmitTries {
				sa.log(e).Warn("Quick Mode: peer did not answer", zap.Uint32("msgid", id))
				delete(sa.quick, id)
				continue
			}
			r.tries++
			r.next = now.Add(e.cfg.RetransmitBase << (r.tries - 1))
			for _, raw := range r.raw {
				e.emit(sa.local, sa.remote, raw)
			}
		}
		if !q.expires.IsZero() && !q.expires.After(now) {
			delete(sa.quick, id)
		}
	}
	if !sa.expires.IsZero() && !sa.expires.After(now) && sa.state != stateEstablished {
		e.fail(sa, "phase 1 did not complete in time")
		return
	}
	if sa.state != stateEstablished {
		return
	}
	e.rekeyDue(now, sa)
	if !sa.quickAt.IsZero() && !sa.quickAt.After(now) {
		sa.quickAt = time.Time{}
		e.startQuickMode(now, sa, sa.conn)
	}
	if !sa.nextKeepalive.IsZero() && !sa.nextKeepalive.After(now) {
		e.emit(sa.local, sa.remote, natt.Keepalive)
		sa.nextKeepalive = now.Add(e.cfg.NATKeepalive)
	}
	if sa.dpd.Enabled() {
		e.checkLiveness(now, sa)
	}
}

// fail ends a phase 1 SA that could not be established and logs why.
func (e *Engine) fail(sa *p1SA, why string) {
	sa.log(e).Warn("IKEv1 SA failed: " + why)
	e.destroy(sa, why)
}

func (e *Engine) destroy(sa *p1SA, reason string) {
	if sa.state == stateGone {
		return
	}
	e.timers.Cancel(sa)
	e.leaveHalfOpen(sa)
	for _, c := range append([]*child(nil), sa.children...) {
		e.removeChild(sa, c)
	}
	if e.sas[sa.ckyI] == sa {
		delete(e.sas, sa.ckyI)
	}
	sa.state = stateGone
	sa.keys = nil
	sa.dh = nil
	sa.log(e).Debug("IKEv1 SA removed", zap.String("reason", reason))
}

// SAs returns the status of every phase 1 SA, with phase 2 SAs as children.
func (e *Engine) SAs() []policy.IKESAInfo {
	out := make([]policy.IKESAInfo, 0, len(e.sas))
	for _, sa := range e.sas {
		out = append(out, sa.info())
	}
	return out
}

// leaveHalfOpen stops counting sa as a half-open responder SA.
func (e *Engine) leaveHalfOpen(sa *p1SA) {
	if sa.halfOpen {
		sa.halfOpen = false
		e.halfOpen--
	}
}
