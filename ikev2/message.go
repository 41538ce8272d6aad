package ikev2

import (
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"ikegate/internal/engine"
	"ikegate/isakmp"
	"ikegate/oakley"
)

// header returns the IKE header for a message of ours on sa.
func (sa *ikeSA) header(exchange isakmp.ExchangeType, msgID uint32, response bool) isakmp.Header {
	h := isakmp.Header{
		SPIi: sa.spiI, SPIr: sa.spiR, MajorVersion: 2,
		Exchange: exchange, MessageID: msgID,
	}
	if sa.initiator {
		h.Flags |= isakmp.FlagInitiator
	}
	if response {
		h.Flags |= isakmp.FlagResponse
	}
	return h
}

// seal builds an SK-protected message carrying payloads. When the peer
// supports IKE fragmentation (RFC 7383) and the message would exceed the
// fragment size, it is split into SKF fragments, each encrypted on its
// own; they all go out under the same message ID.
func (e *Engine) seal(sa *ikeSA, exchange isakmp.ExchangeType, msgID uint32, response bool, payloads []isakmp.Payload) ([][]byte, error) {
	if sa.keys == nil {
		return nil, errors.New("no keys yet")
	}
	plain := isakmp.AppendPayloads(nil, payloads)
	first := isakmp.PayloadNone
	if len(payloads) > 0 {
		first = payloads[0].Type()
	}
	h := sa.header(exchange, msgID, response)
	size := e.Cfg.FragmentLimit(sa.remote.Addr())
	if !sa.peerFragments || isakmp.HeaderLen+4+sa.keys.out.BodyLen(len(plain)) <= size {
		raw, err := e.sealOne(h, isakmp.PayloadSK, []byte{byte(first), 0, 0, 0}, plain, sa.keys.out)
		if err != nil {
			return nil, fmt.Errorf("seal %s: %w", exchange, err)
		}
		return [][]byte{raw}, nil
	}
	// The largest fragment plaintext that keeps each datagram in size.
	room := size - isakmp.HeaderLen - 8
	chunk := room
	for chunk > 1 && sa.keys.out.BodyLen(chunk) > room {
		chunk--
	}
	total := (len(plain) + chunk - 1) / chunk
	if total > maxFragments {
		return nil, fmt.Errorf("seal %s: %d bytes need %d fragments", exchange, len(plain), total)
	}
	out := make([][]byte, 0, total)
	for i := 0; i < total; i++ {
		part := plain[i*chunk : min((i+1)*chunk, len(plain))]
		next := byte(0)
		if i == 0 {
			next = byte(first)
		}
		skf := []byte{next, 0, 0, 0, byte((i + 1) >> 8), byte(i + 1), byte(total >> 8), byte(total)}
		raw, err := e.sealOne(h, isakmp.PayloadSKF, skf, part, sa.keys.out)
		if err != nil {
			return nil, fmt.Errorf("seal %s fragment %d: %w", exchange, i+1, err)
		}
		out = append(out, raw)
	}
	return out, nil
}

// sealOne encrypts one SK or SKF payload: skHeader is its generic header
// (length filled in here) and, for SKF, the fragment numbers.
func (e *Engine) sealOne(h isakmp.Header, t isakmp.PayloadType, skHeader, plain []byte, c oakley.SKCipher) ([]byte, error) {
	bodyLen := c.BodyLen(len(plain))
	payLen := len(skHeader) + bodyLen
	h.NextPayload = t
	h.Length = uint32(isakmp.HeaderLen + payLen)
	buf := make([]byte, 0, int(h.Length))
	buf = h.AppendTo(buf)
	buf = append(buf, skHeader...)
	buf[isakmp.HeaderLen+2], buf[isakmp.HeaderLen+3] = byte(payLen>>8), byte(payLen)
	body, err := c.Seal(buf, plain, e.Cfg.Rand)
	if err != nil {
		return nil, err
	}
	if len(body) != bodyLen {
		return nil, fmt.Errorf("body length %d, expected %d", len(body), bodyLen)
	}
	return append(buf, body...), nil
}

