package isakmp

import "testing"

func TestKE(t *testing.T) {
	runBodyCases(t, []bodyCase{
		{"group 14", &KE{Group: 14, Data: []byte{1, 2, 3}}, []byte{0, 14, 0, 0, 1, 2, 3}},
		{"x25519 empty", &KE{Group: 31}, []byte{0, 31, 0, 0}},
	})
	runBadBodies(t, []badBody{
		{"short", PayloadKE, []byte{0, 14, 0}, ErrTruncated, "KE payload: body of 3 bytes, need at least 4"},
	})
}
