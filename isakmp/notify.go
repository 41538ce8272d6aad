package isakmp

import (
	"encoding/binary"
	"fmt"
)

// NotifyType is a Notify Message Type (RFC 7296 3.10.1 and the IANA
// "IKEv2 Notify Message Types" registry). Types below 16384 are errors,
// the rest are status types.
type NotifyType uint16

// Error types.
const (
	NotifyUnsupportedCriticalPayload NotifyType = 1
	NotifyInvalidIKESPI              NotifyType = 4
	NotifyInvalidMajorVersion        NotifyType = 5
	NotifyInvalidSyntax              NotifyType = 7
	NotifyInvalidMessageID           NotifyType = 9
	NotifyInvalidSPI                 NotifyType = 11
	NotifyNoProposalChosen           NotifyType = 14
	NotifyInvalidKEPayload           NotifyType = 17
	NotifyAuthenticationFailed       NotifyType = 24
	NotifySinglePairRequired         NotifyType = 34
	NotifyNoAdditionalSAs            NotifyType = 35
	NotifyInternalAddressFailure     NotifyType = 36
	NotifyFailedCPRequired           NotifyType = 37
	NotifyTSUnacceptable             NotifyType = 38
	NotifyInvalidSelectors           NotifyType = 39
	NotifyUnacceptableAddresses      NotifyType = 40 // RFC 4555
	NotifyUnexpectedNATDetected      NotifyType = 41 // RFC 4555
	NotifyTemporaryFailure           NotifyType = 43
	NotifyChildSANotFound            NotifyType = 44
)

// Status types.
const (
	NotifyInitialContact              NotifyType = 16384
	NotifySetWindowSize               NotifyType = 16385
	NotifyAdditionalTSPossible        NotifyType = 16386
	NotifyIPCompSupported             NotifyType = 16387
	NotifyNATDetectionSourceIP        NotifyType = 16388
	NotifyNATDetectionDestinationIP   NotifyType = 16389
	NotifyCookie                      NotifyType = 16390
	NotifyUseTransportMode            NotifyType = 16391
	NotifyHTTPCertLookupSupported     NotifyType = 16392
	NotifyRekeySA                     NotifyType = 16393
	NotifyESPTFCPaddingNotSupported   NotifyType = 16394
	NotifyNonFirstFragmentsAlso       NotifyType = 16395
	NotifyMOBIKESupported             NotifyType = 16396 // RFC 4555
	NotifyAdditionalIP4Address        NotifyType = 16397 // RFC 4555
	NotifyAdditionalIP6Address        NotifyType = 16398 // RFC 4555
	NotifyNoAdditionalAddresses       NotifyType = 16399 // RFC 4555
	NotifyUpdateSAAddresses           NotifyType = 16400 // RFC 4555
	NotifyCookie2                     NotifyType = 16401 // RFC 4555
	NotifyNoNATsAllowed               NotifyType = 16402 // RFC 4555
	NotifyMultipleAuthSupported       NotifyType = 16404 // RFC 4739
	NotifyAnotherAuthFollows          NotifyType = 16405 // RFC 4739
	NotifyRedirectSupported           NotifyType = 16406 // RFC 5685
	NotifyRedirect                    NotifyType = 16407 // RFC 5685
	NotifyRedirectedFrom              NotifyType = 16408 // RFC 5685
	NotifyEAPOnlyAuthentication       NotifyType = 16417 // RFC 5998
	NotifyMessageIDSyncSupported      NotifyType = 16420 // RFC 6311
	NotifyMessageIDSync               NotifyType = 16422 // RFC 6311
	NotifyChildlessIKEv2Supported     NotifyType = 16418 // RFC 6023
	NotifyIKEv2FragmentationSupported NotifyType = 16430 // RFC 7383
	NotifySignatureHashAlgorithms     NotifyType = 16431 // RFC 7427
	// NotifyMSStatus is Windows' private-use error notification carrying
	// a Windows error code (4 bytes), e.g. in an INFORMATIONAL when its
	// client gives up; strongSwan calls it MS_NOTIFY_STATUS.
	NotifyMSStatus NotifyType = 12345
)

