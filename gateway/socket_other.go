//go:build !linux

package gateway

import (
	"errors"
	"net"
	"os"
	"syscall"
)

func forceRcvBuf(*net.UDPConn, int) bool { return false }

func xfrmSocket(*net.UDPConn, bool, bool) error {
	return errors.New("the xfrm dataplane needs Linux")
}

// listenUnixMode binds a Unix socket at path and then sets its mode (no
// umask here: the socket briefly has the default mode).
func listenUnixMode(path string, mode os.FileMode) (*net.UnixListener, error) {
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(path, mode); err != nil {
		ln.Close()
		return nil, err
	}
	return ln, nil
}

// peerCred: SO_PEERCRED is Linux's; elsewhere the caller is unknown.
func peerCred(net.Conn) peer { return peer{} }

// groupCanEnter: without Linux's stat, assume the group may.
func groupCanEnter(os.FileInfo, int) bool { return true }

// freeBind: binding an address that is not on the host needs Linux.
func freeBind(string, string, syscall.RawConn) error {
	return errors.New("cluster service addresses need Linux (IP_FREEBIND)")
}
