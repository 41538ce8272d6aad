package ikev1

import (
	"bytes"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"net/netip"
	"time"

	"go.uber.org/zap"

	"ikegate/dpd"
	"ikegate/internal/engine"
	"ikegate/internal/vendorid"
	"ikegate/isakmp"
	"ikegate/natt"
	"ikegate/oakley"
	"ikegate/policy"
)

const (
	nonceLen      = 32
	phase1Timeout = 30 * time.Second
	// unprovenTimeout is how long an Aggressive Mode responder SA waits
	// for message 3: a real initiator answers within its round trip, or
	// within one retransmission of message 1 if our answer was lost.
	unprovenTimeout = 6 * time.Second
	// unprovenTimeoutPressure replaces it while many are half-open: a
	// flood's SAs then cost memory for 2 s, not 6.
	unprovenTimeoutPressure = 2 * time.Second
)

type natTVariant uint8

const (
	natTNone natTVariant = iota
	natTDraft
	natTRFC
)

func (v natTVariant) String() string {
	switch v {
	case natTDraft:
		return "draft-ietf-ipsec-nat-t-ike"
	case natTRFC:
		return "RFC 3947"
	}
	return "none"
}

// natRFCAllowed and natDraftsAllowed report whether nat_ikev1_method
// method lets NAT traversal use RFC 3947, or the drafts.
func natRFCAllowed(method string) bool {
	return method != policy.NATMethodDrafts && method != policy.NATMethodNone
}

func natDraftsAllowed(method string) bool {
	return method != policy.NATMethodRFC && method != policy.NATMethodNone
}

// ourVIDs are the vendor IDs we send in the first message of each side; a
// responder for remote-access clients (conn has xauth or a pool)
// announces XAUTH and Cisco Unity as Cisco concentrators do.
func ourVIDs(peer natTVariant, responder bool, conn *policy.Connection) []isakmp.V1Payload {
	vids := []isakmp.V1Payload{&isakmp.V1VendorID{Data: VIDDPD}, &isakmp.V1VendorID{Data: VIDFragmentation}}
	if responder && (conn.XAuth != policy.XAuthNone || conn.Pool != "") {
		vids = append(vids, &isakmp.V1VendorID{Data: VIDXAUTH}, &isakmp.V1VendorID{Data: VIDCiscoUnity})
	}
	method := conn.NATIKEv1Method
	switch {
	case !responder:
		if natRFCAllowed(method) {
			vids = append(vids, &isakmp.V1VendorID{Data: VIDNATTRFC3947})
		}
		if natDraftsAllowed(method) {
			vids = append(vids,
				&isakmp.V1VendorID{Data: VIDNATTDraft03},
				&isakmp.V1VendorID{Data: VIDNATTDraft02n},
				&isakmp.V1VendorID{Data: VIDNATTDraft02})
		}
	case peer == natTRFC:
		vids = append(vids, &isakmp.V1VendorID{Data: VIDNATTRFC3947})
	case peer == natTDraft:
		vids = append(vids, &isakmp.V1VendorID{Data: VIDNATTDraft02n})
	}
	return vids
}

// readVIDs records what the peer's vendor IDs announce.
func (e *Engine) readVIDs(sa *p1SA, ps []isakmp.V1Payload) {
	for _, p := range ps {
		v, ok := p.(*isakmp.V1VendorID)
		if !ok {
			continue
		}
		sa.peerVIDs = append(sa.peerVIDs, v.Data)
		method := ""
		if sa.conn != nil {
			method = sa.conn.NATIKEv1Method
		}
		switch {
		case bytes.Equal(v.Data, VIDNATTRFC3947):
			if natRFCAllowed(method) {
				sa.natT = natTRFC
			}
		case bytes.Equal(v.Data, VIDNATTDraft02), bytes.Equal(v.Data, VIDNATTDraft02n), bytes.Equal(v.Data, VIDNATTDraft03):
			if sa.natT == natTNone && natDraftsAllowed(method) {
				sa.natT = natTDraft
			}
		case bytes.Equal(v.Data, VIDDPD):
			sa.peerDPD = true
		case vendorid.FragmentationCapable(v.Data):
			sa.peerFrags = true
		}
	}
	if p := vendorid.Product(sa.peerVIDs); p != "" {
		sa.product = p
	}
}

func idPayload(id policy.Identity) *isakmp.V1ID {
	return &isakmp.V1ID{IDType: id.Type, Data: id.Data}
}

// natdPayloads are our NAT-D payloads: the peer's address first, then ours.
func (sa *p1SA) natdPayloads(forceEncap bool) []isakmp.V1Payload {
	if sa.natT == natTNone || sa.hashID == 0 {
		return nil
	}
	draft := sa.natT == natTDraft
	own := natdHash(sa.hashID, sa.ckyI, sa.ckyR, sa.local)
	if forceEncap {
		// A made-up hash of our address: the peer believes we are behind
		// a NAT and UDP-encapsulates ESP (the userspace dataplane needs it).
		own = make([]byte, len(own))
		copy(own, sa.hs.ni)
		own[0] ^= 0x5a
	}
	return []isakmp.V1Payload{
		&isakmp.V1NATD{Draft: draft, Hash: natdHash(sa.hashID, sa.ckyI, sa.ckyR, sa.remote)},
		&isakmp.V1NATD{Draft: draft, Hash: own},
	}
}

// detectNAT compares the peer's NAT-D payloads with the addresses of d.
func (sa *p1SA) detectNAT(d isakmp.Datagram, ps []isakmp.V1Payload, forceEncap bool) {
	var hashes [][]byte
	for _, p := range ps {
		if n, ok := p.(*isakmp.V1NATD); ok {
			hashes = append(hashes, n.Hash)
		}
	}
	if len(hashes) < 2 || sa.hashID == 0 {
		return
	}
	// The first hash is of our address as the peer sees it; the others of
	// the peer's own addresses.
	det, ok := natt.DetectIKEv1(hashes[0], hashes[1:],
		natdHash(sa.hashID, sa.ckyI, sa.ckyR, d.Local), natdHash(sa.hashID, sa.ckyI, sa.ckyR, d.Remote))
	if ok {
		sa.nat = det
		if forceEncap {
			sa.nat.Force()
		}
	}
}

