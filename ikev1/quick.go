package ikev1

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"go.uber.org/zap"

	"ikegate/internal/engine"
	"ikegate/isakmp"
	"ikegate/oakley"
	"ikegate/policy"
)

const quickTimeout = 30 * time.Second

// quickMode is one Quick Mode exchange in progress.
type quickMode struct {
	msgID     uint32
	initiator bool
	conn      *policy.Connection
	iv        []byte
	ni, nr    []byte
	dh        oakley.KeyExchange
	gqm       []byte
	spiIn     uint32
	spiOut    uint32
	offer     phase2Offer
	localTS   []netip.Prefix
	remoteTS  []netip.Prefix
	lifetime  time.Duration
	lifeBytes uint64 // 0: no byte limit
	rtx       *engine.Retransmit
	lastRecv  [32]byte
	lastSent  [][]byte
	expires   time.Time
	replaces  *child            // the phase 2 SA this Quick Mode rekeys
	esp       []oakley.Proposal // initiator: the ESP proposals we offered (offeredESP)
}

// addQuick files q under its message ID. The map exists only while a
// Quick Mode is under way (dropQuick): an established ISAKMP SA with none
// carries no map (a Go map never shrinks).
func (sa *p1SA) addQuick(q *quickMode) {
	if sa.quick == nil {
		sa.quick = make(map[uint32]*quickMode, 1)
	}
	sa.quick[q.msgID] = q
}

// dropQuick forgets the Quick Mode with message ID id.
func (sa *p1SA) dropQuick(id uint32) {
	delete(sa.quick, id)
	if len(sa.quick) == 0 {
		sa.quick = nil
	}
}

func (e *Engine) newMsgID(sa *p1SA) uint32 {
	for {
		id := binary.BigEndian.Uint32(e.Random(4))
		if id != 0 && sa.quick[id] == nil {
			return id
		}
	}
}

func (sa *p1SA) phase2IV(msgID uint32) []byte {
	base := sa.keys.p1Last
	if base == nil {
		base = sa.keys.iv
	}
	return oakley.V1PhaseTwoIV(sa.hashID, base, msgID, sa.keys.cipher.BlockSize())
}

// encapMode is the Encapsulation Mode we propose: tunnel or transport,
// UDP-encapsulated behind a NAT in the RFC 3947 or draft numbering.
func (e *Engine) encapMode(sa *p1SA, transport bool) uint16 {
	switch {
	case !sa.nat.Any() && transport:
		return isakmp.V1EncapTransport
	case !sa.nat.Any():
		return isakmp.V1EncapTunnel
	case sa.natT == natTDraft && transport:
		return isakmp.V1EncapUDPTransportDraft
	case sa.natT == natTDraft:
		return isakmp.V1EncapUDPTunnelDraft
	case transport:
		return isakmp.V1EncapUDPTransport
	}
	return isakmp.V1EncapUDPTunnel
}

func clientID(p netip.Prefix) *isakmp.V1ID {
	p = p.Masked()
	var id isakmp.V1ID
	if p.Bits() == p.Addr().BitLen() {
		id = isakmp.NewV1IDAddr(p.Addr(), 0, 0)
	} else {
		id = isakmp.NewV1IDSubnet(p, 0, 0)
	}
	return &id
}

// idPrefixes reads a Quick Mode client ID (address, subnet or range) as
// the prefixes that cover it exactly.
func idPrefixes(id *isakmp.V1ID) ([]netip.Prefix, error) {
	switch id.IDType {
	case isakmp.V1IDIPv4Addr, isakmp.V1IDIPv6Addr, isakmp.V1IDIPv4AddrSubnet, isakmp.V1IDIPv6AddrSubnet:
		p, err := id.Prefix()
		return []netip.Prefix{p}, err
	case isakmp.V1IDIPv4AddrRange, isakmp.V1IDIPv6AddrRange:
		first, last, err := id.Range()
		if err != nil {
			return nil, err
		}
		if ps := policy.RangePrefixes(first, last); len(ps) > 0 {
			return ps, nil
		}
		return nil, fmt.Errorf("empty address range %s-%s", first, last)
	}
	return nil, fmt.Errorf("client ID type %s is not an address", isakmp.V1IDTypeName(id.IDType))
}

func hostPrefix(a netip.Addr) netip.Prefix {
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen())
}

func remoteTS(sa *p1SA, c *policy.Connection) []netip.Prefix {
	if !sa.initiator && sa.ra != nil && sa.ra.VIP.IsValid() {
		// A remote-access client protects its virtual address, nothing
		// else: no client can claim another's traffic.
		return []netip.Prefix{hostPrefix(sa.ra.VIP)}
	}
	if len(c.RemoteTS) == 0 {
		return []netip.Prefix{hostPrefix(sa.remote.Addr())}
	}
	return c.RemoteTS
}

