package gateway

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// batchReader reads datagrams from one UDP socket with recvmmsg(2), up to
// len(bufs) per system call, into buffers it owns. It belongs to one
// goroutine. Nothing is allocated per read: the message headers, I/O
// vectors, address storage, results and the function handed to RawConn
// are set up once.
type batchReader struct {
	rc    syscall.RawConn
	hdrs  []unix.Mmsghdr
	iovs  []unix.Iovec
	names []unix.RawSockaddrInet6 // large enough for either family
	bufs  [][]byte
	msgs  []rxMsg

	n     int   // datagrams of the last recvmmsg
	errno error // its error
	recvF func(fd uintptr) bool
}

// newBatchReader prepares a reader of conn taking up to n datagrams of
// up to size bytes per read.
func newBatchReader(conn *net.UDPConn, n, size int) (*batchReader, error) {
	rc, err := conn.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("batched reader: %w", err)
	}
	r := &batchReader{
		rc:    rc,
		hdrs:  make([]unix.Mmsghdr, n),
		iovs:  make([]unix.Iovec, n),
		names: make([]unix.RawSockaddrInet6, n),
		bufs:  make([][]byte, n),
		msgs:  make([]rxMsg, 0, n),
	}
	for i := range r.hdrs {
		r.bufs[i] = make([]byte, size)
		r.iovs[i].Base = &r.bufs[i][0]
		r.iovs[i].SetLen(size)
		r.hdrs[i].Hdr.Iov = &r.iovs[i]
		r.hdrs[i].Hdr.SetIovlen(1)
		r.hdrs[i].Hdr.Name = (*byte)(unsafe.Pointer(&r.names[i]))
	}
	r.recvF = r.recv
	return r, nil
}

// read waits for at least one datagram and returns those that are there
// (at most len(bufs)). They alias the reader's buffers: valid until the
// next read. The error of a closed socket is net.ErrClosed.
func (r *batchReader) read() ([]rxMsg, error) {
	for i := range r.hdrs {
		r.hdrs[i].Hdr.Namelen = unix.SizeofSockaddrInet6
		r.hdrs[i].Hdr.Flags = 0
		r.hdrs[i].Len = 0
	}
	r.n, r.errno = 0, nil
	if err := r.rc.Read(r.recvF); err != nil {
		return nil, err
	}
	if r.errno != nil {
		return nil, os.NewSyscallError("recvmmsg", r.errno)
	}
	msgs := r.msgs[:0]
	for i := range r.n {
		h := &r.hdrs[i]
		n := min(int(h.Len), len(r.bufs[i]))
		msgs = append(msgs, rxMsg{
			b:         r.bufs[i][:n],
			from:      fromSockaddr(&r.names[i], h.Hdr.Namelen),
			truncated: h.Hdr.Flags&unix.MSG_TRUNC != 0,
		})
	}
	r.msgs = msgs
	return msgs, nil
}

// recv is the RawConn.Read callback: false asks to wait for readability.
func (r *batchReader) recv(fd uintptr) bool {
	for {
		n, _, e := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&r.hdrs[0])), uintptr(len(r.hdrs)),
			unix.MSG_DONTWAIT, 0, 0)
		switch e {
		case 0:
			r.n = int(n)
			return true
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		}
		r.errno = e
		return true
	}
}

// fromSockaddr reads a datagram's source address (an IPv4-mapped IPv6
// address unmapped). An IPv6 scope becomes a numeric zone, which
// toSockaddr turns back into the scope.
func fromSockaddr(sa *unix.RawSockaddrInet6, namelen uint32) netip.AddrPort {
	switch {
	case sa.Family == unix.AF_INET && namelen >= unix.SizeofSockaddrInet4:
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		return netip.AddrPortFrom(netip.AddrFrom4(sa4.Addr), ntohs(sa4.Port))
	case sa.Family == unix.AF_INET6 && namelen >= unix.SizeofSockaddrInet6:
		a := netip.AddrFrom16(sa.Addr)
		if sa.Scope_id != 0 && !a.Is4In6() {
			a = a.WithZone(strconv.FormatUint(uint64(sa.Scope_id), 10))
		}
		return netip.AddrPortFrom(a.Unmap(), ntohs(sa.Port))
	}
	return netip.AddrPort{}
}

