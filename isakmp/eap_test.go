package isakmp

import "testing"

func TestEAP(t *testing.T) {
	runBodyCases(t, []bodyCase{
		{"identity request", &EAP{Code: EAPRequest, Identifier: 1, EAPType: 1}, []byte{1, 1, 0, 5, 1}},
		{"md5 response", &EAP{Code: EAPResponse, Identifier: 2, EAPType: 4, Data: []byte{1, 2}}, []byte{2, 2, 0, 7, 4, 1, 2}},
		{"success", &EAP{Code: EAPSuccess, Identifier: 3}, []byte{3, 3, 0, 4}},
		{"failure", &EAP{Code: EAPFailure, Identifier: 4}, []byte{4, 4, 0, 4}},
	})
	runBadBodies(t, []badBody{
		{"short", PayloadEAP, []byte{1, 1, 0}, ErrTruncated, "EAP payload: body of 3 bytes"},
		{"length past body", PayloadEAP, []byte{1, 1, 0, 9, 1}, ErrTruncated, "EAP length 9 exceeds payload body 5"},
		{"length short of body", PayloadEAP, []byte{1, 1, 0, 5, 1, 0}, ErrMalformed, "EAP length 5, payload body is 6"},
		{"request without type", PayloadEAP, []byte{1, 1, 0, 4}, ErrTruncated, "EAP code 1 with length 4, need at least 5"},
		{"success with data", PayloadEAP, []byte{3, 1, 0, 5, 0}, ErrMalformed, "EAP code 3 with length 5, want 4"},
	})
}
