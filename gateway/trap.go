package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sync"
	"time"

	"go.uber.org/zap"

	"ikegate/kernel"
	"ikegate/policy"
)

// Kernel integration of the "xfrm" dataplane: socket options, traps
// (start = "trap") and the kernel's event stream.
//
// A trapped connection has an outbound kernel policy for its LocalTS ->
// RemoteTS with a template (local_addr -> remote_addr, ESP, tunnel, the
// trap's reqid) but no SA. The first packet that matches makes the kernel
// raise an ACQUIRE; the gateway answers it with Up. The CHILD SA's
// policies then take the trap's place (policy.Dataplane.InstallTrap); when the SA
// is deleted the trap is back, so the next packet negotiates again.

// prepareXfrmSockets sets the options the kernel's IPsec needs on every
// socket (see xfrmSocket): IPsec bypass for IKE, and ESP-in-UDP
// decapsulation on the NAT-T sockets.
func (g *Gateway) prepareXfrmSockets() error {
	for _, s := range g.socks {
		if err := xfrmSocket(s.conn, s.local.Addr().Is6(), s.natt); err != nil {
			hint := ""
			if errors.Is(err, os.ErrPermission) {
				hint = " (needs CAP_NET_ADMIN)"
			}
			return fmt.Errorf("gateway: dataplane \"xfrm\": socket %s: %w%s", s.local, err, hint)
		}
	}
	return nil
}

// trapTable maps the reqids of the installed traps to their connections.
type trapTable struct {
	byReqID map[uint32]*policy.Connection
}

// match finds the trapped connection an acquire is for: by the reqid of
// the policy template (a trap's, or that of a CHILD SA which took the
// trap's reqid), else by tunnel endpoints and selectors (a CHILD SA's
// policy whose outbound state is gone).
func (t *trapTable) match(ev kernel.Event) *policy.Connection {
	if c := t.byReqID[ev.ReqID]; c != nil {
		return c
	}
	for _, c := range t.byReqID {
		if c.LocalAddr.Unmap() != ev.Src || c.RemoteAddr.Unmap() != ev.Dst {
			continue
		}
		if covers(c.LocalTS, c.LocalAddr, ev.LocalTS) && covers(c.RemoteTS, c.RemoteAddr, ev.RemoteTS) {
			return c
		}
	}
	return nil
}

// covers reports whether one of ts (or, without selectors, addr) contains
// all of p.
func covers(ts []netip.Prefix, addr netip.Addr, p netip.Prefix) bool {
	if !p.IsValid() {
		return false
	}
	if len(ts) == 0 {
		ts = []netip.Prefix{netip.PrefixFrom(addr.Unmap(), addr.Unmap().BitLen())}
	}
	for _, t := range ts {
		if t.Bits() <= p.Bits() && t.Contains(p.Addr()) {
			return true
		}
	}
	return false
}

// startKernel installs the traps and starts the goroutine that reads the
// backend's events (if it has any) until ctx is done or the backend
// closes the stream.
func (g *Gateway) startKernel(ctx context.Context, wg *sync.WaitGroup) {
	traps := g.installTraps()
	if !g.caps.Events {
		return
	}
	evs := g.backend.Events()
	if evs == nil {
		return
	}
	wg.Go(func() { g.readKernelEvents(ctx, evs, traps) })
}

