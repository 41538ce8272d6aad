//go:build linux

package kernel

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"ikegate/policy"
)

// Never format a netlink.XfrmState with fmt (%v, %s, zap.Any): its String
// method dereferences Pcpunum, which is nil unless set, and panics.
// Log the fields you need instead.

const (
	replayWindowIn = 32
	eventBuffer    = 64
	// policyPrioBase is the priority of a 0.0.0.0/0 <-> 0.0.0.0/0 policy;
	// every selector bit makes a policy more specific, and a lower value
	// wins in the kernel.
	policyPrioBase = 0x10000
)

// xfrmBackend installs SAs and policies in the kernel through netlink XFRM.
// Of policy.Dataplane's optional parts it supports Counters (the kernel's
// state statistics, without LastInbound), traps and events; ESP-in-UDP
// is the kernel's business, not the gateway's.
type xfrmBackend struct {
	ReqIDs
	log   *zap.Logger
	h     *netlink.Handle
	sock  *nl.SocketHandle  // for XFRM_MSG_ALLOCSPI, which Handle lacks
	evs   *nl.NetlinkSocket // multicast: ACQUIRE, EXPIRE
	evCh  chan Event
	done  chan struct{}
	wg    sync.WaitGroup
	close sync.Once

	mu        sync.Mutex
	closed    bool
	allocated map[spiKey]netip.Addr // larval inbound SAs from ALLOCSPI -> remote
	installed map[saKey]policy.ChildSA
	policies  map[polKey]*polEntry
	traps     map[string]trapRec // by connection name
}

func newXfrmCurrentNS(log *zap.Logger) (Backend, error) {
	return newXfrm(netns.None(), log)
}

// newXfrm opens the backend's netlink sockets in network namespace ns
// (netns.None(): the calling thread's); all later operations act there.
func newXfrm(ns netns.NsHandle, log *zap.Logger) (*xfrmBackend, error) {
	if log == nil {
		log = zap.NewNop()
	}
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_XFRM)
	if err != nil {
		return nil, fmt.Errorf("kernel: open XFRM netlink socket: %w%s", err, xfrmOpenHint(err))
	}
	s, err := nl.GetNetlinkSocketAt(ns, netns.None(), unix.NETLINK_XFRM)
	if err != nil {
		h.Close()
		return nil, fmt.Errorf("kernel: open XFRM netlink socket: %w%s", err, xfrmOpenHint(err))
	}
	evs, err := nl.SubscribeAt(ns, netns.None(), unix.NETLINK_XFRM, nl.XFRMNLGRP_ACQUIRE, nl.XFRMNLGRP_EXPIRE)
	if err != nil {
		h.Close()
		s.Close()
		return nil, fmt.Errorf("kernel: subscribe to XFRM events: %w%s", err, xfrmOpenHint(err))
	}
	b := &xfrmBackend{
		log:       log,
		h:         h,
		sock:      &nl.SocketHandle{Socket: s},
		evs:       evs,
		evCh:      make(chan Event, eventBuffer),
		done:      make(chan struct{}),
		allocated: map[spiKey]netip.Addr{},
		installed: map[saKey]policy.ChildSA{},
		policies:  map[polKey]*polEntry{},
		traps:     map[string]trapRec{},
	}
	b.wg.Add(1)
	go b.readEvents()
	return b, nil
}

func xfrmOpenHint(err error) string {
	switch {
	case errors.Is(err, unix.EPROTONOSUPPORT):
		return " (kernel without CONFIG_XFRM_USER?)"
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
		return " (needs CAP_NET_ADMIN)"
	}
	return ""
}

// errHint explains the errnos people meet when installing SAs and policies.
func errHint(err error, algs string) string {
	switch {
	case errors.Is(err, unix.EPROTONOSUPPORT):
		return " (kernel has no ESP support?)"
	case errors.Is(err, unix.ENOSYS):
		return fmt.Sprintf(" (kernel lacks algorithm %s?)", algs)
	case errors.Is(err, unix.EPERM):
		return " (needs CAP_NET_ADMIN)"
	case errors.Is(err, unix.EEXIST):
		return " (already installed, by another IKE daemon?)"
	}
	return ""
}

// notFound reports the errnos the kernel returns for a missing state (ESRCH)
// or policy (ENOENT).
func notFound(err error) bool {
	return errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ESRCH)
}

func ipOf(a netip.Addr) net.IP { return net.IP(a.Unmap().AsSlice()) }

func ipNetOf(p netip.Prefix) *net.IPNet {
	p = p.Masked()
	a := p.Addr()
	return &net.IPNet{IP: net.IP(a.AsSlice()), Mask: net.CIDRMask(p.Bits(), a.BitLen())}
}

