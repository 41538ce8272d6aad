package ikev2

import (
	"encoding/binary"
	"time"

	"go.uber.org/zap"

	"ikegate/internal/engine"
	"ikegate/isakmp"
	"ikegate/oakley"
)

// Default lifetimes when a connection sets none.
const (
	defaultIKELifetime = 4 * time.Hour
	rekeyRetry         = time.Minute
)

// rekeyDelay is when, after creation, our side replaces an SA of the
// given (negotiated) lifetime: see policy.RekeyAfter.
func (e *Engine) rekeyDelay(sa *ikeSA, lifetime, def time.Duration) time.Duration {
	return e.RekeyDelay(sa.initiator, lifetime, def)
}

// rekeyDue starts the rekeys whose time has come, and ends what the
// peer should have deleted by now (retireDue).
func (e *Engine) rekeyDue(now time.Time, sa *ikeSA) {
	if e.retireDue(now, sa) {
		return
	}
	if !sa.Rekeying && engine.Due(sa.RekeyAt, now) {
		e.rekeyIKE(now, sa)
		return
	}
	for _, c := range sa.children {
		if c.RekeyDue(now) {
			e.rekeyChild(now, sa, c)
		}
	}
	if engine.BytesDue(&sa.BytesCheckAt, now) {
		for _, c := range sa.children {
			if e.ByteLifetimeReached(&c.Child) {
				sa.log(e).Info("CHILD SA byte lifetime reached", zap.String("child", c.Conn.Name))
				e.rekeyChild(now, sa, c)
			}
		}
	}
}

func spi64(spi uint64) []byte { return binary.BigEndian.AppendUint64(nil, spi) }

// rekeyIKE replaces sa by a new IKE SA with CREATE_CHILD_SA (RFC 7296
// 1.3.2, 2.18); the CHILD SAs move to it and sa is deleted. An SA that
// was replaced or waits for a collision's outcome is left alone.
func (e *Engine) rekeyIKE(now time.Time, sa *ikeSA) {
	if !sa.usable() {
		return
	}
	sa.Rekeying = true
	e.sendRequest(now, sa, queued{what: queueRekeyIKE})
}

// rekeyIKERequest builds the CREATE_CHILD_SA request that rekeys sa.
func (e *Engine) rekeyIKERequest(sa *ikeSA) *request {
	if !sa.usable() {
		return nil // the peer rekeyed it meanwhile
	}
	group, _ := sa.chosen.First(oakley.TransformDH)
	dh, err := oakley.NewKeyExchange(group.ID, e.Cfg.Rand)
	if err != nil {
		sa.Rekeying = false
		return nil
	}
	rk := &ikeRekey{spi: e.randomSPI(), ni: e.Random(nonceLen), dh: dh}
	ps := []isakmp.Payload{
		&isakmp.SA{Proposals: toWire(sa.conn.IKE, protoIKE, spi64(rk.spi), false)},
		&isakmp.Nonce{Data: rk.ni},
		&isakmp.KE{Group: group.ID, Data: dh.PublicKey()},
	}
	sa.log(e).Info("rekeying IKE SA")
	r := e.encryptedRequest(sa, isakmp.ExchangeCreateChildSA, ps, stepRekeyIKE)
	if r != nil {
		r.rekey = rk
	}
	return r
}

