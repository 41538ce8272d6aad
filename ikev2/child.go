package ikev2

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"go.uber.org/zap"

	"ikegate/internal/engine"
	"ikegate/isakmp"
	"ikegate/oakley"
	"ikegate/policy"
)

// Traffic selector types (RFC 7296 3.13.1).
const (
	tsIPv4 uint8 = 7
	tsIPv6 uint8 = 8
)

// offerChild allocates an inbound SPI and builds the payloads that propose
// a CHILD SA for conn: SA, TSi and TSr, plus Nonce and (with PFS) KE for
// CREATE_CHILD_SA.
func (e *Engine) offerChild(sa *ikeSA, conn *policy.Connection, createChild bool, pair *tsPair) (*childSA, []isakmp.Payload, error) {
	return e.offerChildESP(sa, conn, conn.ESP, createChild, pair)
}

// tsPair is the pair of selector lists one CHILD SA of a connection asks
// for, when the connection splits its selectors into one CHILD SA per
// pair of subnets (split_child_sas); nil stands for the connection's own.
type tsPair struct{ local, remote []netip.Prefix }

// splitPairs are the CHILD SAs a split_child_sas connection negotiates:
// one per pair of a local and a remote prefix of the same family, in
// configuration order (a crypto ACL of several lines on a Cisco, which
// takes one subnet pair per CHILD SA); nil for a connection that does not
// split or has one pair only.
func splitPairs(sa *ikeSA, conn *policy.Connection) []tsPair {
	if !conn.SplitChildSAs {
		return nil
	}
	var out []tsPair
	for _, l := range localTS(sa, conn) {
		for _, r := range conn.RemoteTS {
			if l.Addr().Is4() == r.Addr().Is4() {
				out = append(out, tsPair{local: []netip.Prefix{l}, remote: []netip.Prefix{r}})
			}
		}
	}
	if len(out) < 2 {
		return nil
	}
	return out
}

// offerRekey is offerChild for the CREATE_CHILD_SA that rekeys old,
// proposing engine.RekeyESP (old's PFS group with pfs = "lenient").
func (e *Engine) offerRekey(sa *ikeSA, old *childSA) (*childSA, []isakmp.Payload, error) {
	return e.offerChildESP(sa, old.Conn, engine.RekeyESP(old.Conn, old.Chosen), true, old.pair)
}

// offerChildESP is offerChild proposing esp.
func (e *Engine) offerChildESP(sa *ikeSA, conn *policy.Connection, esp []oakley.Proposal, createChild bool, pair *tsPair) (*childSA, []isakmp.Payload, error) {
	if len(esp) == 0 {
		return nil, nil, fmt.Errorf("connection %q has no ESP proposal", conn.Name)
	}
	spi, err := e.Cfg.Installer.AllocSPI(sa.local.Addr(), sa.remote.Addr())
	if err != nil {
		return nil, nil, fmt.Errorf("allocating an inbound SPI: %w", err)
	}
	c := &childSA{Child: engine.Child{Conn: conn, State: engine.ChildCreating, SPIIn: spi}, offered: esp, pair: pair}
	var ps []isakmp.Payload
	if conn.Transport {
		ps = append(ps, &isakmp.Notify{NotifyType: isakmp.NotifyUseTransportMode})
	}
	ps = append(ps, &isakmp.SA{Proposals: toWire(esp, protoESP, spi32(spi), !createChild)})
	if createChild {
		c.nonce = e.Random(nonceLen)
		ps = append(ps, &isakmp.Nonce{Data: c.nonce})
		if g := firstDH(esp); g != 0 {
			dh, err := oakley.NewKeyExchange(g, e.Cfg.Rand)
			if err != nil {
				return nil, nil, err
			}
			c.dh = dh
			ps = append(ps, &isakmp.KE{Group: g, Data: dh.PublicKey()})
		}
	}
	local, remote := localTS(sa, conn), conn.RemoteTS
	if pair != nil {
		local, remote = pair.local, pair.remote
	}
	ps = append(ps,
		&isakmp.TS{PType: isakmp.PayloadTSi, Selectors: selectorsFor(local)},
		&isakmp.TS{PType: isakmp.PayloadTSr, Selectors: selectorsFor(remote)})
	return c, ps, nil
}

