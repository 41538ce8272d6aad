package isakmp

import "net/netip"

// Datagram is one UDP payload carrying an ISAKMP/IKE message, with the
// addresses it was received on or is to be sent between. On the NAT-T port
// Data excludes the four-byte non-ESP marker: the runtime strips it on
// receive and adds it on send.
type Datagram struct {
	Local, Remote netip.AddrPort
	Data          []byte
}
