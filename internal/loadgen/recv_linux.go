package loadgen

import (
	"errors"
	"net/netip"
	"sync"

	"golang.org/x/sys/unix"
)

// bufs are the receive buffers, shared by all sockets: a socket holds one
// only while a datagram is being read, not while it waits for one, so
// thousands of idle sockets cost no buffer each.
var bufs = sync.Pool{New: func() any { b := make([]byte, 65536); return &b }}

// recv reads the next datagram of s: a copy of its bytes and its source.
// truncated reports one longer than the largest UDP payload (never on
// Linux: MSG_TRUNC tells the real length).
func (s *socket) recv() (data []byte, from netip.AddrPort, truncated bool, err error) {
	var rerr error
	err = s.raw.Read(func(fd uintptr) bool {
		bp := bufs.Get().(*[]byte)
		defer bufs.Put(bp)
		n, sa, e := unix.Recvfrom(int(fd), *bp, unix.MSG_DONTWAIT|unix.MSG_TRUNC)
		for errors.Is(e, unix.EINTR) {
			n, sa, e = unix.Recvfrom(int(fd), *bp, unix.MSG_DONTWAIT|unix.MSG_TRUNC)
		}
		switch {
		case errors.Is(e, unix.EAGAIN):
			return false // wait until readable
		case e != nil:
			rerr = e
			return true
		}
		if n > len(*bp) {
			truncated, n = true, len(*bp)
		}
		data = append([]byte(nil), (*bp)[:n]...)
		switch a := sa.(type) {
		case *unix.SockaddrInet4:
			from = netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port))
		case *unix.SockaddrInet6:
			from = netip.AddrPortFrom(netip.AddrFrom16(a.Addr).Unmap(), uint16(a.Port))
		}
		return true
	})
	if err == nil {
		err = rerr
	}
	return data, from, truncated, err
}