// completeIKERekey takes the answer to our rekey of sa: the new IKE SA
// takes over and sa is deleted, unless the peer rekeyed sa as well and
// the collision goes to the peer's (lostIKECollision).
func (e *Engine) completeIKERekey(now time.Time, sa *ikeSA, rk *ikeRekey, inner []isakmp.Payload) {
	spi, ni, dh := rk.spi, rk.ni, rk.dh
	retry := func(why string) {
		if e.abandonIKERekey(now, sa, why) {
			return
		}
		sa.log(e).Warn("IKE SA rekey failed; retrying later: " + why)
		sa.Rekeying = false
		sa.RekeyAt = now.Add(rekeyRetry)
	}
	if n := peerError(inner); n != nil {
		if !e.ikeRekeyRefused(now, sa, n.NotifyType) {
			retry("peer answered " + n.NotifyType.String())
		}
		return
	}
	saP := find[*isakmp.SA](inner)
	nonce := find[*isakmp.Nonce](inner)
	ke := find[*isakmp.KE](inner)
	if saP == nil || nonce == nil || ke == nil {
		retry("response lacks SA, Nonce or KE")
		return
	}
	props, wire := fromWire(saP.Proposals, protoIKE)
	if len(props) != 1 || len(wire[0].SPI) != 8 {
		retry("response does not hold one IKE proposal with an SPI")
		return
	}
	sel, ok := oakley.Select(sa.conn.IKE, props, oakley.MatchOptions{})
	if g, _ := sel.Chosen.First(oakley.TransformDH); !ok || g.ID != ke.Group || ke.Group != dh.Group() {
		retry("peer chose a proposal or group we did not offer: " + props[0].String())
		return
	}
	gir, err := dh.SharedSecret(ke.Data)
	if err != nil {
		retry("peer's KE is invalid: " + err.Error())
		return
	}
	n := e.successor(now, sa, true, spi, binary.BigEndian.Uint64(wire[0].SPI), sel.Chosen, ni, nonce.Data)
	if err := e.deriveIKEKeys(n, gir, sa.keys); err != nil {
		retry(err.Error())
		return
	}
	n.hs = nil
	n.nonces = newNonces(ni, nonce.Data)
	e.sas[spi] = n
	e.established(now, n, sa.peerID)
	e.Effect(n.upEffect(true, false))
	if e.lostIKECollision(now, sa, n) {
		return
	}
	e.inherit(n, sa)
	e.Schedule(n)
	e.retire(now, sa, 0)
	e.deleteIKE(now, sa)
	e.nextQueued(now, n)
}

// acceptIKERekey answers a peer's IKE SA rekey: the new SA takes over the
// CHILD SAs; the peer deletes the old one. A collision with our own rekey
// of sa is answered as usual and decided later (peerRekeyedIKE); a rekey
// that would disturb an exchange of ours waits (TEMPORARY_FAILURE, RFC
// 7296 2.25).
func (e *Engine) acceptIKERekey(now time.Time, sa *ikeSA, inner []isakmp.Payload, ni []byte) []isakmp.Payload {
	if why := ikeRekeyRefusal(sa); why != "" {
		sa.log(e).Info("peer's IKE SA rekey refused for now (TEMPORARY_FAILURE): " + why)
		return notifyOnly(isakmp.NotifyTemporaryFailure, nil)
	}
	saP := find[*isakmp.SA](inner)
	props, wire := fromWire(saP.Proposals, protoIKE)
	sel, ok := oakley.Select(sa.conn.IKE, props, oakley.MatchOptions{})
	if !ok {
		sa.log(e).Warn("IKE SA rekey: no proposal chosen: " + oakley.Explain(sa.conn.IKE, props, oakley.MatchOptions{}))
		return notifyOnly(isakmp.NotifyNoProposalChosen, nil)
	}
	if len(wire[sel.PeerIndex].SPI) != 8 {
		return notifyOnly(isakmp.NotifyInvalidSyntax, nil)
	}
	group, _ := sel.Chosen.First(oakley.TransformDH)
	ke := find[*isakmp.KE](inner)
	if ke == nil || ke.Group != group.ID {
		return notifyOnly(isakmp.NotifyInvalidKEPayload, binary.BigEndian.AppendUint16(nil, group.ID))
	}
	dh, err := oakley.NewKeyExchange(group.ID, e.Cfg.Rand)
	if err != nil {
		return notifyOnly(isakmp.NotifyNoProposalChosen, nil)
	}
	gir, err := dh.SharedSecret(ke.Data)
	if err != nil {
		return notifyOnly(isakmp.NotifyInvalidSyntax, nil)
	}
	nr := e.Random(nonceLen)
	n := e.successor(now, sa, false, binary.BigEndian.Uint64(wire[sel.PeerIndex].SPI), e.randomSPI(), sel.Chosen, ni, nr)
	if err := e.deriveIKEKeys(n, gir, sa.keys); err != nil {
		return notifyOnly(isakmp.NotifyNoProposalChosen, nil)
	}
	n.hs = nil
	e.sas[n.spiR] = n
	e.established(now, n, sa.peerID)
	e.Effect(n.upEffect(true, false))
	// The old SA lingers until the peer deletes it; it must not rekey.
	e.peerRekeyedIKE(now, sa, n, ni, nr)
	e.Schedule(n)
	return []isakmp.Payload{
		&isakmp.SA{Proposals: []isakmp.Proposal{chosenToWire(sel.Chosen, wire[sel.PeerIndex].Num, protoIKE, spi64(n.spiR))}},
		&isakmp.Nonce{Data: nr},
		&isakmp.KE{Group: group.ID, Data: dh.PublicKey()},
	}
}