func localTS(sa *p1SA, c *policy.Connection) []netip.Prefix {
	if sa.initiator && sa.ra != nil && sa.ra.VIP.IsValid() {
		return []netip.Prefix{hostPrefix(sa.ra.VIP)} // our virtual IP
	}
	if len(c.LocalTS) == 0 {
		return []netip.Prefix{hostPrefix(sa.local.Addr())}
	}
	return c.LocalTS
}

// startQuickMode sends QM1 for conn on an established ISAKMP SA.
func (e *Engine) startQuickMode(now time.Time, sa *p1SA, conn *policy.Connection) {
	// A Quick Mode carries one pair of client IDs: one per pair of
	// local_ts and remote_ts of the same address family (a crypto ACL of
	// several lines on a Cisco).
	for _, l := range localTS(sa, conn) {
		for _, r := range remoteTS(sa, conn) {
			if l.Addr().Is4() == r.Addr().Is4() {
				e.startQuickModeTS(now, sa, conn, []netip.Prefix{l}, []netip.Prefix{r}, nil)
			}
		}
	}
}

// startQuickModeFor sends QM1 for a phase 2 SA that replaces (rekeys) an
// installed one, which is deleted once the new one is installed.
func (e *Engine) startQuickModeFor(now time.Time, sa *p1SA, conn *policy.Connection, replaces *child) {
	e.startQuickModeTS(now, sa, conn, replaces.localTS, replaces.remoteTS, replaces)
}

// offeredESP is what a Quick Mode we initiate for conn proposes: conn's
// ESP proposals or, when it rekeys a phase 2 SA, engine.RekeyESP's.
func offeredESP(conn *policy.Connection, replaces *child) []oakley.Proposal {
	if replaces == nil {
		return conn.ESP
	}
	return engine.RekeyESP(conn, replaces.Chosen)
}

// startQuickModeTS sends QM1 for the client IDs local === remote.
func (e *Engine) startQuickModeTS(now time.Time, sa *p1SA, conn *policy.Connection, local, remote []netip.Prefix, replaces *child) {
	log := engine.LogWith(sa.log(e), zap.String("child", conn.Name))
	esp := offeredESP(conn, replaces)
	transforms, pfs, err := phase2Transforms(conn, esp, e.encapMode(sa, conn.Transport))
	if err != nil || len(transforms) == 0 {
		log.Warn("cannot propose Quick Mode", zap.Error(err))
		return
	}
	spi, err := e.Cfg.Installer.AllocSPI(sa.local.Addr(), sa.remote.Addr())
	if err != nil {
		log.Warn("allocating an inbound SPI failed", zap.Error(err))
		return
	}
	q := &quickMode{msgID: e.newMsgID(sa), initiator: true, conn: conn, spiIn: spi, ni: e.Random(nonceLen),
		localTS: local, remoteTS: remote, expires: now.Add(quickTimeout), replaces: replaces, esp: esp}
	rest := []isakmp.V1Payload{
		&isakmp.V1SA{DOI: isakmp.V1DOIIPsec, Situation: isakmp.V1SitIdentityOnly, Proposals: []isakmp.V1Proposal{{
			Num: 1, ProtocolID: isakmp.ProtocolESP, SPI: spi32(spi), Transforms: transforms}}},
		&isakmp.V1Nonce{Data: q.ni},
	}
	if pfs != 0 {
		if q.dh, err = oakley.NewKeyExchange(pfs, e.Cfg.Rand); err != nil {
			log.Warn("PFS key exchange", zap.Error(err))
			return
		}
		rest = append(rest, &isakmp.V1KE{Data: q.dh.PublicKey()})
	}
	rest = append(rest, clientID(q.localTS[0]), clientID(q.remoteTS[0]))
	rest = append(rest, sa.natOA(conn.Transport, sa.local.Addr(), sa.remote.Addr())...)
	ps := hashedPayloads(sa.keys.prf.Size(), rest, func(b []byte) []byte {
		return oakley.V1QMHash1(sa.keys.prf, sa.keys.a, q.msgID, b)
	})
	raw, next := sa.seal(isakmp.ExchangeV1Quick, q.msgID, sa.phase2IV(q.msgID), ps)
	q.iv = next
	q.lastSent = [][]byte{raw}
	q.rtx = e.Arm(now, q.lastSent)
	sa.addQuick(q)
	log.Info("Quick Mode initiated", zap.Uint32("msgid", q.msgID), zap.String("esp", oakley.ProposalsString(esp)),
		zap.String("local_ts", policy.JoinPrefixes(q.localTS)), zap.String("remote_ts", policy.JoinPrefixes(q.remoteTS)))
	e.Emit(sa.local, sa.remote, raw)
}

