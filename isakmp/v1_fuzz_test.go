package isakmp

import (
	"reflect"
	"testing"
)

// IKEv1 fuzz targets: FuzzParseV1Message, FuzzParseV1Payloads and
// FuzzV1PayloadBody (the body decoder picked by the payload type) reach
// every IKEv1 decoder. Each asserts no panic and that a successfully parsed
// value re-marshals to bytes that parse to the same value.

func v1SeedMessages() [][]byte {
	var all []V1Payload
	for _, s := range v1Samples() {
		all = append(all, s.p)
	}
	full := &V1Message{Header: Header{MajorVersion: 1, Exchange: ExchangeV1Informational}, Payloads: all}
	qm := &V1Message{Header: Header{MajorVersion: 1, Exchange: ExchangeV1Quick, MessageID: 3}, Payloads: quickModePayloads()}
	return [][]byte{mainModeMsg1(), mainModeMsg5().Marshal(), full.Marshal(), qm.Marshal()}
}

func FuzzParseV1Message(f *testing.F) {
	for _, m := range v1SeedMessages() {
		f.Add(m)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseV1Message(b)
		if err != nil {
			return
		}
		h := m.Header
		raw, err := m.TryMarshal()
		if err != nil {
			t.Fatalf("parsed message does not marshal: %v", err)
		}
		if m.Header != h {
			t.Fatalf("Marshal changed header %+v -> %+v", h, m.Header)
		}
		if len(raw) != int(h.Length) {
			t.Fatalf("re-marshalled %d bytes, parsed %d", len(raw), h.Length)
		}
		m2, err := ParseV1Message(raw)
		if err != nil {
			t.Fatalf("re-marshalled message does not parse: %v\n%x", err, raw)
		}
		if !reflect.DeepEqual(m, m2) {
			t.Fatalf("round trip differs:\n%#v\n%#v", m, m2)
		}
	})
}

func FuzzParseV1Payloads(f *testing.F) {
	for _, s := range v1Samples() {
		f.Add(byte(s.p.V1Type()), v1Encoded(s.p))
	}
	qm := AppendV1Payloads(nil, quickModePayloads())
	f.Add(byte(V1PayloadHASH), qm)
	f.Add(byte(V1PayloadHASH), append(qm, 0, 0, 0, 3))
	f.Fuzz(func(t *testing.T, first byte, b []byte) {
		raws, rn, rerr := SplitV1Payloads(V1PayloadType(first), b)
		ps, n, err := ParseV1PayloadsLen(V1PayloadType(first), b)
		if err != nil {
			return
		}
		if rerr != nil || rn != n || len(raws) != len(ps) {
			t.Fatalf("SplitV1Payloads = %d payloads, %d bytes, %v; parsed %d, %d", len(raws), rn, rerr, len(ps), n)
		}
		if n > len(b) {
			t.Fatalf("consumed %d of %d bytes", n, len(b))
		}
		raw, err := TryAppendV1Payloads(nil, ps)
		if err != nil {
			t.Fatalf("parsed payloads do not marshal: %v", err)
		}
		if len(raw) != n {
			t.Fatalf("re-marshalled %d bytes, parsed %d", len(raw), n)
		}
		ps2, n2, err := ParseV1PayloadsLen(V1PayloadType(first), raw)
		if err != nil {
			t.Fatalf("re-marshalled payloads do not parse: %v", err)
		}
		if n2 != n || !reflect.DeepEqual(ps, ps2) {
			t.Fatalf("round trip differs:\n%#v\n%#v", ps, ps2)
		}
	})
}

// FuzzV1PayloadBody drives each body decoder directly, chosen by type.
func FuzzV1PayloadBody(f *testing.F) {
	for _, s := range v1Samples() {
		f.Add(byte(s.p.V1Type()), AppendV1Body(nil, s.p))
	}
	f.Fuzz(func(t *testing.T, typ byte, body []byte) {
		p, err := decodeV1Payload(V1PayloadType(typ), body)
		if err != nil {
			return
		}
		if p.V1Type() != V1PayloadType(typ) {
			t.Fatalf("decoded %T with type %s from %s", p, p.V1Type(), V1PayloadType(typ))
		}
		var out []byte
		func() {
			defer recoverEncode(&err)
			out = AppendV1Body(nil, p)
		}()
		if err != nil {
			t.Fatalf("decoded payload does not encode: %v", err)
		}
		if len(out) != len(body) {
			t.Fatalf("re-encoded %d bytes, decoded %d", len(out), len(body))
		}
		p2, err := decodeV1Payload(V1PayloadType(typ), out)
		if err != nil {
			t.Fatalf("re-encoded body does not decode: %v", err)
		}
		if !reflect.DeepEqual(p, p2) {
			t.Fatalf("round trip differs:\n%#v\n%#v", p, p2)
		}
	})
}
