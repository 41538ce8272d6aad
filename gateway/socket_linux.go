package gateway

import (
	"net"

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
