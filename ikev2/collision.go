package ikev2

// Rekey collisions (RFC 7296 2.8.1, 2.8.2 and 2.25).
//
// Both ends may rekey the same SA at once. Each answers the other's
// CREATE_CHILD_SA as usual, so that two new SAs come up; once both
// exchanges are complete, the one whose exchange holds the lowest of the
// four nonces is redundant and is deleted by the side that initiated it,
// and the side that initiated the survivor deletes the old SA. The other
// side waits for that delete: the old SA is retired (no liveness checks,
// no rekey, its end no failure) and removed by us only if the peer has
// not deleted it in time (replacedGrace, redundantGrace).
//
// Where a side completes its own rekey before it sees the peer's, it is
// already closing the old SA and answers the peer's request with
// TEMPORARY_FAILURE; the side that saw both knows then that the peer's
// new SA stands and abandons its own rekey. A request that cannot be a
// symmetric collision (a CHILD SA exchange while the IKE SA is being
// rekeyed, and the reverse) gets TEMPORARY_FAILURE too, and a
// TEMPORARY_FAILURE we receive is retried after a short random delay.

import (
	"bytes"
	"encoding/binary"
	"slices"
	"time"

	"go.uber.org/zap"

	"ikegate/dpd"
	"ikegate/internal/engine"
	"ikegate/isakmp"
	"ikegate/policy"
)

// How long an SA waits for the peer's delete before we delete it
// ourselves. A replaced SA waits for the side that initiated its
// replacement, which deletes it once its rekey is complete: beyond the
// retransmissions of that rekey and of the delete. A redundant SA of a
// collision waits for the peer that created it; that peer may also have
// dropped it without a delete (it forgets its rekey when we delete the
// old SA before its exchange completed, RFC 7296 2.8.2).
const (
	replacedGrace  = 90 * time.Second
	redundantGrace = 10 * time.Second
)

// exchangeNonces are the two nonces of the CREATE_CHILD_SA exchange that
// created an SA (nil: not created by a rekey).
type exchangeNonces struct{ ni, nr []byte }

// newNonces copies ni and nr into one allocation, so that the SA does not
// pin the decrypted message they came in.
func newNonces(ni, nr []byte) *exchangeNonces {
	b := make([]byte, len(ni)+len(nr))
	copy(b, ni)
	copy(b[len(ni):], nr)
	return &exchangeNonces{ni: b[:len(ni):len(ni)], nr: b[len(ni):]}
}

// lowest is the lower of the two nonces: compared octet by octet, a nonce
// that ends first being the lower (RFC 7296 2.8.1). Nil has none.
func (x *exchangeNonces) lowest() []byte {
	if x == nil {
		return nil
	}
	if bytes.Compare(x.nr, x.ni) < 0 {
		return x.nr
	}
	return x.ni
}

// lowerThan reports whether x holds the lowest of the four nonces of x
// and y: the SA of x is then the redundant one.
func (x *exchangeNonces) lowerThan(y *exchangeNonces) bool {
	return bytes.Compare(x.lowest(), y.lowest()) < 0
}

// rekeyState is an IKE SA's part in rekeys besides its Lifecycle.
type rekeyState struct {
	// nonces are those of the exchange that created the SA by a rekey.
	nonces *exchangeNonces
	// replacedBy is the IKE SA that the peer's rekey of this one created.
	replacedBy *ikeSA
	// undecidedOf is set on a new IKE SA of the peer's rekey that
	// collided with ours, to the SA both replace: until the nonces decide
	// it carries nothing, runs no liveness checks and is not rekeyed.
	undecidedOf *ikeSA
	// retired: the SA was replaced or is redundant. It carries no CHILD
	// SAs, runs no liveness checks, is not rekeyed, and its end is no
	// failure. retireAt is when we delete it if the peer has not (zero:
	// not waiting for the peer).
	retired  bool
	retireAt time.Time
	// retries are new CHILD SAs to propose again after TEMPORARY_FAILURE.
	retries []childRetry
}

// childRetry is a new CHILD SA to propose again at a given time.
type childRetry struct {
	at   time.Time
	conn *policy.Connection
}

