package access

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"ikegate/internal/mschapv2"
)

// ErrEAPRefused: the client answered the gateway's EAP method with a Nak
// (RFC 3748 5.3.1), it does not do that method.
var ErrEAPRefused = errors.New("the client refused the EAP method")

// mschapv2ServerName is the Name of the gateway's MSCHAPv2 challenges.
const mschapv2ServerName = "ikegate"

// eapPacket is a parsed EAP packet (RFC 3748 4).
type eapPacket struct {
	code, id byte
	typ      byte   // Request and Response only
	data     []byte // after the type
	raw      []byte // the packet, cut to its Length
}

// parseEAP checks the framing of an EAP packet. Octets past its Length are
// link padding and ignored (RFC 3748 4).
func parseEAP(b []byte) (eapPacket, error) {
	if len(b) < 4 {
		return eapPacket{}, fmt.Errorf("truncated EAP packet (%d bytes)", len(b))
	}
	n := int(binary.BigEndian.Uint16(b[2:4]))
	if n < 4 || n > len(b) {
		return eapPacket{}, fmt.Errorf("EAP Length %d in a packet of %d bytes", n, len(b))
	}
	p := eapPacket{code: b[0], id: b[1], raw: b[:n]}
	switch p.code {
	case EAPCodeRequest, EAPCodeResponse:
		if n < 5 {
			return eapPacket{}, fmt.Errorf("EAP code %d without a type", p.code)
		}
		p.typ, p.data = b[4], b[5:n]
	case EAPCodeSuccess, EAPCodeFailure:
		if n != 4 {
			return eapPacket{}, fmt.Errorf("EAP code %d with a Length of %d, want 4", p.code, n)
		}
	default:
		return eapPacket{}, fmt.Errorf("unknown EAP code %d", p.code)
	}
	return p, nil
}

// eapRequest builds a Request of type typ.
func eapRequest(id, typ byte, data []byte) []byte {
	b := make([]byte, 5, 5+len(data))
	b[0], b[1], b[4] = EAPCodeRequest, id, typ
	b = append(b, data...)
	binary.BigEndian.PutUint16(b[2:4], uint16(len(b)))
	return b
}

// eapResult builds a Success or Failure (code) answering the Response id.
func eapResult(code, id byte) []byte { return []byte{code, id, 0, 4} }

// randomID reads an EAP identifier from r.
func randomID(r io.Reader) (byte, error) {
	var b [1]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return 0, fmt.Errorf("EAP identifier: random source: %w", err)
	}
	return b[0], nil
}

// eapTypeNames names the EAP types a Nak most often proposes.
var eapTypeNames = map[byte]string{
	1: "Identity", 2: "Notification", 3: "Nak", 4: "MD5-Challenge", 5: "OTP", 6: "GTC",
	13: "EAP-TLS", 17: "LEAP", 18: "EAP-SIM", 21: "EAP-TTLS", 23: "EAP-AKA", 25: "PEAP",
	26: "EAP-MSCHAPv2", 43: "EAP-FAST", 50: "EAP-AKA'", 254: "expanded types",
}

// describeNak lists the types of a Nak's data (RFC 3748 5.3.1).
func describeNak(data []byte) string {
	var names []string
	for _, t := range data {
		if t == 0 {
			continue // "no alternative"
		}
		if n, ok := eapTypeNames[t]; ok {
			names = append(names, n+" ("+strconv.Itoa(int(t))+")")
		} else {
			names = append(names, "type "+strconv.Itoa(int(t)))
		}
	}
	if len(names) == 0 {
		return "no alternative"
	}
	return strings.Join(names, ", ")
}

// The states of an mschapv2Server: what it sent last.
const (
	msStart     = iota // nothing yet
	msIdentity         // the Identity request
	msChallenge        // the MSCHAPv2 Challenge
	msSuccess          // the MSCHAPv2 Success request
	msFailure          // the MSCHAPv2 Failure request
	msDone             // EAP-Success or EAP-Failure
)

// mschapv2Server is the local EAP-MSCHAPv2 server.
type mschapv2Server struct {
	users *Users
	rand  io.Reader

	state     int
	id        byte // identifier of the last Request
	identity  string
	user      string // the account: identity, or it without "DOMAIN\"
	challenge [mschapv2.ChallengeSize]byte
	msID      byte   // MS-CHAPv2-ID of the Challenge
	authErr   error  // why the Failure request was sent
	msk       []byte // when the Success request was sent
}

