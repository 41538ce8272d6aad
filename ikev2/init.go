package ikev2

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"net/netip"
	"time"

	"go.uber.org/zap"

	"ikegate/internal/engine"
	"ikegate/isakmp"
	"ikegate/natt"
	"ikegate/oakley"
	"ikegate/policy"
)

const nonceLen = 32

// InitiateNew starts a new IKE SA for conn even when one exists: a load
// generator built from the initiator engine uses it.
func (e *Engine) InitiateNew(now time.Time, conn *policy.Connection) (engine.Output, error) {
	if err := e.initiateIKE(now, conn); err != nil {
		return engine.Output{}, err
	}
	return e.Flush(), nil
}

// initiateIKE starts a new IKE SA for conn.
func (e *Engine) initiateIKE(now time.Time, conn *policy.Connection) error {
	group := firstDH(conn.IKE)
	dh, err := oakley.NewKeyExchange(group, e.Cfg.Rand)
	if err != nil {
		return fmt.Errorf("connection %q: %w", conn.Name, err)
	}
	sa := &ikeSA{
		conn:      conn,
		initiator: true,
		state:     stateInitSent,
		local:     netip.AddrPortFrom(conn.LocalAddr, e.Cfg.IKEPort),
		remote:    netip.AddrPortFrom(conn.RemoteAddr, e.Cfg.IKEPort),
		hs:        &handshake{dh: dh, nonceI: e.Random(nonceLen)},
	}
	sa.spiI = e.randomSPI()
	e.sas[sa.spiI] = sa
	sa.log(e).Info("initiating IKE SA", zap.String("ike", oakley.ProposalsString(conn.IKE)))
	e.startRequest(now, sa, e.initRequest(sa))
	e.Schedule(sa)
	return nil
}

// reusableSA finds an established IKE SA of ours that can carry another
// CHILD SA for conn: same peer, same identities, same authentication.
// (Initiate, engine.Core, negotiates conn's CHILD SA with CREATE_CHILD_SA
// on it.)
func (e *Engine) reusableSA(conn *policy.Connection) (*ikeSA, bool) {
	for _, sa := range e.sas {
		if !sa.usable() || sa.remote.Addr() != conn.RemoteAddr {
			continue
		}
		c := sa.conn
		if c == conn || (c.LocalAddr == conn.LocalAddr && c.Auth == conn.Auth &&
			c.LocalID.Equal(conn.LocalID) && conn.RemoteID.Matches(sa.peerID)) {
			return sa, true
		}
	}
	return nil, false
}

// initRequest builds the IKE_SA_INIT request (message ID 0).
func (e *Engine) initRequest(sa *ikeSA) *request {
	var ps []isakmp.Payload
	if sa.hs.cookie != nil {
		ps = append(ps, &isakmp.Notify{NotifyType: isakmp.NotifyCookie, Data: sa.hs.cookie})
	}
	ps = append(ps,
		&isakmp.SA{Proposals: toWire(sa.conn.IKE, protoIKE, nil, false)},
		&isakmp.KE{Group: sa.hs.dh.Group(), Data: sa.hs.dh.PublicKey()},
		&isakmp.Nonce{Data: sa.hs.nonceI})
	ps = append(ps, e.natDetection(sa.spiI, 0, sa.local, sa.remote)...)
	ps = append(ps,
		&isakmp.Notify{NotifyType: isakmp.NotifyIKEv2FragmentationSupported},
		&isakmp.Notify{NotifyType: isakmp.NotifySignatureHashAlgorithms, Data: hashList(oakley.SupportedSignatureHashes())},
	)
	ps = append(ps, e.vendorPayloads()...)
	m := isakmp.Message{Header: sa.header(isakmp.ExchangeIKESAInit, 0, false), Payloads: ps}
	raw := m.Marshal()
	sa.hs.initReq = raw
	return &request{Retransmit: engine.Retransmit{Raw: [][]byte{raw}}, exchange: isakmp.ExchangeIKESAInit, msgID: 0, step: stepInit}
}

func hashList(hs []uint16) []byte {
	b := make([]byte, 2*len(hs))
	for i, h := range hs {
		binary.BigEndian.PutUint16(b[2*i:], h)
	}
	return b
}