func spi32(spi uint32) []byte {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], spi)
	return b[:]
}

// quickMode handles a Quick Mode message on an established ISAKMP SA.
func (e *Engine) quickMode(now time.Time, sa *p1SA, d isakmp.Datagram, msg *isakmp.V1Message) {
	id := msg.Header.MessageID
	if id == 0 || msg.Encrypted == nil {
		e.Drop("Quick Mode without message ID or encryption", d, nil)
		return
	}
	q := sa.quick[id]
	sum := sumOf(d.Data)
	if q != nil && sum == q.lastRecv {
		if q.rtx == nil {
			for _, raw := range q.lastSent {
				e.Emit(d.Local, d.Remote, raw)
			}
		}
		return
	}
	iv := sa.phase2IV(id)
	if q != nil {
		iv = q.iv
	}
	ps, raws, plain, next, err := sa.open(msg, iv)
	if err != nil {
		e.Drop("Quick Mode does not decrypt", d, err)
		return
	}
	hash, rest, err := restAfterHash(raws, plain)
	if err != nil {
		e.Drop("Quick Mode without HASH", d, err)
		return
	}
	sa.DPD.Seen(now)
	sa.followPeer(d)
	switch {
	case q == nil:
		if !hmacEqual(hash, oakley.V1QMHash1(sa.keys.prf, sa.keys.a, id, rest)) {
			e.Drop("Quick Mode HASH(1) does not verify", d, nil)
			return
		}
		e.respondQuick(now, sa, d, id, ps, next, sum, msg.Header.Flags)
	case q.initiator && q.nr == nil:
		if !hmacEqual(hash, oakley.V1QMHash2(sa.keys.prf, sa.keys.a, id, q.ni, rest)) {
			e.Drop("Quick Mode HASH(2) does not verify", d, nil)
			return
		}
		q.iv, q.lastRecv, q.rtx = next, sum, nil
		e.quickI2(now, sa, q, ps)
	case !q.initiator:
		if !hmacEqual(hash, oakley.V1QMHash3(sa.keys.prf, sa.keys.a, id, q.ni, q.nr)) {
			e.Drop("Quick Mode HASH(3) does not verify", d, nil)
			return
		}
		q.rtx = nil
		sa.dropQuick(id)
		e.installQuick(sa, q)
	default:
		e.Drop("unexpected Quick Mode message", d, nil)
	}
}