// childRekeyState is a CHILD SA's part in rekeys besides engine.Child.
type childRekeyState struct {
	// nonces are those of the CREATE_CHILD_SA that created the CHILD SA
	// by a rekey.
	nonces *exchangeNonces
	// replacedBy is the CHILD SA that the peer's rekey of this one
	// created.
	replacedBy *childSA
	// retireAt, on a replaced or redundant CHILD SA, is when we delete it
	// if the peer has not.
	retireAt time.Time
}

// replacedByPeer reports whether the peer's rekey replaced c with a CHILD
// SA that still stands.
func (c *childSA) replacedByPeer() bool {
	r := c.replacedBy
	return r != nil && r.State != engine.ChildDeleted && r.State != engine.ChildFailed
}

// replacedByPeer reports whether the peer's rekey replaced sa with an IKE
// SA that still stands.
func (sa *ikeSA) replacedByPeer() bool { return sa.replacedBy != nil && !sa.replacedBy.Gone() }

// usable reports whether sa can carry new work: established, and neither
// retired nor waiting for a collision's outcome.
func (sa *ikeSA) usable() bool {
	return sa.state == stateEstablished && !sa.retired && sa.undecidedOf == nil
}

// stateName is sa's state as `ikegate sas` shows it: an established SA
// that a rekey replaced, or that lost a collision, is REKEYED until it is
// deleted; a new SA whose collision is not decided yet is REKEYING.
func (sa *ikeSA) stateName() string {
	switch {
	case sa.state != stateEstablished:
	case sa.retired:
		return "REKEYED"
	case sa.undecidedOf != nil:
		return "REKEYING"
	}
	return sa.state.String()
}

// considerRetire adds to d when sa and its CHILD SAs stop waiting for the
// peer's deletes, and when refused CHILD SAs are proposed again.
func (sa *ikeSA) considerRetire(d *engine.Deadline) {
	d.Consider(sa.retireAt)
	for _, r := range sa.retries {
		d.Consider(r.at)
	}
	for _, c := range sa.children {
		if c.Installed() {
			d.Consider(c.retireAt)
		}
	}
}

// retryDelay is how long to wait before proposing again what the peer
// refused with TEMPORARY_FAILURE: 2 to 10 seconds at random, so that the
// peer completes what it was doing (RFC 7296 2.25) and two retries do not
// collide again.
func (e *Engine) retryDelay() time.Duration {
	v := binary.BigEndian.Uint16(e.Random(2))
	return 2*time.Second + time.Duration(v)*8*time.Second/65536
}

// retire marks sa as replaced or redundant (see rekeyState.retired). With
// a grace, the peer is to delete it, or we do when the grace is over;
// without, we are deleting it.
func (e *Engine) retire(now time.Time, sa *ikeSA, grace time.Duration) {
	sa.retired = true
	sa.Rekeying = true
	sa.DPD = dpd.Monitor{}
	if grace > 0 {
		sa.retireAt = now.Add(grace)
	}
	e.Schedule(sa)
}

// retireChild marks c as replaced or redundant: not rekeyed, deleted by
// the peer or by us when grace is over.
func retireChild(now time.Time, c *childSA, grace time.Duration) {
	c.Rekeying = true
	c.retireAt = now.Add(grace)
}

// retireDue deletes what the peer should have deleted by now (sa itself,
// or CHILD SAs of it) and proposes again the CHILD SAs the peer refused
// with TEMPORARY_FAILURE. It reports whether sa is being deleted.
func (e *Engine) retireDue(now time.Time, sa *ikeSA) bool {
	if engine.Due(sa.retireAt, now) {
		sa.retireAt = time.Time{}
		// One Delete, not the retransmission schedule: the peer may not
		// know the SA at all (it dropped its rekey), and would never answer.
		sa.log(e).Info("the peer did not delete the IKE SA it replaced; deleting it (one Delete, no wait for the answer)")
		e.deleteIKE(now, sa)
		e.destroy(sa, "retired SA deleted after its grace")
		return true
	}
	for _, c := range slices.Clone(sa.children) {
		if c.Installed() && engine.Due(c.retireAt, now) {
			sa.log(e).Info("the peer did not delete the CHILD SA it replaced; deleting it", zap.String("child", c.Conn.Name),
				zap.String("spi_in", spi32Hex(c.SPIIn)))
			e.deleteChild(now, sa, c)
		}
	}
	var due []childRetry
	sa.retries = slices.DeleteFunc(sa.retries, func(r childRetry) bool {
		if engine.Due(r.at, now) {
			due = append(due, r)
			return true
		}
		return false
	})
	for _, r := range due {
		e.initiateChild(now, sa, r.conn)
	}
	return false
}

