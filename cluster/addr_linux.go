package cluster

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// linkAddrs adds and removes service addresses on the service interface.
// An address is added with a valid lifetime that ends when this node's
// lease may have expired, and renewed with the lease: if the process dies
// or hangs, the kernel removes the address by itself (the fence that
// works without us).
type linkAddrs struct{ ifname string }

func (l linkAddrs) link() (netlink.Link, error) {
	ln, err := netlink.LinkByName(l.ifname)
	if err != nil {
		return nil, fmt.Errorf("service_interface %q: %w", l.ifname, err)
	}
	return ln, nil
}

func nlAddr(p netip.Prefix, valid time.Duration) *netlink.Addr {
	a := &netlink.Addr{IPNet: &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}}
	if valid > 0 {
		secs := max(int(valid/time.Second), 1)
		a.ValidLft, a.PreferedLft = secs, secs
	}
	if p.Addr().Is6() {
		a.Flags = unix.IFA_F_NODAD // ours by election; DAD would hold it tentative
	}
	return a
}

// add adds (or renews) p on the interface, valid for valid (0: forever).
func (l linkAddrs) add(p netip.Prefix, valid time.Duration) error {
	ln, err := l.link()
	if err != nil {
		return err
	}
	if err := netlink.AddrReplace(ln, nlAddr(p, valid)); err != nil {
		return fmt.Errorf("adding %s to %s: %w", p, l.ifname, err)
	}
	return nil
}

// remove removes p's address from the interface; absent is not an error.
func (l linkAddrs) remove(p netip.Prefix) error {
	ln, err := l.link()
	if err != nil {
		return err
	}
	if err := netlink.AddrDel(ln, nlAddr(p, 0)); err != nil && !errors.Is(err, syscall.EADDRNOTAVAIL) && !errors.Is(err, syscall.ENOENT) {
		return fmt.Errorf("removing %s from %s: %w", p, l.ifname, err)
	}
	return nil
}

// announce announces p's address on the interface.
func (l linkAddrs) announce(p netip.Prefix) error {
	ifc, err := net.InterfaceByName(l.ifname)
	if err != nil {
		return fmt.Errorf("service_interface %q: %w", l.ifname, err)
	}
	return announce(ifc, p.Addr())
}