// parseHashList reads a SIGNATURE_HASH_ALGORITHMS notify's list of
// 2-octet IDs (RFC 7427 4).
func parseHashList(b []byte) hashSet {
	var h hashSet
	for i := 0; i+1 < len(b); i += 2 {
		if id := binary.BigEndian.Uint16(b[i:]); id < 16 {
			h |= 1 << id
		}
	}
	return h
}

// initResponse handles the responder's answer to IKE_SA_INIT.
func (e *Engine) initResponse(now time.Time, sa *ikeSA, d isakmp.Datagram, msg *isakmp.Message) {
	log := engine.LogWith(sa.log(e), zap.Stringer("exchange", isakmp.ExchangeIKESAInit))
	ps := msg.Payloads
	if n := isakmp.FindNotify(ps, isakmp.NotifyCookie); n != nil {
		if sa.hs.cookie != nil && string(sa.hs.cookie) == string(n.Data) {
			e.fail(sa, "responder repeated the same COOKIE")
			return
		}
		log.Debug("responder demands a cookie; retrying")
		sa.hs.cookie = append([]byte(nil), n.Data...)
		e.startRequest(now, sa, e.initRequest(sa))
		return
	}
	if n := isakmp.FindNotify(ps, isakmp.NotifyInvalidKEPayload); n != nil {
		if len(n.Data) != 2 {
			e.fail(sa, "INVALID_KE_PAYLOAD without a group")
			return
		}
		group := binary.BigEndian.Uint16(n.Data)
		if !offersDH(sa.conn.IKE, group) || group == sa.hs.dh.Group() || sa.hs.invalidKETries >= 2 {
			e.fail(sa, fmt.Sprintf("peer asked for DH group %s (INVALID_KE_PAYLOAD), which we did not propose: local proposals %s",
				oakley.Transform{Type: oakley.TransformDH, ID: group}, oakley.ProposalsString(sa.conn.IKE)))
			return
		}
		dh, err := oakley.NewKeyExchange(group, e.Cfg.Rand)
		if err != nil {
			e.fail(sa, err.Error())
			return
		}
		log.Info("peer requested another DH group; retrying",
			zap.Stringer("group", oakley.Transform{Type: oakley.TransformDH, ID: group}))
		sa.hs.invalidKETries++
		sa.hs.dh = dh
		e.startRequest(now, sa, e.initRequest(sa))
		return
	}
	if n := peerError(ps); n != nil {
		e.fail(sa, fmt.Sprintf("peer rejected IKE_SA_INIT with %s; we proposed %s", n.NotifyType, oakley.ProposalsString(sa.conn.IKE)))
		return
	}
	if msg.Header.SPIr == 0 {
		e.fail(sa, "IKE_SA_INIT response without responder SPI")
		return
	}
	saP := find[*isakmp.SA](ps)
	ke := find[*isakmp.KE](ps)
	nonce := find[*isakmp.Nonce](ps)
	if saP == nil || ke == nil || nonce == nil {
		e.fail(sa, "IKE_SA_INIT response lacks SA, KE or Nonce")
		return
	}
	peerProps, _ := fromWire(saP.Proposals, protoIKE)
	if len(peerProps) != 1 {
		e.fail(sa, fmt.Sprintf("responder returned %d IKE proposals, want exactly one", len(peerProps)))
		return
	}
	sel, ok := oakley.Select(sa.conn.IKE, peerProps, oakley.MatchOptions{})
	if !ok || len(sel.Chosen.Transforms) != len(peerProps[0].Transforms) {
		e.fail(sa, "responder chose a proposal we did not offer: "+peerProps[0].String())
		return
	}
	if g, _ := sel.Chosen.First(oakley.TransformDH); g.ID != ke.Group || ke.Group != sa.hs.dh.Group() {
		e.fail(sa, fmt.Sprintf("responder's KE group %d does not match the chosen proposal", ke.Group))
		return
	}
	if len(nonce.Data) < 16 || len(nonce.Data) > 256 {
		e.fail(sa, fmt.Sprintf("responder nonce of %d bytes", len(nonce.Data)))
		return
	}
	gir, err := sa.hs.dh.SharedSecret(ke.Data)
	if err != nil {
		e.fail(sa, "responder's KE payload is invalid: "+err.Error())
		return
	}
	sa.spiR = msg.Header.SPIr
	sa.chosen = sel.Chosen
	sa.hs.nonceR = append([]byte(nil), nonce.Data...)
	sa.hs.initResp = append([]byte(nil), d.Data...)
	sa.peerMsgID = 0
	sa.nextMsgID = 1
	e.readCapabilities(sa, ps)
	e.detectNAT(sa, d, ps, false)
	if err := e.deriveIKEKeys(sa, gir, nil); err != nil {
		e.fail(sa, err.Error())
		return
	}
	sa.hs.dh = nil
	if sa.nat.Any() {
		sa.local = netip.AddrPortFrom(sa.local.Addr(), e.Cfg.NATTPort)
		sa.remote = netip.AddrPortFrom(sa.remote.Addr(), e.Cfg.NATTPort)
		log.Info("NAT detected; moving to the NAT-T port",
			zap.Bool("local_behind_nat", sa.nat.LocalBehindNAT), zap.Bool("peer_behind_nat", sa.nat.PeerBehindNAT))
	}
	sa.state = stateAuthSent
	e.startRequest(now, sa, e.authRequest(now, sa))
}

