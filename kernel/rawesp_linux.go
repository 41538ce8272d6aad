//go:build linux

package kernel

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"github.com/vishvananda/netns"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"ikegate/internal/mmsg"
	"ikegate/policy"
)

// Raw ESP transport on Linux: one raw socket per family for IP protocol
// 50, read in batches (recvmmsg(2) into buffers set up once; each read's
// packets decrypted and written to the TUN device as one batch), written
// a batch per sendmmsg(2) (one sendmsg(2) for a single packet), each with
// its SA's local address as source (IP_PKTINFO, IPV6_PKTINFO). Neither
// direction allocates per packet.

const (
	// rawBatch is how many packets one read takes at most.
	rawBatch = 16
	// rawBufSize holds the largest ESP packet the dataplane takes (half)
	// behind the largest IPv4 header; a larger one is truncated, flagged
	// MSG_TRUNC, and counted as too big.
	rawBufSize = half + 60
	// rawSockBuf is the receive and send buffer asked for per socket.
	rawSockBuf = 4 << 20
)

// newUserspaceRawCurrentNS opens the userspace dataplane with its raw ESP
// transport in the caller's network namespace.
func newUserspaceRawCurrentNS(log *zap.Logger) (Backend, error) {
	u, err := NewUserspace(log, UserspaceConfig{})
	if err != nil {
		return nil, err
	}
	if err := u.openRawESPAt(netns.None()); err != nil {
		u.Close()
		return nil, err
	}
	return u, nil
}

// rawSockets are the raw ESP sockets of one Userspace.
type rawSockets struct {
	u   *Userspace
	log *zap.Logger
	c4  net.PacketConn
	c6  net.PacketConn // nil without IPv6
	wg  sync.WaitGroup

	rc4, rc6 syscall.RawConn // for send; rc6 nil without IPv6
	sends    sync.Pool       // *rawSend
	batches  sync.Pool       // *rawBatchSend
}

// rawSend is the state of one send: the message, its control data and
// destination, and the function handed to RawConn.Write, all made once
// per pooled value, so that a send allocates nothing.
type rawSend struct {
	b    []byte
	oob  [rawOOB]byte // one IP_PKTINFO or IPV6_PKTINFO control message
	oobN int
	sa4  unix.SockaddrInet4
	sa6  unix.SockaddrInet6
	v6   bool
	err  error
	f    func(fd uintptr) bool
}

func (s *rawSend) sendmsg(fd uintptr) bool {
	var to unix.Sockaddr = &s.sa4
	if s.v6 {
		to = &s.sa6
	}
	_, s.err = unix.SendmsgN(int(fd), s.b, s.oob[:s.oobN], to, 0)
	return s.err != unix.EAGAIN
}

// pktinfo writes the control message that makes src the packet's source
// address (IP_PKTINFO's ipi_spec_dst, IPV6_PKTINFO's address).
func (s *rawSend) pktinfo(src netip.Addr) { s.oobN = putPktinfo(s.oob[:], src) }

// putPktinfo writes into oob (at least rawOOB bytes, aligned for a
// cmsghdr) the control message that makes src a packet's source address
// (IP_PKTINFO's ipi_spec_dst, IPV6_PKTINFO's address) and returns its
// length.
func putPktinfo(oob []byte, src netip.Addr) int {
	h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
	data := unix.CmsgLen(0)
	if src.Is4() {
		h.Level, h.Type = unix.IPPROTO_IP, unix.IP_PKTINFO
		h.SetLen(unix.CmsgLen(unix.SizeofInet4Pktinfo))
		pi := (*unix.Inet4Pktinfo)(unsafe.Pointer(&oob[data]))
		*pi = unix.Inet4Pktinfo{Spec_dst: src.As4()}
		return unix.CmsgSpace(unix.SizeofInet4Pktinfo)
	}
	h.Level, h.Type = unix.IPPROTO_IPV6, unix.IPV6_PKTINFO
	h.SetLen(unix.CmsgLen(unix.SizeofInet6Pktinfo))
	pi := (*unix.Inet6Pktinfo)(unsafe.Pointer(&oob[data]))
	*pi = unix.Inet6Pktinfo{Addr: src.As16()}
	return unix.CmsgSpace(unix.SizeofInet6Pktinfo)
}

