package ikev1

import (
	"time"

	"ikegate/internal/engine"
)

// Rekey starts at once, on an operator's request (`ikegate rekey`), the
// renewal of connection name's established ISAKMP SAs (ike: a new Main
// or Aggressive Mode and Quick Mode, after which the old SAs are
// deleted; only where we may initiate the connection) and/or of its
// installed phase 2 SAs (child: a new Quick Mode each), as their
// lifetimes would. It returns how many renewals it started.
func (e *Engine) Rekey(now time.Time, name string, ike, child bool) (engine.Output, int) {
	n := 0
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
		if ike && carries && canInitiate(sa.conn) {
			sa.RekeyAt = now
			n++
		}
		e.rekeyDue(now, sa)
		e.Schedule(sa)
	}
	return e.Flush(), n
}
