package ikev2

import (
	"encoding/binary"
	"fmt"
	"time"

	"go.uber.org/zap"

	"ikegate/internal/engine"
	"ikegate/isakmp"
)

// respondInformational answers an INFORMATIONAL request: deletes of the
// IKE SA or of CHILD SAs, notifications, and empty liveness checks.
func (e *Engine) respondInformational(now time.Time, sa *ikeSA, d isakmp.Datagram, msg *isakmp.Message, inner []isakmp.Payload) {
	id := msg.Header.MessageID
	log := sa.log(e)
	deleteIKE := false
	var ours []byte // our inbound SPIs of the CHILD SAs the peer deleted
	nOurs := 0
	for _, p := range inner {
		switch v := p.(type) {
		case *isakmp.Delete:
			switch v.Protocol {
			case protoIKE:
				deleteIKE = true
			case protoESP, protoAH:
				for _, spi := range v.SPIs {
					if len(spi) != 4 {
						continue
					}
					out := binary.BigEndian.Uint32(spi)
					for _, c := range sa.children {
						if c.SPIOut == out {
							log.Info("peer deleted CHILD SA", zap.String("child", c.Conn.Name))
							ours = append(ours, spi32(c.SPIIn)...)
							nOurs++
							e.removeChild(sa, c)
							break
						}
					}
				}
			}
		case *isakmp.Notify:
			if v.NotifyType == isakmp.NotifyAuthenticationFailed && sa.hs != nil && sa.hs.auth != nil {
				a := sa.hs.auth
				log.Warn(fmt.Sprintf("EAP client %s gave up (AUTHENTICATION_FAILED)", a.who()), zap.NamedError("reason", a.refused))
				if a.refused == nil {
					e.Count.AuthFailures++
				}
				deleteIKE = true
			} else if v.NotifyType == isakmp.NotifyAuthenticationFailed {
				log.Warn("peer reports AUTHENTICATION_FAILED: it could not verify our authentication; check the PSK, certificates and identities on both sides")
				deleteIKE = true
			} else if v.NotifyType == isakmp.NotifyMSStatus {
				// Windows' private status: its error code, for the log only.
				log.Info("Windows client status (MS_STATUS)", zap.String("windows_error", msStatusCode(v.Data)))
			} else if v.NotifyType.IsError() {
				log.Info("peer sent error notification", zap.Stringer("notify", v.NotifyType))
			}
		}
	}
	var resp []isakmp.Payload
	moved := false
	if !deleteIKE && isakmp.FindNotify(inner, isakmp.NotifyUpdateSAAddresses) != nil {
		resp = append(resp, e.updateAddresses(now, sa, d, inner)...)
		moved = true
	}
	if n := isakmp.FindNotify(inner, isakmp.NotifyCookie2); n != nil {
		resp = append(resp, n) // copied into the response (RFC 4555 3.7)
	}
	if !deleteIKE && nOurs > 0 {
		spis := make([][]byte, 0, nOurs)
		for i := 0; i < len(ours); i += 4 {
			spis = append(spis, ours[i:i+4])
		}
		resp = append(resp, &isakmp.Delete{Protocol: protoESP, SPISize: 4, SPIs: spis})
	}
	e.respond(sa, d, isakmp.ExchangeInformational, id, resp)
	if moved {
		e.nextQueued(now, sa) // the return routability check
	}
	if deleteIKE {
		log.Info("peer deleted the IKE SA")
		e.peerDeletesRekeyed(now, sa)
		e.destroy(sa, "deleted by peer")
	}
}

// Terminate deletes the IKE SAs of connection name (and their CHILD SAs),
// or the CHILD SAs of that name on IKE SAs of other connections. It
// reports whether there was any.
func (e *Engine) Terminate(now time.Time, name string) (engine.Output, bool) {
	found := false
	for _, sa := range e.sas {
		if sa.conn.Name == name {
			found = true
			e.deleteIKE(now, sa)
			continue
		}
		for _, c := range append([]*childSA(nil), sa.children...) {
			if c.Conn.Name == name {
				found = true
				e.deleteChild(now, sa, c)
			}
		}
		e.Schedule(sa)
	}
	return e.Flush(), found
}

