package ikev2

// Remote access on the gateway: clients that authenticate with EAP in
// IKE_AUTH (RFC 7296 2.16) and ask for an address with a configuration
// payload (RFC 7296 3.15). The EAP methods themselves run in the runtime
// (engine.EffectEAP: the local EAP-MSCHAPv2 server or RADIUS); the engine
// carries their messages, authenticates the client's final AUTH with the
// MSK, leases the virtual IP (engine.EffectLease) and narrows the CHILD
// SA's selectors to it.

import (
	"crypto/hmac"
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"go.uber.org/zap"

	"ikegate/internal/engine"
	"ikegate/internal/mschapv2"
	"ikegate/isakmp"
	"ikegate/oakley"
	"ikegate/policy"
)

// Configuration attributes beyond RFC 7296's that clients ask for.
const (
	cpInternalDNSDomain uint16 = 25    // RFC 8598: split DNS domains
	cpUnityDefDomain    uint16 = 28674 // strongSwan and Apple: default domain
	cpUnitySplitDNSName uint16 = 28675 // strongSwan and Apple: split DNS names
)

// remoteAccess is what a client's IKE SA holds of remote access: the EAP
// identity and the virtual IP it leased. It moves to the successor when
// the IKE SA is rekeyed, so the lease outlives the rekey.
type remoteAccess struct {
	client bool   // we are the client (conn.VirtualIP): VIP is ours
	user   string // the EAP identity ("" without EAP)
	engine.ClientLease
	// ends is when the client's session ends (RADIUS Session-Timeout;
	// zero: never): the IKE SA is deleted then.
	ends time.Time
}

// clientAuth is the responder's state of an IKE_AUTH that spans several
// exchanges (EAP) or waits for the runtime (an EAP step, a lease).
type clientAuth struct {
	conn    *policy.Connection
	idi     *isakmp.ID       // the client's IDi, which its final AUTH covers
	ridr    *isakmp.ID       // our IDr, which ours covers
	req     []isakmp.Payload // the first IKE_AUTH request (SA, TSi, TSr, CP, notifies)
	session any              // the EAP conversation (engine.EAPAnswer.Session)
	msk     []byte           // the EAP method's MSK, once it succeeded
	timeout time.Duration    // RADIUS Session-Timeout (zero: none)
	eapDone bool             // EAP succeeded: the client's AUTH comes next
	user    string           // the EAP identity
	// certID is the identity the client's certificate proved in a first
	// round (RFC 4739; nil: EAP only): the IKE SA's peer identity; idi is
	// then the second round's IDi, set when it comes.
	certID *policy.Identity
	// refused is why the EAP server refuses the client, once it said so
	// (the method's failure message may still be on its way).
	refused error
	// waiting: the runtime's answer for the request in hand is due; a
	// retransmission of that request meanwhile is dropped.
	waiting bool
}

// identity is who holds sa's lease and whom uniqueness acts on: the EAP
// user, else the peer's IKE identity.
func (sa *ikeSA) identity() string {
	if sa.ra != nil && sa.ra.user != "" {
		return sa.ra.user
	}
	return sa.peerID.String()
}

// owner is who sa's CHILD SAs speak for (policy.ChildSA.Owner): fixed
// when the SA is established, so that it stays when the peer moves
// (MOBIKE) and passes to the rekeyed SA.
func (sa *ikeSA) owner() string {
	if sa.ownerName != "" {
		return sa.ownerName
	}
	if sa.ra != nil && sa.ra.user != "" {
		return "user " + sa.ra.user
	}
	return sa.peerID.String() + " at " + sa.remote.Addr().String()
}

// raEffect is a lease or release effect of sa's client.
func (sa *ikeSA) raEffect(kind engine.EffectKind, pool string, addr netip.Addr) engine.Effect {
	device := sa.remote.String()
	if u := sa.conn.Unique; u == policy.UniqueReplace || u == policy.UniqueKeep {
		device = "" // one SA per identity: a new one takes over the address
	}
	return engine.Effect{Kind: kind, Pool: pool, Identity: sa.identity(), User: sa.identity(), Addr: addr,
		Connection: sa.conn, Peer: sa.remote.Addr(), Local: sa.local.Addr(), Device: device}
}