func spi32Hex(spi uint32) string { return engine.SPIHex(uint64(spi))[8:] }

// retiredUnanswered ends a retired IKE SA whose request (its delete) the
// peer did not answer: it was on its way out anyway.
func (e *Engine) retiredUnanswered(sa *ikeSA, r *request) {
	sa.log(e).Info("peer did not answer on an IKE SA that was replaced; removing it",
		zap.Stringer("exchange", r.exchange), zap.Int("tries", r.Tries))
	e.destroy(sa, "replaced; peer did not answer")
}

// --- CHILD SAs (RFC 7296 2.8.1, 2.25.1) ---

// peerChildRequest looks at the peer's CREATE_CHILD_SA request for a
// CHILD SA before it is answered. It returns the CHILD SA a rekey
// (REKEY_SA) replaces, or the answer that refuses the request:
// TEMPORARY_FAILURE while the IKE SA is being rekeyed or the CHILD SA
// deleted, CHILD_SA_NOT_FOUND for one we do not have (RFC 7296 2.25).
func (e *Engine) peerChildRequest(sa *ikeSA, inner []isakmp.Payload) (old *childSA, refused []isakmp.Payload) {
	log := sa.log(e)
	if why := ikeBusy(sa); why != "" {
		log.Info("peer's CREATE_CHILD_SA refused for now (TEMPORARY_FAILURE): " + why)
		return nil, notifyOnly(isakmp.NotifyTemporaryFailure, nil)
	}
	n := isakmp.FindNotify(inner, isakmp.NotifyRekeySA)
	if n == nil {
		return nil, nil
	}
	if len(n.SPI) == 4 {
		spi := binary.BigEndian.Uint32(n.SPI)
		for _, c := range sa.children {
			if c.SPIOut == spi && (c.State == engine.ChildInstalled || c.State == engine.ChildInstalling) {
				e.notePeerChildRekey(sa, c)
				return c, nil
			}
		}
		if closingChild(sa, spi) {
			log.Info("peer rekeys a CHILD SA we are deleting: TEMPORARY_FAILURE", zap.String("old_spi", spi32Hex(spi)))
			return nil, notifyOnly(isakmp.NotifyTemporaryFailure, nil)
		}
	}
	log.Info("peer rekeys a CHILD SA we do not have: CHILD_SA_NOT_FOUND", zap.String("old_spi", spiString(n.SPI)))
	return nil, []isakmp.Payload{&isakmp.Notify{Protocol: n.Protocol, SPI: n.SPI, NotifyType: isakmp.NotifyChildSANotFound}}
}

func spiString(b []byte) string {
	if len(b) == 4 {
		return spi32Hex(binary.BigEndian.Uint32(b))
	}
	return "?"
}

// notePeerChildRekey logs the peer's rekey of old, and a collision with
// ours: both are answered as usual, the nonces decide once ours is
// answered (childRekeyed).
func (e *Engine) notePeerChildRekey(sa *ikeSA, old *childSA) {
	log := engine.LogWith(sa.log(e), zap.String("child", old.Conn.Name), zap.String("old_spi_in", spi32Hex(old.SPIIn)))
	if r := sa.req; r != nil && r.step == stepChild && r.old == old {
		log.Info("CHILD SA rekey collision: the peer rekeys the CHILD SA we rekey; answering as usual (RFC 7296 2.8.1)")
		return
	}
	log.Info("peer rekeys a CHILD SA")
}

// ikeBusy says why a CHILD SA exchange of the peer cannot be taken on sa
// now ("": it can): sa is being replaced by a rekey.
func ikeBusy(sa *ikeSA) string {
	switch {
	case sa.req != nil && sa.req.step == stepRekeyIKE:
		return "we are rekeying the IKE SA"
	case sa.retired:
		return "the IKE SA was rekeyed"
	}
	return ""
}

// closingChild reports whether our delete of the CHILD SA whose outbound
// SPI is out is queued or in flight on sa.
func closingChild(sa *ikeSA, out uint32) bool {
	if r := sa.req; r != nil && r.deleting == out {
		return true
	}
	for _, q := range sa.queue {
		if q.what == queueDeleteChild && q.out == out {
			return true
		}
	}
	return false
}

