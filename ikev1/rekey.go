package ikev1

import (
	"fmt"
	"time"

	"go.uber.org/zap"

	"ikegate/internal/engine"
	"ikegate/policy"
)

// defaultIKELifetime is an ISAKMP SA's lifetime when neither the
// connection nor the peer sets one.
const defaultIKELifetime = 8 * time.Hour

// rekeyDelay is when, after creation, our side replaces an SA of the
// given (negotiated) lifetime: see policy.RekeyAfter.
func (e *Engine) rekeyDelay(sa *p1SA, lifetime, def time.Duration) time.Duration {
	return e.RekeyDelay(sa.initiator, lifetime, def)
}

// rekeyDue starts the replacements whose time has come. IKEv1 has no
// rekey exchange: a phase 2 SA is replaced by a new Quick Mode, a phase 1
// SA by a new Main or Aggressive Mode (with its Quick Mode), after which
// the old SAs are deleted.
func (e *Engine) rekeyDue(now time.Time, sa *p1SA) {
	if !sa.Rekeying && engine.Due(sa.RekeyAt, now) {
		sa.Rekeying = true
		e.renewed[sa] = struct{}{}
		if canInitiate(sa.conn) {
			sa.log(e).Info("phase 1 lifetime ending: negotiating a new ISAKMP SA")
			if err := e.initiatePhase1(now, sa.conn); err != nil {
				sa.log(e).Warn("renewing phase 1 failed", zap.Error(err))
			}
		}
	}
	checkBytes := engine.BytesDue(&sa.BytesCheckAt, now)
	for _, c := range sa.children {
		timeUp := c.RekeyDue(now)
		if timeUp || (checkBytes && e.ByteLifetimeReached(&c.Child)) {
			c.Rekeying = true
			sa.log(e).Info("phase 2 lifetime ending: new Quick Mode", zap.String("child", c.Conn.Name), zap.Bool("by_bytes", !timeUp))
			e.startQuickModeFor(now, sa, c.Conn, c)
		}
	}
}

// bounded is the lifetime of an SA whose peer proposed (or, as
// responder, chose) peer: ours (own, or def when the connection sets
// none) when the peer's is longer or absent. Some peers propose what
// others refuse (2147483 s, "for ever"); a longer one is cut and logged.
func bounded(log *zap.Logger, what string, peer, own, def time.Duration) time.Duration {
	if own <= 0 {
		own = def
	}
	if peer <= 0 || peer <= own {
		return shorter(peer, own)
	}
	log.Info(fmt.Sprintf("peer's %s lifetime %v is longer than ours: using ours, %v", what, peer, own))
	return own
}

func canInitiate(c *policy.Connection) bool {
	return c.Version == policy.IKEv1 && engine.CanInitiate(c)
}

// renewing reports whether sa replaces an ISAKMP SA of the same
// connection and peer that we are renewing (rekeyDue).
func (e *Engine) renewing(sa *p1SA) bool {
	for o := range e.renewed {
		if o != sa && o.conn == sa.conn && o.Rekeying && o.state == stateEstablished && o.peerID.Equal(sa.peerID) {
			return true
		}
	}
	return false
}

// retireReplaced deletes, once a new ISAKMP SA carries a phase 2 SA, the
// old ISAKMP SA of the same connection that we decided to replace.
func (e *Engine) retireReplaced(sa *p1SA) {
	for o := range e.renewed {
		if o != sa && o.conn == sa.conn && o.Rekeying && o.state == stateEstablished {
			for _, c := range append([]*child(nil), o.children...) {
				e.deletePhase2(o, c)
			}
			e.deleteISAKMP(o, "replaced by a new ISAKMP SA")
		}
	}
}