// successor is the IKE SA that replaces sa after a rekey; the side that
// initiated the rekey is the new SA's original initiator.
func (e *Engine) successor(now time.Time, sa *ikeSA, initiator bool, spiI, spiR uint64, chosen oakley.Proposal, ni, nr []byte) *ikeSA {
	return &ikeSA{
		conn: sa.conn, initiator: initiator, spiI: spiI, spiR: spiR,
		state: stateEstablished, local: sa.local, remote: sa.remote, nat: sa.nat,
		chosen: chosen, hs: &handshake{nonceI: ni, nonceR: nr}, // for the keys (deriveIKEKeys)
		peerHashes: sa.peerHashes, peerFragments: sa.peerFragments, mobike: sa.mobike, ownerName: sa.ownerName,
		peerVendor: sa.peerVendor, peerCertReq: sa.peerCertReq,
	}
}

// rekeyChild replaces a CHILD SA with CREATE_CHILD_SA and REKEY_SA
// (RFC 7296 1.3.3), then deletes the old one. A CHILD SA that the peer
// replaced, or a redundant one, is left alone.
func (e *Engine) rekeyChild(now time.Time, sa *ikeSA, old *childSA) {
	if old.replacedByPeer() || !old.retireAt.IsZero() {
		return
	}
	old.Rekeying = true
	e.sendRequest(now, sa, queued{what: queueRekeyChild, child: old})
}

// rekeyChildRequest builds the CREATE_CHILD_SA request with REKEY_SA that
// replaces old; once the new CHILD SA is installed, old is deleted
// (Installed).
func (e *Engine) rekeyChildRequest(now time.Time, sa *ikeSA, old *childSA) *request {
	if old.State != engine.ChildInstalled || !sa.usable() || old.replacedByPeer() {
		return nil
	}
	c, ps, err := e.offerRekey(sa, old)
	if err != nil {
		old.Rekeying = false
		old.RekeyAt = now.Add(rekeyRetry)
		return nil
	}
	sa.log(e).Info("rekeying CHILD SA", zap.String("child", old.Conn.Name))
	ps = append([]isakmp.Payload{&isakmp.Notify{Protocol: protoESP, SPI: spi32(old.SPIIn), NotifyType: isakmp.NotifyRekeySA}}, ps...)
	r := e.encryptedRequest(sa, isakmp.ExchangeCreateChildSA, ps, stepChild)
	if r != nil {
		r.child, r.old = c, old
	}
	return r
}

// rekeyChildFailed drops the CHILD SA c that was to replace old, which is
// rekeyed again later, unless the peer's rekey replaced it meanwhile.
func (e *Engine) rekeyChildFailed(now time.Time, sa *ikeSA, c, old *childSA) {
	e.removeChild(sa, c)
	if old.replacedByPeer() {
		return
	}
	old.replacedBy, old.retireAt = nil, time.Time{}
	old.Rekeying = false
	old.RekeyAt = now.Add(rekeyRetry)
}
