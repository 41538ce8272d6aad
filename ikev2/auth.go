package ikev2

import (
	"crypto/hmac"
	"crypto/sha1"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"ikegate/dpd"
	"ikegate/internal/mschapv2"
	"ikegate/isakmp"
	"ikegate/oakley"
	"ikegate/policy"
)

// Certificate encoding "X.509 Certificate - Signature" (RFC 7296 3.6).
const certX509Signature uint8 = 4

func idPayload(t isakmp.PayloadType, id policy.Identity) *isakmp.ID {
	return &isakmp.ID{PType: t, IDType: id.Type, Data: id.Data}
}

// idBody is RestOfIDPayload: the ID payload body that AUTH covers.
func idBody(id *isakmp.ID) []byte {
	return append([]byte{id.IDType, 0, 0, 0}, id.Data...)
}

// octets returns the signed octets of one side (RFC 7296 2.15): the
// initiator signs its IKE_SA_INIT request, the responder its response.
func (sa *ikeSA) octets(ofInitiator bool, id *isakmp.ID) []byte {
	if ofInitiator {
		return oakley.SignedOctets(sa.keys.prf, sa.hs.initReq, sa.hs.nonceR, sa.keys.sk().SKpi, idBody(id))
	}
	return oakley.SignedOctets(sa.keys.prf, sa.hs.initResp, sa.hs.nonceI, sa.keys.sk().SKpr, idBody(id))
}

// makeAuth computes our AUTH payload for conn over octets.
func (e *Engine) makeAuth(sa *ikeSA, conn *policy.Connection, octets []byte) (*isakmp.Auth, error) {
	if conn.Auth == policy.AuthPSK {
		return &isakmp.Auth{Method: oakley.AuthSharedKeyMIC, Data: oakley.PSKAuth(sa.keys.prf, conn.PSK, octets)}, nil
	}
	method, data, err := oakley.SignAuth(conn.Key, sa.peerHashes.list(), false, octets, e.Cfg.Rand)
	if err != nil {
		return nil, fmt.Errorf("signing AUTH: %w", err)
	}
	return &isakmp.Auth{Method: method, Data: data}, nil
}

// verifyAuth checks the peer's AUTH payload under conn's credentials and
// returns a plain-words reason when it does not verify.
func (e *Engine) verifyAuth(now time.Time, sa *ikeSA, conn *policy.Connection, id *isakmp.ID, auth *isakmp.Auth, certs [][]byte, octets []byte) error {
	peerID := policy.Identity{Type: id.IDType, Data: id.Data}
	if peerMethod(conn) == policy.RemoteAuthPSK {
		if auth.Method != oakley.AuthSharedKeyMIC {
			return fmt.Errorf("peer authenticated with AUTH method %d but connection %q uses a pre-shared key", auth.Method, conn.Name)
		}
		if !hmac.Equal(auth.Data, oakley.PSKAuth(sa.keys.prf, conn.PSK, octets)) {
			return fmt.Errorf("peer's AUTH does not verify with the pre-shared key of connection %q: the PSKs differ", conn.Name)
		}
		return nil
	}
	if auth.Method == oakley.AuthSharedKeyMIC {
		return fmt.Errorf("peer authenticated with a pre-shared key but connection %q uses certificates", conn.Name)
	}
	if len(certs) == 0 {
		return fmt.Errorf("peer sent no certificate (connection %q uses certificates)", conn.Name)
	}
	leaf, err := policy.VerifyPeerCert(certs, conn.CAs, now)
	if err != nil {
		return fmt.Errorf("peer certificate not trusted: %w", err)
	}
	if err := policy.CertMatchesIdentity(leaf, peerID); err != nil {
		return fmt.Errorf("peer identity: %w", err)
	}
	if err := oakley.VerifyAuth(leaf.PublicKey, auth.Method, auth.Data, octets); err != nil {
		return fmt.Errorf("peer's signature does not verify with its certificate %s: %w", leaf.Subject, err)
	}
	return nil
}

// certPayloads is our certificate and its chain, when conn sends them
// (send_cert) to a peer that asked for one (asked: it sent CERTREQ) or not.
func certPayloads(conn *policy.Connection, asked bool) []isakmp.Payload {
	if !conn.SendsCert(asked) {
		return nil
	}
	ps := []isakmp.Payload{&isakmp.Cert{Encoding: certX509Signature, Data: conn.Cert.Raw}}
	for _, c := range conn.CertChain {
		ps = append(ps, &isakmp.Cert{Encoding: certX509Signature, Data: c.Raw})
	}
	return ps
}

