package isakmp

import "testing"

func TestCert(t *testing.T) {
	runBodyCases(t, []bodyCase{
		{"CERT x509", &Cert{Encoding: CertX509Signature, Data: []byte{0x30, 0x82}}, []byte{4, 0x30, 0x82}},
		{"CERTREQ empty", &CertReq{Encoding: CertX509Signature}, []byte{4}},
		{"CERTREQ hashes", &CertReq{Encoding: CertX509Signature, Data: seq(40, 0)}, append([]byte{4}, seq(40, 0)...)},
	})
	runBadBodies(t, []badBody{
		{"CERT empty", PayloadCERT, nil, ErrTruncated, "CERT payload: empty body"},
		{"CERTREQ empty", PayloadCERTREQ, nil, ErrTruncated, "CERTREQ payload: empty body"},
	})
}
