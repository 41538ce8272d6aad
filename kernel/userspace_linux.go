//go:build linux

package kernel

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strconv"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"
	"golang.zx2c4.com/wireguard/tun"
)

// NewUserspace opens the TUN device cfg.TUN (created if it does not
// exist), sets its MTU and brings it up, and starts the userspace ESP
// dataplane. It needs CAP_NET_ADMIN.
//
// With cfg.Workers 0 (auto), the environment variable
// IKEGATE_USERSPACE_WORKERS, if set to an integer, sets the mode instead
// of the CPU count (> 0 workers, < 0 inline): a knob for measuring the
// workers mode on small hosts, which have no configuration key for it.
// Likewise, with cfg.Queues 0 (auto), IKEGATE_USERSPACE_QUEUES sets the
// number of TUN queues (1..MaxTUNQueues).
func NewUserspace(log *zap.Logger, cfg UserspaceConfig) (*Userspace, error) {
	cfg, err := userspaceEnv(cfg)
	if err != nil {
		return nil, err
	}
	return newUserspaceAt(netns.None(), log, cfg)
}

// userspaceEnv applies IKEGATE_USERSPACE_WORKERS and
// IKEGATE_USERSPACE_QUEUES to the automatic (zero) settings of cfg.
func userspaceEnv(cfg UserspaceConfig) (UserspaceConfig, error) {
	for _, e := range []struct {
		name string
		v    *int
	}{{workersEnv, &cfg.Workers}, {queuesEnv, &cfg.Queues}} {
		if *e.v != 0 {
			continue
		}
		if v := os.Getenv(e.name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				return cfg, fmt.Errorf("kernel: userspace dataplane: %s=%q: %w", e.name, v, err)
			}
			*e.v = n
		}
	}
	return cfg, nil
}

// workersEnv overrides the automatic worker count, queuesEnv the
// automatic TUN queue count (NewUserspace).
const (
	workersEnv = "IKEGATE_USERSPACE_WORKERS"
	queuesEnv  = "IKEGATE_USERSPACE_QUEUES"
)

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
	if cfg.Queues < 0 || cfg.Queues > MaxTUNQueues {
		return nil, fmt.Errorf("kernel: userspace dataplane: %d TUN queues out of range 1..%d (0: auto)", cfg.Queues, MaxTUNQueues)
	}
	want := cfg.Queues
	if want == 0 {
		want = defaultQueues()
	}
	tuns, err := openTUNAt(ns, log, cfg.TUN, !cfg.NoOffload, want)
	if err != nil {
		return nil, err
	}
	closeAll := func() {
		for _, d := range tuns {
			d.Close()
		}
	}
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		closeAll()
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
		closeAll()
		return nil, fmt.Errorf("kernel: userspace dataplane: set up %s: %w", cfg.TUN, err)
	}
	r := &nlRoutes{h: h, link: link, log: log}
	u := newUserspaceQueues(log, cfg, tuns, r)
	log.Info("userspace ESP dataplane up", zap.String("tun", cfg.TUN), zap.Int("mtu", cfg.MTU),
		zap.Bool("offloads", tuns[0].BatchSize() > 1), zap.Int("workers", len(u.workers)), zap.Int("tun_queues", len(tuns)))
	return u, nil
}

// tunTCPOffloads are the offloads asked of a TUN device opened with
// IFF_VNET_HDR: the kernel may then hand us TCP super-packets of up to
// 64 KiB (TSO) with a partial checksum, and take coalesced ones (GRO).
// golang.zx2c4.com/wireguard/tun asks for the same (and for UDP
// segmentation where the kernel has it) and does the splitting and
// coalescing.
const tunTCPOffloads = unix.TUN_F_CSUM | unix.TUN_F_TSO4 | unix.TUN_F_TSO6

// defaultQueues is the automatic TUN queue count (UserspaceConfig.Queues
// 0): one queue on up to 2 CPUs, where two carried several TCP
// connections faster but one connection slower (the comment at the top
// of userspace.go), else one per CPU up to MaxTUNQueues (not measured on
// such a host; there the workers mode is the default as well, which
// keeps each SA's packets in order whatever queue they come from).
func defaultQueues() int {
	if n := runtime.NumCPU(); n > 2 {
		return min(n, MaxTUNQueues)
	}
	return 1
}