// NewMSCHAPv2Server returns a local EAP server that asks the client's
// identity, then authenticates it with EAP-MSCHAPv2
// (draft-kamath-pppext-eap-mschapv2-01, RFC 2759) against users: the
// identity names the account (failing that, the identity without a
// "DOMAIN\" prefix). rand (nil: crypto/rand) makes identifiers and
// challenges. Success derives a 32-byte MSK (the server's MS-MPPE-Recv-Key
// then MS-MPPE-Send-Key, RFC 3079).
func NewMSCHAPv2Server(users *Users, rand io.Reader) EAPSession {
	return &mschapv2Server{users: users, rand: rand}
}

// Blocks reports false: the server does no I/O.
func (s *mschapv2Server) Blocks() bool { return false }

// Step implements EAPSession.
func (s *mschapv2Server) Step(_ context.Context, msg []byte) EAPStep {
	if s.rand == nil {
		s.rand = rand.Reader
	}
	switch s.state {
	case msDone:
		return s.fail(errors.New("a message after the end of the conversation"))
	case msStart:
		if len(msg) != 0 {
			return s.fail(errors.New("a client message before the conversation started"))
		}
		id, err := randomID(s.rand)
		if err != nil {
			return s.fail(err)
		}
		s.id, s.state = id, msIdentity
		return EAPStep{Message: eapRequest(s.id, EAPTypeIdentity, nil)}
	}
	p, err := parseEAP(msg)
	if err == nil && p.code != EAPCodeResponse {
		err = fmt.Errorf("EAP code %d from the client, want a Response", p.code)
	}
	if err == nil && p.id != s.id {
		err = fmt.Errorf("EAP identifier %d, want %d (the last request's)", p.id, s.id)
	}
	if err != nil {
		if s.state == msFailure {
			err = fmt.Errorf("%w (the client's answer to the MSCHAPv2 Failure: %v)", s.authErr, err)
		}
		return s.fail(err)
	}
	switch s.state {
	case msIdentity:
		return s.onIdentity(p)
	case msChallenge:
		return s.onResponse(p)
	case msSuccess:
		return s.onSuccessAck(p)
	default: // msFailure
		return s.onFailureAck(p)
	}
}

// fail ends the conversation with an EAP-Failure.
func (s *mschapv2Server) fail(err error) EAPStep {
	s.state = msDone
	clear(s.msk)
	s.msk = nil
	if s.identity != "" {
		err = fmt.Errorf("EAP-MSCHAPv2 for %q: %w", s.identity, err)
	} else {
		err = fmt.Errorf("EAP-MSCHAPv2: %w", err)
	}
	return EAPStep{Message: eapResult(EAPCodeFailure, s.id), Done: true, Err: err, Identity: s.identity}
}

// request sends the next Request, of type MSCHAPv2: OpCode, MS-CHAPv2-ID,
// MS-Length, then body.
func (s *mschapv2Server) request(opCode byte, body []byte) EAPStep {
	s.id++
	data := make([]byte, 4, 4+len(body))
	data[0], data[1] = opCode, s.msID
	binary.BigEndian.PutUint16(data[2:4], uint16(4+len(body))) // MS-Length: the EAP Length less 5
	data = append(data, body...)
	return EAPStep{Message: eapRequest(s.id, EAPTypeMSCHAPv2, data), Identity: s.identity}
}

// onIdentity takes the Identity response and sends the Challenge.
func (s *mschapv2Server) onIdentity(p eapPacket) EAPStep {
	if p.typ != EAPTypeIdentity {
		return s.fail(fmt.Errorf("EAP type %d in answer to the Identity request", p.typ))
	}
	if len(p.data) == 0 {
		return s.fail(errors.New("empty EAP identity"))
	}
	s.identity = string(p.data)
	if _, err := io.ReadFull(s.rand, s.challenge[:]); err != nil {
		return s.fail(fmt.Errorf("MSCHAPv2 challenge: random source: %w", err))
	}
	s.msID = s.id + 1 // the Challenge's EAP identifier
	body := append([]byte{mschapv2.ChallengeSize}, s.challenge[:]...)
	body = append(body, mschapv2ServerName...)
	s.state = msChallenge
	return s.request(mschapv2.OpChallenge, body)
}

