package ikev2

// Redirect at IKE_SA_INIT (RFC 5685): a responder that is a cluster's
// entry point sends a new client that supports redirection to another
// gateway before any DH work, statelessly, as it answers with a COOKIE.

import (
	"net/netip"
	"time"

	"go.uber.org/zap"

	"ikegate/isakmp"
)

// Gateway identity types of the REDIRECT notification (RFC 5685 8).
const (
	gwIdentIPv4 = 1
	gwIdentIPv6 = 2
	gwIdentFQDN = 3 // ikegate redirects to addresses only
)

// redirectData is the REDIRECT notification's data: the new gateway's
// address as its identity, then (in an IKE_SA_INIT response) the
// initiator's nonce, which proves to the initiator that the answer saw
// its request.
func redirectData(to netip.Addr, ni []byte) []byte {
	to = to.Unmap()
	typ := byte(gwIdentIPv4)
	if to.Is6() {
		typ = gwIdentIPv6
	}
	a := to.AsSlice()
	out := make([]byte, 0, 2+len(a)+len(ni))
	out = append(out, typ, byte(len(a)))
	out = append(out, a...)
	return append(out, ni...)
}

// redirect answers an IKE_SA_INIT request with REDIRECT when the runtime
// wants the peer elsewhere and the peer said it can follow; it reports
// whether it did.
func (e *Engine) redirect(now time.Time, d isakmp.Datagram, h isakmp.Header, ps []isakmp.Payload, ni []byte) bool {
	if e.Cfg.Redirect == nil || isakmp.FindNotify(ps, isakmp.NotifyRedirectSupported) == nil {
		return false
	}
	to, ok := e.Cfg.Redirect(d.Local.Addr().Unmap(), d.Remote.Addr().Unmap())
	if !ok || !to.IsValid() || to.Unmap() == d.Local.Addr().Unmap() {
		return false
	}
	e.Count.Redirected++
	e.Unauthenticated(now, "IKE_SA_INIT redirected", d.Remote.Addr(), func() {
		e.Log.Info("IKE_SA_INIT redirected to another gateway (RFC 5685)", zap.Stringer("peer", d.Remote),
			zap.String("spi_i", spiHex(h.SPIi)), zap.Stringer("to", to))
	})
	e.plainReply(d, h, &isakmp.Notify{NotifyType: isakmp.NotifyRedirect, Data: redirectData(to, ni)})
	return true
}
