package ikev1

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"iter"
	"maps"
	"net/netip"
	"time"

	"go.uber.org/zap"

	"ikegate/internal/engine"
	"ikegate/isakmp"
	"ikegate/natt"
	"ikegate/policy"
)

// Config configures an Engine: the configuration both engines share.
type Config = engine.Config

// Counters are the engine's statistics.
type Counters = engine.Counters

// Engine runs the IKEv1 SAs of one shard. One goroutine owns it.
type Engine struct {
	engine.Core[*p1SA, *child, installWait]

	sas map[uint64]*p1SA // by initiator cookie
	// renewed are the SAs whose replacement we started (rekeyDue): the
	// few that a new SA of their connection may retire, so that
	// establishing one does not scan every SA.
	renewed  map[*p1SA]struct{}
	halfOpen int // responder SAs before phase 1 completed

	// Flood defence (flood.go).
	cookieKey [32]byte            // keys the stateless Main Mode responder cookies
	mm1       mm1Table            // Main Mode messages 1 answered statelessly
	sharedDH  map[uint16]sharedDH // under pressure: one DH key per group for a while
	unproven  []uint64            // cookies of half-open responder SAs in creation order (eviction)

	// noQuick makes phase 1 initiations bring no Quick Mode and leaves
	// crossings to the peer: tests use it to play a peer that renews
	// phase 1 as strongSwan's IKEv1 reauthentication does
	// (TestCrossingPhase1Renewal).
	noQuick bool
}

// NewEngine returns an engine with no SAs.
func NewEngine(cfg Config) *Engine {
	e := &Engine{sas: make(map[uint64]*p1SA), renewed: map[*p1SA]struct{}{}}
	e.Init(cfg, 1)
	copy(e.cookieKey[:], e.Random(len(e.cookieKey)))
	e.mm1.max = e.Cfg.MaxHalfOpen
	e.SetHooks(engine.Hooks[*p1SA, *child]{
		SAs:         func() iter.Seq[*p1SA] { return maps.Values(e.sas) },
		Children:    func(sa *p1SA) []*child { return sa.children },
		Established: func(sa *p1SA) bool { return sa.state == stateEstablished },
		Negotiating: func(sa *p1SA) bool { return sa.state < stateEstablished },
		Conn:        func(sa *p1SA) *policy.Connection { return sa.conn },
		Creating: func(sa *p1SA, name string) bool {
			for _, q := range sa.quick {
				if q.conn.Name == name {
					return true
				}
			}
			return false
		},
		Info:   (*p1SA).info,
		Record: (*p1SA).record,
		Log:    func(sa *p1SA) *zap.Logger { return sa.log(e) },
		Replace: func(now time.Time, sa *p1SA, c *child) {
			c.Rekeying = true
			e.startQuickModeFor(now, sa, c.Conn, c)
		},
		Delete:   func(_ time.Time, sa *p1SA, c *child) { e.deletePhase2(sa, c) },
		Initiate: e.initiatePhase1,
		AddChild: e.startQuickMode,
		Reusable: e.reusableSA,
		Peer:     func(sa *p1SA) (policy.Identity, netip.AddrPort) { return sa.peerID, sa.remote },
		User: func(sa *p1SA) string {
			if sa.ra != nil {
				return sa.ra.user
			}
			return ""
		},
		Lookup: engine.MapLookup(e.sas),
		Remove: func(_ time.Time, sa *p1SA, notify bool, why string) {
			if notify {
				e.deleteISAKMP(sa, why)
			} else {
				e.destroy(sa, why)
			}
		},
	})
	return e
}

// Stats returns the engine's counters.
func (e *Engine) Stats() Counters {
	c := e.Count
	c.HalfOpen = uint64(e.halfOpen)
	c.HalfOpenEvicted += e.mm1.evicted
	return c
}

func (e *Engine) cookie(initiator bool) uint64 {
	if initiator {
		return e.RandomSPI(func(c uint64) bool { return e.sas[c] != nil })
	}
	for {
		if c := binary.BigEndian.Uint64(e.Random(8)); c != 0 {
			return c
		}
	}
}

