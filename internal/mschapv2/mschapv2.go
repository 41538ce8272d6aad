// Package mschapv2 is what the two ends of EAP-MSCHAPv2
// (draft-kamath-pppext-eap-mschapv2-01 over RFC 2759) share: the OpCodes,
// the authenticator response and the MSK, and the peer (client) side of
// the conversation that ikegate's own IKEv2 client runs (tests and the
// load generator). The server side is access.NewMSCHAPv2Server. The
// primitives are layeh.com/radius's rfc2759 and rfc3079; this package
// adds what they lack: working from the NT hash instead of the password.
package mschapv2

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"strings"

	"layeh.com/radius/rfc2759"
	"layeh.com/radius/rfc3079"
)

// EAP type of MSCHAPv2 and its OpCodes (draft-kamath-pppext-eap-mschapv2-01 2).
const (
	EAPType = 26

	OpChallenge = 1
	OpResponse  = 2
	OpSuccess   = 3
	OpFailure   = 4
)

// The Value-Size of a Challenge and of a Response (RFC 2759 4, 5).
const (
	ChallengeSize = 16
	ResponseSize  = 49 // Peer-Challenge(16) Reserved(8) NT-Response(24) Flags(1)
)

// Magic constants of GenerateAuthenticatorResponse (RFC 2759 8.7).
const (
	magic1 = "Magic server to client signing constant"
	magic2 = "Pad to make it do more than one iteration"
)

// NTHash is the NT hash of a password: MD4 of its UTF-16LE form.
func NTHash(password []byte) ([]byte, error) {
	u, err := rfc2759.ToUTF16(password)
	if err != nil {
		return nil, fmt.Errorf("MSCHAPv2: password: %w", err)
	}
	defer clear(u)
	return rfc2759.NTPasswordHash(u), nil
}

// NTResponse is RFC 2759 8.1's GenerateNTResponse from the NT hash.
func NTResponse(ntHash, peerChallenge, authChallenge, userName []byte) []byte {
	return rfc2759.ChallengeResponse(rfc2759.ChallengeHash(peerChallenge, authChallenge, userName), ntHash)
}

// AuthenticatorResponse is RFC 2759 8.7's GenerateAuthenticatorResponse
// from the NT hash of the password: "S=" and 40 upper-case hex digits.
func AuthenticatorResponse(ntHash, ntResponse, peerChallenge, authChallenge, userName []byte) string {
	h := sha1.New()
	h.Write(rfc2759.NTPasswordHash(ntHash)) // PasswordHashHash
	h.Write(ntResponse)
	h.Write([]byte(magic1))
	digest := h.Sum(nil)
	h.Reset()
	h.Write(digest)
	h.Write(rfc2759.ChallengeHash(peerChallenge, authChallenge, userName))
	h.Write([]byte(magic2))
	return "S=" + strings.ToUpper(hex.EncodeToString(h.Sum(nil)))
}

// MSK is the MSK of EAP-MSCHAPv2, the same at both ends: the server's
// MasterReceiveKey then its MasterSendKey (RFC 3079 3.4), as RADIUS's
// MS-MPPE-Recv-Key and MS-MPPE-Send-Key carry them. 32 bytes.
func MSK(ntHash, ntResponse []byte) ([]byte, error) {
	master := rfc3079.GetMasterKey(rfc2759.NTPasswordHash(ntHash), ntResponse)
	defer clear(master)
	recv, err := rfc3079.GetAsymmetricStartKey(master, rfc3079.KeyLength128Bit, false)
	if err != nil {
		return nil, fmt.Errorf("MSCHAPv2 receive key: %w", err)
	}
	send, err := rfc3079.GetAsymmetricStartKey(master, rfc3079.KeyLength128Bit, true)
	if err != nil {
		return nil, fmt.Errorf("MSCHAPv2 send key: %w", err)
	}
	return append(recv, send...), nil
}

// StripDomain drops a "DOMAIN\" prefix of a Windows user name (RFC 2759 4
// hashes the name without it).
func StripDomain(name string) string {
	if i := strings.LastIndexByte(name, '\\'); i >= 0 {
		return name[i+1:]
	}
	return name
}
