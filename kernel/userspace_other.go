//go:build !linux

package kernel

import (
	"errors"

	"go.uber.org/zap"
)

// NewUserspace needs Linux (TUN and netlink).
func NewUserspace(*zap.Logger, UserspaceConfig) (*Userspace, error) {
	return nil, errors.New("kernel: the userspace dataplane needs Linux")
}

func newUserspaceCurrentNS(*zap.Logger) (Backend, error) {
	return nil, errors.New("kernel: the userspace dataplane needs Linux")
}