// reusableSA finds an established ISAKMP SA of conn that is not being
// replaced: Initiate (engine.Core) then runs only a Quick Mode on it.
func (e *Engine) reusableSA(conn *policy.Connection) (*p1SA, bool) {
	for _, sa := range e.sas {
		if sa.state == stateEstablished && sa.conn == conn && !sa.Rekeying {
			return sa, true
		}
	}
	return nil, false
}

func (e *Engine) initiatePhase1(now time.Time, conn *policy.Connection) error {
	transforms, err := phase1Transforms(conn)
	if err != nil {
		return fmt.Errorf("connection %q: %w", conn.Name, err)
	}
	sa := &p1SA{
		conn:       conn,
		initiator:  true,
		aggressive: conn.IKEv1Mode == "aggressive",
		local:      netip.AddrPortFrom(conn.LocalAddr, e.Cfg.IKEPort),
		remote:     netip.AddrPortFrom(conn.RemoteAddr, e.Cfg.IKEPort),
		expires:    now.Add(phase1Timeout),
		hs:         &handshake{},
	}
	sa.ckyI = e.cookie(true)
	if sa.aggressive {
		// Aggressive Mode sends KE at once: every transform must use the
		// first proposal's group.
		group, _ := conn.IKE[0].First(oakley.TransformDH)
		var same []isakmp.V1Transform
		for i, t := range transforms {
			if g, _ := conn.IKE[i].First(oakley.TransformDH); g.ID == group.ID {
				same = append(same, t)
			}
		}
		transforms = same
	}
	saP := &isakmp.V1SA{DOI: isakmp.V1DOIIPsec, Situation: isakmp.V1SitIdentityOnly,
		Proposals: []isakmp.V1Proposal{{Num: 1, ProtocolID: isakmp.V1ProtocolISAKMP, Transforms: transforms}}}
	sa.hs.saiB = isakmp.AppendV1Body(nil, saP)
	ps := []isakmp.V1Payload{saP}
	exchange := isakmp.ExchangeV1Main
	sa.state = stateMainI1
	if sa.aggressive {
		exchange = isakmp.ExchangeV1Aggressive
		sa.state = stateAggrI1
		group, _ := conn.IKE[0].First(oakley.TransformDH)
		if sa.hs.dh, err = oakley.NewKeyExchange(group.ID, e.Cfg.Rand); err != nil {
			return err
		}
		sa.hs.gxi = sa.hs.dh.PublicKey()
		sa.hs.ni = e.Random(nonceLen)
		id := idPayload(conn.LocalID)
		sa.hs.idiB = isakmp.AppendV1Body(nil, id)
		ps = append(ps, &isakmp.V1KE{Data: sa.hs.gxi}, &isakmp.V1Nonce{Data: sa.hs.ni}, id)
	}
	ps = append(ps, ourVIDs(natTNone, false, conn)...)
	e.sas[sa.ckyI] = sa
	sa.log(e).Info("initiating IKEv1 phase 1", zap.String("mode", exchange.String()), zap.String("ike", oakley.ProposalsString(conn.IKE)))
	e.sendP1(now, sa, e.plain(sa, exchange, ps), true)
	e.Schedule(sa)
	return nil
}

// plain marshals an unencrypted message.
func (e *Engine) plain(sa *p1SA, exchange isakmp.ExchangeType, ps []isakmp.V1Payload) []byte {
	m := isakmp.V1Message{Header: sa.header(exchange, 0, false), Payloads: ps}
	return m.Marshal()
}

// sendP1 sends a phase 1 message, remembering it to answer a retransmitted
// peer message; expectReply arms the retransmission timer.
func (e *Engine) sendP1(now time.Time, sa *p1SA, raw []byte, expectReply bool) {
	sa.lastSent = e.fragmentP1(sa, raw)
	sa.lastSentFor = sa.lastRecv
	sa.rtx = nil
	if expectReply {
		sa.rtx = e.Arm(now, sa.lastSent)
	}
	e.EmitAll(sa.local, sa.remote, sa.lastSent)
}

// notifyPlain sends an unprotected Informational notification (used before
// keys exist, e.g. NO-PROPOSAL-CHOSEN in answer to message 1).
func (e *Engine) notifyPlain(d isakmp.Datagram, ckyI, ckyR uint64, t isakmp.V1NotifyType) {
	m := isakmp.V1Message{Header: isakmp.Header{SPIi: ckyI, SPIr: ckyR, MajorVersion: 1,
		Exchange: isakmp.ExchangeV1Informational},
		Payloads: []isakmp.V1Payload{&isakmp.V1Notify{DOI: isakmp.V1DOIIPsec, ProtocolID: isakmp.V1ProtocolISAKMP,
			SPI: cookies(ckyI, ckyR), Type: t}}}
	e.Emit(d.Local, d.Remote, m.Marshal())
}

// respondPhase1 handles the first message of a Main or Aggressive Mode
// (flood.go says how neither costs much before the peer is proven).
func (e *Engine) respondPhase1(now time.Time, d isakmp.Datagram, msg *isakmp.V1Message) {
	h := msg.Header
	sa, chosenSA := e.newResponderSA(now, d, msg)
	if sa == nil {
		return
	}
	if !sa.aggressive {
		// Stateless: the answer is a function of message 1; message 1 is
		// kept (bounded) for message 3.
		sa.ckyR = e.mmCookie(sa.ckyI, d.Remote, d.Data)
		e.mm1.put(&mm1Entry{ckyI: sa.ckyI, ckyR: sa.ckyR, remote: d.Remote, msg: append([]byte(nil), d.Data...)})
		ps := append([]isakmp.V1Payload{chosenSA}, ourVIDs(sa.natT, true, sa.conn)...)
		e.EmitAll(d.Local, d.Remote, e.fragmentP1(sa, e.plain(sa, h.Exchange, ps)))
		return
	}
	if !e.fileHalfOpen(sa) {
		e.Drop("too many half-open ISAKMP SAs", d, nil)
		return
	}
	sa.ckyR = e.cookie(false)
	e.noteUnproven(sa)
	sa.expires = now.Add(unprovenTimeout)
	if e.underPressure() {
		// Many SAs nobody answered: most are spoofed. A real initiator
		// answers within its round trip, or sends message 1 again.
		sa.expires = now.Add(unprovenTimeoutPressure)
	}
	e.aggrR1(now, d, msg, sa, chosenSA)
}