// open decrypts the SK or SKF payload of msg. For fragments it returns
// done=false until the last fragment of the message has arrived.
func (e *Engine) open(sa *ikeSA, raw []byte, msg *isakmp.Message) (inner []isakmp.Payload, done bool, err error) {
	if sa.keys == nil {
		return nil, false, errors.New("no keys")
	}
	if len(msg.Payloads) == 0 {
		return nil, false, errors.New("no SK payload")
	}
	switch sk := msg.Payloads[len(msg.Payloads)-1].(type) {
	case *isakmp.SK:
		plain, err := sa.keys.in.Open(raw[:msg.SKOffset+4], sk.Body)
		if err != nil {
			return nil, false, err
		}
		inner, err := isakmp.ParsePayloads(sk.NextPayload, plain)
		return inner, true, err
	case *isakmp.SKF:
		plain, err := sa.keys.in.Open(raw[:msg.SKOffset+8], sk.Body)
		if err != nil {
			return nil, false, err
		}
		return sa.reassemble(msg.Header, sk, plain)
	}
	return nil, false, errors.New("message is not encrypted")
}

// fragments collects the decrypted fragments of one message (RFC 7383).
type fragments struct {
	msgID    uint32
	response bool
	first    isakmp.PayloadType
	parts    [][]byte
	have     int
}

const maxFragments = 64

func (sa *ikeSA) reassemble(h isakmp.Header, f *isakmp.SKF, plain []byte) ([]isakmp.Payload, bool, error) {
	if f.TotalFragments == 0 || f.TotalFragments > maxFragments || f.FragmentNumber == 0 || f.FragmentNumber > f.TotalFragments {
		return nil, false, fmt.Errorf("fragment %d of %d out of range", f.FragmentNumber, f.TotalFragments)
	}
	response := h.Flags&isakmp.FlagResponse != 0
	fr := sa.frags
	if fr == nil || fr.msgID != h.MessageID || fr.response != response || len(fr.parts) != int(f.TotalFragments) {
		fr = &fragments{msgID: h.MessageID, response: response, parts: make([][]byte, f.TotalFragments)}
		sa.frags = fr
	}
	i := int(f.FragmentNumber) - 1
	if fr.parts[i] == nil {
		fr.parts[i] = plain
		fr.have++
	}
	if i == 0 {
		fr.first = f.NextPayload
	}
	if fr.have < len(fr.parts) {
		return nil, false, nil
	}
	sa.frags = nil
	var all []byte
	for _, p := range fr.parts {
		all = append(all, p...)
	}
	inner, err := isakmp.ParsePayloads(fr.first, all)
	return inner, true, err
}

// sendRequest sends the request q on sa now, or queues it behind the one
// in flight (window size one).
func (e *Engine) sendRequest(now time.Time, sa *ikeSA, q queued) {
	if sa.req != nil {
		sa.queue = append(sa.queue, q)
		return
	}
	e.startQueued(now, sa, q)
}

// startQueued builds and sends the request q.
func (e *Engine) startQueued(now time.Time, sa *ikeSA, q queued) {
	var r *request
	switch q.what {
	case queueNewChild:
		r = e.newChildRequest(sa, q.conn, q.pair)
	case queueRekeyChild:
		r = e.rekeyChildRequest(now, sa, q.child)
	case queueRekeyIKE:
		r = e.rekeyIKERequest(sa)
	case queueRoutability:
		r = e.routabilityRequest(sa)
	case queueUpdateAddresses:
		r = e.updateAddressesRequest(sa)
	case queueMIDSync:
		r = e.midSyncRequest(sa)
	case queueDeleteChild:
		r = e.encryptedRequest(sa, isakmp.ExchangeInformational,
			[]isakmp.Payload{&isakmp.Delete{Protocol: protoESP, SPISize: 4, SPIs: [][]byte{spi32(q.spi)}}}, stepInfo)
		if r != nil {
			r.deleting = q.out
		}
	}
	e.startRequest(now, sa, r)
}