// proposals are the ESP proposals we offered for c, a CHILD SA we
// initiate.
func (c *childSA) proposals() []oakley.Proposal {
	if c.offered != nil {
		return c.offered
	}
	return c.Conn.ESP
}

// completeChild handles the responder's answer to a CHILD SA we proposed,
// in IKE_AUTH (c.nonce nil) or CREATE_CHILD_SA, replacing old if it is a
// rekey. It asks for the install; when the CHILD SA fails before that it
// is FAILED, and a rekey is retried later.
func (e *Engine) completeChild(now time.Time, sa *ikeSA, c, old *childSA, inner []isakmp.Payload) {
	if c == nil {
		return
	}
	defer func() {
		if old != nil && c.State == engine.ChildFailed {
			e.rekeyChildFailed(now, sa, c, old)
		}
	}()
	log := engine.LogWith(sa.log(e), zap.String("child", c.Conn.Name))
	failed := func(why string) {
		c.State, c.Err = engine.ChildFailed, why
		c.transport = c.Conn.Transport // what we asked for
		c.dh = nil
		sa.children = append(sa.children, c)
		log.Warn("CHILD SA failed: " + why)
	}
	saP := find[*isakmp.SA](inner)
	if saP == nil {
		if n := peerError(inner); n != nil {
			failed(fmt.Sprintf("peer refused the CHILD SA with %s; we proposed %s for %s === %s", n.NotifyType,
				oakley.ProposalsString(c.proposals()), policy.JoinPrefixes(c.Conn.LocalTS), policy.JoinPrefixes(c.Conn.RemoteTS)))
		} else {
			failed("peer answered without a CHILD SA")
		}
		return
	}
	createChild := c.nonce != nil
	props, wire := fromWire(saP.Proposals, protoESP)
	if len(props) != 1 || len(wire[0].SPI) != 4 {
		failed("peer returned a malformed ESP proposal")
		return
	}
	sel, ok := oakley.Select(c.proposals(), props, oakley.MatchOptions{IgnoreDH: !createChild, OptionalESN: true})
	if !ok {
		failed("peer chose an ESP proposal we did not offer: " + props[0].String())
		return
	}
	tsi, tsr := findTS(inner, isakmp.PayloadTSi), findTS(inner, isakmp.PayloadTSr)
	if tsi == nil || tsr == nil {
		failed("peer answered without traffic selectors")
		return
	}
	local := narrow(tsi.Selectors, localTS(sa, c.Conn))
	remote := narrow(tsr.Selectors, remoteTS(sa, c.Conn))
	if len(local) == 0 || len(remote) == 0 {
		failed("peer returned traffic selectors outside those we proposed")
		return
	}
	var ni, nr, gir []byte
	if !createChild { // IKE_AUTH: the IKE SA's nonces
		ni, nr = sa.hs.nonceI, sa.hs.nonceR
	} else {
		nonce := find[*isakmp.Nonce](inner)
		if nonce == nil {
			failed("CREATE_CHILD_SA response without Nonce")
			return
		}
		ni, nr = c.nonce, nonce.Data
		if g, hasDH := sel.Chosen.First(oakley.TransformDH); hasDH && g.ID != oakley.DHNone {
			ke := find[*isakmp.KE](inner)
			if ke == nil || c.dh == nil || ke.Group != g.ID || c.dh.Group() != g.ID {
				failed("CREATE_CHILD_SA response's KE does not match the chosen DH group")
				return
			}
			var err error
			if gir, err = c.dh.SharedSecret(ke.Data); err != nil {
				failed("peer's KE payload is invalid: " + err.Error())
				return
			}
		}
	}
	c.dh, c.nonce = nil, nil
	c.Chosen = sel.Chosen
	c.transport = c.Conn.Transport && isakmp.FindNotify(inner, isakmp.NotifyUseTransportMode) != nil
	c.SPIOut = binary.BigEndian.Uint32(wire[0].SPI)
	c.localTS, c.remoteTS = local, remote
	if id := e.installChild(sa, c, gir, ni, nr, true); id != 0 {
		e.Await(id, installWait{sa: sa, c: c, old: old, then: afterInitiated})
	}
}