// mainMode3 takes a Main Mode message 3 for which no SA exists: the
// answer to a message 2 we sent statelessly. The SA is made now, from the
// message 1 we kept, and message 3 goes on to it.
func (e *Engine) mainMode3(now time.Time, d isakmp.Datagram, msg *isakmp.V1Message) bool {
	h := msg.Header
	en := e.mm1.take(h.SPIi)
	if en == nil || en.ckyR != h.SPIr || en.remote.Addr() != d.Remote.Addr() || en.msg == nil {
		if en != nil && en.ckyR != h.SPIr {
			e.mm1.put(en) // not its answer: keep it for the real one
		}
		return false
	}
	m1, err := isakmp.ParseV1Message(en.msg)
	if err != nil {
		if m1 = parsePadded(en.msg); m1 == nil {
			return false
		}
	}
	d1 := isakmp.Datagram{Local: d.Local, Remote: en.remote, Data: en.msg}
	sa, _ := e.newResponderSA(now, d1, m1)
	if sa == nil {
		return false
	}
	if !e.fileHalfOpen(sa) {
		return false
	}
	sa.ckyR, sa.state, sa.proven = en.ckyR, stateMainR2, true
	sa.remote = d.Remote
	return true
}

// newResponderSA chooses the connection and proposal for message 1 of a
// Main or Aggressive Mode and returns the SA it would make (not yet
// filed, no responder cookie) and our SA payload; nil when refused (the
// refusal is logged and answered).
func (e *Engine) newResponderSA(now time.Time, d isakmp.Datagram, msg *isakmp.V1Message) (*p1SA, *isakmp.V1SA) {
	h := msg.Header
	aggressive := h.Exchange == isakmp.ExchangeV1Aggressive
	log := engine.LogWith(e.Log, zap.Stringer("peer", d.Remote), zap.Stringer("exchange", h.Exchange))
	saP, _ := msg.Find(isakmp.V1PayloadSA).(*isakmp.V1SA)
	if saP == nil {
		e.Drop("first message without SA payload", d, nil)
		return nil, nil
	}
	var peerID policy.Identity
	if aggressive {
		id, _ := msg.Find(isakmp.V1PayloadID).(*isakmp.V1ID)
		if id == nil {
			e.Drop("Aggressive Mode without ID", d, nil)
			return nil, nil
		}
		peerID = policy.Identity{Type: id.IDType, Data: id.Data}
	}
	var conn, decoy *policy.Connection
	var offer phase1Offer
	var why []string
	idKnown := false
	for _, c := range e.Cfg.DB.Candidates(d.Local.Addr(), d.Remote.Addr(), policy.IKEv1) {
		if (c.IKEv1Mode == "aggressive") != aggressive {
			why = append(why, fmt.Sprintf("%q uses ikev1_mode %q", c.Name, modeName(c)))
			continue
		}
		if aggressive && !c.RemoteID.Matches(peerID) {
			why = append(why, fmt.Sprintf("%q expects remote_id %s, peer is %s", c.Name, c.RemoteID, peerID))
			if decoy == nil && c.Auth == policy.AuthPSK {
				decoy = c
			}
			continue
		}
		idKnown = true
		o, miss, ok := selectPhase1(c, saP)
		if !ok {
			why = append(why, fmt.Sprintf("%q: %s", c.Name, miss))
			continue
		}
		conn, offer = c, o
		break
	}
	decoyKey := false
	if conn == nil && aggressive && !idKnown && decoy != nil {
		// An unknown group name must not be told apart from a known one
		// (group enumeration): answer exactly as the first PSK group
		// would, down to retransmissions and repeats, but with a random
		// key, so nothing in the answer can be cracked offline and
		// message 3 fails like a wrong PSK.
		if o, _, ok := selectPhase1(decoy, saP); ok {
			if ce := log.Check(zap.DebugLevel, "Aggressive Mode for an unknown identity: decoy answer"); ce != nil {
				ce.Write(zap.Stringer("peer_id", peerID))
			}
			conn, offer, decoyKey = decoy, o, true
		}
	}
	if conn == nil {
		if len(why) == 0 {
			why = append(why, "no IKEv1 connection has remote_addr "+d.Remote.Addr().String()+" (or %any)")
		}
		e.Unauthenticated(now, "no proposal chosen", d.Remote.Addr(), func() {
			log.Warn("no proposal chosen: " + joinReasons(why))
		})
		e.notifyPlain(d, h.SPIi, 0, isakmp.V1NotifyNoProposalChosen)
		return nil, nil
	}
	raws, _, err := isakmp.SplitV1Payloads(msg.NextV1(), d.Data[isakmp.HeaderLen:msg.Header.Length])
	if err != nil {
		e.Drop("payload chain", d, err)
		return nil, nil
	}
	sa := &p1SA{
		conn:       conn,
		aggressive: aggressive,
		ckyI:       h.SPIi,
		local:      d.Local,
		remote:     d.Remote,
		chosen:     offer.prop,
		hashID:     offer.hash,
		auth:       offer.auth,
		lifetime:   offer.lifetime,
		hs:         &handshake{saiB: append([]byte(nil), rawBody(raws, isakmp.V1PayloadSA)...)},
		expires:    now.Add(phase1Timeout),
	}
	if decoyKey {
		sa.decoyPSK = e.Random(32)
	}
	sa.lastRecv = sumOf(d.Data)
	e.readVIDs(sa, msg.Payloads)
	chosenSA := &isakmp.V1SA{DOI: isakmp.V1DOIIPsec, Situation: isakmp.V1SitIdentityOnly,
		Proposals: []isakmp.V1Proposal{{Num: saP.Proposals[0].Num, ProtocolID: isakmp.V1ProtocolISAKMP,
			Transforms: []isakmp.V1Transform{offer.wire}}}}
	if aggressive {
		sa.peerID = peerID
		sa.hs.idiB = append([]byte(nil), rawBody(raws, isakmp.V1PayloadID)...)
	}
	return sa, chosenSA
}

