package ikev2

import (
	"slices"

	"go.uber.org/zap"

	"ikegate/internal/vendorid"
	"ikegate/isakmp"
)

// What the peer's IKE_SA_INIT says about its implementation: its Vendor
// ID payloads (named by the shared catalogue, internal/vendorid) or,
// when it sends no product ID (strongSwan and Libreswan by default), the
// set and order of its notifications. The result is sa.peerVendor, shown
// as peer_vendor by `ikegate sas`; it is never used for policy.

// Notify types this file recognises that the engine does not use.
const (
	notifyUsePPK                        isakmp.NotifyType = 16435 // RFC 8784
	notifyIntermediateExchangeSupported isakmp.NotifyType = 16438 // RFC 9242
)

// privateNotify reports whether t is in a private-use range of the IKEv2
// Notify Message Types registry: errors 8192-16383, status 40960-65535.
// Windows' MS_STATUS (12345) is one.
func privateNotify(t isakmp.NotifyType) bool {
	return (t >= 8192 && t < 16384) || t >= 40960
}

// vendorPayloads are the Vendor ID payloads we add to IKE_SA_INIT:
// Config.VendorIDs, none by default (a gateway that names itself helps
// whoever scans for vulnerable versions).
func (e *Engine) vendorPayloads() []isakmp.Payload {
	var ps []isakmp.Payload
	for _, v := range e.Cfg.VendorIDs {
		ps = append(ps, &isakmp.VendorID{Data: v})
	}
	return ps
}

// readVendor records what the peer's IKE_SA_INIT message ps (a request
// if we respond, a response if we initiated) tells about its product in
// sa.peerVendor, and names in one debug line the vendor IDs and
// private-use notifications it carries, which are otherwise ignored.
// MS_STATUS is logged with its Windows error code at info level.
func (e *Engine) readVendor(sa *ikeSA, ps []isakmp.Payload) {
	var vids [][]byte
	var known, unknown []string
	var notifies []isakmp.NotifyType
	for _, p := range ps {
		switch v := p.(type) {
		case *isakmp.VendorID:
			vids = append(vids, v.Data)
			if d, ok := vendorid.Describe(v.Data); ok {
				known = append(known, d)
			} else {
				unknown = append(unknown, vendorid.Hex(v.Data, 16))
			}
		case *isakmp.Notify:
			notifies = append(notifies, v.NotifyType)
		}
	}
	private := e.notePrivateNotifies(sa, isakmp.ExchangeIKESAInit, ps, true)
	sa.peerVendor = identifyPeer(vids, notifies)
	if len(vids) == 0 && len(private) == 0 && sa.peerVendor == "" {
		return
	}
	sa.log(e).Debug("IKE_SA_INIT: peer's vendor IDs and private notifications (ignored)",
		zap.String("peer_vendor", sa.peerVendor), zap.Strings("vendor_ids", known),
		zap.Strings("unknown_vendor_ids", unknown), zap.Strings("private_notifies", private))
}

// notePrivateNotifies logs the private-use notifications of a message of
// the peer politely: MS_STATUS (a Windows error code, which Windows sends
// as an error type but means as a report) at info level, the others in
// one debug line unless the caller logs them (quiet). It returns their
// names.
func (e *Engine) notePrivateNotifies(sa *ikeSA, exchange isakmp.ExchangeType, ps []isakmp.Payload, quiet bool) []string {
	var names []string
	for _, p := range ps {
		n, ok := p.(*isakmp.Notify)
		if !ok || !privateNotify(n.NotifyType) {
			continue
		}
		if n.NotifyType == isakmp.NotifyMSStatus {
			sa.log(e).Info("Windows peer status (MS_STATUS)", zap.Stringer("exchange", exchange),
				zap.String("windows_error", msStatusCode(n.Data)))
		}
		names = append(names, n.NotifyType.String())
	}
	if !quiet && len(names) > 0 {
		sa.log(e).Debug("peer's private notifications (ignored)", zap.Stringer("exchange", exchange),
			zap.Strings("private_notifies", names))
	}
	return names
}

// authNotifies logs the private-use notifications of an IKE_AUTH message
// (notePrivateNotifies) and returns the error notification that explains
// a failed exchange (peerError).
func (e *Engine) authNotifies(sa *ikeSA, inner []isakmp.Payload) *isakmp.Notify {
	e.notePrivateNotifies(sa, isakmp.ExchangeIKEAuth, inner, false)
	return peerError(inner)
}

// peerError returns the error notification of ps that explains a failed
// exchange: the first of a type the RFCs define, else the first
// private-use one (MS_STATUS alone still says why), else nil: Windows'
// MS_STATUS, sent next to a real error, never stands for it.
func peerError(ps []isakmp.Payload) *isakmp.Notify {
	var private *isakmp.Notify
	for _, p := range ps {
		n, ok := p.(*isakmp.Notify)
		if !ok || !n.NotifyType.IsError() {
			continue
		}
		if !privateNotify(n.NotifyType) {
			return n
		}
		if private == nil {
			private = n
		}
	}
	return private
}

// identifyPeer names the peer's product from its IKE_SA_INIT: exactly
// from a product vendor ID; "(probably)" from the IKEv1-style default
// vendor ID sets (vendorid.Identify) or from the notification order
// (productFromNotifies); "" when nothing tells.
func identifyPeer(vids [][]byte, notifies []isakmp.NotifyType) string {
	if p, exact := vendorid.Identify(vids); p != "" {
		if exact {
			return p
		}
		return vendorid.Probably(p)
	}
	if p := productFromNotifies(notifies); p != "" {
		return vendorid.Probably(p)
	}
	return ""
}

