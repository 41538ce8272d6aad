package gateway

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"syscall"
	"unsafe"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"ikegate/internal/mmsg"
	"ikegate/isakmp"
	"ikegate/policy"
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
	oobs  []byte // oobSize per datagram: the UDP GRO segment size
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
		oobs:  make([]byte, n*oobSize),
		msgs:  make([]rxMsg, 0, n),
	}
	for i := range r.hdrs {
		r.bufs[i] = make([]byte, size)
		r.iovs[i].Base = &r.bufs[i][0]
		r.iovs[i].SetLen(size)
		r.hdrs[i].Hdr.Iov = &r.iovs[i]
		r.hdrs[i].Hdr.SetIovlen(1)
		r.hdrs[i].Hdr.Name = (*byte)(unsafe.Pointer(&r.names[i]))
		r.hdrs[i].Hdr.Control = &r.oobs[i*oobSize]
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
		r.hdrs[i].Hdr.SetControllen(oobSize)
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
		m := rxMsg{
			b:         r.bufs[i][:n],
			from:      fromSockaddr(&r.names[i], h.Hdr.Namelen),
			truncated: h.Hdr.Flags&unix.MSG_TRUNC != 0,
		}
		if cl := int(h.Hdr.Controllen); cl > 0 || h.Hdr.Flags&unix.MSG_CTRUNC != 0 {
			seg, ok := groSegment(r.oobs[i*oobSize : i*oobSize+min(cl, oobSize)])
			m.seg, m.badGRO = seg, !ok || h.Hdr.Flags&unix.MSG_CTRUNC != 0
		}
		msgs = append(msgs, m)
	}
	r.msgs = msgs
	return msgs, nil
}

// recv is the RawConn.Read callback: false asks to wait for readability.
func (r *batchReader) recv(fd uintptr) bool {
	var done bool
	r.n, done, r.errno = mmsg.Recv(fd, r.hdrs)
	return done
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
	var done bool
	w.n, done, w.errno = mmsg.Send(fd, w.todo)
	return done
}

// oobSize is the control buffer of one received datagram: room for the
// UDP_GRO message (an int) and more.
const oobSize = 64

// groSegment reads the UDP_GRO control message from the control data
// oob of one received datagram: the segment size of the datagrams the
// kernel coalesced (0 if there is no such message: one datagram). ok is
// false if oob is malformed or the message's size is not one we
// understand; the datagram must then be dropped, not guessed at. Other
// control messages are skipped.
func groSegment(oob []byte) (seg int, ok bool) {
	const hdrLen = unix.SizeofCmsghdr
	const align = int(unsafe.Sizeof(uintptr(0)))
	for len(oob) > 0 {
		if len(oob) < hdrLen {
			return 0, false
		}
		var l int
		if unsafe.Sizeof(unix.Cmsghdr{}.Len) == 8 {
			l64 := binary.NativeEndian.Uint64(oob)
			if l64 > uint64(len(oob)) {
				return 0, false
			}
			l = int(l64)
		} else {
			l = int(binary.NativeEndian.Uint32(oob))
		}
		if l < hdrLen || l > len(oob) {
			return 0, false
		}
		level := int32(binary.NativeEndian.Uint32(oob[hdrLen-8:]))
		typ := int32(binary.NativeEndian.Uint32(oob[hdrLen-4:]))
		if level == unix.SOL_UDP && typ == unix.UDP_GRO {
			data := oob[hdrLen:l]
			if len(data) < 4 {
				return 0, false
			}
			v := int32(binary.NativeEndian.Uint32(data))
			if v <= 0 || v > 65535 {
				return 0, false
			}
			seg = int(v)
		}
		step := (l + align - 1) &^ (align - 1)
		if step >= len(oob) {
			break
		}
		oob = oob[step:]
	}
	return seg, true
}

// enableUDPOffloads turns on UDP GRO for receiving (setsockopt UDP_GRO:
// the kernel hands us runs of a peer's datagrams as one, with their
// segment size) and, if the kernel has it, UDP GSO for sending ESP
// batches (UDP_SEGMENT) on a NAT-T socket. Where the kernel lacks either,
// the socket works as before; nothing fails.
func enableUDPOffloads(s *socket, log *zap.Logger) {
	var groErr, gsoErr error
	err := s.rc.Control(func(fd uintptr) {
		groErr = unix.SetsockoptInt(int(fd), unix.SOL_UDP, unix.UDP_GRO, 1)
		_, gsoErr = unix.GetsockoptInt(int(fd), unix.SOL_UDP, unix.UDP_SEGMENT)
	})
	if err != nil {
		groErr, gsoErr = err, err
	}
	s.gso.Store(gsoErr == nil)
	log.Debug("UDP offloads on the NAT-T socket", zap.Stringer("socket", s.local),
		zap.Bool("gro", groErr == nil), zap.Bool("gso", gsoErr == nil))
}

// UDP segmentation limits of one GSO send: at most maxGSOSegments
// datagrams (the kernel's UDP_MAX_SEGMENTS is 64 on older kernels) and a
// payload that fits one IP packet of either family.
const (
	maxGSOSegments = 64
	maxGSOPayload  = 65535 - 40 - 8
)

// espWriter sends a batch of ESP datagrams from one socket: one
// sendmmsg(2) whose messages are each either one datagram or, with UDP
// GSO, a run of datagrams to the same peer of one size (the last may be
// shorter) that the kernel splits (UDP_SEGMENT). It allocates nothing
// per write.
type espWriter struct {
	hdrs  []unix.Mmsghdr
	iovs  []unix.Iovec
	names []unix.RawSockaddrInet6
	oobs  []byte
	first []int // per message: the index of its first datagram
	segs  []int // per message: its datagrams

	todo  []unix.Mmsghdr
	n     int
	errno error
	sendF func(fd uintptr) bool
}