// releaseLease gives sa's virtual IP back (the IKE SA goes).
func (e *Engine) releaseLease(sa *ikeSA) {
	if ra := sa.ra; ra != nil && ra.VIP.IsValid() && !ra.client {
		e.Effect(sa.raEffect(engine.EffectRelease, ra.Pool, ra.VIP))
		ra.VIP = netip.Addr{}
	}
}

// peerMethod is how conn's clients authenticate: remote_auth, else as
// we do (auth).
func peerMethod(conn *policy.Connection) policy.RemoteAuth {
	if conn.RemoteAuth != policy.RemoteAuthSame {
		return conn.RemoteAuth
	}
	if conn.Auth == policy.AuthPSK {
		return policy.RemoteAuthPSK
	}
	return policy.RemoteAuthPubkey
}

func isEAP(m policy.RemoteAuth) bool {
	return m == policy.RemoteAuthEAPMSCHAPv2 || m == policy.RemoteAuthEAPRadius
}

// authFailed answers the IKE_AUTH request msgID with AUTHENTICATION_FAILED
// (plus extra, e.g. an EAP-Failure) and forgets the SA, explaining why.
func (e *Engine) authFailed(sa *ikeSA, d isakmp.Datagram, msgID uint32, why string, extra ...isakmp.Payload) {
	if a := sa.hs.auth; a != nil && a.refused != nil {
		why = fmt.Sprintf("client %s refused (said above)", a.who()) // counted and explained then
	} else {
		e.Count.AuthFailures++
	}
	e.respond(sa, d, isakmp.ExchangeIKEAuth, msgID, append(extra, &isakmp.Notify{NotifyType: isakmp.NotifyAuthenticationFailed}))
	e.fail(sa, "authentication failed: "+why)
}

// startEAP answers an IKE_AUTH request without AUTH: the client asks to
// authenticate with EAP (RFC 7296 2.16). We send our identity, certificate
// and AUTH with the first EAP request. A client that offers EAP-only
// authentication (RFC 5998) gets it only where the connection says
// eap_only: it needs a method that is mutual, derives keys and resists
// dictionary attacks (its section 4), which EAP-MSCHAPv2 does not, and
// what a RADIUS server runs is the operator's to know; a responder that
// authenticates anyway is what RFC 5998 allows (the client checks the
// method itself, and refuses an unsafe one).
func (e *Engine) startEAP(now time.Time, sa *ikeSA, d isakmp.Datagram, msgID uint32, conn *policy.Connection, idi *isakmp.ID, inner []isakmp.Payload) {
	sa.conn = conn
	ridr := idPayload(isakmp.PayloadIDr, conn.LocalID)
	ps := []isakmp.Payload{ridr}
	eapOnly := conn.EAPOnly && isakmp.FindNotify(inner, isakmp.NotifyEAPOnlyAuthentication) != nil
	if !eapOnly {
		ps = append(ps, certPayloads(conn, sa.peerCertReq)...)
		auth, err := e.makeAuth(sa, conn, sa.octets(false, ridr))
		if err != nil {
			e.authFailed(sa, d, msgID, err.Error())
			return
		}
		ps = append(ps, auth)
	}
	sa.hs.auth = &clientAuth{conn: conn, idi: idi, ridr: ridr, req: inner}
	sa.log(e).Info("client authenticates with EAP", zap.String("method", string(conn.RemoteAuth)),
		zap.Stringer("ike_id", policy.Identity{Type: idi.IDType, Data: idi.Data}), zap.Bool("eap_only", eapOnly))
	e.askEAP(sa, d, msgID, nil, ps)
}