// installTraps installs a trap for every connection with start = "trap".
func (g *Gateway) installTraps() *trapTable {
	t := &trapTable{byReqID: map[uint32]*policy.Connection{}}
	canTrap := g.caps.Traps
	for _, c := range g.dbNow().Connections() {
		if c.Start != policy.StartTrap {
			continue
		}
		log := g.log.With(zap.String("conn", c.Name))
		if !canTrap {
			log.Error(`start = "trap" needs dataplane = "xfrm" (a kernel policy raises the acquire that starts the negotiation); `+
				"this connection is NOT trapped and will not be negotiated on traffic",
				zap.String("dataplane", g.cfg.Gateway.Dataplane))
			continue
		}
		if c.Version != policy.IKEv1 && c.Version != policy.IKEv2 {
			log.Error(`start = "trap" needs version "ikev1" or "ikev2" to initiate with; not trapped`, zap.String("conn_version", string(c.Version)))
			continue
		}
		reqid := g.backend.AllocReqID() // the installer's, shared with CHILD SAs
		if err := g.backend.InstallTrap(c, reqid); err != nil {
			log.Error("cannot install the trap; this connection will not be negotiated on traffic", zap.Error(err))
			continue
		}
		t.byReqID[reqid] = c
	}
	return t
}

func (g *Gateway) readKernelEvents(ctx context.Context, evs <-chan kernel.Event, traps *trapTable) {
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-evs:
			if !ok {
				return
			}
			switch ev.Kind {
			case kernel.EventAcquire:
				g.onAcquire(ctx, ev, traps)
			case kernel.EventSoftExpire, kernel.EventHardExpire:
				// The engines rekey on their own timers before the soft
				// limit; an expire means a limit they do not track (or a
				// clock that disagrees): let the SA's engine act on it.
				g.log.Debug("kernel expire", zap.Stringer("kind", ev.Kind),
					zap.String("spi", fmt.Sprintf("%08x", ev.SPI)), zap.Uint32("reqid", ev.ReqID))
				g.onExpire(ctx, ev.SPI, ev.Kind == kernel.EventHardExpire)
			}
		}
	}
}

// onAcquire initiates the trapped connection an acquire is for, unless an
// SA for it is already being negotiated or is up.
func (g *Gateway) onAcquire(ctx context.Context, ev kernel.Event, traps *trapTable) {
	fields := []zap.Field{
		zap.Uint32("reqid", ev.ReqID), zap.Stringer("local_ts", ev.LocalTS), zap.Stringer("remote_ts", ev.RemoteTS),
		zap.Uint8("proto", ev.Proto), zap.Uint16("local_port", ev.LocalPort), zap.Uint16("remote_port", ev.RemotePort),
		zap.Stringer("local", ev.Src), zap.Stringer("peer", ev.Dst),
	}
	c := traps.match(ev)
	if c == nil {
		g.log.Debug("kernel acquire for no trapped connection; ignored", fields...)
		return
	}
	fields = append(fields, zap.String("conn", c.Name))
	if busy, why := g.connBusy(ctx, c.Name); busy {
		g.log.Debug("kernel acquire ignored: "+why, fields...)
		return
	}
	g.log.Info("traffic hit a trap: initiating", fields...)
	if err := g.Up(ctx, c.Name); err != nil {
		g.log.Warn("initiation on acquire failed", append(fields, zap.Error(err))...)
	}
}

// connBusy reports whether connection name has an IKE SA being
// negotiated, or an established one with a CHILD SA that is installed or
// being created; an established IKE SA without one is reused by Up.
func (g *Gateway) connBusy(ctx context.Context, name string) (bool, string) {
	var mu sync.Mutex
	busy, why := false, ""
	err := g.runOnAll(ctx, func(_ int, sh *shard, _ time.Time) {
		for _, e := range sh.engines {
			if b, w := e.Busy(name); b {
				mu.Lock()
				busy, why = true, w
				mu.Unlock()
				return
			}
		}
	})
	if err != nil {
		return true, err.Error()
	}
	return busy, why
}

// onExpire hands a kernel expire to whichever engine owns the SPI.
func (g *Gateway) onExpire(ctx context.Context, spi uint32, hard bool) {
	err := g.runOnAll(ctx, func(_ int, sh *shard, now time.Time) {
		for i, e := range sh.engines {
			if out, ok := e.Expired(now, spi, hard); ok {
				sh.exec(i, out)
				return
			}
		}
	})
	if err != nil {
		g.log.Debug("kernel expire not handled", zap.Error(err))
	}
}
