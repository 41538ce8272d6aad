package access

import (
	"context"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"errors"
	"fmt"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2869"
	"layeh.com/radius/vendors/microsoft"
)

// The states of a radiusEAP.
const (
	reStart    = iota // nothing yet
	reIdentity        // the local Identity request sent
	reRelay           // relaying between the client and a server
	reDone            // EAP-Success or EAP-Failure sent
)

// radiusEAP relays a client's EAP conversation to the RADIUS servers
// (RFC 3579).
type radiusEAP struct {
	r   *Radius
	req Request

	state    int
	id       byte // identifier of the last Request sent to the client
	identity string
	server   string // the server conducting the conversation ("": none yet)
	rState   []byte // State of its last Access-Challenge
}

// EAP returns a pass-through EAP server (RFC 3579): the gateway asks the
// client's identity itself, then relays the conversation to the RADIUS
// servers in Access-Requests. The first request fails over from a server
// that does not answer to the next; once a server has challenged, the
// conversation stays with it. req gives the client's addresses for the
// servers; its User and Password are not used (User-Name is the EAP
// identity). An Access-Accept's MS-MPPE-Recv-Key and MS-MPPE-Send-Key make
// the MSK.
func (r *Radius) EAP(req Request) EAPSession {
	return &radiusEAP{r: r, req: req}
}

// Blocks reports true: steps wait for RADIUS servers.
func (s *radiusEAP) Blocks() bool { return true }

// Step implements EAPSession.
func (s *radiusEAP) Step(ctx context.Context, msg []byte) EAPStep {
	switch s.state {
	case reDone:
		return s.fail(errors.New("a message after the end of the conversation"))
	case reStart:
		if len(msg) != 0 {
			return s.fail(errors.New("a client message before the conversation started"))
		}
		id, err := randomID(rand.Reader)
		if err != nil {
			return s.fail(err)
		}
		s.id, s.state = id, reIdentity
		return EAPStep{Message: eapRequest(s.id, EAPTypeIdentity, nil)}
	}
	p, err := parseEAP(msg)
	if err != nil {
		return s.fail(err)
	}
	if p.code != EAPCodeResponse {
		return s.fail(fmt.Errorf("EAP code %d from the client, want a Response", p.code))
	}
	if p.id != s.id {
		return s.fail(fmt.Errorf("EAP identifier %d, want %d (the last request's)", p.id, s.id))
	}
	if s.state == reIdentity {
		if p.typ != EAPTypeIdentity {
			return s.fail(fmt.Errorf("EAP type %d in answer to the Identity request", p.typ))
		}
		if len(p.data) == 0 {
			return s.fail(errors.New("empty EAP identity"))
		}
		s.identity, s.state = string(p.data), reRelay
	}
	return s.relay(ctx, p.raw)
}

// fail ends the conversation with an EAP-Failure.
func (s *radiusEAP) fail(err error) EAPStep {
	s.state = reDone
	if s.identity != "" {
		err = fmt.Errorf("EAP-RADIUS for %q: %w", s.identity, err)
	} else {
		err = fmt.Errorf("EAP-RADIUS: %w", err)
	}
	return EAPStep{Message: eapResult(EAPCodeFailure, s.id), Done: true, Err: err, Identity: s.identity}
}

// eapFramedMTU is the Framed-MTU of EAP relays: EAP messages ride in
// IKE_AUTH messages that IKEv2 fragmentation keeps under 1280 bytes.
const eapFramedMTU = 1100