// askEAP hands the client's EAP message (nil: start) to the EAP server;
// the answer goes out in the response to msgID after prefix.
func (e *Engine) askEAP(sa *ikeSA, d isakmp.Datagram, msgID uint32, msg []byte, prefix []isakmp.Payload) {
	a := sa.hs.auth
	a.waiting = true
	id := e.Ask(engine.Effect{Kind: engine.EffectEAP, Connection: a.conn, Peer: sa.remote.Addr(), Local: sa.local.Addr(),
		Identity: policy.Identity{Type: a.idi.IDType, Data: a.idi.Data}.String(), EAP: msg, Session: a.session})
	e.Await(id, installWait{kind: waitEAP, sa: sa,
		resp: pendingResponse{to: d, exchange: isakmp.ExchangeIKEAuth, msgID: msgID, prefix: prefix}})
}

// continueEAP takes the next IKE_AUTH request of an EAP client: an EAP
// response, or (after EAP-Success) its AUTH.
func (e *Engine) continueEAP(now time.Time, sa *ikeSA, d isakmp.Datagram, msgID uint32, inner []isakmp.Payload) {
	a := sa.hs.auth
	if a.waiting {
		e.Drop("IKE_AUTH request while the EAP server is deciding", d, nil)
		return
	}
	if a.idi == nil { // the second round (RFC 4739) starts: its identity
		if a.idi = findID(inner, isakmp.PayloadIDi); a.idi == nil {
			e.authFailed(sa, d, msgID, fmt.Sprintf("client %s: its second IKE_AUTH round lacks IDi", a.certID))
			return
		}
		e.askEAP(sa, d, msgID, nil, nil)
		return
	}
	if !a.eapDone {
		m := find[*isakmp.EAP](inner)
		if m == nil {
			e.authFailed(sa, d, msgID, fmt.Sprintf("client %s sent an IKE_AUTH request without EAP payload during EAP", a.who()))
			return
		}
		e.askEAP(sa, d, msgID, m.Message(), nil)
		return
	}
	auth := find[*isakmp.Auth](inner)
	if auth == nil {
		e.authFailed(sa, d, msgID, fmt.Sprintf("client %s sent no AUTH after EAP succeeded", a.who()))
		return
	}
	// Both AUTHs are keyed with the MSK (RFC 7296 2.16), or with SK_pi and
	// SK_pr for a method without one.
	keyI, keyR := a.msk, a.msk
	if len(a.msk) == 0 {
		sk := sa.keys.sk()
		keyI, keyR = sk.SKpi, sk.SKpr
	}
	if auth.Method != oakley.AuthSharedKeyMIC ||
		!hmac.Equal(auth.Data, oakley.PSKAuth(sa.keys.prf, keyI, sa.octets(true, a.idi))) {
		e.authFailed(sa, d, msgID, fmt.Sprintf("client %s: its AUTH after EAP does not verify with the EAP method's key (AUTH method %d)",
			a.who(), auth.Method))
		return
	}
	if isakmp.FindNotify(inner, isakmp.NotifyAnotherAuthFollows) != nil {
		e.authFailed(sa, d, msgID, fmt.Sprintf("client %s announced another authentication round after EAP; "+
			"ikegate takes the certificate round first, then EAP (RFC 4739): order the client's rounds so", a.who()))
		return
	}
	mine := &isakmp.Auth{Method: oakley.AuthSharedKeyMIC, Data: oakley.PSKAuth(sa.keys.prf, keyR, sa.octets(false, a.ridr))}
	clear(a.msk)
	sa.ra = &remoteAccess{user: a.user}
	if a.timeout > 0 {
		sa.ra.ends = now.Add(a.timeout)
	}
	sa.log(e).Info("EAP: user authenticated", zap.String("user", a.user), zap.String("method", string(a.conn.RemoteAuth)))
	peerID := policy.Identity{Type: a.idi.IDType, Data: a.idi.Data}
	if a.certID != nil {
		peerID = *a.certID
	}
	e.clientAuthenticated(now, sa, d, msgID, a.conn, peerID, a.req, []isakmp.Payload{mine})
}

// who names an EAP client for the logs: its EAP identity once known,
// else its IKE identity.
func (a *clientAuth) who() string {
	if a.user != "" {
		return fmt.Sprintf("user %q", a.user)
	}
	if a.idi == nil {
		return a.certID.String()
	}
	return policy.Identity{Type: a.idi.IDType, Data: a.idi.Data}.String()
}