func familyOf(a netip.Addr) uint16 {
	if a.Unmap().Is4() {
		return afInet
	}
	return afInet6
}

// AllocSPI reserves an inbound ESP SPI (remote -> local) with
// XFRM_MSG_ALLOCSPI. The kernel keeps a larval SA for it (and expires it
// after net.core.xfrm_acq_expires seconds, 30 by default).
func (b *xfrmBackend) AllocSPI(local, remote netip.Addr) (uint32, error) {
	local, remote = local.Unmap(), remote.Unmap()
	if !local.IsValid() || !remote.IsValid() || local.Is4() != remote.Is4() {
		return 0, fmt.Errorf("kernel: allocate SPI %v->%v: need two addresses of one family", remote, local)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return 0, errClosed
	}
	req := &nl.NetlinkRequest{
		NlMsghdr: unix.NlMsghdr{
			Len:   unix.SizeofNlMsghdr,
			Type:  nl.XFRM_MSG_ALLOCSPI,
			Flags: unix.NLM_F_REQUEST | unix.NLM_F_CREATE | unix.NLM_F_EXCL | unix.NLM_F_ACK,
		},
		Sockets: map[int]*nl.SocketHandle{unix.NETLINK_XFRM: b.sock},
	}
	msg := &nl.XfrmUserSpiInfo{Min: minSPI, Max: 0xffffffff}
	msg.XfrmUsersaInfo.Family = familyOf(local)
	msg.XfrmUsersaInfo.Id.Daddr.FromIP(ipOf(local))
	msg.XfrmUsersaInfo.Saddr.FromIP(ipOf(remote))
	msg.XfrmUsersaInfo.Id.Proto = unix.IPPROTO_ESP
	msg.XfrmUsersaInfo.Mode = uint8(netlink.XFRM_MODE_TUNNEL)
	req.AddData(msg)
	msgs, err := req.Execute(unix.NETLINK_XFRM, 0)
	if err != nil {
		return 0, fmt.Errorf("kernel: allocate ESP SPI %v->%v: %w%s", remote, local, err, errHint(err, ""))
	}
	for _, m := range msgs {
		if len(m) < sizeofUsersaInfo {
			continue
		}
		spi := binary.BigEndian.Uint32(m[offUsersaID+offIDSPI:])
		if spi == 0 {
			continue
		}
		b.allocated[spiKey{local, spi}] = remote
		return spi, nil
	}
	return 0, fmt.Errorf("kernel: allocate ESP SPI %v->%v: no SPI in the kernel's answer", remote, local)
}

// xfrmState builds one direction of sa. It never sets Pcpunum.
func xfrmState(sa *policy.ChildSA, inbound bool, a espAlgs) *netlink.XfrmState {
	st := &netlink.XfrmState{
		Proto: netlink.XFRM_PROTO_ESP,
		Mode:  netlink.XFRM_MODE_TRANSPORT,
		Reqid: int(sa.ReqID),
	}
	if sa.Tunnel {
		st.Mode = netlink.XFRM_MODE_TUNNEL
	}
	var encKey, integKey []byte
	var sport, dport uint16
	if inbound {
		st.Src, st.Dst, st.Spi = ipOf(sa.Remote), ipOf(sa.Local), int(sa.SPIIn)
		encKey, integKey = sa.EncKeyIn, sa.IntegKeyIn
		sport, dport = sa.EncapRemotePort, sa.EncapLocalPort
		st.ReplayWindow = replayWindowIn
	} else {
		st.Src, st.Dst, st.Spi = ipOf(sa.Local), ipOf(sa.Remote), int(sa.SPIOut)
		encKey, integKey = sa.EncKeyOut, sa.IntegKeyOut
		sport, dport = sa.EncapLocalPort, sa.EncapRemotePort
	}
	if a.isAEAD() {
		st.Aead = &netlink.XfrmStateAlgo{Name: a.aeadName, Key: encKey, ICVLen: a.aeadICV}
	} else {
		st.Crypt = &netlink.XfrmStateAlgo{Name: a.cryptName, Key: encKey}
		st.Auth = &netlink.XfrmStateAlgo{Name: a.authName, Key: integKey, TruncateLen: a.authTrunc}
	}
	if sa.EncapLocalPort != 0 {
		st.Encap = &netlink.XfrmStateEncap{Type: netlink.XFRM_ENCAP_ESPINUDP, SrcPort: int(sport), DstPort: int(dport)}
	}
	if secs := uint64(sa.Lifetime.Seconds()); secs > 0 {
		// Lifetime is the hard limit; the soft expire at 90% tells the
		// gateway to rekey if its own timer has not done so.
		st.Limits.TimeHard = secs
		st.Limits.TimeSoft = max(secs*9/10, 1)
	}
	if b := sa.LifetimeBytes; b > 0 {
		st.Limits.ByteHard = b
		st.Limits.ByteSoft = max(b*9/10, 1)
	}
	return st
}

