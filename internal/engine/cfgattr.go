package engine

import (
	"net/netip"

	"ikegate/isakmp"
	"ikegate/policy"
)

// ConfigAttr answers a client's request for configuration attribute t
// with the standard attributes both IKE versions share (RFC 7296 3.15.1,
// the IKEv1 Mode Config draft uses the same numbers): the client's
// virtual IP vip, its netmask, DNS and NBNS servers from attrs (nil: none)
// and our application version. It calls add once per value (several DNS
// servers: several attributes) and reports whether t is one of them.
func ConfigAttr(t uint16, vip netip.Addr, attrs *policy.Attributes, add func(t uint16, v []byte)) bool {
	switch t {
	case isakmp.CPInternalIP4Address:
		if vip.Is4() {
			add(t, vip.AsSlice())
		}
	case isakmp.CPInternalIP4Netmask:
		if vip.Is4() {
			add(t, []byte{255, 255, 255, 255})
		}
	case isakmp.CPInternalIP6Address:
		if vip.Is6() {
			add(t, append(vip.AsSlice(), 128))
		}
	case isakmp.CPApplicationVersion:
		add(t, []byte("ikegate"))
	case isakmp.CPInternalIP4DNS, isakmp.CPInternalIP6DNS, isakmp.CPInternalIP4NBNS:
		if attrs == nil {
			return true
		}
		servers := attrs.DNS
		if t == isakmp.CPInternalIP4NBNS {
			servers = attrs.NBNS
		}
		for _, d := range servers {
			if d.Is4() == (t != isakmp.CPInternalIP6DNS) {
				add(t, d.AsSlice())
			}
		}
	default:
		return false
	}
	return true
}
