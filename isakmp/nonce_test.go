package isakmp

import "testing"

func TestNonce(t *testing.T) {
	runBodyCases(t, []bodyCase{
		{"32 bytes", &Nonce{Data: seq(32, 0)}, seq(32, 0)},
		{"empty", &Nonce{}, nil},
	})
}
