//go:build linux

package mmsg

import (
	"errors"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ErrNothingSent is what Send reports for a sendmmsg(2) that returned 0
// without an error.
var ErrNothingSent = errors.New("sendmmsg sent nothing")

// Recv calls recvmmsg(2) on fd for hdrs without blocking, retrying on
// EINTR. done is false when nothing is there to read (EAGAIN): a
// RawConn.Read callback returns it as is, so the poller waits; otherwise
// n messages were read, or err says why none was. hdrs must not be
// empty.
func Recv(fd uintptr, hdrs []unix.Mmsghdr) (n int, done bool, err error) {
	return call(unix.SYS_RECVMMSG, fd, hdrs)
}

// Send calls sendmmsg(2) on fd for hdrs without blocking, retrying on
// EINTR. done is false when the socket is not writable (EAGAIN), for a
// RawConn.Write callback to return; otherwise the first n messages were
// sent (at least one), or err says why none was. hdrs must not be empty.
func Send(fd uintptr, hdrs []unix.Mmsghdr) (n int, done bool, err error) {
	n, done, err = call(unix.SYS_SENDMMSG, fd, hdrs)
	if done && err == nil && n == 0 {
		err = ErrNothingSent
	}
	return n, done, err
}

func call(trap, fd uintptr, hdrs []unix.Mmsghdr) (int, bool, error) {
	for {
		n, _, e := unix.Syscall6(trap, fd, uintptr(unsafe.Pointer(&hdrs[0])), uintptr(len(hdrs)), unix.MSG_DONTWAIT, 0, 0)
		switch e {
		case 0:
			return int(n), true, nil
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return 0, false, nil
		}
		return 0, true, e
	}
}