func (e *Engine) readCapabilities(sa *ikeSA, ps []isakmp.Payload) {
	if n := isakmp.FindNotify(ps, isakmp.NotifySignatureHashAlgorithms); n != nil {
		sa.peerHashes = parseHashList(n.Data)
	}
	sa.peerFragments = isakmp.FindNotify(ps, isakmp.NotifyIKEv2FragmentationSupported) != nil
	sa.peerCertReq = find[*isakmp.CertReq](ps) != nil // a responder's, in IKE_SA_INIT
	e.readVendor(sa, ps)
}

// detectNAT compares the peer's NAT detection hashes with the addresses
// of d. The hashes in an IKE_SA_INIT request were computed with SPIr
// zero; later ones (MOBIKE, full) with both SPIs.
func (e *Engine) detectNAT(sa *ikeSA, d isakmp.Datagram, ps []isakmp.Payload, full bool) {
	spir := sa.spiR
	if !sa.initiator && !full {
		spir = 0
	}
	var src [][]byte
	var dst []byte
	for _, p := range ps {
		if n, ok := p.(*isakmp.Notify); ok {
			switch n.NotifyType {
			case isakmp.NotifyNATDetectionSourceIP:
				src = append(src, n.Data)
			case isakmp.NotifyNATDetectionDestinationIP:
				dst = n.Data
			}
		}
	}
	if det, ok := natt.DetectIKEv2(sa.spiI, spir, d.Local, d.Remote, src, dst); ok {
		sa.nat = det
		if e.Cfg.ForceEncap {
			sa.nat.Force()
		}
	}
}

// sourceHash is our NAT_DETECTION_SOURCE_IP: the real hash, or a made-up
// one with ForceEncap so that the peer believes we are behind a NAT.
func (e *Engine) sourceHash(spii, spir uint64, local netip.AddrPort) []byte {
	if e.Cfg.ForceEncap {
		return e.Random(20)
	}
	return natt.IKEv2Hash(spii, spir, local)
}

// deriveIKEKeys computes SKEYSEED and the IKE SA keys (RFC 7296 2.14); for
// a rekeyed SA (old non-nil) SKEYSEED comes from the old SA's SK_d and
// PRF (2.18).
func (e *Engine) deriveIKEKeys(sa *ikeSA, gir []byte, old *ikeKeys) error {
	encr, _ := sa.chosen.First(oakley.TransformENCR)
	prfT, _ := sa.chosen.First(oakley.TransformPRF)
	integ, hasInteg := sa.chosen.First(oakley.TransformINTEG)
	if !hasInteg {
		integ.ID = oakley.IntegNone
	}
	prf, err := oakley.NewPRF(prfT.ID)
	if err != nil {
		return err
	}
	encLen, err := oakley.EncrKeyLen(encr)
	if err != nil {
		return err
	}
	integLen, err := oakley.IntegKeyLen(integ.ID)
	if err != nil {
		return err
	}
	skeyseed := oakley.SKEYSEED(prf, sa.hs.nonceI, sa.hs.nonceR, gir)
	if old != nil {
		skeyseed = oakley.RekeySKEYSEED(old.prf, old.sk().SKd, gir, sa.hs.nonceI, sa.hs.nonceR)
	}
	k := oakley.DeriveIKEKeys(prf, skeyseed, sa.hs.nonceI, sa.hs.nonceR, sa.spiI, sa.spiR, encLen, integLen)
	if e.Cfg.KeyLog != nil {
		e.Cfg.KeyLog(policy.ExportedKeys{Version: 2, SPIi: sa.spiI, SPIr: sa.spiR, Encr: encr, Integ: integ.ID,
			EncI: k.SKei, EncR: k.SKer, IntegI: k.SKai, IntegR: k.SKar})
	}
	ci, err := oakley.NewSKCipher(encr, integ.ID, k.SKei, k.SKai)
	if err != nil {
		return err
	}
	cr, err := oakley.NewSKCipher(encr, integ.ID, k.SKer, k.SKar)
	if err != nil {
		return err
	}
	keys := newIKEKeys(prf, k, cr, ci)
	if !sa.initiator {
		keys.in, keys.out = ci, cr
	}
	sa.keys = keys
	return nil
}