func (e *Engine) startRequest(now time.Time, sa *ikeSA, r *request) {
	if r == nil {
		e.nextQueued(now, sa)
		return
	}
	r.Retransmit = *e.Arm(now, r.Raw)
	sa.req = r
	e.EmitAll(sa.local, sa.remote, r.Raw)
	if ce := e.Log.Check(zap.DebugLevel, "request sent"); ce != nil {
		ce.Write(zap.String("conn", sa.conn.Name), zap.Stringer("peer", sa.remote), zap.Stringer("exchange", r.exchange),
			zap.Uint32("msgid", r.msgID), zap.String("spi_i", spiHex(sa.spiI)), zap.String("spi_r", spiHex(sa.spiR)))
	}
}

func (e *Engine) nextQueued(now time.Time, sa *ikeSA) {
	for sa.req == nil && len(sa.queue) > 0 && sa.state != stateGone {
		next := sa.queue[0]
		sa.queue = sa.queue[1:]
		e.startQueued(now, sa, next)
	}
}

// encryptedRequest builds a request of ours with the next message ID,
// whose response goes to step.
func (e *Engine) encryptedRequest(sa *ikeSA, exchange isakmp.ExchangeType, payloads []isakmp.Payload, step step) *request {
	raw, err := e.seal(sa, exchange, sa.nextMsgID, false, payloads)
	if err != nil {
		sa.log(e).Error("cannot build request", zap.Error(err))
		return nil
	}
	r := &request{Retransmit: engine.Retransmit{Raw: raw}, exchange: exchange, msgID: sa.nextMsgID, step: step}
	sa.nextMsgID++
	return r
}

// respond sends and caches the response to the peer's current request.
func (e *Engine) respond(sa *ikeSA, d isakmp.Datagram, exchange isakmp.ExchangeType, msgID uint32, payloads []isakmp.Payload) {
	raw, err := e.seal(sa, exchange, msgID, true, payloads)
	if err != nil {
		sa.log(e).Error("cannot build response", zap.Error(err))
		return
	}
	sa.lastResp = raw
	sa.peerMsgID = msgID + 1
	for _, r := range raw {
		e.Emit(d.Local, d.Remote, r)
	}
}

func (e *Engine) resendResponse(sa *ikeSA, d isakmp.Datagram) {
	for _, raw := range sa.lastResp {
		e.Emit(d.Local, d.Remote, raw)
	}
	if ce := e.Log.Check(zap.DebugLevel, "retransmitted request answered from cache"); ce != nil {
		ce.Write(zap.Stringer("peer", d.Remote), zap.String("spi_i", spiHex(sa.spiI)))
	}
}

func (e *Engine) handleResponse(now time.Time, sa *ikeSA, d isakmp.Datagram, msg *isakmp.Message) {
	r := sa.req
	if r == nil || msg.Header.MessageID != r.msgID || msg.Header.Exchange != r.exchange {
		e.Drop("response to no request in flight", d, nil)
		return
	}
	var inner []isakmp.Payload
	if r.exchange != isakmp.ExchangeIKESAInit {
		var done bool
		var err error
		inner, done, err = e.open(sa, d.Data, msg)
		if err != nil {
			e.Drop("response does not decrypt", d, err)
			return
		}
		if !done {
			return
		}
	}
	sa.req = nil
	sa.DPD.Seen(now)
	switch r.step {
	case stepInit:
		e.initResponse(now, sa, d, msg)
	case stepAuth:
		e.authResponse(now, sa, inner)
	case stepChild:
		e.childResponse(now, sa, r, inner)
	case stepRekeyIKE:
		e.completeIKERekey(now, sa, r.rekey, inner)
	case stepDeleteIKE:
		e.destroy(sa, "deleted")
	case stepRoutability:
		e.routabilityChecked(now, sa, r, inner)
	case stepMoved:
		e.moved(sa, d, inner)
	case stepMIDSync:
		e.midSynced(sa, inner)
	}
	if sa.state != stateGone {
		e.nextQueued(now, sa)
	}
}

