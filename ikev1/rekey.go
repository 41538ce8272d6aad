package ikev1

import (
	"encoding/binary"
	"time"

	"go.uber.org/zap"

	"ikegate/isakmp"
	"ikegate/policy"
)

// Default lifetimes when neither the connection nor the peer sets one.
const (
	defaultIKELifetime   = 8 * time.Hour
	defaultChildLifetime = time.Hour
)

// rekeyDelay is when, after creation, our side replaces an SA of the
// given (negotiated) lifetime: see policy.RekeyAfter.
func (e *Engine) rekeyDelay(sa *p1SA, lifetime, def time.Duration) time.Duration {
	return policy.RekeyAfter(lifetime, def, sa.initiator, binary.BigEndian.Uint16(e.random(2)))
}

// rekeyDue starts the replacements whose time has come. IKEv1 has no
// rekey exchange: a phase 2 SA is replaced by a new Quick Mode, a phase 1
// SA by a new Main or Aggressive Mode (with its Quick Mode), after which
// the old SAs are deleted.
func (e *Engine) rekeyDue(now time.Time, sa *p1SA) {
	if !sa.rekeying && !sa.rekeyAt.IsZero() && !sa.rekeyAt.After(now) {
		sa.rekeying = true
		if canInitiate(sa.conn) {
			sa.log(e).Info("phase 1 lifetime ending: negotiating a new ISAKMP SA")
			if err := e.initiatePhase1(now, sa.conn); err != nil {
				sa.log(e).Warn("renewing phase 1 failed", zap.Error(err))
			}
		}
	}
	checkBytes := !sa.bytesCheckAt.IsZero() && !sa.bytesCheckAt.After(now)
	if checkBytes {
		sa.bytesCheckAt = now.Add(bytesCheckInterval)
	}
	for _, c := range sa.children {
		if c.state != "INSTALLED" || c.rekeying {
			continue
		}
		timeUp := !c.rekeyAt.IsZero() && !c.rekeyAt.After(now)
		if timeUp || (checkBytes && policy.ByteLifetimeReached(e.cfg.Installer, c.kernel)) {
			c.rekeying = true
			sa.log(e).Info("phase 2 lifetime ending: new Quick Mode", zap.String("child", c.conn.Name), zap.Bool("by_bytes", !timeUp))
			e.startQuickModeFor(now, sa, c.conn, c)
		}
	}
}

// bytesCheckInterval is how often the traffic of phase 2 SAs with a byte
// lifetime is compared with it.
const bytesCheckInterval = 10 * time.Second

func canInitiate(c *policy.Connection) bool {
	return c.Version == policy.IKEv1 && !c.RemoteAny() && c.LocalAddr.IsValid()
}

// retireReplaced deletes, once a new ISAKMP SA carries a phase 2 SA, the
// old ISAKMP SA of the same connection that we decided to replace.
func (e *Engine) retireReplaced(sa *p1SA) {
	for _, o := range e.sas {
		if o != sa && o.conn == sa.conn && o.rekeying && o.state == stateEstablished {
			for _, c := range append([]*child(nil), o.children...) {
				e.deletePhase2(o, c)
			}
			e.deleteISAKMP(o, "replaced by a new ISAKMP SA")
		}
	}
}

// Expired handles the kernel's expire of a phase 2 SA state (either
// direction, by SPI): at the soft limit a new Quick Mode replaces it
// unless one is under way, at the hard limit it is gone and the peer is
// told. It reports whether the SPI belonged to an SA of this engine.
func (e *Engine) Expired(now time.Time, spi uint32, hard bool) ([]isakmp.Datagram, bool) {
	for _, sa := range e.sas {
		for _, c := range sa.children {
			if c.state != "INSTALLED" || (c.spiIn != spi && c.spiOut != spi) {
				continue
			}
			if hard {
				sa.log(e).Warn("kernel hard-expired a phase 2 SA before it was replaced; deleting it", zap.String("child", c.conn.Name))
				e.deletePhase2(sa, c)
			} else if !c.rekeying && sa.state == stateEstablished {
				c.rekeying = true
				sa.log(e).Info("kernel soft expire: new Quick Mode", zap.String("child", c.conn.Name))
				e.startQuickModeFor(now, sa, c.conn, c)
			}
			e.schedule(sa)
			return e.flush(), true
		}
	}
	return nil, false
}
