package ikev2

// Message-ID synchronisation (RFC 6311) after a cluster takeover: the
// node that restored an SA may lag the exchanges its failed predecessor
// made after its last write. Both ends announce IKEV2_MESSAGE_ID_SYNC_
// SUPPORTED in IKE_AUTH; the restoring side then sends an INFORMATIONAL
// with message ID 0 carrying IKEV2_MESSAGE_ID_SYNC (a nonce, the message
// ID it will send next, the one it expects next), and takes the peer's
// answer: each side's counters become the higher of both views.

import (
	"bytes"
	"encoding/binary"

	"go.uber.org/zap"

	"ikegate/internal/engine"
	"ikegate/isakmp"
)

// midSyncJump is how far ahead of its record a restored SA proposes its
// next message ID: past whatever the failed node sent after its last
// write (RFC 6311 5.1: the peer drops a proposal not above what it saw).
const midSyncJump = 16

// midSyncRequest builds the synchronisation request (message ID 0).
func (e *Engine) midSyncRequest(sa *ikeSA) *request {
	data := make([]byte, 12)
	if _, err := e.Cfg.Rand.Read(data[:4]); err != nil {
		return nil
	}
	copy(sa.midSyncNonce[:], data[:4])
	binary.BigEndian.PutUint32(data[4:], sa.nextMsgID+midSyncJump)
	binary.BigEndian.PutUint32(data[8:], sa.peerMsgID)
	raw, err := e.seal(sa, isakmp.ExchangeInformational, 0, false,
		[]isakmp.Payload{&isakmp.Notify{NotifyType: isakmp.NotifyMessageIDSync, Data: data}})
	if err != nil {
		sa.log(e).Error("cannot build the message-ID synchronisation", zap.Error(err))
		return nil
	}
	return &request{Retransmit: engine.Retransmit{Raw: raw}, exchange: isakmp.ExchangeInformational, msgID: 0, step: stepMIDSync}
}

// midSynced takes the peer's answer to our synchronisation request: its
// next request ID and the one it expects from us.
func (e *Engine) midSynced(sa *ikeSA, inner []isakmp.Payload) {
	n := isakmp.FindNotify(inner, isakmp.NotifyMessageIDSync)
	if n == nil || len(n.Data) != 12 || !bytes.Equal(n.Data[:4], sa.midSyncNonce[:]) {
		sa.log(e).Warn("the peer's answer to the message-ID synchronisation is unusable; keeping the restored counters")
		return
	}
	peerNext, ourNext := binary.BigEndian.Uint32(n.Data[4:]), binary.BigEndian.Uint32(n.Data[8:])
	sa.log(e).Info("message IDs synchronised with the peer (RFC 6311)",
		zap.Uint32("next_msgid", ourNext), zap.Uint32("peer_msgid", peerNext),
		zap.Uint32("was_next", sa.nextMsgID), zap.Uint32("was_peer", sa.peerMsgID))
	sa.nextMsgID, sa.peerMsgID = ourNext, peerNext
	sa.restored, sa.midSyncNonce = false, [4]byte{}
}

// midSyncRequested answers a peer's synchronisation request (message ID
// 0, a peer that restored the SA elsewhere) and reports whether msg was
// one. RFC 6311 5.1: the peer's next request ID becomes the higher of
// its proposal and ours, ours the higher of what it expects and what we
// would send next; a proposal below what we saw is dropped.
func (e *Engine) midSyncRequested(sa *ikeSA, d isakmp.Datagram, msg *isakmp.Message) bool {
	inner, done, err := e.open(sa, d.Data, msg)
	if err != nil || !done {
		return false
	}
	n := isakmp.FindNotify(inner, isakmp.NotifyMessageIDSync)
	if n == nil {
		return false
	}
	if len(n.Data) != 12 {
		e.Drop("malformed IKEV2_MESSAGE_ID_SYNC", d, nil)
		return true
	}
	peerNext, peerExpects := binary.BigEndian.Uint32(n.Data[4:]), binary.BigEndian.Uint32(n.Data[8:])
	if peerNext < sa.peerMsgID {
		e.Drop("IKEV2_MESSAGE_ID_SYNC proposing a message ID below what the peer already used", d, nil)
		return true
	}
	sa.peerMsgID = max(peerNext, sa.peerMsgID)
	sa.nextMsgID = max(peerExpects, sa.nextMsgID)
	data := make([]byte, 12)
	copy(data, n.Data[:4])
	binary.BigEndian.PutUint32(data[4:], sa.nextMsgID)
	binary.BigEndian.PutUint32(data[8:], sa.peerMsgID)
	raw, err := e.seal(sa, isakmp.ExchangeInformational, 0, true,
		[]isakmp.Payload{&isakmp.Notify{NotifyType: isakmp.NotifyMessageIDSync, Data: data}})
	if err != nil {
		return true
	}
	for _, r := range raw {
		e.Emit(d.Local, d.Remote, r)
	}
	sa.log(e).Info("the peer synchronised the message IDs (RFC 6311; it restored the SA elsewhere)",
		zap.Uint32("next_msgid", sa.nextMsgID), zap.Uint32("peer_msgid", sa.peerMsgID))
	return true
}