type childRequest struct {
	ni, nr []byte
	ke     *isakmp.KE
}

// acceptChild handles a proposed CHILD SA as responder and returns the
// payloads of the answer: SA, [Nr, KEr,] TSi, TSr, or an error notify.
// cc is nil in IKE_AUTH. A non-zero install ID means the CHILD SA waits
// for the dataplane: the answer is sent when it has installed the SA
// (installWait), and replaced by NO_PROPOSAL_CHOSEN if it cannot.
func (e *Engine) acceptChild(now time.Time, sa *ikeSA, inner []isakmp.Payload, cc *childRequest) ([]isakmp.Payload, uint64) {
	log := sa.log(e)
	saP := find[*isakmp.SA](inner)
	tsi, tsr := findTS(inner, isakmp.PayloadTSi), findTS(inner, isakmp.PayloadTSr)
	if saP == nil || tsi == nil || tsr == nil {
		return notifyOnly(isakmp.NotifyInvalidSyntax, nil), 0
	}
	props, wire := fromWire(saP.Proposals, protoESP)
	opt := oakley.MatchOptions{IgnoreDH: cc == nil, OptionalESN: true}
	if cc != nil && cc.ke == nil {
		// No KE: only proposals without PFS can match.
		opt.IgnoreDH = false
	}
	// A KE payload offers PFS, which a connection whose esp names no DH
	// group may take (pfs = "lenient", engine.SelectESP).
	pfs := cc != nil && cc.ke != nil
	var conn *policy.Connection
	var sel oakley.Selection
	var lenient bool
	var local, remote []isakmp.TrafficSelector
	var propMissConn *policy.Connection
	for _, c := range e.childConns(sa) {
		s, took, ok := engine.SelectESP(c, props, opt, pfs, nil)
		if !ok {
			if propMissConn == nil {
				propMissConn = c
			}
			continue
		}
		l, r := narrow(tsr.Selectors, c.LocalTS), narrow(tsi.Selectors, remoteTS(sa, c))
		if split := e.splitInclude(sa); len(split) > 0 {
			l = narrow(l, split) // what the client was told to route here
		}
		if len(l) == 0 || len(r) == 0 {
			continue
		}
		conn, sel, lenient, local, remote = c, s, took, l, r
		break
	}
	if conn == nil {
		if propMissConn != nil && propMissConn == sa.conn {
			log.Warn("CHILD SA: no proposal chosen: " + engine.ExplainESP(sa.conn, props, opt, pfs, nil))
			return notifyOnly(isakmp.NotifyNoProposalChosen, nil), 0
		}
		theirs := policy.JoinPrefixes(remoteTS(sa, sa.conn))
		if sa.ra != nil && !sa.ra.client && sa.ra.VIP.IsValid() {
			theirs += " (its virtual IP)"
		} else if len(sa.conn.RemoteTS) == 0 {
			theirs += " (its own address: remote_ts is empty)"
		}
		log.Warn(fmt.Sprintf("CHILD SA: traffic selectors unacceptable: peer proposed %s === %s; connection %q allows %s === %s",
			tsString(tsi.Selectors), tsString(tsr.Selectors), sa.conn.Name, theirs, policy.JoinPrefixes(sa.conn.LocalTS)))
		return notifyOnly(isakmp.NotifyTSUnacceptable, nil), 0
	}
	peerWire := wire[sel.PeerIndex]
	if len(peerWire.SPI) != 4 {
		return notifyOnly(isakmp.NotifyInvalidSyntax, nil), 0
	}
	var ni, nr, gir []byte
	var kePayload isakmp.Payload
	if cc == nil { // IKE_AUTH: the IKE SA's nonces
		ni, nr = sa.hs.nonceI, sa.hs.nonceR
	} else {
		ni, nr = cc.ni, cc.nr
		if g, hasDH := sel.Chosen.First(oakley.TransformDH); hasDH && g.ID != oakley.DHNone {
			if cc.ke == nil {
				// A PFS proposal without a KE payload (RFC 7296 1.3.1).
				return notifyOnly(isakmp.NotifyInvalidSyntax, nil), 0
			}
			if cc.ke.Group != g.ID {
				var b [2]byte
				binary.BigEndian.PutUint16(b[:], g.ID)
				log.Info("CREATE_CHILD_SA with another DH group than chosen; sending INVALID_KE_PAYLOAD")
				return notifyOnly(isakmp.NotifyInvalidKEPayload, b[:]), 0
			}
			dh, err := oakley.NewKeyExchange(g.ID, e.Cfg.Rand)
			if err != nil {
				return notifyOnly(isakmp.NotifyNoProposalChosen, nil), 0
			}
			if gir, err = dh.SharedSecret(cc.ke.Data); err != nil {
				log.Info("invalid KE in CREATE_CHILD_SA", zap.Error(err))
				return notifyOnly(isakmp.NotifyInvalidSyntax, nil), 0
			}
			kePayload = &isakmp.KE{Group: g.ID, Data: dh.PublicKey()}
			if lenient {
				log.Info(fmt.Sprintf("CHILD SA: taking the peer's PFS offer with %s although esp names no DH group (pfs = \"lenient\")", g),
					zap.String("child", conn.Name))
			}
		}
	}
	spi, err := e.Cfg.Installer.AllocSPI(sa.local.Addr(), sa.remote.Addr())
	if err != nil {
		log.Error("allocating an inbound SPI failed", zap.Error(err))
		return notifyOnly(isakmp.NotifyNoProposalChosen, nil), 0
	}
	c := &childSA{Child: engine.Child{Conn: conn, SPIIn: spi, SPIOut: binary.BigEndian.Uint32(peerWire.SPI), Chosen: withoutDHNone(sel.Chosen)},
		localTS: local, remoteTS: remote,
		transport: conn.Transport && isakmp.FindNotify(inner, isakmp.NotifyUseTransportMode) != nil}
	id := e.installChild(sa, c, gir, ni, nr, false)
	if id == 0 {
		// The peer must not believe in an SA we could not install.
		return notifyOnly(isakmp.NotifyNoProposalChosen, nil), 0
	}
	var ps []isakmp.Payload
	if c.transport {
		ps = append(ps, &isakmp.Notify{NotifyType: isakmp.NotifyUseTransportMode})
	}
	ps = append(ps, &isakmp.SA{Proposals: []isakmp.Proposal{chosenToWire(sel.Chosen, peerWire.Num, protoESP, spi32(spi))}})
	if cc != nil {
		ps = append(ps, &isakmp.Nonce{Data: cc.nr})
		if kePayload != nil {
			ps = append(ps, kePayload)
		}
	}
	return append(ps,
		&isakmp.TS{PType: isakmp.PayloadTSi, Selectors: remote},
		&isakmp.TS{PType: isakmp.PayloadTSr, Selectors: local}), id
}