func (a espAlgs) String() string {
	if a.isAEAD() {
		return a.aeadName
	}
	return a.cryptName + "/" + a.authName
}

func dirName(inbound bool) string {
	if inbound {
		return "inbound"
	}
	return "outbound"
}

// stateErr wraps a kernel error about one SA direction.
func stateErr(op string, st *netlink.XfrmState, inbound bool, err error, algs string) error {
	return fmt.Errorf("kernel: %s %s ESP state spi %#08x %v->%v: %w%s", op, dirName(inbound), uint32(st.Spi), st.Src, st.Dst, err, errHint(err, algs))
}

// delState deletes the ESP state with the given SPI at dst, tolerating a
// missing state.
func (b *xfrmBackend) delState(src, dst netip.Addr, spi uint32, inbound bool) error {
	if spi == 0 || !dst.IsValid() {
		return nil
	}
	st := &netlink.XfrmState{Dst: ipOf(dst), Proto: netlink.XFRM_PROTO_ESP, Spi: int(spi)}
	if src.IsValid() {
		st.Src = ipOf(src)
	}
	if err := b.h.XfrmStateDel(st); err != nil && !notFound(err) {
		return fmt.Errorf("kernel: delete %s ESP state spi %#08x %v->%v: %w%s", dirName(inbound), spi, src, dst, err, errHint(err, ""))
	}
	return nil
}

// AddChildSA installs the inbound and outbound ESP states and the
// policies of sa; on failure it removes whatever it installed for sa,
// including the larval SA of an SPI from AllocSPI.
func (b *xfrmBackend) AddChildSA(sa *policy.ChildSA) error {
	if err := validateChildSA(sa); err != nil {
		return err
	}
	algs, err := mapAlgorithmsTrunc(sa.Encr, sa.Integ, sa.SHA256Trunc96)
	if err != nil {
		return err
	}
	if err := algs.checkKeys("inbound", sa.EncKeyIn, sa.IntegKeyIn); err != nil {
		return err
	}
	if err := algs.checkKeys("outbound", sa.EncKeyOut, sa.IntegKeyOut); err != nil {
		return err
	}
	specs, err := policySpecs(sa)
	if err != nil {
		return err
	}

	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return errClosed
	}
	k := keyOf(sa)
	if _, ok := b.installed[k]; ok {
		return fmt.Errorf("kernel: CHILD SA %q spi in %#08x out %#08x is already installed", sa.ConnName, sa.SPIIn, sa.SPIOut)
	}
	if reqid, trap := b.trapReqIDLocked(specs); reqid != 0 && reqid != sa.ReqID {
		// The SA covers a trapped policy: give it the trap's reqid, so
		// the outbound state replaces the kernel's larval acquire state
		// (and releases what waits on it) and the policy's template does
		// not change at all. The caller's ChildSA keeps its own reqid.
		b.log.Debug("CHILD SA takes the reqid of a trap", zap.String("conn", sa.ConnName), zap.String("trap", trap),
			zap.Uint32("reqid", sa.ReqID), zap.Uint32("trap_reqid", reqid))
		c := *sa
		c.ReqID = reqid
		sa = &c
		if specs, err = policySpecs(sa); err != nil {
			return err
		}
	}

	var undo []func() error
	fail := func(err error) error {
		for i := len(undo) - 1; i >= 0; i-- {
			if uerr := undo[i](); uerr != nil {
				b.log.Warn("rollback after failed CHILD SA install", zap.String("conn", sa.ConnName), zap.Error(uerr))
			}
		}
		delete(b.allocated, spiKey{k.local, k.spiIn})
		return err
	}
	delIn := func() error { return b.delState(k.remote, k.local, k.spiIn, true) }
	delOut := func() error { return b.delState(k.local, k.remote, k.spiOut, false) }

	in := xfrmState(sa, true, algs)
	if _, larval := b.allocated[spiKey{k.local, k.spiIn}]; larval {
		// The larval SA from ALLOCSPI is ours: replace it, and remove it
		// if that fails.
		undo = append(undo, delIn)
		err = b.h.XfrmStateUpdate(in)
		if errors.Is(err, unix.ESRCH) { // the larval SA expired meanwhile
			err = b.h.XfrmStateAdd(in)
		}
	} else {
		err = b.h.XfrmStateAdd(in)
		if err == nil {
			undo = append(undo, delIn)
		}
	}
	if err != nil {
		return fail(stateErr("add", in, true, err, algs.String()))
	}

	out := xfrmState(sa, false, algs)
	if err := b.h.XfrmStateAdd(out); err != nil {
		return fail(stateErr("add", out, false, err, algs.String()))
	}
	undo = append(undo, delOut)

	if err := b.addPolicySpecsLocked(saOwner(k), specs); err != nil {
		return fail(err)
	}

	delete(b.allocated, spiKey{k.local, k.spiIn})
	rec := recordOf(sa) // keys live in the kernel only
	b.installed[k] = rec
	// Debug: the engine's "CHILD SA established" says it at info.
	if ce := b.log.Check(zap.DebugLevel, "CHILD SA installed"); ce != nil {
		ce.Write(zap.String("conn", sa.ConnName), zap.Uint32("reqid", sa.ReqID),
			zap.String("spi_in", fmt.Sprintf("%08x", sa.SPIIn)), zap.String("spi_out", fmt.Sprintf("%08x", sa.SPIOut)),
			zap.String("algs", algs.String()), zap.Int("policies", len(specs)))
	}
	return nil
}

