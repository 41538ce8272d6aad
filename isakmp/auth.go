package isakmp

// Authentication methods (RFC 7296 3.8, RFC 4754, RFC 7427).
const (
	AuthRSASig           uint8 = 1
	AuthSharedKeyMIC     uint8 = 2
	AuthDSSSig           uint8 = 3
	AuthECDSA256         uint8 = 9
	AuthECDSA384         uint8 = 10
	AuthECDSA521         uint8 = 11
	AuthDigitalSignature uint8 = 14
)

// Auth is the Authentication payload (RFC 7296 3.8).
type Auth struct {
	Method uint8
	Data   []byte
}

func (*Auth) Type() PayloadType { return PayloadAUTH }

func (a *Auth) appendBody(b []byte) []byte {
	return append(append(b, a.Method, 0, 0, 0), a.Data...)
}

func parseAuth(b []byte) (*Auth, error) {
	if len(b) < 4 {
		return nil, errTrunc("body of %d bytes, need at least 4", len(b))
	}
	return &Auth{Method: b[0], Data: clip(b[4:])}, nil
}