// withoutDHNone is a chosen proposal as the CHILD SA keeps it: without
// the DH NONE that answers the peer's optional PFS on the wire (the
// initiator, which reads the answer, has none either).
func withoutDHNone(p oakley.Proposal) oakley.Proposal {
	out := oakley.Proposal{Transforms: make([]oakley.Transform, 0, len(p.Transforms))}
	for _, t := range p.Transforms {
		if t.Type != oakley.TransformDH || t.ID != oakley.DHNone {
			out.Transforms = append(out.Transforms, t)
		}
	}
	return out
}

// localTS is conn's local traffic selector; a remote-access client of
// ours protects its virtual IP, or any address while it asks for one.
func localTS(sa *ikeSA, conn *policy.Connection) []netip.Prefix {
	if !conn.VirtualIP {
		return conn.LocalTS
	}
	if sa.ra != nil && sa.ra.client && sa.ra.VIP.IsValid() {
		return []netip.Prefix{netip.PrefixFrom(sa.ra.VIP, sa.ra.VIP.BitLen())}
	}
	return []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")}
}

// remoteTS is conn's remote traffic selector; a connection to %any
// without one protects the peer's own address (strongSwan's "dynamic").
func remoteTS(sa *ikeSA, conn *policy.Connection) []netip.Prefix {
	if sa.ra != nil && !sa.ra.client && sa.ra.VIP.IsValid() {
		// A remote-access client: its virtual IP, nothing else.
		return []netip.Prefix{netip.PrefixFrom(sa.ra.VIP, sa.ra.VIP.BitLen())}
	}
	if len(conn.RemoteTS) == 0 {
		a := sa.remote.Addr().Unmap()
		return []netip.Prefix{netip.PrefixFrom(a, a.BitLen())}
	}
	return conn.RemoteTS
}

