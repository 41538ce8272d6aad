package isakmp

// VendorID is the Vendor ID payload (RFC 7296 3.12).
type VendorID struct {
	Data []byte
}

func (*VendorID) Type() PayloadType { return PayloadVendorID }

func (v *VendorID) appendBody(b []byte) []byte { return append(b, v.Data...) }

func parseVendorID(b []byte) (*VendorID, error) { return &VendorID{Data: clip(b)}, nil }
