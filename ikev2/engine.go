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
	"errors"
	"fmt"
	"iter"
	"maps"
	"net/netip"
	"time"

	"go.uber.org/zap"

	"ikegate/dpd"
	"ikegate/internal/engine"
	"ikegate/isakmp"
	"ikegate/natt"
	"ikegate/policy"
)

// Config configures an Engine: the configuration both engines share.
type Config = engine.Config

// halfOpenTimeout is how long a responder keeps an IKE SA whose IKE_AUTH
// has not arrived.
const halfOpenTimeout = 30 * time.Second

// Counters are the engine's statistics.
type Counters = engine.Counters

// Engine runs the IKE SAs of one shard. It is not safe for concurrent use:
// one goroutine owns it.
type Engine struct {
	engine.Core[*ikeSA, *childSA, installWait]

	sas       map[uint64]*ikeSA // by the SPI we allocated
	halfOpen  map[halfOpenKey]*ikeSA
	cookieKey [32]byte

	lastInvalidSPI time.Time
}

type halfOpenKey struct {
	peer netip.AddrPort
	spiI uint64
}

// NewEngine returns an engine with no SAs.
func NewEngine(cfg Config) *Engine {
	e := &Engine{
		sas:      make(map[uint64]*ikeSA),
		halfOpen: make(map[halfOpenKey]*ikeSA),
	}
	e.Init(cfg, 2)
	e.SetHooks(engine.Hooks[*ikeSA, *childSA]{
		SAs:         func() iter.Seq[*ikeSA] { return maps.Values(e.sas) },
		Children:    func(sa *ikeSA) []*childSA { return sa.children },
		Established: (*ikeSA).usable, // not an SA retired by a rekey (collision.go)
		Negotiating: func(sa *ikeSA) bool { return sa.state < stateEstablished },
		Conn:        func(sa *ikeSA) *policy.Connection { return sa.conn },
		Creating:    (*ikeSA).creating,
		Info:        (*ikeSA).info,
		Record:      (*ikeSA).record,
		Log:         func(sa *ikeSA) *zap.Logger { return sa.log(e) },
		Replace:     e.rekeyChild,
		Delete:      e.deleteChild,
		Initiate:    e.initiateIKE,
		AddChild:    e.initiateChild,
		Reusable:    e.reusableSA,
		User: func(sa *ikeSA) string {
			if sa.ra != nil {
				return sa.ra.user
			}
			return ""
		},
		Peer:   func(sa *ikeSA) (policy.Identity, netip.AddrPort) { return sa.peerID, sa.remote },
		Lookup: engine.MapLookup(e.sas),
		Remove: func(now time.Time, sa *ikeSA, notify bool, why string) {
			if notify {
				e.deleteIKE(now, sa)
			} else {
				e.destroy(sa, why)
			}
		},
	})
	copy(e.cookieKey[:], e.Random(len(e.cookieKey)))
	return e
}

// Stats returns the engine's counters.
func (e *Engine) Stats() Counters {
	c := e.Count
	c.HalfOpen = uint64(len(e.halfOpen))
	return c
}

// HandleDatagram processes one received IKEv2 message and returns the
// datagrams to send in answer.
func (e *Engine) HandleDatagram(now time.Time, d isakmp.Datagram) engine.Output {
	e.handle(now, d)
	return e.Flush()
}

