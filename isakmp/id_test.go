package isakmp

import "testing"

func TestID(t *testing.T) {
	runBodyCases(t, []bodyCase{
		{"IDi fqdn", &ID{PType: PayloadIDi, IDType: IDFQDN, Data: []byte("a.b")}, []byte{2, 0, 0, 0, 'a', '.', 'b'}},
		{"IDr ipv4", &ID{PType: PayloadIDr, IDType: IDIPv4Addr, Data: []byte{10, 0, 0, 1}}, []byte{1, 0, 0, 0, 10, 0, 0, 1}},
	})
	runBadBodies(t, []badBody{
		{"short IDi", PayloadIDi, []byte{2, 0}, ErrTruncated, "IDi payload: body of 2 bytes"},
		{"short IDr", PayloadIDr, nil, ErrTruncated, "IDr payload: body of 0 bytes"},
	})
}