// toSockaddr writes ap into sa as the socket family wants it and returns
// the address's length; v6 says the socket is an IPv6 one.
func toSockaddr(sa *unix.RawSockaddrInet6, ap netip.AddrPort, v6 bool) uint32 {
	a := ap.Addr()
	if !v6 {
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		*sa4 = unix.RawSockaddrInet4{Family: unix.AF_INET, Port: htons(ap.Port()), Addr: a.Unmap().As4()}
		return unix.SizeofSockaddrInet4
	}
	*sa = unix.RawSockaddrInet6{Family: unix.AF_INET6, Port: htons(ap.Port()), Addr: a.As16()}
	if z := a.Zone(); z != "" {
		if id, err := strconv.ParseUint(z, 10, 32); err == nil {
			sa.Scope_id = uint32(id)
		} else if ifi, err := net.InterfaceByName(z); err == nil {
			sa.Scope_id = uint32(ifi.Index)
		}
	}
	return unix.SizeofSockaddrInet6
}

// ntohs and htons convert a port between network byte order, as a
// sockaddr holds it, and a number.
func ntohs(p uint16) uint16 {
	b := (*[2]byte)(unsafe.Pointer(&p))
	return uint16(b[0])<<8 | uint16(b[1])
}

func htons(p uint16) uint16 {
	var n uint16
	b := (*[2]byte)(unsafe.Pointer(&n))
	b[0], b[1] = byte(p>>8), byte(p)
	return n
}

// markerBytes is the non-ESP marker, sent from here without a copy.
var markerBytes = nonESPMarker

// batchWriter sends datagrams with sendmmsg(2), up to its size per
// system call. It belongs to one goroutine and allocates nothing per
// write.
type batchWriter struct {
	hdrs  []unix.Mmsghdr
	iovs  []unix.Iovec // two per datagram: marker, data
	names []unix.RawSockaddrInet6

	todo  []unix.Mmsghdr // the headers the callback sends
	n     int
	errno error
	sendF func(fd uintptr) bool
}

// newBatchWriter returns a writer of up to n datagrams per system call.
func newBatchWriter(n int) *batchWriter {
	w := &batchWriter{
		hdrs:  make([]unix.Mmsghdr, n),
		iovs:  make([]unix.Iovec, 2*n),
		names: make([]unix.RawSockaddrInet6, n),
	}
	w.sendF = w.send
	return w
}

// write sends msgs (at most the writer's size) from s and sets res[i] to
// the error of msgs[i], nil when it was sent.
func (w *batchWriter) write(s *socket, msgs []txMsg, res []error) {
	v6 := s.local.Addr().Is6()
	for i, m := range msgs {
		h := &w.hdrs[i]
		iov := w.iovs[2*i : 2*i : 2*i+2]
		if m.marker {
			iov = append(iov, unix.Iovec{Base: &markerBytes[0]})
			iov[len(iov)-1].SetLen(len(markerBytes))
		}
		if len(m.data) > 0 {
			iov = append(iov, unix.Iovec{Base: &m.data[0]})
			iov[len(iov)-1].SetLen(len(m.data))
		}
		*h = unix.Mmsghdr{}
		if len(iov) > 0 {
			h.Hdr.Iov = &iov[0]
		}
		h.Hdr.SetIovlen(len(iov))
		h.Hdr.Name = (*byte)(unsafe.Pointer(&w.names[i]))
		h.Hdr.Namelen = toSockaddr(&w.names[i], m.to, v6)
	}
	for off := 0; off < len(msgs); {
		w.todo, w.n, w.errno = w.hdrs[off:len(msgs)], 0, nil
		if err := s.rc.Write(w.sendF); err != nil {
			for i := off; i < len(msgs); i++ {
				res[i] = err
			}
			break
		}
		if w.errno != nil {
			// The first datagram failed; the kernel tells the error of a
			// later one on the next call.
			res[off] = os.NewSyscallError("sendmmsg", w.errno)
			off++
			continue
		}
		for i := off; i < off+w.n; i++ {
			res[i] = nil
		}
		off += w.n
	}
	clear(w.iovs[:2*len(msgs)]) // keep no datagram alive
}

// send is the RawConn.Write callback: false asks to wait until the
// socket is writable.
func (w *batchWriter) send(fd uintptr) bool {
	for {
		n, _, e := unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&w.todo[0])), uintptr(len(w.todo)),
			unix.MSG_DONTWAIT, 0, 0)
		switch e {
		case 0:
			w.n = int(n)
			if w.n == 0 {
				w.errno = errors.New("sendmmsg sent nothing")
			}
			return true
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		}
		w.errno = e
		return true
	}
}
