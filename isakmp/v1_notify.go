package isakmp

import (
	"encoding/binary"
	"fmt"
)

// V1NotifyType is an IKEv1 Notify Message Type (RFC 2408 3.14.1, RFC 2407
// 4.6.3, RFC 3706). Types below 16384 are errors, the rest status.
type V1NotifyType uint16

// Error types (RFC 2408 3.14.1).
const (
	V1NotifyInvalidPayloadType      V1NotifyType = 1
	V1NotifyDOINotSupported         V1NotifyType = 2
	V1NotifySituationNotSupported   V1NotifyType = 3
	V1NotifyInvalidCookie           V1NotifyType = 4
	V1NotifyInvalidMajorVersion     V1NotifyType = 5
	V1NotifyInvalidMinorVersion     V1NotifyType = 6
	V1NotifyInvalidExchangeType     V1NotifyType = 7
	V1NotifyInvalidFlags            V1NotifyType = 8
	V1NotifyInvalidMessageID        V1NotifyType = 9
	V1NotifyInvalidProtocolID       V1NotifyType = 10
	V1NotifyInvalidSPI              V1NotifyType = 11
	V1NotifyInvalidTransformID      V1NotifyType = 12
	V1NotifyAttributesNotSupported  V1NotifyType = 13
	V1NotifyNoProposalChosen        V1NotifyType = 14
	V1NotifyBadProposalSyntax       V1NotifyType = 15
	V1NotifyPayloadMalformed        V1NotifyType = 16
	V1NotifyInvalidKeyInformation   V1NotifyType = 17
	V1NotifyInvalidIDInformation    V1NotifyType = 18
	V1NotifyInvalidCertEncoding     V1NotifyType = 19
	V1NotifyInvalidCertificate      V1NotifyType = 20
	V1NotifyCertTypeUnsupported     V1NotifyType = 21
	V1NotifyInvalidCertAuthority    V1NotifyType = 22
	V1NotifyInvalidHashInformation  V1NotifyType = 23
	V1NotifyAuthenticationFailed    V1NotifyType = 24
	V1NotifyInvalidSignature        V1NotifyType = 25
	V1NotifyAddressNotification     V1NotifyType = 26
	V1NotifySALifetime              V1NotifyType = 27
	V1NotifyCertificateUnavailable  V1NotifyType = 28
	V1NotifyUnsupportedExchangeType V1NotifyType = 29
	V1NotifyUnequalPayloadLengths   V1NotifyType = 30
	V1NotifyConnected               V1NotifyType = 16384 // RFC 2408 3.14.1
	V1NotifyResponderLifetime       V1NotifyType = 24576 // RFC 2407 4.6.3.1
	V1NotifyReplayStatus            V1NotifyType = 24577 // RFC 2407 4.6.3.2
	V1NotifyInitialContact          V1NotifyType = 24578 // RFC 2407 4.6.3.3
	V1NotifyRUThere                 V1NotifyType = 36136 // RFC 3706
	V1NotifyRUThereAck              V1NotifyType = 36137 // RFC 3706
)

var v1NotifyNames = map[V1NotifyType]string{
	V1NotifyInvalidPayloadType:      "INVALID_PAYLOAD_TYPE",
	V1NotifyDOINotSupported:         "DOI_NOT_SUPPORTED",
	V1NotifySituationNotSupported:   "SITUATION_NOT_SUPPORTED",
	V1NotifyInvalidCookie:           "INVALID_COOKIE",
	V1NotifyInvalidMajorVersion:     "INVALID_MAJOR_VERSION",
	V1NotifyInvalidMinorVersion:     "INVALID_MINOR_VERSION",
	V1NotifyInvalidExchangeType:     "INVALID_EXCHANGE_TYPE",
	V1NotifyInvalidFlags:            "INVALID_FLAGS",
	V1NotifyInvalidMessageID:        "INVALID_MESSAGE_ID",
	V1NotifyInvalidProtocolID:       "INVALID_PROTOCOL_ID",
	V1NotifyInvalidSPI:              "INVALID_SPI",
	V1NotifyInvalidTransformID:      "INVALID_TRANSFORM_ID",
	V1NotifyAttributesNotSupported:  "ATTRIBUTES_NOT_SUPPORTED",
	V1NotifyNoProposalChosen:        "NO_PROPOSAL_CHOSEN",
	V1NotifyBadProposalSyntax:       "BAD_PROPOSAL_SYNTAX",
	V1NotifyPayloadMalformed:        "PAYLOAD_MALFORMED",
	V1NotifyInvalidKeyInformation:   "INVALID_KEY_INFORMATION",
	V1NotifyInvalidIDInformation:    "INVALID_ID_INFORMATION",
	V1NotifyInvalidCertEncoding:     "INVALID_CERT_ENCODING",
	V1NotifyInvalidCertificate:      "INVALID_CERTIFICATE",
	V1NotifyCertTypeUnsupported:     "CERT_TYPE_UNSUPPORTED",
	V1NotifyInvalidCertAuthority:    "INVALID_CERT_AUTHORITY",
	V1NotifyInvalidHashInformation:  "INVALID_HASH_INFORMATION",
	V1NotifyAuthenticationFailed:    "AUTHENTICATION_FAILED",
	V1NotifyInvalidSignature:        "INVALID_SIGNATURE",
	V1NotifyAddressNotification:     "ADDRESS_NOTIFICATION",
	V1NotifySALifetime:              "NOTIFY_SA_LIFETIME",
	V1NotifyCertificateUnavailable:  "CERTIFICATE_UNAVAILABLE",
	V1NotifyUnsupportedExchangeType: "UNSUPPORTED_EXCHANGE_TYPE",
	V1NotifyUnequalPayloadLengths:   "UNEQUAL_PAYLOAD_LENGTHS",
	V1NotifyConnected:               "CONNECTED",
	V1NotifyResponderLifetime:       "RESPONDER_LIFETIME",
	V1NotifyReplayStatus:            "REPLAY_STATUS",
	V1NotifyInitialContact:          "INITIAL_CONTACT",
	V1NotifyRUThere:                 "R_U_THERE",
	V1NotifyRUThereAck:              "R_U_THERE_ACK",
}

