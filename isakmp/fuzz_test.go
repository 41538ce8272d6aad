package isakmp

import (
	"bytes"
	"reflect"
	"testing"
)

// Fuzz targets: every decoder is reachable from FuzzParseMessage,
// FuzzParsePayloads and FuzzPayloadBody (which picks the body decoder by
// payload type). Each asserts no panic and that a successfully parsed value
// re-marshals to bytes that parse to the same value.

func seedMessages() [][]byte {
	var all []Payload
	for _, s := range samples() {
		all = append(all, s.p)
	}
	full := &Message{Header: Header{MajorVersion: 2, Exchange: ExchangeInformational}, Payloads: all}
	withSK := &Message{Header: Header{MajorVersion: 2, Exchange: ExchangeIKEAuth},
		Payloads: []Payload{&Notify{NotifyType: NotifyCookie}, &SK{NextPayload: PayloadIDi, Body: seq(40, 0)}}}
	skf := &Message{Header: Header{MajorVersion: 2, Exchange: ExchangeIKEAuth},
		Payloads: []Payload{&SKF{NextPayload: PayloadIDi, FragmentNumber: 1, TotalFragments: 2, Body: seq(40, 0)}}}
	return [][]byte{ikeSAInitRequest(), ikeAuthMessage().Marshal(), full.Marshal(), withSK.Marshal(), skf.Marshal()}
}

func FuzzParseHeader(f *testing.F) {
	for _, m := range seedMessages() {
		f.Add(m)
	}
	f.Add(make([]byte, 28))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseHeader(b)
		v, verr := PeekVersion(b)
		_, ok := PeekSPIi(b)
		_, okr := PeekSPIr(b)
		if (verr == nil) != ok || ok != okr {
			t.Fatalf("peek disagreement: %v %v %v", verr, ok, okr)
		}
		if err != nil {
			return
		}
		if verr != nil || v != h.MajorVersion {
			t.Fatalf("PeekVersion = %d, %v; header says %d", v, verr, h.MajorVersion)
		}
		if got := h.AppendTo(nil); !bytes.Equal(got, b[:HeaderLen]) {
			t.Fatalf("AppendTo = %x, input %x", got, b[:HeaderLen])
		}
	})
}

func FuzzParseMessage(f *testing.F) {
	for _, m := range seedMessages() {
		f.Add(m)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseMessage(b)
		if err != nil {
			return
		}
		h, sk := m.Header, m.SKOffset
		raw, err := m.TryMarshal()
		if err != nil {
			t.Fatalf("parsed message does not marshal: %v", err)
		}
		if m.Header != h || m.SKOffset != sk {
			t.Fatalf("Marshal changed header %+v -> %+v, SKOffset %d -> %d", h, m.Header, sk, m.SKOffset)
		}
		m2, err := ParseMessage(raw)
		if err != nil {
			t.Fatalf("re-marshalled message does not parse: %v\n%x", err, raw)
		}
		if !reflect.DeepEqual(m, m2) {
			t.Fatalf("round trip differs:\n%#v\n%#v", m, m2)
		}
	})
}

func FuzzParsePayloads(f *testing.F) {
	for _, s := range samples() {
		f.Add(byte(s.p.Type()), encoded(s.p))
	}
	var all []Payload
	for _, s := range samples() {
		all = append(all, s.p)
	}
	f.Add(byte(all[0].Type()), AppendPayloads(nil, all))
	f.Fuzz(func(t *testing.T, first byte, b []byte) {
		ps, err := ParsePayloads(PayloadType(first), b)
		if err != nil {
			return
		}
		raw, err := TryAppendPayloads(nil, ps)
		if err != nil {
			t.Fatalf("parsed payloads do not marshal: %v", err)
		}
		if len(raw) != len(b) {
			t.Fatalf("re-marshalled %d bytes, parsed %d", len(raw), len(b))
		}
		ps2, err := ParsePayloads(PayloadType(first), raw)
		if err != nil {
			t.Fatalf("re-marshalled payloads do not parse: %v", err)
		}
		if !reflect.DeepEqual(ps, ps2) {
			t.Fatalf("round trip differs:\n%#v\n%#v", ps, ps2)
		}
	})
}

// FuzzPayloadBody drives each body decoder directly, the decoder chosen by
// the payload type (next is the SK/SKF next-payload field).
func FuzzPayloadBody(f *testing.F) {
	for _, s := range samples() {
		f.Add(byte(s.p.Type()), byte(0), AppendBody(nil, s.p))
	}
	f.Add(byte(PayloadSK), byte(PayloadIDi), seq(32, 0))
	f.Add(byte(PayloadSKF), byte(PayloadIDi), append([]byte{0, 1, 0, 2}, seq(32, 0)...))
	f.Fuzz(func(t *testing.T, typ, next byte, body []byte) {
		rp := &rawPayload{Type: PayloadType(typ), Next: PayloadType(next), Body: body}
		p, err := decodePayload(rp)
		if err != nil {
			return
		}
		if p.Type() != rp.Type {
			t.Fatalf("decoded %T with type %s from %s", p, p.Type(), rp.Type)
		}
		var out []byte
		func() {
			defer recoverEncode(&err)
			out = AppendBody(nil, p)
		}()
		if err != nil {
			t.Fatalf("decoded payload does not encode: %v", err)
		}
		if len(out) != len(body) {
			t.Fatalf("re-encoded %d bytes, decoded %d", len(out), len(body))
		}
		rp.Body = out
		p2, err := decodePayload(rp)
		if err != nil {
			t.Fatalf("re-encoded body does not decode: %v", err)
		}
		if !reflect.DeepEqual(p, p2) {
			t.Fatalf("round trip differs:\n%#v\n%#v", p, p2)
		}
	})
}
