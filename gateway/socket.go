package gateway

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"

	"go.uber.org/zap"
)

// listenUDP binds one UDP socket to ap (a specific address, so that a
// datagram's local address is known without IP_PKTINFO) and raises its
// buffers so bursts of IKE_SA_INIT requests are not dropped by the kernel.
func listenUDP(ap netip.AddrPort, natt bool, log *zap.Logger) (*socket, error) {
	return listenUDPWith(net.ListenConfig{}, ap, natt, log)
}

// listenUDPFree is listenUDP for an address that may not be on this host
// now (IP_FREEBIND): a cluster's service address, which the node that
// owns it adds to its interface.
func listenUDPFree(ap netip.AddrPort, natt bool, log *zap.Logger) (*socket, error) {
	return listenUDPWith(net.ListenConfig{Control: freeBind}, ap, natt, log)
}

func listenUDPWith(lc net.ListenConfig, ap netip.AddrPort, natt bool, log *zap.Logger) (*socket, error) {
	network := "udp4"
	if ap.Addr().Is6() {
		network = "udp6"
	}
	pc, err := lc.ListenPacket(context.Background(), network, net.UDPAddrFromAddrPort(ap).String())
	if err != nil {
		return nil, &ListenError{Addr: ap, Err: err}
	}
	conn := pc.(*net.UDPConn)
	raiseBuffers(conn, log.With(zap.Stringer("socket", ap)))
	rc, err := conn.SyscallConn()
	if err != nil {
		conn.Close()
		return nil, &ListenError{Addr: ap, Err: err}
	}
	local := ap
	if la, ok := conn.LocalAddr().(*net.UDPAddr); ok {
		local = unmapAP(la.AddrPort()) // the real port if ap's was 0
	}
	return &socket{conn: conn, rc: rc, local: local, natt: natt}, nil
}

// raiseBuffers sets SO_RCVBUF and SO_SNDBUF to socketBufSize. SetReadBuffer
// is capped by net.core.rmem_max; SO_RCVBUFFORCE, which needs
// CAP_NET_ADMIN, is not, so it is tried first.
func raiseBuffers(conn *net.UDPConn, log *zap.Logger) {
	if !forceRcvBuf(conn, socketBufSize) {
		if err := conn.SetReadBuffer(socketBufSize); err != nil {
			log.Debug("cannot raise SO_RCVBUF", zap.Error(err))
		}
	}
	if err := conn.SetWriteBuffer(socketBufSize); err != nil {
		log.Debug("cannot raise SO_SNDBUF", zap.Error(err))
	}
}

// ListenError is a UDP socket that could not be bound: Addr is one of
// gateway.listen with the IKE or NAT-T port. The command line maps it to
// the configuration's listen key and line.
type ListenError struct {
	Addr netip.AddrPort
	Err  error
}

func (e *ListenError) Error() string { return fmt.Sprintf("listen %s: %v", e.Addr, e.Err) }
func (e *ListenError) Unwrap() error { return e.Err }

// NotLocal reports whether the bind failed because the address is not
// one of this host's (EADDRNOTAVAIL).
func (e *ListenError) NotLocal() bool { return errors.Is(e.Err, syscall.EADDRNOTAVAIL) }
