// Package kernel installs IPsec SAs and policies for both IKE engines.
//
// A Backend is chosen by the gateway's `dataplane` setting:
//
//   - "xfrm": the Linux kernel's IPsec stack over netlink (XFRM);
//   - "none": IKE only; SPIs are allocated and SAs recorded in memory so the
//     engines, tests and `ikegate sas` work without a dataplane;
//   - "userspace": ESP-in-UDP (RFC 4303, RFC 3948) in Go over a TUN device
//     (see Userspace); the gateway hands it ESP datagrams from its NAT-T
//     socket and sends what it encapsulates.
package kernel

import (
	"errors"
	"fmt"
	"net/netip"
	"sync/atomic"

	"go.uber.org/zap"

	"ikegate/policy"
)

// Backend is the SA/SP installer shared by the IKEv1 and IKEv2 engines.
type Backend interface {
	policy.Installer // AllocSPI, AddChildSA, DelChildSA

	// Counters returns the bytes/packets seen on the inbound and outbound
	// SA (for lifetimes and idle detection); zero values on backends that
	// cannot tell.
	Counters(sa *policy.ChildSA) (Counters, error)
	// Events delivers kernel events (expire soft/hard, acquire); nil if the
	// backend has none. The channel is closed by Close.
	Events() <-chan Event
	// Close removes everything this backend installed and releases
	// resources.
	Close() error
}

// Lister is implemented by the backends that can list the CHILD SAs they
// installed (both "none" and "xfrm"); the result is sorted by ReqID, then
// inbound SPI, and holds copies. The xfrm backend keeps no key material
// in memory (the keys live in the kernel), so its copies have nil keys.
type Lister interface {
	Installed() []policy.ChildSA
}

// Counters are the traffic counters of one CHILD SA pair.
type Counters struct {
	InBytes, InPackets   uint64
	OutBytes, OutPackets uint64
}

// EventKind says what a kernel Event reports.
type EventKind int

// Event kinds.
const (
	EventSoftExpire EventKind = iota + 1 // soft lifetime reached: rekey
	EventHardExpire                      // hard lifetime reached: the SA is gone
	EventAcquire                         // a packet matched a policy without SA
)

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

// ErrUserspaceNotImplemented was returned by New("userspace", ...) before
// the userspace dataplane existed.
//
// Deprecated: New("userspace", ...) now opens the dataplane.
var ErrUserspaceNotImplemented = errors.New("kernel: userspace dataplane not implemented yet")

// New returns the backend called name: "none", "xfrm" or "userspace".
// A nil log discards log output.
func New(name string, log *zap.Logger) (Backend, error) {
	if log == nil {
		log = zap.NewNop()
	}
	log = log.Named("kernel")
	switch name {
	case "none":
		return newNone(log), nil
	case "xfrm":
		return newXfrmCurrentNS(log)
	case "userspace":
		return newUserspaceCurrentNS(log)
	case "":
		return nil, errors.New(`kernel: no dataplane given (want "xfrm", "userspace" or "none")`)
	}
	return nil, fmt.Errorf(`kernel: unknown dataplane %q (want "xfrm", "userspace" or "none")`, name)
}

// ReqIDs hands out the reqids of one backend (policy.Installer's
// AllocReqID): CHILD SAs of both IKE versions and traps draw from the
// same counter, so they never collide. The zero value is ready; it is
// safe for concurrent use.
type ReqIDs struct{ n atomic.Uint32 }

// AllocReqID returns a reqid not handed out before (never 0).
func (r *ReqIDs) AllocReqID() uint32 { return r.n.Add(1) }

// saKey identifies a CHILD SA pair within a backend.
type saKey struct {
	local, remote netip.Addr
	spiIn, spiOut uint32
}

func keyOf(sa *policy.ChildSA) saKey {
	return saKey{local: sa.Local.Unmap(), remote: sa.Remote.Unmap(), spiIn: sa.SPIIn, spiOut: sa.SPIOut}
}

// spiKey identifies an inbound SPI reservation: SPIs are unique per
// destination address.
type spiKey struct {
	dst netip.Addr
	spi uint32
}

// cloneChildSA copies sa deeply enough that later changes by the caller
// (or zeroing of key material) do not affect the copy.
func cloneChildSA(sa *policy.ChildSA) policy.ChildSA {
	c := *sa
	c.EncKeyIn = append([]byte(nil), sa.EncKeyIn...)
	c.EncKeyOut = append([]byte(nil), sa.EncKeyOut...)
	c.IntegKeyIn = append([]byte(nil), sa.IntegKeyIn...)
	c.IntegKeyOut = append([]byte(nil), sa.IntegKeyOut...)
	c.LocalTS = append([]netip.Prefix(nil), sa.LocalTS...)
	c.RemoteTS = append([]netip.Prefix(nil), sa.RemoteTS...)
	return c
}

// validateChildSA checks what every backend needs from a ChildSA.
func validateChildSA(sa *policy.ChildSA) error {
	if sa == nil {
		return errors.New("kernel: nil ChildSA")
	}
	if !sa.Local.IsValid() || !sa.Remote.IsValid() {
		return fmt.Errorf("kernel: CHILD SA %q: local and remote addresses must be set (got %v, %v)", sa.ConnName, sa.Local, sa.Remote)
	}
	if sa.Local.Unmap().Is4() != sa.Remote.Unmap().Is4() {
		return fmt.Errorf("kernel: CHILD SA %q: local %v and remote %v are of different address families", sa.ConnName, sa.Local, sa.Remote)
	}
	if sa.SPIIn == 0 || sa.SPIOut == 0 {
		return fmt.Errorf("kernel: CHILD SA %q: SPIs must be non-zero (in %#08x, out %#08x)", sa.ConnName, sa.SPIIn, sa.SPIOut)
	}
	return nil
}

var errClosed = errors.New("kernel: backend is closed")

// bytesUsed adapts a backend's Counters to policy.ByteMeter.
func bytesUsed(c Counters, err error) uint64 {
	if err != nil {
		return 0
	}
	return c.InBytes + c.OutBytes
}