// respondQuick handles QM1: choose a proposal and answer with QM2.
func (e *Engine) respondQuick(now time.Time, sa *p1SA, d isakmp.Datagram, id uint32, ps []isakmp.V1Payload, iv []byte, sum [32]byte, flags uint8) {
	log := engine.LogWith(sa.log(e), zap.Uint32("msgid", id))
	sa.reauth = false // the peer brings Quick Modes on it after all (resolveCrossing)
	saP, _ := isakmp.FindV1(ps, isakmp.V1PayloadSA).(*isakmp.V1SA)
	nonce, _ := isakmp.FindV1(ps, isakmp.V1PayloadNonce).(*isakmp.V1Nonce)
	ke, _ := isakmp.FindV1(ps, isakmp.V1PayloadKE).(*isakmp.V1KE)
	if saP == nil || nonce == nil {
		e.sendNotify(sa, isakmp.V1NotifyPayloadMalformed, nil)
		return
	}
	if flags&isakmp.V1FlagCommit != 0 {
		log.Debug("peer set the commit bit; the SA is installed on QM3 as usual")
	}
	var ids []*isakmp.V1ID
	for _, p := range ps {
		if v, ok := p.(*isakmp.V1ID); ok {
			ids = append(ids, v)
		}
	}
	peerLocal, ourLocal := []netip.Prefix{hostPrefix(sa.remote.Addr())}, []netip.Prefix{hostPrefix(sa.local.Addr())}
	if len(ids) == 2 {
		var err1, err2 error
		peerLocal, err1 = idPrefixes(ids[0])
		ourLocal, err2 = idPrefixes(ids[1])
		if err1 != nil || err2 != nil {
			log.Warn("Quick Mode: unsupported client IDs", zap.NamedError("idci", err1), zap.NamedError("idcr", err2))
			e.sendNotify(sa, isakmp.V1NotifyInvalidIDInformation, nil)
			return
		}
	}
	var offers []phase2Offer
	var props []oakley.Proposal
	for _, p := range saP.Proposals {
		if p.ProtocolID != isakmp.ProtocolESP || len(p.SPI) != 4 {
			continue
		}
		for _, t := range p.Transforms {
			o := readPhase2Transform(p, t)
			if o.err == nil {
				offers = append(offers, o)
				props = append(props, o.prop)
			}
		}
	}
	// PFS leniency: a client whose group names pfs_group may use that
	// group on a connection whose esp names none; other peers the groups
	// oakley.LenientPFSGroups (engine.SelectESP).
	var groups []uint16
	at := e.raClientAttrs(sa)
	if at != nil && at.PFSGroup != 0 {
		groups = []uint16{at.PFSGroup}
	}
	opt := oakley.MatchOptions{OptionalESN: true, IgnoreDH: ke == nil}
	var conn *policy.Connection
	var offer phase2Offer
	var lenient bool
	tsOK := false
	for _, c := range e.childConns(sa) {
		if !policy.Covered(peerLocal, remoteTS(sa, c)) || !policy.Covered(ourLocal, localTS(sa, c)) {
			continue
		}
		tsOK = true
		// Transport mode only where the connection asks for it; a tunnel
		// offer is fine either way (the IKEv2 rule as well).
		var usable []phase2Offer
		var usableProps []oakley.Proposal
		for _, o := range offers {
			if isTransport(o.encap) && !c.Transport {
				continue
			}
			usable, usableProps = append(usable, o), append(usableProps, o.prop)
		}
		sel, took, ok := engine.SelectESP(c, usableProps, opt, ke != nil, groups)
		if !ok {
			continue
		}
		conn, offer, lenient = c, usable[sel.PeerIndex], took
		break
	}
	if !tsOK {
		log.Warn(fmt.Sprintf("Quick Mode: client IDs %s === %s are outside local_ts %v / remote_ts %v of connection %q",
			peerLocal, ourLocal, localTS(sa, sa.conn), remoteTS(sa, sa.conn), sa.conn.Name))
		e.sendNotify(sa, isakmp.V1NotifyInvalidIDInformation, nil)
		return
	}
	if conn == nil {
		why := engine.ExplainESP(sa.conn, props, opt, ke != nil, groups)
		if at != nil && at.PFSGroup != 0 {
			why += fmt.Sprintf("; the client's group requires PFS with %s (pfs_group)", oakley.Transform{Type: oakley.TransformDH, ID: at.PFSGroup})
		}
		log.Warn("Quick Mode: no proposal chosen: " + why)
		e.sendNotify(sa, isakmp.V1NotifyNoProposalChosen, nil)
		return
	}
	if at != nil && at.PFSGroup != 0 {
		if g, _ := offer.prop.First(oakley.TransformDH); g.ID != at.PFSGroup || ke == nil {
			want := oakley.Transform{Type: oakley.TransformDH, ID: at.PFSGroup}
			log.Warn(fmt.Sprintf("Quick Mode: no proposal chosen: the client's group requires PFS with %s (pfs_group); it offered %s",
				want, offer.prop))
			e.sendNotify(sa, isakmp.V1NotifyNoProposalChosen, nil)
			return
		}
	}
	if lenient {
		g, _ := offer.prop.First(oakley.TransformDH)
		log.Info(fmt.Sprintf("Quick Mode: taking the peer's PFS offer with %s although esp names no DH group (pfs = \"lenient\")", g),
			zap.String("child", conn.Name))
	}
	q := &quickMode{msgID: id, conn: conn, ni: nonce.Data, nr: e.Random(nonceLen), offer: offer,
		spiOut: binary.BigEndian.Uint32(offer.spi), localTS: ourLocal, remoteTS: peerLocal,
		lifetime: offer.lifetime, lastRecv: sum, expires: now.Add(quickTimeout)}
	var err error
	rest := []isakmp.V1Payload{}
	if g, ok := offer.prop.First(oakley.TransformDH); ok && g.ID != oakley.DHNone {
		if ke == nil {
			e.sendNotify(sa, isakmp.V1NotifyInvalidKeyInformation, nil)
			return
		}
		if q.dh, err = oakley.NewKeyExchange(g.ID, e.Cfg.Rand); err == nil {
			q.gqm, err = q.dh.SharedSecret(ke.Data)
		}
		if err != nil {
			log.Warn("Quick Mode PFS", zap.Error(err))
			e.sendNotify(sa, isakmp.V1NotifyInvalidKeyInformation, nil)
			return
		}
	}
	if q.spiIn, err = e.Cfg.Installer.AllocSPI(sa.local.Addr(), sa.remote.Addr()); err != nil {
		log.Warn("allocating an inbound SPI failed", zap.Error(err))
		e.sendNotify(sa, isakmp.V1NotifyNoProposalChosen, nil)
		return
	}
	rest = append(rest,
		&isakmp.V1SA{DOI: isakmp.V1DOIIPsec, Situation: isakmp.V1SitIdentityOnly, Proposals: []isakmp.V1Proposal{{
			Num: offerNum(offer), ProtocolID: isakmp.ProtocolESP, SPI: spi32(q.spiIn), Transforms: []isakmp.V1Transform{offer.wire}}}},
		&isakmp.V1Nonce{Data: q.nr})
	if q.dh != nil {
		rest = append(rest, &isakmp.V1KE{Data: q.dh.PublicKey()})
	}
	for _, v := range ids {
		rest = append(rest, v)
	}
	rest = append(rest, sa.natOA(isTransport(offer.encap), sa.remote.Addr(), sa.local.Addr())...)
	// Where our lifetimes are shorter than the offer, say so (RFC 2407
	// 4.6.3.1) and use ours.
	life, bytes := bounded(log, "IPsec SA", q.lifetime, conn.ChildLifetime, time.Hour), shorter(offer.kilobytes*1024, conn.ChildLifetimeBytes)
	if life != q.lifetime || bytes != offer.kilobytes*1024 {
		q.lifetime, q.lifeBytes = life, bytes
		rest = append(rest, &isakmp.V1Notify{DOI: isakmp.V1DOIIPsec, ProtocolID: isakmp.ProtocolESP,
			SPI: spi32(q.spiIn), Type: isakmp.V1NotifyResponderLifetime,
			Data: isakmp.AppendAttributes(nil, lifetimeAttrs(life, bytes))})
	}
	q.lifeBytes = bytes
	out := hashedPayloads(sa.keys.prf.Size(), rest, func(b []byte) []byte {
		return oakley.V1QMHash2(sa.keys.prf, sa.keys.a, id, q.ni, b)
	})
	raw, next := sa.seal(isakmp.ExchangeV1Quick, id, iv, out)
	q.iv = next
	q.lastSent = [][]byte{raw}
	q.rtx = e.Arm(now, q.lastSent)
	sa.addQuick(q)
	e.Emit(sa.local, sa.remote, raw)
}