// MoveChildSA is not implemented for xfrm (XFRM_MSG_MIGRATE would do it).
func (b *xfrmBackend) MoveChildSA(sa *policy.ChildSA, local, remote netip.AddrPort) error {
	return fmt.Errorf("kernel: moving an xfrm CHILD SA to new addresses: %w", errors.ErrUnsupported)
}

// DelChildSA removes both states and all policies of sa, tolerating what
// is already gone.
func (b *xfrmBackend) DelChildSA(sa *policy.ChildSA) error {
	if sa == nil {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.delChildSALocked(sa)
}

func (b *xfrmBackend) delChildSALocked(sa *policy.ChildSA) error {
	k := keyOf(sa)
	if rec, ok := b.installed[k]; ok {
		sa = &rec
	}
	var errs []error
	errs = append(errs, b.delState(k.remote, k.local, k.spiIn, true))
	errs = append(errs, b.delState(k.local, k.remote, k.spiOut, false))
	if specs, err := policySpecs(sa); err == nil && k.local.IsValid() && k.remote.IsValid() {
		errs = append(errs, b.delPolicySpecsLocked(saOwner(k), sa.ReqID, specs))
	}
	delete(b.installed, k)
	delete(b.allocated, spiKey{k.local, k.spiIn})
	return errors.Join(errs...)
}

// pairCounters reads the lifetime counters of both states of sa.
func (b *xfrmBackend) pairCounters(sa *policy.ChildSA) (Counters, error) {
	var c Counters
	if err := validateChildSA(sa); err != nil {
		return c, err
	}
	get := func(src, dst netip.Addr, spi uint32, inbound bool) (bytes, packets uint64, err error) {
		st, err := b.h.XfrmStateGet(&netlink.XfrmState{Src: ipOf(src), Dst: ipOf(dst), Proto: netlink.XFRM_PROTO_ESP, Spi: int(spi)})
		if err != nil {
			return 0, 0, fmt.Errorf("kernel: read %s ESP state spi %#08x %v->%v: %w", dirName(inbound), spi, src, dst, err)
		}
		return st.Statistics.Bytes, st.Statistics.Packets, nil
	}
	var err error
	if c.InBytes, c.InPackets, err = get(sa.Remote, sa.Local, sa.SPIIn, true); err != nil {
		return Counters{}, err
	}
	if c.OutBytes, c.OutPackets, err = get(sa.Local, sa.Remote, sa.SPIOut, false); err != nil {
		return Counters{}, err
	}
	return c, nil
}

// Counters returns the kernel's statistics of both states of the
// installed CHILD SA whose inbound SPI is spiIn (LastInbound and the drop
// counters stay zero). The kernel keeps SPIs unique per destination
// only: should two installed SAs to different local addresses share
// spiIn, the one with the lower reqid (then outbound SPI) is reported.
// ok is false if no installed SA has spiIn or its states cannot be read
// (for instance, they expired).
func (b *xfrmBackend) Counters(spiIn uint32) (policy.ChildCounters, bool) {
	b.mu.Lock()
	var sa policy.ChildSA
	found := false
	for k, rec := range b.installed {
		if k.spiIn != spiIn {
			continue
		}
		if !found || rec.ReqID < sa.ReqID || (rec.ReqID == sa.ReqID && rec.SPIOut < sa.SPIOut) {
			sa, found = rec, true
		}
	}
	b.mu.Unlock()
	if !found {
		return policy.ChildCounters{}, false
	}
	c, err := b.pairCounters(&sa)
	if err != nil {
		b.log.Debug("cannot read the counters of a CHILD SA", zap.String("conn", sa.ConnName),
			zap.String("spi_in", fmt.Sprintf("%08x", sa.SPIIn)), zap.Error(err))
		return policy.ChildCounters{}, false
	}
	return policy.ChildCounters{InBytes: c.InBytes, InPackets: c.InPackets, OutBytes: c.OutBytes, OutPackets: c.OutPackets}, true
}

// Capabilities reports counters, traps, events and raw ESP (the kernel
// carries ESP without UDP encapsulation itself).
func (b *xfrmBackend) Capabilities() policy.Capabilities {
	return policy.Capabilities{Counters: true, Traps: true, Events: true, RawESP: true}
}

// HandleESP does nothing: the kernel receives ESP-in-UDP itself (the
// gateway's NAT-T sockets set UDP_ENCAP), so the gateway never calls it.
func (b *xfrmBackend) HandleESP(netip.AddrPort, netip.AddrPort, []byte) {}

// SetSender does nothing: the kernel sends ESP itself.
func (b *xfrmBackend) SetSender(func(local, remote netip.AddrPort, b []byte) error) {}

// Stats returns zero: the kernel's own drop counters are in
// /proc/net/xfrm_stat, not here.
func (b *xfrmBackend) Stats() policy.DataplaneStats { return policy.DataplaneStats{} }

// Events delivers the kernel's expire and acquire events; Close closes
// the channel.
func (b *xfrmBackend) Events() <-chan Event { return b.evCh }

// Installed lists the installed CHILD SAs, without keys.
func (b *xfrmBackend) Installed() []policy.ChildSA {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]policy.ChildSA, 0, len(b.installed))
	for _, sa := range b.installed {
		out = append(out, cloneChildSA(&sa))
	}
	sortChildSAs(out)
	return out
}

