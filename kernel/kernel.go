// Package kernel installs IPsec SAs and policies for both IKE engines.
//
// Each backend implements policy.Dataplane, the one installer contract;
// what it supports beyond SPIs, reqids and SAs is said by its
// Capabilities. A backend is chosen by the gateway's `dataplane` setting:
//
//   - "xfrm": the Linux kernel's IPsec stack over netlink (XFRM);
//   - "none": IKE only; SPIs are allocated and SAs recorded in memory so the
//     engines, tests and `ikegate sas` work without a dataplane;
//   - "userspace": ESP-in-UDP (RFC 4303, RFC 3948) in Go over a TUN device
//     (see Userspace); the gateway hands it ESP datagrams from its NAT-T
//     socket and sends what it encapsulates. Opened with Options.RawESP
//     (Open) it also carries raw ESP, IP protocol 50, on raw sockets of
//     its own (rawesp.go).
package kernel

import (
	"errors"
	"fmt"
	"net/netip"
	"sync/atomic"

	"go.uber.org/zap"

	"ikegate/policy"
)

// Backend is a dataplane as New returns it: policy.Dataplane, the one
// contract every backend implements in full, with optional parts
// discovered through its Capabilities.
type Backend = policy.Dataplane

// Counters are the traffic counters of one CHILD SA pair, as the backends
// read them internally (policy.ChildCounters is what they report).
type Counters struct {
	InBytes, InPackets   uint64
	OutBytes, OutPackets uint64
}

// EventKind says what a kernel Event reports (policy.EventKind).
type EventKind = policy.EventKind

// Event kinds, as policy defines them.
const (
	EventSoftExpire = policy.EventSoftExpire // soft lifetime reached: rekey
	EventHardExpire = policy.EventHardExpire // hard lifetime reached: the SA is gone
	EventAcquire    = policy.EventAcquire    // a packet matched a policy without SA
)

// Event is one kernel event (policy.Event).
type Event = policy.Event

// UserspaceStats are the dataplane-wide drop counters of the userspace
// dataplane (policy.DataplaneStats).
type UserspaceStats = policy.DataplaneStats

// trapsUnsupported is what InstallTrap and RemoveTrap return on the
// backends without traps (Capabilities().Traps false).
func trapsUnsupported(conn *policy.Connection) error {
	name := ""
	if conn != nil {
		name = conn.Name
	}
	return fmt.Errorf(`kernel: trap %q: start = "trap" needs dataplane = "xfrm" (only a kernel policy raises the acquire that starts the negotiation): %w`, name, errors.ErrUnsupported)
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

// recordOf is what a backend keeps of an installed CHILD SA for its
// listing (Installed) and moves: a copy without the keys, which the
// backend holds in its own form (ciphers, the kernel) or not at all.
func recordOf(sa *policy.ChildSA) policy.ChildSA {
	c := *sa
	c.EncKeyIn, c.EncKeyOut, c.IntegKeyIn, c.IntegKeyOut = nil, nil, nil, nil
	c.LocalTS = append([]netip.Prefix(nil), sa.LocalTS...)
	c.RemoteTS = append([]netip.Prefix(nil), sa.RemoteTS...)
	return c
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