// childConns lists the connections a CHILD SA on sa may be negotiated
// for: sa's own first, then others to the same peer with the same
// identities and authentication.
func (e *Engine) childConns(sa *ikeSA) []*policy.Connection {
	out := []*policy.Connection{sa.conn}
	for _, c := range e.Cfg.DB.Candidates(sa.local.Addr(), sa.remote.Addr(), policy.IKEv2) {
		if c != sa.conn && c.Auth == sa.conn.Auth && c.RemoteID.Matches(sa.peerID) && c.LocalID.Equal(sa.conn.LocalID) {
			out = append(out, c)
		}
	}
	return out
}

func notifyOnly(t isakmp.NotifyType, data []byte) []isakmp.Payload {
	return []isakmp.Payload{&isakmp.Notify{NotifyType: t, Data: data}}
}

// installChild derives the CHILD SA keys (RFC 7296 2.17) and hands the SA
// to the installer (engine.Core.InstallChild). weInitiated says whether we
// initiated the exchange that created it: its initiator's keys come first
// in KEYMAT.
func (e *Engine) installChild(sa *ikeSA, c *childSA, gir, ni, nr []byte, weInitiated bool) uint64 {
	sa.children = append(sa.children, c)
	alg, err := engine.ChildAlgorithms(c.Chosen)
	if err != nil {
		c.State, c.Err = engine.ChildFailed, err.Error()
		return 0
	}
	encLen, integLen := alg.EncLen, alg.IntegLen
	km := oakley.ChildKeymat(sa.keys.prf, sa.keys.sk().SKd, gir, ni, nr, 2*(encLen+integLen))
	encI, integI := km[:encLen], km[encLen:encLen+integLen]
	encR, integR := km[encLen+integLen:2*encLen+integLen], km[2*encLen+integLen:]
	k := &policy.ChildSA{
		ConnName:      c.Conn.Name,
		Tunnel:        !c.transport,
		Local:         sa.local.Addr(),
		Remote:        sa.remote.Addr(),
		SPIIn:         c.SPIIn,
		SPIOut:        c.SPIOut,
		Encr:          alg.Encr,
		Integ:         alg.Integ,
		LocalTS:       prefixesOf(c.localTS),
		RemoteTS:      prefixesOf(c.remoteTS),
		Owner:         sa.owner(),
		Lifetime:      c.Conn.ChildLifetime,
		LifetimeBytes: c.Conn.ChildLifetimeBytes,
		// The peer installs an SA we answered for only when our answer
		// arrives: no packets on it before it shows it has.
		DeferOutbound: !weInitiated,
	}
	if weInitiated {
		k.EncKeyOut, k.IntegKeyOut, k.EncKeyIn, k.IntegKeyIn = encI, integI, encR, integR
	} else {
		k.EncKeyOut, k.IntegKeyOut, k.EncKeyIn, k.IntegKeyIn = encR, integR, encI, integI
	}
	if sa.nat.Any() {
		k.EncapLocalPort, k.EncapRemotePort = sa.local.Port(), sa.remote.Port()
	}
	return e.RequestInstall(&c.Child, k)
}

