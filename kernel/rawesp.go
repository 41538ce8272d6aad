package kernel

import (
	"errors"
	"fmt"
	"net/netip"

	"go.uber.org/zap"

	"ikegate/policy"
)

// Raw ESP (RFC 4303 over IP protocol 50, no UDP encapsulation) for the
// userspace dataplane, for peers that are not behind a NAT.
//
// The userspace dataplane normally takes its ESP from the gateway's NAT-T
// sockets (ESP-in-UDP, RFC 3948). With Options.RawESP it also opens a raw
// IPv4 and a raw IPv6 socket for protocol 50 (in its network namespace;
// the hosts this runs on have XFRM but no kernel ESP, so no kernel
// handler competes for the packets): a receive loop per socket hands
// each ESP packet, with the outer addresses and port 0, to the same
// inbound path HandleESP takes for ESP-in-UDP (SPI lookup, decap,
// selector check, TUN write), and CHILD SAs installed without
// encapsulation ports send through the raw sockets (the kernel builds the
// outer IP header; the SA's local address is the packet's source). The
// ESP packet is the same as in UDP, minus the UDP header.
//
// A raw SA never follows a peer's address or port the way a UDP one
// follows a NAT mapping: without a NAT there is none to follow, and
// MOBIKE moves it explicitly (MoveChildSA). ESP arriving in the other
// form than its SA was installed with (raw for an encapsulated SA, UDP
// for a raw one) is dropped and counted as rejected.

// Options configure what New cannot: the parts of a backend that are off
// by default.
type Options struct {
	// RawESP opens the userspace dataplane's raw ESP transport (IP
	// protocol 50), so that it takes CHILD SAs without UDP encapsulation
	// (Capabilities().RawESP). The other backends ignore it: xfrm carries
	// raw ESP in the kernel, none carries nothing.
	RawESP bool
}

// Open returns the backend called name ("none", "xfrm" or "userspace",
// as New) with options o.
func Open(name string, log *zap.Logger, o Options) (Backend, error) {
	if name != "userspace" || !o.RawESP {
		return New(name, log)
	}
	if log == nil {
		log = zap.NewNop()
	}
	return newUserspaceRawCurrentNS(log.Named("kernel"))
}

// rawESP is the raw ESP transport of a Userspace (Userspace.raw): the
// sender for CHILD SAs without UDP encapsulation and how to stop it.
type rawESP struct {
	// send sends one ESP packet from local's address to remote's (the
	// ports are zero and ignored); b is only valid during the call.
	send Sender
	// sendBatch, if set, sends several such packets at once (in one
	// system call where it can) and returns how many it could not send.
	sendBatch BatchSender
	close     func() error
}

// setRawESP gives u its raw ESP transport (before any SA is installed).
func (u *Userspace) setRawESP(r *rawESP) { u.raw.Store(r) }

// closeRawESP stops u's raw ESP transport, if it has one.
func (u *Userspace) closeRawESP() error {
	r := u.raw.Swap(nil)
	if r == nil || r.close == nil {
		return nil
	}
	if err := r.close(); err != nil {
		return fmt.Errorf("kernel: raw ESP transport: %w", err)
	}
	return nil
}

// handleRawESP takes one ESP packet that arrived as IP protocol 50 from
// src to dst (the outer IP header already removed): HandleESP with port 0
// for both ends, which is how the inbound path tells raw ESP from
// ESP-in-UDP. The raw receive loops hand whole reads to HandleESPBatch
// the same way (rawDatagram).
func (u *Userspace) handleRawESP(dst, src netip.Addr, pkt []byte) {
	d := rawDatagram(dst, src, pkt)
	u.HandleESP(d.Local, d.Remote, d.B)
}

// rawDatagram is the inbound datagram of a raw ESP packet from src to
// dst: the addresses unmapped, the ports 0.
func rawDatagram(dst, src netip.Addr, pkt []byte) policy.ESPDatagram {
	return policy.ESPDatagram{Local: netip.AddrPortFrom(dst.Unmap(), 0), Remote: netip.AddrPortFrom(src.Unmap(), 0), B: pkt}
}

// IP protocol numbers and header sizes of the raw transport.
const (
	protoESP     = 50
	ipv4HdrMin   = 20
	ipv4FlagMF   = 0x2000
	ipv4FragMask = 0x1fff
)

// errRawIPv4 is what parseRawIPv4 reports for a packet it cannot take.
var errRawIPv4 = errors.New("not a whole IPv4 ESP packet")

// parseRawIPv4 splits a packet as a raw IPv4 socket delivers it (the
// IPv4 header as on the wire, options included, then the payload) into
// its outer addresses and the ESP packet. It refuses what is not a whole,
// unfragmented IPv4 packet of protocol 50 with a consistent header and
// total length; payload aliases p. It never panics.
func parseRawIPv4(p []byte) (src, dst netip.Addr, payload []byte, err error) {
	if len(p) < ipv4HdrMin {
		return src, dst, nil, fmt.Errorf("%w: %d bytes, shorter than an IPv4 header", errRawIPv4, len(p))
	}
	if v := p[0] >> 4; v != 4 {
		return src, dst, nil, fmt.Errorf("%w: IP version %d", errRawIPv4, v)
	}
	hl := int(p[0]&0x0f) * 4
	if hl < ipv4HdrMin || hl > len(p) {
		return src, dst, nil, fmt.Errorf("%w: header length %d of %d bytes", errRawIPv4, hl, len(p))
	}
	total := int(p[2])<<8 | int(p[3])
	if total < hl || total > len(p) {
		return src, dst, nil, fmt.Errorf("%w: total length %d, header %d, %d bytes read", errRawIPv4, total, hl, len(p))
	}
	if frag := int(p[6])<<8 | int(p[7]); frag&(ipv4FlagMF|ipv4FragMask) != 0 {
		return src, dst, nil, fmt.Errorf("%w: a fragment (flags/offset %#04x)", errRawIPv4, frag)
	}
	if p[9] != protoESP {
		return src, dst, nil, fmt.Errorf("%w: protocol %d", errRawIPv4, p[9])
	}
	src = netip.AddrFrom4([4]byte(p[12:16]))
	dst = netip.AddrFrom4([4]byte(p[16:20]))
	return src, dst, p[hl:total], nil
}
