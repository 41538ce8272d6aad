//go:build !linux

package kernel

import (
	"errors"

	"go.uber.org/zap"
)

// newUserspaceRawCurrentNS needs Linux (TUN, raw sockets).
func newUserspaceRawCurrentNS(*zap.Logger) (Backend, error) {
	return nil, errors.New("kernel: the userspace dataplane and its raw ESP transport need Linux")
}
