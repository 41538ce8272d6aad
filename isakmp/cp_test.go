package isakmp

import "testing"

func TestCP(t *testing.T) {
	runBodyCases(t, []bodyCase{
		{"request", &CP{CfgType: CfgRequest, Attrs: []CPAttribute{{Type: CPInternalIP4Address}, {Type: CPInternalIP4DNS}}},
			[]byte{1, 0, 0, 0, 0, 1, 0, 0, 0, 3, 0, 0}},
		{"reply", &CP{CfgType: CfgReply, Attrs: []CPAttribute{{Type: CPInternalIP4Address, Value: []byte{10, 1, 0, 2}}}},
			[]byte{2, 0, 0, 0, 0, 1, 0, 4, 10, 1, 0, 2}},
		{"no attributes", &CP{CfgType: CfgAck}, []byte{4, 0, 0, 0}},
	})
	runBadBodies(t, []badBody{
		{"short", PayloadCP, []byte{1, 0, 0}, ErrTruncated, "CP payload: body of 3 bytes"},
		{"attribute header", PayloadCP, []byte{1, 0, 0, 0, 0, 1}, ErrTruncated, "attribute 1: header: 2 bytes left"},
		{"attribute length", PayloadCP, []byte{1, 0, 0, 0, 0, 1, 0, 4, 10}, ErrTruncated, "CP payload: attribute 1: length 4 exceeds remaining 1"},
	})
	// The reserved bit is ignored on receipt.
	ps, err := ParsePayloads(PayloadCP, []byte{0, 0, 0, 12, 1, 0, 0, 0, 0x80, 1, 0, 0})
	if err != nil || ps[0].(*CP).Attrs[0].Type != CPInternalIP4Address {
		t.Fatalf("R bit: %v, %v", ps, err)
	}
}