// String returns the RFC name of t (with underscores, as strongSwan and
// Libreswan log them), or V1NotifyType(N) when unknown.
func (t V1NotifyType) String() string {
	if s, ok := v1NotifyNames[t]; ok {
		return s
	}
	return fmt.Sprintf("V1NotifyType(%d)", uint16(t))
}

// IsError reports whether t is an error type (below 16384; 8192-16383 are
// private-use errors).
func (t V1NotifyType) IsError() bool { return t < 16384 }

// V1Notify is the IKEv1 Notification payload (RFC 2408 3.14). DOI is
// V1DOIIPsec for the IPsec DOI notifications (RESPONDER_LIFETIME,
// INITIAL_CONTACT, ...) and commonly for all others; SPI is the pair of
// cookies (16 bytes) for the ISAKMP SA, as in R_U_THERE, or an AH/ESP SPI.
type V1Notify struct {
	DOI        uint32
	ProtocolID uint8
	SPI        []byte
	Type       V1NotifyType
	Data       []byte
}

func (*V1Notify) V1Type() V1PayloadType { return V1PayloadN }

func (n *V1Notify) appendV1Body(b []byte) []byte {
	if len(n.SPI) > 0xff {
		encodeFail("Notification %s: SPI of %d bytes", n.Type, len(n.SPI))
	}
	b = binary.BigEndian.AppendUint32(b, n.DOI)
	b = append(b, n.ProtocolID, byte(len(n.SPI)))
	b = binary.BigEndian.AppendUint16(b, uint16(n.Type))
	b = append(b, n.SPI...)
	return append(b, n.Data...)
}

func parseV1Notify(b []byte) (*V1Notify, error) {
	if len(b) < 8 {
		return nil, errTrunc("body of %d bytes, need at least 8", len(b))
	}
	n := &V1Notify{
		DOI:        binary.BigEndian.Uint32(b[0:4]),
		ProtocolID: b[4],
		Type:       V1NotifyType(binary.BigEndian.Uint16(b[6:8])),
	}
	spiSize := int(b[5])
	b = b[8:]
	if spiSize > len(b) {
		return nil, errTrunc("%s: SPI size %d exceeds remaining %d", n.Type, spiSize, len(b))
	}
	n.SPI = clip(b[:spiSize])
	n.Data = clip(b[spiSize:])
	return n, nil
}

// V1Delete is the IKEv1 Delete payload (RFC 2408 3.15). For the ISAKMP SA
// ProtocolID is V1ProtocolISAKMP, SPISize 16 and each SPI the initiator
// cookie then the responder cookie; for AH/ESP SPISize is 4. Every SPI is
// SPISize bytes.
type V1Delete struct {
	DOI        uint32
	ProtocolID uint8
	SPISize    uint8
	SPIs       [][]byte
}

func (*V1Delete) V1Type() V1PayloadType { return V1PayloadD }

func (d *V1Delete) appendV1Body(b []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, d.DOI)
	return appendDeleteSPIs(b, d.ProtocolID, d.SPISize, d.SPIs)
}

func parseV1Delete(b []byte) (*V1Delete, error) {
	if len(b) < 8 {
		return nil, errTrunc("body of %d bytes, need at least 8", len(b))
	}
	d := &V1Delete{DOI: binary.BigEndian.Uint32(b[0:4])}
	var err error
	if d.ProtocolID, d.SPISize, d.SPIs, err = parseDeleteSPIs(b[4:]); err != nil {
		return nil, err
	}
	return d, nil
}
