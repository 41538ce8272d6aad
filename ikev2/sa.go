package ikev2

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

type saState uint8

const (
	stateInitSent    saState = iota + 1 // initiator: IKE_SA_INIT request sent
	stateAuthSent                       // initiator: IKE_AUTH request sent
	stateInitDone                       // responder: IKE_SA_INIT answered, waiting for IKE_AUTH
	stateEstablished                    // authenticated
	stateDeleting                       // our Delete is in flight
	stateGone                           // removed from the engine
)

func (s saState) String() string {
	switch s {
	case stateInitSent, stateAuthSent, stateInitDone:
		return "CONNECTING"
	case stateEstablished:
		return "ESTABLISHED"
	case stateDeleting:
		return "DELETING"
	}
	return "DESTROYED"
}

// ikeKeys holds an established IKE SA's keys and ciphers. The keys are
// one buffer, SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr, with
// their lengths (72 bytes, not the 168 of seven slice headers).
type ikeKeys struct {
	prf     *oakley.PRF
	in, out oakley.SKCipher
	km      []byte
	// Lengths of SK_d (and SK_p*), of each SK_a and of each SK_e.
	dLen, aLen, eLen uint8
}

// newIKEKeys keeps k (copied into one buffer) with the PRF and the
// ciphers of an IKE SA. Key lengths are at most 64 bytes (SHA-512).
func newIKEKeys(prf *oakley.PRF, k oakley.IKEKeys, in, out oakley.SKCipher) *ikeKeys {
	km := make([]byte, 0, 3*len(k.SKd)+2*len(k.SKai)+2*len(k.SKei))
	for _, b := range [][]byte{k.SKd, k.SKai, k.SKar, k.SKei, k.SKer, k.SKpi, k.SKpr} {
		km = append(km, b...)
	}
	return &ikeKeys{prf: prf, in: in, out: out, km: km,
		dLen: uint8(len(k.SKd)), aLen: uint8(len(k.SKai)), eLen: uint8(len(k.SKei))}
}

// sk returns the keys, slices of the one buffer.
func (k *ikeKeys) sk() oakley.IKEKeys {
	km := k.km
	next := func(n uint8) []byte {
		b := km[:n:n]
		km = km[n:]
		return b
	}
	var out oakley.IKEKeys
	out.SKd = next(k.dLen)
	out.SKai, out.SKar = next(k.aLen), next(k.aLen)
	out.SKei, out.SKer = next(k.eLen), next(k.eLen)
	out.SKpi, out.SKpr = next(k.dLen), next(k.dLen)
	return out
}

// ikeSA is one IKE SA and the exchanges in flight on it.
type ikeSA struct {
	conn *policy.Connection
	spiI uint64
	spiR uint64

	// The small fields together (the struct is in the 640-byte size
	// class; each IKE SA has one).
	initiator     bool
	state         saState
	nat           natt.Detection
	peerFragments bool
	peerCertReq   bool    // the peer asked for our certificate (CERTREQ): send_cert = "ifasked"
	mobike        bool    // both announced MOBIKE_SUPPORTED (RFC 4555)
	peerHashes    hashSet // SIGNATURE_HASH_ALGORITHMS from the peer
	// restored: the SA came from a record (Restore) and has not yet
	// answered a request; the peer's message ID may be ahead of it.
	restored bool
	// midSync: both announced RFC 6311; midSyncNonce is that of our
	// synchronisation request in flight.
	midSync      bool
	midSyncNonce [4]byte

	// Message IDs (RFC 7296 2.3), window size one in each direction.
	nextMsgID uint32 // our next request
	peerMsgID uint32 // next request expected from the peer

	local, remote netip.AddrPort

	// hs is the scratch state of IKE_SA_INIT and IKE_AUTH (nil once the
	// IKE SA is established).
	hs         *handshake
	chosen     oakley.Proposal
	keys       *ikeKeys
	peerVendor string // the peer's product, from its IKE_SA_INIT (vendor.go)
	ownerName  string // owner(), once established

	lastResp [][]byte // datagrams of our response to the peer's last request
	req      *request // our request in flight
	queue    []queued
	frags    *fragments

	peerID policy.Identity
	// ra is the remote-access state of a client's SA (nil: none).
	ra *remoteAccess
	// Lifecycle: liveness checks, NAT keepalives, our rekey at RekeyAt
	// (Rekeying while it is in flight).
	engine.Lifecycle
	children []*childSA
	// lateRemovals are deleted CHILD SAs still in the dataplane for a
	// while (deleteRekeyedChild).
	lateRemovals []lateRemoval
	// Rekeying and its collisions (collision.go).
	rekeyState

	// halfOpen is set while the SA is half-open (responder, before
	// IKE_AUTH): its key in Engine.halfOpen and when it expires. A
	// pointer, so that established SAs do not carry it.
	halfOpen *halfOpenEntry
}

