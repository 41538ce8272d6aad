package isakmp

// IKEv1 certificate encodings (RFC 2408 3.9) not shared with IKEv2; the
// others are the Cert* constants (PKCS #7 1, PGP 2, DNS signed key 3, X.509
// signature 4, Kerberos 6, CRL 7, ARL 8, SPKI 9, X.509 attribute 10).
const (
	V1CertNone            uint8 = 0
	V1CertX509KeyExchange uint8 = 5
)

// V1KE is the IKEv1 Key Exchange payload (RFC 2408 3.7): the DH public
// value only; the group is negotiated in the SA.
type V1KE struct{ Data []byte }

// V1Cert is the IKEv1 Certificate payload (RFC 2408 3.9).
type V1Cert struct {
	Encoding uint8
	Data     []byte
}

// V1CertReq is the IKEv1 Certificate Request payload (RFC 2408 3.10).
// Data is the Certificate Authority: for X.509, the DER distinguished name
// of an acceptable CA, or empty for any.
type V1CertReq struct {
	Encoding uint8
	Data     []byte
}

// V1Hash is the IKEv1 Hash payload (RFC 2408 3.11): HASH_I, HASH_R and the
// Quick Mode / Informational HASH(1..3).
type V1Hash struct{ Data []byte }

// V1Sig is the IKEv1 Signature payload (RFC 2408 3.12).
type V1Sig struct{ Data []byte }

// V1Nonce is the IKEv1 Nonce payload (RFC 2408 3.13).
type V1Nonce struct{ Data []byte }

// V1VendorID is the IKEv1 Vendor ID payload (RFC 2408 3.16), which also
// announces extensions: DPD (RFC 3706), NAT-T (RFC 3947 and drafts), XAUTH,
// Cisco Unity, IKE fragmentation.
type V1VendorID struct{ Data []byte }

func (*V1KE) V1Type() V1PayloadType       { return V1PayloadKE }
func (*V1Cert) V1Type() V1PayloadType     { return V1PayloadCERT }
func (*V1CertReq) V1Type() V1PayloadType  { return V1PayloadCR }
func (*V1Hash) V1Type() V1PayloadType     { return V1PayloadHASH }
func (*V1Sig) V1Type() V1PayloadType      { return V1PayloadSIG }
func (*V1Nonce) V1Type() V1PayloadType    { return V1PayloadNonce }
func (*V1VendorID) V1Type() V1PayloadType { return V1PayloadVID }

func (p *V1KE) appendV1Body(b []byte) []byte       { return append(b, p.Data...) }
func (p *V1Hash) appendV1Body(b []byte) []byte     { return append(b, p.Data...) }
func (p *V1Sig) appendV1Body(b []byte) []byte      { return append(b, p.Data...) }
func (p *V1Nonce) appendV1Body(b []byte) []byte    { return append(b, p.Data...) }
func (p *V1VendorID) appendV1Body(b []byte) []byte { return append(b, p.Data...) }

func (c *V1Cert) appendV1Body(b []byte) []byte {
	return append(append(b, c.Encoding), c.Data...)
}

func (c *V1CertReq) appendV1Body(b []byte) []byte {
	return append(append(b, c.Encoding), c.Data...)
}

func parseV1Cert(b []byte) (*V1Cert, error) {
	if len(b) < 1 {
		return nil, errTrunc("empty body, need the encoding byte")
	}
	return &V1Cert{Encoding: b[0], Data: clip(b[1:])}, nil
}

func parseV1CertReq(b []byte) (*V1CertReq, error) {
	if len(b) < 1 {
		return nil, errTrunc("empty body, need the encoding byte")
	}
	return &V1CertReq{Encoding: b[0], Data: clip(b[1:])}, nil
}
