package cluster

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"ikegate/internal/netnstest"
)

// inNewNetns runs f on a thread inside a fresh network namespace.
func inNewNetns(t *testing.T, f func() error) {
	t.Helper()
	netnstest.Run(t, netnstest.New(t, "this test"), f)
}

// TestServiceAddress: a service address is added with a kernel lifetime
// (renewed by adding it again), announced with a gratuitous ARP and an
// unsolicited neighbour advertisement that a neighbour on the link sees,
// and removed (twice: the second is no error).
func TestServiceAddress(t *testing.T) {
	inNewNetns(t, func() error {
		la := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "svc0"}, PeerName: "peer0"}
		if err := netlink.LinkAdd(la); err != nil {
			return err
		}
		for _, n := range []string{"svc0", "peer0", "lo"} {
			l, err := netlink.LinkByName(n)
			if err != nil {
				return err
			}
			if err := netlink.LinkSetUp(l); err != nil {
				return err
			}
		}
		peer, err := net.InterfaceByName("peer0")
		if err != nil {
			return err
		}
		// What the neighbour receives.
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, int(htons(unix.ETH_P_ALL)))
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: peer.Index}); err != nil {
			return err
		}
		unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Sec: 2})

		l := linkAddrs{ifname: "svc0"}
		svc0, _ := net.InterfaceByName("svc0")
		for _, tc := range []struct {
			p    netip.Prefix
			seen func(frame []byte) bool
		}{
			{netip.MustParsePrefix("10.9.0.2/24"), func(f []byte) bool {
				// Ethernet broadcast, ARP request, sender = target = the address.
				return len(f) >= 42 && binary.BigEndian.Uint16(f[12:]) == unix.ETH_P_ARP &&
					net.HardwareAddr(f[0:6]).String() == "ff:ff:ff:ff:ff:ff" &&
					binary.BigEndian.Uint16(f[20:]) == 1 && net.HardwareAddr(f[22:28]).String() == svc0.HardwareAddr.String() &&
					netip.AddrFrom4([4]byte(f[28:32])) == netip.MustParseAddr("10.9.0.2") &&
					netip.AddrFrom4([4]byte(f[38:42])) == netip.MustParseAddr("10.9.0.2")
			}},
			{netip.MustParsePrefix("fd00:9::2/64"), func(f []byte) bool {
				// IPv6 to ff02::1, hop limit 255, ICMPv6 NA with the override
				// flag, the target and its link-layer address.
				if len(f) < 14+40+32 || binary.BigEndian.Uint16(f[12:]) != unix.ETH_P_IPV6 {
					return false
				}
				ip, icmp := f[14:54], f[54:]
				return ip[6] == unix.IPPROTO_ICMPV6 && ip[7] == 255 &&
					netip.AddrFrom16([16]byte(ip[24:40])) == netip.MustParseAddr("ff02::1") &&
					icmp[0] == 136 && icmp[4]&0x20 != 0 && icmp[4]&0x40 == 0 &&
					netip.AddrFrom16([16]byte(icmp[8:24])) == netip.MustParseAddr("fd00:9::2") &&
					icmp[24] == 2 && net.HardwareAddr(icmp[26:32]).String() == svc0.HardwareAddr.String()
			}},
		} {
			if err := l.add(tc.p, 3*time.Second); err != nil {
				return err
			}
			link, _ := netlink.LinkByName("svc0")
			addrs, err := netlink.AddrList(link, netlink.FAMILY_ALL)
			if err != nil {
				return err
			}
			found := false
			for _, a := range addrs {
				if a.IP.Equal(tc.p.Addr().AsSlice()) {
					found = true
					if a.ValidLft <= 0 || a.ValidLft > 3 {
						t.Errorf("%s: valid lifetime %d s, want 1-3", tc.p, a.ValidLft)
					}
				}
			}
			if !found {
				t.Errorf("%s not on the interface", tc.p)
			}
			if err := l.add(tc.p, 3*time.Second); err != nil { // renewal
				t.Errorf("renewing %s: %v", tc.p, err)
			}
			if err := l.announce(tc.p); err != nil {
				return err
			}
			got := false
			buf := make([]byte, 2048)
			for deadline := time.Now().Add(2 * time.Second); !got && time.Now().Before(deadline); {
				n, _, err := unix.Recvfrom(fd, buf, 0)
				if err != nil {
					break
				}
				got = tc.seen(buf[:n])
			}
			if !got {
				t.Errorf("%s: the neighbour saw no announcement", tc.p)
			}
			for range 2 {
				if err := l.remove(tc.p); err != nil {
					t.Errorf("removing %s: %v", tc.p, err)
				}
			}
		}
		return nil
	})
}
