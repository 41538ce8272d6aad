package ikev1

import (
	"crypto/hmac"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"ikegate/dpd"
	"ikegate/internal/engine"
	"ikegate/isakmp"
	"ikegate/oakley"
	"ikegate/policy"
)

func hmacEqual(a, b []byte) bool { return hmac.Equal(a, b) }

// sendInfo sends a HASH-protected Informational exchange (RFC 2409 5.7).
func (e *Engine) sendInfo(sa *p1SA, ps []isakmp.V1Payload) {
	if sa.keys == nil || sa.keys.a == nil {
		return
	}
	id := e.newMsgID(sa)
	out := hashedPayloads(sa.keys.prf.Size(), ps, func(b []byte) []byte {
		return oakley.V1InfoHash(sa.keys.prf, sa.keys.a, id, b)
	})
	raw, _ := sa.seal(isakmp.ExchangeV1Informational, id, sa.phase2IV(id), out)
	e.Emit(sa.local, sa.remote, raw)
}

// sendNotify sends a protected notification about the ISAKMP SA.
func (e *Engine) sendNotify(sa *p1SA, t isakmp.V1NotifyType, data []byte) {
	e.sendInfo(sa, []isakmp.V1Payload{&isakmp.V1Notify{DOI: isakmp.V1DOIIPsec, ProtocolID: isakmp.V1ProtocolISAKMP,
		SPI: cookies(sa.ckyI, sa.ckyR), Type: t, Data: data}})
}

// informational handles an Informational exchange from the peer.
func (e *Engine) informational(now time.Time, sa *p1SA, d isakmp.Datagram, msg *isakmp.V1Message) {
	log := sa.log(e)
	if msg.Encrypted == nil {
		// Unprotected notifications are believed only before phase 1 is
		// authenticated, and only to end it.
		if n := firstErrorNotify(msg.Payloads); n != nil && sa.state != stateEstablished {
			e.refused(sa, n)
			return
		}
		e.Drop("unprotected Informational", d, nil)
		return
	}
	if sa.keys == nil || sa.keys.a == nil {
		e.Drop("Informational before keys exist", d, nil)
		return
	}
	id := msg.Header.MessageID
	ps, raws, plain, _, err := sa.open(msg, sa.phase2IV(id))
	var hash, rest []byte
	if err == nil {
		hash, rest, err = restAfterHash(raws, plain)
	}
	if err == nil && !hmac.Equal(hash, oakley.V1InfoHash(sa.keys.prf, sa.keys.a, id, rest)) {
		err = errors.New("HASH(1) does not verify")
	}
	if err != nil {
		if sa.state != stateEstablished && baseAuth(sa.auth) == oakley.V1AuthPSK {
			// During phase 1 the peer's only reason to send a protected
			// notification is a failure, and one we cannot read means it
			// derived other keys: typically a different pre-shared key.
			e.Count.AuthFailures++
			e.fail(sa, fmt.Sprintf("authentication failed: the peer sent a protected notification we cannot read (%v): "+
				"most likely the pre-shared keys of connection %q differ", err, sa.conn.Name))
			return
		}
		e.Drop("Informational does not decrypt or verify", d, err)
		return
	}
	sa.followPeer(d)
	if isakmp.FindV1Notify(ps, isakmp.V1NotifyRUThereAck) == nil {
		sa.DPD.Seen(now) // an ACK counts only if it answers our latest probe
	}
	for _, p := range ps {
		switch v := p.(type) {
		case *isakmp.V1Notify:
			switch v.Type {
			case isakmp.V1NotifyRUThere:
				e.sendInfo(sa, []isakmp.V1Payload{&isakmp.V1Notify{DOI: isakmp.V1DOIIPsec, ProtocolID: isakmp.V1ProtocolISAKMP,
					SPI: v.SPI, Type: isakmp.V1NotifyRUThereAck, Data: v.Data}})
			case isakmp.V1NotifyRUThereAck:
				e.dpdAck(now, sa, v.Data)
			case isakmp.V1NotifyInitialContact:
				if sa.conn.Unique != policy.UniqueNever {
					e.InitialContact(now, sa)
				}
				if sa.xauthServer() && sa.ra.xauth != xauthDone {
					sa.ra.upIC = true // reported with the user, once XAUTH names one
				} else {
					e.Effect(sa.upEffect(false, true))
				}
			default:
				if v.Type < 8192 {
					if sa.state != stateEstablished {
						log.Warn("peer sent error notification " + v.Type.String())
						e.fail(sa, "peer sent "+v.Type.String())
						return
					}
					if e.quickRefused(sa, v) {
						continue
					}
					log.Warn("peer sent error notification " + v.Type.String())
				}
			}
		case *isakmp.V1Delete:
			switch v.ProtocolID {
			case isakmp.V1ProtocolISAKMP:
				log.Info("peer deleted the ISAKMP SA")
				e.destroy(sa, "deleted by peer")
				return
			case isakmp.ProtocolESP, isakmp.ProtocolAH:
				for _, spi := range v.SPIs {
					if len(spi) != 4 {
						continue
					}
					// Usually the peer's inbound SPI (our spiOut); strongSwan
					// names ours after a failed install, Libreswan accepts
					// both: match either.
					out := binary.BigEndian.Uint32(spi)
					for _, c := range sa.children {
						if c.SPIOut == out || c.SPIIn == out {
							log.Info("peer deleted phase 2 SA", zap.String("child", c.Conn.Name))
							e.removeChild(sa, c)
							break
						}
					}
				}
			}
		}
	}
}