// hashSet is a set of hash algorithm IDs 0-15 (RFC 7427
// SIGNATURE_HASH_ALGORITHMS); larger IDs, which we do not sign with,
// are left out.
type hashSet uint16

// hashSetOf returns the set of ids.
func hashSetOf(ids []uint16) hashSet {
	var h hashSet
	for _, id := range ids {
		if id < 16 {
			h |= 1 << id
		}
	}
	return h
}

// list returns the IDs in the set, in ascending order (nil: none).
func (h hashSet) list() []uint16 {
	var out []uint16
	for id := range uint16(16) {
		if h&(1<<id) != 0 {
			out = append(out, id)
		}
	}
	return out
}

// halfOpenEntry is a half-open IKE SA's entry in Engine.halfOpen.
type halfOpenEntry struct {
	key     halfOpenKey
	expires time.Time
}

// handshake is what IKE_SA_INIT and IKE_AUTH need until the IKE SA is
// established (both roles); the long-lived ikeSA keeps only what outlives
// them. A rekeyed IKE SA's successor holds the new nonces here until its
// keys are derived.
type handshake struct {
	dh             oakley.KeyExchange
	nonceI, nonceR []byte
	cookie         []byte // initiator: the COOKIE the responder demanded
	invalidKETries int    // initiator: INVALID_KE_PAYLOAD answers followed
	initReq        []byte // the IKE_SA_INIT request as last sent/received
	initResp       []byte // the IKE_SA_INIT response
	pendingChild   *childSA
	morePairs      []tsPair    // initiator, split_child_sas: the CHILD SAs after IKE_AUTH
	auth           *clientAuth // responder: an IKE_AUTH over several exchanges or waiting
	eapc           *eapClient  // initiator: our EAP conversation (a remote-access client of ours)
}

// request is one exchange we initiated, waiting for its response: the
// message as sent and the named step that takes the response, with the
// exchange's own scratch state.
type request struct {
	engine.Retransmit
	exchange isakmp.ExchangeType
	msgID    uint32
	step     step
	child    *childSA  // stepChild: the CHILD SA proposed
	old      *childSA  // stepChild: the CHILD SA it rekeys (nil: a new one)
	rekey    *ikeRekey // stepRekeyIKE
	cookie2  []byte    // stepRoutability: the COOKIE2 the answer echoes
	deleting uint32    // a CHILD SA delete: the peer's SPI of the CHILD SA (collision.go)
}

// step names the handler of a response to a request of ours.
type step uint8

const (
	stepInit        step = iota + 1 // IKE_SA_INIT: initResponse
	stepAuth                        // IKE_AUTH: authResponse
	stepChild                       // CREATE_CHILD_SA for a CHILD SA: completeChild
	stepRekeyIKE                    // CREATE_CHILD_SA rekeying the IKE SA: completeIKERekey
	stepDeleteIKE                   // INFORMATIONAL deleting the IKE SA: the SA goes
	stepInfo                        // other INFORMATIONAL (liveness, CHILD SA delete): nothing follows
	stepRoutability                 // INFORMATIONAL with COOKIE2 after a MOBIKE move: routabilityChecked
	stepMoved                       // our UPDATE_SA_ADDRESSES (MOBIKE): moved
	stepMIDSync                     // INFORMATIONAL with IKEV2_MESSAGE_ID_SYNC (RFC 6311): midSynced
)

// ikeRekey is the scratch state of an IKE SA rekey we initiated.
type ikeRekey struct {
	spi uint64 // our SPI of the new IKE SA
	ni  []byte
	dh  oakley.KeyExchange
}

// queued is a request waiting for the one in flight (window size one); it
// is built when its turn comes (startQueued).
type queued struct {
	what  queuedKind
	conn  *policy.Connection // queueNewChild
	pair  *tsPair            // queueNewChild: the selectors (split_child_sas)
	child *childSA           // queueRekeyChild: the CHILD SA to rekey
	spi   uint32             // queueDeleteChild: our inbound SPI
	out   uint32             // queueDeleteChild: the peer's (outbound) SPI
}

type queuedKind uint8

const (
	queueNewChild queuedKind = iota + 1
	queueRekeyChild
	queueRekeyIKE
	queueDeleteChild
	queueRoutability     // MOBIKE return routability check
	queueUpdateAddresses // MOBIKE: our address changed
	queueMIDSync         // RFC 6311 after a takeover
)