func (e *Engine) handle(now time.Time, d isakmp.Datagram) {
	msg, err := isakmp.ParseMessage(d.Data)
	if errors.Is(err, isakmp.ErrUnsupportedVersion) {
		e.Drop("higher major version", d, err)
		e.invalidMajorVersion(now, d)
		return
	}
	if err != nil {
		e.Drop("malformed message", d, err)
		return
	}
	h := &msg.Header
	if h.MajorVersion != 2 {
		e.Drop("not IKEv2", d, nil)
		return
	}
	response := h.Flags&isakmp.FlagResponse != 0
	fromInitiator := h.Flags&isakmp.FlagInitiator != 0
	var sa *ikeSA
	if fromInitiator {
		if h.SPIr == 0 {
			if h.Exchange != isakmp.ExchangeIKESAInit || response || h.MessageID != 0 {
				e.Drop("zero responder SPI outside IKE_SA_INIT request", d, nil)
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
	e.Schedule(sa)
}

// unknownSPI handles a message for an IKE SA we do not have (RFC 7296
// 2.21.4): count it and, for a request, answer with an unprotected
// INVALID_IKE_SPI at most once a second.
func (e *Engine) unknownSPI(now time.Time, d isakmp.Datagram, msg *isakmp.Message) {
	e.Count.UnknownSPI++
	h := msg.Header
	e.Log.Debug("message for unknown IKE SA", zap.Stringer("peer", d.Remote),
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
	e.Emit(d.Local, d.Remote, resp.Marshal())
}

// randomSPI returns a fresh IKE SPI of ours (see engine.Core.RandomSPI).
func (e *Engine) randomSPI() uint64 {
	return e.RandomSPI(func(spi uint64) bool { return e.sas[spi] != nil })
}

// Tick runs the timers that are due at now (retransmissions, timeouts,
// expiry) and returns the datagrams to send.
func (e *Engine) Tick(now time.Time) engine.Output { return e.RunTimers(now, e.onTimer) }

func (e *Engine) onTimer(now time.Time, sa *ikeSA) {
	e.removeLate(now, sa, false)
	if r := sa.req; r != nil && r.Due(now) {
		if !e.Resend(now, &r.Retransmit, sa.local, sa.remote) {
			if sa.retired {
				e.retiredUnanswered(sa, r)
				return
			}
			if sa.state == stateDeleting {
				// We were deleting it anyway (down, reload, a rekey's old
				// SA): no dead peer, no restart.
				sa.log(e).Info("peer did not answer our Delete; the IKE SA is removed", zap.Int("tries", r.Tries))
				e.destroy(sa, "delete not answered")
				return
			}
			sa.log(e).Warn("peer did not answer; giving up the IKE SA",
				zap.Stringer("exchange", r.exchange), zap.Uint32("msgid", r.msgID), zap.Int("tries", r.Tries))
			e.peerDead(now, sa, "peer did not answer "+r.exchange.String())
			return
		}
		sa.log(e).Debug("retransmit", zap.Stringer("exchange", r.exchange), zap.Uint32("msgid", r.msgID), zap.Int("try", r.Tries))
	}
	if sa.halfOpen != nil && engine.Due(sa.halfOpen.expires, now) {
		e.Unauthenticated(now, "half-open IKE SA expired", sa.remote.Addr(), func() {
			sa.log(e).Info("half-open IKE SA expired without IKE_AUTH")
		})
		e.destroy(sa, "half-open timeout")
		return
	}
	if sa.state != stateEstablished {
		return
	}
	if sa.ra != nil && engine.Due(sa.ra.ends, now) {
		sa.log(e).Info("session timeout (RADIUS Session-Timeout): disconnecting the client", zap.String("user", sa.ra.user))
		sa.ra.ends = time.Time{}
		e.deleteIKE(now, sa)
		return
	}
	if engine.Due(sa.NextKeepalive, now) {
		e.Emit(sa.local, sa.remote, natt.Keepalive)
		sa.NextKeepalive = now.Add(e.Cfg.NATKeepalive)
	}
	if sa.DPD.Enabled() {
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
	switch e.Liveness(now, &sa.DPD, e.Kernels(sa)) {
	case dpd.Probe:
		if sa.req == nil {
			if ce := e.Log.Check(zap.DebugLevel, "liveness check"); ce != nil {
				ce.Write(zap.String("conn", sa.conn.Name), zap.Stringer("peer", sa.remote))
			}
			e.startRequest(now, sa, e.encryptedRequest(sa, isakmp.ExchangeInformational, nil, stepInfo))
		}
	case dpd.Dead:
		e.peerDead(now, sa, fmt.Sprintf("no answer to liveness checks for dpd_timeout %s", sa.conn.DPDTimeout))
	}
}

// peerDead removes the SA of a peer that stopped answering and, as
// engine.PeerLost decides, initiates the connection again.
func (e *Engine) peerDead(now time.Time, sa *ikeSA, why string) {
	again := engine.PeerLost(sa.log(e), sa.conn, sa.state == stateEstablished, sa.initiator, "IKE SA failed", why)
	if sa.initiator && sa.state != stateEstablished {
		e.NoteFailure(sa.conn.Name, why)
	}
	e.destroy(sa, why)
	if again {
		if err := e.initiateIKE(now, sa.conn); err != nil {
			e.Log.Warn("initiating again failed", zap.String("conn", sa.conn.Name), zap.Error(err))
		}
	}
}

// destroy removes sa and everything it installed.
func (e *Engine) destroy(sa *ikeSA, reason string) {
	if sa.state == stateGone {
		return
	}
	e.dropUndecided(sa, reason)
	e.Unschedule(sa)
	e.removeLate(time.Time{}, sa, true)
	// removeChild edits sa.children: iterate over a copy.
	for _, c := range append([]*childSA(nil), sa.children...) {
		e.removeChild(sa, c)
	}
	sa.children = nil
	e.releaseLease(sa)
	if sa.initiator {
		delete(e.sas, sa.spiI)
	} else {
		delete(e.sas, sa.spiR)
	}
	if sa.halfOpen != nil {
		delete(e.halfOpen, sa.halfOpen.key)
		sa.halfOpen = nil
	}
	if sa.state == stateEstablished || sa.state == stateDeleting {
		e.Effect(engine.IKEDown(2, sa.conn.Name, sa.ourSPI(), sa.spiI, sa.spiR))
	}
	sa.state = stateGone
	sa.log(e).Debug("IKE SA removed", zap.String("reason", reason))
	sa.hs = nil
	sa.keys = nil
}

func spiHex(spi uint64) string { return engine.SPIHex(spi) }

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
	e.Emit(d.Local, d.Remote, resp.Marshal())
}
