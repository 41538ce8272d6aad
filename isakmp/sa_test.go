package isakmp

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// saAES256 is the expected encoding, built by hand from RFC 7296 3.3, of an
// SA payload with one IKE proposal: ENCR_AES_CBC (12) with Key Length 256,
// PRF_HMAC_SHA2_256 (5), AUTH_HMAC_SHA2_256_128 (12), DH group 14.
var saAES256 = []byte{
	// generic payload header: next = KE, not critical, length 48
	0x22, 0x00, 0x00, 0x30,
	// proposal: last, reserved, length 44, num 1, IKE, SPI size 0, 4 transforms
	0x00, 0x00, 0x00, 0x2c, 0x01, 0x01, 0x00, 0x04,
	// transform: more, reserved, length 12, ENCR, reserved, AES_CBC
	0x03, 0x00, 0x00, 0x0c, 0x01, 0x00, 0x00, 0x0c,
	// attribute: AF=1 | Key Length (14), 256
	0x80, 0x0e, 0x01, 0x00,
	// transform: more, length 8, PRF, HMAC_SHA2_256
	0x03, 0x00, 0x00, 0x08, 0x02, 0x00, 0x00, 0x05,
	// transform: more, length 8, INTEG, HMAC_SHA2_256_128
	0x03, 0x00, 0x00, 0x08, 0x03, 0x00, 0x00, 0x0c,
	// transform: last, length 8, DH, group 14
	0x00, 0x00, 0x00, 0x08, 0x04, 0x00, 0x00, 0x0e,
}

func saAES256Value() *SA {
	return &SA{Proposals: []Proposal{{
		Num: 1, Protocol: ProtocolIKE,
		Transforms: []Transform{
			{Type: 1, ID: 12, Attrs: []Attribute{{Type: AttrKeyLength, TV: true, TVValue: 256}}},
			{Type: 2, ID: 5},
			{Type: 3, ID: 12},
			{Type: 4, ID: 14},
		},
	}}}
}

func TestSAByteExact(t *testing.T) {
	b := AppendPayloads(nil, []Payload{saAES256Value(), &KE{Group: 14}})
	if !bytes.Equal(b[:len(saAES256)], saAES256) {
		t.Fatalf("SA encoding\n got %x\nwant %x", b[:len(saAES256)], saAES256)
	}
	ps, err := ParsePayloads(PayloadSA, b)
	if err != nil {
		t.Fatal(err)
	}
	sa := ps[0].(*SA)
	if !reflect.DeepEqual(sa, saAES256Value()) {
		t.Fatalf("parsed %#v", sa)
	}
	if kl, ok := sa.Proposals[0].Transforms[0].KeyLen(); !ok || kl != 256 {
		t.Fatalf("KeyLen = %d, %v", kl, ok)
	}
	if _, ok := sa.Proposals[0].Transforms[1].KeyLen(); ok {
		t.Fatalf("KeyLen present on PRF")
	}
}

func TestSAErrors(t *testing.T) {
	// mutate returns a copy of saAES256 (as the only payload) with b[i] = v.
	mutate := func(kv ...int) []byte {
		c := append([]byte(nil), saAES256...)
		c[0] = 0
		for i := 0; i < len(kv); i += 2 {
			c[kv[i]] = byte(kv[i+1])
		}
		return c
	}
	tests := []struct {
		name string
		b    []byte
		want error
		text string
	}{
		{"empty", []byte{0, 0, 0, 4}, ErrMalformed, "SA payload: no proposals"},
		{"proposal last field", mutate(4, 1), ErrMalformed, "proposal 1: last-substructure field 1, want 0 or 2"},
		{"proposal says more", mutate(4, 2), ErrMalformed, "proposal 1: marked not last, but nothing follows"},
		{"proposal too long", mutate(7, 0x2d), ErrTruncated, "proposal 1: length 45 exceeds remaining 44"},
		{"proposal too short", mutate(7, 7), ErrMalformed, "proposal 1: length 7 is less than 8"},
		{"proposal shorter than data", mutate(7, 0x28), ErrMalformed, "proposal 1: marked last, but 4 bytes follow"},
		{"SPI size", mutate(10, 40), ErrTruncated, "proposal 1: SPI size 40 exceeds remaining 36"},
		{"transform count high", mutate(11, 5), ErrMalformed, "proposal 1: 4 transforms present, header says 5"},
		{"transform count low", mutate(11, 3), ErrMalformed, "4 transforms present, header says 3"},
		{"transform last field", mutate(12, 0), ErrMalformed, "proposal 1: transform 1: marked last, but 24 bytes follow"},
		{"last transform says more", mutate(40, 3), ErrMalformed, "transform 4: marked not last"},
		{"transform length", mutate(15, 0x40), ErrTruncated, "transform 1: length 64 exceeds remaining 36"},
		{"attribute TLV length", mutate(20, 0x00, 22, 0, 23, 9), ErrTruncated, "SA payload: proposal 1: transform 1: attribute 1: length 9 exceeds remaining 0"},
		{"attribute header", mutate(15, 0x0a), ErrTruncated, "transform 1: attribute 1: header: 2 bytes left, need 4"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParsePayloads(PayloadSA, tc.b)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("err = %v, want %v containing %q", err, tc.want, tc.text)
			}
		})
	}
}
