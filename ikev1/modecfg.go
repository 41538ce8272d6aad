package ikev1

import (
	"crypto/hmac"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"go.uber.org/zap"

	"ikegate/internal/engine"
	"ikegate/isakmp"
	"ikegate/oakley"
	"ikegate/policy"
)

// Remote access over IKEv1, as the gateway (edge device) plays it: XAUTH
// (draft-ietf-ipsec-isakmp-xauth-06) and Mode Config
// (draft-ietf-ipsec-isakmp-mode-cfg-05, with the Cisco Unity attributes)
// in Transaction exchanges (exchange type 6) on an established ISAKMP SA.
//
// A Transaction is a request and its reply under one message ID, each
// message protected by HASH = prf(SKEYID_a, M-ID | ATTR payload) and
// encrypted with the phase 2 IV of that message ID (the reply continues
// the request's CBC chain).
//
//	XAUTH:       gateway REQUEST(user, password)   -> client REPLY(user, password)
//	             gateway SET(STATUS=1|0)           -> client ACK
//	Mode Config: client REQUEST(address, DNS, ...) -> gateway REPLY (pull)
//	             gateway SET(address, DNS, ...)    -> client ACK   (push)
//
// The client's Quick Mode then carries its virtual address as its ID, and
// the CHILD SA's remote selector is that address only.

// Cisco Unity Mode Config attributes.
const (
	unityBanner       uint16 = 28672
	unitySavePasswd   uint16 = 28673
	unityDefDomain    uint16 = 28674
	unitySplitDNSName uint16 = 28675
	unitySplitInclude uint16 = 28676
	unityNATTPort     uint16 = 28677
	unityLocalLAN     uint16 = 28678
	unityPFS          uint16 = 28679
	unityFWType       uint16 = 28680
	unityBackupServer uint16 = 28681
	unityDDNSHostname uint16 = 28682
)

// maxXAuthTries is how many times a client may answer the XAUTH request
// with wrong credentials before it is refused.
const maxXAuthTries = 3

// xauthState is where the XAUTH round of an ISAKMP SA stands.
type xauthState uint8

const (
	xauthNone       xauthState = iota // not required
	xauthRequested                    // REQUEST sent, waiting for the REPLY
	xauthChecking                     // REPLY received, the backend decides
	xauthStatusSent                   // SET(STATUS) sent, waiting for the ACK
	xauthDone                         // the user is authenticated
	xauthFailed                       // refused; the SA goes
)

// remoteAccess is the remote-access state of a client's ISAKMP SA (on the
// gateway), or of ours as a client (client set: xauthclient.go).
type remoteAccess struct {
	client bool
	xauth  xauthState
	tries  int    // XAUTH replies checked
	user   string // the authenticated XAUTH user
	// ClientLease: the virtual IP (ours as a client), its pool, group and
	// attributes.
	engine.ClientLease
	// upIC: the client sent INITIAL_CONTACT in phase 1. The SA is
	// reported up (engine.EffectIKEUp) only once XAUTH names the user:
	// uniqueness and INITIAL_CONTACT across shards act per user, not per
	// group identity, which all the group's clients share.
	upIC bool
	// idle watches the client's traffic for its idle_timeout.
	idle engine.Idle

	tx *transaction // our Transaction request in flight
	// peerReq is the client's last Transaction request and our reply, for
	// a retransmitted request.
	peerReq struct {
		msgID uint32
		sum   [32]byte
		reply [][]byte
	}
	// pending is the client's Mode Config request waiting for a lease;
	// pushing is set while a lease for our SET is on its way.
	pending *modeCfgRequest
	pushing bool
}

// transaction is a Transaction exchange we started: the message as sent,
// the IV its reply continues from, and what it was for.
type transaction struct {
	msgID uint32
	ident uint16 // the ATTR payload's identifier, echoed by the reply
	iv    []byte
	rtx   *engine.Retransmit
	typ   uint8 // CfgRequest (XAUTH) or CfgSet (XAUTH status, Mode Config push)
	push  bool  // the SET of a pushed Mode Config
}

// modeCfgRequest is a client's Mode Config REQUEST we answer once its
// address is leased.
type modeCfgRequest struct {
	msgID uint32
	sum   [32]byte
	iv    []byte // the reply continues the request's CBC chain
	ident uint16
	asked []isakmp.Attribute
}