// certReq lists the SHA-1 hashes of our trust anchors' public keys.
func certReq(conn *policy.Connection) *isakmp.CertReq {
	if len(conn.CACerts) == 0 {
		return nil
	}
	var data []byte
	for _, ca := range conn.CACerts {
		h := sha1.Sum(ca.RawSubjectPublicKeyInfo)
		data = append(data, h[:]...)
	}
	return &isakmp.CertReq{Encoding: certX509Signature, Data: data}
}

func peerCerts(ps []isakmp.Payload) [][]byte {
	var out [][]byte
	for _, p := range ps {
		if c, ok := p.(*isakmp.Cert); ok && c.Encoding == certX509Signature {
			out = append(out, c.Data)
		}
	}
	return out
}

// authRequest builds our IKE_AUTH request with the first CHILD SA.
func (e *Engine) authRequest(now time.Time, sa *ikeSA) *request {
	conn := sa.conn
	idi := idPayload(isakmp.PayloadIDi, conn.LocalID)
	ps := []isakmp.Payload{idi}
	ps = append(ps, certPayloads(conn, sa.peerCertReq)...)
	if e.firstContact(sa) {
		ps = append(ps, &isakmp.Notify{NotifyType: isakmp.NotifyInitialContact})
	}
	if conn.Auth == policy.AuthPubkey {
		if cr := certReq(conn); cr != nil {
			ps = append(ps, cr)
		}
	}
	if !conn.RemoteID.Any {
		ps = append(ps, idPayload(isakmp.PayloadIDr, conn.RemoteID))
	}
	if conn.MOBIKE {
		ps = append(ps, mobikeNotify())
	}
	if e.Cfg.MIDSync {
		ps = append(ps, &isakmp.Notify{NotifyType: isakmp.NotifyMessageIDSyncSupported})
	}
	if conn.XAuthUser != "" {
		// A remote-access client of ours: EAP-MSCHAPv2 instead of AUTH.
		c, err := mschapv2.NewClient(conn.XAuthUser, conn.XAuthPassword, e.Cfg.Rand)
		if err != nil {
			e.fail(sa, err.Error())
			return nil
		}
		sa.hs.eapc = &eapClient{c: c, idi: idi}
	} else {
		auth, err := e.makeAuth(sa, conn, sa.octets(true, idi))
		if err != nil {
			e.fail(sa, err.Error())
			return nil
		}
		ps = append(ps, auth)
	}
	// split_child_sas: the first selector pair with IKE_AUTH, the others
	// with CREATE_CHILD_SA once the IKE SA is up (initiatorEstablished).
	var first *tsPair
	if pairs := splitPairs(sa, conn); pairs != nil {
		first, sa.hs.morePairs = &pairs[0], pairs[1:]
	}
	child, childPs, err := e.offerChild(sa, conn, false, first)
	if err != nil {
		e.fail(sa, err.Error())
		return nil
	}
	sa.hs.pendingChild = child
	if conn.VirtualIP {
		ps = append(ps, &isakmp.CP{CfgType: isakmp.CfgRequest, Attrs: []isakmp.CPAttribute{
			{Type: isakmp.CPInternalIP4Address}, {Type: isakmp.CPInternalIP4DNS},
			{Type: isakmp.CPInternalIP6Address}, {Type: isakmp.CPInternalIP6DNS}}})
	}
	ps = append(ps, childPs...)
	return e.encryptedRequest(sa, isakmp.ExchangeIKEAuth, ps, stepAuth)
}

// firstContact reports whether sa is our only IKE SA with its peer for
// its connection, so that IKE_AUTH carries INITIAL_CONTACT.
func (e *Engine) firstContact(sa *ikeSA) bool {
	for _, o := range e.sas {
		if o != sa && o.conn == sa.conn && o.remote.Addr() == sa.remote.Addr() && o.state == stateEstablished {
			return false
		}
	}
	return true
}

