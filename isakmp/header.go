// Package isakmp is the wire format of ISAKMP/IKE: the common 28-byte header,
// the generic payload chain, the IKEv2 payload bodies (RFC 7296, with the
// Encrypted Fragment payload of RFC 7383) and the version peek used by the
// dispatcher.
//
// The header, the generic payload header and the data attribute format are
// shared by both protocol versions; the IKEv1 (ISAKMP: RFC 2408, 2407, 2409,
// 3947) payloads and message live beside the IKEv2 ones in the v1_*.go
// files, with names prefixed V1.
//
// Decoders never panic: every length is checked and a failure is reported as
// an error that names the payload and the field, wrapping ErrTruncated when a
// length runs past the data and ErrMalformed otherwise. Parsed values never
// alias the caller's buffer. Encoders append to a caller-supplied slice.
package isakmp

import (
	"encoding/binary"
	"fmt"
)

// HeaderLen is the length of the ISAKMP/IKE header, common to IKEv1 and IKEv2.
const HeaderLen = 28

// Header flags. IKEv2 uses FlagInitiator, FlagVersion and FlagResponse
// (RFC 7296 3.1); IKEv1 uses FlagEncryption, FlagCommit and FlagAuthOnly
// (RFC 2408 3.1).
const (
	FlagEncryption uint8 = 0x01 // IKEv1: payloads after the header are encrypted
	FlagCommit     uint8 = 0x02 // IKEv1: commit bit
	FlagAuthOnly   uint8 = 0x04 // IKEv1: authentication only
	FlagInitiator  uint8 = 0x08 // IKEv2: sent by the original initiator
	FlagVersion    uint8 = 0x10 // IKEv2: sender can speak a higher major version
	FlagResponse   uint8 = 0x20 // IKEv2: message is a response
)

// ExchangeType is the exchange type of the header.
type ExchangeType uint8

// IKEv2 exchange types (RFC 7296 3.1).
const (
	ExchangeIKESAInit     ExchangeType = 34
	ExchangeIKEAuth       ExchangeType = 35
	ExchangeCreateChildSA ExchangeType = 36
	ExchangeInformational ExchangeType = 37
)

// IKEv1 exchange types (RFC 2408 4.1, RFC 2409 9), sharing the header field.
const (
	ExchangeV1Base          ExchangeType = 1
	ExchangeV1Main          ExchangeType = 2 // Identity Protection
	ExchangeV1AuthOnly      ExchangeType = 3
	ExchangeV1Aggressive    ExchangeType = 4
	ExchangeV1Informational ExchangeType = 5
	ExchangeV1Transaction   ExchangeType = 6 // Mode Config (draft-ietf-ipsec-isakmp-mode-cfg)
	ExchangeV1Quick         ExchangeType = 32
	ExchangeV1NewGroup      ExchangeType = 33
)

func (e ExchangeType) String() string {
	switch e {
	case ExchangeIKESAInit:
		return "IKE_SA_INIT"
	case ExchangeIKEAuth:
		return "IKE_AUTH"
	case ExchangeCreateChildSA:
		return "CREATE_CHILD_SA"
	case ExchangeInformational:
		return "INFORMATIONAL"
	case ExchangeV1Base:
		return "BASE"
	case ExchangeV1Main:
		return "ID_PROT"
	case ExchangeV1AuthOnly:
		return "AUTH_ONLY"
	case ExchangeV1Aggressive:
		return "AGGRESSIVE"
	case ExchangeV1Informational:
		return "INFORMATIONAL_V1"
	case ExchangeV1Transaction:
		return "TRANSACTION"
	case ExchangeV1Quick:
		return "QUICK_MODE"
	case ExchangeV1NewGroup:
		return "NEW_GROUP_MODE"
	}
	return fmt.Sprintf("ExchangeType(%d)", uint8(e))
}

// Header is the ISAKMP/IKE message header. The SPIs are the IKEv1 cookies or
// the IKEv2 SPIs, big-endian on the wire.
type Header struct {
	SPIi, SPIr                 uint64
	NextPayload                PayloadType
	MajorVersion, MinorVersion uint8 // 4 bits each on the wire
	Exchange                   ExchangeType
	Flags                      uint8
	MessageID                  uint32
	Length                     uint32 // of the whole message, header included
}

// ParseHeader decodes the header at the start of b. It checks that b holds a
// whole header and that the Length field is at least HeaderLen and no more
// than len(b); bytes of b past Length are not examined.
func ParseHeader(b []byte) (Header, error) {
	if len(b) < HeaderLen {
		return Header{}, errTrunc("isakmp: header: %d bytes, need %d", len(b), HeaderLen)
	}
	h := Header{
		SPIi:         binary.BigEndian.Uint64(b[0:8]),
		SPIr:         binary.BigEndian.Uint64(b[8:16]),
		NextPayload:  PayloadType(b[16]),
		MajorVersion: b[17] >> 4,
		MinorVersion: b[17] & 0x0f,
		Exchange:     ExchangeType(b[18]),
		Flags:        b[19],
		MessageID:    binary.BigEndian.Uint32(b[20:24]),
		Length:       binary.BigEndian.Uint32(b[24:28]),
	}
	if h.Length < HeaderLen {
		return Header{}, errBad("isakmp: header: length field %d is less than the header length %d", h.Length, HeaderLen)
	}
	if uint64(h.Length) > uint64(len(b)) {
		return Header{}, errTrunc("isakmp: header: length field %d exceeds datagram length %d", h.Length, len(b))
	}
	return h, nil
}

// AppendTo appends the 28-byte encoding of h to b. Version numbers are
// truncated to their 4-bit fields.
func (h *Header) AppendTo(b []byte) []byte {
	b = binary.BigEndian.AppendUint64(b, h.SPIi)
	b = binary.BigEndian.AppendUint64(b, h.SPIr)
	b = append(b, byte(h.NextPayload), h.MajorVersion<<4|h.MinorVersion&0x0f, byte(h.Exchange), h.Flags)
	b = binary.BigEndian.AppendUint32(b, h.MessageID)
	return binary.BigEndian.AppendUint32(b, h.Length)
}

// PeekVersion returns the major version (the high nibble of byte 17) of the
// message in b, for the dispatcher on UDP 500. It fails only when b is
// shorter than a header; the Length field is not checked.
func PeekVersion(b []byte) (major uint8, err error) {
	if len(b) < HeaderLen {
		return 0, errTrunc("isakmp: header: %d bytes, need %d", len(b), HeaderLen)
	}
	return b[17] >> 4, nil
}

// PeekSPIi returns the initiator's SPI (IKEv1: initiator cookie) of the
// message in b; false when b is shorter than a header.
func PeekSPIi(b []byte) (uint64, bool) {
	if len(b) < HeaderLen {
		return 0, false
	}
	return binary.BigEndian.Uint64(b[0:8]), true
}

// PeekSPIr returns the responder's SPI (IKEv1: responder cookie) of the
// message in b; false when b is shorter than a header. Zero means the
// message starts a new SA.
func PeekSPIr(b []byte) (uint64, bool) {
	if len(b) < HeaderLen {
		return 0, false
	}
	return binary.BigEndian.Uint64(b[8:16]), true
}
