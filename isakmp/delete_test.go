package isakmp

import "testing"

func TestDelete(t *testing.T) {
	runBodyCases(t, []bodyCase{
		{"IKE SA", &Delete{Protocol: ProtocolIKE}, []byte{1, 0, 0, 0}},
		{"two ESP", &Delete{Protocol: ProtocolESP, SPISize: 4, SPIs: [][]byte{{1, 2, 3, 4}, {5, 6, 7, 8}}},
			[]byte{3, 4, 0, 2, 1, 2, 3, 4, 5, 6, 7, 8}},
	})
	runBadBodies(t, []badBody{
		{"short", PayloadDelete, []byte{3, 4, 0}, ErrTruncated, "Delete payload: body of 3 bytes"},
		{"missing SPI", PayloadDelete, []byte{3, 4, 0, 2, 1, 2, 3, 4}, ErrTruncated, "2 SPIs of 4 bytes need 8, have 4"},
		{"extra bytes", PayloadDelete, []byte{3, 4, 0, 1, 1, 2, 3, 4, 5}, ErrMalformed, "1 SPIs of 4 bytes need 4, have 5"},
		{"size 0 count", PayloadDelete, []byte{1, 0, 0xff, 0xff}, ErrMalformed, "65535 SPIs of size 0"},
	})
}
