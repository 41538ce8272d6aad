package policy

import (
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// Dataplane is the one contract between ikegate and a dataplane: SPI and
// reqid allocation, installing and removing CHILD SAs with their
// policies, traps, per-SA counters, kernel events, ESP-in-UDP from the
// gateway's NAT-T sockets and dataplane-wide drop counters. The kernel
// package implements it for each `dataplane` setting:
//
//   - "xfrm": the Linux kernel's IPsec stack over netlink; it counts
//     traffic, traps connections and delivers expire and acquire events;
//   - "userspace": ESP-in-UDP in Go over a TUN device; it counts traffic
//     (with drops per SA), sees inbound traffic for dead peer detection
//     and takes ESP-in-UDP from the gateway;
//   - "none": IKE only; SPIs are allocated and SAs recorded in memory.
//
// Every backend has every method. What a backend can actually do is
// discovered through Capabilities only, never by type assertions: a
// method behind a false capability is harmless (it does nothing, reports
// nothing or returns an error wrapping errors.ErrUnsupported, as
// documented per method). A Dataplane is safe for concurrent use.
type Dataplane interface {
	Installer
	// Installed lists copies of the installed CHILD SAs, sorted by ReqID,
	// then SPIIn, with nil keys: the backends keep their key material in
	// their own form (ciphers, the kernel), not as bytes.
	Installed() []ChildSA
	// InstallTrap installs (or, with changed selectors or reqid, replaces)
	// the trap of conn (start = "trap"): an outbound policy without SA, so
	// that the first matching packet raises an EventAcquire with reqid.
	// Without Capabilities().Traps it returns an error wrapping
	// errors.ErrUnsupported.
	InstallTrap(conn *Connection, reqid uint32) error
	// RemoveTrap removes the trap of conn (by name); removing a trap that
	// is not installed is not an error. Without Capabilities().Traps it
	// returns an error wrapping errors.ErrUnsupported.
	RemoveTrap(conn *Connection) error
	// Events delivers expire and acquire events; it is nil without
	// Capabilities().Events. Close closes the channel.
	Events() <-chan Event
	// HandleESP takes one ESP-in-UDP datagram (without non-ESP marker)
	// received from remote on the NAT-T socket bound to local; pkt is only
	// valid during the call. Without Capabilities().ESPInUDP it does
	// nothing, and the gateway does not call it.
	HandleESP(local, remote netip.AddrPort, pkt []byte)
	// SetSender sets the function that sends the dataplane's ESP-in-UDP
	// datagrams from the NAT-T socket bound to local (b is only valid
	// during the call); nil unsets it. Without Capabilities().ESPInUDP it
	// does nothing.
	SetSender(send func(local, remote netip.AddrPort, b []byte) error)
	// Stats returns the dataplane-wide drop counters (zero without
	// Capabilities().Drops).
	Stats() DataplaneStats
	// Close removes everything the dataplane installed and releases its
	// resources.
	Close() error
}

// ESPDatagram is one ESP-in-UDP datagram (without non-ESP marker) of a
// batch between the gateway's NAT-T sockets and a userspace dataplane:
// received on Local from Remote, or to be sent from Local to Remote. B
// is only valid during the call that carries it.
type ESPDatagram struct {
	Local, Remote netip.AddrPort
	B             []byte
}

// ESPBatcher is the optional batched form of HandleESP and SetSender that
// a dataplane with Capabilities().ESPInUDP may implement: the gateway
// then hands it every ESP datagram of one socket read at once, and it
// sends a batch of datagrams with one call, so that both sides can use
// batched system calls and UDP segmentation offload.
type ESPBatcher interface {
	// HandleESPBatch takes the ESP-in-UDP datagrams of one read, in the
	// order received. The slice and the datagrams' bytes are only valid
	// during the call.
	HandleESPBatch(ds []ESPDatagram)
	// SetBatchSender sets the function that sends a batch of ESP-in-UDP
	// datagrams (at most MaxESPBatch, valid only during the call) and
	// returns how many of them it could not send; nil unsets it. While
	// it is set, it is used instead of the SetSender function.
	SetBatchSender(send func(ds []ESPDatagram) (failed int))
}

// MaxESPBatch is the most datagrams an ESPBatcher hands its batch sender
// in one call.
const MaxESPBatch = 128

// OutboundRetirer is implemented by dataplanes that can stop sending on
// an installed CHILD SA while they keep taking its inbound packets: a
// CHILD SA deleted after a rekey stays a few seconds for the peer's
// packets in flight, but ours go on its replacement at once.
type OutboundRetirer interface {
	RetireOutbound(sa *ChildSA) error
}

// ErrSelectorConflict is the runtime's answer to an install whose remote
// traffic selectors overlap those of an installed CHILD SA of another
// owner (ChildSA.Owner): no peer may take another peer's traffic or
// virtual IP.
var ErrSelectorConflict = errors.New("remote traffic selectors overlap another peer's")

// Installer is the part of Dataplane that the engines see (SPIs, counters
// for byte lifetimes and dead peer detection, capabilities) and that the
// runtime uses to carry out their install and remove effects
// (engine.Execute): reqids, adding and removing CHILD SAs.
type Installer interface {
	// AllocSPI reserves an inbound ESP SPI for an SA from remote to local.
	AllocSPI(local, remote netip.Addr) (uint32, error)
	// AllocReqID hands out a reqid for a CHILD SA or a trap, unique
	// within the dataplane and never 0.
	AllocReqID() uint32
	// AddChildSA installs both directions of sa and its policies. The
	// dataplane may keep sa itself until DelChildSA rather than a copy
	// (the none dataplane and the runtime's selector guard do, so that a
	// CHILD SA is held once): the caller changes none of its fields while
	// it is installed, except the addresses it updates after MoveChildSA
	// (a dataplane that keeps sa copies it there) and the key bytes it
	// wipes after DelChildSA.
	AddChildSA(sa *ChildSA) error
	// DelChildSA removes what AddChildSA installed; it is safe on a
	// partially installed SA and on one that is not installed.
	DelChildSA(sa *ChildSA) error
	// MoveChildSA gives the installed CHILD SA sa (as installed: its
	// addresses are the old ones) new outer addresses, local and remote,
	// keeping SPIs, keys and sequence numbers (MOBIKE, RFC 4555); their
	// ports are the UDP encapsulation ports, zero for none. The caller
	// updates sa afterwards (Move). Without Capabilities().Move it returns
	// an error wrapping errors.ErrUnsupported.
	MoveChildSA(sa *ChildSA, local, remote netip.AddrPort) error
	// Counters returns the counters of the installed CHILD SA whose
	// inbound SPI is spiIn; ok is false when the SA is unknown, when the
	// dataplane does not count (without Capabilities().Counters) or
	// cannot read its counters right now.
	Counters(spiIn uint32) (c ChildCounters, ok bool)
	// Capabilities says which optional parts of the contract work.
	Capabilities() Capabilities
}

// ByteLifetimeReached reports whether sa has used 90% of its byte
// lifetime, when inst counts traffic: time to rekey it.
func ByteLifetimeReached(inst Installer, sa *ChildSA) bool {
	if sa == nil || sa.LifetimeBytes == 0 || !inst.Capabilities().Counters {
		return false
	}
	c, ok := inst.Counters(sa.SPIIn)
	return ok && c.InBytes+c.OutBytes >= sa.LifetimeBytes/10*9
}

// LastInbound is when sa last received traffic, when inst can tell (zero
// otherwise): dead peer detection counts it as a sign of life.
func LastInbound(inst Installer, sa *ChildSA) time.Time {
	if sa == nil || !inst.Capabilities().LastInbound {
		return time.Time{}
	}
	c, _ := inst.Counters(sa.SPIIn)
	return c.LastInbound
}

// Capabilities are the optional parts of Dataplane that a backend
// supports; the zero value supports none of them.
type Capabilities struct {
	Counters    bool // Counters reports bytes/packets (rekey by byte lifetime, `sas` counters)
	LastInbound bool // ChildCounters.LastInbound is set (dead peer detection sees ESP traffic)
	Traps       bool // InstallTrap/RemoveTrap work (start = "trap")
	Events      bool // Events delivers expire/acquire
	ESPInUDP    bool // the dataplane takes ESP-in-UDP from the gateway's NAT-T sockets (HandleESP/SetSender)
	Drops       bool // Stats counts dataplane-wide drops
	Move        bool // MoveChildSA changes an installed SA's addresses (MOBIKE)
	Resume      bool // ChildSA.ResumeSeqOut/In are honoured and ChildCounters.SeqOut/In reported (cluster takeover)
	// RawESP: AddChildSA and MoveChildSA take SAs without UDP
	// encapsulation (encapsulation ports zero), whose ESP travels as IP
	// protocol 50 (the kernel's for xfrm; the userspace dataplane's raw
	// sockets when it opened them, kernel.Options.RawESP).
	RawESP bool
}

// Move records in sa the addresses MoveChildSA gave it.
func (sa *ChildSA) Move(local, remote netip.AddrPort) {
	sa.Local, sa.Remote = local.Addr(), remote.Addr()
	sa.EncapLocalPort, sa.EncapRemotePort = local.Port(), remote.Port()
}

// ChildCounters are the counters of one installed CHILD SA pair, as
// Dataplane.Counters reports them.
type ChildCounters struct {
	// Traffic: the userspace dataplane counts inner (plaintext) bytes; the
	// xfrm backend reports the kernel's state statistics.
	InBytes, InPackets   uint64
	OutBytes, OutPackets uint64
	// LastInbound is when the SA was last seen to receive a valid packet;
	// zero when unknown (without Capabilities().LastInbound) or never.
	LastInbound time.Time
	// Inbound drops, kept by the userspace dataplane only (zero
	// elsewhere). ReplayDrops: replayed, too old or sequence number zero;
	// AuthFailures: ICV mismatch; PadErrors: bad padding or next header;
	// Malformed: truncated, misaligned or wrong SPI; OutsideTSDrops:
	// decrypted packets outside the traffic selectors.
	ReplayDrops, AuthFailures, PadErrors, Malformed, OutsideTSDrops uint64
	// SeqOut is the last outbound ESP sequence number used, SeqIn the
	// highest inbound one accepted (with Capabilities().Resume; zero
	// elsewhere): what a cluster checkpoints for a takeover.
	SeqOut, SeqIn uint32
}

// DataplaneStats are the dataplane-wide drop counters (per-SA counters
// are in ChildCounters); zero for backends that keep none.
type DataplaneStats struct {
	OutNoSA       uint64 // TUN packet matching no installed SA
	OutNotIP      uint64 // TUN packet that is not a whole IPv4/IPv6 packet
	OutTooBig     uint64 // TUN packet larger than the buffers
	OutNoSender   uint64 // no sender set (gateway not running)
	OutSendErrors uint64 // the sender failed
	OutEncapError uint64 // Encapsulate failed (sequence numbers exhausted)
	InUnknownSPI  uint64 // ESP for an SPI we have no SA for
	InTooBig      uint64 // ESP datagram larger than the buffers
	InRejected    uint64 // failed Decapsulate (replay, ICV, padding, ...)
	InOutsideTS   uint64 // decrypted packet outside the SA's selectors
	InTUNErrors   uint64 // writing to the TUN device failed
	QueueFull     uint64 // a worker's queue was full
	TUNReadErrors uint64 // reading from the TUN device failed
}

// TUNQueueCounter is implemented by a dataplane that reads a TUN device
// (userspace): TUNQueueReads returns the packets read from each of the
// device's queues (IFF_MULTI_QUEUE; one entry per queue, one reader
// each).
type TUNQueueCounter interface {
	TUNQueueReads() []uint64
}

// EventKind says what a dataplane Event reports.
type EventKind int

// Event kinds.
const (
	EventSoftExpire EventKind = iota + 1 // soft lifetime reached: rekey
	EventHardExpire                      // hard lifetime reached: the SA is gone
	EventAcquire                         // a packet matched a policy without SA
)

// String returns the kind's name ("soft-expire", "hard-expire",
// "acquire").
func (k EventKind) String() string {
	switch k {
	case EventSoftExpire:
		return "soft-expire"
	case EventHardExpire:
		return "hard-expire"
	case EventAcquire:
		return "acquire"
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// Event is one kernel event.
//
// For expire events SPI, Proto, ReqID, Src and Dst identify the SA that
// expired (Src->Dst is the SA's direction). For acquire events Src and Dst
// are the tunnel endpoints from the policy template (local->remote), ReqID
// the template's reqid, SPI is normally zero, and LocalTS/RemoteTS, Proto,
// LocalPort and RemotePort describe the packet (the kernel fills them from
// the flow, usually as host prefixes).
type Event struct {
	Kind  EventKind
	SPI   uint32
	Proto uint8 // IPsec protocol of the SA (50 = ESP) for expires; upper-layer protocol of the packet for acquires
	ReqID uint32

	Src, Dst netip.Addr

	// Acquire only.
	LocalTS, RemoteTS     netip.Prefix
	LocalPort, RemotePort uint16
	PolicyIndex           uint32 // index of the policy that triggered the acquire
	Seq                   uint32 // the kernel's acquire sequence number
}
