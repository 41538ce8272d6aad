package isakmp

import "testing"

func TestVendorID(t *testing.T) {
	runBodyCases(t, []bodyCase{
		{"text", &VendorID{Data: []byte("ikegate")}, []byte("ikegate")},
		{"empty", &VendorID{}, nil},
	})
}
