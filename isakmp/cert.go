package isakmp

// Certificate encodings (RFC 7296 3.6).
const (
	CertPKCS7X509         uint8 = 1
	CertPGP               uint8 = 2
	CertDNSSignedKey      uint8 = 3
	CertX509Signature     uint8 = 4
	CertKerberos          uint8 = 6
	CertCRL               uint8 = 7
	CertARL               uint8 = 8
	CertSPKI              uint8 = 9
	CertX509Attribute     uint8 = 10
	CertRawRSAKey         uint8 = 11 // deprecated
	CertHashURLX509       uint8 = 12
	CertHashURLX509Bundle uint8 = 13
	CertRawPublicKey      uint8 = 15 // RFC 7670
)

// Cert is the Certificate payload (RFC 7296 3.6).
type Cert struct {
	Encoding uint8
	Data     []byte
}

// CertReq is the Certificate Request payload (RFC 7296 3.7). For X.509
// encodings Data is a concatenation of SHA-1 hashes of trusted CAs' public
// keys.
type CertReq struct {
	Encoding uint8
	Data     []byte
}

func (*Cert) Type() PayloadType    { return PayloadCERT }
func (*CertReq) Type() PayloadType { return PayloadCERTREQ }

func (c *Cert) appendBody(b []byte) []byte {
	return append(append(b, c.Encoding), c.Data...)
}

func (c *CertReq) appendBody(b []byte) []byte {
	return append(append(b, c.Encoding), c.Data...)
}

func parseCert(b []byte) (*Cert, error) {
	if len(b) < 1 {
		return nil, errTrunc("empty body, need the encoding byte")
	}
	return &Cert{Encoding: b[0], Data: clip(b[1:])}, nil
}

func parseCertReq(b []byte) (*CertReq, error) {
	if len(b) < 1 {
		return nil, errTrunc("empty body, need the encoding byte")
	}
	return &CertReq{Encoding: b[0], Data: clip(b[1:])}, nil
}
