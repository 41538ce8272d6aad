//go:build !linux

package kernel

import (
	"errors"

	"go.uber.org/zap"
)

func newXfrmCurrentNS(*zap.Logger) (Backend, error) {
	return nil, errors.New("kernel: the xfrm dataplane needs Linux")
}
