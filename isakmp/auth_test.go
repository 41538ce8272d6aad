package isakmp

import "testing"

func TestAuth(t *testing.T) {
	runBodyCases(t, []bodyCase{
		{"psk", &Auth{Method: AuthSharedKeyMIC, Data: []byte{9, 9}}, []byte{2, 0, 0, 0, 9, 9}},
		{"digital signature", &Auth{Method: AuthDigitalSignature, Data: []byte{1}}, []byte{14, 0, 0, 0, 1}},
	})
	runBadBodies(t, []badBody{
		{"short", PayloadAUTH, []byte{2, 0, 0}, ErrTruncated, "AUTH payload: body of 3 bytes"},
	})
}