// onResponse checks the MSCHAPv2 Response and sends a Success or Failure
// request.
func (s *mschapv2Server) onResponse(p eapPacket) EAPStep {
	if p.typ == EAPTypeNak {
		return s.fail(fmt.Errorf("%w: it does not do EAP-MSCHAPv2 and proposed %s", ErrEAPRefused, describeNak(p.data)))
	}
	if p.typ != EAPTypeMSCHAPv2 {
		return s.fail(fmt.Errorf("EAP type %d in answer to the MSCHAPv2 Challenge", p.typ))
	}
	d := p.data
	// OpCode, MS-CHAPv2-ID, MS-Length (not checked: clients get it
	// wrong, the EAP Length is what counts), Value-Size, Value, Name.
	if len(d) < 5+mschapv2.ResponseSize {
		return s.fail(fmt.Errorf("truncated MSCHAPv2 Response (%d bytes of type data)", len(d)))
	}
	if d[0] != mschapv2.OpResponse {
		return s.fail(fmt.Errorf("MSCHAPv2 OpCode %d in answer to the Challenge, want %d", d[0], mschapv2.OpResponse))
	}
	if d[1] != s.msID {
		return s.fail(fmt.Errorf("MS-CHAPv2-ID %d, want %d", d[1], s.msID))
	}
	if d[4] != mschapv2.ResponseSize {
		return s.fail(fmt.Errorf("MSCHAPv2 Response Value-Size %d, want %d", d[4], mschapv2.ResponseSize))
	}
	value, name := d[5:5+mschapv2.ResponseSize], d[5+mschapv2.ResponseSize:]
	peerChallenge, ntResponse := value[:16], value[24:48]
	userName := []byte(mschapv2.StripDomain(string(name)))

	s.user = s.identity
	hash, known := s.users.ntHashOf(s.user)
	if !known && strings.Contains(s.identity, `\`) {
		s.user = mschapv2.StripDomain(s.identity)
		hash, known = s.users.ntHashOf(s.user)
	}
	if !known {
		// The same work as for a known user, so that timing tells no
		// more than the error does.
		hash = make([]byte, 16)
	}
	defer clear(hash)
	want := mschapv2.NTResponse(hash, peerChallenge, s.challenge[:], userName)
	ok := subtle.ConstantTimeCompare(want, ntResponse) == 1 && known
	clear(want)

	if !ok {
		if known {
			s.authErr = fmt.Errorf("%w for user %q", ErrBadPassword, s.user)
		} else {
			s.authErr = fmt.Errorf("%w %q", ErrUnknownUser, s.user)
		}
		var c [16]byte
		if _, err := io.ReadFull(s.rand, c[:]); err != nil {
			return s.fail(fmt.Errorf("%w (MSCHAPv2 Failure challenge: random source: %v)", s.authErr, err))
		}
		s.state = msFailure
		msg := fmt.Sprintf("E=691 R=0 C=%X V=3 M=Authentication failed", c[:])
		st := s.request(mschapv2.OpFailure, []byte(msg))
		st.Err = fmt.Errorf("EAP-MSCHAPv2 for %q: %w", s.identity, s.authErr) // final already: say it now
		return st
	}
	msk, err := mschapv2.MSK(hash, ntResponse)
	if err != nil {
		return s.fail(err)
	}
	s.msk = msk
	s.state = msSuccess
	msg := mschapv2.AuthenticatorResponse(hash, ntResponse, peerChallenge, s.challenge[:], userName) + " M=Welcome"
	return s.request(mschapv2.OpSuccess, []byte(msg))
}

// onSuccessAck takes the client's answer to the Success request.
func (s *mschapv2Server) onSuccessAck(p eapPacket) EAPStep {
	switch {
	case p.typ != EAPTypeMSCHAPv2:
		return s.fail(fmt.Errorf("EAP type %d in answer to the MSCHAPv2 Success", p.typ))
	case len(p.data) == 0:
		return s.fail(errors.New("MSCHAPv2 answer to the Success without an OpCode"))
	case p.data[0] == mschapv2.OpFailure:
		return s.fail(errors.New("the client did not accept the gateway's MSCHAPv2 authenticator response"))
	case p.data[0] != mschapv2.OpSuccess:
		return s.fail(fmt.Errorf("MSCHAPv2 OpCode %d in answer to the Success, want %d", p.data[0], mschapv2.OpSuccess))
	}
	s.state = msDone
	msk := s.msk
	s.msk = nil
	return EAPStep{Message: eapResult(EAPCodeSuccess, s.id), Done: true, MSK: msk, Identity: s.identity}
}

// onFailureAck takes the client's answer to the Failure request.
func (s *mschapv2Server) onFailureAck(p eapPacket) EAPStep {
	if p.typ != EAPTypeMSCHAPv2 || len(p.data) == 0 || p.data[0] != mschapv2.OpFailure {
		return s.fail(fmt.Errorf("%w (the client's answer to the MSCHAPv2 Failure: EAP type %d, not an MSCHAPv2 Failure)", s.authErr, p.typ))
	}
	return s.fail(s.authErr)
}
