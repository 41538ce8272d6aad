package isakmp

import "testing"

func TestSK(t *testing.T) {
	runBodyCases(t, []bodyCase{
		{"SK", &SK{Body: []byte{1, 2, 3}}, []byte{1, 2, 3}},
		{"SKF 2 of 3", &SKF{FragmentNumber: 2, TotalFragments: 3, Body: []byte{9}}, []byte{0, 2, 0, 3, 9}},
	})
	runBadBodies(t, []badBody{
		{"SKF short", PayloadSKF, []byte{0, 1, 0}, ErrTruncated, "SKF payload: body of 3 bytes"},
		{"SKF number 0", PayloadSKF, []byte{0, 0, 0, 3}, ErrMalformed, "fragment number 0 of 3"},
		{"SKF number > total", PayloadSKF, []byte{0, 4, 0, 3}, ErrMalformed, "fragment number 4 of 3"},
		{"SKF total 0", PayloadSKF, []byte{0, 1, 0, 0}, ErrMalformed, "fragment number 1 of 0"},
	})
}

func TestSKOffsetAssociatedData(t *testing.T) {
	// An SK payload after other payloads: SKOffset points at its generic
	// header both after Marshal and after ParseMessage.
	m := &Message{Header: Header{MajorVersion: 2, Exchange: ExchangeInformational},
		Payloads: []Payload{&Notify{NotifyType: NotifyCookie, Data: []byte{1}}, &SK{NextPayload: PayloadDelete, Body: seq(16, 0)}}}
	raw := m.Marshal()
	want := HeaderLen + 4 + 4 + 1
	if m.SKOffset != want {
		t.Fatalf("Marshal SKOffset = %d, want %d", m.SKOffset, want)
	}
	if raw[m.SKOffset] != byte(PayloadDelete) || raw[m.SKOffset+3] != 20 {
		t.Fatalf("SK generic header at %d = %x", m.SKOffset, raw[m.SKOffset:m.SKOffset+4])
	}
	p, err := ParseMessage(raw)
	if err != nil || p.SKOffset != want {
		t.Fatalf("ParseMessage SKOffset = %v, %v", p, err)
	}
	// SKF: associated data is raw[:SKOffset+8], ending with the fragment fields.
	m = &Message{Header: Header{MajorVersion: 2, Exchange: ExchangeIKEAuth},
		Payloads: []Payload{&SKF{FragmentNumber: 2, TotalFragments: 2, Body: seq(16, 0)}}}
	raw = m.Marshal()
	ad := raw[:m.SKOffset+8]
	if m.SKOffset != HeaderLen || ad[len(ad)-1] != 2 || ad[len(ad)-3] != 2 {
		t.Fatalf("SKF associated data %x", ad)
	}
}