// eapAnswered takes the EAP server's answer and sends it to the client.
func (e *Engine) eapAnswered(now time.Time, w installWait, r engine.Result) {
	sa := w.sa
	if sa.state != stateInitDone || sa.hs == nil || sa.hs.auth == nil {
		return // the SA went meanwhile
	}
	a, resp := sa.hs.auth, w.resp
	a.waiting = false
	a.session = r.EAP.Session
	if r.EAP.Identity != "" {
		a.user = r.EAP.Identity
	}
	var msg *isakmp.EAP
	if len(r.EAP.Message) > 0 {
		var err error
		if msg, err = isakmp.ParseEAPMessage(r.EAP.Message); err != nil {
			e.authFailed(sa, resp.to, resp.msgID, fmt.Sprintf("EAP server answered with a malformed message: %v", err),
				&isakmp.EAP{Code: isakmp.EAPFailure})
			return
		}
	}
	if !r.EAP.Done && r.Err != nil && a.refused == nil {
		// The method tells the client first (an MSCHAPv2 Failure
		// request); the verdict is already final: say it now.
		a.refused = r.Err
		e.Count.AuthFailures++
		sa.log(e).Warn(fmt.Sprintf("EAP: client %s refused: %v", a.who(), r.Err))
	}
	switch {
	case r.EAP.Done && (r.Err != nil || msg == nil || msg.Code != isakmp.EAPSuccess):
		why := "EAP failed"
		if r.Err != nil {
			why = r.Err.Error()
		}
		if msg == nil || msg.Code != isakmp.EAPFailure {
			msg = &isakmp.EAP{Code: isakmp.EAPFailure}
		}
		e.authFailed(sa, resp.to, resp.msgID, fmt.Sprintf("client %s: %s", a.who(), why), msg)
	case r.EAP.Done:
		a.eapDone, a.msk, a.timeout = true, append([]byte(nil), r.EAP.MSK...), r.EAP.SessionTimeout
		clear(r.EAP.MSK)
		e.respond(sa, resp.to, resp.exchange, resp.msgID, append(resp.prefix, msg))
	case msg == nil || msg.Code != isakmp.EAPRequest:
		e.authFailed(sa, resp.to, resp.msgID, fmt.Sprintf("client %s: the EAP server answered without a request", a.who()),
			&isakmp.EAP{Code: isakmp.EAPFailure})
	default:
		e.respond(sa, resp.to, resp.exchange, resp.msgID, append(resp.prefix, msg))
	}
}

// clientAuthenticated establishes the IKE SA of an authenticated client
// and answers its IKE_AUTH request msgID: prefix (our IDr, CERT, AUTH),
// then its configuration (when it asked and the connection has a pool:
// after the lease) and its first CHILD SA, as req (the first IKE_AUTH
// request) proposed.
func (e *Engine) clientAuthenticated(now time.Time, sa *ikeSA, d isakmp.Datagram, msgID uint32, conn *policy.Connection,
	peerID policy.Identity, req []isakmp.Payload, prefix []isakmp.Payload) {
	sa.conn = conn
	e.established(now, sa, peerID)
	ic := isakmp.FindNotify(req, isakmp.NotifyInitialContact) != nil
	if ic && conn.Unique != policy.UniqueNever {
		e.InitialContact(now, sa) // here; the runtime does the other shards
	}
	e.Effect(sa.upEffect(false, ic))
	if conn.MOBIKE && isakmp.FindNotify(req, isakmp.NotifyMOBIKESupported) != nil {
		sa.mobike = true
		prefix = append(prefix, mobikeNotify())
	}
	if e.Cfg.MIDSync {
		prefix = append(prefix, &isakmp.Notify{NotifyType: isakmp.NotifyMessageIDSyncSupported})
		sa.midSync = isakmp.FindNotify(req, isakmp.NotifyMessageIDSyncSupported) != nil
	}
	resp := pendingResponse{to: d, exchange: isakmp.ExchangeIKEAuth, msgID: msgID, prefix: prefix}
	if cp := find[*isakmp.CP](req); cp != nil && cp.CfgType == isakmp.CfgRequest && conn.Pool != "" && asksAddress(cp) {
		if sa.ra == nil {
			sa.ra = &remoteAccess{}
		}
		id := e.Ask(sa.raEffect(engine.EffectLease, conn.Pool, netip.Addr{}))
		e.Await(id, installWait{kind: waitLease, sa: sa, resp: resp, req: req})
		return
	}
	e.finishAuth(now, sa, resp, req, nil)
}

