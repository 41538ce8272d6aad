package isakmp

// Identification types (RFC 7296 3.5).
const (
	IDIPv4Addr   uint8 = 1
	IDFQDN       uint8 = 2
	IDRFC822Addr uint8 = 3
	IDIPv6Addr   uint8 = 5
	IDDERASN1DN  uint8 = 9
	IDDERASN1GN  uint8 = 10
	IDKeyID      uint8 = 11
)

// ID is the Identification payload, IDi or IDr (RFC 7296 3.5). The three
// RESERVED bytes are sent as zero and ignored on receipt; AppendBody(b, id)
// gives the RestOfInitIDPayload / RestOfRespIDPayload that AUTH covers.
type ID struct {
	PType  PayloadType // PayloadIDi or PayloadIDr
	IDType uint8
	Data   []byte
}

func (id *ID) Type() PayloadType { return id.PType }

func (id *ID) appendBody(b []byte) []byte {
	if id.PType != PayloadIDi && id.PType != PayloadIDr {
		encodeFail("ID payload with type %s", id.PType)
	}
	b = append(b, id.IDType, 0, 0, 0)
	return append(b, id.Data...)
}

func parseID(t PayloadType, b []byte) (*ID, error) {
	if len(b) < 4 {
		return nil, errTrunc("body of %d bytes, need at least 4", len(b))
	}
	return &ID{PType: t, IDType: b[0], Data: clip(b[4:])}, nil
}
