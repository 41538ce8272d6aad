package gateway

import (
	"fmt"
	"net"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// forceRcvBuf sets SO_RCVBUFFORCE (root / CAP_NET_ADMIN only) and reports
// whether it worked.
func forceRcvBuf(conn *net.UDPConn, size int) bool {
	rc, err := conn.SyscallConn()
	if err != nil {
		return false
	}
	ok := false
	rc.Control(func(fd uintptr) {
		ok = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, size) == nil
	})
	return ok
}

// From linux/xfrm.h: struct xfrm_userpolicy_info's dir and action.
const (
	xfrmPolicyIn    = 0 // XFRM_POLICY_IN
	xfrmPolicyOut   = 1 // XFRM_POLICY_OUT
	xfrmPolicyAllow = 0 // XFRM_POLICY_ALLOW
)

// xfrmSocket prepares one of our UDP sockets for the kernel's IPsec (the
// "xfrm" dataplane):
//
//   - every socket gets a per-socket bypass policy (IP_XFRM_POLICY /
//     IPV6_XFRM_POLICY, action allow, both directions), so IKE itself is
//     never caught by a trap or CHILD SA policy whose selectors cover the
//     peers' addresses (host-to-host connections);
//   - the NAT-T socket gets UDP_ENCAP_ESPINUDP (RFC 3948), so the kernel
//     decapsulates ESP-in-UDP itself; datagrams with the non-ESP marker
//     (IKE) still reach us, marker included, and the kernel eats NAT
//     keepalives.
func xfrmSocket(conn *net.UDPConn, v6, natt bool) error {
	rc, err := conn.SyscallConn()
	if err != nil {
		return err
	}
	level, opt, family := unix.SOL_IP, unix.IP_XFRM_POLICY, uint16(unix.AF_INET)
	if v6 {
		level, opt, family = unix.SOL_IPV6, unix.IPV6_XFRM_POLICY, unix.AF_INET6
	}
	var serr error
	cerr := rc.Control(func(fd uintptr) {
		for _, dir := range []uint8{xfrmPolicyIn, xfrmPolicyOut} {
			p := nl.XfrmUserpolicyInfo{Dir: dir, Action: xfrmPolicyAllow}
			p.Sel.Family = family
			if err := unix.SetsockoptString(int(fd), level, opt, string(p.Serialize())); err != nil {
				serr = fmt.Errorf("set IPsec bypass policy (%s) on the socket: %w", map[uint8]string{xfrmPolicyIn: "in", xfrmPolicyOut: "out"}[dir], err)
				return
			}
		}
		if natt {
			if err := unix.SetsockoptInt(int(fd), unix.SOL_UDP, unix.UDP_ENCAP, unix.UDP_ENCAP_ESPINUDP); err != nil {
				serr = fmt.Errorf("set UDP_ENCAP_ESPINUDP on the NAT-T socket: %w", err)
			}
		}
	})
	if cerr != nil {
		return cerr
	}
	return serr
}

// udpEncap returns the socket's UDP_ENCAP option (0: none).
func udpEncap(conn *net.UDPConn) (int, error) {
	rc, err := conn.SyscallConn()
	if err != nil {
		return 0, err
	}
	var v int
	var gerr error
	if err := rc.Control(func(fd uintptr) {
		v, gerr = unix.GetsockoptInt(int(fd), unix.SOL_UDP, unix.UDP_ENCAP)
	}); err != nil {
		return 0, err
	}
	return v, gerr
}
