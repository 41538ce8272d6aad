//go:build !linux

package gateway

import "net/netip"

// sockaddrRoundTrip: no sockaddr conversion here (TestSockaddr skips).
func sockaddrRoundTrip(ap netip.AddrPort, _ bool) netip.AddrPort { return ap }