// Terminate deletes the ISAKMP SAs of connection name with their phase 2
// SAs, or phase 2 SAs of that name on other ISAKMP SAs.
func (e *Engine) Terminate(now time.Time, name string) (engine.Output, bool) {
	found := false
	for _, sa := range e.sas {
		owned := sa.conn.Name == name
		for _, c := range append([]*child(nil), sa.children...) {
			if owned || c.Conn.Name == name {
				found = true
				e.deletePhase2(sa, c)
			}
		}
		if owned {
			found = true
			e.deleteISAKMP(sa, "terminated")
		}
	}
	return e.Flush(), found
}

// deletePhase2 tells the peer a phase 2 SA is gone and removes it.
func (e *Engine) deletePhase2(sa *p1SA, c *child) {
	if sa.state == stateEstablished && c.State != engine.ChildFailed {
		e.sendInfo(sa, []isakmp.V1Payload{&isakmp.V1Delete{DOI: isakmp.V1DOIIPsec, ProtocolID: isakmp.ProtocolESP,
			SPISize: 4, SPIs: [][]byte{spi32(c.SPIIn)}}})
	}
	e.removeChild(sa, c)
}

// sendDeletes sends, over sa, a Delete for phase 2 SAs (our inbound SPIs)
// that were deleted over another ISAKMP SA. IKEv1 does not tie a phase 2
// SA to the ISAKMP SA it was negotiated on, and a peer looks a Delete up
// among the phase 2 SAs it files under the ISAKMP SA the Delete came
// over: strongSwan moves them to the newest ISAKMP SA when it
// reauthenticates or sees a peer's renewal, so a Delete over the old one
// finds nothing there ("CHILD_SA not found, ignored") and the phase 2 SA
// stays until its lifetime. A peer that has none of them ignores it.
func (e *Engine) sendDeletes(sa *p1SA, spis []uint32) {
	if sa.state != stateEstablished || len(spis) == 0 {
		return
	}
	d := &isakmp.V1Delete{DOI: isakmp.V1DOIIPsec, ProtocolID: isakmp.ProtocolESP, SPISize: 4}
	for _, spi := range spis {
		d.SPIs = append(d.SPIs, spi32(spi))
	}
	e.sendInfo(sa, []isakmp.V1Payload{d})
}