// childSA is one CHILD SA of an IKE SA: the shared part and what IKEv2
// adds.
type childSA struct {
	engine.Child
	dh        oakley.KeyExchange // PFS key exchange of a CREATE_CHILD_SA we initiate
	nonce     []byte             // our nonce of a CREATE_CHILD_SA we initiate
	localTS   []isakmp.TrafficSelector
	remoteTS  []isakmp.TrafficSelector
	transport bool // transport mode (both sides asked for it)
	// Rekeying and its collisions (collision.go).
	childRekeyState
	// offered are the ESP proposals of a CHILD SA we initiate: the
	// connection's, or a rekey's (offerRekey).
	offered []oakley.Proposal
	// pair is what a CHILD SA of a split_child_sas connection asked
	// for (nil otherwise); its rekeys ask for the same.
	pair *tsPair
}

// creating reports whether a CHILD SA of the named connection is being
// negotiated on sa: in flight or queued.
func (sa *ikeSA) creating(name string) bool {
	if r := sa.req; r != nil && r.step == stepChild && r.child.Conn.Name == name {
		return true
	}
	for _, q := range sa.queue {
		if (q.what == queueNewChild && q.conn.Name == name) || (q.what == queueRekeyChild && q.child.Conn.Name == name) {
			return true
		}
	}
	for _, r := range sa.retries { // refused with TEMPORARY_FAILURE, proposed again soon
		if r.conn.Name == name {
			return true
		}
	}
	return false
}

// upEffect reports sa established (engine.EffectIKEUp): rekey for a
// successor of one of ours (or a restored SA), initialContact when the
// peer said it forgot its other SAs.
func (sa *ikeSA) upEffect(rekey, initialContact bool) engine.Effect {
	id := sa.peerID.String()
	if sa.ra != nil && sa.ra.user != "" {
		id = sa.owner() // "user NAME": uniqueness is per EAP user
	}
	return engine.Effect{Kind: engine.EffectIKEUp, Version: 2, Conn: sa.conn.Name, Key: sa.ourSPI(), SPIi: sa.spiI, SPIr: sa.spiR,
		Identity: id, Peer: sa.remote.Addr(), Remote: sa.remote, Rekey: rekey, InitialContact: initialContact}
}

func (sa *ikeSA) ourSPI() uint64 {
	if sa.initiator {
		return sa.spiI
	}
	return sa.spiR
}

func (sa *ikeSA) peerSPI() uint64 {
	if sa.initiator {
		return sa.spiR
	}
	return sa.spiI
}

func (sa *ikeSA) log(e *Engine) *zap.Logger {
	name := ""
	if sa.conn != nil {
		name = sa.conn.Name
	}
	return engine.LogWith(e.Log, zap.String("conn", name), zap.Stringer("peer", sa.remote),
		zap.String("spi_i", spiHex(sa.spiI)), zap.String("spi_r", spiHex(sa.spiR)))
}

// Gone reports whether sa was removed from the engine.
func (sa *ikeSA) Gone() bool { return sa.state == stateGone }

// NextDeadline is when sa's timer is due next (zero: never).
func (sa *ikeSA) NextDeadline() time.Time {
	var d engine.Deadline
	if sa.req != nil {
		d.Consider(sa.req.Next)
	}
	if sa.halfOpen != nil {
		d.Consider(sa.halfOpen.expires)
	}
	for _, r := range sa.lateRemovals {
		d.Consider(r.at)
	}
	if sa.state == stateEstablished {
		if sa.ra != nil {
			d.Consider(sa.ra.ends)
		}
		sa.Lifecycle.Consider(&d)
		engine.ConsiderRekeys(&d, sa.children)
		sa.considerRetire(&d)
	}
	return d.When()
}

func (sa *ikeSA) info() policy.IKESAInfo {
	info := policy.IKESAInfo{
		Version:     2,
		State:       sa.stateName(),
		Local:       sa.local.String(),
		Remote:      sa.remote.String(),
		LocalSPI:    spiHex(sa.ourSPI()),
		RemoteSPI:   spiHex(sa.peerSPI()),
		Initiator:   sa.initiator,
		IKEProposal: sa.chosen.String(),
		PeerVendor:  sa.peerVendor,
		Children:    make([]policy.ChildSAInfo, 0, len(sa.children)),
	}
	if sa.conn != nil {
		info.Name = sa.conn.Name
		info.LocalID = sa.conn.LocalID.String()
	}
	if sa.state == stateEstablished || sa.state == stateDeleting {
		info.RemoteID = sa.peerID.String()
	}
	if ra := sa.ra; ra != nil {
		info.User = ra.user
		ra.FillInfo(&info)
	}
	for _, c := range sa.children {
		info.Children = append(info.Children, c.info())
	}
	sa.Lifecycle.FillInfo(&info)
	return info
}

func (c *childSA) info() policy.ChildSAInfo {
	info := c.Info()
	info.Mode = modeName(c.transport)
	info.LocalTS, info.RemoteTS = tsStrings(c.localTS), tsStrings(c.remoteTS)
	return info
}

func modeName(transport bool) string {
	if transport {
		return "transport"
	}
	return "tunnel"
}