// aggrR1 answers Aggressive Mode message 1 on sa (filed, half-open) with
// message 2: SA, KE, Nr, IDr and HASH_R (or SIG). It is not retransmitted:
// the initiator retransmits message 1, whose answer we repeat.
func (e *Engine) aggrR1(now time.Time, d isakmp.Datagram, msg *isakmp.V1Message, sa *p1SA, chosenSA *isakmp.V1SA) {
	h := msg.Header
	conn := sa.conn
	// Aggressive Mode: KE, nonce and identity came with the SA.
	ke, _ := msg.Find(isakmp.V1PayloadKE).(*isakmp.V1KE)
	nonce, _ := msg.Find(isakmp.V1PayloadNonce).(*isakmp.V1Nonce)
	if ke == nil || nonce == nil {
		e.fail(sa, "Aggressive Mode message 1 lacks KE or nonce")
		return
	}
	sa.hs.gxi, sa.hs.ni = ke.Data, nonce.Data
	sa.hs.certAsked = msg.Find(isakmp.V1PayloadCR) != nil
	if err := e.startResponderKeys(now, sa); err != nil {
		e.notifyPlain(d, sa.ckyI, sa.ckyR, isakmp.V1NotifyInvalidKeyInformation)
		e.fail(sa, err.Error())
		return
	}
	id := idPayload(conn.LocalID)
	sa.hs.idrB = isakmp.AppendV1Body(nil, id)
	proof, err := e.proof(sa, e.hashR(sa))
	if err != nil {
		e.notifyPlain(d, sa.ckyI, sa.ckyR, isakmp.V1NotifyAuthenticationFailed)
		e.fail(sa, err.Error())
		return
	}
	ps := append([]isakmp.V1Payload{chosenSA, &isakmp.V1KE{Data: sa.hs.gxr}, &isakmp.V1Nonce{Data: sa.hs.nr}, id}, proof...)
	ps = append(ps, sa.natdPayloads(e.Cfg.ForceEncap)...)
	ps = append(ps, ourVIDs(sa.natT, true, conn)...)
	sa.state = stateAggrR2
	e.sendP1(now, sa, e.plain(sa, h.Exchange, ps), false)
	e.Schedule(sa)
}

func modeName(c *policy.Connection) string {
	if c.IKEv1Mode == "" {
		return "main"
	}
	return c.IKEv1Mode
}

func joinReasons(rs []string) string {
	s := ""
	for i, r := range rs {
		if i > 0 {
			s += "; "
		}
		s += r
	}
	return s
}

// computeKeys runs the DH exchange (making our KE if we have none yet) and
// derives SKEYID and its children (RFC 2409 5).
func (e *Engine) computeKeys(sa *p1SA) error {
	group, _ := sa.chosen.First(oakley.TransformDH)
	if sa.hs.dh == nil {
		dh, err := oakley.NewKeyExchange(group.ID, e.Cfg.Rand)
		if err != nil {
			return err
		}
		sa.hs.dh = dh
		if sa.initiator {
			sa.hs.gxi = dh.PublicKey()
		} else {
			sa.hs.gxr = dh.PublicKey()
			sa.hs.nr = e.Random(nonceLen)
		}
	}
	peerKE := sa.hs.gxr
	if !sa.initiator {
		peerKE = sa.hs.gxi
	}
	gxy, err := sa.hs.dh.SharedSecret(peerKE)
	if err != nil {
		return fmt.Errorf("peer's KE payload is invalid: %w", err)
	}
	prfT, _ := sa.chosen.First(oakley.TransformPRF)
	prf, err := oakley.NewPRF(prfT.ID)
	if err != nil {
		return err
	}
	var skeyid []byte
	if baseAuth(sa.auth) == oakley.V1AuthPSK {
		skeyid = oakley.V1SKEYIDPSK(prf, sa.psk(), sa.hs.ni, sa.hs.nr)
	} else {
		skeyid = oakley.V1SKEYIDSig(prf, sa.hs.ni, sa.hs.nr, gxy)
	}
	k := oakley.V1DeriveKeys(prf, skeyid, gxy, sa.ckyI, sa.ckyR)
	encr, _ := sa.chosen.First(oakley.TransformENCR)
	keyLen, err := oakley.V1EncrKeyLen(encr)
	if err != nil {
		return err
	}
	encKey := oakley.V1EncKey(prf, k.SKEYIDe, keyLen)
	cipher, err := oakley.NewV1Cipher(encr, encKey)
	if err != nil {
		return err
	}
	if e.Cfg.KeyLog != nil {
		e.Cfg.KeyLog(policy.ExportedKeys{Version: 1, SPIi: sa.ckyI, SPIr: sa.ckyR, Encr: encr, EncI: encKey})
	}
	sa.keys = &p1Keys{prf: prf, skeyid: skeyid, d: k.SKEYIDd, a: k.SKEYIDa, enc: encKey, cipher: cipher,
		iv: oakley.V1PhaseOneIV(sa.hashID, sa.hs.gxi, sa.hs.gxr, cipher.BlockSize())}
	return nil
}

func (e *Engine) hashI(sa *p1SA) []byte {
	return oakley.V1HashI(sa.keys.prf, sa.keys.skeyid, sa.hs.gxi, sa.hs.gxr, sa.ckyI, sa.ckyR, sa.hs.saiB, sa.hs.idiB)
}

func (e *Engine) hashR(sa *p1SA) []byte {
	return oakley.V1HashR(sa.keys.prf, sa.keys.skeyid, sa.hs.gxr, sa.hs.gxi, sa.ckyR, sa.ckyI, sa.hs.saiB, sa.hs.idrB)
}