// afterInstall says how an exchange goes on once the dataplane answered
// the install of its CHILD SA.
type afterInstall uint8

const (
	afterInitiated afterInstall = iota + 1 // a CHILD SA we initiated (a rekey when old is set)
	afterRespond                           // we answer the peer's request now (resp)
	afterRestore                           // a restored CHILD SA
)

// installWait is an exchange step waiting for the dataplane to install
// its CHILD SA (Installed).
type installWait struct {
	kind    waitKind
	sa      *ikeSA
	c       *childSA
	then    afterInstall
	old     *childSA         // afterInitiated: the CHILD SA it rekeys
	resp    pendingResponse  // afterRespond
	rekeyAt time.Time        // afterRestore
	req     []isakmp.Payload // waitLease: the IKE_AUTH request to answer
}

// waitKind says what an installWait waits for.
type waitKind uint8

const (
	waitInstall waitKind = iota // the install of CHILD SA c
	waitEAP                     // the EAP server's answer (ra.go)
	waitLease                   // a virtual IP for a CFG_REQUEST (ra.go)
)

// pendingResponse is our response to a request whose CHILD SA waits for
// the dataplane: prefix goes first (IKE_AUTH: IDr, CERT, AUTH), then the
// CHILD SA's payloads, or NO_PROPOSAL_CHOSEN if the install failed.
type pendingResponse struct {
	to       isakmp.Datagram // the request's addresses
	exchange isakmp.ExchangeType
	msgID    uint32
	prefix   []isakmp.Payload
	child    []isakmp.Payload
}

// Answered takes the runtime's answer to effect id (the install of a
// CHILD SA, an EAP step, a lease) and continues the exchange that waited
// for it.
func (e *Engine) Answered(now time.Time, id uint64, r engine.Result) engine.Output {
	return e.Answer(id, func(w installWait) {
		switch w.kind {
		case waitEAP:
			e.eapAnswered(now, w, r)
		case waitLease:
			e.leased(now, w, r.Leased, r.Err)
		default:
			e.installed(now, w, r.Err)
			return
		}
		e.Schedule(w.sa)
	})
}

