package ikev2

import (
	"fmt"
	"net/netip"
	"time"

	"go.uber.org/zap"

	"ikegate/dpd"
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

// ikeKeys holds an established IKE SA's keys and ciphers.
type ikeKeys struct {
	prf     *oakley.PRF
	skd     []byte
	skpi    []byte
	skpr    []byte
	in, out oakley.SKCipher
}

// ikeSA is one IKE SA and the exchanges in flight on it.
type ikeSA struct {
	conn      *policy.Connection
	initiator bool
	spiI      uint64
	spiR      uint64
	state     saState

	local, remote netip.AddrPort
	nat           natt.Detection

	// IKE_SA_INIT state.
	dh             oakley.KeyExchange
	nonceI         []byte
	nonceR         []byte
	cookie         []byte
	invalidKETries int
	initReq        []byte // the IKE_SA_INIT request as last sent/received
	initResp       []byte // the IKE_SA_INIT response
	chosen         oakley.Proposal
	keys           *ikeKeys
	peerHashes     []uint16 // SIGNATURE_HASH_ALGORITHMS from the peer
	peerFragments  bool

	// Message IDs (RFC 7296 2.3), window size one in each direction.
	nextMsgID uint32   // our next request
	peerMsgID uint32   // next request expected from the peer
	lastResp  [][]byte // datagrams of our response to the peer's last request
	req       *request // our request in flight
	queue     []func(now time.Time)
	frags     *fragments

	peerID policy.Identity
	dpd    dpd.Monitor // liveness checks once established
	// nextKeepalive is when the next NAT keepalive is due (zero: none,
	// we are not behind a NAT).
	nextKeepalive time.Time
	rekeyAt       time.Time // when we rekey the IKE SA
	bytesCheckAt  time.Time // next comparison of CHILD SA traffic with byte lifetimes
	rekeying      bool      // our IKE SA rekey is in flight
	children      []*childSA
	// pendingChild is the CHILD SA we are negotiating as initiator.
	pendingChild *childSA

	halfOpen    bool
	halfOpenKey halfOpenKey
	expires     time.Time // half-open expiry
}

// request is one request of ours waiting for its response.
type request struct {
	exchange   isakmp.ExchangeType
	msgID      uint32
	raw        [][]byte
	tries      int
	next       time.Time
	onResponse func(now time.Time, d isakmp.Datagram, msg *isakmp.Message, inner []isakmp.Payload)
	onTimeout  func(now time.Time)
}

// childSA is one CHILD SA of an IKE SA.
type childSA struct {
	conn      *policy.Connection
	state     string // "INSTALLED", "INSTALL_FAILED", "CREATING", "FAILED"
	err       string
	spiIn     uint32
	spiOut    uint32
	chosen    oakley.Proposal
	dh        oakley.KeyExchange // PFS key exchange of a CREATE_CHILD_SA we initiate
	nonce     []byte             // our nonce of a CREATE_CHILD_SA we initiate
	localTS   []isakmp.TrafficSelector
	remoteTS  []isakmp.TrafficSelector
	kernel    *policy.ChildSA // what was handed to the installer
	rekeyAt   time.Time       // when we rekey it (zero: not installed)
	rekeying  bool            // our CREATE_CHILD_SA with REKEY_SA is in flight
	transport bool            // transport mode (both sides asked for it)
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
	return e.log.With(zap.String("conn", name), zap.Stringer("peer", sa.remote),
		zap.String("spi_i", spiHex(sa.spiI)), zap.String("spi_r", spiHex(sa.spiR)))
}

func (sa *ikeSA) nextDeadline() time.Time {
	var when time.Time
	if sa.req != nil {
		when = sa.req.next
	}
	if !sa.expires.IsZero() && (when.IsZero() || sa.expires.Before(when)) {
		when = sa.expires
	}
	if sa.state == stateEstablished {
		consider := func(t time.Time) {
			if !t.IsZero() && (when.IsZero() || t.Before(when)) {
				when = t
			}
		}
		consider(sa.dpd.Next())
		consider(sa.nextKeepalive)
		if !sa.rekeying {
			consider(sa.rekeyAt)
		}
		consider(sa.bytesCheckAt)
		for _, c := range sa.children {
			if c.state == "INSTALLED" && !c.rekeying {
				consider(c.rekeyAt)
			}
		}
	}
	return when
}

func (sa *ikeSA) info() policy.IKESAInfo {
	info := policy.IKESAInfo{
		Version:     2,
		State:       sa.state.String(),
		Local:       sa.local.String(),
		Remote:      sa.remote.String(),
		LocalSPI:    spiHex(sa.ourSPI()),
		RemoteSPI:   spiHex(sa.peerSPI()),
		Initiator:   sa.initiator,
		IKEProposal: sa.chosen.String(),
		Children:    make([]policy.ChildSAInfo, 0, len(sa.children)),
	}
	if sa.conn != nil {
		info.Name = sa.conn.Name
		info.LocalID = sa.conn.LocalID.String()
	}
	if sa.state == stateEstablished || sa.state == stateDeleting {
		info.RemoteID = sa.peerID.String()
	}
	for _, c := range sa.children {
		info.Children = append(info.Children, c.info())
	}
	return info
}

func (c *childSA) info() policy.ChildSAInfo {
	return policy.ChildSAInfo{
		Name:        c.conn.Name,
		State:       c.state,
		Mode:        modeName(c.transport),
		SPIIn:       fmt.Sprintf("%08x", c.spiIn),
		SPIOut:      fmt.Sprintf("%08x", c.spiOut),
		ESPProposal: c.chosen.String(),
		LocalTS:     tsStrings(c.localTS),
		RemoteTS:    tsStrings(c.remoteTS),
		Error:       c.err,
	}
}

func modeName(transport bool) string {
	if transport {
		return "transport"
	}
	return "tunnel"
}
