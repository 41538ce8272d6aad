package ikev2

import (
	"time"

	"ikegate/internal/engine"
)

// Rekey starts at once, on an operator's request (`ikegate rekey`), the
// rekey of connection name's established IKE SAs (ike: those the
// connection owns or that carry one of its CHILD SAs) and/or of its
// installed CHILD SAs (child), as their lifetimes would. An SA whose
// rekey is already under way is left to it. It returns how many rekeys
// it started.
func (e *Engine) Rekey(now time.Time, name string, ike, child bool) (engine.Output, int) {
	n := 0
	for _, sa := range e.sas {
		if sa.state != stateEstablished {
			continue
		}
		carries := sa.conn.Name == name
		for _, c := range sa.children {
			if c.Conn.Name != name || c.State != engine.ChildInstalled {
				continue
			}
			carries = true
			if child && !ike && !c.Rekeying {
				e.rekeyChild(now, sa, c)
				n++
			}
		}
		if ike && carries && !sa.Rekeying {
			e.rekeyIKE(now, sa)
			n++
		}
		e.Schedule(sa)
	}
	return e.Flush(), n
}