// asksAddress reports whether a CFG_REQUEST asks for an inner address.
func asksAddress(cp *isakmp.CP) bool {
	for _, a := range cp.Attrs {
		if a.Type == isakmp.CPInternalIP4Address || a.Type == isakmp.CPInternalIP6Address {
			return true
		}
	}
	return false
}

// leased takes the pool's answer for a client's CFG_REQUEST.
func (e *Engine) leased(now time.Time, w installWait, l engine.Leased, err error) {
	sa := w.sa
	if l.Pool == "" {
		l.Pool = sa.conn.Pool
	}
	if sa.state != stateEstablished {
		if err == nil {
			e.Effect(sa.raEffect(engine.EffectRelease, l.Pool, l.Addr))
		}
		return
	}
	if !sa.ra.TakeLease(sa.log(e), "configuration payload", sa.identity(), l, err) {
		// No address, no CHILD SA (RFC 7296 3.15.4); the IKE SA stays.
		e.finishAuth(now, sa, w.resp, w.req, notifyOnly(isakmp.NotifyInternalAddressFailure, nil))
		return
	}
	e.finishAuth(now, sa, w.resp, w.req, nil)
}

// finishAuth sends the IKE_AUTH response of an established client: the
// prefix, its CFG_REPLY (if it asked), then its first CHILD SA, or
// instead (refused, not nil) the notify that says why there is none.
func (e *Engine) finishAuth(now time.Time, sa *ikeSA, resp pendingResponse, req []isakmp.Payload, refused []isakmp.Payload) {
	ps := resp.prefix
	if cp := find[*isakmp.CP](req); cp != nil && cp.CfgType == isakmp.CfgRequest {
		if reply := e.cfgReply(sa, cp); reply != nil {
			ps = append(ps, reply)
		}
	}
	sa.hs.auth = nil
	if refused != nil {
		sa.hs = nil
		e.respond(sa, resp.to, resp.exchange, resp.msgID, append(ps, refused...))
		return
	}
	if find[*isakmp.SA](req) != nil {
		childPs, wait := e.acceptChild(now, sa, req, nil)
		sa.hs = nil // IKE_AUTH is over: only the long-lived state stays
		if wait != 0 {
			resp.prefix, resp.child = ps, childPs
			e.Await(wait, installWait{sa: sa, c: sa.children[len(sa.children)-1], then: afterRespond, resp: resp})
			return
		}
		ps = append(ps, childPs...)
	}
	sa.hs = nil
	e.respond(sa, resp.to, resp.exchange, resp.msgID, ps)
}

// cfgReply answers a client's CFG_REQUEST with what it asked for and we
// have (nil: nothing). A client without a virtual IP gets no address.
func (e *Engine) cfgReply(sa *ikeSA, req *isakmp.CP) *isakmp.CP {
	var vip netip.Addr
	var attrs *policy.Attributes
	if sa.ra != nil {
		vip, attrs = sa.ra.VIP, sa.ra.Attributes(e.Cfg.DB, sa.conn.Pool)
	} else if p := e.Cfg.DB.Pool(sa.conn.Pool); p != nil {
		attrs = &p.Attributes
	}
	reply := &isakmp.CP{CfgType: isakmp.CfgReply}
	add := func(t uint16, v []byte) { reply.Attrs = append(reply.Attrs, isakmp.CPAttribute{Type: t, Value: v}) }
	seen := map[uint16]bool{}
	for _, a := range req.Attrs {
		if seen[a.Type] {
			continue
		}
		seen[a.Type] = true
		if engine.ConfigAttr(a.Type, vip, attrs, add) || attrs == nil {
			continue
		}
		switch a.Type {
		case isakmp.CPInternalIP4Subnet, isakmp.CPInternalIP6Subnet:
			for _, p := range attrs.SplitInclude {
				p = p.Masked()
				if p.Addr().Is4() && a.Type == isakmp.CPInternalIP4Subnet {
					add(a.Type, binary.BigEndian.AppendUint32(p.Addr().AsSlice(), ^uint32(0)<<(32-p.Bits())))
				} else if p.Addr().Is6() && a.Type == isakmp.CPInternalIP6Subnet {
					add(a.Type, append(p.Addr().AsSlice(), byte(p.Bits())))
				}
			}
		case cpInternalDNSDomain:
			// RFC 8598 3.1: one domain per attribute.
			for _, d := range splitDomains(attrs) {
				add(a.Type, []byte(d))
			}
		case cpUnityDefDomain:
			if attrs.Domain != "" {
				add(a.Type, []byte(attrs.Domain))
			}
		case cpUnitySplitDNSName:
			if len(attrs.SplitDNS) > 0 {
				add(a.Type, []byte(strings.Join(attrs.SplitDNS, ",")))
			}
		}
	}
	if len(reply.Attrs) == 0 {
		return nil
	}
	return reply
}

