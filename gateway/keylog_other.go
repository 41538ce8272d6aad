//go:build !unix

package gateway

import (
	"errors"
	"os"
)

// openKeyFile: key export needs O_NOFOLLOW and owner checks (keylog.go),
// which only Unix systems give.
func openKeyFile(dir, name string, create bool) (*os.File, error) {
	return nil, errors.New("key export is only supported on Unix systems")
}