func offerNum(o phase2Offer) uint8 {
	if o.num == 0 {
		return 1
	}
	return o.num
}

// childConns lists connections a Quick Mode on sa may be for.
func (e *Engine) childConns(sa *p1SA) []*policy.Connection {
	out := []*policy.Connection{sa.conn}
	for _, c := range e.Cfg.DB.Candidates(sa.local.Addr(), sa.remote.Addr(), policy.IKEv1) {
		if c != sa.conn && c.Auth == sa.conn.Auth && c.RemoteID.Matches(sa.peerID) {
			out = append(out, c)
		}
	}
	return out
}

// quickI2 handles QM2: check the choice, send QM3, install.
func (e *Engine) quickI2(now time.Time, sa *p1SA, q *quickMode, ps []isakmp.V1Payload) {
	log := engine.LogWith(sa.log(e), zap.String("child", q.conn.Name), zap.Uint32("msgid", q.msgID))
	fail := func(why string) {
		sa.dropQuick(q.msgID)
		log.Warn("Quick Mode failed: " + why)
		sa.children = append(sa.children, &child{Child: engine.Child{Conn: q.conn, State: engine.ChildFailed, Err: why, SPIIn: q.spiIn},
			localTS: q.localTS, remoteTS: q.remoteTS})
	}
	saP, _ := isakmp.FindV1(ps, isakmp.V1PayloadSA).(*isakmp.V1SA)
	nonce, _ := isakmp.FindV1(ps, isakmp.V1PayloadNonce).(*isakmp.V1Nonce)
	if saP == nil || nonce == nil || len(saP.Proposals) != 1 || len(saP.Proposals[0].Transforms) != 1 || len(saP.Proposals[0].SPI) != 4 {
		fail("responder's QM2 lacks a single ESP proposal or nonce")
		return
	}
	o := readPhase2Transform(saP.Proposals[0], saP.Proposals[0].Transforms[0])
	ke, _ := isakmp.FindV1(ps, isakmp.V1PayloadKE).(*isakmp.V1KE)
	if _, ok := oakley.Select(q.esp, []oakley.Proposal{o.prop}, oakley.MatchOptions{OptionalESN: true}); o.err != nil || !ok {
		fail("responder chose an ESP transform we did not offer: " + o.prop.String())
		return
	}
	if q.dh != nil {
		if ke == nil {
			fail("responder did not answer our PFS key exchange")
			return
		}
		gqm, err := q.dh.SharedSecret(ke.Data)
		if err != nil {
			fail("responder's KE is invalid: " + err.Error())
			return
		}
		q.gqm = gqm
	}
	q.offer, q.nr = o, nonce.Data
	q.spiOut = binary.BigEndian.Uint32(saP.Proposals[0].SPI)
	q.lifetime = bounded(log, "IPsec SA", o.lifetime, q.conn.ChildLifetime, time.Hour)
	q.lifeBytes = shorter(o.kilobytes*1024, q.conn.ChildLifetimeBytes)
	for _, p := range ps {
		if n, ok := p.(*isakmp.V1Notify); ok && n.Type == isakmp.V1NotifyResponderLifetime {
			if secs, bytes, ok := responderLifetime(n.Data); ok {
				log.Info("peer set IPSEC RESPONDER-LIFETIME", zap.Duration("lifetime", secs), zap.Uint64("bytes", bytes))
				q.lifetime, q.lifeBytes = shorter(q.lifetime, secs), shorter(q.lifeBytes, bytes)
			}
		}
	}
	hash3 := &isakmp.V1Hash{Data: oakley.V1QMHash3(sa.keys.prf, sa.keys.a, q.msgID, q.ni, q.nr)}
	raw, _ := sa.seal(isakmp.ExchangeV1Quick, q.msgID, q.iv, []isakmp.V1Payload{hash3})
	q.lastSent = [][]byte{raw}
	q.expires = now.Add(quickTimeout) // kept to answer a retransmitted QM2
	e.Emit(sa.local, sa.remote, raw)
	e.installQuick(sa, q)
}

