package engine

import (
	"net/netip"

	"go.uber.org/zap"

	"ikegate/policy"
)

// ClientLease is what a remote-access client's IKE SA holds of its
// address, in either version: the virtual IP, the pool it is held in (to
// release it), the [[group]] the client got and its attributes. The
// engines embed it in their remote-access state.
type ClientLease struct {
	VIP   netip.Addr
	Pool  string
	Group string
	Attrs *policy.Attributes // the client's attributes (nil: its pool's)
}

// TakeLease records the runtime's answer to EffectLease and writes the
// line saying so (what: the exchange, "Mode Config" or "configuration
// payload"); it reports whether the client got an address.
func (l *ClientLease) TakeLease(log *zap.Logger, what, identity string, got Leased, err error) bool {
	if err != nil {
		log.Warn(what+": no address for the client: "+err.Error(), zap.String("pool", got.Pool), zap.String("identity", identity))
		return false
	}
	l.VIP, l.Pool, l.Group, l.Attrs = got.Addr, got.Pool, got.Group, got.Attrs
	log.Info(what+": virtual IP assigned", zap.Stringer("vip", got.Addr), zap.String("identity", identity),
		zap.String("pool", got.Pool), zap.String("group", got.Group))
	return true
}

// Attributes are the client's attributes: its group's over its pool's as
// the lease said, else those of the connection's pool (nil: none).
func (l *ClientLease) Attributes(db *policy.DB, connPool string) *policy.Attributes {
	if l.Attrs != nil {
		return l.Attrs
	}
	if p := db.Pool(connPool); p != nil {
		return &p.Attributes
	}
	return nil
}

// FillInfo puts the lease into an SA's listing.
func (l *ClientLease) FillInfo(info *policy.IKESAInfo) {
	info.Pool, info.Group = l.Pool, l.Group
	if l.VIP.IsValid() {
		info.VirtualIP = l.VIP.String()
	}
}