func (e *Engine) installed(now time.Time, w installWait, err error) {
	sa, c := w.sa, w.c
	rekeyAt := w.rekeyAt
	if w.then != afterRestore {
		rekeyAt = e.ChildRekeyAt(now, c.Kernel, sa.initiator)
	}
	e.InstallDone(now, &c.Child, err, rekeyAt)
	log := engine.LogWith(sa.log(e), zap.String("child", c.Conn.Name))
	switch {
	case errors.Is(err, policy.ErrSelectorConflict):
		log.Warn("CHILD SA refused: "+err.Error()+"; the IKE SA stays up",
			zap.String("spi_in", fmt.Sprintf("%08x", c.SPIIn)), zap.String("spi_out", fmt.Sprintf("%08x", c.SPIOut)))
	case err != nil:
		log.Warn("CHILD SA negotiated but the kernel refused it; the IKE SA stays up", zap.Error(err),
			zap.String("spi_in", fmt.Sprintf("%08x", c.SPIIn)), zap.String("spi_out", fmt.Sprintf("%08x", c.SPIOut)))
	case sa.state == stateGone:
		e.RemoveChild(&c.Child) // its IKE SA went away meanwhile
	default:
		if c.Kernel.LifetimeBytes > 0 && sa.BytesCheckAt.IsZero() {
			sa.BytesCheckAt = now.Add(engine.BytesCheckInterval)
		}
		if w.then != afterRestore {
			log.Info("CHILD SA established", zap.String("esp", c.Chosen.String()),
				zap.String("spi_in", fmt.Sprintf("%08x", c.SPIIn)), zap.String("spi_out", fmt.Sprintf("%08x", c.SPIOut)),
				zap.String("local_ts", tsString(c.localTS)), zap.String("remote_ts", tsString(c.remoteTS)))
		}
	}
	switch w.then {
	case afterRespond:
		r := w.resp
		ps := r.child
		switch {
		case errors.Is(err, policy.ErrSelectorConflict):
			ps = notifyOnly(isakmp.NotifyTSUnacceptable, nil)
		case err != nil:
			ps = notifyOnly(isakmp.NotifyNoProposalChosen, nil) // the peer must not believe in an SA we could not install
		}
		e.respond(sa, r.to, r.exchange, r.msgID, append(r.prefix, ps...))
	case afterInitiated:
		if w.old != nil {
			if err != nil {
				e.rekeyChildFailed(now, sa, c, w.old)
			} else {
				e.childRekeyed(now, sa, c, w.old)
			}
		}
	}
	e.Schedule(sa)
}

// removeChild takes a CHILD SA out of the dataplane and the IKE SA.
func (e *Engine) removeChild(sa *ikeSA, c *childSA) {
	e.RemoveChild(&c.Child)
	sa.children = engine.Without(sa.children, c)
}

// initiateChild negotiates an additional CHILD SA for conn on sa (one per
// selector pair with split_child_sas).
func (e *Engine) initiateChild(now time.Time, sa *ikeSA, conn *policy.Connection) {
	sa.log(e).Info("creating CHILD SA with CREATE_CHILD_SA", zap.String("child", conn.Name))
	pairs := splitPairs(sa, conn)
	if pairs == nil {
		e.sendRequest(now, sa, queued{what: queueNewChild, conn: conn})
		return
	}
	for i := range pairs {
		e.sendRequest(now, sa, queued{what: queueNewChild, conn: conn, pair: &pairs[i]})
	}
}

// newChildRequest builds the CREATE_CHILD_SA request for a new CHILD SA.
func (e *Engine) newChildRequest(sa *ikeSA, conn *policy.Connection, pair *tsPair) *request {
	c, ps, err := e.offerChild(sa, conn, true, pair)
	if err != nil {
		sa.log(e).Warn("cannot propose CHILD SA", zap.Error(err))
		return nil
	}
	r := e.encryptedRequest(sa, isakmp.ExchangeCreateChildSA, ps, stepChild)
	if r != nil {
		r.child = c
	}
	return r
}

