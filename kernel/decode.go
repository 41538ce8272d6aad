package kernel

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
)

// Decoders for the XFRM netlink multicast messages the netlink library
// does not parse (ACQUIRE) or parses without bounds checks (EXPIRE). They
// are pure functions over the message payload (after struct nlmsghdr) so
// they can be unit-tested and fuzzed without a kernel.
//
// Layouts are those of linux/xfrm.h on 64-bit architectures (where __u64
// is 8-byte aligned; i386 lays xfrm_userpolicy_info out differently, a
// well-known XFRM compat problem). Addresses, SPIs and ports are in network
// byte order; everything else is in host byte order.

// Netlink message types and attribute types (linux/xfrm.h).
const (
	xfrmMsgAcquire = 0x17 // XFRM_MSG_ACQUIRE
	xfrmMsgExpire  = 0x18 // XFRM_MSG_EXPIRE
	xfrmaTmpl      = 5    // XFRMA_TMPL

	afInet  = 2  // AF_INET
	afInet6 = 10 // AF_INET6
)

// Sizes and offsets.
const (
	sizeofXfrmAddress     = 16
	sizeofXfrmID          = 24 // daddr, spi, proto, pad
	sizeofXfrmSelector    = 56
	sizeofUserpolicyInfo  = 168
	sizeofUsersaInfo      = 224
	sizeofUserExpire      = 232
	sizeofUserTmpl        = 64
	sizeofUserAcquire     = 280
	offIDSPI              = 16
	offIDProto            = 20
	offSelDaddr           = 0
	offSelSaddr           = 16
	offSelDport           = 32
	offSelSport           = 36
	offSelFamily          = 40
	offSelPrefixlenD      = 42
	offSelPrefixlenS      = 43
	offSelProto           = 44
	offPolicyIndex        = 156
	offAcquireSaddr       = 24
	offAcquireSel         = 40
	offAcquirePolicy      = 96
	offAcquireSeq         = 276
	offTmplFamily         = 24
	offTmplSaddr          = 28
	offTmplReqid          = 44
	offUsersaID           = 56
	offUsersaSaddr        = 80
	offUsersaReqid        = 208
	offUsersaFamily       = 212
	offUserExpireHard     = sizeofUsersaInfo
	nlaHeaderLen          = 4
	nlaTypeMask           = 0x3fff // strips NLA_F_NESTED and NLA_F_NET_BYTEORDER
	minUserExpireLen      = offUserExpireHard + 1
	offAcquirePolicyIndex = offAcquirePolicy + offPolicyIndex
)

var hostEndian = binary.NativeEndian

// Decoding errors.
var (
	errShort     = errors.New("kernel: xfrm message too short")
	errBadAttr   = errors.New("kernel: malformed netlink attribute")
	errBadFamily = errors.New("kernel: unknown address family")
)

// addrAt reads an xfrm_address_t of the given family at b[off:].
func addrAt(b []byte, off int, family uint16) (netip.Addr, error) {
	switch family {
	case afInet:
		return netip.AddrFrom4([4]byte(b[off : off+4])), nil
	case afInet6:
		return netip.AddrFrom16([16]byte(b[off : off+16])), nil
	}
	return netip.Addr{}, fmt.Errorf("%w %d", errBadFamily, family)
}

// prefixAt reads an address and its prefix length as a masked prefix.
func prefixAt(b []byte, off int, family uint16, bits uint8) (netip.Prefix, error) {
	a, err := addrAt(b, off, family)
	if err != nil {
		return netip.Prefix{}, err
	}
	if int(bits) > a.BitLen() {
		return netip.Prefix{}, fmt.Errorf("kernel: xfrm selector prefix length %d exceeds %d", bits, a.BitLen())
	}
	return netip.PrefixFrom(a, int(bits)).Masked(), nil
}