// authResponse handles the responder's IKE_AUTH answer.
func (e *Engine) authResponse(now time.Time, sa *ikeSA, inner []isakmp.Payload) {
	conn := sa.conn
	peerErr := e.authNotifies(sa, inner)
	if conn.MOBIKE && isakmp.FindNotify(inner, isakmp.NotifyMOBIKESupported) != nil {
		sa.mobike = true
	}
	sa.midSync = e.Cfg.MIDSync && isakmp.FindNotify(inner, isakmp.NotifyMessageIDSyncSupported) != nil
	if ec := sa.hs.eapc; ec != nil && ec.idr != nil {
		e.eapClientStep(now, sa, inner) // the gateway is authenticated: EAP goes on
		return
	}
	idr := findID(inner, isakmp.PayloadIDr)
	auth := find[*isakmp.Auth](inner)
	if idr == nil || auth == nil {
		if n := peerErr; n != nil {
			e.Count.AuthFailures++
			e.fail(sa, fmt.Sprintf("peer rejected IKE_AUTH with %s: check the PSK or certificates and both identities (we sent ID %s, expect peer ID %s)",
				n.NotifyType, conn.LocalID, conn.RemoteID))
			return
		}
		e.fail(sa, "IKE_AUTH response lacks IDr or AUTH")
		return
	}
	peerID := policy.Identity{Type: idr.IDType, Data: idr.Data}
	var err error
	if !conn.RemoteID.Matches(peerID) {
		err = fmt.Errorf("peer identity %s does not match remote_id %s of connection %q", peerID, conn.RemoteID, conn.Name)
	} else {
		err = e.verifyAuth(now, sa, conn, idr, auth, peerCerts(inner), sa.octets(false, idr))
	}
	if err != nil {
		e.Count.AuthFailures++
		// Tell the peer (RFC 7296 2.21.2), then forget the SA.
		if raw, serr := e.seal(sa, isakmp.ExchangeInformational, sa.nextMsgID, false,
			[]isakmp.Payload{&isakmp.Notify{NotifyType: isakmp.NotifyAuthenticationFailed}}); serr == nil {
			sa.nextMsgID++
			for _, r := range raw {
				e.Emit(sa.local, sa.remote, r)
			}
		}
		e.fail(sa, "authentication failed: "+err.Error())
		return
	}
	if ec := sa.hs.eapc; ec != nil {
		ec.idr, ec.peerID = idr, peerID
		e.eapClientStep(now, sa, inner)
		return
	}
	e.initiatorEstablished(now, sa, peerID, inner)
}

// initiatorEstablished completes our IKE_AUTH: the IKE SA is up, the
// configuration (CFG_REPLY) taken and the first CHILD SA installed.
func (e *Engine) initiatorEstablished(now time.Time, sa *ikeSA, peerID policy.Identity, inner []isakmp.Payload) {
	e.established(now, sa, peerID)
	e.Effect(sa.upEffect(false, false))
	if sa.conn.VirtualIP {
		e.clientConfig(sa, inner)
	}
	e.completeChild(now, sa, sa.hs.pendingChild, nil, inner)
	for i := range sa.hs.morePairs {
		e.sendRequest(now, sa, queued{what: queueNewChild, conn: sa.conn, pair: &sa.hs.morePairs[i]})
	}
	sa.hs = nil // IKE_AUTH is over: only the long-lived state stays
}

func (e *Engine) established(now time.Time, sa *ikeSA, peerID policy.Identity) {
	sa.state = stateEstablished
	sa.Since = now
	sa.DPD = dpd.New(sa.conn.DPDDelay, sa.conn.DPDTimeout, now, 0)
	if sa.nat.Keepalives() {
		sa.NextKeepalive = now.Add(e.Cfg.NATKeepalive)
	}
	sa.RekeyAt = now.Add(e.rekeyDelay(sa, sa.conn.IKELifetime, defaultIKELifetime))
	// A copy: peerID.Data may point into the decrypted IKE_AUTH message,
	// which would otherwise stay in memory with the SA.
	peerID.Data = slices.Clone(peerID.Data)
	sa.peerID = peerID
	if sa.ownerName == "" { // a rekeyed SA's successor keeps its own
		sa.ownerName = sa.owner()
	}
	if sa.halfOpen != nil {
		delete(e.halfOpen, sa.halfOpen.key)
		sa.halfOpen = nil
	}
	e.Count.Established++
	sa.log(e).Info("IKE SA established", zap.String("ike", sa.chosen.String()),
		zap.Stringer("local_id", sa.conn.LocalID), zap.Stringer("remote_id", peerID), zap.Bool("initiator", sa.initiator),
		zap.Bool("nat", sa.nat.Any()))
}

