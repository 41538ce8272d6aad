package ikev1

import (
	"fmt"
	"slices"
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
// old ISAKMP SA of the same connection that we decided to replace. It
// waits until the newest phase 2 SA on sa is moveGrace old: the peer may
// still send on the old one until it has installed the new one from our
// Quick Mode's last message, and what arrives on a removed SA is lost
// (crossCheckAt brings it back).
func (e *Engine) retireReplaced(now time.Time, sa *p1SA) {
	var newest time.Time
	for _, c := range sa.children {
		if c.Installed() && c.Since.After(newest) {
			newest = c.Since
		}
	}
	if newest.IsZero() {
		return
	}
	if at := newest.Add(moveGrace); now.Before(at) {
		for o := range e.renewed {
			if o != sa && o.conn == sa.conn && o.Rekeying && o.state == stateEstablished {
				e.crossCheckBy(sa, at)
				return
			}
		}
		return
	}
	for o := range e.renewed {
		if o != sa && o.conn == sa.conn && o.Rekeying && o.state == stateEstablished {
			spis := e.dropISAKMP(o, "replaced by a new ISAKMP SA")
			// The peer may have moved them to the new SA (sendDeletes), or
			// to one crossing it (resolveCrossing sends them again).
			e.sendDeletes(sa, spis)
			sa.retired = append(sa.retired, spis...)
		}
	}
}

// crossingWindow bounds how far apart two ISAKMP SAs of one peer were
// established for resolveCrossing to take them for crossing renewals
// rather than a renewal by the peer (whose old SA is much older, and
// which the peer deletes itself).
const crossingWindow = time.Minute

// crossCheckDelay is how long after phase 1 resolveCrossing waits for the
// Quick Modes that follow it.
const crossCheckDelay = 5 * time.Second

// dropISAKMP deletes the ISAKMP SA o with its phase 2 SAs and returns
// the inbound SPIs of those that had come up, for Deletes over the SA
// that replaces o (the peer may have filed them there).
func (e *Engine) dropISAKMP(o *p1SA, why string) []uint32 {
	var spis []uint32
	for _, c := range append([]*child(nil), o.children...) {
		if c.State != engine.ChildFailed {
			spis = append(spis, c.SPIIn)
		}
		e.deletePhase2(o, c)
	}
	e.deleteISAKMP(o, why)
	return spis
}

// crossCheckBy makes resolveCrossing look at sa again at at, unless it
// is due to earlier.
func (e *Engine) crossCheckBy(sa *p1SA, at time.Time) {
	if sa.crossCheckAt.IsZero() || at.Before(sa.crossCheckAt) {
		sa.crossCheckAt = at
		e.Schedule(sa)
	}
}

// moveGrace is how long resolveCrossing keeps a loser's phase 2 SA after
// the survivor got the one replacing it.
const moveGrace = time.Second

// resolveCrossing settles ISAKMP SA renewals that crossed: both sides
// renewed phase 1 at once (equal lifetimes, or an operator on each side),
// so each holds the new ISAKMP SA it initiated and the one the peer did.
// It looks at the established site-to-site SAs of sa's connection and
// peer endpoint that no renewal of ours is replacing, and runs when a
// phase 2 SA comes up and crossCheckDelay after a phase 1 SA did. Peers
// renew phase 1 in one of two ways, and the survivor is chosen to suit
// each:
//
//   - With a Quick Mode of their own on the new ISAKMP SA, as we do: of
//     one SA initiated by each side that came up within crossingWindow of
//     each other, the one with the highest initiator cookie stays. Both
//     ends compute the same, whatever order they saw the SAs come up in.
//   - With a reauthentication that brings no Quick Mode (strongSwan: its
//     IKEv1 "rekey" of an IKE SA files the phase 2 SAs of the SA it
//     replaces under the new one without an exchange; as a responder it
//     moves those of an older established SA to each new one and deletes
//     the older SA 10 s later; and an ISAKMP Delete it receives takes the
//     phase 2 SAs it files under that SA with it). A peer SA that still
//     carries no phase 2 SA crossCheckDelay after it came up marks such a
//     peer, and then the newest SA stays, as the peer's own bookkeeping
//     has it: the peer never deletes the newest itself, and every order
//     of the two Main Modes we can see is one in which the peer saw the
//     same newest or keeps both. The others lose whatever their age: a
//     reauthentication of an old SA with no crossing is settled the same
//     way, in about 6 s, before strongSwan deletes the old SA itself some
//     10 s after (which would take the phase 2 SAs we file under it).
//
// A loser is deleted with its phase 2 SAs once the survivor carries a
// phase 2 SA for each of their selector pairs (we start the Quick Modes
// on it that are missing: whatever the peer filed under the loser goes
// with the loser's Delete, what is negotiated on the survivor is filed
// there) and none of their Quick Modes is under way; a peer that deletes
// the loser too does no harm (a Delete of a gone SA is ignored).
func (e *Engine) resolveCrossing(now time.Time, sa *p1SA) {
	if !sa.siteToSite() || e.noQuick {
		return // noQuick: playing strongSwan, which settles nothing itself
	}
	var group []*p1SA
	for _, o := range e.sas {
		// The same peer endpoint: clients behind one NAT with one
		// identity differ in port and are no crossing.
		if o.state == stateEstablished && !o.Rekeying && o.conn == sa.conn && o.peerID.Equal(sa.peerID) && o.remote == sa.remote {
			group = append(group, o)
		}
	}
	if len(group) < 2 {
		return
	}
	reauth := false
	for _, o := range group {
		if o.reauth {
			reauth = true // once seen, for good: the Quick Modes we start on it do not make it a renewal
			continue
		}
		if o.initiator || carries(o) || quickBusy(o) {
			continue
		}
		if now.Sub(o.Since) < crossCheckDelay {
			return // its Quick Mode may still come; its crossCheckAt looks again
		}
		o.reauth, reauth = true, true
	}
	winner := group[0]
	for _, o := range group[1:] {
		switch {
		case reauth && !o.Since.Equal(winner.Since):
			if o.Since.After(winner.Since) {
				winner = o
			}
		case o.ckyI > winner.ckyI:
			winner = o
		}
	}
	rule := "keeping the ISAKMP SA with the higher initiator cookie"
	if reauth {
		rule = "the peer's renewal brought no Quick Mode (a reauthentication): keeping the newest ISAKMP SA"
	}
	for _, o := range group {
		// A crossing is one SA initiated by each side, or any older SA
		// once the peer reauthenticated.
		if o == winner || (!reauth && (o.initiator == winner.initiator || absDuration(o.Since.Sub(winner.Since)) > crossingWindow)) ||
			quickBusy(o) || quickBusy(winner) {
			continue
		}
		missing, newest := uncovered(winner, o)
		if len(missing) > 0 {
			if !o.crossingQM {
				o.crossingQM = true
				for _, c := range missing {
					winner.log(e).Info("phase 1 renewals crossed: moving a phase 2 SA to the surviving ISAKMP SA", zap.String("child", c.Conn.Name), zap.String("rule", rule))
					e.startQuickModeTS(now, winner, c.Conn, c.localTS, c.remoteTS, nil)
				}
			}
			continue
		}
		if at := newest.Add(moveGrace); now.Before(at) {
			// A phase 2 SA that just replaced the loser's: the peer may act
			// on our Delete before it has installed the new one from our
			// Quick Mode's last message (strongSwan handles the two in
			// parallel), and traffic would have no SA for a moment.
			e.crossCheckBy(winner, at)
			continue
		}
		o.log(e).Info("phase 1 renewals crossed: "+rule+", deleting this one",
			zap.String("kept_spi_i", engine.SPIHex(winner.ckyI)))
		spis := slices.Concat(o.retired, winner.retired)
		spis = append(spis, e.dropISAKMP(o, "crossing phase 1 renewal")...)
		// Whatever of these the peer filed under the survivor (a
		// reauthenticating peer moves them there) goes too.
		e.sendDeletes(winner, spis)
		winner.retired = nil
		// What the loser's newer phase 2 SAs superseded on the survivor is
		// all there is now: renewed again as usual.
		for _, d := range winner.children {
			if d.superseded {
				d.Rekeying, d.superseded = false, false
			}
		}
	}
}

// carries reports whether sa carries an installed phase 2 SA.
func carries(sa *p1SA) bool {
	return slices.ContainsFunc(sa.children, func(c *child) bool { return c.Installed() })
}

// quickBusy reports whether a Quick Mode on sa waits for an answer
// (finished ones stay a while to answer retransmissions: not busy).
func quickBusy(sa *p1SA) bool {
	for _, q := range sa.quick {
		if q.rtx != nil {
			return true
		}
	}
	return false
}

// uncovered are o's installed phase 2 SAs whose selector pair w does not
// carry installed, and when the newest of those w carries for the others
// was installed.
func uncovered(w, o *p1SA) (out []*child, newest time.Time) {
	for _, c := range o.children {
		if !c.Installed() {
			continue
		}
		found := false
		for _, d := range w.children {
			if d.Installed() && d.Conn == c.Conn && slices.Equal(d.localTS, c.localTS) && slices.Equal(d.remoteTS, c.remoteTS) {
				found = true
				if d.Since.After(newest) {
					newest = d.Since
				}
			}
		}
		if !found {
			out = append(out, c)
		}
	}
	return out, newest
}

func absDuration(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}
