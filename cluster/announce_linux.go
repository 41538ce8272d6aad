package cluster

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"

	"golang.org/x/sys/unix"
)

// announce tells the link that addr now lives at ifc's hardware address:
// a gratuitous ARP request (IPv4, RFC 5227 2.4 "ARP Announcement") or an
// unsolicited neighbour advertisement with the override flag (IPv6, RFC
// 4861 7.2.6), so that peers and routers on the link update their caches
// at once instead of after their entries go stale.
func announce(ifc *net.Interface, addr netip.Addr) error {
	if len(ifc.HardwareAddr) != 6 {
		return nil // no Ethernet addresses on this link (tun, lo): nothing to announce
	}
	if addr.Is4() {
		return garp(ifc, addr)
	}
	return unsolicitedNA(ifc, addr)
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func garp(ifc *net.Interface, addr netip.Addr) error {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ARP)))
	if err != nil {
		return fmt.Errorf("gratuitous ARP for %s: %w", addr, err)
	}
	defer unix.Close(fd)
	ip := addr.As4()
	pkt := make([]byte, 28)
	binary.BigEndian.PutUint16(pkt[0:], 1)      // Ethernet
	binary.BigEndian.PutUint16(pkt[2:], 0x0800) // IPv4
	pkt[4], pkt[5] = 6, 4
	binary.BigEndian.PutUint16(pkt[6:], 1) // request
	copy(pkt[8:], ifc.HardwareAddr)
	copy(pkt[14:], ip[:])
	copy(pkt[24:], ip[:]) // target = sender: an announcement
	to := &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ARP), Ifindex: ifc.Index, Halen: 6,
		Addr: [8]uint8{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}
	if err := unix.Sendto(fd, pkt, 0, to); err != nil {
		return fmt.Errorf("gratuitous ARP for %s on %s: %w", addr, ifc.Name, err)
	}
	return nil
}

func unsolicitedNA(ifc *net.Interface, addr netip.Addr) error {
	fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_ICMPV6)
	if err != nil {
		return fmt.Errorf("neighbour advertisement for %s: %w", addr, err)
	}
	defer unix.Close(fd)
	// RFC 4861 7.1.2: hop limit 255; the kernel fills in the checksum of
	// ICMPv6 raw sockets.
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_HOPS, 255); err != nil {
		return fmt.Errorf("neighbour advertisement for %s: %w", addr, err)
	}
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_IF, ifc.Index); err != nil {
		return fmt.Errorf("neighbour advertisement for %s: %w", addr, err)
	}
	if err := unix.Bind(fd, &unix.SockaddrInet6{Addr: addr.As16(), ZoneId: uint32(ifc.Index)}); err != nil {
		return fmt.Errorf("neighbour advertisement for %s: bind: %w", addr, err)
	}
	pkt := make([]byte, 32)
	pkt[0] = 136  // neighbour advertisement
	pkt[4] = 0x20 // override, not solicited, not router
	t := addr.As16()
	copy(pkt[8:], t[:])
	pkt[24], pkt[25] = 2, 1 // target link-layer address option, 8 bytes
	copy(pkt[26:], ifc.HardwareAddr)
	to := &unix.SockaddrInet6{Addr: netip.MustParseAddr("ff02::1").As16(), ZoneId: uint32(ifc.Index)}
	if err := unix.Sendto(fd, pkt, 0, to); err != nil {
		return fmt.Errorf("neighbour advertisement for %s on %s: %w", addr, ifc.Name, err)
	}
	return nil
}