// responderLifetime reads the lifetimes (seconds and bytes, 0 where not
// given) from the attributes of a RESPONDER-LIFETIME notification (RFC
// 2407 4.6.3.1).
func responderLifetime(b []byte) (life time.Duration, bytes uint64, ok bool) {
	attrs, err := isakmp.ParseAttributes(b)
	if err != nil {
		return 0, 0, false
	}
	lifeType := uint64(0)
	for _, a := range attrs {
		v, err := a.Uint64()
		if err != nil {
			return 0, 0, false
		}
		switch a.Type {
		case isakmp.V1IPsecAttrLifeType:
			lifeType = v
		case isakmp.V1IPsecAttrLifeDuration:
			switch lifeType {
			case uint64(isakmp.V1LifeSeconds):
				life, ok = time.Duration(v)*time.Second, true
			case uint64(isakmp.V1LifeKilobytes):
				bytes, ok = v*1024, true
			}
		}
	}
	return life, bytes, ok
}

// installQuick derives KEYMAT for both directions (RFC 2409 5.5) and asks
// the runtime to install the SA pair (engine.Core.RequestInstall); the
// Quick Mode finishes in Installed.
func (e *Engine) installQuick(sa *p1SA, q *quickMode) {
	c := &child{Child: engine.Child{Conn: q.conn, SPIIn: q.spiIn, SPIOut: q.spiOut, Chosen: q.offer.prop},
		localTS: q.localTS, remoteTS: q.remoteTS}
	sa.children = append(sa.children, c)
	alg, err := engine.ChildAlgorithms(q.offer.prop)
	if err != nil {
		c.State, c.Err = engine.ChildFailed, err.Error()
		return
	}
	n := alg.EncLen + alg.IntegLen
	in := oakley.V1KeyMat(sa.keys.prf, sa.keys.d, q.gqm, isakmp.ProtocolESP, q.spiIn, q.ni, q.nr, n)
	out := oakley.V1KeyMat(sa.keys.prf, sa.keys.d, q.gqm, isakmp.ProtocolESP, q.spiOut, q.ni, q.nr, n)
	k := &policy.ChildSA{
		ConnName: q.conn.Name, Tunnel: !isTransport(q.offer.encap),
		Local: sa.local.Addr(), Remote: sa.remote.Addr(),
		SPIIn: q.spiIn, SPIOut: q.spiOut, Encr: alg.Encr, Integ: alg.Integ,
		EncKeyIn: in[:alg.EncLen], IntegKeyIn: in[alg.EncLen:], EncKeyOut: out[:alg.EncLen], IntegKeyOut: out[alg.EncLen:],
		LocalTS: q.localTS, RemoteTS: q.remoteTS,
		Lifetime: q.lifetime, LifetimeBytes: q.lifeBytes, Owner: sa.owner(),
		// The initiator sends Quick Mode's last message: the peer installs
		// the SA only once that arrives (strongSwan in another thread than
		// its ESP), so our packets stay on the SA this one replaces until
		// the peer's first packet on it.
		DeferOutbound: q.initiator,
	}
	switch q.offer.encap {
	case isakmp.V1EncapUDPTunnel, isakmp.V1EncapUDPTunnelDraft, isakmp.V1EncapUDPTransport, isakmp.V1EncapUDPTransportDraft:
		k.EncapLocalPort, k.EncapRemotePort = sa.local.Port(), sa.remote.Port()
	}
	e.Await(e.RequestInstall(&c.Child, k), installWait{sa: sa, c: c, replaces: q.replaces, initiator: q.initiator})
}

