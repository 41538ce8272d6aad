package ikev2

// MOBIKE (RFC 4555): a client that changes its address (a phone moving
// from Wi-Fi to cellular) moves its IKE SA and CHILD SAs with an
// UPDATE_SA_ADDRESSES notification instead of authenticating again. The
// gateway takes the new addresses from that request, answers with fresh
// NAT detection for them (and the client's COOKIE2), moves the CHILD SAs
// in the dataplane, and then checks that the new address really is the
// client's (return routability, RFC 4555 3.5) with an INFORMATIONAL of its
// own carrying a COOKIE2 the answer must echo.

import (
	"bytes"
	"fmt"
	"net/netip"
	"time"

	"go.uber.org/zap"

	"ikegate/internal/engine"
	"ikegate/isakmp"
	"ikegate/natt"
)

// mobikeNotify is what an IKE_AUTH message of ours carries when conn
// announces MOBIKE.
func mobikeNotify() *isakmp.Notify { return &isakmp.Notify{NotifyType: isakmp.NotifyMOBIKESupported} }

// natDetection is our NAT detection pair for the addresses local and
// remote, computed with the SPIs spiI and spiR (spiR zero in an
// IKE_SA_INIT request; both after IKE_SA_INIT: RFC 4555 3.5).
func (e *Engine) natDetection(spiI, spiR uint64, local, remote netip.AddrPort) []isakmp.Payload {
	return []isakmp.Payload{
		&isakmp.Notify{NotifyType: isakmp.NotifyNATDetectionSourceIP, Data: e.sourceHash(spiI, spiR, local)},
		&isakmp.Notify{NotifyType: isakmp.NotifyNATDetectionDestinationIP, Data: natt.IKEv2Hash(spiI, spiR, remote)},
	}
}

// updateAddresses handles an INFORMATIONAL request of the client d with
// UPDATE_SA_ADDRESSES and returns what the response carries besides the
// COOKIE2 echo: NAT detection for the new addresses, or the error notify
// that refuses the move.
func (e *Engine) updateAddresses(now time.Time, sa *ikeSA, d isakmp.Datagram, inner []isakmp.Payload) []isakmp.Payload {
	log := sa.log(e)
	if !sa.mobike {
		log.Info("peer sent UPDATE_SA_ADDRESSES but MOBIKE was not agreed (mobike = true on both sides); ignored")
		return nil
	}
	old := sa.remote
	oldNAT := sa.nat
	e.detectNAT(sa, d, inner, true)
	if isakmp.FindNotify(inner, isakmp.NotifyNoNATsAllowed) != nil && sa.nat.Any() {
		sa.nat = oldNAT
		log.Info("MOBIKE: the peer allows no NAT but its new address is NATed: refused", zap.Stringer("new", d.Remote))
		return notifyOnly(isakmp.NotifyUnexpectedNATDetected, nil)
	}
	sa.local, sa.remote = d.Local, d.Remote
	log.Info("MOBIKE: peer moved its SAs to a new address", zap.Stringer("old", old), zap.Stringer("new", d.Remote),
		zap.Bool("nat", sa.nat.Any()))
	e.moveChildren(sa)
	// Return routability (RFC 4555 3.5): once answered, ask the new
	// address for an answer of its own.
	sa.queue = append(sa.queue, queued{what: queueRoutability})
	return e.natDetection(sa.spiI, sa.spiR, d.Local, d.Remote)
}

// moveChildren moves sa's installed CHILD SAs to sa's addresses.
func (e *Engine) moveChildren(sa *ikeSA) {
	var encapL, encapR uint16
	if sa.nat.Any() { // as installChild encapsulates
		encapL, encapR = sa.local.Port(), sa.remote.Port()
	}
	for _, c := range sa.children {
		if c.Kernel == nil || c.State != engine.ChildInstalled {
			continue
		}
		e.Effect(engine.Effect{Kind: engine.EffectMove, Child: c.Kernel, MovedTo: struct{ Local, Remote netip.AddrPort }{
			netip.AddrPortFrom(sa.local.Addr(), encapL), netip.AddrPortFrom(sa.remote.Addr(), encapR)}})
	}
}

// routabilityRequest is our return routability check of a peer that
// moved: an INFORMATIONAL with a fresh COOKIE2.
func (e *Engine) routabilityRequest(sa *ikeSA) *request {
	cookie := e.Random(16)
	r := e.encryptedRequest(sa, isakmp.ExchangeInformational,
		[]isakmp.Payload{&isakmp.Notify{NotifyType: isakmp.NotifyCookie2, Data: cookie}}, stepRoutability)
	if r != nil {
		r.cookie2 = cookie
	}
	return r
}

// routabilityChecked takes the answer to our return routability check.
func (e *Engine) routabilityChecked(now time.Time, sa *ikeSA, r *request, inner []isakmp.Payload) {
	if n := isakmp.FindNotify(inner, isakmp.NotifyCookie2); n == nil || !bytes.Equal(n.Data, r.cookie2) {
		sa.log(e).Warn("MOBIKE: the answer to our return routability check lacks our COOKIE2; deleting the IKE SA")
		e.deleteIKE(now, sa)
		return
	}
	sa.log(e).Info(fmt.Sprintf("MOBIKE: return routability of %s confirmed", sa.remote))
}

// Roam moves our IKE SAs that use local address from, and that agreed on
// MOBIKE as initiator, to address to (our address changed: RFC 4555 3.5):
// each sends UPDATE_SA_ADDRESSES from there and moves its CHILD SAs once
// the peer answered. It returns how many SAs it moves.
func (e *Engine) Roam(now time.Time, from, to netip.Addr) (engine.Output, int) {
	n := 0
	for _, sa := range e.sas {
		if sa.state != stateEstablished || !sa.initiator || !sa.mobike || sa.local.Addr() != from {
			continue
		}
		sa.local = netip.AddrPortFrom(to, sa.local.Port())
		sa.log(e).Info("MOBIKE: moving the IKE SA to a new local address", zap.Stringer("from", from), zap.Stringer("to", to))
		e.sendRequest(now, sa, queued{what: queueUpdateAddresses})
		e.Schedule(sa)
		n++
	}
	return e.Flush(), n
}

// updateAddressesRequest is our UPDATE_SA_ADDRESSES from sa's new address.
func (e *Engine) updateAddressesRequest(sa *ikeSA) *request {
	ps := append([]isakmp.Payload{&isakmp.Notify{NotifyType: isakmp.NotifyUpdateSAAddresses}},
		e.natDetection(sa.spiI, sa.spiR, sa.local, sa.remote)...)
	return e.encryptedRequest(sa, isakmp.ExchangeInformational, ps, stepMoved)
}

// moved takes the answer to our UPDATE_SA_ADDRESSES: NAT detection for
// the new addresses, then the CHILD SAs follow.
func (e *Engine) moved(sa *ikeSA, d isakmp.Datagram, inner []isakmp.Payload) {
	if n := peerError(inner); n != nil {
		sa.log(e).Warn("MOBIKE: the peer refused our new address", zap.Stringer("notify", n.NotifyType))
		return
	}
	e.detectNAT(sa, d, inner, true)
	e.moveChildren(sa)
}