// rawBatchSend is the state of one batch send on a raw socket: a
// message per datagram (one iovec, the destination, the source in a
// pktinfo control message), made once per pooled value, so that a batch
// send allocates nothing.
type rawBatchSend struct {
	hdrs  []unix.Mmsghdr
	iovs  []unix.Iovec
	names []unix.RawSockaddrInet6 // large enough for either family
	oobs  []uint64                // rawOOB bytes per message, aligned for cmsghdr

	todo  []unix.Mmsghdr
	n     int
	errno error
	f     func(fd uintptr) bool
}

func newRawBatchSend() *rawBatchSend {
	n := policy.MaxESPBatch
	w := &rawBatchSend{
		hdrs:  make([]unix.Mmsghdr, n),
		iovs:  make([]unix.Iovec, n),
		names: make([]unix.RawSockaddrInet6, n),
		oobs:  make([]uint64, n*rawOOB/8),
	}
	w.f = w.sendmmsg
	return w
}

// oob is message i's control message room.
func (w *rawBatchSend) oob(i int) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(&w.oobs[i*rawOOB/8])), rawOOB)
}

// sendmmsg is the RawConn.Write callback: false asks to wait until the
// socket is writable.
func (w *rawBatchSend) sendmmsg(fd uintptr) bool {
	var done bool
	w.n, done, w.errno = mmsg.Send(fd, w.todo)
	return done
}

// openRawESPAt opens the raw ESP sockets in network namespace ns
// (netns.None(): the caller's) and starts their receive loops. IPv4 is
// required; IPv6 is skipped with a warning where the namespace has none.
func (u *Userspace) openRawESPAt(ns netns.NsHandle) error {
	r := &rawSockets{u: u, log: u.log}
	err := inNetnsThread(ns, func() error {
		c4, err := net.ListenPacket("ip4:50", "0.0.0.0")
		if err != nil {
			return fmt.Errorf("kernel: raw ESP: open IPv4 socket for protocol 50: %w", err)
		}
		r.c4 = c4
		c6, err := net.ListenPacket("ip6:50", "::")
		if err != nil {
			u.log.Warn("raw ESP over IPv6 unavailable; IPv6 peers need UDP encapsulation", zap.Error(err))
			return nil
		}
		r.c6 = c6
		return nil
	})
	if err != nil {
		return err
	}
	setRawBuffers(r.c4)
	if r.rc4, err = r.c4.(*net.IPConn).SyscallConn(); err != nil {
		r.closeConns()
		return fmt.Errorf("kernel: raw ESP: %w", err)
	}
	if r.c6 != nil {
		setRawBuffers(r.c6)
		if r.rc6, err = r.c6.(*net.IPConn).SyscallConn(); err != nil {
			r.closeConns()
			return fmt.Errorf("kernel: raw ESP: %w", err)
		}
		var serr error
		if err := r.rc6.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_RECVPKTINFO, 1)
		}); err != nil || serr != nil {
			r.closeConns()
			return fmt.Errorf("kernel: raw ESP: IPV6_RECVPKTINFO: %w", errors.Join(err, serr))
		}
	}
	r.sends.New = func() any { s := &rawSend{}; s.f = s.sendmsg; return s }
	r.batches.New = func() any { return newRawBatchSend() }
	rd4 := newRawReader(r.rc4, false)
	r.wg.Go(func() { r.readLoop(rd4) })
	if r.rc6 != nil {
		rd6 := newRawReader(r.rc6, true)
		r.wg.Go(func() { r.readLoop(rd6) })
	}
	u.setRawESP(&rawESP{send: r.send, sendBatch: r.sendBatch, close: r.close})
	u.log.Info("raw ESP transport up (IP protocol 50)", zap.Bool("ipv6", r.rc6 != nil))
	return nil
}

