//go:build !linux

package cluster

import (
	"errors"
	"net"
	"net/netip"
	"time"
)

var errNotLinux = errors.New("cluster service addresses need Linux (netlink)")

type linkAddrs struct{ ifname string }

func (l linkAddrs) add(p netip.Prefix, valid time.Duration) error { return errNotLinux }
func (l linkAddrs) remove(p netip.Prefix) error                   { return nil }
func (l linkAddrs) announce(p netip.Prefix) error                 { return errNotLinux }

func announce(ifc *net.Interface, addr netip.Addr) error { return errNotLinux }
