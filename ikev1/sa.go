package ikev1

import (
	"net/netip"
	"time"

	"go.uber.org/zap"

	"ikegate/internal/engine"
	"ikegate/isakmp"
	"ikegate/natt"
	"ikegate/oakley"
	"ikegate/policy"
)

type p1State uint8

const (
	// Initiator.
	stateMainI1 p1State = iota + 1 // sent Main Mode message 1
	stateMainI3                    // sent MM3
	stateMainI5                    // sent MM5
	stateAggrI1                    // sent Aggressive Mode message 1
	// Responder.
	stateMainR2 // got MM1, sent MM2
	stateMainR4 // sent MM4
	stateAggrR2 // sent AM2
	// Both.
	stateEstablished
	stateGone
)

func (s p1State) String() string {
	switch s {
	case stateEstablished:
		return "ESTABLISHED"
	case stateGone:
		return "DESTROYED"
	}
	return "CONNECTING"
}

// p1Keys are an ISAKMP SA's keys and its CBC IV chain.
type p1Keys struct {
	prf    *oakley.PRF
	skeyid []byte
	d, a   []byte
	enc    []byte // the ISAKMP SA's encryption key (for the export record)
	cipher *oakley.V1Cipher
	iv     []byte // phase 1: IV for the next encrypted phase 1 message
	p1Last []byte // last CBC block of phase 1, the seed of phase 2 IVs
}

// handshake is what Main or Aggressive Mode needs until phase 1 is
// established (both roles); the long-lived p1SA keeps only what outlives
// it.
type handshake struct {
	saiB     []byte // body of the initiator's SA payload (HASH_I/HASH_R input)
	dh       oakley.KeyExchange
	gxi, gxr []byte
	ni, nr   []byte
	idiB     []byte // phase 1 ID payload bodies
	idrB     []byte
	held     []isakmp.Datagram // Quick Mode that arrived before phase 1 completed
	// certAsked: the peer sent a certificate request (CR) in phase 1,
	// for send_cert = "ifasked".
	certAsked bool
}

// p1SA is one ISAKMP SA (phase 1) with its Quick Mode exchanges.
type p1SA struct {
	conn       *policy.Connection
	ckyI, ckyR uint64

	// The small fields together (the struct is in the 704-byte size
	// class; each ISAKMP SA has one).
	initiator  bool
	aggressive bool
	state      p1State
	crossingQM bool // resolveCrossing started Quick Modes for this loser's phase 2 SAs
	// reauth: the peer initiated this SA and brought no Quick Mode on it
	// within crossCheckDelay (a reauthentication; resolveCrossing).
	reauth  bool
	natT    natTVariant
	peerDPD bool // the peer announced RFC 3706 DPD
	// peerFrags: the peer announced IKE fragmentation, so our large
	// phase 1 messages go in fragments (frag.go); frags collects the
	// peer's, fragID numbers ours.
	peerFrags bool
	fragID    uint16
	hashID    uint16 // negotiated IKEv1 hash (IVs, NAT-D)
	auth      uint16 // IKEv1 authentication method
	nat       natt.Detection
	halfOpen  bool // counted in Engine.halfOpen
	proven    bool // the peer answered from its address (message 3 arrived)
	// keysDeferred: keys holds only the PRF and SKEYID (Aggressive Mode
	// responder with a PSK before message 3: flood.go).
	keysDeferred bool

	decoyPSK     []byte    // set: an Aggressive Mode answer to an unknown identity, keyed with this random PSK
	crossCheckAt time.Time // when resolveCrossing looks at this newly established SA
	// retired are the inbound SPIs of phase 2 SAs we deleted as this SA
	// replaced their ISAKMP SA, which a peer may have filed under this
	// one (sendDeletes).
	retired []uint32

	local, remote netip.AddrPort

	chosen   oakley.Proposal // as IKEv2-numbered transforms, for display and keys
	lifetime time.Duration

	// hs is the scratch state of Main or Aggressive Mode (nil once phase
	// 1 is established).
	hs   *handshake
	keys *p1Keys

	peerVIDs [][]byte
	product  string
	frags    *reassembly
	// Lifecycle: R-U-THERE probing, NAT keepalives, a new phase 1 to
	// replace this one at RekeyAt (Rekeying once we started it).
	engine.Lifecycle
	// quickAt is when our first Quick Mode starts (Aggressive Mode
	// initiator; zero: none pending).
	quickAt time.Time
	ra      *remoteAccess // XAUTH and Mode Config of a remote-access client (nil: none)
	peerID  policy.Identity

	lastRecv    [32]byte // digest of the peer's last phase 1 message
	lastSent    [][]byte // our last phase 1 message
	lastSentFor [32]byte // digest of the message lastSent answered
	rtx         *engine.Retransmit
	expires     time.Time

	quick    map[uint32]*quickMode
	children []*child
}

// child is one pair of IPsec SAs negotiated in Quick Mode: the shared
// CHILD SA and its client IDs.
type child struct {
	engine.Child
	localTS  []netip.Prefix
	remoteTS []netip.Prefix
	// superseded: a newer duplicate took over (supersede); not renewed.
	superseded bool
}