// phase1Message advances Main or Aggressive Mode with the peer's next
// message.
func (e *Engine) phase1Message(now time.Time, sa *p1SA, d isakmp.Datagram, msg *isakmp.V1Message, sum [32]byte) {
	if sa.state == stateEstablished {
		e.Drop("phase 1 message after phase 1 completed", d, nil)
		return
	}
	if !sa.initiator && !sa.proven {
		sa.proven = true // it answered us at its address
		sa.expires = now.Add(phase1Timeout)
	}
	if err := e.finishKeys(sa); err != nil {
		e.notifyPlain(d, sa.ckyI, sa.ckyR, isakmp.V1NotifyInvalidKeyInformation)
		e.fail(sa, err.Error())
		return
	}
	var ps []isakmp.V1Payload
	var raws []isakmp.V1RawPayload
	if msg.Encrypted != nil {
		if sa.keys == nil {
			e.Drop("encrypted phase 1 message before keys exist", d, nil)
			return
		}
		var next []byte
		var err error
		ps, raws, _, next, err = sa.open(msg, sa.keys.iv)
		if err != nil {
			sa.log(e).Warn("cannot decrypt phase 1 message: " + err.Error())
			e.Count.AuthFailures++
			e.notifyPlain(d, sa.ckyI, sa.ckyR, isakmp.V1NotifyPayloadMalformed)
			e.fail(sa, "authentication failed: "+err.Error())
			return
		}
		sa.keys.iv = next
	} else {
		ps = msg.Payloads
		var err error
		if raws, _, err = isakmp.SplitV1Payloads(msg.NextV1(), d.Data[isakmp.HeaderLen:msg.Header.Length]); err != nil {
			e.Drop("payload chain", d, err)
			return
		}
	}
	if n := firstErrorNotify(ps); n != nil {
		e.refused(sa, n)
		return
	}
	sa.lastRecv = sum
	sa.rtx = nil
	switch {
	case sa.state == stateMainI1:
		e.mainI2(now, sa, d, msg, ps)
	case sa.state == stateMainI3:
		e.mainI4(now, sa, d, ps)
	case sa.state == stateMainI5:
		e.mainI6(now, sa, d, ps, raws)
	case sa.state == stateMainR2:
		e.mainR3(now, sa, d, ps)
	case sa.state == stateMainR4:
		e.mainR5(now, sa, d, ps, raws)
	case sa.state == stateAggrI1:
		e.aggrI2(now, sa, d, msg, ps, raws)
	case sa.state == stateAggrR2:
		e.aggrR3(now, sa, d, ps)
	default:
		e.Drop("unexpected phase 1 message", d, nil)
	}
}

// refused handles an unprotected error notification n that ends phase 1
// of sa: the SA fails, unless we initiated a connection that is kept up
// (engine.KeepUp). The notification is unauthenticated (anyone can send
// it), and a peer that is starting up refuses until its configuration is
// loaded: such an SA goes on retransmitting, and when the schedule runs
// out it is retried.
func (e *Engine) refused(sa *p1SA, n *isakmp.V1Notify) {
	why := fmt.Sprintf("peer sent %s; we proposed %s", n.Type, oakley.ProposalsString(sa.conn.IKE))
	if hint := authRefusalHint(sa, n.Type); hint != "" {
		e.Count.AuthFailures++
		why = fmt.Sprintf("peer sent %s after our %s: %s", n.Type, lastPhase1Message(sa), hint)
	}
	if sa.initiator && engine.KeepUp(sa.conn) {
		sa.log(e).Warn("phase 1 refused: " + why + "; retransmitting (the connection is kept up)")
		return
	}
	e.fail(sa, why)
}

// authRefusalHint explains an error notification that answers our
// encrypted, authenticating phase 1 message (Main Mode 5, Aggressive Mode
// 3 as responder's peer sees it: after message 2 of ours as initiator):
// the peer could not decrypt or verify it. "" for other refusals.
func authRefusalHint(sa *p1SA, t isakmp.V1NotifyType) string {
	if !sa.initiator || (sa.state != stateMainI5 && !sa.aggressive) {
		return ""
	}
	switch t {
	case isakmp.V1NotifyPayloadMalformed, isakmp.V1NotifyInvalidPayloadType, isakmp.V1NotifyInvalidHashInformation,
		isakmp.V1NotifyAuthenticationFailed:
		if baseAuth(sa.auth) == oakley.V1AuthPSK {
			return fmt.Sprintf("it could not decrypt or verify our identity and HASH: the pre-shared keys of connection %q probably differ "+
				"(or the peer expects another identity than our local_id %s)", sa.conn.Name, sa.conn.LocalID)
		}
	case isakmp.V1NotifyInvalidSignature, isakmp.V1NotifyInvalidCertificate:
	default:
		return ""
	}
	return fmt.Sprintf("it did not accept our certificate or signature (local_id %s, cert %s): check that it trusts our CA and expects this identity",
		sa.conn.LocalID, certSubject(sa.conn))
}

// lastPhase1Message names our last phase 1 message for explanations.
func lastPhase1Message(sa *p1SA) string {
	if sa.aggressive {
		return "Aggressive Mode message"
	}
	return "Main Mode message 5"
}

func certSubject(c *policy.Connection) string {
	if c.Cert == nil {
		return "none"
	}
	return c.Cert.Subject.String()
}

func firstErrorNotify(ps []isakmp.V1Payload) *isakmp.V1Notify {
	for _, p := range ps {
		if n, ok := p.(*isakmp.V1Notify); ok && n.Type < 8192 {
			return n
		}
	}
	return nil
}

// acceptChosen checks the responder's single chosen transform against ours.
func (e *Engine) acceptChosen(sa *p1SA, msg *isakmp.V1Message) bool {
	saP, _ := msg.Find(isakmp.V1PayloadSA).(*isakmp.V1SA)
	if saP == nil || len(saP.Proposals) != 1 || len(saP.Proposals[0].Transforms) != 1 {
		e.fail(sa, "responder's SA payload does not hold exactly one transform")
		return false
	}
	o := readPhase1Transform(saP.Proposals[0].Transforms[0])
	if o.err != nil || o.auth != offeredAuth(sa.conn) {
		e.fail(sa, "responder chose a transform we did not offer")
		return false
	}
	if _, ok := oakley.Select(sa.conn.IKE, []oakley.Proposal{o.prop}, oakley.MatchOptions{}); !ok {
		e.fail(sa, "responder chose a transform we did not offer: "+o.prop.String())
		return false
	}
	sa.chosen, sa.auth, sa.lifetime = o.prop, o.auth, o.lifetime
	sa.hashID = o.hash
	return true
}

