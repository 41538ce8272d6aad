//go:build !linux

package gateway

import (
	"errors"
	"net"
)

func forceRcvBuf(*net.UDPConn, int) bool { return false }

func xfrmSocket(*net.UDPConn, bool, bool) error {
	return errors.New("the xfrm dataplane needs Linux")
}
