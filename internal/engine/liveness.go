package engine

import (
	"fmt"
	"time"

	"go.uber.org/zap"

	"ikegate/dpd"
	"ikegate/policy"
)

// Liveness runs dead peer detection for an established SA: inbound ESP on
// its installed CHILD SAs counts as a sign of life when the installer can
// tell, so probes go out only on a silent tunnel.
func (c *Core[S, C, W]) Liveness(now time.Time, m *dpd.Monitor, installed []*policy.ChildSA) dpd.Verdict {
	m.SeenTraffic(now, c.Cfg.Installer, installed)
	return m.Check(now)
}

// CanInitiate reports whether we can start conn ourselves: it names one
// IKE version, a local address and a remote address other than %any.
func CanInitiate(conn *policy.Connection) bool {
	return conn.Version != policy.Any && !conn.RemoteAny() && conn.LocalAddr.IsValid()
}

// CheckInitiate says why conn cannot be initiated, or returns nil.
func CheckInitiate(conn *policy.Connection) error {
	switch {
	case conn.RemoteAny():
		return fmt.Errorf("connection %q: cannot initiate to remote_addr %%any", conn.Name)
	case !conn.LocalAddr.IsValid():
		return fmt.Errorf("connection %q: local_addr is needed to initiate", conn.Name)
	case len(conn.IKE) == 0:
		return fmt.Errorf("connection %q: no IKE proposal", conn.Name)
	}
	return nil
}

// KeepUp reports whether conn is to be kept up by initiating it again
// after every failure: it starts with the daemon (start = "start") or
// restarts when its peer is lost (dpd_action = "restart").
func KeepUp(conn *policy.Connection) bool {
	return conn.Start == policy.StartStart || dpd.Action(conn.DPDAction) == dpd.Restart
}

// PeerLost decides what follows when an SA's peer stopped answering (why
// says how) and logs it: an established SA follows the connection's
// dpd_action ("restart" starts it again), one we were still negotiating as
// initiator is retried when the connection is kept up (KeepUp: one try
// lasts the whole retransmission schedule).
// failed names the failure of a negotiation in the engine's words. It
// reports whether to initiate the connection again; the engine removes the
// SA and does so.
func PeerLost(log *zap.Logger, conn *policy.Connection, established, initiator bool, failed, why string) bool {
	if established {
		action := dpd.Action(conn.DPDAction)
		if action == "" {
			action = dpd.Clear
		}
		log.Warn("peer is dead: "+why, zap.String("dpd_action", string(action)))
		return action == dpd.Restart && CanInitiate(conn)
	}
	again := initiator && KeepUp(conn) && CanInitiate(conn)
	log.Warn(failed+": "+why, zap.Bool("retrying", again))
	return again
}

// Lifecycle is the timing state both versions keep for an established IKE
// SA: liveness checks, NAT keepalives, its replacement and the periodic
// byte-lifetime check of its CHILD SAs.
type Lifecycle struct {
	DPD           dpd.Monitor
	NextKeepalive time.Time // zero: none (we are not behind a NAT)
	RekeyAt       time.Time // when our side replaces the IKE SA
	Rekeying      bool      // the replacement is under way (or left to the peer)
	BytesCheckAt  time.Time // next comparison of CHILD SA traffic with byte lifetimes
	Since         time.Time // when the IKE SA was established (for `sas`)
}

// FillInfo puts the lifecycle's times into an SA's listing.
func (l *Lifecycle) FillInfo(info *policy.IKESAInfo) {
	info.EstablishedAt, info.RekeyAt = stamp(l.Since), stamp(l.RekeyAt)
}

// stamp renders t for listings (RFC 3339, "" for none).
func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// Consider adds the lifecycle's deadlines to d.
func (l *Lifecycle) Consider(d *Deadline) {
	d.Consider(l.DPD.Next())
	d.Consider(l.NextKeepalive)
	if !l.Rekeying {
		d.Consider(l.RekeyAt)
	}
	d.Consider(l.BytesCheckAt)
}

// ConsiderRekeys adds the rekey times of the installed CHILD SAs that are
// not being replaced already.
func ConsiderRekeys[C ChildSA](d *Deadline, cs []C) {
	for _, c := range cs {
		if b := c.Base(); b.Installed() && !b.Rekeying {
			d.Consider(b.RekeyAt)
		}
	}
}
