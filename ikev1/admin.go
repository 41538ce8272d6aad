package ikev1

import (
	"net/netip"
	"time"

	"ikegate/internal/engine"
)

// Rekey starts at once, on an operator's request (`ikegate rekey`), the
// renewal of connection name's established ISAKMP SAs (ike: a new Main
// or Aggressive Mode and Quick Mode, after which the old SAs are
// deleted; only where we may initiate the connection) and/or of its
// installed phase 2 SAs (child: a new Quick Mode each), as their
// lifetimes would. It returns how many renewals it started. Of several
// ISAKMP SAs with one peer only the newest is renewed: the others are
// being replaced already (a renewal or a crossing settling), and renewing
// them too would leave two new SAs that replace different ones.
func (e *Engine) Rekey(now time.Time, name string, ike, child bool) (engine.Output, int) {
	n := 0
	type peerKey struct {
		conn   string
		remote netip.AddrPort
	}
	newest := map[peerKey]*p1SA{}
	if ike {
		for _, sa := range e.sas {
			if sa.state == stateEstablished && !sa.Rekeying && sa.conn.Name == name {
				k := peerKey{sa.conn.Name, sa.remote}
				if o := newest[k]; o == nil || sa.Since.After(o.Since) {
					newest[k] = sa
				}
			}
		}
	}
	for _, sa := range e.sas {
		if sa.state != stateEstablished || sa.Rekeying {
			continue
		}
		carries := sa.conn.Name == name
		for _, c := range sa.children {
			if c.Conn.Name != name || c.State != engine.ChildInstalled {
				continue
			}
			carries = true
			if child && !ike && !c.Rekeying {
				c.RekeyAt = now
				n++
			}
		}
		if o := newest[peerKey{sa.conn.Name, sa.remote}]; ike && carries && canInitiate(sa.conn) && (o == nil || o == sa) {
			sa.RekeyAt = now
			n++
		}
		e.rekeyDue(now, sa)
		e.Schedule(sa)
	}
	return e.Flush(), n
}
