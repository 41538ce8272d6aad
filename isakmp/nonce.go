package isakmp

// Nonce is the Nonce payload, Ni or Nr (RFC 7296 3.9). RFC 7296 requires
// 16 to 256 bytes; that is the engine's check, not the decoder's.
type Nonce struct {
	Data []byte
}

func (*Nonce) Type() PayloadType { return PayloadNonce }

func (n *Nonce) appendBody(b []byte) []byte { return append(b, n.Data...) }

func parseNonce(b []byte) (*Nonce, error) { return &Nonce{Data: clip(b)}, nil }