// deleteISAKMP tells the peer the ISAKMP SA is gone and removes it (IKEv1
// deletes are not acknowledged).
func (e *Engine) deleteISAKMP(sa *p1SA, why string) {
	if sa.state == stateEstablished {
		sa.log(e).Info("deleting ISAKMP SA", zap.String("reason", why))
		e.sendInfo(sa, []isakmp.V1Payload{&isakmp.V1Delete{DOI: isakmp.V1DOIIPsec, ProtocolID: isakmp.V1ProtocolISAKMP,
			SPISize: 16, SPIs: [][]byte{cookies(sa.ckyI, sa.ckyR)}}})
	}
	e.destroy(sa, why)
}

// checkLiveness sends R-U-THERE after dpd_delay of silence and declares
// the peer dead after dpd_timeout without an acknowledgement (RFC 3706).
func (e *Engine) checkLiveness(now time.Time, sa *p1SA) {
	switch e.Liveness(now, &sa.DPD, e.Kernels(sa)) {
	case dpd.Probe:
		seq := sa.DPD.NextSeq()
		e.sendNotify(sa, isakmp.V1NotifyRUThere, binary.BigEndian.AppendUint32(nil, seq))
	case dpd.Dead:
		e.peerDead(now, sa, fmt.Sprintf("no R-U-THERE-ACK for dpd_timeout %s", sa.conn.DPDTimeout))
	}
}

// dpdAck takes an R-U-THERE-ACK: one answering a probe of the current
// probing is life, even an earlier probe's (peers that ack out of step);
// one answering none is ignored. Both kinds are counted and logged at
// debug only: such peers send them on every probe.
func (e *Engine) dpdAck(now time.Time, sa *p1SA, data []byte) {
	if len(data) != 4 {
		e.Count.DPDAckStale++
		sa.log(e).Debug("R-U-THERE-ACK without a 4-byte sequence number: ignored")
		return
	}
	seq := binary.BigEndian.Uint32(data)
	switch sa.DPD.Ack(seq) {
	case dpd.AckLatest:
		sa.DPD.Seen(now)
	case dpd.AckEarlier:
		e.Count.DPDAckEarlier++
		sa.log(e).Debug("R-U-THERE-ACK for an earlier probe: the peer is alive", zap.Uint32("seq", seq))
		sa.DPD.Seen(now)
	default:
		e.Count.DPDAckStale++
		sa.log(e).Debug("R-U-THERE-ACK for no current probe: ignored", zap.Uint32("seq", seq))
	}
}

// noAnswer explains an initiator's phase 1 that the peer stopped
// answering after tries messages, by how far it got.
func noAnswer(sa *p1SA, tries int) string {
	switch {
	case sa.state == stateMainI5 && sa.conn.Auth == policy.AuthPSK:
		return fmt.Sprintf("peer did not answer Main Mode message 5 after %d tries, though it answered messages 1 and 3: "+
			"it could not decrypt it, so the pre-shared keys probably differ (a peer that refuses our identity is silent too)", tries)
	case sa.state == stateMainI5:
		return fmt.Sprintf("peer did not answer Main Mode message 5 after %d tries, though it answered messages 1 and 3: "+
			"it probably refused our identity or certificate", tries)
	case sa.state == stateMainI1 || sa.state == stateAggrI1:
		return fmt.Sprintf("peer did not answer our first message after %d tries: nothing answers IKE at %s, "+
			"a firewall drops it, or the peer has no connection for our address", tries, sa.remote)
	}
	return fmt.Sprintf("peer did not answer after %d tries", tries)
}

// peerDead removes the SA of a peer that stopped answering (or a phase 1
// that never completed) and, as engine.PeerLost decides, initiates the
// connection again.
func (e *Engine) peerDead(now time.Time, sa *p1SA, why string) {
	again := engine.PeerLost(sa.log(e), sa.conn, sa.state == stateEstablished, sa.initiator, "IKEv1 SA failed", why)
	if sa.initiator && sa.state != stateEstablished {
		e.NoteFailure(sa.conn.Name, why)
	}
	e.destroy(sa, why)
	if again && sa.conn.Version == policy.IKEv1 {
		if err := e.initiatePhase1(now, sa.conn); err != nil {
			e.Log.Warn("initiating again failed", zap.String("conn", sa.conn.Name), zap.Error(err))
		}
	}
}
