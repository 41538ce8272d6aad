package ikev1

import (
	"time"

	"ikegate/isakmp"
)

// IKE fragmentation of IKEv1 phase 1 messages, the Cisco extension that
// strongSwan, Libreswan and Windows implement: announced with the
// FRAGMENTATION vendor ID; a large message (Main Mode 5/6 with
// certificates) is split into messages whose only payload is a FRAG
// (isakmp.V1Frag) carrying a slice of the whole message, header included,
// so that no IP fragment is needed on paths that drop them.

// maxV1Fragments bounds a fragmented message: it also bounds what an
// unauthenticated peer can make us hold for one SA.
const maxV1Fragments = 16

// reassembly collects the fragments of one message.
type reassembly struct {
	id    uint16
	parts [][]byte // by fragment number - 1
	have  int
	last  int // the last fragment's number (0: not seen yet)
}

// reassemble adds fragment f to sa's buffer and returns the whole message
// once every part is in.
func (sa *p1SA) reassemble(f *isakmp.V1Frag) ([]byte, bool) {
	if int(f.Num) > maxV1Fragments {
		return nil, false
	}
	r := sa.frags
	if r == nil || r.id != f.ID {
		r = &reassembly{id: f.ID, parts: make([][]byte, maxV1Fragments)}
		sa.frags = r
	}
	i := int(f.Num) - 1
	if r.parts[i] == nil {
		r.parts[i] = append([]byte(nil), f.Data...)
		r.have++
	}
	if f.Last {
		r.last = int(f.Num)
	}
	if r.last == 0 || r.have < r.last {
		return nil, false
	}
	var whole []byte
	for _, p := range r.parts[:r.last] {
		if p == nil {
			return nil, false // a gap: a fragment numbered above the last
		}
		whole = append(whole, p...)
	}
	sa.frags = nil
	return whole, true
}

// fragmentP1 splits a phase 1 message for a peer that announced
// fragmentation when it exceeds the fragment size; otherwise it returns
// the message alone.
func (e *Engine) fragmentP1(sa *p1SA, raw []byte) [][]byte {
	size := e.Cfg.FragmentLimit(sa.remote.Addr())
	if !sa.peerFrags || len(raw) <= size {
		return [][]byte{raw}
	}
	h, err := isakmp.ParseHeader(raw)
	if err != nil {
		return [][]byte{raw}
	}
	chunk := size - isakmp.HeaderLen - 8 // FRAG payload header and fragment header
	sa.fragID++
	var out [][]byte
	for i, n := 0, 1; i < len(raw); i, n = i+chunk, n+1 {
		part := raw[i:min(i+chunk, len(raw))]
		m := isakmp.V1Message{Header: sa.header(h.Exchange, 0, false), Payloads: []isakmp.V1Payload{
			&isakmp.V1Frag{ID: sa.fragID, Num: uint8(n), Last: i+chunk >= len(raw), Data: part}}}
		out = append(out, m.Marshal())
	}
	return out
}

// fragment handles a FRAG message for sa: once the message is whole it is
// handled as if it had come in one piece.
func (e *Engine) fragment(now time.Time, sa *p1SA, d isakmp.Datagram, f *isakmp.V1Frag) {
	whole, ok := sa.reassemble(f)
	if !ok {
		return
	}
	e.handle(now, isakmp.Datagram{Local: d.Local, Remote: d.Remote, Data: whole})
}