// owner is who sa's CHILD SAs speak for (policy.ChildSA.Owner): the XAUTH
// user, else the peer's identity and address.
func (sa *p1SA) owner() string {
	if sa.ra != nil && sa.ra.user != "" {
		return "user " + sa.ra.user
	}
	return sa.peerID.String() + " at " + sa.remote.Addr().String()
}

// raEffect is a lease or release effect of sa's client.
func (sa *p1SA) raEffect(kind engine.EffectKind, pool string, addr netip.Addr) engine.Effect {
	return engine.Effect{Kind: kind, Pool: pool, Identity: sa.identity(), Addr: addr, Connection: sa.conn,
		User: sa.identity(), Peer: sa.remote.Addr(), Local: sa.local.Addr(),
		Device: sa.device()}
}

// device tells sa's client apart from other devices of its identity for
// the pool (engine.Effect.Device): its address and port, unless the
// connection keeps one SA per identity (unique "replace" or "keep"),
// where a new SA takes over the old one's address.
func (sa *p1SA) device() string {
	if sa.conn.Unique == policy.UniqueReplace || sa.conn.Unique == policy.UniqueKeep {
		return ""
	}
	return sa.remote.String()
}

// identity is who holds sa's lease: the XAUTH user, else the peer's ID.
func (sa *p1SA) identity() string {
	if sa.ra != nil && sa.ra.user != "" {
		return sa.ra.user
	}
	return sa.peerID.String()
}

// remoteAccessUp starts the remote-access part of a client's ISAKMP SA
// once phase 1 is established: XAUTH if the connection asks for it, else
// Mode Config (a client pulls; nothing to do until it asks).
func (e *Engine) remoteAccessUp(now time.Time, sa *p1SA) {
	conn := sa.conn
	if sa.initiator {
		if conn.XAuthUser != "" || conn.VirtualIP {
			sa.ra = &remoteAccess{client: true}
			if conn.XAuthUser == "" {
				e.pullModeCfg(now, sa)
			}
		}
		return
	}
	if conn.XAuth == policy.XAuthNone && conn.Pool == "" {
		return
	}
	sa.ra = &remoteAccess{}
	if conn.XAuth != policy.XAuthNone {
		e.requestXAuth(now, sa)
		return
	}
	e.pushModeCfg(now, sa)
}

// pushModeCfg starts Mode Config in push mode (modecfg = "push"): lease an
// address, then SET the configuration.
func (e *Engine) pushModeCfg(now time.Time, sa *p1SA) {
	if !sa.conn.ModeCfgPush || sa.conn.Pool == "" || sa.ra.VIP.IsValid() {
		return
	}
	sa.ra.pushing = true
	id := e.Ask(sa.raEffect(engine.EffectLease, sa.conn.Pool, netip.Addr{}))
	e.Await(id, installWait{kind: waitLease, sa: sa})
}

// requestXAuth asks the client for its user name and password.
func (e *Engine) requestXAuth(now time.Time, sa *p1SA) {
	sa.ra.xauth = xauthRequested
	e.startTransaction(now, sa, isakmp.CfgRequest, []isakmp.Attribute{
		isakmp.V1AttrTV(isakmp.V1XAuthType, 0), // generic
		{Type: isakmp.V1XAuthUserName},
		{Type: isakmp.V1XAuthPassword},
	})
}

// startTransaction sends a Transaction request of ours (REQUEST or SET).
func (e *Engine) startTransaction(now time.Time, sa *p1SA, typ uint8, attrs []isakmp.Attribute) *transaction {
	id := e.newMsgID(sa)
	tx := &transaction{msgID: id, ident: uint16(id), typ: typ}
	raw, next := e.sealTransaction(sa, id, sa.phase2IV(id), &isakmp.V1Attr{Type: typ, Identifier: tx.ident, Attrs: attrs})
	tx.iv = next
	tx.rtx = e.Arm(now, [][]byte{raw})
	sa.ra.tx = tx
	e.Emit(sa.local, sa.remote, raw)
	return tx
}