// Close removes every SA, larval SA and policy this backend installed,
// stops the event reader, closes the Events channel and the sockets.
func (b *xfrmBackend) Close() error {
	var errs []error
	b.close.Do(func() {
		b.mu.Lock()
		b.closed = true
		for name, tr := range b.traps {
			errs = append(errs, b.delPolicySpecsLocked(trapOwner(name), 0, tr.specs))
			delete(b.traps, name)
		}
		for _, sa := range b.installed {
			errs = append(errs, b.delChildSALocked(&sa))
		}
		for k, remote := range b.allocated {
			errs = append(errs, b.delState(remote, k.dst, k.spi, true))
			delete(b.allocated, k)
		}
		// Policies left over (none, unless a delete failed above).
		for pk := range b.policies {
			if err := b.h.XfrmPolicyDel(pk.policy()); err != nil && !notFound(err) {
				errs = append(errs, fmt.Errorf("kernel: delete %s: %w", pk, err))
			}
			delete(b.policies, pk)
		}
		b.mu.Unlock()

		close(b.done)
		b.evs.Close()
		b.wg.Wait()
		close(b.evCh)
		b.h.Close()
		b.sock.Close()
	})
	return errors.Join(errs...)
}

// readEvents decodes XFRM multicast messages into Events until Close.
func (b *xfrmBackend) readEvents() {
	defer b.wg.Done()
	for {
		msgs, from, err := b.evs.Receive()
		if err != nil {
			select {
			case <-b.done:
				return
			default:
			}
			switch {
			case errors.Is(err, unix.ENOBUFS):
				b.log.Warn("XFRM event socket overflowed: kernel events were lost")
				continue
			case errors.Is(err, unix.EINTR), errors.Is(err, unix.EAGAIN):
				continue
			}
			b.log.Error("XFRM event socket failed; no more kernel events", zap.Error(err))
			return
		}
		if from.Pid != nl.PidKernel {
			continue
		}
		for _, m := range msgs {
			ev, ok, err := decodeEvent(m.Header.Type, m.Data)
			if err != nil {
				b.log.Warn("undecodable XFRM event", zap.Uint16("type", m.Header.Type), zap.Error(err))
				continue
			}
			if !ok {
				continue
			}
			if ev.Kind == EventHardExpire {
				b.mu.Lock()
				delete(b.allocated, spiKey{ev.Dst, ev.SPI}) // a larval SA timed out
				b.mu.Unlock()
			}
			select {
			case b.evCh <- ev:
			case <-b.done:
				return
			}
		}
	}
}

var (
	_ policy.Dataplane = (*xfrmBackend)(nil)
)
