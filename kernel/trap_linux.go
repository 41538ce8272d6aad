//go:build linux

package kernel

import (
	"errors"
	"fmt"
	"slices"

	"github.com/vishvananda/netlink"
	"go.uber.org/zap"

	"ikegate/policy"
)

// trapRec is one installed trap.
type trapRec struct {
	reqid uint32
	specs []polSpec
}

// trapSpecs lists the outbound policies of conn's trap: one per
// LocalTS x RemoteTS pair of one address family (the connection's
// addresses when it has no selectors), tunnel mode, ESP, with reqid. They
// have the keys and priorities of the outbound policies of a CHILD SA with
// the same selectors, so such an SA shares them.
func trapSpecs(conn *policy.Connection, reqid uint32) ([]polSpec, error) {
	if conn == nil {
		return nil, errors.New("kernel: trap: nil connection")
	}
	local, remote := conn.LocalAddr.Unmap(), conn.RemoteAddr.Unmap()
	if !local.IsValid() || !remote.IsValid() {
		return nil, fmt.Errorf("kernel: trap %q: needs local_addr and remote_addr for the policy template (got %v, %v)", conn.Name, conn.LocalAddr, conn.RemoteAddr)
	}
	if local.Is4() != remote.Is4() {
		return nil, fmt.Errorf("kernel: trap %q: local %v and remote %v are of different address families", conn.Name, local, remote)
	}
	if reqid == 0 {
		return nil, fmt.Errorf("kernel: trap %q: reqid must not be 0", conn.Name)
	}
	all, err := policySpecs(&policy.ChildSA{
		ConnName: conn.Name, ReqID: reqid, Tunnel: true,
		Local: local, Remote: remote,
		LocalTS: conn.LocalTS, RemoteTS: conn.RemoteTS,
	})
	if err != nil {
		return nil, err
	}
	var out []polSpec
	for _, s := range all {
		if s.key.dir == netlink.XFRM_DIR_OUT {
			out = append(out, s)
		}
	}
	return out, nil
}

func sameSpecs(a, b []polSpec) bool {
	return slices.EqualFunc(a, b, func(x, y polSpec) bool {
		return x.key == y.key && x.priority == y.priority && sameTmpl(x.tmpl, y.tmpl)
	})
}

// InstallTrap installs the outbound trap policies of conn. Installing the
// same trap again does nothing; a changed one replaces the old.
//
// Traps (start = "trap", policy.Dataplane's InstallTrap and RemoveTrap)
// work on the "xfrm" backend only (Capabilities().Traps): an outbound
// policy for the connection's LocalTS -> RemoteTS with a template for the
// tunnel endpoints and reqid, but no SA, so that the first matching packet
// makes the kernel raise an acquire (EventAcquire with that reqid) and the
// gateway negotiates. On "none", which has no dataplane to see packets,
// and "userspace", which has no policy layer that could raise an acquire,
// they return an error wrapping errors.ErrUnsupported.
//
// A CHILD SA installed later for the same selectors shares the trap's
// policy and takes it over; when that SA is deleted the policy goes back
// to the trap's template, so the connection stays trapped until
// RemoveTrap (or Close).
func (b *xfrmBackend) InstallTrap(conn *policy.Connection, reqid uint32) error {
	specs, err := trapSpecs(conn, reqid)
	if err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return errClosed
	}
	if old, ok := b.traps[conn.Name]; ok {
		if old.reqid == reqid && sameSpecs(old.specs, specs) {
			return nil
		}
		if err := b.delPolicySpecsLocked(trapOwner(conn.Name), 0, old.specs); err != nil {
			return fmt.Errorf("kernel: trap %q: removing the old trap: %w", conn.Name, err)
		}
		delete(b.traps, conn.Name)
	}
	if err := b.addPolicySpecsLocked(trapOwner(conn.Name), specs); err != nil {
		return fmt.Errorf("kernel: trap %q: %w", conn.Name, err)
	}
	b.traps[conn.Name] = trapRec{reqid: reqid, specs: specs}
	sel := make([]string, len(specs))
	for i, s := range specs {
		sel[i] = s.key.src.String() + " -> " + s.key.dst.String()
	}
	b.log.Info("trap installed", zap.String("conn", conn.Name), zap.Uint32("reqid", reqid),
		zap.Stringer("local", conn.LocalAddr), zap.Stringer("remote", conn.RemoteAddr), zap.Strings("out_policies", sel))
	return nil
}

// RemoveTrap removes the trap of conn; the policies stay while a CHILD SA
// still holds them.
func (b *xfrmBackend) RemoveTrap(conn *policy.Connection) error {
	if conn == nil {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	tr, ok := b.traps[conn.Name]
	if !ok {
		return nil
	}
	delete(b.traps, conn.Name)
	if err := b.delPolicySpecsLocked(trapOwner(conn.Name), 0, tr.specs); err != nil {
		return fmt.Errorf("kernel: trap %q: %w", conn.Name, err)
	}
	b.log.Info("trap removed", zap.String("conn", conn.Name), zap.Uint32("reqid", tr.reqid))
	return nil
}

// trapReqIDLocked returns the reqid (and connection name) of a trap that
// holds one of the outbound policies in specs with the same tunnel
// endpoints and mode, or 0.
func (b *xfrmBackend) trapReqIDLocked(specs []polSpec) (uint32, string) {
	for _, s := range specs {
		if s.key.dir != netlink.XFRM_DIR_OUT {
			continue
		}
		e := b.policies[s.key]
		if e == nil {
			continue
		}
		for _, o := range e.owners {
			if o.id.isTrap() && o.tmpl.Src.Equal(s.tmpl.Src) && o.tmpl.Dst.Equal(s.tmpl.Dst) &&
				o.tmpl.Mode == s.tmpl.Mode && o.tmpl.Proto == s.tmpl.Proto {
				return uint32(o.tmpl.Reqid), o.id.trap
			}
		}
	}
	return 0, ""
}