// setRawBuffers asks for large socket buffers (beyond rmem_max/wmem_max
// with CAP_NET_ADMIN), best effort.
func setRawBuffers(c net.PacketConn) {
	ic, ok := c.(*net.IPConn)
	if !ok {
		return
	}
	ic.SetReadBuffer(rawSockBuf)
	ic.SetWriteBuffer(rawSockBuf)
	if sc, err := ic.SyscallConn(); err == nil {
		sc.Control(func(fd uintptr) {
			unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, rawSockBuf)
			unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, rawSockBuf)
		})
	}
}

// inNetnsThread runs f on a locked thread inside ns (netns.None(): on
// the caller's namespace, directly); sockets f opens stay in ns.
func inNetnsThread(ns netns.NsHandle, f func() error) error {
	if !ns.IsOpen() {
		return f()
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			errc <- fmt.Errorf("kernel: current network namespace: %w", err)
			return
		}
		defer orig.Close()
		if err := netns.Set(ns); err != nil {
			errc <- fmt.Errorf("kernel: enter network namespace: %w", err)
			return
		}
		err = f()
		if netns.Set(orig) == nil {
			runtime.UnlockOSThread() // otherwise the thread dies with us
		}
		errc <- err
	}()
	return <-errc
}

// send sends one ESP packet from local's address to remote's: one
// sendmsg(2) with the source in IP_PKTINFO / IPV6_PKTINFO; the kernel
// builds the IP header (protocol 50). It allocates nothing.
func (r *rawSockets) send(local, remote netip.AddrPort, b []byte) error {
	dst, src := remote.Addr().Unmap(), local.Addr().Unmap()
	rc := r.rc4
	if !dst.Is4() {
		if rc = r.rc6; rc == nil {
			return fmt.Errorf("kernel: raw ESP to %v: no IPv6 socket", dst)
		}
	}
	if src.Is4() != dst.Is4() {
		return fmt.Errorf("kernel: raw ESP from %v to %v: address families differ", src, dst)
	}
	s := r.sends.Get().(*rawSend)
	s.b, s.err, s.v6 = b, nil, !dst.Is4()
	if s.v6 {
		s.sa6.Addr = dst.As16()
	} else {
		s.sa4.Addr = dst.As4()
	}
	s.pktinfo(src)
	err := rc.Write(s.f)
	if err == nil {
		err = s.err
	}
	s.b = nil
	r.sends.Put(s)
	return err
}

// sendBatch sends the raw ESP datagrams ds (each from its Local's
// address to its Remote's; the ports are ignored) with one sendmmsg(2)
// per run of one address family, up to policy.MaxESPBatch messages each,
// the source of each in IP_PKTINFO / IPV6_PKTINFO, and returns how many
// it could not send. It allocates nothing.
func (r *rawSockets) sendBatch(ds []policy.ESPDatagram) (failed int) {
	w := r.batches.Get().(*rawBatchSend)
	defer r.batches.Put(w)
	for len(ds) > 0 {
		v4 := ds[0].Remote.Addr().Unmap().Is4()
		n := 1
		for n < len(ds) && n < len(w.hdrs) && ds[n].Remote.Addr().Unmap().Is4() == v4 {
			n++
		}
		rc := r.rc4
		if !v4 {
			rc = r.rc6
		}
		if rc == nil {
			failed += n // no IPv6 socket
		} else {
			failed += w.send(rc, ds[:n], v4)
		}
		ds = ds[n:]
	}
	return failed
}