// peerRekeyedChild records the CHILD SA c that answers the peer's rekey
// of old (nil: not a rekey), created with the nonces of cc. old is
// replaced: the peer deletes it, unless a collision with our rekey of it
// decides otherwise (childRekeyed).
func (e *Engine) peerRekeyedChild(now time.Time, old, c *childSA, cc *childRequest) {
	if old == nil {
		return
	}
	c.nonces = newNonces(cc.ni, cc.nr)
	old.replacedBy = c
	retireChild(now, old, replacedGrace)
}

// childResponse takes the peer's answer to our CREATE_CHILD_SA request r
// for a CHILD SA: refusals that are no failure (childRefused), the rest
// in completeChild.
func (e *Engine) childResponse(now time.Time, sa *ikeSA, r *request, inner []isakmp.Payload) {
	c, old := r.child, r.old
	if c == nil {
		return
	}
	if n := find[*isakmp.Nonce](inner); n != nil && c.nonce != nil {
		c.nonces = newNonces(c.nonce, n.Data)
	}
	if find[*isakmp.SA](inner) == nil {
		if n := peerError(inner); n != nil && e.childRefused(now, sa, c, old, n.NotifyType) {
			return
		}
	}
	e.completeChild(now, sa, c, old, inner)
}

// childRefused handles the peer's refusal t of the CHILD SA c (replacing
// old, if set) where it is no failure, and reports whether it did:
//   - the peer rekeyed or deleted old before it saw our request (it did
//     not notice a collision): our rekey is abandoned;
//   - TEMPORARY_FAILURE: we propose again after retryDelay;
//   - CHILD_SA_NOT_FOUND for old: the peer lost it; we remove it without
//     a delete and create a new CHILD SA (RFC 7296 2.25).
func (e *Engine) childRefused(now time.Time, sa *ikeSA, c, old *childSA, t isakmp.NotifyType) bool {
	log := engine.LogWith(sa.log(e), zap.String("child", c.Conn.Name), zap.Stringer("notify", t))
	switch {
	case old != nil && (old.replacedByPeer() || old.State != engine.ChildInstalled):
		log.Info("CHILD SA rekey abandoned: the peer replaced or deleted the CHILD SA before it saw our rekey",
			zap.String("old_spi_in", spi32Hex(old.SPIIn)))
	case t == isakmp.NotifyTemporaryFailure:
		delay := e.retryDelay()
		log.Info("peer answered TEMPORARY_FAILURE; proposing the CHILD SA again later", zap.Duration("in", delay),
			zap.Bool("rekey", old != nil))
		if old != nil {
			old.Rekeying = false
			old.RekeyAt = now.Add(delay)
		} else {
			sa.retries = append(sa.retries, childRetry{at: now.Add(delay), conn: c.Conn})
		}
	case t == isakmp.NotifyChildSANotFound && old != nil:
		log.Info("peer does not know the CHILD SA we rekey (CHILD_SA_NOT_FOUND): removing it and creating a new one",
			zap.String("old_spi_in", spi32Hex(old.SPIIn)))
		e.removeChild(sa, old)
		e.initiateChild(now, sa, old.Conn)
	default:
		return false
	}
	c.dh = nil
	e.RemoveChild(&c.Child)
	return true
}

// childRekeyed ends our rekey of old once its replacement c is installed:
// old is deleted, unless the peer rekeyed old as well (a collision, RFC
// 7296 2.8.1). Then the CHILD SA of the exchange with the lowest of the
// four nonces is redundant: ours is deleted by us and the peer deletes
// old, or the peer deletes its own and we delete old.
func (e *Engine) childRekeyed(now time.Time, sa *ikeSA, c, old *childSA) {
	if theirs := old.replacedBy; theirs != nil && old.replacedByPeer() && sa.state == stateEstablished {
		log := engine.LogWith(sa.log(e), zap.String("child", c.Conn.Name), zap.String("ours_spi_in", spi32Hex(c.SPIIn)),
			zap.String("theirs_spi_in", spi32Hex(theirs.SPIIn)))
		if c.nonces.lowerThan(theirs.nonces) {
			log.Info("CHILD SA rekey collision: our exchange has the lowest nonce; deleting our redundant CHILD SA, the peer deletes the old one")
			e.deleteRekeyedChild(now, sa, c)
			return
		}
		log.Info("CHILD SA rekey collision: the peer's exchange has the lowest nonce; the peer deletes its redundant CHILD SA, we delete the old one")
		retireChild(now, theirs, redundantGrace)
	}
	if old.State == engine.ChildDeleted { // the peer deleted it meanwhile
		return
	}
	e.deleteRekeyedChild(now, sa, old)
}

