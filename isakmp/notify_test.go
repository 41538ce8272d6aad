package isakmp

import "testing"

func TestNotify(t *testing.T) {
	runBodyCases(t, []bodyCase{
		{"cookie", &Notify{NotifyType: NotifyCookie, Data: []byte{1, 2}}, []byte{0, 0, 0x40, 0x06, 1, 2}},
		{"rekey esp", &Notify{Protocol: ProtocolESP, SPI: []byte{1, 2, 3, 4}, NotifyType: NotifyRekeySA},
			[]byte{3, 4, 0x40, 0x09, 1, 2, 3, 4}},
		{"invalid KE", &Notify{NotifyType: NotifyInvalidKEPayload, Data: []byte{0, 19}}, []byte{0, 0, 0, 17, 0, 19}},
	})
	runBadBodies(t, []badBody{
		{"short", PayloadNotify, []byte{0, 0, 0x40}, ErrTruncated, "Notify payload: body of 3 bytes"},
		{"SPI size", PayloadNotify, []byte{3, 4, 0x40, 0x09, 1, 2}, ErrTruncated, "Notify payload: REKEY_SA: SPI size 4 exceeds remaining 2"},
	})
}

func TestNotifyType(t *testing.T) {
	tests := []struct {
		t     NotifyType
		value uint16
		name  string
		err   bool
	}{
		{NotifyUnsupportedCriticalPayload, 1, "UNSUPPORTED_CRITICAL_PAYLOAD", true},
		{NotifyInvalidIKESPI, 4, "INVALID_IKE_SPI", true},
		{NotifyInvalidMajorVersion, 5, "INVALID_MAJOR_VERSION", true},
		{NotifyInvalidSyntax, 7, "INVALID_SYNTAX", true},
		{NotifyInvalidMessageID, 9, "INVALID_MESSAGE_ID", true},
		{NotifyInvalidSPI, 11, "INVALID_SPI", true},
		{NotifyNoProposalChosen, 14, "NO_PROPOSAL_CHOSEN", true},
		{NotifyInvalidKEPayload, 17, "INVALID_KE_PAYLOAD", true},
		{NotifyAuthenticationFailed, 24, "AUTHENTICATION_FAILED", true},
		{NotifySinglePairRequired, 34, "SINGLE_PAIR_REQUIRED", true},
		{NotifyNoAdditionalSAs, 35, "NO_ADDITIONAL_SAS", true},
		{NotifyInternalAddressFailure, 36, "INTERNAL_ADDRESS_FAILURE", true},
		{NotifyFailedCPRequired, 37, "FAILED_CP_REQUIRED", true},
		{NotifyTSUnacceptable, 38, "TS_UNACCEPTABLE", true},
		{NotifyInvalidSelectors, 39, "INVALID_SELECTORS", true},
		{NotifyTemporaryFailure, 43, "TEMPORARY_FAILURE", true},
		{NotifyChildSANotFound, 44, "CHILD_SA_NOT_FOUND", true},
		{NotifyInitialContact, 16384, "INITIAL_CONTACT", false},
		{NotifySetWindowSize, 16385, "SET_WINDOW_SIZE", false},
		{NotifyAdditionalTSPossible, 16386, "ADDITIONAL_TS_POSSIBLE", false},
		{NotifyIPCompSupported, 16387, "IPCOMP_SUPPORTED", false},
		{NotifyNATDetectionSourceIP, 16388, "NAT_DETECTION_SOURCE_IP", false},
		{NotifyNATDetectionDestinationIP, 16389, "NAT_DETECTION_DESTINATION_IP", false},
		{NotifyCookie, 16390, "COOKIE", false},
		{NotifyUseTransportMode, 16391, "USE_TRANSPORT_MODE", false},
		{NotifyHTTPCertLookupSupported, 16392, "HTTP_CERT_LOOKUP_SUPPORTED", false},
		{NotifyRekeySA, 16393, "REKEY_SA", false},
		{NotifyESPTFCPaddingNotSupported, 16394, "ESP_TFC_PADDING_NOT_SUPPORTED", false},
		{NotifyNonFirstFragmentsAlso, 16395, "NON_FIRST_FRAGMENTS_ALSO", false},
		{NotifyMOBIKESupported, 16396, "MOBIKE_SUPPORTED", false},
		{NotifyMultipleAuthSupported, 16404, "MULTIPLE_AUTH_SUPPORTED", false},
		{NotifyRedirectSupported, 16406, "REDIRECT_SUPPORTED", false},
		{NotifyChildlessIKEv2Supported, 16418, "CHILDLESS_IKEV2_SUPPORTED", false},
		{NotifyIKEv2FragmentationSupported, 16430, "IKEV2_FRAGMENTATION_SUPPORTED", false},
		{NotifySignatureHashAlgorithms, 16431, "SIGNATURE_HASH_ALGORITHMS", false},
		{NotifyMSStatus, 12345, "MS_STATUS", true},
		{NotifyType(12346), 12346, "NotifyType(12346)", true},
		{NotifyType(40000), 40000, "NotifyType(40000)", false},
	}
	for _, tc := range tests {
		if uint16(tc.t) != tc.value || tc.t.String() != tc.name || tc.t.IsError() != tc.err {
			t.Errorf("%s: value %d, String %q, IsError %v; want %d %q %v",
				tc.name, uint16(tc.t), tc.t.String(), tc.t.IsError(), tc.value, tc.name, tc.err)
		}
	}
}