// send sends ds, all of one family (IPv4 if v4), on rc and returns how
// many could not be sent.
func (w *rawBatchSend) send(rc syscall.RawConn, ds []policy.ESPDatagram, v4 bool) (failed int) {
	nh := 0
	for i := range ds {
		dst, src := ds[i].Remote.Addr().Unmap(), ds[i].Local.Addr().Unmap()
		if src.Is4() != v4 || len(ds[i].B) == 0 {
			failed++ // families differ, or nothing to send
			continue
		}
		w.iovs[nh] = unix.Iovec{Base: &ds[i].B[0]}
		w.iovs[nh].SetLen(len(ds[i].B))
		h := &w.hdrs[nh]
		*h = unix.Mmsghdr{}
		h.Hdr.Iov = &w.iovs[nh]
		h.Hdr.SetIovlen(1)
		name := &w.names[nh]
		if v4 {
			sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(name))
			*sa = unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: dst.As4()}
			h.Hdr.Namelen = unix.SizeofSockaddrInet4
		} else {
			*name = unix.RawSockaddrInet6{Family: unix.AF_INET6, Addr: dst.As16()}
			h.Hdr.Namelen = unix.SizeofSockaddrInet6
		}
		h.Hdr.Name = (*byte)(unsafe.Pointer(name))
		oob := w.oob(nh)
		h.Hdr.Control = &oob[0]
		h.Hdr.SetControllen(putPktinfo(oob, src))
		nh++
	}
	for off := 0; off < nh; {
		w.todo, w.n, w.errno = w.hdrs[off:nh], 0, nil
		if err := rc.Write(w.f); err != nil {
			failed += nh - off // the socket is closed
			break
		}
		if w.errno != nil {
			// The first message failed; the kernel tells the error of a
			// later one on the next call.
			failed++
			off++
			continue
		}
		off += w.n
	}
	clear(w.iovs[:nh]) // keep no datagram alive
	w.todo = nil
	return failed
}

// readErr handles an error of a receive loop: true means stop.
func (r *rawSockets) readErr(err error) bool {
	if errors.Is(err, net.ErrClosed) {
		return true
	}
	r.log.Debug("raw ESP read failed", zap.Error(err))
	time.Sleep(time.Millisecond) // do not spin on a persistent error
	return false
}

// rawReader reads packets from one raw socket with recvmmsg(2), up to
// rawBatch per call, into buffers, address and control message storage
// set up once; it belongs to one goroutine.
type rawReader struct {
	rc    syscall.RawConn
	v6    bool
	hdrs  []unix.Mmsghdr
	iovs  []unix.Iovec
	names []unix.RawSockaddrInet6 // large enough for either family
	oobs  [][]byte                // IPv6: room for IPV6_PKTINFO
	bufs  [][]byte

	n     int   // packets of the last recvmmsg
	errno error // its error
	recvF func(fd uintptr) bool
}

// rawOOB is the control message room per IPv6 packet.
const rawOOB = 64

func newRawReader(rc syscall.RawConn, v6 bool) *rawReader {
	r := &rawReader{
		rc: rc, v6: v6,
		hdrs:  make([]unix.Mmsghdr, rawBatch),
		iovs:  make([]unix.Iovec, rawBatch),
		names: make([]unix.RawSockaddrInet6, rawBatch),
		oobs:  make([][]byte, rawBatch),
		bufs:  make([][]byte, rawBatch),
	}
	for i := range r.hdrs {
		r.bufs[i] = make([]byte, rawBufSize)
		r.iovs[i].Base = &r.bufs[i][0]
		r.iovs[i].SetLen(rawBufSize)
		h := &r.hdrs[i].Hdr
		h.Iov = &r.iovs[i]
		h.SetIovlen(1)
		h.Name = (*byte)(unsafe.Pointer(&r.names[i]))
		if v6 {
			r.oobs[i] = make([]byte, rawOOB)
			h.Control = &r.oobs[i][0]
		}
	}
	r.recvF = r.recv
	return r
}

// read waits for at least one packet and returns how many arrived (in
// bufs, hdrs and names; valid until the next read).
func (r *rawReader) read() (int, error) {
	for i := range r.hdrs {
		h := &r.hdrs[i]
		h.Hdr.Namelen = unix.SizeofSockaddrInet6
		h.Hdr.Flags = 0
		h.Len = 0
		if r.v6 {
			h.Hdr.SetControllen(rawOOB)
		}
	}
	r.n, r.errno = 0, nil
	if err := r.rc.Read(r.recvF); err != nil {
		return 0, err
	}
	if r.errno != nil {
		return 0, os.NewSyscallError("recvmmsg", r.errno)
	}
	return r.n, nil
}

// recv is the RawConn.Read callback: false asks to wait for readability.
func (r *rawReader) recv(fd uintptr) bool {
	var done bool
	r.n, done, r.errno = mmsg.Recv(fd, r.hdrs)
	return done
}