// --- IKE SAs (RFC 7296 2.8.2, 2.25.2) ---

// ikeRekeyRefusal says why the peer's rekey of sa must wait
// (TEMPORARY_FAILURE; "": it need not): sa was rekeyed already, or an
// exchange of ours that the rekey would disturb is in flight (a CHILD SA,
// a MOBIKE move).
func ikeRekeyRefusal(sa *ikeSA) string {
	if sa.retired || sa.replacedByPeer() {
		return "the IKE SA was rekeyed already"
	}
	if r := sa.req; r != nil {
		switch r.step {
		case stepChild:
			return "a CHILD SA exchange of ours is in flight"
		case stepRoutability, stepMoved:
			return "a MOBIKE exchange of ours is in flight"
		}
	}
	return ""
}

// peerRekeyedIKE records n, the IKE SA that answers the peer's rekey of
// sa with the nonces ni and nr. Without a collision n takes over at once
// and sa waits for the peer's delete; when our own rekey of sa is in
// flight, n carries nothing until the nonces decide (completeIKERekey).
func (e *Engine) peerRekeyedIKE(now time.Time, sa, n *ikeSA, ni, nr []byte) {
	n.nonces = newNonces(ni, nr)
	sa.replacedBy = n
	if r := sa.req; r != nil && r.step == stepRekeyIKE {
		sa.log(e).Info("IKE SA rekey collision: the peer rekeys the IKE SA we rekey; answering as usual (RFC 7296 2.8.2)",
			zap.String("new_spi_i", spiHex(n.spiI)), zap.String("new_spi_r", spiHex(n.spiR)))
		n.undecidedOf = sa
		n.Rekeying = true
		n.DPD = dpd.Monitor{}
		return
	}
	e.inherit(n, sa)
	e.retire(now, sa, replacedGrace)
}

// startInherited starts the requests that sa's successor took over, once
// the peer knows the successor (our answer to its rekey is out).
func (e *Engine) startInherited(now time.Time, sa *ikeSA) {
	if n := sa.replacedBy; n != nil && n.undecidedOf == nil && n.state == stateEstablished {
		e.nextQueued(now, n)
		e.Schedule(n)
	}
}

// inherit moves to n, the successor of o, what o carried: its CHILD SAs,
// the remote-access state (lease), the byte-lifetime check, and the
// CHILD SA requests still to send (queued or to retry).
func (e *Engine) inherit(n, o *ikeSA) {
	n.children, o.children = append(n.children, o.children...), nil
	if o.ra != nil {
		n.ra, o.ra = o.ra, nil // the lease goes with the SA
	}
	n.BytesCheckAt = o.BytesCheckAt
	var keep []queued
	for _, q := range o.queue {
		switch q.what {
		case queueNewChild, queueRekeyChild, queueDeleteChild:
			n.queue = append(n.queue, q)
		default:
			keep = append(keep, q)
		}
	}
	o.queue = keep
	n.retries, o.retries = append(n.retries, o.retries...), nil
}

// promote makes n, a new IKE SA of the peer's rekey that collided with
// ours, the successor: it takes over and runs as any established SA.
func (e *Engine) promote(now time.Time, n *ikeSA) {
	o := n.undecidedOf
	if o == nil || n.state != stateEstablished {
		return
	}
	n.undecidedOf = nil
	n.Rekeying = false
	n.DPD = dpd.New(n.conn.DPDDelay, n.conn.DPDTimeout, now, 0)
	e.inherit(n, o)
	e.Schedule(n)
	e.nextQueued(now, n)
}

// ikeRekeyRefused handles the peer's refusal t of our rekey of sa where it
// is no failure, and reports whether it did: the peer rekeyed sa before it
// saw our request (it did not notice the collision, RFC 7296 2.8.2), so
// its new IKE SA stands; or TEMPORARY_FAILURE, retried after retryDelay.
func (e *Engine) ikeRekeyRefused(now time.Time, sa *ikeSA, t isakmp.NotifyType) bool {
	if e.abandonIKERekey(now, sa, "peer answered "+t.String()) {
		return true
	}
	if t != isakmp.NotifyTemporaryFailure {
		return false
	}
	delay := e.retryDelay()
	sa.log(e).Info("peer answered TEMPORARY_FAILURE; rekeying the IKE SA again later", zap.Duration("in", delay))
	sa.Rekeying = false
	sa.RekeyAt = now.Add(delay)
	return true
}