// openTUNAt opens /dev/net/tun and attaches it to the TUN interface name
// (IFF_TUN | IFF_NO_PI: bare IP packets), in ns, queues times with
// IFF_MULTI_QUEUE if queues > 1: one device, a descriptor per queue. With
// offload it asks for IFF_VNET_HDR and the TCP offloads, and falls back
// to the plain device, one packet per read and write, where the kernel
// refuses them. Where the kernel refuses IFF_MULTI_QUEUE (e.g. the
// device exists without it) it falls back to one queue, logged at info;
// if a later queue cannot be attached it keeps those it has, logged
// too. The files are non-blocking, so Go's poller serves them and Close
// interrupts a pending Read.
func openTUNAt(ns netns.NsHandle, log *zap.Logger, name string, offload bool, queues int) ([]tunDevice, error) {
	if len(name) >= unix.IFNAMSIZ {
		return nil, fmt.Errorf("kernel: TUN name %q is longer than %d bytes", name, unix.IFNAMSIZ-1)
	}
	if log == nil {
		log = zap.NewNop()
	}
	// openOne attaches one descriptor, with offloads if vnet (falling
	// back to none where refused); gotVnet reports whether it got them.
	openOne := func(vnet, mq bool) (_ tunDevice, gotVnet bool, _ error) {
		if vnet {
			fd, err := openTUNFD(name, true, mq)
			if err == nil {
				d, err := wrapTUN(fd, name)
				return d, true, err
			}
			if !errors.Is(err, errNoOffload) {
				return nil, false, err
			}
		}
		fd, err := openTUNFD(name, false, mq)
		if err != nil {
			return nil, false, err
		}
		d, err := wrapTUN(fd, name)
		return d, false, err
	}
	open := func() ([]tunDevice, error) {
		if queues <= 1 {
			d, _, err := openOne(offload, false)
			if err != nil {
				return nil, err
			}
			return []tunDevice{d}, nil
		}
		d, vnet, err := openOne(offload, true)
		if err != nil {
			log.Info("TUN device: multi-queue refused, using one queue", zap.String("tun", name),
				zap.Int("queues_wanted", queues), zap.Error(err))
			d, _, err := openOne(offload, false)
			if err != nil {
				return nil, err
			}
			return []tunDevice{d}, nil
		}
		ds := []tunDevice{d}
		for len(ds) < queues {
			// Every queue with the first one's flags: IFF_VNET_HDR is
			// the device's, set by each TUNSETIFF, and the library
			// reads it once per descriptor.
			fd, err := openTUNFD(name, vnet, true)
			if err == nil {
				d, err = wrapTUN(fd, name)
			}
			if err != nil {
				log.Info("TUN device: cannot attach another queue, keeping those attached", zap.String("tun", name),
					zap.Int("queues", len(ds)), zap.Int("queues_wanted", queues), zap.Error(err))
				break
			}
			ds = append(ds, d)
		}
		return ds, nil
	}
	if !ns.IsOpen() {
		return open()
	}
	// The device is created in the namespace of the calling thread.
	type result struct {
		d   []tunDevice
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
		d, err := open()
		if netns.Set(orig) == nil {
			runtime.UnlockOSThread() // otherwise the thread dies with us
		}
		ch <- result{d, err}
	}()
	r := <-ch
	return r.d, r.err
}

// errNoOffload is openTUNFD's error when the kernel refuses IFF_VNET_HDR
// or the TCP offloads.
var errNoOffload = errors.New("kernel: TUN offloads unavailable")

// openTUNFD opens /dev/net/tun and attaches it to the TUN interface name,
// with IFF_VNET_HDR and the TCP offloads if vnet is set (errNoOffload if
// the kernel refuses them: the descriptor is closed and the device, if
// this call created it, gone), as one queue of a multi-queue device if
// mq is set (IFF_MULTI_QUEUE; the kernel refuses it with EINVAL for a
// device that exists without it).
func openTUNFD(name string, vnet, mq bool) (int, error) {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("kernel: open /dev/net/tun: %w", err)
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("kernel: TUN name %q: %w", name, err)
	}
	flags := uint16(unix.IFF_TUN | unix.IFF_NO_PI)
	if vnet {
		flags |= unix.IFF_VNET_HDR
	}
	if mq {
		flags |= unix.IFF_MULTI_QUEUE
	}
	ifr.SetUint16(flags)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		if vnet {
			return -1, fmt.Errorf("%w: TUNSETIFF %s with IFF_VNET_HDR (multi-queue %v): %w", errNoOffload, name, mq, err)
		}
		return -1, fmt.Errorf("kernel: TUNSETIFF %s (multi-queue %v): %w", name, mq, err)
	}
	if vnet {
		if err := unix.IoctlSetInt(fd, unix.TUNSETOFFLOAD, tunTCPOffloads); err != nil {
			unix.Close(fd)
			return -1, fmt.Errorf("%w: TUNSETOFFLOAD %s: %w", errNoOffload, name, err)
		}
	}
	return fd, nil
}

