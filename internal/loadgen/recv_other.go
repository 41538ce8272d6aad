//go:build !linux

package loadgen

import "net/netip"

// recv reads the next datagram of s (into a buffer of its own: elsewhere
// than on Linux every socket holds one while it waits).
func (s *socket) recv() (data []byte, from netip.AddrPort, truncated bool, err error) {
	if s.buf == nil {
		s.buf = make([]byte, 65536)
	}
	n, from, err := s.conn.ReadFromUDPAddrPort(s.buf)
	if err != nil {
		return nil, from, false, err
	}
	return append([]byte(nil), s.buf[:n]...), netip.AddrPortFrom(from.Addr().Unmap(), from.Port()), false, nil
}
