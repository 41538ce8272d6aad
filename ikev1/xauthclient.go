package ikev1

import (
	"net/netip"
	"time"

	"go.uber.org/zap"

	"ikegate/isakmp"
)

// The client side of XAUTH and Mode Config: an initiator whose connection
// has XAuthUser answers the gateway's XAUTH request, acknowledges its
// status, pulls its configuration if VirtualIP is set (or takes a pushed
// one) and then starts its Quick Mode from the virtual address. The load
// generator and the engine tests play remote-access clients with it.

// clientTransaction handles a Transaction message from the gateway.
func (e *Engine) clientTransaction(now time.Time, sa *p1SA, id uint32, iv []byte, sum [32]byte, ours bool, attr *isakmp.V1Attr) {
	ra := sa.ra
	reply := func(typ uint8, attrs []isakmp.Attribute) {
		raw, _ := e.sealTransaction(sa, id, iv, &isakmp.V1Attr{Type: typ, Identifier: attr.Identifier, Attrs: attrs})
		ra.peerReq.msgID, ra.peerReq.sum, ra.peerReq.reply = id, sum, [][]byte{raw}
		e.Emit(sa.local, sa.remote, raw)
	}
	switch {
	case ours && attr.Type == isakmp.CfgReply: // our Mode Config pull answered
		ra.tx = nil
		e.clientConfigured(now, sa, attr.Attrs)
	case attr.Type == isakmp.CfgRequest && asks(attr.Attrs, isakmp.V1XAuthUserName):
		reply(isakmp.CfgReply, []isakmp.Attribute{
			{Type: isakmp.V1XAuthUserName, Value: []byte(sa.conn.XAuthUser)},
			{Type: isakmp.V1XAuthPassword, Value: sa.conn.XAuthPassword}})
	case attr.Type == isakmp.CfgSet:
		status, isStatus := attrTV(attr.Attrs, isakmp.V1XAuthStatus)
		reply(isakmp.CfgAck, nil)
		switch {
		case isStatus && status == 1:
			ra.xauth, ra.user = xauthDone, sa.conn.XAuthUser
			sa.log(e).Info("XAUTH accepted by the gateway", zap.String("user", ra.user))
			e.pullModeCfg(now, sa)
		case isStatus:
			e.Count.AuthFailures++
			e.peerDead(now, sa, "the gateway refused our XAUTH credentials")
		default: // pushed configuration
			e.clientConfigured(now, sa, attr.Attrs)
		}
	default:
		sa.log(e).Debug("Transaction from the gateway ignored", zap.String("type", cfgTypeName(attr.Type)))
	}
}

// pullModeCfg asks the gateway for an address (VirtualIP), or goes
// straight to Quick Mode.
func (e *Engine) pullModeCfg(now time.Time, sa *p1SA) {
	if !sa.conn.VirtualIP {
		e.startQuickMode(now, sa, sa.conn)
		return
	}
	e.startTransaction(now, sa, isakmp.CfgRequest, []isakmp.Attribute{
		{Type: isakmp.CPInternalIP4Address}, {Type: isakmp.CPInternalIP4Netmask}, {Type: isakmp.CPInternalIP4DNS}})
}

// clientConfigured takes the gateway's configuration and starts Quick Mode.
func (e *Engine) clientConfigured(now time.Time, sa *p1SA, attrs []isakmp.Attribute) {
	if v := attrBytes(attrs, isakmp.CPInternalIP4Address); len(v) == 4 && !sa.ra.VIP.IsValid() {
		sa.ra.VIP = netip.AddrFrom4([4]byte(v))
		sa.log(e).Info("Mode Config: our virtual IP", zap.Stringer("vip", sa.ra.VIP))
		e.startQuickMode(now, sa, sa.conn)
	}
}
