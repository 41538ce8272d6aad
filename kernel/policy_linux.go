//go:build linux

package kernel

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/vishvananda/netlink"

	"ikegate/policy"
)

// Policies are keyed by selector and direction, as in the kernel. Several
// CHILD SAs may share one (a rekeyed SA and its successor, overlapping
// connections); the backend keeps a list of owners and removes the kernel
// policy only when the last owner goes. The newest owner's template is the
// one installed.

// polKey identifies one kernel policy.
type polKey struct {
	dir      netlink.Dir
	src, dst netip.Prefix
}

func (k polKey) String() string {
	return fmt.Sprintf("%s policy %v -> %v", dirWord(k.dir), k.src, k.dst)
}

func dirWord(d netlink.Dir) string {
	switch d {
	case netlink.XFRM_DIR_IN:
		return "in"
	case netlink.XFRM_DIR_OUT:
		return "out"
	case netlink.XFRM_DIR_FWD:
		return "fwd"
	}
	return d.String()
}

// policy returns the selector part of the kernel policy (enough to delete
// or look it up).
func (k polKey) policy() *netlink.XfrmPolicy {
	return &netlink.XfrmPolicy{Src: ipNetOf(k.src), Dst: ipNetOf(k.dst), Dir: k.dir}
}

// polSpec is one policy a CHILD SA needs.
type polSpec struct {
	key      polKey
	priority int
	tmpl     netlink.XfrmPolicyTmpl
}

func (s polSpec) policy() *netlink.XfrmPolicy {
	p := s.key.policy()
	p.Priority = s.priority
	p.Tmpls = []netlink.XfrmPolicyTmpl{s.tmpl}
	return p
}

// ownerID names who holds a policy: a CHILD SA (sa) or the trap of a
// connection (trap, the connection name; sa is zero then).
type ownerID struct {
	sa   saKey
	trap string
}

func saOwner(k saKey) ownerID { return ownerID{sa: k} }

func trapOwner(conn string) ownerID { return ownerID{trap: conn} }

func (o ownerID) isTrap() bool { return o.trap != "" }

type polOwner struct {
	id   ownerID
	tmpl netlink.XfrmPolicyTmpl
}

type polEntry struct {
	owners []polOwner // traps first; the last one's template is installed
}

func sameTmpl(a, b netlink.XfrmPolicyTmpl) bool {
	return a.Src.Equal(b.Src) && a.Dst.Equal(b.Dst) && a.Proto == b.Proto && a.Mode == b.Mode && a.Reqid == b.Reqid && a.Spi == b.Spi
}

// policyPriority gives more specific selectors a lower (preferred) value.
func policyPriority(src, dst netip.Prefix) int {
	return policyPrioBase - src.Bits() - dst.Bits()
}

func hostPrefix(a netip.Addr) netip.Prefix {
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen())
}

func unmapPrefix(p netip.Prefix) netip.Prefix {
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		return netip.PrefixFrom(a.Unmap(), p.Bits()-96).Masked()
	}
	return p.Masked()
}

// policySpecs lists the out, in and (tunnel mode) fwd policies for every
// LocalTS x RemoteTS pair of one address family. Empty selector lists
// default to the SA's own addresses.
func policySpecs(sa *policy.ChildSA) ([]polSpec, error) {
	local, remote := sa.Local.Unmap(), sa.Remote.Unmap()
	if !local.IsValid() || !remote.IsValid() {
		return nil, fmt.Errorf("kernel: CHILD SA %q: no addresses for the policy templates", sa.ConnName)
	}
	lts, rts := sa.LocalTS, sa.RemoteTS
	if len(lts) == 0 {
		lts = []netip.Prefix{hostPrefix(local)}
	}
	if len(rts) == 0 {
		rts = []netip.Prefix{hostPrefix(remote)}
	}
	mode := netlink.XFRM_MODE_TRANSPORT
	if sa.Tunnel {
		mode = netlink.XFRM_MODE_TUNNEL
	}
	outT := netlink.XfrmPolicyTmpl{Src: ipOf(local), Dst: ipOf(remote), Proto: netlink.XFRM_PROTO_ESP, Mode: mode, Reqid: int(sa.ReqID)}
	inT := netlink.XfrmPolicyTmpl{Src: ipOf(remote), Dst: ipOf(local), Proto: netlink.XFRM_PROTO_ESP, Mode: mode, Reqid: int(sa.ReqID)}

	var specs []polSpec
	seen := map[polKey]bool{}
	add := func(s polSpec) {
		if !seen[s.key] {
			seen[s.key] = true
			specs = append(specs, s)
		}
	}
	for _, l := range lts {
		if !l.IsValid() {
			return nil, fmt.Errorf("kernel: CHILD SA %q: invalid local traffic selector", sa.ConnName)
		}
		l = unmapPrefix(l)
		for _, r := range rts {
			if !r.IsValid() {
				return nil, fmt.Errorf("kernel: CHILD SA %q: invalid remote traffic selector", sa.ConnName)
			}
			r = unmapPrefix(r)
			if l.Addr().Is4() != r.Addr().Is4() {
				continue // no selector mixes families
			}
			prio := policyPriority(l, r)
			add(polSpec{key: polKey{netlink.XFRM_DIR_OUT, l, r}, priority: prio, tmpl: outT})
			add(polSpec{key: polKey{netlink.XFRM_DIR_IN, r, l}, priority: prio, tmpl: inT})
			if sa.Tunnel {
				add(polSpec{key: polKey{netlink.XFRM_DIR_FWD, r, l}, priority: prio, tmpl: inT})
			}
		}
	}
	if len(specs) == 0 {
		return nil, fmt.Errorf("kernel: CHILD SA %q: no local/remote traffic selector pair of one address family (local %v, remote %v)", sa.ConnName, lts, rts)
	}
	return specs, nil
}