func (e *Engine) handleRequest(now time.Time, sa *ikeSA, d isakmp.Datagram, msg *isakmp.Message) {
	id := msg.Header.MessageID
	if id+1 == sa.peerMsgID && len(sa.lastResp) > 0 {
		e.resendResponse(sa, d)
		return
	}
	if id == 0 && sa.midSync && msg.Header.Exchange == isakmp.ExchangeInformational && e.midSyncRequested(sa, d, msg) {
		return
	}
	// An SA restored on another node (a cluster takeover) may lag the
	// failed node by the exchanges it answered after its last write: an
	// authenticated request a little ahead is followed, once.
	ahead := sa.restored && id > sa.peerMsgID && id-sa.peerMsgID <= maxRestoredLag
	if id != sa.peerMsgID && !ahead {
		e.Drop(fmt.Sprintf("request message ID %d outside window (expect %d)", id, sa.peerMsgID), d, nil)
		return
	}
	inner, done, err := e.open(sa, d.Data, msg)
	if err != nil {
		e.Drop("request does not decrypt", d, err)
		return
	}
	if !done {
		return
	}
	if ahead {
		sa.log(e).Info("restored IKE SA: the peer's message ID is ahead of the restored state (the previous node answered it); following",
			zap.Uint32("expected", sa.peerMsgID), zap.Uint32("got", id))
	}
	sa.restored = false
	sa.DPD.Seen(now)
	if sa.undecidedOf != nil {
		e.peerUsesUndecided(now, sa, inner)
	}
	if p := unsupportedCritical(inner); p != nil {
		e.respond(sa, d, msg.Header.Exchange, id, []isakmp.Payload{&isakmp.Notify{
			NotifyType: isakmp.NotifyUnsupportedCriticalPayload, Data: []byte{byte(p.PType)}}})
		return
	}
	// An authenticated message from a NAT-ed peer may come from a new
	// address: follow it (RFC 7296 2.23). The IKE_AUTH request is where an
	// initiator moves to the NAT-T port, with or without a NAT (RFC 7296
	// 2.23 allows port 4500 regardless; strongSwan does so whenever both
	// sent NAT detection payloads): our later requests and the CHILD SA's
	// UDP encapsulation must use the endpoints it came from.
	if (sa.nat.Any() && sa.state == stateEstablished && !sa.mobike) ||
		(sa.state == stateInitDone && msg.Header.Exchange == isakmp.ExchangeIKEAuth) {
		sa.local, sa.remote = d.Local, d.Remote
	}
	switch msg.Header.Exchange {
	case isakmp.ExchangeIKEAuth:
		e.respondAuth(now, sa, d, msg, inner)
	case isakmp.ExchangeCreateChildSA:
		e.respondCreateChild(now, sa, d, msg, inner)
	case isakmp.ExchangeInformational:
		e.respondInformational(now, sa, d, msg, inner)
	default:
		e.Drop("unexpected exchange "+msg.Header.Exchange.String(), d, nil)
	}
}

func unsupportedCritical(ps []isakmp.Payload) *isakmp.Unknown {
	for _, p := range ps {
		if u, ok := p.(*isakmp.Unknown); ok && u.Critical {
			return u
		}
	}
	return nil
}

func find[T isakmp.Payload](ps []isakmp.Payload) T {
	var zero T
	for _, p := range ps {
		if v, ok := p.(T); ok {
			return v
		}
	}
	return zero
}

func findID(ps []isakmp.Payload, t isakmp.PayloadType) *isakmp.ID {
	for _, p := range ps {
		if v, ok := p.(*isakmp.ID); ok && v.PType == t {
			return v
		}
	}
	return nil
}

func findTS(ps []isakmp.Payload, t isakmp.PayloadType) *isakmp.TS {
	for _, p := range ps {
		if v, ok := p.(*isakmp.TS); ok && v.PType == t {
			return v
		}
	}
	return nil
}