// sealTransaction builds a HASH-protected, encrypted Transaction message.
func (e *Engine) sealTransaction(sa *p1SA, msgID uint32, iv []byte, attr *isakmp.V1Attr) ([]byte, []byte) {
	ps := hashedPayloads(sa.keys.prf.Size(), []isakmp.V1Payload{attr}, func(b []byte) []byte {
		return oakley.V1InfoHash(sa.keys.prf, sa.keys.a, msgID, b)
	})
	return sa.seal(isakmp.ExchangeV1Transaction, msgID, iv, ps)
}

// transaction handles a Transaction message from the client: the reply to
// our request, or a request of its own.
func (e *Engine) transaction(now time.Time, sa *p1SA, d isakmp.Datagram, msg *isakmp.V1Message) {
	id := msg.Header.MessageID
	ra := sa.ra
	if ra == nil || id == 0 || msg.Encrypted == nil {
		e.Drop("Transaction exchange on an SA without remote access", d, nil)
		return
	}
	sum := sumOf(d.Data)
	if ra.peerReq.msgID == id && ra.peerReq.sum == sum {
		e.EmitAll(d.Local, d.Remote, ra.peerReq.reply) // our reply was lost
		return
	}
	tx := ra.tx
	ours := tx != nil && tx.msgID == id
	iv := sa.phase2IV(id)
	if ours {
		iv = tx.iv
	}
	ps, raws, plain, next, err := sa.open(msg, iv)
	var hash, rest []byte
	if err == nil {
		hash, rest, err = restAfterHash(raws, plain)
	}
	if err == nil && !hmac.Equal(hash, oakley.V1InfoHash(sa.keys.prf, sa.keys.a, id, rest)) {
		err = errors.New("HASH does not verify")
	}
	attr, _ := isakmp.FindV1(ps, isakmp.V1PayloadATTR).(*isakmp.V1Attr)
	if err == nil && attr == nil {
		err = errors.New("no ATTR payload")
	}
	if err != nil {
		e.Drop("Transaction message does not decrypt or verify", d, err)
		return
	}
	sa.DPD.Seen(now)
	sa.followPeer(d)
	switch {
	case ra.client:
		e.clientTransaction(now, sa, id, next, sum, ours, attr)
	case ours:
		ra.tx = nil
		e.transactionReply(now, sa, tx, attr)
	case attr.Type == isakmp.CfgRequest:
		e.modeCfgRequest(now, sa, &modeCfgRequest{msgID: id, sum: sum, iv: next, ident: attr.Identifier, asked: attr.Attrs})
	default:
		e.Drop(fmt.Sprintf("unexpected Transaction %s", cfgTypeName(attr.Type)), d, nil)
	}
}

// transactionReply handles the client's answer to our request tx.
func (e *Engine) transactionReply(now time.Time, sa *p1SA, tx *transaction, attr *isakmp.V1Attr) {
	ra := sa.ra
	switch {
	case tx.typ == isakmp.CfgRequest && ra.xauth == xauthRequested && attr.Type == isakmp.CfgReply:
		user, pass := attrString(attr.Attrs, isakmp.V1XAuthUserName), attrBytes(attr.Attrs, isakmp.V1XAuthPassword)
		if user == "" {
			e.xauthFailed(now, sa, "the client sent no user name")
			return
		}
		ra.xauth, ra.user, ra.tries = xauthChecking, user, ra.tries+1
		id := e.Ask(engine.Effect{Kind: engine.EffectAuthenticate, User: user, Password: engine.Secret(pass), Connection: sa.conn,
			Peer: sa.remote.Addr(), Local: sa.local.Addr()})
		e.Await(id, installWait{kind: waitAuth, sa: sa})
	case tx.typ == isakmp.CfgSet && ra.xauth == xauthStatusSent && attr.Type == isakmp.CfgAck:
		ra.xauth = xauthDone
		sa.log(e).Info("XAUTH: user authenticated", zap.String("user", ra.user))
		e.Effect(sa.upEffect(e.renewing(sa), ra.upIC))
		e.pushModeCfg(now, sa)
	case tx.typ == isakmp.CfgSet && ra.xauth == xauthFailed:
		e.deleteISAKMP(sa, "XAUTH failed")
	case tx.typ == isakmp.CfgSet && attr.Type == isakmp.CfgAck:
		sa.log(e).Debug("Mode Config: client acknowledged")
	default:
		sa.log(e).Debug("Transaction: unexpected reply", zap.String("type", cfgTypeName(attr.Type)))
	}
}