// waitKind says what an exchange step waits for.
type waitKind uint8

const (
	waitInstall waitKind = iota // the dataplane to install a phase 2 SA
	waitAuth                    // the user backend's verdict on XAUTH credentials
	waitLease                   // an address for Mode Config
)

// installWait is an exchange step waiting for an answer (Answered): a
// phase 2 SA for the dataplane (what its Quick Mode does once it is in),
// or an XAUTH verdict or lease (modecfg.go).
type installWait struct {
	kind      waitKind
	sa        *p1SA
	c         *child
	replaces  *child    // the phase 2 SA it renews: deleted once it is in
	initiator bool      // we initiated the Quick Mode
	restored  bool      // from an SA record, to be rekeyed at rekeyAt
	rekeyAt   time.Time // restored
}

// Answered takes the runtime's answer to effect id (the install of a
// CHILD SA: engine.EffectInstall) and finishes the Quick Mode that waited for it.
func (e *Engine) Answered(now time.Time, id uint64, r engine.Result) engine.Output {
	return e.Answer(id, func(w installWait) {
		switch w.kind {
		case waitAuth:
			e.authenticated(now, w.sa, r.Err)
		case waitLease:
			e.leased(now, w.sa, r.Leased, r.Err)
		default:
			e.installed(now, w, r.Err)
		}
		e.Schedule(w.sa)
	})
}

func (e *Engine) installed(now time.Time, w installWait, err error) {
	sa, c := w.sa, w.c
	rekeyAt := w.rekeyAt
	if !w.restored {
		rekeyAt = e.ChildRekeyAt(now, c.Kernel, sa.initiator)
	}
	e.InstallDone(now, &c.Child, err, rekeyAt)
	log := engine.LogWith(sa.log(e), zap.String("child", c.Conn.Name))
	switch {
	case errors.Is(err, policy.ErrSelectorConflict):
		// The peer holds the SA already (Quick Mode is over): take it back.
		log.Warn("phase 2 SA refused: "+err.Error()+"; the ISAKMP SA stays up",
			zap.String("spi_in", fmt.Sprintf("%08x", c.SPIIn)), zap.String("spi_out", fmt.Sprintf("%08x", c.SPIOut)))
		e.sendNotify(sa, isakmp.V1NotifyInvalidIDInformation, nil)
		e.sendInfo(sa, []isakmp.V1Payload{&isakmp.V1Delete{DOI: isakmp.V1DOIIPsec, ProtocolID: isakmp.ProtocolESP,
			SPISize: 4, SPIs: [][]byte{spi32(c.SPIIn)}}})
		e.removeChild(sa, c) // deleted at the peer too: nothing left to list
	case err != nil:
		log.Warn("phase 2 SA negotiated but the kernel refused it; the ISAKMP SA stays up", zap.Error(err))
	case sa.state == stateGone:
		e.RemoveChild(&c.Child)
	case w.restored:
		if c.Kernel.LifetimeBytes > 0 && sa.BytesCheckAt.IsZero() {
			sa.BytesCheckAt = now.Add(engine.BytesCheckInterval)
		}
	default:
		if c.Kernel.LifetimeBytes > 0 && sa.BytesCheckAt.IsZero() {
			sa.BytesCheckAt = now.Add(engine.BytesCheckInterval)
		}
		if w.replaces != nil {
			e.deletePhase2(sa, w.replaces)
		}
		if w.initiator {
			e.retireReplaced(now, sa)
		}
		e.supersede(sa, c)
		e.resolveCrossing(now, sa)
		// An earlier failure of this connection's phase 2 is history now.
		sa.children = slices.DeleteFunc(sa.children, func(o *child) bool {
			return o != c && o.Conn == c.Conn && o.State == engine.ChildFailed
		})
		log.Info("IKEv1 phase 2 SA established", zap.String("esp", c.Chosen.String()),
			zap.String("spi_in", fmt.Sprintf("%08x", c.SPIIn)), zap.String("spi_out", fmt.Sprintf("%08x", c.SPIOut)),
			zap.String("local_ts", policy.JoinPrefixes(c.localTS)), zap.String("remote_ts", policy.JoinPrefixes(c.remoteTS)),
			zap.Duration("lifetime", c.Kernel.Lifetime))
	}
	e.Schedule(sa)
}