// notifyStep is one position of a notification fingerprint: between min
// and max notifications whose types are in types. marker steps are what
// tells the product apart; a fingerprint matches only if one of them
// matched at least one notification.
type notifyStep struct {
	types    []isakmp.NotifyType
	min, max int
	marker   bool
}

// notifyFingerprint is the order in which an implementation puts its
// notifications in IKE_SA_INIT (request and response alike; steps that
// only one role sends are optional).
type notifyFingerprint struct {
	product string
	steps   []notifyStep
}

// nstep is a notifyStep of min to max notifications of types.
func nstep(min, max int, marker bool, types ...isakmp.NotifyType) notifyStep {
	return notifyStep{types: types, min: min, max: max, marker: marker}
}

// fingerprints of the implementations that send no product vendor ID by
// default. Facts, from their sources and from captures of strongSwan
// 5.9.8 and Libreswan 4.10 against ikegate (PSK):
//
//   - strongSwan (ike_natd, then ike_init's build_payloads, then ike_auth)
//     puts the NAT detection notifications first, then
//     IKEV2_FRAGMENTATION_SUPPORTED, SIGNATURE_HASH_ALGORITHMS,
//     REDIRECT_SUPPORTED (initiator, follow_redirects, on by default),
//     USE_PPK, CHILDLESS_IKEV2_SUPPORTED (responder, 5.9.6+),
//     INTERMEDIATE_EXCHANGE_SUPPORTED, MULTIPLE_AUTH_SUPPORTED (responder).
//     Seen: request NAT_DETECTION_SOURCE_IP, NAT_DETECTION_DESTINATION_IP,
//     IKEV2_FRAGMENTATION_SUPPORTED, SIGNATURE_HASH_ALGORITHMS,
//     REDIRECT_SUPPORTED; response the same four, then
//     CHILDLESS_IKEV2_SUPPORTED, MULTIPLE_AUTH_SUPPORTED. The marker is
//     REDIRECT_SUPPORTED or CHILDLESS_IKEV2_SUPPORTED after that prefix:
//     ikegate's own IKE_SA_INIT has the same four first and neither.
//   - Libreswan (ikev2_ike_sa_init.c, 4.x and 5.x) puts the NAT detection
//     notifications last: IKEV2_FRAGMENTATION_SUPPORTED, USE_PPK,
//     INTERMEDIATE_EXCHANGE_SUPPORTED, REDIRECT_SUPPORTED,
//     SIGNATURE_HASH_ALGORITHMS, then the NAT detection pair, then
//     CHILDLESS_IKEV2_SUPPORTED (responder). Seen with PSK: request
//     IKEV2_FRAGMENTATION_SUPPORTED, NAT_DETECTION_SOURCE_IP,
//     NAT_DETECTION_DESTINATION_IP; response the same, then
//     CHILDLESS_IKEV2_SUPPORTED. The marker is any notification before
//     the NAT detection pair.
//
// COOKIE and private-use types are left out before matching.
var fingerprints = []notifyFingerprint{
	{vendorid.ProductStrongSwan, []notifyStep{
		nstep(1, 8, false, isakmp.NotifyNATDetectionSourceIP),
		nstep(1, 1, false, isakmp.NotifyNATDetectionDestinationIP),
		nstep(0, 1, false, isakmp.NotifyIKEv2FragmentationSupported),
		nstep(0, 1, false, isakmp.NotifySignatureHashAlgorithms),
		nstep(0, 1, true, isakmp.NotifyRedirectSupported, isakmp.NotifyRedirectedFrom),
		nstep(0, 1, false, notifyUsePPK),
		nstep(0, 1, true, isakmp.NotifyChildlessIKEv2Supported),
		nstep(0, 1, false, notifyIntermediateExchangeSupported),
		nstep(0, 1, false, isakmp.NotifyMultipleAuthSupported),
	}},
	{vendorid.ProductLibreswan, []notifyStep{
		nstep(0, 1, true, isakmp.NotifyIKEv2FragmentationSupported),
		nstep(0, 2, true, notifyUsePPK, notifyIntermediateExchangeSupported),
		nstep(0, 1, true, isakmp.NotifyRedirectSupported, isakmp.NotifyRedirectedFrom),
		nstep(0, 1, true, isakmp.NotifySignatureHashAlgorithms),
		nstep(1, 8, false, isakmp.NotifyNATDetectionSourceIP),
		nstep(1, 1, false, isakmp.NotifyNATDetectionDestinationIP),
		nstep(0, 1, false, isakmp.NotifyChildlessIKEv2Supported),
	}},
}

// productFromNotifies names the implementation whose fingerprint the
// notification types of an IKE_SA_INIT message match, in order, or "".
func productFromNotifies(types []isakmp.NotifyType) string {
	seq := make([]isakmp.NotifyType, 0, len(types))
	for _, t := range types {
		if t != isakmp.NotifyCookie && !privateNotify(t) {
			seq = append(seq, t)
		}
	}
	for _, f := range fingerprints {
		if f.matches(seq) {
			return f.product
		}
	}
	return ""
}

// matches consumes seq step by step, each taking as many notifications
// of its types as it may (consecutive steps share no type, so taking
// greedily is exact).
func (f notifyFingerprint) matches(seq []isakmp.NotifyType) bool {
	marked := false
	for _, s := range f.steps {
		n := 0
		for n < s.max && n < len(seq) && slices.Contains(s.types, seq[n]) {
			n++
		}
		if n < s.min {
			return false
		}
		if s.marker && n > 0 {
			marked = true
		}
		seq = seq[n:]
	}
	return len(seq) == 0 && marked
}