func (sa *p1SA) log(e *Engine) *zap.Logger {
	name := ""
	if sa.conn != nil {
		name = sa.conn.Name
	}
	return engine.LogWith(e.Log, zap.String("conn", name), zap.Stringer("peer", sa.remote),
		zap.String("spi_i", engine.SPIHex(sa.ckyI)), zap.String("spi_r", engine.SPIHex(sa.ckyR))) // the cookies, named as IKEv2's SPIs
}

// siteToSite reports whether sa is a site-to-site SA, not a
// remote-access client's (XAUTH, Mode Config, a pool): the per-peer
// housekeeping of duplicates (supersede, resolveCrossing) is for those
// only, and skipping it keeps remote-access installs free of a scan over
// every SA.
func (sa *p1SA) siteToSite() bool {
	return sa.ra == nil && sa.conn.XAuth == policy.XAuthNone && sa.conn.Pool == ""
}

// Gone reports whether sa was removed from the engine.
func (sa *p1SA) Gone() bool { return sa.state == stateGone }

// NextDeadline is when sa's timer is due next (zero: never).
func (sa *p1SA) NextDeadline() time.Time {
	var d engine.Deadline
	if sa.rtx != nil {
		d.Consider(sa.rtx.Next)
	}
	if sa.state != stateEstablished {
		d.Consider(sa.expires)
	} else {
		sa.Lifecycle.Consider(&d)
		d.Consider(sa.quickAt)
		d.Consider(sa.crossCheckAt)
		if sa.ra != nil && sa.ra.tx != nil {
			d.Consider(sa.ra.tx.rtx.Next)
		}
		d.Consider(sa.idleNext())
		engine.ConsiderRekeys(&d, sa.children)
	}
	for _, q := range sa.quick {
		if q.rtx != nil {
			d.Consider(q.rtx.Next)
		}
		d.Consider(q.expires)
	}
	return d.When()
}

// upEffect reports sa established (engine.EffectIKEUp): renewal when it
// replaces an ISAKMP SA of ours being renewed (or was restored),
// initialContact when the peer said it forgot its other SAs.
func (sa *p1SA) upEffect(renewal, initialContact bool) engine.Effect {
	id := sa.peerID.String()
	if sa.ra != nil && sa.ra.user != "" && !sa.ra.client {
		id = sa.owner() // "user NAME": uniqueness is per XAUTH user
	}
	return engine.Effect{Kind: engine.EffectIKEUp, Version: 1, Conn: sa.conn.Name, Key: sa.ckyI, SPIi: sa.ckyI, SPIr: sa.ckyR,
		Identity: id, Peer: sa.remote.Addr(), Remote: sa.remote, Rekey: renewal, InitialContact: initialContact}
}

// idleNext is when sa's client's idle check is due (zero: not watched).
func (sa *p1SA) idleNext() time.Time {
	if sa.ra == nil {
		return time.Time{}
	}
	return sa.ra.idle.Next()
}

// xauthServer reports whether we run XAUTH for sa's client.
func (sa *p1SA) xauthServer() bool {
	return sa.ra != nil && !sa.ra.client && sa.conn.XAuth != policy.XAuthNone
}

// header is the ISAKMP header of a message of ours on sa.
func (sa *p1SA) header(exchange isakmp.ExchangeType, msgID uint32, encrypted bool) isakmp.Header {
	h := isakmp.Header{SPIi: sa.ckyI, SPIr: sa.ckyR, MajorVersion: 1, Exchange: exchange, MessageID: msgID}
	if encrypted {
		h.Flags |= isakmp.V1FlagEncryption
	}
	return h
}

func (sa *p1SA) info() policy.IKESAInfo {
	ours, theirs := sa.ckyI, sa.ckyR
	if !sa.initiator {
		ours, theirs = theirs, ours
	}
	info := policy.IKESAInfo{
		Version:     1,
		State:       sa.state.String(),
		Local:       sa.local.String(),
		Remote:      sa.remote.String(),
		LocalSPI:    engine.SPIHex(ours),
		RemoteSPI:   engine.SPIHex(theirs),
		Initiator:   sa.initiator,
		IKEProposal: sa.chosen.String(),
		PeerVendor:  sa.product,
		Children:    make([]policy.ChildSAInfo, 0, len(sa.children)),
	}
	if sa.conn != nil {
		info.Name = sa.conn.Name
		info.LocalID = sa.conn.LocalID.String()
	}
	if sa.state == stateEstablished {
		info.RemoteID = sa.peerID.String()
	}
	if ra := sa.ra; ra != nil {
		info.User = ra.user
		ra.FillInfo(&info)
	}
	for _, c := range sa.children {
		ci := c.Info()
		ci.LocalTS, ci.RemoteTS = policy.PrefixStrings(c.localTS), policy.PrefixStrings(c.remoteTS)
		info.Children = append(info.Children, ci)
	}
	sa.Lifecycle.FillInfo(&info)
	return info
}

// followPeer adopts the addresses of an authenticated message when a NAT
// is in the path: the peer's mapping may have changed (RFC 3947 4).
func (sa *p1SA) followPeer(d isakmp.Datagram) {
	if sa.nat.Any() && sa.state == stateEstablished {
		sa.local, sa.remote = d.Local, d.Remote
	}
}