// abandonIKERekey gives up our failed rekey of sa (why) if the peer's
// rekey of sa stands: the peer rekeyed sa before it saw our request (it
// did not notice the collision, RFC 7296 2.8.2), so its new IKE SA takes
// over and sa waits for the peer's delete. It reports whether it did.
func (e *Engine) abandonIKERekey(now time.Time, sa *ikeSA, why string) bool {
	if !sa.replacedByPeer() {
		return false
	}
	n := sa.replacedBy
	sa.log(e).Info("IKE SA rekey abandoned: the peer rekeyed the IKE SA before it saw our rekey; its new IKE SA takes over",
		zap.String("reason", why), zap.String("new_spi_i", spiHex(n.spiI)), zap.String("new_spi_r", spiHex(n.spiR)))
	e.promote(now, n)
	e.retire(now, sa, replacedGrace)
	return true
}

// lostIKECollision decides a collision of our rekey of sa, which created
// n, with the peer's, once both are complete: the new IKE SA of the
// exchange with the lowest of the four nonces is redundant and deleted by
// the side that initiated it; the side that initiated the other deletes
// sa (RFC 7296 2.8.2). It reports whether n lost (and is being deleted,
// the peer's SA taking over); otherwise the caller completes the rekey
// with n.
func (e *Engine) lostIKECollision(now time.Time, sa, n *ikeSA) bool {
	if !sa.replacedByPeer() { // no collision, or the peer deleted its redundant SA already
		return false
	}
	theirs := sa.replacedBy
	log := engine.LogWith(sa.log(e), zap.String("ours_spi_i", spiHex(n.spiI)), zap.String("theirs_spi_i", spiHex(theirs.spiI)))
	// A successor already promoted is one the peer made the survivor.
	if theirs.undecidedOf == nil || n.nonces.lowerThan(theirs.nonces) {
		log.Info("IKE SA rekey collision: our exchange has the lowest nonce; deleting our redundant IKE SA, the peer deletes the old one")
		e.promote(now, theirs)
		e.retire(now, sa, replacedGrace)
		e.retire(now, n, 0)
		e.deleteIKE(now, n)
		return true
	}
	log.Info("IKE SA rekey collision: the peer's exchange has the lowest nonce; the peer deletes its redundant IKE SA, we delete the old one")
	theirs.undecidedOf = nil
	e.retire(now, theirs, redundantGrace)
	return false
}

// peerDeletesRekeyed is called when the peer deletes sa: if both sides
// were rekeying it, the peer did not notice the collision or won it, and
// its new IKE SA takes over before sa goes (RFC 7296 2.8.2).
func (e *Engine) peerDeletesRekeyed(now time.Time, sa *ikeSA) {
	if n := sa.replacedBy; n != nil && n.undecidedOf == sa {
		sa.log(e).Info("peer deleted the IKE SA both sides were rekeying; its new IKE SA takes over",
			zap.String("new_spi_i", spiHex(n.spiI)), zap.String("new_spi_r", spiHex(n.spiR)))
		e.promote(now, n)
	}
}

// peerUsesUndecided is called for an authenticated request of the peer
// on sa, a new IKE SA of its rekey that collided with ours and is not
// decided yet: unless it deletes sa, the peer uses it as the survivor,
// having decided the collision first.
func (e *Engine) peerUsesUndecided(now time.Time, sa *ikeSA, inner []isakmp.Payload) {
	for _, p := range inner {
		if d, ok := p.(*isakmp.Delete); ok && d.Protocol == protoIKE {
			return
		}
	}
	sa.log(e).Info("peer uses its new IKE SA before our rekey was answered: it takes over")
	e.promote(now, sa)
}

// dropUndecided removes the undecided successor of sa, which goes away
// before the collision was decided.
func (e *Engine) dropUndecided(sa *ikeSA, reason string) {
	if n := sa.replacedBy; n != nil && n.undecidedOf == sa {
		n.undecidedOf = nil
		e.destroy(n, reason)
	}
}