// authenticated takes the backend's verdict on the client's XAUTH
// credentials.
func (e *Engine) authenticated(now time.Time, sa *p1SA, err error) {
	ra := sa.ra
	if sa.state != stateEstablished || ra == nil || ra.xauth != xauthChecking {
		return
	}
	if err != nil {
		e.Count.AuthFailures++
		if ra.tries < maxXAuthTries {
			sa.log(e).Warn("XAUTH: authentication failed; asking again", zap.String("user", ra.user),
				zap.String("reason", err.Error()), zap.Int("try", ra.tries))
			ra.user = ""
			e.requestXAuth(now, sa)
			return
		}
		e.xauthFailed(now, sa, fmt.Sprintf("user %q: %v", ra.user, err))
		return
	}
	ra.xauth = xauthStatusSent
	e.startTransaction(now, sa, isakmp.CfgSet, []isakmp.Attribute{isakmp.V1AttrTV(isakmp.V1XAuthStatus, 1)})
}

// xauthFailed tells the client that XAUTH failed; the SA is deleted when
// it acknowledges (or the retransmissions end).
func (e *Engine) xauthFailed(now time.Time, sa *p1SA, why string) {
	sa.log(e).Warn("XAUTH failed: "+why+"; deleting the ISAKMP SA", zap.String("conn", sa.conn.Name))
	sa.ra.xauth, sa.ra.user = xauthFailed, ""
	e.startTransaction(now, sa, isakmp.CfgSet, []isakmp.Attribute{isakmp.V1AttrTV(isakmp.V1XAuthStatus, 0)})
}

// modeCfgRequest answers a client's Mode Config REQUEST (pull): once XAUTH
// (if required) is done, with a lease from the connection's pool.
func (e *Engine) modeCfgRequest(now time.Time, sa *p1SA, req *modeCfgRequest) {
	ra := sa.ra
	if sa.conn.XAuth != policy.XAuthNone && ra.xauth != xauthDone {
		sa.log(e).Debug("Mode Config request before XAUTH completed; the client will retry")
		return
	}
	if tx := ra.tx; tx != nil && tx.push {
		// Our pushed SET crossed the client's REQUEST (Libreswan asks
		// when it sees Cisco Unity, and drops the SET while it waits):
		// the REPLY delivers the same configuration, so the SET is
		// withdrawn rather than retransmitted until the client seems dead.
		ra.tx = nil
		sa.log(e).Debug("Mode Config: the client asked while our SET was out; answering its request instead")
	}
	if sa.conn.Pool == "" || ra.VIP.IsValid() || !asks(req.asked, isakmp.CPInternalIP4Address, isakmp.CPInternalIP6Address) {
		e.replyModeCfg(sa, req)
		return
	}
	ra.pending = req
	if ra.pushing {
		return // the lease for our SET is on its way; the REPLY takes it
	}
	id := e.Ask(sa.raEffect(engine.EffectLease, sa.conn.Pool, netip.Addr{}))
	e.Await(id, installWait{kind: waitLease, sa: sa})
}

// leased takes the pool's answer for the client waiting in ra.pending.
func (e *Engine) leased(now time.Time, sa *p1SA, l engine.Leased, err error) {
	ra := sa.ra
	if ra == nil || (ra.pending == nil && !ra.pushing) {
		return
	}
	req := ra.pending
	ra.pending, ra.pushing = nil, false
	if l.Pool == "" {
		l.Pool = sa.conn.Pool
	}
	if sa.state != stateEstablished {
		if err == nil {
			e.Effect(sa.raEffect(engine.EffectRelease, l.Pool, l.Addr))
		}
		return
	}
	if ra.TakeLease(sa.log(e), "Mode Config", sa.identity(), l, err) {
		e.checkIdle(now, sa) // starts watching for idle_timeout
	}
	if req != nil {
		e.replyModeCfg(sa, req)
		return
	}
	if err == nil {
		e.startTransaction(now, sa, isakmp.CfgSet, e.modeCfgAttrs(sa, allModeCfgAttrs)).push = true
	}
}