// mainI2: MM2 received; send MM3 (KE, Ni, NAT-D).
func (e *Engine) mainI2(now time.Time, sa *p1SA, d isakmp.Datagram, msg *isakmp.V1Message, ps []isakmp.V1Payload) {
	sa.ckyR = msg.Header.SPIr
	if sa.ckyR == 0 || !e.acceptChosen(sa, msg) {
		if sa.state != stateGone {
			e.fail(sa, "responder cookie is zero")
		}
		return
	}
	e.readVIDs(sa, ps)
	group, _ := sa.chosen.First(oakley.TransformDH)
	dh, err := oakley.NewKeyExchange(group.ID, e.Cfg.Rand)
	if err != nil {
		e.fail(sa, err.Error())
		return
	}
	sa.hs.dh, sa.hs.gxi, sa.hs.ni = dh, dh.PublicKey(), e.Random(nonceLen)
	out := []isakmp.V1Payload{&isakmp.V1KE{Data: sa.hs.gxi}, &isakmp.V1Nonce{Data: sa.hs.ni}}
	out = append(out, certRequests(sa.conn)...)
	out = append(out, sa.natdPayloads(e.Cfg.ForceEncap)...)
	sa.state = stateMainI3
	e.sendP1(now, sa, e.plain(sa, isakmp.ExchangeV1Main, out), true)
}

// keNonce returns the KE and nonce data of a phase 1 message, and whether
// it has both.
func keNonce(ps []isakmp.V1Payload) (ke, nonce []byte, ok bool) {
	k, _ := isakmp.FindV1(ps, isakmp.V1PayloadKE).(*isakmp.V1KE)
	n, _ := isakmp.FindV1(ps, isakmp.V1PayloadNonce).(*isakmp.V1Nonce)
	if k == nil || n == nil {
		return nil, nil, false
	}
	return k.Data, n.Data, true
}

// mainR3: MM3 received; send MM4 (KE, Nr, NAT-D).
func (e *Engine) mainR3(now time.Time, sa *p1SA, d isakmp.Datagram, ps []isakmp.V1Payload) {
	ke, nonce, ok := keNonce(ps)
	if !ok {
		e.fail(sa, "Main Mode message 3 lacks KE or nonce")
		return
	}
	sa.hs.gxi, sa.hs.ni = ke, nonce
	sa.hs.certAsked = isakmp.FindV1(ps, isakmp.V1PayloadCR) != nil
	if err := e.computeKeys(sa); err != nil {
		e.notifyPlain(d, sa.ckyI, sa.ckyR, isakmp.V1NotifyInvalidKeyInformation)
		e.fail(sa, err.Error())
		return
	}
	sa.detectNAT(d, ps, e.Cfg.ForceEncap)
	out := []isakmp.V1Payload{&isakmp.V1KE{Data: sa.hs.gxr}, &isakmp.V1Nonce{Data: sa.hs.nr}}
	out = append(out, certRequests(sa.conn)...)
	out = append(out, sa.natdPayloads(e.Cfg.ForceEncap)...)
	sa.state = stateMainR4
	e.sendP1(now, sa, e.plain(sa, isakmp.ExchangeV1Main, out), true)
}

// mainI4: MM4 received; send MM5 (IDii, HASH_I), encrypted.
func (e *Engine) mainI4(now time.Time, sa *p1SA, d isakmp.Datagram, ps []isakmp.V1Payload) {
	ke, nonce, ok := keNonce(ps)
	if !ok {
		e.fail(sa, "Main Mode message 4 lacks KE or nonce")
		return
	}
	sa.hs.gxr, sa.hs.nr = ke, nonce
	sa.hs.certAsked = isakmp.FindV1(ps, isakmp.V1PayloadCR) != nil
	if err := e.computeKeys(sa); err != nil {
		e.fail(sa, err.Error())
		return
	}
	sa.detectNAT(d, ps, e.Cfg.ForceEncap)
	e.floatIfNAT(sa)
	id := idPayload(sa.conn.LocalID)
	sa.hs.idiB = isakmp.AppendV1Body(nil, id)
	proof, err := e.proof(sa, e.hashI(sa))
	if err != nil {
		e.fail(sa, err.Error())
		return
	}
	out := append([]isakmp.V1Payload{id}, proof...)
	if e.firstContact(sa) {
		out = append(out, &isakmp.V1Notify{DOI: isakmp.V1DOIIPsec, ProtocolID: isakmp.V1ProtocolISAKMP,
			SPI: cookies(sa.ckyI, sa.ckyR), Type: isakmp.V1NotifyInitialContact})
	}
	sa.state = stateMainI5
	e.sendP1(now, sa, sa.sealP1(isakmp.ExchangeV1Main, out), true)
}

// floatIfNAT moves IKE to the NAT-T port once a NAT is detected (RFC 3947 4).
func (e *Engine) floatIfNAT(sa *p1SA) {
	if sa.nat.Any() && sa.local.Port() != e.Cfg.NATTPort {
		sa.local = netip.AddrPortFrom(sa.local.Addr(), e.Cfg.NATTPort)
		sa.remote = netip.AddrPortFrom(sa.remote.Addr(), e.Cfg.NATTPort)
		sa.log(e).Info("NAT detected; moving to the NAT-T port",
			zap.Bool("local_behind_nat", sa.nat.LocalBehindNAT), zap.Bool("peer_behind_nat", sa.nat.PeerBehindNAT))
	}
}

// proof is our authentication payloads over HASH_I or HASH_R: the HASH
// itself with a pre-shared key, or our certificate and the signature of
// the hash with RSA signatures (RFC 2409 5.1).
func (e *Engine) proof(sa *p1SA, hash []byte) ([]isakmp.V1Payload, error) {
	if baseAuth(sa.auth) == oakley.V1AuthPSK {
		return []isakmp.V1Payload{&isakmp.V1Hash{Data: hash}}, nil
	}
	conn := sa.conn
	key, ok := conn.Key.(*rsa.PrivateKey)
	if !ok || conn.Cert == nil {
		return nil, fmt.Errorf("connection %q: IKEv1 signature authentication needs an RSA certificate and key", conn.Name)
	}
	// IKEv1 signs the bare hash with PKCS#1 v1.5 padding, no DigestInfo.
	sig, err := rsa.SignPKCS1v15(e.Cfg.Rand, key, 0, hash)
	if err != nil {
		return nil, fmt.Errorf("signing: %w", err)
	}
	var ps []isakmp.V1Payload
	if conn.SendsCert(sa.hs.certAsked) {
		ps = append(ps, &isakmp.V1Cert{Encoding: certX509Signature, Data: conn.Cert.Raw})
		for _, c := range conn.CertChain {
			ps = append(ps, &isakmp.V1Cert{Encoding: certX509Signature, Data: c.Raw})
		}
	}
	return append(ps, &isakmp.V1Sig{Data: sig}), nil
}