// splitDomains are the domains whose names the client resolves with our
// DNS servers: the split DNS names, else the default domain.
func splitDomains(a *policy.Attributes) []string {
	if len(a.SplitDNS) > 0 {
		return a.SplitDNS
	}
	if a.Domain != "" {
		return []string{a.Domain}
	}
	return nil
}

// splitInclude is what a remote-access client with a virtual IP was told
// to route into the tunnel (nil: everything the connection allows).
func (e *Engine) splitInclude(sa *ikeSA) []netip.Prefix {
	if sa.ra == nil || sa.ra.client || !sa.ra.VIP.IsValid() {
		return nil
	}
	if a := sa.ra.Attributes(e.Cfg.DB, sa.conn.Pool); a != nil {
		return a.SplitInclude
	}
	return nil
}

// clientConfig takes the gateway's CFG_REPLY as a remote-access client of
// it (conn.VirtualIP): the virtual IP our CHILD SAs then protect.
func (e *Engine) clientConfig(sa *ikeSA, inner []isakmp.Payload) {
	cp := find[*isakmp.CP](inner)
	if cp == nil || cp.CfgType != isakmp.CfgReply {
		sa.log(e).Warn("the gateway sent no configuration (CFG_REPLY): no virtual IP")
		return
	}
	ra := &remoteAccess{client: true}
	for _, a := range cp.Attrs {
		v := a.Value
		switch {
		case a.Type == isakmp.CPInternalIP4Address && len(v) == 4:
		case a.Type == isakmp.CPInternalIP6Address && len(v) == 17:
			v = v[:16] // then the prefix length
		default:
			continue
		}
		if addr, ok := netip.AddrFromSlice(v); ok && !ra.VIP.IsValid() {
			ra.VIP = addr
		}
	}
	if !ra.VIP.IsValid() {
		sa.log(e).Warn("the gateway's CFG_REPLY has no address")
		return
	}
	sa.ra = ra
	sa.log(e).Info("virtual IP received", zap.Stringer("vip", ra.VIP))
}

// eapClient is our side of EAP as a remote-access client
// (conn.XAuthUser: EAP-MSCHAPv2 with that user and password).
type eapClient struct {
	c        *mschapv2.Client
	idi      *isakmp.ID // ours, which our final AUTH covers
	idr      *isakmp.ID // the gateway's, once its AUTH verified
	peerID   policy.Identity
	authSent bool // EAP succeeded and our AUTH is out
}

