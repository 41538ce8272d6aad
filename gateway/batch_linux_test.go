package gateway

import (
	"net/netip"

	"golang.org/x/sys/unix"
)

// sockaddrRoundTrip writes ap as the sockaddr a socket of the family
// would send to and reads it back as a received source address; the
// zero AddrPort stands for a sockaddr of no IP family.
func sockaddrRoundTrip(ap netip.AddrPort, v6 bool) netip.AddrPort {
	var sa unix.RawSockaddrInet6
	n := uint32(unix.SizeofSockaddrInet6)
	if ap.IsValid() {
		n = toSockaddr(&sa, ap, v6)
	}
	return fromSockaddr(&sa, n)
}