// Certificate encoding "X.509 Certificate - Signature" (RFC 2408 3.9).
const certX509Signature uint8 = 4

// certRequests asks the peer for a certificate from each of our CAs.
func certRequests(conn *policy.Connection) []isakmp.V1Payload {
	if conn.Auth != policy.AuthPubkey {
		return nil
	}
	if len(conn.CACerts) == 0 {
		return []isakmp.V1Payload{&isakmp.V1CertReq{Encoding: certX509Signature}}
	}
	var ps []isakmp.V1Payload
	for _, ca := range conn.CACerts {
		ps = append(ps, &isakmp.V1CertReq{Encoding: certX509Signature, Data: ca.RawSubject})
	}
	return ps
}

// checkPeer verifies the peer's identity and its HASH or signature over
// want and, on failure, tells the peer and removes the SA. It reports
// whether the peer is authentic.
func (e *Engine) checkPeer(now time.Time, sa *p1SA, id *isakmp.V1ID, ps []isakmp.V1Payload, want []byte) bool {
	if id == nil {
		e.fail(sa, "peer's identity message lacks an ID payload")
		return false
	}
	peerID := policy.Identity{Type: id.IDType, Data: id.Data}
	reject := func(t isakmp.V1NotifyType, why string) bool {
		e.Count.AuthFailures++
		e.sendNotify(sa, t, nil)
		if sa.initiator != sa.aggressive {
			// The peer sent its last phase 1 message (MM6, or AM3) and
			// holds an ESTABLISHED ISAKMP SA; strongSwan and Libreswan
			// keep it on the notification alone. Delete it.
			e.sendInfo(sa, []isakmp.V1Payload{&isakmp.V1Delete{DOI: isakmp.V1DOIIPsec, ProtocolID: isakmp.V1ProtocolISAKMP,
				SPISize: 16, SPIs: [][]byte{cookies(sa.ckyI, sa.ckyR)}}})
		}
		e.fail(sa, "authentication failed: "+why)
		return false
	}
	if sa.decoyPSK != nil {
		// Fail as a wrong PSK would: the notify says nothing more.
		return reject(isakmp.V1NotifyInvalidHashInformation, "its HASH cannot verify")
	}
	if !sa.conn.RemoteID.Matches(peerID) {
		return reject(isakmp.V1NotifyInvalidIDInformation, fmt.Sprintf("peer identity %s does not match remote_id %s of connection %q",
			peerID, sa.conn.RemoteID, sa.conn.Name))
	}
	if baseAuth(sa.auth) == oakley.V1AuthPSK {
		hash, _ := isakmp.FindV1(ps, isakmp.V1PayloadHASH).(*isakmp.V1Hash)
		if hash == nil || !hmac.Equal(hash.Data, want) {
			return reject(isakmp.V1NotifyInvalidHashInformation, fmt.Sprintf(
				"peer's HASH does not verify with the pre-shared key of connection %q: the PSKs differ", sa.conn.Name))
		}
		sa.peerID = peerID
		return true
	}
	sig, _ := isakmp.FindV1(ps, isakmp.V1PayloadSIG).(*isakmp.V1Sig)
	var certs [][]byte
	for _, p := range ps {
		if c, ok := p.(*isakmp.V1Cert); ok && c.Encoding == certX509Signature {
			certs = append(certs, c.Data)
		}
	}
	if sig == nil || len(certs) == 0 {
		return reject(isakmp.V1NotifyAuthenticationFailed, "peer sent no certificate or no signature")
	}
	leaf, err := policy.VerifyPeerCert(certs, sa.conn.CAs, now)
	if err != nil {
		return reject(isakmp.V1NotifyInvalidCertificate, "peer certificate not trusted: "+err.Error())
	}
	if err := policy.CertMatchesIdentity(leaf, peerID); err != nil {
		return reject(isakmp.V1NotifyInvalidIDInformation, "peer identity: "+err.Error())
	}
	pub, ok := leaf.PublicKey.(*rsa.PublicKey)
	if !ok || rsa.VerifyPKCS1v15(pub, 0, want, sig.Data) != nil {
		return reject(isakmp.V1NotifyInvalidSignature, fmt.Sprintf("peer's signature does not verify with its certificate %s", leaf.Subject))
	}
	sa.peerID = peerID
	return true
}

// mainR5: MM5 received; verify HASH_I, send MM6 (IDir, HASH_R).
func (e *Engine) mainR5(now time.Time, sa *p1SA, d isakmp.Datagram, ps []isakmp.V1Payload, raws []isakmp.V1RawPayload) {
	id, _ := isakmp.FindV1(ps, isakmp.V1PayloadID).(*isakmp.V1ID)
	sa.hs.idiB = append([]byte(nil), rawBody(raws, isakmp.V1PayloadID)...)
	// The peer floated to the NAT-T port with this message.
	sa.local, sa.remote = d.Local, d.Remote
	if !e.checkPeer(now, sa, id, ps, e.hashI(sa)) {
		return
	}
	myID := idPayload(sa.conn.LocalID)
	sa.hs.idrB = isakmp.AppendV1Body(nil, myID)
	proof, err := e.proof(sa, e.hashR(sa))
	if err != nil {
		e.sendNotify(sa, isakmp.V1NotifyAuthenticationFailed, nil)
		e.fail(sa, err.Error())
		return
	}
	out := append([]isakmp.V1Payload{myID}, proof...)
	e.sendP1(now, sa, sa.sealP1(isakmp.ExchangeV1Main, out), false)
	e.established(now, sa, ps)
}

// mainI6: MM6 received; verify HASH_R; phase 1 done.
func (e *Engine) mainI6(now time.Time, sa *p1SA, d isakmp.Datagram, ps []isakmp.V1Payload, raws []isakmp.V1RawPayload) {
	id, _ := isakmp.FindV1(ps, isakmp.V1PayloadID).(*isakmp.V1ID)
	sa.hs.idrB = append([]byte(nil), rawBody(raws, isakmp.V1PayloadID)...)
	if !e.checkPeer(now, sa, id, ps, e.hashR(sa)) {
		return
	}
	e.established(now, sa, ps)
	if sa.ra == nil && !e.noQuick { // a remote-access client waits for XAUTH and its address
		e.startQuickMode(now, sa, sa.conn)
	}
}

