//go:build linux

package kernel

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// NewUserspace opens the TUN device cfg.TUN (created if it does not
// exist), sets its MTU and brings it up, and starts the userspace ESP
// dataplane. It needs CAP_NET_ADMIN.
func NewUserspace(log *zap.Logger, cfg UserspaceConfig) (*Userspace, error) {
	return newUserspaceAt(netns.None(), log, cfg)
}

func newUserspaceCurrentNS(log *zap.Logger) (Backend, error) {
	u, err := NewUserspace(log, UserspaceConfig{})
	if err != nil {
		return nil, err
	}
	return u, nil
}

// newUserspaceAt creates the TUN device in network namespace ns
// (netns.None(): the caller's) and manages routes there.
func newUserspaceAt(ns netns.NsHandle, log *zap.Logger, cfg UserspaceConfig) (*Userspace, error) {
	if log == nil {
		log = zap.NewNop()
	}
	if cfg.TUN == "" {
		cfg.TUN = DefaultTUN
	}
	if cfg.MTU == 0 {
		cfg.MTU = DefaultMTU
	}
	if cfg.MTU < 576 || cfg.MTU > maxInner {
		return nil, fmt.Errorf("kernel: userspace dataplane: MTU %d out of range 576..%d", cfg.MTU, maxInner)
	}
	tun, err := openTUNAt(ns, cfg.TUN)
	if err != nil {
		return nil, err
	}
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		tun.Close()
		return nil, fmt.Errorf("kernel: userspace dataplane: open route netlink socket: %w", err)
	}
	link, err := h.LinkByName(cfg.TUN)
	if err == nil {
		err = h.LinkSetMTU(link, cfg.MTU)
	}
	if err == nil {
		err = h.LinkSetUp(link)
	}
	if err != nil {
		h.Close()
		tun.Close()
		return nil, fmt.Errorf("kernel: userspace dataplane: set up %s: %w", cfg.TUN, err)
	}
	r := &nlRoutes{h: h, link: link, log: log}
	log.Info("userspace ESP dataplane up", zap.String("tun", cfg.TUN), zap.Int("mtu", cfg.MTU))
	return newUserspaceWith(log, cfg, tun, r), nil
}

// openTUNAt opens /dev/net/tun and attaches it to the TUN interface name
// (IFF_TUN | IFF_NO_PI: bare IP packets), in ns. The file is non-blocking,
// so Go's poller serves it and Close interrupts a pending Read.
func openTUNAt(ns netns.NsHandle, name string) (*os.File, error) {
	if len(name) >= unix.IFNAMSIZ {
		return nil, fmt.Errorf("kernel: TUN name %q is longer than %d bytes", name, unix.IFNAMSIZ-1)
	}
	open := func() (*os.File, error) {
		fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("kernel: open /dev/net/tun: %w", err)
		}
		ifr, err := unix.NewIfreq(name)
		if err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("kernel: TUN name %q: %w", name, err)
		}
		ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI)
		if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("kernel: TUNSETIFF %s: %w", name, err)
		}
		if err := unix.SetNonblock(fd, true); err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("kernel: TUN %s: set non-blocking: %w", name, err)
		}
		return os.NewFile(uintptr(fd), "/dev/net/tun:"+name), nil
	}
	if !ns.IsOpen() {
		return open()
	}
	// The device is created in the namespace of the calling thread.
	type result struct {
		f   *os.File
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			ch <- result{err: err}
			return
		}
		defer orig.Close()
		if err := netns.Set(ns); err != nil {
			ch <- result{err: err}
			return
		}
		f, err := open()
		if netns.Set(orig) == nil {
			runtime.UnlockOSThread() // otherwise the thread dies with us
		}
		ch <- result{f, err}
	}()
	r := <-ch
	return r.f, r.err
}

// nlRoutes installs routes through the TUN device with netlink.
type nlRoutes struct {
	h    *netlink.Handle
	link netlink.Link
	log  *zap.Logger
}

func (r *nlRoutes) route(dst netip.Prefix) *netlink.Route {
	return &netlink.Route{
		LinkIndex: r.link.Attrs().Index,
		Dst:       &net.IPNet{IP: net.IP(dst.Addr().AsSlice()), Mask: net.CIDRMask(dst.Bits(), dst.Addr().BitLen())},
		Scope:     netlink.SCOPE_LINK,
	}
}

// addRoute routes dst into the TUN device, with a source hint: a local
// address inside the local traffic selectors, if there is one (so that
// locally originated traffic is sent from an address the peer accepts).
func (r *nlRoutes) addRoute(dst netip.Prefix, localTS []netip.Prefix) error {
	rt := r.route(dst)
	if src, ok := r.localAddrIn(localTS, dst.Addr().Is4()); ok {
		rt.Src = net.IP(src.AsSlice())
		if err := r.h.RouteReplace(rt); err == nil {
			return nil
		} else {
			r.log.Debug("route with source hint failed, retrying without", zap.Stringer("dst", dst), zap.Stringer("src", src), zap.Error(err))
		}
		rt.Src = nil
	}
	return r.h.RouteReplace(rt)
}

func (r *nlRoutes) localAddrIn(ts []netip.Prefix, v4 bool) (netip.Addr, bool) {
	family := netlink.FAMILY_V6
	if v4 {
		family = netlink.FAMILY_V4
	}
	addrs, err := r.h.AddrList(nil, family)
	if err != nil {
		return netip.Addr{}, false
	}
	for _, a := range addrs {
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok {
			continue
		}
		ip = ip.Unmap()
		if containsAny(ts, ip) {
			return ip, true
		}
	}
	return netip.Addr{}, false
}

func (r *nlRoutes) delRoute(dst netip.Prefix) error {
	err := r.h.RouteDel(r.route(dst))
	if errors.Is(err, unix.ESRCH) || errors.Is(err, unix.ENODEV) {
		return nil // already gone (e.g. with the device)
	}
	return err
}

func (r *nlRoutes) close() { r.h.Close() }