// fail ends an IKE SA that could not be established and logs why.
func (e *Engine) fail(sa *ikeSA, why string) {
	sa.log(e).Warn("IKE SA failed: " + why)
	if sa.initiator && sa.conn != nil {
		e.NoteFailure(sa.conn.Name, why)
	}
	e.destroy(sa, why)
}

// cookieFor computes the COOKIE a responder demands (RFC 7296 2.6).
func (e *Engine) cookieFor(ni []byte, peer netip.AddrPort, spiI uint64) []byte {
	m := hmac.New(sha256.New, e.cookieKey[:])
	m.Write(ni)
	a := peer.Addr().As16()
	m.Write(a[:])
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], spiI)
	m.Write(b[:])
	return append([]byte{0}, m.Sum(nil)...)
}

// respondInit answers an IKE_SA_INIT request that starts a new IKE SA.
func (e *Engine) respondInit(now time.Time, d isakmp.Datagram, msg *isakmp.Message) {
	h := msg.Header
	ps := msg.Payloads
	log := engine.LogWith(e.Log, zap.Stringer("peer", d.Remote), zap.Stringer("exchange", isakmp.ExchangeIKESAInit),
		zap.String("spi_i", spiHex(h.SPIi)))
	if u := unsupportedCritical(ps); u != nil {
		e.plainReply(d, h, &isakmp.Notify{NotifyType: isakmp.NotifyUnsupportedCriticalPayload, Data: []byte{byte(u.PType)}})
		return
	}
	saP := find[*isakmp.SA](ps)
	ke := find[*isakmp.KE](ps)
	nonce := find[*isakmp.Nonce](ps)
	if saP == nil || ke == nil || nonce == nil || len(nonce.Data) < 16 || len(nonce.Data) > 256 {
		e.Drop("IKE_SA_INIT request lacks SA, KE or a valid Nonce", d, nil)
		return
	}
	// DoS protection comes before any DH work.
	if len(e.halfOpen) >= e.Cfg.CookieThreshold {
		want := e.cookieFor(nonce.Data, d.Remote, h.SPIi)
		if n := isakmp.FindNotify(ps, isakmp.NotifyCookie); n == nil || !hmac.Equal(n.Data, want) {
			e.Count.CookiesSent++
			e.plainReply(d, h, &isakmp.Notify{NotifyType: isakmp.NotifyCookie, Data: want})
			return
		}
	}
	cands := e.Cfg.DB.Candidates(d.Local.Addr(), d.Remote.Addr(), policy.IKEv2)
	if len(cands) == 0 {
		e.Unauthenticated(now, "IKE_SA_INIT from a peer no connection accepts", d.Remote.Addr(), func() {
			log.Warn("IKE_SA_INIT from a peer no connection accepts: no connection has remote_addr " +
				d.Remote.Addr().String() + " (or %any) with local_addr " + d.Local.Addr().String() + " and version ikev2/any")
		})
		e.plainReply(d, h, &isakmp.Notify{NotifyType: isakmp.NotifyNoProposalChosen})
		return
	}
	if e.redirect(now, d, h, ps, nonce.Data) {
		return
	}
	peerProps, peerWire := fromWire(saP.Proposals, protoIKE)
	var conn *policy.Connection
	var sel oakley.Selection
	for _, c := range cands {
		if s, ok := oakley.Select(c.IKE, peerProps, oakley.MatchOptions{}); ok {
			conn, sel = c, s
			break
		}
	}
	if conn == nil {
		e.Unauthenticated(now, "no proposal chosen", d.Remote.Addr(), func() {
			log.Warn("no proposal chosen: "+oakley.Explain(cands[0].IKE, peerProps, oakley.MatchOptions{}),
				zap.String("conn", cands[0].Name))
		})
		e.plainReply(d, h, &isakmp.Notify{NotifyType: isakmp.NotifyNoProposalChosen})
		return
	}
	group, _ := sel.Chosen.First(oakley.TransformDH)
	if ke.Group != group.ID {
		log.Info("peer's KE group differs from the chosen one; sending INVALID_KE_PAYLOAD",
			zap.String("conn", conn.Name), zap.Uint16("peer_group", ke.Group), zap.Stringer("want", group))
		var b [2]byte
		binary.BigEndian.PutUint16(b[:], group.ID)
		e.plainReply(d, h, &isakmp.Notify{NotifyType: isakmp.NotifyInvalidKEPayload, Data: b[:]})
		return
	}
	dh, err := oakley.NewKeyExchange(group.ID, e.Cfg.Rand)
	if err != nil {
		log.Error("key exchange", zap.Error(err))
		return
	}
	gir, err := dh.SharedSecret(ke.Data)
	if err != nil {
		log.Info("invalid KE payload from peer", zap.Error(err))
		e.plainReply(d, h, &isakmp.Notify{NotifyType: isakmp.NotifyInvalidSyntax})
		return
	}
	sa := &ikeSA{
		conn:      conn,
		initiator: false,
		spiI:      h.SPIi,
		state:     stateInitDone,
		local:     d.Local,
		remote:    d.Remote,
		hs: &handshake{nonceI: append([]byte(nil), nonce.Data...), nonceR: e.Random(nonceLen),
			initReq: append([]byte(nil), d.Data...)},
		chosen:    sel.Chosen,
		peerMsgID: 0,
	}
	sa.spiR = e.randomSPI()
	e.readCapabilities(sa, ps)
	e.detectNAT(sa, d, ps, false)
	if err := e.deriveIKEKeys(sa, gir, nil); err != nil {
		log.Error("key derivation", zap.Error(err))
		return
	}
	resp := []isakmp.Payload{
		&isakmp.SA{Proposals: []isakmp.Proposal{chosenToWire(sel.Chosen, peerWire[sel.PeerIndex].Num, protoIKE, nil)}},
		&isakmp.KE{Group: dh.Group(), Data: dh.PublicKey()},
		&isakmp.Nonce{Data: sa.hs.nonceR},
	}
	resp = append(resp, e.natDetection(sa.spiI, sa.spiR, d.Local, d.Remote)...)
	resp = append(resp,
		&isakmp.Notify{NotifyType: isakmp.NotifyIKEv2FragmentationSupported},
		&isakmp.Notify{NotifyType: isakmp.NotifySignatureHashAlgorithms, Data: hashList(oakley.SupportedSignatureHashes())})
	if e.multipleAuth(d) { // the responder's side of RFC 4739 3; the initiator says so in IKE_AUTH
		resp = append(resp, &isakmp.Notify{NotifyType: isakmp.NotifyMultipleAuthSupported})
	}
	if conn.Auth == policy.AuthPubkey {
		if cr := certReq(conn); cr != nil {
			resp = append(resp, cr)
		}
	}
	resp = append(resp, e.vendorPayloads()...)
	m := isakmp.Message{Header: sa.header(isakmp.ExchangeIKESAInit, 0, true), Payloads: resp}
	raw := m.Marshal()
	sa.hs.initResp = raw
	sa.lastResp = [][]byte{raw}
	sa.peerMsgID = 1
	sa.halfOpen = &halfOpenEntry{key: halfOpenKey{d.Remote, h.SPIi}, expires: now.Add(halfOpenTimeout)}
	e.sas[sa.spiR] = sa
	e.halfOpen[sa.halfOpen.key] = sa
	e.Emit(d.Local, d.Remote, raw)
	e.Schedule(sa)
	sa.log(e).Debug("IKE_SA_INIT answered", zap.String("ike", sel.Chosen.String()), zap.Bool("nat", sa.nat.Any()))
}

// plainReply answers an IKE_SA_INIT request without creating state.
func (e *Engine) plainReply(d isakmp.Datagram, req isakmp.Header, n *isakmp.Notify) {
	m := isakmp.Message{Header: isakmp.Header{
		SPIi: req.SPIi, MajorVersion: 2, Exchange: isakmp.ExchangeIKESAInit,
		Flags: isakmp.FlagResponse, MessageID: 0,
	}, Payloads: []isakmp.Payload{n}}
	e.Emit(d.Local, d.Remote, m.Marshal())
}
