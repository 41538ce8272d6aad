package access

import (
	"context"
	"sync"
	"testing"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2869"
	"layeh.com/radius/vendors/microsoft"

	"ikegate/internal/mschapv2"
	"ikegate/policy"
)

// constRand is a deterministic random source: identifiers and challenges
// are known, so seeds can be real messages.
type constRand struct{}

func (constRand) Read(b []byte) (int, error) {
	for i := range b {
		b[i] = 0x42
	}
	return len(b), nil
}

// checkEAPStep fails t unless st is a coherent step.
func checkEAPStep(t *testing.T, st EAPStep) {
	t.Helper()
	p, err := parseEAP(st.Message)
	switch {
	case err != nil:
		t.Fatalf("step message %X: %v", st.Message, err)
	case !st.Done && (p.code != EAPCodeRequest || st.Err != nil):
		t.Fatalf("step %+v not done but no request", st)
	case st.Done && p.code == EAPCodeSuccess && st.Err != nil, st.Done && p.code == EAPCodeFailure && st.Err == nil,
		st.Done && p.code != EAPCodeSuccess && p.code != EAPCodeFailure:
		t.Fatalf("final step %+v", st)
	case st.Err == nil && st.MSK == nil && p.code == EAPCodeSuccess && !st.FromRadius:
		t.Fatalf("MSCHAPv2 success without an MSK")
	}
}

// mschapSeeds are the client's messages of a successful conversation of
// alice (password "alice-secret") with a server reading constRand.
func mschapSeeds(f *testing.F, users *Users) [][]byte {
	s := NewMSCHAPv2Server(users, constRand{})
	c := msClient{identity: "alice", password: "alice-secret"}
	st := s.Step(context.Background(), nil)
	var msgs [][]byte
	for !st.Done {
		msg, _, err := c.answer(st.Message)
		if err != nil {
			f.Fatal(err)
		}
		msgs = append(msgs, msg)
		st = s.Step(context.Background(), msg)
	}
	if st.Err != nil {
		f.Fatal(st.Err)
	}
	return msgs
}

// FuzzMSCHAPv2Server feeds arbitrary messages to the MSCHAPv2 server at
// each stage of a conversation (stage: how many good messages go first).
func FuzzMSCHAPv2Server(f *testing.F) {
	users := NewUsers([]*policy.User{{Name: "alice", Password: []byte("alice-secret")}})
	good := mschapSeeds(f, users)
	for stage := range good {
		f.Add(uint8(stage), good[stage])
	}
	f.Add(uint8(1), []byte{EAPCodeResponse, 0x43, 0, 7, EAPTypeNak, 13, 25})
	f.Add(uint8(1), []byte{EAPCodeResponse, 0x43, 0, 6, EAPTypeMSCHAPv2, mschapv2.OpResponse})
	f.Add(uint8(0), []byte{EAPCodeResponse, 0x42, 0, 5, EAPTypeIdentity})
	f.Add(uint8(2), []byte{EAPCodeResponse, 0x44, 0, 6, EAPTypeMSCHAPv2, mschapv2.OpFailure})
	f.Fuzz(func(t *testing.T, stage uint8, msg []byte) {
		ctx := context.Background()
		s := NewMSCHAPv2Server(users, constRand{})
		st := s.Step(ctx, nil)
		for i := 0; i < int(stage)%len(good) && !st.Done; i++ {
			st = s.Step(ctx, good[i])
		}
		st = s.Step(ctx, msg)
		checkEAPStep(t, st)
		st = s.Step(ctx, msg)
		checkEAPStep(t, st)
	})
}

// FuzzRadiusEAP feeds arbitrary client messages to the RADIUS pass-through
// and arbitrary EAP-Messages from the server: after the identity, the
// fake server answers with code (Challenge, Accept or Reject) carrying
// serverEAP and, for an Accept, keys.
func FuzzRadiusEAP(f *testing.F) {
	secret := []byte("radius-secret")
	var answer struct {
		sync.Mutex
		code radius.Code
		eap  []byte
	}
	fake := &eapFake{secret: secret, custom: func(r *radius.Request) *radius.Packet {
		answer.Lock()
		defer answer.Unlock()
		resp := r.Response(answer.code)
		rfc2869.EAPMessage_Set(resp, answer.eap)
		if answer.code == radius.CodeAccessAccept {
			microsoft.MSMPPERecvKey_Add(resp, fakeRecvKey)
			microsoft.MSMPPESendKey_Add(resp, fakeSendKey)
		}
		return resp
	}}
	r := NewRadius(&policy.Radius{Servers: []string{startEAPRadius(f, fake)}, Secret: secret, Timeout: 500 * time.Millisecond})
	f.Add(false, eapPacketOf(EAPCodeResponse, 0, EAPTypeIdentity, []byte("alice")), uint8(0), eapPacketOf(EAPCodeRequest, 2, 13, fakeChallenge))
	f.Add(true, eapPacketOf(EAPCodeResponse, 1, 13, fakeProof), uint8(0), eapPacketOf(EAPCodeRequest, 2, 13, []byte{1}))
	f.Add(true, eapPacketOf(EAPCodeResponse, 1, 13, fakeProof), uint8(1), eapPacketOf(EAPCodeSuccess, 1, 0, nil))
	f.Add(true, eapPacketOf(EAPCodeResponse, 1, 13, fakeProof), uint8(1), eapPacketOf(EAPCodeFailure, 1, 0, nil))
	f.Add(true, eapPacketOf(EAPCodeResponse, 1, 13, fakeProof), uint8(2), eapPacketOf(EAPCodeFailure, 1, 0, nil))
	f.Add(true, eapPacketOf(EAPCodeResponse, 1, 13, fakeProof), uint8(0), []byte{1, 2, 0})
	f.Fuzz(func(t *testing.T, afterIdentity bool, msg []byte, code uint8, serverEAP []byte) {
		answer.Lock()
		answer.code = []radius.Code{radius.CodeAccessChallenge, radius.CodeAccessAccept, radius.CodeAccessReject}[code%3]
		answer.eap = append([]byte(nil), serverEAP[:min(len(serverEAP), 2000)]...) // the answer fits in a RADIUS packet
		answer.Unlock()
		ctx := context.Background()
		s := r.EAP(Request{})
		st := s.Step(ctx, nil)
		id := st.Message[1]
		if len(msg) > 1 {
			msg[1] = id // past the identifier check, mostly
		}
		if afterIdentity {
			st = s.Step(ctx, eapPacketOf(EAPCodeResponse, id, EAPTypeIdentity, []byte("alice")))
			checkEAPStep(t, st)
			if st.Done {
				t.Fatalf("identity: %+v", st)
			}
			if len(msg) > 1 {
				msg[1] = st.Message[1]
			}
		}
		st = s.Step(ctx, msg)
		checkEAPStep(t, st)
		if !st.Done {
			st = s.Step(ctx, msg)
			checkEAPStep(t, st)
		}
	})
}
