package engine

import "net/netip"

// ipv6Extra is how much longer an IPv6 header (40 bytes) is than an IPv4
// one without options (20).
const ipv6Extra = 40 - 20

// FragmentLimit is the largest IKE message (from the IKE header on) we
// send unfragmented to remote, and the largest fragment: FragmentSize for
// an IPv4 peer, 20 bytes less for an IPv6 one, so that a datagram that
// fits IPv4's 1280 bytes with the default fits IPv6's minimum MTU of 1280
// (RFC 8200 5) too. Larger, the sender's own kernel would fragment it at
// the IP layer, which IKE fragmentation exists to avoid (RFC 7383 2.5.1).
func (cfg Config) FragmentLimit(remote netip.Addr) int {
	if remote.Is6() && !remote.Is4In6() {
		return cfg.FragmentSize - ipv6Extra
	}
	return cfg.FragmentSize
}
