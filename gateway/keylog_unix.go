//go:build unix

package gateway

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// openKeyFile opens dir/name for appending under the rules in keylog.go:
// the directory is opened with O_NOFOLLOW and checked through its
// descriptor, the file is opened relative to it with O_NOFOLLOW (and
// O_NONBLOCK, so that a planted FIFO cannot block us), created with mode
// 0600 when create is set, and checked through its own descriptor. With
// create unset, a file that does not exist yields (nil, nil).
func openKeyFile(dir, name string, create bool) (*os.File, error) {
	if fi, err := os.Lstat(dir); err != nil {
		return nil, err
	} else if fi.Mode()&os.ModeSymlink != 0 {
		return nil, checkKeyDir(dir, 0, 0, fi.Mode())
	}
	dfd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	defer unix.Close(dfd)
	euid := uint32(os.Geteuid())
	var st unix.Stat_t
	if err := unix.Fstat(dfd, &st); err != nil {
		return nil, &os.PathError{Op: "stat", Path: dir, Err: err}
	}
	if err := checkKeyDir(dir, st.Uid, euid, statMode(uint32(st.Mode))); err != nil {
		return nil, err
	}

	path := filepath.Join(dir, name)
	flags := unix.O_WRONLY | unix.O_APPEND | unix.O_NOFOLLOW | unix.O_NONBLOCK | unix.O_CLOEXEC
	if create {
		flags |= unix.O_CREAT
	}
	fd, err := unix.Openat(dfd, name, flags, 0o600)
	switch {
	case err == nil:
	case !create && errors.Is(err, unix.ENOENT):
		return nil, nil
	case errors.Is(err, unix.ELOOP), errors.Is(err, unix.EMLINK): // EMLINK: FreeBSD's O_NOFOLLOW
		return nil, fmt.Errorf("%s is a symbolic link: refusing to write keys through it; remove it", path)
	case errors.Is(err, unix.ENXIO), errors.Is(err, unix.EISDIR):
		var lst unix.Stat_t
		if unix.Fstatat(dfd, name, &lst, unix.AT_SYMLINK_NOFOLLOW) == nil {
			return nil, checkKeyFile(path, lst.Uid, euid, uint64(lst.Nlink), statMode(uint32(lst.Mode)))
		}
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	default:
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, &os.PathError{Op: "stat", Path: path, Err: err}
	}
	if err := checkKeyFile(path, st.Uid, euid, uint64(st.Nlink), statMode(uint32(st.Mode))); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return os.NewFile(uintptr(fd), path), nil
}

// statMode converts a stat(2) st_mode to an os.FileMode (type and
// permission bits).
func statMode(m uint32) os.FileMode {
	mode := os.FileMode(m & 0o777)
	switch m & unix.S_IFMT {
	case unix.S_IFDIR:
		mode |= os.ModeDir
	case unix.S_IFLNK:
		mode |= os.ModeSymlink
	case unix.S_IFIFO:
		mode |= os.ModeNamedPipe
	case unix.S_IFSOCK:
		mode |= os.ModeSocket
	case unix.S_IFCHR:
		mode |= os.ModeDevice | os.ModeCharDevice
	case unix.S_IFBLK:
		mode |= os.ModeDevice
	}
	if m&unix.S_ISVTX != 0 {
		mode |= os.ModeSticky
	}
	return mode
}