var notifyNames = map[NotifyType]string{
	NotifyUnsupportedCriticalPayload:  "UNSUPPORTED_CRITICAL_PAYLOAD",
	NotifyInvalidIKESPI:               "INVALID_IKE_SPI",
	NotifyInvalidMajorVersion:         "INVALID_MAJOR_VERSION",
	NotifyInvalidSyntax:               "INVALID_SYNTAX",
	NotifyInvalidMessageID:            "INVALID_MESSAGE_ID",
	NotifyInvalidSPI:                  "INVALID_SPI",
	NotifyNoProposalChosen:            "NO_PROPOSAL_CHOSEN",
	NotifyInvalidKEPayload:            "INVALID_KE_PAYLOAD",
	NotifyAuthenticationFailed:        "AUTHENTICATION_FAILED",
	NotifySinglePairRequired:          "SINGLE_PAIR_REQUIRED",
	NotifyNoAdditionalSAs:             "NO_ADDITIONAL_SAS",
	NotifyInternalAddressFailure:      "INTERNAL_ADDRESS_FAILURE",
	NotifyFailedCPRequired:            "FAILED_CP_REQUIRED",
	NotifyTSUnacceptable:              "TS_UNACCEPTABLE",
	NotifyInvalidSelectors:            "INVALID_SELECTORS",
	NotifyUnacceptableAddresses:       "UNACCEPTABLE_ADDRESSES",
	NotifyUnexpectedNATDetected:       "UNEXPECTED_NAT_DETECTED",
	NotifyTemporaryFailure:            "TEMPORARY_FAILURE",
	NotifyChildSANotFound:             "CHILD_SA_NOT_FOUND",
	NotifyInitialContact:              "INITIAL_CONTACT",
	NotifySetWindowSize:               "SET_WINDOW_SIZE",
	NotifyAdditionalTSPossible:        "ADDITIONAL_TS_POSSIBLE",
	NotifyIPCompSupported:             "IPCOMP_SUPPORTED",
	NotifyNATDetectionSourceIP:        "NAT_DETECTION_SOURCE_IP",
	NotifyNATDetectionDestinationIP:   "NAT_DETECTION_DESTINATION_IP",
	NotifyCookie:                      "COOKIE",
	NotifyUseTransportMode:            "USE_TRANSPORT_MODE",
	NotifyHTTPCertLookupSupported:     "HTTP_CERT_LOOKUP_SUPPORTED",
	NotifyRekeySA:                     "REKEY_SA",
	NotifyESPTFCPaddingNotSupported:   "ESP_TFC_PADDING_NOT_SUPPORTED",
	NotifyNonFirstFragmentsAlso:       "NON_FIRST_FRAGMENTS_ALSO",
	NotifyMOBIKESupported:             "MOBIKE_SUPPORTED",
	NotifyAdditionalIP4Address:        "ADDITIONAL_IP4_ADDRESS",
	NotifyAdditionalIP6Address:        "ADDITIONAL_IP6_ADDRESS",
	NotifyNoAdditionalAddresses:       "NO_ADDITIONAL_ADDRESSES",
	NotifyUpdateSAAddresses:           "UPDATE_SA_ADDRESSES",
	NotifyCookie2:                     "COOKIE2",
	NotifyNoNATsAllowed:               "NO_NATS_ALLOWED",
	NotifyMultipleAuthSupported:       "MULTIPLE_AUTH_SUPPORTED",
	NotifyAnotherAuthFollows:          "ANOTHER_AUTH_FOLLOWS",
	NotifyRedirectSupported:           "REDIRECT_SUPPORTED",
	NotifyRedirect:                    "REDIRECT",
	NotifyRedirectedFrom:              "REDIRECTED_FROM",
	NotifyEAPOnlyAuthentication:       "EAP_ONLY_AUTHENTICATION",
	NotifyMessageIDSyncSupported:      "IKEV2_MESSAGE_ID_SYNC_SUPPORTED",
	NotifyMessageIDSync:               "IKEV2_MESSAGE_ID_SYNC",
	NotifyMSStatus:                    "MS_STATUS",
	NotifyChildlessIKEv2Supported:     "CHILDLESS_IKEV2_SUPPORTED",
	NotifyIKEv2FragmentationSupported: "IKEV2_FRAGMENTATION_SUPPORTED",
	NotifySignatureHashAlgorithms:     "SIGNATURE_HASH_ALGORITHMS",
}

// String returns the RFC name of t, or NotifyType(N) when unknown.
func (t NotifyType) String() string {
	if s, ok := notifyNames[t]; ok {
		return s
	}
	return fmt.Sprintf("NotifyType(%d)", uint16(t))
}

// IsError reports whether t is an error type (below 16384).
func (t NotifyType) IsError() bool { return t < 16384 }

// Notify is the Notify payload (RFC 7296 3.10). Protocol is 0 (or
// ProtocolIKE) with an empty SPI when the notification concerns the IKE SA.
type Notify struct {
	Protocol   uint8
	SPI        []byte
	NotifyType NotifyType
	Data       []byte
}

func (*Notify) Type() PayloadType { return PayloadNotify }

func (n *Notify) appendBody(b []byte) []byte {
	if len(n.SPI) > 0xff {
		encodeFail("Notify %s: SPI of %d bytes", n.NotifyType, len(n.SPI))
	}
	b = append(b, n.Protocol, byte(len(n.SPI)))
	b = binary.BigEndian.AppendUint16(b, uint16(n.NotifyType))
	b = append(b, n.SPI...)
	return append(b, n.Data...)
}

func parseNotify(b []byte) (*Notify, error) {
	if len(b) < 4 {
		return nil, errTrunc("body of %d bytes, need at least 4", len(b))
	}
	n := &Notify{Protocol: b[0], NotifyType: NotifyType(binary.BigEndian.Uint16(b[2:4]))}
	spiSize := int(b[1])
	b = b[4:]
	if spiSize > len(b) {
		return nil, errTrunc("%s: SPI size %d exceeds remaining %d", n.NotifyType, spiSize, len(b))
	}
	n.SPI = clip(b[:spiSize])
	n.Data = clip(b[spiSize:])
	return n, nil
}
