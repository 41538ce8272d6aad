package gateway

import (
	"fmt"
	"net"
	"os"
	"sync"
	"syscall"

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

// umaskMu serializes our own umask changes (the umask is per process).
var umaskMu sync.Mutex

// listenUnixMode binds and listens on a Unix socket at path that is
// created with mode: the umask is narrowed to it around bind(2) and then
// restored, so the socket never exists with a wider mode, not even
// before a chmod. While it is set, files other goroutines create get a
// narrower mode, never a wider one.
func listenUnixMode(path string, mode os.FileMode) (*net.UnixListener, error) {
	umaskMu.Lock()
	old := unix.Umask(int(^mode.Perm() & 0o777))
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	unix.Umask(old)
	umaskMu.Unlock()
	return ln, err
}

// peerCred returns the uid and pid of the process that connected c, from
// SO_PEERCRED.
func peerCred(c net.Conn) peer {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return peer{}
	}
	rc, err := uc.SyscallConn()
	if err != nil {
		return peer{}
	}
	var cred *unix.Ucred
	var cerr error
	if err := rc.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil || cerr != nil {
		return peer{}
	}
	return peer{uid: int(cred.Uid), pid: int(cred.Pid), ok: true}
}

// groupCanEnter reports whether members of group gid may enter the
// directory fi (search permission for others, or for its group when that
// is gid). ACLs are not looked at.
func groupCanEnter(fi os.FileInfo, gid int) bool {
	m := fi.Mode().Perm()
	if m&0o001 != 0 {
		return true
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return !ok || (m&0o010 != 0 && int(st.Gid) == gid)
}

// freeBind sets IP_FREEBIND (IPV6_FREEBIND) before bind: the address
// need not be on the host yet.
func freeBind(network, _ string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		if network == "udp6" {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_IPV6, unix.IPV6_FREEBIND, 1)
		} else {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_IP, unix.IP_FREEBIND, 1)
		}
	})
	if err != nil {
		return err
	}
	if serr != nil {
		return fmt.Errorf("IP_FREEBIND: %w", serr)
	}
	return nil
}