// aggrI2: AM2 received; verify HASH_R, send AM3 (HASH_I), encrypted.
func (e *Engine) aggrI2(now time.Time, sa *p1SA, d isakmp.Datagram, msg *isakmp.V1Message, ps []isakmp.V1Payload, raws []isakmp.V1RawPayload) {
	sa.ckyR = msg.Header.SPIr
	if sa.ckyR == 0 || !e.acceptChosen(sa, msg) {
		if sa.state != stateGone {
			e.fail(sa, "responder cookie is zero")
		}
		return
	}
	e.readVIDs(sa, ps)
	ke, nonce, ok := keNonce(ps)
	if !ok {
		e.fail(sa, "Aggressive Mode message 2 lacks KE or nonce")
		return
	}
	if g, _ := sa.chosen.First(oakley.TransformDH); g.ID != sa.hs.dh.Group() {
		e.fail(sa, "responder chose another DH group than our KE")
		return
	}
	sa.hs.gxr, sa.hs.nr = ke, nonce
	sa.hs.certAsked = isakmp.FindV1(ps, isakmp.V1PayloadCR) != nil
	if err := e.computeKeys(sa); err != nil {
		e.fail(sa, err.Error())
		return
	}
	id, _ := isakmp.FindV1(ps, isakmp.V1PayloadID).(*isakmp.V1ID)
	sa.hs.idrB = append([]byte(nil), rawBody(raws, isakmp.V1PayloadID)...)
	if !e.checkPeer(now, sa, id, ps, e.hashR(sa)) {
		return
	}
	sa.detectNAT(d, ps, e.Cfg.ForceEncap)
	e.floatIfNAT(sa)
	out, err := e.proof(sa, e.hashI(sa))
	if err != nil {
		e.fail(sa, err.Error())
		return
	}
	out = append(out, sa.natdPayloads(e.Cfg.ForceEncap)...)
	if e.firstContact(sa) {
		out = append(out, &isakmp.V1Notify{DOI: isakmp.V1DOIIPsec, ProtocolID: isakmp.V1ProtocolISAKMP,
			SPI: cookies(sa.ckyI, sa.ckyR), Type: isakmp.V1NotifyInitialContact})
	}
	e.sendP1(now, sa, sa.sealP1(isakmp.ExchangeV1Aggressive, out), false)
	e.established(now, sa, ps)
	// A responder handles AM3 and a Quick Mode right behind it in any
	// order only if it queues (strongSwan drops such a Quick Mode and costs
	// us a retransmission): give AM3 a head start.
	if sa.ra == nil { // a remote-access client waits for XAUTH and its address
		sa.quickAt = now.Add(aggressiveQuickDelay)
	}
}

// aggressiveQuickDelay is how long after AM3 our Quick Mode waits.
const aggressiveQuickDelay = 50 * time.Millisecond

// aggrR3: AM3 received; verify HASH_I; phase 1 done.
func (e *Engine) aggrR3(now time.Time, sa *p1SA, d isakmp.Datagram, ps []isakmp.V1Payload) {
	id := &isakmp.V1ID{IDType: sa.peerID.Type, Data: sa.peerID.Data}
	sa.local, sa.remote = d.Local, d.Remote
	if !e.checkPeer(now, sa, id, ps, e.hashI(sa)) {
		return
	}
	sa.detectNAT(d, ps, e.Cfg.ForceEncap)
	e.established(now, sa, ps)
}

// established completes phase 1 and runs any Quick Mode held for it.
func (e *Engine) established(now time.Time, sa *p1SA, ps []isakmp.V1Payload) {
	e.leaveHalfOpen(sa)
	sa.state = stateEstablished
	sa.Since = now
	sa.rtx = nil
	sa.keys.p1Last = sa.keys.iv
	sa.expires = time.Time{}
	// The product is named (readVIDs); the vendor IDs point into the
	// first messages, which would stay in memory with the SA.
	sa.peerVIDs = nil
	if sa.nat.Keepalives() {
		sa.NextKeepalive = now.Add(e.Cfg.NATKeepalive)
	}
	sa.lifetime = bounded(sa.log(e), "ISAKMP SA", sa.lifetime, sa.conn.IKELifetime, defaultIKELifetime)
	sa.RekeyAt = now.Add(e.rekeyDelay(sa, sa.lifetime, defaultIKELifetime))
	if sa.peerDPD {
		sa.DPD = dpd.New(sa.conn.DPDDelay, sa.conn.DPDTimeout, now, binary.BigEndian.Uint32(e.Random(4))>>1)
	}
	e.Count.Established++
	sa.log(e).Info("IKEv1 phase 1 established", zap.String("ike", sa.chosen.String()),
		zap.Stringer("remote_id", sa.peerID), zap.Bool("initiator", sa.initiator),
		zap.Bool("aggressive", sa.aggressive), zap.String("peer_vendor", sa.product), zap.Bool("nat", sa.nat.Any()), zap.Stringer("nat_t", sa.natT))
	ic := isakmp.FindV1Notify(ps, isakmp.V1NotifyInitialContact) != nil
	if ic && sa.conn.Unique != policy.UniqueNever {
		e.InitialContact(now, sa) // here; the runtime does the other shards
	}
	renewal := e.renewing(sa)
	e.remoteAccessUp(now, sa)
	if sa.xauthServer() {
		sa.ra.upIC = ic // reported up when XAUTH names the user
	} else {
		e.Effect(sa.upEffect(renewal, ic))
	}
	held := sa.hs.held
	sa.hs = nil // phase 1 is over: only the long-lived state stays
	for _, d := range held {
		e.handle(now, d)
	}
	// Crossing renewals are settled once the Quick Modes that follow
	// phase 1 had their time (a peer's reauthentication may bring none).
	sa.crossCheckAt = now.Add(crossCheckDelay)
}

// firstContact reports whether sa is our only ISAKMP SA for its connection.
func (e *Engine) firstContact(sa *p1SA) bool {
	for _, o := range e.sas {
		if o != sa && o.conn == sa.conn && o.state == stateEstablished {
			return false
		}
	}
	return true
}

func sumOf(b []byte) [32]byte { return sha256.Sum256(b) }