// eapClientStep takes the gateway's IKE_AUTH response during EAP: the next
// EAP request, EAP-Success (we send our AUTH keyed with the MSK), or its
// final AUTH with our configuration and CHILD SA.
func (e *Engine) eapClientStep(now time.Time, sa *ikeSA, inner []isakmp.Payload) {
	ec, user := sa.hs.eapc, sa.conn.XAuthUser
	defer func() {
		if sa.state != stateInitSent && sa.state != stateAuthSent {
			ec.c.Wipe() // established or failed: the keys are no longer needed
		}
	}()
	if ec.authSent {
		auth := find[*isakmp.Auth](inner)
		if auth == nil || auth.Method != oakley.AuthSharedKeyMIC ||
			!hmac.Equal(auth.Data, oakley.PSKAuth(sa.keys.prf, ec.c.MSK(), sa.octets(false, ec.idr))) {
			e.Count.AuthFailures++
			e.fail(sa, fmt.Sprintf("authentication failed: the gateway's AUTH after EAP does not verify with the MSK of user %q", user))
			return
		}
		e.initiatorEstablished(now, sa, ec.peerID, inner)
		return
	}
	m := find[*isakmp.EAP](inner)
	if n := peerError(inner); n != nil || m == nil || m.Code == isakmp.EAPFailure {
		e.Count.AuthFailures++
		why := "no EAP payload"
		switch {
		case m != nil:
			why = "EAP-Failure"
			if f := ec.c.Failure(); f != "" {
				why += ", MSCHAPv2 " + f
			}
		case n != nil:
			why = n.NotifyType.String()
		}
		e.fail(sa, fmt.Sprintf("authentication failed: the gateway refused EAP user %q (%s)", user, why))
		return
	}
	var ps []isakmp.Payload
	switch m.Code {
	case isakmp.EAPRequest:
		resp, err := ec.c.Respond(m)
		if err != nil {
			e.Count.AuthFailures++
			e.fail(sa, fmt.Sprintf("authentication failed: EAP user %q: %v", user, err))
			return
		}
		ps = []isakmp.Payload{resp}
	case isakmp.EAPSuccess:
		msk := ec.c.MSK()
		if msk == nil {
			e.fail(sa, "authentication failed: EAP-Success before the gateway proved it knows the password")
			return
		}
		ec.authSent = true
		ps = []isakmp.Payload{&isakmp.Auth{Method: oakley.AuthSharedKeyMIC, Data: oakley.PSKAuth(sa.keys.prf, msk, sa.octets(true, ec.idi))}}
	default:
		e.fail(sa, fmt.Sprintf("unexpected EAP code %d from the gateway", m.Code))
		return
	}
	e.startRequest(now, sa, e.encryptedRequest(sa, isakmp.ExchangeIKEAuth, ps, stepAuth))
}

// multipleAuth reports whether a connection for d's addresses takes a
// certificate followed by EAP (RFC 4739): then IKE_SA_INIT answers
// MULTIPLE_AUTH_SUPPORTED.
func (e *Engine) multipleAuth(d isakmp.Datagram) bool {
	for _, c := range e.Cfg.DB.Candidates(d.Local.Addr(), d.Remote.Addr(), policy.IKEv2) {
		if isEAP(peerMethod(c)) && c.CAs != nil {
			return true
		}
	}
	return false
}

// firstAuthRound answers a client that authenticated with its
// certificate and announced another round (ANOTHER_AUTH_FOLLOWS, RFC
// 4739): our identity and AUTH now; its next IKE_AUTH request names its
// EAP identity and EAP follows (continueEAP); the first request's CHILD
// SA and configuration are answered at the end.
func (e *Engine) firstAuthRound(sa *ikeSA, d isakmp.Datagram, msgID uint32, conn *policy.Connection, certID policy.Identity, inner []isakmp.Payload) {
	sa.conn = conn
	ridr := idPayload(isakmp.PayloadIDr, conn.LocalID)
	ps := append([]isakmp.Payload{ridr}, certPayloads(conn, sa.peerCertReq)...)
	auth, err := e.makeAuth(sa, conn, sa.octets(false, ridr))
	if err != nil {
		e.authFailed(sa, d, msgID, err.Error())
		return
	}
	sa.hs.auth = &clientAuth{conn: conn, ridr: ridr, req: inner, certID: &certID}
	sa.log(e).Info("client authenticated with its certificate; EAP follows (RFC 4739)", zap.Stringer("id", certID),
		zap.String("method", string(conn.RemoteAuth)))
	e.respond(sa, d, isakmp.ExchangeIKEAuth, msgID, append(ps, auth))
}