// respondAuth handles the initiator's IKE_AUTH request: with AUTH (PSK
// or certificate), or without it to authenticate with EAP (ra.go), or the
// next message of an EAP conversation.
func (e *Engine) respondAuth(now time.Time, sa *ikeSA, d isakmp.Datagram, msg *isakmp.Message, inner []isakmp.Payload) {
	id := msg.Header.MessageID
	if sa.state != stateInitDone {
		e.Drop("IKE_AUTH on an IKE SA that is not waiting for it", d, nil)
		return
	}
	e.notePrivateNotifies(sa, isakmp.ExchangeIKEAuth, inner, false)
	if sa.hs.auth != nil {
		e.continueEAP(now, sa, d, id, inner)
		return
	}
	sa.peerCertReq = find[*isakmp.CertReq](inner) != nil
	idi := findID(inner, isakmp.PayloadIDi)
	if idi == nil {
		e.respond(sa, d, isakmp.ExchangeIKEAuth, id, []isakmp.Payload{&isakmp.Notify{NotifyType: isakmp.NotifyInvalidSyntax}})
		e.fail(sa, "IKE_AUTH request lacks IDi")
		return
	}
	auth := find[*isakmp.Auth](inner)
	idr := findID(inner, isakmp.PayloadIDr)
	peerID := policy.Identity{Type: idi.IDType, Data: idi.Data}
	another := auth != nil && isakmp.FindNotify(inner, isakmp.NotifyAnotherAuthFollows) != nil
	conn, why := e.selectAuthConn(sa, d, peerID, idr, auth, another)
	if conn == nil {
		e.authFailed(sa, d, id, fmt.Sprintf("no connection accepts peer identity %s: %s", peerID, why))
		return
	}
	if auth == nil {
		e.startEAP(now, sa, d, id, conn, idi, inner)
		return
	}
	if err := e.verifyAuth(now, sa, conn, idi, auth, peerCerts(inner), sa.octets(true, idi)); err != nil {
		e.authFailed(sa, d, id, err.Error())
		return
	}
	if another {
		e.firstAuthRound(sa, d, id, conn, peerID, inner)
		return
	}
	ridr := idPayload(isakmp.PayloadIDr, conn.LocalID)
	ps := []isakmp.Payload{ridr}
	ps = append(ps, certPayloads(conn, sa.peerCertReq)...)
	myAuth, err := e.makeAuth(sa, conn, sa.octets(false, ridr))
	if err != nil {
		e.authFailed(sa, d, id, err.Error())
		return
	}
	e.clientAuthenticated(now, sa, d, id, conn, peerID, inner, append(ps, myAuth))
}

// selectAuthConn picks the connection for an authenticating initiator:
// one of the candidates for its addresses whose remote_id accepts its
// identity, whose local_id is the IDr it asked for (if any) and whose
// authentication method is the one it used. The connection chosen at
// IKE_SA_INIT is preferred. why lists what each candidate lacked.
//
// With another (ANOTHER_AUTH_FOLLOWS, RFC 4739) the peer authenticated
// with its certificate and EAP follows: the connection must take EAP and
// have the CAs for the certificate.
func (e *Engine) selectAuthConn(sa *ikeSA, d isakmp.Datagram, peerID policy.Identity, idr *isakmp.ID, auth *isakmp.Auth, another bool) (*policy.Connection, string) {
	cands := e.Cfg.DB.Candidates(d.Local.Addr(), d.Remote.Addr(), policy.IKEv2)
	ordered := append([]*policy.Connection{sa.conn}, cands...)
	used := policy.RemoteAuthPubkey // how the peer authenticates
	switch {
	case auth == nil:
		used = "eap"
	case auth.Method == oakley.AuthSharedKeyMIC:
		used = policy.RemoteAuthPSK
	}
	var reasons []string
	seen := map[*policy.Connection]bool{}
	for _, c := range ordered {
		if seen[c] {
			continue
		}
		seen[c] = true
		switch {
		case !c.RemoteID.Matches(peerID):
			reasons = append(reasons, fmt.Sprintf("%q expects remote_id %s", c.Name, c.RemoteID))
		case idr != nil && !c.LocalID.Equal(policy.Identity{Type: idr.IDType, Data: idr.Data}):
			reasons = append(reasons, fmt.Sprintf("%q has local_id %s but the peer asked for %s", c.Name, c.LocalID,
				policy.Identity{Type: idr.IDType, Data: idr.Data}))
		case another && (used != policy.RemoteAuthPubkey || !isEAP(peerMethod(c)) || c.CAs == nil):
			reasons = append(reasons, fmt.Sprintf("%q does not take a certificate followed by EAP (RFC 4739: remote_auth = \"eap-...\" and ca)", c.Name))
		case !another && used == "eap" && !isEAP(peerMethod(c)):
			reasons = append(reasons, fmt.Sprintf("%q authenticates clients with %s but the peer asked for EAP (no AUTH payload)", c.Name, peerMethod(c)))
		case !another && used != "eap" && peerMethod(c) != used:
			reasons = append(reasons, fmt.Sprintf("%q authenticates clients with %s but the peer used AUTH method %d", c.Name, peerMethod(c), auth.Method))
		default:
			if _, ok := oakley.Select(c.IKE, []oakley.Proposal{sa.chosen}, oakley.MatchOptions{}); !ok && c != sa.conn {
				reasons = append(reasons, fmt.Sprintf("%q does not accept IKE proposal %s", c.Name, sa.chosen))
				continue
			}
			return c, ""
		}
	}
	return nil, strings.Join(reasons, "; ")
}
