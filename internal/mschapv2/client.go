package mschapv2

import (
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"

	"ikegate/isakmp"
)

// EAP types the client answers besides MSCHAPv2 (RFC 3748 5).
const (
	eapTypeIdentity = 1
	eapTypeNak      = 3
)

// Client is the peer side of one EAP conversation: it answers the
// Identity request with its user name and the server's EAP-MSCHAPv2
// requests, checks the server's authenticator response and then holds the
// MSK. Any other method it refuses with a Nak proposing MSCHAPv2.
type Client struct {
	user   string
	ntHash []byte
	rand   io.Reader

	authChallenge, peerChallenge, ntResponse []byte
	msk                                      []byte
	failure                                  string // the server's Failure message
}

// Failure is the server's MSCHAPv2 Failure message ("E=691 R=0 ..."), if
// it refused the password.
func (c *Client) Failure() string { return c.failure }

// NewClient returns the client of user with password; rand makes its peer
// challenges.
func NewClient(user string, password []byte, rand io.Reader) (*Client, error) {
	h, err := NTHash(password)
	if err != nil {
		return nil, err
	}
	return &Client{user: user, ntHash: h, rand: rand}, nil
}

// MSK is the Master Session Key once the server proved it knows the
// password (nil before).
func (c *Client) MSK() []byte { return c.msk }

// Wipe forgets the password's hash and the MSK.
func (c *Client) Wipe() {
	clear(c.ntHash)
	clear(c.msk)
}

// Respond answers the server's EAP Request req.
func (c *Client) Respond(req *isakmp.EAP) (*isakmp.EAP, error) {
	if req.Code != isakmp.EAPRequest {
		return nil, fmt.Errorf("EAP code %d, want a Request", req.Code)
	}
	answer := func(typ uint8, data []byte) *isakmp.EAP {
		return &isakmp.EAP{Code: isakmp.EAPResponse, Identifier: req.Identifier, EAPType: typ, Data: data}
	}
	switch req.EAPType {
	case eapTypeIdentity:
		return answer(eapTypeIdentity, []byte(c.user)), nil
	case EAPType:
	default:
		return answer(eapTypeNak, []byte{EAPType}), nil
	}
	d := req.Data
	// OpCode, MS-CHAPv2-ID, MS-Length, then the OpCode's data.
	if len(d) < 4 {
		return nil, fmt.Errorf("truncated MSCHAPv2 request (%d bytes)", len(d))
	}
	op, msID, body := d[0], d[1], d[4:]
	msAnswer := func(op uint8, data []byte) *isakmp.EAP {
		b := []byte{op, msID, 0, 0}
		b = append(b, data...)
		binary.BigEndian.PutUint16(b[2:4], uint16(len(b)))
		return answer(EAPType, b)
	}
	switch op {
	case OpChallenge:
		if len(body) < 1+ChallengeSize || body[0] != ChallengeSize {
			return nil, errors.New("malformed MSCHAPv2 Challenge")
		}
		c.authChallenge = append([]byte(nil), body[1:1+ChallengeSize]...)
		c.peerChallenge = make([]byte, ChallengeSize)
		if _, err := io.ReadFull(c.rand, c.peerChallenge); err != nil {
			return nil, fmt.Errorf("MSCHAPv2 peer challenge: %w", err)
		}
		name := []byte(StripDomain(c.user))
		c.ntResponse = NTResponse(c.ntHash, c.peerChallenge, c.authChallenge, name)
		value := make([]byte, 0, 1+ResponseSize+len(c.user))
		value = append(value, ResponseSize)
		value = append(value, c.peerChallenge...)
		value = append(value, make([]byte, 8)...) // reserved
		value = append(value, c.ntResponse...)
		value = append(value, 0) // flags
		value = append(value, c.user...)
		return msAnswer(OpResponse, value), nil
	case OpSuccess:
		if c.ntResponse == nil {
			return nil, errors.New("MSCHAPv2 Success before any Challenge")
		}
		want := AuthenticatorResponse(c.ntHash, c.ntResponse, c.peerChallenge, c.authChallenge, []byte(StripDomain(c.user)))
		got, _, _ := strings.Cut(string(body), " ")
		if subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
			return nil, errors.New("the server's MSCHAPv2 authenticator response is wrong: it does not know the password")
		}
		msk, err := MSK(c.ntHash, c.ntResponse)
		if err != nil {
			return nil, err
		}
		c.msk = msk
		return msAnswer(OpSuccess, nil), nil
	case OpFailure:
		// Acknowledged, so that the server ends with EAP-Failure
		// (draft-kamath-pppext-eap-mschapv2-01 2.3).
		c.failure = string(body)
		return msAnswer(OpFailure, nil), nil
	}
	return nil, fmt.Errorf("MSCHAPv2 OpCode %d", op)
}