// deleteIKE sends a Delete for sa's IKE SA; the SA is removed when the
// peer answers or after the retransmissions.
func (e *Engine) deleteIKE(now time.Time, sa *ikeSA) {
	if sa.state != stateEstablished {
		e.destroy(sa, "terminated before it was established")
		return
	}
	sa.log(e).Info("deleting IKE SA")
	sa.state = stateDeleting
	for _, c := range append([]*childSA(nil), sa.children...) {
		e.removeChild(sa, c)
	}
	// The delete goes out now, ahead of anything queued.
	sa.queue = nil
	if sa.req != nil {
		sa.req = nil
	}
	r := e.encryptedRequest(sa, isakmp.ExchangeInformational,
		[]isakmp.Payload{&isakmp.Delete{Protocol: protoIKE}}, stepDeleteIKE)
	e.startRequest(now, sa, r)
	e.Schedule(sa)
}

// deleteChild sends a Delete for one CHILD SA.
func (e *Engine) deleteChild(now time.Time, sa *ikeSA, c *childSA) {
	e.deleteChildAfter(now, sa, c, 0)
}

// rekeyedDelay is how long a CHILD SA we delete after a rekey (the old
// one, or a redundant one of a collision) stays in the dataplane after
// the Delete: the peer sends on it until it has processed the Delete, and
// those packets would be lost (strongSwan keeps such inbound SAs 5 s too,
// its delete_rekeyed_delay).
const rekeyedDelay = 5 * time.Second

// deleteRekeyedChild deletes a CHILD SA replaced by a rekey: the Delete
// goes out now, the dataplane removal follows rekeyedDelay later.
func (e *Engine) deleteRekeyedChild(now time.Time, sa *ikeSA, c *childSA) {
	e.deleteChildAfter(now, sa, c, rekeyedDelay)
}

// deleteChildAfter tells the peer c is deleted and takes it out of sa;
// the dataplane removes it after delay (0: now).
func (e *Engine) deleteChildAfter(now time.Time, sa *ikeSA, c *childSA, delay time.Duration) {
	sa.log(e).Info("deleting CHILD SA", zap.String("child", c.Conn.Name))
	spi := c.SPIIn
	installed := c.State == engine.ChildInstalled || c.State == engine.ChildInstallFailed
	if delay > 0 && c.State == engine.ChildInstalled && sa.state == stateEstablished {
		e.RetireChild(&c.Child) // our packets go on its replacement now
		sa.children = engine.Without(sa.children, c)
		sa.lateRemovals = append(sa.lateRemovals, lateRemoval{at: now.Add(delay), child: &c.Child})
	} else {
		e.removeChild(sa, c)
	}
	if !installed || sa.state != stateEstablished {
		return
	}
	e.sendRequest(now, sa, queued{what: queueDeleteChild, spi: spi, out: c.SPIOut})
}

// lateRemoval is a deleted CHILD SA that stays in the dataplane until at.
type lateRemoval struct {
	at    time.Time
	child *engine.Child
}

// removeLate takes the deleted CHILD SAs whose time has come (all of
// them with all) out of the dataplane.
func (e *Engine) removeLate(now time.Time, sa *ikeSA, all bool) {
	keep := sa.lateRemovals[:0]
	for _, r := range sa.lateRemovals {
		if all || engine.Due(r.at, now) {
			e.RemoveChild(r.child)
		} else {
			keep = append(keep, r)
		}
	}
	sa.lateRemovals = keep
}

// msStatusCode renders the Windows error code of an MS_STATUS notify.
func msStatusCode(b []byte) string {
	if len(b) != 4 {
		return fmt.Sprintf("%x", b)
	}
	return fmt.Sprintf("%d", binary.BigEndian.Uint32(b))
}