// relay sends the client's message to the server (or, before one has
// challenged, to each in turn until one answers) and passes on the answer.
func (s *radiusEAP) relay(ctx context.Context, eap []byte) EAPStep {
	servers := s.r.cfg.Servers
	if s.server != "" {
		servers = []string{s.server}
	}
	req := s.req
	req.User = s.identity
	var last error
	for _, server := range servers {
		p, err := s.r.accessRequest(req)
		if err == nil {
			err = rfc2869.EAPMessage_Set(p, eap)
		}
		if err == nil {
			// What fits in one IKE message without IP fragmentation: the
			// server sizes its EAP-TLS fragments by it (RFC 3579 2.4).
			err = rfc2865.FramedMTU_Set(p, eapFramedMTU)
		}
		if err == nil && s.rState != nil {
			err = rfc2865.State_Set(p, s.rState)
		}
		if err == nil {
			err = signRequest(p)
		}
		if err != nil {
			return s.fail(fmt.Errorf("RADIUS request: %w", err))
		}
		resp, err := s.r.exchange(ctx, p, server)
		if err == nil {
			err = checkMessageAuthenticator(resp, p)
		}
		if err != nil {
			last = s.r.skip(server, err)
			continue
		}
		switch resp.Code {
		case radius.CodeAccessChallenge:
			q, err := parseEAP(rfc2869.EAPMessage_Get(resp))
			if err == nil && q.code != EAPCodeRequest {
				err = fmt.Errorf("EAP code %d, want a Request", q.code)
			}
			if err != nil {
				last = s.r.skip(server, fmt.Errorf("Access-Challenge: %w", err))
				continue
			}
			s.server, s.rState, s.id = server, rfc2865.State_Get(resp), q.id
			return EAPStep{Message: q.raw, Identity: s.identity}
		case radius.CodeAccessAccept:
			return s.accept(resp, p, server)
		case radius.CodeAccessReject:
			s.state = reDone
			msg := eapResult(EAPCodeFailure, s.id)
			if q, err := parseEAP(rfc2869.EAPMessage_Get(resp)); err == nil && q.code == EAPCodeFailure {
				msg = q.raw
			}
			return EAPStep{Message: msg, Done: true, Identity: s.identity,
				Err: fmt.Errorf("%w %q (%s)", ErrRejected, s.identity, server)}
		default:
			last = s.r.skip(server, fmt.Errorf("unexpected answer %s", resp.Code))
		}
	}
	return s.fail(fmt.Errorf("%w: %v", ErrUnreachable, last))
}

// accept ends the conversation on the Access-Accept resp to req.
func (s *radiusEAP) accept(resp, req *radius.Packet, server string) EAPStep {
	msg := eapResult(EAPCodeSuccess, s.id)
	if b := rfc2869.EAPMessage_Get(resp); b != nil {
		q, err := parseEAP(b)
		if err == nil && q.code != EAPCodeSuccess {
			err = fmt.Errorf("EAP code %d, want a Success", q.code)
		}
		if err != nil {
			return s.fail(fmt.Errorf("Access-Accept from %s: %w", server, err))
		}
		msg = q.raw
	}
	recv, errRecv := microsoft.MSMPPERecvKey_Lookup(resp, req)
	send, errSend := microsoft.MSMPPESendKey_Lookup(resp, req)
	var msk []byte
	switch {
	case errors.Is(errRecv, radius.ErrNoAttribute) && errors.Is(errSend, radius.ErrNoAttribute):
		// A method without keys.
	case errRecv != nil || errSend != nil:
		return s.fail(fmt.Errorf("Access-Accept from %s: unreadable MS-MPPE keys (%v, %v)", server, errRecv, errSend))
	default:
		msk = append(append(msk, recv...), send...)
	}
	s.state = reDone
	return EAPStep{Message: msg, Done: true, MSK: msk, Identity: s.identity,
		Reply: acceptReply(resp, server), FromRadius: true}
}

// checkMessageAuthenticator verifies the Message-Authenticator of resp, the
// answer to req (RFC 3579 3.2: HMAC-MD5 over the answer with the request's
// Authenticator and the attribute zeroed). An answer with an EAP-Message
// must have one.
func checkMessageAuthenticator(resp, req *radius.Packet) error {
	var got []byte
	n := 0
	attrs := make(radius.Attributes, len(resp.Attributes))
	for i, a := range resp.Attributes {
		attrs[i] = a
		if a.Type == rfc2869.MessageAuthenticator_Type {
			got, n = a.Attribute, n+1
			attrs[i] = &radius.AVP{Type: a.Type, Attribute: make(radius.Attribute, md5.Size)}
		}
	}
	switch {
	case n == 0 && rfc2869.EAPMessage_Get(resp) == nil:
		return nil
	case n == 0:
		return errors.New("answer with an EAP-Message but no Message-Authenticator")
	case n > 1 || len(got) != md5.Size:
		return errors.New("malformed Message-Authenticator")
	}
	q := *resp
	q.Attributes = attrs
	q.Authenticator = req.Authenticator
	b, err := q.MarshalBinary()
	if err != nil {
		return fmt.Errorf("answer: %w", err)
	}
	mac := hmac.New(md5.New, req.Secret)
	mac.Write(b)
	if !hmac.Equal(mac.Sum(nil), got) {
		return errors.New("bad Message-Authenticator")
	}
	return nil
}
