//go:build !linux

package gateway

import "net"

func forceRcvBuf(*net.UDPConn, int) bool { return false }