// HandleDatagram processes one received IKEv1 message and returns the
// datagrams to send in answer.
func (e *Engine) HandleDatagram(now time.Time, d isakmp.Datagram) engine.Output {
	e.handle(now, d)
	return e.Flush()
}

func (e *Engine) handle(now time.Time, d isakmp.Datagram) {
	msg, err := isakmp.ParseV1Message(d.Data)
	if err != nil {
		if msg = parsePadded(d.Data); msg == nil {
			e.Drop("malformed message", d, err)
			return
		}
	}
	h := msg.Header
	sa := e.sas[h.SPIi]
	if len(msg.Payloads) > 0 && msg.Encrypted == nil {
		if f, ok := msg.Payloads[0].(*isakmp.V1Frag); ok {
			if sa == nil || (h.Exchange != isakmp.ExchangeV1Main && h.Exchange != isakmp.ExchangeV1Aggressive) {
				// (a retransmitted last phase 1 message may come in
				// fragments after phase 1 completed: it is answered again)
				e.Drop("IKE fragment outside phase 1 of a known SA", d, nil)
				return
			}
			e.fragment(now, sa, d, f)
			return
		}
	}
	if sa == nil && h.SPIr != 0 && h.Exchange == isakmp.ExchangeV1Main && e.mainMode3(now, d, msg) {
		sa = e.sas[h.SPIi] // made from the message 1 we kept: message 3 goes on below
	}
	if sa == nil {
		if h.SPIr != 0 {
			e.Count.UnknownSPI++
			e.Drop("unknown cookies", d, nil)
			return
		}
		switch h.Exchange {
		case isakmp.ExchangeV1Main, isakmp.ExchangeV1Aggressive:
			e.respondPhase1(now, d, msg)
		default:
			e.Drop("new exchange is not Main or Aggressive Mode", d, nil)
		}
		return
	}
	// A retransmission of the peer's last message means our answer was
	// lost: resend it, unless our own retransmission timer already does.
	sum := sha256.Sum256(d.Data)
	if sum == sa.lastRecv {
		if sa.rtx == nil && sa.lastSentFor == sum {
			for _, raw := range sa.lastSent {
				e.Emit(d.Local, d.Remote, raw)
			}
		}
		return
	}
	if h.SPIr != sa.ckyR && !(sa.initiator && sa.ckyR == 0) {
		e.Count.UnknownSPI++
		e.Drop("responder cookie mismatch", d, nil)
		return
	}
	switch h.Exchange {
	case isakmp.ExchangeV1Main, isakmp.ExchangeV1Aggressive:
		if h.MessageID != 0 {
			e.Drop("phase 1 message with a message ID", d, nil)
			return
		}
		e.phase1Message(now, sa, d, msg, sum)
	case isakmp.ExchangeV1Quick:
		if sa.state != stateEstablished {
			// strongSwan's Aggressive Mode initiator sends Quick Mode right
			// after message 3; hold it until phase 1 completes.
			if sa.hs != nil && len(sa.hs.held) < 4 {
				sa.hs.held = append(sa.hs.held, d)
				e.Count.HeldEarly++
				if sa.state == stateAggrR2 {
					// Quick Mode without message 3: it was lost. Our
					// message 2 again makes the initiator repeat it (we
					// do not retransmit message 2 on our own: flood.go).
					e.EmitAll(d.Local, d.Remote, sa.lastSent)
				}
			}
			return
		}
		if ra := sa.ra; ra != nil && sa.conn.XAuth != policy.XAuthNone && ra.xauth != xauthDone {
			e.Drop("Quick Mode before XAUTH completed", d, nil)
			return
		}
		e.quickMode(now, sa, d, msg)
	case isakmp.ExchangeV1Informational:
		e.informational(now, sa, d, msg)
	case isakmp.ExchangeV1Transaction:
		if sa.state != stateEstablished {
			e.Drop("Transaction exchange before phase 1 completed", d, nil)
			return
		}
		e.transaction(now, sa, d, msg)
	default:
		e.Drop("unsupported exchange "+h.Exchange.String(), d, nil)
	}
	e.Schedule(sa)
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
func (e *Engine) Tick(now time.Time) engine.Output { return e.RunTimers(now, e.onTimer) }

func (e *Engine) onTimer(now time.Time, sa *p1SA) {
	if r := sa.rtx; r.Due(now) && !e.Resend(now, r, sa.local, sa.remote) {
		e.peerDead(now, sa, noAnswer(sa, r.Tries))
		return
	}
	for id, q := range sa.quick {
		if r := q.rtx; r.Due(now) && !e.Resend(now, r, sa.local, sa.remote) {
			sa.log(e).Warn("Quick Mode: peer did not answer", zap.Uint32("msgid", id))
			sa.dropQuick(id)
			continue
		}
		if engine.Due(q.expires, now) {
			sa.dropQuick(id)
		}
	}
	if engine.Due(sa.expires, now) && sa.state != stateEstablished {
		if !sa.initiator && !sa.proven {
			// A first message nobody followed up: a scan or a spoofed
			// flood as often as a lost peer. Counted, logged quietly.
			e.Unauthenticated(now, "half-open phase 1 expired", sa.remote.Addr(), func() {
				sa.log(e).Warn("IKEv1 SA failed: the peer never sent message 3 (a spoofed or scanning first message, " +
					"or a peer that gave up: a wrong PSK or certificate on its side fails silently in Aggressive Mode)")
			})
			e.destroy(sa, "half-open expiry")
			return
		}
		e.peerDead(now, sa, "phase 1 did not complete in time")
		return
	}
	if sa.state != stateEstablished {
		return
	}
	e.retransmitTransaction(now, sa)
	if sa.state != stateEstablished {
		return
	}
	e.rekeyDue(now, sa)
	if engine.Due(sa.crossCheckAt, now) {
		sa.crossCheckAt = time.Time{}
		if sa.initiator {
			e.retireReplaced(now, sa)
		}
		e.resolveCrossing(now, sa)
		if sa.state != stateEstablished {
			return
		}
	}
	if engine.Due(sa.quickAt, now) {
		sa.quickAt = time.Time{}
		e.startQuickMode(now, sa, sa.conn)
	}
	if engine.Due(sa.NextKeepalive, now) {
		e.Emit(sa.local, sa.remote, natt.Keepalive)
		sa.NextKeepalive = now.Add(e.Cfg.NATKeepalive)
	}
	if sa.DPD.Enabled() {
		e.checkLiveness(now, sa)
	}
	if sa.state == stateEstablished && engine.Due(sa.idleNext(), now) {
		e.checkIdle(now, sa)
	}
}

// fail ends a phase 1 SA that could not be established and logs why.
func (e *Engine) fail(sa *p1SA, why string) {
	if sa.decoyPSK != nil {
		why = fmt.Sprintf("identity %s matches no connection (it was given a decoy answer; %s)", sa.peerID, why)
	}
	sa.log(e).Warn("IKEv1 SA failed: " + why)
	if sa.initiator && sa.conn != nil {
		e.NoteFailure(sa.conn.Name, why)
	}
	e.destroy(sa, why)
}

func (e *Engine) destroy(sa *p1SA, reason string) {
	if sa.state == stateGone {
		return
	}
	e.Unschedule(sa)
	e.leaveHalfOpen(sa)
	delete(e.renewed, sa)
	for _, c := range append([]*child(nil), sa.children...) {
		e.removeChild(sa, c)
	}
	if e.sas[sa.ckyI] == sa {
		delete(e.sas, sa.ckyI)
	}
	if sa.state == stateEstablished {
		e.Effect(engine.IKEDown(1, sa.conn.Name, sa.ckyI, sa.ckyI, sa.ckyR))
	}
	e.releaseLease(sa)
	sa.state = stateGone
	sa.keys = nil
	sa.hs = nil
	sa.log(e).Debug("IKEv1 SA removed", zap.String("reason", reason))
}

// leaveHalfOpen stops counting sa as a half-open responder SA.
func (e *Engine) leaveHalfOpen(sa *p1SA) {
	if sa.halfOpen {
		sa.halfOpen = false
		e.halfOpen--
	}
}