// gsoOOB is the control buffer of one UDP_SEGMENT message.
var gsoOOB = unix.CmsgSpace(2)

func newESPWriter() *espWriter {
	n := policy.MaxESPBatch
	w := &espWriter{
		hdrs:  make([]unix.Mmsghdr, n),
		iovs:  make([]unix.Iovec, n),
		names: make([]unix.RawSockaddrInet6, n),
		oobs:  make([]byte, n*gsoOOB),
		first: make([]int, n),
		segs:  make([]int, n),
	}
	w.sendF = w.send
	return w
}

var espWriters = sync.Pool{New: func() any { return newESPWriter() }}

// sendESPBatch sends a batch of the userspace dataplane's ESP-in-UDP
// datagrams (policy.ESPBatcher), each from the NAT-T socket bound to its
// Local address, and returns how many could not be sent.
func (g *Gateway) sendESPBatch(ds []policy.ESPDatagram) (failed int) {
	w := espWriters.Get().(*espWriter)
	defer espWriters.Put(w)
	for len(ds) > 0 {
		n := 1
		for n < len(ds) && n < len(w.hdrs) && ds[n].Local == ds[0].Local &&
			ds[n].Remote.Addr().Unmap().Is4() == ds[0].Remote.Addr().Unmap().Is4() {
			n++
		}
		s := g.socketFor(isakmp.Datagram{Local: ds[0].Local, Remote: ds[0].Remote})
		if s == nil || !s.natt {
			for range n {
				g.drop(ReasonNoSocket)
			}
			failed += n
		} else {
			failed += g.writeESP(w, s, ds[:n])
		}
		ds = ds[n:]
	}
	return failed
}

// writeESP sends ds (at most the writer's size) from s, with UDP GSO if
// s has it, and returns how many could not be sent.
func (g *Gateway) writeESP(w *espWriter, s *socket, ds []policy.ESPDatagram) (failed int) {
	v6 := s.local.Addr().Is6()
	gso := s.gso.Load()
	nh := 0
	for i := 0; i < len(ds); {
		to := unmapAP(ds[i].Remote)
		size := len(ds[i].B)
		if !to.IsValid() || to.Addr().Is4() == v6 || size == 0 {
			g.drop(ReasonSendError)
			failed++
			i++
			continue
		}
		j, total := i+1, size
		if gso {
			for j < len(ds) && j-i < maxGSOSegments && unmapAP(ds[j].Remote) == to &&
				len(ds[j].B) > 0 && len(ds[j].B) <= size && total+len(ds[j].B) <= maxGSOPayload {
				total += len(ds[j].B)
				j++
				if len(ds[j-1].B) < size {
					break // a shorter datagram ends a run
				}
			}
		}
		for k := i; k < j; k++ {
			w.iovs[k] = unix.Iovec{Base: &ds[k].B[0]}
			w.iovs[k].SetLen(len(ds[k].B))
		}
		h := &w.hdrs[nh]
		*h = unix.Mmsghdr{}
		h.Hdr.Iov = &w.iovs[i]
		h.Hdr.SetIovlen(j - i)
		h.Hdr.Name = (*byte)(unsafe.Pointer(&w.names[nh]))
		h.Hdr.Namelen = toSockaddr(&w.names[nh], to, v6)
		if j-i > 1 {
			oob := w.oobs[nh*gsoOOB : (nh+1)*gsoOOB]
			cm := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
			cm.Level, cm.Type = unix.SOL_UDP, unix.UDP_SEGMENT
			cm.SetLen(unix.CmsgLen(2))
			binary.NativeEndian.PutUint16(oob[unix.CmsgLen(0):], uint16(size))
			h.Hdr.Control = &oob[0]
			h.Hdr.SetControllen(gsoOOB)
		}
		w.first[nh], w.segs[nh] = i, j-i
		nh++
		i = j
	}
	sent := 0
	for off := 0; off < nh; {
		w.todo, w.n, w.errno = w.hdrs[off:nh], 0, nil
		if err := s.rc.Write(w.sendF); err != nil {
			for k := off; k < nh; k++ {
				failed += w.segs[k]
				for range w.segs[k] {
					g.drop(ReasonSendError)
				}
			}
			break
		}
		if w.errno != nil {
			if w.segs[off] > 1 && (errors.Is(w.errno, unix.EIO) || errors.Is(w.errno, unix.EINVAL)) {
				// The route cannot segment (no checksum offload on the
				// device, or a kernel without UDP_SEGMENT for this
				// path): send the rest without GSO from now on.
				s.gso.Store(false)
				g.log.Debug("UDP GSO refused on the NAT-T socket; sending ESP without it",
					zap.Stringer("socket", s.local), zap.Error(w.errno))
				first := w.first[off]
				clear(w.iovs[:len(ds)])
				g.stats.out[KindESP].Add(uint64(sent))
				return failed + g.writeESP(w, s, ds[first:])
			}
			// The first message failed; the kernel tells the error of a
			// later one on the next call.
			failed += w.segs[off]
			for range w.segs[off] {
				g.drop(ReasonSendError)
			}
			off++
			continue
		}
		for k := off; k < off+w.n; k++ {
			sent += w.segs[k]
		}
		off += w.n
	}
	g.stats.out[KindESP].Add(uint64(sent))
	clear(w.iovs[:len(ds)]) // keep no datagram alive
	return failed
}

// send is the RawConn.Write callback: false asks to wait until the
// socket is writable.
func (w *espWriter) send(fd uintptr) bool {
	var done bool
	w.n, done, w.errno = mmsg.Send(fd, w.todo)
	return done
}