// respondCreateChild answers a CREATE_CHILD_SA request.
func (e *Engine) respondCreateChild(now time.Time, sa *ikeSA, d isakmp.Datagram, msg *isakmp.Message, inner []isakmp.Payload) {
	id := msg.Header.MessageID
	if sa.state != stateEstablished {
		e.respond(sa, d, isakmp.ExchangeCreateChildSA, id, notifyOnly(isakmp.NotifyTemporaryFailure, nil))
		return
	}
	saP := find[*isakmp.SA](inner)
	nonce := find[*isakmp.Nonce](inner)
	if saP == nil || nonce == nil || len(nonce.Data) < 16 || len(nonce.Data) > 256 {
		e.respond(sa, d, isakmp.ExchangeCreateChildSA, id, notifyOnly(isakmp.NotifyInvalidSyntax, nil))
		return
	}
	if len(saP.Proposals) > 0 && saP.Proposals[0].Protocol == protoIKE {
		e.respond(sa, d, isakmp.ExchangeCreateChildSA, id, e.acceptIKERekey(now, sa, inner, nonce.Data))
		e.startInherited(now, sa)
		return
	}
	old, refused := e.peerChildRequest(sa, inner) // collision.go
	if refused != nil {
		e.respond(sa, d, isakmp.ExchangeCreateChildSA, id, refused)
		return
	}
	cc := &childRequest{ni: nonce.Data, nr: e.Random(nonceLen), ke: find[*isakmp.KE](inner)}
	ps, wait := e.acceptChild(now, sa, inner, cc)
	if wait == 0 {
		e.respond(sa, d, isakmp.ExchangeCreateChildSA, id, ps)
		return
	}
	c := sa.children[len(sa.children)-1]
	e.peerRekeyedChild(now, old, c, cc)
	e.Await(wait, installWait{sa: sa, c: c, then: afterRespond,
		resp: pendingResponse{to: d, exchange: isakmp.ExchangeCreateChildSA, msgID: id, child: ps}})
}

// selectorsFor turns configured prefixes into traffic selectors for any
// protocol and port.
func selectorsFor(ps []netip.Prefix) []isakmp.TrafficSelector {
	out := make([]isakmp.TrafficSelector, 0, len(ps))
	for _, p := range ps {
		p = p.Masked()
		t := tsIPv4
		if p.Addr().Is6() {
			t = tsIPv6
		}
		out = append(out, isakmp.TrafficSelector{TSType: t, StartPort: 0, EndPort: 0xffff,
			StartAddr: p.Addr(), EndAddr: policy.LastAddr(p)})
	}
	return out
}

// narrow intersects the peer's selectors with configured prefixes
// (RFC 7296 2.9): each result is the overlap of one selector and one prefix.
func narrow(sels []isakmp.TrafficSelector, allowed []netip.Prefix) []isakmp.TrafficSelector {
	var out []isakmp.TrafficSelector
	for _, s := range sels {
		if s.TSType != tsIPv4 && s.TSType != tsIPv6 {
			continue
		}
		for _, p := range allowed {
			p = p.Masked()
			if p.Addr().Is4() != (s.TSType == tsIPv4) {
				continue
			}
			start, end := s.StartAddr, s.EndAddr
			if first := p.Addr(); start.Less(first) {
				start = first
			}
			if last := policy.LastAddr(p); last.Less(end) {
				end = last
			}
			if end.Less(start) || s.EndPort < s.StartPort {
				continue
			}
			out = append(out, isakmp.TrafficSelector{TSType: s.TSType, IPProtocol: s.IPProtocol,
				StartPort: s.StartPort, EndPort: s.EndPort, StartAddr: start, EndAddr: end})
		}
	}
	return out
}

// prefixesOf covers each selector's address range with CIDR prefixes.
func prefixesOf(sels []isakmp.TrafficSelector) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range sels {
		out = append(out, policy.RangePrefixes(s.StartAddr, s.EndAddr)...)
	}
	return out
}

func tsString(sels []isakmp.TrafficSelector) string {
	s := ""
	for i, t := range tsStrings(sels) {
		if i > 0 {
			s += ","
		}
		s += t
	}
	return s
}

func tsStrings(sels []isakmp.TrafficSelector) []string {
	out := make([]string, 0, len(sels))
	for _, s := range sels {
		var str string
		if ps := policy.RangePrefixes(s.StartAddr, s.EndAddr); len(ps) == 1 {
			str = ps[0].String()
		} else {
			str = s.StartAddr.String() + "-" + s.EndAddr.String()
		}
		if s.IPProtocol != 0 || s.StartPort != 0 || s.EndPort != 0xffff {
			str += fmt.Sprintf("[%d/%d-%d]", s.IPProtocol, s.StartPort, s.EndPort)
		}
		out = append(out, str)
	}
	return out
}