// addPolicies installs the policies of sa (test hook; AddChildSA does
// this after the states).
func (b *xfrmBackend) addPolicies(sa *policy.ChildSA) error {
	specs, err := policySpecs(sa)
	if err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.addPolicySpecsLocked(saOwner(keyOf(sa)), specs)
}

// delPolicies removes sa's ownership of its policies (test hook).
func (b *xfrmBackend) delPolicies(sa *policy.ChildSA) error {
	specs, err := policySpecs(sa)
	if err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.delPolicySpecsLocked(saOwner(keyOf(sa)), sa.ReqID, specs)
}

// addPolicySpecsLocked installs specs for owner k; on failure it removes
// those it added and returns the error.
func (b *xfrmBackend) addPolicySpecsLocked(k ownerID, specs []polSpec) error {
	for i, s := range specs {
		if err := b.addPolicyLocked(k, s); err != nil {
			for j := i - 1; j >= 0; j-- {
				if uerr := b.delPolicyLocked(k, 0, specs[j]); uerr != nil {
					err = errors.Join(err, fmt.Errorf("rollback: %w", uerr))
				}
			}
			return err
		}
	}
	return nil
}

func (b *xfrmBackend) addPolicyLocked(k ownerID, s polSpec) error {
	e := b.policies[s.key]
	if e == nil {
		if err := b.h.XfrmPolicyAdd(s.policy()); err != nil {
			return fmt.Errorf("kernel: add %s reqid %d: %w%s", s.key, s.tmpl.Reqid, err, errHint(err, ""))
		}
		b.policies[s.key] = &polEntry{owners: []polOwner{{k, s.tmpl}}}
		return nil
	}
	if k.isTrap() {
		// A trap never displaces a template: it goes first in line and
		// becomes active only when every CHILD SA has left.
		e.owners = append([]polOwner{{k, s.tmpl}}, e.owners...)
		return nil
	}
	if !sameTmpl(e.owners[len(e.owners)-1].tmpl, s.tmpl) {
		if err := b.h.XfrmPolicyUpdate(s.policy()); err != nil {
			return fmt.Errorf("kernel: update %s to reqid %d: %w%s", s.key, s.tmpl.Reqid, err, errHint(err, ""))
		}
	}
	e.owners = append(e.owners, polOwner{k, s.tmpl})
	return nil
}

// delPolicySpecsLocked drops owner k from specs, removing policies nobody
// else owns. Policies this backend does not track (installed before a
// restart, say) are removed only when their template carries reqid.
func (b *xfrmBackend) delPolicySpecsLocked(k ownerID, reqid uint32, specs []polSpec) error {
	var errs []error
	for _, s := range specs {
		errs = append(errs, b.delPolicyLocked(k, reqid, s))
	}
	return errors.Join(errs...)
}

func (b *xfrmBackend) delPolicyLocked(k ownerID, reqid uint32, s polSpec) error {
	e := b.policies[s.key]
	if e == nil {
		if reqid == 0 {
			return nil
		}
		p, err := b.h.XfrmPolicyGet(s.key.policy())
		if err != nil {
			if notFound(err) {
				return nil
			}
			return fmt.Errorf("kernel: look up %s: %w%s", s.key, err, errHint(err, ""))
		}
		if len(p.Tmpls) == 0 || p.Tmpls[0].Reqid != int(reqid) {
			return nil // someone else's
		}
		return b.delKernelPolicy(s.key)
	}
	i := -1
	for j, o := range e.owners {
		if o.id == k {
			i = j
		}
	}
	if i < 0 {
		return nil
	}
	wasActive := i == len(e.owners)-1
	e.owners = append(e.owners[:i], e.owners[i+1:]...)
	if len(e.owners) == 0 {
		delete(b.policies, s.key)
		return b.delKernelPolicy(s.key)
	}
	if active := e.owners[len(e.owners)-1]; wasActive && !sameTmpl(active.tmpl, s.tmpl) {
		p := s
		p.tmpl = active.tmpl
		if err := b.h.XfrmPolicyUpdate(p.policy()); err != nil {
			return fmt.Errorf("kernel: update %s back to reqid %d: %w%s", s.key, active.tmpl.Reqid, err, errHint(err, ""))
		}
	}
	return nil
}

func (b *xfrmBackend) delKernelPolicy(k polKey) error {
	if err := b.h.XfrmPolicyDel(k.policy()); err != nil && !notFound(err) {
		return fmt.Errorf("kernel: delete %s: %w%s", k, err, errHint(err, ""))
	}
	return nil
}