// packet returns packet i of the last read: the ESP packet and its outer
// addresses. IPv4 packets come with their header, which parseRawIPv4
// checks and strips; IPv6 ones without, the source in the address and
// the destination in IPV6_PKTINFO.
func (r *rawReader) packet(i int) (src, dst netip.Addr, pkt []byte, err error) {
	h := &r.hdrs[i]
	if h.Hdr.Flags&unix.MSG_TRUNC != 0 {
		return src, dst, nil, errRawTooBig
	}
	b := r.bufs[i][:min(int(h.Len), rawBufSize)]
	if !r.v6 {
		return parseRawIPv4(b)
	}
	sa := &r.names[i]
	if sa.Family != unix.AF_INET6 || h.Hdr.Namelen < unix.SizeofSockaddrInet6 {
		return src, dst, nil, errors.New("raw IPv6 packet without an IPv6 source")
	}
	dst, ok := pktinfoDst(r.oobs[i][:min(int(h.Hdr.Controllen), rawOOB)])
	if !ok {
		return src, dst, nil, errors.New("raw IPv6 packet without IPV6_PKTINFO")
	}
	return netip.AddrFrom16(sa.Addr), dst, b, nil
}

// errRawTooBig marks a packet larger than the buffers (MSG_TRUNC).
var errRawTooBig = errors.New("raw ESP packet larger than the buffers")

// pktinfoDst finds the destination address in the IPV6_PKTINFO control
// message of oob.
func pktinfoDst(oob []byte) (netip.Addr, bool) {
	hl := unix.CmsgLen(0)
	for len(oob) >= hl {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
		l := int(h.Len)
		if l < hl || l > len(oob) {
			return netip.Addr{}, false
		}
		if h.Level == unix.IPPROTO_IPV6 && h.Type == unix.IPV6_PKTINFO && l >= unix.CmsgLen(unix.SizeofInet6Pktinfo) {
			pi := (*unix.Inet6Pktinfo)(unsafe.Pointer(&oob[hl]))
			return netip.AddrFrom16(pi.Addr), true
		}
		oob = oob[min(unix.CmsgSpace(l-hl), len(oob)):]
	}
	return netip.Addr{}, false
}

// readLoop hands the packets of each read of rd to the dataplane's
// batched inbound path (handleBatch), until the socket is closed.
func (r *rawSockets) readLoop(rd *rawReader) {
	ds := make([]policy.ESPDatagram, 0, rawBatch)
	for {
		n, err := rd.read()
		if err != nil {
			if r.readErr(err) {
				return
			}
			continue
		}
		ds = r.handleBatch(rd, n, ds)
	}
}

// handleBatch takes the n packets of rd's last read: those it can parse
// go, with their outer addresses and port 0 (raw ESP), to
// Userspace.HandleESPBatch in one call, so that they are decrypted into
// one batch and written to the TUN device with one (coalescing) write;
// the others are dropped and counted. ds is scratch, returned emptied
// for the next read.
func (r *rawSockets) handleBatch(rd *rawReader, n int, ds []policy.ESPDatagram) []policy.ESPDatagram {
	ds = ds[:0]
	for i := range n {
		src, dst, pkt, err := rd.packet(i)
		if err != nil {
			if errors.Is(err, errRawTooBig) {
				r.u.stats.inTooBig.Add(1)
			} else {
				r.u.stats.inRejected.Add(1)
			}
			if ce := r.log.Check(zap.DebugLevel, "raw ESP packet dropped"); ce != nil {
				ce.Write(zap.Error(err))
			}
			continue
		}
		ds = append(ds, rawDatagram(dst, src, pkt))
	}
	if len(ds) > 0 {
		r.u.HandleESPBatch(ds)
	}
	clear(ds)
	return ds[:0]
}

func (r *rawSockets) closeConns() error {
	err := r.c4.Close()
	if r.c6 != nil {
		err = errors.Join(err, r.c6.Close())
	}
	return err
}

// close closes the sockets and waits for the receive loops.
func (r *rawSockets) close() error {
	err := r.closeConns()
	r.wg.Wait()
	return err
}