// decodeAcquire decodes the payload of an XFRM_MSG_ACQUIRE message: a
// struct xfrm_user_acquire followed by netlink attributes, of which the
// first xfrm_user_tmpl in XFRMA_TMPL gives the reqid and the endpoints'
// address family.
func decodeAcquire(b []byte) (Event, error) {
	var ev Event
	if len(b) < sizeofUserAcquire {
		return ev, fmt.Errorf("%w: acquire is %d bytes, want at least %d", errShort, len(b), sizeofUserAcquire)
	}
	sel := b[offAcquireSel : offAcquireSel+sizeofXfrmSelector]
	selFamily := hostEndian.Uint16(sel[offSelFamily:])

	ev.Kind = EventAcquire
	ev.SPI = binary.BigEndian.Uint32(b[offIDSPI:])
	ev.Proto = sel[offSelProto]
	ev.Seq = hostEndian.Uint32(b[offAcquireSeq:])
	ev.PolicyIndex = hostEndian.Uint32(b[offAcquirePolicyIndex:])
	ev.LocalPort = binary.BigEndian.Uint16(sel[offSelSport:])
	ev.RemotePort = binary.BigEndian.Uint16(sel[offSelDport:])

	var err error
	if ev.LocalTS, err = prefixAt(sel, offSelSaddr, selFamily, sel[offSelPrefixlenS]); err != nil {
		return Event{}, fmt.Errorf("kernel: acquire selector source: %w", err)
	}
	if ev.RemoteTS, err = prefixAt(sel, offSelDaddr, selFamily, sel[offSelPrefixlenD]); err != nil {
		return Event{}, fmt.Errorf("kernel: acquire selector destination: %w", err)
	}

	// Attributes: the first template gives reqid and the endpoint family.
	epFamily := selFamily
	for rest := b[sizeofUserAcquire:]; len(rest) > 0; {
		if len(rest) < nlaHeaderLen {
			return Event{}, fmt.Errorf("%w: %d trailing bytes", errBadAttr, len(rest))
		}
		alen := int(hostEndian.Uint16(rest))
		atype := hostEndian.Uint16(rest[2:]) & nlaTypeMask
		if alen < nlaHeaderLen || alen > len(rest) {
			return Event{}, fmt.Errorf("%w: length %d with %d bytes left", errBadAttr, alen, len(rest))
		}
		data := rest[nlaHeaderLen:alen]
		if atype == xfrmaTmpl {
			if len(data) < sizeofUserTmpl || len(data)%sizeofUserTmpl != 0 {
				return Event{}, fmt.Errorf("%w: XFRMA_TMPL of %d bytes is not a whole number of %d-byte templates", errBadAttr, len(data), sizeofUserTmpl)
			}
			ev.ReqID = hostEndian.Uint32(data[offTmplReqid:])
			epFamily = hostEndian.Uint16(data[offTmplFamily:])
		}
		next := (alen + 3) &^ 3
		if next > len(rest) {
			next = len(rest) // the last attribute need not be padded
		}
		rest = rest[next:]
	}
	if ev.Dst, err = addrAt(b, 0, epFamily); err != nil {
		return Event{}, fmt.Errorf("kernel: acquire destination: %w", err)
	}
	if ev.Src, err = addrAt(b, offAcquireSaddr, epFamily); err != nil {
		return Event{}, fmt.Errorf("kernel: acquire source: %w", err)
	}
	return ev, nil
}

// decodeExpire decodes the payload of an XFRM_MSG_EXPIRE message: a
// struct xfrm_user_expire (the SA's xfrm_usersa_info and the hard flag).
func decodeExpire(b []byte) (Event, error) {
	var ev Event
	if len(b) < minUserExpireLen {
		return ev, fmt.Errorf("%w: expire is %d bytes, want at least %d", errShort, len(b), minUserExpireLen)
	}
	family := hostEndian.Uint16(b[offUsersaFamily:])
	ev.Kind = EventSoftExpire
	if b[offUserExpireHard] != 0 {
		ev.Kind = EventHardExpire
	}
	ev.SPI = binary.BigEndian.Uint32(b[offUsersaID+offIDSPI:])
	ev.Proto = b[offUsersaID+offIDProto]
	ev.ReqID = hostEndian.Uint32(b[offUsersaReqid:])
	var err error
	if ev.Dst, err = addrAt(b, offUsersaID, family); err != nil {
		return Event{}, fmt.Errorf("kernel: expire destination: %w", err)
	}
	if ev.Src, err = addrAt(b, offUsersaSaddr, family); err != nil {
		return Event{}, fmt.Errorf("kernel: expire source: %w", err)
	}
	return ev, nil
}

// decodeEvent decodes one XFRM multicast message; ok is false for message
// types that are not events.
func decodeEvent(msgType uint16, b []byte) (ev Event, ok bool, err error) {
	switch msgType {
	case xfrmMsgAcquire:
		ev, err = decodeAcquire(b)
		return ev, true, err
	case xfrmMsgExpire:
		ev, err = decodeExpire(b)
		return ev, true, err
	}
	return Event{}, false, nil
}
