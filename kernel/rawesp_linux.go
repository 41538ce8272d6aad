//go:build linux

package kernel

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"github.com/vishvananda/netns"
	"go.uber.org/zap"
	xipv4 "golang.org/x/net/ipv4"
	xipv6 "golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// Raw ESP transport on Linux: one raw socket per family for IP protocol
// 50, read in batches (recvmmsg through x/net's ReadBatch), written one
// packet per sendmsg with the SA's local address as source (IP_PKTINFO,
// IPV6_PKTINFO).

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
	p4  *xipv4.PacketConn
	c6  net.PacketConn // nil without IPv6
	p6  *xipv6.PacketConn
	wg  sync.WaitGroup

	rc4, rc6 syscall.RawConn // for send; rc6 nil without IPv6
	sends    sync.Pool       // *rawSend
}

// rawSend is the state of one send: the message, its control data and
// destination, and the function handed to RawConn.Write, all made once
// per pooled value, so that a send allocates nothing.
type rawSend struct {
	b    []byte
	oob  [64]byte // one IP_PKTINFO or IPV6_PKTINFO control message
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
func (s *rawSend) pktinfo(src netip.Addr) {
	h := (*unix.Cmsghdr)(unsafe.Pointer(&s.oob[0]))
	data := unix.CmsgLen(0)
	if src.Is4() {
		h.Level, h.Type = unix.IPPROTO_IP, unix.IP_PKTINFO
		h.SetLen(unix.CmsgLen(unix.SizeofInet4Pktinfo))
		pi := (*unix.Inet4Pktinfo)(unsafe.Pointer(&s.oob[data]))
		*pi = unix.Inet4Pktinfo{Spec_dst: src.As4()}
		s.oobN = unix.CmsgSpace(unix.SizeofInet4Pktinfo)
		return
	}
	h.Level, h.Type = unix.IPPROTO_IPV6, unix.IPV6_PKTINFO
	h.SetLen(unix.CmsgLen(unix.SizeofInet6Pktinfo))
	pi := (*unix.Inet6Pktinfo)(unsafe.Pointer(&s.oob[data]))
	*pi = unix.Inet6Pktinfo{Addr: src.As16()}
	s.oobN = unix.CmsgSpace(unix.SizeofInet6Pktinfo)
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
	r.p4 = xipv4.NewPacketConn(r.c4)
	setRawBuffers(r.c4)
	if r.rc4, err = r.c4.(*net.IPConn).SyscallConn(); err != nil {
		r.closeConns()
		return fmt.Errorf("kernel: raw ESP: %w", err)
	}
	if r.c6 != nil {
		r.p6 = xipv6.NewPacketConn(r.c6)
		setRawBuffers(r.c6)
		if err := r.p6.SetControlMessage(xipv6.FlagDst, true); err != nil {
			r.closeConns()
			return fmt.Errorf("kernel: raw ESP: IPV6_RECVPKTINFO: %w", err)
		}
		if r.rc6, err = r.c6.(*net.IPConn).SyscallConn(); err != nil {
			r.closeConns()
			return fmt.Errorf("kernel: raw ESP: %w", err)
		}
	}
	r.sends.New = func() any { s := &rawSend{}; s.f = s.sendmsg; return s }
	r.wg.Go(r.read4)
	if r.p6 != nil {
		r.wg.Go(r.read6)
	}
	u.setRawESP(&rawESP{send: r.send, close: r.close})
	u.log.Info("raw ESP transport up (IP protocol 50)", zap.Bool("ipv6", r.p6 != nil))
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

// readErr handles an error of a receive loop: true means stop.
func (r *rawSockets) readErr(err error) bool {
	if errors.Is(err, net.ErrClosed) {
		return true
	}
	r.log.Debug("raw ESP read failed", zap.Error(err))
	time.Sleep(time.Millisecond) // do not spin on a persistent error
	return false
}

// read4 is the IPv4 receive loop: each packet arrives with its IPv4
// header, which parseRawIPv4 checks and strips.
func (r *rawSockets) read4() {
	ms := make([]xipv4.Message, rawBatch)
	for i := range ms {
		ms[i].Buffers = [][]byte{make([]byte, rawBufSize)}
	}
	for {
		n, err := r.p4.ReadBatch(ms, 0)
		if err != nil {
			if r.readErr(err) {
				return
			}
			continue
		}
		for i := range ms[:n] {
			m := &ms[i]
			if m.Flags&unix.MSG_TRUNC != 0 {
				r.u.stats.inTooBig.Add(1)
				continue
			}
			src, dst, pkt, err := parseRawIPv4(m.Buffers[0][:m.N])
			if err != nil {
				r.u.stats.inRejected.Add(1)
				if ce := r.log.Check(zap.DebugLevel, "raw ESP packet dropped"); ce != nil {
					ce.Write(zap.Error(err))
				}
				continue
			}
			r.u.handleRawESP(dst, src, pkt)
		}
	}
}

// read6 is the IPv6 receive loop: the kernel delivers the ESP packet
// without the IPv6 header, the source as the address and the destination
// in IPV6_PKTINFO.
func (r *rawSockets) read6() {
	ms := make([]xipv6.Message, rawBatch)
	for i := range ms {
		ms[i].Buffers = [][]byte{make([]byte, rawBufSize)}
		ms[i].OOB = xipv6.NewControlMessage(xipv6.FlagDst)
	}
	var cm xipv6.ControlMessage
	for {
		n, err := r.p6.ReadBatch(ms, 0)
		if err != nil {
			if r.readErr(err) {
				return
			}
			continue
		}
		for i := range ms[:n] {
			m := &ms[i]
			if m.Flags&unix.MSG_TRUNC != 0 {
				r.u.stats.inTooBig.Add(1)
				continue
			}
			ia, _ := m.Addr.(*net.IPAddr)
			cm = xipv6.ControlMessage{}
			if ia == nil || cm.Parse(m.OOB[:m.NN]) != nil || cm.Dst == nil {
				r.u.stats.inRejected.Add(1)
				continue
			}
			src, ok1 := netip.AddrFromSlice(ia.IP)
			dst, ok2 := netip.AddrFromSlice(cm.Dst)
			if !ok1 || !ok2 {
				r.u.stats.inRejected.Add(1)
				continue
			}
			r.u.handleRawESP(dst, src, m.Buffers[0][:m.N])
		}
	}
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