// supersede applies the newer-wins rule to duplicate phase 2 SAs: when
// both sides renewed the same phase 2 SA at once (or a peer negotiates a
// new one without deleting the old), the older ones with the same
// connection and selectors, on any ISAKMP SA of the peer, are no longer
// renewed by us; they carry what is still in flight and end at their
// lifetime (the dataplane sends on the newest). Deleting them instead
// could delete both ends' choices at once.
func (e *Engine) supersede(sa *p1SA, c *child) {
	if !sa.siteToSite() {
		return // each remote-access client has its own selectors; no scan per install
	}
	for _, o := range e.sas {
		if o.conn != sa.conn || !o.peerID.Equal(sa.peerID) {
			continue
		}
		for _, old := range o.children {
			if old == c || old.Conn != c.Conn || !old.Installed() || old.Rekeying ||
				!slices.Equal(old.localTS, c.localTS) || !slices.Equal(old.remoteTS, c.remoteTS) {
				continue
			}
			old.Rekeying, old.superseded = true, true
			o.log(e).Info("duplicate phase 2 SA superseded by a newer one: not renewed, ends at its lifetime",
				zap.String("child", old.Conn.Name), zap.String("spi_in", fmt.Sprintf("%08x", old.SPIIn)),
				zap.String("newer_spi_in", fmt.Sprintf("%08x", c.SPIIn)))
		}
	}
}

// removeChild takes a phase 2 SA out of the dataplane and the ISAKMP SA.
func (e *Engine) removeChild(sa *p1SA, c *child) {
	e.RemoveChild(&c.Child)
	sa.children = engine.Without(sa.children, c)
}

func isTransport(encap uint16) bool {
	switch encap {
	case isakmp.V1EncapTransport, isakmp.V1EncapUDPTransport, isakmp.V1EncapUDPTransportDraft:
		return true
	}
	return false
}

// natOA returns NAT-OAi and NAT-OAr (RFC 3947 5.2): in transport mode
// behind a NAT both Quick Mode messages carry the original addresses of
// initiator and responder, for the transport checksum fix-up.
func (sa *p1SA) natOA(transport bool, initiator, responder netip.Addr) []isakmp.V1Payload {
	if !transport || !sa.nat.Any() || sa.natT == natTNone {
		return nil
	}
	oa := func(a netip.Addr) *isakmp.V1NATOA {
		a = a.Unmap()
		t := isakmp.V1IDIPv4Addr
		if a.Is6() {
			t = isakmp.V1IDIPv6Addr
		}
		return &isakmp.V1NATOA{Draft: sa.natT == natTDraft, IDType: t, Addr: a}
	}
	return []isakmp.V1Payload{oa(initiator), oa(responder)}
}

// quickRefused ends the Quick Modes we initiated that the peer's protected
// error notification n refuses (its SPI is one we proposed, or, when it
// names none, every Quick Mode of ours in flight): one line each saying
// what we offered and what the answer means, and the failure is kept as
// the CHILD SA's last error (sas). It reports whether n was about one.
func (e *Engine) quickRefused(sa *p1SA, n *isakmp.V1Notify) bool {
	var hit []*quickMode
	for _, q := range sa.quick {
		if !q.initiator {
			continue
		}
		if len(n.SPI) == 4 && binary.BigEndian.Uint32(n.SPI) != q.spiIn {
			continue
		}
		hit = append(hit, q)
	}
	for _, q := range hit {
		offered := fmt.Sprintf("we offered %s === %s with %s", policy.JoinPrefixes(q.localTS), policy.JoinPrefixes(q.remoteTS),
			oakley.ProposalsString(q.esp))
		why := fmt.Sprintf("peer refused it with %s; %s", n.Type, offered)
		switch n.Type {
		case isakmp.V1NotifyInvalidIDInformation:
			why += ": its selectors (local/remote networks) for this tunnel differ from ours; they must mirror each other exactly on most peers (Cisco: the crypto ACL)"
		case isakmp.V1NotifyNoProposalChosen:
			why += ": none of our ESP proposals matches its transform set, or the PFS group differs (a DH group in our esp proposals means PFS)"
		}
		sa.dropQuick(q.msgID)
		sa.log(e).Warn("Quick Mode failed: "+why, zap.String("child", q.conn.Name))
		sa.children = append(sa.children, &child{Child: engine.Child{Conn: q.conn, State: engine.ChildFailed, Err: why, SPIIn: q.spiIn},
			localTS: q.localTS, remoteTS: q.remoteTS})
	}
	return len(hit) > 0
}