// allModeCfgAttrs are the attributes a pushed configuration carries (what
// we have of them).
var allModeCfgAttrs = func() []isakmp.Attribute {
	var out []isakmp.Attribute
	for _, t := range []uint16{isakmp.CPInternalIP4Address, isakmp.CPInternalIP4Netmask, isakmp.CPInternalIP6Address,
		isakmp.CPInternalIP4DNS, isakmp.CPInternalIP6DNS, isakmp.CPInternalIP4NBNS,
		unityBanner, unityDefDomain, unitySplitDNSName, unitySplitInclude, unityLocalLAN, unityPFS, unityBackupServer} {
		out = append(out, isakmp.Attribute{Type: t})
	}
	return out
}()

// replyModeCfg sends the REPLY to req with what the client asked for and
// we have.
func (e *Engine) replyModeCfg(sa *p1SA, req *modeCfgRequest) {
	attrs := e.modeCfgAttrs(sa, req.asked)
	raw, _ := e.sealTransaction(sa, req.msgID, req.iv, &isakmp.V1Attr{Type: isakmp.CfgReply, Identifier: req.ident, Attrs: attrs})
	ra := sa.ra
	ra.peerReq.msgID, ra.peerReq.sum, ra.peerReq.reply = req.msgID, req.sum, [][]byte{raw}
	e.Emit(sa.local, sa.remote, raw)
}

// clientAttrs are the attributes of sa's client: its group's over its
// pool's, as the lease said, else the connection's pool's (nil: none).
func (e *Engine) clientAttrs(sa *p1SA) *policy.Attributes {
	return sa.ra.Attributes(e.Cfg.DB, sa.conn.Pool)
}

// raClientAttrs is clientAttrs for a remote-access client of ours (nil
// for other SAs).
func (e *Engine) raClientAttrs(sa *p1SA) *policy.Attributes {
	if sa.ra == nil || sa.ra.client {
		return nil
	}
	return e.clientAttrs(sa)
}

// checkIdle ends the session of a remote-access client whose tunnels
// carried no inbound traffic for its idle_timeout.
func (e *Engine) checkIdle(now time.Time, sa *p1SA) {
	ra := sa.ra
	if ra == nil || ra.client || !ra.VIP.IsValid() {
		return
	}
	var timeout time.Duration
	if a := e.clientAttrs(sa); a != nil {
		timeout = a.IdleTimeout
	}
	if idle, over := ra.idle.Check(now, e.Cfg.Installer, e.Kernels(sa), timeout); over {
		sa.log(e).Info("remote-access client idle: disconnecting", zap.String("identity", sa.identity()),
			zap.Duration("idle", idle), zap.Duration("idle_timeout", timeout))
		e.deleteISAKMP(sa, "idle_timeout")
	}
}

// modeCfgAttrs are the attributes we answer asked with: each asked type we
// have a value for (several values of a type: several attributes).
func (e *Engine) modeCfgAttrs(sa *p1SA, asked []isakmp.Attribute) []isakmp.Attribute {
	pool := e.clientAttrs(sa)
	vip := sa.ra.VIP
	var out []isakmp.Attribute
	tlv := func(t uint16, v []byte) { out = append(out, isakmp.Attribute{Type: t, Value: v}) }
	seen := map[uint16]bool{}
	for _, a := range asked {
		if seen[a.Type] {
			continue
		}
		seen[a.Type] = true
		if engine.ConfigAttr(a.Type, vip, pool, tlv) {
			continue
		}
		switch a.Type {
		case unityPFS:
			// Whether the client must offer PFS in Quick Mode: yes when
			// every ESP proposal of the connection requires a DH group,
			// or its group names one (vpnc and Cisco clients follow this).
			pfs := requiresPFS(sa.conn)
			if at := e.clientAttrs(sa); at != nil && at.PFSGroup != 0 {
				pfs = true // the client's group requires it (pfs_group)
			}
			out = append(out, isakmp.V1AttrTV(a.Type, b2u16(pfs)))
		}
		if pool == nil {
			continue
		}
		switch a.Type {
		case unityBanner:
			if pool.Banner != "" {
				tlv(a.Type, []byte(pool.Banner))
			}
		case unitySavePasswd:
			out = append(out, isakmp.V1AttrTV(a.Type, b2u16(pool.SavePassword)))
		case unityDefDomain:
			if pool.Domain != "" {
				tlv(a.Type, []byte(pool.Domain))
			}
		case unitySplitDNSName:
			if len(pool.SplitDNS) > 0 {
				tlv(a.Type, []byte(strings.Join(pool.SplitDNS, ",")))
			}
		case unitySplitInclude:
			if v := splitInclude(pool.SplitInclude); len(v) > 0 {
				tlv(a.Type, v)
			}
		case unityLocalLAN:
			if v := splitInclude(pool.SplitExclude); len(v) > 0 {
				tlv(a.Type, v)
			}
		case unityBackupServer:
			// A comma-separated list, as Cisco clients keep it in their
			// profiles ("BackupServer=").
			if len(pool.BackupServers) > 0 {
				tlv(a.Type, []byte(strings.Join(pool.BackupServers, ",")))
			}
		}
	}
	return out
}