// wrapTUN hands the attached descriptor fd to
// golang.zx2c4.com/wireguard/tun, which makes it non-blocking and, if it
// has IFF_VNET_HDR, enables the offloads and batches.
func wrapTUN(fd int, name string) (tunDevice, error) {
	d, _, err := tun.CreateUnmonitoredTUNFromFD(fd)
	if err != nil {
		// The library has wrapped fd in an *os.File it does not return:
		// its finalizer closes it.
		return nil, fmt.Errorf("kernel: TUN %s: %w", name, err)
	}
	return d, nil
}

// nlRoutes installs routes through the TUN device with netlink.
type nlRoutes struct {
	h    *netlink.Handle
	link netlink.Link
	log  *zap.Logger
}

// routes are the TUN routes for dst. A default route (/0) is installed
// as its two halves (0.0.0.0/1 and 128.0.0.0/1, or ::/1 and 8000::/1):
// more specific than the host's own default route, which stays in place
// for when the tunnel goes.
func (r *nlRoutes) routes(dst netip.Prefix) []*netlink.Route {
	ps := []netip.Prefix{dst}
	if dst.Bits() == 0 {
		half := netip.AddrFrom4([4]byte{128})
		if dst.Addr().Is6() {
			half = netip.AddrFrom16([16]byte{0x80})
		}
		ps = []netip.Prefix{netip.PrefixFrom(dst.Addr(), 1), netip.PrefixFrom(half, 1)}
	}
	out := make([]*netlink.Route, len(ps))
	for i, p := range ps {
		out[i] = &netlink.Route{LinkIndex: r.link.Attrs().Index, Dst: ipNet(p), Scope: netlink.SCOPE_LINK}
	}
	return out
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: net.IP(p.Addr().AsSlice()), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// addRoute routes dst into the TUN device, with a source hint: a local
// address inside the local traffic selectors, if there is one (so that
// locally originated traffic is sent from an address the peer accepts).
func (r *nlRoutes) addRoute(dst netip.Prefix, localTS []netip.Prefix) error {
	src, hint := r.localAddrIn(localTS, dst.Addr().Is4())
	for _, rt := range r.routes(dst) {
		if hint {
			rt.Src = net.IP(src.AsSlice())
			err := r.h.RouteReplace(rt)
			if err == nil {
				continue
			}
			r.log.Debug("route with source hint failed, retrying without", zap.Stringer("dst", dst), zap.Stringer("src", src), zap.Error(err))
			rt.Src = nil
		}
		if err := r.h.RouteReplace(rt); err != nil {
			return err
		}
	}
	return nil
}

// bypassProto marks our bypass routes (a protocol number of the
// "unassigned by the kernel" range, so `ip route` shows them as ours and
// we never remove a host route someone else put there).
const bypassProto = 0x9e

// addBypass pins the path to peer that the host uses now (gateway and
// device) as a host route, so that no TUN route added later captures the
// peer's own packets. A host route to peer that is already there (the
// administrator's) is left alone and serves.
func (r *nlRoutes) addBypass(peer netip.Addr) error {
	got, err := r.h.RouteGet(net.IP(peer.AsSlice()))
	if err != nil {
		return fmt.Errorf("no route to %v: %w", peer, err)
	}
	if len(got) == 0 {
		return fmt.Errorf("no route to %v", peer)
	}
	via := got[0]
	if via.LinkIndex == r.link.Attrs().Index {
		return fmt.Errorf("the route to %v already goes through %s", peer, r.link.Attrs().Name)
	}
	rt := &netlink.Route{LinkIndex: via.LinkIndex, Dst: ipNet(netip.PrefixFrom(peer, peer.BitLen())), Gw: via.Gw,
		Protocol: bypassProto}
	if via.Gw == nil {
		rt.Scope = netlink.SCOPE_LINK
	}
	if err := r.h.RouteAdd(rt); err != nil && !errors.Is(err, unix.EEXIST) {
		return err
	}
	return nil
}

// delBypass removes peer's bypass route if it is ours.
func (r *nlRoutes) delBypass(peer netip.Addr) error {
	rs, err := r.h.RouteListFiltered(netlink.FAMILY_ALL, &netlink.Route{Dst: ipNet(netip.PrefixFrom(peer, peer.BitLen())),
		Protocol: bypassProto}, netlink.RT_FILTER_DST|netlink.RT_FILTER_PROTOCOL)
	if err != nil {
		return err
	}
	for i := range rs {
		if err := r.h.RouteDel(&rs[i]); err != nil && !errors.Is(err, unix.ESRCH) {
			return err
		}
	}
	return nil
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
	for _, rt := range r.routes(dst) {
		err := r.h.RouteDel(rt)
		if err != nil && !errors.Is(err, unix.ESRCH) && !errors.Is(err, unix.ENODEV) {
			return err // (ESRCH, ENODEV: already gone, e.g. with the device)
		}
	}
	return nil
}

func (r *nlRoutes) close() { r.h.Close() }