// requiresPFS reports whether every ESP proposal of conn has a DH group.
func requiresPFS(conn *policy.Connection) bool {
	for _, p := range conn.ESP {
		if g, ok := p.First(oakley.TransformDH); !ok || g.ID == oakley.DHNone {
			return false
		}
	}
	return len(conn.ESP) > 0
}

// splitInclude encodes IPv4 networks as UNITY_SPLIT_INCLUDE: per network
// its address and mask (4 bytes each) and 6 bytes of protocol and ports,
// zero for any.
func splitInclude(ps []netip.Prefix) []byte {
	var b []byte
	for _, p := range ps {
		if !p.Addr().Is4() {
			continue
		}
		p = p.Masked()
		a := p.Addr().As4()
		b = append(b, a[:]...)
		b = binary.BigEndian.AppendUint32(b, ^uint32(0)<<(32-p.Bits())) // a /0 shifts all out
		b = append(b, 0, 0, 0, 0, 0, 0)
	}
	return b
}

func b2u16(v bool) uint16 {
	if v {
		return 1
	}
	return 0
}

func asks(attrs []isakmp.Attribute, types ...uint16) bool {
	for _, a := range attrs {
		for _, t := range types {
			if a.Type == t {
				return true
			}
		}
	}
	return false
}

func attrBytes(attrs []isakmp.Attribute, t uint16) []byte {
	for _, a := range attrs {
		if a.Type == t && !a.TV {
			return a.Value
		}
	}
	return nil
}

func attrString(attrs []isakmp.Attribute, t uint16) string { return string(attrBytes(attrs, t)) }

func cfgTypeName(t uint8) string {
	switch t {
	case isakmp.CfgRequest:
		return "REQUEST"
	case isakmp.CfgReply:
		return "REPLY"
	case isakmp.CfgSet:
		return "SET"
	case isakmp.CfgAck:
		return "ACK"
	}
	return fmt.Sprintf("type %d", t)
}

// releaseLease gives sa's virtual IP back to its pool (the SA goes).
func (e *Engine) releaseLease(sa *p1SA) {
	if ra := sa.ra; ra != nil && ra.VIP.IsValid() {
		e.Effect(sa.raEffect(engine.EffectRelease, ra.Pool, ra.VIP))
		ra.VIP = netip.Addr{}
	}
}

// retransmitTransaction resends our Transaction request when due, and
// gives up on the client when it never answers.
func (e *Engine) retransmitTransaction(now time.Time, sa *p1SA) {
	ra := sa.ra
	if ra == nil || !ra.tx.rtxDue(now) {
		return
	}
	if !e.Resend(now, ra.tx.rtx, sa.local, sa.remote) {
		if ra.xauth == xauthFailed {
			e.deleteISAKMP(sa, "XAUTH failed")
			return
		}
		e.peerDead(now, sa, "client did not answer the Transaction exchange")
	}
}

func (tx *transaction) rtxDue(now time.Time) bool { return tx != nil && tx.rtx.Due(now) }

func attrTV(attrs []isakmp.Attribute, t uint16) (uint16, bool) {
	for _, a := range attrs {
		if a.Type == t && a.TV {
			return a.TVValue, true
		}
	}
	return 0, false
}
